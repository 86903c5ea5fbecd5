// The sweep file's method: pbt (see PbtOptions in search/sweep_file.h): the `pbt` mapping, and
// the checks a population needs of the rest of the file.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "engine/checkpoint.h"
#include "engine/config.h"
#include "search/sweep_file.h"
#include "search/sweep_file_internal.h"

namespace hpsweep {

namespace sweep_internal {
namespace {

const std::vector<std::string>& PbtKeys() {
  static const std::vector<std::string> keys = {"population", "interval", "quantile",
                                                "resample_probability", "mutable"};
  return keys;
}

// A number in (lo, hi] (lo_open) or [lo, hi].
bool FractionIn(const std::string& text, double lo, double hi, bool lo_open, double* out) {
  double v = 0;
  if (!ParseDouble(text, &v) || !std::isfinite(v) || v > hi || v < lo || (lo_open && v == lo)) {
    return false;
  }
  *out = v;
  return true;
}

}  // namespace

Status Parser::ReadPbt(const Entry& e, SweepSpec* spec) {
  pbt_line_ = e.line;
  if (!e.value->IsMapping()) {
    return Err(LineOf(e.value, e.line),
               "key 'pbt': expected a mapping such as {population: 8, interval: 2, mutable: "
               "[learning_rate, dropout]}, got " + std::string(TypeName(e.value)));
  }
  std::vector<Entry> entries;
  HPSWEEP_RETURN_IF_ERROR(ReadMapping(e.value, "pbt", PbtKeys(), &entries));
  PbtOptions& o = spec->pbt;
  for (const Entry& x : entries) {
    spec->lines["pbt." + x.key] = x.line;
    int64_t v = 0;
    std::string text;
    if (x.key == "population") {
      HPSWEEP_RETURN_IF_ERROR(IntInRange(x, "pbt.population", 2, kMaxPopulation, &v));
      o.population = static_cast<int>(v);
    } else if (x.key == "interval") {
      HPSWEEP_RETURN_IF_ERROR(IntInRange(x, "pbt.interval", 1, 10000, &v));
      o.interval = static_cast<int>(v);
    } else if (x.key == "quantile") {
      HPSWEEP_RETURN_IF_ERROR(Scalar(x, "pbt.quantile", &text));
      if (!FractionIn(text, 0, 0.5, true, &o.quantile)) {
        return Err(x.line, "key 'pbt.quantile': expected a fraction in (0, 0.5] (the bottom "
                           "share that copies the top share), got '" + EscapeText(text) + "'");
      }
    } else if (x.key == "resample_probability") {
      HPSWEEP_RETURN_IF_ERROR(Scalar(x, "pbt.resample_probability", &text));
      if (!FractionIn(text, 0, 1, false, &o.resample_probability)) {
        return Err(x.line, "key 'pbt.resample_probability': expected a probability in [0, 1], "
                           "got '" + EscapeText(text) + "'");
      }
    } else if (x.key == "mutable") {
      const YamlNode* list = x.value;
      if (!list->IsSequence() || list->items.empty() || list->items.size() > 16) {
        return Err(LineOf(list, x.line),
                   "key 'pbt.mutable': expected a list of 1 to 16 parameter names such as "
                   "[learning_rate, dropout]");
      }
      for (const YamlNode* item : list->items) {
        if (!item->IsScalar()) {
          return Err(LineOf(item, x.line), "key 'pbt.mutable': expected parameter names, got " +
                                               std::string(TypeName(item)));
        }
        if (Contains(o.mutable_params, item->text)) {
          return Err(LineOf(item, x.line), "key 'pbt.mutable': '" + EscapeText(item->text) +
                                               "' is named twice");
        }
        o.mutable_params.push_back(item->text);
      }
    }
  }
  return Status::Ok();
}

Status Parser::CheckPbt(SweepSpec* spec) const {
  if (spec->method != SweepMethod::kPbt) {
    if (pbt_line_ > 0) {
      return Err(pbt_line_, "key 'pbt' (population-based training) needs method: pbt");
    }
    return Status::Ok();
  }
  const int method_line = LineOr(spec->lines, "method", 1);
  PbtOptions& o = spec->pbt;
  if (pbt_line_ == 0 || o.population == 0 || o.interval == 0 || o.mutable_params.empty()) {
    return Err(pbt_line_ > 0 ? pbt_line_ : method_line,
               "method: pbt needs 'pbt' with population, interval and mutable, such as "
               "{population: 8, interval: 2, mutable: [learning_rate, dropout]}");
  }
  if (spec->lines.count("max_trials")) {
    return Err(spec->lines.at("max_trials"),
               "key 'max_trials': a pbt sweep's trials are its population (pbt.population)");
  }
  if (spec->reuse) {
    return Err(LineOr(spec->lines, "reuse", method_line),
               "key 'reuse': not with method: pbt (a member's params change as it trains)");
  }
  if (spec->early_terminate.type != EarlyTerminateSpec::Type::kNone) {
    return Err(LineOr(spec->lines, "early_terminate", method_line),
               "key 'early_terminate': not with method: pbt (its bottom members are replaced, "
               "not stopped)");
  }
  if (!spec->objectives.empty() || !spec->constraints.empty()) {
    return Err(LineOr(spec->lines, spec->objectives.empty() ? "constraints" : "metric",
                      method_line),
               "method: pbt ranks its members by one metric, without constraints");
  }
  // Every member trains the same epochs, a fixed value above one segment.
  int64_t epochs = spec->program.empty() ? TrialConfig().train.epochs : 1;
  for (const ParameterSpec& p : spec->parameters) {
    if (p.key == "epochs") {
      return Err(p.line, "key 'epochs': a pbt sweep's epochs are fixed (every member trains as "
                         "long), not swept");
    }
  }
  auto f = spec->fixed.find("epochs");
  if (f != spec->fixed.end()) ParseInt64(f->second, &epochs);
  if (o.interval >= epochs) {
    return Err(LineOr(spec->lines, "pbt.interval", pbt_line_),
               "key 'pbt.interval': " + std::to_string(o.interval) +
                   " epochs a segment leave no second segment of the members' " +
                   std::to_string(epochs) + " epochs; use fewer (or more epochs under fixed)");
  }
  o.epochs = static_cast<int>(epochs);
  std::vector<std::string> swept;
  for (const ParameterSpec& p : spec->parameters) swept.push_back(p.key);
  const int mutable_line = LineOr(spec->lines, "pbt.mutable", pbt_line_);
  for (const std::string& key : o.mutable_params) {
    // An engine trial's mutable keys change no shape and no optimizer state; a program's are any
    // of its parameters (the program reads them again when it resumes).
    if (spec->program.empty() && !Contains(MutableKeys(), key)) {
      const std::string near = NearestKey(key, MutableKeys());
      return Err(mutable_line, "key 'pbt.mutable': '" + EscapeText(key) +
                                   "' cannot change during training" +
                                   (near.empty() ? "" : " (did you mean '" + near + "'?)") +
                                   "; the mutable keys are " + JoinKeys(MutableKeys()));
    }
    auto p = std::find_if(spec->parameters.begin(), spec->parameters.end(),
                          [&](const ParameterSpec& x) { return x.key == key; });
    if (p == spec->parameters.end()) {
      return Err(mutable_line,
                 "key 'pbt.mutable': '" + key + "' is not a parameter of the sweep" +
                     (swept.empty() ? "" : " (its parameters: " + JoinKeys(swept) + ")") +
                     "; a mutable key needs a distribution or values to explore");
    }
    // Under reduce_on_plateau the restored rate (a checkpoint's plateau state) would keep the
    // old one: a changed learning_rate would not take effect.
    auto schedule = spec->fixed.find("lr_schedule");
    const bool plateau_swept = std::any_of(
        spec->parameters.begin(), spec->parameters.end(),
        [](const ParameterSpec& x) { return x.key == "lr_schedule"; });
    if (key == "learning_rate" &&
        (plateau_swept || (schedule != spec->fixed.end() &&
                           schedule->second.find("plateau") != std::string::npos))) {
      return Err(mutable_line, "key 'pbt.mutable': learning_rate cannot change under "
                               "lr_schedule: reduce_on_plateau (its own rate would stay)");
    }
    if (!p->when.empty()) {
      return Err(p->line, "key '" + key + "': a mutable parameter applies always (no 'when')");
    }
    for (const ParameterSpec& other : spec->parameters) {
      for (const Condition& c : other.when) {
        if (c.parent == key) {
          return Err(c.line, "key '" + other.key + "': its 'when' names the mutable '" + key +
                                 "', whose value changes during training");
        }
      }
    }
  }
  spec->max_trials = o.population;  // the population is drawn as a random sweep's trials
  return Status::Ok();
}

}  // namespace sweep_internal
}  // namespace hpsweep
