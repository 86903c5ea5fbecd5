// Lease throughput of the coordinator: completed trials per second when K fake workers each run
// lease -> complete round trips (CompleteTrial with a one-epoch history, no model, which also
// leases the next trial, as real workers do; with --report, a ReportProgress for the epoch in
// between) in a loop until nothing is left, against a real CoordinatorServer on 127.0.0.1 (port 0)
// with a fresh temporary SQLite database per run. Every call returns only after its change is
// committed (synchronous=NORMAL by default: WAL, no fsync per commit; --sync-full for FULL).
//
// Each fake worker has its own gRPC channel (a distinct channel arg, so gRPC does not share one
// subchannel between them), registers before the clock starts, and gives every call a deadline. By
// default the fake workers are driven by gRPC's callback client API (each call made from the last
// one's callback, one in flight per worker), so the load generator takes a small share of the
// cores it shares with the coordinator; --sync-clients gives each worker a thread and blocking
// stubs. After each run, GetStatus must show every trial completed (none queued, running, failed
// or stopped), and the workers' own records must show each trial completed exactly once on its
// first lease; anything else is an error (exit 1).
//
// --direct runs the same loop without gRPC: the threads call CoordinatorServer::scheduler()
// (Lease/Report/Complete) themselves, so the figure is the scheduler + SQLite ceiling.
// --memory-db puts the database in memory (":memory:"), a diagnostic that separates SQLite's file
// I/O from the rest; it is not durable.
//
// --tls turns on what a coordinator on a network runs with: TLS (a CA and server certificate from
// auth/certs.h) and bearer tokens (a worker token for the fake workers, a user token to submit),
// every call checked by the coordinator's token processor.
//
//   hpsweep_lease_bench [--trials N] [--workers-list 1,8] [--runs 3] [--sync-full] [--direct]
//                       [--sync-clients] [--memory-db] [--report] [--tls] [--dir DIR]
//   hpsweep_lease_bench --scale N --hpsweep PATH [--seconds 30] [--interval-ms 1000]
//                       [--lease-seconds 3] [--heartbeats] [--tls] [--commit-counter LIB]
//
// --scale is a different measurement: N workers that each hold a lease and report every
// interval, against a `hpsweep coordinator` process (see "--scale" below); it checks that no
// lease is lost and prints latency, the coordinator's CPU, memory and commits.
//
// Trials come in sweeps of at most kMaxTrialsPerSweep (units x seed grids, built in code).
// Prints one row per worker count: the median run by seconds.
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "base/cpu_info.h"
#include "auth/certs.h"
#include "auth/credentials.h"
#include "coordinator/scheduler.h"
#include "coordinator/service.h"
#include "search/sweep_file.h"
#include "proto/hpsweep.grpc.pb.h"

