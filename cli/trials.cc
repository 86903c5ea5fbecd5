#include "cli/trials.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <string_view>

#include "cli/client.h"
#include "cli/tables.h"
#include "base/utf8.h"

namespace hpsweep {
namespace {

namespace pb = ::hpsweep::v1;

// The sweeps of a database file or a coordinator, as GetStatus reports them.
StatusOr<pb::GetStatusResponse> SweepsOf(const std::string& db, const std::string& coordinator,
                                         const ClientSecurity& security) {
  if (!db.empty()) return StatusFromDb(db, 0);
  auto stub = Connect(coordinator, security);
  if (!stub.ok()) return stub.status();
  pb::GetStatusResponse resp;
  grpc::Status s = (*stub)->GetStatus(Ctx().get(), pb::GetStatusRequest(), &resp);
  if (!s.ok()) return RpcError(coordinator, s);
  return resp;
}

// The ranked finished trials of a sweep (0: the latest), all of them when top is 0.
StatusOr<pb::GetLeaderboardResponse> RankedOf(const std::string& db, const std::string& coordinator,
                                              const ClientSecurity& security, int64_t sweep,
                                              int top) {
  if (!db.empty()) return LeaderboardFromDb(db, sweep, top);
  pb::GetLeaderboardRequest req;
  req.set_sweep_id(sweep);
  req.set_top(top);
  auto stub = Connect(coordinator, security);
  if (!stub.ok()) return stub.status();
  pb::GetLeaderboardResponse lb;
  grpc::Status s = (*stub)->GetLeaderboard(Ctx().get(), req, &lb);
  if (!s.ok()) return RpcError(coordinator, s);
  return lb;
}

}  // namespace

StatusOr<TrialChoice> ResolveTrial(const std::string& db, const std::string& coordinator,
                                   const ClientSecurity& security, int64_t sweep,
                                   const std::string& trial, const std::string& objective) {
  int64_t number = 0;
  if (trial != "best") {
    const std::string digits = !trial.empty() && trial[0] == '#' ? trial.substr(1) : trial;
    char* end = nullptr;
    number = std::strtoll(digits.c_str(), &end, 10);
    if (digits.empty() || *end != '\0' || number <= 0 || digits.size() > 18) {
      return InvalidArgument(
          "--trial: expected a trial's number in its sweep (#N or N, as the "
          "leaderboard shows it) or 'best', got '" +
          EscapeText(std::string_view(trial).substr(0, 64)) + "'");
    }
  }
  // `best` without --sweep: the latest sweep with a finished trial that was not cancelled, so
  // that a sweep stopped after one epoch does not stand in for a finished one; else the latest.
  if (sweep == 0 && number == 0) {
    auto sweeps = SweepsOf(db, coordinator, security);
    if (!sweeps.ok()) return sweeps.status();
    int64_t latest_done = 0;
    for (const auto& s : sweeps->sweeps()) {
      if (s.completed() > 0 && s.state() != "cancelled") {
        latest_done = std::max<int64_t>(latest_done, s.sweep_id());
      }
    }
    sweep = latest_done;
  }
  if (!objective.empty() && number != 0) {
    return InvalidArgument("--objective picks the best trial on one objective: give it with "
                           "--trial best, not a trial's number");
  }
  // (several objectives: every row, to find the best on one, or to refuse `best`)
  auto lb = RankedOf(db, coordinator, security, sweep, number == 0 && objective.empty() ? 1 : 0);
  if (!lb.ok()) return lb.status();
  TrialChoice c;
  c.sweep_id = lb->sweep_id();
  c.sweep_name = lb->sweep_name();
  const pb::LeaderboardRow* row = nullptr;
  int k = -1;  // --objective's index among the sweep's objectives
  for (int i = 0; i < lb->objectives_size(); ++i) {
    if (lb->objectives(i) == objective) k = i;
  }
  if (number == 0 && lb->objectives_size() > 0 && k < 0) {
    std::string names;
    for (const auto& o : lb->objectives()) names += (names.empty() ? "" : ", ") + o;
    return InvalidArgument(
        "sweep " + std::to_string(c.sweep_id) + " (" + EscapeText(c.sweep_name) +
        ") has several objectives (" + names + "), so no one trial is best" +
        (objective.empty() ? "" : " and '" + EscapeText(objective) + "' is none of them") +
        ": give --trial N (`hpsweep leaderboard " + std::to_string(c.sweep_id) +
        "` shows the front), or --objective NAME for the best on one");
  }
  if (!objective.empty() && k < 0 && objective != lb->metric_name()) {
    return InvalidArgument("--objective: sweep " + std::to_string(c.sweep_id) + " ranks by " +
                           lb->metric_name() + ", not '" + EscapeText(objective) + "'");
  }
  for (const auto& r : lb->rows()) {
    if (k >= 0) {  // the best feasible value of objective k (rows come best first otherwise)
      if (r.infeasible() || k >= r.objective_values_size()) continue;
      const double v = r.objective_values(k);
      if (!std::isfinite(v)) continue;
      const double best = row ? row->objective_values(k) : 0;
      if (row == nullptr || (lb->objectives_maximize(k) ? v > best : v < best)) row = &r;
      continue;
    }
    if (number == 0 || r.number() == number) {
      row = &r;
      break;
    }
  }
  if (row == nullptr) {
    if (number == 0) {
      return NotFound("sweep " + std::to_string(c.sweep_id) + " has no finished trial yet");
    }
    return NotFound("sweep " + std::to_string(c.sweep_id) + " (" + EscapeText(c.sweep_name) +
                    ") has no finished trial #" + std::to_string(number) +
                    " (`hpsweep leaderboard " + std::to_string(c.sweep_id) +
                    "` lists them; --sweep picks another sweep)");
  }
  c.trial_id = row->trial_id();
  c.number = row->number();
  const std::string metric = lb->metric_name().empty() ? "val_accuracy" : lb->metric_name();
  const double value = lb->metric_name().empty() ? row->val_accuracy() : row->metric_value();
  c.description = "trial #" + std::to_string(c.number) + " of sweep " + std::to_string(c.sweep_id) +
                  " (" + EscapeText(c.sweep_name) + "): " + StatusText(row->status()) + ", " +
                  metric + " " + Fixed4(value) + ", " + std::to_string(row->epochs()) +
                  (row->epochs() == 1 ? " epoch" : " epochs");
  return c;
}

namespace {

// One of a trial's artifacts: "model" (its saved model) or "output" (a program's output).
StatusOr<std::string> FetchArtifactById(const std::string& db, const std::string& coordinator,
                                        const ClientSecurity& security, int64_t trial_id,
                                        const std::string& artifact) {
  const std::string what = artifact == "model" ? "saved model" : "kept output";
  if (!db.empty()) {
    auto reader = OpenDb(db);
    if (!reader.ok()) return reader.status();
    auto bytes = artifact == "model" ? (*reader)->scheduler->GetModel(trial_id)
                                     : (*reader)->scheduler->GetOutput(trial_id);
    if (!bytes.ok()) {
      return NotFound("trial " + std::to_string(trial_id) + " has no " + what + " in " + db);
    }
    return *bytes;
  }
  pb::GetModelRequest req;
  req.set_trial_id(trial_id);
  req.set_artifact(artifact);
  pb::GetModelResponse resp;
  auto stub = Connect(coordinator, security);
  if (!stub.ok()) return stub.status();
  grpc::Status s = (*stub)->GetModel(Ctx(120).get(), req, &resp);
  if (!s.ok()) {
    if (s.error_code() == grpc::StatusCode::NOT_FOUND) {
      return NotFound("trial " + std::to_string(trial_id) + " has no " + what);
    }
    return Unavailable(coordinator + ": " + s.error_message());
  }
  return resp.model();
}

}  // namespace

StatusOr<std::string> FetchModelById(const std::string& db, const std::string& coordinator,
                                     const ClientSecurity& security, int64_t trial_id) {
  return FetchArtifactById(db, coordinator, security, trial_id, "model");
}

StatusOr<std::string> FetchOutputById(const std::string& db, const std::string& coordinator,
                                      const ClientSecurity& security, int64_t trial_id) {
  return FetchArtifactById(db, coordinator, security, trial_id, "output");
}

StatusOr<std::string> FetchTrialModel(const std::string& db, const std::string& coordinator,
                                      const ClientSecurity& security, int64_t sweep,
                                      const std::string& trial, const std::string& objective) {
  auto choice = ResolveTrial(db, coordinator, security, sweep, trial, objective);
  if (!choice.ok()) return choice.status();
  // Say which model is used: `best` and a bare number depend on which sweep is meant.
  std::cerr << "hpsweep: using " << choice->description << "\n";
  auto model = FetchModelById(db, coordinator, security, choice->trial_id);
  if (!model.ok() && model.status().code() == StatusCode::kNotFound) {
    return NotFound(choice->description + ": no saved model");
  }
  return model;
}

}  // namespace hpsweep
