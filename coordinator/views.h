// The coordinator's read model: sweeps' status, workers and leaderboards as the RPCs answer
// them. GetStatus, ListWorkers, GetLeaderboard and ExportSweep build their answers here, and so do the
// `--db` commands, which read a database file with no coordinator; the CLI prints these messages
// and the Python client reads them, and the dashboard (http/) turns them into its JSON, so every
// reader sees one vocabulary (a worker is idle, training, quarantined or gone) and one set of rules.
//
// Thread-safety: pure functions of their arguments, but ExportSweepProto (the scheduler's).
#ifndef HPSWEEP_COORDINATOR_VIEWS_H_
#define HPSWEEP_COORDINATOR_VIEWS_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "search/domain.h"
#include "coordinator/scheduler.h"
#include "proto/hpsweep.pb.h"

namespace hpsweep {

// A trial's status as the wire names it.
v1::TrialStatus TrialStatusProto(TrialStatus s);

// Status of sweeps as GetStatus answers it (also for `status --db`, which reads a file), with the
// quarantined workers (Scheduler::QuarantinedWorkers).
v1::GetStatusResponse StatusProto(const std::vector<SweepCounts>& counts, int workers_alive,
                                  const std::vector<WorkerRow>& quarantined = {});

// Workers as ListWorkers answers it (also for `workers --db`): state idle, training, quarantined
// (alive and idle) or gone.
v1::ListWorkersResponse WorkersProto(const std::vector<WorkerView>& workers, double now,
                                     double lease_seconds);

// A leaderboard as the RPC answers it, ranked from 1 in the order given.
v1::GetLeaderboardResponse LeaderboardProto(const SweepRow& sweep,
                                            const std::vector<TrialRow>& rows);

// A leaderboard as the dashboard shows it: LeaderboardProto's answer and what the page shows
// beyond it (GetLeaderboardResponse's wire format stays as it is). A plain value.
struct LeaderboardView {
  // LeaderboardProto(sweep, rows) but for axes and fixed (the page shows neither, and they take
  // parsing the sweep's file, on every change the event stream sends).
  v1::GetLeaderboardResponse board;
  std::string program;               // the sweep's program (docs/programs.md); "" for the engine's
  std::vector<double> val_loss;      // board.rows(i)'s best val_loss; -1 when it has none
};
LeaderboardView LeaderboardViewOf(const SweepRow& sweep, const std::vector<TrialRow>& rows);

// ---- how views read these messages: one copy of each rule, for the CLI's tables and the
// dashboard alike.

// A trial's status as views print it: "queued", "running", "completed", "failed", "stopped",
// "pruned"; "?" for a value this version does not know.
const char* TrialStatusText(v1::TrialStatus s);

// The name of the order a sweep's leaderboard is ranked by (Objective::DisplayName).
std::string RankedBy(const std::string& metric_name, bool maximize);

// True when v (best_metric, metric_value) is a measured value of the metric (Objective::Has);
// else views show none.
bool MetricMeasured(const std::string& metric_name, double v);

// The trials a sweep still has to run as views count them "queued": the stored queued ones and
// those its sampler has not proposed yet.
int QueuedCount(const v1::SweepStatus& s);

// The epoch early_terminate stopped a pruned row at (its curve ends there); -1 for any other row
// (a cancel makes "stopped", not pruned).
int PrunedAtEpoch(const v1::LeaderboardRow& r);

// Whose result a row is: its worker's name, or "copied from sweep 3 #2" for a result copied from
// an identical trial (--reuse) that no worker trained.
std::string ResultSource(const v1::LeaderboardRow& r);

// A worker is training a trial (sweep_id, trial_number and epoch say which); and one is gone.
bool IsTraining(const v1::WorkerInfo& w);
bool IsGone(const v1::WorkerInfo& w);

// ExportSweep's answer (proto/hpsweep.proto): the page after req.after_trial within
// req.max_bytes (at most kMaxExportPageBytes; kDefaultExportPageBytes for a paged request that
// names no budget) and its next_after. A request with neither paging field, an older client's,
// gets the whole export if it fits kMaxExportPageBytes, else FailedPrecondition saying to page:
// never a partial export it would take for whole. InvalidArgument for negative fields or an
// after_trial that is no trial number. Reads through the scheduler (not a pure function).
Status ExportSweepProto(Scheduler* scheduler, const v1::ExportSweepRequest& req,
                        v1::ExportSweepResponse* resp);

}  // namespace hpsweep

#endif  // HPSWEEP_COORDINATOR_VIEWS_H_
