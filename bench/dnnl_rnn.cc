// A peer figure for `hpsweep bench`: the same training step timed with oneDNN's own primitives
// (Debian's libdnnl, 2.6.3 when written), so that the engine's samples/s can be set against what
// a vendor library reaches on this machine. Built only when CMake finds oneDNN
// (bench/CMakeLists.txt).
//
// The step, at batch 128 of MNIST's shape (28 time steps of 28 features): a recurrent layer
// returning its last state -> Dense 64 tanh -> Dense 10 (logits); forward, then backward with
// the gradient of every weight and bias, no optimizer update. Inputs and the upstream gradient on
// the logits are random (no loss). Models: lstm128, gru128 (oneDNN's linear-before-reset GRU,
// which is Keras's reset_after GRU), rnn128 (SimpleRNN, tanh), lstm32, and mlp (784 -> 512 relu
// -> 512 relu -> 10). Each in f32 and bf16; bf16 keeps f32 master weights, so the reorders of
// the f32 weights into the primitives' bf16 layouts are part of every timed step (as is any f32
// reorder a primitive's chosen layout needs: the f32 RNNs' backward wants ldgoi weights, and
// LSTM-128's forward pads the ldigo rows (G*H = 512) against 4K aliasing, so its f32 weights are
// copied too), and the gradients come back in f32.
//
// Run:   ./build/bench/hpsweep_dnnl_bench [--seconds 2] [--rounds 5]
//            [--models lstm128,gru128,rnn128,lstm32,mlp] [--threads 1,2] [--quick]
// Rounds are round-robin: each round times every configuration once for --seconds, so that all
// meet the same machine load; each figure is the median of the rounds. --quick: 0.2 s x 1 round.
// It also prints the f32 and bf16 GEMM rate of oneDNN's matmul (the ceiling for this machine).
//
// After a step, every configuration's weight gradients must be finite and not all zero; if not,
// the program says which and exits 1 (the ctest DnnlBench.RunsEveryConfigurationOnce relies on
// this).
//
// Note: oneDNN 2.6's gemm-based LSTM backward returns a wrong diff_weights_iter when the initial
// state is an empty memory descriptor, so the initial states are always explicit zero memories.
// Its RNN backward also adds into diff_weights (there is no overwrite flag in 2.6), so the step
// zeroes them first, as a trainer would.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <tuple>
#include <sstream>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/cpu_info.h"
#include "oneapi/dnnl/dnnl.hpp"

namespace {

using dnnl::memory;
using dt = memory::data_type;
using tag = memory::format_tag;

constexpr int kBatch = 128, kSteps = 28, kFeatures = 28;
// How far (relative L2) bf16 gradients may be from f32 ones before the run counts as wrong: a
// wiring or layout mistake gives differences near 1 or more. The RNN models differ by about 0.5%;
// the MLP by about 6%, from its relu masks: bf16 rounding flips the sign of the ~0.3% of
// pre-activations nearest zero, and each flip moves a whole gradient entry (sqrt(0.003) ~ 5%).
constexpr double kBf16Tolerance = 0.25;

// One training step as a list of primitives, plus what it needs around them.
struct Step {
  Step(dnnl::engine e, dnnl::stream s) : eng(std::move(e)), strm(std::move(s)) {}
  dnnl::engine eng;
  dnnl::stream strm;
  std::vector<std::pair<dnnl::primitive, std::unordered_map<int, memory>>> ops;
  std::vector<memory> zero_each_step;                   // RNN diff weights (accumulated)
  std::vector<std::pair<std::string, memory>> grads;    // checked after a step
  int weight_reorders = 0;
  std::string rnn_impl;  // the RNN primitives' implementations, e.g. "brgemm/brgemm"

