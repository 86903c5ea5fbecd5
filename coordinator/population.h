// A running pbt sweep's population as the scheduler holds it (coordinator/scheduler.h,
// "Population-based training"): its parsed file, and each member's latest epoch and value of the
// sweep's metric, which the population ranks by at a segment's end. Plain data, owned by the
// scheduler and guarded by its mutex.
#ifndef HPSWEEP_COORDINATOR_POPULATION_H_
#define HPSWEEP_COORDINATOR_POPULATION_H_

#include <cstdint>
#include <unordered_map>
#include <utility>

#include "search/sweep_file.h"

namespace hpsweep {

struct Population {
  SweepSpec spec;  // method: pbt; spec.pbt says the population's size, interval and mutables
  std::unordered_map<int64_t, std::pair<int, double>> latest;  // member id -> (epoch, value)
};

}  // namespace hpsweep

#endif  // HPSWEEP_COORDINATOR_POPULATION_H_
