// Scheduler: the coordinator's state machine. Sweeps become queued trials; workers pull them with
// leases; progress reports renew a lease and store each epoch; an expired lease puts the trial back
// (attempt + 1) until the sweep's max_attempts, then fails it with the reason.
//
//   queued ──Lease──► running ──Complete──► completed (or stopped, if it stopped on STOP)
//     ▲                 │ ──Fail / lease expired, attempts left──► queued
//     │                 │ ──Fail / lease expired, none left──────► failed
//     └─Fail(released)──┘ ──sweep cancelled─────────────────────► stopped
//
// Durability: every change is committed to Storage before its caller hears the result. The
// synchronous methods write and commit before they return. The *Async forms, for the RPC edge,
// make the change in memory, queue its writes and return; the scheduler's commit thread writes
// everything queued in one transaction, outside the mutex, and then runs each call's `done`. Under
// load one commit serves many calls, and the next calls are served while the last batch is being
// written. A synchronous change that arrives meanwhile waits for that batch, then commits the
// queued writes together with its own.
// Storage is the truth: a restarted coordinator calls Load() and carries on; running trials keep
// their leases and come back when their workers report again or their leases expire. If a write
// or commit fails, every call whose changes were not yet committed fails (their writes share the
// transaction, and later changes were made on top of them) and memory is reloaded from storage.
//
// A completion under a lease that is no longer current is still accepted if the trial has no
// result yet (queued, running under a newer lease, or failed after its leases expired): a finished
// result is never thrown away (the newer lease, if any, is refused from then on). Progress under a
// stale lease is refused and changes nothing.
//
// Thread-safety: all public methods are thread-safe (one mutex; storage is used under it, or by
// the commit thread while no one else may). `done` callbacks run without the mutex, on the commit
// thread or the caller's, and may call the scheduler. Ownership: does not own the Storage or the
// Clock; both must outlive it. Owns the commit thread; the destructor commits what is queued and
// runs every pending `done` before it returns.
#ifndef HPSWEEP_COORDINATOR_SCHEDULER_H_
#define HPSWEEP_COORDINATOR_SCHEDULER_H_

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "coordinator/storage.h"
#include "coordinator/sweep_file.h"
#include "engine/status.h"

namespace hpsweep {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual double Now() = 0;  // seconds
};

// Wall-clock (Unix) seconds.
class SystemClock : public Clock {
 public:
  double Now() override;
};

struct SchedulerOptions {
  double lease_seconds = 30;       // a lease lasts this long after the last report
  double retry_after_seconds = 1;  // told to a worker when nothing is queued
};

struct LeaseGrant {
  TrialRow trial;  // attempts already counts this lease
  std::string lease_id;
  double deadline = 0;
};

struct EpochReport {
  int epoch = 0;  // 0: heartbeat only
  double train_loss = 0, train_accuracy = 0, val_loss = 0, val_accuracy = 0, seconds = 0;
};

struct Completion {
  std::vector<EpochReport> history;
  double test_loss = -1, test_accuracy = -1, seconds = 0;
  std::vector<int64_t> confusion;
  std::string model;  // model file bytes; empty if none
  bool stopped = false;
};

enum class ReportAction { kContinue, kStop };

struct SweepCounts {
  SweepRow sweep;
  int queued = 0, running = 0, completed = 0, failed = 0, stopped = 0;
  double best = -1;  // best validation accuracy so far
};

