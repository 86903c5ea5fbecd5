#include "cli/sweep_commands.h"

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include "cli/client.h"
#include "cli/extend_command.h"
#include "cli/report_commands.h"
#include "cli/run_command.h"
#include "cli/sweep_flags.h"
#include "cli/tables.h"
#include "cli/trials.h"
#include "search/params_json.h"
#include "coordinator/scheduler.h"
#include "search/sweep_file.h"
#include "engine/dataset.h"
#include "launch/slurm_launcher.h"
#include "proto/hpsweep.grpc.pb.h"

namespace hpsweep {
namespace {

namespace pb = ::hpsweep::v1;
using json = nlohmann::json;

// --- Subcommands that ask a coordinator (or read --db) -----------------------------------------

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
  // file submitted again). Best effort: a token that may only submit still submits; a failed
  // call leaves none to compare with.
  pb::GetStatusResponse before;
  if (!(*stub)->GetStatus(Ctx().get(), pb::GetStatusRequest(), &before).ok()) before.Clear();
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
  for (const auto& old : before.sweeps()) {
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

// One snapshot of status --watch shown: a progress line per sweep. Returns whether a sweep of it
// still runs.
bool ShowWatched(const pb::GetStatusResponse& snap, ProgressPrinter* progress) {
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
  progress->Show(lines, now, !running, finished);
  return running;
}

// status --watch --db FILE: the file read again every second (a run or coordinator writing it
// elsewhere, e.g. `hpsweep run --db FILE` in another terminal) until no watched sweep runs.
int RunWatchDb(const Flags& f) {
  ProgressPrinter progress;
  for (;;) {
    auto snap = StatusFromDb(f.db, f.sweep);
    if (!snap.ok()) {
      progress.Break();
      return Fail(snap.status());
    }
    if (!ShowWatched(*snap, &progress)) {
      progress.Break();
      PrintStatus(*snap, /*workers=*/false);  // a file knows of no live worker
      return 0;
    }
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
}

// status --watch: a progress line per sweep as trials change (on a terminal, one line redrawn;
// otherwise a line every 10 s and at the end), until every watched sweep is done; then the table.
int RunWatch(const Flags& f) {
  if (!f.db.empty()) return RunWatchDb(f);
  auto stub = Connect(f.coordinator, f.client);
  if (!stub.ok()) return Fail(stub.status());
  grpc::ClientContext ctx;  // no deadline: a sweep may run for days
  pb::WatchSweepRequest req;
  req.set_sweep_id(f.sweep);
  auto reader = (*stub)->WatchSweep(&ctx, req);
  ProgressPrinter progress;
  pb::GetStatusResponse snap, last;
  while (reader->Read(&snap)) {
    ShowWatched(snap, &progress);
    last = snap;
  }
  progress.Break();
  grpc::Status s = reader->Finish();
  if (!s.ok()) return FailRpc("status --watch", f.coordinator, s);
  PrintStatus(last);
  return 0;
}

int RunStatus(const Flags& f) {
  if (f.watch) return RunWatch(f);
  if (!f.db.empty()) {
    auto r = StatusFromDb(f.db, f.sweep);
    if (!r.ok()) return Fail(r.status());
    PrintStatus(*r, /*workers=*/false);  // a file knows of no live worker
    return 0;
  }
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

// workers --release NAME: lifts a worker's quarantine (ReleaseWorker; the user role).
int RunRelease(const Flags& f) {
  if (!f.db.empty()) {
    return Fail(InvalidArgument("--release asks a running coordinator; it does not take --db"));
  }
  auto stub = Connect(f.coordinator, f.client);
  if (!stub.ok()) return Fail(stub.status());
  pb::ReleaseWorkerRequest req;
  req.set_worker_name(f.release);
  pb::ReleaseWorkerResponse resp;
  grpc::Status s = (*stub)->ReleaseWorker(Ctx().get(), req, &resp);
  if (!s.ok()) return FailRpc("workers --release", f.coordinator, s);
  std::cout << "worker '" << EscapeText(f.release) << "' "
            << (resp.released() ? "released from quarantine: it is leased trials again"
                                : "was not quarantined")
            << "\n";
  return 0;
}

int RunWorkers(const Flags& f) {
  if (!f.release.empty()) return RunRelease(f);
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
// Throws json::exception on an export of the wrong shape, a missing field included: every field
// is read with at(), since a const operator[] with a missing key is undefined behaviour.
std::string ExportCsv(const json& j) {
  std::set<std::string> keys;
  for (const auto& t : j.at("trials")) {
    for (const auto& [k, v] : t.at("params").items()) keys.insert(k);
  }
  // A regression sweep's (README.md, "Regression") val_mse, val_mae, test_mse, test_mae: last.
  bool regression = false;
  for (const auto& t : j.at("trials")) {
    regression = regression || t.at("params").value("task", json("")) == json("regression");
  }
  std::ostringstream os;
  os << "trial_id,number,status,attempts";
  for (const auto& k : keys) os << "," << CsvCell(k);
  os << ",epoch,train_loss,train_accuracy,val_loss,val_accuracy,epoch_seconds,lr,best_epoch,"
        "test_accuracy,test_loss,weights_epoch,stopped_epoch,seconds,worker"
     << (regression ? ",val_mse,val_mae,test_mse,test_mae" : "") << "\n";
  const auto quote = CsvCell;
  for (const auto& t : j.at("trials")) {
    auto head = [&] {
      os << t.at("id").get<int64_t>() << "," << t.at("number").get<int>() << ","
         << t.at("status").get<std::string>() << "," << t.at("attempts").get<int>();
      for (const auto& k : keys) {
        // Typed (128, [64, 32]) from a newer coordinator, text from an older one: the same cell.
        os << "," << quote(t.at("params").contains(k) ? ParamText(t.at("params").at(k)) : "");
      }
    };
    // A test metric not measured (null: a pruned or running trial; -1 from an older
    // coordinator) is an empty cell, as the tables' "-".
    auto measured = [](const json& v) {
      std::ostringstream cell;
      if (v.is_number() && v.get<double>() >= 0) cell << v.get<double>();
      return cell.str();
    };
    // weights_epoch, stopped_epoch: 0 (empty) from an older coordinator, which has neither.
    auto tail = [&](const json& e) {
      os << "," << t.at("best_epoch").get<int>() << "," << measured(t.at("test_accuracy")) << ","
         << measured(t.at("test_loss")) << "," << t.value("weights_epoch", 0) << ","
         << t.value("stopped_epoch", 0) << "," << Num(t.at("seconds")) << ","
         << quote(t.at("worker").get<std::string>());
      if (regression) {
        const json fm = t.value("final_metrics", json::object());
        os << "," << measured(e.value("val_mse", json())) << ","
           << measured(e.value("val_mae", json())) << "," << measured(fm.value("test_mse", json()))
           << "," << measured(fm.value("test_mae", json()));
      }
      os << "\n";
    };
    if (t.at("epochs").empty()) {
      head();
      os << ",,,,,,,";
      tail(json::object());
    }
    for (const auto& e : t.at("epochs")) {
      head();
      os << "," << e.at("epoch").get<int>() << "," << Num(e.at("train_loss")) << ","
         << Num(e.at("train_accuracy")) << "," << Num(e.at("val_loss")) << ","
         << Num(e.at("val_accuracy")) << "," << Num(e.at("seconds")) << ","
         << (e.contains("lr") ? measured(e.at("lr")) : "");
      tail(e);
    }
  }
  return os.str();
}

// `logs SWEEP#N`: a program trial's kept output (docs/programs.md).
int RunLogs(const Flags& f) {
  const size_t hash = f.file.find('#');
  int64_t sweep = 0;
  const std::string sweep_text = f.file.substr(0, hash);
  char* end = nullptr;
  if (!sweep_text.empty()) sweep = std::strtoll(sweep_text.c_str(), &end, 10);
  if (hash == std::string::npos || hash + 1 == f.file.size() ||
      (!sweep_text.empty() && (*end != '\0' || sweep <= 0))) {
    return Fail(InvalidArgument("logs: expected SWEEP#N (e.g. 3#7: trial #7 of sweep 3; #7: "
                                "of the latest sweep; 3#best), got '" + EscapeText(f.file) +
                                "'"));
  }
  auto choice = ResolveTrial(f.db, f.coordinator, f.client, sweep, f.file.substr(hash + 1));
  if (!choice.ok()) return Fail(choice.status());
  auto output = FetchOutputById(f.db, f.coordinator, f.client, choice->trial_id);
  if (!output.ok()) {
    return Fail(NotFound(choice->description +
                         ": no output kept (only a program's trials keep theirs: docs/programs.md)"));
  }
  std::cout << *output;
  if (!output->empty() && output->back() != '\n') std::cout << "\n";
  return 0;
}

int RunExport(const Flags& f) {
  if (f.format != "csv" && f.format != "json") {
    return Fail(InvalidArgument("--format: expected csv or json, got '" + f.format + "'"));
  }
  if (f.format == "json") {
    // Written a page at a time as the pages come: memory is a page, not the sweep. A failure
    // after the first page leaves the JSON cut short on stdout, and the exit code says so.
    ExportJoiner join;
    bool head = false;
    Status s = ForEachExportPage(f.db, f.coordinator, f.client, f.sweep,
                                 [&](const ExportPage& page) {
                                   if (!head) std::cout << page.head;
                                   head = true;
                                   for (const std::string& t : page.trials) {
                                     std::cout << join.Trial(t);
                                   }
                                   std::cout.flush();
                                   if (!std::cout) return IoError("writing the export failed");
                                   return Status::Ok();
                                 });
    if (!s.ok()) return Fail(s);
    std::cout << join.Tail() << "\n";
    return 0;
  }
  // CSV's header names every trial's params: the whole sweep is read first.
  auto text = ExportText(f.db, f.coordinator, f.client, f.sweep);
  if (!text.ok()) return Fail(text.status());
  std::string csv;
  try {  // the JSON may come over the network: a wrong shape is an error, not an abort
    csv = ExportCsv(json::parse(*text));
  } catch (const json::exception& e) {
    return Fail(DataLoss(std::string("the sweep's export has an unexpected shape: ") + e.what()));
  }
  std::cout << csv;
  return 0;
}

// --- Flags of every subcommand ------------------------------------------------------------------

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

// --coordinator and the client's TLS and token flags, and with `db` also --db: where a command
// reads a sweep from.
void AddSourceOptions(CLI::App* cmd, Flags* f, bool db) {
  cmd->add_option("--coordinator", f->coordinator, "host:port")->capture_default_str();
  if (db) cmd->add_option("--db", f->db, "read this SQLite file instead of asking a coordinator");
  AddClientSecurityOptions(cmd, &f->client);
}

// --program NAME=PATH (docs/programs.md), on every command that starts workers.
void AddProgramOptions(CLI::App* cmd, Flags* f) {
  cmd->add_option("--program", f->programs,
                  "NAME=PATH: offer the executable PATH as program NAME, which sweep files name "
                  "with program: NAME (repeatable; docs/programs.md)")
      ->allow_extra_args(false);
  cmd->add_option("--program-grace", f->program_grace,
                  "seconds a program told to stop (pruned, cancelled) has before SIGTERM")
      ->check(CLI::Range(0.0, 3600.0))
      ->capture_default_str();
}

// --mem, --setup and --worker-binary: how a Slurm task starts its worker (run --launcher slurm,
// slurm-script). `prefix` starts each help line ("slurm: " under run).
void AddSlurmWorkerOptions(CLI::App* cmd, Flags* f, const std::string& prefix) {
  cmd->add_option("--mem", f->mem,
                  prefix + "memory per worker, Slurm's format (4G, 4000M; default: the "
                           "partition's)");
  cmd->add_option("--setup", f->setup,
                  prefix + "a shell line run before each worker starts, e.g. 'module load "
                           "gcc' (repeatable, in order)")
      ->allow_extra_args(false);
  cmd->add_option("--worker-binary", f->worker_binary,
                  prefix + "the hpsweep binary the nodes run (default: this one; a -march=native "
                           "build needs the nodes' CPU, build one with -DHPSWEEP_PORTABLE=ON or "
                           "-DHPSWEEP_ARCH=...)");
}

// `run FILE`: a coordinator here, workers from a launcher (cli/run_command.h).
CLI::App* AddRunCommand(CLI::App* app, Flags* f) {
  CLI::App* run = app->add_subcommand(
      "run",
      "run a sweep here: coordinator, SQLite file and local workers, leaderboard at the end");
  run->add_option("file", f->file, "sweep file (YAML)")->required();
  run->add_option("--workers", f->workers, "worker processes (local) or tasks (slurm)")
      ->check(CLI::Range(1, 256));
  run->add_option("--threads", f->threads, "threads per worker")->check(CLI::Range(1, 256));
  run->add_option("--db", f->db, "SQLite file (default hpsweep.db)");
  run->add_option("--data-dir", f->data_dir, "MNIST folder")->capture_default_str();
  run->add_option("--data-root", f->data_roots,
                  "another folder the sweep's own data may come from (repeatable; the sweep "
                  "file's own data folders always may)");
  run->add_option("--top", f->top, "leaderboard rows to print (default 10)");
  run->add_option("--lease-seconds", f->lease_seconds, "lease period")
      ->check(CLI::Range(1.0, 3600.0));
  run->add_option("--log", f->log, "workers' log file (default DB.workers.log)");
  run->add_option("--log-format", f->log_format,
                  "text or json (one object per line): the coordinator's events, in "
                  "DB.coordinator.log")
      ->capture_default_str();
  run->add_option("--http", f->http, "serve the live dashboard at this loopback host:port");
  AddLimitOptions(run, f);
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
  AddSlurmWorkerOptions(run, f, "slurm: ");
  run->add_option("--sbatch-arg", f->sbatch_args,
                  "slurm: an extra sbatch option (repeat it), e.g. --sbatch-arg=--account=X")
      ->allow_extra_args(false);
  run->add_option("--wait-for-workers", f->wait_for_workers,
                  "slurm: once every job is gone, how long to wait for workers added by hand "
                  "(seconds)")
      ->check(CLI::Range(0.0, 1e7))
      ->capture_default_str();
  AddProgramOptions(run, f);
  return run;
}

// `slurm-script`: the sbatch script of N workers for a coordinator.
CLI::App* AddSlurmScriptCommand(CLI::App* app, Flags* f) {
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
  AddSlurmWorkerOptions(script, f, "");
  AddProgramOptions(script, f);
  return script;
}

// `coordinator`: serve sweeps to workers over gRPC.
CLI::App* AddCoordinatorCommand(CLI::App* app, Flags* f) {
  CLI::App* coord = app->add_subcommand("coordinator", "serve sweeps to workers over gRPC");
  coord->add_option("--listen", f->listen, "host:port (loopback unless told otherwise)")
      ->capture_default_str();
  coord->add_option("--db", f->db, "SQLite file (default hpsweep.db)");
  coord->add_option("--data-dir", f->data_dir, "data set to serve to workers that lack it")
      ->capture_default_str();
  coord->add_option("--data-root", f->data_roots,
                    "a folder sweeps' own data may come from (repeatable; --data-dir is one): "
                    "a sweep naming a file anywhere else is refused, unread");
  coord
      ->add_option("--request-memory", f->request_memory_mb,
                   "MiB the gRPC server may hold for calls in flight; past it calls are refused "
                   "(RESOURCE_EXHAUSTED) and retried by workers")
      ->check(CLI::Range(64, 1 << 20))
      ->capture_default_str();
  coord->add_option("--lease-seconds", f->lease_seconds, "lease period")
      ->check(CLI::Range(1.0, 3600.0))
      ->capture_default_str();
  coord
  ->add_option("--quarantine-after", f->quarantine_after,
                   "quarantine a worker whose last N attempts failed while trials completed on "
                   "other workers (0: never; a sweep's quarantine_after wins)")
      ->check(CLI::Range(0, kMaxQuarantineAfter))
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
  AddLimitOptions(coord, f);
  return coord;
}

// `dashboard --db FILE`: the dashboard of a database file, read-only (cli/run_command.h).
CLI::App* AddDashboardCommand(CLI::App* app, Flags* f) {
  CLI::App* dash = app->add_subcommand(
      "dashboard",
      "serve the dashboard of a database file, read-only (a finished run, or one still writing "
      "it), until Ctrl-C");
  dash->add_option("--db", f->db, "the SQLite file of a run or coordinator")->required();
  dash->add_option("--http", f->http,
                   "host:port to serve at (default 127.0.0.1:0, a free loopback port; any other "
                   "address needs TLS and tokens, or --insecure)");
  dash->add_option("--tls-cert", f->server.tls_cert, "server certificate (PEM): HTTPS");
  dash->add_option("--tls-key", f->server.tls_key, "server key (PEM)");
  dash->add_option("--tls-client-ca", f->server.tls_client_ca,
                   "CA (PEM) that must have signed every client's certificate (mutual TLS)");
  dash->add_option("--auth-tokens", f->server.auth_tokens,
                   "tokens file (hashes and roles; `hpsweep token create`): reader or user to view");
  dash->add_flag("--insecure", f->server.insecure,
                 "serve plaintext without tokens on a non-loopback address, on purpose");
  return dash;
}

// `worker`: lease and train trials from a coordinator.
CLI::App* AddWorkerCommand(CLI::App* app, Flags* f) {
  CLI::App* worker = app->add_subcommand("worker", "lease and train trials from a coordinator");
  AddSourceOptions(worker, f, /*db=*/false);
  worker->add_option("--threads", f->threads, "threads per trial")->check(CLI::Range(1, 256));
  worker->add_option("--name", f->name, "worker name (default host:pid)");
  worker
      ->add_option("--data-dir", f->data_dir,
                   "MNIST folder (fetched from the coordinator if missing)")
      ->capture_default_str();
  worker->add_flag("--exit-when-idle", f->exit_when_idle, "exit when no sweep is running");
  worker->add_option("--max-trials", f->max_trials, "exit after this many trials");
  worker->add_flag("--quiet", f->quiet, "no log lines");
  AddProgramOptions(worker, f);
  return worker;
}

// `submit FILE`: a sweep file to a coordinator.
CLI::App* AddSubmitCommand(CLI::App* app, Flags* f) {
  CLI::App* submit = app->add_subcommand("submit", "submit a sweep file; prints the sweep id");
  submit->add_option("file", f->file, "sweep file (YAML)")->required();
  AddSourceOptions(submit, f, /*db=*/false);
  submit->add_flag("--reuse", f->reuse,
                   "copy the results of trials identical to finished ones in the coordinator's "
                   "database (same params, data and seed) instead of training them again");
  return submit;
}

// `status [SWEEP]`: trials per status for each sweep.
CLI::App* AddStatusCommand(CLI::App* app, Flags* f) {
  CLI::App* status = app->add_subcommand("status", "trials per status for each sweep");
  status->add_option("sweep", f->sweep, "sweep id (default: all)");
  status->add_flag("--watch", f->watch,
                   "follow progress until the sweep is done, then print the table (with --db: "
                   "the file, read again every second, as a run writes it)");
  AddSourceOptions(status, f, /*db=*/true);
  return status;
}

// `workers`: every worker a coordinator or a database file knows of.
CLI::App* AddWorkersCommand(CLI::App* app, Flags* f) {
  CLI::App* workers = app->add_subcommand(
      "workers",
      "every worker: host, job, state (idle, training, quarantined, gone), last heard, trials");
  workers->add_option("--format", f->format, "table or json")->capture_default_str();
  workers->add_option("--release", f->release,
                      "lift the quarantine of the worker of this name (needs the user role)");
  AddSourceOptions(workers, f, /*db=*/true);
  return workers;
}

// `leaderboard [SWEEP]`: trials ranked by the sweep's metric.
CLI::App* AddLeaderboardCommand(CLI::App* app, Flags* f) {
  CLI::App* lb = app->add_subcommand(
      "leaderboard", "trials ranked by the sweep's metric (its sweep file's metric and goal)");
  lb->add_option("sweep", f->sweep, "sweep id (default: the latest)");
  lb->add_option("--top", f->top, "rows (default: all)");
  lb->add_option("--format", f->format, "table, csv or json")->capture_default_str();
  AddSourceOptions(lb, f, /*db=*/true);
  return lb;
}

// `cancel SWEEP`: stop a sweep.
CLI::App* AddCancelCommand(CLI::App* app, Flags* f) {
  CLI::App* cancel = app->add_subcommand("cancel", "stop a sweep: no new leases, STOP to workers");
  cancel->add_option("sweep", f->sweep, "sweep id")->required();
  AddSourceOptions(cancel, f, /*db=*/false);
  return cancel;
}

// `export [SWEEP]`: every trial with params and per-epoch metrics (json unless --format csv).
CLI::App* AddExportCommand(CLI::App* app, const std::shared_ptr<Flags>& f) {
  CLI::App* exp = app->add_subcommand("export", "every trial with params and per-epoch metrics");
  exp->add_option("sweep", f->sweep, "sweep id (default: the latest)");
  exp->add_option("--format", f->format, "csv or json");
  AddSourceOptions(exp, f.get(), /*db=*/true);
  exp->callback([f] {
    if (f->format == "table") f->format = "json";
  });
  return exp;
}

// `logs SWEEP#N`: a program trial's output.
CLI::App* AddLogsCommand(CLI::App* app, Flags* f) {
  CLI::App* logs = app->add_subcommand(
      "logs", "a program trial's output: the last 1 MiB of its stdout and stderr");
  logs->add_option("trial", f->file, "SWEEP#N: trial #N of sweep SWEEP (#N: the latest sweep)")
      ->required();
  AddSourceOptions(logs, f, /*db=*/true);
  return logs;
}

// `report [SWEEP...]`: one self-contained HTML file (cli/report_commands.h).
CLI::App* AddReportCommand(CLI::App* app, Flags* f) {
  CLI::App* report = app->add_subcommand(
      "report", "one self-contained HTML file: leaderboard, curves, hyperparameters, best trial");
  report
      ->add_option("sweep", f->sweeps,
                   "sweep id (default: the latest); two or more: compare them on one page")
      ->check(CLI::PositiveNumber);
  report->add_option("-o,--output", f->output, "HTML file to write")->required();
  AddSourceOptions(report, f, /*db=*/true);
  report->add_option("--data-dir", f->data_dir, "MNIST folder (for test images and data stats)")
      ->capture_default_str();
  return report;
}

// `data-report`: HTML about a data set (cli/report_commands.h).
CLI::App* AddDataReportCommand(CLI::App* app, Flags* f) {
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
  return data_report;
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

  CLI::App* run = AddRunCommand(app, f.get());
  CLI::App* script = AddSlurmScriptCommand(app, f.get());
  CLI::App* coord = AddCoordinatorCommand(app, f.get());
  CLI::App* worker = AddWorkerCommand(app, f.get());
  CLI::App* dashboard = AddDashboardCommand(app, f.get());
  CLI::App* submit = AddSubmitCommand(app, f.get());
  CLI::App* status = AddStatusCommand(app, f.get());
  CLI::App* workers = AddWorkersCommand(app, f.get());
  CLI::App* lb = AddLeaderboardCommand(app, f.get());
  CLI::App* cancel = AddCancelCommand(app, f.get());
  CLI::App* extend = AddExtendCommand(app, f.get());
  CLI::App* exp = AddExportCommand(app, f);
  CLI::App* logs = AddLogsCommand(app, f.get());
  CLI::App* report = AddReportCommand(app, f.get());
  CLI::App* data_report = AddDataReportCommand(app, f.get());

  return [=]() -> int {
    if (*report) return RunReport(*f);
    if (*data_report) return RunDataReport(*f);
    if (*run) return RunEmbedded(*f);
    if (*script) return RunSlurmScript(*f);
    if (*coord) return RunCoordinator(*f);
    if (*worker) return RunWorker(*f);
    if (*dashboard) return RunDashboardDb(*f);
    if (*submit) return RunSubmit(*f);
    if (*status) return RunStatus(*f);
    if (*workers) return RunWorkers(*f);
    if (*lb) return RunLeaderboard(*f);
    if (*cancel) return RunCancel(*f);
    if (*extend) return RunExtend(*f);
    if (*exp) return RunExport(*f);
    if (*logs) return RunLogs(*f);
    return -1;
  };
}

}  // namespace hpsweep
