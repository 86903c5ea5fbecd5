// The engine's matrix products, in fp32 (our AVX-512 FMA kernel where the CPU has avx512f, else
// Eigen's GEMM) or in bf16 (our own kernels: AMX tiles where the CPU has amx_bf16, else AVX-512
// BF16 vectors). Double products (the gradient checks) are always Eigen's.
//
// bf16 mixed precision: both operands of a product are rounded to bfloat16 (round to nearest
// even), multiplied and summed in fp32 by `vdpbf16ps`, and the fp32 result is written or added
// into C. Only the operands are rounded: the weights, their gradients, the optimizer state, the
// gate math and the losses stay fp32 in the layers that call these products.
//
// The bf16 kernels read both operands as bf16 pairs along the summed dimension K: an Operand is a
// matrix packed that way once (the recurrent kernel once per forward pass, not once per step) and
// used by every product until it is packed again. In fp32 an Operand only points at the matrix
// (a transposed one is copied for our kernel), which must then stay unchanged while it is used.
//
// Two bf16 kernels compute the same products: `tdpbf16ps` on AMX tiles (Intel Sapphire Rapids and
// later) and `vdpbf16ps` on AVX-512 vectors (AMD Zen 4, Intel Cooper Lake). Both round the same
// operands and sum in fp32, in different orders, so their results differ in the last bits; a
// machine uses one of them for every product (Bf16Description says which).
//
// Shapes: every matrix is row-major with a row stride (ld) >= its columns. Results are the same
// run after run for the same shapes (the order of every sum is fixed); the bf16 and fp32 results
// differ by the rounding of the operands.
//
// Thread-safety: an Operand or a Gemm is used by one thread at a time (one per layer object).
#ifndef HPSWEEP_ENGINE_GEMM_H_
#define HPSWEEP_ENGINE_GEMM_H_

#include <cstdint>
#include <string>
#include <vector>

namespace hpsweep {

// The precision of a network's matrix products. kBf16 applies to float networks only (double
// networks, used by the gradient checks, always compute in double).
enum class Precision : uint8_t { kFp32, kBf16 };

// Whether this CPU runs the bf16 kernels: AVX-512 F/BW with the BF16 extension, as reported by
// cpuid and enabled by the OS. HPSWEEP_DISABLE_BF16=1 in the environment makes it answer false,
// to try a worker without it on a machine that has it.
bool Bf16Supported();

// Whether this CPU also runs the AMX bf16 kernel: Bf16Supported(), amx_tile and amx_bf16 in
// cpuid, and the kernel granted this process the tile state (arch_prctl). HPSWEEP_DISABLE_AMX=1
// makes it answer false, so the AVX-512 kernels run (to compare them on one machine).
bool AmxSupported();

// The kernel a bf16 product runs on.
enum class Bf16Kernel : uint8_t { kAvx512, kAmx };
// kAmx where AmxSupported(), else kAvx512.
Bf16Kernel DefaultBf16Kernel();

// "bf16 (amx_bf16)", "bf16 (avx512_bf16)" or "fp32 only (...)": which path a worker uses.
std::string Bf16Description();

// Whether this CPU runs our fp32 kernel (avx512f, and the OS saves its state). HPSWEEP_FP32_EIGEN=1
// makes it answer false, so fp32 products are Eigen's (to compare them on one machine).
bool Fp32KernelSupported();

// The kernel an fp32 product runs on: ours (kAvx512) where Fp32KernelSupported(), else Eigen's.
enum class Fp32Kernel : uint8_t { kEigen, kAvx512 };
Fp32Kernel DefaultFp32Kernel();

// bfloat16 of x, rounded to nearest even; NaN stays NaN.
uint16_t ToBf16(float x);
float FromBf16(uint16_t b);

// Where a bf16 operand's pairs lie: in panels of `width` columns side by side, each a block of
// pair rows `width` pairs long; pair (kp, n) (the values of rows 2kp and 2kp+1 of column n,
// interleaved) is the two uint16 at data + (n / width) * panel_stride + (kp * width + n % width)
// * 2. A kernel reading a panel's rows reads contiguous memory: rows a whole matrix's width apart
// (2 KB for 512 columns) fall into a few of L1's sets and are read from L2 again on every pass.
struct PairPanels {
  static constexpr int64_t kWidth = 64;  // columns of a panel (fewer only where N is)
  const uint16_t* data = nullptr;
  int64_t width = 0;         // kWidth, or the padded N where that is less (a multiple of 16)
  int64_t panel_stride = 0;  // uint16s from one panel to the next
  const uint16_t* Panel(int64_t n0) const { return data + n0 / width * panel_stride; }
};

// A (K, N) matrix as an operand: the B of C = A·B, or either operand of the weight-gradient
// product A^T·B (both summed over their K rows).
template <typename T>
class Operand {
 public:
  // m is (K, N) with row stride ld, or with `transposed`, m is (N, K) and the operand is m^T.
  // fp32 keeps the pointer (a float m^T, where our fp32 kernel runs, is copied now, into panels
  // of 64 columns: see panel_stride()); bf16 packs the values now (K rounded up to even, a zero
  // pair row).
  void Set(Precision p, const T* m, int64_t ld, int K, int N, bool transposed);
  // The same for m (K, N) not transposed, packed a block of rows at a time by PackRows, each while
  // it is still in cache (a layer packs its gradients step by step as it computes them).
  void Reserve(Precision p, const T* m, int64_t ld, int K, int N);
  // Packs rows [first, first + count) of the reserved m. REQUIRES: first even; count even unless
  // the block ends at K; every row packed before the operand is used.
  void PackRows(int first, int count);
  // This operand as rows [first, whole.K()) of `whole`, sharing its packing: no copy.
  // REQUIRES: first even; whole not transposed, outlives this use and is not set again meanwhile.
  void SetRows(const Operand& whole, int first);

