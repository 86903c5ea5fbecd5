// LocalLauncher: workers as child processes of this one (`hpsweep run`'s default). Every
// worker's output is appended to spec.log, so the progress line stays readable. A worker that
// exits while the run goes on is started again, up to max_restarts times per slot (List() does
// it, as it notices). Each child gets SIGTERM from the kernel when this process dies (for SIGKILL
// too), so no worker outlives its run.
//
// Thread-safety: one thread. Ownership: owns its children; the destructor stops them.
#ifndef HPSWEEP_LAUNCH_LOCAL_LAUNCHER_H_
#define HPSWEEP_LAUNCH_LOCAL_LAUNCHER_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "launch/launcher.h"

namespace hpsweep {

class LocalLauncher : public Launcher {
 public:
  explicit LocalLauncher(int max_restarts = 3, double stop_grace_seconds = 10)
      : max_restarts_(max_restarts), stop_grace_seconds_(stop_grace_seconds) {}
  ~LocalLauncher() override { Stop(); }

  const char* name() const override { return "local"; }
  Status Start(int n, const LaunchSpec& spec) override;
  // Reaps children that exited and starts them again while restarts are left.
  StatusOr<std::vector<LaunchedWorker>> List() override;
  // SIGTERM to every child, then waits for each, stop_grace_seconds in all; SIGKILL to any still
  // running then (Unavailable says how many).
  Status Stop() override;

 private:
  pid_t Spawn(int k);

  const int max_restarts_;
  const double stop_grace_seconds_;
  LaunchSpec spec_;
  std::vector<pid_t> pids_;  // 0: exited for good
  std::vector<LaunchedWorker> workers_;
};

// The arguments after the binary for worker k (1-based) of a local run.
std::vector<std::string> LocalWorkerArgs(const LaunchSpec& spec, int k);

}  // namespace hpsweep

#endif  // HPSWEEP_LAUNCH_LOCAL_LAUNCHER_H_
