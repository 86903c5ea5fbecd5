#include "engine/layers.h"

#include <Eigen/QR>
#include <cassert>
#include <cmath>

namespace hpsweep {
namespace {

// --- Activations, applied in place on Eigen blocks -------------------------------------------

template <typename X>
void ActInPlace(Activation act, X&& x) {
  using S = typename std::decay_t<X>::Scalar;
  switch (act) {
    case Activation::kLinear: break;
    case Activation::kRelu: x.array() = x.array().max(S(0)); break;
    case Activation::kTanh: x.array() = x.array().tanh(); break;
    case Activation::kSigmoid: x.array() = (x.array() * S(0.5)).tanh() * S(0.5) + S(0.5); break;
    case Activation::kSoftmax:
      for (Eigen::Index r = 0; r < x.rows(); ++r) {
        auto row = x.row(r);
        row.array() = (row.array() - row.maxCoeff()).exp();
        row /= row.sum();
      }
      break;
  }
}

// sigmoid(x) = (tanh(x/2) + 1) / 2: uses Eigen's vectorized tanh.
template <typename X>
void SigmoidIn(X&& x) {
  using S = typename std::decay_t<X>::Scalar;
  x.array() = (x.array() * S(0.5)).tanh() * S(0.5) + S(0.5);
}

// d *= act'(.) given the activation's output y (softmax excluded: see Dense::Backward).
template <typename Y, typename D>
void MulActDeriv(Activation act, const Y& y, D&& d) {
  using S = typename std::decay_t<D>::Scalar;
  switch (act) {
    case Activation::kLinear:
    case Activation::kSoftmax: break;
    case Activation::kRelu: d.array() = (y.array() > S(0)).select(d.array(), S(0)); break;
    case Activation::kTanh: d.array() *= S(1) - y.array().square(); break;
    case Activation::kSigmoid: d.array() *= y.array() * (S(1) - y.array()); break;
  }
}

// d * act'(.) at the activation's output y, for one element (softmax excluded).
template <Activation A, typename S>
inline S TimesDeriv(S y, S d) {
  if constexpr (A == Activation::kTanh) return d * (S(1) - y * y);
  if constexpr (A == Activation::kRelu) return y > S(0) ? d : S(0);
  if constexpr (A == Activation::kSigmoid) return d * (y * (S(1) - y));
  return d;
}

// One row of one step of the LSTM's backward pass, in one sweep over its H elements (the gate
// math was nine passes over the step): from dh and the running dc, the gate gradients (di, df,
// dg, d_o: the four H-wide parts of the row of dgates) and dc carried to step t-1. i, f, g, o:
// the activated gates; ac: act(c); cprev: c(t-1), null at t = 0 (df = 0). Each part is its own
// restrict parameter so that the compiler vectorises the loop (one pointer with offsets k*H
// cannot be shown apart).
template <Activation A, bool kPrev, typename T>
void LstmGateGradsRow(int H, const T* __restrict i, const T* __restrict f, const T* __restrict g,
                      const T* __restrict o, const T* __restrict ac, const T* __restrict cprev,
                      const T* __restrict dh, T* __restrict dc, T* __restrict di, T* __restrict df,
                      T* __restrict dg, T* __restrict d_o) {
  for (int j = 0; j < H; ++j) {
    const T a = ac[j], dhv = dh[j];
    d_o[j] = dhv * a * o[j] * (T(1) - o[j]);           // h = o * act(c)
    const T d = dc[j] + TimesDeriv<A>(a, dhv * o[j]);  // dc
    di[j] = d * g[j] * i[j] * (T(1) - i[j]);           // c = f c(t-1) + i g
    if constexpr (kPrev) {
      df[j] = d * cprev[j] * f[j] * (T(1) - f[j]);
    } else {
      df[j] = T(0);
    }
    dg[j] = TimesDeriv<A>(g[j], d * i[j]);
    dc[j] = d * f[j];
  }
}

// One step: gates (B, 4H, order i f g o), ac and cprev (B, H) (cprev null at t = 0), dh and dc
// (B, H); writes dgates (B, 4H) and updates dc.
template <Activation A, typename T>
void LstmGateGrads(int B, int H, const T* gates, const T* ac, const T* cprev, const T* dh, T* dc,
                   T* dgates) {
  for (int b = 0; b < B; ++b) {
    const int64_t r4 = static_cast<int64_t>(b) * 4 * H, r = static_cast<int64_t>(b) * H;
    const T* gr = gates + r4;
    T* dgr = dgates + r4;
    if (cprev != nullptr) {
      LstmGateGradsRow<A, true>(H, gr, gr + H, gr + 2 * H, gr + 3 * H, ac + r, cprev + r, dh + r,
                                dc + r, dgr, dgr + H, dgr + 2 * H, dgr + 3 * H);
    } else {
      LstmGateGradsRow<A, false>(H, gr, gr + H, gr + 2 * H, gr + 3 * H, ac + r, cprev, dh + r,
                                 dc + r, dgr, dgr + H, dgr + 2 * H, dgr + 3 * H);
    }
  }
}

// out[0, n) = column sums of m (a bias gradient). The sums go through an aligned scratch row and a
// scalar loop, so the result does not depend on where `out` sits in memory (Eigen would otherwise
// split the reduction into peeled scalar and vector parts by the destination's alignment, changing
// the summation order from run to run).
// Rows are added one after another (contiguous, vectorised), in a fixed order.
template <typename T>
void WriteColumnSums(const Mat<T>& m, T* out, RowVec<T>* scratch) {
  scratch->setZero(m.cols());
  for (Eigen::Index r = 0; r < m.rows(); ++r) *scratch += m.row(r);
  for (Eigen::Index c = 0; c < scratch->size(); ++c) out[c] = (*scratch)[c];
}

// --- Keras initialisers ----------------------------------------------------------------------

// glorot_uniform for a (fan_in, fan_out) kernel.
template <typename T>
void GlorotUniform(T* w, int fan_in, int fan_out, Rng* rng) {
  const double limit = std::sqrt(6.0 / (fan_in + fan_out));
  for (int64_t i = 0; i < static_cast<int64_t>(fan_in) * fan_out; ++i) {
    w[i] = static_cast<T>(rng->Uniform(-limit, limit));
  }
}

// Keras Orthogonal(gain=1) for a (rows, cols) kernel: QR of a normal matrix of shape
// (max, min), columns signed by diag(R), transposed when rows < cols.
template <typename T>
void Orthogonal(T* w, int rows, int cols, Rng* rng) {
  const int big = std::max(rows, cols), small = std::min(rows, cols);
  Eigen::MatrixXd a(big, small);
  for (int i = 0; i < big; ++i)
    for (int j = 0; j < small; ++j) a(i, j) = rng->Normal();
  Eigen::HouseholderQR<Eigen::MatrixXd> qr(a);
  Eigen::MatrixXd q = qr.householderQ() * Eigen::MatrixXd::Identity(big, small);
  Eigen::MatrixXd r = qr.matrixQR().topRows(small).template triangularView<Eigen::Upper>();
  for (int j = 0; j < small; ++j) {
    if (r(j, j) < 0) q.col(j) = -q.col(j);
  }
  MatMap<T> out(w, rows, cols);
  if (rows < cols) {
    out = q.transpose().cast<T>();
  } else {
    out = q.cast<T>();
  }
}

// Fills `mask` with 0 or 1/(1-rate), each kept with probability 1-rate.
template <typename T>
void DrawMask(float rate, Rng* rng, Mat<T>* mask) {
  assert(rng != nullptr);
  const T keep = T(1) / T(1 - rate);
  T* m = mask->data();
  for (Eigen::Index i = 0; i < mask->size(); ++i) m[i] = rng->UniformFloat() < rate ? T(0) : keep;
}

// --- Dense ------------------------------------------------------------------------------------

template <typename T>
class Dense final : public Layer<T> {
 public:
  Dense(int in, int units, Activation act) : in_(in), units_(units), act_(act) {}
  std::string Kind() const override { return "Dense"; }
  Shape OutputShape() const override { return {0, units_}; }
  int64_t NumParams() const override { return static_cast<int64_t>(in_) * units_ + units_; }
  void Init(T* p, Rng* rng) const override {
    GlorotUniform(p, in_, units_, rng);
    std::fill(p + in_ * units_, p + NumParams(), T(0));
  }
  std::unique_ptr<Layer<T>> Clone() const override {
    return std::make_unique<Dense>(in_, units_, act_);
  }

