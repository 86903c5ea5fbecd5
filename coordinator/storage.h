// Storage: the coordinator's durable state (sweeps, trials, per-epoch metrics, workers, saved
// models) behind an interface, so tests run on ":memory:" and on a fault-injecting wrapper.
//
// SQLite implementation: one database file in WAL mode, foreign keys on, a schema_version table
// with migrations applied at open. Only the coordinator opens it; workers never do. Writes happen
// inside Begin()/Commit() transactions that the scheduler groups (group commit): many RPCs' writes
// share one commit.
//
// Thread-safety: none. The scheduler serialises every call with its own mutex.
#ifndef HPSWEEP_COORDINATOR_STORAGE_H_
#define HPSWEEP_COORDINATOR_STORAGE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/status.h"
#include "engine/utf8.h"

namespace hpsweep {

// kStopped: the sweep was cancelled; kPruned: stopped early by the sweep's early_terminate
// (coordinator/pruner.h). Both keep their metrics so far.
enum class TrialStatus { kQueued, kRunning, kCompleted, kFailed, kStopped, kPruned };
const char* TrialStatusName(TrialStatus s);  // "queued", "running", ...
bool ParseTrialStatus(const std::string& name, TrialStatus* out);

// Storage reads pass all text through ToValidUtf8 (engine/utf8.h), so readers of an old database
// never meet invalid UTF-8.

struct SweepRow {
  int64_t id = 0;
  std::string name, description, file_name, yaml;
  std::string state = "running";  // running | completed | cancelled
  std::string metric = "val_accuracy";
  bool maximize = true;
  int max_attempts = 3;
  int total = 0;  // trials
  double created_at = 0, finished_at = 0;
  // Submitted with reuse: a trial identical to a completed one of another sweep copies its
  // result instead of training (coordinator/scheduler.h, "Reuse").
  bool reuse = false;
};

struct TrialRow {
  int64_t id = 0, sweep_id = 0;
  int number = 0;                             // 1-based within the sweep
  std::map<std::string, std::string> params;  // stored as a JSON object
  TrialStatus status = TrialStatus::kQueued;
  int attempts = 0;      // leases handed out so far
  std::string lease_id;  // current lease, "" when none
  double lease_deadline = 0;
  int64_t worker_id = 0;
  std::string worker_name;
  double created_at = 0, started_at = 0, finished_at = 0;
  double best_val_accuracy = -1;  // -1: no epoch yet
  double best_val_loss = -1;
  int best_epoch = 0;
  int epochs_run = 0;
  double test_accuracy = -1, test_loss = -1;
  double seconds = 0;              // training time of the final attempt
  std::string error;               // why it failed (or each failed attempt's reason)
  std::vector<int64_t> confusion;  // 10x10 row-major, stored as JSON
  // Its result was copied from an identical completed trial, "sweep 3 #2" (its sweep id and
  // number), instead of trained; "" when it trained (scheduler.h, "Reuse").
  std::string reused_from;
};

struct EpochRow {
  int64_t trial_id = 0;
  int epoch = 0;
  double train_loss = 0, train_accuracy = 0, val_loss = 0, val_accuracy = 0, seconds = 0;
  double recorded_at = 0;
};

// One lease of a trial (the attempts table): who ran it, when, and the epoch it resumed after
// (0: from scratch). ended_at 0 while it runs.
struct AttemptRow {
  int64_t trial_id = 0;
  int attempt = 0;  // the trial's attempts count when it was leased (a give-back repeats it)
  int64_t worker_id = 0;
  std::string worker_name;
  double started_at = 0, ended_at = 0;
  int resumed_from_epoch = 0;
};

struct WorkerRow {
  int64_t id = 0;
  std::string name;
  int threads = 0;
  double first_seen = 0, last_seen = 0;
  std::string host;       // as the worker said; "" if it did not
  std::string job_id;     // its launcher's job id (Slurm, HPSWEEP_JOB_ID, a pod); "" if none
  int trials_done = 0;    // results it delivered (completed or stopped)
  int trials_failed = 0;  // attempts that failed on it (FailTrial, not a give-back; lease expired)
};

class Storage {
 public:
  virtual ~Storage() = default;

  virtual Status Begin() = 0;
  virtual Status Commit() = 0;
  virtual void Rollback() = 0;

  // Writes (inside a transaction).
  virtual StatusOr<int64_t> InsertSweep(const SweepRow& sweep) = 0;  // returns the id
  virtual Status UpdateSweepState(int64_t sweep_id, const std::string& state,
                                  double finished_at) = 0;
  virtual StatusOr<int64_t> InsertTrial(const TrialRow& trial) = 0;  // returns the id
  // Every mutable column, by id: all but id, sweep_id, number, params and created_at.
  virtual Status UpdateTrial(const TrialRow& trial) = 0;
  virtual Status PutEpoch(const EpochRow& epoch) = 0;  // insert or replace (trial, epoch)
  virtual Status DeleteEpochs(int64_t trial_id) = 0;   // a re-leased trial starts over
  // By name: a new row (first_seen = last_seen = now), or the same row with worker's threads,
  // host and job_id and last_seen = now; its counts are left as they are. Returns the row.
  virtual StatusOr<WorkerRow> UpsertWorker(const WorkerRow& worker, double now) = 0;
  virtual Status TouchWorker(int64_t worker_id, double now) = 0;
  // Adds to the worker's trials_done and trials_failed; a worker without a row changes nothing
  // (a statistic never fails a change).
  virtual Status AddWorkerTrials(int64_t worker_id, int done, int failed) = 0;
  virtual Status PutArtifact(int64_t trial_id, const std::string& kind,
                             const std::string& bytes) = 0;  // insert or replace

