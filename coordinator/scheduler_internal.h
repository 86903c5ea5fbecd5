// Internal to the scheduler's files (scheduler*.cc): helpers they share, the storage-write macro
// and the templates that run a change under the lock and commit it (Mutate, MutateAsync,
// MutateGrantAsync; see "Durability" in scheduler.h). Not for use outside the scheduler.
//
// Thread-safety: as Scheduler's; the templates take mu_ themselves.
#ifndef HPSWEEP_COORDINATOR_SCHEDULER_INTERNAL_H_
#define HPSWEEP_COORDINATOR_SCHEDULER_INTERNAL_H_

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "coordinator/scheduler.h"

namespace hpsweep {

// True for a status a trial does not leave: completed, failed, stopped, pruned.
bool Terminal(TrialStatus s);
// A lease id as a message may show it: short printable ASCII only, never a huge input.
std::string LeaseText(const std::string& lease_id);
// FailedPrecondition: lease_id is not the running trial t's (t null: no trial holds it).
Status LeaseNotCurrent(const std::string& lease_id, const TrialRow* t);
// The trial's `epochs` param (validated when the sweep was submitted), or the engine's default
// (for a program sweep, search/sweep_file.h ProgramEpochs).
int MaxEpochs(const TrialRow& t, const SweepRow& sw);
// The trial asks for precision: bf16 (an engine trial): it goes only to a worker with bf16.
bool NeedsBf16(const TrialRow& t, const SweepRow& sw);

// Checks of what a worker reports (scheduler_checks.cc); InvalidArgument naming the field and
// the limit. One reported epoch's metrics (the field named "metrics.*"), for a trial of max_epochs.
// program: a program trial's epoch (docs/programs.md): each of the four fields may be -1 (not
// reported), and its named metrics are checked (names, count, finite values).
// regression: an engine trial with task: regression: its accuracies are -1 (none) and its named
// metrics are val_mse and val_mae only (finite, >= 0; search/objective.h IsRegressionMetric).
Status CheckReportedEpoch(const EpochReport& r, int max_epochs, bool program = false,
                          bool regression = false);
// A report that repeats the last one stored with the same values (a retry).
bool SameReport(const EpochReport& a, const EpochReport& b);
// A completion: its history, test metrics and confusion matrix, for a trial of max_epochs.
// program: its history is the epochs of one attempt, consecutive from any epoch, as many as it
// ran (a program may end early); its final metrics are checked as an epoch's.
// regression: its epochs as above; test_accuracy -1, no confusion matrix, and final metrics
// test_mse and test_mae only.
Status CheckCompletion(const Completion& c, int max_epochs, bool program = false,
                       bool regression = false);
// The trial's task param says regression (an engine trial; README.md, "Regression").
bool IsRegressionTrial(const TrialRow& t);
// A completion's model (when it carries one): a model file that parses (header, size, CRC) and
// was trained with the trial's params (they change nothing when applied to its config), so that
// --reuse never copies arbitrary bytes or another trial's model.
Status CheckCompletedModel(const std::string& model, const TrialRow& t);

// Runs a storage write; a failure marks the change as failed (rolled back and reloaded by Mutate),
// whatever its status code.
#define HPSWEEP_WRITE(expr)         \
  do {                              \
    ::hpsweep::Status _ws = (expr); \
    if (!_ws.ok()) {                \
      write_failed_ = true;         \
      return _ws;                   \
    }                               \
  } while (0)

template <typename F>
Status Scheduler::Mutate(F&& change) {
  MutexLock lock(&mu_);
  WaitStorageLocked();
  // Storage is ours until we unlock. Queued asynchronous writes go first, in our transaction.
  std::vector<WriteFn> writes;
  std::vector<std::pair<Status, DoneFn>> dones;
  writes.swap(queued_writes_);
  dones.swap(queued_done_);
  Status s = EnsureLoaded();
  write_failed_ = false;
  for (WriteFn& w : writes) {
    if (!s.ok()) break;
    s = Write(std::move(w));
  }
  if (s.ok()) s = change();
  proposed_rows_.clear();  // (empty: it is filled only while deferring_)
  Status failure = write_failed_ ? s : Status::Ok();
  const bool wrote = txn_open_;
  if (!write_failed_ && txn_open_) {
    failure = storage_->Commit();
    txn_open_ = false;
  }
  if (!failure.ok()) {
    DropUncommittedLocked(&dones);  // ours and the queued calls' changes
    s = failure;
  } else if (wrote) {
    ++version_;
    changed_.SignalAll();
  }
  const std::vector<Event> events = TakeEventsLocked();  // (none if dropped)
  lock.Unlock();
  Publish(events);  // (before answering: whoever waits on an answer finds its events logged)
  Answer(dones, failure);
  return s;
}

template <typename F>
void Scheduler::MutateAsync(F&& change, DoneFn done) {
  MutexLock lock(&mu_);
  if (needs_reload_) {
    WaitStorageLocked();
    Status loaded = EnsureLoaded();
    if (!loaded.ok()) {
      lock.Unlock();
      return done(loaded);
    }
  }
  const size_t before = queued_writes_.size();
  deferring_ = true;
  Status s = change();
  proposed_rows_.clear();  // the rows their inserts write are final now
  deferring_ = false;
  if (queued_writes_.size() > before) {
    ++version_;
    changed_.SignalAll();
  } else if (queued_done_.empty() && !committing_) {
    // Wrote nothing, and nothing it saw is waiting to be committed: answer now.
    const std::vector<Event> events = TakeEventsLocked();
    lock.Unlock();
    Publish(events);
    return done(s);
  }
  queued_done_.emplace_back(std::move(s), std::move(done));
  commit_wanted_.Signal();
}

template <typename F>
void Scheduler::MutateGrantAsync(F&& change, LeaseDone done) {
  auto grant = std::make_shared<std::optional<LeaseGrant>>();
  MutateAsync(
      [&] {
        mu_.AssertHeld();
        return change(grant.get());
      },
      [grant, done = std::move(done)](Status s) {
        if (!s.ok()) return done(s);
        done(std::move(*grant));
      });
}

}  // namespace hpsweep

#endif  // HPSWEEP_COORDINATOR_SCHEDULER_INTERNAL_H_