  // x: (B, F) -> y: (B, U)
  const Tensor<T>& Forward(const Tensor<T>& x, const ForwardContext&) override {
    assert(x.steps == 1 && x.features() == in_);
    x_ = &x;
    y_.data.resize(x.data.rows(), units_);
    w_.Set(this->gemm_.precision(), this->params_, units_, in_, units_, false);
    this->gemm_.MulAddBias(x.data.data(), in_, x.batch(), w_, this->params_ + in_ * units_,
                           y_.data.data(), units_);
    ActInPlace(act_, y_.data);
    return y_;
  }

  const Tensor<T>* Backward(const Tensor<T>& dy, bool need_dx) override {
    dz_ = dy.data;
    if (act_ == Activation::kSoftmax) {
      // dz = y * (dy - sum(dy * y)) per row.
      for (Eigen::Index r = 0; r < dz_.rows(); ++r) {
        const T s = dz_.row(r).dot(y_.data.row(r));
        dz_.row(r).array() = y_.data.row(r).array() * (dz_.row(r).array() - s);
      }
    } else {
      MulActDeriv(act_, y_.data, dz_);
    }
    const Precision p = this->gemm_.precision();
    const int B = static_cast<int>(dz_.rows());
    x_op_.Set(p, x_->data.data(), in_, B, in_, false);
    dz_op_.Set(p, dz_.data(), units_, B, units_, false);
    this->gemm_.MulTransA(x_op_, dz_op_, this->grads_, units_, false);  // dW = x^T dz
    WriteColumnSums(dz_, this->grads_ + in_ * units_, &bias_sum_);
    if (!need_dx) return nullptr;
    dx_.data.resize(dz_.rows(), in_);
    w_.Set(p, this->params_, units_, units_, in_, true);  // W^T: (U, F)
    this->gemm_.Mul(dz_.data(), units_, B, w_, dx_.data.data(), in_, false);
    return &dx_;
  }

