// Internals of the sweep report (report/report.h), shared by its two files: report.cc reads the
// export (SweepView) and writes the page section by section; report_html.cc holds the HTML
// pieces: escaping, inline images, SVG charts, tables, the page's style and script. Not an API
// for anything outside report/.
//
// Ownership: values only (a SweepView owns its copy of the export's trials). Thread-safety:
// functions only; a SweepView is not changed after ViewOf builds it.
#ifndef HPSWEEP_REPORT_REPORT_INTERNAL_H_
#define HPSWEEP_REPORT_REPORT_INTERNAL_H_

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "base/status.h"
#include "engine/mnist.h"
#include "search/objective.h"

namespace hpsweep {

// Bounds that keep the page small for big sweeps; the page says where it leaves trials out.
constexpr size_t kMaxTableRows = 1000;  // leaderboard rows
constexpr size_t kMaxLines = 500;       // parallel-coordinates lines (the best ones)
constexpr size_t kMaxOverlay = 10;      // curves overlaid in the top-trials chart
constexpr size_t kMaxDetail = 24;       // trials with their own accuracy and loss charts
constexpr size_t kMaxPoints = 200;      // points per curve (epochs downsampled beyond that)
constexpr size_t kMaxScatter = 2000;    // points per scatter plot
constexpr int kImportanceBins = 5;      // continuous parameters: equal-count bins
constexpr int kMinCompletedForImportance = 3;  // else importance compares epoch 1's values
constexpr size_t kCompareRows = 20;     // leaderboard rows per sweep when comparing
constexpr size_t kMaxComparedSweeps = 8;

// Reading a trial of the export (report.cc).

// A trial's param as text, "" where the trial lacks it (the items of a list sweep may set
// different keys; operator[] on a const json with a missing key is undefined).
std::string Param(const nlohmann::json& t, const std::string& key);
// A param's value, typed: a number or list where the export (or its text) has one; null if none.
nlohmann::json ParamValue(const nlohmann::json& t, const std::string& key);
// Sorts texts of param values: numbers numerically first, lists elementwise, the rest as text.
void SortParamTexts(std::vector<std::string>* texts);
// A number field of a trial; -1 when it has none, NaN where it is not a number.
double FieldOf(const nlohmann::json& t, const char* key);
int NumberOf(const nlohmann::json& t);
// A string field; "" when it has none.
std::string StrOf(const nlohmann::json& j, const char* key);
// The trial's label param, else "#number".
std::string TrialName(const nlohmann::json& t);
// A value of the metric with 4 decimals, "-" for none.
std::string MetricText(double v);
// (epoch, value of field) of each of the trial's epochs; NaN where the epoch lacks the field.
std::vector<std::pair<double, double>> Curve(const nlohmann::json& t, const std::string& field);

// One sweep, read from its export: what every section of a report draws from.
struct SweepView {
  nlohmann::json sweep;
  Objective objective;
  std::vector<nlohmann::json> ranked;
  std::vector<double> values;  // the metric of ranked[i]; -1 where none
  std::vector<std::string> keys;
  std::map<std::string, std::string> fixed;

