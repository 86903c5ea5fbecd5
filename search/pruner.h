// Pruner: early stopping of a sweep's trials, from the sweep file's `early_terminate` (W&B's key).
// The scheduler feeds it every epoch a trial reports and asks, after each, whether the trial should
// stop; a trial told to stop for this reason ends `pruned` (its metrics so far are kept).
//
//   early_terminate: {type: hyperband, min_iter: 1, eta: 3}        # + optional max_iter, s
//   early_terminate: {type: median, warmup: 2, min_trials: 5}
//
// Hyperband is asynchronous successive halving (ASHA, Li et al. 2018, as Ray Tune's
// AsyncHyperBandScheduler and Optuna's SuccessiveHalvingPruner): no trial waits for others.
//   - Brackets: s of them (default 1). Trial number n (from 1) belongs to bracket b = n mod s.
//     Bracket b's rungs are the epochs min_iter * eta^(b+k), k = 0, 1, ..., that are below
//     max_iter (when given) and below the trial's own `epochs` (a rung at the last epoch would
//     stop nothing). So bracket 0 is the most aggressive, each further bracket starts one rung
//     later (Ray Tune's brackets, assigned by number instead of at random, so a restart agrees).
//   - Promotion: when a trial reports a rung's epoch, it is compared with the trials of its
//     bracket that reported that epoch before it (the rung's record so far). With n of them
//     counting itself, it continues when fewer than max(1, floor(n / eta)) of them are strictly
//     better: it must be in the top 1/eta, and the first to reach a rung always continues.
//     Ties favour the trial.
// Median (Optuna's MedianPruner): after epoch e > warmup, a trial stops when its best value over
// epochs 1..e is worse than the median of the values at epoch e of the other trials that reported
// epoch e before it, provided there are at least min_trials of them (else it continues).
//
// Values and direction: every comparison uses the sweep's Objective (search/objective.h) for
// epochs, Objective::ForEpochs(): val_loss (lower is better) for val_loss and test_loss sweeps,
// val_accuracy (higher is better) otherwise; test metrics are measured only after training, so a
// test_accuracy sweep prunes on val_accuracy. An epoch without a value (NaN, a diverged loss) is
// worse than any value.
//
// Determinism: the decision for (trial, epoch) is a pure function of the epochs fed so far, each
// with its order key (the stored epoch's recorded_at, which the scheduler keeps strictly
// increasing, then the trial id): "before it" means a smaller key. So a restarted coordinator that
// feeds the stored epochs again (in any order) makes the same decisions, for the past and the
// future alike.
//
// Work per report: the entries of one (bracket, epoch) are scanned, never the whole sweep.
// Thread-safety: none (the scheduler calls it under its mutex). A Pruner owns its index only.
#ifndef HPSWEEP_SEARCH_PRUNER_H_
#define HPSWEEP_SEARCH_PRUNER_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "search/objective.h"

namespace hpsweep {

// The parsed `early_terminate` of a sweep file (search/sweep_sections.cc checks the ranges).
struct EarlyTerminateSpec {
  enum class Type { kNone, kHyperband, kMedian };
  Type type = Type::kNone;
  // hyperband
  int min_iter = 1;  // first rung, in epochs: 1..kMaxEpochs
  int eta = 3;       // 2..100
  int max_iter = 0;  // 0: no cap but each trial's epochs
  int brackets = 1;  // `s`: 1..10
  // median
  int warmup = 0;      // epochs 1..warmup are never pruned
  int min_trials = 5;  // other trials with a value at the epoch before any pruning
};

// "hyperband (min_iter 1, eta 3, s 1)", "median (warmup 0, min_trials 5)", "none".
std::string DescribeEarlyTerminate(const EarlyTerminateSpec& spec);

// The rungs of bracket `bracket` for a trial of `epochs` epochs, ascending (empty when none).
std::vector<int> HyperbandRungs(const EarlyTerminateSpec& spec, int bracket, int epochs);

// One epoch of one trial as the pruner sees it.
struct PrunerEpoch {
  int64_t trial_id = 0;
  int number = 0;          // the trial's number within its sweep (picks its bracket)
  int epoch = 0;           // from 1
  double value = -1;       // the epoch's value of the pruning metric (see the top)
  double recorded_at = 0;  // order key (with trial_id)
};

class Pruner {
 public:
  virtual ~Pruner() = default;
  // Records an epoch. The same (trial, epoch) again replaces the earlier one.
  virtual void Add(const PrunerEpoch& e) = 0;
  // Drops every epoch of the trial (its epochs were deleted: a retried trial starts over).
  virtual void Forget(int64_t trial_id) = 0;
  // Whether the trial should stop after `epoch` (already Added), given its own `epochs`.
  virtual bool ShouldPrune(int64_t trial_id, int epoch, int trial_epochs) const = 0;
  // The recorded_at of the trial's epoch, or -1 when it has none.
  virtual double RecordedAt(int64_t trial_id, int epoch) const = 0;
  // The value recorded for the trial's epoch into *value; false when it has none.
  virtual bool ValueAt(int64_t trial_id, int epoch, double* value) const = 0;
};

// A pruner for the spec (null for Type::kNone). objective: the sweep's Objective; the pruner uses
// its ForEpochs() rule.
std::unique_ptr<Pruner> MakePruner(const EarlyTerminateSpec& spec, const Objective& objective);

}  // namespace hpsweep

#endif  // HPSWEEP_SEARCH_PRUNER_H_
