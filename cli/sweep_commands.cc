#include "cli/sweep_commands.h"

#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include "auth/credentials.h"
#include "auth/tokens.h"
#include "cli/report.h"
#include "coordinator/events.h"
#include "coordinator/objective.h"
#include "coordinator/params_json.h"
#include "coordinator/scheduler.h"
#include "coordinator/service.h"
#include "coordinator/storage.h"
#include "coordinator/sweep_file.h"
#include "engine/dataset.h"
#include "engine/mnist.h"
#include "engine/utf8.h"
#include "http/dashboard.h"
#include "launch/local_launcher.h"
#include "launch/slurm_launcher.h"
#include "launch/slurm_run.h"
#include "proto/hpsweep.grpc.pb.h"
#include "worker/worker.h"

namespace hpsweep {
namespace {

namespace pb = ::hpsweep::v1;
using json = nlohmann::json;

int ExitCodeOf(const Status& s) {
  return s.code() == StatusCode::kInvalidArgument || s.code() == StatusCode::kNotFound ? 2 : 1;
}

int Fail(const Status& s) {
  std::cerr << "hpsweep: " << s.ToString() << "\n";
  return ExitCodeOf(s);
}

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

// A stub for the coordinator at addr, with the client's TLS and token (auth/credentials.h).
StatusOr<std::unique_ptr<pb::Coordinator::Stub>> Connect(const std::string& addr,
                                                         const ClientSecurity& security) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(256 << 20);
  auto channel = MakeChannel(addr, security, args);
  if (!channel.ok()) return channel.status();
  return pb::Coordinator::NewStub(*channel);
}

// A failed call as a Status: the coordinator's own code where it says what is wrong.
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

std::unique_ptr<grpc::ClientContext> Ctx(double seconds = 30) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() +
                    std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000)));
  return ctx;
}

