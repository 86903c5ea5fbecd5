// Test helper: where the real MNIST is (HPSWEEP_DATA_DIR, else the folder scripts/bootstrap.sh
// fills). Tests that need it skip, saying so, when it is missing.
#ifndef HPSWEEP_TESTS_MNIST_DIR_H_
#define HPSWEEP_TESTS_MNIST_DIR_H_

#include <cstdlib>
#include <string>

namespace hpsweep {

inline std::string MnistDir() {
  const char* env = std::getenv("HPSWEEP_DATA_DIR");
  if (env != nullptr && env[0] != '\0') return env;
  return std::string(HPSWEEP_SOURCE_DIR) + "/data/mnist";
}

}  // namespace hpsweep

#endif  // HPSWEEP_TESTS_MNIST_DIR_H_
