// Optimizers over one flat parameter buffer, with Keras's update rules and defaults:
//   SGD:     v = momentum * v - lr * g;  w += v   (nesterov: w += momentum * v - lr * g)
//   Adam:    m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;
//            w -= lr * sqrt(1-b2^t)/(1-b1^t) * m / (sqrt(v) + eps)     b1 .9, b2 .999, eps 1e-7
//   RMSprop: v = rho v + (1-rho) g^2;  w -= lr * g / (sqrt(v) + eps)  rho .9, eps 1e-7
// Before the rule, as Keras's optimizer.apply does: the gradient is clipped (ClipGradients, when
// clipnorm, clipvalue or global_clipnorm is set), then decoupled weight decay shrinks every weight,
// w -= lr * weight_decay * w (Keras's `weight_decay` argument, AdamW; on biases too, as Keras
// unless told to exclude them). lr is the step's learning rate (set_learning_rate: a schedule,
// engine/schedule.h), the config's EffectiveLearningRate until it is set.
//
// Ownership: owns its slot buffers (momentum, moments), not the parameters.
// Thread-safety: none; Step is called by one thread (it parallelises inside with OpenMP).
#ifndef HPSWEEP_ENGINE_OPTIMIZER_H_
#define HPSWEEP_ENGINE_OPTIMIZER_H_

#include <cstdint>
#include <vector>

#include "engine/config.h"
#include "base/status.h"

namespace hpsweep {

// Keras's gradient clipping (optimizer._clip_gradients) of g[0, n), in place, with n the sum of
// tensor_sizes (the weight tensors, in buffer order: WeightTensorSizes in engine/network.h):
//   clipnorm c:        each tensor's gradient g_k *= c / ||g_k|| where ||g_k|| > c
//   global_clipnorm c: all of g *= c / ||g|| where ||g|| > c (a NaN norm makes every value NaN)
//   clipvalue v:       each value clamped to [-v, v]
// Norms are L2, summed in double in a fixed order (the same bits every run). Nothing when all
// three are 0; Validate allows one at most.
void ClipGradients(const TrainConfig& config, const std::vector<int64_t>& tensor_sizes, float* g);

class OptimizerState {
 public:
  // tensor_sizes: the weight tensors' sizes for clipnorm (summing to num_params); empty = one
  // tensor of num_params.
  OptimizerState(const TrainConfig& config, int64_t num_params,
                 std::vector<int64_t> tensor_sizes = {});

  // One update of params[0, n) from grads[0, n), where n is num_params (grads are not changed:
  // clipping works on a copy).
  void Step(float* params, const float* grads);
  int64_t steps() const { return t_; }
  // The learning rate of the following steps.
  void set_learning_rate(float lr) { lr_ = lr; }
  float learning_rate() const { return lr_; }

  // The slots, for a checkpoint (engine/checkpoint.h): m holds SGD's velocity or the first
  // moment, v the second moment or RMSprop's mean square (empty for SGD).
  const std::vector<float>& slot_m() const { return m_; }
  const std::vector<float>& slot_v() const { return v_; }
  // Puts back the state saved from an optimizer of the same config and size. InvalidArgument if
  // the sizes differ; nothing changes then.
  Status Restore(int64_t steps, const std::vector<float>& m, const std::vector<float>& v);

 private:
  void Update(float* w, const float* g);  // the optimizer's rule alone

  TrainConfig config_;
  Optimizer kind_;
  float lr_, momentum_;
  bool nesterov_;
  int64_t n_;
  int64_t t_ = 0;
  std::vector<float> m_, v_;  // SGD velocity in m_; Adam moments in m_, v_; RMSprop in v_
  std::vector<int64_t> tensors_;
  std::vector<float> clipped_;  // the clipped gradient, when clipping is on
};

}  // namespace hpsweep

#endif  // HPSWEEP_ENGINE_OPTIMIZER_H_
