// Parameter importance for the report: the share of the metric's variance that each parameter's
// main effect explains (fANOVA-style, first order only): group the trials by the parameter's value,
// take the variance of the group means weighted by group size (between-group variance) and divide
// by the metric's total variance. This is eta squared of a one-way ANOVA. A parameter that alone
// decides the metric scores 1; one whose every value has the same mean metric scores 0.
//
// A continuous parameter (random search) has about one trial per value, where every grouping
// "explains" everything: BinLevels folds such values into a few equal-count bins by rank first.
//
// Thread-safety: functions only.
#ifndef HPSWEEP_REPORT_IMPORTANCE_H_
#define HPSWEEP_REPORT_IMPORTANCE_H_

#include <string>
#include <vector>

namespace hpsweep {

// levels[i]: trial i's group (the parameter's value as text); metric[i]: its value of the sweep's
// metric. Trials whose metric is not finite are left out. Returns a number in [0, 1]; 0 when
// fewer than two trials remain or the metric does not vary. levels and metric must be equally long
// (the shorter length is used).
double MainEffectShare(const std::vector<std::string>& levels, const std::vector<double>& metric);

// Numeric values as group labels: as they are when there are at most max_levels distinct values,
// else "bin k of n" by rank into max_levels bins of about equal count (ties share a bin).
std::vector<std::string> BinLevels(const std::vector<double>& values, int max_levels);

}  // namespace hpsweep

#endif  // HPSWEEP_REPORT_IMPORTANCE_H_