 private:
  int in_, units_;
  Activation act_;
  const Tensor<T>* x_ = nullptr;
  Tensor<T> y_, dx_;
  Mat<T> dz_;
  RowVec<T> bias_sum_;
  Operand<T> w_, x_op_, dz_op_;  // W or W^T; x and dz for dW
};

// --- Dropout ----------------------------------------------------------------------------------

template <typename T>
class Dropout final : public Layer<T> {
 public:
  Dropout(Shape shape, float rate) : shape_(shape), rate_(rate) {}
  std::string Kind() const override { return "Dropout"; }
  Shape OutputShape() const override { return shape_; }
  int64_t NumParams() const override { return 0; }
  void Init(T*, Rng*) const override {}
  std::unique_ptr<Layer<T>> Clone() const override {
    return std::make_unique<Dropout>(shape_, rate_);
  }

  const Tensor<T>& Forward(const Tensor<T>& x, const ForwardContext& ctx) override {
    active_ = ctx.training && rate_ > 0;
    if (!active_) return x;  // identity: pass the input through
    mask_.resize(x.data.rows(), x.data.cols());
    DrawMask(rate_, ctx.rng, &mask_);
    y_.steps = x.steps;
    y_.data = x.data.cwiseProduct(mask_);
    return y_;
  }

  const Tensor<T>* Backward(const Tensor<T>& dy, bool need_dx) override {
    if (!need_dx) return nullptr;
    if (!active_) return &dy;
    dx_.steps = dy.steps;
    dx_.data = dy.data.cwiseProduct(mask_);
    return &dx_;
  }

 private:
  Shape shape_;
  float rate_;
  bool active_ = false;
  Mat<T> mask_;
  Tensor<T> y_, dx_;
};

// --- Recurrent layers -------------------------------------------------------------------------

// What SimpleRNN, LSTM and GRU share: the parameter layout (kernel (F, G*H), recurrent kernel
// (H, G*H), bias), the input projection of all steps in one GEMM, the recurrent-dropout mask, the
// stored hidden states, and the weight gradients as GEMMs over all steps at the end of BPTT.
template <typename T>
class Recurrent : public Layer<T> {
 public:
  Recurrent(int steps, int in, int units, int gates, Activation act, bool return_sequences,
            float recurrent_dropout)
      : steps_(steps),
        in_(in),
        units_(units),
        gates_(gates),
        act_(act),
        return_sequences_(return_sequences),
        recurrent_dropout_(recurrent_dropout) {}

  Shape OutputShape() const override { return {return_sequences_ ? steps_ : 0, units_}; }

 protected:
  // B consecutive rows of a row-major matrix: one time step.
  using RowBlock = Eigen::Block<Mat<T>, Eigen::Dynamic, Eigen::Dynamic, true>;

  int GH() const { return gates_ * units_; }
  int64_t KernelSize() const { return static_cast<int64_t>(in_) * GH(); }
  int64_t RecurrentSize() const { return static_cast<int64_t>(units_) * GH(); }
  const T* Wx() const { return this->params_; }                 // (F, G*H)
  const T* Wh() const { return this->params_ + KernelSize(); }  // (H, G*H)
  const T* bias() const { return this->params_ + KernelSize() + RecurrentSize(); }

