// RunProgram: one attempt of a program trial (docs/programs.md) as child processes: the worker
// owner's executable run with the trial's argv and environment, its report lines read and
// checked, its checkpoint folder packed after each epoch line, and its end (exit, signal, stop,
// cancel, time limit) turned into a ProgramResult. No RPC here: the worker wires it in.
//
// The processes: the worker forks a supervisor, which makes a new process group and forks the
// program in it. The supervisor waits for the program, passes its wait status back on a pipe and
// then SIGKILLs its whole group, so that nothing the program started (in the group) outlives it.
// If the worker dies, even by SIGKILL, the kernel signals the supervisor (PR_SET_PDEATHSIG), which
// SIGKILLs the group too. The program gets /dev/null as stdin, pipes as stdout and stderr, the
// report pipe as descriptor 3, the control socket as descriptor 4, and no other descriptor.
//
// PR_SET_PDEATHSIG fires when the *thread* that forked the supervisor ends, not the process:
// RunProgram must be called on a thread that outlives the trial (the worker's main thread).
//
// Thread-safety: RunProgram may run on several threads at once (each call owns its processes and
// descriptors); the callbacks are called on the calling thread. The stop and cancel flags are
// read from it and may be set from any thread.
#ifndef HPSWEEP_WORKER_PROGRAM_RUNNER_H_
#define HPSWEEP_WORKER_PROGRAM_RUNNER_H_

#include <atomic>
#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "base/status.h"
#include "worker/folder_pack.h"
#include "worker/program_report.h"

namespace hpsweep {

constexpr size_t kProgramErrorTailBytes = 2048;  // of stderr, in a failure's error

struct ProgramRunOptions {
  std::string path;               // the executable (the worker owner's --program NAME=PATH)
  std::vector<std::string> args;  // argv[1..], each "--name=value" already
  std::string trial_json;         // the content of the HPSWEEP_TRIAL file
  // A fresh private folder (0700) for this attempt, made by the caller. RunProgram writes
  // trial.json (0600) there and uses work_dir/checkpoint (made if missing; the caller may have
  // unpacked a checkpoint there to resume) as HPSWEEP_CHECKPOINT_DIR.
  std::string work_dir;
  std::string data_dir;  // HPSWEEP_DATA_DIR ("": not set)
  int epochs = 0;        // the highest epoch a line may carry (0: kMaxProgramEpochs)
  int resume_epoch = 0;  // the first epoch line must be resume_epoch + 1
  double max_seconds = 0;    // 0: no limit; past it: SIGTERM, then SIGKILL, and kFailed
  double grace_seconds = 10;  // after the stop line, before SIGTERM
  double term_seconds = 5;    // after SIGTERM, before SIGKILL
  size_t max_output_bytes = 1 << 20;  // the tail of stdout and stderr kept in `output`
  size_t max_checkpoint_bytes = 128 << 20;
  // Pruned or cancelled sweep: the graceful stop (the control line, grace_seconds, SIGTERM,
  // term_seconds, SIGKILL); the outcome is kStopped.
  const std::atomic<bool>* stop = nullptr;
  // The worker is stopping or lost the lease: SIGTERM now, SIGKILL after term_seconds; the
  // outcome is kCancelled.
  const std::atomic<bool>* cancel = nullptr;
  // Called for each valid epoch line; returning false asks the program to stop (as `stop`).
  std::function<bool(const ProgramEpoch&)> on_epoch;
  // Called after on_epoch when the checkpoint folder holds something and changed since the last
  // call (or since the start): the packed folder (PackFolder) after that epoch.
  std::function<void(int epoch, const std::string& packed)> on_checkpoint;
};

enum class ProgramOutcome { kCompleted, kStopped, kCancelled, kFailed };

// "completed", "stopped", "cancelled", "failed".
const char* ProgramOutcomeName(ProgramOutcome outcome);

struct ProgramResult {
  ProgramOutcome outcome = ProgramOutcome::kFailed;
  std::vector<ProgramEpoch> epochs;             // every valid epoch line, in order
  std::map<std::string, double> final_metrics;  // the final line's, if there was one
  // kFailed only: "exit status 1: <stderr tail>", "killed by signal 11 (Segmentation fault):
  // <stderr tail>", "report line 3: ...", "ran past max_trial_seconds (5 s)", "cannot run PATH:
  // Permission denied". The tail is at most kProgramErrorTailBytes, valid UTF-8.
  std::string error;
  // The tail (max_output_bytes) of stdout and stderr together, valid UTF-8, cut at a character.
  std::string output;
  // The last checkpoint that could not be packed (too big, a bad name), "" if none; the trial
  // went on without it.
  std::string checkpoint_error;
  double seconds = 0;
};

// Runs one attempt to its end. A Status error only for what is the worker's problem (it cannot
// write work_dir, make pipes or fork); everything the program does is in the result.
StatusOr<ProgramResult> RunProgram(const ProgramRunOptions& o);

// The program's environment: env (e.g. environ, null-terminated) without any variable whose
// name starts with HPSWEEP_ or is one of extra's, then extra's "NAME=value" in name order.
std::vector<std::string> ProgramEnvironment(char** env,
                                            const std::map<std::string, std::string>& extra);

}  // namespace hpsweep

#endif  // HPSWEEP_WORKER_PROGRAM_RUNNER_H_
