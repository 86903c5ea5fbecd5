// The report's best-trial section pieces (report/report_internal.h): the confusion matrix with
// per-class precision, recall and F1 from the export, and a grid of test images with the saved
// model's predictions (the engine runs the model).
#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "engine/model_io.h"
#include "engine/tensor.h"
#include "engine/trainer.h"
#include "report/report_internal.h"

namespace hpsweep {

using json = nlohmann::json;

// The best trial's confusion matrix and per-class precision, recall and F1.
StatusOr<std::string> ConfusionTables(const json& best) {
  std::ostringstream o;
  Evaluation ev;
  // Counts, non-negative integers: get<int64_t>() of a number out of its range is undefined, a
  // negative count shades a cell out of 0..255 (a float cast out of int's range), and a huge one
  // overflows a class's sums (PerClassMetrics). Up to 2^53 a cell, a row or column of up to 1000
  // classes stays within int64_t.
  const json& counts = best.at("confusion_matrix");
  if (counts.is_array()) {
    for (const json& c : counts) {
      if (!c.is_number_unsigned() || c.get<uint64_t>() > (uint64_t{1} << 53)) {
        return DataLoss("the best trial's 'confusion_matrix' holds a value that is not a count");
      }
    }
  }
  ev.confusion = counts.get<std::vector<int64_t>>();  // not an array: a type_error
  ev.classes = static_cast<int>(std::lround(std::sqrt(double(ev.confusion.size()))));
  if (static_cast<size_t>(ev.classes) * ev.classes != ev.confusion.size() || ev.classes > 1000) {
    return DataLoss("the best trial's confusion matrix is not square");
  }
  int64_t maxc = 1;
  for (int r = 0; r < ev.classes; ++r)
    for (int c = 0; c < ev.classes; ++c)
      if (r != c) maxc = std::max(maxc, ev.confusion[r * ev.classes + c]);
  o << "<table id=\"confusion\"><tr><th>true \\ predicted</th>";
  for (int c = 0; c < ev.classes; ++c) o << "<th>" << c << "</th>";
  o << "</tr>";
  for (int r = 0; r < ev.classes; ++r) {
    o << "<tr><th>" << r << "</th>";
    for (int c = 0; c < ev.classes; ++c) {
      const int64_t x = ev.confusion[r * ev.classes + c];
      const int shade = r == c ? 0 : static_cast<int>(255 * (1 - double(x) / maxc));
      o << "<td style=\"background:"
        << (r == c ? std::string("#cfe8cf")
                   : "rgb(255," + std::to_string(shade) + "," + std::to_string(shade) + ")")
        << "\">" << x << "</td>";
    }
    o << "</tr>";
  }
  // A sweep of its own data (trial param data.format idx or csv) has classes, not digits.
  const std::string format = Param(best, "data.format");
  const bool own_data = !format.empty() && format != "mnist";
  o << "</table><table id=\"per-class\"><tr><th>" << (own_data ? "class" : "digit")
    << "</th><th>precision</th><th>recall</th><th>F1</th><th>support</th></tr>";
  const auto pc = PerClassMetrics(ev);
  for (size_t c = 0; c < pc.size(); ++c) {
    o << "<tr><td>" << c << "</td><td>" << Fmt("%.4f", pc[c].precision) << "</td><td>"
      << Fmt("%.4f", pc[c].recall) << "</td><td>" << Fmt("%.4f", pc[c].f1) << "</td><td>"
      << pc[c].support << "</td></tr>";
  }
  o << "</table>";
  return o.str();
}

// 100 random test images with the best model's predictions; "" for a model not shaped for MNIST.
StatusOr<std::string> SampleGrid(const std::string& best_model, const Mnist* data) {
  std::ostringstream o;
  auto model = ParseModel(best_model, "best trial");
  if (!model.ok()) return model.status();
  // The grid shows MNIST test images: only for a 28x28, 10-class model (a sweep of its own
  // data, engine/dataset.h, has another shape and gets no grid).
  const ModelConfig& mc = model->config.model;
  const bool mnist_shaped = mc.steps * mc.features == 784 && mc.classes == 10 &&
                            data->test.rows * data->test.cols == 784;
  if (mnist_shaped) {
    Rng rng(12345);
    std::vector<int64_t> idx;
    std::vector<float> pixels(100 * 784);
    for (int i = 0; i < 100; ++i) {
      idx.push_back(static_cast<int64_t>(rng.Below(data->test.count)));
      data->test.Sample(idx.back(), pixels.data() + i * 784);
    }
    const Mat<float> probs = PredictProba(*model, pixels.data(), 100, 1);
    int wrong = 0;
    std::ostringstream grid;
    for (int i = 0; i < 100; ++i) {
      Eigen::Index pred;
      probs.row(i).maxCoeff(&pred);
      const int truth = data->test.labels[idx[i]];
      wrong += pred != truth;
      grid << "<div class=\"cell\">"
           << ImageTag(&pixels[i * 784], 56, "test image " + std::to_string(idx[i]))
           << "<br><span" << (pred != truth ? " class=\"wrong\"" : "") << ">" << pred << " ("
           << truth << ")</span></div>";
    }
    o << "<h3 id=\"samples\">100 random test images: predicted (true), wrong ones in red ("
      << wrong << " wrong)</h3><div class=\"grid\">" << grid.str() << "</div>";
  }
  return o.str();
}

// The best trial: the first of the ranking, if it has a value of the metric at all; "" if none.
StatusOr<std::string> BestTrialSection(const SweepView& v, const std::string& best_model,
                                       const Mnist* data) {
  const std::vector<json>& ranked = v.ranked;
  std::ostringstream o;
  if (!ranked.empty() && v.objective.Has(v.values[0]) &&
      ranked[0].contains("confusion_matrix")) {
    const json& best = ranked[0];
    o << "<h2 id=\"best\">" << (v.sweep.contains("objectives") ? "The first-ranked trial: "
                                                                 : "The best trial: ")
      << Esc(TrialName(best)) << "</h2><p>Test accuracy "
      << MetricText(FieldOf(best, "test_accuracy")) << ".</p>";
    auto tables = ConfusionTables(best);
    if (!tables.ok()) return tables.status();
    o << *tables;
    if (!best_model.empty() && data != nullptr && data->test.count > 0) {
      auto grid = SampleGrid(best_model, data);
      if (!grid.ok()) return grid.status();
      o << *grid;
    }
  }
  return o.str();
}

}  // namespace hpsweep
