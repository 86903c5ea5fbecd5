// Optimizers over one flat parameter buffer, with Keras's update rules and defaults:
//   SGD:     v = momentum * v - lr * g;  w += v   (nesterov: w += momentum * v - lr * g)
//   Adam:    m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;
//            w -= lr * sqrt(1-b2^t)/(1-b1^t) * m / (sqrt(v) + eps)     b1 .9, b2 .999, eps 1e-7
//   RMSprop: v = rho v + (1-rho) g^2;  w -= lr * g / (sqrt(v) + eps)  rho .9, eps 1e-7
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

class OptimizerState {
 public:
  OptimizerState(const TrainConfig& config, int64_t num_params);

  // One update of params[0, n) from grads[0, n), where n is num_params.
  void Step(float* params, const float* grads);
  int64_t steps() const { return t_; }

  // The slots, for a checkpoint (engine/checkpoint.h): m holds SGD's velocity or the first
  // moment, v the second moment or RMSprop's mean square (empty for SGD).
  const std::vector<float>& slot_m() const { return m_; }
  const std::vector<float>& slot_v() const { return v_; }
  // Puts back the state saved from an optimizer of the same config and size. InvalidArgument if
  // the sizes differ; nothing changes then.
  Status Restore(int64_t steps, const std::vector<float>& m, const std::vector<float>& v);

 private:
  Optimizer kind_;
  float lr_, momentum_;
  bool nesterov_;
  int64_t n_;
  int64_t t_ = 0;
  std::vector<float> m_, v_;  // SGD velocity in m_; Adam moments in m_, v_; RMSprop in v_
};

}  // namespace hpsweep

#endif  // HPSWEEP_ENGINE_OPTIMIZER_H_