  void Add(dnnl::primitive p, std::unordered_map<int, memory> args) {
    ops.emplace_back(std::move(p), std::move(args));
  }
  void Run() {
    for (memory& m : zero_each_step) {
      std::memset(m.get_data_handle(), 0, m.get_desc().get_size());
    }
    for (auto& op : ops) op.first.execute(strm, op.second);
    strm.wait();
  }
};

std::mt19937& Gen() {
  static std::mt19937 gen(1);
  return gen;
}

tag PlainTag(int ndims) {
  switch (ndims) {
    case 1: return tag::a;
    case 2: return tag::ab;
    case 3: return tag::abc;
    case 4: return tag::abcd;
    default: return tag::abcde;
  }
}

// A memory of `md` filled with uniform values in [lo, hi) (zeros when lo == hi), written as plain
// f32 and reordered into md's type and layout.
memory Filled(Step& s, const memory::desc& md, float lo, float hi) {
  memory m(md, s.eng);
  const memory::dims dims = md.dims();
  memory f(memory::desc(dims, dt::f32, PlainTag(static_cast<int>(dims.size()))), s.eng);
  float* p = static_cast<float*>(f.get_data_handle());
  const size_t n = f.get_desc().get_size() / sizeof(float);
  std::uniform_real_distribution<float> u(lo, hi);
  for (size_t i = 0; i < n; ++i) p[i] = lo == hi ? lo : u(Gen());
  dnnl::reorder(f, m).execute(s.strm, f, m);
  s.strm.wait();
  return m;
}

// The weights a primitive reads: the user's f32 master copy when the primitive takes it as is,
// else a copy in the primitive's type and layout, reordered at the start of every step (the
// master weights change every step in training).
memory WeightsFor(Step& s, const memory& master, const memory::desc& want) {
  if (want == master.get_desc()) return master;
  memory m(want, s.eng);
  // Reorders go first: insert before the first non-reorder op.
  s.ops.insert(s.ops.begin() + s.weight_reorders,
               {dnnl::reorder(master, m), {{DNNL_ARG_FROM, master}, {DNNL_ARG_TO, m}}});
  ++s.weight_reorders;
  return m;
}

// A memory viewing another's buffer with a different descriptor (same bytes).
memory View(const memory& m, const memory::desc& md) {
  return memory(md, m.get_engine(), m.get_data_handle());
}

// Dense layer: inner product, with its master f32 weights (out x in) and bias.
struct Dense {
  memory src, w_master, b, dst;
  dnnl::inner_product_forward::primitive_desc fwd;
  dnnl::algorithm act = dnnl::algorithm::undef;  // eltwise after it (use_dst_for_bwd kind)
  dnnl::eltwise_forward::primitive_desc act_fwd;
  memory act_dst;
  memory out() const { return act == dnnl::algorithm::undef ? dst : act_dst; }
};

Dense DenseForward(Step& s, const memory& src, int out, dt type, dnnl::algorithm act) {
  Dense d;
  d.src = src;
  const memory::dim in = src.get_desc().dims()[1];
  d.w_master = Filled(s, memory::desc({out, in}, dt::f32, tag::ab), -0.1f, 0.1f);
  d.b = Filled(s, memory::desc({out}, dt::f32, tag::a), -0.1f, 0.1f);
  const memory::desc dst_md({kBatch, out}, type, tag::ab);
  d.fwd = dnnl::inner_product_forward::primitive_desc(
      dnnl::inner_product_forward::desc(dnnl::prop_kind::forward_training, src.get_desc(),
                                        memory::desc({out, in}, type, tag::any),
                                        d.b.get_desc(), dst_md),
      s.eng);
  memory w = WeightsFor(s, d.w_master, d.fwd.weights_desc());
  d.dst = memory(d.fwd.dst_desc(), s.eng);
  s.Add(dnnl::inner_product_forward(d.fwd), {{DNNL_ARG_SRC, src},
                                             {DNNL_ARG_WEIGHTS, w},
                                             {DNNL_ARG_BIAS, d.b},
                                             {DNNL_ARG_DST, d.dst}});
  if (act != dnnl::algorithm::undef) {
    d.act = act;
    d.act_fwd = dnnl::eltwise_forward::primitive_desc(
        dnnl::eltwise_forward::desc(dnnl::prop_kind::forward_training, act, d.dst.get_desc()),
        s.eng);
    d.act_dst = memory(d.act_fwd.dst_desc(), s.eng);
    s.Add(dnnl::eltwise_forward(d.act_fwd),
          {{DNNL_ARG_SRC, d.dst}, {DNNL_ARG_DST, d.act_dst}});
  }
  return d;
}

// Backward through a Dense layer (and its activation) given the gradient on its output; returns
// the gradient on its input (of type diff_src_type) when wanted.
memory DenseBackward(Step& s, const Dense& d, const memory& diff_out, bool want_diff_src,
                     dt diff_src_type, const std::string& name) {
  memory diff_dst = diff_out;
  if (d.act != dnnl::algorithm::undef) {
    dnnl::eltwise_backward::primitive_desc pd(
        dnnl::eltwise_backward::desc(d.act, d.dst.get_desc(), d.act_dst.get_desc()), s.eng,
        d.act_fwd);
    diff_dst = memory(pd.diff_src_desc(), s.eng);
    s.Add(dnnl::eltwise_backward(pd), {{DNNL_ARG_DST, d.act_dst},
                                       {DNNL_ARG_DIFF_DST, diff_out},
                                       {DNNL_ARG_DIFF_SRC, diff_dst}});
  }
  const memory::desc w_md = d.w_master.get_desc();
  dnnl::inner_product_backward_weights::primitive_desc bw(
      dnnl::inner_product_backward_weights::desc(d.src.get_desc(), w_md, d.b.get_desc(),
                                                 diff_dst.get_desc()),
      s.eng, d.fwd);
  memory dw(bw.diff_weights_desc(), s.eng), db(bw.diff_bias_desc(), s.eng);
  s.Add(dnnl::inner_product_backward_weights(bw), {{DNNL_ARG_SRC, d.src},
                                                   {DNNL_ARG_DIFF_DST, diff_dst},
                                                   {DNNL_ARG_DIFF_WEIGHTS, dw},
                                                   {DNNL_ARG_DIFF_BIAS, db}});
  s.grads.push_back({name + " diff_weights", dw});
  s.grads.push_back({name + " diff_bias", db});
  if (!want_diff_src) return memory();
  const memory::desc src_md = d.src.get_desc();
  dnnl::inner_product_backward_data::primitive_desc bd(
      dnnl::inner_product_backward_data::desc(
          memory::desc(src_md.dims(), diff_src_type, tag::ab),
          memory::desc(w_md.dims(), src_md.data_type(), tag::any), diff_dst.get_desc()),
      s.eng, d.fwd);
  memory w = WeightsFor(s, d.w_master, bd.weights_desc());
  memory diff_src(bd.diff_src_desc(), s.eng);
  s.Add(dnnl::inner_product_backward_data(bd), {{DNNL_ARG_DIFF_DST, diff_dst},
                                                {DNNL_ARG_WEIGHTS, w},
                                                {DNNL_ARG_DIFF_SRC, diff_src}});
  return diff_src;
}


enum class Cell { kLstm, kGru, kRnn };

// The recurrent layer's primitives and the descriptors of every memory they take.
struct RnnPds {
  dnnl::primitive fwd, bwd;
  std::string impl;
  memory::desc w_layer, w_iter, w_layer_b, w_iter_b, workspace, dst_layer, dst_iter, dst_iter_c;
  memory::desc diff_src_layer, diff_src_iter, diff_src_iter_c, diff_w_layer, diff_w_iter,
      diff_bias, diff_dst_layer, diff_dst_iter, diff_dst_iter_c;
};

template <class F, class B>
RnnPds Collect(const F& f, const B& b) {
  RnnPds r;
  r.fwd = dnnl::primitive(f);
  r.bwd = dnnl::primitive(b);
  r.impl = std::string(f.impl_info_str()) + "/" + b.impl_info_str();
  r.w_layer = f.weights_layer_desc();
  r.w_iter = f.weights_iter_desc();
  r.w_layer_b = b.weights_layer_desc();
  r.w_iter_b = b.weights_iter_desc();
  r.workspace = f.workspace_desc();
  r.dst_layer = f.dst_layer_desc();
  r.dst_iter = f.dst_iter_desc();
  r.dst_iter_c = f.dst_iter_c_desc();
  r.diff_src_layer = b.diff_src_layer_desc();
  r.diff_src_iter = b.diff_src_iter_desc();
  r.diff_src_iter_c = b.diff_src_iter_c_desc();
  r.diff_w_layer = b.diff_weights_layer_desc();
  r.diff_w_iter = b.diff_weights_iter_desc();
  r.diff_bias = b.diff_bias_desc();
  r.diff_dst_layer = b.diff_dst_layer_desc();
  r.diff_dst_iter = b.diff_dst_iter_desc();
  r.diff_dst_iter_c = b.diff_dst_iter_c_desc();
  return r;
}

// Creates the recurrent layer's forward and backward primitives. `type`: src, weights and
// outputs; `c_type`: the LSTM cell state; `diff_type`: the gradients on data (the gradients on
// weights and biases are always f32, plain ldigo / ldgo, ready for an f32 optimizer).
RnnPds MakeRnn(const dnnl::engine& eng, Cell cell, memory::dim H, dt type, dt c_type,
               dt diff_type) {
  using namespace dnnl;
  const memory::dim T = kSteps, N = kBatch, C = kFeatures;
  const memory::dim G = cell == Cell::kLstm ? 4 : cell == Cell::kGru ? 3 : 1;
  const memory::dim Gb = cell == Cell::kGru ? 4 : G;  // lbr_gru: one more bias (reset_after)
  const memory::desc src_layer({T, N, C}, type, tag::tnc), src_iter({1, 1, N, H}, type, tag::ldnc),
      src_iter_c({1, 1, N, H}, c_type, tag::ldnc),
      wl({1, 1, C, G, H}, type, tag::any), wi({1, 1, H, G, H}, type, tag::any),
      bias({1, 1, Gb, H}, dt::f32, tag::ldgo), dst_layer({T, N, H}, type, tag::tnc),
      dst_iter({1, 1, N, H}, type, tag::ldnc), dst_iter_c({1, 1, N, H}, c_type, tag::ldnc);
  const memory::desc d_src_layer({T, N, C}, diff_type, tag::tnc),
      d_src_iter({1, 1, N, H}, diff_type, tag::ldnc),
      d_src_iter_c({1, 1, N, H}, dt::f32, tag::ldnc),
      dwl({1, 1, C, G, H}, dt::f32, tag::ldigo), dwi({1, 1, H, G, H}, dt::f32, tag::ldigo),
      dbias({1, 1, Gb, H}, dt::f32, tag::ldgo), d_dst_layer({T, N, H}, diff_type, tag::tnc),
      d_dst_iter({1, 1, N, H}, diff_type, tag::ldnc),
      d_dst_iter_c({1, 1, N, H}, dt::f32, tag::ldnc);
  const auto fk = prop_kind::forward_training;
  const auto bk = prop_kind::backward;
  const auto dir = rnn_direction::unidirectional_left2right;
  switch (cell) {
    case Cell::kLstm: {
      lstm_forward::primitive_desc f(
          lstm_forward::desc(fk, dir, src_layer, src_iter, src_iter_c, wl, wi, bias, dst_layer,
                             dst_iter, dst_iter_c),
          eng);
      lstm_backward::primitive_desc b(
          lstm_backward::desc(bk, dir, src_layer, src_iter, src_iter_c, wl, wi, bias, dst_layer,
                              dst_iter, dst_iter_c, d_src_layer, d_src_iter, d_src_iter_c, dwl,
                              dwi, dbias, d_dst_layer, d_dst_iter, d_dst_iter_c),
          eng, f);
      return Collect(f, b);
    }
    case Cell::kGru: {
      lbr_gru_forward::primitive_desc f(
          lbr_gru_forward::desc(fk, dir, src_layer, src_iter, wl, wi, bias, dst_layer, dst_iter),
          eng);
      lbr_gru_backward::primitive_desc b(
          lbr_gru_backward::desc(bk, dir, src_layer, src_iter, wl, wi, bias, dst_layer, dst_iter,
                                 d_src_layer, d_src_iter, dwl, dwi, dbias, d_dst_layer,
                                 d_dst_iter),
          eng, f);
      return Collect(f, b);
    }
    case Cell::kRnn:
    default: {
      const auto act = algorithm::eltwise_tanh;
      vanilla_rnn_forward::primitive_desc f(
          vanilla_rnn_forward::desc(fk, act, dir, src_layer, src_iter, wl, wi, bias, dst_layer,
                                    dst_iter),
          eng);
      vanilla_rnn_backward::primitive_desc b(
          vanilla_rnn_backward::desc(bk, act, dir, src_layer, src_iter, wl, wi, bias, dst_layer,
                                     dst_iter, d_src_layer, d_src_iter, dwl, dwi, dbias,
                                     d_dst_layer, d_dst_iter),
          eng, f);
      return Collect(f, b);
    }
  }
}

// Tries the data-type combinations oneDNN may accept for the RNN (in bf16: cell state and data
// gradients f32 first, then bf16); throws the last error when none is.
RnnPds MakeRnnAnyTypes(const dnnl::engine& eng, Cell cell, memory::dim H, dt type) {
  std::vector<std::pair<dt, dt>> tries = {{dt::f32, dt::f32}};
  if (type != dt::f32) tries = {{dt::f32, dt::f32}, {dt::f32, type}, {type, dt::f32}, {type, type}};
  for (size_t i = 0;; ++i) {
    try {
      return MakeRnn(eng, cell, H, type, tries[i].first, tries[i].second);
    } catch (const dnnl::error&) {
      if (i + 1 == tries.size()) throw;
    }
  }
}

memory::desc Md2(memory::dim rows, memory::dim cols, dt type) {
  return memory::desc({rows, cols}, type, tag::ab);
}

// recurrent layer (last state) -> Dense 64 tanh -> Dense 10, forward and backward.
void BuildRnnModel(Step& s, Cell cell, memory::dim H, dt type) {
  const RnnPds p = MakeRnnAnyTypes(s.eng, cell, H, type);
  s.rnn_impl = p.impl;
  const memory::dim C = kFeatures, G = p.diff_w_layer.dims()[3], Gb = p.diff_bias.dims()[2];
  memory src_layer = Filled(s, memory::desc({kSteps, kBatch, C}, type, tag::tnc), 0.f, 1.f);
  memory src_iter = Filled(s, memory::desc({1, 1, kBatch, H}, type, tag::ldnc), 0.f, 0.f);
  memory wl_master = Filled(s, memory::desc({1, 1, C, G, H}, dt::f32, tag::ldigo), -0.1f, 0.1f);
  memory wi_master = Filled(s, memory::desc({1, 1, H, G, H}, dt::f32, tag::ldigo), -0.1f, 0.1f);
  memory bias = Filled(s, memory::desc({1, 1, Gb, H}, dt::f32, tag::ldgo), -0.1f, 0.1f);
  memory wl = WeightsFor(s, wl_master, p.w_layer), wi = WeightsFor(s, wi_master, p.w_iter);
  memory wl_b = WeightsFor(s, wl_master, p.w_layer_b), wi_b = WeightsFor(s, wi_master, p.w_iter_b);
  memory dst_layer(p.dst_layer, s.eng), dst_iter(p.dst_iter, s.eng), ws(p.workspace, s.eng);
  std::unordered_map<int, memory> fa = {{DNNL_ARG_SRC_LAYER, src_layer},
                                        {DNNL_ARG_SRC_ITER, src_iter},
                                        {DNNL_ARG_WEIGHTS_LAYER, wl},
                                        {DNNL_ARG_WEIGHTS_ITER, wi},
                                        {DNNL_ARG_BIAS, bias},
                                        {DNNL_ARG_DST_LAYER, dst_layer},
                                        {DNNL_ARG_DST_ITER, dst_iter},
                                        {DNNL_ARG_WORKSPACE, ws}};
  if (cell == Cell::kLstm) {
    // Explicit zeros, never an empty descriptor (see the header).
    fa[DNNL_ARG_SRC_ITER_C] = Filled(s, p.dst_iter_c, 0.f, 0.f);
    fa[DNNL_ARG_DST_ITER_C] = memory(p.dst_iter_c, s.eng);
  }
  s.Add(p.fwd, fa);

  // The last state, seen as a (batch x units) matrix, feeds the Dense layers.
  memory h = View(dst_iter, Md2(kBatch, H, type));
  Dense d1 = DenseForward(s, h, 64, type, dnnl::algorithm::eltwise_tanh_use_dst_for_bwd);
  Dense d2 = DenseForward(s, d1.out(), 10, type, dnnl::algorithm::undef);
  memory diff_logits = Filled(s, Md2(kBatch, 10, type), -1.f / kBatch, 1.f / kBatch);
  memory g = DenseBackward(s, d2, diff_logits, true, type, "dense10");
  g = DenseBackward(s, d1, g, true, p.diff_dst_iter.data_type(), "dense64");

  // The gradient reaches the RNN through its last state only; the output sequence gets zeros.
  memory dwl(p.diff_w_layer, s.eng), dwi(p.diff_w_iter, s.eng), db(p.diff_bias, s.eng);
  s.zero_each_step.insert(s.zero_each_step.end(), {dwl, dwi, db});
  const char* name = cell == Cell::kLstm ? "lstm" : cell == Cell::kGru ? "gru" : "rnn";
  s.grads.push_back({std::string(name) + " diff_weights_layer", dwl});
  s.grads.push_back({std::string(name) + " diff_weights_iter", dwi});
  s.grads.push_back({std::string(name) + " diff_bias", db});
  std::unordered_map<int, memory> ba = fa;
  ba[DNNL_ARG_WEIGHTS_LAYER] = wl_b;
  ba[DNNL_ARG_WEIGHTS_ITER] = wi_b;
  ba[DNNL_ARG_DIFF_SRC_LAYER] = memory(p.diff_src_layer, s.eng);
  ba[DNNL_ARG_DIFF_SRC_ITER] = memory(p.diff_src_iter, s.eng);
  ba[DNNL_ARG_DIFF_WEIGHTS_LAYER] = dwl;
  ba[DNNL_ARG_DIFF_WEIGHTS_ITER] = dwi;
  ba[DNNL_ARG_DIFF_BIAS] = db;
  ba[DNNL_ARG_DIFF_DST_LAYER] = Filled(s, p.diff_dst_layer, 0.f, 0.f);
  ba[DNNL_ARG_DIFF_DST_ITER] = View(g, p.diff_dst_iter);
  if (cell == Cell::kLstm) {
    ba[DNNL_ARG_DIFF_SRC_ITER_C] = memory(p.diff_src_iter_c, s.eng);
    ba[DNNL_ARG_DIFF_DST_ITER_C] = Filled(s, p.diff_dst_iter_c, 0.f, 0.f);
  }
  s.Add(p.bwd, ba);
}

// 784 -> 512 relu -> 512 relu -> 10, forward and backward.
void BuildMlp(Step& s, dt type) {
  memory x = Filled(s, Md2(kBatch, kSteps * kFeatures, type), 0.f, 1.f);
  const auto relu = dnnl::algorithm::eltwise_relu_use_dst_for_bwd;
  Dense d1 = DenseForward(s, x, 512, type, relu);
  Dense d2 = DenseForward(s, d1.out(), 512, type, relu);
  Dense d3 = DenseForward(s, d2.out(), 10, type, dnnl::algorithm::undef);
  memory diff_logits = Filled(s, Md2(kBatch, 10, type), -1.f / kBatch, 1.f / kBatch);
  memory g = DenseBackward(s, d3, diff_logits, true, type, "dense10");
  g = DenseBackward(s, d2, g, true, type, "dense512b");
  DenseBackward(s, d1, g, false, type, "dense512a");
}

// A memory's values as plain f32.
std::vector<float> ReadF32(Step& s, memory m) {
  const memory::dims dims = m.get_desc().dims();
  memory f(memory::desc(dims, dt::f32, PlainTag(static_cast<int>(dims.size()))), s.eng);
  dnnl::reorder(m, f).execute(s.strm, m, f);
  s.strm.wait();
  const float* p = static_cast<const float*>(f.get_data_handle());
  return std::vector<float>(p, p + f.get_desc().get_size() / sizeof(float));
}

// "" when every gradient is finite and not all zero; else what is wrong.
std::string CheckGrads(Step& s) {
  for (auto& [name, m] : s.grads) {
    bool nonzero = false;
    for (float x : ReadF32(s, m)) {
      if (!std::isfinite(x)) return name + " has a non-finite value";
      nonzero = nonzero || x != 0.f;
    }
    if (!nonzero) return name + " is all zero";
  }
  return "";
}

// The largest relative L2 difference between two steps' gradients (same model, same inputs and
// weights), and which gradient has it.
std::pair<double, std::string> GradDifference(Step& a, Step& b) {
  std::pair<double, std::string> worst = {0.0, ""};
  for (size_t i = 0; i < a.grads.size() && i < b.grads.size(); ++i) {
    const std::vector<float> x = ReadF32(a, a.grads[i].second), y = ReadF32(b, b.grads[i].second);
    double diff = 0, norm = 0;
    for (size_t j = 0; j < x.size() && j < y.size(); ++j) {
      diff += (double(x[j]) - y[j]) * (double(x[j]) - y[j]);
      norm += double(y[j]) * y[j];
    }
    const double rel = std::sqrt(diff / std::max(norm, 1e-300));
    if (rel >= worst.first) worst = {rel, a.grads[i].first};
  }
  return worst;
}

struct Model {
  std::string name;
  bool mlp;
  Cell cell;
  int units;
};

const std::vector<Model>& AllModels() {
  static const std::vector<Model> models = {{"lstm128", false, Cell::kLstm, 128},
                                            {"gru128", false, Cell::kGru, 128},
                                            {"rnn128", false, Cell::kRnn, 128},
                                            {"lstm32", false, Cell::kLstm, 32},
                                            {"mlp", true, Cell::kLstm, 0}};
  return models;
}

const char* IsaName(dnnl::cpu_isa isa) {
  switch (isa) {
    case dnnl::cpu_isa::sse41: return "sse41";
    case dnnl::cpu_isa::avx: return "avx";
    case dnnl::cpu_isa::avx2: return "avx2";
    case dnnl::cpu_isa::avx2_vnni: return "avx2_vnni";
    case dnnl::cpu_isa::avx512_mic: return "avx512_mic";
    case dnnl::cpu_isa::avx512_mic_4ops: return "avx512_mic_4ops";
    case dnnl::cpu_isa::avx512_core: return "avx512_core";
    case dnnl::cpu_isa::avx512_core_vnni: return "avx512_core_vnni";
    case dnnl::cpu_isa::avx512_core_bf16: return "avx512_core_bf16";
    case dnnl::cpu_isa::avx512_core_amx: return "avx512_core_amx";
    default: return "other";
  }
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Median GFLOP/s over `rounds` of an (n x n) x (n x n) matmul in `type` (f32 result), weights
// reordered once to the primitive's layout; negative when the primitive is unavailable.
double GemmRate(const dnnl::engine& eng, dnnl::stream& strm, dt type, memory::dim n,
                double seconds, int rounds) {
  try {
    dnnl::matmul::primitive_desc pd(
        dnnl::matmul::desc(Md2(n, n, type), memory::desc({n, n}, type, tag::any), Md2(n, n, dt::f32)),
        eng);
    Step s(eng, strm);
    memory a = Filled(s, Md2(n, n, type), -1.f, 1.f);
    memory b = Filled(s, pd.weights_desc(), -1.f, 1.f);
    memory c(pd.dst_desc(), eng);
    dnnl::matmul mm(pd);
    const std::unordered_map<int, memory> args = {
        {DNNL_ARG_SRC, a}, {DNNL_ARG_WEIGHTS, b}, {DNNL_ARG_DST, c}};
    mm.execute(strm, args);
    strm.wait();
    std::vector<double> rates;
    for (int r = 0; r < rounds; ++r) {
      int64_t reps = 0;
      const auto t0 = std::chrono::steady_clock::now();
      double el = 0;
      do {
        mm.execute(strm, args);
        strm.wait();
        ++reps;
        el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      } while (el < seconds);
      rates.push_back(2.0 * n * n * n * reps / el / 1e9);
    }
    return Median(rates);
  } catch (const dnnl::error&) {
    return -1;
  }
}

std::vector<std::string> Split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

// The first three fields of /proc/loadavg (load averages over 1, 5, 15 minutes), "?" when
// unreadable: 2-thread figures on a shared 2-core machine mean little under load.
std::string LoadAverage() {
  std::FILE* f = std::fopen("/proc/loadavg", "r");
  if (!f) return "?";
  double a = 0, b = 0, c = 0;
  const int n = std::fscanf(f, "%lf %lf %lf", &a, &b, &c);
  std::fclose(f);
  if (n != 3) return "?";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f %.2f %.2f", a, b, c);
  return buf;
}

int Usage() {
  std::fprintf(stderr,
               "usage: hpsweep_dnnl_bench [--seconds S] [--rounds R] [--models "
               "lstm128,gru128,rnn128,lstm32,mlp] [--threads 1,2] [--quick]\n");
  return 2;
}

// One timed configuration: a model in one data type with one thread count.
struct Config {
  const Model* model;
  dt type;
  int threads;
  std::unique_ptr<Step> step;  // null: unsupported (bf16 on a CPU without it)
  std::vector<double> rates;
  double diff = 0;  // largest relative gradient difference from the model's first f32 config
  std::string diff_where;
};

}  // namespace

int main(int argc, char** argv) {
  double seconds = 2;
  int rounds = 5;
  std::vector<std::string> model_names;
  for (const Model& m : AllModels()) model_names.push_back(m.name);
  std::vector<int> threads = {1, 2};
  bool quick = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool has_value = i + 1 < argc;
    if (a == "--seconds" && has_value) {
      seconds = std::atof(argv[++i]);
    } else if (a == "--rounds" && has_value) {
      rounds = std::atoi(argv[++i]);
    } else if (a == "--models" && has_value) {
      model_names = Split(argv[++i]);
    } else if (a == "--threads" && has_value) {
      threads.clear();
      for (const std::string& t : Split(argv[++i])) threads.push_back(std::atoi(t.c_str()));
    } else if (a == "--quick") {
      quick = true;
    } else {
      return Usage();
    }
  }
  if (quick) {
    seconds = 0.2;
    rounds = 1;
  }
  if (seconds <= 0 || rounds < 1 || model_names.empty() || threads.empty()) return Usage();
  for (int t : threads) {
    if (t < 1) return Usage();
  }
  std::vector<const Model*> models;
  for (const std::string& name : model_names) {
    auto it = std::find_if(AllModels().begin(), AllModels().end(),
                           [&](const Model& m) { return m.name == name; });
    if (it == AllModels().end()) {
      std::fprintf(stderr, "unknown model '%s'\n", name.c_str());
      return Usage();
    }
    models.push_back(&*it);
  }

