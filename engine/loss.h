// Softmax cross-entropy, the one loss the seeds use, in its four Keras forms: integer labels
// (sparse_categorical_crossentropy) or one-hot/soft targets (categorical_crossentropy), on a
// softmax output (probabilities clipped to [1e-7, 1 - 1e-7] as Keras does) or on logits.
//
// Thread-safety: pure functions.
#ifndef HPSWEEP_ENGINE_LOSS_H_
#define HPSWEEP_ENGINE_LOSS_H_

#include <cstdint>

#include "engine/tensor.h"

namespace hpsweep {

struct LossResult {
  double loss_sum = 0;  // summed over the rows (divide by B for the mean)
  int64_t correct = 0;  // rows whose arg-max equals the label (or the target's arg-max)
};

// logits: (B, C). Exactly one of `labels` (B values in [0, C)) and `targets` ((B, C), rows summing
// to 1) is non-null. `clip`: the softmax-output form (Keras clips the probabilities; the gradient
// is taken through the unclipped softmax). Writes dlogits = scale * (softmax(logits) - y), where y
// is the one-hot label or the target row; pass scale = 1/N for the mean over a batch of N rows.
// dlogits may be null (evaluation only).
template <typename T>
LossResult SoftmaxCrossEntropy(const Mat<T>& logits, const uint8_t* labels, const Mat<T>* targets,
                               bool clip, T scale, Mat<T>* dlogits);

// Row-wise softmax of logits: (B, C) -> (B, C).
template <typename T>
void Softmax(const Mat<T>& logits, Mat<T>* probs);

}  // namespace hpsweep

#endif  // HPSWEEP_ENGINE_LOSS_H_
