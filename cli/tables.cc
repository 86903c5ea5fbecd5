#include "cli/tables.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "search/objective.h"
#include "search/params_json.h"
#include "base/utf8.h"
#include "coordinator/views.h"

namespace hpsweep {
namespace {

namespace pb = ::hpsweep::v1;
using json = nlohmann::json;

// --- Leaderboard printing --------------------------------------------------------------------

// The leaderboard's parameter columns: the sweep's axes in file order, each shown even when every
// row shown has the same value (a cancelled sweep's few rows must not lose a column), then any
// other parameter that varies between rows (a coordinator that predates `axes`).
std::vector<std::string> VaryingKeys(const pb::GetLeaderboardResponse& lb) {
  std::vector<std::string> keys(lb.axes().begin(), lb.axes().end());
  std::set<std::string> have(keys.begin(), keys.end());
  std::map<std::string, std::set<std::string>> seen;
  for (const auto& r : lb.rows()) {
    for (const auto& [k, v] : r.params()) seen[k].insert(v);
  }
  for (const auto& [k, vals] : seen) {
    if (vals.size() > 1 && !have.count(k)) keys.push_back(k);
  }
  return keys;
}

// "fixed: cell=lstm, epochs=2, train_limit=12000": the sweep's settings that are the same in
// every trial, for the line above the table; "" when there are none (or an old coordinator).
std::string FixedLine(const pb::GetLeaderboardResponse& lb) {
  std::map<std::string, std::string> sorted(lb.fixed().begin(), lb.fixed().end());
  std::string line;
  for (const auto& [k, v] : sorted) line += (line.empty() ? "" : ", ") + k + "=" + v;
  return line.empty() ? "" : "fixed: " + line;
}

// "3s ago", "2m05s ago": how long since a worker was heard from.
// Several objectives or constraints (README.md, "Several objectives"): rows carry a front.
bool RankedByFronts(const pb::GetLeaderboardResponse& lb) {
  return lb.objectives_size() > 0 || !lb.constraints().empty();
}
// "1", "2", "-" (lacks an objective's value), or "infeasible".
std::string FrontText(const pb::LeaderboardRow& r) {
  if (r.infeasible()) return "infeasible";
  return r.front() > 0 ? std::to_string(r.front()) : "-";
}
// An objective's value as shown: counts whole, seconds to 0.01, others to 4 places; "-" for none.
std::string ObjectiveText(const std::string& name, double v) {
  if (!std::isfinite(v)) return "-";
  char buf[32];
  if (name == "param_count") {
    std::snprintf(buf, sizeof buf, "%.0f", v);
  } else if (name == "train_seconds" || name == "epoch_seconds") {
    std::snprintf(buf, sizeof buf, "%.2f", v);
  } else {
    return Fixed4(v);
  }
  return buf;
}

std::string Ago(double seconds) { return Duration(std::max(0.0, seconds)) + " ago"; }

// The leaderboard as JSON: typed params, and the value each row is ranked by under the metric's
// own name.
void PrintLeaderboardJson(const pb::GetLeaderboardResponse& lb) {
  const std::string& metric = lb.metric_name();
  json rows = json::array();
  for (const auto& r : lb.rows()) {
    json params = json::object();
    for (const auto& [k, v] : r.params()) params[k] = ParamValueJson(k, v);  // typed
    // A value not measured (a pruned or running trial has no test pass) is null, not -1; a
    // pruned trial says at which epoch early_terminate stopped it (as the dashboard's API).
    rows.push_back({{"rank", r.rank()},
                    {"trial_id", r.trial_id()},
                    {"number", r.number()},
                    {"status", StatusText(r.status())},
                    {"params", params},
                    {"best_epoch", r.best_epoch()},
                    {"val_accuracy", MeasuredJson(r.val_accuracy())},
                    {"test_accuracy", MeasuredJson(r.test_accuracy())},
                    // the epoch test_accuracy and the model come from (keep: best or last)
                    {"weights_epoch", r.weights_epoch()},
                    {"epochs", r.epochs()},
                    {"pruned_at_epoch", PrunedAtEpoch(r) >= 0 ? json(PrunedAtEpoch(r)) : json()},
                    {"seconds", r.seconds()},
                    {"worker", r.worker()}});
    if (!r.reused_from().empty()) rows.back()["reused_from"] = r.reused_from();
    for (const auto& [name, v] : r.test_metrics()) rows.back()[name] = v;  // test_mse, test_mae
    // The value it is ranked by, under the metric's own name (val_accuracy: the same value).
    if (!metric.empty()) rows.back()[metric] = MeasuredJson(r.metric_value());
    if (RankedByFronts(lb)) {
      rows.back()["front"] = r.front() > 0 ? json(r.front()) : json();
      rows.back()["feasible"] = !r.infeasible();
      for (int k = 0; k < lb.objectives_size() && k < r.objective_values_size(); ++k) {
        const double v = r.objective_values(k);
        rows.back()[lb.objectives(k)] = std::isfinite(v) ? json(v) : json();
      }
    }
  }
  json out = {{"sweep_id", lb.sweep_id()}, {"sweep", lb.sweep_name()}, {"rows", rows}};
  if (lb.axes_size() > 0 || lb.fixed_size() > 0) {
    json fixed = json::object();
    for (const auto& [k, v] : lb.fixed()) fixed[k] = ParamValueJson(k, v);
    out["axes"] = json(std::vector<std::string>(lb.axes().begin(), lb.axes().end()));
    out["fixed"] = fixed;
  }
  if (!metric.empty()) {
    out["metric"] = metric;
    out["goal"] = lb.maximize() ? "maximize" : "minimize";
  }
  if (lb.objectives_size() > 0) {
    json objectives = json::array();
    for (int k = 0; k < lb.objectives_size(); ++k) {
      objectives.push_back({{"name", lb.objectives(k)},
                            {"goal", lb.objectives_maximize(k) ? "maximize" : "minimize"}});
    }
    out["objectives"] = objectives;
  }
  if (!lb.constraints().empty()) out["constraints"] = lb.constraints();
  std::cout << out.dump(1, ' ', false, json::error_handler_t::replace) << "\n";
}

}  // namespace

std::string CsvCell(const std::string& v) {
  bool formula = false;
  if (!v.empty() && std::strchr("=+-@\t\r", v[0]) != nullptr) {
    char* end = nullptr;
    std::strtod(v.c_str(), &end);
    formula = end != v.c_str() + v.size();  // "-0.5" is a number, "-1+2" or "=HYPERLINK(" not
  }
  if (!formula && v.find_first_of(",\"\r\n") == std::string::npos) return v;
  std::string q = formula ? "\"'" : "\"";
  for (char c : v) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

namespace {

// The leaderboard as CSV: keys are the parameter columns; metric_column adds the sweep's metric.
void PrintLeaderboardCsv(const pb::GetLeaderboardResponse& lb, const std::vector<std::string>& keys,
                         bool metric_column) {
  const std::string& metric = lb.metric_name();
  std::cout << "rank,trial_id,number";
  const bool fronts = RankedByFronts(lb);
  if (fronts) std::cout << ",front,feasible";
  for (int k = 1; k < lb.objectives_size(); ++k) std::cout << "," << CsvCell(lb.objectives(k));
  for (const auto& k : keys) std::cout << "," << CsvCell(k);
  // A regression sweep's test pass (README.md, "Regression"): two more columns.
  const bool mse = std::any_of(lb.rows().begin(), lb.rows().end(),
                               [](const auto& r) { return r.test_metrics_size() > 0; });
  std::cout << ",best_epoch" << (metric_column ? "," + CsvCell(metric) : "")
            << ",val_accuracy,test_accuracy" << (mse ? ",test_mse,test_mae" : "")
            << ",weights_epoch,epochs,seconds,worker,status\n";
  for (const auto& r : lb.rows()) {
    std::cout << r.rank() << "," << r.trial_id() << "," << r.number();
    if (fronts) {
      std::cout << "," << (r.front() > 0 ? std::to_string(r.front()) : "") << ","
                << (r.infeasible() ? "false" : "true");
    }
    for (int k = 1; k < lb.objectives_size(); ++k) {
      const double v = k < r.objective_values_size() ? r.objective_values(k) : NAN;
      std::cout << "," << (std::isfinite(v) ? ObjectiveText(lb.objectives(k), v) : "");
    }
    for (const auto& k : keys) {
      auto it = r.params().find(k);
      std::cout << "," << CsvCell(it == r.params().end() ? "" : it->second);
    }
    // A value not measured (a pruned trial's test accuracy) is an empty field, as in the
    // export's CSV and null in JSON: a -1 would be summed and sorted as a real value.
    auto measured = [](double v) {
      if (MeasuredJson(v).is_null()) return std::string();
      std::ostringstream out;
      out << v;
      return out.str();
    };
    std::cout << "," << r.best_epoch();
    if (metric_column) std::cout << "," << measured(r.metric_value());
    std::cout << "," << measured(r.val_accuracy()) << "," << measured(r.test_accuracy());
    for (const char* name : {"test_mse", "test_mae"}) {
      auto it = r.test_metrics().find(name);
      if (mse) std::cout << "," << (it == r.test_metrics().end() ? "" : measured(it->second));
    }
    std::cout << "," << r.weights_epoch() << "," << r.epochs() << "," << r.seconds() << "," << CsvCell(r.worker()) << ","
              << StatusText(r.status()) << "\n";
  }
}

// The leaderboard as a table for people, its columns as PrintLeaderboardCsv's.
void PrintLeaderboardTable(const pb::GetLeaderboardResponse& lb,
                           const std::vector<std::string>& keys, bool metric_column) {
  const std::string& metric = lb.metric_name();
  // Table: column widths from the content.
  std::vector<std::string> header = {"rank", "trial"};
  const bool fronts = RankedByFronts(lb);
  if (fronts) header.push_back("front");
  for (int k = 1; k < lb.objectives_size(); ++k) header.push_back(lb.objectives(k));
  for (const auto& k : keys) header.push_back(k);
  header.push_back("best ep");
  if (metric_column) header.push_back(metric);
  // A program's trials (docs/programs.md) may measure neither accuracy: no empty columns then.
  bool any_val = false, any_test = false;
  for (const auto& r : lb.rows()) {
    any_val = any_val || r.val_accuracy() >= 0;
    any_test = any_test || r.test_accuracy() >= 0;
  }
  const Objective objective(metric.empty() ? "val_accuracy" : metric, lb.maximize());
  if (any_val) header.push_back("val acc");
  if (any_test) header.push_back("test acc");
  // A regression sweep's test pass (README.md, "Regression").
  const bool any_mse = std::any_of(lb.rows().begin(), lb.rows().end(),
                                   [](const auto& r) { return r.test_metrics_size() > 0; });
  if (any_mse) {
    header.push_back("test mse");
    header.push_back("test mae");
  }
  if (any_test || any_mse) header.push_back("from ep");  // where the test pass's weights are from
  for (const char* h : {"epochs", "time", "worker"}) header.push_back(h);
  std::vector<std::vector<std::string>> rows;
  for (const auto& r : lb.rows()) {
    std::vector<std::string> row = {std::to_string(r.rank()), "#" + std::to_string(r.number())};
    if (fronts) row.push_back(FrontText(r));
    for (int k = 1; k < lb.objectives_size(); ++k) {
      row.push_back(ObjectiveText(lb.objectives(k), k < r.objective_values_size()
                                                         ? r.objective_values(k)
                                                         : NAN));
    }
    for (const auto& k : keys) {
      auto it = r.params().find(k);
      row.push_back(it == r.params().end() ? "" : it->second);
    }
    char va[16], ta[16];
    std::snprintf(va, sizeof(va), "%.4f", r.val_accuracy());
    if (r.test_accuracy() >= 0) {
      std::snprintf(ta, sizeof(ta), "%.4f", r.test_accuracy());
    } else {
      std::snprintf(ta, sizeof(ta), "-");
    }
    row.push_back(std::to_string(r.best_epoch()));
    if (metric_column) {
      row.push_back(objective.Has(r.metric_value()) ? Fixed4(r.metric_value()) : "-");
    }
    if (any_val) row.push_back(r.val_accuracy() >= 0 ? va : "-");
    if (any_test) row.push_back(ta);
    for (const char* name : {"test_mse", "test_mae"}) {
      if (!any_mse) break;
      auto it = r.test_metrics().find(name);
      row.push_back(it == r.test_metrics().end() ? "-" : Fixed4(it->second));
    }
    if (any_test || any_mse) {
      row.push_back(r.weights_epoch() > 0 ? std::to_string(r.weights_epoch()) : "-");
    }
    row.push_back(std::to_string(r.epochs()) +
                  (r.status() == pb::COMPLETED ? "" : std::string(" ") + StatusText(r.status())));
    row.push_back(Duration(r.seconds()));
    // A result copied from an identical trial (--reuse) was trained by no worker: say whose it is.
    row.push_back(ResultSource(r));
    rows.push_back(row);
  }
  std::vector<size_t> width(header.size());
  for (size_t c = 0; c < header.size(); ++c) {
    width[c] = header[c].size();
    for (const auto& row : rows) width[c] = std::max(width[c], row[c].size());
  }
  auto print_row = [&](const std::vector<std::string>& row) {
    for (size_t c = 0; c < row.size(); ++c) {
      std::cout << (c ? "  " : "") << row[c] << std::string(width[c] - row[c].size(), ' ');
    }
    std::cout << "\n";
  };
  std::cout << "Leaderboard of sweep " << lb.sweep_id() << " (" << lb.sweep_name() << "), ";
  if (lb.objectives_size() > 0) {
    std::cout << "by front of";
    for (int k = 0; k < lb.objectives_size(); ++k) {
      std::cout << (k ? ", " : " ") << lb.objectives(k)
                << (lb.objectives_maximize(k) ? " (max)" : " (min)");
    }
    std::cout << " (front 1: no trial is as good in all and better in one), then crowding\n";
  } else {
    std::cout << "best "
              << (metric.empty() ? "val_accuracy (max)"
                                 : Objective(metric, lb.maximize()).DisplayName())
              << " first\n";
  }
  if (!lb.constraints().empty()) {
    std::cout << "constraints: " << lb.constraints() << " (infeasible trials rank last)\n";
  }
  if (const std::string fixed = FixedLine(lb); !fixed.empty()) std::cout << fixed << "\n";
  print_row(header);
  size_t total = 0;
  for (size_t w : width) total += w + 2;
  std::cout << std::string(total - 2, '-') << "\n";
  for (const auto& row : rows) print_row(row);
  if (rows.empty()) std::cout << "(no trial has finished an epoch yet)\n";
}

}  // namespace

std::string Duration(double s) {
  char buf[32];
  if (s < 60) {
    std::snprintf(buf, sizeof(buf), "%.1fs", s);
  } else if (s < 3600) {
    std::snprintf(buf, sizeof(buf), "%dm%02ds", static_cast<int>(s) / 60, static_cast<int>(s) % 60);
  } else {
    std::snprintf(buf, sizeof(buf), "%dh%02dm", static_cast<int>(s) / 3600,
                  static_cast<int>(s) / 60 % 60);
  }
  return buf;
}

std::string Fixed4(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.4f", v);
  return buf;
}

std::string ProgressLine(const std::string& name, int done, int total, int running, int failed,
                         int stopped, int pruned, const std::string& metric, double best,
                         double seconds) {
  char line[320];
  std::string stop;
  if (stopped > 0) stop = std::to_string(stopped) + " stopped";
  if (pruned > 0) stop += (stop.empty() ? "" : ", ") + std::to_string(pruned) + " pruned";
  if (!stop.empty()) stop = " (" + stop + ")";
  const std::string result = Objective(metric).Has(best) ? "best " + metric + " " + Fixed4(best)
                                                         : "no result yet";
  std::snprintf(line, sizeof(line), "[%s] %d/%d trials done%s, %d running, %d failed - %s - %s",
                name.c_str(), done, total, stop.c_str(), running, failed, result.c_str(),
                Duration(seconds).c_str());
  return line;
}

ProgressPrinter::ProgressPrinter() : tty_(isatty(STDERR_FILENO)) {}

void ProgressPrinter::Show(const std::vector<std::string>& lines, double now, bool last,
                           int64_t finished) {
  // A line whenever trials finish (in a log, each count the run saw; on a terminal, the line is
  // redrawn at most once a second), else a line every 10 s.
  const bool news = finished != finished_ && (!tty_ || now - printed_ >= 1);
  if (!tty_ && now - printed_ < 10 && !last && !news) return;
  finished_ = finished;
  const bool redraw = tty_ && lines.size() == 1;
  for (const std::string& line : lines) {
    std::fprintf(stderr, redraw ? "\r%s\033[K" : "%s\n", line.c_str());
  }
  std::fflush(stderr);
  printed_ = now;
  open_ = redraw;
}

void ProgressPrinter::Break() {
  if (open_) std::fprintf(stderr, "\n");
  open_ = false;
}

std::string Counted(int64_t n, const std::string& noun) {
  return std::to_string(n) + " " + noun + (n == 1 ? "" : "s");
}

std::string IdenticalNote(int trials, const std::vector<int64_t>& sweeps, bool reuse) {
  if (trials <= 0) return "";
  std::string which = sweeps.size() == 1 ? "sweep " : "sweeps ";
  for (size_t i = 0; i < sweeps.size(); ++i) {
    which += (i ? ", " : "") + std::to_string(sweeps[i]);
  }
  const std::string n =
      std::to_string(trials) + (trials == 1 ? " of its trials matches a finished trial of "
                                            : " of its trials match finished trials of ");
  const std::string results = trials == 1 ? "its result" : "their results";
  if (reuse) {
    return n + which + ": " + results + (trials == 1 ? " is" : " are") +
           " copied instead of trained (--reuse)";
  }
  return n + which + "; pass --reuse to copy " + results + " instead of training again";
}

const char* StatusText(pb::TrialStatus s) { return TrialStatusText(s); }

void PrintLeaderboard(const pb::GetLeaderboardResponse& lb, const std::string& format) {
  const std::vector<std::string> keys = VaryingKeys(lb);
  // The sweep's metric ("" from a coordinator that predates the field) gets a column named after
  // it unless the accuracy columns already show it.
  const std::string& metric = lb.metric_name();
  const bool metric_column =
      !metric.empty() && metric != "val_accuracy" && metric != "test_accuracy";
  if (format == "json") {
    PrintLeaderboardJson(lb);
    return;
  }
  if (format == "csv") {
    PrintLeaderboardCsv(lb, keys, metric_column);
    return;
  }
  PrintLeaderboardTable(lb, keys, metric_column);
}

void PrintStatus(const pb::GetStatusResponse& resp, bool workers) {
  // "best" is each sweep's own metric, named in the last column (best_val_accuracy carries it,
  // from old coordinators too, which send no metric_name: theirs was val_accuracy).
  // pruned (early_terminate) is counted apart from stopped (cancel).
  std::printf("%-6s %-24s %-10s %7s %7s %9s %6s %7s %6s %6s %9s  %s\n", "sweep", "name", "state",
              "queued", "running", "completed", "failed", "stopped", "pruned", "total", "best",
              "metric");
  for (const auto& s : resp.sweeps()) {
    const std::string metric = s.metric_name().empty()
                                   ? "val_accuracy"
                                   : Objective(s.metric_name(), s.maximize()).DisplayName();
    std::printf("%-6lld %-24s %-10s %7d %7d %9d %6d %7d %6d %6d %9s  %s\n",
                static_cast<long long>(s.sweep_id()), s.name().c_str(), s.state().c_str(),
                // Trials a sampler has yet to propose (method: bayes) wait as queued ones do.
                QueuedCount(s), s.running(), s.completed(), s.failed(), s.stopped(),
                s.pruned(), s.total(),
                Objective(s.metric_name().empty() ? "val_accuracy" : s.metric_name()).Has(
                    s.best_val_accuracy())
                    ? Fixed4(s.best_val_accuracy()).c_str()
                    : "-",
                metric.c_str());
    if (!s.waiting().empty()) std::printf("       waiting: %s\n", s.waiting().c_str());
    if (!s.warm_start().empty()) std::printf("       warm start: %s\n", s.warm_start().c_str());
    if (!s.population().empty()) std::printf("       population: %s\n", s.population().c_str());
    if (s.extended_to() > 0) {
      std::printf("       extended to %d trials (hpsweep extend; the file says %d)\n",
                  s.extended_to(), s.file_max_trials());
    }
    if (!s.objectives().empty()) {
      std::printf("       front: %s on the first front of %s (hpsweep leaderboard shows it)\n",
                  Counted(s.front_size(), "trial").c_str(), s.objectives().c_str());
    }
    if (!s.constraints().empty()) {
      std::printf("       constraints: %s; %s break one (ranked last)\n",
                  s.constraints().c_str(), Counted(s.infeasible(), "trial").c_str());
    }
    if (s.passed_over_invalid() + s.passed_over_tried() > 0) {
      std::printf("       passed over: %d candidates (%d invalid: a config check or limit refused "
                  "them; %d tried already)\n",
                  s.passed_over_invalid() + s.passed_over_tried(), s.passed_over_invalid(),
                  s.passed_over_tried());
      if (!s.passed_over_reason().empty()) {
        std::printf("       last refused: %s\n", EscapeText(s.passed_over_reason()).c_str());
      }
    }
  }
  if (workers) std::printf("workers alive: %d\n", resp.workers_alive());
  for (const auto& q : resp.quarantined()) {
    std::printf("worker %s quarantined: %s (lift with: hpsweep workers --release %s)\n",
                EscapeText(q.name()).c_str(), EscapeText(q.quarantine()).c_str(),
                EscapeText(q.name()).c_str());
  }
}

void PrintWorkers(const pb::ListWorkersResponse& resp, const std::string& format) {
  if (format == "json") {
    json rows = json::array();
    for (const auto& w : resp.workers()) {
      json row = {{"worker_id", w.worker_id()},
                  {"name", w.name()},
                  {"host", w.host()},
                  {"threads", w.threads()},
                  {"precision", w.precision()},  // "bf16" or "fp32"; "" from an older coordinator
                  {"job_id", w.job_id()},
                  {"state", w.state()},
                  {"first_seen", w.first_seen()},
                  {"last_seen", w.last_seen()},
                  {"seconds_since_heard", std::max(0.0, resp.now() - w.last_seen())},
                  {"trials_done", w.trials_done()},
                  {"trials_failed", w.trials_failed()},
                  {"programs", std::vector<std::string>(w.programs().begin(), w.programs().end())},
                  {"quarantine", w.quarantine()}};  // "" when not quarantined
      if (!w.quarantine().empty()) row["quarantined_at"] = w.quarantined_at();
      if (IsTraining(w)) {
        row["sweep_id"] = w.sweep_id();
        row["trial_id"] = w.trial_id();
        row["trial"] = w.trial_number();
        row["epoch"] = w.epoch();
      }
      rows.push_back(row);
    }
    json out = {{"now", resp.now()}, {"lease_seconds", resp.lease_seconds()}, {"workers", rows}};
    std::cout << out.dump(1, ' ', false, json::error_handler_t::replace) << "\n";
    return;
  }
  const std::vector<std::string> header = {"id",    "name",       "host", "threads",
                                           "precision", "job", "state",      "last heard",
                                           "done",  "failed",     "programs"};
  std::vector<std::vector<std::string>> rows;
  int alive = 0;
  for (const auto& w : resp.workers()) {
    std::string state = w.state();
    if (IsTraining(w)) {
      state = "training trial #" + std::to_string(w.trial_number()) + " epoch " +
              std::to_string(w.epoch()) + " (sweep " + std::to_string(w.sweep_id()) + ")";
    }
    alive += !IsGone(w);
    std::string programs;  // what it offers (docs/programs.md); "-" for none
    for (const std::string& p : w.programs()) programs += (programs.empty() ? "" : ",") + p;
    rows.push_back({std::to_string(w.worker_id()), EscapeText(w.name()), EscapeText(w.host()),
                    std::to_string(w.threads()),
                    // the path its CPU runs: bf16 takes precision: bf16 trials, fp32 never does
                    w.precision().empty() ? "-" : EscapeText(w.precision()),
                    w.job_id().empty() ? "-" : EscapeText(w.job_id()),
                    state, Ago(resp.now() - w.last_seen()), std::to_string(w.trials_done()),
                    std::to_string(w.trials_failed()), programs.empty() ? "-" : programs});
  }
  std::vector<size_t> width(header.size());
  for (size_t c = 0; c < header.size(); ++c) {
    width[c] = header[c].size();
    for (const auto& row : rows) width[c] = std::max(width[c], row[c].size());
  }
  auto print_row = [&](const std::vector<std::string>& row) {
    std::string line;
    for (size_t c = 0; c < row.size(); ++c) {
      line += (c ? "  " : "") + row[c] + std::string(width[c] - row[c].size(), ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    std::cout << line << "\n";
  };
  print_row(header);
  for (const auto& row : rows) print_row(row);
  std::cout << alive << " alive, " << resp.workers_size() - alive
            << " gone (not heard from within the lease period of " << Duration(resp.lease_seconds())
            << ")\n";
  for (const auto& w : resp.workers()) {
    if (w.quarantine().empty()) continue;
    std::cout << "quarantined " << EscapeText(w.name()) << " " << Ago(resp.now() - w.quarantined_at())
              << ": " << EscapeText(w.quarantine()) << " (lift with: hpsweep workers --release "
              << EscapeText(w.name()) << ")\n";
  }
}

}  // namespace hpsweep
