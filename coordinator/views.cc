#include "coordinator/views.h"

#include <algorithm>
#include <climits>
#include <set>
#include <string>

#include "search/objective.h"
#include "search/sweep_file.h"

namespace hpsweep {

namespace pb = ::hpsweep::v1;

pb::TrialStatus TrialStatusProto(TrialStatus s) {
  switch (s) {
    case TrialStatus::kQueued: return pb::QUEUED;
    case TrialStatus::kRunning: return pb::RUNNING;
    case TrialStatus::kCompleted: return pb::COMPLETED;
    case TrialStatus::kFailed: return pb::FAILED;
    case TrialStatus::kStopped: return pb::STOPPED;
    case TrialStatus::kPruned: return pb::PRUNED;
  }
  return pb::TRIAL_STATUS_UNSPECIFIED;
}

v1::GetStatusResponse StatusProto(const std::vector<SweepCounts>& counts, int workers_alive,
                                  const std::vector<WorkerRow>& quarantined) {
  pb::GetStatusResponse resp;
  for (const SweepCounts& c : counts) {
    pb::SweepStatus* s = resp.add_sweeps();
    s->set_sweep_id(c.sweep.id);
    s->set_name(c.sweep.name);
    s->set_state(SweepStateName(c.sweep.state));
    s->set_queued(c.queued);
    s->set_running(c.running);
    s->set_completed(c.completed);
    s->set_failed(c.failed);
    s->set_stopped(c.stopped);
    s->set_pruned(c.pruned);
    s->set_early_terminate(c.early_terminate);
    s->set_total(c.sweep.total);
    s->set_unproposed(c.unproposed);
    s->set_best_val_accuracy(c.best);  // old clients: the sweep's metric, as best_metric
    s->set_metric_name(c.sweep.metric);
    s->set_maximize(c.sweep.maximize);
    s->set_best_metric(c.best);
    s->set_created_at(c.sweep.created_at);
    s->set_waiting(c.waiting);
    s->set_warm_start(c.warm_start);
    s->set_population(c.population);
    s->set_extended_to(c.sweep.max_trials);
    s->set_file_max_trials(c.file_max_trials);
    s->set_objectives(c.objectives);
    s->set_front_size(c.front_size);
    s->set_constraints(c.constraints);
    s->set_infeasible(c.infeasible);
    s->set_program(c.sweep.program);
    s->set_passed_over_invalid(c.passed_over_invalid);
    s->set_passed_over_tried(c.passed_over_tried);
    s->set_passed_over_reason(c.passed_over_reason);
  }
  resp.set_workers_alive(workers_alive);
  for (const WorkerRow& q : quarantined) {
    pb::WorkerInfo* w = resp.add_quarantined();
    w->set_worker_id(q.id);
    w->set_name(q.name);
    w->set_host(q.host);
    w->set_quarantine(q.quarantine);
    w->set_quarantined_at(q.quarantined_at);
    w->set_last_seen(q.last_seen);
  }
  return resp;
}

v1::ListWorkersResponse WorkersProto(const std::vector<WorkerView>& workers, double now,
                                     double lease_seconds) {
  pb::ListWorkersResponse resp;
  resp.set_now(now);
  resp.set_lease_seconds(lease_seconds);
  for (const WorkerView& v : workers) {
    pb::WorkerInfo* w = resp.add_workers();
    w->set_worker_id(v.worker.id);
    w->set_name(v.worker.name);
    w->set_host(v.worker.host);
    w->set_threads(v.worker.threads);
    w->set_job_id(v.worker.job_id);
    w->set_state(!v.alive              ? "gone"
                 : v.trial_id != 0         ? "training"
                 : !v.worker.quarantine.empty() ? "quarantined"
                                                : "idle");
    w->set_quarantine(v.worker.quarantine);
    w->set_quarantined_at(v.worker.quarantined_at);
    w->set_sweep_id(v.sweep_id);
    w->set_trial_id(v.trial_id);
    w->set_trial_number(v.trial_number);
    w->set_epoch(v.epoch);
    w->set_first_seen(v.worker.first_seen);
    w->set_last_seen(v.worker.last_seen);
    w->set_trials_done(v.worker.trials_done);
    for (const std::string& p : v.worker.programs) w->add_programs(p);
    w->set_precision(v.worker.bf16 ? "bf16" : "fp32");
    w->set_trials_failed(v.worker.trials_failed);
  }
  return resp;
}

namespace {

// LeaderboardProto without the sweep file's axes and fixed settings.
v1::GetLeaderboardResponse LeaderboardRows(const SweepRow& sweep,
                                           const std::vector<TrialRow>& rows) {
  pb::GetLeaderboardResponse resp;
  resp.set_sweep_id(sweep.id);
  resp.set_sweep_name(sweep.name);
  resp.set_metric_name(sweep.metric);
  resp.set_maximize(sweep.maximize);
  const Objective objective(sweep.metric, sweep.maximize);
  const SweepRanking ranking = RankingOf(sweep);
  // Several objectives or constraints: each row's front, from the rows given (ranked already:
  // a cut after the best N keeps their fronts, which only better trials decide).
  std::vector<SweepRanking::Place> place(rows.size());
  if (ranking.ranked_by_fronts()) {
    for (const ObjectiveSpec& o : ranking.objectives()) {
      if (ranking.pareto()) {
        resp.add_objectives(o.name);
        resp.add_objectives_maximize(o.maximize);
      }
    }
    resp.set_constraints(ranking.ConstraintsText());
    for (const SweepRanking::Place& p : ranking.Rank(rows)) place[p.index] = p;
  }
  int rank = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    const TrialRow& t = rows[i];
    pb::LeaderboardRow* r = resp.add_rows();
    if (ranking.ranked_by_fronts()) {
      r->set_front(place[i].front);
      r->set_infeasible(!place[i].feasible);
      if (ranking.pareto()) {
        for (double v : ranking.ValuesOf(t)) r->add_objective_values(v);
      }
    }
    r->set_rank(++rank);
    r->set_trial_id(t.id);
    r->set_number(t.number);
    for (const auto& [k, v] : t.params) (*r->mutable_params())[k] = v;
    r->set_best_epoch(t.best_epoch);
    r->set_val_accuracy(t.best_val_accuracy);
    r->set_test_accuracy(t.test_accuracy);
    r->set_epochs(t.epochs_run);
    r->set_seconds(t.seconds);
    r->set_worker(t.worker_name);
    r->set_status(TrialStatusProto(t.status));
    r->set_metric_value(objective.ValueOf(t));
    r->set_reused_from(t.reused_from);
    r->set_weights_epoch(t.weights_epoch);
    for (const auto& [name, v] : t.final_metrics) {
      if (IsRegressionMetric(name)) (*r->mutable_test_metrics())[name] = v;
    }
  }
  return resp;
}

}  // namespace

