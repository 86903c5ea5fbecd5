// Network: the layer stack of one model bound to a parameter buffer and a gradient buffer.
//
// The stack is built from a ModelConfig as the seeds' Keras models were: `layers` recurrent layers
// (all but the last with return_sequences; each inside a Bidirectional when `bidirectional`) or
// `layers` hidden Dense layers on the 784 flat pixels, then the `dense` head, a Dropout after each
// hidden layer whose rate is > 0, and Dense(classes) on top. The top layer is linear: softmax is
// applied by the loss (fused, for speed and stability) or by Predict, so a softmax-output model and
// a logits model share one code path.
//
// Ownership: a Network owns its layers and their activations, not the buffers it is bound to.
// Thread-safety: none; one Network per thread (the trainer keeps one per thread, bound to the same
// parameters and to separate gradient buffers).
#ifndef HPSWEEP_ENGINE_NETWORK_H_
#define HPSWEEP_ENGINE_NETWORK_H_

#include <memory>
#include <string>
#include <vector>

#include "engine/config.h"
#include "engine/layers.h"
#include "engine/tensor.h"

namespace hpsweep {

template <typename T>
std::vector<std::unique_ptr<Layer<T>>> BuildLayers(const ModelConfig& config);

// Number of parameters of the model, equal to Keras's count for the same model.
int64_t CountParams(const ModelConfig& config);

// The sizes of the model's weight tensors (Keras's variables) in the order of the flat parameter
// buffer, summing to CountParams: per layer kernel (F*U), then for recurrent cells the recurrent
// kernel (H*kH, k = 1 simple_rnn, 4 lstm, 3 gru), then the bias (U; kH, or 2*3H for gru's
// reset_after bias, one (2, 3H) variable in Keras), the three twice for a bidirectional layer
// (forward's, then backward's). What clipnorm clips one by one.
std::vector<int64_t> WeightTensorSizes(const ModelConfig& config);

// Keras-style model.summary(): layer (type), output shape, parameters, totals.
std::string Summary(const ModelConfig& config);

template <typename T>
class Network {
 public:
  // REQUIRES: params and grads hold CountParams(config) values and outlive the Network.
  Network(const ModelConfig& config, const T* params, T* grads);

  int64_t NumParams() const { return num_params_; }
  const std::vector<std::unique_ptr<Layer<T>>>& layers() const { return layers_; }

  // The precision of every layer's matrix products (engine/gemm.h); fp32 until set.
  // REQUIRES: kFp32 for double; kBf16 only where Bf16Supported().
  void SetPrecision(Precision p);

  // Writes Keras's default initial values into `params`.
  static void Init(const ModelConfig& config, uint64_t seed, T* params);

  // x: (steps*B, features) time-major for recurrent cells, (B, steps*features) for dense.
  // Returns the logits, (B, classes), valid until the next Forward.
  const Mat<T>& Forward(const Tensor<T>& x, const ForwardContext& ctx);
  // dlogits: (B, classes). Writes the parameter gradients into the bound gradient buffer (all of
  // it: what it held before is not read).
  void Backward(const Mat<T>& dlogits);

 private:
  std::vector<std::unique_ptr<Layer<T>>> layers_;
  int64_t num_params_ = 0;
  Tensor<T> dlogits_;
};

}  // namespace hpsweep

#endif  // HPSWEEP_ENGINE_NETWORK_H_
