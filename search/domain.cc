// The coordinator's domain types (search/domain.h): TrialStatus names.
#include "search/domain.h"

#include <string>
#include <utility>

namespace hpsweep {

const char* TrialStatusName(TrialStatus s) {
  switch (s) {
    case TrialStatus::kQueued: return "queued";
    case TrialStatus::kRunning: return "running";
    case TrialStatus::kCompleted: return "completed";
    case TrialStatus::kFailed: return "failed";
    case TrialStatus::kStopped: return "stopped";
    case TrialStatus::kPruned: return "pruned";
  }
  return "unknown";
}

bool ParseTrialStatus(const std::string& name, TrialStatus* out) {
  static const std::pair<const char*, TrialStatus> kNames[] = {
      {"queued", TrialStatus::kQueued},       {"running", TrialStatus::kRunning},
      {"completed", TrialStatus::kCompleted}, {"failed", TrialStatus::kFailed},
      {"stopped", TrialStatus::kStopped},     {"pruned", TrialStatus::kPruned},
  };
  for (const auto& [n, s] : kNames) {
    if (name == n) {
      *out = s;
      return true;
    }
  }
  return false;
}

}  // namespace hpsweep
