// PrunedTwins: the scheduler's index of pruned trials for --reuse (coordinator/scheduler_reuse.cc):
// each pruned trial's values of its sweep's pruning metric at epochs 1..E (E: where it was
// pruned), and the pruned trials by identity (TrialIdentityKey). Built from storage on first need
// (a running sweep with reuse and early_terminate), then kept up to date as trials are pruned.
//
// Thread-safety: none; the scheduler uses it under its mutex.
#ifndef HPSWEEP_COORDINATOR_PRUNED_TWINS_H_
#define HPSWEEP_COORDINATOR_PRUNED_TWINS_H_

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace hpsweep {

struct PrunedTwins {
  bool built = false;  // every pruned trial is indexed
  // Identity -> pruned trial ids.
  std::unordered_map<std::string, std::vector<int64_t>> by_identity;
  // Trial id -> the value of each of its epochs 1..E (Objective::ForEpochs of its sweep).
  std::unordered_map<int64_t, std::vector<double>> values;

  void Clear() {
    built = false;
    by_identity.clear();
    values.clear();
  }
};

}  // namespace hpsweep

#endif  // HPSWEEP_COORDINATOR_PRUNED_TWINS_H_
