// RunCommand: runs a program with an argument vector (no shell, so no quoting and no injection),
// stdin from /dev/null, and returns its exit code and what it wrote. Used for sbatch, squeue and
// scancel.
//
// Thread-safety: a function; forks a child and waits for it.
#ifndef HPSWEEP_LAUNCH_COMMAND_H_
#define HPSWEEP_LAUNCH_COMMAND_H_

#include <string>
#include <vector>

#include "base/status.h"

namespace hpsweep {

// Largest output kept from a command, per stream; the rest is read and dropped.
constexpr size_t kMaxCommandOutput = 4 << 20;

struct CommandResult {
  int exit_code = 0;  // or 128 + signal when a signal ended it
  std::string out, err;
};

// argv[0] is looked up in PATH. env_drop: variables removed from the child's environment (a
// token must not travel into a job). A command still running after timeout_seconds is killed,
// and Unavailable returned; one that cannot be started: NotFound naming it.
StatusOr<CommandResult> RunCommand(const std::vector<std::string>& argv, double timeout_seconds,
                                   const std::vector<std::string>& env_drop = {});

}  // namespace hpsweep

#endif  // HPSWEEP_LAUNCH_COMMAND_H_
