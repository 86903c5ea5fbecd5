#include "cli/sweep_flags.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <utility>

#include "base/utf8.h"

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

StatusOr<std::map<std::string, std::string>> ParseProgramFlags(
    const std::vector<std::string>& flags) {
  std::map<std::string, std::string> out;
  for (const std::string& flag : flags) {
    const size_t eq = flag.find('=');
    const std::string name = flag.substr(0, eq);
    if (eq == std::string::npos || !IsProgramName(name)) {
      return InvalidArgument("--program " + EscapeText(flag) +
                             ": expected NAME=PATH, NAME of [A-Za-z0-9._-] (1 to 64 characters), "
                             "as the sweep file's program: names it");
    }
    const std::string path = flag.substr(eq + 1);
    struct stat st;
    if (path.empty() || ::stat(path.c_str(), &st) != 0) {
      return InvalidArgument("--program " + EscapeText(flag) + ": " + EscapeText(path) +
                             ": no such file");
    }
    if (!S_ISREG(st.st_mode) || ::access(path.c_str(), X_OK) != 0) {
      return InvalidArgument("--program " + EscapeText(flag) + ": " + EscapeText(path) +
                             " is not an executable file (chmod +x it, and give a script a "
                             "#! line)");
    }
    if (!out.emplace(name, std::filesystem::absolute(path).lexically_normal().string()).second) {
      return InvalidArgument("--program " + EscapeText(flag) + ": program '" + name +
                             "' is given twice");
    }
  }
  return out;
}

}  // namespace hpsweep
