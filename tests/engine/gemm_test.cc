// The bf16 products (engine/gemm.h) against a double-precision product of the same bf16-rounded
// operands, on odd shapes (sizes not a multiple of the 16-wide vectors, the 6-row blocks or the
// 16 x 16 tiles, one row, one column, odd K), both operand layouts, with and without adding into
// C, for each bf16 kernel this CPU runs (AVX-512 vectors; AMX tiles where it has amx_bf16).
// Skipped, and said so, on a CPU without avx512_bf16; the AMX cases are skipped, and said so, on
// one without amx_bf16. The rounding helpers are checked everywhere.
#include "engine/gemm.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "engine/tensor.h"

namespace hpsweep {
namespace {

#define SKIP_WITHOUT_BF16()                                 \
  if (!Bf16Supported())                                     \
  GTEST_SKIP() << "this CPU has no avx512_bf16 (or it was " \
                  "turned off): the bf16 kernels are not run here"

float R(float x) { return FromBf16(ToBf16(x)); }

// The bf16 kernels this CPU runs; records when the AMX one cannot be run here.
std::vector<Bf16Kernel> Kernels() {
  if (AmxSupported()) return {Bf16Kernel::kAvx512, Bf16Kernel::kAmx};
  testing::Test::RecordProperty("amx", "skipped: this CPU has no amx_bf16 (or it was turned off)");
  return {Bf16Kernel::kAvx512};
}

const char* Name(Bf16Kernel k) { return k == Bf16Kernel::kAmx ? "amx" : "avx512"; }

Gemm<float> Bf16Gemm(Bf16Kernel k) {
  Gemm<float> gemm;
  gemm.set_precision(Precision::kBf16);
  gemm.set_bf16_kernel(k);
  return gemm;
}

TEST(Bf16Test, RoundsToNearestEven) {
  EXPECT_EQ(ToBf16(1.0f), 0x3F80);
  EXPECT_EQ(ToBf16(-2.0f), 0xC000);
  // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties go to the even mantissa (1.0).
  EXPECT_EQ(ToBf16(1.0f + std::ldexp(1.0f, -8)), 0x3F80);
  // 1 + 3 * 2^-8 is halfway between 1 + 2^-7 (odd) and 1 + 2^-6: up to the even one.
  EXPECT_EQ(ToBf16(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3F82);
  // Just above halfway rounds up.
  EXPECT_EQ(ToBf16(1.0f + std::ldexp(1.0f, -8) + std::ldexp(1.0f, -20)), 0x3F81);
  EXPECT_EQ(ToBf16(std::numeric_limits<float>::infinity()), 0x7F80);
  EXPECT_TRUE(std::isnan(FromBf16(ToBf16(std::numeric_limits<float>::quiet_NaN()))));
  // The largest float rounds to infinity, as a conversion to a narrower type does.
  EXPECT_EQ(ToBf16(std::numeric_limits<float>::max()), 0x7F80);
  EXPECT_EQ(FromBf16(0x4049), 3.140625f);
}

struct Shape {
  int M, K, N;
};

// M covers every way rows split into blocks of 6 (7 -> 4 + 3, 8 -> 4 + 4, 13, 14, 64) and into
// tiles of 16 (17, 33, 40: a block of two tiles, one whole and one part); K up to more than two
// of the vector kernel's 256-pair chunks, odd, and over one tile of 16 pairs (33, 65).
const Shape kShapes[] = {{1, 1, 1},
                         {1, 2, 16},
                         {5, 3, 15},
                         {6, 28, 64},
                         {7, 33, 17},
                         {8, 5, 33},
                         {13, 128, 65},
                         {14, 9, 48},
                         {64, 128, 512},
                         {2, 7, 130},
                         {12, 1, 10},
                         {3, 300, 49},
                         // K over the kernel's 256-pair chunks: 2 chunks and a part one
                         {7, 1101, 70},
                         {17, 65, 33},
                         {33, 34, 16},
                         {40, 31, 47},
                         // bf16 operands in several panels of 64 columns, the last one partly
                         // used (N = 130), and A^T·B's a over several panels (M = 65, 100)
                         {65, 40, 64},
                         {100, 300, 130}};

Mat<float> RandomMat(int rows, int cols, Rng* rng) {
  Mat<float> m(rows, cols);
  for (Eigen::Index i = 0; i < m.size(); ++i) {
    m.data()[i] = static_cast<float>(rng->Uniform(-1.0, 1.0));
  }
  return m;
}

Mat<double> Rounded(const Mat<float>& m) {
  Mat<double> out(m.rows(), m.cols());
  for (Eigen::Index i = 0; i < m.size(); ++i) out.data()[i] = R(m.data()[i]);
  return out;
}

// |got - want| <= 1e-5 * (sum |a||b| + |c0|) per element, with want computed in double from the
// bf16-rounded operands: only fp32 accumulation error is allowed, none from layout or rounding.
void ExpectClose(const Mat<float>& got, const Mat<double>& want, const Mat<double>& scale,
                 const char* what) {
  ASSERT_EQ(got.rows(), want.rows());
  ASSERT_EQ(got.cols(), want.cols());
  for (Eigen::Index r = 0; r < got.rows(); ++r) {
    for (Eigen::Index c = 0; c < got.cols(); ++c) {
      ASSERT_NEAR(got(r, c), want(r, c), 1e-5 * scale(r, c) + 1e-30)
          << what << " at (" << r << ", " << c << ") of " << got.rows() << "x" << got.cols();
    }
  }
}

TEST(GemmBf16Test, MulMatchesADoubleProductOfTheRoundedOperandsOnOddShapes) {
  SKIP_WITHOUT_BF16();
  Rng rng(7);
  for (Bf16Kernel kernel : Kernels())
    for (const Shape& s : kShapes) {
      for (bool transposed : {false, true}) {
        for (bool accumulate : {false, true}) {
          SCOPED_TRACE(testing::Message()
                       << Name(kernel) << " " << s.M << "x" << s.K << "x" << s.N
                       << (transposed ? " B^T" : "") << (accumulate ? " +=" : ""));
          // a with a row stride wider than K, b stored (K, N) or (N, K), c with a wider stride.
          Mat<float> a_store = RandomMat(s.M, s.K + 3, &rng);
          Mat<float> b = transposed ? RandomMat(s.N, s.K, &rng) : RandomMat(s.K, s.N, &rng);
          Mat<float> c_store = RandomMat(s.M, s.N + 5, &rng);
          Mat<double> a = Rounded(a_store).leftCols(s.K);
          Mat<double> bk = transposed ? Mat<double>(Rounded(b).transpose()) : Rounded(b);
          Mat<double> c0 = c_store.leftCols(s.N).cast<double>();
          Mat<double> want = a * bk;
          Mat<double> scale = a.cwiseAbs() * bk.cwiseAbs();
          if (accumulate) {
            want += c0;
            scale += c0.cwiseAbs();
          }
          Operand<float> op;
          op.Set(Precision::kBf16, b.data(), b.cols(), s.K, s.N, transposed);
          Gemm<float> gemm = Bf16Gemm(kernel);
          Mat<float> c = c_store;
          gemm.Mul(a_store.data(), a_store.cols(), s.M, op, c.data(), c.cols(), accumulate);
          ExpectClose(c.leftCols(s.N), want, scale, "Mul");
          // The columns past N are not touched.
          EXPECT_EQ(c.rightCols(5), c_store.rightCols(5));
          // Run after run, the same bits.
          Mat<float> again = c_store;
          gemm.Mul(a_store.data(), a_store.cols(), s.M, op, again.data(), again.cols(), accumulate);
          EXPECT_EQ(std::memcmp(again.data(), c.data(), sizeof(float) * c.size()), 0);
        }
      }
    }
}

TEST(GemmBf16Test, MulAddBiasStartsEveryRowFromTheBias) {
  SKIP_WITHOUT_BF16();
  Rng rng(13);
  for (Bf16Kernel kernel : Kernels())
    for (const Shape& s : kShapes) {
      SCOPED_TRACE(testing::Message() << Name(kernel) << " " << s.M << "x" << s.K << "x" << s.N);
      Mat<float> a = RandomMat(s.M, s.K, &rng), b = RandomMat(s.K, s.N, &rng);
      Mat<float> bias = RandomMat(1, s.N, &rng);
      Mat<double> want = Rounded(a) * Rounded(b);
      want.rowwise() += bias.cast<double>().row(0);
      Mat<double> scale = Rounded(a).cwiseAbs() * Rounded(b).cwiseAbs();
      scale.rowwise() += bias.cast<double>().cwiseAbs().row(0);
      Operand<float> op;
      op.Set(Precision::kBf16, b.data(), s.N, s.K, s.N, false);
      Gemm<float> gemm = Bf16Gemm(kernel);
      Mat<float> c = RandomMat(s.M, s.N, &rng);  // overwritten
      gemm.MulAddBias(a.data(), s.K, s.M, op, bias.data(), c.data(), s.N);
      ExpectClose(c, want, scale, "MulAddBias");
    }
}

TEST(GemmBf16Test, MulTransASumsOverRowsLikeADoubleProduct) {
  SKIP_WITHOUT_BF16();
  Rng rng(11);
  for (Bf16Kernel kernel : Kernels())
    for (const Shape& s : kShapes) {
      for (bool accumulate : {false, true}) {
        SCOPED_TRACE(testing::Message() << Name(kernel) << " " << s.M << "x" << s.K << "x" << s.N);
        // a (K, M) and b (K, N): c = a^T b sums over the K rows (samples and steps).
        Mat<float> a = RandomMat(s.K, s.M, &rng), b = RandomMat(s.K, s.N, &rng);
        Mat<float> c = RandomMat(s.M, s.N, &rng);
        const Mat<float> c0 = c;
        Mat<double> want = Rounded(a).transpose() * Rounded(b);
        Mat<double> scale = Rounded(a).cwiseAbs().transpose() * Rounded(b).cwiseAbs();
        if (accumulate) {
          want += c0.cast<double>();
          scale += c0.cast<double>().cwiseAbs();
        }
        Operand<float> oa, ob;
        oa.Set(Precision::kBf16, a.data(), a.cols(), s.K, s.M, false);
        ob.Set(Precision::kBf16, b.data(), b.cols(), s.K, s.N, false);
        Gemm<float> gemm = Bf16Gemm(kernel);
        gemm.MulTransA(oa, ob, c.data(), c.cols(), accumulate);
        ExpectClose(c, want, scale, "MulTransA");
      }
    }
}

TEST(GemmBf16Test, StaysWithinBf16RoundingOfTheFp32Product) {
  SKIP_WITHOUT_BF16();
  // Each product of two rounded operands is off by at most 2^-8 relative (2^-9 each), so the
  // whole sum is within 2^-8 * sum |a||b| (plus fp32 accumulation) of the exact fp32 one.
  for (Bf16Kernel kernel : Kernels()) {
    SCOPED_TRACE(Name(kernel));
    Rng rng(3);
    Mat<float> a = RandomMat(64, 128, &rng), b = RandomMat(128, 512, &rng);
    Mat<double> want = a.cast<double>() * b.cast<double>();
    Mat<double> scale = a.cast<double>().cwiseAbs() * b.cast<double>().cwiseAbs();
    Operand<float> op;
    op.Set(Precision::kBf16, b.data(), b.cols(), 128, 512, false);
    Gemm<float> gemm = Bf16Gemm(kernel);
    Mat<float> c(64, 512);
    gemm.Mul(a.data(), a.cols(), 64, op, c.data(), c.cols(), false);
    double worst = 0;
    for (Eigen::Index i = 0; i < c.size(); ++i) {
      const double rel = std::abs(c.data()[i] - want.data()[i]) / scale.data()[i];
      EXPECT_LE(rel, std::ldexp(1.0, -8) + 1e-5);
      worst = std::max(worst, rel);
    }
    // And the rounding is really there: bf16 is not secretly fp32.
    EXPECT_GT(worst, 1e-4);
  }
}

TEST(GemmBf16Test, AnOperandSetAgainReadsNothingOfItsLastValues) {
  SKIP_WITHOUT_BF16();
  // An operand packed for a longer K and then for a shorter one keeps its buffer; the AMX kernel
  // reads K in whole tiles of 16 pairs, so the pair rows after the new K must be zero again, not
  // the old values (infinities here: any read of them would make NaN or infinity).
  // N = 20 is one panel of columns, N = 130 three (the last partly used).
  for (Bf16Kernel kernel : Kernels()) {
    for (int n : {20, 130}) {
      SCOPED_TRACE(testing::Message() << Name(kernel) << " N " << n);
      Rng rng(17);
      Mat<float> big(40, n);
      big.setConstant(std::numeric_limits<float>::infinity());
      Operand<float> op;
      op.Set(Precision::kBf16, big.data(), n, 40, n, false);
      Mat<float> a = RandomMat(5, 7, &rng), b = RandomMat(7, n, &rng);
      op.Set(Precision::kBf16, b.data(), n, 7, n, false);
      Gemm<float> gemm = Bf16Gemm(kernel);
      Mat<float> c(5, n);
      gemm.Mul(a.data(), 7, 5, op, c.data(), n, false);
      ExpectClose(c, Rounded(a) * Rounded(b), Rounded(a).cwiseAbs() * Rounded(b).cwiseAbs(), "Mul");
      // And a view of its last rows (SetRows: what a layer's last steps use) reads zeros past them.
      Operand<float> rows;
      rows.SetRows(op, 2);
      Mat<float> c2(5, n);
      gemm.Mul(a.data(), 7, 5, rows, c2.data(), n, false);  // a's first 5 columns of 7
      Mat<double> want = Rounded(a).leftCols(5) * Rounded(b).bottomRows(5);
      ExpectClose(c2, want, Rounded(a).leftCols(5).cwiseAbs() * Rounded(b).bottomRows(5).cwiseAbs(),
                  "SetRows");
    }
  }
}

TEST(GemmBf16Test, TheTwoKernelsAgreeWithinFp32Accumulation) {
  SKIP_WITHOUT_BF16();
  if (!AmxSupported()) GTEST_SKIP() << "this CPU has no amx_bf16: one bf16 kernel only";
  // The same rounded operands summed in two orders: equal up to fp32 accumulation error, on the
  // shapes an LSTM-128 step multiplies (h Wh, the backward's dG Wh^T, the weight gradients).
  Rng rng(19);
  const Shape shapes[] = {{128, 128, 512}, {64, 512, 128}, {3584, 28, 512}, {10, 64, 10}};
  for (const Shape& s : shapes) {
    SCOPED_TRACE(testing::Message() << s.M << "x" << s.K << "x" << s.N);
    Mat<float> a = RandomMat(s.M, s.K, &rng), b = RandomMat(s.K, s.N, &rng);
    Operand<float> op;
    op.Set(Precision::kBf16, b.data(), s.N, s.K, s.N, false);
    Mat<float> v(s.M, s.N), t(s.M, s.N);
    Bf16Gemm(Bf16Kernel::kAvx512).Mul(a.data(), s.K, s.M, op, v.data(), s.N, false);
    Bf16Gemm(Bf16Kernel::kAmx).Mul(a.data(), s.K, s.M, op, t.data(), s.N, false);
    Mat<double> scale = Rounded(a).cwiseAbs() * Rounded(b).cwiseAbs();
    ExpectClose(t, v.cast<double>(), scale * 2, "amx against avx512");
  }
}

TEST(GemmFp32Test, TheEigenKernelMatchesEigenBitForBitInEveryLayout) {
  // Where our fp32 kernel does not run, the fp32 path is Eigen's own product, bit for bit (an
  // operand transposed and copied for our kernel included).
  Rng rng(5);
  for (const Shape& s : kShapes) {
    Mat<float> a = RandomMat(s.M, s.K, &rng), b = RandomMat(s.K, s.N, &rng);
    Mat<float> bt = b.transpose();
    Mat<float> want = a * b;
    Gemm<float> gemm;
    gemm.set_fp32_kernel(Fp32Kernel::kEigen);
    for (bool transposed : {false, true}) {
      Operand<float> op;
      op.Set(Precision::kFp32, transposed ? bt.data() : b.data(), transposed ? s.K : s.N, s.K, s.N,
             transposed);
      Mat<float> c(s.M, s.N);
      gemm.Mul(a.data(), s.K, s.M, op, c.data(), s.N, false);
      if (!transposed) {  // with a bias: the product, then the bias, as the layers always did
        Mat<float> bias = RandomMat(1, s.N, &rng), cb(s.M, s.N);
        gemm.MulAddBias(a.data(), s.K, s.M, op, bias.data(), cb.data(), s.N);
        Mat<float> eb(s.M, s.N);
        eb.noalias() = a * b;
        eb.rowwise() += bias.row(0);
        EXPECT_EQ(std::memcmp(cb.data(), eb.data(), sizeof(float) * cb.size()), 0);
      }
      Mat<float> eigen(s.M, s.N);
      if (transposed) {
        eigen.noalias() = a * bt.transpose();
      } else {
        eigen.noalias() = a * b;
      }
      EXPECT_EQ(std::memcmp(c.data(), eigen.data(), sizeof(float) * c.size()), 0);
      EXPECT_TRUE(c.isApprox(want, 1e-5f));
    }
  }
}

// The vector transpose (16 x 16 tiles in registers) against the plain definition, on tiles cut
// at every edge: rows and columns of 1, 15, 16, 17 and more, row strides wider than the rows, and
// nothing written outside the transposed block.
TEST(TransposeTest, MovesEveryValueOnOddShapes) {
  if (!Fp32KernelSupported() && !Bf16Supported()) {
    GTEST_SKIP() << "this CPU has no avx512f: transposes are one value at a time";
  }
  const int64_t sizes[] = {1, 2, 15, 16, 17, 31, 33, 100};
  for (int64_t rows : sizes) {
    for (int64_t cols : sizes) {
      SCOPED_TRACE(testing::Message() << rows << " x " << cols);
      const int64_t in_ld = cols + 3, out_ld = rows + 5;
      std::vector<uint32_t> in(rows * in_ld);
      for (size_t i = 0; i < in.size(); ++i) in[i] = static_cast<uint32_t>(i * 2654435761u + 7);
      const uint32_t kUntouched = 0xDEADBEEFu;
      std::vector<uint32_t> out(cols * out_ld, kUntouched);
      fp32::Transpose(in.data(), in_ld, rows, cols, out.data(), out_ld);
      int64_t wrong = 0;
      for (int64_t c = 0; c < cols; ++c) {
        for (int64_t r = 0; r < out_ld; ++r) {
          const uint32_t want = r < rows ? in[r * in_ld + c] : kUntouched;
          wrong += out[c * out_ld + r] != want;
        }
      }
      EXPECT_EQ(wrong, 0);
    }
  }
}

TEST(GemmFp32Test, OurKernelMatchesADoubleProductOnOddShapes) {
  if (!Fp32KernelSupported()) {
    GTEST_SKIP() << "this CPU has no avx512f (or HPSWEEP_FP32_EIGEN is set): fp32 is Eigen's";
  }
  // |got - want| <= 1e-5 * (sum |a||b| + |c0|): fp32 accumulation error only, in each layout.
  Rng rng(23);
  for (const Shape& s : kShapes) {
    for (bool transposed : {false, true}) {
      for (bool accumulate : {false, true}) {
        SCOPED_TRACE(testing::Message() << s.M << "x" << s.K << "x" << s.N
                                        << (transposed ? " B^T" : "") << (accumulate ? " +=" : ""));
        Mat<float> a_store = RandomMat(s.M, s.K + 3, &rng);
        Mat<float> b = transposed ? RandomMat(s.N, s.K, &rng) : RandomMat(s.K, s.N, &rng);
        Mat<float> c_store = RandomMat(s.M, s.N + 5, &rng);
        Mat<double> a = a_store.cast<double>().leftCols(s.K);
        Mat<double> bk = transposed ? Mat<double>(b.cast<double>().transpose()) : b.cast<double>();
        Mat<double> want = a * bk, scale = a.cwiseAbs() * bk.cwiseAbs();
        if (accumulate) {
          want += c_store.leftCols(s.N).cast<double>();
          scale += c_store.leftCols(s.N).cast<double>().cwiseAbs();
        }
        Operand<float> op;
        op.Set(Precision::kFp32, b.data(), b.cols(), s.K, s.N, transposed);
        Gemm<float> gemm;
        gemm.set_fp32_kernel(Fp32Kernel::kAvx512);
        Mat<float> c = c_store;
        gemm.Mul(a_store.data(), a_store.cols(), s.M, op, c.data(), c.cols(), accumulate);
        ExpectClose(c.leftCols(s.N), want, scale, "Mul");
        EXPECT_EQ(c.rightCols(5), c_store.rightCols(5));  // past N: untouched
        Mat<float> again = c_store;
        gemm.Mul(a_store.data(), a_store.cols(), s.M, op, again.data(), again.cols(), accumulate);
        EXPECT_EQ(std::memcmp(again.data(), c.data(), sizeof(float) * c.size()), 0);
        // Not Eigen's bits in disguise: the two agree to rounding, not necessarily exactly.
        Mat<float> eigen = c_store;
        Gemm<float> by_eigen;
        by_eigen.set_fp32_kernel(Fp32Kernel::kEigen);
        by_eigen.Mul(a_store.data(), a_store.cols(), s.M, op, eigen.data(), eigen.cols(),
                     accumulate);
        ExpectClose(eigen.leftCols(s.N), want, scale, "Eigen");
      }
    }
    // The bias starts every row's sum; a^T b sums over rows.
    Mat<float> a = RandomMat(s.M, s.K, &rng), b = RandomMat(s.K, s.N, &rng);
    Mat<float> bias = RandomMat(1, s.N, &rng), at = RandomMat(s.K, s.M, &rng);
    Operand<float> op, oa;
    op.Set(Precision::kFp32, b.data(), s.N, s.K, s.N, false);
    oa.Set(Precision::kFp32, at.data(), s.M, s.K, s.M, false);
    Gemm<float> gemm;
    gemm.set_fp32_kernel(Fp32Kernel::kAvx512);
    Mat<float> cb(s.M, s.N), ct = RandomMat(s.M, s.N, &rng);
    const Mat<float> ct0 = ct;
    gemm.MulAddBias(a.data(), s.K, s.M, op, bias.data(), cb.data(), s.N);
    gemm.MulTransA(oa, op, ct.data(), s.N, true);
    Mat<double> wb = a.cast<double>() * b.cast<double>();
    wb.rowwise() += bias.cast<double>().row(0);
    Mat<double> sb = a.cast<double>().cwiseAbs() * b.cast<double>().cwiseAbs();
    sb.rowwise() += bias.cast<double>().cwiseAbs().row(0);
    ExpectClose(cb, wb, sb, "MulAddBias");
    Mat<double> wt = at.cast<double>().transpose() * b.cast<double>() + ct0.cast<double>();
    Mat<double> st = at.cast<double>().cwiseAbs().transpose() * b.cast<double>().cwiseAbs() +
                     ct0.cast<double>().cwiseAbs();
    ExpectClose(ct, wt, st, "MulTransA");
  }
}

}  // namespace
}  // namespace hpsweep
