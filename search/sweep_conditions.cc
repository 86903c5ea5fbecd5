// Conditional parameters (sweep_file.h, "Conditional parameters"): reading a parameter's `when`
// and checking it against the whole file (Parser::ReadWhen, Parser::CheckConditions), which
// parameters apply in a trial (ActiveParameters), the order they are decided in, and the grid of
// a sweep with conditions: its size and its points (sweep_file_internal.h).

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "search/sweep_file.h"
#include "search/sweep_file_internal.h"
#include "engine/config.h"

namespace hpsweep {

using sweep_internal::ErrorAt;
using sweep_internal::JoinKeys;
using sweep_internal::Parser;

namespace {

// Parent assignments a conditional grid's count enumerates at most: each is at least one point,
// so past it the grid is over kMaxTrialsPerSweep anyway.
constexpr uint64_t kMaxParentAssignments = kMaxTrialsPerSweep;

// v of text, a number; "[2]" (a list key holding one value) reads as 2.
bool WhenNumber(const std::string& text, double* out) {
  const bool listed = text.size() > 2 && text.front() == '[' && text.back() == ']';
  return sweep_internal::ParseDouble(listed ? text.substr(1, text.size() - 2) : text, out);
}

// The form a value is compared in: the engine's GetKey form of an engine key, the text as
// written for a program's.
std::string WhenCanonical(const SweepSpec& spec, const std::string& key, const std::string& text) {
  if (!spec.program.empty()) return text;
  TrialConfig scratch;
  if (!ApplyKey(key, text, &scratch).ok()) return text;
  return GetKey(scratch, key);
}

int ParameterIndex(const SweepSpec& spec, const std::string& key) {
  for (size_t i = 0; i < spec.parameters.size(); ++i) {
    if (spec.parameters[i].key == key) return static_cast<int>(i);
  }
  return -1;
}

std::string RangeText(const Condition& c) {
  std::string out = "{";
  if (std::isfinite(c.min)) out += "min: " + sweep_internal::Format6(c.min);
  if (std::isfinite(c.max)) out += std::string(out.size() > 1 ? ", " : "") + "max: " +
                                   sweep_internal::Format6(c.max);
  return out + "}";
}

}  // namespace

bool HasConditions(const SweepSpec& spec) {
  for (const ParameterSpec& p : spec.parameters) {
    if (!p.when.empty()) return true;
  }
  return false;
}

bool ConditionHolds(const SweepSpec& spec, const Condition& c, const std::string& text) {
  if (c.range) {
    double v = 0;
    return WhenNumber(text, &v) && v >= c.min && v <= c.max;
  }
  const std::string canonical = WhenCanonical(spec, c.parent, text);
  for (const std::string& want : c.values) {
    if (canonical == WhenCanonical(spec, c.parent, want)) return true;
    double a = 0, b = 0;  // a program's 1 and 1.0
    if (!spec.program.empty() && WhenNumber(text, &a) && WhenNumber(want, &b) && a == b) {
      return true;
    }
  }
  return false;
}

std::vector<size_t> ParameterOrder(const SweepSpec& spec) {
  const size_t n = spec.parameters.size();
  std::vector<std::vector<size_t>> parents(n);
  for (size_t i = 0; i < n; ++i) {
    for (const Condition& c : spec.parameters[i].when) {
      const int parent = ParameterIndex(spec, c.parent);
      if (parent >= 0 && static_cast<size_t>(parent) != i) parents[i].push_back(parent);
    }
  }
  std::vector<size_t> order;
  std::vector<bool> placed(n, false);
  while (order.size() < n) {
    bool any = false;
    for (size_t i = 0; i < n && !any; ++i) {  // the first in file order whose parents are placed
      if (placed[i]) continue;
      bool ready = true;
      for (size_t p : parents[i]) ready = ready && placed[p];
      if (ready) placed[i] = any = true, order.push_back(i);
    }
    if (!any) {  // a cycle (refused by ParseSweep; a spec built by hand): the rest in file order
      for (size_t i = 0; i < n; ++i) {
        if (!placed[i]) placed[i] = true, order.push_back(i);
      }
    }
  }
  return order;
}

bool ParameterApplies(const SweepSpec& spec, size_t index, const std::vector<std::string>& texts,
                      const std::vector<bool>& active,
                      const std::map<std::string, std::string>& fixed) {
  for (const Condition& c : spec.parameters[index].when) {
    const int parent = ParameterIndex(spec, c.parent);
    if (parent >= 0) {
      const size_t p = static_cast<size_t>(parent);
      if (p == index || p >= active.size() || !active[p] || p >= texts.size()) return false;
      if (!ConditionHolds(spec, c, texts[p])) return false;
      continue;
    }
    auto it = fixed.find(c.parent);
    if (it == fixed.end() || !ConditionHolds(spec, c, it->second)) return false;
  }
  return true;
}

std::vector<bool> ActiveParameters(const SweepSpec& spec, const std::vector<std::string>& texts,
                                   const std::map<std::string, std::string>& fixed) {
  std::vector<bool> active(spec.parameters.size(), false);
  if (!HasConditions(spec)) {
    active.assign(active.size(), true);
    return active;
  }
  for (size_t i : ParameterOrder(spec)) active[i] = ParameterApplies(spec, i, texts, active, fixed);
  return active;
}

namespace sweep_internal {

// Walks the grid of values axes in ParameterOrder: an axis that applies takes each of its values
// (or, when `leaf` says it is no parent, counts as its size), one that does not takes index 0.
class GridWalk {
 public:
  GridWalk(const SweepSpec& spec, const std::map<std::string, std::string>& fixed)
      : spec_(spec), fixed_(fixed), order_(ParameterOrder(spec)) {
    const size_t n = spec.parameters.size();
    is_parent_.assign(n, false);
    for (const ParameterSpec& p : spec.parameters) {
      for (const Condition& c : p.when) {
        const int parent = ParameterIndex(spec, c.parent);
        if (parent >= 0) is_parent_[parent] = true;
      }
    }
    index_.assign(n, 0);
    texts_.assign(n, "");
    active_.assign(n, false);
  }