  int K() const { return K_; }
  int N() const { return N_; }
  Precision precision() const { return precision_; }
  const T* matrix() const { return m_; }
  int64_t ld() const { return ld_; }
  bool transposed() const { return transposed_; }
  // fp32 m^T copied for our kernel: floats from one panel of 64 columns of matrix() to the
  // next, each a contiguous (K, 64) block whose rows are ld() == 64 apart (a copy (K, N) with
  // rows N apart ran the products 8-17% slower); 0 where matrix() is a plain (K, N) matrix.
  int64_t panel_stride() const { return fp32_panel_stride_; }
  // bf16: the pairs in panels (PairPanels); N_padded() columns (N rounded up to 16, or to whole
  // panels of 64 where N is more), zero past N; 16 zero pair rows follow each panel's last one
  // (the AMX kernel reads K in tiles of 16 pairs).
  PairPanels pairs() const { return {packed_ptr_, width_, panel_stride_}; }
  int64_t N_padded() const { return n_padded_; }

 private:
  Precision precision_ = Precision::kFp32;
  const T* m_ = nullptr;
  int64_t ld_ = 0;
  int K_ = 0, N_ = 0;
  bool transposed_ = false;
  int64_t n_padded_ = 0, width_ = 0, panel_stride_ = 0;  // bf16: the layout of pairs()
  std::vector<uint16_t> packed_;
  const uint16_t* packed_ptr_ = nullptr;  // packed_, or a view into another operand's
  std::vector<uint16_t> rows_;  // transposed Set: the stored rows rounded, before they move
  std::vector<T> copy_;         // fp32 transposed Set for our kernel: m^T in panels
  int64_t fp32_panel_stride_ = 0;
};

// The products one layer object computes, in its precision, with its scratch space.
template <typename T>
class Gemm {
 public:
  void set_precision(Precision p) { precision_ = p; }
  Precision precision() const { return precision_; }
  // The bf16 kernel; DefaultBf16Kernel() unless set. REQUIRES: kAmx only where AmxSupported().
  void set_bf16_kernel(Bf16Kernel k) { kernel_ = k; }
  // The fp32 kernel (float only); DefaultFp32Kernel() unless set. REQUIRES: kAvx512 only where
  // Fp32KernelSupported().
  void set_fp32_kernel(Fp32Kernel k) { fp32_kernel_ = k; }

  // c (M, N) = [c +] a (M, K) · b. REQUIRES: b's precision is this Gemm's; b.K() == K.
  void Mul(const T* a, int64_t lda, int M, const Operand<T>& b, T* c, int64_t ldc, bool accumulate);
  // c (M, N) = a (M, K) · b + bias (N) on every row (bf16: the sum starts from the bias).
  void MulAddBias(const T* a, int64_t lda, int M, const Operand<T>& b, const T* bias, T* c,
                  int64_t ldc);
  // c (M, N) = [c +] a^T · b, a and b both (K, _): sums over their K rows (weight gradients).
  void MulTransA(const Operand<T>& a, const Operand<T>& b, T* c, int64_t ldc, bool accumulate);

