// The fp32 kernel (engine/gemm.h, fp32::Gemm): C = [C +] A·B with AVX-512 FMA, in the frame of
// the bf16 vector kernel (gemm_bf16.cc). Every function here carries its own target attribute, so
// the rest of the program is built for any x86-64 and this runs only where Fp32KernelSupported()
// said yes. No standard-library template is used here (see gemm_bf16.cc).
//
// The micro-kernel keeps an MR x (16*NV) block of C in registers (6 x 64 at most: 24 of the 32
// zmm registers) for a chunk of K: per row k of B it loads NV vectors of B (16 columns each),
// broadcasts A's value of each row and issues MR*NV FMAs. B is read where it lies, (K, N) row by
// row, so nothing is packed. For A·B, panels of 64 columns go left to right and within one,
// blocks of 6 rows top to bottom, so the panel's chunk of B stays in L1 across them; for A^T·B
// (the weight gradients, A's rows across K) the row blocks go outside instead. Each element of C is
// a sum in the order k = 0, 1, ..., K-1 started from C, the bias or zero: the same bits run after
// run.
#include "engine/gemm.h"

#if defined(__x86_64__)
#include <immintrin.h>

#include "engine/gemm_kernel.h"

#define HPSWEEP_FP32_TARGET __attribute__((target("avx512f,fma")))

