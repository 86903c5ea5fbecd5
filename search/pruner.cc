#include "search/pruner.h"

#include <algorithm>
#include <cmath>
#include <utility>

namespace hpsweep {

namespace {

// One epoch in a rung's (or an epoch's) record.
struct Entry {
  double recorded_at = 0;
  int64_t trial_id = 0;
  double value = -1;
};

bool Before(const Entry& a, double recorded_at, int64_t trial_id) {
  return a.recorded_at < recorded_at || (a.recorded_at == recorded_at && a.trial_id < trial_id);
}

// The index both rules share: each trial's epochs, and every (bracket, epoch)'s entries.
class IndexedPruner : public Pruner {
 public:
  IndexedPruner(const EarlyTerminateSpec& spec, const Objective& objective)
      : spec_(spec), by_(objective.ForEpochs()) {}

  void Add(const PrunerEpoch& e) override {
    Trial& t = trials_[e.trial_id];
    t.number = e.number;
    auto old = t.epochs.find(e.epoch);
    std::vector<Entry>& record = records_[{Bracket(e.number), e.epoch}];
    if (old != t.epochs.end()) Erase(&record, e.trial_id);
    t.epochs[e.epoch] = {e.recorded_at, e.trial_id, e.value};
    record.push_back({e.recorded_at, e.trial_id, e.value});
  }

  void Forget(int64_t trial_id) override {
    auto t = trials_.find(trial_id);
    if (t == trials_.end()) return;
    const int bracket = Bracket(t->second.number);
    for (const auto& [epoch, entry] : t->second.epochs) {
      auto r = records_.find({bracket, epoch});
      if (r == records_.end()) continue;
      Erase(&r->second, trial_id);
      if (r->second.empty()) records_.erase(r);
    }
    trials_.erase(t);
  }

  double RecordedAt(int64_t trial_id, int epoch) const override {
    auto t = trials_.find(trial_id);
    if (t == trials_.end()) return -1;
    auto e = t->second.epochs.find(epoch);
    return e == t->second.epochs.end() ? -1 : e->second.recorded_at;
  }

  bool ValueAt(int64_t trial_id, int epoch, double* value) const override {
    auto t = trials_.find(trial_id);
    if (t == trials_.end()) return false;
    auto e = t->second.epochs.find(epoch);
    if (e == t->second.epochs.end()) return false;
    *value = e->second.value;
    return true;
  }

 protected:
  struct Trial {
    int number = 0;
    std::map<int, Entry> epochs;
  };

  virtual int Bracket(int number) const { return 0; }

  // The entries recorded at (bracket, epoch) before (recorded_at, trial_id), or null.
  const std::vector<Entry>* Record(int bracket, int epoch) const {
    auto r = records_.find({bracket, epoch});
    return r == records_.end() ? nullptr : &r->second;
  }

  static void Erase(std::vector<Entry>* record, int64_t trial_id) {
    record->erase(std::remove_if(record->begin(), record->end(),
                                 [&](const Entry& x) { return x.trial_id == trial_id; }),
                  record->end());
  }

  EarlyTerminateSpec spec_;
  Objective by_;  // the epochs' rule: val_loss (min) or val_accuracy (max)
  std::unordered_map<int64_t, Trial> trials_;
  std::map<std::pair<int, int>, std::vector<Entry>> records_;  // (bracket, epoch) -> entries
};

class HyperbandPruner : public IndexedPruner {
 public:
  using IndexedPruner::IndexedPruner;

  bool ShouldPrune(int64_t trial_id, int epoch, int trial_epochs) const override {
    auto t = trials_.find(trial_id);
    if (t == trials_.end()) return false;
    auto own = t->second.epochs.find(epoch);
    if (own == t->second.epochs.end()) return false;
    const int bracket = Bracket(t->second.number);
    const std::vector<int> rungs = HyperbandRungs(spec_, bracket, trial_epochs);
    if (!std::binary_search(rungs.begin(), rungs.end(), epoch)) return false;
    const Entry& me = own->second;
    const double score = by_.Score(me.value);
    int64_t n = 1, better = 0;
    if (const std::vector<Entry>* record = Record(bracket, epoch)) {
      for (const Entry& x : *record) {
        if (x.trial_id == trial_id || !Before(x, me.recorded_at, me.trial_id)) continue;
        ++n;
        if (by_.Score(x.value) > score) ++better;
      }
    }
    const int64_t promoted = std::max<int64_t>(1, n / spec_.eta);
    return better >= promoted;
  }

