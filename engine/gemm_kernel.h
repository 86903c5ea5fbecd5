// What the two AVX-512 vector kernels (gemm_fp32.cc: FMA, gemm_bf16.cc: vdpbf16ps) share: the
// block of C held in registers, its start and its store, and how rows split into blocks. Included
// by those two files only; every function here is inlined into a kernel built with AVX-512 (its
// own target attribute is a subset of theirs), so nothing here runs on a CPU without it.
#ifndef HPSWEEP_ENGINE_GEMM_KERNEL_H_
#define HPSWEEP_ENGINE_GEMM_KERNEL_H_

#if defined(__x86_64__)
#include <immintrin.h>

#include <cstdint>

#define HPSWEEP_AVX512_INLINE __attribute__((target("avx512f"), always_inline)) inline

namespace hpsweep {
namespace kernel {

constexpr int kMaxRows = 6;     // MR: rows of C per micro-kernel call
constexpr int kMaxVectors = 4;  // NV: 16-column vectors of C per call (64 columns)

inline __mmask16 TailMask(int valid) {
  if (valid <= 0) return 0;
  return valid >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << valid) - 1);
}

// The rows of the next block when `left` rows remain: 6, except that the last two blocks become
// 4 + 3 or 4 + 4 rather than 6 + 1 or 6 + 2 (a block of 1 or 2 rows loads B for too few rows).
inline int RowsOfBlock(int left) {
  return left >= kMaxRows + 3 || left <= kMaxRows ? (left < kMaxRows ? left : kMaxRows) : 4;
}

// acc (MR, NV vectors, the last `tail` columns wide) = C's own values (accumulating), else the
// bias row, else zero. Every loop unrolled: acc then lives in registers (an indexed one would not).
template <int MR, int NV>
HPSWEEP_AVX512_INLINE void StartBlock(__m512 (&acc)[MR][NV], const float* c, int64_t ldc,
                                      __mmask16 tail, bool accumulate, const float* bias) {
#pragma GCC unroll 4
  for (int v = 0; v < NV; ++v) {
    const __mmask16 m = v == NV - 1 ? tail : static_cast<__mmask16>(0xFFFF);
    const __m512 start =
        bias != nullptr ? _mm512_maskz_loadu_ps(m, bias + v * 16) : _mm512_setzero_ps();
#pragma GCC unroll 6
    for (int r = 0; r < MR; ++r) {
      acc[r][v] = accumulate ? _mm512_maskz_loadu_ps(m, c + r * ldc + v * 16) : start;
    }
  }
}

template <int MR, int NV>
HPSWEEP_AVX512_INLINE void StoreBlock(const __m512 (&acc)[MR][NV], float* c, int64_t ldc,
                                      __mmask16 tail) {
#pragma GCC unroll 6
  for (int r = 0; r < MR; ++r) {
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      const __mmask16 m = v == NV - 1 ? tail : static_cast<__mmask16>(0xFFFF);
      _mm512_mask_storeu_ps(c + r * ldc + v * 16, m, acc[r][v]);
    }
  }
}

}  // namespace kernel
}  // namespace hpsweep

// Defines kKernels[MR - 1][NV - 1]: the instances of the micro-kernel template KERNEL (function
// type FN) for every block shape, so a driver picks one by its rows and vectors.
#define HPSWEEP_KERNEL_TABLE(FN, KERNEL)                                                      \
  template <int MR>                                                                           \
  struct Row {                                                                                \
    static constexpr FN fns[::hpsweep::kernel::kMaxVectors] = {KERNEL<MR, 1>, KERNEL<MR, 2>,  \
                                                               KERNEL<MR, 3>, KERNEL<MR, 4>}; \
  };                                                                                          \
  constexpr const FN* kKernels[::hpsweep::kernel::kMaxRows] = {                               \
      Row<1>::fns, Row<2>::fns, Row<3>::fns, Row<4>::fns, Row<5>::fns, Row<6>::fns}

#endif  // __x86_64__
#endif  // HPSWEEP_ENGINE_GEMM_KERNEL_H_
