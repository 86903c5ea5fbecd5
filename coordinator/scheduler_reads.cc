// Reads: counts, the leaderboard, the export, saved models, and waiting for a change.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <nlohmann/json.hpp>

#include "search/params_json.h"
#include "coordinator/scheduler.h"
#include "coordinator/scheduler_internal.h"

namespace hpsweep {

// Each lease of the trial, for the export: attempt, worker, started_at, ended_at (0 while it
// runs), resumed_from_epoch (0: from scratch).
StatusOr<nlohmann::json> AttemptsJson(Storage* storage, int64_t trial_id) {
  auto rows = storage->LoadAttempts(trial_id);
  if (!rows.ok()) return rows.status();
  nlohmann::json out = nlohmann::json::array();
  for (const AttemptRow& a : *rows) {
    out.push_back({{"attempt", a.attempt},
                   {"worker", a.worker_name},
                   {"started_at", a.started_at},
                   {"ended_at", a.ended_at},
                   {"resumed_from_epoch", a.resumed_from_epoch}});
  }
  return out;
}

std::vector<SweepCounts> Scheduler::Counts(int64_t sweep_id) {
  MutexLock lock(&mu_);
  if (needs_reload_) {
    WaitStorageLocked();
    EnsureLoaded();
  }
  std::map<int64_t, SweepCounts> out;
  std::map<int64_t, Objective> objective;
  for (const auto& [id, sw] : sweeps_) {
    if (sweep_id == 0 || id == sweep_id) {
      out[id].sweep = sw;
      auto et = early_terminate_.find(id);
      if (et != early_terminate_.end()) {
        out[id].early_terminate = DescribeEarlyTerminate(et->second);
      }
      objective.emplace(id, Objective(sw.metric, sw.maximize));
      if (objective.at(id).Named()) out[id].best = kNoMetric;  // any finite number is a value
    }
  }
  for (const auto& [id, t] : trials_) {
    auto it = out.find(t.sweep_id);
    if (it == out.end()) continue;
    SweepCounts& c = it->second;
    switch (t.status) {
      case TrialStatus::kQueued: ++c.queued; break;
      case TrialStatus::kRunning: ++c.running; break;
      case TrialStatus::kCompleted: ++c.completed; break;
      case TrialStatus::kFailed: ++c.failed; break;
      case TrialStatus::kStopped: ++c.stopped; break;
      case TrialStatus::kPruned: ++c.pruned; break;
    }
    const Objective& o = objective.at(t.sweep_id);
    const double v = o.ValueOf(t);
    if (o.Better(v, c.best)) c.best = v;
  }
  for (const auto& [id, live] : samplers_) {
    auto it = out.find(id);
    if (it == out.end()) continue;
    it->second.unproposed =
        std::max(0, live.sampler->planned() - static_cast<int>(live.trial_ids.size()));
  }
  // A program sweep with trials to run and no live worker that offers its program waits: say so.
  const double now = clock_->Now();
  for (auto& [id, c] : out) {
    const std::string& program = c.sweep.program;
    if (program.empty() || c.sweep.state != "running" || c.queued + c.unproposed == 0) continue;
    bool offered = false;
    for (const auto& [wid, w] : workers_) {
      offered = offered || (now - w.last_seen < options_.lease_seconds &&
                            std::find(w.programs.begin(), w.programs.end(), program) !=
                                w.programs.end());
    }
    if (!offered) {
      c.waiting = "no live worker offers program '" + program +
                  "' (start one with: hpsweep worker --program " + program + "=PATH)";
    }
  }
  // A cancelled sweep's trials that were never proposed were stopped by the cancel: counted as
  // stopped, so its counts add up to its total as they did when trials were stored at submit.
  for (auto& [id, c] : out) {
    if (c.sweep.state != "cancelled") continue;
    const int stored = c.queued + c.running + c.completed + c.failed + c.stopped + c.pruned;
    c.stopped += std::max(0, c.sweep.total - stored);
  }
  std::vector<SweepCounts> v;
  for (auto& [id, c] : out) v.push_back(c);
  return v;
}

int64_t Scheduler::LatestSweepId() {
  MutexLock lock(&mu_);
  return sweeps_.empty() ? 0 : sweeps_.rbegin()->first;
}

StatusOr<std::vector<TrialRow>> Scheduler::Leaderboard(int64_t sweep_id, int top,
                                                       SweepRow* resolved) {
  MutexLock lock(&mu_);
  WaitStorageLocked();
  HPSWEEP_RETURN_IF_ERROR(EnsureLoaded());
  if (sweep_id == 0 && !sweeps_.empty()) sweep_id = sweeps_.rbegin()->first;
  auto it = sweeps_.find(sweep_id);
  if (it == sweeps_.end()) {
    return NotFound(sweep_id == 0 ? "no sweeps yet" : "no sweep " + std::to_string(sweep_id));
  }
  if (resolved) *resolved = it->second;
  auto rows = storage_->Leaderboard(sweep_id, it->second.metric, it->second.maximize, top);
  if (!rows.ok()) return rows.status();
  // The query orders the same way; sorting here again makes the Objective the one rule.
  const Objective o(it->second.metric, it->second.maximize);
  std::stable_sort(rows->begin(), rows->end(), [&o](const TrialRow& a, const TrialRow& b) {
    return o.RanksBefore(o.ValueOf(a), a.number, o.ValueOf(b), b.number);
  });
  return rows;
}

StatusOr<std::string> Scheduler::ExportJson(int64_t sweep_id) {
  using json = nlohmann::json;
  MutexLock lock(&mu_);
  WaitStorageLocked();
  HPSWEEP_RETURN_IF_ERROR(EnsureLoaded());
  if (sweep_id == 0 && !sweeps_.empty()) sweep_id = sweeps_.rbegin()->first;
  auto it = sweeps_.find(sweep_id);
  if (it == sweeps_.end()) return NotFound("no sweep " + std::to_string(sweep_id));
  const SweepRow& sw = it->second;
  json j;
  j["sweep"] = {{"id", sw.id},
                {"name", sw.name},
                {"description", sw.description},
                {"file", sw.file_name},
                {"state", sw.state},
                {"metric", sw.metric},
                {"goal", sw.maximize ? "maximize" : "minimize"},
                {"max_attempts", sw.max_attempts},
                {"early_terminate", early_terminate_.count(sw.id)
                                        ? DescribeEarlyTerminate(early_terminate_.at(sw.id))
                                        : std::string()},
                {"trials", sw.total},
                {"created_at", sw.created_at},
                {"finished_at", sw.finished_at}};
  if (!sw.program.empty()) j["sweep"]["program"] = sw.program;
  auto trials = storage_->LoadTrials(sweep_id);
  if (!trials.ok()) return trials.status();
  json arr = json::array();
  for (const TrialRow& t : *trials) {
    auto epochs = storage_->LoadEpochs(t.id);
    if (!epochs.ok()) return epochs.status();
    json ep = json::array();
    for (const EpochRow& e : *epochs) {
      json one = {{"epoch", e.epoch},
                  {"train_loss", MeasuredJson(e.train_loss)},  // null: a program did not report it
                  {"train_accuracy", MeasuredJson(e.train_accuracy)},
                  {"val_loss", MeasuredJson(e.val_loss)},
                  {"val_accuracy", MeasuredJson(e.val_accuracy)},
                  {"seconds", e.seconds},
                  {"lr", MeasuredJson(e.lr)},  // null: not known (an older worker, a program)
                  {"recorded_at", e.recorded_at}};  // when the coordinator stored it
      // A program's metrics by name (docs/programs.md), beside the four fields.
      for (const auto& [name, v] : e.metrics) {
        if (!one.contains(name)) one[name] = v;
      }
      ep.push_back(std::move(one));
    }
    json row = {{"id", t.id},
                {"number", t.number},
                {"status", TrialStatusName(t.status)},
                {"attempts", t.attempts},
                {"params", ParamsJson(t.params)},  // typed: 128, not "128"
                {"epochs", ep},
                {"best_epoch", t.best_epoch},
                {"epochs_run", t.epochs_run},
                {"best_val_accuracy", MeasuredJson(t.best_val_accuracy)},  // null: none
                {"best_val_loss", MeasuredJson(t.best_val_loss)},
                {"test_accuracy", MeasuredJson(t.test_accuracy)},
                {"test_loss", MeasuredJson(t.test_loss)},
                // The epoch test_* and the model come from (keep: best or last; README "Which
                // weights a trial keeps"); 0 when it has none. stopped_epoch: early stopping
                // completed it after that epoch; 0 if it did not.
                {"weights_epoch", t.weights_epoch},
                {"stopped_epoch", t.stopped_epoch},
                {"seconds", t.seconds},
                {"worker", t.worker_name},
                {"reused_from", t.reused_from},  // "" when it trained
                {"error", t.error},
                {"started_at", t.started_at},
                {"finished_at", t.finished_at}};
    if (!t.confusion.empty()) row["confusion_matrix"] = t.confusion;
    if (!sw.program.empty()) {
      row["metric_value"] = std::isfinite(t.metric_value) ? json(t.metric_value) : json(nullptr);
      row["final_metrics"] = t.final_metrics;
    }
    auto attempts = AttemptsJson(storage_, t.id);
    if (!attempts.ok()) return attempts.status();
    row["attempt_history"] = std::move(*attempts);
    arr.push_back(row);
  }
  j["trials"] = arr;
  // replace: text from an old database may not be UTF-8; dump would throw (type_error.316).
  return j.dump(1, ' ', false, json::error_handler_t::replace);
}

StatusOr<std::string> Scheduler::GetModel(int64_t trial_id) {
  MutexLock lock(&mu_);
  WaitStorageLocked();
  return storage_->GetArtifact(trial_id, "model");
}

StatusOr<std::string> Scheduler::GetOutput(int64_t trial_id) {
  MutexLock lock(&mu_);
  WaitStorageLocked();
  return storage_->GetArtifact(trial_id, "output");
}

uint64_t Scheduler::version() {
  MutexLock lock(&mu_);
  return version_;
}

uint64_t Scheduler::WaitForChange(uint64_t seen, double timeout_seconds) {
  MutexLock lock(&mu_);
  const auto until =
      std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_seconds);
  while (version_ == seen) {
    const double left =
        std::chrono::duration<double>(until - std::chrono::steady_clock::now()).count();
    if (left <= 0) break;
    changed_.WaitFor(left);
  }
  return version_;
}

}  // namespace hpsweep
