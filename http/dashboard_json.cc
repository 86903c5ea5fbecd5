#include "http/dashboard_json.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <string>

#include "search/params_json.h"

namespace hpsweep {

namespace {

using json = nlohmann::json;

// An empty text as null (a worker that named no host or job).
json TextOrNull(const std::string& s) { return s.empty() ? json(nullptr) : json(s); }

}  // namespace

json SweepsJson(const v1::GetStatusResponse& status) {
  json arr = json::array();
  for (const v1::SweepStatus& s : status.sweeps()) {
    arr.push_back(
        {{"id", s.sweep_id()},
         {"name", s.name()},
         {"state", s.state()},
         {"metric", s.metric_name()},
         {"goal", s.maximize() ? "maximize" : "minimize"},
         {"ranked_by", RankedBy(s.metric_name(), s.maximize())},
         {"queued", QueuedCount(s)},  // (as `status`: not yet proposed too)
         {"running", s.running()},
         {"completed", s.completed()},
         {"failed", s.failed()},
         {"stopped", s.stopped()},
         {"pruned", s.pruned()},
         {"early_terminate", s.early_terminate()},
         {"total", s.total()},
         {"best", MetricMeasured(s.metric_name(), s.best_metric()) ? json(s.best_metric())
                                                                    : json(nullptr)},
         {"waiting", s.waiting()},  // why its trials wait, "" when they do not
         {"created_at", s.created_at()}});
  }
  return {{"sweeps", arr}, {"workers_alive", status.workers_alive()}};
}

json WorkersJson(const v1::ListWorkersResponse& workers, size_t max_rows) {
  json arr = json::array();
  int alive = 0;
  for (const v1::WorkerInfo& w : workers.workers()) alive += !IsGone(w);
  for (const v1::WorkerInfo& w : workers.workers()) {
    if (arr.size() >= max_rows) break;
    json trial = nullptr;
    if (IsTraining(w)) {
      trial = {{"sweep", w.sweep_id()},
               {"trial_id", w.trial_id()},
               {"number", w.trial_number()},
               {"epoch", w.epoch()},
               {"label", "sweep " + std::to_string(w.sweep_id()) + " #" +
                             std::to_string(w.trial_number())}};
    }
    arr.push_back({{"id", w.worker_id()},
                   {"name", w.name()},
                   {"host", TextOrNull(w.host())},
                   {"threads", w.threads()},
                   {"precision", w.precision()},  // the path its CPU runs
                   {"job_id", TextOrNull(w.job_id())},
                   {"state", w.state()},  // idle, training, quarantined or gone
                   {"trial", trial},
                   {"trials_done", w.trials_done()},
                   {"trials_failed", w.trials_failed()},
                   // quarantined (coordinator/scheduler.h): why, with its last error; else null
                   {"quarantine", TextOrNull(w.quarantine())},
                   {"first_seen", w.first_seen()},
                   {"last_seen", w.last_seen()},
                   {"seconds_since_seen", std::max(0.0, workers.now() - w.last_seen())}});
  }
  return {{"now", workers.now()},
          {"alive", alive},
          {"gone", workers.workers_size() - alive},
          {"shown", arr.size()},
          {"workers", arr}};
}

json LeaderboardJson(const LeaderboardView& view) {
  const v1::GetLeaderboardResponse& lb = view.board;
  json arr = json::array();
  for (int i = 0; i < lb.rows_size(); ++i) {
    const v1::LeaderboardRow& r = lb.rows(i);
    const int pruned_at = PrunedAtEpoch(r);
    const double val_loss = static_cast<size_t>(i) < view.val_loss.size() ? view.val_loss[i] : -1;
    // A regression trial's test pass (test_mse, test_mae); {} for any other.
    json test_metrics = json::object();
    for (const auto& [name, v] : r.test_metrics()) test_metrics[name] = MeasuredJson(v);
    arr.push_back(
        {{"rank", r.rank()},
         {"trial_id", r.trial_id()},
         {"number", r.number()},
         {"status", TrialStatusText(r.status())},
         {"params", ParamsJson(std::map<std::string, std::string>(r.params().begin(),
                                                                  r.params().end()))},
         {"best_epoch", r.best_epoch()},
         // The epoch its test accuracy and model come from (keep: best|last); null before its
         // test pass.
         {"weights_epoch", r.weights_epoch() > 0 ? json(r.weights_epoch()) : json(nullptr)},
         // Not measured (a pruned or running trial has no test pass): null, not -1.
         {"metric_value", MetricMeasured(lb.metric_name(), r.metric_value())
                              ? json(r.metric_value())
                              : json(nullptr)},
         {"val_accuracy", MeasuredJson(r.val_accuracy())},
         {"val_loss", MeasuredJson(val_loss)},
         {"test_accuracy", MeasuredJson(r.test_accuracy())},
         {"test_metrics", std::move(test_metrics)},
         {"epochs", r.epochs()},
         {"pruned_at_epoch", pruned_at >= 0 ? json(pruned_at) : json(nullptr)},
         {"seconds", r.seconds()},
         {"worker", ResultSource(r)}});  // a copied result (--reuse) names where it comes from
    if (lb.objectives_size() > 0 || !lb.constraints().empty()) {
      // Several objectives or constraints (README.md, "Several objectives").
      arr.back()["front"] = r.front() > 0 ? json(r.front()) : json(nullptr);
      arr.back()["feasible"] = !r.infeasible();
      json objectives = json::object();
      for (int k = 0; k < lb.objectives_size() && k < r.objective_values_size(); ++k) {
        const double v = r.objective_values(k);
        objectives[lb.objectives(k)] = std::isfinite(v) ? json(v) : json(nullptr);
      }
      arr.back()["objectives"] = std::move(objectives);
    }
  }
  std::string ranked_by = RankedBy(lb.metric_name(), lb.maximize());
  if (lb.objectives_size() > 0) {
    ranked_by = "front of";
    for (int k = 0; k < lb.objectives_size(); ++k) {
      ranked_by += std::string(k ? ", " : " ") + lb.objectives(k) +
                   (lb.objectives_maximize(k) ? " (max)" : " (min)");
    }
    ranked_by += ", then crowding distance";
  }
  if (!lb.constraints().empty()) ranked_by += "; constraints " + lb.constraints();
  return {{"sweep",
           {{"id", lb.sweep_id()},
            {"name", lb.sweep_name()},
            {"metric", lb.metric_name()},
            {"goal", lb.maximize() ? "maximize" : "minimize"},
            {"ranked_by", ranked_by},
            // several objectives: their names, the first being metric (the front chart's axes)
            {"objectives", std::vector<std::string>(lb.objectives().begin(), lb.objectives().end())},
            {"program", view.program}}},  // "" for the engine's; else its trials keep output
          {"rows", arr}};
}

}  // namespace hpsweep
