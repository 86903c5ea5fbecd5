// CheckpointThroughEpoch: the bytes of a checkpoint, for the coordinator's tests of resuming
// (resume_test.cc) and of the checkpoint folder (store/checkpoint_store_test.cc). Kept apart from
// test_util.h, which the dashboard's test includes after httplib (whose resolv.h defines _res,
// a name Eigen's headers use).
//
// Thread-safety: a function of its argument.
#ifndef HPSWEEP_TESTS_COORDINATOR_CHECKPOINT_BYTES_H_
#define HPSWEEP_TESTS_COORDINATOR_CHECKPOINT_BYTES_H_

#include <string>

#include "engine/checkpoint.h"
#include "engine/config.h"

namespace hpsweep {

// The bytes of a checkpoint that ends `epoch` (the scheduler and the store read only its
// header).
inline std::string CheckpointThroughEpoch(int epoch) {
  TrainCheckpoint c;
  c.epoch = epoch;
  c.step = c.optimizer_steps = epoch;
  for (int e = 1; e <= epoch; ++e) {
    EpochMetrics m;
    m.epoch = e;
    c.history.push_back(m);
  }
  return SerializeCheckpoint(TrialConfig(), c);
}

}  // namespace hpsweep

#endif  // HPSWEEP_TESTS_COORDINATOR_CHECKPOINT_BYTES_H_
