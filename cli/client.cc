#include "cli/client.h"

#include <unistd.h>

#include <chrono>
#include <climits>
#include <functional>
#include <iostream>
#include <utility>
#include <vector>

#include "coordinator/export_text.h"
#include "coordinator/service.h"

namespace hpsweep {
namespace {

namespace pb = ::hpsweep::v1;

const char* GrpcCodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::INVALID_ARGUMENT: return "invalid argument";
    case grpc::StatusCode::NOT_FOUND: return "not found";
    case grpc::StatusCode::FAILED_PRECONDITION: return "failed precondition";
    case grpc::StatusCode::DATA_LOSS: return "data loss";
    case grpc::StatusCode::INTERNAL: return "internal";
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return "resource exhausted";
    case grpc::StatusCode::UNKNOWN: return "unknown error";
    default: return "error";
  }
}

}  // namespace

int ExitCodeOf(const Status& s) {
  return s.code() == StatusCode::kInvalidArgument || s.code() == StatusCode::kNotFound ? 2 : 1;
}

int Fail(const Status& s) {
  std::cerr << "hpsweep: " << s.ToString() << "\n";
  return ExitCodeOf(s);
}

int FailRpc(const std::string& what, const std::string& addr, const grpc::Status& s) {
  std::cerr << "hpsweep: " << what << " (" << addr << "): " << s.error_message() << "\n";
  if (s.error_code() == grpc::StatusCode::UNAUTHENTICATED ||
      s.error_code() == grpc::StatusCode::PERMISSION_DENIED) {
    std::cerr << "hpsweep: pass a token of the right role with --token-file FILE or "
                 "HPSWEEP_TOKEN, and --tls-ca (README, Security)\n";
    return 2;
  }
  if (s.error_code() == grpc::StatusCode::UNAVAILABLE) {
    std::cerr << "hpsweep: is a coordinator running there? start one with "
                 "`hpsweep coordinator --listen "
              << addr << "`\n";
    return 1;
  }
  return s.error_code() == grpc::StatusCode::INVALID_ARGUMENT ||
                 s.error_code() == grpc::StatusCode::NOT_FOUND
             ? 2
             : 1;
}

StatusOr<std::unique_ptr<pb::Coordinator::Stub>> Connect(const std::string& addr,
                                                         const ClientSecurity& security) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(256 << 20);
  // Reconnect as the worker does (200 ms growing to 2 s): `status --watch` across a coordinator's
  // restart, or a command run just as it starts, waits for it, not for gRPC's default backoff
  // (1 s growing to 2 minutes).
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  auto channel = MakeChannel(addr, security, args);
  if (!channel.ok()) return channel.status();
  return pb::Coordinator::NewStub(*channel);
}

Status RpcError(const std::string& addr, const grpc::Status& s) {
  const std::string m = addr + ": " + s.error_message();
  switch (s.error_code()) {
    case grpc::StatusCode::INVALID_ARGUMENT: return InvalidArgument(m);
    case grpc::StatusCode::NOT_FOUND: return NotFound(m);
    case grpc::StatusCode::UNAUTHENTICATED:
    case grpc::StatusCode::PERMISSION_DENIED:
      return InvalidArgument(m +
                             " (pass --token-file or HPSWEEP_TOKEN with a token of the right "
                             "role, and --tls-ca)");
    default: return Unavailable(m);
  }
}

std::unique_ptr<grpc::ClientContext> Ctx(double seconds) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() +
                    std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000)));
  return ctx;
}

StatusOr<std::unique_ptr<DbReader>> OpenDb(const std::string& db, bool read_only) {
  if (access(db.c_str(), F_OK) != 0) return NotFound(db + ": no such database file");
  StorageOptions options;
  options.read_only = read_only;
  auto storage = OpenSqliteStorage(db, options);
  if (!storage.ok()) return storage.status();
  auto r = std::make_unique<DbReader>();
  r->storage = std::move(*storage);
  r->scheduler = std::make_unique<Scheduler>(r->storage.get(), &r->clock);
  HPSWEEP_RETURN_IF_ERROR(r->scheduler->Load());
  return r;
}

StatusOr<pb::GetLeaderboardResponse> LeaderboardFromDb(const std::string& db, int64_t sweep,
                                                       int top) {
  auto reader = OpenDb(db);
  if (!reader.ok()) return reader.status();
  SweepRow sw;
  auto rows = (*reader)->scheduler->Leaderboard(sweep, top, &sw);
  if (!rows.ok()) return rows.status();
  return LeaderboardProto(sw, *rows);
}

