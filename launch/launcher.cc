#include "launch/launcher.h"

namespace hpsweep {

const char* WorkerStateName(WorkerState state) {
  switch (state) {
    case WorkerState::kPending: return "pending";
    case WorkerState::kRunning: return "running";
    case WorkerState::kExited: return "exited";
    case WorkerState::kFailed: return "failed";
  }
  return "?";
}

std::string WorkerSummary(const std::vector<LaunchedWorker>& workers) {
  int count[4] = {0, 0, 0, 0};
  for (const LaunchedWorker& w : workers) ++count[static_cast<int>(w.state)];
  std::string out;
  for (WorkerState s :
       {WorkerState::kRunning, WorkerState::kPending, WorkerState::kExited, WorkerState::kFailed}) {
    const int n = count[static_cast<int>(s)];
    if (n == 0) continue;
    if (!out.empty()) out += ", ";
    out += std::to_string(n) + " " + WorkerStateName(s);
  }
  return out.empty() ? "none" : out;
}

bool AllGone(const std::vector<LaunchedWorker>& workers) {
  for (const LaunchedWorker& w : workers) {
    if (w.state == WorkerState::kPending || w.state == WorkerState::kRunning) return false;
  }
  return true;
}

}  // namespace hpsweep
