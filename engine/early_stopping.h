// Which weights a trial keeps (TrainConfig::keep) and Keras's EarlyStopping callback, as pure
// state machines over the sequence of the monitored metric's values, one per epoch.
//
// The monitored value of an epoch is its val_accuracy (maximize) or its val_loss (minimize):
// the rule that picks a trial's best epoch on the leaderboard (search/objective.h,
// Objective::ForEpochs), so the kept epoch is the best epoch the leaderboard shows. With
// score(v) = v (maximize) or -v (minimize), and NaN (also the "none" of an empty state) scoring
// -infinity, a value improves on the best when
//   score(value) - min_delta > score(best)
// which is Keras's _is_improvement (monitor_op(value - min_delta, best), min_delta negated for
// "min"), its initial best of -inf/+inf being our NaN. A NaN value never improves.
//
// EarlyStopping (Keras 3's on_epoch_end, baseline None, start_from_epoch 0), after epoch e
// (1-based):  wait += 1; if the value improves: best = value, wait = 0; else if wait >= patience
// and e > 1: stop. So training stops after the patience-th epoch in a row without improvement
// (patience 0: the first such epoch), never after the first epoch. With restore_best_weights
// Keras sets the model to the weights of its best epoch (by min_delta; the first epoch if none
// improved) when training ends, stopped early or not.
//
// Thread-safety: plain values and functions.
#ifndef HPSWEEP_ENGINE_EARLY_STOPPING_H_
#define HPSWEEP_ENGINE_EARLY_STOPPING_H_

#include <limits>
#include <vector>

namespace hpsweep {

// score(value) - min_delta > score(best) (see the file comment).
bool Improves(double value, double best, bool maximize, double min_delta);

// EarlyStopping's state between epochs (saved in checkpoints, engine/checkpoint.h).
struct EarlyStoppingState {
  double best = std::numeric_limits<double>::quiet_NaN();  // NaN: none yet
  int wait = 0;                                            // epochs since the last improvement
};

// Keras's on_epoch_end for 1-based `epoch` with the monitored `value`: updates *state and returns
// true when training stops after this epoch.
bool EarlyStoppingEnd(int epoch, double value, bool maximize, double min_delta, int patience,
                      EarlyStoppingState* state);

// The weights of the best epoch so far (saved in checkpoints): epoch 0 = none yet.
struct KeptWeights {
  int epoch = 0;
  double value = std::numeric_limits<double>::quiet_NaN();
  std::vector<float> params;  // (n_params), empty while epoch is 0
};

// After `epoch` with the monitored `value`: true when it becomes the kept one (the first epoch,
// or one that improves on the kept value by more than min_delta); the caller then copies the
// weights into kept->params.
bool KeepsEpoch(int epoch, double value, bool maximize, double min_delta, KeptWeights* kept);

}  // namespace hpsweep

#endif  // HPSWEEP_ENGINE_EARLY_STOPPING_H_
