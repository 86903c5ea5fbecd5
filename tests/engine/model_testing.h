// What the tests of models share: Keras's parameter-count formulas (GRU as Keras's
// reset_after=True: two bias rows), a config from key=value pairs that must be valid, and a line of
// a Summary().
#ifndef HPSWEEP_TESTS_ENGINE_MODEL_TESTING_H_
#define HPSWEEP_TESTS_ENGINE_MODEL_TESTING_H_

#include <gtest/gtest.h>

#include <cstdint>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "engine/config.h"

namespace hpsweep {

inline int64_t DenseP(int64_t in, int64_t out) { return in * out + out; }
inline int64_t RnnP(int64_t f, int64_t h) { return h * (f + h + 1); }
inline int64_t LstmP(int64_t f, int64_t h) { return 4 * h * (f + h + 1); }
inline int64_t GruP(int64_t f, int64_t h) { return 3 * h * (f + h + 2); }

// The config the keys give; each key and the whole must be accepted.
inline TrialConfig ModelTestConfig(const std::vector<std::pair<std::string, std::string>>& keys) {
  TrialConfig c;
  for (const auto& [k, v] : keys) {
    Status s = ApplyKey(k, v, &c);
    EXPECT_TRUE(s.ok()) << k << "=" << v << ": " << s.ToString();
  }
  Status s = Validate(c);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return c;
}

// The first line of `text` that holds `name`, or "" if none.
inline std::string LineWith(const std::string& text, const std::string& name) {
  std::istringstream is(text);
  std::string line;
  while (std::getline(is, line)) {
    if (line.find(name) != std::string::npos) return line;
  }
  return "";
}

}  // namespace hpsweep

#endif  // HPSWEEP_TESTS_ENGINE_MODEL_TESTING_H_
