#include "search/ranking.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "engine/config.h"
#include "search/domain.h"

namespace hpsweep {

namespace {

// The config keys ParamCount reads (engine/config.h): a trial's others cannot change its size.
constexpr const char* kShapeKeys[] = {"cell",  "units",    "layers",  "bidirectional", "dense",
                                      "steps", "features", "classes", "task",          "targets"};

}  // namespace

bool IsTrialMeasure(std::string_view name) {
  return name == "param_count" || name == "train_seconds" || name == "epoch_seconds";
}

int64_t ParamCountOfParams(const std::map<std::string, std::string>& params) {
  if (!params.count("cell")) return -1;  // not an engine model (a program's free keys)
  TrialConfig config;
  for (const char* key : kShapeKeys) {
    auto it = params.find(key);
    if (it == params.end()) continue;
    if (!ApplyKey(key, it->second, &config).ok()) return -1;
  }
  return ParamCount(config);
}

SweepRanking MakeRanking(const std::string& metric, bool maximize,
                         const std::vector<ObjectiveSpec>& objectives,
                         const std::vector<ConstraintSpec>& constraints) {
  if (objectives.empty()) return SweepRanking({ObjectiveSpec{metric, maximize}}, constraints);
  return SweepRanking(objectives, constraints);
}

const ConstraintSpec* ParamCountConstraint(const std::vector<ConstraintSpec>& constraints) {
  for (const ConstraintSpec& c : constraints) {
    if (c.name == "param_count") return &c;
  }
  return nullptr;
}

std::string ParamCountBreaks(const ConstraintSpec& c, int64_t n) {
  const double v = static_cast<double>(n);
  if (v >= c.min && v <= c.max) return "";
  auto bound = [](double b) {
    if (std::isinf(b)) return std::string(b < 0 ? "-inf" : "inf");
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.15g", b);
    return std::string(buf);
  };
  return std::to_string(n) + " parameters, outside constraints.param_count [" + bound(c.min) +
         ", " + bound(c.max) + "]";
}

SweepRanking::SweepRanking(std::vector<ObjectiveSpec> objectives,
                           std::vector<ConstraintSpec> constraints)
    : objectives_(std::move(objectives)),
      constraints_(std::move(constraints)),
      first_(objectives_.empty() ? Objective() : Objective(objectives_[0].name,
                                                            objectives_[0].maximize)) {
  if (objectives_.empty()) objectives_.push_back({first_.metric(), first_.maximize()});
}

double SweepRanking::MeasureOf(const std::string& name, const TrialRow& t) const {
  if (name == "param_count") {
    const int64_t n = ParamCountOfParams(t.params);
    return n < 0 ? kNoMetric : static_cast<double>(n);
  }
  const bool finished = t.status == TrialStatus::kCompleted || t.status == TrialStatus::kPruned;
  if (name == "train_seconds") return finished && t.seconds > 0 ? t.seconds : kNoMetric;
  if (name == "epoch_seconds") {
    return finished && t.seconds > 0 && t.epochs_run > 0 ? t.seconds / t.epochs_run : kNoMetric;
  }
  if (name == first_.metric()) {
    const double v = first_.ValueOf(t);
    return first_.Has(v) ? v : kNoMetric;
  }
  const Objective o(name);
  if (!o.Named()) {
    const double v = o.ValueOf(t);
    return Objective::HasValue(v) ? v : kNoMetric;
  }
  auto it = t.final_metrics.find(name);
  return it == t.final_metrics.end() || !std::isfinite(it->second) ? kNoMetric : it->second;
}

std::vector<double> SweepRanking::ValuesOf(const TrialRow& t) const {
  std::vector<double> v;
  v.reserve(objectives_.size());
  for (const ObjectiveSpec& o : objectives_) v.push_back(MeasureOf(o.name, t));
  return v;
}

double SweepRanking::Violation(const TrialRow& t) const {
  double sum = 0;
  for (const ConstraintSpec& c : constraints_) {
    const double v = MeasureOf(c.name, t);
    if (std::isnan(v)) continue;  // not measured yet: held
    if (v > c.max) sum += (v - c.max) / std::max(1.0, std::fabs(c.max));
    if (v < c.min) sum += (c.min - v) / std::max(1.0, std::fabs(c.min));
  }
  return sum;
}

std::string SweepRanking::DisplayName() const {
  std::string s;
  for (const ObjectiveSpec& o : objectives_) {
    if (!s.empty()) s += ", ";
    s += o.name + (o.maximize ? " (max)" : " (min)");
  }
  return s;
}

std::vector<SweepRanking::Place> SweepRanking::RankByContribution(
    const std::vector<const TrialRow*>& rows) const {
  std::vector<Place> places = Rank(rows);
  if (objectives_.size() != 2) return places;
  // Scores (larger is better) of the ranked trials; NaN-free for trials on a front.
  auto score = [&](const Place& p, int k) {
    const double v = MeasureOf(objectives_[k].name, *rows[p.index]);
    return objectives_[k].maximize ? v : -v;
  };
  size_t begin = 0;
  while (begin < places.size()) {
    size_t end = begin + 1;
    while (end < places.size() && places[end].front == places[begin].front &&
           places[end].feasible == places[begin].feasible) {
      ++end;
    }
    if (places[begin].front > 0 && places[begin].feasible && end - begin > 2) {
      std::vector<Place> front(places.begin() + begin, places.begin() + end);
      // Along the first objective, worst first; on a front the second then runs best first.
      std::stable_sort(front.begin(), front.end(), [&](const Place& a, const Place& b) {
        return score(a, 0) < score(b, 0);
      });
      double ref[2];
      for (int k = 0; k < 2; ++k) {
        double lo = score(front[0], k), hi = lo;
        for (const Place& p : front) lo = std::min(lo, score(p, k)), hi = std::max(hi, score(p, k));
        ref[k] = lo - 0.1 * (hi - lo);
      }
      std::vector<std::pair<double, size_t>> added;  // (contribution, rank order)
      for (size_t i = 0; i < front.size(); ++i) {
        const double left = i == 0 ? ref[0] : score(front[i - 1], 0);
        const double below = i + 1 == front.size() ? ref[1] : score(front[i + 1], 1);
        added.push_back({(score(front[i], 0) - left) * (score(front[i], 1) - below), i});
      }
      std::vector<size_t> rank_of(front.size());  // front[i]'s place in Rank's order
      for (size_t i = 0; i < front.size(); ++i) {
        for (size_t j = begin; j < end; ++j) {
          if (places[j].index == front[i].index) rank_of[i] = j;
        }
      }
      std::stable_sort(added.begin(), added.end(), [&](const auto& a, const auto& b) {
        return a.first != b.first ? a.first > b.first : rank_of[a.second] < rank_of[b.second];
      });
      for (size_t i = 0; i < added.size(); ++i) places[begin + i] = front[added[i].second];
    }
    begin = end;
  }
  return places;
}

std::string SweepRanking::ConstraintsText() const {
  std::string s;
  auto num = [](double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.6g", v);
    return std::string(buf);
  };
  for (const ConstraintSpec& c : constraints_) {
    if (!s.empty()) s += ", ";
    if (std::isfinite(c.min)) s += num(c.min) + " <= ";
    s += c.name;
    if (std::isfinite(c.max)) s += " <= " + num(c.max);
  }
  return s;
}

std::vector<SweepRanking::Place> SweepRanking::Rank(const std::vector<TrialRow>& rows) const {
  std::vector<const TrialRow*> p;
  p.reserve(rows.size());
  for (const TrialRow& t : rows) p.push_back(&t);
  return Rank(p);
}

namespace {

// a dominates b: at least as good in every objective and better in one (scores: higher better).
bool Dominates(const std::vector<double>& a, const std::vector<double>& b) {
  bool better = false;
  for (size_t k = 0; k < a.size(); ++k) {
    if (a[k] < b[k]) return false;
    if (a[k] > b[k]) better = true;
  }
  return better;
}

// NSGA-II's crowding distance of each member of one front (indices into scores).
void Crowding(const std::vector<std::vector<double>>& scores, const std::vector<size_t>& front,
              std::vector<double>* crowding) {
  if (front.empty()) return;
  const size_t m = scores[front[0]].size();
  std::vector<size_t> order = front;
  for (size_t k = 0; k < m; ++k) {
    std::sort(order.begin(), order.end(),
              [&](size_t a, size_t b) { return scores[a][k] < scores[b][k]; });
    const double lo = scores[order.front()][k], hi = scores[order.back()][k];
    (*crowding)[order.front()] = std::numeric_limits<double>::infinity();
    (*crowding)[order.back()] = std::numeric_limits<double>::infinity();
    if (hi <= lo) continue;
    for (size_t i = 1; i + 1 < order.size(); ++i) {
      (*crowding)[order[i]] += (scores[order[i + 1]][k] - scores[order[i - 1]][k]) / (hi - lo);
    }
  }
}

}  // namespace

std::vector<SweepRanking::Place> SweepRanking::Rank(
    const std::vector<const TrialRow*>& rows) const {
  std::vector<Place> out;
  std::vector<double> violation;
  std::vector<std::vector<double>> scores;  // higher is better, per objective
  std::vector<int> number;
  for (size_t i = 0; i < rows.size(); ++i) {
    const TrialRow& t = *rows[i];
    if (!first_.Has(first_.ValueOf(t))) continue;
    Place p;
    p.index = i;
    std::vector<double> s;
    bool complete = true;
    for (const ObjectiveSpec& o : objectives_) {
      const double v = MeasureOf(o.name, t);
      if (std::isnan(v)) complete = false;
      s.push_back(std::isnan(v) ? 0 : (o.maximize ? v : -v));
    }
    p.front = complete ? -1 : 0;  // -1: to be sorted into a front
    const double viol = Violation(t);
    p.feasible = viol == 0;
    out.push_back(p);
    violation.push_back(viol);
    scores.push_back(std::move(s));
    number.push_back(t.number);
  }
  const size_t n = out.size();
  std::vector<double> crowding(n, 0);
  // Fronts among the feasible trials with every value, then (separately) among the infeasible
  // ones grouped by equal violation, so that no infeasible trial is ever in a feasible front.
  const bool plain = !ranked_by_fronts();
  for (int pass = 0; pass < 2 && !plain; ++pass) {
    std::vector<size_t> members;
    for (size_t i = 0; i < n; ++i) {
      if (out[i].front == -1 && out[i].feasible == (pass == 0)) members.push_back(i);
    }
    int front = 1;
    while (!members.empty()) {
      std::vector<size_t> this_front, rest;
      for (size_t a : members) {
        bool dominated = false;
        for (size_t b : members) {
          if (a != b && (pass == 1 ? violation[b] < violation[a] ||
                                         (violation[b] == violation[a] &&
                                          Dominates(scores[b], scores[a]))
                                   : Dominates(scores[b], scores[a]))) {
            dominated = true;
            break;
          }
        }
        (dominated ? rest : this_front).push_back(a);
      }
      for (size_t a : this_front) out[a].front = front;
      Crowding(scores, this_front, &crowding);
      members.swap(rest);
      ++front;
    }
  }
  for (size_t i = 0; i < n; ++i) out[i].crowding = crowding[i];
  std::vector<size_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = i;
  if (plain) {
    for (Place& p : out) p.front = 1;  // one objective: its order is the ranking
  }
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (plain) return scores[a][0] != scores[b][0] ? scores[a][0] > scores[b][0]
                                                   : number[a] < number[b];
    const Place& x = out[a];
    const Place& y = out[b];
    if (x.feasible != y.feasible) return x.feasible;
    if (!x.feasible && violation[a] != violation[b]) return violation[a] < violation[b];
    if ((x.front == 0) != (y.front == 0)) return y.front == 0;
    if (x.front != y.front) return x.front < y.front;
    if (x.crowding != y.crowding) return x.crowding > y.crowding;
    return number[a] < number[b];
  });
  std::vector<Place> sorted;
  sorted.reserve(n);
  for (size_t i : order) sorted.push_back(out[i]);
  return sorted;
}

}  // namespace hpsweep
