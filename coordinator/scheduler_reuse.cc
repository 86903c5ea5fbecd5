// Reuse (see the top of scheduler.h): completing a trial by copying an identical finished one.
#include "coordinator/scheduler.h"
#include "coordinator/scheduler_internal.h"

namespace hpsweep {

const std::string& Scheduler::SweepDataLocked(int64_t sweep_id) {
  auto known = sweep_data_.find(sweep_id);
  if (known != sweep_data_.end()) return known->second;
  // A sweep stored before this run: its file says what it trains on. A file that no longer
  // parses (written by another version) has unknown data and matches nothing.
  std::string data;
  auto sw = sweeps_.find(sweep_id);
  if (sw != sweeps_.end()) {
    auto spec = ParseSweep(sw->second.yaml, sw->second.file_name);
    if (spec.ok()) data = SweepDataIdentity(*spec);
  }
  return sweep_data_[sweep_id] = std::move(data);
}

std::string Scheduler::IdentityLocked(const TrialRow& t) {
  return TrialIdentityKey(t.params, SweepDataLocked(t.sweep_id));
}

void Scheduler::IndexFinishedLocked(const TrialRow& t) {
  if (!finished_built_) return;  // built from every completed trial on first use
  const std::string identity = IdentityLocked(t);
  if (!identity.empty()) finished_[identity].push_back(t.id);
}

const TrialRow* Scheduler::FinishedTwinLocked(int64_t sweep_id, const std::string& identity) {
  if (identity.empty()) return nullptr;
  if (!finished_built_) {
    finished_.clear();
    finished_built_ = true;
    for (const auto& [id, t] : trials_) {
      if (t.status == TrialStatus::kCompleted) IndexFinishedLocked(t);
    }
  }
  auto found = finished_.find(identity);
  if (found == finished_.end()) return nullptr;
  const TrialRow* best = nullptr;
  for (int64_t id : found->second) {
    auto t = trials_.find(id);
    if (t == trials_.end() || t->second.sweep_id == sweep_id ||
        t->second.status != TrialStatus::kCompleted) {
      continue;
    }
    // One that trained (the origin) before a copy of it; then the lowest id.
    const TrialRow& c = t->second;
    if (best == nullptr || (c.reused_from.empty() && !best->reused_from.empty()) ||
        (c.reused_from.empty() == best->reused_from.empty() && c.id < best->id)) {
      best = &c;
    }
  }
  return best;
}

IdenticalFinished Scheduler::FindIdenticalFinished(const SweepSpec& spec,
                                                   const std::vector<TrialSpec>& trials,
                                                   int64_t except_sweep) {
  MutexLock lock(&mu_);
  IdenticalFinished out;
  if (needs_reload_) return out;  // (memory unsure: claim nothing)
  const std::string data = SweepDataIdentity(spec);
  std::set<int64_t> sweeps;
  for (const TrialSpec& ts : trials) {
    const TrialRow* twin = FinishedTwinLocked(except_sweep, TrialIdentityKey(ts.params, data));
    if (twin == nullptr) continue;
    ++out.trials;
    sweeps.insert(twin->sweep_id);
  }
  out.sweeps.assign(sweeps.begin(), sweeps.end());
  return out;
}

Status Scheduler::ReuseFinishedLocked(TrialRow* t, double now, bool* copied) {
  *copied = false;
  const SweepRow& sw = sweeps_[t->sweep_id];
  if (!sw.reuse) return Status::Ok();
  const TrialRow* twin = FinishedTwinLocked(t->sweep_id, IdentityLocked(*t));
  if (twin == nullptr) return Status::Ok();
  const TrialRow src = *twin;  // (a copy: FinishTrial below indexes t)
  Unindex(*t);
  last_report_.erase(t->id);
  if (Pruner* p = PrunerFor(t->sweep_id)) p->Forget(t->id);  // epochs of an earlier attempt
  t->worker_id = 0;
  t->worker_name.clear();
  t->started_at = now;
  t->best_val_accuracy = src.best_val_accuracy;
  t->best_val_loss = src.best_val_loss;
  t->best_epoch = src.best_epoch;
  t->epochs_run = src.epochs_run;
  t->test_accuracy = src.test_accuracy;
  t->test_loss = src.test_loss;
  t->seconds = src.seconds;
  t->confusion = src.confusion;
  t->weights_epoch = src.weights_epoch;
  t->stopped_epoch = src.stopped_epoch;
  // A regression trial's named metrics (README.md, "Regression"): its test_mse and test_mae, and
  // its value of this sweep's metric: a test one from them, an epoch one as the twin's sweep
  // ranked it when that sweep had this metric (else none: its best epoch was another metric's).
  t->final_metrics = src.final_metrics;
  t->metric_value = kNoMetric;
  if (Objective(sw.metric, sw.maximize).Named()) {
    auto test_value = src.final_metrics.find(sw.metric);
    auto from = sweeps_.find(src.sweep_id);
    if (test_value != src.final_metrics.end()) {
      t->metric_value = test_value->second;
    } else if (from != sweeps_.end() && from->second.metric == sw.metric) {
      t->metric_value = src.metric_value;
    }
  }
  // Where the result comes from, and who produced it (a worker's token vouches for its results: a
  // copied one names that worker). A copy of a copy names the trial that trained.
  t->reused_from = !src.reused_from.empty()
                       ? src.reused_from
                       : "sweep " + std::to_string(src.sweep_id) + " #" +
                             std::to_string(src.number) +
                             (src.worker_name.empty() ? "" : " (worker " + src.worker_name + ")");
  // The stored epochs and model are copied by the write itself: it runs after the writes queued
  // before it (the twin's own, maybe not committed yet), in the same transaction.
  HPSWEEP_RETURN_IF_ERROR(Write([to = t->id, from = src.id](Storage* st) -> Status {
    HPSWEEP_RETURN_IF_ERROR(st->DeleteEpochs(to));  // an earlier attempt's, if any
    auto epochs = st->LoadEpochs(from);
    if (!epochs.ok()) return epochs.status();
    for (EpochRow e : *epochs) {
      e.trial_id = to;
      HPSWEEP_RETURN_IF_ERROR(st->PutEpoch(e));
    }
    auto model = st->GetArtifact(from, "model");
    if (model.ok()) return st->PutArtifact(to, "model", *model);
    return model.status().code() == StatusCode::kNotFound ? Status::Ok() : model.status();
  }));
  Event e = events::TrialCompleted(*t, sw, TrialStatus::kCompleted);
  e.message = "trial #" + std::to_string(t->number) + " of sweep " + std::to_string(sw.id) + " (" +
              sw.name + ") completed by copying the result of the identical trial " +
              t->reused_from + " (reuse)";
  e.With("reused_from", t->reused_from);
  EmitLocked(std::move(e));
  *copied = true;
  return FinishTrial(*t, TrialStatus::kCompleted, now);
}

}  // namespace hpsweep