namespace {

namespace pb = ::hpsweep::v1;

bool g_report = false;  // --report: a ReportProgress between lease and complete
// --tls: the coordinator's TLS and tokens, and the clients' (the fake workers', the control's).
hpsweep::ServerSecurity g_server_security;
hpsweep::ClientSecurity g_worker_security, g_user_security;

// A channel with the given client security; exits on error (a broken bench setup).
std::shared_ptr<grpc::Channel> BenchChannel(const std::string& address,
                                            const hpsweep::ClientSecurity& security,
                                            const grpc::ChannelArguments& args) {
  auto channel = hpsweep::MakeChannel(address, security, args);
  if (!channel.ok()) {
    std::fprintf(stderr, "error: %s\n", channel.status().ToString().c_str());
    std::exit(1);
  }
  return *channel;
}

struct Flags {
  int trials = 12000;
  std::vector<int> workers = {1, 8};
  int runs = 3;
  bool sync_full = false;
  bool direct = false;
  bool sync_clients = false;
  bool memory_db = false;
  bool tls = false;
  std::string dir;
};

struct RunResult {
  bool ok = false;
  int trials = 0;
  double seconds = 0;
  int64_t rpcs = 0;  // calls made by the workers (register, leases incl. the last empty one,
                     // reports, completions)
};

// A grid of `rows` x `cols` trials: units (1..rows) x seed (1..cols).
std::string SweepYaml(const std::string& name, int rows, int cols) {
  std::ostringstream y;
  y << "name: " << name << "\n"
    << "method: grid\n"
    << "max_attempts: 1\n"
    << "fixed: {cell: lstm, epochs: 1}\n"
    << "parameters:\n"
    << "  units: {values: [";
  for (int i = 1; i <= rows; ++i) y << (i > 1 ? ", " : "") << i;
  y << "]}\n";
  if (cols > 0) {
    y << "  seed: {values: [";
    for (int i = 1; i <= cols; ++i) y << (i > 1 ? ", " : "") << i;
    y << "]}\n";
  }
  return y.str();
}

// Sweeps whose trials add up to n: full 100 x 100 grids, then 100 x q, then r x 1.
std::vector<std::string> SweepsFor(int n) {
  std::vector<std::string> out;
  int k = 0;
  while (n >= hpsweep::kMaxTrialsPerSweep) {
    out.push_back(
        SweepYaml("bench-" + std::to_string(++k), 100, hpsweep::kMaxTrialsPerSweep / 100));
    n -= hpsweep::kMaxTrialsPerSweep;
  }
  if (n / 100 > 0) out.push_back(SweepYaml("bench-" + std::to_string(++k), 100, n / 100));
  if (n % 100 > 0) out.push_back(SweepYaml("bench-" + std::to_string(++k), n % 100, 0));
  return out;
}

std::chrono::system_clock::time_point Deadline(int seconds) {
  return std::chrono::system_clock::now() + std::chrono::seconds(seconds);
}

// Lets the workers finish registering before the clock starts.
class Gate {
 public:
  explicit Gate(int n) : waiting_(n) {}
  void Arrive() {
    std::lock_guard<std::mutex> l(mu_);
    --waiting_;
    cv_.notify_all();
  }
  void WaitAllArrived() {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [&] { return waiting_ == 0; });
  }
  void Open() {
    std::lock_guard<std::mutex> l(mu_);
    open_ = true;
    cv_.notify_all();
  }
  void WaitOpen() {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [&] { return open_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int waiting_;
  bool open_ = false;
};

// Counts finished workers down to zero.
class Latch {
 public:
  explicit Latch(int n) : left_(n) {}
  void CountDown() {
    std::lock_guard<std::mutex> l(mu_);
    if (--left_ == 0) cv_.notify_all();
  }
  void Wait() {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [&] { return left_ == 0; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int left_;
};

struct WorkerLog {
  std::vector<int64_t> completed;  // trial ids
  int64_t rpcs = 0;
  std::string error;  // first error, if any
};

void FakeMetrics(int epoch, pb::EpochMetrics* m) {
  m->set_epoch(epoch);
  m->set_train_loss(0.5);
  m->set_train_accuracy(0.85);
  m->set_val_loss(0.45);
  m->set_val_accuracy(0.87);
  m->set_seconds(0.01);
}

// A stub on a channel of its own (a distinct channel arg, so gRPC does not share one subchannel
// between the fake workers).
std::unique_ptr<pb::Coordinator::Stub> WorkerStub(const std::string& address, int k) {
  grpc::ChannelArguments args;
  args.SetInt("hpsweep.bench_channel", k);
  return pb::Coordinator::NewStub(BenchChannel(address, g_worker_security, args));
}

// Registers fake worker k; its id, or 0 with log->error set.
int64_t RegisterFake(pb::Coordinator::Stub* stub, int k, WorkerLog* log) {
  grpc::ClientContext ctx;
  ctx.set_deadline(Deadline(10));
  // A new channel's first connect can fail on a busy machine ("failed to connect to all
  // addresses", seen 1 run in 12 with 8 workers); wait for it as a real worker retries, instead of
  // failing the run. Only registration waits: the timed calls go over connected channels.
  ctx.set_wait_for_ready(true);
  pb::RegisterWorkerRequest req;
  req.set_worker_name("bench-worker-" + std::to_string(k));
  req.set_threads(1);
  pb::RegisterWorkerResponse resp;
  grpc::Status s = stub->RegisterWorker(&ctx, req, &resp);
  ++log->rpcs;
  if (!s.ok()) log->error = "RegisterWorker: " + s.error_message();
  return s.ok() ? resp.worker_id() : 0;
}

// The completion a fake worker sends: one epoch, test metrics, a 10x10 confusion matrix, and a
// request for its next lease.
void FakeCompletion(const std::string& lease_id, bool stop, int64_t worker_id,
                    pb::CompleteTrialRequest* req) {
  req->Clear();
  req->set_lease_id(lease_id);
  FakeMetrics(1, req->add_history());
  req->set_test_loss(0.44);
  for (int i = 0; i < 100; ++i) req->add_confusion_matrix(i % 11 == 0 ? 90 : 1);
  req->set_test_accuracy(900.0 / 990);  // the matrix's trace / total (the coordinator checks)
  req->set_stopped(stop);
  req->set_seconds(0.01);
  req->set_lease_next_for_worker(worker_id);
}

void GrpcWorker(const std::string& address, int k, Gate* gate, WorkerLog* log) {
  auto stub = WorkerStub(address, k);
  const int64_t worker_id = RegisterFake(stub.get(), k, log);
  gate->Arrive();
  gate->WaitOpen();
  if (!log->error.empty()) return;
  pb::LeaseTrialResponse lease;
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(Deadline(10));
    pb::LeaseTrialRequest req;
    req.set_worker_id(worker_id);
    grpc::Status s = stub->LeaseTrial(&ctx, req, &lease);
    ++log->rpcs;
    if (!s.ok()) {
      log->error = "LeaseTrial: " + s.error_message();
      return;
    }
  }
  for (;;) {
    if (!lease.has_trial()) return;  // everything was queued up front: none left means done
    if (lease.trial().attempt() != 1) {
      log->error = "trial " + std::to_string(lease.trial().trial_id()) + " leased with attempt " +
                   std::to_string(lease.trial().attempt());
      return;
    }
    bool stop = false;
    if (g_report) {
      grpc::ClientContext ctx;
      ctx.set_deadline(Deadline(10));
      pb::ReportProgressRequest req;
      req.set_lease_id(lease.lease_id());
      FakeMetrics(1, req.mutable_metrics());
      pb::ReportProgressResponse resp;
      grpc::Status s = stub->ReportProgress(&ctx, req, &resp);
      ++log->rpcs;
      if (!s.ok()) {
        log->error = "ReportProgress: " + s.error_message();
        return;
      }
      stop = resp.action() == pb::ReportProgressResponse::STOP;
    }
    pb::CompleteTrialResponse resp;
    {
      grpc::ClientContext ctx;
      ctx.set_deadline(Deadline(10));
      pb::CompleteTrialRequest req;
      FakeCompletion(lease.lease_id(), stop, worker_id, &req);
      grpc::Status s = stub->CompleteTrial(&ctx, req, &resp);
      ++log->rpcs;
      if (!s.ok()) {
        log->error = "CompleteTrial: " + s.error_message();
        return;
      }
    }
    log->completed.push_back(lease.trial().trial_id());
    lease = resp.next();
  }
}

// The same calls as GrpcWorker on gRPC's callback API: each call is made from the previous one's
// callback, one in flight per worker, so the fake workers share gRPC's few threads instead of
// taking one each. On one small machine the load generator competes with the coordinator for the
// same cores; this keeps its share small, as it would be with workers on other machines.
class CallbackWorker {
 public:
  CallbackWorker(const std::string& address, int k, WorkerLog* log, Latch* done)
      : k_(k), log_(log), done_(done), stub_(WorkerStub(address, k)) {}

  // Synchronous, before the clock starts.
  bool Register() {
    worker_id_ = RegisterFake(stub_.get(), k_, log_);
    return worker_id_ != 0;
  }

  void Start() {
    pb::LeaseTrialRequest req;
    req.set_worker_id(worker_id_);
    stub_->async()->LeaseTrial(NewContext(), &req, &lease_, [this](grpc::Status s) {
      ++log_->rpcs;
      if (!s.ok()) return Finish("LeaseTrial: " + s.error_message());
      Next();
    });
  }

 private:
  grpc::ClientContext* NewContext() {
    previous_ = std::move(context_);  // the call whose callback is running; freed next time
    context_ = std::make_unique<grpc::ClientContext>();
    context_->set_deadline(Deadline(10));
    return context_.get();
  }

  void Next() {
    if (!lease_.has_trial()) return Finish("");
    if (lease_.trial().attempt() != 1) {
      return Finish("trial " + std::to_string(lease_.trial().trial_id()) + " leased with attempt " +
                    std::to_string(lease_.trial().attempt()));
    }
    if (!g_report) return Complete(false);
    report_.Clear();
    report_.set_lease_id(lease_.lease_id());
    FakeMetrics(1, report_.mutable_metrics());
    stub_->async()->ReportProgress(NewContext(), &report_, &report_resp_, [this](grpc::Status s) {
      ++log_->rpcs;
      if (!s.ok()) return Finish("ReportProgress: " + s.error_message());
      Complete(report_resp_.action() == pb::ReportProgressResponse::STOP);
    });
  }

  void Complete(bool stop) {
    FakeCompletion(lease_.lease_id(), stop, worker_id_, &complete_);
    complete_resp_.Clear();
    stub_->async()->CompleteTrial(NewContext(), &complete_, &complete_resp_,
                                  [this](grpc::Status s) {
                                    ++log_->rpcs;
                                    if (!s.ok())
                                      return Finish("CompleteTrial: " + s.error_message());
                                    log_->completed.push_back(lease_.trial().trial_id());
                                    lease_ = complete_resp_.next();
                                    Next();
                                  });
  }

  void Finish(const std::string& error) {
    log_->error = error;
    done_->CountDown();
  }

  const int k_;
  WorkerLog* const log_;
  Latch* const done_;
  std::unique_ptr<pb::Coordinator::Stub> stub_;
  int64_t worker_id_ = 0;
  std::unique_ptr<grpc::ClientContext> context_, previous_;
  pb::LeaseTrialResponse lease_;
  pb::ReportProgressRequest report_;
  pb::ReportProgressResponse report_resp_;
  pb::CompleteTrialRequest complete_;
  pb::CompleteTrialResponse complete_resp_;
};

// The same loop straight into the scheduler: no gRPC, no protobuf.
void DirectWorker(hpsweep::Scheduler* sched, int k, Gate* gate, WorkerLog* log) {
  auto id = sched->RegisterWorker("bench-worker-" + std::to_string(k), 1);
  ++log->rpcs;
  if (!id.ok()) log->error = "RegisterWorker: " + id.status().ToString();
  gate->Arrive();
  gate->WaitOpen();
  if (!log->error.empty()) return;
  const int64_t worker_id = *id;
  hpsweep::EpochReport epoch{1, 0.5, 0.85, 0.45, 0.87, 0.01, {}};
  auto grant = sched->Lease(worker_id);
  ++log->rpcs;
  for (;;) {
    if (!grant.ok()) {
      log->error = "Lease: " + grant.status().ToString();
      return;
    }
    if (!grant->has_value()) return;
    const hpsweep::LeaseGrant g = **grant;
    if (g.trial.attempts != 1) {
      log->error = "trial " + std::to_string(g.trial.id) + " leased with attempt " +
                   std::to_string(g.trial.attempts);
      return;
    }
    hpsweep::StatusOr<hpsweep::ReportAction> action = hpsweep::ReportAction::kContinue;
    if (g_report) {
      double deadline = 0;
      action = sched->Report(g.lease_id, epoch, &deadline);
      ++log->rpcs;
      if (!action.ok()) {
        log->error = "Report: " + action.status().ToString();
        return;
      }
    }
    hpsweep::Completion c;
    c.history.push_back(epoch);
    c.test_loss = 0.44;
    c.seconds = 0.01;
    for (int i = 0; i < 100; ++i) c.confusion.push_back(i % 11 == 0 ? 90 : 1);
    c.test_accuracy = 900.0 / 990;  // the matrix's trace / total (the scheduler checks)
    c.stopped = *action == hpsweep::ReportAction::kStop;
    grant = sched->CompleteAndLease(g.lease_id, c, worker_id);  // as the RPC does
    ++log->rpcs;
    if (!grant.ok()) {
      log->error = "Complete: " + grant.status().ToString();
      return;
    }
    log->completed.push_back(g.trial.id);
  }
}

RunResult Run(const Flags& f, int workers, int run_index) {
  RunResult r;
  const std::string db =
      f.dir + "/lease_bench_" + std::to_string(workers) + "_" + std::to_string(run_index) + ".db";
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(db + suffix);

  hpsweep::CoordinatorOptions opt;
  opt.listen = "127.0.0.1:0";
  opt.db_path = f.memory_db ? ":memory:" : db;
  opt.storage.sync_full = f.sync_full;
  opt.security = g_server_security;
  hpsweep::CoordinatorServer server;
  hpsweep::Status st = server.Start(opt);
  if (!st.ok()) {
    std::fprintf(stderr, "error: starting the coordinator: %s\n", st.ToString().c_str());
    return r;
  }
  const std::string address = server.address();

  // A control channel for submitting and checking (not timed).
  auto control = pb::Coordinator::NewStub(BenchChannel(address, g_user_security, {}));
  int submitted = 0;
  for (const std::string& yaml : SweepsFor(f.trials)) {
    grpc::ClientContext ctx;
    ctx.set_deadline(Deadline(60));
    pb::SubmitSweepRequest req;
    req.set_file_name("lease_bench.yaml");
    req.set_yaml(yaml);
    pb::SubmitSweepResponse resp;
    grpc::Status s = control->SubmitSweep(&ctx, req, &resp);
    if (!s.ok()) {
      std::fprintf(stderr, "error: SubmitSweep: %s\n", s.error_message().c_str());
      return r;
    }
    submitted += resp.trials();
  }
  if (submitted != f.trials) {
    std::fprintf(stderr, "error: submitted %d trials, wanted %d\n", submitted, f.trials);
    return r;
  }

  std::vector<WorkerLog> logs(workers);
  if (f.direct || f.sync_clients) {
    Gate gate(workers);
    std::vector<std::thread> threads;
    for (int k = 0; k < workers; ++k) {
      if (f.direct) {
        threads.emplace_back(DirectWorker, server.scheduler(), k, &gate, &logs[k]);
      } else {
        threads.emplace_back(GrpcWorker, address, k, &gate, &logs[k]);
      }
    }
    gate.WaitAllArrived();
    const auto t0 = std::chrono::steady_clock::now();
    gate.Open();
    for (std::thread& t : threads) t.join();
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  } else {
    Latch done(workers);
    std::vector<std::unique_ptr<CallbackWorker>> fakes;
    bool registered = true;
    for (int k = 0; k < workers; ++k) {
      fakes.push_back(std::make_unique<CallbackWorker>(address, k, &logs[k], &done));
      registered = fakes.back()->Register() && registered;
    }
    if (!registered) {
      for (int k = 0; k < workers; ++k) {
        if (!logs[k].error.empty())
          std::fprintf(stderr, "error: worker %d: %s\n", k, logs[k].error.c_str());
      }
      return r;
    }
    const auto t0 = std::chrono::steady_clock::now();
    for (auto& w : fakes) w->Start();
    done.Wait();
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }

  bool ok = true;
  std::vector<int64_t> ids;
  for (int k = 0; k < workers; ++k) {
    if (!logs[k].error.empty()) {
      std::fprintf(stderr, "error: worker %d: %s\n", k, logs[k].error.c_str());
      ok = false;
    }
    r.rpcs += logs[k].rpcs;
    ids.insert(ids.end(), logs[k].completed.begin(), logs[k].completed.end());
  }
  std::sort(ids.begin(), ids.end());
  if (std::adjacent_find(ids.begin(), ids.end()) != ids.end()) {
    std::fprintf(stderr, "error: a trial was completed more than once\n");
    ok = false;
  }
  if (static_cast<int>(ids.size()) != f.trials) {
    std::fprintf(stderr, "error: workers completed %zu trials, wanted %d\n", ids.size(), f.trials);
    ok = false;
  }

  // The coordinator's own view.
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(Deadline(30));
    pb::GetStatusRequest req;
    pb::GetStatusResponse resp;
    grpc::Status s = control->GetStatus(&ctx, req, &resp);
    if (!s.ok()) {
      std::fprintf(stderr, "error: GetStatus: %s\n", s.error_message().c_str());
      ok = false;
    } else {
      int completed = 0, total = 0;
      for (const pb::SweepStatus& sw : resp.sweeps()) {
        completed += sw.completed();
        total += sw.total();
        if (sw.queued() || sw.running() || sw.failed() || sw.stopped() ||
            sw.completed() != sw.total() || sw.state() != "completed") {
          std::fprintf(stderr,
                       "error: sweep %lld (%s) is %s: queued %d running %d completed %d failed %d "
                       "stopped %d of %d\n",
                       static_cast<long long>(sw.sweep_id()), sw.name().c_str(), sw.state().c_str(),
                       sw.queued(), sw.running(), sw.completed(), sw.failed(), sw.stopped(),
                       sw.total());
          ok = false;
        }
      }
      if (completed != f.trials || total != f.trials) {
        std::fprintf(stderr, "error: GetStatus shows %d of %d trials completed, wanted %d\n",
                     completed, total, f.trials);
        ok = false;
      }
    }
  }
  server.Shutdown();
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(db + suffix);
  r.trials = static_cast<int>(ids.size());
  r.ok = ok;
  return r;
}

bool ParseInt(const char* s, int* out) {
  char* end = nullptr;
  long v = std::strtol(s, &end, 10);
  if (end == s || *end != '\0' || v < 1 || v > 1000000) return false;
  *out = static_cast<int>(v);
  return true;
}

// Certificates and tokens in dir for --tls; the clients read their tokens from 0600 files.
hpsweep::Status SetUpTls(const std::string& dir) {
  HPSWEEP_RETURN_IF_ERROR(hpsweep::MakeCertificates(dir + "/certs", {"localhost"}));
  g_server_security.tls_cert = dir + "/certs/server.crt";
  g_server_security.tls_key = dir + "/certs/server.key";
  g_server_security.auth_tokens = dir + "/tokens.txt";
  struct {
    hpsweep::Role role;
    hpsweep::ClientSecurity* client;
    const char* name;
  } clients[] = {{hpsweep::Role::kWorker, &g_worker_security, "worker"},
                 {hpsweep::Role::kUser, &g_user_security, "user"}};
  for (const auto& c : clients) {
    auto token = hpsweep::CreateToken(g_server_security.auth_tokens, c.role, c.name);
    if (!token.ok()) return token.status();
    const std::string path = dir + "/" + c.name + ".token";
    FILE* out = std::fopen(path.c_str(), "w");
    if (out == nullptr) return hpsweep::IoError(path + ": cannot write");
    std::fprintf(out, "%s\n", token->c_str());
    std::fclose(out);
    chmod(path.c_str(), 0600);
    c.client->tls_ca = dir + "/certs/ca.crt";
    c.client->tls_server_name = "localhost";
    c.client->token_file = path;
  }
  return hpsweep::Status::Ok();
}

// ---- --scale: many workers reporting every interval against a coordinator process ----
//
// N simulated workers, each a registered worker with its own channel (so N connections) and one
// leased trial, send a ReportProgress every --interval-ms (an epoch each time, or with
// --heartbeats a bare heartbeat) for --seconds, staggered evenly over the interval. The
// coordinator is the real `hpsweep coordinator` (--hpsweep PATH) in its own process, so its CPU
// time and memory are read from /proc/PID apart from the load generator's. Calls go through
// gRPC's callback API; a worker whose previous report has not been answered when its next tick
// comes skips that tick (counted), as a real worker's heartbeat thread would be late.

struct ScaleFlags {
  int workers = 1000;
  int seconds = 30;
  int interval_ms = 1000;
  int lease_seconds = 3;  // a real worker heartbeats every third of this: once a second
  bool heartbeats = false;
  std::string hpsweep;  // the coordinator binary
  // bench/commit_counter.cc built as a shared library: preloaded into the coordinator, it counts
  // SQLite commits into dir/commits. Empty: commits are not counted.
  std::string commit_counter;
};

// The coordinator's SQLite commits so far (the preloaded counter's file), or -1 without one.
int64_t ReadCommits(const std::string& dir) {
  std::ifstream in(dir + "/commits", std::ios::binary);
  uint64_t n = 0;
  if (!in.read(reinterpret_cast<char*>(&n), sizeof n)) return -1;
  return static_cast<int64_t>(n);
}

// user+system CPU seconds of a process, and its resident memory now and at peak (KiB).
struct ProcSample {
  double cpu_seconds = 0;
  long rss_kib = 0, hwm_kib = 0;
};

ProcSample SampleProcess(pid_t pid) {
  ProcSample s;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(stat, line);
  const size_t close = line.rfind(')');  // the command name may hold spaces
  if (close != std::string::npos) {
    std::istringstream rest(line.substr(close + 2));
    std::string field;
    unsigned long long utime = 0, stime = 0;
    for (int i = 3; i <= 15 && rest >> field; ++i) {  // fields 14, 15: utime, stime (ticks)
      if (i == 14) utime = std::stoull(field);
      if (i == 15) stime = std::stoull(field);
    }
    s.cpu_seconds = static_cast<double>(utime + stime) / sysconf(_SC_CLK_TCK);
  }
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) s.rss_kib = std::atol(line.c_str() + 6);
    if (line.rfind("VmHWM:", 0) == 0) s.hwm_kib = std::atol(line.c_str() + 6);
  }
  return s;
}

double SelfCpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_stime.tv_sec + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

long FileKib(const std::string& path) {
  std::error_code ec;
  const auto n = std::filesystem::file_size(path, ec);
  return ec ? 0 : static_cast<long>(n / 1024);
}

class ScaleWorker {
 public:
  ScaleWorker(const std::string& address, int k, bool heartbeats) : k_(k), heartbeats_(heartbeats) {
    grpc::ChannelArguments args;
    args.SetInt("hpsweep.bench_channel", k);
    channel_ = BenchChannel(address, g_worker_security, args);
    stub_ = pb::Coordinator::NewStub(channel_);
  }

  // Before the clock: the TCP connection and TLS handshake, so that tick 0 measures the calls.
  bool Connect() { return channel_->WaitForConnected(Deadline(30)); }

  // Tick 0: register, then lease (one call after the other, on the callback API).
  void Start() {
    in_flight_ = true;
    register_req_.set_worker_name("scale-worker-" + std::to_string(k_));
    register_req_.set_threads(1);
    started_ = std::chrono::steady_clock::now();
    stub_->async()->RegisterWorker(
        NewContext(), &register_req_, &register_resp_, [this](grpc::Status s) {
          if (!s.ok()) return Done("RegisterWorker: " + s.error_message());
          lease_req_.set_worker_id(register_resp_.worker_id());
          stub_->async()->LeaseTrial(NewContext(), &lease_req_, &lease_, [this](grpc::Status s) {
            start_ms_ = MsSince(started_);
            if (!s.ok()) return Done("LeaseTrial: " + s.error_message());
            if (!lease_.has_trial()) return Done("LeaseTrial: no trial left");
            if (lease_.trial().attempt() != 1) return Done("LeaseTrial: attempt is not 1");
            leased_ = true;
            Done("");
          });
        });
  }

