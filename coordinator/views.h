// The coordinator's read model: sweeps' status, workers and leaderboards as the RPCs answer
// them. GetStatus, ListWorkers, GetLeaderboard and ExportSweep build their answers here, and so do the
// `--db` commands, which read a database file with no coordinator; the CLI prints these messages
// and the Python client reads them, so every reader sees one vocabulary (a worker is idle,
// training or gone).
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