  // Reads.
  virtual StatusOr<std::string> GetArtifact(int64_t trial_id, const std::string& kind) = 0;
  virtual StatusOr<std::vector<SweepRow>> LoadSweeps() = 0;
  virtual StatusOr<std::vector<TrialRow>> LoadTrials(int64_t sweep_id) = 0;  // 0: all sweeps
  virtual StatusOr<std::vector<EpochRow>> LoadEpochs(int64_t trial_id) = 0;  // by epoch
  virtual StatusOr<std::vector<WorkerRow>> LoadWorkers() = 0;
  // Trials of the sweep that have a value for `metric` (>= 0), best first in the order of
  // Objective(metric, maximize) (coordinator/objective.h), ties by trial number; top 0 = all.
  // One SQL query.
  virtual StatusOr<std::vector<TrialRow>> Leaderboard(int64_t sweep_id, const std::string& metric,
                                                      bool maximize, int top) = 0;
  // "ok" when PRAGMA integrity_check is clean, else its report.
  virtual StatusOr<std::string> IntegrityCheck() = 0;

  // Resumed trials (scheduler.h, "Resuming trials"). Writes inside a transaction.
  // Drops the epochs after `epoch`: a trial resumed from the checkpoint of that epoch.
  virtual Status DeleteEpochsAfter(int64_t trial_id, int epoch) = 0;
  virtual Status InsertAttempt(const AttemptRow& attempt) = 0;
  // Sets ended_at of the trial's attempt that has not ended (none: nothing changes).
  virtual Status EndAttempt(int64_t trial_id, double ended_at) = 0;
  virtual StatusOr<std::vector<AttemptRow>> LoadAttempts(int64_t trial_id) = 0;  // in lease order
};

struct StorageOptions {
  // synchronous=FULL (an fsync per commit: survives power loss) instead of NORMAL (WAL: survives
  // a crash of the coordinator process, the failure the tests inject).
  bool sync_full = false;
  // Log failed writes (disk full, file too large, read-only, I/O errors) to stderr: the first of a
  // run of failures, and the first success after them. Callers answer with the error too, but
  // the coordinator's operator must see that its database stopped taking writes.
  bool log_write_errors = true;
};

// Opens and migrates the database at path; ":memory:" for tests. Only a path that does not exist
// becomes a new database (built beside it under a temporary name and linked into place, so no
// reader ever sees a half-made file). Anything else that is not an hpsweep database is refused
// with a message that says what it is and leaves it untouched: an empty file, a file that is not
// SQLite, a damaged or truncated SQLite file, another program's SQLite database, a -wal log whose
// database is missing, a folder, a file this process cannot write. A database from a newer
// version is FailedPrecondition.
StatusOr<std::unique_ptr<Storage>> OpenSqliteStorage(const std::string& path,
                                                     const StorageOptions& options = {});

// Wraps a Storage and fails calls on demand, for tests of how the scheduler survives errors.
// Ownership: owns the wrapped storage.
class FaultInjectingStorage : public Storage {
 public:
  explicit FaultInjectingStorage(std::unique_ptr<Storage> inner);
  // The next n calls succeed, every call after that fails with IoError until Heal().
  void FailAfter(int n);
  void FailCommits(bool fail);  // Commit() fails (and rolls back) while set
  void Heal();
  int calls() const { return calls_; }

  Status Begin() override;
  Status Commit() override;
  void Rollback() override;
  StatusOr<int64_t> InsertSweep(const SweepRow& sweep) override;
  Status UpdateSweepState(int64_t sweep_id, const std::string& state, double finished_at) override;
  StatusOr<int64_t> InsertTrial(const TrialRow& trial) override;
  Status UpdateTrial(const TrialRow& trial) override;
  Status PutEpoch(const EpochRow& epoch) override;
  Status DeleteEpochs(int64_t trial_id) override;
  StatusOr<WorkerRow> UpsertWorker(const WorkerRow& worker, double now) override;
  Status TouchWorker(int64_t worker_id, double now) override;
  Status AddWorkerTrials(int64_t worker_id, int done, int failed) override;
  Status PutArtifact(int64_t trial_id, const std::string& kind, const std::string& bytes) override;
  StatusOr<std::string> GetArtifact(int64_t trial_id, const std::string& kind) override;
  StatusOr<std::vector<SweepRow>> LoadSweeps() override;
  StatusOr<std::vector<TrialRow>> LoadTrials(int64_t sweep_id) override;
  StatusOr<std::vector<EpochRow>> LoadEpochs(int64_t trial_id) override;
  StatusOr<std::vector<WorkerRow>> LoadWorkers() override;
  StatusOr<std::vector<TrialRow>> Leaderboard(int64_t sweep_id, const std::string& metric,
                                              bool maximize, int top) override;
  StatusOr<std::string> IntegrityCheck() override;
  Status DeleteEpochsAfter(int64_t trial_id, int epoch) override;
  Status InsertAttempt(const AttemptRow& attempt) override;
  Status EndAttempt(int64_t trial_id, double ended_at) override;
  StatusOr<std::vector<AttemptRow>> LoadAttempts(int64_t trial_id) override;

 private:
  Status Check();  // counts the call; IoError when failing
  std::unique_ptr<Storage> inner_;
  int calls_ = 0;
  int fail_after_ = -1;  // -1: never
  bool fail_commits_ = false;
};

}  // namespace hpsweep

#endif  // HPSWEEP_COORDINATOR_STORAGE_H_
