// Parsing a sweep file: the top level (ParseSweep, ParseSweepFile, Parser::Parse and the keys
// read there), the Parser's readers of keys and values, NearestKey, and the helpers the other
// sweep-file sources share (sweep_file_internal.h). The sections under the top level (data,
// metric, early_terminate, fixed, parameters, trials, bayes) are read in sweep_sections.cc;
// expansion into trials is sweep_plan.cc, a sweep's own data set sweep_data.cc.

#include "search/sweep_file.h"

#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "search/objective.h"
#include "search/sweep_file_internal.h"
#include "search/yaml_tree.h"

namespace hpsweep {

using sweep_internal::Contains;
using sweep_internal::ErrorAt;
using sweep_internal::Parser;

namespace {

const std::vector<std::string>& TopLevelKeys() {
  static const std::vector<std::string> keys = {"name",   "description", "data",         "method",
                                                "metric", "max_trials",  "max_attempts", "seed",
                                                "fixed",  "parameters",  "trials",       "bayes", "early_terminate", "reuse",
                                                "program", "max_trial_seconds", "quarantine_after",
                                                "warm_start", "constraints", "pbt"};
  return keys;
}
const std::vector<std::string>& MethodNames() {
  static const std::vector<std::string> names = {"grid", "random", "list", "bayes", "pbt"};
  return names;
}
// A sweep's description is free text shown with it.
constexpr size_t kMaxDescriptionBytes = 4096;

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

}  // namespace

namespace sweep_internal {

const std::vector<std::string>& DataKeys() {
  static const std::vector<std::string> keys = {
      "dataset", "validation_split", "validation", "train_limit", "seed", "format", "path", "train",
      "test",    "sequence_length", "validation_shuffle", "validation_stratify", "targets"};
  return keys;
}

bool Contains(const std::vector<std::string>& v, std::string_view s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

std::string JoinKeys(const std::vector<std::string>& keys) {
  std::string out;
  for (const std::string& k : keys) out += (out.empty() ? "" : ", ") + k;
  return out;
}

const char* TypeName(const YamlNode* n) { return YamlTypeName(*n); }

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
    const bool free_key = program_ && (section == "fixed" || section == "parameters" ||
                                       IsItemSection(section));
    if (free_key) {
      if (!IsProgramParamName(e.key) && !(IsItemSection(section) && e.key == kLabelKey)) {
        return Err(e.line, "key '" + EscapeText(e.key) + "' under " + SectionName(section) +
                               ": a program parameter's name is a letter or _ and then up to 63 "
                               "letters, digits or _ (it becomes --" +
                               "NAME=VALUE on the program's command line)");
      }
    } else if (!Contains(known, e.key)) {
      return Err(e.line, UnknownKey(e.key, section, known));
    }
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
  if (program_ && node->IsSequence()) {
    return Err(line, "key '" + key +
                         "': a program parameter takes a single value (a number, true/false or "
                         "text), got a list; to try several values, use parameters with "
                         "{values: [...]}");
  }
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
  if (program_) {  // a program's value: any single value, kept as written
    int64_t v = 0;
    if (key == "epochs" && (!ParseInt64(text, &v) || v < 1 || v > 10000)) {
      return Err(line, "key 'epochs': expected an integer in [1, 10000] (the trials' budget, "
                       "which the pruner and the progress count in), got '" + EscapeText(text) +
                           "'");
    }
    if (text.size() > kMaxProgramValueBytes) {
      return Err(line, "key '" + key + "': a program parameter's value is at most " +
                           std::to_string(kMaxProgramValueBytes) + " bytes, got " +
                           std::to_string(text.size()));
    }
    if (canonical != nullptr) *canonical = text;
    return Status::Ok();
  }
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
  // The program key decides how fixed, parameters and metric read: first, wherever it is.
  for (const Entry& e : entries) {
    if (e.key == "program") HPSWEEP_RETURN_IF_ERROR(ReadProgram(e, &spec));
  }
  bool has_name = false;
  for (const Entry& e : entries) {
    if (e.key == "program") {
      spec.lines[e.key] = e.line;
      continue;
    }
    spec.lines[e.key] = e.line;
    HPSWEEP_RETURN_IF_ERROR(ReadTopLevelKey(e, &spec));
    if (e.key == "name") has_name = true;
  }
  if (!has_name) {
    return Err(1, "missing required key 'name' (a short identifier such as lstm-units)");
  }

  HPSWEEP_RETURN_IF_ERROR(CheckProgramKeys(spec));
  HPSWEEP_RETURN_IF_ERROR(CheckFixedOrSwept(spec));
  HPSWEEP_RETURN_IF_ERROR(FoldDataKeys(&spec));
  HPSWEEP_RETURN_IF_ERROR(CheckConditions(&spec));
  HPSWEEP_RETURN_IF_ERROR(CheckTask(&spec));
  HPSWEEP_RETURN_IF_ERROR(CheckObjectives(spec));

  HPSWEEP_RETURN_IF_ERROR(CheckEarlyTerminate(spec));

  HPSWEEP_RETURN_IF_ERROR(CheckMethod(spec));
  HPSWEEP_RETURN_IF_ERROR(CheckPbt(&spec));
  return spec;
}

Status Parser::ReadTopLevelKey(const Entry& e, SweepSpec* spec) {
  std::string text;
  if (e.key == "name") {
    HPSWEEP_RETURN_IF_ERROR(ReadName(e, spec));
  } else if (e.key == "description") {
    HPSWEEP_RETURN_IF_ERROR(ReadDescription(e, spec));
  } else if (e.key == "data") {
    HPSWEEP_RETURN_IF_ERROR(ReadData(e, spec));
    HPSWEEP_RETURN_IF_ERROR(CheckDataForm(*spec));
  } else if (e.key == "method") {
    HPSWEEP_RETURN_IF_ERROR(ReadMethod(e, spec));
  } else if (e.key == "metric") {
    HPSWEEP_RETURN_IF_ERROR(e.value->IsSequence() ? ReadObjectives(e, spec) : ReadMetric(e, spec));
  } else if (e.key == "constraints") {
    HPSWEEP_RETURN_IF_ERROR(ReadConstraints(e, spec));
  } else if (e.key == "early_terminate") {
    HPSWEEP_RETURN_IF_ERROR(ReadEarlyTerminate(e, spec));
  } else if (e.key == "max_trials") {
    int64_t v = 0;
    HPSWEEP_RETURN_IF_ERROR(IntInRange(e, "max_trials", 1, kMaxTrialsPerSweep, &v));
    spec->max_trials = static_cast<int>(v);
  } else if (e.key == "max_attempts") {
    int64_t v = 0;
    HPSWEEP_RETURN_IF_ERROR(IntInRange(e, "max_attempts", 1, 100, &v));
    spec->max_attempts = static_cast<int>(v);
  } else if (e.key == "quarantine_after") {
    int64_t v = 0;
    HPSWEEP_RETURN_IF_ERROR(IntInRange(e, "quarantine_after", 0, kMaxQuarantineAfter, &v));
    spec->quarantine_after = static_cast<int>(v);
  } else if (e.key == "seed") {
    HPSWEEP_RETURN_IF_ERROR(Scalar(e, "seed", &text));
    TrialConfig scratch;
    const Status st = ApplyKey("seed", text, &scratch);
    if (!st.ok()) return Err(e.line, st.message());
    spec->seed = scratch.train.seed;
    top_level_seed_ = true;
  } else if (e.key == "fixed") {
    HPSWEEP_RETURN_IF_ERROR(ReadFixed(e, spec));
  } else if (e.key == "parameters") {
    HPSWEEP_RETURN_IF_ERROR(ReadParameters(e, spec));
  } else if (e.key == "trials") {
    HPSWEEP_RETURN_IF_ERROR(ReadTrials(e, spec));
  } else if (e.key == "bayes") {
    HPSWEEP_RETURN_IF_ERROR(ReadBayes(e, spec));
  } else if (e.key == "warm_start") {
    HPSWEEP_RETURN_IF_ERROR(ReadWarmStart(e, spec));
  } else if (e.key == "pbt") {
    HPSWEEP_RETURN_IF_ERROR(ReadPbt(e, spec));
  } else if (e.key == "max_trial_seconds") {
    HPSWEEP_RETURN_IF_ERROR(Scalar(e, "max_trial_seconds", &text));
    char* end = nullptr;
    const double v = std::strtod(text.c_str(), &end);
    if (text.empty() || *end != '\0' || !std::isfinite(v) || v < 0 || v > kMaxTrialSecondsLimit) {
      return Err(e.line, "key 'max_trial_seconds': expected seconds in [0, " +
                             std::to_string(static_cast<int64_t>(kMaxTrialSecondsLimit)) +
                             "] (0: no limit), got '" + EscapeText(text) + "'");
    }
    spec->max_trial_seconds = v;
  } else if (e.key == "reuse") {
    HPSWEEP_RETURN_IF_ERROR(Scalar(e, "reuse", &text));
    if (text != "true" && text != "false") {
      return Err(e.line, "key 'reuse': expected true or false, got '" + EscapeText(text) + "'");
    }
    spec->reuse = text == "true";
  }
  return Status::Ok();
}

Status Parser::ReadProgram(const Entry& e, SweepSpec* spec) {
  std::string text;
  HPSWEEP_RETURN_IF_ERROR(Scalar(e, "program", &text));
  if (!IsProgramName(text)) {
    return Err(e.line, "key 'program': expected the name of a program that workers offer "
                       "([A-Za-z0-9._-], 1 to 64 characters; a worker maps it to its own file "
                       "with --program NAME=PATH), got '" + EscapeText(text) + "'");
  }
  spec->program = text;
  program_ = true;
  return Status::Ok();
}

Status Parser::CheckProgramKeys(const SweepSpec& spec) const {
  if (!program_) {
    if (spec.lines.count("max_trial_seconds")) {
      return Err(spec.lines.at("max_trial_seconds"),
                 "key 'max_trial_seconds': only for a sweep of a program (program: NAME); the "
                 "engine's trials are bounded by their epochs");
    }
    return Status::Ok();
  }
  if (spec.lines.count("data")) {
    return Err(spec.lines.at("data"),
               "key 'data': a sweep of a program reads no data set of hpsweep's; the program "
               "reads its own (HPSWEEP_DATA_DIR names the worker's MNIST folder)");
  }
  if (spec.lines.count("reuse")) {
    return Err(spec.lines.at("reuse"),
               "key 'reuse': not for a sweep of a program (hpsweep cannot tell that two "
               "workers' programs are the same)");
  }
  return Status::Ok();
}

Status Parser::ReadName(const Entry& e, SweepSpec* spec) {
  std::string text;
  HPSWEEP_RETURN_IF_ERROR(Scalar(e, "name", &text));
  // The name ends up in paths and URLs of exports: "." and ".." would name a directory.
  if (!IsSafeName(text) || text.size() > kMaxSweepNameLength || text == "." || text == "..") {
    return Err(e.line, "key 'name': expected letters, digits, '.', '_' or '-' (at most " +
                           std::to_string(kMaxSweepNameLength) +
                           " characters, not '.' or '..'), got '" + text + "'");
  }
  spec->name = text;
  return Status::Ok();
}

Status Parser::ReadDescription(const Entry& e, SweepSpec* spec) {
  if (!e.value->IsNull()) HPSWEEP_RETURN_IF_ERROR(Scalar(e, "description", &spec->description));
  // Stored and shown by every reader of the sweep (JSON included): short, UTF-8 text.
  if (spec->description.size() > kMaxDescriptionBytes) {
    return Err(e.line, "key 'description': " + std::to_string(spec->description.size()) +
                           " bytes, over the limit of " + std::to_string(kMaxDescriptionBytes));
  }
  if (!IsValidUtf8(spec->description)) {
    return Err(e.line, "key 'description': not valid UTF-8 text");
  }
  return Status::Ok();
}

Status Parser::ReadMethod(const Entry& e, SweepSpec* spec) {
  std::string text;
  HPSWEEP_RETURN_IF_ERROR(Scalar(e, "method", &text));
  if (text == "grid") {
    spec->method = SweepMethod::kGrid;
  } else if (text == "random") {
    spec->method = SweepMethod::kRandom;
  } else if (text == "list") {
    spec->method = SweepMethod::kList;
  } else if (text == "bayes") {
    spec->method = SweepMethod::kBayes;
  } else if (text == "pbt") {
    spec->method = SweepMethod::kPbt;
  } else {
    const std::string near = NearestKey(text, MethodNames());
    std::string hint = near.empty() ? "" : " (did you mean '" + near + "'?)";
    if (Lower(text) == "tpe" || Lower(text) == "bayesian") hint = " (did you mean 'bayes'?)";
    return Err(e.line,
               "key 'method': expected grid or random, list (with a 'trials' "
               "list), bayes or pbt (with a 'pbt' mapping), got '" +
                   text + "'" + hint);
  }
  return Status::Ok();
}

Status Parser::CheckFixedOrSwept(const SweepSpec& spec) const {
  // A key is either fixed or swept.
  for (const ParameterSpec& p : spec.parameters) {
    if (spec.fixed.count(p.key)) {
      return Err(p.line, "key '" + p.key + "' is both fixed (line " +
                             std::to_string(LineOr(spec.lines, "fixed." + p.key, 0)) +
                             ") and swept under parameters; keep one");
    }
  }
  return Status::Ok();
}

Status Parser::FoldDataKeys(SweepSpec* spec) {
  // Fold data.validation_split / validation / seed into the config keys.
  auto swept = [spec](const std::string& key) {
    for (const ParameterSpec& p : spec->parameters) {
      if (p.key == key) return true;
    }
    return false;
  };
  for (const DataKey& d : data_keys_) {
    const bool in_fixed = spec->fixed.count(d.key) > 0;
    if (in_fixed || swept(d.key)) {
      if (d.key == "seed") continue;  // fixed/parameters set the trials' seed (documented)
      const std::string other = in_fixed ? "fixed" : "parameters";
      return Err(d.line,
                 "key '" + d.key + "' is given both under data and under " + other + " (line " +
                     std::to_string(LineOr(spec->lines, other + "." + d.key, 0)) + "); keep one");
    }
    spec->fixed[d.key] = d.text;
    spec->lines["fixed." + d.key] = d.line;
  }
  // train_limit set under fixed (where the engine has the key) is the sweep's too.
  if (data_keys_.end() == std::find_if(data_keys_.begin(), data_keys_.end(),
                                       [](const DataKey& d) { return d.key == "train_limit"; }) &&
      spec->fixed.count("train_limit")) {
    int64_t v = 0;
    if (ParseInt64(spec->fixed["train_limit"], &v) && v >= 0) spec->train_limit = v;
  }
  if (!top_level_seed_ && !data_seed_.empty()) {
    TrialConfig scratch;
    if (ApplyKey("seed", data_seed_, &scratch).ok()) spec->seed = scratch.train.seed;
  }
  return Status::Ok();
}

Status Parser::CheckMethod(const SweepSpec& spec) const {
  if (trials_line_ > 0 && spec.method != SweepMethod::kList) {
    return Err(trials_line_, "key 'trials' (one trial per item) needs method: list; a " +
                                 std::string(spec.method == SweepMethod::kRandom  ? "random"
                                             : spec.method == SweepMethod::kBayes ? "bayes"
                                             : spec.method == SweepMethod::kPbt   ? "pbt"
                                                                                  : "grid") +
                                 " sweep takes its trials from parameters");
  }
  if (!spec.warm_start.empty() && spec.method != SweepMethod::kBayes) {
    return Err(spec.lines.at("warm_start"),
               "key 'warm_start' (history for the TPE sampler) needs method: bayes");
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
  } else if (spec.method != SweepMethod::kPbt) {  // (pbt: CheckPbt, after this)
    uint64_t count = 0;
    HPSWEEP_RETURN_IF_ERROR(CheckGrid(spec, file_, &count));
  }
  return Status::Ok();
}

}  // namespace sweep_internal

bool IsProgramParamName(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  if (!std::isalpha(static_cast<unsigned char>(name[0])) && name[0] != '_') return false;
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  }
  return true;
}

bool IsProgramName(std::string_view name) {
  if (name.empty() || name.size() > 64 || name == "." || name == "..") return false;
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') {
      return false;
    }
  }
  return true;
}

int ProgramEpochs(const std::map<std::string, std::string>& params) {
  auto it = params.find("epochs");
  int64_t v = 0;
  if (it == params.end() || !sweep_internal::ParseInt64(it->second, &v) || v < 1 || v > 10000) {
    return 1;
  }
  return static_cast<int>(v);
}

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

StatusOr<std::string> ReadSweepText(const std::string& path) {
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
  return text;
}

StatusOr<SweepSpec> ParseSweepFile(const std::string& path) {
  StatusOr<std::string> text = ReadSweepText(path);
  if (!text.ok()) return text.status();
  return ParseSweep(*text, path);
}

}  // namespace hpsweep