  void InitKernels(T* p, Rng* rng) const {
    GlorotUniform(p, in_, GH(), rng);
    Orthogonal(p + KernelSize(), units_, GH(), rng);
  }

  // Starts a forward pass: checks the input, sizes xg (T*B, G*H) for the projections (Project),
  // packs Wx and Wh, and draws the recurrent-dropout mask.
  void BeginForward(const Tensor<T>& x, const ForwardContext& ctx, Mat<T>* xg) {
    assert(x.steps == steps_ && x.features() == in_);
    x_ = &x;
    B_ = x.batch();
    xg->resize(x.data.rows(), GH());
    const Precision p = this->gemm_.precision();
    wx_.Set(p, Wx(), GH(), in_, GH(), false);
    w_.Set(p, Wh(), GH(), units_, GH(), false);  // for every step's h(t-1) Wh
    wh_transposed_ = false;
    masked_ = ctx.training && recurrent_dropout_ > 0;
    if (masked_) {
      mask_.resize(B_, units_);
      DrawMask(recurrent_dropout_, ctx.rng, &mask_);
      hprev_.resize(static_cast<Eigen::Index>(steps_ - 1) * B_, units_);
    }
    h_.steps = steps_;
    h_.data.resize(x.data.rows(), units_);
  }

  // Step t's rows of xg (B, G*H) = x(t) Wx + b. Projected step by step, just before the step
  // adds its recurrent product, so that its rows are still in cache then: all steps' projections
  // at once (7.3 MB for LSTM-128 at batch 128) went out to memory and were read back step by step.
  void Project(int t, Mat<T>* xg) {
    const int64_t r0 = static_cast<int64_t>(t) * B_;
    this->gemm_.MulAddBias(x_->data.data() + r0 * in_, in_, B_, wx_, bias(), xg->data() + r0 * GH(),
                           GH());
  }

  // The recurrent input of step t >= 1: mask * h(t-1), (B, H).
  RowBlock HPrev(int t) {
    if (masked_) return hprev_.middleRows(static_cast<Eigen::Index>(t - 1) * B_, B_);
    return h_.data.middleRows(static_cast<Eigen::Index>(t - 1) * B_, B_);
  }
  // Called once h(t) is in h_: stores mask * h(t) for the next step.
  void AfterStep(int t) {
    if (masked_ && t + 1 < steps_) {
      hprev_.middleRows(static_cast<Eigen::Index>(t) * B_, B_) = H(t).cwiseProduct(mask_);
    }
  }
  RowBlock H(int t) { return h_.data.middleRows(static_cast<Eigen::Index>(t) * B_, B_); }

  // out (B, G*H) = [out +] HPrev(t) Wh, out with row stride ld. REQUIRES: t >= 1.
  void AddRecurrent(int t, T* out, int64_t ld, bool accumulate) {
    this->gemm_.Mul(HPrev(t).data(), units_, B_, w_, out, ld, accumulate);
  }

  const Tensor<T>& Output() {
    if (return_sequences_) return h_;
    y_.steps = 1;
    y_.data = H(steps_ - 1);
    return y_;
  }

  // Gradient arriving at step t from above (the layer's output), added into dh.
  void AddOutputGrad(const Tensor<T>& dy, int t, Mat<T>* dh) {
    if (return_sequences_) {
      *dh += dy.data.middleRows(static_cast<Eigen::Index>(t) * B_, B_);
    } else if (t == steps_ - 1) {
      *dh += dy.data;
    }
  }

  // dh = (dgates(t) Wh^T) * mask: the gradient reaching h(t-1) through the recurrent kernel.
  template <typename G>
  void RecurrentGrad(const G& dgates_t, Mat<T>* dh) {
    if (!wh_transposed_) {  // the first call of a backward pass: Wh^T, (G*H, H)
      w_.Set(this->gemm_.precision(), Wh(), GH(), GH(), units_, true);
      wh_transposed_ = true;
    }
    assert(dgates_t.cols() == GH() && dgates_t.outerStride() == GH());
    this->gemm_.Mul(dgates_t.data(), GH(), B_, w_, dh->data(), units_, false);
    if (masked_) dh->array() *= mask_.array();
  }

