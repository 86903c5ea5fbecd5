// Parsing a sweep file: the Parser's readers of the sections under the top level (data, metric,
// early_terminate, fixed, parameters, trials, bayes) and the checks made of them once the whole
// file is read. The top level is sweep_file.cc.

#include "search/sweep_file.h"

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "search/pruner.h"
#include "search/sweep_file_internal.h"
#include "search/yaml_tree.h"
#include "engine/config.h"
#include "search/objective.h"
#include "engine/dataset.h"

namespace hpsweep {
namespace sweep_internal {
namespace {

const std::vector<std::string>& BayesKeys() {
  static const std::vector<std::string> keys = {"n_startup_trials", "n_ei_candidates",
                                                "model"};
  return keys;
}
// The keys of an item of `trials` (method: list): the config keys and the label.
const std::vector<std::string>& ItemKeys() {
  static const std::vector<std::string> keys = [] {
    std::vector<std::string> k = ConfigKeys();
    k.push_back(kLabelKey);
    return k;
  }();
  return keys;
}
// Labels are short names shown in the leaderboard ("A1", "B3-48").
constexpr size_t kMaxLabelLength = 64;
const std::vector<std::string>& MetricKeys() {
  static const std::vector<std::string> keys = {"name", "goal"};
  return keys;
}
// Epoch counts of early_terminate: at most the engine's most epochs (engine/config.cc).
constexpr int kMaxRungEpoch = 10000;
const std::vector<std::string>& HyperbandKeys() {
  static const std::vector<std::string> keys = {"type", "min_iter", "eta", "max_iter", "s"};
  return keys;
}
const std::vector<std::string>& MedianKeys() {
  static const std::vector<std::string> keys = {"type", "warmup", "min_trials"};
  return keys;
}
const std::vector<std::string>& ParameterKeys() {
  static const std::vector<std::string> keys = {"values", "distribution", "min", "max", "q",
                                                "when"};
  return keys;
}
const std::vector<std::string>& DistributionNames() {
  static const std::vector<std::string> names = {"uniform", "int_uniform", "log_uniform",
                                                 "int_log_uniform"};
  return names;
}

}  // namespace

bool ParseDouble(const std::string& s, double* out) {
  if (s.empty()) return false;
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(s.c_str(), &end);
  if (errno != 0 || *end != '\0' || !std::isfinite(v)) return false;
  *out = v;
  return true;
}

namespace {

// True when `key` takes a list ("[64, 32]"): dense and dropout today. Asked of the engine rather
// than listed here, so a new list-valued key needs no change in this file.
bool IsListKey(const std::string& key) {
  TrialConfig scratch;
  return ApplyKey(key, "[]", &scratch).ok();
}

}  // namespace

Status Parser::ReadData(const Entry& e, SweepSpec* spec) {
  std::vector<Entry> entries;
  HPSWEEP_RETURN_IF_ERROR(ReadMapping(e.value, "data", DataKeys(), &entries));
  for (const Entry& d : entries) {
    const std::string what = "data." + d.key;
    spec->lines[what] = d.line;
    if (d.key == "dataset") {
      std::string name;
      HPSWEEP_RETURN_IF_ERROR(Scalar(d, what, &name));
      if (!IsSafeName(name) || name.front() == '.') {
        return Err(d.line,
                   "key 'data.dataset': expected mnist or the name of a data set folder "
                   "(letters, digits, '.', '_', '-'; no path), got '" +
                       name + "'");
      }
      spec->dataset = name;
    } else if (d.key == "format") {
      std::string text;
      HPSWEEP_RETURN_IF_ERROR(Scalar(d, what, &text));
      StatusOr<DataFormat> f = ParseDataFormat(text);
      if (!f.ok()) {
        const std::string near = NearestKey(text, {"idx", "csv", "mnist"});
        return Err(d.line, "key 'data.format': expected idx, csv or mnist, got '" + text + "'" +
                               (near.empty() ? "" : " (did you mean '" + near + "'?)"));
      }
      spec->data.format = *f;
    } else if (d.key == "path" || d.key == "train" || d.key == "test") {
      std::string text;
      HPSWEEP_RETURN_IF_ERROR(Scalar(d, what, &text));
      if (text.empty() || text.size() > 4096) {
        return Err(d.line, "key '" + what + "': expected a path of 1 to 4096 bytes");
      }
      for (unsigned char c : text) {
        if (c < 0x20 || c == 0x7f) {
          return Err(d.line, "key '" + what + "': a control character in the path");
        }
      }
      // Relative to the sweep file's folder, so that a sweep and its data travel together.
      const size_t slash = file_.find_last_of('/');
      if (text[0] != '/' && slash != std::string::npos) text = file_.substr(0, slash + 1) + text;
      (d.key == "path"    ? spec->data.path
       : d.key == "train" ? spec->data.train_file
                          : spec->data.test_file) = text;
    } else if (d.key == "sequence_length") {
      int64_t v = 0;
      HPSWEEP_RETURN_IF_ERROR(IntInRange(d, what, 1, kMaxSequenceLength, &v));
      spec->data.sequence_length = static_cast<int>(v);
    } else if (d.key == "targets") {
      int64_t v = 0;
      HPSWEEP_RETURN_IF_ERROR(IntInRange(d, what, 1, kMaxTargets, &v));
      spec->data.targets = static_cast<int>(v);
    } else if (d.key == "train_limit") {
      int64_t v = 0;
      HPSWEEP_RETURN_IF_ERROR(IntInRange(d, what, 0, std::numeric_limits<int32_t>::max(), &v));
      spec->train_limit = v;
      // Where the engine has train_limit as a config key, trials carry it too.
      if (IsConfigKey(d.key)) data_keys_.push_back({d.key, std::to_string(v), d.line});
    } else {  // validation_split, validation, seed: config keys
      std::string text;
      HPSWEEP_RETURN_IF_ERROR(Scalar(d, what, &text));
      HPSWEEP_RETURN_IF_ERROR(CheckConfigValue(d.key, text, d.line, "", nullptr));
      data_keys_.push_back({d.key, text, d.line});
      if (d.key == "seed") data_seed_ = text;
    }
  }
  return Status::Ok();
}

Status Parser::CheckDataForm(const SweepSpec& spec) const {
  auto line = [&](const char* key) {
    auto it = spec.lines.find(std::string("data.") + key);
    return it == spec.lines.end() ? 0 : it->second;
  };
  auto has = [&](const char* key) { return line(key) > 0; };
  const DataFormat f = spec.data.format;
  if (!has("format")) {
    for (const char* k : {"path", "train", "test", "sequence_length", "targets"}) {
      if (has(k)) {
        return Err(line(k),
                   std::string("key 'data.") + k + "': needs 'data.format' (idx or csv) beside it");
      }
    }
    return Status::Ok();
  }
  if (has("dataset")) {
    return Err(line("dataset"), "key 'data.dataset': give either 'dataset' or 'format', not both");
  }
  if (f == DataFormat::kIdx || f == DataFormat::kMnist) {
    for (const char* k : {"train", "test", "sequence_length", "targets"}) {
      if (has(k)) {
        return Err(line(k), std::string("key 'data.") + k + "': only for format csv (format " +
                                DataFormatName(f) + " reads the folder 'path')");
      }
    }
    if (f == DataFormat::kMnist && has("path")) {
      return Err(line("path"),
                 "key 'data.path': not for format mnist (read from the runner's --data-dir); "
                 "for your own IDX folder use format idx");
    }
    if (f == DataFormat::kIdx && !has("path")) {
      return Err(line("format"), "key 'data.format': idx needs 'path', the folder of IDX files");
    }
  } else {
    if (has("path")) {
      return Err(line("path"),
                 "key 'data.path': not for format csv (give 'train' and 'test' files)");
    }
    for (const char* k : {"train", "test"}) {
      if (!has(k)) {
        return Err(line("format"), std::string("key 'data.format': csv needs '") + k + "', the " +
                                       (k[1] == 'r' ? "training" : "test") + " file");
      }
    }
  }
  return Status::Ok();
}

Status Parser::ReadMetric(const Entry& e, SweepSpec* spec) {
  std::vector<Entry> entries;
  HPSWEEP_RETURN_IF_ERROR(ReadMapping(e.value, "metric", MetricKeys(), &entries));
  std::string goal;
  int goal_line = e.line;
  for (const Entry& m : entries) {
    std::string text;
    HPSWEEP_RETURN_IF_ERROR(Scalar(m, "metric." + m.key, &text));
    if (m.key == "name" && program_) {
      if (!IsMetricName(text)) {
        return Err(m.line, "key 'metric.name': a metric's name is a letter or _ and then up to "
                           "63 letters, digits, _, . or -, got '" + EscapeText(text) + "'");
      }
      spec->metric = text;
    } else if (m.key == "name") {
      // (a regression metric is checked against the task once the whole file is read: CheckTask)
      if (text != "val_accuracy" && text != "val_loss" && text != "test_accuracy" &&
          !IsRegressionMetric(text)) {
        const std::string near = NearestKey(text, {"val_accuracy", "val_loss", "test_accuracy",
                                                   "val_mse", "val_mae", "test_mse", "test_mae"});
        return Err(m.line,
                   "key 'metric.name': expected one of val_accuracy, val_loss, "
                   "test_accuracy (regression: val_mse, val_mae, test_mse, test_mae), got '" +
                       text + "'" + (near.empty() ? "" : " (did you mean '" + near + "'?)"));
      }
      spec->metric = text;
    } else {
      if (text != "maximize" && text != "minimize") {
        return Err(m.line, "key 'metric.goal': expected maximize or minimize, got '" + text + "'");
      }
      goal = text;
      goal_line = m.line;
    }
  }
  const bool natural_max = spec->metric != "val_loss" && !IsRegressionMetric(spec->metric);
  if (program_ && goal.empty()) {
    return Err(e.line, "key 'metric.goal': a program's metric needs its goal, maximize or "
                       "minimize");
  }
  if (program_) {
    spec->maximize = goal == "maximize";
  } else if (goal.empty()) {
    spec->maximize = natural_max;
  } else {
    spec->maximize = goal == "maximize";
    if (spec->maximize != natural_max) {
      return Err(goal_line, "key 'metric.goal': " + spec->metric + " should be " +
                                (natural_max ? "maximized" : "minimized") + ", not " + goal + "d");
    }
  }
  return Status::Ok();
}

Status Parser::CheckTask(SweepSpec* spec) const {
  if (program_) return Status::Ok();
  auto line = [&](const std::string& key) { return LineOr(spec->lines, key, 0); };
  for (const ParameterSpec& p : spec->parameters) {
    if (p.key == "task") {
      return Err(p.line, "key 'task': the task decides the sweep's metric; set it under fixed, "
                         "not under parameters");
    }
  }
  for (const ListItem& item : spec->items) {
    if (item.params.count("task")) {
      return Err(LineOr(item.lines, "task", item.line),
                 "key 'task': the task decides the sweep's metric; set it under fixed, not in a "
                 "trial of the list");
    }
  }
  auto task = spec->fixed.find("task");
  const bool regression = task != spec->fixed.end() && task->second == "regression";
  const int metric_line = line("metric");
  if (!regression) {
    if (spec->data.targets > 0) {
      return Err(line("data.targets"), "key 'data.targets': real-valued targets are for task: "
                                       "regression (set it under fixed)");
    }
    if (IsRegressionMetric(spec->metric)) {
      return Err(metric_line, "key 'metric.name': " + spec->metric +
                                  " is a regression metric; the task is classification (set "
                                  "task: regression under fixed, or use val_accuracy, val_loss "
                                  "or test_accuracy)");
    }
    return Status::Ok();
  }
  const int task_line = line("fixed.task");
  if (spec->data.format != DataFormat::kCsv) {
    return Err(task_line, std::string("key 'task': regression reads real-valued targets from csv "
                                      "data (data: {format: csv, train: ..., test: ...}); ") +
                              DataFormatName(spec->data.format) + " labels are classes");
  }
  if (spec->data.targets == 0) spec->data.targets = 1;  // the first column, as a label would be
  if (metric_line == 0) {
    spec->metric = "val_mse";
    spec->maximize = false;
  } else if (spec->metric == "val_accuracy" || spec->metric == "test_accuracy") {
    const std::string near = spec->metric == "val_accuracy" ? "val_mse" : "test_mse";
    return Err(metric_line, "key 'metric.name': " + spec->metric +
                                " is not measured for task: regression; expected one of "
                                "val_mse, val_mae, test_mse, test_mae, val_loss (did you mean '" +
                                near + "'?)");
  }
  return Status::Ok();
}

Status Parser::ReadEarlyTerminate(const Entry& e, SweepSpec* spec) {
  using Type = EarlyTerminateSpec::Type;
  // Every key of either type is known here, so a misspelling gets its did-you-mean; a key of
  // the other type is refused below, once the type is known.
  std::vector<std::string> known = HyperbandKeys();
  for (const std::string& k : MedianKeys()) {
    if (!Contains(known, k)) known.push_back(k);
  }
  std::vector<Entry> entries;
  HPSWEEP_RETURN_IF_ERROR(ReadMapping(e.value, "early_terminate", known, &entries));
  EarlyTerminateSpec et;
  const Entry* type_entry = nullptr;
  for (const Entry& x : entries) {
    spec->lines["early_terminate." + x.key] = x.line;
    if (x.key == "type") type_entry = &x;
  }
  if (type_entry == nullptr) {
    return Err(e.line,
               "key 'early_terminate': missing 'type' (hyperband or median), e.g. "
               "{type: hyperband, min_iter: 1, eta: 3}");
  }
  std::string type;
  HPSWEEP_RETURN_IF_ERROR(Scalar(*type_entry, "early_terminate.type", &type));
  if (type == "hyperband") {
    et.type = Type::kHyperband;
  } else if (type == "median") {
    et.type = Type::kMedian;
  } else {
    const std::string near = NearestKey(type, {"hyperband", "median"});
    return Err(type_entry->line, "key 'early_terminate.type': expected hyperband or median, got '" +
                                     type + "'" +
                                     (near.empty() ? "" : " (did you mean '" + near + "'?)"));
  }
  const std::vector<std::string>& own =
      et.type == Type::kHyperband ? HyperbandKeys() : MedianKeys();
  bool has_min_iter = false;
  int max_iter_line = 0;
  for (const Entry& x : entries) {
    const std::string what = "early_terminate." + x.key;
    if (!Contains(own, x.key)) {
      return Err(x.line, "key '" + what + "' is not a key of type " + type +
                             " (its keys: " + JoinKeys(own) + ")");
    }
    int64_t v = 0;
    if (x.key == "min_iter") {
      HPSWEEP_RETURN_IF_ERROR(IntInRange(x, what, 1, kMaxRungEpoch, &v));
      et.min_iter = static_cast<int>(v);
      has_min_iter = true;
    } else if (x.key == "eta") {
      HPSWEEP_RETURN_IF_ERROR(IntInRange(x, what, 2, 100, &v));
      et.eta = static_cast<int>(v);
    } else if (x.key == "max_iter") {
      HPSWEEP_RETURN_IF_ERROR(IntInRange(x, what, 2, kMaxRungEpoch, &v));
      et.max_iter = static_cast<int>(v);
      max_iter_line = x.line;
    } else if (x.key == "s") {
      HPSWEEP_RETURN_IF_ERROR(IntInRange(x, what, 1, 10, &v));
      et.brackets = static_cast<int>(v);
    } else if (x.key == "warmup") {
      HPSWEEP_RETURN_IF_ERROR(IntInRange(x, what, 0, kMaxRungEpoch, &v));
      et.warmup = static_cast<int>(v);
    } else if (x.key == "min_trials") {
      HPSWEEP_RETURN_IF_ERROR(IntInRange(x, what, 1, kMaxTrialsPerSweep, &v));
      et.min_trials = static_cast<int>(v);
    }
  }
  if (max_iter_line > 0 && !has_min_iter) {
    return Err(max_iter_line,
               "key 'early_terminate.max_iter': give min_iter too (the first rung); hpsweep "
               "counts rungs up from min_iter, and its `s` is the number of brackets");
  }
  if (max_iter_line > 0 && et.max_iter <= et.min_iter) {
    return Err(max_iter_line, "key 'early_terminate.max_iter': " + std::to_string(et.max_iter) +
                                  " must be above min_iter (" + std::to_string(et.min_iter) +
                                  "): rungs are the epochs below it");
  }
  spec->early_terminate = et;
  return Status::Ok();
}

Status Parser::CheckEarlyTerminate(const SweepSpec& spec) const {
  using Type = EarlyTerminateSpec::Type;
  const EarlyTerminateSpec& et = spec.early_terminate;
  if (et.type == Type::kNone) return Status::Ok();
  // The trials' epochs, when one value holds for all: fixed (or the default), not swept, not set
  // by a list item.
  bool varies = false;
  for (const ParameterSpec& p : spec.parameters) varies |= p.key == "epochs";
  for (const ListItem& item : spec.items) varies |= item.params.count("epochs") > 0;
  int64_t epochs = spec.program.empty() ? TrialConfig().train.epochs : 1;
  auto f = spec.fixed.find("epochs");
  if (f != spec.fixed.end() && !ParseInt64(f->second, &epochs)) varies = true;
  const int line = LineOr(spec.lines, "early_terminate", 1);
  if (et.type == Type::kMedian) {
    // Epochs warmup+1 .. epochs-1 can prune (never the last: the training is done by then).
    if (!varies && et.warmup >= epochs - 1) {
      return Err(LineOr(spec.lines, "early_terminate.warmup", line),
                 "key 'early_terminate.warmup': " + std::to_string(et.warmup) +
                     " epochs of warmup leave none of the trials' epochs (" +
                     std::to_string(epochs) +
                     ") to prune (a trial is never pruned after its last epoch); lower it or "
                     "raise fixed.epochs");
    }
    return Status::Ok();
  }
  int64_t cap = varies ? kMaxRungEpoch : epochs;
  if (et.max_iter > 0) cap = std::min<int64_t>(cap, et.max_iter);
  if (HyperbandRungs(et, 0, static_cast<int>(cap)).empty()) {
    return Err(LineOr(spec.lines, "early_terminate.min_iter", line),
               "key 'early_terminate.min_iter': the first rung (epoch " +
                   std::to_string(et.min_iter) + ") is not below the trials' epochs (" +
                   std::to_string(cap) + (et.max_iter > 0 ? ", or max_iter" : "") + ")" +
                   ", so no trial would ever be pruned; lower min_iter or raise fixed.epochs");
  }
  if (HyperbandRungs(et, et.brackets - 1, static_cast<int>(cap)).empty()) {
    return Err(LineOr(spec.lines, "early_terminate.s", line),
               "key 'early_terminate.s': " + std::to_string(et.brackets) +
                   " brackets, but bracket " + std::to_string(et.brackets - 1) +
                   " would have no rung below epoch " + std::to_string(cap) +
                   " (its first rung is min_iter * eta^" + std::to_string(et.brackets - 1) +
                   "); use fewer brackets");
  }
  return Status::Ok();
}

Status Parser::ReadConfigEntry(const Entry& f, std::string* text) const {
  HPSWEEP_RETURN_IF_ERROR(ConfigText(f.key, f.value, f.line, text));
  std::string hint;
  if (f.value->IsSequence() && !IsListKey(f.key)) {
    hint =
        " (a list is one value only for list keys such as dense and dropout; to try several "
        "values, put '" +
        f.key + "' under parameters as {values: [...]})";
  }
  return CheckConfigValue(f.key, *text, LineOf(f.value, f.line), hint, nullptr);
}

Status Parser::ReadFixed(const Entry& e, SweepSpec* spec) {
  std::vector<Entry> entries;
  HPSWEEP_RETURN_IF_ERROR(ReadMapping(e.value, "fixed", ConfigKeys(), &entries));
  for (const Entry& f : entries) {
    std::string text;
    HPSWEEP_RETURN_IF_ERROR(ReadConfigEntry(f, &text));
    spec->fixed[f.key] = text;
    spec->lines["fixed." + f.key] = f.line;
  }
  return Status::Ok();
}

Status Parser::ReadTrials(const Entry& e, SweepSpec* spec) {
  trials_line_ = e.line;
  const std::string example = " such as - {label: A1, cell: lstm, units: 128}";
  if (e.value->IsNull() || (e.value->IsSequence() && e.value->items.empty())) {
    return Err(e.line, "key 'trials': the list is empty; give at least one item" + example);
  }
  if (!e.value->IsSequence()) {
    return Err(LineOf(e.value, e.line),
               "key 'trials': expected a list of items" + example + ", got " + TypeName(e.value));
  }
  std::map<std::string, int> labels;  // label -> line
  for (size_t i = 0; i < e.value->items.size(); ++i) {
    const YamlNode* node = e.value->items[i];
    ListItem item;
    item.line = LineOf(node, e.line);
    const std::string section = "trials[" + std::to_string(i + 1) + "]";
    if (node->IsNull()) {  // "-" alone; its mark is where the parser noticed it: use the key's
      return Err(e.line, "item " + std::to_string(i + 1) +
                             " of 'trials' is empty ('-' with nothing after it); give a mapping of "
                             "model/training keys" +
                             example + ", or {} for the fixed keys alone");
    }
    if (!node->IsMapping()) {
      return Err(item.line, "item " + std::to_string(i + 1) +
                                " of 'trials': expected a mapping of model/training keys" +
                                example + ", got " + TypeName(node));
    }
    std::vector<Entry> entries;
    HPSWEEP_RETURN_IF_ERROR(ReadMapping(node, section, ItemKeys(), &entries));
    for (const Entry& f : entries) {
      item.lines[f.key] = f.line;
      if (f.key == kLabelKey) {
        std::string label;
        HPSWEEP_RETURN_IF_ERROR(Scalar(f, kLabelKey, &label));
        bool printable = !label.empty() && label.size() <= kMaxLabelLength;
        for (char c : label) printable = printable && static_cast<unsigned char>(c) >= 0x20;
        if (!printable) {
          return Err(f.line, "key 'label': expected a short name such as A1 (1 to " +
                                 std::to_string(kMaxLabelLength) +
                                 " characters, no control characters), got '" + label + "'");
        }
        auto [prev, inserted] = labels.emplace(label, f.line);
        if (!inserted) {
          return Err(f.line, "key 'label': '" + label + "' is used twice (first on line " +
                                 std::to_string(prev->second) + "); labels name one item each");
        }
        item.label = label;
        continue;
      }
      std::string text;
      HPSWEEP_RETURN_IF_ERROR(ReadConfigEntry(f, &text));
      item.params[f.key] = text;
    }
    spec->items.push_back(std::move(item));
  }
  return Status::Ok();
}

Status Parser::ReadParameters(const Entry& e, SweepSpec* spec) {
  std::vector<Entry> entries;
  HPSWEEP_RETURN_IF_ERROR(ReadMapping(e.value, "parameters", ConfigKeys(), &entries));
  for (const Entry& p : entries) {
    ParameterSpec param;
    HPSWEEP_RETURN_IF_ERROR(ReadParameter(p, &param));
    spec->lines["parameters." + p.key] = p.line;
    spec->parameters.push_back(std::move(param));
  }
  return Status::Ok();
}

Status Parser::ReadParameter(const Entry& e, ParameterSpec* p) {
  p->key = e.key;
  p->line = e.line;
  const std::string& key = e.key;
  if (!e.value->IsMapping()) {
    std::string hint;
    if (e.value->IsSequence()) hint = "; write {values: [...]}";
    if (e.value->IsScalar()) hint = "; a value that is the same in every trial goes under 'fixed'";
    return Err(e.value->IsNull() ? e.line : LineOf(e.value, e.line),
               "key '" + key +
                   "': expected {values: [...]} or "
                   "{distribution: ..., min: ..., max: ...}, got " +
                   TypeName(e.value) + hint);
  }
  std::vector<Entry> entries;
  HPSWEEP_RETURN_IF_ERROR(ReadMapping(e.value, "parameters." + key, ParameterKeys(), &entries));
  const Entry* values = nullptr;
  const Entry* distribution = nullptr;
  const Entry* min = nullptr;
  const Entry* max = nullptr;
  const Entry* q = nullptr;
  for (const Entry& x : entries) {
    if (x.key == "values") values = &x;
    if (x.key == "distribution") distribution = &x;
    if (x.key == "min") min = &x;
    if (x.key == "max") max = &x;
    if (x.key == "q") q = &x;
    if (x.key == "when") HPSWEEP_RETURN_IF_ERROR(ReadWhen(key, x, p));
  }
  if (values != nullptr) {
    if (distribution != nullptr || min != nullptr || max != nullptr || q != nullptr) {
      const Entry* other = distribution ? distribution : min ? min : max ? max : q;
      return Err(other->line, "key '" + key +
                                  "': give either values or a distribution with min "
                                  "and max, not both");
    }
    return ReadValues(key, *values, p);
  }
  if (distribution == nullptr) {
    if (min != nullptr || max != nullptr || q != nullptr) {
      return Err(e.line, "key '" + key +
                             "': min, max and q need a distribution (uniform, "
                             "int_uniform, log_uniform or int_log_uniform)");
    }
    return Err(e.line, "key '" + key + "': give values: [...] or a distribution with min and max");
  }
  HPSWEEP_RETURN_IF_ERROR(ReadDistribution(key, *distribution, min, max, p));
  return q == nullptr ? Status::Ok() : ReadStep(key, *q, p);
}

// q of a distribution (min and max read): Optuna's rules (sweep_file.h, "Distributions").
Status Parser::ReadStep(const std::string& key, const Entry& q, ParameterSpec* p) const {
  std::string text;
  HPSWEEP_RETURN_IF_ERROR(Scalar(q, key + ".q", &text));
  double v = 0;
  if (!ParseDouble(text, &v) || !std::isfinite(v) || v <= 0) {
    return Err(q.line, "key '" + key + "': q must be a number > 0, got '" + text + "'");
  }
  if (p->distribution == Distribution::kLogUniform) {
    return Err(q.line, "key '" + key +
                           "': q is not taken with log_uniform (as Optuna refuses step with "
                           "log=True); use uniform with q, or log_uniform without it");
  }
  if (p->distribution == Distribution::kIntLogUniform) {
    if (v != 1) {
      return Err(q.line, "key '" + key + "': int_log_uniform takes q: 1 only (as Optuna's log=True "
                                         "with step), got " + text);
    }
    return Status::Ok();
  }
  if (p->distribution == Distribution::kIntUniform && v != std::floor(v)) {
    return Err(q.line, "key '" + key + "': int_uniform needs an integer q, got " + text);
  }
  const double steps = (p->max - p->min) / v;
  if (steps > 1e9) {
    return Err(q.line, "key '" + key + "': q (" + text + ") makes more than 1e9 steps between "
                                       "min and max");
  }
  if (std::fabs(steps - std::round(steps)) > 1e-9 * std::max(1.0, steps)) {
    return Err(q.line, "key '" + key + "': max - min (" + Format6(p->max - p->min) +
                           ") must be a multiple of q (" + text + ")");
  }
  p->q = v;
  return Status::Ok();
}

Status Parser::ReadValues(const std::string& key, const Entry& values, ParameterSpec* p) const {
  const YamlNode* list = values.value;
  if (!list->IsSequence()) {
    return Err(LineOf(list, values.line), "key '" + key +
                                              "': values must be a list such as "
                                              "[1, 2], got " +
                                              TypeName(list));
  }
  if (list->items.empty()) {
    return Err(values.line, "key '" + key + "': values is empty; give at least one value");
  }
  std::map<std::string, int> seen;  // canonical form -> line
  for (size_t i = 0; i < list->items.size(); ++i) {
    const YamlNode* item = list->items[i];
    const int line = LineOf(item, values.line);
    std::string text, canonical;
    HPSWEEP_RETURN_IF_ERROR(ConfigText(key, item, line, &text));
    HPSWEEP_RETURN_IF_ERROR(CheckConfigValue(key, text, line, "", &canonical));
    auto [prev, inserted] = seen.emplace(canonical, line);
    if (!inserted) {
      return Err(line, "key '" + key + "': value '" + text +
                           "' is listed twice (every trial "
                           "would run twice)");
    }
    p->values.push_back(text);
  }
  p->distribution = Distribution::kValues;
  return Status::Ok();
}

Status Parser::ReadDistribution(const std::string& key, const Entry& distribution,
                                const Entry* min, const Entry* max, ParameterSpec* p) const {
  std::string dist;
  HPSWEEP_RETURN_IF_ERROR(Scalar(distribution, key + ".distribution", &dist));
  if (dist == "uniform") {
    p->distribution = Distribution::kUniform;
  } else if (dist == "int_uniform") {
    p->distribution = Distribution::kIntUniform;
  } else if (dist == "log_uniform") {
    p->distribution = Distribution::kLogUniform;
  } else if (dist == "int_log_uniform") {
    p->distribution = Distribution::kIntLogUniform;
  } else {
    const std::string near = NearestKey(dist, DistributionNames());
    std::string hint = near.empty() ? "" : " (did you mean '" + near + "'?)";
    if (dist == "categorical" || dist == "choice") hint = " (for a list of choices, use values)";
    return Err(distribution.line, "key '" + key +
                                      "': distribution must be uniform, int_uniform, "
                                      "log_uniform or int_log_uniform, got '" +
                                      dist + "'" + hint);
  }
  if (min == nullptr || max == nullptr) {
    return Err(distribution.line, "key '" + key + "': distribution " + dist +
                                      " needs min and max (" + (min == nullptr ? "min" : "max") +
                                      " is missing)");
  }
  std::string min_text, max_text;
  HPSWEEP_RETURN_IF_ERROR(Scalar(*min, key + ".min", &min_text));
  HPSWEEP_RETURN_IF_ERROR(Scalar(*max, key + ".max", &max_text));
  if (!ParseDouble(min_text, &p->min)) {
    return Err(min->line, "key '" + key + "': min must be a number, got '" + min_text + "'");
  }
  if (!ParseDouble(max_text, &p->max)) {
    return Err(max->line, "key '" + key + "': max must be a number, got '" + max_text + "'");
  }
  if (p->min >= p->max) {
    return Err(min->line, "key '" + key + "': min (" + min_text + ") must be smaller than max (" +
                              max_text + ")");
  }
  if (p->distribution == Distribution::kLogUniform && p->min <= 0) {
    return Err(min->line, "key '" + key + "': log_uniform needs min > 0, got " + min_text);
  }
  const bool integer = p->distribution == Distribution::kIntUniform ||
                       p->distribution == Distribution::kIntLogUniform;
  if (integer) {
    if (p->min != std::floor(p->min) || std::fabs(p->min) > 1e15) {
      return Err(min->line, "key '" + key + "': " + dist + " needs an integer min, got " + min_text);
    }
    if (p->max != std::floor(p->max) || std::fabs(p->max) > 1e15) {
      return Err(max->line, "key '" + key + "': " + dist + " needs an integer max, got " + max_text);
    }
  }
  if (p->distribution == Distribution::kIntLogUniform && p->min < 1) {
    return Err(min->line, "key '" + key + "': int_log_uniform needs min >= 1, got " + min_text);
  }
  // The engine checks the bounds, so every draw is in the key's range; uniform and log_uniform
  // draw non-integers, which integer keys refuse: probe with one.
  HPSWEEP_RETURN_IF_ERROR(CheckConfigValue(key, min_text, min->line, "", nullptr));
  HPSWEEP_RETURN_IF_ERROR(CheckConfigValue(key, max_text, max->line, "", nullptr));
  if (!integer) {
    const std::string probe = Format6(p->min + (p->max - p->min) * 0.371);
    HPSWEEP_RETURN_IF_ERROR(CheckConfigValue(
        key, probe, distribution.line,
        " (a draw of " + dist + "; for an integer key use distribution: int_uniform)", nullptr));
  }
  return Status::Ok();
}

Status Parser::ReadBayes(const Entry& e, SweepSpec* spec) {
  bayes_line_ = e.line;
  if (e.value->IsNull()) return Status::Ok();
  if (!e.value->IsMapping()) {
    return Err(LineOf(e.value, e.line),
               "key 'bayes': expected a mapping such as {n_startup_trials: 10}, got " +
                   std::string(TypeName(e.value)));
  }
  std::vector<Entry> entries;
  HPSWEEP_RETURN_IF_ERROR(ReadMapping(e.value, "bayes", BayesKeys(), &entries));
  for (const Entry& x : entries) {
    spec->lines["bayes." + x.key] = x.line;
    int64_t v = 0;
    if (x.key == "n_startup_trials") {
      HPSWEEP_RETURN_IF_ERROR(IntInRange(x, "bayes.n_startup_trials", 0, 1000, &v));
      spec->bayes.n_startup_trials = static_cast<int>(v);
    } else if (x.key == "n_ei_candidates") {
      HPSWEEP_RETURN_IF_ERROR(IntInRange(x, "bayes.n_ei_candidates", 1, 1000, &v));
      spec->bayes.n_ei_candidates = static_cast<int>(v);
    } else {
      std::string text;
      HPSWEEP_RETURN_IF_ERROR(Scalar(x, "bayes.model", &text));
      if (text != "auto" && text != "tpe" && text != "gp") {
        return Err(x.line, "key 'bayes.model': expected auto, tpe or gp, got '" +
                               EscapeText(text) + "'");
      }
      spec->bayes.model = text == "tpe" ? BayesModel::kTpe
                          : text == "gp" ? BayesModel::kGp : BayesModel::kAuto;
    }
  }
  return Status::Ok();
}

// warm_start: {sweeps: [ID or name, ...]}: each a sweep id (1 to 15 digits) or a sweep name
// (as `name` takes it); the scheduler finds them at submit.
Status Parser::ReadWarmStart(const Entry& e, SweepSpec* spec) {
  spec->lines["warm_start"] = e.line;
  if (!e.value->IsMapping()) {
    return Err(LineOf(e.value, e.line),
               "key 'warm_start': expected a mapping such as {sweeps: [3, lstm-units]}, got " +
                   std::string(TypeName(e.value)));
  }
  static const std::vector<std::string> keys = {"sweeps"};
  std::vector<Entry> entries;
  HPSWEEP_RETURN_IF_ERROR(ReadMapping(e.value, "warm_start", keys, &entries));
  for (const Entry& x : entries) {
    spec->lines["warm_start." + x.key] = x.line;
    if (!x.value->IsSequence() || x.value->items.empty() ||
        x.value->items.size() > kMaxWarmStartSweeps) {
      return Err(LineOf(x.value, x.line),
                 "key 'warm_start.sweeps': expected a list of 1 to " +
                     std::to_string(kMaxWarmStartSweeps) + " sweep ids or names, got " +
                     (x.value->IsSequence() ? std::to_string(x.value->items.size()) + " items"
                                            : std::string(TypeName(x.value))));
    }
    for (const YamlNode* item : x.value->items) {
      const std::string text = item->IsScalar() ? item->text : "";
      const bool id = !text.empty() && text.size() <= 15 &&
                      text.find_first_not_of("0123456789") == std::string::npos && text[0] != '0';
      if (!id && (!IsSafeName(text) || text.size() > kMaxSweepNameLength || text == "." ||
                  text == "..")) {
        return Err(LineOf(item, x.line),
                   "key 'warm_start.sweeps': expected a sweep id or a sweep name (letters, "
                   "digits, '.', '_' or '-', at most " + std::to_string(kMaxSweepNameLength) +
                       " characters), got '" + EscapeText(text) + "'");
      }
      if (std::find(spec->warm_start.begin(), spec->warm_start.end(), text) !=
          spec->warm_start.end()) {
        return Err(LineOf(item, x.line),
                   "key 'warm_start.sweeps': '" + text + "' is named twice");
      }
      spec->warm_start.push_back(text);
    }
  }
  if (spec->warm_start.empty()) {
    return Err(e.line, "key 'warm_start': expected sweeps: [ID or name, ...]");
  }
  return Status::Ok();
}

}  // namespace sweep_internal
}  // namespace hpsweep
