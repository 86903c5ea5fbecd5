// Expanding a sweep: the trials of a SweepSpec (ExpandSweep, BuildTrial, DrawText) and the grid
// and list checks that parsing shares (sweep_file_internal.h).

#include "search/sweep_file.h"

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "search/sweep_file_internal.h"
#include "engine/config.h"
#include "engine/tensor.h"

namespace hpsweep {

using sweep_internal::CheckGrid;
using sweep_internal::CheckList;
using sweep_internal::ErrorAt;
using sweep_internal::Format6;
using sweep_internal::FormatBytes;
using sweep_internal::FormatCount;
using sweep_internal::LineOr;

namespace {

// A duplicate random draw is redrawn this many times before falling back to the points not drawn.
constexpr int kRedraws = 100;
// Finite random spaces up to this size can fall back to picking among the points not yet drawn.
constexpr uint64_t kEnumerateLimit = 100000;
// Stream of the random draws, so they are independent of anything else seeded by spec.seed.
constexpr uint64_t kDrawStream = 0x5357454550ULL;  // "SWEEP"

// The shortest %g form that reads back as exactly v.
std::string FormatExact(double v) {
  char buf[64];
  for (int precision = 6; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

const char* DistributionName(Distribution d) {
  switch (d) {
    case Distribution::kValues: return "values";
    case Distribution::kUniform: return "uniform";
    case Distribution::kIntUniform: return "int_uniform";
    case Distribution::kLogUniform: return "log_uniform";
    case Distribution::kIntLogUniform: return "int_log_uniform";
  }
  return "?";
}

// "item 2 (A1)" or "item 2": how messages name an item of a list sweep (0-based index).
std::string ItemName(size_t index, const ListItem& item) {
  std::string out = "item " + std::to_string(index + 1);
  if (!item.label.empty()) out += " (" + item.label + ")";
  return out;
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

// The number of trials of a grid (or list) with conditional parameters: each item's grid, a
// parameter counted only where it applies (saturating at UINT64_MAX).
uint64_t ConditionalCount(const SweepSpec& spec) {
  if (spec.method != SweepMethod::kList) {
    return sweep_internal::ConditionalGridSize(spec, spec.fixed);
  }
  uint64_t total = 0;
  for (const ListItem& item : spec.items) {
    std::map<std::string, std::string> fixed = spec.fixed;
    for (const auto& [key, text] : item.params) fixed[key] = text;
    const uint64_t n = sweep_internal::ConditionalGridSize(spec, fixed);
    total = n > std::numeric_limits<uint64_t>::max() - total ? std::numeric_limits<uint64_t>::max()
                                                              : total + n;
  }
  return total;
}

}  // namespace

namespace sweep_internal {

// %.6g, the form random draws take in trial parameters.
std::string Format6(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", v);
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
  if (HasConditions(spec)) *count = ConditionalCount(spec);
  const std::string count_text =
      *count != std::numeric_limits<uint64_t>::max() ? std::to_string(*count)
      : HasConditions(spec) ? "more than " + std::to_string(kMaxTrialsPerSweep)  // (not counted)
                            : std::string("more than 10^19");
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
  const bool program = !spec.program.empty();
  TrialConfig base;
  for (const auto& [key, text] : spec.fixed) {
    if (program) break;
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
    std::map<std::string, std::string> merged = spec.fixed;  // a program's params
    for (const auto& [key, text] : item.params) {
      const int line = LineOr(item.lines, key, item.line);
      if (!program && !IsConfigKey(key)) {
        return ErrorAt(file, line, "unknown key '" + key + "' in " + name);
      }
      for (const ParameterSpec& p : spec.parameters) {
        if (p.key == key) {
          return ErrorAt(file, line,
                         "key '" + key + "' is set in " + name + " and swept under parameters " +
                             "(line " + std::to_string(p.line) + "); keep one");
        }
      }
      if (program) {
        merged[key] = text;
        continue;
      }
      const Status st = ApplyKey(key, text, &config);
      if (!st.ok()) return ErrorAt(file, line, st.message());
    }
    std::vector<std::string> canonical;
    if (program) {
      for (const auto& [key, text] : merged) canonical.push_back(key + "=" + text);
    } else {
      for (const std::string& key : ConfigKeys()) canonical.push_back(GetKey(config, key));
    }
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

}  // namespace sweep_internal

// ---------------------------------------------------------------------------------------------
// Expansion.

namespace {

// A trial being built: the engine's config, or (a program sweep) its params as written; which
// parameters apply in it (sweep_file.h, ActiveParameters).
struct Draft {
  TrialConfig config;
  std::map<std::string, std::string> program;
  std::vector<bool> active;
};

class Expander {
 public:
  Expander(const SweepSpec& spec, const std::string& file, const SweepLimits& limits)
      : spec_(spec), file_(file), limits_(limits), program_(!spec.program.empty()) {}

  Status Init();
  StatusOr<std::vector<TrialSpec>> Grid();
  StatusOr<std::vector<TrialSpec>> Random();
  // method: list: every item crossed with the grid of parameters, item-major.
  StatusOr<std::vector<TrialSpec>> List();
  // One trial from its axis values (grid, random, bayes).
  StatusOr<TrialSpec> One(int number, const std::vector<std::string>& texts) const;

 private:
  // Applies the axis values `texts` (one per parameter) onto the base config.
  Status Apply(int number, const std::vector<std::string>& texts, Draft* config) const;
  Status Finish(int number, const std::vector<std::string>& texts, const Draft& draft,
                std::vector<TrialSpec>* trials) const;
  // A program trial's TrialSpec: its params as written, no engine checks.
  void FinishProgram(int number, const Draft& draft, std::vector<TrialSpec>* trials) const;
  // Sets one key: ApplyKey for the engine, the text as written for a program.
  Status Set(const std::string& key, const std::string& text, Draft* d) const {
    if (program_) {
      d->program[key] = text;
      return Status::Ok();
    }
    return ApplyKey(key, text, &d->config);
  }
  // Appends the first `count` points of the grid of parameters (last axis fastest), numbered
  // from *number + 1; *number ends at the last one.
  Status GridPoints(uint64_t count, int* number, std::vector<TrialSpec>* trials) const;
  // The axis values of `config` in GetKey form, to recognise a trial drawn twice.
  std::vector<std::string> Canonical(const Draft& config) const;
  // One draw of each parameter that applies, in ParameterOrder (parents first).
  std::vector<std::string> Draw(Rng* rng) const;
  // "units=32, layers=2": the parameters that apply (all when `active` is empty).
  std::string Describe(const std::vector<std::string>& texts,
                       const std::vector<bool>& active) const;
  // The fixed keys conditions read: spec.fixed, with the list item's keys over it.
  const std::map<std::string, std::string>& Fixed() const {
    return item_ != nullptr ? item_fixed_ : spec_.fixed;
  }
  int LineOfKey(const std::string& key) const;

  // The line messages fall back to: the item's in a list sweep, else that of parameters.
  int DefaultLine() const {
    return item_ != nullptr ? item_->line : LineOr(spec_.lines, "parameters", 0);
  }

  const SweepSpec& spec_;
  const std::string& file_;
  const SweepLimits& limits_;
  const bool program_;
  Draft base_;
  // While List() expands an item: the item, its index, and base_ with the item's keys applied.
  const ListItem* item_ = nullptr;
  size_t item_index_ = 0;
  Draft item_base_;
  std::map<std::string, std::string> item_fixed_;
  const std::vector<size_t> order_ = ParameterOrder(spec_);
};

int Expander::LineOfKey(const std::string& key) const {
  for (const ParameterSpec& p : spec_.parameters) {
    if (p.key == key) return p.line;
  }
  if (item_ != nullptr && item_->params.count(key)) return LineOr(item_->lines, key, item_->line);
  return LineOr(spec_.lines, "fixed." + key, DefaultLine());
}

std::string Expander::Describe(const std::vector<std::string>& texts,
                               const std::vector<bool>& active) const {
  std::string out;
  if (item_ != nullptr) out = ItemName(item_index_, *item_) + " of 'trials'";
  bool first = true;
  for (size_t i = 0; i < texts.size(); ++i) {
    if (!active.empty() && !active[i]) continue;
    if (first && !out.empty()) out += "; ";
    out += (first ? "" : ", ") + spec_.parameters[i].key + "=" + texts[i];
    first = false;
  }
  return out;
}

Status Expander::Init() {
  bool seed_set = spec_.fixed.count("seed") > 0;
  for (const ParameterSpec& p : spec_.parameters) seed_set = seed_set || p.key == "seed";
  if (!seed_set) base_.config.train.seed = spec_.seed;
  for (const auto& [key, text] : spec_.fixed) {
    const Status st = Set(key, text, &base_);
    if (!st.ok()) return ErrorAt(file_, LineOfKey(key), st.message());
  }
  std::set<std::string> keys;
  for (const ParameterSpec& p : spec_.parameters) {
    if (!program_ && !IsConfigKey(p.key)) {
      return ErrorAt(file_, p.line, "unknown key '" + p.key + "'");
    }
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
                       Draft* config) const {
  *config = item_ != nullptr ? item_base_ : base_;
  config->active = ActiveParameters(spec_, texts, Fixed());
  for (size_t i = 0; i < texts.size(); ++i) {
    if (!config->active[i]) continue;  // its condition does not hold: absent from the trial
    const ParameterSpec& p = spec_.parameters[i];
    const Status st = Set(p.key, texts[i], config);
    if (!st.ok()) {
      return ErrorAt(file_, p.line,
                     "trial " + std::to_string(number) + " (" + Describe(texts, config->active) +
                         "): " + st.message());
    }
  }
  return Status::Ok();
}

Status Expander::Finish(int number, const std::vector<std::string>& texts,
                        const Draft& draft, std::vector<TrialSpec>* trials) const {
  if (program_) {
    FinishProgram(number, draft, trials);
    return Status::Ok();
  }
  const TrialConfig& config = draft.config;
  const Status st = Validate(config);
  if (!st.ok()) {
    // The engine's messages start with "key 'NAME'": point at the line of that key.
    int line = DefaultLine();
    const std::string& m = st.message();
    if (m.rfind("key '", 0) == 0) {
      const size_t end = m.find('\'', 5);
      if (end != std::string::npos) line = LineOfKey(m.substr(5, end - 5));
    }
    const std::string described = Describe(texts, draft.active);
    const std::string which = described.empty() ? "" : " (" + described + ")";
    return ErrorAt(file_, line, "trial " + std::to_string(number) + which + ": " + m);
  }
  // A model too big for a worker is refused here, before any worker allocates it.
  const int64_t params = ParamCount(config);
  const int64_t bytes = TrainingBytesEstimate(config);
  if (params > limits_.max_params || bytes > limits_.max_training_bytes) {
    const std::string described = Describe(texts, draft.active);
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
  for (size_t i = 0; i < draft.active.size(); ++i) {  // a parameter that does not apply is absent
    if (!draft.active[i]) trial.params.erase(spec_.parameters[i].key);
  }
  if (item_ != nullptr && !item_->label.empty()) {
    trial.label = item_->label;
    trial.params[kLabelKey] = item_->label;
  }
  trials->push_back(std::move(trial));
  return Status::Ok();
}

void Expander::FinishProgram(int number, const Draft& draft,
                             std::vector<TrialSpec>* trials) const {
  TrialSpec trial;
  trial.number = number;
  trial.params = draft.program;
  if (item_ != nullptr && !item_->label.empty()) {
    trial.label = item_->label;
    trial.params[kLabelKey] = item_->label;
  }
  trials->push_back(std::move(trial));
}

std::vector<std::string> Expander::Canonical(const Draft& draft) const {
  std::vector<std::string> out;
  for (size_t i = 0; i < spec_.parameters.size(); ++i) {
    const std::string& key = spec_.parameters[i].key;
    if (!draft.active.empty() && !draft.active[i]) {
      out.push_back("!");  // absent ("=" starts every value)
      continue;
    }
    out.push_back("=" + (program_ ? draft.program.at(key) : GetKey(draft.config, key)));
  }
  return out;
}

std::vector<std::string> Expander::Draw(Rng* rng) const {
  std::vector<std::string> texts(spec_.parameters.size());
  std::vector<bool> active(spec_.parameters.size(), false);
  for (size_t i : order_) {  // parents first; a parameter that does not apply is not drawn
    active[i] = ParameterApplies(spec_, i, texts, active, Fixed());
    if (!active[i]) continue;
    texts[i] = DrawParameter(spec_.parameters[i], rng);
  }
  return texts;
}

Status Expander::GridPoints(uint64_t count, int* number, std::vector<TrialSpec>* trials) const {
  std::vector<size_t> index(spec_.parameters.size(), 0);
  std::vector<std::string> texts(spec_.parameters.size());
  if (HasConditions(spec_)) {  // only the points where each parameter applies
    for (const std::vector<size_t>& point : sweep_internal::ConditionalGridPoints(spec_, Fixed())) {
      for (size_t i = 0; i < point.size(); ++i) texts[i] = spec_.parameters[i].values[point[i]];
      Draft config;
      ++*number;
      HPSWEEP_RETURN_IF_ERROR(Apply(*number, texts, &config));
      HPSWEEP_RETURN_IF_ERROR(Finish(*number, texts, config, trials));
    }
    return Status::Ok();
  }
  for (uint64_t n = 0; n < count; ++n) {
    for (size_t i = 0; i < index.size(); ++i) texts[i] = spec_.parameters[i].values[index[i]];
    Draft config;
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
  Draft config;
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
    item_fixed_ = spec_.fixed;
    for (const auto& [key, text] : item_->params) item_fixed_[key] = text;
    for (const auto& [key, text] : item_->params) {
      const Status st = Set(key, text, &item_base_);
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
  // The size of the space when it is finite (values, int_* and uniform with q), else 0.
  uint64_t space = 1;
  for (const ParameterSpec& p : spec_.parameters) {
    const uint64_t n =
        p.distribution == Distribution::kValues ? p.values.size() : DistributionPoints(p);
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
    Draft config;
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
            point[i] = p.distribution == Distribution::kValues ? p.values[index[i]]
                                                                : PointText(p, index[i]);
          }
          Draft c;
          HPSWEEP_RETURN_IF_ERROR(Apply(number, point, &c));
          std::vector<std::string> key = Canonical(c);
          if (!seen.count(key) && pooled.insert(key).second) pool.push_back(point);
          for (size_t i = index.size(); i-- > 0;) {
            const ParameterSpec& p = spec_.parameters[i];
            const uint64_t size = p.distribution == Distribution::kValues
                                      ? p.values.size()
                                      : DistributionPoints(p);
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

namespace {

// ExpandSweep's trials less those whose parameter count breaks the sweep's param_count
// constraint (search/ranking.h), numbered again from 1. A random sweep draws on (its draws are
// one stream, so a longer run keeps the earlier draws) until it has max_trials such trials or
// its space ends; 100 times max_trials draws at most.
StatusOr<std::vector<TrialSpec>> ExpandWithin(const SweepSpec& spec, const std::string& file_name,
                                              const SweepLimits& limits) {
  const ConstraintSpec* c = ParamCountConstraint(spec.constraints);
  SweepSpec more = spec;
  while (true) {
    Expander expander(more, file_name, limits);
    HPSWEEP_RETURN_IF_ERROR(expander.Init());
    StatusOr<std::vector<TrialSpec>> all =
        spec.method == SweepMethod::kGrid ? expander.Grid()
        : spec.method == SweepMethod::kList ? expander.List() : expander.Random();  // (and pbt)
    if (!all.ok() || c == nullptr || !spec.program.empty() || all->empty()) return all;
    std::vector<TrialSpec> kept;
    for (TrialSpec& t : *all) {
      if (!ParamCountBreaks(*c, ParamCount(t.config)).empty()) continue;
      t.number = static_cast<int>(kept.size()) + 1;
      kept.push_back(std::move(t));
    }
    const bool drawn_out = static_cast<int>(all->size()) < more.max_trials;
    if (spec.method != SweepMethod::kRandom || static_cast<int>(kept.size()) >= spec.max_trials ||
        drawn_out || more.max_trials >= 100 * spec.max_trials) {
      if (static_cast<int>(kept.size()) > spec.max_trials && spec.max_trials > 0 &&
          spec.method == SweepMethod::kRandom) {
        kept.resize(static_cast<size_t>(spec.max_trials));
      }
      if (kept.empty()) {
        return ErrorAt(file_name, LineOr(spec.lines, "constraints.param_count", 0),
                       "key 'constraints.param_count': no trial of the sweep holds it (trial 1: " +
                           ParamCountBreaks(*c, ParamCount((*all)[0].config)) + ")");
      }
      return kept;
    }
    more.max_trials *= 4;
  }
}

}  // namespace

StatusOr<std::vector<TrialSpec>> ExpandSweep(const SweepSpec& spec, const std::string& file_name,
                                             const SweepLimits& limits) {
  if (spec.method != SweepMethod::kBayes && !spec.constraints.empty()) {
    return ExpandWithin(spec, file_name, limits);
  }
  Expander expander(spec, file_name, limits);
  HPSWEEP_RETURN_IF_ERROR(expander.Init());
  switch (spec.method) {
    case SweepMethod::kGrid: return expander.Grid();
    case SweepMethod::kRandom:
    case SweepMethod::kPbt: return expander.Random();  // the population: random draws
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

std::string DrawParameter(const ParameterSpec& p, Rng* rng) {
  switch (p.distribution) {
    case Distribution::kValues: return p.values[rng->Below(p.values.size())];
    case Distribution::kIntUniform:
    case Distribution::kUniform:
      if (const uint64_t n = DistributionPoints(p); n > 0) {  // a grid: one of its points
        return DistributionText(p, p.min + static_cast<double>(rng->Below(n)) * (p.q > 0 ? p.q : 1));
      }
      return DrawText(rng->Uniform(p.min, p.max), p.min, p.max);
    case Distribution::kLogUniform:
      return DrawText(std::exp(rng->Uniform(std::log(p.min), std::log(p.max))), p.min, p.max);
    case Distribution::kIntLogUniform:  // uniform in log space over [min - 0.5, max + 0.5]
      return DistributionText(p, std::exp(rng->Uniform(std::log(p.min - 0.5), std::log(p.max + 0.5))));
  }
  return p.values.empty() ? std::string() : p.values[0];
}

std::string DrawText(double v, double lo, double hi) {
  std::string text = Format6(v);
  // %.6g can round just past a bound given with more digits; keep draws inside [min, max].
  const double back = std::strtod(text.c_str(), nullptr);
  if (back < lo) text = FormatExact(lo);
  if (back > hi) text = FormatExact(hi);
  return text;
}

uint64_t DistributionPoints(const ParameterSpec& p) {
  switch (p.distribution) {
    case Distribution::kIntUniform:
      return static_cast<uint64_t>(std::llround((p.max - p.min) / (p.q > 0 ? p.q : 1))) + 1;
    case Distribution::kIntLogUniform: return static_cast<uint64_t>(p.max - p.min) + 1;
    case Distribution::kUniform:
      return p.q > 0 ? static_cast<uint64_t>(std::llround((p.max - p.min) / p.q)) + 1 : 0;
    case Distribution::kValues:
    case Distribution::kLogUniform: return 0;
  }
  return 0;
}

double SnapToStep(const ParameterSpec& p, double x) {
  const bool integer = p.distribution == Distribution::kIntUniform ||
                       p.distribution == Distribution::kIntLogUniform;
  double q = p.q > 0 ? p.q : integer ? 1 : 0;
  if (p.distribution == Distribution::kIntLogUniform) q = 1;
  if (q <= 0 || !std::isfinite(x)) return x;
  double v = p.min + std::round((x - p.min) / q) * q;
  if (v > p.max) v -= q;  // (max - min is a multiple of q: only rounding goes past it)
  return std::clamp(v, p.min, p.max);
}

std::string DistributionText(const ParameterSpec& p, double v) {
  v = SnapToStep(p, v);
  if (p.distribution == Distribution::kIntUniform ||
      p.distribution == Distribution::kIntLogUniform) {
    return std::to_string(std::llround(v));
  }
  return DrawText(v, p.min, p.max);
}

std::string PointText(const ParameterSpec& p, uint64_t index) {
  if (p.distribution == Distribution::kIntLogUniform) {
    return std::to_string(static_cast<int64_t>(p.min) + static_cast<int64_t>(index));
  }
  return DistributionText(p, p.min + static_cast<double>(index) * (p.q > 0 ? p.q : 1));
}

}  // namespace hpsweep