std::string ReadFile(const std::string& path, Status* status) {
  std::ifstream in(path);
  if (!in) {
    *status = NotFound(path + ": cannot open sweep file");
    return "";
  }
  // Bounded: ParseSweep refuses anything past kMaxSweepFileBytes, and /dev/zero never ends.
  std::string text(kMaxSweepFileBytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  return text;
}

// A sweep file read, parsed and expanded: every check done before anything is stored or sent.
struct SweepFile {
  std::string yaml;
  SweepSpec spec;
  std::vector<TrialSpec> trials;
};

StatusOr<SweepFile> LoadSweepFile(const std::string& path, const SweepLimits& limits) {
  Status st;
  SweepFile f;
  f.yaml = ReadFile(path, &st);
  if (!st.ok()) return st;
  auto spec = ParseSweep(f.yaml, path);
  if (!spec.ok()) return spec.status();
  auto trials = ExpandSweep(*spec, path, limits);
  if (!trials.ok()) return trials.status();
  HPSWEEP_RETURN_IF_ERROR(AttachSweepData(*spec, path, &*trials, limits));
  f.spec = std::move(*spec);
  f.trials = std::move(*trials);
  return f;
}

std::string Duration(double s) {
  char buf[32];
  if (s < 60) {
    std::snprintf(buf, sizeof(buf), "%.1fs", s);
  } else if (s < 3600) {
    std::snprintf(buf, sizeof(buf), "%dm%02ds", static_cast<int>(s) / 60, static_cast<int>(s) % 60);
  } else {
    std::snprintf(buf, sizeof(buf), "%dh%02dm", static_cast<int>(s) / 3600,
                  static_cast<int>(s) / 60 % 60);
  }
  return buf;
}

// A metric as the leaderboard prints it: rounded to 4 decimals (not cut, which disagreed).
std::string Fixed4(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.4f", v);
  return buf;
}

// "[name] 5/6 trials done, 1 running, 0 failed - best val_accuracy 0.9755 - 40.9s", with
// " (2 stopped)" after "done" when a cancel stopped some (they are finished, not completed),
// " (3 pruned)" or " (2 stopped, 3 pruned)" when early_terminate stopped some, and
// "no result yet" until a trial has a value. best is the value of the sweep's metric (e.g. "best
// val_loss 0.1234").
std::string ProgressLine(const std::string& name, int done, int total, int running, int failed,
                         int stopped, int pruned, const std::string& metric, double best,
                         double seconds) {
  char line[320];
  std::string stop;
  if (stopped > 0) stop = std::to_string(stopped) + " stopped";
  if (pruned > 0) stop += (stop.empty() ? "" : ", ") + std::to_string(pruned) + " pruned";
  if (!stop.empty()) stop = " (" + stop + ")";
  const std::string result = best >= 0 ? "best " + metric + " " + Fixed4(best) : "no result yet";
  std::snprintf(line, sizeof(line), "[%s] %d/%d trials done%s, %d running, %d failed - %s - %s",
                name.c_str(), done, total, stop.c_str(), running, failed, result.c_str(),
                Duration(seconds).c_str());
  return line;
}

// Progress lines on stderr. On a terminal every call prints, one line redrawn in place (several
// lines go one under the other); elsewhere (a log file) a call prints every 10 s, when the number
// of finished trials changed since the last line (at most once a second), and when it is the last.
class ProgressPrinter {
 public:
  // `now` in seconds, on any clock that the caller keeps to; `finished`: trials finished so far.
  void Show(const std::vector<std::string>& lines, double now, bool last, int64_t finished) {
    const bool news = finished != finished_ && now - printed_ >= 1;
    if (!tty_ && now - printed_ < 10 && !last && !news) return;
    finished_ = finished;
    const bool redraw = tty_ && lines.size() == 1;
    for (const std::string& line : lines) {
      std::fprintf(stderr, redraw ? "\r%s\033[K" : "%s\n", line.c_str());
    }
    std::fflush(stderr);
    printed_ = now;
    open_ = redraw;
  }
  // Ends the redrawn line, if one is showing, so that what follows starts on a line of its own.
  void Break() {
    if (open_) std::fprintf(stderr, "\n");
    open_ = false;
  }

 private:
  const bool tty_ = isatty(STDERR_FILENO);
  double printed_ = -100;
  int64_t finished_ = 0;
  bool open_ = false;
};

// --- Leaderboard printing --------------------------------------------------------------------

// The leaderboard's parameter columns: the sweep's axes in file order, each shown even when every
// row shown has the same value (a cancelled sweep's few rows must not lose a column), then any
// other parameter that varies between rows (a coordinator that predates `axes`).
std::vector<std::string> VaryingKeys(const pb::GetLeaderboardResponse& lb) {
  std::vector<std::string> keys(lb.axes().begin(), lb.axes().end());
  std::set<std::string> have(keys.begin(), keys.end());
  std::map<std::string, std::set<std::string>> seen;
  for (const auto& r : lb.rows()) {
    for (const auto& [k, v] : r.params()) seen[k].insert(v);
  }
  for (const auto& [k, vals] : seen) {
    if (vals.size() > 1 && !have.count(k)) keys.push_back(k);
  }
  return keys;
}

// "fixed: cell=lstm, epochs=2, train_limit=12000": the sweep's settings that are the same in
// every trial, for the line above the table; "" when there are none (or an old coordinator).
std::string FixedLine(const pb::GetLeaderboardResponse& lb) {
  std::map<std::string, std::string> sorted(lb.fixed().begin(), lb.fixed().end());
  std::string line;
  for (const auto& [k, v] : sorted) line += (line.empty() ? "" : ", ") + k + "=" + v;
  return line.empty() ? "" : "fixed: " + line;
}

const char* StatusText(pb::TrialStatus s) {
  switch (s) {
    case pb::QUEUED: return "queued";
    case pb::RUNNING: return "running";
    case pb::COMPLETED: return "completed";
    case pb::FAILED: return "failed";
    case pb::STOPPED: return "stopped";
    case pb::PRUNED: return "pruned";
    default: return "?";
  }
}

void PrintLeaderboard(const pb::GetLeaderboardResponse& lb, const std::string& format) {
  const std::vector<std::string> keys = VaryingKeys(lb);
  // The sweep's metric ("" from a coordinator that predates the field) gets a column named after
  // it unless the accuracy columns already show it.
  const std::string& metric = lb.metric_name();
  const bool metric_column =
      !metric.empty() && metric != "val_accuracy" && metric != "test_accuracy";
  if (format == "json") {
    json rows = json::array();
    for (const auto& r : lb.rows()) {
      json params = json::object();
      for (const auto& [k, v] : r.params()) params[k] = ParamValueJson(k, v);  // typed
      // A value not measured (a pruned or running trial has no test pass) is null, not -1; a
      // pruned trial says at which epoch early_terminate stopped it (as the dashboard's API).
      rows.push_back({{"rank", r.rank()},
                      {"trial_id", r.trial_id()},
                      {"number", r.number()},
                      {"status", StatusText(r.status())},
                      {"params", params},
                      {"best_epoch", r.best_epoch()},
                      {"val_accuracy", MeasuredJson(r.val_accuracy())},
                      {"test_accuracy", MeasuredJson(r.test_accuracy())},
                      {"epochs", r.epochs()},
                      {"pruned_at_epoch", r.status() == pb::PRUNED ? json(r.epochs()) : json()},
                      {"seconds", r.seconds()},
                      {"worker", r.worker()}});
      if (!r.reused_from().empty()) rows.back()["reused_from"] = r.reused_from();
      // The value it is ranked by, under the metric's own name (val_accuracy: the same value).
      if (!metric.empty()) rows.back()[metric] = MeasuredJson(r.metric_value());
    }
    json out = {{"sweep_id", lb.sweep_id()}, {"sweep", lb.sweep_name()}, {"rows", rows}};
    if (lb.axes_size() > 0 || lb.fixed_size() > 0) {
      json fixed = json::object();
      for (const auto& [k, v] : lb.fixed()) fixed[k] = ParamValueJson(k, v);
      out["axes"] = json(std::vector<std::string>(lb.axes().begin(), lb.axes().end()));
      out["fixed"] = fixed;
    }
    if (!metric.empty()) {
      out["metric"] = metric;
      out["goal"] = lb.maximize() ? "maximize" : "minimize";
    }
    std::cout << out.dump(1, ' ', false, json::error_handler_t::replace) << "\n";
    return;
  }
  if (format == "csv") {
    std::cout << "rank,trial_id,number";
    for (const auto& k : keys) std::cout << "," << k;
    std::cout << ",best_epoch" << (metric_column ? "," + metric : "")
              << ",val_accuracy,test_accuracy,epochs,seconds,worker,status\n";
    for (const auto& r : lb.rows()) {
      std::cout << r.rank() << "," << r.trial_id() << "," << r.number();
      for (const auto& k : keys) {
        auto it = r.params().find(k);
        std::string v = it == r.params().end() ? "" : it->second;
        if (v.find(',') != std::string::npos) v = "\"" + v + "\"";
        std::cout << "," << v;
      }
      // A value not measured (a pruned trial's test accuracy) is an empty field, as in the
      // export's CSV and null in JSON: a -1 would be summed and sorted as a real value.
      auto measured = [](double v) {
        if (MeasuredJson(v).is_null()) return std::string();
        std::ostringstream out;
        out << v;
        return out.str();
      };
      std::cout << "," << r.best_epoch();
      if (metric_column) std::cout << "," << measured(r.metric_value());
      std::cout << "," << measured(r.val_accuracy()) << "," << measured(r.test_accuracy()) << ","
                << r.epochs() << ","
                << r.seconds() << "," << r.worker() << "," << StatusText(r.status()) << "\n";
    }
    return;
  }
  // Table: column widths from the content.
  std::vector<std::string> header = {"rank", "trial"};
  for (const auto& k : keys) header.push_back(k);
  header.push_back("best ep");
  if (metric_column) header.push_back(metric);
  for (const char* h : {"val acc", "test acc", "epochs", "time", "worker"}) header.push_back(h);
  std::vector<std::vector<std::string>> rows;
  for (const auto& r : lb.rows()) {
    std::vector<std::string> row = {std::to_string(r.rank()), "#" + std::to_string(r.number())};
    for (const auto& k : keys) {
      auto it = r.params().find(k);
      row.push_back(it == r.params().end() ? "" : it->second);
    }
    char va[16], ta[16];
    std::snprintf(va, sizeof(va), "%.4f", r.val_accuracy());
    if (r.test_accuracy() >= 0) {
      std::snprintf(ta, sizeof(ta), "%.4f", r.test_accuracy());
    } else {
      std::snprintf(ta, sizeof(ta), "-");
    }
    row.push_back(std::to_string(r.best_epoch()));
    if (metric_column) row.push_back(r.metric_value() >= 0 ? Fixed4(r.metric_value()) : "-");
    row.push_back(va);
    row.push_back(ta);
    row.push_back(std::to_string(r.epochs()) +
                  (r.status() == pb::COMPLETED ? "" : std::string(" ") + StatusText(r.status())));
    row.push_back(Duration(r.seconds()));
    // A result copied from an identical trial (--reuse) was trained by no worker: say whose it is.
    row.push_back(r.reused_from().empty() ? r.worker() : "copied from " + r.reused_from());
    rows.push_back(row);
  }
  std::vector<size_t> width(header.size());
  for (size_t c = 0; c < header.size(); ++c) {
    width[c] = header[c].size();
    for (const auto& row : rows) width[c] = std::max(width[c], row[c].size());
  }
  auto print_row = [&](const std::vector<std::string>& row) {
    for (size_t c = 0; c < row.size(); ++c) {
      std::cout << (c ? "  " : "") << row[c] << std::string(width[c] - row[c].size(), ' ');
    }
    std::cout << "\n";
  };
  std::cout << "Leaderboard of sweep " << lb.sweep_id() << " (" << lb.sweep_name() << "), best "
            << (metric.empty() ? "val_accuracy (max)"
                               : Objective(metric, lb.maximize()).DisplayName())
            << " first\n";
  if (const std::string fixed = FixedLine(lb); !fixed.empty()) std::cout << fixed << "\n";
  print_row(header);
  size_t total = 0;
  for (size_t w : width) total += w + 2;
  std::cout << std::string(total - 2, '-') << "\n";
  for (const auto& row : rows) print_row(row);
  if (rows.empty()) std::cout << "(no trial has finished an epoch yet)\n";
}

// --- Signals ---------------------------------------------------------------------------------

std::atomic<bool> g_signalled{false};
std::atomic<int> g_signal{0};  // the signal that set g_signalled: `run` exits 128 + it
Worker* g_worker = nullptr;

void OnSignal(int sig) {
  g_signal.store(sig);
  g_signalled.store(true);
  if (g_worker) g_worker->RequestStop();
}

void InstallSignalHandlers() {
  struct sigaction sa = {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  // A closed terminal (SIGHUP) is a request to stop like any other: leases are given back and
  // `run` stops its workers rather than dying and leaving them behind.
  sigaction(SIGHUP, &sa, nullptr);
  // A closed stdout (`hpsweep run f.yaml | head`) must not kill the process mid-sweep: writes
  // then fail (and are checked where it matters) and the sweep goes on or stops cleanly.
  signal(SIGPIPE, SIG_IGN);
}

// --- Subcommands ------------------------------------------------------------------------------

struct Flags {
  std::string file, coordinator = "127.0.0.1:50051", listen = "127.0.0.1:50051", db, data_dir,
                    format = "table", name, log, log_format = "text";
  std::string http;  // --http: the dashboard's host:port (http/dashboard.h)
  int workers = 2, threads = 1, top = 0, max_trials = 0;
  int64_t sweep = 0;
  std::vector<int64_t> sweeps;  // report: one sweep, or several to compare
  int64_t train_limit = 0;      // data-report
  // data-report: a user's own data set, as `train` takes it (engine/dataset.h).
  std::string data_format = "mnist", data_path, train_file, test_file;
  int sequence_length = 0;  // 0: not given (1 for csv)
  int64_t max_model_params = SweepLimits().max_params;
  int64_t max_training_memory_mb = SweepLimits().max_training_bytes >> 20;
  double lease_seconds = 30;
  double validation_split = 0.2;
  std::string output;
  bool exit_when_idle = false, quiet = false, sync_full = false, no_wait = false, watch = false;
  bool reuse = false;     // run, submit: copy finished identical trials' results
  ServerSecurity server;  // coordinator: TLS and tokens
  // run --launcher slurm, slurm-script
  std::string launcher = "local", run_listen, advertise, partition, time, script_coordinator;
  int cpus_per_worker = 0;  // 0: --threads
  std::vector<std::string> sbatch_args;
  double wait_for_workers = 300;
  ClientSecurity client;  // every command that talks to a coordinator
};

SweepLimits Limits(const Flags& f) {
  SweepLimits l;
  l.max_params = f.max_model_params;
  l.max_training_bytes = f.max_training_memory_mb << 20;
  return l;
}

// --max-model-params and --max-training-memory-mb, for the subcommands that expand sweeps.
void AddLimitOptions(CLI::App* cmd, Flags* f) {
  cmd->add_option("--max-model-params", f->max_model_params,
                  "refuse sweeps with a trial of more parameters")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 40))
      ->capture_default_str();
  cmd->add_option("--max-training-memory-mb", f->max_training_memory_mb,
                  "refuse sweeps with a trial estimated to need more training memory")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 30))
      ->capture_default_str();
}

// The coordinator's event log (coordinator/events.h): stderr when path is "".
StatusOr<std::unique_ptr<EventLog>> OpenEventLog(const Flags& f, const std::string& path) {
  auto format = ParseLogFormat(f.log_format);
  if (!format.ok()) return format.status();
  return MakeEventLog(*format, path);
}

