// Fuzz target: sweep files (search/sweep_file.h), parsed and, when valid, expanded.
#include <cstddef>
#include <cstdint>
#include <string>

#include "search/sweep_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Real sweep files are a few KB; longer inputs only slow the search down.
  if (size > 16 * 1024) return 0;
  const std::string text(reinterpret_cast<const char*>(data), size);
  hpsweep::StatusOr<hpsweep::SweepSpec> spec = hpsweep::ParseSweep(text, "fuzz.yaml");
  if (spec.ok()) (void)hpsweep::ExpandSweep(*spec, "fuzz.yaml");
  return 0;
}
