#include "engine/gemm.h"

#include <Eigen/Core>
#include <algorithm>
#include <cassert>
#include <cstdlib>
#include <cstring>
#include <type_traits>

#if defined(__x86_64__)
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "engine/tensor.h"

namespace hpsweep {

namespace {

template <typename T>
using StridedMap = Eigen::Map<Mat<T>, 0, Eigen::OuterStride<>>;
template <typename T>
using ConstStridedMap = Eigen::Map<const Mat<T>, 0, Eigen::OuterStride<>>;

template <typename T>
ConstStridedMap<T> View(const T* m, int64_t rows, int64_t cols, int64_t ld) {
  return ConstStridedMap<T>(m, rows, cols, Eigen::OuterStride<>(ld));
}

int64_t RoundUp16(int64_t n) { return (n + 15) / 16 * 16; }

// Zero pair rows after an operand's last one: the AMX kernel reads K in whole tiles of 16 pairs.
constexpr int64_t kPadPairRows = 16;

// out[c * out_ld + r] = in[r * in_ld + c] for r < rows, c < cols (32-bit values), in 16 x 16
// tiles: through AVX-512 registers (fp32::Transpose) wherever a caller here runs (our fp32 kernel
// or bf16: both mean avx512f), else one value at a time.
template <typename V>
void Transpose(const V* in, int64_t in_ld, int64_t rows, int64_t cols, V* out, int64_t out_ld) {
  static_assert(sizeof(V) == 4, "32-bit values");
  if (Fp32KernelSupported() || Bf16Supported()) {
    fp32::Transpose(reinterpret_cast<const uint32_t*>(in), in_ld, rows, cols,
                    reinterpret_cast<uint32_t*>(out), out_ld);
    return;
  }
  constexpr int64_t kTile = 16;
  for (int64_t r0 = 0; r0 < rows; r0 += kTile) {
    for (int64_t c0 = 0; c0 < cols; c0 += kTile) {
      const int64_t r1 = std::min(rows, r0 + kTile), c1 = std::min(cols, c0 + kTile);
      for (int64_t c = c0; c < c1; ++c) {
        for (int64_t r = r0; r < r1; ++r) out[c * out_ld + r] = in[r * in_ld + c];
      }
    }
  }
}

bool EnvSaysOff(const char* name) {
  const char* off = std::getenv(name);
  return off != nullptr && off[0] != '\0' && std::strcmp(off, "0") != 0;
}

// c (M, N) = [c +] a · b for an fp32 (or double) b, however it is stored.
template <typename T, typename A>
void EigenMul(const A& a, const Operand<T>& b, T* c, int64_t ldc, bool accumulate) {
  StridedMap<T> out(c, a.rows(), b.N(), Eigen::OuterStride<>(ldc));
  if (b.panel_stride() > 0) {
    // m^T copied into panels for our kernel, multiplied here because a test chose Eigen's: the
    // panels put back side by side, then Eigen's product of a plain (K, N) matrix.
    Mat<T> plain(b.K(), b.N());
    for (int64_t n0 = 0; n0 < b.N(); n0 += b.ld()) {
      const int64_t cols = std::min<int64_t>(b.ld(), b.N() - n0);
      const T* panel = b.matrix() + n0 / b.ld() * b.panel_stride();
      plain.middleCols(n0, cols) = View(panel, b.K(), cols, b.ld());
    }
    if (accumulate) {
      out.noalias() += a * plain;
    } else {
      out.noalias() = a * plain;
    }
    return;
  }
  if (b.transposed()) {
    auto bm = View(b.matrix(), b.N(), b.K(), b.ld()).transpose();
    if (accumulate) {
      out.noalias() += a * bm;
    } else {
      out.noalias() = a * bm;
    }
  } else {
    auto bm = View(b.matrix(), b.K(), b.N(), b.ld());
    if (accumulate) {
      out.noalias() += a * bm;
    } else {
      out.noalias() = a * bm;
    }
  }
}

}  // namespace

bool Bf16Supported() {
  static const bool supported = [] {
#if defined(__x86_64__)
    if (EnvSaysOff("HPSWEEP_DISABLE_BF16")) return false;
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bf16");
#else
    return false;
#endif
  }();
  return supported;
}

bool AmxSupported() {
  static const bool supported = [] {
#if defined(__x86_64__)
    if (!Bf16Supported() || EnvSaysOff("HPSWEEP_DISABLE_AMX")) return false;
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    if (__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) == 0) return false;
    const bool amx_bf16 = (edx >> 22) & 1u, amx_tile = (edx >> 24) & 1u;
    if (!amx_bf16 || !amx_tile) return false;
    // Linux hands out the tile state (8 KB a thread) only to a process that asks for it:
    // ARCH_REQ_XCOMP_PERM (0x1023) for XFEATURE_XTILEDATA (18). Without it, SIGILL.
    return syscall(SYS_arch_prctl, 0x1023, 18) == 0;
#else
    return false;
#endif
  }();
  return supported;
}