  // One tick: a report if the last call is answered, else a skipped tick.
  void Tick() {
    if (in_flight_.load()) {
      ++skipped_;
      return;
    }
    if (!leased_) return;  // lost (counted when it was)
    in_flight_ = true;
    const auto now = std::chrono::steady_clock::now();
    if (sent_any_) max_gap_ms_ = std::max(max_gap_ms_, MsSince(last_sent_));
    sent_any_ = true;
    last_sent_ = now;
    report_.Clear();
    report_.set_lease_id(lease_.lease_id());
    if (!heartbeats_) FakeMetrics(++epoch_, report_.mutable_metrics());
    started_ = now;
    stub_->async()->ReportProgress(NewContext(), &report_, &report_resp_, [this](grpc::Status s) {
      latencies_ms_.push_back(static_cast<float>(MsSince(started_)));
      if (s.ok()) {
        ++ok_;
      } else if (s.error_code() == grpc::StatusCode::FAILED_PRECONDITION ||
                 s.error_code() == grpc::StatusCode::NOT_FOUND) {
        ++lost_;  // the coordinator says this lease is no longer the trial's
        leased_ = false;
        if (error_.empty()) error_ = "ReportProgress: lease lost: " + s.error_message();
      } else {
        ++failed_;
        if (error_.empty()) error_ = "ReportProgress: " + s.error_message();
      }
      Done(error_.empty() ? "" : error_);
    });
  }