v1::GetLeaderboardResponse LeaderboardProto(const SweepRow& sweep,
                                            const std::vector<TrialRow>& rows) {
  pb::GetLeaderboardResponse resp = LeaderboardRows(sweep, rows);
  // The stored file was checked when it was submitted; one that no longer parses (written by
  // another version) leaves axes and fixed empty, and views fall back to the varying columns.
  if (auto spec = ParseSweep(sweep.yaml, sweep.file_name); spec.ok()) {
    std::set<std::string> seen;
    for (const ParameterSpec& p : spec->parameters) {
      if (seen.insert(p.key).second) resp.add_axes(p.key);
    }
    for (const ListItem& item : spec->items) {
      for (const auto& [k, v] : item.params) {
        if (seen.insert(k).second) resp.add_axes(k);
      }
    }
    for (const auto& [k, v] : spec->fixed) {
      if (!seen.count(k)) (*resp.mutable_fixed())[k] = v;
    }
  }
  return resp;
}

LeaderboardView LeaderboardViewOf(const SweepRow& sweep, const std::vector<TrialRow>& rows) {
  LeaderboardView v;
  v.board = LeaderboardRows(sweep, rows);  // (the page shows no axes: no parse of the file)
  v.program = sweep.program;
  v.val_loss.reserve(rows.size());
  for (const TrialRow& t : rows) v.val_loss.push_back(t.best_val_loss);
  return v;
}

const char* TrialStatusText(pb::TrialStatus s) {
  switch (s) {
    case pb::QUEUED: return "queued";
    case pb::RUNNING: return "running";
    case pb::COMPLETED: return "completed";
    case pb::FAILED: return "failed";
    case pb::STOPPED: return "stopped";
    case pb::PRUNED: return "pruned";
    default: return "?";
  }
}

std::string RankedBy(const std::string& metric_name, bool maximize) {
  return Objective(metric_name, maximize).DisplayName();
}

bool MetricMeasured(const std::string& metric_name, double v) {
  return Objective(metric_name).Has(v);
}

int QueuedCount(const pb::SweepStatus& s) { return s.queued() + s.unproposed(); }

int PrunedAtEpoch(const pb::LeaderboardRow& r) {
  return r.status() == pb::PRUNED ? r.epochs() : -1;
}

std::string ResultSource(const pb::LeaderboardRow& r) {
  return r.reused_from().empty() ? r.worker() : "copied from " + r.reused_from();
}

bool IsTraining(const pb::WorkerInfo& w) { return w.state() == "training"; }
bool IsGone(const pb::WorkerInfo& w) { return w.state() == "gone"; }

Status ExportSweepProto(Scheduler* scheduler, const v1::ExportSweepRequest& req,
                        v1::ExportSweepResponse* resp) {
  if (req.after_trial() < 0 || req.after_trial() > INT_MAX || req.max_bytes() < 0) {
    return InvalidArgument(
        "ExportSweep: after_trial and max_bytes must be >= 0 (after_trial a trial number)");
  }
  const bool paged = req.after_trial() > 0 || req.max_bytes() > 0;
  size_t budget = kMaxExportPageBytes;
  if (req.max_bytes() > 0) {
    budget = std::min<size_t>(static_cast<size_t>(req.max_bytes()), kMaxExportPageBytes);
  } else if (paged) {
    budget = kDefaultExportPageBytes;
  }
  auto page =
      scheduler->ExportSweepPage(req.sweep_id(), static_cast<int>(req.after_trial()), budget);
  if (!page.ok()) return page.status();
  if (!paged && page->next_after != 0) {
    return FailedPrecondition(
        "sweep " + std::to_string(page->sweep_id) + "'s export is over " +
        std::to_string(kMaxExportPageBytes >> 20) +
        " MiB: ask for it in pages (ExportSweepRequest.max_bytes and after_trial; hpsweep "
        "export and the Python client of this version do)");
  }
  resp->set_json(page->Json());
  resp->set_next_after(page->next_after);
  return Status::Ok();
}

}  // namespace hpsweep
