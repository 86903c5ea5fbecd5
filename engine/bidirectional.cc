// Bidirectional: two recurrent layers, one reading the sequence forward and one reading it
// reversed, their outputs side by side (Keras's Bidirectional, merge_mode="concat").
//
// The backward direction is the same cell code run on a time-reversed copy of the input: no cell
// math here, only the reversal of the input, of the backward layer's output sequence and of the
// gradients that cross it.
#include <cassert>
#include <memory>
#include <string>
#include <utility>

#include "engine/layers.h"

namespace hpsweep {
namespace {

// out = in with its time steps in reverse order: in is (steps*B, F) time-major, step t of `out`
// is step steps-1-t of `in`. REQUIRES: out is sized like in. One step (a last state) is a copy.
template <typename In, typename Out>
void ReverseSteps(const In& in, int steps, Out&& out) {
  const Eigen::Index B = in.rows() / steps;
  for (int t = 0; t < steps; ++t) {
    out.middleRows((steps - 1 - t) * B, B) = in.middleRows(t * B, B);
  }
}

template <typename T>
class Bidirectional final : public Layer<T> {
 public:
  Bidirectional(std::unique_ptr<Layer<T>> forward, std::unique_ptr<Layer<T>> backward)
      : fwd_(std::move(forward)), bwd_(std::move(backward)) {
    assert(fwd_->Kind() == bwd_->Kind() && fwd_->NumParams() == bwd_->NumParams());
  }
  std::string Kind() const override { return "Bidirectional"; }
  Shape OutputShape() const override {
    const Shape s = fwd_->OutputShape();
    return {s.steps, 2 * s.features};
  }
  int64_t NumParams() const override { return fwd_->NumParams() + bwd_->NumParams(); }
  // Each direction initialised as its own layer: forward's values, then backward's.
  void Init(T* p, Rng* rng) const override {
    fwd_->Init(p, rng);
    bwd_->Init(p + fwd_->NumParams(), rng);
  }
  std::unique_ptr<Layer<T>> Clone() const override {
    return std::make_unique<Bidirectional>(fwd_->Clone(), bwd_->Clone());
  }
  void Bind(const T* params, T* grads) override {
    Layer<T>::Bind(params, grads);
    fwd_->Bind(params, grads);
    bwd_->Bind(params + fwd_->NumParams(), grads + fwd_->NumParams());
  }
  void SetPrecision(Precision p) override {
    fwd_->SetPrecision(p);
    bwd_->SetPrecision(p);
  }

  // x: (T*B, F) -> y: (B, 2H), or (T*B, 2H) with return_sequences. Forward's mask is drawn
  // first, then backward's, from ctx.rng.
  const Tensor<T>& Forward(const Tensor<T>& x, const ForwardContext& ctx) override {
    const Tensor<T>& yf = fwd_->Forward(x, ctx);  // (B, H) or (T*B, H)
    xrev_.steps = x.steps;
    xrev_.data.resize(x.data.rows(), x.data.cols());
    ReverseSteps(x.data, x.steps, xrev_.data);        // (T*B, F)
    const Tensor<T>& yb = bwd_->Forward(xrev_, ctx);  // (B, H) or (T*B, H), reversed time
    const Eigen::Index H = yf.features();
    y_.steps = yf.steps;
    y_.data.resize(yf.data.rows(), 2 * H);
    y_.data.leftCols(H) = yf.data;
    ReverseSteps(yb.data, yb.steps, y_.data.rightCols(H));  // back in the input's time order
    return y_;
  }

  // dy: shaped like y. dx (T*B, F) = forward's dx + backward's dx put back in time order.
  const Tensor<T>* Backward(const Tensor<T>& dy, bool need_dx) override {
    const Eigen::Index H = dy.features() / 2;
    dyf_.steps = dyb_.steps = dy.steps;
    dyf_.data = dy.data.leftCols(H);
    dyb_.data.resize(dy.data.rows(), H);
    ReverseSteps(dy.data.rightCols(H), dy.steps, dyb_.data);  // into backward's time order
    const Tensor<T>* dxf = fwd_->Backward(dyf_, need_dx);
    const Tensor<T>* dxb = bwd_->Backward(dyb_, need_dx);
    if (!need_dx) return nullptr;
    dx_.steps = dxf->steps;
    dx_.data = dxf->data;
    // dx(t) += backward's dx at its step T-1-t.
    const Eigen::Index B = dx_.data.rows() / dx_.steps;
    for (int t = 0; t < dx_.steps; ++t) {
      dx_.data.middleRows(t * B, B) += dxb->data.middleRows((dx_.steps - 1 - t) * B, B);
    }
    return &dx_;
  }

 private:
  std::unique_ptr<Layer<T>> fwd_, bwd_;
  Tensor<T> xrev_;       // (T*B, F): the input, reversed in time; backward's input until Backward
  Tensor<T> y_;          // (B, 2H) or (T*B, 2H)
  Tensor<T> dyf_, dyb_;  // shaped like forward's and backward's outputs (dyb_ in reversed time)
  Tensor<T> dx_;         // (T*B, F)
};

}  // namespace

template <typename T>
std::unique_ptr<Layer<T>> MakeBidirectional(std::unique_ptr<Layer<T>> forward,
                                            std::unique_ptr<Layer<T>> backward) {
  return std::make_unique<Bidirectional<T>>(std::move(forward), std::move(backward));
}

template std::unique_ptr<Layer<float>> MakeBidirectional<float>(std::unique_ptr<Layer<float>>,
                                                                std::unique_ptr<Layer<float>>);
template std::unique_ptr<Layer<double>> MakeBidirectional<double>(std::unique_ptr<Layer<double>>,
                                                                  std::unique_ptr<Layer<double>>);

}  // namespace hpsweep