namespace hpsweep {
namespace fp32 {
namespace {

using kernel::kMaxRows;
using kernel::kMaxVectors;
using kernel::TailMask;
// Rows of K summed per pass: A·B keeps a panel's chunk of B (128 x 64 floats, 32 KB) in L1 across
// the row blocks; A^T·B keeps a row block's chunk of A (256 cache lines, 16 KB) there.
constexpr int kChunk = 128;
constexpr int kChunkTransA = 256;
// Columns of a block, and of a panel of a transposed operand (Operand::panel_stride()).
constexpr int64_t kPanel = 16 * kMaxVectors;
static_assert(kPanel == PairPanels::kWidth, "Operand packs fp32 panels of PairPanels::kWidth");

// c (MR, 16*NV, the last vector `last_valid` columns wide) = [c | bias | 0] + A·B over K rows,
// A's value (m, k) at a[m*a_m + k*a_k], B's row k at b + k*ldb.
template <int MR, int NV>
HPSWEEP_FP32_TARGET void Kernel(const float* a, int64_t a_m, int64_t a_k, const float* b,
                                int64_t ldb, int K, float* c, int64_t ldc, int last_valid,
                                bool accumulate, const float* bias) {
  __m512 acc[MR][NV];
  const __mmask16 tail = TailMask(last_valid);
  kernel::StartBlock<MR, NV>(acc, c, ldc, tail, accumulate, bias);
  for (int k = 0; k < K; ++k) {
    const float* bk = b + k * ldb;
    __m512 bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      bv[v] = v == NV - 1 ? _mm512_maskz_loadu_ps(tail, bk + v * 16) : _mm512_loadu_ps(bk + v * 16);
    }
    const float* ak = a + k * a_k;
#pragma GCC unroll 6
    for (int r = 0; r < MR; ++r) {
      const __m512 av = _mm512_set1_ps(ak[r * a_m]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_fmadd_ps(av, bv[v], acc[r][v]);
    }
  }
  kernel::StoreBlock<MR, NV>(acc, c, ldc, tail);
}

using KernelFn = void (*)(const float*, int64_t, int64_t, const float*, int64_t, int, float*,
                          int64_t, int, bool, const float*);

HPSWEEP_KERNEL_TABLE(KernelFn, Kernel);

}  // namespace

HPSWEEP_FP32_TARGET void Gemm(const float* a, int64_t a_m, int64_t a_k, int M, int K,
                              const float* b, int64_t ldb, int N, float* c, int64_t ldc,
                              bool accumulate, const float* bias, int64_t b_panel_stride) {
  // One block: rows [m0, m0 + mr) by the 64-column panel at n0, over K rows [k0, k0 + kn).
  auto block = [&](int m0, int mr, int n0, int k0, int kn) {
    const int cols = N - n0 < 16 * kMaxVectors ? N - n0 : 16 * kMaxVectors;
    const int nv = (cols + 15) / 16;
    const bool add = accumulate || k0 > 0;
    const float* bias_n0 = bias != nullptr && !add ? bias + n0 : nullptr;
    // B's rows [k0, ...) of the panel's columns: within a panel (rows kPanel apart), or in place.
    const int64_t bld = b_panel_stride > 0 ? kPanel : ldb;
    const float* bk = b_panel_stride > 0 ? b + n0 / kPanel * b_panel_stride + k0 * bld
                                         : b + k0 * ldb + n0;
    kKernels[mr - 1][nv - 1](a + m0 * a_m + k0 * a_k, a_m, a_k, bk, bld, kn, c + m0 * ldc + n0,
                             ldc, cols - (nv - 1) * 16, add, bias_n0);
  };
  // The sum over K in chunks; C carries it from one chunk to the next.
  const bool trans_a = a_m == 1 && a_k != 1;
  const int chunk = trans_a ? kChunkTransA : kChunk;
  for (int k0 = 0; k0 < K || k0 == 0; k0 += chunk) {
    const int kn = K - k0 < chunk ? K - k0 : chunk;
    if (trans_a) {
      // A^T·B (weight gradients): A's values for a block of rows lie across K's rows, one cache
      // line each; blocks of rows go outside, so those lines stay in L1 across the panels.
      for (int m0 = 0; m0 < M;) {
        const int mr = kernel::RowsOfBlock(M - m0);  // blocks of 6, the last two 4 + 3/4
        for (int n0 = 0; n0 < N; n0 += 16 * kMaxVectors) block(m0, mr, n0, k0, kn);
        m0 += mr;
      }
    } else {
      // A·B: panels go outside, so the panel's chunk of B stays in cache across the row blocks.
      for (int n0 = 0; n0 < N; n0 += 16 * kMaxVectors) {
        for (int m0 = 0; m0 < M;) {
          const int mr = kernel::RowsOfBlock(M - m0);
          block(m0, mr, n0, k0, kn);
          m0 += mr;
        }
      }
    }
    if (K == 0) break;
  }
}

namespace {

// GCC 12's unpack and shuffle intrinsics start their (unused) merge operand from
// _mm512_undefined_epi32(), which -Wuninitialized (and -Wmaybe-uninitialized, at -O2) reports
// once they are inlined here.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

// One tile: out[c * out_ld + r] = in[r * in_ld + c] for r < rows, c < cols (both at most 16), the
// 16 rows in registers, transposed by three rounds of shuffles (pairs of 32 bits, then of 64,
// then 128-bit lanes twice).
HPSWEEP_FP32_TARGET void TransposeTile(const uint32_t* in, int64_t in_ld, int rows, int cols,
                                       uint32_t* out, int64_t out_ld) {
  const __mmask16 in_mask = TailMask(cols), out_mask = TailMask(rows);
  __m512i r[16], t[16];
#pragma GCC unroll 16
  for (int i = 0; i < 16; ++i) {
    r[i] = i < rows ? _mm512_maskz_loadu_epi32(in_mask, in + i * in_ld) : _mm512_setzero_si512();
  }
#pragma GCC unroll 8
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
  }
#pragma GCC unroll 4
  for (int i = 0; i < 16; i += 4) {
    r[i] = _mm512_unpacklo_epi64(t[i], t[i + 2]);
    r[i + 1] = _mm512_unpackhi_epi64(t[i], t[i + 2]);
    r[i + 2] = _mm512_unpacklo_epi64(t[i + 1], t[i + 3]);
    r[i + 3] = _mm512_unpackhi_epi64(t[i + 1], t[i + 3]);
  }
#pragma GCC unroll 4
  for (int i = 0; i < 4; ++i) {
    t[i] = _mm512_shuffle_i32x4(r[i], r[i + 4], 0x88);
    t[i + 4] = _mm512_shuffle_i32x4(r[i], r[i + 4], 0xdd);
    t[i + 8] = _mm512_shuffle_i32x4(r[i + 8], r[i + 12], 0x88);
    t[i + 12] = _mm512_shuffle_i32x4(r[i + 8], r[i + 12], 0xdd);
  }
#pragma GCC unroll 8
  for (int i = 0; i < 8; ++i) {
    r[i] = _mm512_shuffle_i32x4(t[i], t[i + 8], 0x88);
    r[i + 8] = _mm512_shuffle_i32x4(t[i], t[i + 8], 0xdd);
  }
#pragma GCC unroll 16
  for (int i = 0; i < 16; ++i) {
    if (i < cols) _mm512_mask_storeu_epi32(out + i * out_ld, out_mask, r[i]);
  }
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

}  // namespace

HPSWEEP_FP32_TARGET void Transpose(const uint32_t* in, int64_t in_ld, int64_t rows, int64_t cols,
                                   uint32_t* out, int64_t out_ld) {
  for (int64_t r0 = 0; r0 < rows; r0 += 16) {
    for (int64_t c0 = 0; c0 < cols; c0 += 16) {
      TransposeTile(in + r0 * in_ld + c0, in_ld, static_cast<int>(rows - r0 < 16 ? rows - r0 : 16),
                    static_cast<int>(cols - c0 < 16 ? cols - c0 : 16), out + c0 * out_ld + r0,
                    out_ld);
    }
  }
}

}  // namespace fp32
}  // namespace hpsweep

#else  // not x86-64: Fp32KernelSupported() is false, so this is never called.

namespace hpsweep {
namespace fp32 {
void Gemm(const float*, int64_t, int64_t, int, int, const float*, int64_t, int, float*, int64_t,
          bool, const float*, int64_t) {}
void Transpose(const uint32_t*, int64_t, int64_t, int64_t, uint32_t*, int64_t) {}
}  // namespace fp32
}  // namespace hpsweep

#endif
