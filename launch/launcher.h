// Launcher: how `hpsweep run` gets workers onto machines. The run starts a coordinator, then asks
// a launcher for n workers that reach it; it watches them with List() while the sweep runs and
// ends them with Stop(). The coordinator does not care where workers come from: a launcher only
// starts `hpsweep worker` processes with the right flags (LocalLauncher: child processes here;
// SlurmLauncher: one Slurm array job of n tasks).
//
// Secrets: a worker's token reaches it only as a file path (spec.security.token_file) that the
// worker reads itself; no launcher puts a token on a command line, in a job script, or in the
// environment of a job.
//
// Thread-safety: a Launcher is used from one thread. Ownership: it owns what it started, and
// its destructor stops whatever still runs.
#ifndef HPSWEEP_LAUNCH_LAUNCHER_H_
#define HPSWEEP_LAUNCH_LAUNCHER_H_

#include <string>
#include <vector>

#include "auth/credentials.h"
#include "base/status.h"

namespace hpsweep {

// What every worker is started with.
struct LaunchSpec {
  std::string exe;          // the hpsweep binary; on a cluster, a path every node sees
  std::string coordinator;  // host:port the workers reach the coordinator at
  ClientSecurity security;  // TLS CA and token FILE (never the token itself)
  int threads = 1;          // per worker (Slurm: from SLURM_CPUS_PER_TASK inside the job)
  std::string data_dir;     // MNIST folder (fetched from the coordinator where missing)
  std::vector<std::string> extra_args;  // appended to `hpsweep worker ...`
  std::string log;  // local: the file every worker's output is appended to; Slurm: a folder
};

enum class WorkerState { kPending, kRunning, kExited, kFailed };
const char* WorkerStateName(WorkerState state);  // "pending", "running", "exited", "failed"

struct LaunchedWorker {
  std::string id;  // "local-1"; Slurm: "JOBID_TASK"
  WorkerState state = WorkerState::kPending;
  std::string node;  // where it runs or ran ("" while pending)
  std::string info;  // exit status or Slurm's state/reason ("exit 1", "TIMEOUT", "Resources")
  int restarts = 0;  // times it was started again after exiting (local only)
};

class Launcher {
 public:
  virtual ~Launcher() = default;
  // A short name for progress lines and messages ("local", "slurm").
  virtual const char* name() const = 0;
  // Starts n workers. Once only.
  virtual Status Start(int n, const LaunchSpec& spec) = 0;
  // Every worker started, with its state now. An error when the state cannot be learned (the
  // scheduler does not answer): the caller may ask again later.
  virtual StatusOr<std::vector<LaunchedWorker>> List() = 0;
  // Ends every worker still pending or running (SIGTERM first, so that leases are given back)
  // and waits, boundedly, until they are gone. Safe to call more than once.
  virtual Status Stop() = 0;
};

// Counts of workers per state: "2 running, 1 pending" (states with none left out; "none" if
// empty).
std::string WorkerSummary(const std::vector<LaunchedWorker>& workers);

// Whether every worker has exited or failed (true for none).
bool AllGone(const std::vector<LaunchedWorker>& workers);

}  // namespace hpsweep

#endif  // HPSWEEP_LAUNCH_LAUNCHER_H_
