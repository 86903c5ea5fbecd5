// Layers of the engine: Dense, Dropout, SimpleRNN, LSTM and GRU (Keras reset_after=True), and
// Bidirectional around a recurrent layer (engine/bidirectional.cc).
//
// A layer owns no parameters: the Network that holds it binds it to its slice of one flat parameter
// buffer and one flat gradient buffer (llm.c style), with the Keras weight layout inside the slice
// (kernel, recurrent kernel, bias, each row-major). A layer does own the activations it keeps for
// Backward, so one layer object serves one thread; a model trained on N threads has N copies of its
// layers bound to the same parameters and to N gradient buffers.
//
// Shapes: x is (T*B, F) time-major for sequences (tensor.h). Recurrent layers take (T*B, F) and
// return (B, H), or (T*B, H) with return_sequences. Dense takes (B, F) and returns (B, U).
//
// Thread-safety: none; one thread per layer object. Forward then Backward on the same object; the
// tensor passed to Forward must stay unchanged until Backward returns.
#ifndef HPSWEEP_ENGINE_LAYERS_H_
#define HPSWEEP_ENGINE_LAYERS_H_

#include <cstdint>
#include <memory>
#include <string>

#include "engine/config.h"
#include "engine/gemm.h"
#include "engine/tensor.h"

namespace hpsweep {

struct ForwardContext {
  bool training = false;  // dropout is active only when training
  Rng* rng = nullptr;     // draws dropout masks; REQUIRES: non-null when training with dropout
};

// Output of one layer for a batch, without the batch dimension: (steps, features), steps == 0 for a
// non-sequence output.
struct Shape {
  int steps = 0;
  int features = 0;
};

template <typename T>
class Layer {
 public:
  virtual ~Layer() = default;

  // "Dense", "LSTM", ... as Keras's model.summary() names them.
  virtual std::string Kind() const = 0;
  virtual Shape OutputShape() const = 0;
  virtual int64_t NumParams() const = 0;
  // Writes the Keras default initial values into params[0, NumParams()).
  virtual void Init(T* params, Rng* rng) const = 0;
  // A fresh copy with the same shape, unbound and without activations.
  virtual std::unique_ptr<Layer<T>> Clone() const = 0;

  // Points the layer at its slices of the flat buffers; they must outlive the layer. A layer made
  // of layers binds them to their parts of its slices.
  virtual void Bind(const T* params, T* grads) {
    params_ = params;
    grads_ = grads;
  }

  // x: (steps_in*B, F_in). Returns y: (steps_out*B, F_out), owned by the layer and valid until the
  // next Forward.
  virtual const Tensor<T>& Forward(const Tensor<T>& x, const ForwardContext& ctx) = 0;
  // dy: shaped like y. Writes dL/dparams into every value of the bound gradient slice (whatever
  // it held before is not read: the trainer does not clear it between steps). Returns dL/dx
  // (owned by the layer) when need_dx, else nullptr: the first layer skips that work.
  virtual const Tensor<T>* Backward(const Tensor<T>& dy, bool need_dx) = 0;
  // The precision of the layer's matrix products (engine/gemm.h), fp32 until set. A layer made of
  // layers sets its parts. REQUIRES: kFp32 for double; kBf16 only where Bf16Supported().
  virtual void SetPrecision(Precision p) { gemm_.set_precision(p); }

 protected:
  const T* params_ = nullptr;
  T* grads_ = nullptr;
  Gemm<T> gemm_;  // the layer's products in its precision
};

// y = act(x W + b). W is (F, U), b is (U).
template <typename T>
std::unique_ptr<Layer<T>> MakeDense(int in_features, int units, Activation act);
// Inverted dropout: y = x * mask / (1 - rate) when training, y = x otherwise. Works on sequences.
template <typename T>
std::unique_ptr<Layer<T>> MakeDropout(Shape shape, float rate);
// h(t) = act(x(t) Wx + (m * h(t-1)) Wh + b), m the recurrent-dropout mask (one per sequence).
template <typename T>
std::unique_ptr<Layer<T>> MakeSimpleRnn(int steps, int in_features, int units, Activation act,
                                        bool return_sequences, float recurrent_dropout);
// Gates i, f, c, o (Keras order); c(t) = f c(t-1) + i act(zc); h(t) = o act(c(t)).
template <typename T>
std::unique_ptr<Layer<T>> MakeLstm(int steps, int in_features, int units, Activation act,
                                   bool return_sequences, float recurrent_dropout);
// Gates z, r, h (Keras order, reset_after=True: r multiplies (h(t-1) Wh_h + b_rec_h)).
// h(t) = z h(t-1) + (1 - z) act(...).
template <typename T>
std::unique_ptr<Layer<T>> MakeGru(int steps, int in_features, int units, Activation act,
                                  bool return_sequences, float recurrent_dropout);

// Keras's Bidirectional(layer, merge_mode="concat"). `forward` reads x as given; `backward`, a
// layer of the same kind and shape with its own weights and its own recurrent-dropout mask, reads
// x reversed in time. The output is [forward's, backward's] along the features: (B, 2H), where
// backward's part is its last state (the whole sequence read from the end), or with
// return_sequences (T*B, 2H), backward's sequence put back in the input's time order. Parameters:
// forward's, then backward's (Keras's weight order). Kind() is "Bidirectional".
// REQUIRES: forward and backward are recurrent layers made with the same arguments.
template <typename T>
std::unique_ptr<Layer<T>> MakeBidirectional(std::unique_ptr<Layer<T>> forward,
                                            std::unique_ptr<Layer<T>> backward);

}  // namespace hpsweep

#endif  // HPSWEEP_ENGINE_LAYERS_H_