  bool in_flight() const { return in_flight_.load(); }
  bool leased() const { return leased_; }
  const std::vector<float>& latencies_ms() const { return latencies_ms_; }
  double start_ms() const { return start_ms_; }
  int64_t ok() const { return ok_; }
  int64_t lost() const { return lost_; }
  int64_t failed() const { return failed_; }
  int64_t skipped() const { return skipped_; }
  double max_gap_ms() const { return max_gap_ms_; }
  const std::string& error() const { return error_; }

 private:
  static double MsSince(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
  }
  grpc::ClientContext* NewContext() {
    previous_ = std::move(context_);
    context_ = std::make_unique<grpc::ClientContext>();
    context_->set_deadline(Deadline(30));
    return context_.get();
  }
  void Done(const std::string& error) {
    if (!error.empty() && error_.empty()) error_ = error;
    in_flight_ = false;  // last: the pacer may start the next call from here on
  }

  const int k_;
  const bool heartbeats_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<pb::Coordinator::Stub> stub_;
  std::unique_ptr<grpc::ClientContext> context_, previous_;
  std::atomic<bool> in_flight_{false};
  // Written by the call's callback or the pacer, never both at once (in_flight_ orders them).
  bool leased_ = false;
  int epoch_ = 0;
  std::chrono::steady_clock::time_point started_;
  double start_ms_ = 0;
  int64_t ok_ = 0, lost_ = 0, failed_ = 0, skipped_ = 0;
  bool sent_any_ = false;
  std::chrono::steady_clock::time_point last_sent_;
  double max_gap_ms_ = 0;  // the longest time between two reports sent
  std::string error_;
  std::vector<float> latencies_ms_;
  pb::RegisterWorkerRequest register_req_;
  pb::RegisterWorkerResponse register_resp_;
  pb::LeaseTrialRequest lease_req_;
  pb::LeaseTrialResponse lease_;
  pb::ReportProgressRequest report_;
  pb::ReportProgressResponse report_resp_;
};

