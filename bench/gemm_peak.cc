// Prints the float GEMM rate (GFLOP/s) Eigen reaches here, with 1 and 2 threads, for a large
// square product and for the shapes one LSTM-128 training step at batch 128 runs; then our own
// fp32 kernel's on the same shapes where the CPU has avx512f. It is the
// ceiling the engine's figures in docs/benchmarks.md are compared with. Where the CPU has
// avx512_bf16, the same for the engine's bf16 kernels (engine/gemm.h; AMX tiles where the CPU has
// amx_bf16): one thread, and two threads each running its own product, as the engine's shards do.
//
//   hpsweep_gemm_peak            the tables
//   hpsweep_gemm_peak --peak [T] one number: Eigen's 2048^3 rate with T threads (1 or 2, default
//                                2), GFLOP/s (the reference of bench/fraction.sh, timed between
//                                its rounds)
#include <Eigen/Core>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <vector>

#include "base/cpu_info.h"
#include "engine/gemm.h"
#include "engine/tensor.h"

namespace {

using hpsweep::Mat;

// Median GFLOP/s of `rounds` timings of (m, k) x (k, n).
double Rate(int m, int k, int n, int rounds) {
  Mat<float> a = Mat<float>::Random(m, k), b = Mat<float>::Random(k, n), c(m, n);
  c.noalias() = a * b;
  const double flop = 2.0 * m * k * n;
  const int reps = std::max(1, static_cast<int>(2e9 / flop));
  std::vector<double> rates;
  for (int r = 0; r < rounds; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < reps; ++i) c.noalias() = a * b;
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    rates.push_back(flop * reps / s / 1e9);
  }
  std::sort(rates.begin(), rates.end());
  return rates[rates.size() / 2];
}

// Median GFLOP/s of the engine's product (m, k) x (k, n) in precision p, B packed once (as the
// recurrent kernel is per pass); with threads > 1, each thread runs its own product and the rates
// add up.
double EngineRate(hpsweep::Precision p, int m, int k, int n, int rounds, int threads) {
  std::vector<double> rates;
  for (int r = 0; r < rounds; ++r) {
    double total = 0;
#pragma omp parallel num_threads(threads) reduction(+ : total)
    {
      Mat<float> a = Mat<float>::Random(m, k), b = Mat<float>::Random(k, n), c(m, n);
      hpsweep::Operand<float> op;
      op.Set(p, b.data(), n, k, n, false);
      hpsweep::Gemm<float> gemm;
      gemm.set_precision(p);
      gemm.Mul(a.data(), k, m, op, c.data(), n, false);
      const double flop = 2.0 * m * k * n;
      const int reps = std::max(1, static_cast<int>(2e9 / flop));
      auto t0 = std::chrono::steady_clock::now();
      for (int i = 0; i < reps; ++i) gemm.Mul(a.data(), k, m, op, c.data(), n, false);
      double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      total += flop * reps / s / 1e9;
    }
    rates.push_back(total);
  }
  std::sort(rates.begin(), rates.end());
  return rates[rates.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && argc <= 3 && std::strcmp(argv[1], "--peak") == 0 &&
      (argc == 2 || std::strcmp(argv[2], "1") == 0 || std::strcmp(argv[2], "2") == 0)) {
    Eigen::setNbThreads(argc == 3 ? argv[2][0] - '0' : 2);
    std::printf("%.1f\n", Rate(2048, 2048, 2048, 7));
    return 0;
  }
  if (argc > 1) {
    std::fprintf(stderr, "usage: hpsweep_gemm_peak [--peak [1|2]]\n");
    return 2;
  }
  std::printf("cpu: %s\n", hpsweep::CpuSummary().c_str());
  std::printf("%-34s %12s %12s\n", "float GEMM (m x k x n)", "1 thread", "2 threads");
  struct Shape {
    const char* name;
    int m, k, n;
  } shapes[] = {
      {"2048 x 2048 x 2048 (peak)", 2048, 2048, 2048},
      {"64 x 128 x 512 (h Wh, one shard)", 64, 128, 512},
      {"3584 x 28 x 512 (x Wx, all steps)", 3584, 28, 512},
      {"128 x 3584 x 512 (dWh over steps)", 128, 3584, 512},
  };
  for (const Shape& s : shapes) {
    Eigen::setNbThreads(1);
    const double one = Rate(s.m, s.k, s.n, 5);
    Eigen::setNbThreads(2);
    const double two = Rate(s.m, s.k, s.n, 5);
    std::printf("%-34s %9.1f GF %9.1f GF\n", s.name, one, two);
  }
  if (hpsweep::Fp32KernelSupported()) {
    std::printf("%-34s %12s %12s\n", "fp32 kernel, ours (m x k x n)", "1 thread", "2 x 1 thread");
    for (const Shape& s : shapes) {
      const double one = EngineRate(hpsweep::Precision::kFp32, s.m, s.k, s.n, 5, 1);
      const double two = EngineRate(hpsweep::Precision::kFp32, s.m, s.k, s.n, 5, 2);
      std::printf("%-34s %9.1f GF %9.1f GF\n", s.name, one, two);
    }
  }
  if (!hpsweep::Bf16Supported()) {
    std::printf("bf16: %s, not measured\n", hpsweep::Bf16Description().c_str());
    return 0;
  }
  // The kernel this CPU uses (AMX tiles where it has amx_bf16; HPSWEEP_DISABLE_AMX=1 measures
  // the AVX-512 one on the same machine).
  std::printf("%s kernels (m x k x n)%*s %12s %12s\n", hpsweep::Bf16Description().c_str(),
              static_cast<int>(14 - std::min<size_t>(14, hpsweep::Bf16Description().size())), "",
              "1 thread", "2 x 1 thread");
  for (const Shape& s : shapes) {
    const double one = EngineRate(hpsweep::Precision::kBf16, s.m, s.k, s.n, 5, 1);
    const double two = EngineRate(hpsweep::Precision::kBf16, s.m, s.k, s.n, 5, 2);
    std::printf("%-34s %9.1f GF %9.1f GF\n", s.name, one, two);
  }
  return 0;
}