  // Starts the gradients of a backward pass: dxg, and drg when the cell keeps the recurrent
  // side's apart (GRU), both (T*B, G*H) and sized. In bf16 with an even B each step's rows are
  // packed by GradsOfStep as soon as they are computed, while they are in cache.
  void BeginGrads(const Mat<T>& dxg, const Mat<T>* drg) {
    const Precision p = this->gemm_.precision();
    const int all = steps_ * B_;
    by_step_ = p == Precision::kBf16 && B_ % 2 == 0;
    if (!by_step_) return;
    dxg_op_.Reserve(p, dxg.data(), GH(), all, GH());
    if (drg != nullptr) drg_op_.Reserve(p, drg->data(), GH(), all, GH());
    separate_drg_ = drg != nullptr;
  }
  // Step t's rows of dxg (and drg) are final.
  void GradsOfStep(int t) {
    if (!by_step_) return;
    dxg_op_.PackRows(t * B_, B_);
    if (separate_drg_) drg_op_.PackRows(t * B_, B_);
  }

  // Writes dWx = x^T dxg, dWh = hprev^T drg (steps 1..T-1; zero for one step) and returns
  // dx = dxg Wx^T if asked.
  const Tensor<T>* FinishBackward(const Mat<T>& dxg, const Mat<T>& drg, bool need_dx) {
    const Precision p = this->gemm_.precision();
    const int all = static_cast<int>(x_->data.rows());
    if (!by_step_) {
      dxg_op_.Set(p, dxg.data(), GH(), all, GH(), false);
      if (&drg != &dxg) drg_op_.Set(p, drg.data(), GH(), all, GH(), false);
    }
    const Operand<T>& drg_all = &drg != &dxg ? drg_op_ : dxg_op_;
    a_.Set(p, x_->data.data(), in_, all, in_, false);
    this->gemm_.MulTransA(a_, dxg_op_, this->grads_, GH(), false);  // dWx = x^T dxg
    if (steps_ > 1) {
      const int rows = (steps_ - 1) * B_;
      const T* hp = masked_ ? hprev_.data() : h_.data.data();
      a_.Set(p, hp, units_, rows, units_, false);
      if (B_ % 2 == 0) {
        b_.SetRows(drg_all, B_);  // steps 1..T-1
      } else {
        b_.Set(p, drg.data() + static_cast<int64_t>(B_) * GH(), GH(), rows, GH(), false);
      }
      this->gemm_.MulTransA(a_, b_, this->grads_ + KernelSize(), GH(), false);  // dWh
    } else {
      std::fill(this->grads_ + KernelSize(), this->grads_ + KernelSize() + RecurrentSize(), T(0));
    }
    if (!need_dx) return nullptr;
    dx_.steps = steps_;
    dx_.data.resize(x_->data.rows(), in_);
    w_.Set(p, Wx(), GH(), GH(), in_, true);  // Wx^T: (G*H, F)
    this->gemm_.Mul(dxg.data(), GH(), all, w_, dx_.data.data(), in_, false);
    return &dx_;
  }

  int steps_, in_, units_, gates_;
  Activation act_;
  bool return_sequences_;
  float recurrent_dropout_;

  const Tensor<T>* x_ = nullptr;
  int B_ = 0;
  bool masked_ = false;
  Mat<T> mask_;   // (B, H), 0 or 1/(1-rate)
  Mat<T> hprev_;  // ((T-1)*B, H): mask * h(t-1) for t = 1..T-1, only when masked
  Tensor<T> h_;   // (T*B, H): h(t) for every step
  // The B operand in use: Wh through the forward steps, Wh^T through the backward steps, then
  // Wx^T; a_ and b_ are the two sides of a weight gradient.
  Operand<T> w_, a_, b_;
  Operand<T> wx_;               // Wx through the forward steps' projections
  Operand<T> dxg_op_, drg_op_;  // the gradients of the pre-activations, packed
  bool wh_transposed_ = false;
  bool by_step_ = false, separate_drg_ = false;
  Tensor<T> y_, dx_;
  Mat<T> dh_;  // (B, H) running gradient w.r.t. h(t)
  RowVec<T> bias_sum_;
};

template <typename T>
class SimpleRnn final : public Recurrent<T> {
 public:
  using Base = Recurrent<T>;
  SimpleRnn(int steps, int in, int units, Activation act, bool rs, float rd)
      : Base(steps, in, units, 1, act, rs, rd) {}
  std::string Kind() const override { return "SimpleRNN"; }
  int64_t NumParams() const override {
    return this->KernelSize() + this->RecurrentSize() + this->units_;
  }
  void Init(T* p, Rng* rng) const override {
    this->InitKernels(p, rng);
    std::fill(p + this->KernelSize() + this->RecurrentSize(), p + NumParams(), T(0));
  }
  std::unique_ptr<Layer<T>> Clone() const override {
    return std::make_unique<SimpleRnn>(this->steps_, this->in_, this->units_, this->act_,
                                       this->return_sequences_, this->recurrent_dropout_);
  }

