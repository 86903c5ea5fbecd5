// Fuzz target: IDX files (engine/idx.h), plain and gzipped, read as images and as labels.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "engine/idx.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // 64 KB of gzip inflates to at most ~64 MB; more only slows the search down.
  if (size > 64 * 1024) return 0;
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  hpsweep::StatusOr<hpsweep::IdxImages> images = hpsweep::ParseIdxImages(bytes, "fuzz.idx");
  if (images.ok() &&
      images->pixels.size() != static_cast<size_t>(images->count) * images->rows * images->cols) {
    std::abort();  // the result must hold exactly what its shape says
  }
  (void)hpsweep::ParseIdxLabels(bytes, "fuzz.idx");
  return 0;
}