StatusOr<pb::GetStatusResponse> StatusFromDb(const std::string& db, int64_t sweep) {
  auto reader = OpenDb(db);
  if (!reader.ok()) return reader.status();
  // A file cannot tell which workers are alive: status --db prints no such line.
  pb::GetStatusResponse resp = StatusProto((*reader)->scheduler->Counts(sweep), 0,
                                           (*reader)->scheduler->QuarantinedWorkers());
  if (sweep != 0 && resp.sweeps().empty()) {
    return NotFound(db + ": no sweep " + std::to_string(sweep));
  }
  return resp;
}

StatusOr<pb::ListWorkersResponse> WorkersFromDb(const std::string& db) {
  auto reader = OpenDb(db);
  if (!reader.ok()) return reader.status();
  double now = 0;
  std::vector<WorkerView> workers = (*reader)->scheduler->ListWorkers(&now);
  return WorkersProto(workers, now, SchedulerOptions().lease_seconds);
}

Status ForEachExportPage(const std::string& db, const std::string& coordinator,
                         const ClientSecurity& security, int64_t sweep,
                         const std::function<Status(const ExportPage&)>& fn) {
  constexpr size_t kPageBytes = 8u << 20;
  if (!db.empty()) {
    auto reader = OpenDb(db);
    if (!reader.ok()) return reader.status();
    int after = 0;
    do {
      auto page = (*reader)->scheduler->ExportSweepPage(sweep, after, kPageBytes);
      if (!page.ok()) return page.status();
      sweep = page->sweep_id;  // 0 (the latest) stays the sweep the first page found
      HPSWEEP_RETURN_IF_ERROR(fn(*page));
      after = page->next_after;
    } while (after != 0);
    return Status::Ok();
  }
  auto stub = Connect(coordinator, security);
  if (!stub.ok()) return stub.status();
  int64_t after = 0;
  do {
    pb::ExportSweepRequest req;
    req.set_sweep_id(sweep);
    req.set_after_trial(after);
    req.set_max_bytes(kPageBytes);
    pb::ExportSweepResponse resp;
    grpc::Status s = (*stub)->ExportSweep(Ctx(120).get(), req, &resp);
    if (!s.ok()) {
      if (s.error_code() == grpc::StatusCode::NOT_FOUND) return NotFound(s.error_message());
      if (s.error_code() == grpc::StatusCode::UNAVAILABLE ||
          s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
        return Unavailable(coordinator + ": " + s.error_message() +
                           " (is a coordinator running there? or pass --db)");
      }
      // The coordinator answered: its reason is the cause, not the connection.
      return Internal("the coordinator at " + coordinator + " could not export the sweep (" +
                      GrpcCodeName(s.error_code()) + "): " + s.error_message());
    }
    // The page is an export of its trials: split it back into pieces, so that they join.
    ExportPage page;
    try {
      const nlohmann::json j = nlohmann::json::parse(resp.json());
      const nlohmann::json& id = j.at("sweep").at("id");
      if (!id.is_number_integer()) {  // (get<int64_t>() of 1e300 is undefined)
        return DataLoss("the sweep's export has an unexpected shape: the sweep's 'id' is not an "
                        "integer");
      }
      page.sweep_id = id.get<int64_t>();
      page.head = ExportHeadText(j.at("sweep"));
      for (const auto& t : j.at("trials")) page.trials.push_back(ExportTrialText(t));
    } catch (const nlohmann::json::exception& e) {
      return DataLoss(std::string("the sweep's export has an unexpected shape: ") + e.what());
    }
    const int64_t next = resp.next_after();
    resp.Clear();  // the page's text is in pieces now
    if (next != 0 && (next <= after || next > INT_MAX)) {
      return DataLoss("the coordinator's export pages do not advance (next_after " +
                      std::to_string(next) + " after " + std::to_string(after) + ")");
    }
    page.next_after = static_cast<int>(next);
    sweep = page.sweep_id;
    HPSWEEP_RETURN_IF_ERROR(fn(page));
    after = next;
  } while (after != 0);
  return Status::Ok();
}

StatusOr<std::string> ExportText(const std::string& db, const std::string& coordinator,
                                 const ClientSecurity& security, int64_t sweep) {
  std::string out;
  ExportJoiner join;
  Status s = ForEachExportPage(db, coordinator, security, sweep, [&](const ExportPage& page) {
    if (out.empty()) out = page.head;
    for (const std::string& t : page.trials) out += join.Trial(t);
    return Status::Ok();
  });
  if (!s.ok()) return s;
  return out + join.Tail();
}

}  // namespace hpsweep