  // x: (T*B, F) -> (B, H) or (T*B, H)
  const Tensor<T>& Forward(const Tensor<T>& x, const ForwardContext& ctx) override {
    // The pre-activations of all steps are projected straight into h_.
    this->BeginForward(x, ctx, &this->h_.data);
    for (int t = 0; t < this->steps_; ++t) {
      this->Project(t, &this->h_.data);
      auto h = this->H(t);
      if (t > 0) this->AddRecurrent(t, h.data(), this->units_, true);
      ActInPlace(this->act_, h);
      this->AfterStep(t);
    }
    return this->Output();
  }

  const Tensor<T>* Backward(const Tensor<T>& dy, bool need_dx) override {
    const int B = this->B_, H = this->units_;
    dz_.resize(static_cast<Eigen::Index>(this->steps_) * B, H);
    this->BeginGrads(dz_, nullptr);
    Mat<T>& dh = this->dh_;
    dh.setZero(B, H);
    for (int t = this->steps_ - 1; t >= 0; --t) {
      this->AddOutputGrad(dy, t, &dh);
      auto dz = dz_.middleRows(static_cast<Eigen::Index>(t) * B, B);
      dz = dh;
      MulActDeriv(this->act_, this->H(t), dz);
      this->GradsOfStep(t);
      if (t > 0) this->RecurrentGrad(dz, &dh);
    }
    WriteColumnSums(dz_, this->grads_ + this->KernelSize() + this->RecurrentSize(),
                    &this->bias_sum_);
    return this->FinishBackward(dz_, dz_, need_dx);
  }

 private:
  Mat<T> dz_;  // (T*B, H)
};

template <typename T>
class Lstm final : public Recurrent<T> {
 public:
  using Base = Recurrent<T>;
  Lstm(int steps, int in, int units, Activation act, bool rs, float rd)
      : Base(steps, in, units, 4, act, rs, rd) {}
  std::string Kind() const override { return "LSTM"; }
  int64_t NumParams() const override {
    return this->KernelSize() + this->RecurrentSize() + 4 * this->units_;
  }
  void Init(T* p, Rng* rng) const override {
    this->InitKernels(p, rng);
    T* b = p + this->KernelSize() + this->RecurrentSize();
    const int H = this->units_;
    std::fill(b, b + 4 * H, T(0));
    std::fill(b + H, b + 2 * H, T(1));  // unit_forget_bias
  }
  std::unique_ptr<Layer<T>> Clone() const override {
    return std::make_unique<Lstm>(this->steps_, this->in_, this->units_, this->act_,
                                  this->return_sequences_, this->recurrent_dropout_);
  }

  // x: (T*B, F) -> (B, H) or (T*B, H). Keeps the activated gates (T*B, 4H), c and act(c).
  const Tensor<T>& Forward(const Tensor<T>& x, const ForwardContext& ctx) override {
    const int H = this->units_;
    this->BeginForward(x, ctx, &gates_);
    const int B = this->B_;
    c_.resize(x.data.rows(), H);
    ac_.resize(x.data.rows(), H);
    for (int t = 0; t < this->steps_; ++t) {
      const Eigen::Index r0 = static_cast<Eigen::Index>(t) * B;
      this->Project(t, &gates_);
      auto g = gates_.middleRows(r0, B);
      if (t > 0) this->AddRecurrent(t, g.data(), 4 * H, true);
      SigmoidIn(g.leftCols(2 * H));  // i, f
      ActInPlace(this->act_, g.middleCols(2 * H, H));
      SigmoidIn(g.rightCols(H));  // o
      auto c = c_.middleRows(r0, B);
      if (t > 0) {
        c.array() = g.middleCols(H, H).array() * c_.middleRows(r0 - B, B).array() +
                    g.leftCols(H).array() * g.middleCols(2 * H, H).array();
      } else {
        c.array() = g.leftCols(H).array() * g.middleCols(2 * H, H).array();
      }
      auto ac = ac_.middleRows(r0, B);
      ac = c;
      ActInPlace(this->act_, ac);
      this->H(t).array() = g.rightCols(H).array() * ac.array();
      this->AfterStep(t);
    }
    return this->Output();
  }

