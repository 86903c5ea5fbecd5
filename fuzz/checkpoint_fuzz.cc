// Fuzz target: training checkpoints (engine/checkpoint.h), against a small fixed trial config
// (LSTM of 4 units, Adam, 3 epochs). Each input is parsed twice: as it is, and with a correct
// CRC-32 appended, so that the header checks and the records behind the checksum are reached too.
// A checkpoint of the current version that parses must serialise back to the same bytes (an
// older version's serialises as the current one).
#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "engine/checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 256 * 1024) return 0;
  static const hpsweep::TrialConfig config = [] {
    hpsweep::TrialConfig c;
    (void)hpsweep::ApplyKey("cell", "lstm", &c);
    (void)hpsweep::ApplyKey("units", "4", &c);
    (void)hpsweep::ApplyKey("epochs", "3", &c);
    return c;
  }();
  std::string bytes(reinterpret_cast<const char*>(data), size);
  (void)hpsweep::PeekCheckpointEpoch(bytes);
  (void)hpsweep::ParseCheckpoint(bytes, config, "fuzz.ckpt");

  const uint32_t crc = static_cast<uint32_t>(
      crc32(crc32(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(data), static_cast<uInt>(size)));
  bytes.append(reinterpret_cast<const char*>(&crc), sizeof(crc));  // little-endian, as saved
  hpsweep::StatusOr<hpsweep::TrainCheckpoint> c =
      hpsweep::ParseCheckpoint(bytes, config, "fuzz.ckpt");
  if (!c.ok()) return 0;
  uint32_t version = 0;
  std::memcpy(&version, bytes.data() + 8, sizeof(version));  // after the 8-byte magic
  if (version == hpsweep::kCheckpointVersion && hpsweep::SerializeCheckpoint(config, *c) != bytes) {
    std::abort();  // a checkpoint that parses must serialise back unchanged
  }
  return 0;
}
