// Samplers and pruners of running sweeps: proposing trials, and rebuilding both after a restart.
#include <cmath>

#include "coordinator/scheduler.h"
#include "coordinator/scheduler_internal.h"
#include "engine/config.h"

namespace hpsweep {

Pruner* Scheduler::PrunerFor(int64_t sweep_id) {
  auto p = pruners_.find(sweep_id);
  return p == pruners_.end() ? nullptr : p->second.get();
}

Status Scheduler::RebuildPrunerLocked(const SweepRow& sw) {
  if (sw.yaml.find("early_terminate") == std::string::npos) return Status::Ok();  // (cheap test)
  auto spec = ParseSweep(sw.yaml, sw.file_name);
  // A stored file that no longer parses (written by another version) prunes nothing.
  if (!spec.ok() || spec->early_terminate.type == EarlyTerminateSpec::Type::kNone) {
    return Status::Ok();
  }
  early_terminate_[sw.id] = spec->early_terminate;
  if (sw.state != SweepState::kRunning) return Status::Ok();
  std::unique_ptr<Pruner> pruner =
      MakePruner(spec->early_terminate, Objective(sw.metric, sw.maximize));
  const Objective by = Objective(sw.metric, sw.maximize).ForEpochs();
  std::vector<const TrialRow*> running;
  for (const auto& [id, t] : trials_) {
    // (Copied results are not fed live either: see "Reuse" at the top.)
    if (t.sweep_id != sw.id || t.epochs_run == 0 || !t.reused_from.empty()) continue;
    auto epochs = storage_->LoadEpochs(id);
    if (!epochs.ok()) return epochs.status();
    for (const EpochRow& e : *epochs) {
      pruner->Add({id, t.number, e.epoch, by.EpochValue(e), e.recorded_at});
      if (std::isfinite(e.recorded_at)) last_epoch_at_ = std::max(last_epoch_at_, e.recorded_at);
    }
    if (t.status == TrialStatus::kRunning) running.push_back(&t);
  }
  // Which running trials were pruned: the same decisions, from the same records.
  for (const TrialRow* t : running) {
    for (int e = 1; e <= t->epochs_run; ++e) {
      if (pruner->ShouldPrune(t->id, e, MaxEpochs(*t, sw))) {
        prune_requested_.insert(t->id);
        break;
      }
    }
  }
  pruners_[sw.id] = std::move(pruner);
  return Status::Ok();
}

void Scheduler::RebuildSamplersLocked() {
  samplers_.clear();
  // The stored trials of each running sweep, by number.
  std::map<int64_t, std::vector<std::pair<int, int64_t>>> numbered;
  for (const auto& [id, t] : trials_) {
    auto sw = sweeps_.find(t.sweep_id);
    if (sw != sweeps_.end() && sw->second.state == SweepState::kRunning) {
      numbered[t.sweep_id].push_back({t.number, id});
    }
  }
  for (const auto& [id, sw] : sweeps_) {
    if (sw.state != SweepState::kRunning) continue;
    std::vector<std::pair<int, int64_t>>& stored = numbered[id];
    // A sweep stored whole at submit (before plans were proposed at lease time) has nothing to
    // propose: skip expanding its file again.
    if (static_cast<int>(stored.size()) >= sw.total) continue;
    StatusOr<std::unique_ptr<Sampler>> sampler = RebuildSamplerLocked(sw, stored);
    if (!sampler.ok()) {
      // Accepted once, so this is a coordinator with other limits, an older parser or data
      // files that changed: say so, and let the sweep finish with the trials it has.
      std::fprintf(stderr, "hpsweep: sweep %lld: no sampler after restart: %s\n",
                   static_cast<long long>(id), sampler.status().ToString().c_str());
      continue;
    }
    LiveSampler& live = samplers_[id];
    live.sampler = std::move(*sampler);
    std::sort(stored.begin(), stored.end());
    for (const auto& [number, tid] : stored) live.trial_ids.push_back(tid);
    StatusOr<SweepSpec> spec = ParseSweep(sw.yaml, sw.file_name);
    if (spec.ok() && !spec->warm_start.empty()) {
      auto warm = WarmHistoryLocked(*spec, sw.file_name, id, sw.created_at);
      if (warm.ok()) {
        live.warm = std::move(*warm);
      } else {
        std::fprintf(stderr, "hpsweep: sweep %lld: no warm start after restart: %s\n",
                     static_cast<long long>(id), warm.status().ToString().c_str());
      }
    }
  }
}

StatusOr<std::vector<TrialRow>> Scheduler::WarmHistoryLocked(const SweepSpec& spec,
                                                             const std::string& file_name,
                                                             int64_t sweep_id, double created_at) {
  std::vector<TrialRow> warm;
  auto line = spec.lines.find("warm_start.sweeps");
  const std::string where = EscapeText(file_name) +
                            (line == spec.lines.end() ? "" : ":" + std::to_string(line->second)) +
                            ": key 'warm_start.sweeps': ";
  const std::string data = SweepDataIdentity(spec);
  for (size_t i = 0; i < spec.warm_start.size(); ++i) {
    const std::string& named = spec.warm_start[i];
    // An id, or the latest sweep of that name submitted before this one.
    const SweepRow* from = nullptr;
    if (named.find_first_not_of("0123456789") == std::string::npos) {
      auto it = sweeps_.find(std::stoll(named));
      if (it != sweeps_.end() && it->first < sweep_id) from = &it->second;
    } else {
      for (const auto& [id, sw] : sweeps_) {
        if (id < sweep_id && sw.name == named) from = &sw;
      }
    }
    if (from == nullptr) return InvalidArgument(where + "no sweep '" + named + "' before this one");
    const std::string which = "sweep " + std::to_string(from->id) + " ('" + from->name + "')";
    if (from->metric != spec.metric || from->maximize != spec.maximize) {
      return InvalidArgument(where + which + " ranks by " + from->metric +
                             (from->maximize ? " (maximize)" : " (minimize)") + ", this sweep by " +
                             spec.metric + (spec.maximize ? " (maximize)" : " (minimize)"));
    }
    if (from->program != spec.program) {
      auto runs = [](const std::string& program) {
        return program.empty() ? std::string("the engine's models") : "program '" + program + "'";
      };
      return InvalidArgument(where + which + " runs " + runs(from->program) + ", this sweep " +
                             runs(spec.program));
    }
    if (SweepDataLocked(from->id) != data) {
      return InvalidArgument(where + which + " trains on other data (" +
                             SweepDataLocked(from->id) + ", this sweep " + data + ")");
    }
    for (const auto& [tid, t] : trials_) {
      if (t.sweep_id != from->id || t.finished_at > created_at) continue;
      if (t.status != TrialStatus::kCompleted && t.status != TrialStatus::kPruned) continue;
      TrialRow& c = warm.emplace_back(t);
      c.number = t.number - static_cast<int>(i + 1) * kWarmNumberStride;
    }
  }
  return warm;
}

StatusOr<std::unique_ptr<Sampler>> Scheduler::RebuildSamplerLocked(
    const SweepRow& sw, const std::vector<std::pair<int, int64_t>>& stored) {
  StatusOr<SweepSpec> spec = ParseSweep(sw.yaml, sw.file_name);
  if (!spec.ok()) return spec.status();
  if (sw.max_trials > 0) spec->max_trials = sw.max_trials;  // extended (scheduler_extend.cc)
  if (spec->method == SweepMethod::kBayes) {
    // Its own data read again (for the shape); the params as submitted (the sha256 the stored
    // trials carry, so a file changed since is still refused to workers) once a trial exists.
    StatusOr<SweepData> data = PrepareSweepData(*spec, sw.file_name, options_.sweep_limits);
    if (!data.ok()) return data.status();
    if (!stored.empty() && !data->params.empty()) {
      std::map<std::string, std::string> submitted;
      for (const auto& [key, value] : trials_.at(stored.front().second).params) {
        if (key.rfind(kDataParamPrefix, 0) == 0) submitted[key] = value;
      }
      if (!submitted.empty()) data->params = std::move(submitted);
    }
    return MakeSampler(*spec, sw.file_name, options_.sweep_limits, *data);
  }
  StatusOr<std::vector<TrialSpec>> plan = ExpandSweep(*spec, sw.file_name, options_.sweep_limits);
  if (!plan.ok()) return plan.status();
  if (spec->data.format != DataFormat::kMnist) {
    // The sweep's own data: its params as submitted (absolute paths, the data's sha256) are
    // those of any stored trial; before the first one, the files are read again.
    if (stored.empty()) {
      HPSWEEP_RETURN_IF_ERROR(AttachSweepData(*spec, sw.file_name, &*plan, options_.sweep_limits));
    } else {
      std::map<std::string, std::string> data;
      for (const auto& [key, value] : trials_.at(stored.front().second).params) {
        if (key.rfind(kDataParamPrefix, 0) == 0) data[key] = value;
      }
      for (TrialSpec& t : *plan) {
        for (const auto& [key, value] : data) t.params[key] = value;
      }
    }
  }
  if (sw.total > 0 && static_cast<int>(plan->size()) != sw.total) {
    return Internal("the file expands to " + std::to_string(plan->size()) + " trials, not " +
                    std::to_string(sw.total));
  }
  return MakePlanSampler(std::move(*plan));
}

std::map<int64_t, Scheduler::LiveSampler>::iterator Scheduler::SamplerWhoseTurnLocked() {
  if (samplers_.empty()) return samplers_.end();
  // Turn order is cyclic by sweep id, starting after the sweep served last (as in LeaseLocked).
  auto order = [this](int64_t id) {
    mu_.AssertHeld();
    return std::make_pair(id <= next_sweep_turn_, id);
  };
  auto s = samplers_.upper_bound(next_sweep_turn_);
  if (s == samplers_.end()) s = samplers_.begin();
  if (!queued_.empty()) {
    auto q = queued_.upper_bound(next_sweep_turn_);
    if (q == queued_.end()) q = queued_.begin();
    if (order(q->first) <= order(s->first)) return samplers_.end();  // a queued trial is first
  }
  return s;
}

Status Scheduler::ProposeForTurnLocked(double now) {
  for (auto s = SamplerWhoseTurnLocked(); s != samplers_.end(); s = SamplerWhoseTurnLocked()) {
    const int64_t sweep_id = s->first;
    LiveSampler& live = s->second;
    if (live.sampler->Exhausted(static_cast<int>(live.trial_ids.size()))) {
      samplers_.erase(s);
      HPSWEEP_RETURN_IF_ERROR(MaybeFinishSweep(sweep_id, now));
      continue;
    }
    return ProposeLocked(sweep_id, &live, now);
  }
  return Status::Ok();
}

Status Scheduler::ProposeForSweepLocked(int64_t sweep_id, double now) {
  if (queued_.count(sweep_id)) return Status::Ok();  // a queued trial (a retry) comes first
  auto s = samplers_.find(sweep_id);
  if (s == samplers_.end()) return Status::Ok();
  if (s->second.sampler->Exhausted(static_cast<int>(s->second.trial_ids.size()))) {
    samplers_.erase(s);
    return MaybeFinishSweep(sweep_id, now);
  }
  return ProposeLocked(sweep_id, &s->second, now);
}

void Scheduler::SetProposeHookForTesting(std::function<void()> hook) {
  MutexLock lock(&mu_);
  propose_hook_ = std::move(hook);
}

void Scheduler::LeaseOnly(int64_t sweep_id) {
  MutexLock lock(&mu_);
  lease_only_ = sweep_id;
}

std::pair<size_t, size_t> Scheduler::HistoryStampLocked(const LiveSampler& live) {
  std::pair<size_t, size_t> stamp{0, 0};
  for (int64_t id : live.trial_ids) {
    const TrialStatus st = trials_[id].status;
    if (st == TrialStatus::kCompleted || st == TrialStatus::kPruned) ++stamp.first;
    if (st == TrialStatus::kRunning || st == TrialStatus::kQueued) ++stamp.second;
  }
  return stamp;
}

namespace {
// PrepareProposal's waits for another call's prepared trial to be leased.
constexpr int kPreparedWaits = 3;
constexpr double kPreparedWaitSeconds = 0.1;
}  // namespace

uint64_t Scheduler::PrepareProposal() {
  std::shared_ptr<const Sampler> sampler;
  std::vector<TrialRow> copy;
  int64_t sweep_id = 0;
  PreparedProposal p;
  std::function<void()> hook;
  {
    MutexLock lock(&mu_);
    // The sweep ProposeForTurnLocked (or ProposeForSweepLocked) would ask next, if costly.
    auto pick = [&]() -> LiveSampler* {
      mu_.AssertHeld();
      auto s = samplers_.end();
      if (lease_only_ == 0) {
        s = SamplerWhoseTurnLocked();
      } else if (!queued_.count(lease_only_)) {
        s = samplers_.find(lease_only_);
      }
      if (s == samplers_.end()) return nullptr;
      LiveSampler& live = s->second;
      const size_t stored = live.trial_ids.size();
      if (live.sampler->Exhausted(static_cast<int>(stored)) ||
          live.sampler->ProposalWork(stored + live.warm.size()) <= kMaxProposalWorkLocked) {
        return nullptr;
      }
      sweep_id = s->first;
      return &live;
    };
    // A prepared trial that is still what this sweep would propose now.
    auto fits = [&](const LiveSampler& l) {
      mu_.AssertHeld();
      return l.prepared && l.prepared->number == static_cast<int>(l.trial_ids.size()) + 1 &&
             l.prepared->stamp == HistoryStampLocked(l);
    };
    LiveSampler* live = pick();
    // Another call computes this sweep's next trial, or has computed it and is about to lease it:
    // wait for that one (signalled when a prepare ends and when a prepared trial is leased), then
    // look again, so that this call prepares the trial after it instead of leasing nothing (its
    // worker would wait retry_after_seconds). Bounded: a prepared trial its call did not lease
    // (a retry came first) is this call's after kPreparedWaits waits.
    for (int waits = 0; live != nullptr && waits < kPreparedWaits; ++waits) {
      const bool theirs = fits(*live) && live->prepared->call != 0;
      if (!live->preparing && !theirs) break;
      proposal_done_.WaitFor(kPreparedWaitSeconds);
      live = pick();
    }
    if (live == nullptr || live->preparing) return 0;
    p.number = static_cast<int>(live->trial_ids.size()) + 1;
    p.stamp = HistoryStampLocked(*live);
    if (fits(*live)) return 0;  // ready, and still what it would be
    live->preparing = true;
    p.call = ++next_prepare_call_;
    sampler = live->sampler;
    hook = propose_hook_;
    copy.reserve(live->trial_ids.size() + live->warm.size());
    copy.insert(copy.end(), live->warm.begin(), live->warm.end());
    for (int64_t id : live->trial_ids) {  // what a sampler reads (objective.h, ranking.h, TPE)
      const TrialRow& t = trials_[id];
      TrialRow& c = copy.emplace_back();
      c.id = t.id;
      c.sweep_id = t.sweep_id;
      c.number = t.number;
      c.status = t.status;
      c.params = t.params;
      c.epochs_run = t.epochs_run;
      c.best_val_accuracy = t.best_val_accuracy;
      c.best_val_loss = t.best_val_loss;
      c.test_accuracy = t.test_accuracy;
      c.test_loss = t.test_loss;
      c.metric_value = t.metric_value;
      // several objectives' measures (search/ranking.h): train_seconds, epoch_seconds and a
      // program's final-line metrics
      c.seconds = t.seconds;
      c.final_metrics = t.final_metrics;
    }
  }
  std::vector<const TrialRow*> rows;
  rows.reserve(copy.size());
  for (const TrialRow& t : copy) rows.push_back(&t);
  if (hook) hook();
  p.spec = sampler->Propose(p.number, rows);
  MutexLock lock(&mu_);
  auto s = samplers_.find(sweep_id);
  if (s != samplers_.end()) {
    s->second.preparing = false;
    if (static_cast<int>(s->second.trial_ids.size()) + 1 == p.number) s->second.prepared = p;
  }
  proposal_done_.SignalAll();
  return p.call;
}

Status Scheduler::ProposeLocked(int64_t sweep_id, LiveSampler* live, double now) {
  // A plan does not look at the history: a lease stays O(1) however many trials the sweep has.
  std::vector<const TrialRow*> rows;
  const size_t history = live->trial_ids.size() + live->warm.size();
  if (live->sampler->needs_history() &&
      live->sampler->ProposalWork(history) <= kMaxProposalWorkLocked) {
    rows.reserve(history);
    for (const TrialRow& w : live->warm) rows.push_back(&w);
    for (int64_t id : live->trial_ids) rows.push_back(&trials_[id]);
  }
  TrialRow t;
  t.id = max_trial_id_ + 1;
  t.sweep_id = sweep_id;
  t.number = static_cast<int>(live->trial_ids.size()) + 1;
  t.created_at = now;
  StatusOr<TrialSpec> proposed = Status::Ok();
  std::optional<PreparedProposal>& ready = live->prepared;
  if (ready && ready->number == t.number &&
      (ready->call == lease_call_ || ready->stamp == HistoryStampLocked(*live))) {
    proposed = std::move(ready->spec);
    ready.reset();
    proposal_done_.SignalAll();  // (a call waiting for it prepares the next: PrepareProposal)
  } else if (live->sampler->ProposalWork(history) > kMaxProposalWorkLocked) {
    return Status::Ok();  // not under the lock: the worker's next LeaseTrial prepares it
  } else {
    if (propose_hook_ && live->sampler->needs_history()) propose_hook_();
    proposed = live->sampler->Propose(t.number, rows);
  }
  if (proposed.ok()) {
    t.params = std::move(proposed->params);
    std::pair<int, int>& passed = passed_over_[sweep_id];
    passed.first += proposed->passed_over_invalid;
    passed.second += proposed->passed_over_tried;
    if (!proposed->passed_over_reason.empty()) {
      passed_over_reason_[sweep_id] = proposed->passed_over_reason;
    }
  } else {
    // No valid trial (the config checks or limits refused every candidate): recorded as a
    // failed trial, so the sweep still ends after max_trials and says why.
    t.status = TrialStatus::kFailed;
    t.finished_at = now;
    AppendError(&t, "proposal: " + proposed.status().message());
  }
  // The insert takes its place among the change's writes now (before anything that refers to
  // the trial). Queued for the commit thread (deferring_), it writes the row as the change leaves
  // it: WriteTrial updates that copy instead of queuing an update, so a proposed lease is one
  // write, not an insert and then an update of the same row.
  const int64_t id = t.id;
  if (deferring_) {
    auto row = std::make_shared<TrialRow>(t);
    proposed_rows_[id] = row;
    HPSWEEP_RETURN_IF_ERROR(Write([row](Storage* st) { return st->InsertTrial(*row).status(); }));
  } else {
    HPSWEEP_RETURN_IF_ERROR(
        Write([row = t](Storage* st) { return st->InsertTrial(row).status(); }));
  }
  trials_[id] = std::move(t);
  Index(trials_[id]);
  live->trial_ids.push_back(id);
  if (trials_[id].status == TrialStatus::kFailed) return MaybeFinishSweep(sweep_id, now);
  return Status::Ok();
}

}  // namespace hpsweep
