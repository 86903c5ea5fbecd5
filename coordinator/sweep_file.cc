#include "coordinator/sweep_file.h"

#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>
#include <string_view>
#include <utility>

#include "coordinator/yaml_tree.h"
#include "engine/tensor.h"

namespace hpsweep {
namespace {

// A duplicate random draw is redrawn this many times before falling back to the points not drawn.
constexpr int kRedraws = 100;
// Finite random spaces up to this size can fall back to picking among the points not yet drawn.
constexpr uint64_t kEnumerateLimit = 100000;
// Stream of the random draws, so they are independent of anything else seeded by spec.seed.
constexpr uint64_t kDrawStream = 0x5357454550ULL;  // "SWEEP"

const std::vector<std::string>& TopLevelKeys() {
  static const std::vector<std::string> keys = {"name",   "description", "data",         "method",
                                                "metric", "max_trials",  "max_attempts", "seed",
                                                "fixed",  "parameters",  "trials",       "bayes", "early_terminate", "reuse"};
  return keys;
}
const std::vector<std::string>& MethodNames() {
  static const std::vector<std::string> names = {"grid", "random", "list", "bayes"};
  return names;
}
const std::vector<std::string>& BayesKeys() {
  static const std::vector<std::string> keys = {"n_startup_trials", "n_ei_candidates"};
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
// The sweep's name names files of exports; its description is free text shown with it.
constexpr size_t kMaxSweepNameLength = 64;
constexpr size_t kMaxDescriptionBytes = 4096;
const std::vector<std::string>& DataKeys() {
  static const std::vector<std::string> keys = {
      "dataset", "validation_split", "validation", "train_limit", "seed", "format", "path", "train",
      "test",    "sequence_length"};
  return keys;
}
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
  static const std::vector<std::string> keys = {"values", "distribution", "min", "max"};
  return keys;
}
const std::vector<std::string>& DistributionNames() {
  static const std::vector<std::string> names = {"uniform", "int_uniform", "log_uniform"};
  return names;
}

bool Contains(const std::vector<std::string>& v, std::string_view s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Optimal string alignment distance: Levenshtein plus adjacent transpositions ("untis").
size_t EditDistance(std::string_view a, std::string_view b) {
  const size_t n = a.size(), m = b.size();
  std::vector<std::vector<size_t>> d(n + 1, std::vector<size_t>(m + 1));
  for (size_t i = 0; i <= n; ++i) d[i][0] = i;
  for (size_t j = 0; j <= m; ++j) d[0][j] = j;
  for (size_t i = 1; i <= n; ++i) {
    for (size_t j = 1; j <= m; ++j) {
      const size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[n][m];
}

}  // namespace

std::string NearestKey(std::string_view key, const std::vector<std::string>& known) {
  static const std::vector<std::pair<std::string, std::string>> aliases = {
      {"lr", "learning_rate"},
      {"batch", "batch_size"},
      {"num_layers", "layers"},
      {"n_layers", "layers"},
      {"hidden_units", "units"},
      {"num_units", "units"},
      {"cell_type", "cell"},
      {"optimiser", "optimizer"},
      {"value", "values"},
      {"choices", "values"},
      {"low", "min"},
      {"high", "max"},
      {"log_uniform_values", "log_uniform"},
      {"loguniform", "log_uniform"},
      {"randint", "int_uniform"},
      {"objective", "metric"},
      {"dataset", "data"},
      {"trials", "max_trials"},
      {"num_trials", "max_trials"},
      {"random_seed", "seed"},
  };
  const std::string lower = Lower(key);
  for (const auto& [alias, target] : aliases) {
    if (lower == alias && Contains(known, target)) return target;
  }
  std::string best;
  size_t best_d = std::numeric_limits<size_t>::max();
  for (const std::string& k : known) {
    const size_t d = EditDistance(lower, k);
    if (d < best_d) best_d = d, best = k;
  }
  const size_t limit = lower.size() <= 4 ? 1 : (lower.size() <= 8 ? 2 : 3);
  if (best_d <= limit) return best;
  // A known key that ends or starts with it: "accuracy" -> val_accuracy, "limit" -> train_limit.
  if (lower.size() >= 4) {
    for (const std::string& k : known) {
      if (k.size() > lower.size() &&
          (k.compare(k.size() - lower.size(), lower.size(), lower) == 0 ||
           k.compare(0, lower.size(), lower) == 0)) {
        return k;
      }
    }
  }
  return "";
}

namespace {

std::string JoinKeys(const std::vector<std::string>& keys) {
  std::string out;
  for (const std::string& k : keys) out += (out.empty() ? "" : ", ") + k;
  return out;
}

const char* TypeName(const YamlNode* n) { return YamlTypeName(*n); }

// %.6g, the form random draws take in trial parameters.
std::string Format6(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

// The shortest %g form that reads back as exactly v.
std::string FormatExact(double v) {
  char buf[64];
  for (int precision = 6; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

// 82186, or 2.14e9 past 100,000: how messages give parameter counts.
std::string FormatCount(int64_t n) {
  if (n < 100000) return std::to_string(n);
  int exponent = 0;
  double mantissa = static_cast<double>(n);
  while (mantissa >= 10) mantissa /= 10, ++exponent;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", mantissa);
  if (std::strcmp(buf, "10") == 0) std::snprintf(buf, sizeof buf, "1"), ++exponent;
  return std::string(buf) + "e" + std::to_string(exponent);
}

// "12.5 GiB", "340 MiB".
std::string FormatBytes(int64_t bytes) {
  char buf[32];
  const double mib = static_cast<double>(bytes) / (1 << 20);
  if (mib >= 1024) {
    std::snprintf(buf, sizeof buf, "%.3g GiB", mib / 1024);
  } else {
    std::snprintf(buf, sizeof buf, "%.3g MiB", mib);
  }
  return buf;
}

bool ParseDouble(const std::string& s, double* out) {
  if (s.empty()) return false;
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(s.c_str(), &end);
  if (errno != 0 || *end != '\0' || !std::isfinite(v)) return false;
  *out = v;
  return true;
}

bool ParseInt64(const std::string& s, int64_t* out) {
  if (s.empty()) return false;
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(s.c_str(), &end, 10);
  if (errno != 0 || *end != '\0') return false;
  *out = v;
  return true;
}

bool IsSafeName(const std::string& s) {
  if (s.empty() || s.size() > 128) return false;
  for (char c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') {
      return false;
    }
  }
  return true;
}

const char* DistributionName(Distribution d) {
  switch (d) {
    case Distribution::kValues: return "values";
    case Distribution::kUniform: return "uniform";
    case Distribution::kIntUniform: return "int_uniform";
    case Distribution::kLogUniform: return "log_uniform";
  }
  return "?";
}

// How messages name a section: "the top level", "'fixed'", "item 2 of 'trials'" (from the
// section path "trials[2]", items counted from 1).
std::string SectionName(const std::string& section) {
  if (section.empty()) return "the top level";
  if (section.rfind("trials[", 0) == 0 && section.back() == ']') {
    return "item " + section.substr(7, section.size() - 8) + " of 'trials'";
  }
  return "'" + section + "'";
}

bool IsItemSection(const std::string& section) { return section.rfind("trials[", 0) == 0; }

// "item 2 (A1)" or "item 2": how messages name an item of a list sweep (0-based index).
std::string ItemName(size_t index, const ListItem& item) {
  std::string out = "item " + std::to_string(index + 1);
  if (!item.label.empty()) out += " (" + item.label + ")";
  return out;
}

// "file:12: message", or "file: message" when the line is unknown (a spec built by hand). Text
// quoted from the file (or the file name) is escaped: a message is valid UTF-8 on one line.
Status ErrorAt(const std::string& file, int line, const std::string& message) {
  if (line <= 0) return InvalidArgument(EscapeText(file) + ": " + EscapeText(message));
  return InvalidArgument(EscapeText(file) + ":" + std::to_string(line) + ": " +
                         EscapeText(message));
}

int LineOr(const std::map<std::string, int>& lines, const std::string& key, int fallback) {
  auto it = lines.find(key);
  return it == lines.end() ? fallback : it->second;
}

// True when `key` takes a list ("[64, 32]"): dense and dropout today. Asked of the engine rather
// than listed here, so a new list-valued key needs no change in this file.
bool IsListKey(const std::string& key) {
  TrialConfig scratch;
  return ApplyKey(key, "[]", &scratch).ok();
}

// ---------------------------------------------------------------------------------------------
// Parsing.

struct Entry {
  std::string key;
  int line = 0;  // of the key
  const YamlNode* value = nullptr;
};

// A key under data that folds into the config, remembered until fixed and parameters are known.
struct DataKey {
  std::string key;
  std::string text;
  int line = 0;
};

class Parser {
 public:
  explicit Parser(const std::string& file) : file_(file) {}

  StatusOr<SweepSpec> Parse(const YamlNode* root);

 private:
  Status Err(int line, const std::string& message) const { return ErrorAt(file_, line, message); }

  static int LineOf(const YamlNode* node, int fallback) {
    return node->line > 0 ? node->line : fallback;
  }

  // The entries of mapping `node`, in file order; every key must be one of `known` and appear
  // once. `section` is "" for the top level, else the path used in messages ("data", "fixed",
  // "parameters.units").
  Status ReadMapping(const YamlNode* node, const std::string& section,
                     const std::vector<std::string>& known, std::vector<Entry>* out) const;
  std::string UnknownKey(const std::string& key, const std::string& section,
                         const std::vector<std::string>& known) const;
  // A single value (not a list, mapping or nothing) under `what` ("name", "data.seed").
  Status Scalar(const Entry& e, const std::string& what, std::string* out) const;
  // The text form of a config value: a scalar as written, a list of scalars as "[a, b]".
  Status ConfigText(const std::string& key, const YamlNode* node, int fallback_line,
                    std::string* out) const;
  // Checks `text` for `key` with ApplyKey on a default config; `canonical` gets GetKey's form.
  Status CheckConfigValue(const std::string& key, const std::string& text, int line,
                          const std::string& hint, std::string* canonical) const;
  Status IntInRange(const Entry& e, const std::string& what, int64_t lo, int64_t hi,
                    int64_t* out) const;

  Status ReadData(const Entry& e, SweepSpec* spec);
  Status ReadMetric(const Entry& e, SweepSpec* spec);
  Status ReadEarlyTerminate(const Entry& e, SweepSpec* spec);
  // After the whole file: a hyperband whose first rung is not below the fixed epochs.
  Status CheckEarlyTerminate(const SweepSpec& spec) const;
  // data: the keys of a user's own data set fit its format (after ReadData).
  Status CheckDataForm(const SweepSpec& spec) const;
  Status ReadFixed(const Entry& e, SweepSpec* spec);
  // One model/training key as under `fixed` or in a list item: its text form, checked.
  Status ReadConfigEntry(const Entry& f, std::string* text) const;
  Status ReadParameters(const Entry& e, SweepSpec* spec);
  Status ReadTrials(const Entry& e, SweepSpec* spec);
  Status ReadParameter(const Entry& e, ParameterSpec* p);
  Status ReadBayes(const Entry& e, SweepSpec* spec);

  const std::string& file_;
  std::vector<DataKey> data_keys_;
  bool top_level_seed_ = false;
  std::string data_seed_;
  int trials_line_ = 0;  // of the top-level `trials` key, 0 when absent
  int bayes_line_ = 0;   // of the top-level `bayes` key, 0 when absent
};

Status Parser::ReadMapping(const YamlNode* node, const std::string& section,
                           const std::vector<std::string>& known, std::vector<Entry>* out) const {
  const std::string where = SectionName(section);
  if (node->IsNull()) return Status::Ok();  // "fixed:" with nothing under it
  if (!node->IsMapping()) {
    return Err(LineOf(node, 1),
               "expected a mapping of keys at " + where + ", got " + TypeName(node));
  }
  // ParseYaml has refused keys that are not single values, and keys given twice, naming the
  // place as SectionName does.
  for (const auto& [k, v] : node->entries) {
    Entry e;
    e.line = LineOf(k, LineOf(node, 1));
    e.key = k->text;
    e.value = v;
    if (!Contains(known, e.key)) return Err(e.line, UnknownKey(e.key, section, known));
    out->push_back(std::move(e));
  }
  return Status::Ok();
}

std::string Parser::UnknownKey(const std::string& key, const std::string& section,
                               const std::vector<std::string>& known) const {
  std::string msg = "unknown key '" + key + "'";
  msg += section.empty() ? " at the top level" : " under " + SectionName(section);
  const bool config_section =
      section == "fixed" || section == "parameters" || IsItemSection(section);
  // Keys that belong to another section.
  if (section.empty() && IsConfigKey(key)) {
    return msg + ": '" + key + "' is a model/training key; put it under 'fixed' (the same in " +
           "every trial) or 'parameters' (an axis of the sweep)";
  }
  if (section.empty() && (key == "dataset" || key == "train_limit")) {
    return msg + ": it goes under 'data'";
  }
  if (config_section && Contains(DataKeys(), key)) return msg + ": it goes under 'data'";
  if (config_section && Contains(TopLevelKeys(), key)) return msg + ": it is a top-level key";
  const std::string nearest = NearestKey(key, known);
  if (!nearest.empty()) return msg + " (did you mean '" + nearest + "'?)";
  return msg + " (known keys: " + JoinKeys(known) + ")";
}

Status Parser::Scalar(const Entry& e, const std::string& what, std::string* out) const {
  if (e.value->IsScalar()) {
    *out = e.value->text;
    return Status::Ok();
  }
  if (e.value->IsNull()) return Err(e.line, "key '" + what + "': no value given");
  return Err(LineOf(e.value, e.line),
             "key '" + what + "': expected a single value, got " + TypeName(e.value));
}

Status Parser::ConfigText(const std::string& key, const YamlNode* node, int fallback_line,
                          std::string* out) const {
  // A null value's mark is where the parser noticed it (often the next line): use the key's.
  const int line = node->IsNull() ? fallback_line : LineOf(node, fallback_line);
  if (node->IsScalar()) {
    *out = node->text;
    return Status::Ok();
  }
  if (node->IsSequence()) {
    std::string text = "[";
    for (size_t i = 0; i < node->items.size(); ++i) {
      const YamlNode* item = node->items[i];
      if (!item->IsScalar()) {
        return Err(LineOf(item, line), "key '" + key + "': expected a list of numbers, got " +
                                           TypeName(item) + " inside the list");
      }
      text += (i ? ", " : "") + item->text;
    }
    *out = text + "]";
    return Status::Ok();
  }
  if (node->IsNull()) return Err(line, "key '" + key + "': no value given");
  return Err(line, "key '" + key + "': expected a value, got " + TypeName(node));
}

Status Parser::CheckConfigValue(const std::string& key, const std::string& text, int line,
                                const std::string& hint, std::string* canonical) const {
  TrialConfig scratch;
  const Status st = ApplyKey(key, text, &scratch);
  if (!st.ok()) return Err(line, st.message() + hint);
  if (canonical != nullptr) *canonical = GetKey(scratch, key);
  return Status::Ok();
}

Status Parser::IntInRange(const Entry& e, const std::string& what, int64_t lo, int64_t hi,
                          int64_t* out) const {
  std::string text;
  HPSWEEP_RETURN_IF_ERROR(Scalar(e, what, &text));
  int64_t v = 0;
  if (!ParseInt64(text, &v) || v < lo || v > hi) {
    return Err(e.line, "key '" + what + "': expected an integer in [" + std::to_string(lo) + ", " +
                           std::to_string(hi) + "], got '" + text + "'");
  }
  *out = v;
  return Status::Ok();
}

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
    for (const char* k : {"path", "train", "test", "sequence_length"}) {
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
    for (const char* k : {"train", "test", "sequence_length"}) {
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
    if (m.key == "name") {
      if (text != "val_accuracy" && text != "val_loss" && text != "test_accuracy") {
        const std::string near = NearestKey(text, {"val_accuracy", "val_loss", "test_accuracy"});
        return Err(m.line,
                   "key 'metric.name': expected one of val_accuracy, val_loss, "
                   "test_accuracy, got '" +
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
  const bool natural_max = spec->metric != "val_loss";
  if (goal.empty()) {
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
  int64_t epochs = TrialConfig().train.epochs;
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
  for (const Entry& x : entries) {
    if (x.key == "values") values = &x;
    if (x.key == "distribution") distribution = &x;
    if (x.key == "min") min = &x;
    if (x.key == "max") max = &x;
  }
  if (values != nullptr) {
    if (distribution != nullptr || min != nullptr || max != nullptr) {
      const Entry* other = distribution ? distribution : (min ? min : max);
      return Err(other->line, "key '" + key +
                                  "': give either values or a distribution with min "
                                  "and max, not both");
    }
    const YamlNode* list = values->value;
    if (!list->IsSequence()) {
      return Err(LineOf(list, values->line), "key '" + key +
                                                 "': values must be a list such as "
                                                 "[1, 2], got " +
                                                 TypeName(list));
    }
    if (list->items.empty()) {
      return Err(values->line, "key '" + key + "': values is empty; give at least one value");
    }
    std::map<std::string, int> seen;  // canonical form -> line
    for (size_t i = 0; i < list->items.size(); ++i) {
      const YamlNode* item = list->items[i];
      const int line = LineOf(item, values->line);
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
  if (distribution == nullptr) {
    if (min != nullptr || max != nullptr) {
      return Err(e.line, "key '" + key +
                             "': min and max need a distribution (uniform, "
                             "int_uniform or log_uniform)");
    }
    return Err(e.line, "key '" + key + "': give values: [...] or a distribution with min and max");
  }
  std::string dist;
  HPSWEEP_RETURN_IF_ERROR(Scalar(*distribution, key + ".distribution", &dist));
  if (dist == "uniform") {
    p->distribution = Distribution::kUniform;
  } else if (dist == "int_uniform") {
    p->distribution = Distribution::kIntUniform;
  } else if (dist == "log_uniform") {
    p->distribution = Distribution::kLogUniform;
  } else {
    const std::string near = NearestKey(dist, DistributionNames());
    std::string hint = near.empty() ? "" : " (did you mean '" + near + "'?)";
    if (dist == "categorical" || dist == "choice") hint = " (for a list of choices, use values)";
    return Err(distribution->line, "key '" + key +
                                       "': distribution must be uniform, int_uniform "
                                       "or log_uniform, got '" +
                                       dist + "'" + hint);
  }
  if (min == nullptr || max == nullptr) {
    return Err(distribution->line, "key '" + key + "': distribution " + dist +
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
  if (p->distribution == Distribution::kIntUniform) {
    if (p->min != std::floor(p->min) || std::fabs(p->min) > 1e15) {
      return Err(min->line, "key '" + key + "': int_uniform needs an integer min, got " + min_text);
    }
    if (p->max != std::floor(p->max) || std::fabs(p->max) > 1e15) {
      return Err(max->line, "key '" + key + "': int_uniform needs an integer max, got " + max_text);
    }
  }
  // The engine checks the bounds, so every draw is in the key's range; uniform and log_uniform
  // draw non-integers, which integer keys refuse: probe with one.
  HPSWEEP_RETURN_IF_ERROR(CheckConfigValue(key, min_text, min->line, "", nullptr));
  HPSWEEP_RETURN_IF_ERROR(CheckConfigValue(key, max_text, max->line, "", nullptr));
  if (p->distribution != Distribution::kIntUniform) {
    const std::string probe = Format6(p->min + (p->max - p->min) * 0.371);
    HPSWEEP_RETURN_IF_ERROR(CheckConfigValue(
        key, probe, distribution->line,
        " (a draw of " + dist + "; for an integer key use distribution: int_uniform)", nullptr));
  }
  return Status::Ok();
}

// The number of grid points (saturating at UINT64_MAX) and "units (4) x layers (2)".
uint64_t GridSize(const SweepSpec& spec, std::string* axes) {
  uint64_t count = 1;
  for (const ParameterSpec& p : spec.parameters) {
    const uint64_t n = p.values.size();
    if (axes != nullptr) {
      *axes += (axes->empty() ? "" : " x ") + p.key + " (" + std::to_string(n) + ")";
    }
    if (n != 0 && count > std::numeric_limits<uint64_t>::max() / n) {
      count = std::numeric_limits<uint64_t>::max();
    } else {
      count *= n;
    }
  }
  return count;
}

// The grid checks shared by ParseSweep and ExpandSweep: no distributions, no empty axis, at most
// kMaxTrialsPerSweep points, and no more than max_trials when it is set. For method: list the
// count is the items times the grid points.
Status CheckGrid(const SweepSpec& spec, const std::string& file, uint64_t* count) {
  const bool list = spec.method == SweepMethod::kList;
  const int params_line =
      LineOr(spec.lines, "parameters", list ? LineOr(spec.lines, "trials", 0) : 0);
  for (const ParameterSpec& p : spec.parameters) {
    if (p.distribution != Distribution::kValues) {
      return ErrorAt(file, p.line,
                     "key '" + p.key + "': distribution " + DistributionName(p.distribution) +
                         (list ? " cannot be crossed with a list of trials; give values: [...]"
                               : " cannot be a grid axis; use method: random or bayes "
                                 "(with max_trials), or give values: [...]"));
    }
    if (p.values.empty()) {
      return ErrorAt(file, p.line, "key '" + p.key + "': values is empty; give at least one value");
    }
  }
  std::string axes;
  if (list) axes = "trials (" + std::to_string(spec.items.size()) + ")";
  *count = GridSize(spec, &axes);
  if (list) {
    const uint64_t n = spec.items.size();
    *count = n == 0 ? 0
             : *count > std::numeric_limits<uint64_t>::max() / n
                 ? std::numeric_limits<uint64_t>::max()
                 : *count * n;
  }
  const std::string count_text = *count == std::numeric_limits<uint64_t>::max()
                                     ? std::string("more than 10^19")
                                     : std::to_string(*count);
  if (*count > static_cast<uint64_t>(kMaxTrialsPerSweep)) {
    return ErrorAt(file, params_line,
                   std::string(list ? "the sweep " : "the grid ") + axes + " has " + count_text +
                       " trials, over the limit of " + std::to_string(kMaxTrialsPerSweep) +
                       " per sweep; use fewer values" +
                       (list ? "" : ", or method: random with max_trials"));
  }
  if (spec.max_trials > 0 && *count > static_cast<uint64_t>(spec.max_trials)) {
    return ErrorAt(file, LineOr(spec.lines, "max_trials", params_line),
                   "key 'max_trials': " + std::to_string(spec.max_trials) +
                       " is smaller than the " + (list ? "sweep " : "grid ") +
                       (axes.empty() ? "" : axes + " = ") + count_text +
                       " trials; raise max_trials, remove it, or use fewer values "
                       "(a grid is never cut silently)");
  }
  return Status::Ok();
}

// The checks of a list sweep shared by ParseSweep and ExpandSweep: at least one item, item keys
// that are config keys and not swept, no two items that make the same trial (fixed merged with
// the item, labels aside: every trial would run twice), and the grid checks on the product.
Status CheckList(const SweepSpec& spec, const std::string& file, uint64_t* count) {
  const int list_line = LineOr(spec.lines, "trials", LineOr(spec.lines, "method", 0));
  if (spec.items.empty()) {
    return ErrorAt(file, list_line,
                   "method: list needs 'trials', a list with at least one item such as "
                   "- {label: A1, cell: lstm, units: 128}");
  }
  TrialConfig base;
  for (const auto& [key, text] : spec.fixed) {
    const Status st = ApplyKey(key, text, &base);
    if (!st.ok()) return ErrorAt(file, LineOr(spec.lines, "fixed." + key, 0), st.message());
  }
  std::map<std::vector<std::string>, size_t> seen;  // merged config -> item index
  std::set<std::string> labels;
  for (size_t i = 0; i < spec.items.size(); ++i) {
    const ListItem& item = spec.items[i];
    const std::string name = ItemName(i, item) + " of 'trials'";
    if (!item.label.empty() && !labels.insert(item.label).second) {
      return ErrorAt(file, LineOr(item.lines, kLabelKey, item.line),
                     "key 'label': '" + item.label + "' is used twice; labels name one item each");
    }
    TrialConfig config = base;
    for (const auto& [key, text] : item.params) {
      const int line = LineOr(item.lines, key, item.line);
      if (!IsConfigKey(key)) return ErrorAt(file, line, "unknown key '" + key + "' in " + name);
      for (const ParameterSpec& p : spec.parameters) {
        if (p.key == key) {
          return ErrorAt(file, line,
                         "key '" + key + "' is set in " + name + " and swept under parameters " +
                             "(line " + std::to_string(p.line) + "); keep one");
        }
      }
      const Status st = ApplyKey(key, text, &config);
      if (!st.ok()) return ErrorAt(file, line, st.message());
    }
    std::vector<std::string> canonical;
    for (const std::string& key : ConfigKeys()) canonical.push_back(GetKey(config, key));
    auto [prev, inserted] = seen.emplace(std::move(canonical), i);
    if (!inserted) {
      const ListItem& first = spec.items[prev->second];
      return ErrorAt(file, item.line,
                     name + " is the same trial as " + ItemName(prev->second, first) +
                         (first.line > 0 ? " on line " + std::to_string(first.line) : "") +
                         " once merged with fixed (labels aside); every trial would run twice");
    }
  }
  return CheckGrid(spec, file, count);
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
    }
  }
  return Status::Ok();
}

StatusOr<SweepSpec> Parser::Parse(const YamlNode* root) {
  SweepSpec spec;
  if (!root->IsMapping()) {
    return Err(LineOf(root, 1),
               "expected a mapping of sweep keys (name, method, fixed, "
               "parameters, ...), got " +
                   std::string(TypeName(root)));
  }
  std::vector<Entry> entries;
  HPSWEEP_RETURN_IF_ERROR(ReadMapping(root, "", TopLevelKeys(), &entries));
  bool has_name = false;
  for (const Entry& e : entries) {
    spec.lines[e.key] = e.line;
    std::string text;
    if (e.key == "name") {
      HPSWEEP_RETURN_IF_ERROR(Scalar(e, "name", &text));
      // The name ends up in paths and URLs of exports: "." and ".." would name a directory.
      if (!IsSafeName(text) || text.size() > kMaxSweepNameLength || text == "." || text == "..") {
        return Err(e.line, "key 'name': expected letters, digits, '.', '_' or '-' (at most " +
                               std::to_string(kMaxSweepNameLength) +
                               " characters, not '.' or '..'), got '" + text + "'");
      }
      spec.name = text;
      has_name = true;
    } else if (e.key == "description") {
      if (!e.value->IsNull()) HPSWEEP_RETURN_IF_ERROR(Scalar(e, "description", &spec.description));
      // Stored and shown by every reader of the sweep (JSON included): short, UTF-8 text.
      if (spec.description.size() > kMaxDescriptionBytes) {
        return Err(e.line, "key 'description': " + std::to_string(spec.description.size()) +
                               " bytes, over the limit of " + std::to_string(kMaxDescriptionBytes));
      }
      if (!IsValidUtf8(spec.description)) {
        return Err(e.line, "key 'description': not valid UTF-8 text");
      }
    } else if (e.key == "data") {
      HPSWEEP_RETURN_IF_ERROR(ReadData(e, &spec));
      HPSWEEP_RETURN_IF_ERROR(CheckDataForm(spec));
    } else if (e.key == "method") {
      HPSWEEP_RETURN_IF_ERROR(Scalar(e, "method", &text));
      if (text == "grid") {
        spec.method = SweepMethod::kGrid;
      } else if (text == "random") {
        spec.method = SweepMethod::kRandom;
      } else if (text == "list") {
        spec.method = SweepMethod::kList;
      } else if (text == "bayes") {
        spec.method = SweepMethod::kBayes;
      } else {
        const std::string near = NearestKey(text, MethodNames());
        std::string hint = near.empty() ? "" : " (did you mean '" + near + "'?)";
        if (Lower(text) == "tpe" || Lower(text) == "bayesian") hint = " (did you mean 'bayes'?)";
        return Err(e.line,
                   "key 'method': expected grid or random, list (with a 'trials' "
                   "list) or bayes, got '" +
                       text + "'" + hint);
      }
    } else if (e.key == "metric") {
      HPSWEEP_RETURN_IF_ERROR(ReadMetric(e, &spec));
    } else if (e.key == "early_terminate") {
      HPSWEEP_RETURN_IF_ERROR(ReadEarlyTerminate(e, &spec));
    } else if (e.key == "max_trials") {
      int64_t v = 0;
      HPSWEEP_RETURN_IF_ERROR(IntInRange(e, "max_trials", 1, kMaxTrialsPerSweep, &v));
      spec.max_trials = static_cast<int>(v);
    } else if (e.key == "max_attempts") {
      int64_t v = 0;
      HPSWEEP_RETURN_IF_ERROR(IntInRange(e, "max_attempts", 1, 100, &v));
      spec.max_attempts = static_cast<int>(v);
    } else if (e.key == "seed") {
      HPSWEEP_RETURN_IF_ERROR(Scalar(e, "seed", &text));
      TrialConfig scratch;
      const Status st = ApplyKey("seed", text, &scratch);
      if (!st.ok()) return Err(e.line, st.message());
      spec.seed = scratch.train.seed;
      top_level_seed_ = true;
    } else if (e.key == "fixed") {
      HPSWEEP_RETURN_IF_ERROR(ReadFixed(e, &spec));
    } else if (e.key == "parameters") {
      HPSWEEP_RETURN_IF_ERROR(ReadParameters(e, &spec));
    } else if (e.key == "trials") {
      HPSWEEP_RETURN_IF_ERROR(ReadTrials(e, &spec));
    } else if (e.key == "bayes") {
      HPSWEEP_RETURN_IF_ERROR(ReadBayes(e, &spec));
    } else if (e.key == "reuse") {
      HPSWEEP_RETURN_IF_ERROR(Scalar(e, "reuse", &text));
      if (text != "true" && text != "false") {
        return Err(e.line, "key 'reuse': expected true or false, got '" + EscapeText(text) + "'");
      }
      spec.reuse = text == "true";
    }
  }
  if (!has_name) {
    return Err(1, "missing required key 'name' (a short identifier such as lstm-units)");
  }

  // A key is either fixed or swept.
  for (const ParameterSpec& p : spec.parameters) {
    if (spec.fixed.count(p.key)) {
      return Err(p.line, "key '" + p.key + "' is both fixed (line " +
                             std::to_string(LineOr(spec.lines, "fixed." + p.key, 0)) +
                             ") and swept under parameters; keep one");
    }
  }
  // Fold data.validation_split / validation / seed into the config keys.
  auto swept = [&spec](const std::string& key) {
    for (const ParameterSpec& p : spec.parameters) {
      if (p.key == key) return true;
    }
    return false;
  };
  for (const DataKey& d : data_keys_) {
    const bool in_fixed = spec.fixed.count(d.key) > 0;
    if (in_fixed || swept(d.key)) {
      if (d.key == "seed") continue;  // fixed/parameters set the trials' seed (documented)
      const std::string other = in_fixed ? "fixed" : "parameters";
      return Err(d.line,
                 "key '" + d.key + "' is given both under data and under " + other + " (line " +
                     std::to_string(LineOr(spec.lines, other + "." + d.key, 0)) + "); keep one");
    }
    spec.fixed[d.key] = d.text;
    spec.lines["fixed." + d.key] = d.line;
  }
  // train_limit set under fixed (where the engine has the key) is the sweep's too.
  if (data_keys_.end() == std::find_if(data_keys_.begin(), data_keys_.end(),
                                       [](const DataKey& d) { return d.key == "train_limit"; }) &&
      spec.fixed.count("train_limit")) {
    int64_t v = 0;
    if (ParseInt64(spec.fixed["train_limit"], &v) && v >= 0) spec.train_limit = v;
  }
  if (!top_level_seed_ && !data_seed_.empty()) {
    TrialConfig scratch;
    if (ApplyKey("seed", data_seed_, &scratch).ok()) spec.seed = scratch.train.seed;
  }

  HPSWEEP_RETURN_IF_ERROR(CheckEarlyTerminate(spec));

  if (trials_line_ > 0 && spec.method != SweepMethod::kList) {
    return Err(trials_line_, "key 'trials' (one trial per item) needs method: list; a " +
                                 std::string(spec.method == SweepMethod::kRandom  ? "random"
                                             : spec.method == SweepMethod::kBayes ? "bayes"
                                                                                  : "grid") +
                                 " sweep takes its trials from parameters");
  }
  if (bayes_line_ > 0 && spec.method != SweepMethod::kBayes) {
    return Err(bayes_line_, "key 'bayes' (options of the TPE sampler) needs method: bayes");
  }
  if (spec.method == SweepMethod::kList) {
    if (trials_line_ == 0) {
      return Err(LineOr(spec.lines, "method", 1),
                 "method: list needs 'trials', a list with at least one item such as "
                 "- {label: A1, cell: lstm, units: 128}");
    }
    uint64_t count = 0;
    HPSWEEP_RETURN_IF_ERROR(CheckList(spec, file_, &count));
  } else if (spec.method == SweepMethod::kRandom) {
    if (spec.max_trials == 0) {
      return Err(LineOr(spec.lines, "method", 1),
                 "method: random needs max_trials (how many trials to draw)");
    }
  } else if (spec.method == SweepMethod::kBayes) {
    if (spec.max_trials == 0) {
      return Err(LineOr(spec.lines, "method", 1),
                 "method: bayes needs max_trials (how many trials to propose)");
    }
    if (spec.parameters.empty()) {
      return Err(LineOr(spec.lines, "method", 1),
                 "method: bayes needs parameters (the axes it searches)");
    }
  } else {
    uint64_t count = 0;
    HPSWEEP_RETURN_IF_ERROR(CheckGrid(spec, file_, &count));
  }
  return spec;
}

// ---------------------------------------------------------------------------------------------
// Expansion.

class Expander {
 public:
  Expander(const SweepSpec& spec, const std::string& file, const SweepLimits& limits)
      : spec_(spec), file_(file), limits_(limits) {}

  Status Init();
  StatusOr<std::vector<TrialSpec>> Grid();
  StatusOr<std::vector<TrialSpec>> Random();
  // method: list: every item crossed with the grid of parameters, item-major.
  StatusOr<std::vector<TrialSpec>> List();
  // One trial from its axis values (grid, random, bayes).
  StatusOr<TrialSpec> One(int number, const std::vector<std::string>& texts) const;

 private:
  // Applies the axis values `texts` (one per parameter) onto the base config.
  Status Apply(int number, const std::vector<std::string>& texts, TrialConfig* config) const;
  Status Finish(int number, const std::vector<std::string>& texts, const TrialConfig& config,
                std::vector<TrialSpec>* trials) const;
  // Appends the first `count` points of the grid of parameters (last axis fastest), numbered
  // from *number + 1; *number ends at the last one.
  Status GridPoints(uint64_t count, int* number, std::vector<TrialSpec>* trials) const;
  // The axis values of `config` in GetKey form, to recognise a trial drawn twice.
  std::vector<std::string> Canonical(const TrialConfig& config) const;
  std::vector<std::string> Draw(Rng* rng) const;
  // "units=32, layers=2"
  std::string Describe(const std::vector<std::string>& texts) const;
  int LineOfKey(const std::string& key) const;

  // The line messages fall back to: the item's in a list sweep, else that of parameters.
  int DefaultLine() const {
    return item_ != nullptr ? item_->line : LineOr(spec_.lines, "parameters", 0);
  }

  const SweepSpec& spec_;
  const std::string& file_;
  const SweepLimits& limits_;
  TrialConfig base_;
  // While List() expands an item: the item, its index, and base_ with the item's keys applied.
  const ListItem* item_ = nullptr;
  size_t item_index_ = 0;
  TrialConfig item_base_;
};

int Expander::LineOfKey(const std::string& key) const {
  for (const ParameterSpec& p : spec_.parameters) {
    if (p.key == key) return p.line;
  }
  if (item_ != nullptr && item_->params.count(key)) return LineOr(item_->lines, key, item_->line);
  return LineOr(spec_.lines, "fixed." + key, DefaultLine());
}

std::string Expander::Describe(const std::vector<std::string>& texts) const {
  std::string out;
  if (item_ != nullptr) out = ItemName(item_index_, *item_) + " of 'trials'";
  for (size_t i = 0; i < texts.size(); ++i) {
    if (i == 0 && !out.empty()) out += "; ";
    out += (i ? ", " : "") + spec_.parameters[i].key + "=" + texts[i];
  }
  return out;
}

Status Expander::Init() {
  bool seed_set = spec_.fixed.count("seed") > 0;
  for (const ParameterSpec& p : spec_.parameters) seed_set = seed_set || p.key == "seed";
  if (!seed_set) base_.train.seed = spec_.seed;
  for (const auto& [key, text] : spec_.fixed) {
    const Status st = ApplyKey(key, text, &base_);
    if (!st.ok()) return ErrorAt(file_, LineOfKey(key), st.message());
  }
  std::set<std::string> keys;
  for (const ParameterSpec& p : spec_.parameters) {
    if (!IsConfigKey(p.key)) return ErrorAt(file_, p.line, "unknown key '" + p.key + "'");
    if (!keys.insert(p.key).second) {
      return ErrorAt(file_, p.line, "key '" + p.key + "' is swept twice");
    }
    if (spec_.fixed.count(p.key)) {
      return ErrorAt(file_, p.line, "key '" + p.key + "' is both fixed and swept; keep one");
    }
  }
  return Status::Ok();
}

Status Expander::Apply(int number, const std::vector<std::string>& texts,
                       TrialConfig* config) const {
  *config = item_ != nullptr ? item_base_ : base_;
  for (size_t i = 0; i < texts.size(); ++i) {
    const ParameterSpec& p = spec_.parameters[i];
    const Status st = ApplyKey(p.key, texts[i], config);
    if (!st.ok()) {
      return ErrorAt(
          file_, p.line,
          "trial " + std::to_string(number) + " (" + Describe(texts) + "): " + st.message());
    }
  }
  return Status::Ok();
}

Status Expander::Finish(int number, const std::vector<std::string>& texts,
                        const TrialConfig& config, std::vector<TrialSpec>* trials) const {
  const Status st = Validate(config);
  if (!st.ok()) {
    // The engine's messages start with "key 'NAME'": point at the line of that key.
    int line = DefaultLine();
    const std::string& m = st.message();
    if (m.rfind("key '", 0) == 0) {
      const size_t end = m.find('\'', 5);
      if (end != std::string::npos) line = LineOfKey(m.substr(5, end - 5));
    }
    const std::string described = Describe(texts);
    const std::string which = described.empty() ? "" : " (" + described + ")";
    return ErrorAt(file_, line, "trial " + std::to_string(number) + which + ": " + m);
  }
  // A model too big for a worker is refused here, before any worker allocates it.
  const int64_t params = ParamCount(config);
  const int64_t bytes = TrainingBytesEstimate(config);
  if (params > limits_.max_params || bytes > limits_.max_training_bytes) {
    const std::string described = Describe(texts);
    const std::string which =
        "trial " + std::to_string(number) + (described.empty() ? "" : " (" + described + ")");
    if (params > limits_.max_params) {
      return ErrorAt(file_, LineOfKey("units"),
                     which + ": " + FormatCount(params) + " parameters, over the limit of " +
                         FormatCount(limits_.max_params) + " (--max-model-params)");
    }
    const int line = LineOfKey("batch_size");
    return ErrorAt(file_, line > 0 ? line : LineOfKey("units"),
                   which + ": training needs about " + FormatBytes(bytes) +
                       " (estimated for batch_size " + std::to_string(config.train.batch_size) +
                       " x " + std::to_string(config.model.steps) + " steps), over the limit of " +
                       FormatBytes(limits_.max_training_bytes) + " (--max-training-memory-mb)");
  }
  TrialSpec trial;
  trial.number = number;
  trial.config = config;
  for (const std::string& key : ConfigKeys()) trial.params[key] = GetKey(config, key);
  if (item_ != nullptr && !item_->label.empty()) {
    trial.label = item_->label;
    trial.params[kLabelKey] = item_->label;
  }
  trials->push_back(std::move(trial));
  return Status::Ok();
}

std::vector<std::string> Expander::Canonical(const TrialConfig& config) const {
  std::vector<std::string> out;
  for (const ParameterSpec& p : spec_.parameters) out.push_back(GetKey(config, p.key));
  return out;
}

std::vector<std::string> Expander::Draw(Rng* rng) const {
  std::vector<std::string> texts;
  for (const ParameterSpec& p : spec_.parameters) {
    switch (p.distribution) {
      case Distribution::kValues: texts.push_back(p.values[rng->Below(p.values.size())]); break;
      case Distribution::kIntUniform: {
        const int64_t lo = static_cast<int64_t>(p.min), hi = static_cast<int64_t>(p.max);
        texts.push_back(std::to_string(
            lo + static_cast<int64_t>(rng->Below(static_cast<uint64_t>(hi - lo) + 1))));
        break;
      }
      case Distribution::kUniform:
      case Distribution::kLogUniform: {
        const double v = p.distribution == Distribution::kUniform
                             ? rng->Uniform(p.min, p.max)
                             : std::exp(rng->Uniform(std::log(p.min), std::log(p.max)));
        texts.push_back(DrawText(v, p.min, p.max));
        break;
      }
    }
  }
  return texts;
}

Status Expander::GridPoints(uint64_t count, int* number, std::vector<TrialSpec>* trials) const {
  std::vector<size_t> index(spec_.parameters.size(), 0);
  std::vector<std::string> texts(spec_.parameters.size());
  for (uint64_t n = 0; n < count; ++n) {
    for (size_t i = 0; i < index.size(); ++i) texts[i] = spec_.parameters[i].values[index[i]];
    TrialConfig config;
    ++*number;
    HPSWEEP_RETURN_IF_ERROR(Apply(*number, texts, &config));
    HPSWEEP_RETURN_IF_ERROR(Finish(*number, texts, config, trials));
    for (size_t i = index.size(); i-- > 0;) {  // last axis fastest
      if (++index[i] < spec_.parameters[i].values.size()) break;
      index[i] = 0;
    }
  }
  return Status::Ok();
}

StatusOr<TrialSpec> Expander::One(int number, const std::vector<std::string>& texts) const {
  if (texts.size() != spec_.parameters.size()) {
    return ErrorAt(file_, DefaultLine(),
                   "trial " + std::to_string(number) + ": " + std::to_string(texts.size()) +
                       " axis values for " + std::to_string(spec_.parameters.size()) + " axes");
  }
  TrialConfig config;
  HPSWEEP_RETURN_IF_ERROR(Apply(number, texts, &config));
  std::vector<TrialSpec> one;
  HPSWEEP_RETURN_IF_ERROR(Finish(number, texts, config, &one));
  return std::move(one[0]);
}

StatusOr<std::vector<TrialSpec>> Expander::Grid() {
  uint64_t count = 0;
  HPSWEEP_RETURN_IF_ERROR(CheckGrid(spec_, file_, &count));
  std::vector<TrialSpec> trials;
  trials.reserve(count);
  int number = 0;
  HPSWEEP_RETURN_IF_ERROR(GridPoints(count, &number, &trials));
  return trials;
}

StatusOr<std::vector<TrialSpec>> Expander::List() {
  uint64_t count = 0;
  HPSWEEP_RETURN_IF_ERROR(CheckList(spec_, file_, &count));
  std::vector<TrialSpec> trials;
  trials.reserve(count);
  const uint64_t points = count / spec_.items.size();
  int number = 0;
  for (size_t it = 0; it < spec_.items.size(); ++it) {
    item_ = &spec_.items[it];
    item_index_ = it;
    item_base_ = base_;
    for (const auto& [key, text] : item_->params) {
      const Status st = ApplyKey(key, text, &item_base_);
      if (!st.ok()) {
        item_ = nullptr;
        return ErrorAt(file_, LineOr(spec_.items[it].lines, key, spec_.items[it].line),
                       st.message());
      }
    }
    const Status st = GridPoints(points, &number, &trials);
    if (!st.ok()) {
      item_ = nullptr;
      return st;
    }
  }
  item_ = nullptr;
  return trials;
}

StatusOr<std::vector<TrialSpec>> Expander::Random() {
  if (spec_.max_trials <= 0) {
    return ErrorAt(file_, LineOr(spec_.lines, "method", 0),
                   "method: random needs max_trials (how many trials to draw)");
  }
  for (const ParameterSpec& p : spec_.parameters) {
    if (p.distribution == Distribution::kValues && p.values.empty()) {
      return ErrorAt(file_, p.line,
                     "key '" + p.key + "': values is empty; give at least one value");
    }
  }
  // The size of the space when it is finite (values and int_uniform only), else 0.
  uint64_t space = 1;
  for (const ParameterSpec& p : spec_.parameters) {
    uint64_t n = 0;
    if (p.distribution == Distribution::kValues) n = p.values.size();
    if (p.distribution == Distribution::kIntUniform) n = static_cast<uint64_t>(p.max - p.min) + 1;
    if (n == 0 || n > kEnumerateLimit || space * n > kEnumerateLimit) {
      space = 0;
      break;
    }
    space *= n;
  }

  Rng rng(Rng::Mix(spec_.seed, kDrawStream));
  std::set<std::vector<std::string>> seen;
  std::vector<TrialSpec> trials;
  // Once draws keep repeating, the points not drawn yet, in enumeration order.
  std::vector<std::vector<std::string>> pool;
  bool pool_mode = false;
  for (int number = 1; number <= spec_.max_trials; ++number) {
    std::vector<std::string> texts;
    TrialConfig config;
    bool found = false;
    if (!pool_mode) {
      for (int attempt = 0; attempt <= kRedraws && !found; ++attempt) {
        texts = Draw(&rng);
        HPSWEEP_RETURN_IF_ERROR(Apply(number, texts, &config));
        found = seen.count(Canonical(config)) == 0;
      }
      if (!found && space > 0) {  // nearly exhausted: pick among the points left
        pool_mode = true;
        std::vector<uint64_t> index(spec_.parameters.size(), 0);
        std::vector<std::string> point(spec_.parameters.size());
        std::set<std::vector<std::string>> pooled;
        for (uint64_t n = 0; n < space; ++n) {
          for (size_t i = 0; i < index.size(); ++i) {
            const ParameterSpec& p = spec_.parameters[i];
            point[i] =
                p.distribution == Distribution::kValues
                    ? p.values[index[i]]
                    : std::to_string(static_cast<int64_t>(p.min) + static_cast<int64_t>(index[i]));
          }
          TrialConfig c;
          HPSWEEP_RETURN_IF_ERROR(Apply(number, point, &c));
          std::vector<std::string> key = Canonical(c);
          if (!seen.count(key) && pooled.insert(key).second) pool.push_back(point);
          for (size_t i = index.size(); i-- > 0;) {
            const ParameterSpec& p = spec_.parameters[i];
            const uint64_t size = p.distribution == Distribution::kValues
                                      ? p.values.size()
                                      : static_cast<uint64_t>(p.max - p.min) + 1;
            if (++index[i] < size) break;
            index[i] = 0;
          }
        }
      }
    }
    if (pool_mode) {
      if (pool.empty()) break;  // the space is exhausted
      const size_t pick = rng.Below(pool.size());
      texts = pool[pick];
      pool[pick] = std::move(pool.back());
      pool.pop_back();
      HPSWEEP_RETURN_IF_ERROR(Apply(number, texts, &config));
      found = true;
    }
    if (!found) break;  // a continuous space so narrow that %.6g draws keep repeating
    seen.insert(Canonical(config));
    HPSWEEP_RETURN_IF_ERROR(Finish(number, texts, config, &trials));
  }
  return trials;
}

}  // namespace

StatusOr<SweepSpec> ParseSweep(const std::string& yaml, const std::string& file_name) {
  // ParseYaml bounds the size, the depth and the node count, refuses aliases, tags, bytes that
  // are not UTF-8 and more than one document.
  YamlLimits limits;
  limits.max_bytes = kMaxSweepFileBytes;
  StatusOr<YamlDocument> doc = ParseYaml(yaml, file_name, limits);
  if (!doc.ok()) return doc.status();
  const YamlNode* root = doc->root();
  if (root == nullptr || root->IsNull()) {
    return ErrorAt(file_name, 1,
                   "the sweep file is empty; it needs at least 'name' and "
                   "'parameters' (see sweeps/quickstart.yaml)");
  }
  Parser parser(file_name);
  return parser.Parse(root);
}

StatusOr<SweepSpec> ParseSweepFile(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) {
      return NotFound(EscapeText(path) + ": no such sweep file");
    }
    return IoError(EscapeText(path) + ": " + std::strerror(errno));
  }
  if (S_ISDIR(st.st_mode)) {
    return InvalidArgument(EscapeText(path) + ": is a directory, not a sweep file");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return IoError(EscapeText(path) + ": cannot open: " + std::strerror(errno));
  // One byte past the limit is enough for ParseSweep to refuse the size.
  std::string text(kMaxSweepFileBytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (in.bad()) return IoError(EscapeText(path) + ": read failed");
  text.resize(static_cast<size_t>(in.gcount()));
  return ParseSweep(text, path);
}

StatusOr<std::string> CheckSweepData(const SweepSpec& spec, const std::string& file_name) {
  if (spec.data.format == DataFormat::kMnist) return std::string();
  auto line = [&](const std::string& key) {
    auto it = spec.lines.find("data." + key);
    return it == spec.lines.end() ? 0 : it->second;
  };
  StatusOr<Mnist> data = LoadDataset(spec.data);
  if (!data.ok()) {
    // Name the data key whose file is at fault (its path begins the engine's message).
    std::string key = spec.data.format == DataFormat::kIdx ? "path" : "train";
    const std::string& m = data.status().message();
    if (!spec.data.test_file.empty() &&
        m.compare(0, spec.data.test_file.size(), spec.data.test_file) == 0) {
      key = "test";
    }
    return ErrorAt(file_name, line(key), "key 'data." + key + "': " + m);
  }
  StatusOr<std::string> sha = DatasetSha256(spec.data);
  if (!sha.ok()) {
    return ErrorAt(file_name, line("format"), "key 'data.format': " + sha.status().message());
  }
  return *sha;
}

StatusOr<SweepData> PrepareSweepData(const SweepSpec& spec, const std::string& file_name) {
  SweepData d;
  if (spec.data.format == DataFormat::kMnist) return d;
  StatusOr<std::string> sha = CheckSweepData(spec, file_name);
  if (!sha.ok()) return sha.status();
  d.params = {{"data.format", DataFormatName(spec.data.format)}, {"data.sha256", *sha}};
  // Absolute, so that a worker started in another folder (or on another node sharing the file
  // system) reads the same files.
  auto absolute = [](const std::string& p) {
    std::error_code ec;
    const std::filesystem::path a = std::filesystem::absolute(p, ec);
    return ec ? p : a.lexically_normal().string();
  };
  if (spec.data.format == DataFormat::kIdx) {
    d.params["data.path"] = absolute(spec.data.path);
  } else {
    d.params["data.train"] = absolute(spec.data.train_file);
    d.params["data.test"] = absolute(spec.data.test_file);
    d.params["data.sequence_length"] = std::to_string(spec.data.sequence_length);
  }
  // The shape without the data: one training row is enough to know it.
  StatusOr<Mnist> data = LoadDataset(spec.data, 1);
  if (!data.ok()) return data.status();
  ModelConfig shaped;
  ShapeModelToData(*data, &shaped);
  d.steps = shaped.steps;
  d.features = shaped.features;
  d.classes = shaped.classes;
  const auto format_line = spec.lines.find("data.format");
  d.line = format_line == spec.lines.end() ? 0 : format_line->second;
  return d;
}

Status ApplySweepData(const SweepData& d, const std::string& file_name, const SweepLimits& limits,
                      TrialSpec* t) {
  if (d.params.empty()) return Status::Ok();
  for (const auto& [k, v] : d.params) t->params[k] = v;
  ModelConfig& m = t->config.model;
  m.steps = d.steps;
  m.features = d.features;
  m.classes = d.classes;
  // ExpandSweep (or BuildTrial) measured the trial with MNIST's shape; the data's may be wider.
  const std::string shape = " with the data's shape (" + std::to_string(m.steps) + " steps x " +
                            std::to_string(m.features) + " features, " +
                            std::to_string(m.classes) + " classes)";
  const int64_t params = ParamCount(t->config);
  if (params > limits.max_params) {
    return ErrorAt(file_name, d.line,
                   "trial " + std::to_string(t->number) + ": " + FormatCount(params) +
                       " parameters" + shape + ", over the limit of " +
                       FormatCount(limits.max_params) + " (--max-model-params)");
  }
  const int64_t bytes = TrainingBytesEstimate(t->config);
  if (bytes > limits.max_training_bytes) {
    return ErrorAt(file_name, d.line,
                   "trial " + std::to_string(t->number) + ": training needs about " +
                       FormatBytes(bytes) + shape + ", over the limit of " +
                       FormatBytes(limits.max_training_bytes) + " (--max-training-memory-mb)");
  }
  return Status::Ok();
}

Status AttachSweepData(const SweepSpec& spec, const std::string& file_name,
                       std::vector<TrialSpec>* trials, const SweepLimits& limits) {
  StatusOr<SweepData> d = PrepareSweepData(spec, file_name);
  if (!d.ok()) return d.status();
  for (TrialSpec& t : *trials) HPSWEEP_RETURN_IF_ERROR(ApplySweepData(*d, file_name, limits, &t));
  return Status::Ok();
}

StatusOr<std::vector<TrialSpec>> ExpandSweep(const SweepSpec& spec, const std::string& file_name,
                                             const SweepLimits& limits) {
  Expander expander(spec, file_name, limits);
  HPSWEEP_RETURN_IF_ERROR(expander.Init());
  switch (spec.method) {
    case SweepMethod::kGrid: return expander.Grid();
    case SweepMethod::kRandom: return expander.Random();
    case SweepMethod::kList: return expander.List();
    case SweepMethod::kBayes: return std::vector<TrialSpec>();  // proposed at lease time
  }
  return InvalidArgument(file_name + ": unknown sweep method");
}

StatusOr<TrialSpec> BuildTrial(const SweepSpec& spec, int number,
                               const std::vector<std::string>& texts, const std::string& file_name,
                               const SweepLimits& limits) {
  if (spec.method == SweepMethod::kList) {
    return ErrorAt(file_name, 0, "BuildTrial: a list sweep's trials come from ExpandSweep");
  }
  Expander expander(spec, file_name, limits);
  HPSWEEP_RETURN_IF_ERROR(expander.Init());
  return expander.One(number, texts);
}

std::string DrawText(double v, double lo, double hi) {
  std::string text = Format6(v);
  // %.6g can round just past a bound given with more digits; keep draws inside [min, max].
  const double back = std::strtod(text.c_str(), nullptr);
  if (back < lo) text = FormatExact(lo);
  if (back > hi) text = FormatExact(hi);
  return text;
}

}  // namespace hpsweep