class Scheduler {
 public:
  Scheduler(Storage* storage, Clock* clock, SchedulerOptions options = {});
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Reads every sweep and trial from storage. Call once before anything else (and it is called
  // again after a failed commit).
  Status Load();

  // Stores a parsed, expanded sweep with all its trials queued; returns the sweep id.
  StatusOr<int64_t> Submit(const SweepSpec& spec, const std::vector<TrialSpec>& trials,
                           const std::string& yaml, const std::string& file_name);

  StatusOr<int64_t> RegisterWorker(const std::string& name, int threads);
  // The next queued trial (sweeps take turns), or nullopt when none is queued.
  StatusOr<std::optional<LeaseGrant>> Lease(int64_t worker_id);
  // Renews the lease; stores the epoch if report.epoch > 0. FailedPrecondition if the lease is
  // not current. *deadline gets the new deadline.
  StatusOr<ReportAction> Report(const std::string& lease_id, const EpochReport& report,
                                double* deadline);
  Status Complete(const std::string& lease_id, const Completion& completion);
  // Complete, then Lease for worker_id, in one transaction (one commit instead of two). If the
  // completion is refused nothing is leased; worker_id 0 leases nothing.
  StatusOr<std::optional<LeaseGrant>> CompleteAndLease(const std::string& lease_id,
                                                       const Completion& completion,
                                                       int64_t worker_id);
  // released: the worker gives the trial back (shutting down); no attempt is charged.
  Status Fail(const std::string& lease_id, const std::string& error, bool released);
  // Stops leasing the sweep; queued trials become stopped, running ones are told STOP.
  // Returns how many trials were stopped or told to stop.
  StatusOr<int> Cancel(int64_t sweep_id);
  // Puts back (or fails) every trial whose lease deadline has passed. Returns how many.
  StatusOr<int> ExpireLeases();

  // Asynchronous forms of Lease, Report, CompleteAndLease (worker_id 0: complete only) and Fail:
  // the same changes, with the result passed to `done` once it is committed (see the top).
  using LeaseDone = std::function<void(StatusOr<std::optional<LeaseGrant>>)>;
  void LeaseAsync(int64_t worker_id, LeaseDone done);
  void ReportAsync(const std::string& lease_id, const EpochReport& report,
                   std::function<void(StatusOr<ReportAction>, double deadline)> done);
  void CompleteAndLeaseAsync(const std::string& lease_id, const Completion& completion,
                             int64_t worker_id, LeaseDone done);
  void FailAsync(const std::string& lease_id, const std::string& error, bool released,
                 std::function<void(Status)> done);

  // Reads.
  std::vector<SweepCounts> Counts(int64_t sweep_id);  // 0: all sweeps
  int WorkersAlive();                                 // heard from within two lease periods
  // sweep_id 0: the most recent sweep. *resolved gets the sweep actually used.
  StatusOr<std::vector<TrialRow>> Leaderboard(int64_t sweep_id, int top, SweepRow* resolved);
  // {"sweep": {...}, "trials": [{"id", "number", "status", "attempts", "params", "epochs": [...],
  //  ...final metrics}]}
  StatusOr<std::string> ExportJson(int64_t sweep_id);
  StatusOr<std::string> GetModel(int64_t trial_id);
  // 0 if there is no sweep.
  int64_t LatestSweepId();

  // A counter bumped by every change; WaitForChange returns when it passes `seen` or after
  // timeout_seconds. For streaming status to watchers.
  uint64_t version();
  uint64_t WaitForChange(uint64_t seen, double timeout_seconds);

 private:
  using WriteFn = std::function<Status(Storage*)>;
  using DoneFn = std::function<void(Status)>;

  // Runs `change` (which edits memory and calls Write) under mu_, once the commit thread is idle,
  // after the queued writes and in the same transaction, and commits. Returns change's status, or
  // the write's or commit's if that failed.
  template <typename F>
  Status Mutate(F&& change);
  // Runs `change` with its writes queued; `done` gets its status once they are committed.
  template <typename F>
  void MutateAsync(F&& change, DoneFn done);
  // MutateAsync for a change(std::optional<LeaseGrant>*) that may grant a lease.
  template <typename F>
  void MutateGrantAsync(F&& change, LeaseDone done);
  // A storage write: run now inside the open transaction (Mutate), or queued (MutateAsync).
  Status Write(WriteFn write);
  // Waits (releasing mu_) until the commit thread is not writing: storage is then ours.
  void WaitStorageLocked(std::unique_lock<std::mutex>& lock);
  void CommitLoop();  // the commit thread
  // After a failed write or commit: rolls back, moves the still-queued calls into *dones (they
  // fail too: they were made on top of the lost changes) and reloads memory from storage.
  void DropUncommittedLocked(std::vector<std::pair<Status, DoneFn>>* dones);
  // Runs each done with its result, or with `failure` if that is not ok. Call without mu_.
  static void Answer(std::vector<std::pair<Status, DoneFn>>& dones, const Status& failure);
  Status EnsureTransaction();
  Status LeaseLocked(int64_t worker_id, std::optional<LeaseGrant>* grant);
  Status CompleteLocked(const std::string& lease_id, const Completion& completion);
  Status CompleteAndLeaseLocked(const std::string& lease_id, const Completion& completion,
                                int64_t worker_id, std::optional<LeaseGrant>* grant);
  Status ReportLocked(const std::string& lease_id, const EpochReport& report, ReportAction* action,
                      double* deadline);
  Status FailLocked(const std::string& lease_id, const std::string& error, bool released);
  Status LoadLocked();
  // Reloads from storage if a failed write left memory unsure; Unavailable if that fails.
  Status EnsureLoaded();
  Status WriteTrial(TrialRow& t);  // storage + indexes
  void Index(const TrialRow& t);
  void Unindex(const TrialRow& t);
  Status ExpireLocked(double now, int* count);
  Status FinishTrial(TrialRow& t, TrialStatus status, double now);
  Status MaybeFinishSweep(int64_t sweep_id, double now);
  TrialRow* FindByLease(const std::string& lease_id);
  // Writes one epoch of t and updates its epochs run and best epoch (by the sweep's metric).
  Status StoreEpoch(TrialRow* t, const SweepRow& sweep, const EpochReport& r, double now);

  Storage* storage_;
  Clock* clock_;
  SchedulerOptions options_;

  std::mutex mu_;
  std::condition_variable changed_;
  uint64_t version_ = 0;
  bool txn_open_ = false;      // a transaction is open on storage (inside Mutate)
  bool write_failed_ = false;  // a storage write failed during the current change
  bool needs_reload_ = false;  // memory may disagree with storage until LoadLocked succeeds
  // The commit queue: writes of asynchronous changes not yet handed to the commit thread, and
  // each change's result with the callback that gets it after the commit.
  bool deferring_ = false;  // inside MutateAsync: Write queues
  std::vector<WriteFn> queued_writes_;
  std::vector<std::pair<Status, DoneFn>> queued_done_;
  bool committing_ = false;  // the commit thread is writing a batch (without mu_)
  int storage_waiters_ = 0;  // calls waiting in WaitStorageLocked; the commit thread lets them in
  bool stopping_ = false;
  std::condition_variable commit_wanted_;  // the queue grew, a waiter left, or stopping_
  std::condition_variable storage_free_;   // committing_ went false
  std::thread committer_;
  uint64_t lease_counter_ = 0;

  std::map<int64_t, SweepRow> sweeps_;
  std::unordered_map<int64_t, TrialRow> trials_;
  std::map<int64_t, std::set<int64_t>> queued_;      // sweep id -> queued trial ids
  std::set<std::pair<double, int64_t>> deadlines_;   // (lease deadline, trial id) of running trials
  std::unordered_map<std::string, int64_t> leases_;  // lease id -> trial id (current and last)
  std::set<int64_t> stop_requested_;                 // running trials told to stop
  std::map<int64_t, WorkerRow> workers_;
  std::map<int64_t, double> worker_touched_;  // when last_seen was last written, per worker
  int64_t next_sweep_turn_ = 0;               // round-robin across sweeps
};

}  // namespace hpsweep

#endif  // HPSWEEP_COORDINATOR_SCHEDULER_H_
