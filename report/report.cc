// The sweep report (report/report.h): a sweep's export read into a SweepView
// (report/report_internal.h), and the page written section by section; the HTML pieces it is made
// of (charts, tables, style, script) are in report_html.cc.
#include "report/report.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <numeric>
#include <set>
#include <sstream>
#include <vector>

#include "search/objective.h"
#include "search/params_json.h"
#include "engine/model_io.h"
#include "engine/tensor.h"
#include "engine/trainer.h"
#include "report/importance.h"
#include "report/report_internal.h"

namespace hpsweep {
namespace {

using json = nlohmann::json;

// A number of the export, NaN where it holds null (a NaN, as a diverged trial's loss, is written
// as null) or anything else that is not a number: get<double>() would throw.
double Num(const json& v) {
  return v.is_number() ? v.get<double>() : std::numeric_limits<double>::quiet_NaN();
}

// A param's value for ordering and axes: typed as the export has it, or (an older export's text)
// parsed back into a number or list where the text is one.
json Typed(const json& v) {
  if (!v.is_string()) return v;
  json p = json::parse(v.get<std::string>(), nullptr, /*allow_exceptions=*/false);
  if (!p.is_discarded() && (p.is_number() || p.is_array())) return p;
  return v;
}

// The order of param values: numbers numerically (before anything else), lists elementwise
// (then shorter first), the rest by their text. 64 < 128, [0] < [0.2] < [0.2, 0.1].
bool ParamLess(const json& a, const json& b) {
  const bool an = a.is_number(), bn = b.is_number();
  if (an && bn) return a.get<double>() < b.get<double>();
  if (an != bn) return an;
  const bool aa = a.is_array(), ba = b.is_array();
  if (aa && ba) {
    for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
      if (ParamLess(a[i], b[i])) return true;
      if (ParamLess(b[i], a[i])) return false;
    }
    return a.size() < b.size();
  }
  if (aa != ba) return aa;
  return ParamText(a) < ParamText(b);
}

}  // namespace

Status ExportShapeError(const std::string& what) {
  return DataLoss("the sweep's export has an unexpected shape: " + what);
}

// A trial's param as text, "" where the trial lacks it (the items of a list sweep may set
// different keys; operator[] on a const json with a missing key is undefined).
std::string Param(const json& t, const std::string& key) {
  auto p = t.find("params");
  if (p == t.end() || !p->is_object()) return "";
  auto it = p->find(key);
  if (it == p->end()) return "";
  return ParamText(*it);  // typed (a newer coordinator) or text (an older one): the same text
}

json ParamValue(const json& t, const std::string& key) {
  auto p = t.find("params");
  if (p == t.end() || !p->is_object()) return json();
  auto it = p->find(key);
  return it == p->end() ? json() : Typed(*it);
}

// Sorts texts of param values in ParamLess order.
void SortParamTexts(std::vector<std::string>* texts) {
  std::stable_sort(texts->begin(), texts->end(), [](const std::string& x, const std::string& y) {
    return ParamLess(Typed(json(x)), Typed(json(y)));
  });
}

double FieldOf(const json& t, const char* key) {
  auto it = t.find(key);
  return it == t.end() ? -1 : Num(*it);
}

int NumberOf(const json& t) {
  auto it = t.find("number");
  return it != t.end() && it->is_number_integer() ? it->get<int>() : 0;
}

