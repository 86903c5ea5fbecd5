// Resuming trials (see SaveCheckpoint in scheduler.h): which checkpoints are kept, attempts, and
// resuming. The files themselves are checkpoint_store_'s (coordinator/store/checkpoint_store.h).
#include "coordinator/scheduler.h"
#include "coordinator/scheduler_internal.h"
#include "engine/checkpoint.h"

namespace hpsweep {

StatusOr<TrialRow*> Scheduler::CheckpointTrialLocked(const std::string& lease_id, int epoch) {
  TrialRow* t = FindByLease(lease_id);
  if (t == nullptr || t->status != TrialStatus::kRunning) {
    return LeaseNotCurrent(lease_id, t);
  }
  if (epoch < 1 || epoch != t->epochs_run) {
    return InvalidArgument("epoch is " + std::to_string(epoch) +
                           "; the last epoch stored for trial " + std::to_string(t->id) + " is " +
                           std::to_string(t->epochs_run) +
                           " (a checkpoint follows its epoch's report)");
  }
  return t;
}

Status Scheduler::SaveCheckpoint(const std::string& lease_id, int epoch, const std::string& bytes) {
  if (bytes.empty()) return InvalidArgument("checkpoint is empty");
  if (bytes.size() > kMaxCheckpointBytes) {
    return InvalidArgument("checkpoint is " + std::to_string(bytes.size()) +
                           " bytes; the limit is " + std::to_string(kMaxCheckpointBytes));
  }
  std::string tmp;
  std::string owner;
  int64_t trial_id = 0;
  {
    MutexLock lock(&mu_);
    auto t = CheckpointTrialLocked(lease_id, epoch);
    if (!t.ok()) return t.status();
    trial_id = (*t)->id;
    owner = workers_.OwnerOf((*t)->worker_id);
    HPSWEEP_RETURN_IF_ERROR(CheckCheckpointRoomLocked(trial_id, bytes.size(), owner));
    tmp = checkpoint_store_.StartPut(trial_id);
  }
  // The write and fsync (megabytes) outside the mutex, under a name of its own.
  HPSWEEP_RETURN_IF_ERROR(CheckpointStore::WriteTemp(tmp, bytes));
  MutexLock lock(&mu_);
  // Again: the trial may have ended, or been leased to someone else, meanwhile.
  auto t = CheckpointTrialLocked(lease_id, epoch);
  Status room = t.ok() ? CheckCheckpointRoomLocked(trial_id, bytes.size(), owner) : Status::Ok();
  if (!t.ok() || (*t)->id != trial_id || !room.ok()) {
    CheckpointStore::AbandonPut(tmp);
    return !t.ok()                ? t.status()
           : (*t)->id != trial_id ? FailedPrecondition("lease " + LeaseText(lease_id) +
                                                       " is not current")
                                  : room;
  }
  HPSWEEP_RETURN_IF_ERROR(checkpoint_store_.FinishPut(trial_id, tmp, bytes));
  const TrialRow& row = **t;
  auto old = checkpoints_.find(trial_id);
  if (old != checkpoints_.end()) CountCheckpointLocked(old->second, false);
  CheckpointMeta& meta = checkpoints_[trial_id];
  meta = CheckpointMeta{epoch,         row.best_epoch,   row.best_val_accuracy, row.best_val_loss,
                        bytes.size(), row.metric_value, owner};
  CountCheckpointLocked(meta, true);
  return Status::Ok();
}

void Scheduler::CountCheckpointLocked(const CheckpointMeta& meta, bool add) {
  if (add) {
    checkpoint_bytes_total_ += meta.bytes;
    if (!meta.owner.empty()) checkpoint_bytes_of_owner_[meta.owner] += meta.bytes;
    return;
  }
  checkpoint_bytes_total_ -= meta.bytes;
  if (meta.owner.empty()) return;
  auto o = checkpoint_bytes_of_owner_.find(meta.owner);
  if (o != checkpoint_bytes_of_owner_.end() && (o->second -= meta.bytes) == 0) {
    checkpoint_bytes_of_owner_.erase(o);
  }
}

Status Scheduler::CheckCheckpointRoomLocked(int64_t trial_id, uint64_t bytes,
                                            const std::string& owner) const {
  auto old = checkpoints_.find(trial_id);
  const uint64_t replaced = old != checkpoints_.end() ? old->second.bytes : 0;
  const uint64_t after = checkpoint_bytes_total_ - replaced + bytes;
  if (after > options_.max_checkpoint_bytes_total) {
    return Unavailable("checkpoints kept would hold " + std::to_string(after) +
                       " bytes; the limit for all of them is " +
                       std::to_string(options_.max_checkpoint_bytes_total) +
                       " (this one is not kept; the trial trains on)");
  }
  if (owner.empty()) return Status::Ok();
  auto mine = checkpoint_bytes_of_owner_.find(owner);
  const uint64_t held = mine != checkpoint_bytes_of_owner_.end() ? mine->second : 0;
  const uint64_t replaced_mine =
      old != checkpoints_.end() && old->second.owner == owner ? old->second.bytes : 0;
  const uint64_t after_mine = held - replaced_mine + bytes;
  if (after_mine <= options_.max_checkpoint_bytes_per_token) return Status::Ok();
  return Unavailable("checkpoints kept for this token's workers would hold " +
                     std::to_string(after_mine) + " bytes; the limit per token is " +
                     std::to_string(options_.max_checkpoint_bytes_per_token) +
                     " (this one is not kept; the trial trains on)");
}

StatusOr<std::pair<int, std::string>> Scheduler::GetCheckpoint(const std::string& lease_id) {
  std::string path;
  int epoch = 0;
  {
    MutexLock lock(&mu_);
    TrialRow* t = FindByLease(lease_id);
    if (t == nullptr || t->status != TrialStatus::kRunning) {
      return FailedPrecondition("lease " + LeaseText(lease_id) + " is not current");
    }
    auto c = checkpoints_.find(t->id);
    if (c == checkpoints_.end()) {
      return NotFound("trial " + std::to_string(t->id) + " has no checkpoint");
    }
    epoch = c->second.epoch;
    if (checkpoint_store_.in_memory()) {
      auto bytes = checkpoint_store_.Get(t->id);
      if (!bytes.ok()) return bytes.status();
      return std::make_pair(epoch, std::move(*bytes));
    }
    path = checkpoint_store_.PathOf(t->id);
  }
  // Read outside the mutex; a rename replaces the file whole, so this reads one version.
  auto bytes = CheckpointStore::ReadFile(path, kMaxCheckpointBytes);
  if (!bytes.ok()) return bytes.status();
  const int in_file = PeekCheckpointEpoch(*bytes);
  return std::make_pair(in_file > 0 ? in_file : epoch, std::move(*bytes));
}

int Scheduler::ResumableEpochLocked(const TrialRow& t) const {
  auto c = checkpoints_.find(t.id);
  if (c == checkpoints_.end()) return 0;
  // The dead attempt stored at least the checkpoint's epochs (a checkpoint follows its report).
  return c->second.epoch <= t.epochs_run ? c->second.epoch : 0;
}

Status Scheduler::ResumeLocked(TrialRow* t, int epoch) {
  const CheckpointMeta& c = checkpoints_.at(t->id);
  HPSWEEP_RETURN_IF_ERROR(
      Write([id = t->id, epoch](Storage* st) { return st->DeleteEpochsAfter(id, epoch); }));
  t->epochs_run = epoch;
  t->best_epoch = c.best_epoch;
  t->best_val_accuracy = c.best_val_accuracy;
  t->best_val_loss = c.best_val_loss;
  t->metric_value = c.metric_value;
  return Status::Ok();
}

Status Scheduler::StartAttemptLocked(const TrialRow& t, int resumed_from_epoch, double now) {
  // (the previous attempt was ended when its trial was put back: expiry, Fail)
  AttemptRow a;
  a.trial_id = t.id;
  a.attempt = t.attempts;
  a.worker_id = t.worker_id;
  a.worker_name = t.worker_name;
  a.started_at = now;
  a.resumed_from_epoch = resumed_from_epoch;
  return Write([a](Storage* st) { return st->InsertAttempt(a); });
}

Status Scheduler::EndAttemptLocked(const TrialRow& t, double now) {
  return Write([id = t.id, now](Storage* st) { return st->EndAttempt(id, now); });
}

void Scheduler::DropCheckpointLocked(int64_t trial_id) {
  auto c = checkpoints_.find(trial_id);
  if (c == checkpoints_.end()) return;
  CountCheckpointLocked(c->second, false);
  checkpoints_.erase(c);
  checkpoint_store_.Drop(trial_id);
}

void Scheduler::LoadCheckpointsLocked() {
  checkpoints_.clear();
  checkpoint_bytes_total_ = 0;
  checkpoint_bytes_of_owner_.clear();  // (owners are not stored: a restart counts the total only)
  for (const CheckpointStore::Entry& found : checkpoint_store_.Scan()) {
    const int64_t id = found.trial_id;
    auto it = trials_.find(id);
    int epoch = -1;
    if (it != trials_.end() &&
        (it->second.status == TrialStatus::kQueued || it->second.status == TrialStatus::kRunning)) {
      epoch = found.epoch;
    }
    // Its best epoch from the stored epochs 1..epoch, which must all be there.
    CheckpointMeta meta;
    meta.epoch = epoch;
    bool usable = epoch >= 1 && epoch <= it->second.epochs_run;
    if (usable) {
      auto epochs = storage_->LoadEpochs(id);
      usable = epochs.ok();
      int next = 1;
      const SweepRow& sw = sweeps_[it->second.sweep_id];
      const Objective by = Objective(sw.metric, sw.maximize).ForEpochs();
      for (const EpochRow& e : usable ? *epochs : std::vector<EpochRow>{}) {
        if (e.epoch > epoch) break;
        usable = usable && e.epoch == next++;
        const double best = by.Named() ? meta.metric_value
                                       : by.EpochValue(meta.best_val_accuracy, meta.best_val_loss);
        if (meta.best_epoch == 0 || by.Better(by.EpochValue(e), best)) {
          if (by.Named()) meta.metric_value = by.EpochValue(e);
          meta.best_epoch = e.epoch;
          meta.best_val_accuracy = e.val_accuracy;
          meta.best_val_loss = e.val_loss;
        }
      }
      usable = usable && next == epoch + 1;
    }
    if (usable) {
      meta.bytes = found.bytes;
      checkpoints_[id] = meta;
      CountCheckpointLocked(meta, true);
    } else {
      checkpoint_store_.Drop(id);
    }
  }
}

}  // namespace hpsweep
