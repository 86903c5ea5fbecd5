// The bf16 kernels (engine/gemm.h): AVX-512 BF16 `vdpbf16ps` micro-kernels and the packing that
// feeds them. Every function that uses AVX-512 carries its own target attribute, so the rest of
// the program is built for any x86-64 and these run only where Bf16Supported() said yes. No
// standard-library template is used here: an inline function instantiated in this file with
// AVX-512 enabled could be the copy the linker keeps for everyone.
//
// The micro-kernel keeps an MR x (16*NV) block of C in registers (6 x 64 at most: 24 of the 32
// zmm registers) for the whole sum over K: per pair of K it loads NV vectors of B (16 columns x 2
// values each), broadcasts one pair of A per row, and issues MR*NV vdpbf16ps. C is read (to add
// to it) and written once. Panels of 64 columns go left to right; within one, blocks of 6 rows go
// top to bottom, so the panel of B (K x 64 bf16: 16 KB for K = 128, contiguous in the operand's
// PairPanels layout) stays in L1 across them.
#include "engine/gemm.h"

#if defined(__x86_64__)
#include <immintrin.h>

#include "engine/gemm_kernel.h"

#define HPSWEEP_BF16_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

namespace hpsweep {
namespace bf16 {
namespace {

using kernel::kMaxRows;
using kernel::kMaxVectors;
using kernel::TailMask;
constexpr int kChunkPairs = 256;  // pairs of K summed per pass over a panel (K = 512)

// c (MR, 16*NV, the last vector `last_valid` columns wide) = [c | bias] + A·B over `kpairs`
// pairs: C's own values when accumulating, else the bias row (16*NV values) or zero.
template <int MR, int NV>
HPSWEEP_BF16_TARGET void Kernel(const uint32_t* a, int64_t a_m, int64_t a_k, const uint16_t* b,
                                int64_t b_k, int kpairs, float* c, int64_t ldc, int last_valid,
                                bool accumulate, const float* bias) {
  __m512 acc[MR][NV];
  const __mmask16 tail = TailMask(last_valid);
  kernel::StartBlock<MR, NV>(acc, c, ldc, tail, accumulate, bias);
  for (int kp = 0; kp < kpairs; ++kp) {
    const uint16_t* bk = b + kp * b_k;
    __m512bh bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) bv[v] = (__m512bh)_mm512_loadu_si512(bk + v * 32);
    const uint32_t* ak = a + kp * a_k;
#pragma GCC unroll 6
    for (int r = 0; r < MR; ++r) {
      const __m512bh av = (__m512bh)_mm512_set1_epi32(static_cast<int>(ak[r * a_m]));
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_dpbf16_ps(acc[r][v], av, bv[v]);
    }
  }
  kernel::StoreBlock<MR, NV>(acc, c, ldc, tail);
}

using KernelFn = void (*)(const uint32_t*, int64_t, int64_t, const uint16_t*, int64_t, int, float*,
                          int64_t, int, bool, const float*);

HPSWEEP_KERNEL_TABLE(KernelFn, Kernel);

// 16 floats to 16 bf16, round to nearest even (vcvtneps2bf16).
HPSWEEP_BF16_TARGET inline __m256i Round16(__m512 x) { return (__m256i)_mm512_cvtneps_pbh(x); }

}  // namespace

HPSWEEP_BF16_TARGET void Gemm(const uint32_t* a, int64_t a_m, int64_t a_k, int M, int kpairs,
                              PairPanels b, int N, float* c, int64_t ldc, bool accumulate,
                              const float* bias) {
  static_assert(PairPanels::kWidth == 16 * kMaxVectors, "a panel is the micro-kernel's width");
  const int64_t b_k = b.width * 2;
  for (int n0 = 0; n0 < N; n0 += 16 * kMaxVectors) {
    const uint16_t* panel = b.Panel(n0);
    const int cols = N - n0 < 16 * kMaxVectors ? N - n0 : 16 * kMaxVectors;
    const int nv = (cols + 15) / 16;
    const int last_valid = cols - (nv - 1) * 16;
    // The sum over K in chunks of kChunkPairs pairs, so that the panel's chunk of B (64 KB)
    // stays in L2 across the row blocks; C carries the sum from one chunk to the next.
    for (int k0 = 0; k0 < kpairs || k0 == 0; k0 += kChunkPairs) {
      const int kn = kpairs - k0 < kChunkPairs ? kpairs - k0 : kChunkPairs;
      const bool add = accumulate || k0 > 0;
      const float* bias_n0 = bias != nullptr && !add ? bias + n0 : nullptr;
      for (int m0 = 0; m0 < M;) {
        const int mr = kernel::RowsOfBlock(M - m0);  // blocks of 6, the last two 4 + 3/4
        kKernels[mr - 1][nv - 1](a + m0 * a_m + k0 * a_k, a_m, a_k, panel + k0 * b_k, b_k, kn,
                                 c + m0 * ldc + n0, ldc, last_valid, add, bias_n0);
        m0 += mr;
      }
      if (kpairs == 0) break;
    }
  }
}

HPSWEEP_BF16_TARGET void PackRowPairs(const float* src, int64_t ld, int rows, int cols,
                                      int64_t n_padded, int64_t width, int64_t panel_stride,
                                      uint16_t* out) {
  // Interleaves two rounded rows: out word 2j = row0[j], 2j+1 = row1[j] (cvtne2ps_pbh puts its
  // second argument in the low half).
  alignas(64) static const uint16_t kInterleave[32] = {0,  16, 1,  17, 2,  18, 3,  19, 4,  20, 5,
                                                       21, 6,  22, 7,  23, 8,  24, 9,  25, 10, 26,
                                                       11, 27, 12, 28, 13, 29, 14, 30, 15, 31};
  const __m512i perm = _mm512_load_si512(kInterleave);
  const int kpairs = (rows + 1) / 2;
  for (int kp = 0; kp < kpairs; ++kp) {
    const float* r0 = src + 2 * kp * ld;
    const float* r1 = 2 * kp + 1 < rows ? r0 + ld : nullptr;
    // Pair row kp of each panel in turn; n is the column, j its place in the panel.
    uint16_t* o = out + kp * width * 2;
    for (int64_t n0 = 0; n0 < n_padded; n0 += width, o += panel_stride) {
      for (int64_t j = 0; j < width; j += 16) {
        const int64_t n = n0 + j;
        const int valid = n >= cols ? 0 : (cols - n < 16 ? static_cast<int>(cols - n) : 16);
        const __mmask16 m = TailMask(valid);
        const __m512 lo = valid > 0 ? _mm512_maskz_loadu_ps(m, r0 + n) : _mm512_setzero_ps();
        const __m512 hi =
            valid > 0 && r1 != nullptr ? _mm512_maskz_loadu_ps(m, r1 + n) : _mm512_setzero_ps();
        const __m512i both = (__m512i)_mm512_cvtne2ps_pbh(hi, lo);
        _mm512_storeu_si512(o + j * 2, _mm512_permutexvar_epi16(perm, both));
      }
    }
  }
}

HPSWEEP_BF16_TARGET void ConvertRows(const float* src, int64_t ld, int rows, int cols,
                                     uint16_t* out, int64_t out_ld) {
  for (int r = 0; r < rows; ++r) {
    const float* s = src + r * ld;
    uint16_t* o = out + r * out_ld;
    int64_t n = 0;
    for (; n + 16 <= cols; n += 16) {
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(o + n), Round16(_mm512_loadu_ps(s + n)));
    }
    for (; n < out_ld; n += 16) {  // the last values, then zero to out_ld
      const __mmask16 m = TailMask(n < cols ? static_cast<int>(cols - n) : 0);
      const __m256i v = Round16(_mm512_maskz_loadu_ps(m, s + n));  // zero past cols
      _mm256_mask_storeu_epi16(o + n, TailMask(static_cast<int>(out_ld - n)), v);
    }
  }
}

}  // namespace bf16
}  // namespace hpsweep

#else  // not x86-64: no bf16 kernels; Bf16Supported() is false, so these are never called.

namespace hpsweep {
namespace bf16 {
void Gemm(const uint32_t*, int64_t, int64_t, int, int, PairPanels, int, float*, int64_t, bool,
          const float*) {}
void PackRowPairs(const float*, int64_t, int, int, int64_t, int64_t, int64_t, uint16_t*) {}
void ConvertRows(const float*, int64_t, int, int, uint16_t*, int64_t) {}
}  // namespace bf16
}  // namespace hpsweep

#endif
