#include "cli/sweep_flags.h"

#include <utility>

namespace hpsweep {

SweepLimits Limits(const Flags& f) {
  SweepLimits l;
  l.max_params = f.max_model_params;
  l.max_training_bytes = f.max_training_memory_mb << 20;
  return l;
}

StatusOr<std::unique_ptr<EventLog>> OpenEventLog(const Flags& f, const std::string& path) {
  auto format = ParseLogFormat(f.log_format);
  if (!format.ok()) return format.status();
  return MakeEventLog(*format, path);
}

StatusOr<SweepFile> LoadSweepFile(const std::string& path, const SweepLimits& limits) {
  SweepFile f;
  StatusOr<std::string> text = ReadSweepText(path);
  if (!text.ok()) {
    if (text.status().code() == StatusCode::kNotFound) {
      return NotFound(path + ": cannot open sweep file");
    }
    return text.status();
  }
  f.yaml = std::move(*text);
  StatusOr<PreparedSweep> sweep = PrepareSweep(f.yaml, path, limits);
  if (!sweep.ok()) return sweep.status();
  f.spec = std::move(sweep->spec);
  f.trials = std::move(sweep->trials);
  return f;
}

}  // namespace hpsweep
