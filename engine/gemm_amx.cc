// The AMX bf16 kernel (engine/gemm.h, amx::Gemm): C += A·B on the tile registers with
// `tdpbf16ps`. Every function that uses AMX carries its own target attribute, so the rest of the
// program is built for any x86-64 and this runs only where AmxSupported() said yes. No
// standard-library template is used here (see gemm_bf16.cc).
//
// A tile is 16 rows of 64 bytes. The kernel configures eight: C in tiles 0-3 (a 32 x 32 block of
// fp32), A in tiles 4-5 (32 rows x 16 pairs of K) and B in tiles 6-7 (16 pair rows x 32 columns,
// the pair layout the operands are packed in). Per 32 values of K it loads two tiles of A and two
// of B and issues four tdpbf16ps; C stays in its tiles for the whole sum over K, so each element
// of C is read and written once. Blocks at the right or bottom edge use one tile of a kind where
// 16 rows or columns are enough; a C tile only partly inside C goes through a staging block.
#include "engine/gemm.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define HPSWEEP_AMX_TARGET __attribute__((target("amx-tile,amx-bf16,avx512f,prfchw")))

namespace hpsweep {
namespace amx {
namespace {

struct alignas(64) TileConfig {
  uint8_t palette = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

// Where C tile (i, j) of a block starts and how much of it lies inside C.
struct CTile {
  float* c;
  int rows, cols;  // inside C: 1..16 each
  bool full() const { return rows == 16 && cols == 16; }
};

inline __mmask16 Mask(int valid) {
  if (valid <= 0) return 0;
  return valid >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << valid) - 1);
}

// Fills a 16 x 16 staging block with the start of a C tile only partly inside C: C's own values
// (accumulating), else the bias row or zero; zero outside C.
HPSWEEP_AMX_TARGET void Stage(const CTile& t, int64_t ldc, bool accumulate, const float* bias,
                              float* stage) {
  const __mmask16 m = Mask(t.cols);
  const __m512 start = bias != nullptr ? _mm512_maskz_loadu_ps(m, bias) : _mm512_setzero_ps();
  for (int r = 0; r < 16; ++r) {
    __m512 v = _mm512_setzero_ps();
    if (r < t.rows) v = accumulate ? _mm512_maskz_loadu_ps(m, t.c + r * ldc) : start;
    _mm512_store_ps(stage + r * 16, v);
  }
}

HPSWEEP_AMX_TARGET void Unstage(const float* stage, const CTile& t, int64_t ldc) {
  const __mmask16 m = Mask(t.cols);
  for (int r = 0; r < t.rows; ++r)
    _mm512_mask_storeu_ps(t.c + r * ldc, m, _mm512_load_ps(stage + r * 16));
}

// Tile ids are immediates, so each tile's load and store is spelled out for its id.
#define HPSWEEP_AMX_INIT(ID, T, STAGE)                       \
  do {                                                       \
    if ((T).full() && accumulate) {                          \
      _tile_loadd(ID, (T).c, ldc * 4);                       \
    } else if ((T).full() && bias_cols[(ID)&1] == nullptr) { \
      _tile_zero(ID);                                        \
    } else if ((T).full()) {                                 \
      _tile_loadd(ID, bias_blocks[(ID)&1], 64);              \
    } else {                                                 \
      Stage(T, ldc, accumulate, bias_cols[(ID)&1], STAGE);   \
      _tile_loadd(ID, STAGE, 64);                            \
    }                                                        \
  } while (0)
#define HPSWEEP_AMX_STORE(ID, T, STAGE) \
  do {                                  \
    if ((T).full()) {                   \
      _tile_stored(ID, (T).c, ldc * 4); \
    } else {                            \
      _tile_stored(ID, STAGE, 64);      \
      Unstage(STAGE, T, ldc);           \
    }                                   \
  } while (0)

// One block of C: MT tiles of 16 rows by NT tiles of 16 columns, summed over ktiles of 16 pairs.
template <int MT, int NT>
HPSWEEP_AMX_TARGET void Block(const uint32_t* a, int64_t a_ld, const uint16_t* b, int64_t width,
                              int ktiles, const CTile (&t)[2][2], int64_t ldc, bool accumulate,
                              const float* const (&bias_cols)[2],
                              const float (&bias_blocks)[2][256]) {
  alignas(64) float stage[4][256];
  HPSWEEP_AMX_INIT(0, t[0][0], stage[0]);
  if constexpr (NT == 2) HPSWEEP_AMX_INIT(1, t[0][1], stage[1]);
  if constexpr (MT == 2) HPSWEEP_AMX_INIT(2, t[1][0], stage[2]);
  if constexpr (MT == 2 && NT == 2) HPSWEEP_AMX_INIT(3, t[1][1], stage[3]);
  const int64_t a_stride = a_ld * 4, b_stride = width * 4;
  for (int kt = 0; kt < ktiles; ++kt) {
    const uint32_t* ak = a + kt * 16;
    const uint16_t* bk = b + kt * 16 * width * 2;
    _tile_loadd(4, ak, a_stride);
    if constexpr (MT == 2) _tile_loadd(5, ak + 16 * a_ld, a_stride);
    _tile_loadd(6, bk, b_stride);
    if constexpr (NT == 2) _tile_loadd(7, bk + 32, b_stride);
    _tile_dpbf16ps(0, 4, 6);
    if constexpr (NT == 2) _tile_dpbf16ps(1, 4, 7);
    if constexpr (MT == 2) _tile_dpbf16ps(2, 5, 6);
    if constexpr (MT == 2 && NT == 2) _tile_dpbf16ps(3, 5, 7);
  }
  HPSWEEP_AMX_STORE(0, t[0][0], stage[0]);
  if constexpr (NT == 2) HPSWEEP_AMX_STORE(1, t[0][1], stage[1]);
  if constexpr (MT == 2) HPSWEEP_AMX_STORE(2, t[1][0], stage[2]);
  if constexpr (MT == 2 && NT == 2) HPSWEEP_AMX_STORE(3, t[1][1], stage[3]);
}

#undef HPSWEEP_AMX_INIT
#undef HPSWEEP_AMX_STORE

int Min16(int n) { return n < 16 ? n : 16; }

// C of more bytes than this is prefetched block by block (see Gemm).
constexpr int64_t kPrefetchCBytes = 512 << 10;

// Gemm's loops, with or without the prefetches of C (two copies, so that the products that
// prefetch nothing, a recurrent step's, run the loops they ran before).
template <bool kPrefetchC>
HPSWEEP_AMX_TARGET void Blocks(const uint32_t* a, int64_t a_ld, int M, int kpairs, PairPanels b,
                               int N, float* c, int64_t ldc, bool accumulate, const float* bias) {
  const int ktiles = (kpairs + 15) / 16;
  const float* use_bias = accumulate ? nullptr : bias;
  for (int n0 = 0; n0 < N; n0 += 32) {
    const int nt = N - n0 > 16 ? 2 : 1;
    const float* const bias_cols[2] = {use_bias != nullptr ? use_bias + n0 : nullptr,
                                       use_bias != nullptr ? use_bias + n0 + 16 : nullptr};
    // The bias of each column tile repeated in 16 rows: the start of its full C tiles.
    alignas(64) float bias_blocks[2][256];
    for (int j = 0; j < 2 && use_bias != nullptr; ++j) {
      const __m512 row = _mm512_maskz_loadu_ps(Mask(N - n0 - 16 * j), bias_cols[j]);
      for (int r = 0; r < 16; ++r) _mm512_store_ps(bias_blocks[j] + r * 16, row);
    }
    const uint16_t* bn = b.Panel(n0) + n0 % b.width * 2;  // n0 % 64 is 0 or 32: half a panel
    for (int m0 = 0; m0 < M; m0 += 32) {
      const int mt = M - m0 > 16 ? 2 : 1;
      CTile t[2][2];
      for (int i = 0; i < 2; ++i) {
        for (int j = 0; j < 2; ++j) {
          const int rows = M - m0 - 16 * i, cols = N - n0 - 16 * j;
          t[i][j] = {c + (m0 + 16 * i) * ldc + n0 + 16 * j, rows > 0 ? Min16(rows) : 0,
                     cols > 0 ? Min16(cols) : 0};
        }
      }
      for (int r = m0 + 32; kPrefetchC && r < M && r < m0 + 64; ++r) {  // the next block's
        _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc + n0), _MM_HINT_ET0);
        if (nt == 2) {
          _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc + n0 + 16), _MM_HINT_ET0);
        }
      }
      const uint32_t* am = a + m0 * a_ld;
      if (mt == 2 && nt == 2) {
        Block<2, 2>(am, a_ld, bn, b.width, ktiles, t, ldc, accumulate, bias_cols, bias_blocks);
      } else if (mt == 2) {
        Block<2, 1>(am, a_ld, bn, b.width, ktiles, t, ldc, accumulate, bias_cols, bias_blocks);
      } else if (nt == 2) {
        Block<1, 2>(am, a_ld, bn, b.width, ktiles, t, ldc, accumulate, bias_cols, bias_blocks);
      } else {
        Block<1, 1>(am, a_ld, bn, b.width, ktiles, t, ldc, accumulate, bias_cols, bias_blocks);
      }
    }
  }
}

}  // namespace

