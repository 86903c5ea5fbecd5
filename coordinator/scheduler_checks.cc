// What a worker reports, checked before anything changes (see "Input checks" in scheduler.h).
#include <cmath>
#include <cstdio>

#include "coordinator/scheduler.h"
#include "coordinator/scheduler_internal.h"
#include "engine/config.h"
#include "engine/model_io.h"
#include "search/sweep_file.h"

namespace hpsweep {

namespace {

// A number as a message shows it: shortest round-trip form, "nan", "inf".
std::string Num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.17g", v);
  return buf;
}

// Where a message field is: "metrics" (index < 0) or "history[i]". Built only for a refusal.
struct Where {
  const char* name;
  int index;
  std::string Field(const char* field) const {
    return (index < 0 ? std::string(name) : std::string(name) + "[" + std::to_string(index) + "]") +
           "." + field;
  }
};

// InvalidArgument unless lo <= v <= hi (and v is finite).
Status CheckRange(const Where& where, const char* field, double v, double lo, double hi) {
  if (std::isfinite(v) && v >= lo && v <= hi) return Status::Ok();
  return InvalidArgument(where.Field(field) + " is " + Num(v) + "; it must be finite, in [" +
                         Num(lo) + ", " + Num(hi) + "]");
}

// A program's named metrics (an epoch's or the final line's): at most kMaxEpochMetrics, names
// IsMetricName, values finite.
Status CheckNamedMetrics(const std::string& field, const std::map<std::string, double>& m) {
  if (m.size() > kMaxEpochMetrics) {
    return InvalidArgument(field + " has " + std::to_string(m.size()) +
                           " metrics; the limit is " + std::to_string(kMaxEpochMetrics));
  }
  for (const auto& [name, v] : m) {
    if (!IsMetricName(name)) {
      return InvalidArgument(field + " has a metric named '" + EscapeText(name.substr(0, 80)) +
                             "'; a name is [A-Za-z_][A-Za-z0-9_.-]{0,63}");
    }
    if (!std::isfinite(v)) {
      return InvalidArgument(field + "." + name + " is " + Num(v) + "; it must be finite");
    }
  }
  return Status::Ok();
}

// A regression trial's named metrics (an epoch's: val_mse, val_mae; the final ones: test_mse,
// test_mae): only those names, values finite and >= 0.
Status CheckRegressionMetrics(const std::string& field, const std::map<std::string, double>& m,
                              bool epoch) {
  for (const auto& [name, v] : m) {
    if (!IsRegressionMetric(name) || IsRegressionEpochMetric(name) != epoch) {
      return InvalidArgument(field + " has a metric named '" + EscapeText(name.substr(0, 80)) +
                             "'; a regression trial reports " +
                             (epoch ? "val_mse and val_mae" : "test_mse and test_mae"));
    }
    if (!(std::isfinite(v) && v >= 0)) {
      return InvalidArgument(field + "." + name + " is " + Num(v) +
                             "; it must be finite and >= 0");
    }
  }
  return Status::Ok();
}

// The range checks of one epoch's metrics (epoch in 1..max_epochs). A program's epoch may leave
// any of the four fields at -1 (not reported); a regression trial's accuracies are -1.
Status CheckEpochMetrics(const Where& where, const EpochReport& r, int max_epochs,
                         bool program, bool regression) {
  if (r.epoch < 1 || r.epoch > max_epochs) {
    return InvalidArgument(where.Field("epoch") + " is " + std::to_string(r.epoch) +
                           "; it must be in [1, " + std::to_string(max_epochs) +
                           "] (the trial's epochs)");
  }
  if (program) {
    HPSWEEP_RETURN_IF_ERROR(CheckNamedMetrics(where.Field("metrics"), r.metrics));
    if (r.train_loss != -1) {
      HPSWEEP_RETURN_IF_ERROR(CheckRange(where, "train_loss", r.train_loss, 0, HUGE_VAL));
    }
    if (r.val_loss != -1) {
      HPSWEEP_RETURN_IF_ERROR(CheckRange(where, "val_loss", r.val_loss, 0, HUGE_VAL));
    }
    if (r.train_accuracy != -1) {
      HPSWEEP_RETURN_IF_ERROR(CheckRange(where, "train_accuracy", r.train_accuracy, 0, 1));
    }
    if (r.val_accuracy != -1) {
      HPSWEEP_RETURN_IF_ERROR(CheckRange(where, "val_accuracy", r.val_accuracy, 0, 1));
    }
    return CheckRange(where, "seconds", r.seconds, 0, kMaxSeconds);
  }
  if (regression) {
    HPSWEEP_RETURN_IF_ERROR(CheckRegressionMetrics(where.Field("metrics"), r.metrics, true));
    if (r.train_accuracy != -1 || r.val_accuracy != -1) {
      return InvalidArgument(where.Field("val_accuracy") + " or train_accuracy is set; a "
                             "regression trial has no accuracy (-1)");
    }
  } else if (!r.metrics.empty()) {
    return InvalidArgument(where.Field("metrics") + " is set; named metrics are for a program's "
                           "trials only");
  }
  HPSWEEP_RETURN_IF_ERROR(CheckRange(where, "train_loss", r.train_loss, 0, HUGE_VAL));
  HPSWEEP_RETURN_IF_ERROR(CheckRange(where, "val_loss", r.val_loss, 0, HUGE_VAL));
  if (!regression) {
    HPSWEEP_RETURN_IF_ERROR(CheckRange(where, "train_accuracy", r.train_accuracy, 0, 1));
    HPSWEEP_RETURN_IF_ERROR(CheckRange(where, "val_accuracy", r.val_accuracy, 0, 1));
  }
  // lr: not sent (NaN) or finite, >= 0 (a schedule's rate may round to 0 at its very end).
  if (!std::isnan(r.lr)) HPSWEEP_RETURN_IF_ERROR(CheckRange(where, "lr", r.lr, 0, HUGE_VAL));
  return CheckRange(where, "seconds", r.seconds, 0, kMaxSeconds);
}

}  // namespace

