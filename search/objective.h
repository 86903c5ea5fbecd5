// Objective: the one rule that ranks the trials of a sweep, from its sweep file's
// `metric: {name: ..., goal: maximize|minimize}`. Every view (the scheduler's leaderboard and
// "best" per sweep, the best epoch of a trial, `hpsweep leaderboard`, `report`, `status`, the
// progress line, `--trial best`) asks this type, so they cannot disagree about the direction.
//
// A metric value below 0 or NaN means "not measured yet" (the -1 of TrialRow, a NULL column): it
// scores -infinity, so such a trial ranks last, never first, and NaN never wins. Ties are broken by
// the trial number, lower first. A value type: copyable, no state, thread-compatible.
//
// A program's metric (docs/programs.md): any other name the sweep file gives (IsMetricName). Its
// values are any finite numbers, negative ones too; only NaN means "not measured". A trial's
// value is TrialRow::metric_value, an epoch's its EpochRow::metrics entry, and the best epoch is
// picked by the metric itself.
#ifndef HPSWEEP_SEARCH_OBJECTIVE_H_
#define HPSWEEP_SEARCH_OBJECTIVE_H_

#include <string>
#include <string_view>

namespace hpsweep {

struct TrialRow;

struct EpochRow;

// [A-Za-z_][A-Za-z0-9_.-]{0,63}: what a program's metric may be called.
bool IsMetricName(std::string_view name);

// The metrics of an engine trial with task: regression (README.md, "Regression"): val_mse and
// val_mae each epoch, test_mse and test_mae after training. They travel and are stored as a
// program's named metrics do (EpochRow::metrics, TrialRow::final_metrics, metric_value), so
// every view ranks them through the named path below; all are minimised.
bool IsRegressionMetric(std::string_view name);
// val_mse and val_mae: an epoch's (the others are the test pass's).
bool IsRegressionEpochMetric(std::string_view name);

class Objective {
 public:
  // metric: val_accuracy, val_loss, test_accuracy or test_loss (the sweep file checks the name;
  // an unknown one here gives every trial no value, so all tie and rank by number).
  Objective(std::string metric = "val_accuracy", bool maximize = true)
      : metric_(std::move(metric)), maximize_(maximize), named_(IsNamed(metric_)) {}
  static bool IsNamed(const std::string& metric) {
    return metric != "val_accuracy" && metric != "val_loss" && metric != "test_accuracy" &&
           metric != "test_loss";
  }

  const std::string& metric() const { return metric_; }
  bool maximize() const { return maximize_; }
  // "val_loss (min)", "val_accuracy (max)".
  std::string DisplayName() const;

  // True when v is a measured value of an engine metric (finite and >= 0).
  static bool HasValue(double v);
  // True for a program's metric: a name other than the engine's four.
  bool Named() const { return named_; }
  // True when v is a measured value of this metric: HasValue, or any finite v for a named one.
  bool Has(double v) const;
  // Signed so that larger is better: v when maximizing, -v when minimizing; -infinity when v has
  // no value.
  double Score(double v) const;
  // a strictly better than b. A missing value is never better than anything.
  bool Better(double a, double b) const { return Score(a) > Score(b); }
  // The order of a ranking: (a, trial number na) comes before (b, nb) when a is better, or when
  // they score the same and na < nb.
  bool RanksBefore(double a, int na, double b, int nb) const;

  // The trial's value for this metric: its best epoch's val_accuracy or val_loss, or its
  // test_accuracy or test_loss; -1 when it has none. A named metric's: t.metric_value (NaN
  // when none).
  double ValueOf(double best_val_accuracy, double best_val_loss, double test_accuracy,
                 double test_loss) const;
  double ValueOf(const TrialRow& t) const;

  // The rule that picks a trial's best epoch: val_loss, lowest first, for a loss metric;
  // val_accuracy, highest first, otherwise (test metrics are measured once, after training). A
  // named metric: itself, but val_mse for test_mse and val_mae for test_mae (regression).
  Objective ForEpochs() const;
  // An epoch's value under ForEpochs()'s metric.
  double EpochValue(double val_accuracy, double val_loss) const {
    return metric_ == "val_loss" ? val_loss : val_accuracy;
  }
  // The same for a stored epoch, named metrics included (NaN when it lacks the metric).
  double EpochValue(const EpochRow& e) const;

 private:
  std::string metric_;
  bool maximize_;
  bool named_;
};

}  // namespace hpsweep

#endif  // HPSWEEP_SEARCH_OBJECTIVE_H_
