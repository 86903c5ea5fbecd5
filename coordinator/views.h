// The coordinator's read model: sweeps' status, workers and leaderboards as the RPCs answer
// them. GetStatus, ListWorkers and GetLeaderboard build their answers here, and so do the
// `--db` commands, which read a database file with no coordinator; the CLI prints these messages
// and the Python client reads them, so every reader sees one vocabulary (a worker is idle,
// training or gone).
//
// Thread-safety: pure functions of their arguments.
#ifndef HPSWEEP_COORDINATOR_VIEWS_H_
#define HPSWEEP_COORDINATOR_VIEWS_H_

#include <vector>

#include "search/domain.h"
#include "coordinator/scheduler.h"
#include "proto/hpsweep.pb.h"

namespace hpsweep {

// A trial's status as the wire names it.
v1::TrialStatus TrialStatusProto(TrialStatus s);

// Status of sweeps as GetStatus answers it (also for `status --db`, which reads a file).
v1::GetStatusResponse StatusProto(const std::vector<SweepCounts>& counts, int workers_alive);

// Workers as ListWorkers answers it (also for `workers --db`): state idle, training or gone.
v1::ListWorkersResponse WorkersProto(const std::vector<WorkerView>& workers, double now,
                                     double lease_seconds);

// A leaderboard as the RPC answers it, ranked from 1 in the order given.
v1::GetLeaderboardResponse LeaderboardProto(const SweepRow& sweep,
                                            const std::vector<TrialRow>& rows);

}  // namespace hpsweep

#endif  // HPSWEEP_COORDINATOR_VIEWS_H_
