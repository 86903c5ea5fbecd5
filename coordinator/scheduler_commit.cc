// The commit queue (see "Durability" in scheduler.h): storage writes, the commit thread, and the
// rollback and reload when a write fails.
#include <pthread.h>

#include "coordinator/scheduler.h"
#include "coordinator/scheduler_internal.h"

namespace hpsweep {

Status Scheduler::EnsureTransaction() {
  if (txn_open_) return Status::Ok();
  HPSWEEP_WRITE(storage_->Begin());  // (a failed BEGIN counts as a failed write)
  txn_open_ = true;
  return Status::Ok();
}

Status Scheduler::Write(WriteFn write) {
  if (deferring_) {
    queued_writes_.push_back(std::move(write));
    return Status::Ok();
  }
  HPSWEEP_RETURN_IF_ERROR(EnsureTransaction());
  HPSWEEP_WRITE(write(storage_));
  return Status::Ok();
}

Status Scheduler::WriteTrial(TrialRow& t) {
  auto proposed = proposed_rows_.find(t.id);
  if (proposed != proposed_rows_.end()) {
    *proposed->second = t;  // its queued insert writes this (see proposed_rows_)
  } else {
    HPSWEEP_RETURN_IF_ERROR(Write([row = t](Storage* st) { return st->UpdateTrial(row); }));
  }
  Index(t);
  return Status::Ok();
}

void Scheduler::WaitStorageLocked() {
  ++storage_waiters_;
  while (committing_) storage_free_.Wait();
  --storage_waiters_;
  commit_wanted_.Signal();  // the commit thread held back for us
}

void Scheduler::DropUncommittedLocked(std::vector<std::pair<Status, DoneFn>>* dones) {
  storage_->Rollback();
  txn_open_ = false;
  // Changes still queued were made on top of the lost ones: they fail too.
  for (auto& d : queued_done_) dones->push_back(std::move(d));
  queued_done_.clear();
  queued_writes_.clear();
  pending_events_.clear();  // of the lost changes
  needs_reload_ = true;
  EnsureLoaded();  // (bumps version_); if storage is still failing, the next call tries again
}

void Scheduler::Answer(std::vector<std::pair<Status, DoneFn>>& dones, const Status& failure) {
  for (auto& [result, done] : dones) done(failure.ok() ? result : failure);
}

void Scheduler::CommitLoop() {
  pthread_setname_np(pthread_self(), "hpsweep-commit");
  MutexLock lock(&mu_);
  for (;;) {
    while (!stopping_ && (queued_done_.empty() || storage_waiters_ != 0)) commit_wanted_.Wait();
    if (queued_done_.empty()) {
      if (stopping_) return;
      continue;
    }
    std::vector<WriteFn> writes;
    std::vector<std::pair<Status, DoneFn>> dones;
    std::vector<Event> events;
    writes.swap(queued_writes_);
    dones.swap(queued_done_);
    events.swap(pending_events_);
    committing_ = true;
    lock.Unlock();
    // Storage is ours while committing_: everyone else waits in WaitStorageLocked.
    Status s = Status::Ok();
    if (!writes.empty()) {
      s = storage_->Begin();
      for (WriteFn& w : writes) {
        if (!s.ok()) break;
        s = w(storage_);
      }
      s = s.ok() ? storage_->Commit() : s;
    }
    writes.clear();  // (frees rows and model bytes before taking the lock)
    lock.Lock();
    committing_ = false;
    if (!s.ok()) {
      DropUncommittedLocked(&dones);
      events.clear();
    }
    storage_free_.SignalAll();
    lock.Unlock();
    Publish(events);  // (before answering, as in Mutate)
    Answer(dones, s);
    lock.Lock();
  }
}

}  // namespace hpsweep
