// Fuzz target: model files (engine/model_io.h). Each input is parsed twice: as it is (mostly the
// checksum's refusal), and with a correct CRC-32 appended, so that the header and the parameter
// block behind the checksum are reached too. A model that parses must serialise and parse back to
// the same parameters.
#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "engine/model_io.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 256 * 1024) return 0;
  std::string bytes(reinterpret_cast<const char*>(data), size);
  (void)hpsweep::ParseModel(bytes, "fuzz.model");

  const uint32_t crc = static_cast<uint32_t>(
      crc32(crc32(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(data), static_cast<uInt>(size)));
  bytes.append(reinterpret_cast<const char*>(&crc), sizeof(crc));  // little-endian, as saved
  hpsweep::StatusOr<hpsweep::Model> model = hpsweep::ParseModel(bytes, "fuzz.model");
  if (!model.ok()) return 0;
  hpsweep::StatusOr<hpsweep::Model> again =
      hpsweep::ParseModel(hpsweep::SerializeModel(*model), "again.model");
  if (!again.ok() || again->params.size() != model->params.size() ||
      (!model->params.empty() && std::memcmp(again->params.data(), model->params.data(),
                                             model->params.size() * sizeof(float)) != 0)) {
    std::abort();  // a model that loads must save and load back unchanged
  }
  return 0;
}