// Starts `hpsweep coordinator` on 127.0.0.1:0; its pid, and its address from the line it prints.
pid_t StartCoordinatorProcess(const ScaleFlags& f, const std::string& dir, bool tls,
                              std::string* address) {
  const std::string log = dir + "/coordinator.log";
  std::vector<std::string> args = {f.hpsweep,
                                   "coordinator",
                                   "--listen",
                                   "127.0.0.1:0",
                                   "--db",
                                   dir + "/scale.db",
                                   "--data-dir",
                                   dir,
                                   "--lease-seconds",
                                   std::to_string(f.lease_seconds)};
  if (tls) {
    for (const std::string& a :
         {std::string("--tls-cert"), g_server_security.tls_cert, std::string("--tls-key"),
          g_server_security.tls_key, std::string("--auth-tokens"), g_server_security.auth_tokens})
      args.push_back(a);
  }
  const pid_t pid = fork();
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGTERM);  // a bench that dies takes its coordinator with it
    if (!f.commit_counter.empty()) {
      setenv("LD_PRELOAD", f.commit_counter.c_str(), 1);
      setenv("HPSWEEP_COMMIT_COUNTER", (dir + "/commits").c_str(), 1);
    }
    FILE* out = std::freopen(log.c_str(), "w", stderr);
    if (out == nullptr) _exit(127);
    dup2(fileno(stderr), 1);
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    std::perror(argv[0]);
    _exit(127);
  }
  if (pid < 0) return -1;
  const std::string marker = "listening on ";
  for (int i = 0; i < 300; ++i) {  // up to 30 s
    std::ifstream in(log);
    std::string line;
    while (std::getline(in, line)) {
      const size_t at = line.find(marker);
      if (at != std::string::npos) {
        const size_t end = line.find(' ', at + marker.size());
        *address = line.substr(at + marker.size(), end - at - marker.size());
        return pid;
      }
    }
    int wstatus = 0;
    if (waitpid(pid, &wstatus, WNOHANG) == pid) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::fprintf(stderr, "error: the coordinator did not start; its log (%s):\n", log.c_str());
  std::ifstream in(log);
  std::fprintf(stderr, "%s\n", std::string(std::istreambuf_iterator<char>(in), {}).c_str());
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  return -1;
}

double Percentile(std::vector<float>& v, double q) {
  if (v.empty()) return 0;
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(q * (v.size() - 1) + 0.5));
  std::nth_element(v.begin(), v.begin() + i, v.end());
  return v[i];
}

