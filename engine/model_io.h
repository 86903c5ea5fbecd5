// Model files: a trained model saved to disk and loaded back, bit for bit.
//
// Format (version 1), little-endian:
//   "hpsweep-model 1\n"
//   "key=value\n" for every configuration key (config.h's vocabulary) and "steps=", "features=",
//   "classes=" for the input/output shape
//   "params=N\n" "end\n"
//   N float32 parameters, in the layers' order with Keras's weight layouts
//   4 bytes: CRC-32 (zlib) of everything before it
// A loaded model predicts exactly what the saved one did.
//
// Thread-safety: functions only; concurrent saves to the same path race (the last rename wins).
#ifndef HPSWEEP_ENGINE_MODEL_IO_H_
#define HPSWEEP_ENGINE_MODEL_IO_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "base/status.h"
#include "engine/trainer.h"

namespace hpsweep {

// Serialises to bytes / parses from bytes (used for files and for uploads over RPC).
std::string SerializeModel(const Model& model);
StatusOr<Model> ParseModel(const std::string& bytes, const std::string& source_name);

// Writes atomically (temporary file, then rename).
Status SaveModel(const Model& model, const std::string& path);
StatusOr<Model> LoadModel(const std::string& path);

// The CRC-32 (zlib's) that model and checkpoint files end with.
uint32_t Crc32(const char* data, size_t n);

}  // namespace hpsweep

#endif  // HPSWEEP_ENGINE_MODEL_IO_H_