bool Fp32KernelSupported() {
  static const bool supported = [] {
#if defined(__x86_64__)
    if (EnvSaysOff("HPSWEEP_FP32_EIGEN")) return false;
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") != 0;
#else
    return false;
#endif
  }();
  return supported;
}

Fp32Kernel DefaultFp32Kernel() {
  return Fp32KernelSupported() ? Fp32Kernel::kAvx512 : Fp32Kernel::kEigen;
}

Bf16Kernel DefaultBf16Kernel() { return AmxSupported() ? Bf16Kernel::kAmx : Bf16Kernel::kAvx512; }

std::string Bf16Description() {
  if (AmxSupported()) return "bf16 (amx_bf16)";
  return Bf16Supported() ? "bf16 (avx512_bf16)" : "fp32 only (no avx512_bf16 on this CPU)";
}

uint16_t ToBf16(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  if ((bits & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<uint16_t>((bits >> 16) | 0x40);
  bits += 0x7FFFu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}

float FromBf16(uint16_t b) {
  const uint32_t bits = static_cast<uint32_t>(b) << 16;
  float x;
  std::memcpy(&x, &bits, sizeof x);
  return x;
}

template <typename T>
void Operand<T>::Set(Precision p, const T* m, int64_t ld, int K, int N, bool transposed) {
  Reserve(p, m, ld, K, N);
  transposed_ = transposed;
  if constexpr (std::is_same_v<T, float>) {
    if (p == Precision::kFp32 && transposed && Fp32KernelSupported()) {
      // Our kernel reads B by rows of K: m^T copied into panels of 64 columns, each (K, 64).
      constexpr int64_t kWidth = PairPanels::kWidth;  // the kernel's 4 vectors of 16
      fp32_panel_stride_ = static_cast<int64_t>(K) * kWidth;
      copy_.resize(static_cast<size_t>((N + kWidth - 1) / kWidth * fp32_panel_stride_));
      for (int64_t n0 = 0; n0 < N; n0 += kWidth) {  // m's rows [n0, n0 + 64): a panel's columns
        Transpose(m + n0 * ld, ld, std::min<int64_t>(kWidth, N - n0), K,
                  copy_.data() + n0 / kWidth * fp32_panel_stride_, kWidth);
      }
      m_ = copy_.data();
      ld_ = kWidth;
      transposed_ = false;
      return;
    }
  }
  if (p != Precision::kBf16) return;
  if (!transposed) {
    PackRows(0, K);
    return;
  }
  if constexpr (std::is_same_v<T, float>) {
    // m is (N, K): each of its rows rounded is a column of pairs; move them into pair rows.
    const int kpairs = (K + 1) / 2;
    rows_.resize(static_cast<size_t>(N) * kpairs * 2);  // kept: no allocation per backward pass
    bf16::ConvertRows(m, ld, N, K, rows_.data(), kpairs * 2);
    const uint32_t* in = reinterpret_cast<const uint32_t*>(rows_.data());
    // Panel by panel: its columns are rows [n0, n0 + width) of m; past N, zero.
    for (int64_t n0 = 0; n0 < n_padded_; n0 += width_) {
      uint32_t* out = reinterpret_cast<uint32_t*>(packed_.data() + n0 / width_ * panel_stride_);
      const int64_t cols = std::clamp<int64_t>(N - n0, 0, width_);
      Transpose(in + n0 * kpairs, kpairs, cols, kpairs, out, width_);
      for (int k = 0; k < kpairs && cols < width_; ++k) {
        std::fill(out + k * width_ + cols, out + (k + 1) * width_, 0u);
      }
    }
  }
}

template <typename T>
void Operand<T>::Reserve(Precision p, const T* m, int64_t ld, int K, int N) {
  fp32_panel_stride_ = 0;
  precision_ = p;
  m_ = m;
  ld_ = ld;
  K_ = K;
  N_ = N;
  transposed_ = false;
  if (p != Precision::kBf16) return;
  assert((std::is_same_v<T, float>));
  constexpr int64_t kWidth = PairPanels::kWidth;
  n_padded_ = N > kWidth ? (N + kWidth - 1) / kWidth * kWidth : RoundUp16(N);
  width_ = std::min(kWidth, n_padded_);
  const int64_t kpairs = (K + 1) / 2;
  panel_stride_ = (kpairs + kPadPairRows) * width_ * 2;
  packed_.resize(static_cast<size_t>(n_padded_ / width_ * panel_stride_));
  for (auto panel = packed_.begin(); panel != packed_.end(); panel += panel_stride_) {
    std::fill(panel + kpairs * width_ * 2, panel + panel_stride_, uint16_t{0});  // the pad rows
  }
  packed_ptr_ = packed_.data();
}

template <typename T>
void Operand<T>::PackRows(int first, int count) {
  assert(first % 2 == 0 && first + count <= K_ && (count % 2 == 0 || first + count == K_));
  if constexpr (std::is_same_v<T, float>) {
    if (precision_ != Precision::kBf16) return;
    bf16::PackRowPairs(m_ + first * ld_, ld_, count, N_, n_padded_, width_, panel_stride_,
                       packed_.data() + static_cast<int64_t>(first / 2) * width_ * 2);
  }
}

template <typename T>
void Operand<T>::SetRows(const Operand& whole, int first) {
  assert(first % 2 == 0 && !whole.transposed_ && first <= whole.K_ &&
         whole.fp32_panel_stride_ == 0);
  fp32_panel_stride_ = 0;
  precision_ = whole.precision_;
  m_ = whole.m_ + first * whole.ld_;
  ld_ = whole.ld_;
  K_ = whole.K_ - first;
  N_ = whole.N_;
  transposed_ = false;
  n_padded_ = whole.n_padded_;
  width_ = whole.width_;
  panel_stride_ = whole.panel_stride_;
  packed_ptr_ = whole.packed_ptr_ == nullptr
                    ? nullptr
                    : whole.packed_ptr_ + static_cast<int64_t>(first / 2) * width_ * 2;
}

template <typename T>
void Gemm<T>::MulBf16(const T* a, int64_t lda, int M, const Operand<T>& b, T* c, int64_t ldc,
                      bool accumulate, const T* bias) {
  if constexpr (std::is_same_v<T, float>) {
    assert(b.precision() == Precision::kBf16);
    const int kpairs = (b.K() + 1) / 2;
    if (kernel_ == Bf16Kernel::kAmx) {
      // a rounded into rows of whole tiles: pairs and rows padded with zeros to 16.
      const int64_t a_ld = RoundUp16(kpairs), rows = RoundUp16(M);
      a_tiles_.resize(static_cast<size_t>(rows * a_ld));
      uint16_t* out = reinterpret_cast<uint16_t*>(a_tiles_.data());
      bf16::ConvertRows(a, lda, M, b.K(), out, a_ld * 2);
      std::fill(a_tiles_.begin() + M * a_ld, a_tiles_.end(), 0u);
      MulAmx(a_ld, M, b, c, ldc, accumulate, bias);
      return;
    }
    a_bf16_.resize(static_cast<size_t>(M) * kpairs * 2);
    bf16::ConvertRows(a, lda, M, b.K(), a_bf16_.data(), kpairs * 2);
    bf16::Gemm(reinterpret_cast<const uint32_t*>(a_bf16_.data()), kpairs, 1, M, kpairs, b.pairs(),
               b.N(), c, ldc, accumulate, bias);
  }
}

template <typename T>
void Gemm<T>::MulAmx(int64_t a_ld, int M, const Operand<T>& b, T* c, int64_t ldc, bool accumulate,
                     const T* bias) {
  if constexpr (std::is_same_v<T, float>) {
    amx::Gemm(a_tiles_.data(), a_ld, M, (b.K() + 1) / 2, b.pairs(), b.N(), c, ldc, accumulate,
              bias);
  }
}

template <typename T>
void Gemm<T>::Mul(const T* a, int64_t lda, int M, const Operand<T>& b, T* c, int64_t ldc,
                  bool accumulate) {
  if constexpr (std::is_same_v<T, float>) {
    if (precision_ == Precision::kBf16) {
      MulBf16(a, lda, M, b, c, ldc, accumulate, nullptr);
      return;
    }
    if (fp32_kernel_ == Fp32Kernel::kAvx512 && !b.transposed()) {
      fp32::Gemm(a, lda, 1, M, b.K(), b.matrix(), b.ld(), b.N(), c, ldc, accumulate, nullptr,
                 b.panel_stride());
      return;
    }
  }
  EigenMul(View(a, M, b.K(), lda), b, c, ldc, accumulate);
}

template <typename T>
void Gemm<T>::MulAddBias(const T* a, int64_t lda, int M, const Operand<T>& b, const T* bias, T* c,
                         int64_t ldc) {
  if constexpr (std::is_same_v<T, float>) {
    if (precision_ == Precision::kBf16) {
      MulBf16(a, lda, M, b, c, ldc, false, bias);
      return;
    }
    // Our kernel: the sums start at the bias.
    if (fp32_kernel_ == Fp32Kernel::kAvx512 && !b.transposed()) {
      fp32::Gemm(a, lda, 1, M, b.K(), b.matrix(), b.ld(), b.N(), c, ldc, false, bias,
                 b.panel_stride());
      return;
    }
  }
  // fp32: the product, then the bias (as the layers always did: the same bits).
  EigenMul(View(a, M, b.K(), lda), b, c, ldc, false);
  StridedMap<T>(c, M, b.N(), Eigen::OuterStride<>(ldc)).rowwise() +=
      Eigen::Map<const RowVec<T>>(bias, b.N());
}

template <typename T>
void Gemm<T>::MulTransA(const Operand<T>& a, const Operand<T>& b, T* c, int64_t ldc,
                        bool accumulate) {
  assert(a.K() == b.K() && !a.transposed() && a.panel_stride() == 0);
  if constexpr (std::is_same_v<T, float>) {
    if (precision_ == Precision::kBf16) {
      assert(a.precision() == Precision::kBf16 && b.precision() == Precision::kBf16);
      if (kernel_ == Bf16Kernel::kAmx) {
        // a's pair rows (kp, m) moved into rows of pairs (m, kp), panel by panel; its zero
        // columns past N and its zero pair rows past K fill the padding.
        const int kpairs = (a.K() + 1) / 2;
        const int64_t a_ld = RoundUp16(kpairs), rows = a.N_padded();
        const PairPanels ap = a.pairs();
        a_tiles_.resize(static_cast<size_t>(rows * a_ld));
        for (int64_t m0 = 0; m0 < rows; m0 += ap.width) {
          Transpose(reinterpret_cast<const uint32_t*>(ap.Panel(m0)), ap.width, a_ld, ap.width,
                    a_tiles_.data() + m0 * a_ld, a_ld);
        }
        MulAmx(a_ld, a.N(), b, c, ldc, accumulate, nullptr);
        return;
      }
      // One call per panel of a: a block of rows of C reads its pairs within one panel.
      const PairPanels ap = a.pairs();
      for (int m0 = 0; m0 < a.N(); m0 += static_cast<int>(ap.width)) {
        bf16::Gemm(reinterpret_cast<const uint32_t*>(ap.Panel(m0)), 1, ap.width,
                   std::min<int>(static_cast<int>(ap.width), a.N() - m0), (a.K() + 1) / 2,
                   b.pairs(), b.N(), c + m0 * ldc, ldc, accumulate);
      }
      return;
    }
    if (fp32_kernel_ == Fp32Kernel::kAvx512 && !b.transposed()) {
      fp32::Gemm(a.matrix(), 1, a.ld(), a.N(), a.K(), b.matrix(), b.ld(), b.N(), c, ldc,
                 accumulate, nullptr, b.panel_stride());
      return;
    }
  }
  EigenMul(View(a.matrix(), a.K(), a.N(), a.ld()).transpose(), b, c, ldc, accumulate);
}

template class Operand<float>;
template class Operand<double>;
template class Gemm<float>;
template class Gemm<double>;

}  // namespace hpsweep
