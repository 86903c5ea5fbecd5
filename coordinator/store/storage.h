// Storage: the coordinator's durable state (sweeps, trials, per-epoch metrics, workers, saved
// models) behind an interface, so tests run on ":memory:" and on a fault-injecting wrapper
// (testing/fault_injecting_storage.h). The rows it stores are in search/domain.h.
//
// SQLite implementation: one database file in WAL mode, foreign keys on, a schema_version table
// with migrations applied at open. Only the coordinator opens it; workers never do. Writes happen
// inside Begin()/Commit() transactions that the scheduler groups (group commit): many RPCs' writes
// share one commit.
//
// Thread-safety: none. The scheduler serialises every call with its own mutex.
#ifndef HPSWEEP_COORDINATOR_STORE_STORAGE_H_
#define HPSWEEP_COORDINATOR_STORE_STORAGE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "search/domain.h"
#include "base/status.h"
#include "base/utf8.h"

namespace hpsweep {

// Storage reads pass all text through ToValidUtf8 (base/utf8.h), so readers of an old database
// never meet invalid UTF-8.

class Storage {
 public:
  virtual ~Storage() = default;

  virtual Status Begin() = 0;
  virtual Status Commit() = 0;
  virtual void Rollback() = 0;

  // Writes (inside a transaction).
  virtual StatusOr<int64_t> InsertSweep(const SweepRow& sweep) = 0;  // returns the id
  virtual Status UpdateSweepState(int64_t sweep_id, SweepState state,
                                  double finished_at) = 0;
  // `hpsweep extend`: the sweep's max_trials and total, and running again (finished_at 0).
  virtual Status ExtendSweep(int64_t sweep_id, int max_trials, int total) = 0;
  // Population-based training: the epoch a pbt sweep's population decided at (SweepRow
  // pbt_epoch), and a member's params and schedule after it exploited another (the only write
  // of params after the insert).
  virtual Status SetPopulationEpoch(int64_t sweep_id, int epoch) = 0;
  virtual Status SetTrialParams(int64_t trial_id, const std::map<std::string, std::string>& params,
                                const std::string& schedule) = 0;
  virtual StatusOr<int64_t> InsertTrial(const TrialRow& trial) = 0;  // returns the id
  // Every mutable column, by id: all but id, sweep_id, number, params and created_at.
  virtual Status UpdateTrial(const TrialRow& trial) = 0;
  virtual Status PutEpoch(const EpochRow& epoch) = 0;  // insert or replace (trial, epoch)
  virtual Status DeleteEpochs(int64_t trial_id) = 0;   // a re-leased trial starts over
  // By name: a new row (first_seen = last_seen = now), or the same row with worker's threads,
  // host and job_id and last_seen = now; its counts, fingerprint and quarantine are left as they
  // are (a new row takes worker's fingerprint). Returns the row as stored.
  virtual StatusOr<WorkerRow> UpsertWorker(const WorkerRow& worker, double now) = 0;
  // Sets the worker's fingerprint and quarantine (scheduler.h, "Quarantine"; "" and 0: none).
  virtual Status UpdateWorkerHealth(int64_t worker_id, const std::string& fingerprint,
                                    const std::string& quarantine, double quarantined_at) = 0;
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
  // The sweep's trials numbered above after_number, by number, at most limit (>= 1) of them: a
  // page of an export. The default filters LoadTrials; SQLite reads only those rows.
  virtual StatusOr<std::vector<TrialRow>> LoadTrialsAfter(int64_t sweep_id, int after_number,
                                                          int limit);
  virtual StatusOr<std::vector<EpochRow>> LoadEpochs(int64_t trial_id) = 0;  // by epoch
  virtual StatusOr<std::vector<WorkerRow>> LoadWorkers() = 0;
  // Trials of the sweep that have a value for `metric` (>= 0), best first in the order of
  // Objective(metric, maximize) (search/objective.h), ties by trial number; top 0 = all.
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
  // Open an existing database for reading only (SQLITE_OPEN_READONLY): nothing is migrated,
  // switched to WAL or written, so another process (a coordinator, `hpsweep run`) may go on
  // writing it. A missing file is NotFound rather than a new database, and one of an older
  // schema is refused (it would need migrating). Every write then fails.
  bool read_only = false;
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

}  // namespace hpsweep

#endif  // HPSWEEP_COORDINATOR_STORE_STORAGE_H_
