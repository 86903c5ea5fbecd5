// A big finished sweep written straight into storage (no scheduler, no training): `trials`
// completed trials of `epochs` epochs each, for the tests of exports and event streams that
// must stay bounded however big a sweep grows. Header-only. Thread-safety: none (the caller's
// storage, before a scheduler loads it).
#ifndef HPSWEEP_TESTING_BIG_SWEEP_H_
#define HPSWEEP_TESTING_BIG_SWEEP_H_

#include <cstdint>
#include <string>

#include "base/status.h"
#include "coordinator/store/storage.h"

namespace hpsweep {

// The sweep's id. Its trials are numbered 1..trials; trial n's best epoch is epochs / 2 + n.
inline StatusOr<int64_t> WriteBigSweep(Storage* storage, int trials, int epochs) {
  HPSWEEP_RETURN_IF_ERROR(storage->Begin());
  SweepRow s;
  s.name = "big";
  s.file_name = "big.yaml";
  s.yaml = "name: big\nmethod: grid\nparameters:\n  units: {values: [8]}\n";
  s.state = SweepState::kCompleted;
  s.metric = "val_accuracy";
  s.maximize = true;
  s.max_attempts = 3;
  s.total = trials;
  s.created_at = 1700000000;
  s.finished_at = 1700009999;
  auto sweep = storage->InsertSweep(s);
  if (!sweep.ok()) return sweep.status();
  for (int n = 1; n <= trials; ++n) {
    TrialRow t;
    t.sweep_id = *sweep;
    t.number = n;
    t.params = {{"units", std::to_string(8 * n)}, {"learning_rate", "0.01"}};
    t.status = TrialStatus::kCompleted;
    t.attempts = 1;
    t.worker_name = "w1";
    t.created_at = 1700000000;
    t.started_at = 1700000001;
    t.finished_at = 1700009000;
    t.best_epoch = epochs / 2 + n;
    t.epochs_run = epochs;
    t.best_val_accuracy = 0.5 + 0.01 * n;
    t.best_val_loss = 0.5;
    t.test_accuracy = 0.4 + 0.01 * n;
    t.test_loss = 0.6;
    t.weights_epoch = t.best_epoch;
    t.seconds = 1234.5;
    auto id = storage->InsertTrial(t);
    if (!id.ok()) return id.status();
    for (int e = 1; e <= epochs; ++e) {
      EpochRow r;
      r.trial_id = *id;
      r.epoch = e;
      r.train_loss = 1.0 / e;
      r.train_accuracy = 0.5 + 0.4 * e / epochs;
      r.val_loss = 1.25 / e;
      r.val_accuracy = 0.45 + 0.4 * e / epochs + 0.001 * n;
      r.seconds = 0.25;
      r.recorded_at = 1700000001 + e;
      r.lr = 0.01;
      HPSWEEP_RETURN_IF_ERROR(storage->PutEpoch(r));
    }
  }
  HPSWEEP_RETURN_IF_ERROR(storage->Commit());
  return *sweep;
}

}  // namespace hpsweep

#endif  // HPSWEEP_TESTING_BIG_SWEEP_H_
