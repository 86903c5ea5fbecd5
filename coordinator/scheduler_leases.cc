// Leases: granting, reporting epochs, completing, failing and expiring trials.
#include <algorithm>
#include <cmath>

#include "coordinator/scheduler.h"
#include "coordinator/scheduler_internal.h"
#include "base/csprng.h"
#include "engine/config.h"

namespace hpsweep {

Status Scheduler::ExpireLocked(double now, int* count) {
  while (!deadlines_.empty() && deadlines_.begin()->first < now) {
    TrialRow& t = trials_[deadlines_.begin()->second];
    Unindex(t);
    last_report_.erase(t.id);
    const SweepRow& sw = sweeps_[t.sweep_id];
    AppendError(&t, "attempt " + std::to_string(t.attempts) + ": lease expired (worker '" +
                        t.worker_name + "' stopped reporting)");
    HPSWEEP_RETURN_IF_ERROR(CountWorkerTrialsLocked(t.worker_id, 0, 1));
    const TrialStatus outcome = prune_requested_.count(t.id) ? TrialStatus::kPruned
                                : sw.state == SweepState::kCancelled || stop_requested_.count(t.id)
                                    ? TrialStatus::kStopped
                                : t.attempts >= sw.max_attempts ? TrialStatus::kFailed
                                                                : TrialStatus::kQueued;
    EmitLocked(events::LeaseExpired(t, sw, outcome));
    // The lease stays the trial's last-granted one: its worker may still deliver a result.
    if (outcome == TrialStatus::kPruned || outcome == TrialStatus::kStopped) {
      HPSWEEP_RETURN_IF_ERROR(FinishTrial(t, outcome, now));
    } else if (outcome == TrialStatus::kFailed) {
      HPSWEEP_RETURN_IF_ERROR(FinishTrial(t, TrialStatus::kFailed, now));
    } else {
      t.status = TrialStatus::kQueued;
      t.lease_deadline = 0;
      HPSWEEP_RETURN_IF_ERROR(EndAttemptLocked(t, now));
      HPSWEEP_RETURN_IF_ERROR(WriteTrial(t));
      HPSWEEP_RETURN_IF_ERROR(AdvancePopulationLocked(t.sweep_id));  // (it may be the last)
    }
    ++*count;
  }
  return Status::Ok();
}

StatusOr<int> Scheduler::ExpireLeases() {
  int count = 0;
  Status s = Mutate([&]() {
    mu_.AssertHeld();
    const double now = clock_->Now();
    // Leases first: a worker gone with an expired lease leaves with that failure counted.
    HPSWEEP_RETURN_IF_ERROR(ExpireLocked(now, &count));
    PruneWorkersLocked(now);
    return Status::Ok();
  });
  if (!s.ok()) return s;
  return count;
}

StatusOr<std::optional<LeaseGrant>> Scheduler::Lease(int64_t worker_id) {
  const uint64_t call = PrepareProposal();
  std::optional<LeaseGrant> grant;
  Status s = Mutate([&] {
    mu_.AssertHeld();
    lease_call_ = call;
    Status leased = LeaseLocked(worker_id, &grant);
    lease_call_ = 0;
    return leased;
  });
  if (!s.ok()) return s;
  return grant;
}

// The trial to lease to worker w (*trial_id, 0: none), and the turn moved to its sweep. A sweep's
// trials go only to a worker that can run them: a program sweep's to one that offers its program
// (docs/programs.md), a trial with precision: bf16 (NeedsBf16, on each trial's params, so a
// sampler's searched precision too) to one whose CPU has avx512_bf16; a worker without it takes
// the sweep's first other queued trial, O(the sweep's queued trials), else the next sweep's.
Status Scheduler::PickTrialLocked(const WorkerRow& w, double now, int64_t* trial_id) {
  *trial_id = 0;
  auto offered = [&](int64_t sweep_id) {
    mu_.AssertHeld();
    const std::string& program = sweeps_[sweep_id].program;
    return program.empty() ||
           std::find(w.programs.begin(), w.programs.end(), program) != w.programs.end();
  };
  auto runnable = [&](int64_t sweep_id) -> int64_t {  // the sweep's first queued one; 0: none
    mu_.AssertHeld();
    auto q = queued_.find(sweep_id);
    if (q == queued_.end() || q->second.empty() || !offered(sweep_id)) return 0;
    if (w.bf16) return *q->second.begin();
    const SweepRow& sw = sweeps_[sweep_id];
    for (int64_t id : q->second) {
      if (!NeedsBf16(trials_[id], sw)) return id;
    }
    return 0;
  };
  if (lease_only_ != 0) {
    if (!offered(lease_only_)) return Status::Ok();
    HPSWEEP_RETURN_IF_ERROR(ProposeForSweepLocked(lease_only_, now));
    if ((*trial_id = runnable(lease_only_)) != 0) next_sweep_turn_ = lease_only_;
    return Status::Ok();
  }
  if (!samplers_.empty()) HPSWEEP_RETURN_IF_ERROR(ProposeForTurnLocked(now));
  if (queued_.empty()) return Status::Ok();
  // Sweeps take turns: the first sweep after the one served last that this worker can run.
  auto it = queued_.upper_bound(next_sweep_turn_);
  if (it == queued_.end()) it = queued_.begin();
  for (size_t n = 0; n < queued_.size() && (*trial_id = runnable(it->first)) == 0; ++n) {
    if (++it == queued_.end()) it = queued_.begin();
  }
  if (*trial_id != 0) {
    next_sweep_turn_ = it->first;
    return Status::Ok();
  }
  // Nothing queued is for this worker. Queued trials come before proposals in the turn order
  // (SamplerWhoseTurnLocked), so they must not hold back the sweeps it can run: propose for the
  // first such sweep after the turn that has nothing queued, one proposal a call at most (an
  // unrunnable proposal stays queued, and that sweep is skipped from then on).
  std::vector<int64_t> order;
  for (auto s = samplers_.upper_bound(next_sweep_turn_); s != samplers_.end(); ++s) {
    order.push_back(s->first);
  }
  for (auto s = samplers_.begin(); s != samplers_.upper_bound(next_sweep_turn_); ++s) {
    order.push_back(s->first);
  }
  for (int64_t sweep_id : order) {
    if (queued_.count(sweep_id) || !offered(sweep_id)) continue;
    HPSWEEP_RETURN_IF_ERROR(ProposeForSweepLocked(sweep_id, now));  // (may end an exhausted one)
    if (!queued_.count(sweep_id)) continue;
    if ((*trial_id = runnable(sweep_id)) != 0) next_sweep_turn_ = sweep_id;
    break;
  }
  return Status::Ok();
}

Status Scheduler::LeaseLocked(int64_t worker_id, std::optional<LeaseGrant>* grant) {
  const double now = clock_->Now();
  int expired = 0;
  HPSWEEP_RETURN_IF_ERROR(ExpireLocked(now, &expired));
  const WorkerRow* w = workers_.Find(worker_id);
  if (w == nullptr) {
    return NotFound("worker " + std::to_string(worker_id) + " is not registered");
  }
  HPSWEEP_RETURN_IF_ERROR(HeardFromLocked(worker_id, now));
  // One lease a worker: leasing again gives back the trial it holds (uncharged), as a worker that
  // lost the answer to its last LeaseTrial needs; so no worker id can sit on many trials.
  if (int64_t held = 0; options_.one_lease_per_worker && workers_.Leased(worker_id, &held)) {
    auto h = trials_.find(held);
    if (h != trials_.end() && h->second.status == TrialStatus::kRunning &&
        h->second.worker_id == worker_id) {
      HPSWEEP_RETURN_IF_ERROR(FailLocked(h->second.lease_id, "leased again by its worker", true));
    }
    workers_.ForgetLeased(worker_id);
  }
  if (!w->quarantine.empty()) return Status::Ok();  // quarantined: leased nothing
next_trial:  // (after a trial completed by copy, below)
  int64_t trial_id = 0;
  HPSWEEP_RETURN_IF_ERROR(PickTrialLocked(*w, now, &trial_id));
  if (trial_id == 0) return Status::Ok();
  TrialRow& t = trials_[trial_id];
  // Reuse: a trial identical to a finished one is completed by copy instead; try the next. (A
  // loop that ends: each turn finishes a queued trial.)
  bool copied = false;
  HPSWEEP_RETURN_IF_ERROR(ReuseFinishedLocked(&t, now, &copied));
  if (copied) goto next_trial;
  std::string lease;
  HPSWEEP_RETURN_IF_ERROR(NewLeaseId(&lease));  // (before any change: a failure changes nothing)
  Unindex(t);
  const int resume_from = ResumableEpochLocked(t);  // 0: no checkpoint
  if (t.attempts > 0 && resume_from == 0) {         // a retry without a checkpoint starts over
    HPSWEEP_RETURN_IF_ERROR(Write([id = t.id](Storage* st) { return st->DeleteEpochs(id); }));
    if (Pruner* p = PrunerFor(t.sweep_id)) p->Forget(t.id);
  }
  t.status = TrialStatus::kRunning;
  t.attempts += 1;
  if (!t.lease_id.empty()) leases_.erase(t.lease_id);  // older leases are refused from now on
  last_report_.erase(t.id);
  t.lease_id = std::move(lease);
  t.lease_deadline = now + options_.lease_seconds;
  t.worker_id = worker_id;
  t.worker_name = w->name;
  t.started_at = now;
  t.best_val_accuracy = t.best_val_loss = -1;
  t.best_epoch = t.epochs_run = 0;
  t.weights_epoch = t.stopped_epoch = 0;
  t.metric_value = kNoMetric;
  t.final_metrics.clear();
  if (resume_from > 0) HPSWEEP_RETURN_IF_ERROR(ResumeLocked(&t, resume_from));
  HPSWEEP_RETURN_IF_ERROR(WriteTrial(t));
  HPSWEEP_RETURN_IF_ERROR(StartAttemptLocked(t, resume_from, now));
  EmitLocked(events::TrialLeased(t, sweeps_[t.sweep_id]));
  LeaseGrant g{t, sweeps_[t.sweep_id], t.lease_id, t.lease_deadline, resume_from, 0, {}};
  if (auto p = populations_.find(t.sweep_id); p != populations_.end()) {  // one segment
    const int end = SegmentEndLocked(t.sweep_id);
    g.pause_after_epoch = end < p->second.spec.pbt.epochs ? end : 0;
    g.mutable_params = p->second.spec.pbt.mutable_params;
  }
  *grant = std::move(g);
  workers_.SetLeased(worker_id, t.id);
  return Status::Ok();
}

double Scheduler::NextEpochTime(double now) {
  last_epoch_at_ =
      std::max(now, std::nextafter(last_epoch_at_, std::numeric_limits<double>::infinity()));
  return last_epoch_at_;
}

Status Scheduler::StoreEpoch(TrialRow* t, const SweepRow& sw, const EpochReport& r, double now,
                             double recorded_at) {
  if (recorded_at < 0 || !std::isfinite(recorded_at)) recorded_at = NextEpochTime(now);
  EpochRow e{t->id,      r.epoch,        r.train_loss, r.train_accuracy,
             r.val_loss, r.val_accuracy, r.seconds,    recorded_at,   r.metrics, r.lr};
  HPSWEEP_RETURN_IF_ERROR(Write([e](Storage* st) { return st->PutEpoch(e); }));
  const Objective by = Objective(sw.metric, sw.maximize).ForEpochs();
  const double value = by.EpochValue(e);
  if (Pruner* p = PrunerFor(t->sweep_id)) p->Add({t->id, t->number, r.epoch, value, recorded_at});
  if (auto pop = populations_.find(t->sweep_id); pop != populations_.end()) {
    pop->second.latest[t->id] = {r.epoch, value};
  }
  t->epochs_run = std::max(t->epochs_run, r.epoch);
  const double best =
      by.Named() ? t->metric_value : by.EpochValue(t->best_val_accuracy, t->best_val_loss);
  if (t->best_epoch == 0 || by.Better(value, best)) {
    t->best_epoch = r.epoch;
    t->best_val_accuracy = r.val_accuracy;
    t->best_val_loss = r.val_loss;
    if (by.Named()) t->metric_value = value;
  }
  return Status::Ok();
}

TrialRow* Scheduler::FindByLease(const std::string& lease_id) {
  if (lease_id.empty() || lease_id.size() > kMaxLeaseIdBytes) return nullptr;
  auto l = leases_.find(lease_id);
  if (l == leases_.end()) return nullptr;
  auto t = trials_.find(l->second);
  if (t == trials_.end() || t->second.lease_id != lease_id) return nullptr;
  return &t->second;
}

Status Scheduler::NewLeaseId(std::string* out) {
  auto id = RandomHex(16);  // 128 bits
  if (!id.ok()) return id.status();
  *out = std::move(*id);
  return Status::Ok();
}

StatusOr<ReportAction> Scheduler::Report(const std::string& lease_id, const EpochReport& r,
                                         double* deadline) {
  ReportAction action = ReportAction::kContinue;
  Status s = Mutate([&] {
    mu_.AssertHeld();
    return ReportLocked(lease_id, r, &action, deadline);
  });
  if (!s.ok()) return s;
  return action;
}

void Scheduler::ReportAsync(const std::string& lease_id, const EpochReport& r,
                            std::function<void(StatusOr<ReportAction>, double)> done) {
  auto out = std::make_shared<std::pair<ReportAction, double>>(ReportAction::kContinue, 0.0);
  MutateAsync(
      [&] {
        mu_.AssertHeld();
        return ReportLocked(lease_id, r, &out->first, &out->second);
      },
      [out, done = std::move(done)](Status s) {
        if (!s.ok()) return done(s, 0);
        done(out->first, out->second);
      });
}

Status Scheduler::ReportLocked(const std::string& lease_id, const EpochReport& r,
                               ReportAction* action, double* deadline) {
  TrialRow* t = FindByLease(lease_id);
  if (t == nullptr || t->status != TrialStatus::kRunning) {
    return LeaseNotCurrent(lease_id, t);
  }
  // Checked before anything changes. Refusals are InvalidArgument: the lease is still good.
  bool store = r.epoch != 0;
  if (store) {
    const SweepRow& of = sweeps_[t->sweep_id];
    HPSWEEP_RETURN_IF_ERROR(
        CheckReportedEpoch(r, MaxEpochs(*t, of), !of.program.empty(), IsRegressionTrial(*t)));
    if (r.epoch <= t->epochs_run) {
      auto last = last_report_.find(t->id);
      if (r.epoch != t->epochs_run || last == last_report_.end() || !SameReport(last->second, r)) {
        return InvalidArgument("metrics.epoch is " + std::to_string(r.epoch) + "; epoch " +
                               std::to_string(t->epochs_run) +
                               " was reported already (epochs are reported in order, once each)");
      }
      store = false;  // a retry of the last report: renew the lease, store nothing twice
    }
    if (const int end = SegmentEndLocked(t->sweep_id); end > 0 && r.epoch > end) {
      return InvalidArgument("metrics.epoch is " + std::to_string(r.epoch) + "; trial " +
                             std::to_string(t->id) + " is a population member whose segment " +
                             "ends after epoch " + std::to_string(end) + " (pause_after_epoch)");
    }
  }
  const double now = clock_->Now();
  const SweepRow& sw = sweeps_[t->sweep_id];
  HPSWEEP_RETURN_IF_ERROR(HeardFromLocked(t->worker_id, now));
  Unindex(*t);
  t->lease_deadline = now + options_.lease_seconds;
  if (store) {
    HPSWEEP_RETURN_IF_ERROR(StoreEpoch(t, sw, r, now));
    last_report_[t->id] = r;
    Pruner* p = sw.state == SweepState::kRunning ? PrunerFor(t->sweep_id) : nullptr;
    if (p != nullptr && p->ShouldPrune(t->id, r.epoch, MaxEpochs(*t, sw))) {
      prune_requested_.insert(t->id);
    }
  }
  HPSWEEP_RETURN_IF_ERROR(WriteTrial(*t));
  *deadline = t->lease_deadline;
  if (prune_requested_.count(t->id)) {
    *action = ReportAction::kPrune;
  } else if (sw.state == SweepState::kCancelled || stop_requested_.count(t->id)) {
    *action = ReportAction::kStop;
  } else {
    *action = ReportAction::kContinue;
  }
  return Status::Ok();
}

Status Scheduler::Complete(const std::string& lease_id, const Completion& c) {
  return Mutate([&] {
    mu_.AssertHeld();
    return CompleteLocked(lease_id, c);
  });
}

StatusOr<std::optional<LeaseGrant>> Scheduler::CompleteAndLease(const std::string& lease_id,
                                                                const Completion& c,
                                                                int64_t worker_id) {
  std::optional<LeaseGrant> grant;
  Status s = Mutate([&] {
    mu_.AssertHeld();
    return CompleteAndLeaseLocked(lease_id, c, worker_id, &grant);
  });
  if (!s.ok()) return s;
  return grant;
}

void Scheduler::CompleteAndLeaseAsync(const std::string& lease_id, const Completion& c,
                                      int64_t worker_id, LeaseDone done) {
  MutateGrantAsync(
      [&](std::optional<LeaseGrant>* g) {
        mu_.AssertHeld();
        return CompleteAndLeaseLocked(lease_id, c, worker_id, g);
      },
      std::move(done));
}

void Scheduler::LeaseAsync(int64_t worker_id, LeaseDone done) {
  const uint64_t call = PrepareProposal();
  MutateGrantAsync(
      [&](std::optional<LeaseGrant>* g) {
        mu_.AssertHeld();
        lease_call_ = call;
        Status leased = LeaseLocked(worker_id, g);
        lease_call_ = 0;
        return leased;
      },
      std::move(done));
}

Status Scheduler::CompleteAndLeaseLocked(const std::string& lease_id, const Completion& c,
                                         int64_t worker_id, std::optional<LeaseGrant>* grant) {
  HPSWEEP_RETURN_IF_ERROR(CompleteLocked(lease_id, c));
  // A worker dropped from memory gets no next lease here (its result is kept all the same); its
  // next LeaseTrial tells it to register again.
  if (worker_id == 0 || workers_.Find(worker_id) == nullptr) return Status::Ok();
  return LeaseLocked(worker_id, grant);
}

Status Scheduler::CompleteLocked(const std::string& lease_id, const Completion& c) {
  // Only the trial's last-granted lease (see the top); nothing else is even looked at.
  TrialRow* t = FindByLease(lease_id);
  if (t == nullptr) {
    return NotFound("lease " + LeaseText(lease_id) + " is not the last lease of any trial");
  }
  // A completed, stopped or pruned trial already has its result: this is a retry (nothing is
  // stored).
  if (t->status == TrialStatus::kCompleted || t->status == TrialStatus::kStopped ||
      t->status == TrialStatus::kPruned) {
    return Status::Ok();
  }
  // Running, or put back or failed after this lease expired: no result yet, take this one.
  const SweepRow& sw = sweeps_[t->sweep_id];
  const bool program = !sw.program.empty();
  HPSWEEP_RETURN_IF_ERROR(CheckCompletion(c, MaxEpochs(*t, sw), program, IsRegressionTrial(*t)));
  if (program && !c.model.empty()) {
    return InvalidArgument("model is set; a program's trial keeps its own files");
  }
  if (program && !c.history.empty() && c.history.front().epoch > t->epochs_run + 1) {
    return InvalidArgument("history starts at epoch " + std::to_string(c.history.front().epoch) +
                           "; epochs 1.." + std::to_string(t->epochs_run) +
                           " are stored, so it may start at " +
                           std::to_string(t->epochs_run + 1) + " at the latest");
  }
  if (options_.check_models) HPSWEEP_RETURN_IF_ERROR(CheckCompletedModel(c.model, *t));
  if (c.stopped_epoch > 0) {
    auto es = t->params.find("early_stopping");
    TrialConfig config;
    if (es == t->params.end() || !ApplyKey("early_stopping", es->second, &config).ok() ||
        !config.train.early_stopping) {
      return InvalidArgument("stopped_epoch is " + std::to_string(c.stopped_epoch) +
                             "; the trial has no early_stopping");
    }
  }
  const double now = clock_->Now();
  Unindex(*t);
  last_report_.erase(t->id);
  if (program) return CompleteProgramLocked(t, sw, c, now);
  // The history replaces the epochs reported on the way (there are none if epochs_run is 0).
  if (t->epochs_run > 0) {
    HPSWEEP_RETURN_IF_ERROR(Write([id = t->id](Storage* st) { return st->DeleteEpochs(id); }));
  }
  // Epochs reported on the way keep their recorded_at: it orders the pruner's records.
  std::vector<double> recorded(c.history.size(), -1);
  if (Pruner* p = PrunerFor(t->sweep_id)) {
    for (size_t i = 0; i < c.history.size(); ++i) {
      if (c.history[i].epoch <= t->epochs_run) {
        recorded[i] = p->RecordedAt(t->id, c.history[i].epoch);
      }
    }
    p->Forget(t->id);
  }
  t->best_epoch = 0;
  t->best_val_accuracy = t->best_val_loss = -1;
  t->epochs_run = 0;
  for (size_t i = 0; i < c.history.size(); ++i) {
    HPSWEEP_RETURN_IF_ERROR(StoreEpoch(t, sw, c.history[i], now, recorded[i]));
  }
  t->test_accuracy = c.test_accuracy;
  t->test_loss = c.test_loss;
  t->seconds = c.seconds;
  t->confusion = c.confusion;
  // A regression trial's test_mse and test_mae (checked above): kept as a program's final
  // metrics are, and the trial's value when the sweep ranks by one of them.
  t->final_metrics = c.final_metrics;
  const Objective o(sw.metric, sw.maximize);
  auto final_value = c.final_metrics.find(sw.metric);
  if (o.Named() && final_value != c.final_metrics.end()) t->metric_value = final_value->second;
  // A worker from before keep: best did not say: it tested (and saved) its last epoch.
  const int last = c.history.empty() ? 0 : c.history.back().epoch;
  t->weights_epoch = c.weights_epoch > 0 ? c.weights_epoch : (c.test_accuracy >= 0 ? last : 0);
  t->stopped_epoch = c.stopped_epoch;
  if (!c.model.empty()) {
    HPSWEEP_RETURN_IF_ERROR(Write([id = t->id, model = c.model](Storage* st) {
      return st->PutArtifact(id, "model", model);
    }));
  }
  return EndCompletedLocked(t, sw, c.stopped, now);
}

// A program trial's result: the epochs its reports did not store (lost on the way) are stored,
// those stored are kept (a resumed attempt's history starts after its checkpoint); the final
// line's metrics are kept, and its value of the sweep's metric, when it has one, is the trial's.
Status Scheduler::CompleteProgramLocked(TrialRow* t, const SweepRow& sw, const Completion& c,
                                        double now) {
  for (const EpochReport& r : c.history) {
    if (r.epoch <= t->epochs_run) continue;
    HPSWEEP_RETURN_IF_ERROR(StoreEpoch(t, sw, r, now));
  }
  t->final_metrics = c.final_metrics;
  const Objective o(sw.metric, sw.maximize);
  auto final_value = c.final_metrics.find(sw.metric);
  if (o.Named() && final_value != c.final_metrics.end()) t->metric_value = final_value->second;
  t->test_accuracy = c.test_accuracy;
  t->test_loss = c.test_loss;
  t->seconds = c.seconds;
  return EndCompletedLocked(t, sw, c.stopped, now);
}

// The end of a completion: pruned when it stopped on the pruner's STOP, stopped on a cancel's;
// one that ran to its end anyway is completed.
Status Scheduler::EndCompletedLocked(TrialRow* t, const SweepRow& sw, bool stopped, double now) {
  TrialStatus status = TrialStatus::kCompleted;
  if (stopped && prune_requested_.count(t->id)) {
    status = TrialStatus::kPruned;
  } else if (stopped || sw.state == SweepState::kCancelled) {
    status = TrialStatus::kStopped;
  }
  HPSWEEP_RETURN_IF_ERROR(HeardFromLocked(t->worker_id, now));
  HPSWEEP_RETURN_IF_ERROR(CountWorkerTrialsLocked(t->worker_id, 1, 0));
  // Before the trial ends: a quarantine it brings may queue failed trials of its sweep again.
  HPSWEEP_RETURN_IF_ERROR(NoteCompletionLocked(*t, now));
  EmitLocked(events::TrialCompleted(*t, sw, status));
  return FinishTrial(*t, status, now);
}

Status Scheduler::KeepOutput(const std::string& lease_id, const std::string& output) {
  if (output.size() > kMaxOutputBytes) {
    return InvalidArgument("output is " + std::to_string(output.size()) +
                           " bytes; the limit is " + std::to_string(kMaxOutputBytes));
  }
  return Mutate([&]() -> Status {
    mu_.AssertHeld();
    TrialRow* t = FindByLease(lease_id);
    if (t == nullptr) {
      return FailedPrecondition("lease " + LeaseText(lease_id) +
                                " is not the last lease of any trial");
    }
    return Write([id = t->id, output](Storage* st) { return st->PutArtifact(id, "output", output); });
  });
}

Status Scheduler::Fail(const std::string& lease_id, const std::string& error, bool released) {
  return Mutate([&] {
    mu_.AssertHeld();
    return FailLocked(lease_id, error, released);
  });
}

void Scheduler::FailAsync(const std::string& lease_id, const std::string& error, bool released,
                          std::function<void(Status)> done) {
  MutateAsync(
      [&] {
        mu_.AssertHeld();
        return FailLocked(lease_id, error, released);
      },
      std::move(done));
}

Status Scheduler::FailLocked(const std::string& lease_id, const std::string& error, bool released) {
  // (released may turn true below: a failure that quarantines its worker is given back)
  HPSWEEP_RETURN_IF_ERROR(CheckText("error", error, kMaxFailErrorBytes, false));
  TrialRow* t = FindByLease(lease_id);
  if (t == nullptr) {
    return FailedPrecondition("lease " + LeaseText(lease_id) +
                              " is not current (no trial holds it)");
  }
  if (t->status != TrialStatus::kRunning) {
    if (Terminal(t->status)) return Status::Ok();  // a retry
    return FailedPrecondition("lease " + LeaseText(lease_id) + " is no longer current (trial is " +
                              TrialStatusName(t->status) + ")");
  }
  const double now = clock_->Now();
  const SweepRow& sw = sweeps_[t->sweep_id];
  Unindex(*t);
  last_report_.erase(t->id);
  const bool failed_here = !released;  // (counted on the worker even if given back below)
  const bool stopping = prune_requested_.count(t->id) || sw.state == SweepState::kCancelled ||
                        stop_requested_.count(t->id);
  if (!released) {
    AppendError(
        t, "attempt " + std::to_string(t->attempts) + " on '" + t->worker_name + "': " + error);
    // The worker's streak of failures (see "Quarantine" in scheduler.h); if this one puts it in
    // quarantine, this attempt is given back as the streak's others were.
    bool quarantined = false;
    if (!stopping) HPSWEEP_RETURN_IF_ERROR(NoteFailureLocked(*t, error, now, &quarantined));
    if (quarantined) {
      released = true;
      UnchargeAttempt(t, "attempt given back (no attempt charged): '" + t->worker_name +
                             "' was quarantined");
    }
  } else {
    UnchargeAttempt(t, error.empty() ? "" : "given back by '" + t->worker_name +
                                               "' (no attempt charged): " + error);
  }
  const TrialStatus outcome = prune_requested_.count(t->id) ? TrialStatus::kPruned
                              : sw.state == SweepState::kCancelled || stop_requested_.count(t->id)
                                  ? TrialStatus::kStopped
                              : !released && t->attempts >= sw.max_attempts ? TrialStatus::kFailed
                                                                            : TrialStatus::kQueued;
  HPSWEEP_RETURN_IF_ERROR(HeardFromLocked(t->worker_id, now));
  HPSWEEP_RETURN_IF_ERROR(CountWorkerTrialsLocked(t->worker_id, 0, failed_here ? 1 : 0));
  EmitLocked(!failed_here ? events::TrialReleased(*t, sw, error, outcome)
                          : events::TrialFailed(*t, sw, error, outcome));
  if (outcome != TrialStatus::kQueued) return FinishTrial(*t, outcome, now);
  t->status = TrialStatus::kQueued;
  t->lease_id.clear();
  t->lease_deadline = 0;
  leases_.erase(lease_id);
  HPSWEEP_RETURN_IF_ERROR(EndAttemptLocked(*t, now));
  HPSWEEP_RETURN_IF_ERROR(WriteTrial(*t));
  return AdvancePopulationLocked(t->sweep_id);  // (a member may fail at its barrier)
}

}  // namespace hpsweep
