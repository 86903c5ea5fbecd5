// How the sweep subcommands reach a sweep: a gRPC stub for a coordinator (TLS and token from
// ClientSecurity, auth/credentials.h), calls with a deadline, and a failed call turned into an
// exit code and message; or, with --db, a scheduler over the SQLite file read without a
// coordinator, answering with the same messages a coordinator sends.
//
// Ownership: every function returns what it makes (stub, context, reader) to the caller.
// Thread-safety: functions only; a DbReader is for one thread.
#ifndef HPSWEEP_CLI_CLIENT_H_
#define HPSWEEP_CLI_CLIENT_H_

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "auth/credentials.h"
#include "coordinator/scheduler.h"
#include "coordinator/store/storage.h"
#include "base/status.h"
#include "proto/hpsweep.grpc.pb.h"

namespace hpsweep {

// The exit code of a failed command: 2 for bad input (invalid argument, not found), else 1.
int ExitCodeOf(const Status& s);

// Says s on stderr ("hpsweep: ...") and returns its exit code (ExitCodeOf).
int Fail(const Status& s);

// Says on stderr that the call `what` to the coordinator at addr failed, with a hint for the
// usual causes (no token, no coordinator), and returns the exit code.
int FailRpc(const std::string& what, const std::string& addr, const grpc::Status& s);

// A stub for the coordinator at addr, with the client's TLS and token (auth/credentials.h).
StatusOr<std::unique_ptr<v1::Coordinator::Stub>> Connect(const std::string& addr,
                                                         const ClientSecurity& security);

// A failed call as a Status: the coordinator's own code where it says what is wrong.
Status RpcError(const std::string& addr, const grpc::Status& s);

// A context for one call, with a deadline this many seconds from now.
std::unique_ptr<grpc::ClientContext> Ctx(double seconds = 30);

// A scheduler over a database file, to read it without a coordinator (leaderboard, export).
// WAL lets it read while a coordinator is writing.
struct DbReader {
  std::unique_ptr<Storage> storage;
  SystemClock clock;
  std::unique_ptr<Scheduler> scheduler;
};

// read_only: opened with StorageOptions::read_only (nothing migrated or written; an older
// schema is refused), for a reader that lives on beside a writer (`hpsweep dashboard --db`).
StatusOr<std::unique_ptr<DbReader>> OpenDb(const std::string& db, bool read_only = false);

// The leaderboard the coordinator's GetLeaderboard gives, from a file.
StatusOr<v1::GetLeaderboardResponse> LeaderboardFromDb(const std::string& db, int64_t sweep,
                                                       int top);

// The counts the coordinator's GetStatus gives (coordinator/service.cc FillStatus), from a file.
StatusOr<v1::GetStatusResponse> StatusFromDb(const std::string& db, int64_t sweep);

// The workers a database file knows of, judged now with the default lease period (a file does
// not say the coordinator's): alive if its last_seen (written every few seconds) is recent.
StatusOr<v1::ListWorkersResponse> WorkersFromDb(const std::string& db);

// The sweep's export page by page (Scheduler::ExportSweepPage, ExportSweep), from the database
// file when db is non-empty, else from the coordinator: fn gets each page in order, its trials
// as pieces that ExportJoiner joins (coordinator/export_text.h). Memory: one page (8 MiB of
// JSON and its parse) at a time. Stops at the first error, fn's included.
Status ForEachExportPage(const std::string& db, const std::string& coordinator,
                         const ClientSecurity& security, int64_t sweep,
                         const std::function<Status(const ExportPage&)>& fn);

// The sweep as JSON (`export --format json`), from the database file when db is non-empty, else
// from the coordinator: every page joined (the whole sweep in memory).
StatusOr<std::string> ExportText(const std::string& db, const std::string& coordinator,
                                 const ClientSecurity& security, int64_t sweep);

}  // namespace hpsweep

#endif  // HPSWEEP_CLI_CLIENT_H_