Status CheckReportedEpoch(const EpochReport& r, int max_epochs, bool program, bool regression) {
  return CheckEpochMetrics(Where{"metrics", -1}, r, max_epochs, program, regression && !program);
}

bool IsRegressionTrial(const TrialRow& t) {
  auto it = t.params.find("task");
  return it != t.params.end() && it->second == "regression";
}

bool SameReport(const EpochReport& a, const EpochReport& b) {
  return a.epoch == b.epoch && a.train_loss == b.train_loss &&
         a.train_accuracy == b.train_accuracy && a.val_loss == b.val_loss &&
         a.val_accuracy == b.val_accuracy && a.seconds == b.seconds && a.metrics == b.metrics &&
         (a.lr == b.lr || (std::isnan(a.lr) && std::isnan(b.lr)));
}

namespace {

// A test metric: -1 (none) or in [lo, hi].
Status CheckTestMetric(const std::string& field, double v, double hi) {
  if (v == -1) return Status::Ok();
  if (std::isfinite(v) && v >= 0 && v <= hi) return Status::Ok();
  return InvalidArgument(field + " is " + Num(v) + "; it must be -1 (none) or finite, in [0, " +
                         Num(hi) + "]");
}

// weights_epoch: 0 or an epoch of the history; stopped_epoch: 0, or the history's last epoch of a
// trial that was not stopped (early stopping completes it). Neither for a program's trial.
Status CheckKeptEpochs(const Completion& c, bool program) {
  if (program && (c.weights_epoch != 0 || c.stopped_epoch != 0)) {
    return InvalidArgument("weights_epoch or stopped_epoch is set; they are for engine trials");
  }
  const int last = c.history.empty() ? 0 : c.history.back().epoch;
  if (c.weights_epoch < 0 || c.weights_epoch > last) {
    return InvalidArgument("weights_epoch is " + std::to_string(c.weights_epoch) +
                           "; it must be 0 (not said) or an epoch of the history, 1.." +
                           std::to_string(last));
  }
  if (c.stopped_epoch != 0 && (c.stopped_epoch != last || c.stopped)) {
    return InvalidArgument("stopped_epoch is " + std::to_string(c.stopped_epoch) +
                           "; early stopping ends a trial that was not stopped after its "
                           "history's last epoch (" + std::to_string(last) + ")");
  }
  return Status::Ok();
}

}  // namespace

