// Which training rows train and which validate: TrainConfig's validation keys applied to a data
// set's first n training rows.
//
//   validation: test                the training rows all train; the test set validates.
//   validation_split f (Keras)      the last n - int(n * (1 - f)) rows validate, the rest train.
//   + validation_shuffle: true      as many rows validate, drawn at random from all n.
//   + validation_stratify: true     as many rows validate, drawn at random class by class, each class
//                                   giving its share f of its rows (largest remainders to make the
//                                   count exact): every class with rows in both parts validates.
//
// The random draws use a fixed seed, not the trial's: every trial on the same data validates on the
// same rows, so their metrics compare. Row lists are ascending.
//
// Thread-safety: plain functions.
#ifndef HPSWEEP_ENGINE_SPLIT_H_
#define HPSWEEP_ENGINE_SPLIT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "engine/config.h"
#include "engine/mnist.h"

namespace hpsweep {

struct TrainSplit {
  std::vector<int64_t> train;  // rows of the training set that train
  std::vector<int64_t> val;    // rows of the training set that validate (empty: none, or the test set)
  // Not empty when the validating rows lack a class the training rows have (data ordered by
  // label, a split too small): a sentence saying which classes and what to set.
  std::string warning;
};

// REQUIRES: 0 < n <= train.count, split_at in (0, n] (the Keras count of training rows).
TrainSplit SplitTraining(const TrainConfig& tc, const Dataset& train, int64_t n, int64_t split_at);

}  // namespace hpsweep

#endif  // HPSWEEP_ENGINE_SPLIT_H_
