// Fuzz target: CSV data sets (engine/dataset.h, ParseCsv) and `predict --csv` inputs
// (ParseCsvForModel). The first byte picks sequence_length (1..8) in its low 3 bits, regression
// targets (0: a class label; 1..7 real-valued targets first, task: regression) in the next 3,
// and in its high bits the model's features (1..4) for ParseCsvForModel; the rest is the file.
// Labels may be integers or names; a file of names must give one sorted, bounded name a class.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "base/utf8.h"
#include "engine/dataset.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1 || size > 64 * 1024) return 0;
  const int sequence_length = 1 + data[0] % 8;
  const std::string bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  // A model's inputs: every row exactly steps x features values, with or without a label.
  const int features = 1 + (data[0] >> 6);
  const int targets = (data[0] >> 3) & 7;
  hpsweep::StatusOr<hpsweep::ModelInputs> in =
      hpsweep::ParseCsvForModel(bytes, "fuzz.csv", sequence_length, features, targets);
  if (in.ok()) {
    const hpsweep::Dataset& d = in->data;
    const size_t count = static_cast<size_t>(d.count);
    if (d.rows != sequence_length || d.cols != features || d.count < 1 ||
        d.labels.size() != (targets > 0 ? 0 : count) ||
        d.targets.size() != (targets > 0 && in->labeled ? count * targets : 0) ||
        d.images.size() != count * d.rows * d.cols) {
      std::abort();
    }
  }
  hpsweep::StatusOr<hpsweep::Dataset> ds =
      hpsweep::ParseCsv(bytes, "fuzz.csv", sequence_length, targets);
  if (!ds.ok()) return 0;
  if (targets > 0) {  // regression: the targets, finite, and no labels
    if (ds->num_targets != targets || !ds->labels.empty() || ds->count < 1 ||
        ds->targets.size() != static_cast<size_t>(ds->count) * targets ||
        ds->images.size() != static_cast<size_t>(ds->count) * ds->rows * ds->cols) {
      std::abort();
    }
    for (float v : ds->targets) {
      if (!std::isfinite(v)) std::abort();
    }
    return 0;
  }
  // The result must hold exactly what its shape says, and every label must be a class.
  if (ds->rows != sequence_length || ds->cols < 1 || ds->count < 1 ||
      ds->labels.size() != static_cast<size_t>(ds->count) ||
      ds->images.size() != static_cast<size_t>(ds->count) * ds->rows * ds->cols ||
      ds->num_classes < 1 || ds->num_classes > hpsweep::kMaxClasses) {
    std::abort();
  }
  for (uint8_t label : ds->labels) {
    if (label >= ds->num_classes) std::abort();
  }
  // Label names: one per class, strictly sorted, each within the bound and valid UTF-8.
  const std::vector<std::string>& names = ds->class_names;
  if (!names.empty()) {
    if (names.size() != static_cast<size_t>(ds->num_classes)) std::abort();
    for (size_t i = 0; i < names.size(); ++i) {
      if (names[i].empty() || names[i].size() > static_cast<size_t>(hpsweep::kMaxClassNameBytes) ||
          !hpsweep::IsValidUtf8(names[i]) || (i > 0 && !(names[i - 1] < names[i]))) {
        std::abort();
      }
    }
  }
  return 0;
}
