// Matrix types and the random number generator the engine uses.
//
// Activations are batch-major float32 (or float64 in gradient tests) Eigen matrices. A sequence
// batch of B samples and T steps is stored time-major, (T*B, F): row t*B + b holds step t of sample
// b, so one time step is a contiguous block of B rows (a recurrent layer projects each step's
// block just before the step). A non-sequence batch has steps == 1 and shape (B, F).
//
// Thread-safety: plain values; a Tensor or Rng is owned by one thread at a time.
#ifndef HPSWEEP_ENGINE_TENSOR_H_
#define HPSWEEP_ENGINE_TENSOR_H_

#include <Eigen/Core>
#include <cmath>
#include <cstdint>

namespace hpsweep {

template <typename T>
using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <typename T>
using RowVec = Eigen::Matrix<T, 1, Eigen::Dynamic>;
template <typename T>
using MatMap = Eigen::Map<Mat<T>>;
template <typename T>
using ConstMatMap = Eigen::Map<const Mat<T>>;
template <typename T>
using RowVecMap = Eigen::Map<RowVec<T>>;
template <typename T>
using ConstRowVecMap = Eigen::Map<const RowVec<T>>;

// A batch of activations: data is (steps*B, F), time-major when steps > 1.
template <typename T>
struct Tensor {
  Mat<T> data;
  int steps = 1;

  int batch() const { return static_cast<int>(data.rows()) / steps; }
  int features() const { return static_cast<int>(data.cols()); }
  // Rows of step t: (B, F).
  auto step(int t) { return data.middleRows(static_cast<Eigen::Index>(t) * batch(), batch()); }
  auto step(int t) const {
    return data.middleRows(static_cast<Eigen::Index>(t) * batch(), batch());
  }
};

// splitmix64: small, fast and good enough for shuffling, dropout masks and initialisers.
// The same seed gives the same stream on every machine.
class Rng {
 public:
  explicit Rng(uint64_t seed = 0) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // Uniform in [0, 1) with 24 random bits (exact in float).
  float UniformFloat() { return static_cast<float>(Next() >> 40) * (1.0f / 16777216.0f); }
  // Uniform in [0, 1) with 53 random bits.
  double Uniform() { return static_cast<double>(Next() >> 11) * (1.0 / 9007199254740992.0); }
  double Uniform(double lo, double hi) { return lo + (hi - lo) * Uniform(); }
  // Uniform integer in [0, n). REQUIRES: n > 0.
  uint64_t Below(uint64_t n) { return Next() % n; }
  // Standard normal (Box-Muller).
  double Normal() {
    double u1 = Uniform(), u2 = Uniform();
    if (u1 < 1e-300) u1 = 1e-300;
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }
  // A stream derived from this seed and a key, independent of how much of this stream was used.
  static uint64_t Mix(uint64_t seed, uint64_t key) {
    Rng r(seed ^ (key * 0xd1b54a32d192ed03ULL));
    r.Next();
    return r.Next();
  }

 private:
  uint64_t state_;
};

}  // namespace hpsweep

#endif  // HPSWEEP_ENGINE_TENSOR_H_