int RunScale(const ScaleFlags& f, const std::string& dir, bool tls) {
  const std::string load_before = LoadAverage();
  std::string address;
  const pid_t pid = StartCoordinatorProcess(f, dir, tls, &address);
  if (pid < 0) return 1;
  int rc = 0;
  auto fail = [&](const std::string& why) {
    std::fprintf(stderr, "error: %s\n", why.c_str());
    rc = 1;
  };

  // The trials: one per worker, with epochs enough for a report every tick.
  const int ticks = f.seconds * 1000 / f.interval_ms;
  const ProcSample empty = SampleProcess(pid);
  auto control = pb::Coordinator::NewStub(BenchChannel(address, g_user_security, {}));
  {
    std::string yaml = SweepYaml("scale", std::min(f.workers, 100), (f.workers + 99) / 100);
    const std::string epochs = "epochs: " + std::to_string(ticks + 1);
    yaml.replace(yaml.find("epochs: 1"), 9, epochs);
    grpc::ClientContext ctx;
    ctx.set_deadline(Deadline(120));
    pb::SubmitSweepRequest req;
    req.set_file_name("scale.yaml");
    req.set_yaml(yaml);
    pb::SubmitSweepResponse resp;
    grpc::Status s = control->SubmitSweep(&ctx, req, &resp);
    if (!s.ok()) fail("SubmitSweep: " + s.error_message());
  }
  const ProcSample idle = SampleProcess(pid);

  std::vector<std::unique_ptr<ScaleWorker>> fakes;
  for (int k = 0; k < f.workers && rc == 0; ++k) {
    fakes.push_back(std::make_unique<ScaleWorker>(address, k, f.heartbeats));
    if (!fakes.back()->Connect()) fail("worker " + std::to_string(k) + " could not connect");
  }
  const auto interval = std::chrono::microseconds(f.interval_ms * 1000);
  auto wait_idle = [&](int seconds) {
    for (int i = 0; i < seconds * 100; ++i) {
      if (std::none_of(fakes.begin(), fakes.end(), [](auto& w) { return w->in_flight(); }))
        return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  };
  // Tick 0: register and lease, staggered over the interval; ticks 1..ticks: a report each. A
  // worker starts reporting at the first tick after its lease came back (a slow registration
  // skips ticks, counted), as a real worker's heartbeat starts after its lease. CPU and memory
  // are measured from tick `warm` on, once every worker is connected and leased.
  const int warm = std::min(3, ticks / 2);
  std::vector<float> lateness_ms;
  lateness_ms.reserve(static_cast<size_t>(ticks + 1) * f.workers);
  ProcSample registered;
  int64_t commits0 = -1;
  double self_cpu0 = 0;
  std::chrono::steady_clock::time_point warm_at;
  const auto t0 = std::chrono::steady_clock::now();
  for (int t = 0; t <= ticks && rc == 0; ++t) {
    if (t == warm) {
      std::this_thread::sleep_until(t0 + interval * t);
      registered = SampleProcess(pid);
      commits0 = ReadCommits(dir);
      self_cpu0 = SelfCpuSeconds();
      warm_at = std::chrono::steady_clock::now();
    }
    for (int k = 0; k < f.workers; ++k) {
      const auto due = t0 + interval * t + interval * k / f.workers;
      std::this_thread::sleep_until(due);
      // How late the load generator itself is (a busy machine delays its wake-ups).
      lateness_ms.push_back(static_cast<float>(
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - due)
              .count()));
      if (t == 0) {
        fakes[k]->Start();
      } else {
        fakes[k]->Tick();
      }
    }
  }
  std::this_thread::sleep_until(t0 + interval * (ticks + 1));
  if (!wait_idle(60)) fail("reports still unanswered 60 s after the last tick");
  const auto t_end = std::chrono::steady_clock::now();
  const double wall = std::chrono::duration<double>(t_end - warm_at).count();
  const double wall_reports = std::chrono::duration<double>(t_end - t0 - interval).count();
  const ProcSample end = SampleProcess(pid);
  const int64_t commits = ReadCommits(dir) - commits0;
  const double self_cpu = SelfCpuSeconds() - self_cpu0;
  int leased = 0;
  std::vector<float> start_ms;
  for (auto& w : fakes) {
    leased += w->leased();
    start_ms.push_back(static_cast<float>(w->start_ms()));
  }

  std::vector<float> lat;
  int64_t ok = 0, lost = 0, failed = 0, skipped = 0;
  std::string first_error;
  std::vector<float> gaps;
  for (auto& w : fakes) {
    gaps.push_back(static_cast<float>(w->max_gap_ms()));
    lat.insert(lat.end(), w->latencies_ms().begin(), w->latencies_ms().end());
    ok += w->ok();
    lost += w->lost();
    failed += w->failed();
    skipped += w->skipped();
    if (first_error.empty()) first_error = w->error();
  }

  // The coordinator's view: every trial still running under its first lease, every worker alive.
  pb::GetStatusResponse status;
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(Deadline(30));
    grpc::Status s = control->GetStatus(&ctx, pb::GetStatusRequest(), &status);
    if (!s.ok()) fail("GetStatus: " + s.error_message());
  }
  int running = 0, queued = 0, failed_trials = 0, total = 0;
  for (const auto& sw : status.sweeps()) {
    running += sw.running();
    queued += sw.queued();
    total += sw.total();
    failed_trials += sw.failed();
  }

  const double mib = 1024.0;
  std::printf(
      "scale: %d simulated workers (a channel and a lease each), a %s every %d ms each, "
      "%d ticks over %.1f s, lease %d s, %s; coordinator: %s (pid %d); %u hardware "
      "threads\n",
      f.workers, f.heartbeats ? "heartbeat" : "report with an epoch", f.interval_ms, ticks,
      wall_reports, f.lease_seconds, tls ? "TLS and tokens" : "plaintext", f.hpsweep.c_str(),
      static_cast<int>(pid), std::thread::hardware_concurrency());
  std::printf(
      "register+lease at tick 0 (connected before): median %.1f ms, p99 %.1f "
      "ms, max %.1f ms; %d of %d hold their lease at the end\n",
      Percentile(start_ms, 0.5), Percentile(start_ms, 0.99), Percentile(start_ms, 1.0), leased,
      f.workers);
  std::printf(
      "reports: %lld answered ok, %lld lost leases, %lld other errors, %lld ticks "
      "skipped (the previous report unanswered)\n",
      static_cast<long long>(ok), static_cast<long long>(lost), static_cast<long long>(failed),
      static_cast<long long>(skipped));
  std::printf("report latency ms: median %.2f  p90 %.2f  p99 %.2f  p99.9 %.2f  max %.2f\n",
              Percentile(lat, 0.5), Percentile(lat, 0.9), Percentile(lat, 0.99),
              Percentile(lat, 0.999), Percentile(lat, 1.0));
  std::printf(
      "load generator: sends late by median %.2f ms, p99 %.1f ms, max %.1f ms; the "
      "longest gap between one worker's reports: median %.0f ms, max %.0f ms\n",
      Percentile(lateness_ms, 0.5), Percentile(lateness_ms, 0.99), Percentile(lateness_ms, 1.0),
      Percentile(gaps, 0.5), Percentile(gaps, 1.0));
  std::printf("committed reports/s: %.0f (each answered only after its commit)\n",
              ok / wall_reports);
  if (commits0 >= 0) {
    std::printf("SQLite commits from tick %d on: %.0f/s\n", warm,
                static_cast<double>(commits) / wall);
  }
  std::printf(
      "coordinator CPU from tick %d on: %.2f cores (%.1f s user+system in %.1f s); load "
      "generator %.2f cores\n",
      warm, (end.cpu_seconds - registered.cpu_seconds) / wall,
      end.cpu_seconds - registered.cpu_seconds, wall, self_cpu / wall);
  std::printf(
      "coordinator RSS MiB: %.1f empty, %.1f with the sweep, %.1f at tick %d with the workers "
      "registered "
      "and leased (%.1f KiB per worker), %.1f at the end, peak %.1f\n",
      empty.rss_kib / mib, idle.rss_kib / mib, registered.rss_kib / mib, warm,
      static_cast<double>(registered.rss_kib - idle.rss_kib) / f.workers, end.rss_kib / mib,
      end.hwm_kib / mib);
  std::printf("database: %.1f MiB + WAL %.1f MiB after %lld reports\n",
              FileKib(dir + "/scale.db") / mib, FileKib(dir + "/scale.db-wal") / mib,
              static_cast<long long>(ok));
  std::printf("GetStatus: %d running, %d queued, %d failed, %d workers alive\n", running, queued,
              failed_trials, status.workers_alive());
  std::printf("load average before: %s, after: %s\n", load_before.c_str(), LoadAverage().c_str());
  if (lost > 0 || failed > 0) fail("reports failed: " + first_error);
  // (The grid may hold a few more trials than workers: those stay queued.)
  if (running != f.workers || queued != total - f.workers || failed_trials != 0) {
    fail("a lease expired or a trial moved: " + std::to_string(running) + " running, " +
         std::to_string(queued) + " queued, " + std::to_string(failed_trials) + " failed");
  }
  if (status.workers_alive() != f.workers) fail("not every worker counts as alive");

  fakes.clear();
  kill(pid, SIGTERM);
  int wstatus = 0;
  waitpid(pid, &wstatus, 0);
  return rc;
}

