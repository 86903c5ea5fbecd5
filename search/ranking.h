// SweepRanking: the order of a sweep's trials when its file names several objectives or
// constraints (README.md, "Several objectives"):
//
//   metric: [{name: val_accuracy, goal: maximize}, {name: param_count, goal: minimize}]
//   constraints: {param_count: {max: 100000}, epoch_seconds: {max: 5}}
//
// With one objective and no constraints it is exactly Objective's order (search/objective.h):
// better value first, ties by trial number. Otherwise, as Optuna ranks a multi-objective study
// with constraints_func:
//   1. feasible trials (every constraint holds) before infeasible ones; infeasible ones by their
//      summed violation, smaller first (a constraint not measured yet counts as held);
//   2. among those, by non-dominated front (1 = no trial is at least as good in every objective
//      and better in one); a trial that lacks a value of some objective goes after every front;
//   3. within a front, by crowding distance (NSGA-II; the ends of a front, infinity, first), then
//      by trial number.
// Each objective's value (MeasureOf) is the one a sweep with that metric alone would rank by
// (Objective::ValueOf: the best epoch's val_accuracy or val_loss, the test pass's metrics, a
// program's metric_value for the first objective and its final line's metrics for the others),
// or a measure of the trial: param_count (from its params, engine models), train_seconds (its
// training time) and epoch_seconds (that over its epochs).
//
// Cost: Rank is O(M N^2) for N trials and M objectives (the fronts); a leaderboard of 2,000
// trials takes a few milliseconds.
// A value type: copyable, immutable after construction, safe to share between threads.
#ifndef HPSWEEP_SEARCH_RANKING_H_
#define HPSWEEP_SEARCH_RANKING_H_

#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "search/objective.h"

namespace hpsweep {

struct TrialRow;

// One objective of `metric:` given as a list: its name and goal.
struct ObjectiveSpec {
  std::string name;
  bool maximize = true;
};

// One entry of `constraints:`: the measure must lie in [min, max] (either may be open).
struct ConstraintSpec {
  std::string name;
  double min = -std::numeric_limits<double>::infinity();
  double max = std::numeric_limits<double>::infinity();
};

// Objectives a sweep file may name besides epoch metrics, measured by hpsweep for every trial.
bool IsTrialMeasure(std::string_view name);  // param_count, train_seconds, epoch_seconds
// The parameters of the engine model `params` (a trial's, every config key as text) describe, as
// ParamCount (engine/config.h); -1 when they are not an engine model's (a program's).
int64_t ParamCountOfParams(const std::map<std::string, std::string>& params);

// The constraint on param_count among `constraints`, or nullptr: the one known before training,
// so that a point breaking it is never proposed.
const ConstraintSpec* ParamCountConstraint(const std::vector<ConstraintSpec>& constraints);
// "12,874 parameters, outside constraints.param_count [0, 10000]" when `n` breaks it, else "".
std::string ParamCountBreaks(const ConstraintSpec& c, int64_t n);

class SweepRanking;
// The ranking of a sweep whose file gives `metric` and `maximize`, and `objectives` when its
// metric is a list (else empty), and `constraints`.
SweepRanking MakeRanking(const std::string& metric, bool maximize,
                         const std::vector<ObjectiveSpec>& objectives,
                         const std::vector<ConstraintSpec>& constraints);

class SweepRanking {
 public:
  // objectives: at least one (the first is the sweep's metric, which the pruners and the best
  // epoch follow); constraints may be empty.
  SweepRanking(std::vector<ObjectiveSpec> objectives, std::vector<ConstraintSpec> constraints);
  // The one-objective ranking of `metric` (goal maximize when `maximize`).
  SweepRanking(const std::string& metric, bool maximize)
      : SweepRanking({ObjectiveSpec{metric, maximize}}, {}) {}

  const std::vector<ObjectiveSpec>& objectives() const { return objectives_; }
  const std::vector<ConstraintSpec>& constraints() const { return constraints_; }
  // The first objective: the sweep's metric.
  const Objective& first() const { return first_; }
  // More than one objective: ranked by fronts, and "best" is not one trial.
  bool pareto() const { return objectives_.size() > 1; }
  // pareto() or constraints: not the plain order of the first objective.
  bool ranked_by_fronts() const { return pareto() || !constraints_.empty(); }

  // The trial's value of objective or constraint `name` (see above); NaN when it has none.
  double MeasureOf(const std::string& name, const TrialRow& t) const;
  // Every objective's MeasureOf, in order.
  std::vector<double> ValuesOf(const TrialRow& t) const;
  // How far the trial is outside its constraints: the sum over violated ones of the distance to
  // the bound, relative to the bound's magnitude (at least 1); 0 when all hold.
  double Violation(const TrialRow& t) const;

  // One trial's place in a ranking.
  struct Place {
    size_t index = 0;    // into the rows given to Rank
    int front = 0;       // 1-based; 0 when it lacks an objective's value (ranked last)
    bool feasible = true;
    double crowding = 0;
  };
  // rows, best first, with their fronts. Trials that have no value of the first objective are
  // left out (as the leaderboard leaves them out).
  std::vector<Place> Rank(const std::vector<const TrialRow*>& rows) const;
  std::vector<Place> Rank(const std::vector<TrialRow>& rows) const;

  // Rank's order, but within each feasible front of a two-objective ranking by the hypervolume
  // each trial alone adds (largest first; ties as Rank), against a reference point 10% of each
  // objective's range beyond the worst of the front's trials: the order Optuna's MOTPE picks its
  // good trials in (hypervolume subset selection). A front's ends, first by crowding distance,
  // may add little: the smallest model that learns nothing. More objectives: Rank's order.
  std::vector<Place> RankByContribution(const std::vector<const TrialRow*>& rows) const;

  // "val_accuracy (max), param_count (min)".
  std::string DisplayName() const;
  // "param_count <= 100000, 0.9 <= val_accuracy"; "" when none.
  std::string ConstraintsText() const;

 private:
  std::vector<ObjectiveSpec> objectives_;
  std::vector<ConstraintSpec> constraints_;
  Objective first_;
};

}  // namespace hpsweep

#endif  // HPSWEEP_SEARCH_RANKING_H_
