#include "cli/run_command.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <iostream>
#include <memory>
#include <set>
#include <thread>
#include <utility>
#include <vector>

#include "auth/tokens.h"
#include "cli/client.h"
#include "cli/tables.h"
#include "engine/trainer.h"
#include "coordinator/scheduler.h"
#include "coordinator/service.h"
#include "engine/dataset.h"
#include "engine/mnist.h"
#include "engine/trainer.h"
#include "http/dashboard.h"
#include "launch/local_launcher.h"
#include "launch/slurm_launcher.h"
#include "launch/slurm_run.h"
#include "worker/worker.h"

namespace hpsweep {
namespace {

// --- Signals ---------------------------------------------------------------------------------

// The process's one global: the signal that asked it to stop (0: none yet), for `run` to exit
// 128 + it. The handler only stores it (all a handler may safely do); a worker reads it
// (WorkerOptions::stop_signal), SignalWatcher passes it on to a coordinator.
std::atomic<int> g_signal{0};
static_assert(std::atomic<int>::is_always_lock_free, "stored from a signal handler");

void OnSignal(int sig) { g_signal.store(sig); }

bool Signalled() { return g_signal.load() != 0; }

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

// Calls stop() on a thread of its own once a signal has come, or when the watcher is destroyed
// if none came: a coordinator is shut down. (A worker reads the flag itself: see RunWorker.)
class SignalWatcher {
 public:
  explicit SignalWatcher(std::function<void()> stop)
      : thread_([this, stop = std::move(stop)] {
          while (!Signalled() && !done_.load()) {
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
          }
          stop();
        }) {}
  ~SignalWatcher() {
    done_ = true;
    thread_.join();
  }
  SignalWatcher(const SignalWatcher&) = delete;
  SignalWatcher& operator=(const SignalWatcher&) = delete;

