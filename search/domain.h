// The coordinator's domain types: plain values with no I/O. Storage (coordinator/store/storage.h)
// reads and writes them; the scheduler, samplers, pruners and objectives work on them.
//   TrialStatus  where a trial is in its life (queued, running, ... pruned), and its names.
//   SweepRow     one sweep: its file, metric and direction, state and trial count.
//   TrialRow     one trial: params, lease, progress and results.
//   EpochRow     one epoch's metrics of a trial.
//   AttemptRow   one lease of a trial: who ran it, when, and where it resumed from.
//   WorkerRow    one worker: where it runs and what it did.
//
// Thread-safety: plain values; a caller that shares one across threads locks it.
#ifndef HPSWEEP_SEARCH_DOMAIN_H_
#define HPSWEEP_SEARCH_DOMAIN_H_

#include <cstdint>
#include <limits>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "search/ranking.h"

namespace hpsweep {

// kStopped: the sweep was cancelled; kPruned: stopped early by the sweep's early_terminate
// (search/pruner.h). Both keep their metrics so far.
enum class TrialStatus { kQueued, kRunning, kCompleted, kFailed, kStopped, kPruned };
const char* TrialStatusName(TrialStatus s);  // "queued", "running", ...
bool ParseTrialStatus(const std::string& name, TrialStatus* out);

// A sweep is running until every trial has ended (completed) or it is cancelled. Stored and sent
// (SweepStatus.state) as its name.
enum class SweepState { kRunning, kCompleted, kCancelled };
const char* SweepStateName(SweepState s);  // "running", "completed", "cancelled"
bool ParseSweepState(const std::string& name, SweepState* out);
std::ostream& operator<<(std::ostream& os, SweepState s);  // its name (test messages, logs)

struct SweepRow {
  int64_t id = 0;
  std::string name, description, file_name, yaml;
  SweepState state = SweepState::kRunning;
  std::string metric = "val_accuracy";
  bool maximize = true;
  int max_attempts = 3;
  int total = 0;  // trials
  double created_at = 0, finished_at = 0;
  // Submitted with reuse: a trial identical to a completed one of another sweep copies its
  // result instead of training (coordinator/scheduler.h, "Reuse").
  bool reuse = false;
  // A sweep of the user's own program (docs/programs.md): its name, which only workers that
  // offer it may lease; "" for the engine's models. Its attempts end past max_trial_seconds
  // (0: no limit).
  std::string program;
  double max_trial_seconds = 0;
  uint64_t seed = 0;  // the sweep file's seed (a program's trial file carries it)
  // The sweep file's quarantine_after (coordinator/scheduler.h, "Quarantine"): a worker whose
  // last this many attempts failed while the sweep's trials completed elsewhere gets no more
  // leases; 0: off for this sweep; -1: not set (the coordinator's --quarantine-after).
  int quarantine_after = -1;
  // `metric:` as a list (every objective, the first being metric/maximize; empty for one metric)
  // and `constraints:` (search/ranking.h). Not columns: read from the stored file when the
  // scheduler loads the sweep (RankingOf).
  std::vector<ObjectiveSpec> objectives;
  std::vector<ConstraintSpec> constraints;
  // `hpsweep extend` (coordinator/scheduler.h, "Extending a sweep"): the max_trials it set, which
  // replaces the file's; 0: the file's.
  int max_trials = 0;
  // method: pbt: the epoch after which its population last decided (0: none yet); its members
  // train up to the next segment's end (coordinator/scheduler.h, "Population-based training").
  int pbt_epoch = 0;
};

// The ranking of a sweep's trials: its objectives and constraints, or its one metric.
SweepRanking RankingOf(const SweepRow& sweep);

// A named metric that has no value (a program trial that never reported its sweep's metric).
constexpr double kNoMetric = std::numeric_limits<double>::quiet_NaN();

struct TrialRow {
  int64_t id = 0, sweep_id = 0;
  int number = 0;                             // 1-based within the sweep
  std::map<std::string, std::string> params;  // stored as a JSON object
  TrialStatus status = TrialStatus::kQueued;
  int attempts = 0;      // leases handed out so far
  std::string lease_id;  // current lease, "" when none
  double lease_deadline = 0;
  int64_t worker_id = 0;
  std::string worker_name;
  double created_at = 0, started_at = 0, finished_at = 0;
  double best_val_accuracy = -1;  // -1: no epoch yet
  double best_val_loss = -1;
  int best_epoch = 0;
  int epochs_run = 0;
  double test_accuracy = -1, test_loss = -1;
  double seconds = 0;              // training time of the final attempt
  std::string error;               // why it failed (or each failed attempt's reason)
  std::vector<int64_t> confusion;  // 10x10 row-major, stored as JSON
  // Its result was copied from an identical completed trial, "sweep 3 #2" (its sweep id and
  // number), instead of trained; "" when it trained (scheduler.h, "Reuse").
  std::string reused_from;
  // A program trial: its value of the sweep's metric (the best epoch's by the goal, or its final
  // line's), NaN when it has none; and the metrics of its final line (test metrics). Any finite
  // number: a program's metric may be negative.
  double metric_value = kNoMetric;
  std::map<std::string, double> final_metrics;
  // The epoch its test metrics and model come from (keep: best or last); 0 when unknown (a
  // program trial, or no test). Early stopping ended it after stopped_epoch; 0 if it did not.
  int weights_epoch = 0;
  int stopped_epoch = 0;
  // A pbt member whose params changed during training: its schedule and lineage as JSON
  // (search/pbt.h, ScheduleJson); "" when it trained under its first params throughout.
  std::string schedule;
};

struct EpochRow {
  int64_t trial_id = 0;
  int epoch = 0;
  // -1 (a program trial that did not report it): not measured.
  double train_loss = 0, train_accuracy = 0, val_loss = 0, val_accuracy = 0, seconds = 0;
  double recorded_at = 0;
  // A program trial's epoch: every metric it reported, by name (empty for the engine's).
  std::map<std::string, double> metrics;
  double lr = kNoMetric;  // the epoch's learning rate; NaN (NULL) when not known
};

// One lease of a trial (the attempts table): who ran it, when, and the epoch it resumed after
// (0: from scratch). ended_at 0 while it runs.
struct AttemptRow {
  int64_t trial_id = 0;
  int attempt = 0;  // the trial's attempts count when it was leased (a give-back repeats it)
  int64_t worker_id = 0;
  std::string worker_name;
  double started_at = 0, ended_at = 0;
  int resumed_from_epoch = 0;
};

struct WorkerRow {
  int64_t id = 0;
  std::string name;
  int threads = 0;
  double first_seen = 0, last_seen = 0;
  std::string host;       // as the worker said; "" if it did not
  std::string job_id;     // its launcher's job id (Slurm, HPSWEEP_JOB_ID, a pod); "" if none
  int trials_done = 0;    // results it delivered (completed or stopped)
  int trials_failed = 0;  // attempts that failed on it (FailTrial, not a give-back; lease expired)
  // The programs it offers (docs/programs.md), by name, as it last registered; stored as
  // "a,b" (names never hold a comma).
  std::vector<std::string> programs;
  // Its CPU runs bf16 products (avx512_bf16), as it last registered: only such a worker is leased
  // a trial with precision: bf16. Stored, so that a worker still leasing after a coordinator
  // restart (without registering again) keeps it.
  bool bf16 = false;
  // What it registered with last: a digest of its binary, programs and data (the worker's
  // WorkerFingerprint); a registration with another one lifts a quarantine. "" if none sent.
  std::string fingerprint;
  // Quarantined (coordinator/scheduler.h, "Quarantine"): the last error of the attempts that got
  // it there, and when; "" and 0 when it is not. A quarantined worker is leased nothing.
  std::string quarantine;
  double quarantined_at = 0;
};

}  // namespace hpsweep

#endif  // HPSWEEP_SEARCH_DOMAIN_H_