  const dnnl_version_t* v = dnnl_version();
  std::printf("cpu: %s; oneDNN %d.%d.%d (%s); ISA: %s\n", hpsweep::CpuSummary().c_str(),
              v->major, v->minor, v->patch, v->hash, IsaName(dnnl::get_effective_cpu_isa()));
  std::printf("step: batch %d, %d steps x %d features; forward + backward with every weight "
              "gradient, no update. bf16: f32 master weights, their reorders to bf16 timed in "
              "every step; gradients in f32.\n",
              kBatch, kSteps, kFeatures);
  std::printf("load average at start: %s\n", LoadAverage().c_str());

  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  dnnl::stream strm(eng);
  std::vector<Config> configs;
  int failures = 0;
  for (const Model* m : models) {
    for (dt type : {dt::f32, dt::bf16}) {
      for (int t : threads) {
        Config c{m, type, t, std::make_unique<Step>(eng, strm), {}, 0, ""};
        omp_set_num_threads(t);
        Gen().seed(1);  // every configuration of a model gets the same inputs and weights
        try {
          if (m->mlp) {
            BuildMlp(*c.step, type);
          } else {
            BuildRnnModel(*c.step, m->cell, m->units, type);
          }
          for (int i = 0; i < 2; ++i) c.step->Run();  // warm-up
        } catch (const dnnl::error& e) {
          if (type == dt::f32) {
            std::fprintf(stderr, "%s f32: oneDNN error: %s\n", m->name.c_str(), e.what());
            return 1;
          }
          c.step.reset();
        }
        if (c.step) {
          const std::string bad = CheckGrads(*c.step);
          if (!bad.empty()) {
            std::fprintf(stderr, "%s %s %d thread(s): %s\n", m->name.c_str(),
                         type == dt::f32 ? "f32" : "bf16", t, bad.c_str());
            ++failures;
          }
        }
        configs.push_back(std::move(c));
      }
    }
  }
  if (failures > 0) return 1;
  // The same model's configurations saw the same inputs and weights: their gradients must agree
  // (to rounding in f32 across thread counts, to bf16's precision in bf16).
  for (Config& c : configs) {
    Config* ref = nullptr;
    for (Config& r : configs) {
      if (r.model == c.model && r.type == dt::f32 && r.step && !ref) ref = &r;
    }
    if (!c.step || !ref || ref == &c) continue;
    std::tie(c.diff, c.diff_where) = GradDifference(*c.step, *ref->step);
    const double limit = c.type == dt::f32 ? 1e-4 : kBf16Tolerance;
    if (!(c.diff <= limit)) {
      std::fprintf(stderr, "%s %s %d thread(s): gradients differ from f32 with %d thread(s) by %.3g "
                   "(relative, %s); more than %.3g\n", c.model->name.c_str(),
                   c.type == dt::f32 ? "f32" : "bf16", c.threads, ref->threads, c.diff,
                   c.diff_where.c_str(), limit);
      ++failures;
    }
  }
  if (failures > 0) return 1;

