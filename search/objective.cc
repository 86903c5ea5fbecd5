#include "search/objective.h"

#include <cmath>
#include <limits>

#include "search/domain.h"

namespace hpsweep {

std::string Objective::DisplayName() const { return metric_ + (maximize_ ? " (max)" : " (min)"); }

bool Objective::HasValue(double v) { return std::isfinite(v) && v >= 0; }

double Objective::Score(double v) const {
  if (!HasValue(v)) return -std::numeric_limits<double>::infinity();
  return maximize_ ? v : -v;
}

bool Objective::RanksBefore(double a, int na, double b, int nb) const {
  const double sa = Score(a), sb = Score(b);
  if (sa != sb) return sa > sb;
  return na < nb;
}

double Objective::ValueOf(double best_val_accuracy, double best_val_loss, double test_accuracy,
                          double test_loss) const {
  double v = -1;
  if (metric_ == "val_accuracy") v = best_val_accuracy;
  if (metric_ == "val_loss") v = best_val_loss;
  if (metric_ == "test_accuracy") v = test_accuracy;
  if (metric_ == "test_loss") v = test_loss;
  return HasValue(v) ? v : -1;
}

double Objective::ValueOf(const TrialRow& t) const {
  return ValueOf(t.best_val_accuracy, t.best_val_loss, t.test_accuracy, t.test_loss);
}

Objective Objective::ForEpochs() const {
  if (metric_ == "val_loss" || metric_ == "test_loss") return Objective("val_loss", false);
  return Objective("val_accuracy", true);
}

}  // namespace hpsweep
