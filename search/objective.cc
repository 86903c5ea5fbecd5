#include "search/objective.h"

#include <cctype>
#include <cmath>
#include <limits>

#include "search/domain.h"

namespace hpsweep {

bool IsMetricName(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool letter = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
    const bool other = (c >= '0' && c <= '9') || c == '.' || c == '-';
    if (!letter && (i == 0 || !other)) return false;
  }
  return true;
}

bool IsRegressionMetric(std::string_view name) {
  return name == "val_mse" || name == "val_mae" || name == "test_mse" || name == "test_mae";
}

bool IsRegressionEpochMetric(std::string_view name) {
  return name == "val_mse" || name == "val_mae";
}

std::string Objective::DisplayName() const { return metric_ + (maximize_ ? " (max)" : " (min)"); }

bool Objective::HasValue(double v) { return std::isfinite(v) && v >= 0; }

bool Objective::Has(double v) const { return named_ ? std::isfinite(v) : HasValue(v); }

double Objective::Score(double v) const {
  if (!Has(v)) return -std::numeric_limits<double>::infinity();
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
  if (named_) return std::isfinite(t.metric_value) ? t.metric_value : kNoMetric;
  return ValueOf(t.best_val_accuracy, t.best_val_loss, t.test_accuracy, t.test_loss);
}

double Objective::EpochValue(const EpochRow& e) const {
  if (!named_) return EpochValue(e.val_accuracy, e.val_loss);
  auto it = e.metrics.find(metric_);
  return it == e.metrics.end() ? kNoMetric : it->second;
}

Objective Objective::ForEpochs() const {
  if (metric_ == "test_mse") return Objective("val_mse", false);
  if (metric_ == "test_mae") return Objective("val_mae", false);
  if (named_) return *this;
  if (metric_ == "val_loss" || metric_ == "test_loss") return Objective("val_loss", false);
  return Objective("val_accuracy", true);
}

}  // namespace hpsweep
