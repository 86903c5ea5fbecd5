// Parsing a sweep file's several objectives (`metric:` as a list) and its `constraints:`
// (search/ranking.h; README.md, "Several objectives"). Parser members, as sweep_sections.cc's.
#include <cmath>

#include "base/utf8.h"
#include "search/ranking.h"
#include "search/sweep_file_internal.h"

namespace hpsweep {
namespace sweep_internal {

namespace {

// At most this many objectives: fronts in more dimensions say little with sweep-sized samples.
constexpr size_t kMaxObjectives = 4;
constexpr size_t kMaxConstraints = 8;

const std::vector<std::string>& EngineMeasureNames() {
  static const std::vector<std::string> names = {
      "val_accuracy", "val_loss",    "test_accuracy", "test_loss",   "test_mse",
      "test_mae",     "param_count", "train_seconds", "epoch_seconds"};
  return names;
}


// The goal a measure or an engine metric has by nature: maximize for accuracies.
bool NaturalMaximize(const std::string& name) {
  return name == "val_accuracy" || name == "test_accuracy";
}

}  // namespace

Status Parser::ReadObjectives(const Entry& e, SweepSpec* spec) {
  const YamlNode* list = e.value;
  if (list->items.size() < 2 || list->items.size() > kMaxObjectives) {
    return Err(LineOf(list, e.line), "key 'metric': a list of 2 to " +
                                         std::to_string(kMaxObjectives) +
                                         " objectives ({name: ..., goal: ...} each), got " +
                                         std::to_string(list->items.size()) +
                                         (list->items.size() == 1 ? " (give it as one mapping)"
                                                                  : ""));
  }
  spec->objectives.clear();
  for (size_t i = 0; i < list->items.size(); ++i) {
    const YamlNode* item = list->items[i];
    const int line = LineOf(item, e.line);
    const std::string where = "metric[" + std::to_string(i) + "]";
    if (!item->IsMapping()) {
      return Err(line, "key '" + where + "': expected a mapping {name: ..., goal: ...}, got " +
                           TypeName(item));
    }
    if (i == 0) {
      // The first objective is the sweep's metric: the pruners and the best epoch follow it, so
      // it reads as a lone metric does, with its messages.
      Entry first = e;
      first.value = item;
      first.line = line;
      HPSWEEP_RETURN_IF_ERROR(ReadMetric(first, spec));
      spec->objectives.push_back({spec->metric, spec->maximize});
      spec->lines["metric.0"] = line;
      continue;
    }
    std::vector<Entry> entries;
    HPSWEEP_RETURN_IF_ERROR(ReadMapping(item, where, {"name", "goal"}, &entries));
    ObjectiveSpec o;
    std::string goal;
    int goal_line = line;
    for (const Entry& m : entries) {
      std::string text;
      HPSWEEP_RETURN_IF_ERROR(Scalar(m, where + "." + m.key, &text));
      if (m.key == "name") {
        o.name = text;
      } else {
        if (text != "maximize" && text != "minimize") {
          return Err(m.line, "key '" + where + ".goal': expected maximize or minimize, got '" +
                                 EscapeText(text) + "'");
        }
        goal = text;
        goal_line = m.line;
      }
    }
    if (o.name.empty()) return Err(line, "key '" + where + "': missing 'name'");
    const bool known = program_ ? IsMetricName(o.name) || IsTrialMeasure(o.name)
                                : Contains(EngineMeasureNames(), o.name);
    if (!known) {
      std::vector<std::string> names = EngineMeasureNames();
      names.push_back("val_mse");
      const std::string near = NearestKey(o.name, names);
      std::string msg = program_ ? "a program's objective is a metric name it reports on its "
                                   "final line, or param_count, train_seconds, epoch_seconds"
                                 : "expected one of " + JoinKeys(EngineMeasureNames());
      if (!program_ && IsRegressionEpochMetric(o.name)) {
        msg = o.name + " is measured per epoch; a later objective is a trial's (the first "
                       "picks the epoch): use test_" + o.name.substr(4);
      }
      return Err(line, "key '" + where + ".name': " + msg + ", got '" + EscapeText(o.name) + "'" +
                           (near.empty() || near == o.name ? "" : " (did you mean '" + near +
                                                                    "'?)"));
    }
    if (program_ && goal.empty() && !IsTrialMeasure(o.name)) {
      return Err(line, "key '" + where + ".goal': a program's metric needs its goal, maximize "
                                         "or minimize");
    }
    const bool natural = NaturalMaximize(o.name);
    o.maximize = goal.empty() ? natural : goal == "maximize";
    if (!program_ && !IsTrialMeasure(o.name) && o.maximize != natural) {
      return Err(goal_line, "key '" + where + ".goal': " + o.name + " should be " +
                                (natural ? "maximized" : "minimized") + ", not " + goal + "d");
    }
    for (const ObjectiveSpec& other : spec->objectives) {
      if (other.name == o.name) {
        return Err(line, "key '" + where + ".name': " + o.name + " is already an objective");
      }
    }
    spec->lines[where] = line;
    spec->objectives.push_back(std::move(o));
  }
  return Status::Ok();
}

Status Parser::ReadConstraints(const Entry& e, SweepSpec* spec) {
  if (!e.value->IsMapping() || e.value->entries.empty()) {
    return Err(LineOf(e.value, e.line), "key 'constraints': expected a mapping such as "
                                        "{param_count: {max: 100000}}, got " +
                                            std::string(TypeName(e.value)));
  }
  if (e.value->entries.size() > kMaxConstraints) {
    return Err(e.line, "key 'constraints': at most " + std::to_string(kMaxConstraints) +
                           " constraints, got " + std::to_string(e.value->entries.size()));
  }
  for (const auto& [k, v] : e.value->entries) {
    const int line = LineOf(k, e.line);
    const std::string name = k->text;
    const std::string where = "constraints." + name;
    if (program_ ? !(IsMetricName(name) || IsTrialMeasure(name))
                 : !Contains(EngineMeasureNames(), name) && !IsRegressionEpochMetric(name)) {
      const std::string near = NearestKey(name, EngineMeasureNames());
      return Err(line, "key '" + EscapeText(where) + "': expected one of " +
                           JoinKeys(EngineMeasureNames()) +
                           (program_ ? " or a metric the program reports" : "") +
                           (near.empty() ? "" : " (did you mean '" + near + "'?)"));
    }
    std::vector<Entry> bounds;
    if (!v->IsMapping()) {
      return Err(LineOf(v, line), "key '" + where + "': expected {min: ..., max: ...}, got " +
                                      TypeName(v));
    }
    HPSWEEP_RETURN_IF_ERROR(ReadMapping(v, where, {"min", "max"}, &bounds));
    if (bounds.empty()) return Err(line, "key '" + where + "': give min, max or both");
    ConstraintSpec c;
    c.name = name;
    for (const Entry& b : bounds) {
      std::string text;
      HPSWEEP_RETURN_IF_ERROR(Scalar(b, where + "." + b.key, &text));
      double x = 0;
      if (!ParseDouble(text, &x)) {
        return Err(b.line, "key '" + where + "." + b.key + "': expected a finite number, got '" +
                               EscapeText(text) + "'");
      }
      (b.key == "min" ? c.min : c.max) = x;
    }
    if (c.min > c.max) {
      return Err(line, "key '" + where + "': min is above max, so no trial could hold it");
    }
    spec->lines[where] = line;
    spec->constraints.push_back(std::move(c));
  }
  return Status::Ok();
}

Status Parser::CheckObjectives(const SweepSpec& spec) const {
  auto task = spec.fixed.find("task");
  const bool regression = task != spec.fixed.end() && task->second == "regression";
  auto measured = [&](const std::string& name, std::string* why) {
    if (program_) {
      if (name == "param_count") {
        *why = "param_count is an engine model's; a program may report its own size as a metric";
        return false;
      }
      return true;
    }
    const bool accuracy = name == "val_accuracy" || name == "test_accuracy";
    const bool errors = IsRegressionMetric(name);
    if (regression && accuracy) {
      *why = name + " is not measured for task: regression";
      return false;
    }
    if (!regression && errors) {
      *why = name + " is a regression metric; the task is classification";
      return false;
    }
    return true;
  };
  for (size_t i = 1; i < spec.objectives.size(); ++i) {
    std::string why;
    if (!measured(spec.objectives[i].name, &why)) {
      const std::string where = "metric[" + std::to_string(i) + "]";
      return Err(LineOr(spec.lines, where, 0), "key '" + where + ".name': " + why);
    }
  }
  for (const ConstraintSpec& c : spec.constraints) {
    std::string why;
    const std::string where = "constraints." + c.name;
    if (!measured(c.name, &why)) {
      return Err(LineOr(spec.lines, where, 0), "key '" + where + "': " + why);
    }
    if (!program_ && IsRegressionEpochMetric(c.name) && c.name != spec.metric) {
      return Err(LineOr(spec.lines, where, 0),
                 "key '" + where + "': " + c.name + " is measured per epoch; a constraint is "
                 "on the sweep's metric or a trial's measure: use test_" + c.name.substr(4));
    }
    if (program_ && !IsTrialMeasure(c.name) && c.name != spec.metric) {
      bool objective = false;
      for (const ObjectiveSpec& o : spec.objectives) objective |= o.name == c.name;
      if (!objective) {
        return Err(LineOr(spec.lines, where, 0),
                   "key '" + where + "': the sweep never measures " + c.name +
                       "; a program's constraint is on its metric, an objective, or a measure "
                       "(train_seconds, epoch_seconds)");
      }
    }
  }
  return Status::Ok();
}

}  // namespace sweep_internal

SweepRanking RankingOfSpec(const SweepSpec& spec) {
  return MakeRanking(spec.metric, spec.maximize, spec.objectives, spec.constraints);
}

}  // namespace hpsweep