  // The number of points, saturating at UINT64_MAX (also past kMaxParentAssignments).
  uint64_t Count() {
    assignments_ = 0;
    return CountFrom(0);
  }

  // Every point's indices in file order, last axis fastest.
  std::vector<std::vector<size_t>> Points() {
    std::vector<std::vector<size_t>> out;
    Enumerate(0, &out);
    std::sort(out.begin(), out.end());
    return out;
  }

 private:
  bool Applies(size_t i) { return ParameterApplies(spec_, i, texts_, active_, fixed_); }

  void Set(size_t i, bool active, size_t value) {
    active_[i] = active;
    index_[i] = value;
    texts_[i] = active ? spec_.parameters[i].values[value] : "";
  }

  uint64_t CountFrom(size_t at) {
    if (at == order_.size()) {
      ++assignments_;
      return 1;
    }
    const size_t i = order_[at];
    const uint64_t n = spec_.parameters[i].values.size();
    if (!Applies(i) || n == 0) {
      Set(i, false, 0);
      return CountFrom(at + 1);
    }
    uint64_t total = 0;
    const uint64_t max = std::numeric_limits<uint64_t>::max();
    for (uint64_t v = 0; v < (is_parent_[i] ? n : 1); ++v) {
      Set(i, true, v);
      uint64_t rest = CountFrom(at + 1);
      if (!is_parent_[i]) rest = rest > max / n ? max : rest * n;
      total = rest > max - total ? max : total + rest;
      if (assignments_ > kMaxParentAssignments) return max;
    }
    return total;
  }

  void Enumerate(size_t at, std::vector<std::vector<size_t>>* out) {
    if (at == order_.size()) {
      out->push_back(index_);
      return;
    }
    const size_t i = order_[at];
    const size_t n = spec_.parameters[i].values.size();
    if (!Applies(i) || n == 0) {
      Set(i, false, 0);
      Enumerate(at + 1, out);
      return;
    }
    for (size_t v = 0; v < n; ++v) {
      Set(i, true, v);
      Enumerate(at + 1, out);
    }
  }