  for (int r = 0; r < rounds; ++r) {
    for (Config& c : configs) {
      if (!c.step) continue;
      omp_set_num_threads(c.threads);
      int64_t steps = 0;
      const auto t0 = std::chrono::steady_clock::now();
      double el = 0;
      do {
        c.step->Run();
        ++steps;
        el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      } while (el < seconds);
      c.rates.push_back(static_cast<double>(steps) * kBatch / el);
    }
  }

  std::printf("\nsamples/s, median of %d round(s) of %.1f s (round-robin over configurations); "
              "load average at end: %s\n\n",
              rounds, seconds, LoadAverage().c_str());
  std::printf("| model | dtype |");
  for (int t : threads) std::printf(" %d thread%s samples/s |", t, t == 1 ? "" : "s");
  std::printf("\n|---|---|");
  for (size_t i = 0; i < threads.size(); ++i) std::printf("---:|");
  std::printf("\n");
  for (size_t i = 0; i < configs.size(); i += threads.size()) {
    const Config& first = configs[i];
    std::printf("| %s | %s |", first.model->name.c_str(), first.type == dt::f32 ? "f32" : "bf16");
    for (size_t j = 0; j < threads.size(); ++j) {
      const Config& c = configs[i + j];
      if (c.step) {
        std::printf(" %.0f |", Median(c.rates));
      } else {
        std::printf(" bf16: unsupported on this CPU |");
      }
    }
    std::printf("\n");
  }