 protected:
  int Bracket(int number) const override {
    return spec_.brackets > 1 ? ((number % spec_.brackets) + spec_.brackets) % spec_.brackets : 0;
  }
};

class MedianPruner : public IndexedPruner {
 public:
  using IndexedPruner::IndexedPruner;

  bool ShouldPrune(int64_t trial_id, int epoch, int trial_epochs) const override {
    // Never after the trial's last epoch: its training is done, and a prune there would save
    // nothing and only skip its test pass (hyperband's rungs are below it for the same reason).
    if (epoch <= spec_.warmup || epoch >= trial_epochs) return false;
    auto t = trials_.find(trial_id);
    if (t == trials_.end()) return false;
    auto own = t->second.epochs.find(epoch);
    if (own == t->second.epochs.end()) return false;
    const Entry& me = own->second;
    std::vector<double> others;
    if (const std::vector<Entry>* record = Record(0, epoch)) {
      for (const Entry& x : *record) {
        if (x.trial_id == trial_id || !Before(x, me.recorded_at, me.trial_id)) continue;
        if (Objective::HasValue(x.value)) others.push_back(x.value);
      }
    }
    if (others.empty() || static_cast<int64_t>(others.size()) < spec_.min_trials) return false;
    std::sort(others.begin(), others.end());
    const size_t m = others.size() / 2;
    const double median = others.size() % 2 ? others[m] : (others[m - 1] + others[m]) / 2;
    // The trial's best over epochs 1..epoch.
    double best = -1;
    for (const auto& [e, entry] : t->second.epochs) {
      if (e > epoch) break;
      if (by_.Better(entry.value, best)) best = entry.value;
    }
    return by_.Score(best) < by_.Score(median);
  }
};

}  // namespace

std::string DescribeEarlyTerminate(const EarlyTerminateSpec& spec) {
  switch (spec.type) {
    case EarlyTerminateSpec::Type::kNone: return "none";
    case EarlyTerminateSpec::Type::kHyperband:
      return "hyperband (min_iter " + std::to_string(spec.min_iter) + ", eta " +
             std::to_string(spec.eta) +
             (spec.max_iter > 0 ? ", max_iter " + std::to_string(spec.max_iter) : "") + ", s " +
             std::to_string(spec.brackets) + ")";
    case EarlyTerminateSpec::Type::kMedian:
      return "median (warmup " + std::to_string(spec.warmup) + ", min_trials " +
             std::to_string(spec.min_trials) + ")";
  }
  return "none";
}

std::vector<int> HyperbandRungs(const EarlyTerminateSpec& spec, int bracket, int epochs) {
  std::vector<int> rungs;
  if (spec.type != EarlyTerminateSpec::Type::kHyperband || spec.eta < 2 || spec.min_iter < 1) {
    return rungs;
  }
  int64_t cap = epochs;
  if (spec.max_iter > 0) cap = std::min<int64_t>(cap, spec.max_iter);
  int64_t r = spec.min_iter;
  for (int i = 0; i < bracket && r < cap; ++i) r *= spec.eta;  // (r < cap <= 10^4: no overflow)
  for (; r < cap; r *= spec.eta) rungs.push_back(static_cast<int>(r));
  return rungs;
}

std::unique_ptr<Pruner> MakePruner(const EarlyTerminateSpec& spec, const Objective& objective) {
  switch (spec.type) {
    case EarlyTerminateSpec::Type::kNone: return nullptr;
    case EarlyTerminateSpec::Type::kHyperband:
      return std::make_unique<HyperbandPruner>(spec, objective);
    case EarlyTerminateSpec::Type::kMedian: return std::make_unique<MedianPruner>(spec, objective);
  }
  return nullptr;
}

}  // namespace hpsweep
