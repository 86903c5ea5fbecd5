// `hpsweep extend` (cli/extend_command.h).
#include "cli/extend_command.h"

#include <grpcpp/grpcpp.h>

#include <iostream>
#include <string>

#include "cli/client.h"
#include "cli/sweep_commands.h"
#include "cli/tables.h"
#include "coordinator/scheduler.h"
#include "proto/hpsweep.grpc.pb.h"

namespace hpsweep {

namespace pb = ::hpsweep::v1;

namespace {

// SWEEP as an id (digits), or the latest sweep (highest id) named so among `sweeps`.
StatusOr<int64_t> ResolveExtendTarget(const std::string& target,
                                      const std::vector<std::pair<int64_t, std::string>>& sweeps) {
  if (target.empty()) return InvalidArgument("SWEEP: give a sweep's id or name");
  if (target.size() <= 18 && target.find_first_not_of("0123456789") == std::string::npos) {
    return std::stoll(target);
  }
  int64_t id = 0;
  for (const auto& [sweep_id, name] : sweeps) {
    if (name == target && sweep_id > id) id = sweep_id;
  }
  if (id == 0) return NotFound("no sweep named '" + EscapeText(target) + "'");
  return id;
}

}  // namespace

CLI::App* AddExtendCommand(CLI::App* app, Flags* f) {
  CLI::App* extend = app->add_subcommand(
      "extend", "a bayes or random sweep goes on from its history: raise its max_trials");
  extend->add_option("sweep", f->target, "sweep id or name (a name: its latest sweep)")
      ->required();
  CLI::Option* to = extend->add_option("--max-trials", f->max_trials,
                                       "the new max_trials, larger than the sweep's");
  CLI::Option* more = extend->add_option("--more", f->more, "this many trials more");
  to->check(CLI::Range(1, kMaxTrialsPerSweep));
  more->check(CLI::Range(1, kMaxTrialsPerSweep));
  to->excludes(more);
  extend->add_option("--coordinator", f->coordinator, "host:port")->capture_default_str();
  extend->add_option("--db", f->db,
                     "extend it in this SQLite file instead (one no coordinator is serving: a "
                     "finished run's; run its file again to train the new trials)");
  AddClientSecurityOptions(extend, &f->client);
  return extend;
}

int RunExtend(const Flags& f) {
  if ((f.max_trials > 0) == (f.more > 0)) {
    return Fail(InvalidArgument("extend: give --max-trials N (the new total) or --more K"));
  }
  pb::ExtendSweepResponse resp;
  if (!f.db.empty()) {
    auto db = OpenDb(f.db);
    if (!db.ok()) return Fail(db.status());
    Scheduler* sched = (*db)->scheduler.get();
    std::vector<std::pair<int64_t, std::string>> sweeps;
    for (const SweepCounts& c : sched->Counts(0)) sweeps.push_back({c.sweep.id, c.sweep.name});
    StatusOr<int64_t> id = ResolveExtendTarget(f.target, sweeps);
    if (!id.ok()) return Fail(id.status());
    int previous = 0;
    for (const SweepCounts& c : sched->Counts(*id)) previous = c.sweep.total;
    StatusOr<SweepRow> sw = sched->Extend(*id, f.max_trials, f.more);
    if (!sw.ok()) return Fail(sw.status());
    resp.set_sweep_id(sw->id);
    resp.set_name(sw->name);
    resp.set_max_trials(sw->max_trials);
    resp.set_total(sw->total);
    resp.set_previous_total(previous);
  } else {
    auto stub = Connect(f.coordinator, f.client);
    if (!stub.ok()) return Fail(stub.status());
    pb::GetStatusResponse all;
    grpc::Status s = (*stub)->GetStatus(Ctx().get(), pb::GetStatusRequest(), &all);
    if (!s.ok()) return FailRpc("extend", f.coordinator, s);
    std::vector<std::pair<int64_t, std::string>> sweeps;
    for (const pb::SweepStatus& sw : all.sweeps()) sweeps.push_back({sw.sweep_id(), sw.name()});
    StatusOr<int64_t> id = ResolveExtendTarget(f.target, sweeps);
    if (!id.ok()) return Fail(id.status());
    pb::ExtendSweepRequest req;
    req.set_sweep_id(*id);
    req.set_max_trials(f.max_trials);
    req.set_more(f.more);
    s = (*stub)->ExtendSweep(Ctx().get(), req, &resp);
    if (!s.ok()) return FailRpc("extend", f.coordinator, s);
  }
  std::cout << "sweep " << resp.sweep_id() << " (" << resp.name() << ") extended to max_trials "
            << resp.max_trials() << ": "
            << Counted(resp.total() - resp.previous_total(), "more trial") << " to propose ("
            << resp.total() << " in all); it is running"
            << (f.db.empty() ? "\n" : "; run its file again with --db " + f.db + " to train them\n");
  return 0;
}

}  // namespace hpsweep