 private:
  std::atomic<bool> done_{false};  // (declared before thread_, which reads it)
  std::thread thread_;
};

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
  if (ec) return path;
  std::string out = p.lexically_normal().string();  // "/a/b/." -> "/a/b/"
  if (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

SlurmOptions SlurmOptionsOf(const Flags& f) {
  SlurmOptions o;
  o.partition = f.partition;
  o.time = f.time;
  o.cpus_per_worker = f.cpus_per_worker > 0 ? f.cpus_per_worker : f.threads;
  o.sbatch_args = f.sbatch_args;
  o.mem = f.mem;
  o.setup = f.setup;
  return o;
}

// `hpsweep slurm-script ...`: the command that adds workers to a running Slurm sweep.
std::string SlurmScriptCommand(const Flags& f, const LaunchSpec& spec) {
  std::string c = "hpsweep slurm-script --coordinator " + spec.coordinator + " --workers " +
                  std::to_string(f.workers) + " --tls-ca " + spec.security.tls_ca +
                  " --token-file " + spec.security.token_file + " --log-dir " + spec.log;
  if (!spec.data_dir.empty()) c += " --data-dir " + spec.data_dir;
  if (!f.partition.empty()) c += " --partition " + f.partition;
  if (!f.mem.empty()) c += " --mem " + f.mem;
  for (const std::string& line : f.setup) c += " --setup " + ShellQuote(line);
  if (!f.worker_binary.empty()) c += " --worker-binary " + ShellQuote(spec.exe);
  return c + " > more.sbatch && sbatch more.sbatch";
}

// One `hpsweep run`: what its phases share. The members go in the reverse of their order: the
// workers' launcher, the dashboard, the coordinator, then the event log that it writes to.
struct EmbeddedRun {
  bool slurm = false;  // --launcher slurm
  CoordinatorOptions options;
  std::string event_path;  // the coordinator's events (a file: on stderr they would break the
                           // progress line)
  std::unique_ptr<EventLog> events;
  std::string host, slurm_dir;  // slurm: the host the workers reach, the run's folder of files
  int advertised_port = 0;      // slurm: --advertise's port (0: the bound one)
  SlurmRunFiles files;          // slurm: the run's TLS and tokens
  CoordinatorServer server;
  Scheduler* sched = nullptr;  // the server's
  std::unique_ptr<Dashboard> dashboard;
  int64_t sweep_id = 0;  // the sweep this run trains
  LaunchSpec launch;
  std::unique_ptr<Launcher> launcher;
  std::string log;  // the workers' log, as messages name it
};

// Local workers train on this CPU: a sweep fixed to precision: bf16 on one without avx512_bf16
// would wait for ever (the coordinator leases such trials only to workers that run them), so it
// ends here with CheckPrecision's reason. A list item may set its own precision: then no check.
Status CheckLocalPrecision(const Flags& f, const SweepSpec& spec) {
  auto fixed = spec.fixed.find("precision");
  if (!spec.program.empty() || fixed == spec.fixed.end()) return Status::Ok();
  for (const ListItem& item : spec.items) {
    if (item.params.count("precision")) return Status::Ok();
  }
  TrialConfig config;
  if (!ApplyKey("precision", fixed->second, &config).ok()) return Status::Ok();  // (submit says)
  Status s = CheckPrecision(config.train);
  if (s.ok()) return s;
  return Status(s.code(), f.file + ": " + s.message() + "; nothing was started");
}

// The checks of `run` before anything is started or stored: flags that go together, and the data.
Status CheckRunFlags(const Flags& f, const SweepFile& file) {
  const bool slurm = f.launcher == "slurm";
  if (!slurm && f.launcher != "local") {
    return InvalidArgument("--launcher: expected local or slurm, got '" + f.launcher + "'");
  }
  if (!slurm && (!f.partition.empty() || !f.time.empty() || f.cpus_per_worker > 0 ||
                 !f.sbatch_args.empty() || !f.advertise.empty() || !f.mem.empty() ||
                 !f.setup.empty() || !f.worker_binary.empty())) {
    return InvalidArgument(
        "--partition, --time, --cpus-per-worker, --mem, --setup, --worker-binary, --sbatch-arg "
        "and --advertise are for --launcher slurm");
  }
  // A program sweep's workers must offer its program, or the run would wait for ever.
  auto programs = ParseProgramFlags(f.programs);
  if (!programs.ok()) return programs.status();
  const std::string& program = file.spec.program;
  if (!program.empty() && !programs->count(program)) {
    return InvalidArgument(f.file + ": the sweep runs program '" + program +
                           "', which its workers must offer: add --program " + program +
                           "=PATH (PATH: your training script; docs/programs.md)");
  }
  if (!slurm) HPSWEEP_RETURN_IF_ERROR(CheckLocalPrecision(f, file.spec));
  if (!f.http.empty() && !IsLoopbackAddress(f.http)) {  // (before anything is stored)
    return InvalidArgument("--http " + f.http +
                           ": `hpsweep run` serves its dashboard on loopback only "
                           "(127.0.0.1:PORT); for other machines run `hpsweep "
                           "coordinator --http` with TLS and tokens");
  }

  // The workers train on this data (local ones read it, remote ones fetch it from the
  // coordinator): check it before anything is started or stored, so that a wrong --data-dir ends
  // here with the reason instead of in workers that exit one after another.
  auto data = LoadMnist(f.data_dir, 1);
  if (!data.ok()) {
    // Workers load --data-dir at start even for a sweep of its own data (README, Your own
    // data): say so, or the message would seem to be about the wrong data set.
    const std::string own = file.spec.data.format == DataFormat::kMnist
                                ? ""
                                : " (workers load an MNIST-layout --data-dir at start, even "
                                  "for a sweep of its own data)";
    return Status(data.status().code(),
                  "--data-dir: " + data.status().message() + own + "; nothing was started");
  }
  return Status::Ok();
}

// The run's coordinator over --db, its event log, its Slurm folder (TLS and tokens) and its
// dashboard.
Status StartCoordinator(const Flags& f, EmbeddedRun* r) {
  const bool slurm = r->slurm;
  CoordinatorOptions& o = r->options;
  // Slurm's workers run on other nodes: the coordinator listens on every interface, with TLS
  // and a token made for this run.
  o.listen = !f.run_listen.empty() ? f.run_listen : slurm ? "0.0.0.0:0" : "127.0.0.1:0";
  o.sweep_limits = Limits(f);
  o.db_path = f.db.empty() ? "hpsweep.db" : f.db;
  o.data_dir = f.data_dir;
  o.scheduler.lease_seconds = f.lease_seconds;
  // The events go to a file: on stderr they would break the progress line.
  r->event_path = o.db_path + ".coordinator.log";
  auto events = OpenEventLog(f, r->event_path);
  if (!events.ok()) return events.status();
  r->events = std::move(*events);
  o.scheduler.events = r->events.get();
  if (slurm) {
    HPSWEEP_RETURN_IF_ERROR(ParseAdvertise(f.advertise, &r->host, &r->advertised_port));
    r->slurm_dir = Absolute(o.db_path) + ".slurm";
    auto made = PrepareSlurmRunFolder(r->slurm_dir, r->host);
    if (!made.ok()) return made.status();
    r->files = *made;
    o.security = r->files.server;
  }
  HPSWEEP_RETURN_IF_ERROR(r->server.Start(o));
  r->sched = r->server.scheduler();
  // The run's dashboard: loopback only, no tokens (the run's own tokens are its workers').
  r->dashboard = std::make_unique<Dashboard>(r->sched);
  if (!f.http.empty()) {
    DashboardOptions d;
    d.listen = f.http;
    HPSWEEP_RETURN_IF_ERROR(r->dashboard->Start(d));
    std::cerr << "hpsweep dashboard at " << r->dashboard->url() << "\n";
  }
  return Status::Ok();
}

// The file as a new sweep: says so, and what it has in common with the sweeps already there.
// Adds the sweeps a note named to noted.
Status SubmitNewSweep(const Flags& f, const SweepFile& file, EmbeddedRun* r,
                      std::set<int64_t>* noted) {
  const std::string& yaml = file.yaml;
  const SweepSpec* spec = &file.spec;
  const std::vector<TrialSpec>* trials = &file.trials;
  const CoordinatorOptions& o = r->options;
  Scheduler* sched = r->sched;
  // An edited file run again becomes a new sweep of the same name: say so, and how many of
  // its trials are identical to finished ones (any sweep's), which --reuse copies.
  std::vector<SweepCounts> same_name;
  for (const SweepCounts& c : sched->Counts(0)) {
    if (c.sweep.name == spec->name) same_name.push_back(c);
  }
  const IdenticalFinished same = sched->FindIdenticalFinished(*spec, *trials);
  auto id = sched->Submit(*spec, *trials, yaml, f.file, f.reuse);
  if (!id.ok()) return id.status();
  const int64_t sweep_id = r->sweep_id = *id;
  for (const SweepCounts& c : same_name) {
    std::cerr << "note: sweep " << c.sweep.id << " in " << o.db_path << " is also named '"
              << spec->name << "' (" << c.sweep.state << ", " << Counted(c.completed, "trial")
              << " completed), from "
              << (c.sweep.yaml == yaml ? "the same file" : "a different file")
              << "; this run is a new sweep, " << sweep_id << ".";
    if (c.sweep.state == SweepState::kRunning) {  // (one note per sweep, not this and the one below)
      std::cerr << " Sweep " << c.sweep.id << " is left as it is (" << c.completed << " of "
                << c.sweep.total << " done); run its file again to go on with it.";
    }
    std::cerr << "\n";
    noted->insert(c.sweep.id);
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
  return Status::Ok();
}

// The sweep this run trains: the same file still running in this database, else a new one.
// Then it alone is leased, and any other sweep left running is named.
Status ChooseSweep(const Flags& f, const SweepFile& file, EmbeddedRun* r) {
  Scheduler* sched = r->sched;
  const std::string& db_path = r->options.db_path;
  // The same file still running in this database: resume it instead of starting over.
  std::set<int64_t> noted;  // sweeps a note has named already
  for (const SweepCounts& c : sched->Counts(0)) {
    if (c.sweep.state == SweepState::kRunning && c.sweep.yaml == file.yaml) r->sweep_id = c.sweep.id;
  }
  if (r->sweep_id != 0) {
    std::cerr << "resuming sweep " << r->sweep_id << " (" << file.spec.name << ") from " << db_path
              << (f.reuse ? " (as it was submitted: --reuse applies to a new sweep)" : "") << "\n";
  } else {
    HPSWEEP_RETURN_IF_ERROR(SubmitNewSweep(f, file, r, &noted));
  }
  const int64_t sweep_id = r->sweep_id;
  // This run trains its own sweep only: another sweep left running in the database (an earlier
  // run of another file, interrupted) is left as it is, and said so.
  sched->LeaseOnly(sweep_id);
  for (const SweepCounts& c : sched->Counts(0)) {
    if (c.sweep.id == sweep_id || c.sweep.state != SweepState::kRunning || noted.count(c.sweep.id)) continue;
    std::cerr << "note: sweep " << c.sweep.id << " (" << c.sweep.name << ") in " << db_path
              << " is still running from an earlier run (" << Counted(c.completed, "trial")
              << " completed of " << c.sweep.total << "); this run trains sweep " << sweep_id
              << " only; run sweep " << c.sweep.id << "'s file again to go on with it.\n";
  }
  return Status::Ok();
}

// The workers' --program flags (checked, paths made absolute) and --program-grace.
Status AddProgramArgs(const Flags& f, LaunchSpec* ls) {
  auto programs = ParseProgramFlags(f.programs);
  if (!programs.ok()) return programs.status();
  for (const auto& [name, path] : *programs) ls->extra_args.push_back("--program=" + name + "=" + path);
  if (!programs->empty()) {
    char grace[32];
    std::snprintf(grace, sizeof grace, "%g", f.program_grace);
    ls->extra_args.push_back(std::string("--program-grace=") + grace);
  }
  return Status::Ok();
}

// The workers, from the launcher --launcher names; on failure the coordinator is shut down.
Status StartWorkers(const Flags& f, EmbeddedRun* r) {
  LaunchSpec& ls = r->launch;
  ls.exe = f.worker_binary.empty() ? SelfExe() : Absolute(f.worker_binary);
  HPSWEEP_RETURN_IF_ERROR(AddProgramArgs(f, &ls));
  ls.threads = f.threads;
  ls.data_dir = f.data_dir;
  if (r->slurm) {
    ls.coordinator = r->host + ":" +
                     std::to_string(r->advertised_port > 0 ? r->advertised_port : r->server.port());
    ls.security = r->files.workers;
    ls.data_dir = Absolute(f.data_dir);
    ls.log = r->slurm_dir;
    ls.threads = SlurmOptionsOf(f).cpus_per_worker;
    r->launcher = std::make_unique<SlurmLauncher>(SlurmOptionsOf(f));
  } else {
    ls.coordinator = r->server.address();
    ls.log = r->log = f.log.empty() ? r->options.db_path + ".workers.log" : f.log;
    r->launcher = std::make_unique<LocalLauncher>();
  }
  Status st = r->launcher->Start(f.workers, ls);
  if (!st.ok()) {
    r->server.Shutdown();
    return st;
  }
  if (r->slurm) {
    const std::string& job = static_cast<SlurmLauncher*>(r->launcher.get())->job_id();
    r->log = r->slurm_dir + "/worker-" + job + "_*.log";
    std::cerr << "Slurm array job " << job << ": " << f.workers
              << " workers for the coordinator at " << ls.coordinator << " (TLS, token in "
              << ls.security.token_file << "); logs " << r->log << "\n";
  }
  return Status::Ok();
}

// What the wait of `run` knows of its workers from one round to the next.
struct WorkerWatch {
  std::vector<LaunchedWorker> workers;  // as the launcher last listed them
  double listed_at = -100;              // when it was asked (seconds since the wait began)
  double gone_at = -1;        // slurm: when every job was seen gone, or the sweep last moved then
  uint64_t gone_version = 0;  // the scheduler's version at gone_at
  std::string list_error;     // the last error of List, said once
};

// Asks the launcher for its workers; says when one was started again or a Slurm task ended.
void ListWorkers(const EmbeddedRun& r, WorkerWatch* watch, ProgressPrinter* progress) {
  const bool slurm = r.slurm;
  const std::string& log = r.log;
  std::vector<LaunchedWorker>& workers = watch->workers;
  std::vector<LaunchedWorker> before = workers;
  auto listed = r.launcher->List();
  if (!listed.ok()) {
    if (listed.status().message() != watch->list_error) {
      progress->Break();
      std::cerr << "hpsweep: cannot learn the workers' state: " << listed.status().message()
                << "\n";
    }
    watch->list_error = listed.status().message();
    return;
  }
  watch->list_error.clear();
  workers = std::move(*listed);
  for (size_t k = 0; k < workers.size(); ++k) {
    const LaunchedWorker& w = workers[k];
    const bool was_gone = k < before.size() && (before[k].state == WorkerState::kExited ||
                                                before[k].state == WorkerState::kFailed);
    if (k < before.size() ? w.restarts > before[k].restarts : w.restarts > 0) {
      // A worker that died while work is left is replaced (a few times per slot).
      progress->Break();
      std::fprintf(stderr, "worker %s exited; starting it again (see %s)\n", w.id.c_str(),
                   log.c_str());
    } else if (slurm && !was_gone && AllGone({w})) {
      progress->Break();
      std::fprintf(stderr, "Slurm task %s%s ended: %s\n", w.id.c_str(),
                   w.node.empty() ? "" : (" on " + w.node).c_str(), w.info.c_str());
    }
  }
}

// Slurm, every job of the run gone while trials remain (done of c's total finished): says so
// once, and how to add workers. True when the sweep has not moved (a lease, an epoch, a result)
// for --wait-for-workers since.
bool NoWorkerCame(const Flags& f, const EmbeddedRun& r, const SweepCounts& c, int done, double el,
                  WorkerWatch* watch, ProgressPrinter* progress) {
  Scheduler* sched = r.sched;
  if (watch->gone_at < 0 || sched->version() != watch->gone_version) {
    if (watch->gone_at < 0) {
      progress->Break();
      std::fprintf(stderr,
                   "hpsweep: every Slurm job of this run is gone (%s) and %d of %d trials "
                   "remain. Add workers with\n  %s\nWaiting %.0f s for them "
                   "(--wait-for-workers).\n",
                   WorkerSummary(watch->workers).c_str(), c.sweep.total - done, c.sweep.total,
                   SlurmScriptCommand(f, r.launch).c_str(), f.wait_for_workers);
    }
    watch->gone_at = el;
    watch->gone_version = sched->version();
    return false;
  }
  return el - watch->gone_at > f.wait_for_workers;
}

// How the wait of `run` ended (besides a signal).
struct WaitResult {
  SweepState state = SweepState::kRunning;  // the sweep's last state
  bool no_workers = false;        // slurm: every job gone, and none came in --wait-for-workers
};

// Shows the sweep's progress until it is no longer running, a signal comes, or no worker is left.
WaitResult WaitForSweep(const Flags& f, const std::string& name, const EmbeddedRun& r) {
  const bool slurm = r.slurm;
  Scheduler* sched = r.sched;
  ProgressPrinter progress;
  const auto t0 = std::chrono::steady_clock::now();
  WaitResult result;
  WorkerWatch watch;
  while (!Signalled()) {
    std::vector<SweepCounts> counts = sched->Counts(r.sweep_id);
    if (counts.empty()) break;
    const SweepCounts& c = counts[0];
    result.state = c.sweep.state;
    const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    // Local children are cheap to look at; squeue is asked every few seconds.
    if (result.state == SweepState::kRunning && (!slurm || el - watch.listed_at >= 3)) {
      watch.listed_at = el;
      ListWorkers(r, &watch, &progress);
    }
    const std::string jobs = slurm ? " - " + WorkerSummary(watch.workers) + " (slurm)" : "";
    const int done = c.completed + c.failed + c.stopped + c.pruned;
    progress.Show({ProgressLine(name, done, c.sweep.total, c.running, c.failed, c.stopped, c.pruned,
                                c.sweep.metric, c.best, el) +
                   jobs},
                  el, result.state != SweepState::kRunning, done);
    if (result.state != SweepState::kRunning) break;
    if (!watch.workers.empty() && AllGone(watch.workers)) {
      if (!slurm) {
        std::fprintf(stderr, "\nhpsweep: every worker failed; see %s\n", r.log.c_str());
        break;
      }
      // Trials remain and no job is left: say so, and how to add workers; wait a while for
      // some, judged by the sweep moving (a lease, an epoch, a result).
      if (NoWorkerCame(f, r, c, done, el, &watch, &progress)) {
        result.no_workers = true;
        break;
      }
    }
    sched->WaitForChange(sched->version(), 0.5);
  }
  progress.Break();
  return result;
}

// Stops the workers and the coordinator; prints the leaderboard, or how to resume an interrupted
// sweep. Returns the exit code of `run`.
int FinishRun(const Flags& f, const WaitResult& result, EmbeddedRun* r) {
  const CoordinatorOptions& o = r->options;
  if (r->slurm) {
    std::cerr << "cancelling Slurm job " << static_cast<SlurmLauncher*>(r->launcher.get())->job_id()
              << "\n";
  }
  Status st = r->launcher->Stop();
  if (!st.ok()) std::cerr << "hpsweep: " << st.message() << "\n";
  const bool no_workers = result.no_workers;
  if (Signalled() || no_workers) {
    r->server.Shutdown();
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
  r->server.Shutdown();
  auto lb = LeaderboardFromDb(o.db_path, r->sweep_id, f.top > 0 ? f.top : 10);
  if (!lb.ok()) return Fail(lb.status());
  std::cout << "\n";
  PrintLeaderboard(*lb, "table");
  std::cout << "\nAll results are in " << o.db_path << ": `hpsweep leaderboard --db " << o.db_path
            << "`, `hpsweep export " << r->sweep_id << " --db " << o.db_path << "`\n";
  if (!std::cout.flush()) {  // (SIGPIPE is ignored: a closed pipe shows here instead)
    std::cerr << "hpsweep: cannot write the leaderboard to stdout (closed?); every result is in "
              << o.db_path << "\n";
  }
  return result.state == SweepState::kCompleted ? 0 : 1;
}

}  // namespace

// The folders `run`'s coordinator reads own data from: --data-root, and the folders of this
// sweep's own data (the person running it named them in the file).
std::vector<std::string> RunDataRoots(const Flags& f, const SweepSpec& spec) {
  std::vector<std::string> roots;
  for (const std::string& r : f.data_roots) roots.push_back(Absolute(r));
  if (spec.data.format == DataFormat::kIdx) roots.push_back(Absolute(spec.data.path));
  for (const std::string* file : {&spec.data.train_file, &spec.data.test_file}) {
    if (spec.data.format != DataFormat::kCsv || file->empty()) continue;
    roots.push_back(std::filesystem::path(Absolute(*file)).parent_path().string());
  }
  return roots;
}

int RunEmbedded(const Flags& f) {
  auto file = LoadSweepFile(f.file, Limits(f));
  if (!file.ok()) return Fail(file.status());
  Status st = CheckRunFlags(f, *file);
  if (!st.ok()) return Fail(st);
  EmbeddedRun r;
  r.slurm = f.launcher == "slurm";
  r.options.data_roots = RunDataRoots(f, file->spec);
  st = StartCoordinator(f, &r);
  if (!st.ok()) return Fail(st);
  st = ChooseSweep(f, *file, &r);
  if (!st.ok()) return Fail(st);
  std::cerr << "coordinator events in " << r.event_path << "\n";
  // Where it listens (a free port): another terminal can follow the run while it lasts.
  if (r.slurm) {
    std::cerr << "coordinator at " << r.server.address() << " (TLS; the run's files in "
              << r.slurm_dir << ")\n";
  } else {
    std::cerr << "coordinator at " << r.server.address() << ": `hpsweep status --coordinator "
              << r.server.address() << " --watch` follows it from another terminal\n";
  }
  InstallSignalHandlers();
  st = StartWorkers(f, &r);
  if (!st.ok()) return Fail(st);
  const WaitResult result = WaitForSweep(f, file->spec.name, r);
  return FinishRun(f, result, &r);
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
  for (const std::string& root : f.data_roots) o.data_roots.push_back(Absolute(root));
  o.request_memory_bytes = static_cast<size_t>(f.request_memory_mb) << 20;
  o.scheduler.lease_seconds = f.lease_seconds;
  o.scheduler.quarantine_after = f.quarantine_after;
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
  // Each line in one write: std::cerr is unbuffered, and a reader of the log (a test, a launcher
  // waiting for the address) could see "listening on " without the address after it.
  std::cerr << ("hpsweep coordinator listening on " + server.address() + " (" + mode +
                "), database " + o.db_path + "\n");
  if (!f.http.empty()) std::cerr << ("hpsweep dashboard at " + dashboard.url() + "\n");
  if (sec.tls_cert.empty() && !IsLoopbackAddress(o.listen)) {
    std::cerr << "hpsweep: warning: --insecure: anyone who can reach " << o.listen
              << " may submit, cancel, read models and forge results\n";
  }
  InstallSignalHandlers();
  {
    SignalWatcher stopper([&server] { server.Shutdown(); });
    server.Wait();
  }
  std::cerr << "hpsweep coordinator stopped\n";
  return 0;
}

// What a database file and its write-ahead log look like from outside (size, mtime, inode): a
// commit by another process changes the log, a checkpoint the file.
struct FileMark {
  struct stat db = {}, wal = {};
  bool db_there = false, wal_there = false;

  static FileMark Of(const std::string& path) {
    FileMark m;
    m.db_there = stat(path.c_str(), &m.db) == 0;
    m.wal_there = stat((path + "-wal").c_str(), &m.wal) == 0;
    return m;
  }
  static bool Same(const struct stat& a, const struct stat& b) {
    return a.st_ino == b.st_ino && a.st_size == b.st_size &&
           a.st_mtim.tv_sec == b.st_mtim.tv_sec && a.st_mtim.tv_nsec == b.st_mtim.tv_nsec;
  }
  bool operator==(const FileMark& o) const {
    return db_there == o.db_there && wal_there == o.wal_there &&
           (!db_there || Same(db, o.db)) && (!wal_there || Same(wal, o.wal));
  }
};

// `dashboard --db FILE`: the dashboard over a scheduler of the file, opened read-only (nothing
// written; cancel refused), and reloaded within a second of another process writing it (a
// `run --db FILE` in another terminal), as `status --watch --db` reads it again. Until a signal.
int RunDashboardDb(const Flags& f) {
  if (f.db.empty()) return Fail(InvalidArgument("give --db FILE: the database to show"));
  const std::string listen = f.http.empty() ? "127.0.0.1:0" : f.http;
  // (Refused before the database is opened, as `coordinator --http`; Dashboard::Start checks too.)
  Status h = CheckListenSecurity(listen, f.server);
  if (!h.ok()) return Fail(InvalidArgument("--http: " + h.message()));
  FileMark mark = FileMark::Of(f.db);
  auto reader = OpenDb(f.db, /*read_only=*/true);
  if (!reader.ok()) return Fail(reader.status());
  Scheduler* sched = (*reader)->scheduler.get();
  Dashboard dashboard(sched);  // (declared after the reader: it goes first)
  DashboardOptions d;
  d.listen = listen;
  d.security = f.server;
  d.read_only = true;
  Status s = dashboard.Start(d);
  if (!s.ok()) return Fail(s);
  std::cerr << "hpsweep dashboard at " << dashboard.url() << " (read-only, database " << f.db
            << "; Ctrl-C stops it)\n";
  if (f.server.tls_cert.empty() && !IsLoopbackAddress(listen)) {
    std::cerr << "hpsweep: warning: --insecure: anyone who can reach " << listen
              << " may read every sweep in " << f.db << "\n";
  }
  InstallSignalHandlers();
  bool failing = false;
  int ticks = 0;
  while (!Signalled()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (++ticks % 10 != 0) continue;
    const FileMark now = FileMark::Of(f.db);
    if (now == mark) continue;
    // The mark from before the reload: a write during it is seen at the next look.
    Status loaded = sched->Load();
    if (!loaded.ok()) {
      if (!failing) {
        std::cerr << "hpsweep: warning: reading " << f.db << " again: " << loaded.message()
                  << "; the dashboard shows what was read before\n";
      }
      failing = true;
      continue;  // (mark kept: tried again next second)
    }
    if (failing) std::cerr << "hpsweep: " << f.db << " read again\n";
    failing = false;
    mark = now;
  }
  dashboard.Stop();
  std::cerr << "hpsweep dashboard stopped\n";
  return 0;
}

int RunWorker(const Flags& f) {
  TuneAllocatorForTraining();
  WorkerOptions o;
  o.coordinator = f.coordinator;
  o.security = f.client;
  o.threads = f.threads;
  o.name = f.name;
  o.data_dir = f.data_dir;
  o.exit_when_idle = f.exit_when_idle;
  o.max_trials = f.max_trials;
  o.verbose = !f.quiet;
  auto programs = ParseProgramFlags(f.programs);
  if (!programs.ok()) return Fail(programs.status());
  o.programs = *programs;
  o.program_grace_seconds = f.program_grace;
  o.stop_signal = &g_signal;  // training stops at the next batch, as soon as a signal comes
  Worker worker(o);
  InstallSignalHandlers();
  const Status s = worker.Run();
  if (!s.ok()) return Fail(s);
  return 0;
}

// `hpsweep slurm-script`: the batch script that `run --launcher slurm` submits, for people who
// submit jobs themselves or add workers to a running sweep.
int RunSlurmScript(const Flags& f) {
  LaunchSpec ls;
  // The nodes' binary: a path there (it need not exist here, where the script is written).
  ls.exe = f.worker_binary.empty() ? SelfExe() : Absolute(f.worker_binary);
  ls.coordinator = f.script_coordinator;
  ls.security.tls_ca = Absolute(f.client.tls_ca);
  ls.security.token_file = Absolute(f.client.token_file);
  ls.security.tls_server_name = f.client.tls_server_name;
  ls.data_dir = Absolute(f.data_dir);
  ls.log = Absolute(f.log.empty() ? "." : f.log);
  if (Status s = AddProgramArgs(f, &ls); !s.ok()) return Fail(s);
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

}  // namespace hpsweep