  const SweepSpec& spec_;
  const std::map<std::string, std::string>& fixed_;
  const std::vector<size_t> order_;
  std::vector<bool> is_parent_;
  std::vector<size_t> index_;
  std::vector<std::string> texts_;
  std::vector<bool> active_;
  uint64_t assignments_ = 0;
};

uint64_t ConditionalGridSize(const SweepSpec& spec,
                             const std::map<std::string, std::string>& fixed) {
  return GridWalk(spec, fixed).Count();
}

std::vector<std::vector<size_t>> ConditionalGridPoints(
    const SweepSpec& spec, const std::map<std::string, std::string>& fixed) {
  return GridWalk(spec, fixed).Points();
}

Status Parser::ReadWhen(const std::string& key, const Entry& when, ParameterSpec* p) const {
  const std::string example = " such as when: {optimizer: sgd}, when: {optimizer: [sgd, "
                              "rmsprop]} or when: {layers: {min: 2}}";
  if (!when.value->IsMapping() || when.value->entries.empty()) {
    return Err(when.value->IsNull() ? when.line : LineOf(when.value, when.line),
               "key '" + key + "': when takes a mapping of other parameters to their values" +
                   example + ", got " + TypeName(when.value));
  }
  for (const auto& [k, v] : when.value->entries) {
    Condition c;
    c.parent = k->text;
    c.line = LineOf(k, when.line);
    const std::string what = "key '" + key + "': when." + EscapeText(c.parent);
    if (c.parent == key) return Err(c.line, what + ": a parameter cannot depend on itself");
    if (v->IsScalar()) {
      c.values.push_back(v->text);
    } else if (v->IsSequence() && !v->items.empty()) {
      for (const YamlNode* item : v->items) {
        if (!item->IsScalar()) {
          return Err(LineOf(item, c.line), what + ": expected a list of single values (any of "
                                                  "them), got " + TypeName(item) +
                                                  " inside the list");
        }
        c.values.push_back(item->text);
      }
    } else if (v->IsMapping()) {
      HPSWEEP_RETURN_IF_ERROR(ReadWhenRange(what, c.line, v, &c));
    } else {
      return Err(v->IsNull() ? c.line : LineOf(v, c.line),
                 what + ": expected a value, a list of values or {min: ..., max: ...}, got " +
                     (v->IsSequence() ? "an empty list" : TypeName(v)));
    }
    p->when.push_back(std::move(c));
  }
  return Status::Ok();
}

Status Parser::ReadWhenRange(const std::string& what, int line, const YamlNode* v,
                             Condition* c) const {
  if (v->entries.empty()) return Err(line, what + ": a range needs min, max or both");
  c->range = true;
  c->min = -std::numeric_limits<double>::infinity();
  c->max = std::numeric_limits<double>::infinity();
  for (const auto& [bound, value] : v->entries) {
    const int at = LineOf(bound, line);
    if (bound->text != "min" && bound->text != "max") {
      const std::string near = NearestKey(bound->text, {"min", "max"});
      return Err(at, what + ": unknown key '" + EscapeText(bound->text) + "' in a range" +
                         (near.empty() ? " (known keys: min, max)" : " (did you mean '" + near +
                                                                         "'?)"));
    }
    double x = 0;
    if (!value->IsScalar() || !WhenNumber(value->text, &x) || value->text.front() == '[') {
      return Err(at, what + ": " + bound->text + " must be a number, got " +
                         (value->IsScalar() ? "'" + value->text + "'" : TypeName(value)));
    }
    (bound->text == "min" ? c->min : c->max) = x;
  }
  if (c->min > c->max) {
    return Err(line, what + ": min (" + Format6(c->min) + ") is above max (" + Format6(c->max) +
                         ")");
  }
  return Status::Ok();
}

// One condition of parameter p checked against its parent: the parent exists, each value is
// one the parent can take (in its canonical form from then on), a range's parent is numeric.
Status Parser::CheckCondition(const SweepSpec& spec, const ParameterSpec& p, Condition* c) const {
  const std::string what = "key '" + p.key + "': when." + EscapeText(c->parent);
  const int parent = ParameterIndex(spec, c->parent);
  // A fixed parent's values: the fixed one and (method: list) those the items set over it.
  std::vector<std::string> fixed_texts;
  auto fixed = spec.fixed.find(c->parent);
  if (fixed != spec.fixed.end()) fixed_texts.push_back(fixed->second);
  for (const ListItem& item : spec.items) {
    auto it = item.params.find(c->parent);
    if (it != item.params.end()) fixed_texts.push_back(it->second);
  }
  const std::string fixed_to = "is fixed to " + JoinKeys(fixed_texts);
  if (parent < 0 && fixed_texts.empty()) {
    std::vector<std::string> known;
    for (const ParameterSpec& q : spec.parameters) {
      if (q.key != p.key) known.push_back(q.key);
    }
    for (const auto& [k, text] : spec.fixed) known.push_back(k);
    const std::string near = NearestKey(c->parent, known);
    return Err(c->line, what + ": '" + EscapeText(c->parent) + "' is neither a parameter nor a "
                               "fixed key" + (near.empty() ? "" : " (did you mean '" + near +
                                                                      "'?)"));
  }
  const ParameterSpec* q = parent >= 0 ? &spec.parameters[parent] : nullptr;
  if (c->range) {
    std::vector<std::string> texts;
    if (q == nullptr) texts = fixed_texts;
    if (q != nullptr && q->distribution == Distribution::kValues) texts = q->values;
    bool holds = q != nullptr && q->distribution != Distribution::kValues &&
                 q->max >= c->min && q->min <= c->max;
    for (const std::string& t : texts) {
      double x = 0;
      if (!WhenNumber(t, &x)) {
        return Err(c->line, what + ": a range needs a numeric parent, but '" + c->parent +
                                "' takes '" + EscapeText(t) + "'");
      }
      holds = holds || (x >= c->min && x <= c->max);
    }
    if (!holds) {
      return Err(c->line, what + ": " + RangeText(*c) + " never applies: '" + c->parent + "' " +
                              (q == nullptr ? fixed_to
                               : q->distribution == Distribution::kValues
                                   ? "takes " + JoinKeys(q->values)
                                   : "is drawn from [" + Format6(q->min) + ", " +
                                         Format6(q->max) + "]"));
    }
    return Status::Ok();
  }
  for (std::string& value : c->values) {
    std::string canonical;
    HPSWEEP_RETURN_IF_ERROR(CheckConfigValue(c->parent, value, c->line,
                                             " (in the when of '" + p.key + "')", &canonical));
    bool takes = false;
    if (q == nullptr) {
      for (const std::string& t : fixed_texts) {
        takes = takes || ConditionHolds(spec, Condition{c->parent, {value}, false, 0, 0, 0}, t);
      }
    } else if (q->distribution == Distribution::kValues) {
      for (const std::string& t : q->values) {
        takes = takes || ConditionHolds(spec, Condition{c->parent, {value}, false, 0, 0, 0}, t);
      }
    } else if (DistributionPoints(*q) == 0) {
      return Err(c->line, what + ": '" + c->parent + "' is drawn from a continuous distribution, "
                                 "so it is never exactly " + EscapeText(value) +
                                 "; give a range such as {min: ..., max: ...}");
    } else {
      double x = 0;
      takes = WhenNumber(value, &x) && x >= q->min && x <= q->max &&
              DistributionText(*q, x) == WhenCanonical(spec, c->parent, value);
    }
    if (!takes) {
      return Err(c->line, what + ": never applies: '" + c->parent + "' " +
                              (q == nullptr ? fixed_to + ", never "
                               : q->distribution == Distribution::kValues
                                   ? "takes " + JoinKeys(q->values) + ", never "
                                   : "is drawn from its points in [" + Format6(q->min) + ", " +
                                         Format6(q->max) + "], never ") +
                              EscapeText(value));
    }
    value = canonical;
  }
  return Status::Ok();
}

Status Parser::CheckConditions(SweepSpec* spec) const {
  for (ParameterSpec& p : spec->parameters) {
    for (Condition& c : p.when) HPSWEEP_RETURN_IF_ERROR(CheckCondition(*spec, p, &c));
  }
  // No cycles: following parents from any parameter never comes back to it.
  const size_t n = spec->parameters.size();
  std::vector<int> state(n, 0);  // 0 unseen, 1 on the path, 2 done
  std::vector<size_t> path;
  std::function<Status(size_t)> visit = [&](size_t i) -> Status {
    state[i] = 1;
    path.push_back(i);
    for (const Condition& c : spec->parameters[i].when) {
      const int parent = ParameterIndex(*spec, c.parent);
      if (parent < 0) continue;
      if (state[parent] == 1) {
        std::string cycle;
        auto from = std::find(path.begin(), path.end(), static_cast<size_t>(parent));
        for (auto it = from; it != path.end(); ++it) cycle += spec->parameters[*it].key + " -> ";
        cycle += c.parent;
        return Err(c.line, "key '" + spec->parameters[i].key + "': when." + c.parent +
                               " makes a cycle (" + cycle + "); a parameter's parents must not "
                               "depend on it");
      }
      if (state[parent] == 0) HPSWEEP_RETURN_IF_ERROR(visit(parent));
    }
    path.pop_back();
    state[i] = 2;
    return Status::Ok();
  };
  for (size_t i = 0; i < n; ++i) {
    if (state[i] == 0) HPSWEEP_RETURN_IF_ERROR(visit(i));
  }
  return Status::Ok();
}

}  // namespace sweep_internal
}  // namespace hpsweep