  std::printf("\nper configuration: samples/s of the slowest and fastest round, the RNN's "
              "implementations (forward/backward), weight reorders per step, largest relative L2 "
              "difference of the gradients from the first f32 configuration (same inputs and "
              "weights)\n");
  for (const Config& c : configs) {
    std::printf("  %-8s %-4s %d thread%s: ", c.model->name.c_str(),
                c.type == dt::f32 ? "f32" : "bf16", c.threads, c.threads == 1 ? " " : "s");
    if (!c.step) {
      std::printf("bf16: unsupported on this CPU\n");
      continue;
    }
    std::printf("%.0f..%.0f, ", *std::min_element(c.rates.begin(), c.rates.end()),
                *std::max_element(c.rates.begin(), c.rates.end()));
    if (!c.step->rnn_impl.empty()) std::printf("rnn %s, ", c.step->rnn_impl.c_str());
    std::printf("%d weight reorders", c.step->weight_reorders);
    if (!c.diff_where.empty()) std::printf(", gradients differ by %.2g (%s)", c.diff, c.diff_where.c_str());
    std::printf("\n");
  }

  // The ceiling: a large matmul (smaller and shorter with --quick).
  const memory::dim n = quick ? 512 : 2048;
  const double gemm_seconds = std::min(seconds, 1.0);
  std::printf("\n");
  for (dt type : {dt::f32, dt::bf16}) {
    std::printf("%s GEMM peak (oneDNN matmul %lld^3, GFLOP/s):", type == dt::f32 ? "f32" : "bf16",
                static_cast<long long>(n));
    for (int t : threads) {
      omp_set_num_threads(t);
      const double g = GemmRate(eng, strm, type, n, gemm_seconds, rounds);
      if (g < 0) {
        std::printf(" %s", type == dt::bf16 ? "bf16: unsupported on this CPU" : "unavailable");
        break;
      }
      std::printf(" %.1f (%d thread%s)", g, t, t == 1 ? "" : "s");
    }
    std::printf("\n");
  }

  // The timed steps must still compute finite, non-zero gradients.
  for (Config& c : configs) {
    if (!c.step) continue;
    const std::string bad = CheckGrads(*c.step);
    if (!bad.empty()) {
      std::fprintf(stderr, "%s after timing: %s\n", c.model->name.c_str(), bad.c_str());
      ++failures;
    }
  }
  return failures > 0 ? 1 : 0;
}
