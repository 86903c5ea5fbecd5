// Population-based training in the scheduler (see "Population-based training" in scheduler.h):
// which members may train, the end of a segment, and the population's decision at the barrier.
#include <algorithm>

#include "coordinator/scheduler.h"
#include "coordinator/scheduler_internal.h"
#include "search/pbt.h"

namespace hpsweep {

int Scheduler::SegmentEndLocked(int64_t sweep_id) {
  auto p = populations_.find(sweep_id);
  if (p == populations_.end()) return 0;
  const PbtOptions& o = p->second.spec.pbt;
  return std::min(sweeps_[sweep_id].pbt_epoch + o.interval, o.epochs);
}

bool Scheduler::AtBarrierLocked(const TrialRow& t) {
  if (t.status != TrialStatus::kQueued) return false;
  auto p = populations_.find(t.sweep_id);
  if (p == populations_.end()) return false;
  const int end = SegmentEndLocked(t.sweep_id);
  return end < p->second.spec.pbt.epochs && ResumableEpochLocked(t) >= end;
}

Status Scheduler::EndSegmentLocked(const std::string& lease_id) {
  TrialRow* t = FindByLease(lease_id);
  if (t == nullptr || t->status != TrialStatus::kRunning) {
    return LeaseNotCurrent(lease_id, t);
  }
  const SweepRow& sw = sweeps_[t->sweep_id];
  if (sw.state != SweepState::kRunning || stop_requested_.count(t->id)) {
    return FailLocked(lease_id, "", /*released=*/true);  // ends stopped
  }
  if (!populations_.count(t->sweep_id)) {
    return InvalidArgument("segment_end: trial " + std::to_string(t->id) +
                           " is not a member of a population (method: pbt)");
  }
  const int end = SegmentEndLocked(t->sweep_id);
  if (t->epochs_run != end) {
    return FailLocked(lease_id,
                      "ended its segment after epoch " + std::to_string(t->epochs_run) +
                          "; the segment ends after epoch " + std::to_string(end),
                      /*released=*/false);
  }
  auto c = checkpoints_.find(t->id);
  if (c == checkpoints_.end() || c->second.epoch != end) {
    // Every member resumes from its checkpoint: without one it would train this segment again
    // and again. Said once, loudly.
    const double now = clock_->Now();
    Unindex(*t);
    last_report_.erase(t->id);
    AppendError(t, "attempt " + std::to_string(t->attempts) + " on '" + t->worker_name +
                       "': no checkpoint was kept after epoch " + std::to_string(end) +
                       " (population-based training resumes each member from its checkpoint; "
                       "see the worker's log and the coordinator's checkpoint limits)");
    EmitLocked(events::TrialFailed(*t, sw, "no checkpoint after its segment", TrialStatus::kFailed));
    return FinishTrial(*t, TrialStatus::kFailed, now);
  }
  const double now = clock_->Now();
  Unindex(*t);
  last_report_.erase(t->id);
  UnchargeAttempt(t, "");
  HPSWEEP_RETURN_IF_ERROR(HeardFromLocked(t->worker_id, now));
  t->status = TrialStatus::kQueued;
  t->lease_id.clear();
  t->lease_deadline = 0;
  leases_.erase(lease_id);
  HPSWEEP_RETURN_IF_ERROR(EndAttemptLocked(*t, now));
  HPSWEEP_RETURN_IF_ERROR(WriteTrial(*t));  // (indexed as waiting: it is at the barrier)
  return AdvancePopulationLocked(t->sweep_id);
}

Status Scheduler::EndSegment(const std::string& lease_id) {
  return Mutate([&] {
    mu_.AssertHeld();
    return EndSegmentLocked(lease_id);
  });
}

void Scheduler::EndSegmentAsync(const std::string& lease_id, std::function<void(Status)> done) {
  MutateAsync(
      [&] {
        mu_.AssertHeld();
        return EndSegmentLocked(lease_id);
      },
      std::move(done));
}

Status Scheduler::AdvancePopulationLocked(int64_t sweep_id) {
  auto pop = populations_.find(sweep_id);
  if (pop == populations_.end()) return Status::Ok();
  SweepRow& sw = sweeps_[sweep_id];
  const Population& p = pop->second;
  const int end = SegmentEndLocked(sweep_id);
  if (sw.state != SweepState::kRunning || end >= p.spec.pbt.epochs) return Status::Ok();
  // The barrier: every member proposed, none training or behind, some waiting.
  auto live = samplers_.find(sweep_id);
  if (live != samplers_.end() &&
      !live->second.sampler->Exhausted(static_cast<int>(live->second.trial_ids.size()))) {
    return Status::Ok();
  }
  if (queued_.count(sweep_id)) return Status::Ok();
  for (const auto& [deadline, id] : deadlines_) {
    if (trials_[id].sweep_id == sweep_id) return Status::Ok();
  }
  auto waiting = waiting_.find(sweep_id);
  if (waiting == waiting_.end()) return Status::Ok();
  const std::set<int64_t> ids = waiting->second;
  std::vector<PbtMember> members;
  for (int64_t id : ids) {
    const TrialRow& t = trials_[id];
    PbtMember m{id, t.number, kNoMetric, t.params};
    auto value = p.latest.find(id);
    if (value != p.latest.end() && value->second.first == end) m.value = value->second.second;
    members.push_back(std::move(m));
  }
  std::string copies;
  for (const PbtDecision& d : DecidePopulation(p.spec, members, end)) {
    TrialRow& member = trials_[d.member];
    bool copied = false;
    HPSWEEP_RETURN_IF_ERROR(ExploitLocked(&member, trials_[d.parent], d, end, &copied));
    if (copied) {
      copies += (copies.empty() ? "" : ", ") + std::string("#") + std::to_string(member.number) +
                " takes #" + std::to_string(d.parent_number);
    }
  }
  sw.pbt_epoch = end;
  HPSWEEP_RETURN_IF_ERROR(
      Write([sweep_id, end](Storage* st) { return st->SetPopulationEpoch(sweep_id, end); }));
  waiting_.erase(sweep_id);
  for (int64_t id : ids) Index(trials_[id]);  // (all behind the new segment's end: queued)
  Event e{"population_decided", EventLevel::kInfo,
          "sweep " + std::to_string(sweep_id) + " (" + sw.name + "): the population decided after epoch " +
              std::to_string(end) + (copies.empty() ? "; every member goes on" : ": " + copies),
          {}, 0};
  e.With("sweep_id", sweep_id).With("epoch", end).With("exploits", copies);
  EmitLocked(std::move(e));
  return Status::Ok();
}

Status Scheduler::ExploitLocked(TrialRow* t, const TrialRow& parent, const PbtDecision& d,
                                int epoch, bool* copied) {
  *copied = false;
  auto from = checkpoints_.find(parent.id);
  if (from == checkpoints_.end() || from->second.epoch != epoch) return Status::Ok();
  // The parent's checkpoint becomes the member's (a file copy: the store keeps one per trial).
  StatusOr<std::string> bytes = checkpoint_store_.Get(parent.id);
  if (!bytes.ok()) return Status::Ok();  // (the member goes on from its own)
  if (!CheckCheckpointRoomLocked(t->id, bytes->size(), "").ok()) return Status::Ok();
  const std::string tmp = checkpoint_store_.StartPut(t->id);
  if (!CheckpointStore::WriteTemp(tmp, *bytes).ok()) return Status::Ok();
  if (!checkpoint_store_.FinishPut(t->id, tmp, *bytes).ok()) {
    CheckpointStore::AbandonPut(tmp);
    return Status::Ok();
  }
  auto old = checkpoints_.find(t->id);
  if (old != checkpoints_.end()) CountCheckpointLocked(old->second, false);
  CheckpointMeta meta = from->second;
  meta.owner.clear();
  checkpoints_[t->id] = meta;
  CountCheckpointLocked(meta, true);
  // Its epochs, best and params become the parent's; its schedule the parent's and this step.
  t->epochs_run = parent.epochs_run;
  t->best_epoch = parent.best_epoch;
  t->best_val_accuracy = parent.best_val_accuracy;
  t->best_val_loss = parent.best_val_loss;
  t->metric_value = parent.metric_value;
  Population& p = populations_[t->sweep_id];
  std::vector<ScheduleEntry> schedule = MemberSchedule(p.spec, parent);
  ScheduleEntry next{epoch, parent.number, {}};
  for (const std::string& key : p.spec.pbt.mutable_params) {
    auto v = d.params.find(key);
    if (v != d.params.end()) next.params[key] = v->second;
  }
  schedule.push_back(std::move(next));
  t->params = d.params;
  t->schedule = ScheduleJson(schedule);
  p.latest[t->id] = p.latest[parent.id];
  HPSWEEP_RETURN_IF_ERROR(Write([to = t->id, from_id = parent.id, epoch](Storage* st) -> Status {
    HPSWEEP_RETURN_IF_ERROR(st->DeleteEpochs(to));
    auto epochs = st->LoadEpochs(from_id);
    if (!epochs.ok()) return epochs.status();
    for (EpochRow e : *epochs) {
      if (e.epoch > epoch) break;
      e.trial_id = to;
      HPSWEEP_RETURN_IF_ERROR(st->PutEpoch(e));
    }
    return Status::Ok();
  }));
  HPSWEEP_RETURN_IF_ERROR(Write([to = t->id, params = t->params, schedule = t->schedule](
                                    Storage* st) { return st->SetTrialParams(to, params, schedule); }));
  *copied = true;
  return WriteTrial(*t);
}

void Scheduler::RebuildPopulationsLocked() {
  populations_.clear();
  waiting_.clear();
  for (const auto& [id, sw] : sweeps_) {
    if (sw.state != SweepState::kRunning) continue;
    StatusOr<SweepSpec> spec = ParseSweep(sw.yaml, sw.file_name);
    if (!spec.ok() || spec->method != SweepMethod::kPbt) continue;
    populations_[id].spec = std::move(*spec);
  }
  if (populations_.empty()) return;
  for (auto& [id, t] : trials_) {
    Population* p = populations_.count(t.sweep_id) ? &populations_[t.sweep_id] : nullptr;
    if (p == nullptr || Terminal(t.status)) continue;
    // Its latest value: from the stored epochs (storage is ours while loading).
    auto epochs = storage_->LoadEpochs(id);
    if (epochs.ok() && !epochs->empty()) {
      const SweepRow& sw = sweeps_[t.sweep_id];
      const Objective by = Objective(sw.metric, sw.maximize).ForEpochs();
      p->latest[id] = {epochs->back().epoch, by.EpochValue(epochs->back())};
    }
    if (AtBarrierLocked(t)) {
      Unindex(t);
      waiting_[t.sweep_id].insert(id);
    }
  }
}

}  // namespace hpsweep
