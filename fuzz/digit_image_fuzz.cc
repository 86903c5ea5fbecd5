// Fuzz target: digit images (engine/digit_image.h): PNG through libpng, JPEG through
// libjpeg-turbo, GIF through giflib (the libraries uninstrumented, our calls into them
// instrumented), the hand-written BMP and PGM/PPM parsers, then the MNIST-style conversion.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "engine/digit_image.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 64 * 1024) return 0;
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  hpsweep::StatusOr<std::vector<float>> digit = hpsweep::DecodeDigitImage(bytes, "fuzz.img");
  if (digit.ok()) {
    if (digit->size() != 28 * 28) std::abort();
    for (float v : *digit) {
      if (!(v >= 0.0f && v <= 1.0f)) std::abort();  // NaN fails this too
    }
  }
  return 0;
}
