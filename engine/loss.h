// Softmax cross-entropy, the one classification loss the seeds use, in its four Keras forms:
// integer labels (sparse_categorical_crossentropy) or one-hot/soft targets
// (categorical_crossentropy), on a softmax output (probabilities clipped to [1e-7, 1 - 1e-7] as
// Keras does) or on logits. And the regression losses on a linear output: Keras's
// mean_squared_error, mean_absolute_error and huber, each the mean over a row's targets.
//
// Thread-safety: pure functions.
#ifndef HPSWEEP_ENGINE_LOSS_H_
#define HPSWEEP_ENGINE_LOSS_H_

#include <cstdint>

#include "engine/config.h"
#include "engine/tensor.h"

namespace hpsweep {

struct LossResult {
  double loss_sum = 0;  // summed over the rows (divide by B for the mean)
  int64_t correct = 0;  // rows whose arg-max equals the label (or the target's arg-max)
  // Regression: summed over the rows, each row's mean over its targets of the squared and the
  // absolute error (divide by B for the batch's mse and mae).
  double sq_sum = 0, abs_sum = 0;

  void Add(const LossResult& o) {
    loss_sum += o.loss_sum;
    correct += o.correct;
    sq_sum += o.sq_sum;
    abs_sum += o.abs_sum;
  }
};

// Regression: pred and targets (B, K). loss: kMse (e^2), kMae (|e|) or kHuber (e^2/2 for
// |e| <= delta, else delta * (|e| - delta/2)), e = pred - target, each row's loss the mean of its
// K values (Keras). Writes dpred = scale * d(row loss)/d(pred): scale/K * (2e, sign(e) (0 at
// e = 0, as TensorFlow's), e or delta * sign(e) beyond delta). dpred may be null. Sums in double.
template <typename T>
LossResult RegressionLoss(const Mat<T>& pred, const Mat<T>& targets, Loss loss, double delta,
                          T scale, Mat<T>* dpred);

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
