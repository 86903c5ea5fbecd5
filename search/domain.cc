// The coordinator's domain types (search/domain.h): TrialStatus names.
#include "search/domain.h"

#include <string>
#include <utility>

namespace hpsweep {

SweepRanking RankingOf(const SweepRow& sweep) {
  return MakeRanking(sweep.metric, sweep.maximize, sweep.objectives, sweep.constraints);
}

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

const char* SweepStateName(SweepState s) {
  switch (s) {
    case SweepState::kRunning: return "running";
    case SweepState::kCompleted: return "completed";
    case SweepState::kCancelled: return "cancelled";
  }
  return "unknown";
}

bool ParseSweepState(const std::string& name, SweepState* out) {
  for (SweepState s : {SweepState::kRunning, SweepState::kCompleted, SweepState::kCancelled}) {
    if (name == SweepStateName(s)) {
      *out = s;
      return true;
    }
  }
  return false;
}

std::ostream& operator<<(std::ostream& os, SweepState s) { return os << SweepStateName(s); }

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
