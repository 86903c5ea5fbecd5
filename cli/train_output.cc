#include "cli/train_output.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "engine/dataset.h"
#include "engine/loss.h"

namespace hpsweep {

using json = nlohmann::json;

namespace {

// A value not measured (-1) is null in JSON.
json Measured(double v) { return v >= 0 ? json(v) : json(nullptr); }

// Shortest text that reads back as the same float ("%.9g" at most).
std::string FloatText(float v) {
  char buf[32];
  for (int p = 6; p <= 9; ++p) {
    std::snprintf(buf, sizeof(buf), "%.*g", p, static_cast<double>(v));
    if (std::strtof(buf, nullptr) == v) break;
  }
  return buf;
}

}  // namespace

json EvaluationJson(const Evaluation& ev) {
  json j;
  j["loss"] = ev.loss;
  j["accuracy"] = ev.accuracy;
  json cm = json::array();
  for (int r = 0; r < ev.classes; ++r) {
    json row = json::array();
    for (int c = 0; c < ev.classes; ++c) row.push_back(ev.confusion[r * ev.classes + c]);
    cm.push_back(row);
  }
  j["confusion_matrix"] = cm;
  json pc = json::array();
  for (const ClassMetrics& m : PerClassMetrics(ev)) {
    pc.push_back(
        {{"precision", m.precision}, {"recall", m.recall}, {"f1", m.f1}, {"support", m.support}});
  }
  j["per_class"] = pc;
  return j;
}

// `train`'s text report after the epochs: test metrics, per-class table and confusion matrix.
void PrintTestReport(const TrainResult& result, const Mnist& data, DataFormat format,
                     double seconds) {
  const Evaluation& test = result.test;
  if (result.stopped_epoch > 0) {
    std::printf("early stopping after epoch %d\n", result.stopped_epoch);
  }
  // MNIST and IDX sets hold images; a CSV holds rows, and its labels are classes, not digits.
  const bool csv = format == DataFormat::kCsv;
  const bool digits = format == DataFormat::kMnist;
  std::printf("test_loss: %.4f - test_accuracy: %.4f (%lld %s, weights of epoch %d) - %.1fs "
              "total\n",
              test.loss, test.accuracy, static_cast<long long>(test.count),
              csv ? "rows" : "images", result.weights_epoch,
              seconds);
  // Classes by name when the CSV's labels are names (printable UTF-8, engine/dataset.h), padded
  // to the longest; else by number.
  const std::vector<std::string>& names = data.train.class_names;
  auto class_label = [&](int c) {
    return c < static_cast<int>(names.size()) ? names[static_cast<size_t>(c)] : std::to_string(c);
  };
  int label_width = 8;  // "precision" table; the confusion matrix pads to the longest label
  for (const std::string& n : names)
    label_width = std::max(label_width, static_cast<int>(n.size()));
  std::printf("\n%*s  precision  recall  f1-score  support\n", label_width, "");
  const auto per_class = PerClassMetrics(test);
  for (size_t c = 0; c < per_class.size(); ++c) {
    std::printf("%*s  %9.4f  %6.4f  %8.4f  %7lld\n", label_width,
                class_label(static_cast<int>(c)).c_str(), per_class[c].precision,
                per_class[c].recall, per_class[c].f1, static_cast<long long>(per_class[c].support));
  }
  std::printf("\nconfusion matrix (row = true %s, column = predicted", digits ? "digit" : "class");
  if (!names.empty()) {
    std::printf(", in the order of the rows");
  }
  std::printf("):\n");
  const int row_width = names.empty() ? 1 : label_width;
  for (int r = 0; r < test.classes; ++r) {
    std::printf("  %-*s |", row_width, class_label(r).c_str());
    for (int c = 0; c < test.classes; ++c) {
      std::printf(" %5lld", static_cast<long long>(test.confusion[r * test.classes + c]));
    }
    std::printf("\n");
  }
}

json EpochJson(const EpochMetrics& m, bool regression) {
  if (regression) return RegressionEpochJson(m);
  return {{"epoch", m.epoch},
          {"train_loss", m.train_loss},
          {"train_accuracy", m.train_accuracy},
          {"val_loss", m.val_loss},
          {"val_accuracy", m.val_accuracy},
          {"seconds", m.seconds},
          {"samples_per_second", m.samples_per_second},
          {"lr", m.lr}};
}

void AddTestJson(const TrainResult& result, const Dataset& train, json* j) {
  if (result.model.config.model.task == Task::kRegression) {
    AddRegressionTestJson(result, j);
    return;
  }
  json ev = EvaluationJson(result.test);
  (*j)["test_loss"] = ev["loss"];
  (*j)["test_accuracy"] = ev["accuracy"];
  (*j)["confusion_matrix"] = ev["confusion_matrix"];
  (*j)["per_class"] = ev["per_class"];
  // A CSV's label names: class i is class_names[i] (the confusion matrix's rows and columns).
  if (!train.class_names.empty()) (*j)["class_names"] = train.class_names;
}

void PrintRegressionEpoch(const EpochMetrics& m, int epochs) {
  std::printf("Epoch %d/%d - %.1fs - %.0f samples/s - loss: %.4f - mse: %.4f - mae: %.4f", m.epoch,
              epochs, m.seconds, m.samples_per_second, m.train_loss, m.train_mse, m.train_mae);
  if (m.val_mse >= 0) {
    std::printf(" - val_loss: %.4f - val_mse: %.4f - val_mae: %.4f", m.val_loss, m.val_mse,
                m.val_mae);
  }
  std::printf("\n");
  std::fflush(stdout);
}

json RegressionEpochJson(const EpochMetrics& m) {
  return {{"epoch", m.epoch},
          {"train_loss", m.train_loss},
          {"train_mse", Measured(m.train_mse)},
          {"train_mae", Measured(m.train_mae)},
          {"val_loss", m.val_mse >= 0 ? json(m.val_loss) : json(nullptr)},
          {"val_mse", Measured(m.val_mse)},
          {"val_mae", Measured(m.val_mae)},
          {"seconds", m.seconds},
          {"samples_per_second", m.samples_per_second},
          {"lr", m.lr}};
}

void PrintRegressionTest(const TrainResult& result, double seconds) {
  const Evaluation& test = result.test;
  if (result.stopped_epoch > 0) std::printf("early stopping after epoch %d\n", result.stopped_epoch);
  std::printf("test_loss: %.4f - test_mse: %.4f - test_mae: %.4f (%lld rows, weights of epoch "
              "%d) - %.1fs total\n",
              test.loss, test.mse, test.mae, static_cast<long long>(test.count),
              result.weights_epoch, seconds);
}

void AddRegressionTestJson(const TrainResult& result, json* j) {
  const Evaluation& test = result.test;
  (*j)["test_loss"] = test.count > 0 ? json(test.loss) : json(nullptr);
  (*j)["test_mse"] = Measured(test.mse);
  (*j)["test_mae"] = Measured(test.mae);
}

Status PredictRegression(const Model& model, const std::vector<std::string>& csv_files,
                         bool as_json, json* out) {
  const ModelConfig& m = model.config.model;
  const int K = m.classes;
  const int64_t px = int64_t{m.steps} * m.features;
  double sq = 0, ab = 0;
  int64_t labeled = 0;
  for (const std::string& file : csv_files) {
    StatusOr<ModelInputs> in = LoadCsvForModel(file, m.steps, m.features, K);
    if (!in.ok()) return in.status();
    constexpr int64_t kBatch = 4096;  // bounds the outputs held at once
    for (int64_t lo = 0; lo < in->data.count; lo += kBatch) {
      const int64_t n = std::min(kBatch, in->data.count - lo);
      const Mat<float> y = PredictProba(model, in->data.samples().At(lo * px), n, 1);
      for (int64_t i = 0; i < n; ++i) {
        const int64_t row = lo + i;
        const float* target = in->labeled ? in->data.targets.data() + row * K : nullptr;
        json values = json::array(), targets = json::array();
        std::string line;
        for (int k = 0; k < K; ++k) {
          const float v = y(static_cast<Eigen::Index>(i), k);
          line += (k ? "," : "") + FloatText(v);
          if (as_json) values.push_back(v);
          if (target != nullptr) {
            const double e = static_cast<double>(v) - target[k];
            sq += e * e / K;
            ab += std::abs(e) / K;
            if (as_json) targets.push_back(target[k]);
          }
        }
        labeled += target != nullptr;
        if (!as_json) {
          std::printf("%s\n", line.c_str());
          continue;
        }
        json r = {{"input", file + ":" + std::to_string(in->lines[static_cast<size_t>(row)])},
                  {"values", values}};
        if (target != nullptr) r["targets"] = targets;
        out->push_back(r);
      }
    }
  }
  if (labeled > 0 && !as_json) {
    std::fprintf(stderr, "mse: %.6g - mae: %.6g (%lld rows with targets)\n", sq / labeled,
                 ab / labeled, static_cast<long long>(labeled));
  }
  return Status::Ok();
}

}  // namespace hpsweep