  const Tensor<T>* Backward(const Tensor<T>& dy, bool need_dx) override {
    const int B = this->B_, H = this->units_;
    dgates_.resize(gates_.rows(), 4 * H);
    this->BeginGrads(dgates_, nullptr);
    Mat<T>& dh = this->dh_;
    dh.setZero(B, H);
    dc_.setZero(B, H);
    for (int t = this->steps_ - 1; t >= 0; --t) {
      const Eigen::Index r0 = static_cast<Eigen::Index>(t) * B;
      this->AddOutputGrad(dy, t, &dh);
      auto dg = dgates_.middleRows(r0, B);
      const T* g = gates_.data() + r0 * 4 * H;
      const T* ac = ac_.data() + r0 * H;
      const T* cprev = t > 0 ? c_.data() + (r0 - B) * H : nullptr;
      switch (this->act_) {
        case Activation::kTanh:
          LstmGateGrads<Activation::kTanh>(B, H, g, ac, cprev, dh.data(), dc_.data(), dg.data());
          break;
        case Activation::kRelu:
          LstmGateGrads<Activation::kRelu>(B, H, g, ac, cprev, dh.data(), dc_.data(), dg.data());
          break;
        case Activation::kSigmoid:
          LstmGateGrads<Activation::kSigmoid>(B, H, g, ac, cprev, dh.data(), dc_.data(), dg.data());
          break;
        case Activation::kLinear:
        case Activation::kSoftmax:
          LstmGateGrads<Activation::kLinear>(B, H, g, ac, cprev, dh.data(), dc_.data(), dg.data());
          break;
      }
      this->GradsOfStep(t);
      if (t > 0) this->RecurrentGrad(dg, &dh);
    }
    WriteColumnSums(dgates_, this->grads_ + this->KernelSize() + this->RecurrentSize(),
                    &this->bias_sum_);
    return this->FinishBackward(dgates_, dgates_, need_dx);
  }

 private:
  Mat<T> gates_;   // (T*B, 4H): activated i, f, g, o
  Mat<T> c_, ac_;  // (T*B, H): cell state and act(cell state)
  Mat<T> dgates_;  // (T*B, 4H): gradient w.r.t. the gate pre-activations
  Mat<T> dc_;      // (B, H): gradient w.r.t. c(t), carried back a step at a time
};

template <typename T>
class Gru final : public Recurrent<T> {
 public:
  using Base = Recurrent<T>;
  Gru(int steps, int in, int units, Activation act, bool rs, float rd)
      : Base(steps, in, units, 3, act, rs, rd) {}
  std::string Kind() const override { return "GRU"; }
  // bias is (2, 3H): input bias, then recurrent bias.
  int64_t NumParams() const override {
    return this->KernelSize() + this->RecurrentSize() + 6 * this->units_;
  }
  void Init(T* p, Rng* rng) const override {
    this->InitKernels(p, rng);
    std::fill(p + this->KernelSize() + this->RecurrentSize(), p + NumParams(), T(0));
  }
  std::unique_ptr<Layer<T>> Clone() const override {
    return std::make_unique<Gru>(this->steps_, this->in_, this->units_, this->act_,
                                 this->return_sequences_, this->recurrent_dropout_);
  }

  // x: (T*B, F) -> (B, H) or (T*B, H). Keeps z, r, hh (T*B, 3H) and (h(t-1) Wh_h + b_rec_h).
  const Tensor<T>& Forward(const Tensor<T>& x, const ForwardContext& ctx) override {
    const int H = this->units_;
    this->BeginForward(x, ctx, &gates_);  // x Wx + b_in
    const int B = this->B_;
    ConstRowVecMap<T> brec(this->bias() + 3 * H, 3 * H);
    rh_.resize(x.data.rows(), H);
    rec_.resize(B, 3 * H);
    for (int t = 0; t < this->steps_; ++t) {
      const Eigen::Index r0 = static_cast<Eigen::Index>(t) * B;
      this->Project(t, &gates_);
      auto g = gates_.middleRows(r0, B);
      if (t > 0) {
        this->AddRecurrent(t, rec_.data(), 3 * H, false);
        rec_.rowwise() += brec;
      } else {
        rec_ = brec.replicate(B, 1);
      }
      g.leftCols(2 * H) += rec_.leftCols(2 * H);
      SigmoidIn(g.leftCols(2 * H));  // z, r
      auto rh = rh_.middleRows(r0, B);
      rh = rec_.rightCols(H);
      g.rightCols(H).array() += g.middleCols(H, H).array() * rh.array();
      ActInPlace(this->act_, g.rightCols(H));
      auto gz = g.leftCols(H);
      auto z = gz.array();
      auto h = this->H(t);
      if (t > 0) {
        h.array() = z * this->H(t - 1).array() + (T(1) - z) * g.rightCols(H).array();
      } else {
        h.array() = (T(1) - z) * g.rightCols(H).array();
      }
      this->AfterStep(t);
    }
    return this->Output();
  }