 private:
  // The bf16 product: a rounded into a_bf16_, then the kernel (float only).
  void MulBf16(const T* a, int64_t lda, int M, const Operand<T>& b, T* c, int64_t ldc,
               bool accumulate, const T* bias);

  // The AMX product of a_tiles_ (rows of pairs, a_ld pairs a row, zero-padded) with b.
  void MulAmx(int64_t a_ld, int M, const Operand<T>& b, T* c, int64_t ldc, bool accumulate,
              const T* bias);

  Precision precision_ = Precision::kFp32;
  Bf16Kernel kernel_ = DefaultBf16Kernel();
  Fp32Kernel fp32_kernel_ = DefaultFp32Kernel();
  std::vector<uint16_t> a_bf16_;   // a rounded to bf16, K padded to even
  std::vector<uint32_t> a_tiles_;  // AMX: a as rows of pairs, rows and pairs padded to 16
};

namespace bf16 {

// The kernel entry points (engine/gemm_bf16.cc), exposed for the kernel tests.
// c (M, N) = [c +] A·B, where A's pair (m, kp) is the uint32 at a + m*a_m + kp*a_k and B's pairs
// lie in panels (PairPanels); not accumulating, a non-null bias (N) starts every row's sum.
// REQUIRES: Bf16Supported().
void Gemm(const uint32_t* a, int64_t a_m, int64_t a_k, int M, int kpairs, PairPanels b, int N,
          float* c, int64_t ldc, bool accumulate, const float* bias = nullptr);
// Packs src (rows, cols) with row stride ld as pair rows into panels of `width` columns
// `panel_stride` apart: pair (kp, n) = bf16(src[2kp][n]), bf16(src[2kp+1][n]) at
// out + (n / width) * panel_stride + (kp * width + n % width) * 2; the value of a row past the end
// and columns in [cols, n_padded) are zero.
void PackRowPairs(const float* src, int64_t ld, int rows, int cols, int64_t n_padded, int64_t width,
                  int64_t panel_stride, uint16_t* out);
// Rounds each row of src (rows, cols) to bf16 into out (rows, row stride out_ld >= cols rounded
// up to even), zero from cols to out_ld.
void ConvertRows(const float* src, int64_t ld, int rows, int cols, uint16_t* out, int64_t out_ld);

}  // namespace bf16

namespace fp32 {

// The fp32 kernel (engine/gemm_fp32.cc): c (M, N) = [c +] A·B, A's value (m, k) at
// a[m*a_m + k*a_k], B (K, N) with row stride ldb, or with b_panel_stride > 0 in panels of 64
// columns (column n of row k at b + (n / 64) * b_panel_stride + k * 64 + n % 64; ldb unused);
// not accumulating, a non-null bias (N) starts every row's sum. REQUIRES: Fp32KernelSupported().
void Gemm(const float* a, int64_t a_m, int64_t a_k, int M, int K, const float* b, int64_t ldb,
          int N, float* c, int64_t ldc, bool accumulate, const float* bias = nullptr,
          int64_t b_panel_stride = 0);
// out[c * out_ld + r] = in[r * in_ld + c] for r < rows, c < cols: 32-bit values (floats, or bf16
// pairs) moved in 16 x 16 tiles through AVX-512 registers. REQUIRES: Fp32KernelSupported() or
// Bf16Supported() (both mean avx512f).
void Transpose(const uint32_t* in, int64_t in_ld, int64_t rows, int64_t cols, uint32_t* out,
               int64_t out_ld);

}  // namespace fp32

namespace amx {

// The AMX kernel (engine/gemm_amx.cc): c (M, N) = [c +] A·B, where A's pair (m, kp) is the uint32
// at a + m*a_ld + kp, readable for m < M rounded up to 16 and kp < kpairs rounded up to 16 and
// zero past M and kpairs; B's pairs in panels (PairPanels), as many pair rows readable and zero
// past kpairs; not accumulating, a non-null bias (N) starts every row's sum.
// REQUIRES: AmxSupported().
void Gemm(const uint32_t* a, int64_t a_ld, int M, int kpairs, PairPanels b, int N, float* c,
          int64_t ldc, bool accumulate, const float* bias = nullptr);

}  // namespace amx

}  // namespace hpsweep

#endif  // HPSWEEP_ENGINE_GEMM_H_