std::string StrOf(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

std::string TrialName(const json& t) {
  auto p = t.find("params");
  if (p != t.end() && p->is_object() && p->contains("label")) return Param(t, "label");
  return "#" + std::to_string(NumberOf(t));
}

std::string MetricText(double v) { return Objective::HasValue(v) ? Fmt("%.4f", v) : "-"; }

std::vector<std::pair<double, double>> Curve(const json& t, const std::string& field) {
  std::vector<std::pair<double, double>> pts;
  auto e = t.find("epochs");
  if (e == t.end() || !e->is_array()) return pts;
  for (const auto& ep : *e) {
    if (!ep.is_object()) continue;
    auto f = ep.find(field);
    auto n = ep.find("epoch");  // find, not operator[]: a const json's missing key is undefined
    if (n == ep.end()) continue;
    pts.push_back({Num(*n), f == ep.end() ? std::nan("") : Num(*f)});
  }
  return pts;
}

namespace {

// The trial's value of the sweep's metric; -1 when it has none (a program's metric, which may be
// any number: NaN).
double ValueOf(const Objective& o, const json& t) {
  if (o.Named()) {
    auto it = t.find("metric_value");
    return it == t.end() || !it->is_number() ? std::nan("") : it->get<double>();
  }
  return o.ValueOf(FieldOf(t, "best_val_accuracy"), FieldOf(t, "best_val_loss"),
                   FieldOf(t, "test_accuracy"), FieldOf(t, "test_loss"));
}

// Keys whose value differs between trials: the swept ones; and those with one value in every
// trial: the sweep's fixed settings (key -> value text).
void SplitKeys(const json& trials, std::vector<std::string>* varying,
               std::map<std::string, std::string>* fixed) {
  std::map<std::string, std::set<std::string>> seen;
  std::map<std::string, size_t> present;
  size_t n = 0;
  for (const auto& t : trials) {
    ++n;
    auto p = t.find("params");
    if (p == t.end() || !p->is_object()) continue;
    for (const auto& [k, v] : p->items()) {
      seen[k].insert(ParamText(v));
      present[k]++;
    }
  }
  for (const auto& [k, vals] : seen) {
    if (vals.size() > 1 || present[k] < n) {
      varying->push_back(k);
    } else {
      (*fixed)[k] = *vals.begin();
    }
  }
}

// The sweep's ranking rule from its export: metric and goal (an export without a goal, from
// before the field existed, takes the metric's natural direction: losses down, the rest up).
Objective ObjectiveOf(const json& sweep) {
  auto m = sweep.find("metric");
  const std::string metric =
      m != sweep.end() && m->is_string() ? m->get<std::string>() : "val_accuracy";
  auto g = sweep.find("goal");
  const bool natural_max = metric.size() < 4 || metric.compare(metric.size() - 4, 4, "loss") != 0;
  const bool maximize =
      g != sweep.end() && g->is_string() ? g->get<std::string>() == "maximize" : natural_max;
  return Objective(metric, maximize);
}

// Every trial of the export, best first by the sweep's Objective: those without a value last,
// ties by trial number.
std::vector<json> Ranked(const json& ex, const Objective& o) {
  std::vector<json> ranked;
  auto trials = ex.find("trials");
  if (trials == ex.end() || !trials->is_array()) return ranked;
  for (const auto& t : *trials) {
    if (t.is_object()) ranked.push_back(t);
  }
  std::stable_sort(ranked.begin(), ranked.end(), [&o](const json& a, const json& b) {
    return o.RanksBefore(ValueOf(o, a), NumberOf(a), ValueOf(o, b), NumberOf(b));
  });
  // Several objectives or constraints: the export's rank (front, then crowding distance;
  // search/ranking.h) decides, unranked trials after in the order above.
  auto rank_of = [](const json& t) {
    auto r = t.find("rank");
    return r != t.end() && r->is_number_integer() ? r->get<int64_t>() : INT64_MAX;
  };
  std::stable_sort(ranked.begin(), ranked.end(),
                   [&](const json& a, const json& b) { return rank_of(a) < rank_of(b); });
  return ranked;
}

SweepView ViewOf(const json& ex) {
  SweepView v;
  v.sweep = ex.at("sweep");
  v.objective = ObjectiveOf(v.sweep);
  v.ranked = Ranked(ex, v.objective);
  for (const auto& t : v.ranked) v.values.push_back(ValueOf(v.objective, t));
  SplitKeys(ex.at("trials"), &v.keys, &v.fixed);
  return v;
}

// The values importance compares (report/importance.h): trials measured on the same budget.
// The completed trials' values when at least kMinCompletedForImportance completed; else every
// trial's value at epoch 1, which each trial with a value reached (a sweep whose trials were
// mostly pruned). A trial's best value before it was pruned at epoch 1 is not comparable with
// another's after 9 epochs. values[i] is for v.ranked[i]; NaN where not compared.
struct ComparedValues {
  std::vector<double> values;
  std::string basis;  // what the section says it computed on
};

ComparedValues CompareValues(const SweepView& v) {
  ComparedValues c;
  c.values.assign(v.ranked.size(), std::nan(""));
  int completed = 0;
  for (size_t i = 0; i < v.ranked.size(); ++i) {
    if (v.objective.Has(v.values[i]) && StrOf(v.ranked[i], "status") == "completed") {
      c.values[i] = v.values[i];
      ++completed;
    }
  }
  if (completed >= kMinCompletedForImportance) {
    c.basis = "the " + std::to_string(completed) + " completed trials' values (pruned and " +
              "stopped ones trained less and are left out)";
    return c;
  }
  int counted = 0;
  for (size_t i = 0; i < v.ranked.size(); ++i) {
    c.values[i] = std::nan("");
    for (const auto& [epoch, value] : Curve(v.ranked[i], v.EpochField())) {
      if (epoch == 1 && std::isfinite(value)) c.values[i] = value, ++counted;
    }
  }
  c.basis = "every trial's value at epoch 1 (" + std::to_string(counted) +
            " trials; fewer than " + std::to_string(kMinCompletedForImportance) +
            " completed, so their final values are not compared)";
  return c;
}

// Each varying parameter's importance (report/importance.h), largest first: its share of the
// parameters' summed main effects (the shares sum to 1, as Optuna's importances do; 0 each when
// none explains anything) and its main effect alone (eta squared).
struct Importance {
  std::string key;
  double share = 0, alone = 0;
};

// BinLevels of the values that are numbers, "-" for NaN: a trial without the parameter (a
// conditional one whose condition did not hold) is a level of its own.
std::vector<std::string> BinPresentLevels(const std::vector<double>& numbers) {
  std::vector<double> present;
  for (double x : numbers) {
    if (!std::isnan(x)) present.push_back(x);
  }
  const std::vector<std::string> bins = BinLevels(present, kImportanceBins);
  std::vector<std::string> out;
  size_t j = 0;
  for (double x : numbers) out.push_back(std::isnan(x) ? "-" : bins[j++]);
  return out;
}

std::vector<Importance> Importances(const SweepView& v, const ComparedValues& c) {
  std::vector<Importance> out;
  double total = 0;
  for (const auto& k : v.keys) {
    std::vector<double> metric;
    std::vector<std::string> levels;
    std::vector<double> numbers;
    bool numeric = true;
    for (size_t i = 0; i < v.ranked.size(); ++i) {
      if (!std::isfinite(c.values[i])) continue;
      metric.push_back(c.values[i]);
      levels.push_back(Param(v.ranked[i], k));
      const json pv = ParamValue(v.ranked[i], k);
      numeric = numeric && (pv.is_number() || pv.is_null());  // null: the trial lacks it
      numbers.push_back(pv.is_number() ? pv.get<double>() : std::nan(""));
    }
    if (numeric) levels = BinPresentLevels(numbers);
    Importance imp;
    imp.key = k;
    imp.alone = MainEffectShare(levels, metric);
    total += imp.alone;
    out.push_back(imp);
  }
  for (Importance& imp : out) imp.share = total > 0 ? imp.alone / total : 0;
  std::stable_sort(out.begin(), out.end(),
                   [](const Importance& a, const Importance& b) { return a.share > b.share; });
  return out;
}

StatusOr<json> ParseExport(const std::string& export_json) {
  json ex = json::parse(export_json, nullptr, /*allow_exceptions=*/false);
  if (ex.is_discarded()) return InvalidArgument("export is not JSON");
  if (!ex.is_object() || !ex["sweep"].is_object() || !ex["trials"].is_array()) {
    return ExportShapeError("no sweep object or trials array");
  }
  // The pages read the sweep's id with get<int64_t>(), which converts any number: a fraction
  // truncated, one out of range undefined.
  auto id = ex["sweep"].find("id");
  if (id != ex["sweep"].end() && !id->is_number_integer()) {
    return ExportShapeError("the sweep's 'id' is not an integer");
  }
  return ex;
}

// The per-epoch metric of the top trials overlaid.
std::string TopCurves(const SweepView& v) {
  std::vector<Series> top;
  for (size_t i = 0; i < v.ranked.size() && top.size() < kMaxOverlay; ++i) {
    if (!v.objective.Has(v.values[i])) continue;
    top.push_back({TrialName(v.ranked[i]), v.Tip(i), Curve(v.ranked[i], v.EpochField())});
  }
  return LineChart(top, v.EpochField(), 640, 280);
}

// What the sweep ranks by: its metric, or its objectives' fronts ("front of val_accuracy (max),
// param_count (min), then crowding distance") and its constraints.
std::string RankedByText(const SweepView& v) {
  std::string s = v.objective.DisplayName();
  auto objectives = v.sweep.find("objectives");
  if (objectives != v.sweep.end() && objectives->is_array() && objectives->size() > 1) {
    s = "front of";
    for (const json& o : *objectives) {
      s += std::string(s.size() > 8 ? ", " : " ") + StrOf(o, "name") +
           (StrOf(o, "goal") == "maximize" ? " (max)" : " (min)");
    }
    s += ", then crowding distance";
  }
  auto constraints = v.sweep.find("constraints");
  if (constraints != v.sweep.end() && constraints->is_array() && !constraints->empty()) {
    s += "; infeasible trials (outside constraints on";
    for (const json& c : *constraints) s += " " + StrOf(c, "name");
    s += ") last";
  }
  return s;
}

// The sweep's title, description and best trial (the first of several objectives' ranking).
std::string HeadingSection(const SweepView& v, const std::string& name) {
  const std::vector<json>& ranked = v.ranked;
  std::ostringstream o;
  o << "<h1>Sweep " << v.sweep.at("id").get<int64_t>() << ": " << Esc(name) << "</h1><p>"
    << Esc(StrOf(v.sweep, "description")) << "</p><p>" << ranked.size() << " trials, state "
    << Esc(StrOf(v.sweep, "state"));
  if (v.sweep.contains("extended_to") && v.sweep["extended_to"].is_number_integer()) {
    o << ", extended to " << v.sweep["extended_to"].get<int64_t>() << " trials";
  }
  o << ", ranked by " << Esc(RankedByText(v)) << ".</p>";
  if (!ranked.empty() && v.objective.Has(v.values[0])) {
    o << "<p>" << (v.sweep.contains("objectives") ? "First" : "Best") << ": <b>"
      << Esc(v.Tip(0)) << "</b></p>";
  }
  return o.str();
}

// Early stopping: which rule, how many trials it pruned and the epochs that saved; "" without it.
std::string EarlyStoppingNote(const SweepView& v, const json& trials) {
  std::ostringstream o;
  if (const std::string early = StrOf(v.sweep, "early_terminate"); !early.empty()) {
    int pruned = 0;
    int64_t trained = 0, full = 0;
    for (const auto& t : trials) {
      const std::string status = StrOf(t, "status");
      if (status == "queued") continue;
      pruned += status == "pruned";
      trained += t.contains("epochs") && t["epochs"].is_array()
                     ? static_cast<int64_t>(t["epochs"].size())
                     : 0;
      // Bounded as engine/config.cc bounds a trial's epochs, so that the sum cannot overflow.
      const std::string e = Param(t, "epochs");
      full += e.empty() ? 1 : std::clamp<int64_t>(std::strtoll(e.c_str(), nullptr, 10), 0, 10000);
    }
    o << "<p>Early stopping: " << Esc(early) << ". " << pruned
      << " trials pruned (each stopped after the epoch shown in its status); " << trained
      << " epochs trained of the " << full << " that running every started trial to its end "
      << "would take.</p>";
  }
  return o.str();
}

std::string SettingsSection(const SweepView& v) {
  std::ostringstream o;
  o << "<h2 id=\"settings-h\">Settings</h2><p>What every trial shares: the sweep file's fixed "
       "settings and the sweep's own.</p>"
    << Settings(v);
  return o.str();
}

std::string LeaderboardSection(const SweepView& v) {
  std::ostringstream o;
  o << "<h2 id=\"leaderboard\">Leaderboard</h2><p class=\"note\">Click a header to sort.</p>"
    << Leaderboard(v, kMaxTableRows, "leaderboard-table");
  return o.str();
}

// True when the points hold two different finite values (an lr that moves).
bool Changes(const std::vector<std::pair<double, double>>& pts) {
  double first = std::nan("");
  for (const auto& p : pts) {
    if (!std::isfinite(p.second)) continue;
    if (std::isnan(first)) first = p.second;
    if (p.second != first) return true;
  }
  return false;
}

// Curves: the top trials overlaid, then the best trials one by one (and the learning rate of
// each epoch where it changes: a schedule's).
std::string CurvesSection(const SweepView& v) {
  const std::vector<json>& ranked = v.ranked;
  std::ostringstream o;
  o << "<h2 id=\"curves\">Accuracy and loss per epoch</h2><p>The top " << kMaxOverlay << " trials, "
    << v.EpochField() << " overlaid:</p>" << TopCurves(v);
  o << "<p>The best " << std::min(kMaxDetail, ranked.size()) << " of " << ranked.size()
    << " trials: accuracy (train, val) and loss (train, val); curves of more than " << kMaxPoints
    << " epochs are downsampled; a trial whose learning rate changes shows it too.</p>"
       "<div class=\"grid\">";
  for (size_t i = 0; i < ranked.size() && i < kMaxDetail; ++i) {
    const json& t = ranked[i];
    o << "<div class=\"cell\"><b>" << Esc(TrialName(t)) << "</b><br>"
      << LineChart({{"train", v.Tip(i), Curve(t, "train_accuracy")},
                    {"val", v.Tip(i), Curve(t, "val_accuracy")}},
                   "accuracy", 260, 160)
      << LineChart(
             {{"train", v.Tip(i), Curve(t, "train_loss")}, {"val", v.Tip(i), Curve(t, "val_loss")}},
             "loss", 260, 160);
    const std::vector<std::pair<double, double>> lr = Curve(t, "lr");
    if (Changes(lr)) o << LineChart({{"lr", v.Tip(i), lr}}, "learning rate", 260, 160);
    o << "</div>";
  }
  o << "</div>";
  return o.str();
}

std::string ParallelSection(const SweepView& v) {
  const Objective& objective = v.objective;
  std::ostringstream o;
  o << "<h2 id=\"parallel\">Hyperparameters against " << Esc(objective.metric())
    << "</h2><p class=\"note\">Drag along an axis to keep the trials in that range (the "
       "leaderboard dims the others); click an axis to clear it. Numeric parameters sit on "
       "numeric axes, log where they span more than a decade. <span id=\"brush-count\"></span>"
       "</p>"
    << ParallelCoordinates(v);
  return o.str();
}

std::string ScatterSection(const SweepView& v) {
  const Objective& objective = v.objective;
  const std::vector<std::string>& keys = v.keys;
  std::ostringstream o;
  o << "<h2 id=\"scatter\">Each hyperparameter against " << Esc(objective.metric())
    << "</h2><div class=\"grid\">";
  for (const auto& k : keys) o << Scatter(v, k);
  o << "</div>";
  return o.str();
}

std::string ImportanceSection(const SweepView& v) {
  const Objective& objective = v.objective;
  const ComparedValues compared = CompareValues(v);
  std::ostringstream o;
  o << "<h2 id=\"importance\">Parameter importance</h2><p>fANOVA-style main effects of "
    << Esc(objective.metric()) << ", computed on " << Esc(compared.basis)
    << ". Alone: the share of the metric's variance the parameter explains by itself (the "
       "between-group variance of the per-value means over the total variance, eta squared; a "
       "numeric parameter with more than "
    << kImportanceBins << " values is grouped into " << kImportanceBins
    << " equal-count bins). Share: its part of the parameters' summed effects, so the shares "
       "sum to 1. Interactions are not counted.</p><table id=\"importance-table\"><tr><th "
       "class=\"l\">parameter</th><th>share</th><th>alone</th><th class=\"l\"></th></tr>";
  for (const Importance& imp : Importances(v, compared)) {
    o << "<tr><td class=\"l\">" << Esc(imp.key) << "</td><td>" << Fmt("%.3f", imp.share)
      << "</td><td>" << Fmt("%.3f", imp.alone)
      << "</td><td class=\"l\"><span class=\"bar\" style=\"width:"
      << static_cast<int>(std::lround(2 + 298 * imp.share)) << "px\"></span></td></tr>";
  }
  o << "</table>";
  return o.str();
}

// The trials with a value grouped by parameter k, and the groups' order. A numeric parameter
// with more than kImportanceBins values (a distribution's draws, about one trial each) is grouped
// into that many equal-count bins, as importance groups it, each named by its range "lo to hi"
// and ordered by it; other values are groups of their own, in SortParamTexts' order.
void EffectGroups(const SweepView& v, const std::string& k,
                  std::map<std::string, std::vector<double>>* groups,
                  std::vector<std::string>* order) {
  std::vector<size_t> rows;
  std::vector<double> numbers;
  bool numeric = true;
  for (size_t i = 0; i < v.ranked.size(); ++i) {
    if (!v.objective.Has(v.values[i])) continue;
    const json pv = ParamValue(v.ranked[i], k);
    if (pv.is_null()) {  // a conditional parameter the trial lacks: the group "-", last
      if (!groups->count("-")) order->push_back("-");
      (*groups)["-"].push_back(v.values[i]);
      continue;
    }
    rows.push_back(i);
    numeric = numeric && pv.is_number();
    numbers.push_back(pv.is_number() ? pv.get<double>() : 0);
  }
  const std::vector<std::string> bins =
      numeric ? BinLevels(numbers, kImportanceBins) : std::vector<std::string>();
  const bool binned = numeric && std::set<std::string>(bins.begin(), bins.end()).size() <
                                     std::set<double>(numbers.begin(), numbers.end()).size();
  const bool absent = !order->empty();  // "-", kept last
  if (!binned) {
    for (size_t i : rows) (*groups)[Param(v.ranked[i], k)].push_back(v.values[i]);
    order->clear();
    for (const auto& g : *groups) {
      if (!absent || g.first != "-") order->push_back(g.first);
    }
    SortParamTexts(order);
    if (absent) order->push_back("-");
    return;
  }
  std::map<std::string, std::pair<double, double>> range;  // bin -> (lowest, highest) value
  for (size_t j = 0; j < rows.size(); ++j) {
    auto [it, fresh] = range.emplace(bins[j], std::make_pair(numbers[j], numbers[j]));
    if (!fresh) {
      it->second.first = std::min(it->second.first, numbers[j]);
      it->second.second = std::max(it->second.second, numbers[j]);
    }
  }
  std::vector<std::pair<double, std::string>> named;  // (lowest, name)
  std::map<std::string, std::string> name_of;
  for (const auto& [bin, r] : range) {
    name_of[bin] = Fmt("%.4g", r.first) + " to " + Fmt("%.4g", r.second);
    named.push_back({r.first, name_of[bin]});
  }
  for (size_t j = 0; j < rows.size(); ++j) (*groups)[name_of[bins[j]]].push_back(v.values[rows[j]]);
  std::sort(named.begin(), named.end());
  order->clear();
  for (const auto& n : named) order->push_back(n.second);
  if (absent) order->push_back("-");
}

// The metric of the trials grouped by each hyperparameter's value: a table per hyperparameter.
std::string EffectsSection(const SweepView& v) {
  const Objective& objective = v.objective;
  const std::vector<std::string>& keys = v.keys;
  std::ostringstream o;
  const auto [lo, hi] = MetricRange(v);
  o << "<h2 id=\"effects\">The effect of each hyperparameter</h2><p>" << Esc(objective.metric())
    << " of the trials grouped by one hyperparameter's value (the others vary within each "
       "group). Bars: the group's mean from the worst trial's value ("
    << Fmt("%.4g", v.objective.maximize() ? lo : hi) << ", shortest) to the best's ("
    << Fmt("%.4g", v.objective.maximize() ? hi : lo) << ", longest).</p>";
  for (const auto& k : keys) {
    std::map<std::string, std::vector<double>> groups;
    std::vector<std::string> order;
    EffectGroups(v, k, &groups, &order);
    o << "<table class=\"effect\"><tr><th class=\"l\">" << Esc(k)
      << "</th><th>trials</th><th>mean</th><th>best</th><th class=\"l\"></th></tr>";
    for (const auto& val : order) {
      const std::vector<double>& xs = groups[val];
      const double mean = std::accumulate(xs.begin(), xs.end(), 0.0) / xs.size();
      double best = xs[0];
      for (double x : xs)
        if (objective.Better(x, best)) best = x;
      o << "<tr><td class=\"l\">" << Esc(val) << "</td><td>" << xs.size() << "</td><td>"
        << Fmt("%.4f", mean) << "</td><td>" << Fmt("%.4f", best)
        << "</td><td class=\"l\"><span class=\"bar\" style=\"width:"
        << static_cast<int>(std::lround(4 + 296 * Goodness(objective, mean, lo, hi)))
        << "px\"></span></td></tr>";
    }
    o << "</table>";
  }
  return o.str();
}

// The data-set analysis (DataReportHtml), noting where the trials validate on the test set.
std::string DataSection(const SweepView& v, const Mnist* data) {
  const std::vector<json>& ranked = v.ranked;
  // The data the sweep's trials use: its train_limit and validation_split (the best trial's,
  // the same in every trial when the sweep file fixes them; TrialConfig's defaults otherwise).
  TrialConfig defaults;
  double split = defaults.train.validation_split;
  int64_t limit = defaults.train.train_limit;
  if (!ranked.empty()) {
    const json s = ParamValue(ranked[0], "validation_split");
    if (s.is_number()) split = std::clamp(s.get<double>(), 0.0, 0.99);
    const json l = ParamValue(ranked[0], "train_limit");
    if (l.is_number()) limit = std::max<int64_t>(0, static_cast<int64_t>(l.get<double>()));
  }
  std::string section = DataReportHtml(*data, split, limit);
  if (!ranked.empty() && Param(ranked[0], "validation") == "test") {
    section.insert(section.find("</h2>") + 5,
                   "<p class=\"note\">The trials validate on the test set (validation: test), "
                   "not on a split of the training images.</p>");
  }
  return section;
}

StatusOr<std::string> ReportOrThrow(const std::string& export_json, const std::string& best_model,
                                    const Mnist* data) {
  auto parsed = ParseExport(export_json);
  if (!parsed.ok()) return parsed.status();
  const SweepView v = ViewOf(*parsed);
  std::ostringstream o;
  const std::string name = v.sweep.at("name").get<std::string>();
  o << PageHead("hpsweep report: " + name);
  o << HeadingSection(v, name);
  o << EarlyStoppingNote(v, (*parsed)["trials"]);
  o << SettingsSection(v);
  o << LeaderboardSection(v);
  o << FrontSection(v);
  o << PopulationSection(v);
  o << CurvesSection(v);
  // Hyperparameters.
  if (!v.keys.empty()) {
    o << ParallelSection(v);
    o << ScatterSection(v);
    o << ImportanceSection(v);
    o << EffectsSection(v);
  }
  auto best = BestTrialSection(v, best_model, data);
  if (!best.ok()) return best.status();
  o << *best;
  if (data != nullptr) o << DataSection(v, data);
  o << PageTail();
  return o.str();
}

}  // namespace

StatusOr<std::vector<int64_t>> RankedTrialIds(const std::string& export_json) {
  try {
    // Not thrown: a parse error's message quotes the bytes it stopped at, which may be invalid
    // UTF-8.
    const json ex = json::parse(export_json, nullptr, /*allow_exceptions=*/false);
    if (ex.is_discarded()) return InvalidArgument("export is not JSON");
    const Objective o = ObjectiveOf(ex.at("sweep"));
    std::vector<int64_t> ids;
    for (const json& t : Ranked(ex, o)) {
      if (!o.Has(ValueOf(o, t))) continue;
      const json& id = t.at("id");
      if (!id.is_number_integer()) {  // get<int64_t>() of one out of range is undefined
        return ExportShapeError("a trial's 'id' is not an integer");
      }
      ids.push_back(id.get<int64_t>());
    }
    return ids;
  } catch (const json::exception& e) {
    return ExportShapeError(e.what());
  }
}

StatusOr<std::string> SweepReportHtml(const std::string& export_json, const std::string& best_model,
                                      const Mnist* data) {
  // The export comes from a database file or over the network: a field of the wrong type is a
  // refused input, never an exception that ends the process.
  try {
    return ReportOrThrow(export_json, best_model, data);
  } catch (const json::exception& e) {
    return ExportShapeError(e.what());
  }
}

StatusOr<std::string> CompareReportHtml(const std::vector<std::string>& export_jsons) {
  if (export_jsons.size() < 2 || export_jsons.size() > kMaxComparedSweeps) {
    return InvalidArgument("compare: between 2 and " + std::to_string(kMaxComparedSweeps) +
                           " sweeps, got " + std::to_string(export_jsons.size()));
  }
  try {
    std::vector<SweepView> views;
    for (const auto& text : export_jsons) {
      auto ex = ParseExport(text);
      if (!ex.ok()) return ex.status();
      views.push_back(ViewOf(*ex));
    }
    std::ostringstream o;
    std::string title = "hpsweep: compare sweeps";
    for (const auto& v : views) title += " " + std::to_string(v.sweep.at("id").get<int64_t>());
    o << PageHead(title) << "<h1>" << Esc(title.substr(8)) << "</h1>";
    std::set<std::string> metrics;
    for (const auto& v : views) metrics.insert(v.objective.DisplayName());
    if (metrics.size() > 1) {
      o << "<p class=\"note\">The sweeps rank by different metrics; each is ranked by its own.</p>";
    }
    o << "<h2 id=\"best\">Each sweep's best trial</h2><div class=\"sweeps\">";
    for (const auto& v : views) {
      o << "<div class=\"sweep\"><h3>Sweep " << v.sweep.at("id").get<int64_t>() << ": "
        << Esc(StrOf(v.sweep, "name")) << "</h3><p>" << v.ranked.size() << " trials, "
        << Esc(StrOf(v.sweep, "state")) << ", ranked by " << Esc(v.objective.DisplayName())
        << "</p>";
      if (!v.ranked.empty() && v.objective.Has(v.values[0])) {
        o << "<p>Best " << Esc(TrialName(v.ranked[0])) << ": <b>" << Esc(v.objective.metric())
          << " " << MetricText(v.values[0]) << "</b>, test accuracy "
          << MetricText(FieldOf(v.ranked[0], "test_accuracy")) << "</p><table>";
        for (const auto& k : v.keys) {
          o << "<tr><td class=\"l\">" << Esc(k) << "</td><td class=\"l\">"
            << Esc(Param(v.ranked[0], k)) << "</td></tr>";
        }
        o << "</table>";
      } else {
        o << "<p>No trial has a value of the metric yet.</p>";
      }
      o << "<details><summary>settings</summary>" << Settings(v, 1) << "</details></div>";
    }
    o << "</div>";
    // Overlaid curves: one chart per per-epoch metric, each sweep's best trial in it.
    std::map<std::string, std::vector<Series>> charts;
    for (const auto& v : views) {
      if (v.ranked.empty() || !v.objective.Has(v.values[0])) continue;
      charts[v.EpochField()].push_back(
          {"sweep " + std::to_string(v.sweep.at("id").get<int64_t>()) + " " + TrialName(v.ranked[0]),
           "sweep " + std::to_string(v.sweep.at("id").get<int64_t>()) + " " + v.Tip(0),
           Curve(v.ranked[0], v.EpochField())});
    }
    o << "<h2 id=\"curves\">The best trials' curves overlaid</h2>";
    for (const auto& [field, series] : charts) o << LineChart(series, field, 640, 280);
    o << "<h2 id=\"leaderboards\">Leaderboards</h2><p class=\"note\">The best " << kCompareRows
      << " trials of each; click a header to sort.</p>";
    for (size_t i = 0; i < views.size(); ++i) {
      o << "<h3>Sweep " << views[i].sweep.at("id").get<int64_t>() << ": "
        << Esc(StrOf(views[i].sweep, "name")) << "</h3>"
        << Leaderboard(views[i], kCompareRows, "leaderboard-" + std::to_string(i));
    }
    o << PageTail();
    return o.str();
  } catch (const json::exception& e) {
    return DataLoss(std::string("a sweep's export has an unexpected shape: ") + e.what());
  }
}

std::string DataReportPage(const Mnist& data, double validation_split, int64_t train_limit,
                           const std::string& source) {
  return PageHead("hpsweep data report") + "<h1>Data report</h1>" +
         DataReportHtml(data, validation_split, train_limit, source) +
         "<p class=\"note\">Made by hpsweep data-report.</p></body></html>\n";
}

}  // namespace hpsweep