int Usage() {
  std::fprintf(
      stderr,
      "usage: hpsweep_lease_bench [--trials N] [--workers-list 1,8] [--runs 3] "
      "[--sync-full] [--direct] [--sync-clients] [--memory-db] [--report] [--tls] "
      "[--dir DIR]\n"
      "       hpsweep_lease_bench --scale N --hpsweep PATH [--seconds 30] "
      "[--interval-ms 1000] [--lease-seconds 3] [--heartbeats] [--tls] [--commit-counter LIB] "
      "[--dir DIR]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  Flags f;
  ScaleFlags scale;
  bool scale_mode = false;
  f.dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool has_value = i + 1 < argc;
    if (a == "--sync-full") {
      f.sync_full = true;
    } else if (a == "--direct") {
      f.direct = true;
    } else if (a == "--sync-clients") {
      f.sync_clients = true;
    } else if (a == "--report") {
      g_report = true;
    } else if (a == "--tls") {
      f.tls = true;
    } else if (a == "--memory-db") {
      f.memory_db = true;
    } else if (a == "--scale" && has_value) {
      if (!ParseInt(argv[++i], &scale.workers) || scale.workers > 10000) return Usage();
      scale_mode = true;
    } else if (a == "--seconds" && has_value) {
      if (!ParseInt(argv[++i], &scale.seconds) || scale.seconds > 600) return Usage();
    } else if (a == "--interval-ms" && has_value) {
      if (!ParseInt(argv[++i], &scale.interval_ms) || scale.interval_ms < 10) return Usage();
    } else if (a == "--lease-seconds" && has_value) {
      if (!ParseInt(argv[++i], &scale.lease_seconds) || scale.lease_seconds > 3600) return Usage();
    } else if (a == "--heartbeats") {
      scale.heartbeats = true;
    } else if (a == "--commit-counter" && has_value) {
      scale.commit_counter = argv[++i];
    } else if (a == "--hpsweep" && has_value) {
      scale.hpsweep = argv[++i];
    } else if (a == "--trials" && has_value) {
      if (!ParseInt(argv[++i], &f.trials)) return Usage();
    } else if (a == "--runs" && has_value) {
      if (!ParseInt(argv[++i], &f.runs)) return Usage();
    } else if (a == "--dir" && has_value) {
      f.dir = argv[++i];
    } else if (a == "--workers-list" && has_value) {
      f.workers.clear();
      std::stringstream ss(argv[++i]);
      std::string item;
      while (std::getline(ss, item, ',')) {
        int w = 0;
        if (!ParseInt(item.c_str(), &w)) return Usage();
        f.workers.push_back(w);
      }
      if (f.workers.empty()) return Usage();
    } else {
      return Usage();
    }
  }
  std::printf("cpu: %s\n", hpsweep::CpuSummary().c_str());
  std::string tmpl = f.dir + "/hpsweep_lease_bench.XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) {
    std::perror(tmpl.c_str());
    return 1;
  }
  f.dir = tmpl;
  if (f.tls) {
    hpsweep::Status st = SetUpTls(f.dir);
    if (!st.ok()) {
      std::fprintf(stderr, "error: --tls: %s\n", st.ToString().c_str());
      return 1;
    }
  }

  if (scale_mode) {
    if (scale.hpsweep.empty()) return Usage();
    const int rc = RunScale(scale, f.dir, f.tls);
    std::filesystem::remove_all(f.dir);
    return rc;
  }
  std::printf("%s%s, %s, database %s, %d trials, median of %d runs (%u hardware threads)\n",
              f.direct         ? "direct scheduler calls (no gRPC)"
              : f.sync_clients ? "gRPC on 127.0.0.1, a thread per fake worker (synchronous stubs)"
                               : "gRPC on 127.0.0.1, fake workers on the callback API",
              f.tls ? ", TLS and tokens" : "",
              f.memory_db
                  ? "SQLite :memory: (not durable)"
                  : (f.sync_full ? "SQLite WAL synchronous=FULL" : "SQLite WAL synchronous=NORMAL"),
              f.memory_db ? ":memory:" : f.dir.c_str(), f.trials, f.runs,
              std::thread::hardware_concurrency());
  std::printf("%8s %8s %9s %10s %10s\n", "workers", "trials", "seconds", "trials/s", "RPCs/s");
  std::fflush(stdout);
  int rc = 0;
  for (int w : f.workers) {
    std::vector<RunResult> results;
    for (int i = 0; i < f.runs; ++i) {
      RunResult r = Run(f, w, i);
      if (!r.ok) {
        rc = 1;
        break;
      }
      results.push_back(r);
    }
    if (static_cast<int>(results.size()) != f.runs) break;
    std::sort(results.begin(), results.end(),
              [](const RunResult& a, const RunResult& b) { return a.seconds < b.seconds; });
    const RunResult& m = results[results.size() / 2];
    std::printf("%8d %8d %9.2f %10.0f %10.0f\n", w, m.trials, m.seconds, m.trials / m.seconds,
                static_cast<double>(m.rpcs) / m.seconds);
    std::fflush(stdout);
  }
  std::filesystem::remove_all(f.dir);
  return rc;
}
