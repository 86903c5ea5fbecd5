// Events: the coordinator's account of what happened, one line per event that matters to an
// operator: a sweep submitted, finished or cancelled; a trial leased, completed, failed or given
// back; a lease expired; a worker joined or gone. The scheduler builds each Event (the builders
// below) and hands it to an EventLog once the change is committed, never before: a change that is
// rolled back logs nothing.
//
// One seam, so that tests capture events instead of parsing a file: the scheduler knows EventLog
// only; SpdlogEventLog (MakeEventLog) writes them with spdlog, as text for people or as one JSON
// object per line (--log-format json) for log collectors.
//
// Secrets never reach an event: no lease id (a worker's only credential; not even a prefix) and
// no token (the scheduler never sees one). Text a worker sent (its error) is cut to
// kMaxEventTextBytes; in text lines control characters are escaped, so no input can forge a line.
//
// Thread-safety: EventLog::Record may be called from any thread; SpdlogEventLog serialises
// writes. Events are plain values.
#ifndef HPSWEEP_COORDINATOR_EVENTS_H_
#define HPSWEEP_COORDINATOR_EVENTS_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "coordinator/store/storage.h"
#include "base/status.h"

namespace hpsweep {

constexpr size_t kMaxEventTextBytes = 300;  // a worker's error text in an event

enum class EventLevel { kInfo, kWarning };

struct Event {
  using Value = std::variant<int64_t, double, bool, std::string>;
  std::string name;  // snake_case: "trial_leased"
  EventLevel level = EventLevel::kInfo;
  std::string message;                                // one sentence for people
  std::vector<std::pair<std::string, Value>> fields;  // typed, for JSON (in this order)
  double time = 0;                                    // Unix seconds, set by the scheduler

  Event& With(std::string key, int64_t v);
  Event& With(std::string key, int v) { return With(std::move(key), static_cast<int64_t>(v)); }
  Event& With(std::string key, double v);
  Event& With(std::string key, bool v);
  Event& With(std::string key, std::string v);
  Event& With(std::string key, const char* v) { return With(std::move(key), std::string(v)); }
};

class EventLog {
 public:
  virtual ~EventLog() = default;
  virtual void Record(const Event& event) = 0;
};

enum class LogFormat { kText, kJson };
// "text" or "json"; InvalidArgument naming --log-format otherwise.
StatusOr<LogFormat> ParseLogFormat(const std::string& name);

// {"time": "2026-01-02T03:04:05.678Z", "level": "info", "event": name, "msg": message, fields...}
// on one line; text that is not UTF-8 is replaced, never thrown on.
std::string EventJson(const Event& event);
// "2026-01-02T03:04:05.678Z INFO  trial #3 of sweep 1 (quick) leased to worker 'w1', attempt 1/3"
std::string EventText(const Event& event);

// Writes every event with spdlog, to stderr (path "") or appended to the file at path, and
// flushes each line. Returns IoError naming the path if the file cannot be opened.
StatusOr<std::unique_ptr<EventLog>> MakeEventLog(LogFormat format, const std::string& path);

// The events the scheduler records. `sweep` is the trial's sweep; `worker` the trial's worker.
namespace events {
Event SweepSubmitted(const SweepRow& sweep, const std::string& file_name);
Event SweepCancelled(const SweepRow& sweep, int stopped);
// `hpsweep extend`: sweep.max_trials is the new limit, sweep.total its trials; before: the total.
Event SweepExtended(const SweepRow& sweep, int before);
// completed or cancelled; the counts of its trials by status (pruned: stopped early by
// early_terminate).
Event SweepFinished(const SweepRow& sweep, int completed, int failed, int stopped, int pruned);
Event TrialLeased(const TrialRow& trial, const SweepRow& sweep);
// status: completed, stopped or pruned (then at which epoch). Reports the sweep's metric (name,
// goal, the trial's value: "best val_loss 1.5476 at epoch 2"); a value not measured (a test
// metric of a pruned trial) is null in JSON, never -1.
Event TrialCompleted(const TrialRow& trial, const SweepRow& sweep, TrialStatus status);
// A failed attempt; outcome: queued (tried again), failed (no attempt left) or stopped.
Event TrialFailed(const TrialRow& trial, const SweepRow& sweep, const std::string& error,
                  TrialStatus outcome);
// Given back by its worker (no attempt charged); outcome: queued or stopped.
Event TrialReleased(const TrialRow& trial, const SweepRow& sweep, const std::string& error,
                    TrialStatus outcome);
// trial.worker_* is the worker that stopped reporting; outcome as TrialFailed.
Event LeaseExpired(const TrialRow& trial, const SweepRow& sweep, TrialStatus outcome);
Event WorkerJoined(const WorkerRow& worker);
// Not heard from for silent_seconds (at least a lease period).
Event WorkerGone(const WorkerRow& worker, double silent_seconds);
// Quarantined (worker.quarantine says why); given_back: attempts it spent, given back uncharged.
Event WorkerQuarantined(const WorkerRow& worker, int given_back);
// Its quarantine lifted: `how` is "released" (hpsweep workers --release) or "new fingerprint".
Event WorkerReleased(const WorkerRow& worker, const std::string& how);
}  // namespace events

}  // namespace hpsweep

#endif  // HPSWEEP_COORDINATOR_EVENTS_H_