  // "#3 · units=64, lr=0.01 · val_loss 0.2345": what hovering over a trial shows.
  std::string Tip(size_t i) const {
    std::string s = TrialName(ranked[i]);
    std::string ps;
    for (const auto& k : keys) {
      const std::string v = Param(ranked[i], k);
      if (v.empty()) continue;
      ps += (ps.empty() ? "" : ", ") + k + "=" + v;
    }
    if (!ps.empty()) s += " \xC2\xB7 " + ps;
    return s + " \xC2\xB7 " + objective.metric() + " " + MetricText(values[i]) + " \xC2\xB7 " +
           StrOf(ranked[i], "status");
  }
  // The per-epoch value of the metric (val_loss for a loss metric, val_accuracy otherwise).
  std::string EpochField() const {
    if (objective.Named()) return objective.metric();  // a program's, by name in each epoch
    return objective.metric().find("loss") != std::string::npos ? "val_loss" : "val_accuracy";
  }
};

// Writing HTML (report_html.cc).

// A scale from data to pixels: linear, or logarithmic where every value is positive and they span
// more than one decade (learning rates).
struct Scale {
  double lo = 0, hi = 1, p0 = 0, p1 = 1;
  bool log = false;
  static Scale Of(double lo, double hi, double p0, double p1, bool allow_log) {
    Scale s;
    s.log = allow_log && lo > 0 && hi / lo > 10;
    if (s.log) {
      lo = std::log10(lo);
      hi = std::log10(hi);
    }
    if (!(hi > lo)) {
      const double pad = std::fabs(lo) > 0 ? std::fabs(lo) * 0.05 : 0.5;
      lo -= pad;
      hi += pad;
    }
    s.lo = lo;
    s.hi = hi;
    s.p0 = p0;
    s.p1 = p1;
    return s;
  }
  double operator()(double v) const {
    const double x = log ? std::log10(std::max(v, 1e-300)) : v;
    return p0 + (p1 - p0) * (x - lo) / (hi - lo);
  }
  // About five tick values.
  std::vector<double> Ticks() const {
    std::vector<double> t;
    if (log) {
      for (double e = std::ceil(lo - 1e-9); e <= hi + 1e-9; e += 1) t.push_back(std::pow(10, e));
      if (t.size() >= 2) return t;
      t.clear();
      t.push_back(std::pow(10, lo));
      t.push_back(std::pow(10, hi));
      return t;
    }
    for (int k = 0; k <= 4; ++k) t.push_back(lo + (hi - lo) * k / 4);
    return t;
  }
};


std::string Esc(const std::string& s);
// v printed with the printf format f.
std::string Fmt(const char* f, double v);
// A rows x cols image of values in [0, 1] as an inline PNG, its longer side `px` pixels.
std::string ImageTag(const float* pixels, int px, const std::string& title, int rows = 28,
                     int cols = 28);
// The range of the trials' metric values (those that have one).
std::pair<double, double> MetricRange(const SweepView& v);
// How good a value is within [lo, hi]: 0 the worst, 1 the best, in the sweep's direction.
double Goodness(const Objective& o, double v, double lo, double hi);

struct Series {
  std::string name, tip;
  std::vector<std::pair<double, double>> pts;
};

// A line chart of series over epochs; the y range from the data (NaN points skipped).
std::string LineChart(const std::vector<Series>& series, const std::string& ylabel, int w = 300,
                      int h = 180, bool legend = true);
// Parallel coordinates: an axis per varying parameter and one for the metric, a line per trial.
std::string ParallelCoordinates(const SweepView& v);
// One scatter per parameter: its value (numeric or categorical axis) against the metric.
std::string Scatter(const SweepView& v, const std::string& key);
// The leaderboard: every trial (up to max_rows), sortable by a click on a header.
std::string Leaderboard(const SweepView& v, size_t max_rows, const std::string& id);
// The settings every trial shares (the sweep file's fixed ones), and the sweep's own.
std::string Settings(const SweepView& v, int per_row = 4);
// The best trial's confusion matrix and per-class precision, recall and F1 (report_best.cc).
StatusOr<std::string> ConfusionTables(const nlohmann::json& best);
// 100 random test images with the best model's predictions; "" for a model not shaped for MNIST
// (report_best.cc).
StatusOr<std::string> SampleGrid(const std::string& best_model, const Mnist* data);
// The best trial (the first of the ranking) if it has a value of the metric at all: its confusion
// tables and, with its model and the data, the grid; "" if none (report_best.cc).
StatusOr<std::string> BestTrialSection(const SweepView& v, const std::string& best_model,
                                       const Mnist* data);
// A sweep of several objectives: its trials in the plane of the first two, the first front
// joined, dominated ones faded, infeasible ones as red rings (report_front.cc); "" otherwise.
std::string FrontSection(const SweepView& v);
// method: pbt: every member's curve and the best member's schedule (report_pbt.cc); "" for
// other sweeps.
std::string PopulationSection(const SweepView& v);
// The page's head (with its style) and its tail (with its script).
std::string PageHead(const std::string& title);
std::string PageTail();

}  // namespace hpsweep

#endif  // HPSWEEP_REPORT_REPORT_INTERNAL_H_
