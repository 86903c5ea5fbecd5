#include "engine/model_io.h"

#include <zlib.h>

#include <charconv>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "base/file_io.h"
#include "engine/network.h"

namespace hpsweep {
namespace {

constexpr char kMagic[] = "hpsweep-model 1\n";

// Input shape bounds: each of steps, features, classes, and the flattened input (steps x
// features, what a dense model's first layer sees) as large as an IDX image may be
// (kIdxMaxSide^2), so that the layers' int arithmetic cannot overflow.
constexpr int kMaxShape = 100000;
constexpr int64_t kMaxInputValues = int64_t{4096} * 4096;
// Layers index their parameters with int.
constexpr int64_t kMaxParams = 0x7fffffff;

// The whole of `text` as a decimal integer in [lo, hi]; atoi would take "28abc" as 28 and wrap
// "4294967324" to 28.
bool ParseInt(const std::string& text, int64_t lo, int64_t hi, int64_t* out) {
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, *out);
  return ec == std::errc() && ptr == end && *out >= lo && *out <= hi;
}


}  // namespace

uint32_t Crc32(const char* data, size_t n) {
  uLong crc = crc32(0L, Z_NULL, 0);
  while (n > 0) {
    const uInt chunk = static_cast<uInt>(std::min<size_t>(n, 1u << 30));
    crc = crc32(crc, reinterpret_cast<const Bytef*>(data), chunk);
    data += chunk;
    n -= chunk;
  }
  return static_cast<uint32_t>(crc);
}

std::string SerializeModel(const Model& model) {
  std::ostringstream os;
  os << kMagic;
  for (const std::string& key : ConfigKeys()) os << key << "=" << GetKey(model.config, key) << "\n";
  os << "steps=" << model.config.model.steps << "\n";
  os << "features=" << model.config.model.features << "\n";
  os << "classes=" << model.config.model.classes << "\n";
  os << "params=" << model.params.size() << "\n";
  os << "end\n";
  std::string out = os.str();
  const size_t header = out.size();
  out.resize(header + model.params.size() * sizeof(float));
  std::memcpy(&out[header], model.params.data(), model.params.size() * sizeof(float));
  const uint32_t crc = Crc32(out.data(), out.size());
  out.append(reinterpret_cast<const char*>(&crc), sizeof(crc));
  return out;
}

StatusOr<Model> ParseModel(const std::string& bytes, const std::string& name) {
  const size_t magic_len = sizeof(kMagic) - 1;
  if (bytes.compare(0, magic_len, kMagic) != 0) {
    return InvalidArgument(name + ": not an hpsweep model file (no 'hpsweep-model 1' header)");
  }
  if (bytes.size() < magic_len + 4) return DataLoss(name + ": truncated model file");
  uint32_t stored;
  std::memcpy(&stored, bytes.data() + bytes.size() - 4, 4);
  if (Crc32(bytes.data(), bytes.size() - 4) != stored) {
    return DataLoss(name + ": checksum mismatch: the model file is corrupt or truncated");
  }
  Model model;
  size_t pos = magic_len;
  int64_t nparams = -1;
  int line_no = 1;
  std::set<std::string> seen;
  while (true) {
    const size_t eol = bytes.find('\n', pos);
    if (eol == std::string::npos || eol >= bytes.size() - 4) {
      return DataLoss(name + ": model header has no 'end' line");
    }
    const std::string line = bytes.substr(pos, eol - pos);
    pos = eol + 1;
    ++line_no;
    if (line == "end") break;
    const size_t eq = line.find('=');
    if (eq == std::string::npos) {
      return InvalidArgument(name + ":" + std::to_string(line_no) + ": expected key=value");
    }
    const std::string key = line.substr(0, eq), value = line.substr(eq + 1);
    const std::string where = name + ":" + std::to_string(line_no) + ": ";
    if (!seen.insert(key).second) return InvalidArgument(where + "key '" + key + "' given twice");
    int* shape = key == "steps"      ? &model.config.model.steps
                 : key == "features" ? &model.config.model.features
                 : key == "classes"  ? &model.config.model.classes
                                     : nullptr;
    int64_t number = 0;
    if (shape) {
      if (!ParseInt(value, 1, kMaxShape, &number)) {
        return InvalidArgument(where + "bad " + key + " '" + value +
                               "': expected an integer in [1, " + std::to_string(kMaxShape) + "]");
      }
      *shape = static_cast<int>(number);
    } else if (key == "params") {
      if (!ParseInt(value, 0, kMaxParams, &number)) {
        return InvalidArgument(where + "bad params '" + value + "': expected an integer in [0, " +
                               std::to_string(kMaxParams) + "]");
      }
      nparams = number;
    } else {
      Status s = ApplyKey(key, value, &model.config);
      if (!s.ok()) return InvalidArgument(where + s.message());
    }
  }
  const int64_t inputs = int64_t{model.config.model.steps} * model.config.model.features;
  if (inputs > kMaxInputValues) {
    return InvalidArgument(name + ": input of " + std::to_string(model.config.model.steps) + " x " +
                           std::to_string(model.config.model.features) + " values; at most " +
                           std::to_string(kMaxInputValues) + " are supported");
  }
  HPSWEEP_RETURN_IF_ERROR(Validate(model.config));
  const int64_t expected = CountParams(model.config.model);
  if (nparams != expected) {
    return DataLoss(name + ": header says " + std::to_string(nparams) + " parameters, the model " +
                    "it describes has " + std::to_string(expected));
  }
  if (bytes.size() - 4 - pos != static_cast<size_t>(expected) * sizeof(float)) {
    return DataLoss(name + ": parameter block has the wrong size");
  }
  model.params.resize(expected);
  std::memcpy(model.params.data(), bytes.data() + pos, expected * sizeof(float));
  return model;
}

Status SaveModel(const Model& model, const std::string& path) {
  // Replaced whole (a reader sees the old model or the new one), never written through a link.
  return WriteFileDurable(path, SerializeModel(model), 0644);
}

StatusOr<Model> LoadModel(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound(path + ": cannot open model file: " + std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ParseModel(ss.str(), path);
}

}  // namespace hpsweep