HPSWEEP_AMX_TARGET void Gemm(const uint32_t* a, int64_t a_ld, int M, int kpairs, PairPanels b,
                             int N, float* c, int64_t ldc, bool accumulate, const float* bias) {
  TileConfig config;
  for (int i = 0; i < 8; ++i) {
    config.rows[i] = 16;
    config.colsb[i] = 64;
  }
  _tile_loadconfig(&config);
  // A C larger than L2 holds beside the operands (a weight gradient: 784 x 512 for the MLP,
  // written with few products per value) comes from memory, and a tile store waits for its
  // lines: the next block's are asked for (prefetchw) while this one computes. A smaller C (a
  // recurrent step's gates) is in cache, where the prefetches would only cost.
  if (static_cast<int64_t>(M) * N * 4 > kPrefetchCBytes) {
    Blocks<true>(a, a_ld, M, kpairs, b, N, c, ldc, accumulate, bias);
  } else {
    Blocks<false>(a, a_ld, M, kpairs, b, N, c, ldc, accumulate, bias);
  }
  _tile_release();
}

}  // namespace amx
}  // namespace hpsweep

#else  // not x86-64: AmxSupported() is false, so this is never called.

namespace hpsweep {
namespace amx {
void Gemm(const uint32_t*, int64_t, int, int, PairPanels, int, float*, int64_t, bool,
          const float*) {}
}  // namespace amx
}  // namespace hpsweep

#endif