// Everything in a completion that can be checked without the scheduler's state but the trial's
// epochs param.
Status CheckCompletion(const Completion& c, int max_epochs, bool program, bool regression) {
  regression = regression && !program;
  const size_t n = c.history.size();
  if (n > static_cast<size_t>(max_epochs)) {
    return InvalidArgument("history has " + std::to_string(n) + " epochs; the trial has " +
                           std::to_string(max_epochs));
  }
  if (program) {
    for (size_t i = 0; i < n; ++i) {
      const Where where{"history", static_cast<int>(i)};
      if (i > 0 && c.history[i].epoch != c.history[i - 1].epoch + 1) {
        return InvalidArgument(where.Field("epoch") + " is " +
                               std::to_string(c.history[i].epoch) +
                               "; a program's history must be consecutive epochs");
      }
      HPSWEEP_RETURN_IF_ERROR(CheckEpochMetrics(where, c.history[i], max_epochs, true, false));
    }
    HPSWEEP_RETURN_IF_ERROR(CheckNamedMetrics("final_metrics", c.final_metrics));
  } else if (regression) {
    HPSWEEP_RETURN_IF_ERROR(CheckRegressionMetrics("final_metrics", c.final_metrics, false));
    if (c.test_accuracy != -1 || !c.confusion.empty()) {
      return InvalidArgument("test_accuracy or confusion_matrix is set; a regression trial has "
                             "no accuracy (-1) and no confusion matrix");
    }
  } else if (!c.final_metrics.empty()) {
    return InvalidArgument("final_metrics is set; named metrics are for a program's trials only");
  }
  if (!program && n < static_cast<size_t>(max_epochs) && !c.stopped &&
      c.stopped_epoch != static_cast<int>(n)) {
    return InvalidArgument("history has " + std::to_string(n) + " epochs of the trial's " +
                           std::to_string(max_epochs) + ", and the trial did not stop early");
  }
  HPSWEEP_RETURN_IF_ERROR(CheckKeptEpochs(c, program));
  for (size_t i = 0; i < n && !program; ++i) {
    const Where where{"history", static_cast<int>(i)};
    if (c.history[i].epoch != static_cast<int>(i) + 1) {
      return InvalidArgument(where.Field("epoch") + " is " + std::to_string(c.history[i].epoch) +
                             "; the history must be epochs 1.." + std::to_string(n) + " in order");
    }
    HPSWEEP_RETURN_IF_ERROR(CheckEpochMetrics(where, c.history[i], max_epochs, false, regression));
  }
  HPSWEEP_RETURN_IF_ERROR(CheckTestMetric("test_accuracy", c.test_accuracy, 1));
  HPSWEEP_RETURN_IF_ERROR(CheckTestMetric("test_loss", c.test_loss, HUGE_VAL));
  if (!(std::isfinite(c.seconds) && c.seconds >= 0 && c.seconds <= kMaxSeconds)) {
    return InvalidArgument("seconds is " + Num(c.seconds) + "; it must be finite, in [0, " +
                           Num(kMaxSeconds) + "]");
  }
  if (c.model.size() > kMaxModelBytes) {
    return InvalidArgument("model is " + std::to_string(c.model.size()) + " bytes; the limit is " +
                           std::to_string(kMaxModelBytes));
  }
  if (c.confusion.empty()) return Status::Ok();
  // MNIST's is 10 x 10; a sweep of its own data has one row per class (engine/dataset.h: at most
  // 256), so any square of 1..256 rows is accepted.
  constexpr size_t kMaxRows = 256;
  size_t k = 1;
  while (k * k < c.confusion.size() && k < kMaxRows) ++k;
  const size_t kCells = k * k;
  if (c.confusion.size() != kCells) {
    return InvalidArgument("confusion_matrix has " + std::to_string(c.confusion.size()) +
                           " cells; it must be empty or square (classes x classes, " +
                           std::to_string(kConfusionClasses) + "x" +
                           std::to_string(kConfusionClasses) + " for MNIST), at most " +
                           std::to_string(kMaxRows) + "x" + std::to_string(kMaxRows));
  }
  int64_t total = 0, trace = 0;
  for (size_t i = 0; i < kCells; ++i) {
    const int64_t v = c.confusion[i];
    if (v < 0 || v > kMaxConfusionTotal) {
      return InvalidArgument("confusion_matrix[" + std::to_string(i) + "] is " + std::to_string(v) +
                             "; it must be in [0, " + std::to_string(kMaxConfusionTotal) + "]");
    }
    total += v;  // (at most 65536 * 1e8: no overflow)
    if (i % (k + 1) == 0) trace += v;
  }
  if (total <= 0 || total > kMaxConfusionTotal) {
    return InvalidArgument("confusion_matrix counts " + std::to_string(total) +
                           " samples; it must count 1.." + std::to_string(kMaxConfusionTotal));
  }
  const double accuracy = static_cast<double>(trace) / static_cast<double>(total);
  if (!(std::fabs(accuracy - c.test_accuracy) <= kConfusionTolerance)) {
    return InvalidArgument("confusion_matrix says accuracy " + Num(accuracy) + " (" +
                           std::to_string(trace) + "/" + std::to_string(total) +
                           "), test_accuracy is " + Num(c.test_accuracy) +
                           "; they must agree within " + Num(kConfusionTolerance));
  }
  return Status::Ok();
}

Status CheckCompletedModel(const std::string& model, const TrialRow& t) {
  if (model.empty()) return Status::Ok();
  auto parsed = ParseModel(model, "model");
  if (!parsed.ok()) return InvalidArgument(parsed.status().message());
  TrialConfig expected = parsed->config;
  for (const auto& [key, value] : t.params) {
    // (the list label and data.* are no config keys: search/sweep_file.h)
    if (key == kLabelKey || key.rfind(kDataParamPrefix, 0) == 0) continue;
    if (!ApplyKey(key, value, &expected).ok()) continue;  // (checked when the sweep was submitted)
  }
  if (SerializeModel(Model{expected, parsed->params}) != model) {
    return InvalidArgument("model was not trained with trial " + std::to_string(t.id) +
                           "'s params (its configuration differs)");
  }
  return Status::Ok();
}

}  // namespace hpsweep
