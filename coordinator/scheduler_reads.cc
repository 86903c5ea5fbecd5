// Reads: counts, the leaderboard, the export, saved models, and waiting for a change.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <set>
#include <nlohmann/json.hpp>

#include "search/params_json.h"
#include "coordinator/scheduler.h"
#include "search/pbt.h"
#include "coordinator/scheduler_internal.h"

namespace hpsweep {

namespace {

// "12 finished trials from sweep 1 (#1-#12); 3 ... from sweep 4 (#2-#9)": the warm-start history
// by sweep, in the order named, with each trial's number in its own sweep.
std::string WarmStartText(const std::vector<TrialRow>& warm) {
  struct From {
    int64_t sweep;
    int count = 0, lo = 0, hi = 0;
  };
  std::vector<From> from;
  for (const TrialRow& t : warm) {
    const int n = (t.number % kWarmNumberStride + kWarmNumberStride) % kWarmNumberStride;
    if (from.empty() || from.back().sweep != t.sweep_id) from.push_back({t.sweep_id, 0, n, n});
    From& f = from.back();
    ++f.count;
    f.lo = std::min(f.lo, n);
    f.hi = std::max(f.hi, n);
  }
  std::string text;
  for (const From& f : from) {
    text += (text.empty() ? "" : "; ") + std::to_string(f.count) + " finished trial" +
            (f.count == 1 ? "" : "s") + " from sweep " + std::to_string(f.sweep) + " (#" +
            std::to_string(f.lo) + (f.hi > f.lo ? "-#" + std::to_string(f.hi) : "") + ")";
  }
  return text;
}

}  // namespace

namespace {

// Several objectives or constraints: the first front's size, the infeasible trials, and the
// best value among feasible trials (search/ranking.h), of the sweep's completed and pruned
// trials. O(N^2) in them. Nothing for a sweep of one metric.
void CountFronts(const std::vector<const TrialRow*>& finished, SweepCounts* c) {
  const SweepRanking ranking = RankingOf(c->sweep);
  if (!ranking.ranked_by_fronts()) return;
  c->objectives = ranking.pareto() ? ranking.DisplayName() : "";
  c->constraints = ranking.ConstraintsText();
  const Objective& o = ranking.first();
  c->best = o.Named() ? kNoMetric : -1;
  for (const SweepRanking::Place& p : ranking.Rank(finished)) {
    if (!p.feasible) {
      ++c->infeasible;
      continue;
    }
    if (p.front == 1) ++c->front_size;
    const double v = o.ValueOf(*finished[p.index]);
    if (o.Better(v, c->best)) c->best = v;
  }
}

// method: pbt: where each running population is, e.g. "8 members; segment epochs 3-4 of 8
// (decided after epoch 2); 3 waiting for the rest" (SweepCounts::population).
void DescribePopulations(const std::map<int64_t, Population>& populations,
                         const std::map<int64_t, std::set<int64_t>>& waiting,
                         std::map<int64_t, SweepCounts>* out) {
  for (const auto& [id, p] : populations) {
    auto it = out->find(id);
    if (it == out->end()) continue;
    const PbtOptions& o = p.spec.pbt;
    const int from = it->second.sweep.pbt_epoch, end = std::min(from + o.interval, o.epochs);
    auto w = waiting.find(id);
    const size_t n = w == waiting.end() ? 0 : w->second.size();
    it->second.population =
        std::to_string(o.population) + " members; segment epochs " + std::to_string(from + 1) +
        "-" + std::to_string(end) + " of " + std::to_string(o.epochs) +
        (from > 0 ? " (decided after epoch " + std::to_string(from) + ")" : "") + "; " +
        std::to_string(n) + " waiting for the rest";
  }
}

}  // namespace

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
      if (sw.max_trials > 0) {  // extended: what its file says, beside it (a small parse)
        StatusOr<SweepSpec> spec = ParseSweep(sw.yaml, sw.file_name);
        if (spec.ok()) out[id].file_max_trials = spec->max_trials;
      }
      if (objective.at(id).Named()) out[id].best = kNoMetric;  // any finite number is a value
    }
  }
  std::set<int64_t> bf16_queued;  // sweeps with a queued trial that needs bf16
  std::map<int64_t, std::vector<const TrialRow*>> finished;  // completed and pruned, by sweep
  for (const auto& [id, t] : trials_) {
    auto it = out.find(t.sweep_id);
    if (it == out.end()) continue;
    SweepCounts& c = it->second;
    if (t.status == TrialStatus::kQueued && NeedsBf16(t, c.sweep)) bf16_queued.insert(t.sweep_id);
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
    if (t.status == TrialStatus::kCompleted || t.status == TrialStatus::kPruned) {
      finished[t.sweep_id].push_back(&t);
    }
  }
  for (auto& [id, c] : out) CountFronts(finished[id], &c);
  for (const auto& [id, passed] : passed_over_) {
    auto it = out.find(id);
    if (it == out.end()) continue;
    it->second.passed_over_invalid = passed.first;
    it->second.passed_over_tried = passed.second;
  }
  for (const auto& [id, reason] : passed_over_reason_) {
    auto it = out.find(id);
    if (it != out.end()) it->second.passed_over_reason = reason;
  }
  for (const auto& [id, live] : samplers_) {
    auto it = out.find(id);
    if (it == out.end()) continue;
    it->second.unproposed =
        std::max(0, live.sampler->planned() - static_cast<int>(live.trial_ids.size()));
    it->second.warm_start = WarmStartText(live.warm);
  }
  DescribePopulations(populations_, waiting_, &out);
  // A program sweep with trials to run and no live worker that offers its program waits: say so.
  const double now = clock_->Now();
  for (auto& [id, c] : out) {
    const std::string& program = c.sweep.program;
    if (program.empty() || c.sweep.state != SweepState::kRunning || c.queued + c.unproposed == 0) continue;
    bool offered = false;
    for (const auto& [wid, w] : workers_.held()) {
      offered = offered || (now - w.last_seen < options_.lease_seconds &&
                            std::find(w.programs.begin(), w.programs.end(), program) !=
                                w.programs.end());
    }
    if (!offered) {
      c.waiting = "no live worker offers program '" + program +
                  "' (start one with: hpsweep worker --program " + program + "=PATH)";
    }
  }
  // Trials with precision: bf16 wait for a worker whose CPU has avx512_bf16 (scheduler_leases.cc).
  bool bf16_live = false;
  for (const auto& [wid, w] : workers_.held()) {
    bf16_live = bf16_live || (w.bf16 && now - w.last_seen < options_.lease_seconds);
  }
  for (int64_t id : bf16_queued) {
    SweepCounts& c = out[id];
    if (bf16_live || !c.waiting.empty() || c.sweep.state != SweepState::kRunning) continue;
    c.waiting = "trials ask for precision: bf16 and no live worker's CPU has avx512_bf16 (use "
                "precision: auto to run fp32 there)";
  }
  // Every live worker quarantined (scheduler.h, "Quarantine"): trials wait for a release.
  int live = 0, quarantined = 0;
  for (const auto& [wid, w] : workers_.held()) {
    if (now - w.last_seen >= options_.lease_seconds) continue;
    ++live;
    quarantined += !w.quarantine.empty();
  }
  for (auto& [id, c] : out) {
    if (live == 0 || quarantined < live || !c.waiting.empty() ||
        c.sweep.state != SweepState::kRunning || c.queued + c.unproposed == 0) {
      continue;
    }
    c.waiting = "every live worker (" + std::to_string(live) +
                ") is quarantined: their attempts kept failing while trials completed elsewhere "
                "(see hpsweep workers; lift with hpsweep workers --release NAME)";
  }
  // A cancelled sweep's trials that were never proposed were stopped by the cancel: counted as
  // stopped, so its counts add up to its total as they did when trials were stored at submit.
  for (auto& [id, c] : out) {
    if (c.sweep.state != SweepState::kCancelled) continue;
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
  // The query orders by the first objective; the sweep's ranking (search/ranking.h) is the one
  // rule. With several objectives or constraints every trial is read, then ranked and cut.
  const SweepRanking ranking = RankingOf(it->second);
  auto rows = storage_->Leaderboard(sweep_id, it->second.metric, it->second.maximize,
                                    ranking.ranked_by_fronts() ? 0 : top);
  if (!rows.ok()) return rows.status();
  std::vector<TrialRow> ranked;
  ranked.reserve(rows->size());
  for (const SweepRanking::Place& p : ranking.Rank(*rows)) {
    if (top > 0 && static_cast<int>(ranked.size()) == top) break;
    ranked.push_back(std::move((*rows)[p.index]));
  }
  return ranked;
}