int RunCoordinator(const Flags& f) {
  auto events = OpenEventLog(f, "");
  if (!events.ok()) return Fail(events.status());
  CoordinatorOptions o;
  o.scheduler.events = events->get();
  o.sweep_limits = Limits(f);
  o.listen = f.listen;
  o.db_path = f.db.empty() ? "hpsweep.db" : f.db;
  o.data_dir = f.data_dir;
  o.scheduler.lease_seconds = f.lease_seconds;
  o.storage.sync_full = f.sync_full;
  o.security = f.server;
  if (!f.http.empty()) {  // (refused before the database is opened; Dashboard::Start checks too)
    Status h = CheckListenSecurity(f.http, o.security);
    if (!h.ok()) return Fail(InvalidArgument("--http: " + h.message()));
  }
  CoordinatorServer server;
  Status s = server.Start(o);
  if (!s.ok()) return Fail(s);
  Dashboard dashboard(server.scheduler());  // (declared after the server: it goes first)
  if (!f.http.empty()) {
    DashboardOptions d;
    d.listen = f.http;
    d.security = o.security;
    s = dashboard.Start(d);
    if (!s.ok()) return Fail(s);
  }
  const ServerSecurity& sec = o.security;
  const std::string mode =
      !sec.tls_cert.empty() ? std::string("TLS") + (sec.tls_client_ca.empty() ? "" : " (mutual)") +
                                  (sec.auth_tokens.empty() ? "" : ", tokens")
                            : "plaintext, no tokens";
  std::cerr << "hpsweep coordinator listening on " << server.address() << " (" << mode
            << "), database " << o.db_path << "\n";
  if (!f.http.empty()) std::cerr << "hpsweep dashboard at " << dashboard.url() << "\n";
  if (sec.tls_cert.empty() && !IsLoopbackAddress(o.listen)) {
    std::cerr << "hpsweep: warning: --insecure: anyone who can reach " << o.listen
              << " may submit, cancel, read models and forge results\n";
  }
  InstallSignalHandlers();
  std::thread stopper([&] {
    while (!g_signalled.load()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    server.Shutdown();
  });
  server.Wait();
  g_signalled = true;
  stopper.join();
  std::cerr << "hpsweep coordinator stopped\n";
  return 0;
}

int RunWorker(const Flags& f) {
  WorkerOptions o;
  o.coordinator = f.coordinator;
  o.security = f.client;
  o.threads = f.threads;
  o.name = f.name;
  o.data_dir = f.data_dir;
  o.exit_when_idle = f.exit_when_idle;
  o.max_trials = f.max_trials;
  o.verbose = !f.quiet;
  Worker worker(o);
  g_worker = &worker;
  InstallSignalHandlers();
  Status s = worker.Run();
  g_worker = nullptr;
  if (!s.ok()) return Fail(s);
  return 0;
}

// "1 trial", "3 trials": a count in messages, its noun in agreement.
std::string Counted(int64_t n, const std::string& noun) {
  return std::to_string(n) + " " + noun + (n == 1 ? "" : "s");
}

// What `run` and `submit` say about the sweep's trials identical to finished ones: that --reuse
// copies them (or did). "" when there are none.
std::string IdenticalNote(int trials, const std::vector<int64_t>& sweeps, bool reuse) {
  if (trials <= 0) return "";
  std::string which = sweeps.size() == 1 ? "sweep " : "sweeps ";
  for (size_t i = 0; i < sweeps.size(); ++i) {
    which += (i ? ", " : "") + std::to_string(sweeps[i]);
  }
  const std::string n =
      std::to_string(trials) + (trials == 1 ? " of its trials matches a finished trial of "
                                            : " of its trials match finished trials of ");
  const std::string results = trials == 1 ? "its result" : "their results";
  if (reuse) {
    return n + which + ": " + results + (trials == 1 ? " is" : " are") +
           " copied instead of trained (--reuse)";
  }
  return n + which + "; pass --reuse to copy " + results + " instead of training again";
}

int RunSubmit(const Flags& f) {
  // Check locally first: a bad file is reported without a round trip. The size limits are the
  // coordinator's (its --max-model-params ...), so none here.
  SweepLimits unlimited;
  unlimited.max_params = unlimited.max_training_bytes = std::numeric_limits<int64_t>::max();
  auto file = LoadSweepFile(f.file, unlimited);
  if (!file.ok()) return Fail(file.status());
  const std::string& yaml = file->yaml;
  auto stub = Connect(f.coordinator, f.client);
  if (!stub.ok()) return Fail(stub.status());
  pb::SubmitSweepRequest req;
  req.set_file_name(f.file);
  req.set_yaml(yaml);
  req.set_reuse(f.reuse);  // (`reuse: true` in the file is the coordinator's to read)
  // The sweeps there before, to say when this one shares a name with one of them (an edited
  // file submitted again). Best effort: a token that may only submit still submits.
  pb::GetStatusResponse before;
  const bool have_before = (*stub)->GetStatus(Ctx().get(), pb::GetStatusRequest(), &before).ok();
  pb::SubmitSweepResponse resp;
  grpc::Status s = (*stub)->SubmitSweep(Ctx(60).get(), req, &resp);
  if (!s.ok()) return FailRpc("submit", f.coordinator, s);
  std::cout << resp.sweep_id() << "\n";
  std::cerr << "submitted sweep " << resp.sweep_id() << " (" << resp.name()
            << "): " << Counted(resp.trials(), "trial") << "\n";
  if (file->spec.method == SweepMethod::kBayes && resp.trials() < file->spec.max_trials) {
    std::cerr << "note: the space has " << Counted(resp.trials(), "point")
              << ", fewer than max_trials " << file->spec.max_trials
              << "; bayes tries each once, so the sweep has " << Counted(resp.trials(), "trial")
              << "\n";
  }
  for (const auto& old : have_before ? before.sweeps() : pb::GetStatusResponse().sweeps()) {
    if (old.name() == resp.name()) {
      std::cerr << "note: sweep " << old.sweep_id() << " is also named '" << old.name() << "' ("
                << old.state() << ", " << Counted(old.completed(), "trial")
                << " completed); this is a new sweep\n";
    }
  }
  // (A coordinator that predates reuse sends 0 and ignores the flag.)
  const std::string same = IdenticalNote(
      resp.identical_finished(), {resp.identical_sweeps().begin(), resp.identical_sweeps().end()},
      f.reuse || file->spec.reuse);
  if (!same.empty()) std::cerr << "note: " << same << "\n";
  return 0;
}

void PrintStatus(const pb::GetStatusResponse& resp, bool workers = true) {
  // "best" is each sweep's own metric, named in the last column (best_val_accuracy carries it,
  // from old coordinators too, which send no metric_name: theirs was val_accuracy).
  // pruned (early_terminate) is counted apart from stopped (cancel).
  std::printf("%-6s %-24s %-10s %7s %7s %9s %6s %7s %6s %6s %9s  %s\n", "sweep", "name", "state",
              "queued", "running", "completed", "failed", "stopped", "pruned", "total", "best",
              "metric");
  for (const auto& s : resp.sweeps()) {
    const std::string metric = s.metric_name().empty()
                                   ? "val_accuracy"
                                   : Objective(s.metric_name(), s.maximize()).DisplayName();
    std::printf("%-6lld %-24s %-10s %7d %7d %9d %6d %7d %6d %6d %9s  %s\n",
                static_cast<long long>(s.sweep_id()), s.name().c_str(), s.state().c_str(),
                // Trials a sampler has yet to propose (method: bayes) wait as queued ones do.
                s.queued() + s.unproposed(), s.running(), s.completed(), s.failed(), s.stopped(),
                s.pruned(), s.total(),
                s.best_val_accuracy() >= 0 ? Fixed4(s.best_val_accuracy()).c_str() : "-",
                metric.c_str());
  }
  if (workers) std::printf("workers alive: %d\n", resp.workers_alive());
}

// status --watch: a progress line per sweep as trials change (on a terminal, one line redrawn;
// otherwise a line every 10 s and at the end), until every watched sweep is done; then the table.
int RunWatch(const Flags& f) {
  auto stub = Connect(f.coordinator, f.client);
  if (!stub.ok()) return Fail(stub.status());
  grpc::ClientContext ctx;  // no deadline: a sweep may run for days
  pb::WatchSweepRequest req;
  req.set_sweep_id(f.sweep);
  auto reader = (*stub)->WatchSweep(&ctx, req);
  ProgressPrinter progress;
  pb::GetStatusResponse snap, last;
  while (reader->Read(&snap)) {
    const double now = SystemClock().Now();
    bool running = false;
    int64_t finished = 0;
    std::vector<std::string> lines;
    for (const auto& sw : snap.sweeps()) {
      running = running || sw.state() == "running";
      const int done = sw.completed() + sw.failed() + sw.stopped() + sw.pruned();
      finished += done;
      lines.push_back(ProgressLine(sw.name(), done, sw.total(), sw.running(), sw.failed(),
                                   sw.stopped(), sw.pruned(),
                                   sw.metric_name().empty() ? "val_accuracy" : sw.metric_name(),
                                   sw.best_val_accuracy(), now - sw.created_at()));
    }
    progress.Show(lines, now, !running, finished);
    last = snap;
  }
  progress.Break();
  grpc::Status s = reader->Finish();
  if (!s.ok()) return FailRpc("status --watch", f.coordinator, s);
  PrintStatus(last);
  return 0;
}

StatusOr<pb::GetStatusResponse> StatusFromDb(const std::string& db, int64_t sweep);

int RunStatus(const Flags& f) {
  if (!f.db.empty()) {
    if (f.watch) {
      return Fail(
          InvalidArgument("status --watch follows a coordinator; --db reads the file once"));
    }
    auto r = StatusFromDb(f.db, f.sweep);
    if (!r.ok()) return Fail(r.status());
    PrintStatus(*r, /*workers=*/false);  // a file knows of no live worker
    return 0;
  }
  if (f.watch) return RunWatch(f);
  auto stub = Connect(f.coordinator, f.client);
  if (!stub.ok()) return Fail(stub.status());
  pb::GetStatusRequest req;
  req.set_sweep_id(f.sweep);
  pb::GetStatusResponse resp;
  grpc::Status s = (*stub)->GetStatus(Ctx().get(), req, &resp);
  if (!s.ok()) return FailRpc("status", f.coordinator, s);
  PrintStatus(resp);
  return 0;
}

// A scheduler over a database file, to read it without a coordinator (leaderboard, export).
// WAL lets it read while a coordinator is writing.
struct DbReader {
  std::unique_ptr<Storage> storage;
  SystemClock clock;
  std::unique_ptr<Scheduler> scheduler;
};

StatusOr<std::unique_ptr<DbReader>> OpenDb(const std::string& db) {
  if (access(db.c_str(), F_OK) != 0) return NotFound(db + ": no such database file");
  auto storage = OpenSqliteStorage(db);
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

// The counts the coordinator's GetStatus gives (coordinator/service.cc FillStatus), from a file.
StatusOr<pb::GetStatusResponse> StatusFromDb(const std::string& db, int64_t sweep) {
  auto reader = OpenDb(db);
  if (!reader.ok()) return reader.status();
  // A file cannot tell which workers are alive: status --db prints no such line.
  pb::GetStatusResponse resp = StatusProto((*reader)->scheduler->Counts(sweep), 0);
  if (sweep != 0 && resp.sweeps().empty()) {
    return NotFound(db + ": no sweep " + std::to_string(sweep));
  }
  return resp;
}

// "3s ago", "2m05s ago": how long since a worker was heard from.
std::string Ago(double seconds) { return Duration(std::max(0.0, seconds)) + " ago"; }

void PrintWorkers(const pb::ListWorkersResponse& resp, const std::string& format) {
  if (format == "json") {
    json rows = json::array();
    for (const auto& w : resp.workers()) {
      json row = {{"worker_id", w.worker_id()},
                  {"name", w.name()},
                  {"host", w.host()},
                  {"threads", w.threads()},
                  {"job_id", w.job_id()},
                  {"state", w.state()},
                  {"first_seen", w.first_seen()},
                  {"last_seen", w.last_seen()},
                  {"seconds_since_heard", std::max(0.0, resp.now() - w.last_seen())},
                  {"trials_done", w.trials_done()},
                  {"trials_failed", w.trials_failed()}};
      if (w.state() == "training") {
        row["sweep_id"] = w.sweep_id();
        row["trial_id"] = w.trial_id();
        row["trial"] = w.trial_number();
        row["epoch"] = w.epoch();
      }
      rows.push_back(row);
    }
    json out = {{"now", resp.now()}, {"lease_seconds", resp.lease_seconds()}, {"workers", rows}};
    std::cout << out.dump(1, ' ', false, json::error_handler_t::replace) << "\n";
    return;
  }
  const std::vector<std::string> header = {"id",    "name",       "host", "threads", "job",
                                           "state", "last heard", "done", "failed"};
  std::vector<std::vector<std::string>> rows;
  int alive = 0;
  for (const auto& w : resp.workers()) {
    std::string state = w.state();
    if (state == "training") {
      state = "training trial #" + std::to_string(w.trial_number()) + " epoch " +
              std::to_string(w.epoch()) + " (sweep " + std::to_string(w.sweep_id()) + ")";
    }
    alive += w.state() != "gone";
    rows.push_back({std::to_string(w.worker_id()), EscapeText(w.name()), EscapeText(w.host()),
                    std::to_string(w.threads()), w.job_id().empty() ? "-" : EscapeText(w.job_id()),
                    state, Ago(resp.now() - w.last_seen()), std::to_string(w.trials_done()),
                    std::to_string(w.trials_failed())});
  }
  std::vector<size_t> width(header.size());
  for (size_t c = 0; c < header.size(); ++c) {
    width[c] = header[c].size();
    for (const auto& row : rows) width[c] = std::max(width[c], row[c].size());
  }
  auto print_row = [&](const std::vector<std::string>& row) {
    std::string line;
    for (size_t c = 0; c < row.size(); ++c) {
      line += (c ? "  " : "") + row[c] + std::string(width[c] - row[c].size(), ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    std::cout << line << "\n";
  };
  print_row(header);
  for (const auto& row : rows) print_row(row);
  std::cout << alive << " alive, " << resp.workers_size() - alive
            << " gone (not heard from within the lease period of " << Duration(resp.lease_seconds())
            << ")\n";
}

// The workers a database file knows of, judged now with the default lease period (a file does
// not say the coordinator's): alive if its last_seen (written every few seconds) is recent.
StatusOr<pb::ListWorkersResponse> WorkersFromDb(const std::string& db) {
  auto reader = OpenDb(db);
  if (!reader.ok()) return reader.status();
  double now = 0;
  std::vector<WorkerView> workers = (*reader)->scheduler->ListWorkers(&now);
  return WorkersProto(workers, now, SchedulerOptions().lease_seconds);
}

int RunWorkers(const Flags& f) {
  if (f.format != "table" && f.format != "json") {
    return Fail(InvalidArgument("--format: expected table or json, got '" + f.format + "'"));
  }
  pb::ListWorkersResponse resp;
  if (!f.db.empty()) {
    auto r = WorkersFromDb(f.db);
    if (!r.ok()) return Fail(r.status());
    resp = *r;
  } else {
    auto stub = Connect(f.coordinator, f.client);
    if (!stub.ok()) return Fail(stub.status());
    grpc::Status s = (*stub)->ListWorkers(Ctx().get(), pb::ListWorkersRequest(), &resp);
    if (!s.ok()) return FailRpc("workers", f.coordinator, s);
  }
  PrintWorkers(resp, f.format);
  return 0;
}

int RunLeaderboard(const Flags& f) {
  if (f.format != "table" && f.format != "csv" && f.format != "json") {
    return Fail(InvalidArgument("--format: expected table, csv or json, got '" + f.format + "'"));
  }
  pb::GetLeaderboardResponse lb;
  if (!f.db.empty()) {
    auto r = LeaderboardFromDb(f.db, f.sweep, f.top);
    if (!r.ok()) return Fail(r.status());
    lb = *r;
  } else {
    auto stub = Connect(f.coordinator, f.client);
    if (!stub.ok()) return Fail(stub.status());
    pb::GetLeaderboardRequest req;
    req.set_sweep_id(f.sweep);
    req.set_top(f.top);
    grpc::Status s = (*stub)->GetLeaderboard(Ctx().get(), req, &lb);
    if (!s.ok()) return FailRpc("leaderboard", f.coordinator, s);
  }
  PrintLeaderboard(lb, f.format);
  return 0;
}

int RunCancel(const Flags& f) {
  auto stub = Connect(f.coordinator, f.client);
  if (!stub.ok()) return Fail(stub.status());
  pb::CancelSweepRequest req;
  req.set_sweep_id(f.sweep);
  pb::CancelSweepResponse resp;
  grpc::Status s = (*stub)->CancelSweep(Ctx().get(), req, &resp);
  if (!s.ok()) return FailRpc("cancel", f.coordinator, s);
  std::cout << "sweep " << f.sweep << " cancelled: " << Counted(resp.stopped(), "trial")
            << " stopped or told to stop\n";
  return 0;
}

// The export's numbers: a NaN (a diverged trial's loss) is written as null, which get<double>()
// refuses; it prints as "nan" as it would have before it was stored.
double Num(const json& v) {
  return v.is_number() ? v.get<double>() : std::numeric_limits<double>::quiet_NaN();
}

// CSV: one row per epoch of every trial (trials with no epoch get one row), params as columns.
// Throws json::exception on an export of the wrong shape.
std::string ExportCsv(const json& j) {
  std::set<std::string> keys;
  for (const auto& t : j["trials"]) {
    for (const auto& [k, v] : t["params"].items()) keys.insert(k);
  }
  std::ostringstream os;
  os << "trial_id,number,status,attempts";
  for (const auto& k : keys) os << "," << k;
  os << ",epoch,train_loss,train_accuracy,val_loss,val_accuracy,epoch_seconds,best_epoch,"
        "test_accuracy,test_loss,seconds,worker\n";
  auto quote = [](std::string v) {
    if (v.find_first_of(",\"") != std::string::npos) {
      std::string q = "\"";
      for (char c : v) q += c == '"' ? std::string("\"\"") : std::string(1, c);
      return q + "\"";
    }
    return v;
  };
  for (const auto& t : j["trials"]) {
    auto head = [&] {
      os << t["id"].get<int64_t>() << "," << t["number"].get<int>() << ","
         << t["status"].get<std::string>() << "," << t["attempts"].get<int>();
      for (const auto& k : keys) {
        // Typed (128, [64, 32]) from a newer coordinator, text from an older one: the same cell.
        os << "," << quote(t["params"].contains(k) ? ParamText(t["params"][k]) : "");
      }
    };
    // A test metric not measured (null: a pruned or running trial; -1 from an older
    // coordinator) is an empty cell, as the tables' "-".
    auto measured = [](const json& v) {
      std::ostringstream cell;
      if (v.is_number() && v.get<double>() >= 0) cell << v.get<double>();
      return cell.str();
    };
    auto tail = [&] {
      os << "," << t["best_epoch"].get<int>() << "," << measured(t["test_accuracy"]) << ","
         << measured(t["test_loss"]) << "," << Num(t["seconds"]) << ","
         << quote(t["worker"].get<std::string>()) << "\n";
    };
    if (t["epochs"].empty()) {
      head();
      os << ",,,,,,";
      tail();
    }
    for (const auto& e : t["epochs"]) {
      head();
      os << "," << e["epoch"].get<int>() << "," << Num(e["train_loss"]) << ","
         << Num(e["train_accuracy"]) << "," << Num(e["val_loss"]) << "," << Num(e["val_accuracy"])
         << "," << Num(e["seconds"]);
      tail();
    }
  }
  return os.str();
}

// The sweep as JSON, from the database file or the coordinator.
StatusOr<std::string> ExportText(const Flags& f) {
  if (!f.db.empty()) {
    auto reader = OpenDb(f.db);
    if (!reader.ok()) return reader.status();
    return (*reader)->scheduler->ExportJson(f.sweep);
  }
  auto stub = Connect(f.coordinator, f.client);
  if (!stub.ok()) return stub.status();
  pb::ExportSweepRequest req;
  req.set_sweep_id(f.sweep);
  pb::ExportSweepResponse resp;
  grpc::Status s = (*stub)->ExportSweep(Ctx(120).get(), req, &resp);
  if (!s.ok()) {
    if (s.error_code() == grpc::StatusCode::NOT_FOUND) return NotFound(s.error_message());
    if (s.error_code() == grpc::StatusCode::UNAVAILABLE ||
        s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
      return Unavailable(f.coordinator + ": " + s.error_message() +
                         " (is a coordinator running there? or pass --db)");
    }
    // The coordinator answered: its reason is the cause, not the connection.
    return Internal("the coordinator at " + f.coordinator + " could not export the sweep (" +
                    GrpcCodeName(s.error_code()) + "): " + s.error_message());
  }
  return resp.json();
}

int RunExport(const Flags& f) {
  if (f.format != "csv" && f.format != "json") {
    return Fail(InvalidArgument("--format: expected csv or json, got '" + f.format + "'"));
  }
  auto text = ExportText(f);
  if (!text.ok()) return Fail(text.status());
  if (f.format == "json") {
    std::cout << *text << "\n";
    return 0;
  }
  std::string csv;
  try {  // the JSON may come over the network: a wrong shape is an error, not an abort
    csv = ExportCsv(json::parse(*text));
  } catch (const json::exception& e) {
    return Fail(DataLoss(std::string("the sweep's export has an unexpected shape: ") + e.what()));
  }
  std::cout << csv;
  return 0;
}

Status WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return IoError(path + ": cannot open for writing");
  out << text;
  out.close();
  if (!out) return IoError(path + ": write failed");
  return Status::Ok();
}

// `report 3 4`: the sweeps side by side.
int RunCompareReport(const Flags& flags) {
  if (flags.sweeps.size() > 8) {  // CompareReportHtml's bound, before fetching any
    return Fail(InvalidArgument("report: at most 8 sweeps to compare, got " +
                                std::to_string(flags.sweeps.size())));
  }
  std::vector<std::string> exports;
  for (int64_t id : flags.sweeps) {
    Flags f = flags;
    f.sweep = id;
    auto text = ExportText(f);
    if (!text.ok()) return Fail(text.status());
    exports.push_back(std::move(*text));
  }
  auto html = CompareReportHtml(exports);
  if (!html.ok()) return Fail(html.status());
  Status s = WriteText(flags.output, *html);
  if (!s.ok()) return Fail(s);
  std::cerr << "comparison of " << exports.size() << " sweeps written to " << flags.output << "\n";
  return 0;
}

int RunReport(const Flags& flags) {
  if (flags.sweeps.size() > 1) return RunCompareReport(flags);
  Flags f = flags;
  if (!f.sweeps.empty()) f.sweep = f.sweeps[0];
  auto text = ExportText(f);
  if (!text.ok()) return Fail(text.status());
  // The best trial's model, for the grid of predicted test images.
  std::string model;
  int64_t best_id = 0, sweep_id = 0;
  bool own_data = false;
  // The report's own ranking (the sweep's Objective) names the best trial.
  auto ranked = RankedTrialIds(*text);
  if (!ranked.ok()) return Fail(ranked.status());
  if (!ranked->empty()) best_id = ranked->front();
  try {  // the JSON may come over the network: a wrong shape is an error, not an abort
    json ex = json::parse(*text);
    sweep_id = ex["sweep"]["id"].get<int64_t>();
    // A sweep of its own data (engine/dataset.h): MNIST's data section would be about other data.
    for (const json& t : ex["trials"]) {
      if (t.contains("params") && t["params"].contains("data.format")) own_data = true;
    }
  } catch (const json::exception& e) {
    return Fail(DataLoss(std::string("the sweep's export has an unexpected shape: ") + e.what()));
  }
  if (best_id > 0) {
    auto m = FetchModelById(f.db, f.coordinator, f.client, best_id);
    if (m.ok()) model = *m;
  }
  StatusOr<Mnist> data = InvalidArgument("the sweep trained on its own data set");
  if (!own_data) data = LoadMnist(f.data_dir);
  if (!data.ok()) {
    std::cerr << "hpsweep: no data set (" << data.status().message()
              << "): the report leaves out the test-image grid and the data section\n";
  }
  auto html = SweepReportHtml(*text, model, data.ok() ? &*data : nullptr);
  if (!html.ok()) return Fail(html.status());
  Status s = WriteText(f.output, *html);
  if (!s.ok()) return Fail(s);
  std::cerr << "report of sweep " << sweep_id << " written to " << f.output << "\n";
  return 0;
}

// data-report's data set: MNIST from --data-dir, or --data-format idx|csv as `hpsweep train`
// takes them (the same flags and messages).
StatusOr<DataSpec> DataReportSpec(const Flags& f) {
  DataSpec spec;
  StatusOr<DataFormat> format = ParseDataFormat(f.data_format);
  if (!format.ok()) {
    return InvalidArgument("--data-format: expected idx, csv or mnist, got '" +
                           f.data_format.substr(0, 32) + "'");
  }
  spec.format = *format;
  if (spec.format != DataFormat::kCsv) {
    if (!f.train_file.empty() || !f.test_file.empty() || f.sequence_length != 0) {
      return InvalidArgument(
          "--train-file, --test-file and --sequence-length are for --data-format csv");
    }
    if (spec.format == DataFormat::kIdx && f.data_path.empty()) {
      return InvalidArgument("--data-format idx needs --data-path DIR (the IDX folder)");
    }
    spec.path = spec.format == DataFormat::kIdx ? f.data_path : f.data_dir;
    return spec;
  }
  if (!f.data_path.empty()) {
    return InvalidArgument("--data-path is for idx; csv takes --train-file and --test-file");
  }
  if (f.train_file.empty() || f.test_file.empty()) {
    return InvalidArgument("--data-format csv needs --train-file FILE and --test-file FILE");
  }
  spec.train_file = f.train_file;
  spec.test_file = f.test_file;
  spec.sequence_length = f.sequence_length == 0 ? 1 : f.sequence_length;
  return spec;
}

int RunDataReport(const Flags& f) {
  if (!(f.validation_split >= 0 && f.validation_split < 1)) {
    return Fail(InvalidArgument("--validation-split: expected a number in [0, 1), got " +
                                std::to_string(f.validation_split)));
  }
  if (f.train_limit < 0) {
    return Fail(InvalidArgument("--train-limit: expected 0 (all) or more, got " +
                                std::to_string(f.train_limit)));
  }
  StatusOr<DataSpec> spec = DataReportSpec(f);
  if (!spec.ok()) return Fail(spec.status());
  auto data = LoadDataset(*spec);
  if (!data.ok()) return Fail(data.status());
  std::string source;  // "" is MNIST
  if (spec->format == DataFormat::kIdx) source = "idx " + spec->path;
  if (spec->format == DataFormat::kCsv) source = "csv " + spec->train_file + ", " + spec->test_file;
  const std::string html = DataReportPage(*data, f.validation_split, f.train_limit, source);
  Status s = WriteText(f.output, html);
  if (!s.ok()) return Fail(s);
  std::cerr << "data report written to " << f.output << "\n";
  return 0;
}

// --- run: a coordinator here, workers from a launcher (launch/) ---------------------------

// The command that runs hpsweep on the workers' nodes. The package's launcher (package/
// launcher.cc) sets HPSWEEP_EXE to itself: the level build it ran (/usr/lib/hpsweep/hpsweep-v4)
// would die of SIGILL on an older node, the launcher picks each node's own level.
std::string SelfExe() {
  if (const char* env = std::getenv("HPSWEEP_EXE");
      env != nullptr && env[0] == '/' && std::strlen(env) < 4096 && access(env, X_OK) == 0) {
    return env;
  }
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return "hpsweep";
  buf[n] = '\0';
  return buf;
}

std::string Absolute(const std::string& path) {
  if (path.empty()) return path;
  std::error_code ec;
  const std::filesystem::path p = std::filesystem::absolute(path, ec);
  return ec ? path : p.lexically_normal().string();
}

SlurmOptions SlurmOptionsOf(const Flags& f) {
  SlurmOptions o;
  o.partition = f.partition;
  o.time = f.time;
  o.cpus_per_worker = f.cpus_per_worker > 0 ? f.cpus_per_worker : f.threads;
  o.sbatch_args = f.sbatch_args;
  return o;
}

// `hpsweep slurm-script ...`: the command that adds workers to a running Slurm sweep.
std::string SlurmScriptCommand(const Flags& f, const LaunchSpec& spec) {
  std::string c = "hpsweep slurm-script --coordinator " + spec.coordinator + " --workers " +
                  std::to_string(f.workers) + " --tls-ca " + spec.security.tls_ca +
                  " --token-file " + spec.security.token_file + " --log-dir " + spec.log;
  if (!spec.data_dir.empty()) c += " --data-dir " + spec.data_dir;
  if (!f.partition.empty()) c += " --partition " + f.partition;
  return c + " > more.sbatch && sbatch more.sbatch";
}

int RunEmbedded(const Flags& f) {
  auto file = LoadSweepFile(f.file, Limits(f));
  if (!file.ok()) return Fail(file.status());
  const std::string& yaml = file->yaml;
  const SweepSpec* spec = &file->spec;
  const std::vector<TrialSpec>* trials = &file->trials;
  Status st;
  const bool slurm = f.launcher == "slurm";
  if (!slurm && f.launcher != "local") {
    return Fail(InvalidArgument("--launcher: expected local or slurm, got '" + f.launcher + "'"));
  }
  if (!slurm && (!f.partition.empty() || !f.time.empty() || f.cpus_per_worker > 0 ||
                 !f.sbatch_args.empty() || !f.advertise.empty())) {
    return Fail(InvalidArgument(
        "--partition, --time, --cpus-per-worker, --sbatch-arg and --advertise are for "
        "--launcher slurm"));
  }
  if (!f.http.empty() && !IsLoopbackAddress(f.http)) {  // (before anything is stored)
    return Fail(InvalidArgument("--http " + f.http +
                                ": `hpsweep run` serves its dashboard on loopback only "
                                "(127.0.0.1:PORT); for other machines run `hpsweep "
                                "coordinator --http` with TLS and tokens"));
  }

  // The workers train on this data (local ones read it, remote ones fetch it from the
  // coordinator): check it before anything is started or stored, so that a wrong --data-dir ends
  // here with the reason instead of in workers that exit one after another.
  {
    auto data = LoadMnist(f.data_dir, 1);
    if (!data.ok()) {
      // Workers load --data-dir at start even for a sweep of its own data (README, Your own
      // data): say so, or the message would seem to be about the wrong data set.
      const std::string own = file->spec.data.format == DataFormat::kMnist
                                  ? ""
                                  : " (workers load an MNIST-layout --data-dir at start, even "
                                    "for a sweep of its own data)";
      return Fail(Status(data.status().code(),
                         "--data-dir: " + data.status().message() + own + "; nothing was started"));
    }
  }

  CoordinatorOptions o;
  // Slurm's workers run on other nodes: the coordinator listens on every interface, with TLS
  // and a token made for this run.
  o.listen = !f.run_listen.empty() ? f.run_listen : slurm ? "0.0.0.0:0" : "127.0.0.1:0";
  o.sweep_limits = Limits(f);
  o.db_path = f.db.empty() ? "hpsweep.db" : f.db;
  o.data_dir = f.data_dir;
  o.scheduler.lease_seconds = f.lease_seconds;
  // The events go to a file: on stderr they would break the progress line.
  const std::string event_path = o.db_path + ".coordinator.log";
  auto events = OpenEventLog(f, event_path);
  if (!events.ok()) return Fail(events.status());
  o.scheduler.events = events->get();
  std::string host, slurm_dir;
  int advertised_port = 0;
  SlurmRunFiles files;
  if (slurm) {
    st = ParseAdvertise(f.advertise, &host, &advertised_port);
    if (!st.ok()) return Fail(st);
    slurm_dir = Absolute(o.db_path) + ".slurm";
    auto made = PrepareSlurmRunFolder(slurm_dir, host);
    if (!made.ok()) return Fail(made.status());
    files = *made;
    o.security = files.server;
  }
  CoordinatorServer server;
  st = server.Start(o);
  if (!st.ok()) return Fail(st);
  Scheduler* sched = server.scheduler();
  // The run's dashboard: loopback only, no tokens (the run's own tokens are its workers').
  Dashboard dashboard(sched);
  if (!f.http.empty()) {
    DashboardOptions d;
    d.listen = f.http;
    st = dashboard.Start(d);
    if (!st.ok()) return Fail(st);
    std::cerr << "hpsweep dashboard at " << dashboard.url() << "\n";
  }

  // The same file still running in this database: resume it instead of starting over.
  int64_t sweep_id = 0;
  std::set<int64_t> noted;  // sweeps a note has named already
  for (const SweepCounts& c : sched->Counts(0)) {
    if (c.sweep.state == "running" && c.sweep.yaml == yaml) sweep_id = c.sweep.id;
  }
  if (sweep_id != 0) {
    std::cerr << "resuming sweep " << sweep_id << " (" << spec->name << ") from " << o.db_path
              << (f.reuse ? " (as it was submitted: --reuse applies to a new sweep)" : "") << "\n";
  } else {
    // An edited file run again becomes a new sweep of the same name: say so, and how many of
    // its trials are identical to finished ones (any sweep's), which --reuse copies.
    std::vector<SweepCounts> same_name;
    for (const SweepCounts& c : sched->Counts(0)) {
      if (c.sweep.name == spec->name) same_name.push_back(c);
    }
    const IdenticalFinished same = sched->FindIdenticalFinished(*spec, *trials);
    auto id = sched->Submit(*spec, *trials, yaml, f.file, f.reuse);
    if (!id.ok()) return Fail(id.status());
    sweep_id = *id;
    for (const SweepCounts& c : same_name) {
      std::cerr << "note: sweep " << c.sweep.id << " in " << o.db_path << " is also named '"
                << spec->name << "' (" << c.sweep.state << ", " << Counted(c.completed, "trial")
                << " completed), from "
                << (c.sweep.yaml == yaml ? "the same file" : "a different file")
                << "; this run is a new sweep, " << sweep_id << ".";
      if (c.sweep.state == "running") {  // (one note per sweep, not this and the one below)
        std::cerr << " Sweep " << c.sweep.id << " is left as it is (" << c.completed << " of "
                  << c.sweep.total << " done); run its file again to go on with it.";
      }
      std::cerr << "\n";
      noted.insert(c.sweep.id);
    }
    const std::string note = IdenticalNote(same.trials, same.sweeps, f.reuse || spec->reuse);
    if (!note.empty()) std::cerr << "note: " << note << "\n";
    int64_t total = static_cast<int64_t>(trials->size());
    for (const SweepCounts& c : sched->Counts(sweep_id)) total = c.sweep.total;
    std::string bayes = " (bayes: proposed one at a time";
    if (total < spec->max_trials) {
      bayes += "; the space has " + Counted(total, "point") + ", fewer than max_trials " +
               std::to_string(spec->max_trials) + ", and each is tried once";
    }
    std::cerr << "sweep " << sweep_id << " (" << spec->name << "): "
              << Counted(total, "trial") + (spec->method == SweepMethod::kBayes ? bayes + ")" : "")
              << ", " << Counted(f.workers, "worker") << " x " << Counted(f.threads, "thread")
              << ", database " << o.db_path << "\n";
  }
  // This run trains its own sweep only: another sweep left running in the database (an earlier
  // run of another file, interrupted) is left as it is, and said so.
  sched->LeaseOnly(sweep_id);
  for (const SweepCounts& c : sched->Counts(0)) {
    if (c.sweep.id == sweep_id || c.sweep.state != "running" || noted.count(c.sweep.id)) continue;
    std::cerr << "note: sweep " << c.sweep.id << " (" << c.sweep.name << ") in " << o.db_path
              << " is still running from an earlier run (" << Counted(c.completed, "trial")
              << " completed of " << c.sweep.total << "); this run trains sweep " << sweep_id
              << " only; run sweep " << c.sweep.id << "'s file again to go on with it.\n";
  }
  std::cerr << "coordinator events in " << event_path << "\n";

  InstallSignalHandlers();
  LaunchSpec ls;
  ls.exe = SelfExe();
  ls.threads = f.threads;
  ls.data_dir = f.data_dir;
  std::unique_ptr<Launcher> launcher;
  std::string log;
  if (slurm) {
    ls.coordinator =
        host + ":" + std::to_string(advertised_port > 0 ? advertised_port : server.port());
    ls.security = files.workers;
    ls.data_dir = Absolute(f.data_dir);
    ls.log = slurm_dir;
    ls.threads = SlurmOptionsOf(f).cpus_per_worker;
    launcher = std::make_unique<SlurmLauncher>(SlurmOptionsOf(f));
  } else {
    ls.coordinator = server.address();
    ls.log = log = f.log.empty() ? o.db_path + ".workers.log" : f.log;
    launcher = std::make_unique<LocalLauncher>();
  }
  st = launcher->Start(f.workers, ls);
  if (!st.ok()) {
    server.Shutdown();
    return Fail(st);
  }
  if (slurm) {
    const std::string& job = static_cast<SlurmLauncher*>(launcher.get())->job_id();
    log = slurm_dir + "/worker-" + job + "_*.log";
    std::cerr << "Slurm array job " << job << ": " << f.workers
              << " workers for the coordinator at " << ls.coordinator << " (TLS, token in "
              << ls.security.token_file << "); logs " << log << "\n";
  }

  ProgressPrinter progress;
  const auto t0 = std::chrono::steady_clock::now();
  std::string state = "running";
  std::vector<LaunchedWorker> workers;
  double listed_at = -100, gone_at = -1;
  uint64_t gone_version = 0;
  std::string list_error;
  bool no_workers = false;
  while (!g_signalled.load()) {
    std::vector<SweepCounts> counts = sched->Counts(sweep_id);
    if (counts.empty()) break;
    const SweepCounts& c = counts[0];
    state = c.sweep.state;
    const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    // Local children are cheap to look at; squeue is asked every few seconds.
    if (state == "running" && (!slurm || el - listed_at >= 3)) {
      listed_at = el;
      std::vector<LaunchedWorker> before = workers;
      auto listed = launcher->List();
      if (!listed.ok()) {
        if (listed.status().message() != list_error) {
          progress.Break();
          std::cerr << "hpsweep: cannot learn the workers' state: " << listed.status().message()
                    << "\n";
        }
        list_error = listed.status().message();
      } else {
        list_error.clear();
        workers = std::move(*listed);
        for (size_t k = 0; k < workers.size(); ++k) {
          const LaunchedWorker& w = workers[k];
          const bool was_gone = k < before.size() && (before[k].state == WorkerState::kExited ||
                                                      before[k].state == WorkerState::kFailed);
          if (k < before.size() ? w.restarts > before[k].restarts : w.restarts > 0) {
            // A worker that died while work is left is replaced (a few times per slot).
            progress.Break();
            std::fprintf(stderr, "worker %s exited; starting it again (see %s)\n", w.id.c_str(),
                         log.c_str());
          } else if (slurm && !was_gone && AllGone({w})) {
            progress.Break();
            std::fprintf(stderr, "Slurm task %s%s ended: %s\n", w.id.c_str(),
                         w.node.empty() ? "" : (" on " + w.node).c_str(), w.info.c_str());
          }
        }
      }
    }
    const std::string jobs = slurm ? " - " + WorkerSummary(workers) + " (slurm)" : "";
    const int done = c.completed + c.failed + c.stopped + c.pruned;
    progress.Show({ProgressLine(spec->name, done, c.sweep.total, c.running, c.failed, c.stopped,
                                c.pruned, c.sweep.metric, c.best, el) +
                   jobs},
                  el, state != "running", done);
    if (state != "running") break;
    if (!workers.empty() && AllGone(workers)) {
      if (!slurm) {
        std::fprintf(stderr, "\nhpsweep: every worker failed; see %s\n", log.c_str());
        break;
      }
      // Trials remain and no job is left: say so, and how to add workers; wait a while for
      // some, judged by the sweep moving (a lease, an epoch, a result).
      if (gone_at < 0 || sched->version() != gone_version) {
        if (gone_at < 0) {
          progress.Break();
          std::fprintf(stderr,
                       "hpsweep: every Slurm job of this run is gone (%s) and %d of %d trials "
                       "remain. Add workers with\n  %s\nWaiting %.0f s for them "
                       "(--wait-for-workers).\n",
                       WorkerSummary(workers).c_str(), c.sweep.total - done, c.sweep.total,
                       SlurmScriptCommand(f, ls).c_str(), f.wait_for_workers);
        }
        gone_at = el;
        gone_version = sched->version();
      } else if (el - gone_at > f.wait_for_workers) {
        no_workers = true;
        break;
      }
    }
    sched->WaitForChange(sched->version(), 0.5);
  }
  progress.Break();
  if (slurm) {
    std::cerr << "cancelling Slurm job " << static_cast<SlurmLauncher*>(launcher.get())->job_id()
              << "\n";
  }
  st = launcher->Stop();
  if (!st.ok()) std::cerr << "hpsweep: " << st.message() << "\n";
  if (g_signalled.load() || no_workers) {
    server.Shutdown();
    if (no_workers) {
      std::cerr << "hpsweep: no worker came for " << f.wait_for_workers << " s; ";
    } else {
      std::cerr << "interrupted: ";
    }
    std::cerr << "every finished trial is in " << o.db_path
              << "; run the same command again to resume the sweep\n";
    // The shell's convention for death by a signal (130 for Ctrl-C, 143 for SIGTERM), so that
    // scripts and `make` see an interruption rather than a failed sweep.
    const int sig = g_signal.load();
    return !no_workers && sig > 0 ? 128 + sig : 1;
  }
  server.Shutdown();
  auto lb = LeaderboardFromDb(o.db_path, sweep_id, f.top > 0 ? f.top : 10);
  if (!lb.ok()) return Fail(lb.status());
  std::cout << "\n";
  PrintLeaderboard(*lb, "table");
  std::cout << "\nAll results are in " << o.db_path << ": `hpsweep leaderboard --db " << o.db_path
            << "`, `hpsweep export " << sweep_id << " --db " << o.db_path << "`\n";
  if (!std::cout.flush()) {  // (SIGPIPE is ignored: a closed pipe shows here instead)
    std::cerr << "hpsweep: cannot write the leaderboard to stdout (closed?); every result is in "
              << o.db_path << "\n";
  }
  return state == "completed" ? 0 : 1;
}

// `hpsweep slurm-script`: the batch script that `run --launcher slurm` submits, for people who
// submit jobs themselves or add workers to a running sweep.
int RunSlurmScript(const Flags& f) {
  LaunchSpec ls;
  ls.exe = SelfExe();
  ls.coordinator = f.script_coordinator;
  ls.security.tls_ca = Absolute(f.client.tls_ca);
  ls.security.token_file = Absolute(f.client.token_file);
  ls.security.tls_server_name = f.client.tls_server_name;
  ls.data_dir = Absolute(f.data_dir);
  ls.log = Absolute(f.log.empty() ? "." : f.log);
  // The files the workers will read: there, readable, and the token file private.
  if (access(ls.security.tls_ca.c_str(), R_OK) != 0) {
    return Fail(NotFound("--tls-ca " + ls.security.tls_ca + ": cannot read it"));
  }
  auto token = ReadClientToken(ls.security.token_file);
  if (!token.ok()) return Fail(token.status());
  if (token->empty()) {
    return Fail(InvalidArgument("--token-file " + ls.security.token_file + ": no token in it"));
  }
  auto script = SlurmScript(f.workers, ls, SlurmOptionsOf(f));
  if (!script.ok()) return Fail(script.status());
  std::cout << *script;
  return 0;
}

}  // namespace

namespace {

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
                                   const std::string& trial) {
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
  auto lb = RankedOf(db, coordinator, security, sweep, number == 0 ? 1 : 0);
  if (!lb.ok()) return lb.status();
  TrialChoice c;
  c.sweep_id = lb->sweep_id();
  c.sweep_name = lb->sweep_name();
  const pb::LeaderboardRow* row = nullptr;
  for (const auto& r : lb->rows()) {
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

StatusOr<std::string> FetchModelById(const std::string& db, const std::string& coordinator,
                                     const ClientSecurity& security, int64_t trial_id) {
  if (!db.empty()) {
    auto reader = OpenDb(db);
    if (!reader.ok()) return reader.status();
    auto model = (*reader)->scheduler->GetModel(trial_id);
    if (!model.ok()) {
      return NotFound("trial " + std::to_string(trial_id) + " has no saved model in " + db);
    }
    return *model;
  }
  pb::GetModelRequest req;
  req.set_trial_id(trial_id);
  pb::GetModelResponse resp;
  auto stub = Connect(coordinator, security);
  if (!stub.ok()) return stub.status();
  grpc::Status s = (*stub)->GetModel(Ctx(120).get(), req, &resp);
  if (!s.ok()) {
    if (s.error_code() == grpc::StatusCode::NOT_FOUND) {
      return NotFound("trial " + std::to_string(trial_id) + " has no saved model");
    }
    return Unavailable(coordinator + ": " + s.error_message());
  }
  return resp.model();
}

StatusOr<std::string> FetchTrialModel(const std::string& db, const std::string& coordinator,
                                      const ClientSecurity& security, int64_t sweep,
                                      const std::string& trial) {
  auto choice = ResolveTrial(db, coordinator, security, sweep, trial);
  if (!choice.ok()) return choice.status();
  // Say which model is used: `best` and a bare number depend on which sweep is meant.
  std::cerr << "hpsweep: using " << choice->description << "\n";
  auto model = FetchModelById(db, coordinator, security, choice->trial_id);
  if (!model.ok() && model.status().code() == StatusCode::kNotFound) {
    return NotFound(choice->description + ": no saved model");
  }
  return model;
}

namespace {

// --coordinator and the client's TLS and token flags, and with `db` also --db: where a command
// reads a sweep from.
void AddSourceOptions(CLI::App* cmd, Flags* f, bool db) {
  cmd->add_option("--coordinator", f->coordinator, "host:port")->capture_default_str();
  if (db) cmd->add_option("--db", f->db, "read this SQLite file instead of asking a coordinator");
  AddClientSecurityOptions(cmd, &f->client);
}

}  // namespace

void AddClientSecurityOptions(CLI::App* cmd, ClientSecurity* c) {
  cmd->add_option("--tls-ca", c->tls_ca, "CA certificate (PEM) of the coordinator's TLS");
  cmd->add_option("--tls-cert", c->tls_cert, "client certificate (PEM), for mutual TLS");
  cmd->add_option("--tls-key", c->tls_key, "client key (PEM), for mutual TLS");
  cmd->add_option("--tls-server-name", c->tls_server_name,
                  "name to check the coordinator's certificate against (default: its host)");
  cmd->add_option("--token-file", c->token_file,
                  "file holding this client's token (default: $HPSWEEP_TOKEN)");
}

std::function<int()> AddSweepCommands(CLI::App* app, const std::string& default_data_dir) {
  auto f = std::make_shared<Flags>();
  f->data_dir = default_data_dir;

  CLI::App* run = app->add_subcommand(
      "run",
      "run a sweep here: coordinator, SQLite file and local workers, leaderboard at the end");
  run->add_option("file", f->file, "sweep file (YAML)")->required();
  run->add_option("--workers", f->workers, "worker processes (local) or tasks (slurm)")
      ->check(CLI::Range(1, 256));
  run->add_option("--threads", f->threads, "threads per worker")->check(CLI::Range(1, 256));
  run->add_option("--db", f->db, "SQLite file (default hpsweep.db)");
  run->add_option("--data-dir", f->data_dir, "MNIST folder")->capture_default_str();
  run->add_option("--top", f->top, "leaderboard rows to print (default 10)");
  run->add_option("--lease-seconds", f->lease_seconds, "lease period")
      ->check(CLI::Range(1.0, 3600.0));
  run->add_option("--log", f->log, "workers' log file (default DB.workers.log)");
  run->add_option("--log-format", f->log_format,
                  "text or json (one object per line): the coordinator's events, in "
                  "DB.coordinator.log")
      ->capture_default_str();
  run->add_option("--http", f->http, "serve the live dashboard at this loopback host:port");
  AddLimitOptions(run, f.get());
  run->add_flag("--reuse", f->reuse,
                "copy the results of trials identical to finished ones in --db (same params, "
                "data and seed) instead of training them again");
  run->add_option("--launcher", f->launcher,
                  "local: child processes here; slurm: one Slurm array job (README, On a cluster)")
      ->capture_default_str();
  run->add_option("--listen", f->run_listen,
                  "coordinator's host:port (default 127.0.0.1:0; slurm: 0.0.0.0:0, with TLS and "
                  "a token made for the run)");
  run->add_option("--advertise", f->advertise,
                  "slurm: HOST[:PORT] the workers reach the coordinator at (default: this "
                  "host's name, the bound port)");
  run->add_option("--partition", f->partition, "slurm: partition of the workers' job");
  run->add_option("--time", f->time, "slurm: time limit of each worker (e.g. 30, 2:00:00)");
  run->add_option("--cpus-per-worker", f->cpus_per_worker,
                  "slurm: CPUs per worker, its --threads (default --threads)")
      ->check(CLI::Range(1, 1024));
  run->add_option("--sbatch-arg", f->sbatch_args,
                  "slurm: an extra sbatch option (repeat it), e.g. --sbatch-arg=--account=X")
      ->allow_extra_args(false);
  run->add_option("--wait-for-workers", f->wait_for_workers,
                  "slurm: once every job is gone, how long to wait for workers added by hand "
                  "(seconds)")
      ->check(CLI::Range(0.0, 1e7))
      ->capture_default_str();

  CLI::App* script = app->add_subcommand(
      "slurm-script",
      "print the sbatch script of N workers for a coordinator (add workers to a running sweep)");
  script->add_option("--coordinator", f->script_coordinator, "host:port the workers reach")
      ->required();
  script->add_option("--workers", f->workers, "tasks of the array job")
      ->check(CLI::Range(1, kMaxSlurmWorkers))
      ->capture_default_str();
  script->add_option("--tls-ca", f->client.tls_ca, "CA certificate (PEM) of the coordinator")
      ->required();
  script
      ->add_option("--token-file", f->client.token_file,
                   "worker token file (mode 0600, on a filesystem every node sees)")
      ->required();
  script->add_option("--tls-server-name", f->client.tls_server_name,
                     "name to check the coordinator's certificate against");
  script->add_option("--data-dir", f->data_dir, "MNIST folder on the nodes")->capture_default_str();
  script->add_option("--log-dir", f->log, "folder for the tasks' output (default: here)");
  script->add_option("--partition", f->partition, "partition");
  script->add_option("--time", f->time, "time limit of each worker");
  script->add_option("--cpus-per-worker", f->cpus_per_worker, "CPUs per worker, its --threads")
      ->check(CLI::Range(1, 1024));

  CLI::App* coord = app->add_subcommand("coordinator", "serve sweeps to workers over gRPC");
  coord->add_option("--listen", f->listen, "host:port (loopback unless told otherwise)")
      ->capture_default_str();
  coord->add_option("--db", f->db, "SQLite file (default hpsweep.db)");
  coord->add_option("--data-dir", f->data_dir, "data set to serve to workers that lack it")
      ->capture_default_str();
  coord->add_option("--lease-seconds", f->lease_seconds, "lease period")
      ->check(CLI::Range(1.0, 3600.0))
      ->capture_default_str();
  coord->add_flag("--sync-full", f->sync_full, "fsync every commit (survives power loss)");
  coord
      ->add_option("--log-format", f->log_format,
                   "text or json (one object per line): the events logged on stderr")
      ->capture_default_str();
  coord->add_option("--tls-cert", f->server.tls_cert, "server certificate (PEM): TLS on");
  coord->add_option("--tls-key", f->server.tls_key, "server key (PEM)");
  coord->add_option("--tls-client-ca", f->server.tls_client_ca,
                    "CA (PEM) that must have signed every client's certificate (mutual TLS)");
  coord->add_option("--auth-tokens", f->server.auth_tokens,
                    "tokens file (hashes and roles; `hpsweep token create`)");
  coord->add_flag("--insecure", f->server.insecure,
                  "serve plaintext without tokens on a non-loopback address, on purpose");
  coord->add_option("--http", f->http,
                    "serve the live dashboard at host:port (same TLS, tokens and --insecure)");
  AddLimitOptions(coord, f.get());

  CLI::App* worker = app->add_subcommand("worker", "lease and train trials from a coordinator");
  AddSourceOptions(worker, f.get(), /*db=*/false);
  worker->add_option("--threads", f->threads, "threads per trial")->check(CLI::Range(1, 256));
  worker->add_option("--name", f->name, "worker name (default host:pid)");
  worker
      ->add_option("--data-dir", f->data_dir,
                   "MNIST folder (fetched from the coordinator if missing)")
      ->capture_default_str();
  worker->add_flag("--exit-when-idle", f->exit_when_idle, "exit when no sweep is running");
  worker->add_option("--max-trials", f->max_trials, "exit after this many trials");
  worker->add_flag("--quiet", f->quiet, "no log lines");

  CLI::App* submit = app->add_subcommand("submit", "submit a sweep file; prints the sweep id");
  submit->add_option("file", f->file, "sweep file (YAML)")->required();
  AddSourceOptions(submit, f.get(), /*db=*/false);
  submit->add_flag("--reuse", f->reuse,
                   "copy the results of trials identical to finished ones in the coordinator's "
                   "database (same params, data and seed) instead of training them again");

  CLI::App* status = app->add_subcommand("status", "trials per status for each sweep");
  status->add_option("sweep", f->sweep, "sweep id (default: all)");
  status->add_flag("--watch", f->watch,
                   "follow progress until the sweep is done, then print the table");
  AddSourceOptions(status, f.get(), /*db=*/true);

  CLI::App* workers = app->add_subcommand(
      "workers", "every worker: host, job, state (idle, training, gone), last heard, trials");
  workers->add_option("--format", f->format, "table or json")->capture_default_str();
  AddSourceOptions(workers, f.get(), /*db=*/true);

  CLI::App* lb = app->add_subcommand(
      "leaderboard", "trials ranked by the sweep's metric (its sweep file's metric and goal)");
  lb->add_option("sweep", f->sweep, "sweep id (default: the latest)");
  lb->add_option("--top", f->top, "rows (default: all)");
  lb->add_option("--format", f->format, "table, csv or json")->capture_default_str();
  AddSourceOptions(lb, f.get(), /*db=*/true);

  CLI::App* cancel = app->add_subcommand("cancel", "stop a sweep: no new leases, STOP to workers");
  cancel->add_option("sweep", f->sweep, "sweep id")->required();
  AddSourceOptions(cancel, f.get(), /*db=*/false);

  CLI::App* exp = app->add_subcommand("export", "every trial with params and per-epoch metrics");
  exp->add_option("sweep", f->sweep, "sweep id (default: the latest)");
  exp->add_option("--format", f->format, "csv or json");
  AddSourceOptions(exp, f.get(), /*db=*/true);
  exp->callback([f] {
    if (f->format == "table") f->format = "json";
  });

  CLI::App* report = app->add_subcommand(
      "report", "one self-contained HTML file: leaderboard, curves, hyperparameters, best trial");
  report
      ->add_option("sweep", f->sweeps,
                   "sweep id (default: the latest); two or more: compare them on one page")
      ->check(CLI::PositiveNumber);
  report->add_option("-o,--output", f->output, "HTML file to write")->required();
  AddSourceOptions(report, f.get(), /*db=*/true);
  report->add_option("--data-dir", f->data_dir, "MNIST folder (for test images and data stats)")
      ->capture_default_str();

  CLI::App* data_report = app->add_subcommand(
      "data-report",
      "HTML: counts per class, value statistics, the mean of each class (MNIST or your own data)");
  data_report->add_option("-o,--output", f->output, "HTML file to write")->required();
  data_report->add_option("--data-dir", f->data_dir, "MNIST folder")->capture_default_str();
  data_report
      ->add_option("--data-format", f->data_format,
                   "mnist (from --data-dir), idx (--data-path DIR) or csv (--train-file, "
                   "--test-file, --sequence-length)")
      ->capture_default_str();
  data_report->add_option("--data-path", f->data_path,
                          "your own IDX folder: train-images-idx3-ubyte... (plain or .gz)");
  data_report->add_option("--train-file", f->train_file, "CSV rows label,f1,f2,... (training)");
  data_report->add_option("--test-file", f->test_file, "CSV rows of the same shape (test)");
  data_report
      ->add_option("--sequence-length", f->sequence_length,
                   "CSV: steps per row (features per step = row length / steps); default 1")
      ->check(CLI::Range(1, kMaxSequenceLength));
  data_report
      ->add_option("--validation-split", f->validation_split,
                   "last fraction of the training set counted as validation")
      ->capture_default_str();
  data_report
      ->add_option("--train-limit", f->train_limit,
                   "use only the first N training images, as a sweep's train_limit (0: all)")
      ->capture_default_str();

  return [=]() -> int {
    if (*report) return RunReport(*f);
    if (*data_report) return RunDataReport(*f);
    if (*run) return RunEmbedded(*f);
    if (*script) return RunSlurmScript(*f);
    if (*coord) return RunCoordinator(*f);
    if (*worker) return RunWorker(*f);
    if (*submit) return RunSubmit(*f);
    if (*status) return RunStatus(*f);
    if (*workers) return RunWorkers(*f);
    if (*lb) return RunLeaderboard(*f);
    if (*cancel) return RunCancel(*f);
    if (*exp) return RunExport(*f);
    return -1;
  };
}

}  // namespace hpsweep