  const Tensor<T>* Backward(const Tensor<T>& dy, bool need_dx) override {
    const int B = this->B_, H = this->units_;
    dxg_.resize(gates_.rows(), 3 * H);
    drg_.resize(gates_.rows(), 3 * H);
    this->BeginGrads(dxg_, &drg_);
    Mat<T>& dh = this->dh_;
    dh.setZero(B, H);
    for (int t = this->steps_ - 1; t >= 0; --t) {
      const Eigen::Index r0 = static_cast<Eigen::Index>(t) * B;
      this->AddOutputGrad(dy, t, &dh);
      auto g = gates_.middleRows(r0, B);
      auto gz = g.leftCols(H);
      auto gr = g.middleCols(H, H);
      auto z = gz.array();
      auto r = gr.array();
      auto hh = g.rightCols(H);
      auto dx = dxg_.middleRows(r0, B);
      auto dr = drg_.middleRows(r0, B);
      // h = z h(t-1) + (1 - z) hh
      auto dzh = dx.rightCols(H);
      dzh.array() = dh.array() * (T(1) - z);
      MulActDeriv(this->act_, hh, dzh);
      if (t > 0) {
        dx.leftCols(H).array() =
            dh.array() * (this->H(t - 1).array() - hh.array()) * z * (T(1) - z);
      } else {
        dx.leftCols(H).array() = dh.array() * (-hh.array()) * z * (T(1) - z);
      }
      dx.middleCols(H, H).array() = dzh.array() * rh_.middleRows(r0, B).array() * r * (T(1) - r);
      dr.leftCols(2 * H) = dx.leftCols(2 * H);
      dr.rightCols(H).array() = dzh.array() * r;
      this->GradsOfStep(t);
      if (t > 0) {
        tmp_ = (dh.array() * z).matrix();
        this->RecurrentGrad(dr, &dh);
        dh += tmp_;
      }
    }
    T* gb = this->grads_ + this->KernelSize() + this->RecurrentSize();
    WriteColumnSums(dxg_, gb, &this->bias_sum_);
    WriteColumnSums(drg_, gb + 3 * H, &this->bias_sum_);
    return this->FinishBackward(dxg_, drg_, need_dx);
  }

 private:
  Mat<T> gates_;  // (T*B, 3H): z, r, hh after activation
  Mat<T> rh_;     // (T*B, H): h(t-1) Wh_h + b_rec_h, before the reset gate
  Mat<T> rec_;    // (B, 3H) scratch
  Mat<T> dxg_;    // (T*B, 3H): gradient w.r.t. the input-side pre-activations
  Mat<T> drg_;    // (T*B, 3H): gradient w.r.t. the recurrent-side pre-activations
  Mat<T> tmp_;
};

}  // namespace

template <typename T>
std::unique_ptr<Layer<T>> MakeDense(int in_features, int units, Activation act) {
  return std::make_unique<Dense<T>>(in_features, units, act);
}
template <typename T>
std::unique_ptr<Layer<T>> MakeDropout(Shape shape, float rate) {
  return std::make_unique<Dropout<T>>(shape, rate);
}
template <typename T>
std::unique_ptr<Layer<T>> MakeSimpleRnn(int steps, int in, int units, Activation act, bool rs,
                                        float rd) {
  return std::make_unique<SimpleRnn<T>>(steps, in, units, act, rs, rd);
}
template <typename T>
std::unique_ptr<Layer<T>> MakeLstm(int steps, int in, int units, Activation act, bool rs,
                                   float rd) {
  return std::make_unique<Lstm<T>>(steps, in, units, act, rs, rd);
}
template <typename T>
std::unique_ptr<Layer<T>> MakeGru(int steps, int in, int units, Activation act, bool rs, float rd) {
  return std::make_unique<Gru<T>>(steps, in, units, act, rs, rd);
}

#define HPSWEEP_INSTANTIATE_LAYERS(T)                                                          \
  template std::unique_ptr<Layer<T>> MakeDense<T>(int, int, Activation);                       \
  template std::unique_ptr<Layer<T>> MakeDropout<T>(Shape, float);                             \
  template std::unique_ptr<Layer<T>> MakeSimpleRnn<T>(int, int, int, Activation, bool, float); \
  template std::unique_ptr<Layer<T>> MakeLstm<T>(int, int, int, Activation, bool, float);      \
  template std::unique_ptr<Layer<T>> MakeGru<T>(int, int, int, Activation, bool, float);
HPSWEEP_INSTANTIATE_LAYERS(float)
HPSWEEP_INSTANTIATE_LAYERS(double)
#undef HPSWEEP_INSTANTIATE_LAYERS

}  // namespace hpsweep