namespace {

// A trial of the export: its row, every epoch, every attempt.
nlohmann::json TrialExportJson(const TrialRow& t, const std::vector<EpochRow>& epochs,
                               const std::vector<AttemptRow>& attempts, bool program_sweep) {
  using json = nlohmann::json;
  json ep = json::array();
  for (const EpochRow& e : epochs) {
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
              {"epochs", std::move(ep)},
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
  // (a regression trial's test_mse and test_mae are final metrics too: README "Regression")
  if (program_sweep || IsRegressionTrial(t)) {
    row["metric_value"] = std::isfinite(t.metric_value) ? json(t.metric_value) : json(nullptr);
    row["final_metrics"] = t.final_metrics;
  }
  json history = json::array();
  for (const AttemptRow& a : attempts) {
    history.push_back({{"attempt", a.attempt},
                       {"worker", a.worker_name},
                       {"started_at", a.started_at},
                       {"ended_at", a.ended_at},
                       {"resumed_from_epoch", a.resumed_from_epoch}});
  }
  row["attempt_history"] = std::move(history);
  return row;
}

}  // namespace

namespace {

// The export's sweep header: the sweep's row, its early_terminate as text, its objectives and
// constraints (search/ranking.h) and the max_trials `hpsweep extend` set.
nlohmann::json ExportHeadJson(const SweepRow& sw, const std::string& early_terminate) {
  using json = nlohmann::json;
  const SweepRanking ranking = RankingOf(sw);
  json head = {{"id", sw.id},
               {"name", sw.name},
               {"description", sw.description},
               {"file", sw.file_name},
               {"state", SweepStateName(sw.state)},
               {"metric", sw.metric},
               {"goal", sw.maximize ? "maximize" : "minimize"},
               {"max_attempts", sw.max_attempts},
               {"early_terminate", early_terminate},
               {"trials", sw.total},
               {"created_at", sw.created_at},
               {"finished_at", sw.finished_at}};
  if (!sw.program.empty()) head["program"] = sw.program;
  if (ranking.pareto()) {
    json objectives = json::array();
    for (const ObjectiveSpec& o : ranking.objectives()) {
      objectives.push_back({{"name", o.name}, {"goal", o.maximize ? "maximize" : "minimize"}});
    }
    head["objectives"] = std::move(objectives);
  }
  if (!ranking.constraints().empty()) {
    json constraints = json::array();
    for (const ConstraintSpec& c : ranking.constraints()) {
      constraints.push_back({{"name", c.name},
                             {"min", std::isfinite(c.min) ? json(c.min) : json(nullptr)},
                             {"max", std::isfinite(c.max) ? json(c.max) : json(nullptr)}});
    }
    head["constraints"] = std::move(constraints);
  }
  if (sw.max_trials > 0) head["extended_to"] = sw.max_trials;  // hpsweep extend's max_trials
  return head;
}

}  // namespace

StatusOr<ExportPage> Scheduler::ExportSweepPage(int64_t sweep_id, int after_trial,
                                                size_t max_bytes, size_t max_trials) {
  using json = nlohmann::json;
  SweepRow sw;
  std::string early_terminate;
  // Several objectives or constraints: each ranked trial's place, by number (read with the
  // header, so one page and the next agree).
  std::map<int, SweepRanking::Place> places;
  std::map<int, std::vector<double>> values;
  std::map<int, int> rank;  // 1-based place in the ranking
  {
    MutexLock lock(&mu_);
    WaitStorageLocked();
    HPSWEEP_RETURN_IF_ERROR(EnsureLoaded());
    if (sweep_id == 0 && !sweeps_.empty()) sweep_id = sweeps_.rbegin()->first;
    auto it = sweeps_.find(sweep_id);
    if (it == sweeps_.end()) return NotFound("no sweep " + std::to_string(sweep_id));
    sw = it->second;
    auto et = early_terminate_.find(sw.id);
    if (et != early_terminate_.end()) early_terminate = DescribeEarlyTerminate(et->second);
    const SweepRanking ranking = RankingOf(sw);
    if (ranking.ranked_by_fronts()) {
      auto rows = storage_->Leaderboard(sw.id, sw.metric, sw.maximize, 0);
      if (!rows.ok()) return rows.status();
      for (const SweepRanking::Place& p : ranking.Rank(*rows)) {
        const TrialRow& t = (*rows)[p.index];
        places[t.number] = p;
        values[t.number] = ranking.ValuesOf(t);
        rank[t.number] = static_cast<int>(rank.size()) + 1;
      }
    }
  }
  const SweepRanking ranking = RankingOf(sw);
  json head = ExportHeadJson(sw, early_terminate);
  // method: pbt: the population's settings, and each member's schedule and lineage below.
  std::optional<SweepSpec> pbt;
  if (StatusOr<SweepSpec> spec = ParseSweep(sw.yaml, sw.file_name);
      spec.ok() && spec->method == SweepMethod::kPbt) {
    pbt = std::move(*spec);
    head["pbt"] = {{"population", pbt->pbt.population},   {"interval", pbt->pbt.interval},
                   {"quantile", pbt->pbt.quantile},
                   {"resample_probability", pbt->pbt.resample_probability},
                   {"mutable", pbt->pbt.mutable_params}, {"epochs", pbt->pbt.epochs},
                   {"decided_after_epoch", sw.pbt_epoch}};
  }
  ExportPage page;
  page.sweep_id = sw.id;
  page.head = ExportHeadText(head);
  size_t bytes = page.head.size() + ExportJoiner::kOverhead;
  int last = after_trial;
  for (;;) {
    if (max_trials > 0 && page.trials.size() >= max_trials) {
      page.next_after = last;  // (the next page may turn out empty)
      break;
    }
    TrialRow t;
    std::vector<EpochRow> epochs;
    std::vector<AttemptRow> attempts;
    {
      // One trial's reads under the mutex (storage is used under it), then let others in.
      MutexLock lock(&mu_);
      WaitStorageLocked();
      HPSWEEP_RETURN_IF_ERROR(EnsureLoaded());
      auto next = storage_->LoadTrialsAfter(sw.id, last, 1);
      if (!next.ok()) return next.status();
      if (next->empty()) break;  // the sweep's last trial is in this page
      t = std::move(next->front());
      auto e = storage_->LoadEpochs(t.id);
      if (!e.ok()) return e.status();
      epochs = std::move(*e);
      auto a = storage_->LoadAttempts(t.id);
      if (!a.ok()) return a.status();
      attempts = std::move(*a);
    }
    json row = TrialExportJson(t, epochs, attempts, !sw.program.empty());
    if (pbt) row["schedule"] = json::parse(ScheduleJson(MemberSchedule(*pbt, t)));
    if (ranking.ranked_by_fronts()) {
      // Its front (null: unranked, or lacking an objective's value), whether it holds every
      // constraint, and each objective's value (null: none).
      auto p = places.find(t.number);
      row["front"] = p != places.end() && p->second.front > 0 ? json(p->second.front) : json();
      row["feasible"] = p == places.end() ? ranking.Violation(t) == 0 : p->second.feasible;
      row["rank"] = p != places.end() ? json(rank[t.number]) : json();
      if (ranking.pareto()) {
        json objectives = json::object();
        const std::vector<double> v =
            p != places.end() ? values[t.number] : ranking.ValuesOf(t);
        for (size_t k = 0; k < v.size(); ++k) {
          objectives[ranking.objectives()[k].name] = std::isfinite(v[k]) ? json(v[k]) : json();
        }
        row["objectives"] = std::move(objectives);
      }
    }
    std::string text = ExportTrialText(row);
    if (!page.trials.empty() && bytes + text.size() + ExportJoiner::kOverhead > max_bytes) {
      page.next_after = last;
      break;
    }
    bytes += text.size() + ExportJoiner::kOverhead;
    page.trials.push_back(std::move(text));
    last = t.number;
  }
  return page;
}

StatusOr<std::string> Scheduler::ExportJson(int64_t sweep_id) {
  constexpr size_t kPageBytes = 8u << 20;
  std::string out;
  ExportJoiner join;
  int after = 0;
  do {
    auto page = ExportSweepPage(sweep_id, after, kPageBytes);
    if (!page.ok()) return page.status();
    sweep_id = page->sweep_id;  // 0 (the latest) stays the sweep the first page found
    if (out.empty()) out = page->head;
    for (const std::string& t : page->trials) out += join.Trial(t);
    after = page->next_after;
  } while (after != 0);
  return out + join.Tail();
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
