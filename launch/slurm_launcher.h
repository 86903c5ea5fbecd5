// SlurmLauncher: workers as the tasks of ONE Slurm array job (`hpsweep run --launcher slurm`).
//
//   Start   writes a batch script (SlurmScript) into spec.log (a private folder that every node
//           sees) and submits it: `sbatch --parsable [sbatch_args] SCRIPT`, run with an argument
//           vector (no shell) and with HPSWEEP_TOKEN removed from its environment, so that no
//           token travels into the job's saved environment.
//   List    `squeue --noheader --array --states=all --jobs=ID --format=%i|%T|%N|%r` (ParseSqueue).
//           A task Slurm no longer knows (purged after MinJobAge) counts as exited.
//   Stop    `scancel ID` (Slurm sends SIGTERM, then SIGKILL after KillWait: workers give their
//           leases back), then waits until no task is pending or running.
//
// Inside the job the worker gets --threads from SLURM_CPUS_PER_TASK, its name from the array
// job and task ids, and the token only as --token-file PATH.
//
// Thread-safety: one thread. Ownership: owns the job; the destructor cancels it.
#ifndef HPSWEEP_LAUNCH_SLURM_LAUNCHER_H_
#define HPSWEEP_LAUNCH_SLURM_LAUNCHER_H_

#include <string>
#include <vector>

#include "launch/launcher.h"

namespace hpsweep {

// Limits on what goes into a script and what is read back from Slurm.
constexpr int kMaxSlurmWorkers = 10000;
constexpr size_t kMaxSlurmValueBytes = 4096;
constexpr size_t kMaxSlurmSetupLines = 32;

struct SlurmOptions {
  std::string partition;    // --partition; "" for the cluster's default
  std::string time;         // --time (Slurm's formats: "30", "1:00:00", "2-00:00:00")
  int cpus_per_worker = 1;  // --cpus-per-task; the worker's --threads
  std::string mem;          // --mem per worker ("" for the cluster's default): 4G, 4000M, 0 = all
  // Shell lines run before the worker starts (`module load ...`, a virtualenv's activate): the
  // operator's own commands, one line each, at most kMaxSlurmSetupLines.
  std::vector<std::string> setup;
  std::string job_name = "hpsweep-worker";
  std::vector<std::string> sbatch_args;  // extra sbatch options, passed before the script
  // The commands, looked up in PATH (tests and odd installations may name others).
  std::string sbatch = "sbatch", squeue = "squeue", scancel = "scancel";
  double command_timeout_seconds = 60;  // for each sbatch/squeue/scancel call
  double stop_wait_seconds = 90;        // Stop(): how long to wait for the tasks to end
};

// The batch script for an array job of n workers: #SBATCH lines, then `exec hpsweep worker ...`
// with every value single-quoted. spec.log is the folder for the tasks' output files
// (worker-JOB_TASK.log); spec.exe, the CA and token file paths are used as given (make them
// absolute). InvalidArgument for a value with a control character, a #SBATCH value with
// whitespace, a bad --time, --mem or partition, too many setup lines, n out of
// [1, kMaxSlurmWorkers]. Each part of the script says in a comment what it is for.
StatusOr<std::string> SlurmScript(int n, const LaunchSpec& spec, const SlurmOptions& options);

// s single-quoted for bash: nothing inside is expanded.
std::string ShellQuote(const std::string& s);

// The job id in `sbatch --parsable` output ("1234" or "1234;cluster").
StatusOr<std::string> ParseSbatchJobId(const std::string& output);

// squeue lines "ID|STATE|NODELIST|REASON" for the tasks of array job job_id (lines of other jobs
// are skipped) -> workers, in task order. State: PENDING and the like -> pending; RUNNING,
// COMPLETING, SUSPENDED... -> running; COMPLETED -> exited; CANCELLED, TIMEOUT, FAILED,
// NODE_FAIL... -> failed (info: the state, or the pending reason). InvalidArgument naming the
// line for a malformed one or an unknown state.
StatusOr<std::vector<LaunchedWorker>> ParseSqueue(const std::string& text,
                                                  const std::string& job_id);

class SlurmLauncher : public Launcher {
 public:
  explicit SlurmLauncher(SlurmOptions options) : options_(std::move(options)) {}
  ~SlurmLauncher() override { Stop(); }

  const char* name() const override { return "slurm"; }
  Status Start(int n, const LaunchSpec& spec) override;
  StatusOr<std::vector<LaunchedWorker>> List() override;
  Status Stop() override;
  const std::string& job_id() const { return job_id_; }
  const std::string& script_path() const { return script_path_; }

 private:
  SlurmOptions options_;
  int n_ = 0;
  std::string job_id_, script_path_;
  bool stopped_ = false;
};

}  // namespace hpsweep

#endif  // HPSWEEP_LAUNCH_SLURM_LAUNCHER_H_
