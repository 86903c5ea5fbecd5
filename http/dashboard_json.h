// The dashboard's JSON for /api/sweeps, /api/workers and /api/sweeps/N/leaderboard, and for the
// event stream's "status", "workers" and "leaderboard" events: the read model's messages
// (coordinator/views.h: StatusProto, WorkersProto, LeaderboardViewOf) in the shape the page
// (http/assets/app.js) reads. Every rule (a worker's state, the ranking, the metric, the counts)
// is the read model's; this only renames fields and writes "not measured" as null. Internal to
// http/.
//
// Thread-safety: pure functions of their arguments.
#ifndef HPSWEEP_HTTP_DASHBOARD_JSON_H_
#define HPSWEEP_HTTP_DASHBOARD_JSON_H_

#include <cstddef>
#include <nlohmann/json.hpp>

#include "coordinator/views.h"
#include "proto/hpsweep.pb.h"

namespace hpsweep {

// {"sweeps": [...], "workers_alive": N}.
nlohmann::json SweepsJson(const v1::GetStatusResponse& status);

// {"now", "alive", "gone", "shown", "workers": [...]}: the first max_rows workers in the read
// model's order (held ones by id, then the gone ones, latest heard first); each one's "state" is
// the read model's: idle, training, quarantined or gone.
nlohmann::json WorkersJson(const v1::ListWorkersResponse& workers, size_t max_rows);

// {"sweep": {...}, "rows": [...]}, the rows in the read model's order and rank.
nlohmann::json LeaderboardJson(const LeaderboardView& view);

}  // namespace hpsweep

#endif  // HPSWEEP_HTTP_DASHBOARD_JSON_H_
