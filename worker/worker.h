// Worker: the loop that pulls trials from a coordinator, trains each with the engine, reports
// every epoch and uploads the final metrics and the saved model.
//
//   register ─► lease ─► train (heartbeat thread renews the lease; each epoch is reported) ─►
//   complete ─► lease ...
//
// - The coordinator unreachable (not started yet, restarting): every call is retried with capped
//   exponential backoff; training goes on meanwhile, and a finished result is retried until the
//   coordinator takes it (the full history travels with it, so lost epoch reports do not matter).
// - STOP from the coordinator (sweep cancelled, or the trial pruned by early_terminate): training
//   ends at the next batch (a bare heartbeat every heartbeat_seconds during an epoch learns of
//   it; an epoch's report may answer it too) and the trial completes with the epochs finished so
//   far and no test evaluation; the coordinator records it as stopped or pruned.
// - A report refused because the lease is no longer current: the trial was given to someone else;
//   training is abandoned.
// - Stop requested (SIGTERM): training ends at the next batch and the lease is given back (so is
//   a lease that arrived with the last completion). With the coordinator unreachable, a result or
//   a give-back is retried for stop_grace_seconds only: the worker then ends, the result not
//   delivered (logged), and the lease expires on the coordinator, which queues the trial again.
// - No data on this node: the data set is fetched from the coordinator and checked by sha256.
// - Data that differ from the coordinator's (its sha256 comes with each trial): the trial is
//   given back uncharged, the coordinator's copy is fetched into `<data_dir>.coordinator-<sha8>`
//   beside the user's folder (never over it) and used from then on; until that succeeds the
//   worker leases nothing and retries every data_recheck_seconds.
// - A sweep of its own data (trial params data.*): read from the named paths when the files
//   there have the trial's data.sha256; else fetched from the coordinator (GetDataset with that
//   sha256) into `<data_dir>.own-<sha12>` beside the user's folder (never over it), checked and
//   reused by later trials. A fetch that fails (the coordinator's files changed since submit)
//   fails the trial with the reason.
// - A trial with precision: bf16 on a CPU without avx512_bf16 (engine/gemm.h Bf16Supported; the
//   worker says at registration whether it has it, and the coordinator leases such trials only
//   to workers that do; an older coordinator may not): given back uncharged, with the reason, and
//   the worker pauses oom_backoff_seconds before leasing again.
// - A population member's lease (population-based training: Trial.pause_after_epoch > 0):
//   training pauses after that epoch, the checkpoint after it is sent (retried while the
//   coordinator is out of reach) and the lease ends with FailTrial {released, segment_end}. A
//   member's checkpoints leave its mutable_params out of their fingerprint, so that one resumes
//   under changed values; a member whose checkpoint cannot be had or does not fit fails the
//   attempt with the reason instead of starting over. A program trial ignores pause_after_epoch.
// - A trial that does not fit in memory (a lower bound of its needs above MemAvailable, or
//   std::bad_alloc / std::length_error while building or training it): given back uncharged the
//   first time (another worker may have more memory), charged if it comes back to this worker;
//   the worker goes on. An allocation that fails inside the engine's OpenMP regions cannot be
//   caught (it terminates the process); the lower bound is there to catch those trials first.
//
// Thread-safety: Run() on one thread; RequestStop() from any thread or a signal handler (it only
// stores to an atomic).
#ifndef HPSWEEP_WORKER_WORKER_H_
#define HPSWEEP_WORKER_WORKER_H_

#include <atomic>
#include <map>
#include <string>

#include "auth/credentials.h"
#include "base/status.h"

namespace hpsweep {

struct WorkerOptions {
  std::string coordinator = "127.0.0.1:50051";
  ClientSecurity security;  // TLS and token (auth/credentials.h)
  int threads = 1;
  std::string name;      // default: hostname:pid
  std::string data_dir;  // where the data set is, or is fetched to
  // Exit once the coordinator has no running sweep left (used by `hpsweep run`).
  bool exit_when_idle = false;
  int max_trials = 0;               // 0: no limit
  double max_backoff_seconds = 10;  // cap of the retry backoff
  // After a stop request: how long a result or a lease given back is still retried for an
  // unreachable coordinator before the worker ends without it (the lease then expires).
  double stop_grace_seconds = 3;
  bool verbose = true;
  // After giving back a trial that did not fit in memory: pause before leasing again, so that
  // another worker may take it first.
  double oom_backoff_seconds = 3;
  // While this worker's data differ from the coordinator's and its copy could not be fetched:
  // how often to try again (no trial is leased meanwhile).
  double data_recheck_seconds = 30;
  // While training: a bare heartbeat this often (and at least every third of the lease period),
  // so that a STOP reaches training within a few seconds, mid-epoch.
  double heartbeat_seconds = 2;
  // The programs this worker offers (docs/programs.md): name -> path of an executable. Only a
  // program sweep's trials of these names are leased to it; the coordinator never names a path.
  std::map<std::string, std::string> programs;
  // A program told to stop (pruned, cancelled) has this long to end before SIGTERM, and then 5 s
  // before SIGKILL.
  double program_grace_seconds = 10;
  // A flag a signal handler sets (not owned; null: none). Nonzero stops the worker as
  // RequestStop() does, seen at the next batch with no thread in between.
  const std::atomic<int>* stop_signal = nullptr;
};

// A digest (64 hex digits) of what this worker runs with: its binary (/proc/self/exe), each
// program's path, and its data folder and MNIST files, by path, size and modification time. Sent
// at registration: the coordinator lifts a worker's quarantine when it changes (a new binary,
// program or data), and keeps it when the same worker restarts unchanged.
std::string WorkerFingerprint(const WorkerOptions& options);

class Worker {
 public:
  explicit Worker(WorkerOptions options);
  ~Worker();
  // Runs until RequestStop(), max_trials, or (exit_when_idle) no work is left. An error only for
  // what retrying cannot fix (no usable data).
  Status Run();
  void RequestStop() { stop_.store(true); }
  int trials_done() const { return trials_done_; }

 private:
  class Impl;
  WorkerOptions options_;
  std::atomic<bool> stop_{false};
  int trials_done_ = 0;
};

}  // namespace hpsweep

#endif  // HPSWEEP_WORKER_WORKER_H_
