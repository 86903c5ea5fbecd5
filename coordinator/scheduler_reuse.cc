// Reuse (see the top of scheduler.h): completing a trial by copying an identical finished one.
//
// Pruned twins: a sweep with reuse and early_terminate also copies a trial whose twin (same
// identity) was pruned at epoch E in another sweep with the same early_terminate, metric and goal,
// when this sweep's pruner, asked now with this sweep's history, prunes it at epoch E too: its
// epochs 1..E are what training it would give (the engine is deterministic), and at E the pruner
// would stop it. The pruner is asked at each epoch 1..E with the twin's values, recorded after
// every epoch it holds (as if the trial reported them now); a trial it does not prune at E, or
// prunes earlier, trains (and is pruned live, where the pruner says so). Only a trial never leased
// is judged (an earlier attempt's epochs would be in the pruner). The probe's records are
// dropped afterwards: as for completed copies, a copied pruned trial is not fed to the pruner,
// live or rebuilt (scheduler_search.cc skips reused trials), so the decision is a function of the
// trained trials' stored epochs and a restarted coordinator decides as this one would.
// The twins' values come from memory (PrunedTwins), never from storage at lease time (the commit
// thread may be writing): built from storage in Load, Submit or Extend (synchronous: storage is
// ours), then kept up to date from the live pruner as trials are pruned.
#include <limits>

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
  if (!t.schedule.empty()) return;  // a pbt member whose params changed: no one's twin
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
  TrialStatus status = TrialStatus::kCompleted;
  const TrialRow* twin = FinishedTwinLocked(t->sweep_id, IdentityLocked(*t));
  if (twin == nullptr) {
    twin = PrunedTwinLocked(*t);
    status = TrialStatus::kPruned;
  }
  if (twin == nullptr) return Status::Ok();
  const TrialRow src = *twin;  // (a copy: FinishTrial below indexes t)
  HPSWEEP_RETURN_IF_ERROR(CopyResultLocked(t, src, sw, now));
  Event e = events::TrialCompleted(*t, sw, status);
  e.message = "trial #" + std::to_string(t->number) + " of sweep " + std::to_string(sw.id) + " (" +
              sw.name + ") " +
              (status == TrialStatus::kPruned
                   ? "pruned at epoch " + std::to_string(t->epochs_run) +
                         " by copying the identical trial " + t->reused_from +
                         ", pruned there too (reuse)"
                   : "completed by copying the result of the identical trial " + t->reused_from +
                         " (reuse)");
  e.With("reused_from", t->reused_from);
  EmitLocked(std::move(e));
  *copied = true;
  if (status == TrialStatus::kPruned) {  // (its values: the twin's, not the pruner's)
    pruned_twins_.values[t->id] = pruned_twins_.values[src.id];
  }
  return FinishTrial(*t, status, now);
}

Status Scheduler::CopyResultLocked(TrialRow* t, const TrialRow& src, const SweepRow& sw,
                                   double now) {
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
  return Status::Ok();
}

void Scheduler::BuildPrunedTwinsLocked() {
  if (pruned_twins_.built) return;
  pruned_twins_.Clear();
  for (const auto& [id, t] : trials_) {
    if (t.status != TrialStatus::kPruned || t.epochs_run < 1) continue;
    auto sw = sweeps_.find(t.sweep_id);
    if (sw == sweeps_.end()) continue;
    StatusOr<std::vector<EpochRow>> epochs = storage_->LoadEpochs(id);
    if (!epochs.ok()) continue;  // (not a twin: it trains instead)
    const Objective by = Objective(sw->second.metric, sw->second.maximize).ForEpochs();
    std::vector<double> values;
    for (const EpochRow& e : *epochs) {
      if (e.epoch != static_cast<int>(values.size()) + 1) break;
      values.push_back(by.EpochValue(e));
    }
    if (static_cast<int>(values.size()) != t.epochs_run) continue;
    pruned_twins_.values[id] = std::move(values);
    const std::string identity = IdentityLocked(t);
    if (!identity.empty()) pruned_twins_.by_identity[identity].push_back(id);
  }
  pruned_twins_.built = true;
}

void Scheduler::IndexPrunedLocked(const TrialRow& t) {
  if (!pruned_twins_.built || t.epochs_run < 1) return;
  std::vector<double>& values = pruned_twins_.values[t.id];
  if (static_cast<int>(values.size()) != t.epochs_run) {  // (a copy's are set already)
    values.clear();
    Pruner* p = PrunerFor(t.sweep_id);
    double v = 0;
    for (int e = 1; p != nullptr && e <= t.epochs_run && p->ValueAt(t.id, e, &v); ++e) {
      values.push_back(v);
    }
    if (static_cast<int>(values.size()) != t.epochs_run) {
      pruned_twins_.values.erase(t.id);
      return;
    }
  }
  const std::string identity = IdentityLocked(t);
  if (!identity.empty()) pruned_twins_.by_identity[identity].push_back(t.id);
}

const TrialRow* Scheduler::PrunedTwinLocked(const TrialRow& t) {
  const SweepRow& sw = sweeps_[t.sweep_id];
  Pruner* pruner = PrunerFor(t.sweep_id);
  auto rule = early_terminate_.find(t.sweep_id);
  if (pruner == nullptr || rule == early_terminate_.end() || t.attempts > 0 ||
      !pruned_twins_.built) {
    return nullptr;
  }
  auto found = pruned_twins_.by_identity.find(IdentityLocked(t));
  if (found == pruned_twins_.by_identity.end()) return nullptr;
  const std::string settings = DescribeEarlyTerminate(rule->second);
  const TrialRow* twin = nullptr;
  for (int64_t id : found->second) {
    auto c = trials_.find(id);
    if (c == trials_.end() || c->second.sweep_id == t.sweep_id ||
        c->second.status != TrialStatus::kPruned || pruned_twins_.values.count(id) == 0) {
      continue;
    }
    // Pruned by the same rule on the same values: the same early_terminate, metric and goal.
    const SweepRow& from = sweeps_[c->second.sweep_id];
    auto from_rule = early_terminate_.find(from.id);
    if (from.metric != sw.metric || from.maximize != sw.maximize ||
        from_rule == early_terminate_.end() ||
        DescribeEarlyTerminate(from_rule->second) != settings) {
      continue;
    }
    // One that trained (the origin) before a copy of it; then the lowest id.
    const TrialRow& o = c->second;
    if (twin == nullptr || (o.reused_from.empty() && !twin->reused_from.empty()) ||
        (o.reused_from.empty() == twin->reused_from.empty() && o.id < twin->id)) {
      twin = &o;
    }
  }
  if (twin == nullptr) return nullptr;
  // Would this sweep's pruner stop t at the twin's last epoch, and not before? Its values are
  // recorded after every epoch the pruner holds (as if t reported them now), then dropped.
  const std::vector<double>& values = pruned_twins_.values.at(twin->id);
  const int last = static_cast<int>(values.size());
  const int epochs = MaxEpochs(t, sw);
  int pruned_at = 0;
  for (int e = 1; e <= last && e < epochs && pruned_at == 0; ++e) {
    pruner->Add({t.id, t.number, e, values[e - 1], std::numeric_limits<double>::max()});
    if (pruner->ShouldPrune(t.id, e, epochs)) pruned_at = e;
  }
  pruner->Forget(t.id);
  return pruned_at == last ? twin : nullptr;
}

}  // namespace hpsweep
