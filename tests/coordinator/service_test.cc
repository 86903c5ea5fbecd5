// Tests for coordinator/service.h at the RPC edge: a real CoordinatorServer in this process on
// 127.0.0.1 (port 0) over a temporary SQLite file, called through raw stubs the way a hostile
// client on the network would call it. Forged, old and wrong leases; NaN, infinite, out-of-range
// and out-of-order metrics; bad confusion matrices; oversized names, errors and models; many
// watchers (no thread each); many registrations (workers stop counting as alive). After every
// refused call the sweep, as ExportSweep shows it, is unchanged.
#include "coordinator/service.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "coordinator/scheduler.h"
#include "engine/dataset.h"
#include "proto/hpsweep.grpc.pb.h"
#include "tests/coordinator/test_util.h"

namespace hpsweep::service_test {
namespace {

namespace pb = ::hpsweep::v1;
using json = nlohmann::json;

constexpr int kEpochs = 3;  // every test sweep's epochs param

// Threads of this process, from /proc/self/status.
int ThreadCount() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("Threads:", 0) == 0) return std::atoi(line.c_str() + 8);
  }
  ADD_FAILURE() << "no Threads: line in /proc/self/status";
  return -1;
}

std::string SweepYaml(const std::string& name, int trials, int max_attempts = 3) {
  std::string values;
  for (int i = 1; i <= trials; ++i) values += (i > 1 ? ", " : "") + std::to_string(i);
  return "name: " + name + "\nmethod: grid\nmax_attempts: " + std::to_string(max_attempts) +
         "\nfixed: {cell: lstm, epochs: " + std::to_string(kEpochs) +
         "}\nparameters:\n  units: {values: [" + values + "]}\n";
}

void SetEpoch(int epoch, double val_accuracy, pb::EpochMetrics* m) {
  m->set_epoch(epoch);
  m->set_train_loss(0.5);
  m->set_train_accuracy(0.8);
  m->set_val_loss(0.4);
  m->set_val_accuracy(val_accuracy);
  m->set_seconds(1.5);
}

// A completion an honest worker would send: epochs 1..3, a 10x10 confusion matrix of 1000 test
// samples whose trace / total is test_accuracy 0.9.
pb::CompleteTrialRequest GoodCompletion(const std::string& lease_id, double val_accuracy = 0.8) {
  pb::CompleteTrialRequest req;
  req.set_lease_id(lease_id);
  for (int e = 1; e <= kEpochs; ++e)
    SetEpoch(e, val_accuracy - 0.01 * (kEpochs - e), req.add_history());
  req.set_test_loss(0.3);
  req.set_test_accuracy(0.9);
  for (int row = 0; row < 10; ++row) {
    for (int col = 0; col < 10; ++col) {
      req.add_confusion_matrix(col == row ? 90 : col == (row + 1) % 10 ? 10 : 0);
    }
  }
  req.set_seconds(12);
  // No model: one it sends must be a model file of the trial's params (scheduler_test checks
  // that; the bad completions below send bytes that are none).
  return req;
}

class ServiceTest : public ::testing::Test {
 protected:
  void SetUp() override { Start(30); }

  void Start(double lease_seconds) {
    server_.reset();
    CoordinatorOptions options;
    options.listen = "127.0.0.1:0";
    options.db_path = dir_.File("coordinator_" + std::to_string(++servers_) + ".db");
    options.scheduler.lease_seconds = lease_seconds;
    server_ = std::make_unique<CoordinatorServer>();
    Status s = server_->Start(options);
    ASSERT_TRUE(s.ok()) << s.ToString();
    ASSERT_GT(server_->port(), 0);
    grpc::ChannelArguments args;
    args.SetMaxSendMessageSize(256 << 20);  // (to send what a hostile client would)
    args.SetMaxReceiveMessageSize(256 << 20);
    stub_ = pb::Coordinator::NewStub(grpc::CreateCustomChannel(
        "127.0.0.1:" + std::to_string(server_->port()), grpc::InsecureChannelCredentials(), args));
  }

  void TearDown() override {
    stub_.reset();
    if (server_) server_->Shutdown();
  }

  static void SetDeadline(grpc::ClientContext* ctx) {
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  }

  int64_t Submit(const std::string& yaml) {
    grpc::ClientContext ctx;
    SetDeadline(&ctx);
    pb::SubmitSweepRequest req;
    req.set_file_name("test.yaml");
    req.set_yaml(yaml);
    pb::SubmitSweepResponse resp;
    grpc::Status s = stub_->SubmitSweep(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp.sweep_id();
  }

  grpc::Status Register(const std::string& name, int64_t* id = nullptr) {
    grpc::ClientContext ctx;
    SetDeadline(&ctx);
    pb::RegisterWorkerRequest req;
    req.set_worker_name(name);
    req.set_threads(1);
    pb::RegisterWorkerResponse resp;
    grpc::Status s = stub_->RegisterWorker(&ctx, req, &resp);
    if (id) *id = resp.worker_id();
    return s;
  }

  int64_t MustRegister(const std::string& name) {
    int64_t id = 0;
    grpc::Status s = Register(name, &id);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return id;
  }

  pb::LeaseTrialResponse Lease(int64_t worker_id) {
    grpc::ClientContext ctx;
    SetDeadline(&ctx);
    pb::LeaseTrialRequest req;
    req.set_worker_id(worker_id);
    pb::LeaseTrialResponse resp;
    grpc::Status s = stub_->LeaseTrial(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    EXPECT_TRUE(resp.has_trial()) << "nothing to lease";
    return resp;
  }

  grpc::Status Report(const std::string& lease_id, const pb::EpochMetrics* m) {
    grpc::ClientContext ctx;
    SetDeadline(&ctx);
    pb::ReportProgressRequest req;
    req.set_lease_id(lease_id);
    if (m) *req.mutable_metrics() = *m;
    pb::ReportProgressResponse resp;
    return stub_->ReportProgress(&ctx, req, &resp);
  }

  grpc::Status Complete(const pb::CompleteTrialRequest& req) {
    grpc::ClientContext ctx;
    SetDeadline(&ctx);
    pb::CompleteTrialResponse resp;
    return stub_->CompleteTrial(&ctx, req, &resp);
  }

  grpc::Status Fail(const std::string& lease_id, const std::string& error, bool released = false) {
    grpc::ClientContext ctx;
    SetDeadline(&ctx);
    pb::FailTrialRequest req;
    req.set_lease_id(lease_id);
    req.set_error(error);
    req.set_released(released);
    pb::FailTrialResponse resp;
    return stub_->FailTrial(&ctx, req, &resp);
  }

  // The sweep as ExportSweep has it: every trial's status, attempts, epochs and metrics.
  json Export(int64_t sweep_id) {
    grpc::ClientContext ctx;
    SetDeadline(&ctx);
    pb::ExportSweepRequest req;
    req.set_sweep_id(sweep_id);
    pb::ExportSweepResponse resp;
    grpc::Status s = stub_->ExportSweep(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return s.ok() ? json::parse(resp.json()) : json();
  }

  json Trial(int64_t sweep_id, int64_t trial_id) {
    const json sweep = Export(sweep_id);
    for (const json& t : sweep["trials"]) {
      if (t["id"] == trial_id) return t;
    }
    ADD_FAILURE() << "no trial " << trial_id;
    return json();
  }

  pb::GetStatusResponse GetStatus(int64_t sweep_id) {
    grpc::ClientContext ctx;
    SetDeadline(&ctx);
    pb::GetStatusRequest req;
    req.set_sweep_id(sweep_id);
    pb::GetStatusResponse resp;
    grpc::Status s = stub_->GetStatus(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp;
  }

  pb::GetLeaderboardResponse Leaderboard(int64_t sweep_id) {
    grpc::ClientContext ctx;
    SetDeadline(&ctx);
    pb::GetLeaderboardRequest req;
    req.set_sweep_id(sweep_id);
    pb::GetLeaderboardResponse resp;
    grpc::Status s = stub_->GetLeaderboard(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp;
  }

  TempDir dir_;
  int servers_ = 0;
  std::unique_ptr<CoordinatorServer> server_;
  std::unique_ptr<pb::Coordinator::Stub> stub_;
};

bool Refused(const grpc::Status& s) {
  return s.error_code() == grpc::StatusCode::NOT_FOUND ||
         s.error_code() == grpc::StatusCode::FAILED_PRECONDITION ||
         s.error_code() == grpc::StatusCode::INVALID_ARGUMENT;
}

// ---- Leases ----

// Hostile sweep files over the wire: a 2-byte file that hung the old YAML parser, text that is not
// UTF-8 in the file and in its name. Each is INVALID_ARGUMENT naming the problem, nothing stored,
// and the coordinator answers the next call.
TEST_F(ServiceTest, HostileSweepFilesAreRefusedAndStoreNothing) {
  struct Case {
    std::string file_name, yaml, want;
  } cases[] = {
      {"c.yaml", ",\n", "c.yaml:"},
      {"d.yaml", "name: d\ndescription: caf\xe9\n", "not valid UTF-8"},
      {"bad\xff.yaml", "name: ok\n", "file_name"},
      {"e.yaml", std::string(2 << 20, '#'), "the limit is"},
  };
  for (const Case& c : cases) {
    grpc::ClientContext ctx;
    SetDeadline(&ctx);
    pb::SubmitSweepRequest req;
    req.set_file_name(c.file_name);
    req.set_yaml(c.yaml);
    pb::SubmitSweepResponse resp;
    grpc::Status s = stub_->SubmitSweep(&ctx, req, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.yaml.substr(0, 40);
    EXPECT_NE(s.error_message().find(c.want), std::string::npos) << s.error_message();
    EXPECT_LT(s.error_message().size(), 1000u);
  }
  EXPECT_EQ(GetStatus(0).sweeps_size(), 0);
}

// Reuse over the wire: SubmitSweep says how many trials are identical to finished ones (with or
// without reuse), and with reuse they are completed by copy behind LeaseTrial (the asynchronous
// path), marked in the export and the leaderboard.
TEST_F(ServiceTest, SubmitCountsIdenticalFinishedTrialsAndReuseCopiesThem) {
  const int64_t first = Submit(SweepYaml("edited", 2));
  const int64_t worker = MustRegister("w");
  for (int i = 0; i < 2; ++i) {
    const pb::LeaseTrialResponse lease = Lease(worker);
    ASSERT_TRUE(Complete(GoodCompletion(lease.lease_id(), 0.5 + 0.1 * i)).ok());
  }
  auto submit = [&](bool reuse) {
    grpc::ClientContext ctx;
    SetDeadline(&ctx);
    pb::SubmitSweepRequest req;
    req.set_file_name("edited.yaml");
    req.set_yaml(SweepYaml("edited", 3));  // units 1, 2 as before, and 3
    req.set_reuse(reuse);
    pb::SubmitSweepResponse resp;
    grpc::Status s = stub_->SubmitSweep(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(resp.identical_finished(), 2);
    EXPECT_EQ(std::vector<int64_t>(resp.identical_sweeps().begin(), resp.identical_sweeps().end()),
              std::vector<int64_t>{first});
    return resp.sweep_id();
  };
  // Without reuse: trial 1 is leased (trained again).
  const int64_t plain = submit(false);
  pb::LeaseTrialResponse lease = Lease(worker);
  EXPECT_EQ(lease.trial().sweep_id(), plain);
  EXPECT_EQ(lease.trial().number(), 1);
  ASSERT_TRUE(Complete(GoodCompletion(lease.lease_id())).ok());
  ASSERT_TRUE(server_->scheduler()->Cancel(plain).ok());
  // With reuse: units 1 and 2 are copied; the worker gets trial 3.
  const int64_t reusing = submit(true);
  lease = Lease(worker);
  EXPECT_EQ(lease.trial().sweep_id(), reusing);
  EXPECT_EQ(lease.trial().number(), 3);
  ASSERT_TRUE(Complete(GoodCompletion(lease.lease_id())).ok());
  const json exported = Export(reusing);
  ASSERT_EQ(exported["trials"].size(), 3u);
  for (const json& t : exported["trials"]) {
    const int number = t["number"];
    EXPECT_EQ(t["status"], "completed") << number;
    const std::string from = t["reused_from"];
    if (number == 3) {
      EXPECT_EQ(from, "");
    } else {  // the trial copied and the worker that trained it
      EXPECT_EQ(from.rfind("sweep " + std::to_string(first) + " #" + std::to_string(number) +
                               " (worker ",
                           0),
                0u)
          << from;
    }
  }
  const pb::GetLeaderboardResponse board = Leaderboard(reusing);
  int marked = 0;
  for (const pb::LeaderboardRow& r : board.rows()) marked += r.reused_from().empty() ? 0 : 1;
  EXPECT_EQ(marked, 2);
}

// ExportSweep in pages: a client that names a budget gets whole trials in number order and a
// next_after to continue from, 0 on the last page; pages joined are the export a client from
// before paging gets in one message (no paging fields). Nonsense paging fields are refused.
TEST_F(ServiceTest, ExportSweepPagesJoinToTheUnpagedExport) {
  const int64_t sweep = Submit(SweepYaml("paged", 3));
  const int64_t worker = MustRegister("w");
  for (int i = 0; i < 3; ++i) {
    const pb::LeaseTrialResponse lease = Lease(worker);
    ASSERT_TRUE(Complete(GoodCompletion(lease.lease_id(), 0.5 + 0.1 * i)).ok());
  }
  const json whole = Export(sweep);
  ASSERT_EQ(whole["trials"].size(), 3u);

  json joined;
  std::vector<int> numbers;
  int64_t after = 0;
  for (int page = 0; page < 10; ++page) {
    grpc::ClientContext ctx;
    SetDeadline(&ctx);
    pb::ExportSweepRequest req;
    req.set_sweep_id(sweep);
    req.set_after_trial(after);
    req.set_max_bytes(1);  // below one trial: one trial a page
    pb::ExportSweepResponse resp;
    grpc::Status s = stub_->ExportSweep(&ctx, req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
    json j = json::parse(resp.json());
    ASSERT_EQ(j["trials"].size(), 1u) << resp.json();
    EXPECT_EQ(j["sweep"], whole["sweep"]);
    numbers.push_back(j["trials"][0]["number"].get<int>());
    if (joined.is_null()) {
      joined = j;
    } else {
      joined["trials"].push_back(j["trials"][0]);
    }
    if (resp.next_after() == 0) break;
    EXPECT_EQ(resp.next_after(), numbers.back());
    after = resp.next_after();
  }
  EXPECT_EQ(numbers, (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(joined, whole);

  for (auto [after_trial, max_bytes] : {std::pair<int64_t, int64_t>{-1, 0}, {0, -5},
                                        {int64_t{1} << 40, 1}}) {
    grpc::ClientContext ctx;
    SetDeadline(&ctx);
    pb::ExportSweepRequest req;
    req.set_sweep_id(sweep);
    req.set_after_trial(after_trial);
    req.set_max_bytes(max_bytes);
    pb::ExportSweepResponse resp;
    EXPECT_EQ(stub_->ExportSweep(&ctx, req, &resp).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT)
        << after_trial << " " << max_bytes;
  }
}

TEST_F(ServiceTest, ForgedLeaseIsRefusedAndChangesNothing) {
  const int64_t sweep = Submit(SweepYaml("forge", 2));
  const int64_t worker = MustRegister("honest");
  const pb::LeaseTrialResponse lease = Lease(worker);
  // 128 random bits in hex: nothing about the trial in it.
  ASSERT_EQ(lease.lease_id().size(), 32u) << lease.lease_id();
  EXPECT_EQ(lease.lease_id().find_first_not_of("0123456789abcdef"), std::string::npos)
      << lease.lease_id();
  const json before = Export(sweep);

  std::string tampered = lease.lease_id();
  tampered[5] = tampered[5] == 'a' ? 'b' : 'a';
  for (const std::string& forged :
       {std::string("t2.forged"), std::string("t2.1.0000000000000000"), std::string("t1.1"),
        tampered, lease.lease_id() + "0", std::string(""), std::string(1000, 'a')}) {
    SCOPED_TRACE("lease '" + forged.substr(0, 40) + "'");
    grpc::Status s = Complete(GoodCompletion(forged, 1.0));
    EXPECT_TRUE(Refused(s)) << s.error_code() << " " << s.error_message();
    EXPECT_LT(s.error_message().size(), 300u) << "the refusal echoes the input";
    s = Report(forged, nullptr);
    EXPECT_TRUE(Refused(s)) << s.error_code() << " " << s.error_message();
    s = Fail(forged, "forged failure");
    EXPECT_TRUE(Refused(s)) << s.error_code() << " " << s.error_message();
    EXPECT_EQ(Export(sweep), before);
  }
  EXPECT_TRUE(Leaderboard(sweep).rows().empty());

  // The real worker's result is taken, and ranked.
  grpc::Status s = Complete(GoodCompletion(lease.lease_id(), 0.7));
  ASSERT_TRUE(s.ok()) << s.error_message();
  const pb::GetLeaderboardResponse board = Leaderboard(sweep);
  ASSERT_EQ(board.rows_size(), 1);
  EXPECT_EQ(board.rows(0).trial_id(), lease.trial().trial_id());
  EXPECT_DOUBLE_EQ(board.rows(0).val_accuracy(), 0.7);
  // Trial 2 was never leased: not proposed yet (trials are proposed at lease time).
  EXPECT_EQ(GetStatus(sweep).sweeps(0).queued(), 0);
  EXPECT_EQ(GetStatus(sweep).sweeps(0).unproposed(), 1);
}

// A lease expires and the trial goes to another lease: the old one may no longer report, fail or
// complete; the current one may.
TEST_F(ServiceTest, OlderLeaseIsRefusedOnceTheTrialIsLeasedAgain) {
  // (2 s: the checks below must run within the newer lease, even on a loaded machine)
  Start(/*lease_seconds=*/2);
  const int64_t sweep = Submit(SweepYaml("old", 1));
  const int64_t w1 = MustRegister("first");
  const pb::LeaseTrialResponse old = Lease(w1);
  std::this_thread::sleep_for(std::chrono::milliseconds(2200));  // the lease expires
  const int64_t w2 = MustRegister("second");
  const pb::LeaseTrialResponse cur = Lease(w2);
  ASSERT_EQ(cur.trial().trial_id(), old.trial().trial_id());
  ASSERT_NE(cur.lease_id(), old.lease_id());
  const json before = Trial(sweep, cur.trial().trial_id());
  ASSERT_EQ(before["status"], "running");

  pb::EpochMetrics m;
  SetEpoch(1, 0.5, &m);
  grpc::Status s = Report(old.lease_id(), &m);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << s.error_message();
  s = Complete(GoodCompletion(old.lease_id(), 0.99));
  EXPECT_TRUE(Refused(s)) << s.error_code() << " " << s.error_message();
  s = Fail(old.lease_id(), "late failure");
  EXPECT_TRUE(Refused(s)) << s.error_code() << " " << s.error_message();
  EXPECT_EQ(Trial(sweep, cur.trial().trial_id()), before);

  s = Complete(GoodCompletion(cur.lease_id(), 0.6));
  ASSERT_TRUE(s.ok()) << s.error_message();
  const json after = Trial(sweep, cur.trial().trial_id());
  EXPECT_EQ(after["status"], "completed");
  EXPECT_EQ(after["best_val_accuracy"], 0.6);
}

// The valued case: a worker cut off past its lease delivers its finished result once, as long as
// nobody else leased the trial meanwhile.
TEST_F(ServiceTest, ResultUnderExpiredLastLeaseIsKeptOnce) {
  Start(/*lease_seconds=*/1);
  const int64_t sweep = Submit(SweepYaml("late", 1));
  const pb::LeaseTrialResponse lease = Lease(MustRegister("cut-off"));
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  ASSERT_TRUE(server_->scheduler()->ExpireLeases().ok());
  ASSERT_EQ(Trial(sweep, lease.trial().trial_id())["status"], "queued");

  grpc::Status s = Complete(GoodCompletion(lease.lease_id(), 0.75));
  ASSERT_TRUE(s.ok()) << s.error_message();
  const json done = Trial(sweep, lease.trial().trial_id());
  EXPECT_EQ(done["status"], "completed");
  EXPECT_EQ(done["best_val_accuracy"], 0.75);
  // A retry is answered OK and changes nothing.
  s = Complete(GoodCompletion(lease.lease_id(), 0.1));
  EXPECT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(Trial(sweep, lease.trial().trial_id()), done);
}

TEST_F(ServiceTest, ReportAndFailUnderAnotherTrialsLeaseChangeNothing) {
  const int64_t sweep = Submit(SweepYaml("two", 2));
  const int64_t worker = MustRegister("w");
  const pb::LeaseTrialResponse a = Lease(worker);
  const json before = Export(sweep);
  // Trial 2 is queued; a lease naming it in any way is not its lease.
  for (const std::string& wrong :
       {std::string("t2.1.deadbeef"),
        std::string("t") + std::to_string(a.trial().trial_id() + 1) + ".1.0"}) {
    pb::EpochMetrics m;
    SetEpoch(1, 0.5, &m);
    EXPECT_TRUE(Refused(Report(wrong, &m)));
    EXPECT_TRUE(Refused(Fail(wrong, "boom")));
    EXPECT_TRUE(Refused(Fail(wrong, "bye", /*released=*/true)));
  }
  EXPECT_EQ(Export(sweep), before);
}

// ---- Metrics ----

TEST_F(ServiceTest, ReportsOutOfRangeOrOutOfOrderAreRefusedAndStoreNothing) {
  const int64_t sweep = Submit(SweepYaml("metrics", 1));
  const pb::LeaseTrialResponse lease = Lease(MustRegister("w"));
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  struct Bad {
    const char* field;
    std::function<void(pb::EpochMetrics*)> spoil;
  };
  const std::vector<Bad> bad = {
      {"val_accuracy", [&](pb::EpochMetrics* m) { m->set_val_accuracy(nan); }},
      {"val_accuracy", [&](pb::EpochMetrics* m) { m->set_val_accuracy(1.5); }},
      {"train_accuracy", [&](pb::EpochMetrics* m) { m->set_train_accuracy(-0.1); }},
      {"train_accuracy", [&](pb::EpochMetrics* m) { m->set_train_accuracy(inf); }},
      {"train_loss", [&](pb::EpochMetrics* m) { m->set_train_loss(inf); }},
      {"val_loss", [&](pb::EpochMetrics* m) { m->set_val_loss(-inf); }},
      {"val_loss", [&](pb::EpochMetrics* m) { m->set_val_loss(-1); }},
      {"seconds", [&](pb::EpochMetrics* m) { m->set_seconds(-3); }},
      {"seconds", [&](pb::EpochMetrics* m) { m->set_seconds(nan); }},
      {"seconds", [&](pb::EpochMetrics* m) { m->set_seconds(1e300); }},
      {"epoch", [&](pb::EpochMetrics* m) { m->set_epoch(-1); }},
      {"epoch", [&](pb::EpochMetrics* m) { m->set_epoch(2147483647); }},
      {"epoch", [&](pb::EpochMetrics* m) { m->set_epoch(kEpochs + 1); }},
  };
  const json before = Export(sweep);
  for (const Bad& b : bad) {
    pb::EpochMetrics m;
    SetEpoch(1, 0.5, &m);
    b.spoil(&m);
    SCOPED_TRACE(m.ShortDebugString());
    grpc::Status s = Report(lease.lease_id(), &m);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
    EXPECT_NE(s.error_message().find(b.field), std::string::npos) << s.error_message();
    EXPECT_EQ(Export(sweep), before);
  }

  // In order, once each; a retry of the last report with the same values is OK and stored once.
  pb::EpochMetrics e1, e2;
  SetEpoch(1, 0.5, &e1);
  SetEpoch(2, 0.6, &e2);
  ASSERT_TRUE(Report(lease.lease_id(), &e1).ok());
  grpc::Status s = Report(lease.lease_id(), &e1);
  EXPECT_TRUE(s.ok()) << "a retried report: " << s.error_message();
  ASSERT_EQ(Trial(sweep, lease.trial().trial_id())["epochs"].size(), 1u);
  pb::EpochMetrics e1_changed = e1;
  e1_changed.set_val_accuracy(0.99);
  s = Report(lease.lease_id(), &e1_changed);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  ASSERT_TRUE(Report(lease.lease_id(), &e2).ok());
  const json two = Export(sweep);
  s = Report(lease.lease_id(), &e1);  // out of order
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  EXPECT_NE(s.error_message().find("epoch"), std::string::npos) << s.error_message();
  EXPECT_EQ(Export(sweep), two);
  const json t = Trial(sweep, lease.trial().trial_id());
  ASSERT_EQ(t["epochs"].size(), 2u);
  EXPECT_EQ(t["epochs"][0]["val_accuracy"], 0.5);
  EXPECT_EQ(t["epochs"][1]["val_accuracy"], 0.6);
  // The lease is still good after the refusals: a heartbeat renews it.
  EXPECT_TRUE(Report(lease.lease_id(), nullptr).ok());
}

TEST_F(ServiceTest, BadCompletionsAreRefusedAndStoreNothing) {
  const int64_t sweep = Submit(SweepYaml("complete", 1));
  const pb::LeaseTrialResponse lease = Lease(MustRegister("w"));
  const double nan = std::numeric_limits<double>::quiet_NaN();
  struct Bad {
    const char* field;
    std::function<void(pb::CompleteTrialRequest*)> spoil;
  };
  const std::vector<Bad> bad = {
      {"history[0].val_accuracy",
       [&](pb::CompleteTrialRequest* r) { r->mutable_history(0)->set_val_accuracy(nan); }},
      {"history[2].train_loss",
       [&](pb::CompleteTrialRequest* r) { r->mutable_history(2)->set_train_loss(-1); }},
      {"history[1].epoch",
       [&](pb::CompleteTrialRequest* r) { r->mutable_history(1)->set_epoch(3); }},  // 1, 3, 3
      {"history[0].epoch",
       [&](pb::CompleteTrialRequest* r) { r->mutable_history(0)->set_epoch(2); }},  // 2, 2, 3
      {"history", [&](pb::CompleteTrialRequest* r) { SetEpoch(4, 0.5, r->add_history()); }},
      {"history", [&](pb::CompleteTrialRequest* r) { r->mutable_history()->RemoveLast(); }},
      {"test_accuracy", [&](pb::CompleteTrialRequest* r) { r->set_test_accuracy(1.5); }},
      {"test_accuracy", [&](pb::CompleteTrialRequest* r) { r->set_test_accuracy(nan); }},
      {"test_loss", [&](pb::CompleteTrialRequest* r) { r->set_test_loss(-2); }},
      {"seconds", [&](pb::CompleteTrialRequest* r) { r->set_seconds(-1); }},
      {"confusion_matrix",
       [&](pb::CompleteTrialRequest* r) { r->mutable_confusion_matrix()->Truncate(7); }},
      {"confusion_matrix",
       [&](pb::CompleteTrialRequest* r) { r->add_confusion_matrix(1); }},  // 101 cells
      {"confusion_matrix", [&](pb::CompleteTrialRequest* r) { r->set_confusion_matrix(1, -5); }},
      {"confusion_matrix",
       [&](pb::CompleteTrialRequest* r) {
         for (int i = 0; i < 100; ++i) r->set_confusion_matrix(i, 0);
       }},
      {"confusion_matrix",
       [&](pb::CompleteTrialRequest* r) { r->set_confusion_matrix(0, int64_t{1} << 62); }},
      {"confusion_matrix", [&](pb::CompleteTrialRequest* r) { r->set_test_accuracy(0.95); }},
      {"confusion_matrix", [&](pb::CompleteTrialRequest* r) { r->set_test_accuracy(-1); }},
      {"model",
       [&](pb::CompleteTrialRequest* r) { r->set_model(std::string(kMaxModelBytes + 1, 'm')); }},
      {"model", [&](pb::CompleteTrialRequest* r) { r->set_model("model bytes"); }},
  };
  const json before = Export(sweep);
  for (const Bad& b : bad) {
    pb::CompleteTrialRequest req = GoodCompletion(lease.lease_id(), 1.0);
    b.spoil(&req);
    SCOPED_TRACE(b.field);
    grpc::Status s = Complete(req);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
    EXPECT_NE(s.error_message().find(b.field), std::string::npos) << s.error_message();
    EXPECT_EQ(Export(sweep), before);
  }
  EXPECT_TRUE(Leaderboard(sweep).rows().empty());

  // Stopped early: fewer epochs are fine, and no test metrics (-1) without a matrix too.
  pb::CompleteTrialRequest stopped = GoodCompletion(lease.lease_id(), 0.8);
  stopped.mutable_history()->RemoveLast();
  stopped.set_stopped(true);
  stopped.set_test_accuracy(-1);
  stopped.set_test_loss(-1);
  stopped.clear_confusion_matrix();
  grpc::Status s = Complete(stopped);
  ASSERT_TRUE(s.ok()) << s.error_message();
  const json t = Trial(sweep, lease.trial().trial_id());
  EXPECT_EQ(t["status"], "stopped");
  EXPECT_EQ(t["epochs"].size(), 2u);
}

// ---- Sizes ----

TEST_F(ServiceTest, OversizedOrBadNamesAreRefused) {
  int64_t id = 0;
  grpc::Status s = Register(std::string(1 << 20, 'n'), &id);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  EXPECT_LT(s.error_message().size(), 300u);
  s = Register(std::string(kMaxWorkerNameBytes + 1, 'n'), &id);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  EXPECT_NE(s.error_message().find("worker_name"), std::string::npos) << s.error_message();
  EXPECT_NE(s.error_message().find(std::to_string(kMaxWorkerNameBytes)), std::string::npos);
  for (const std::string& name :
       {std::string("tab\there"), std::string("nl\n"), std::string("esc\x1b[2J"),
        std::string("c1\xc2\x85"), std::string("")}) {
    s = Register(name, &id);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  }
  // Not UTF-8: the field is `bytes` in the proto, so the request reaches the handler, which names
  // the field (as a `string`, protobuf refused it unparsed: INTERNAL, no message).
  s = Register("bad\xff\xfe", &id);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  EXPECT_NE(s.error_message().find("worker_name"), std::string::npos) << s.error_message();
  EXPECT_EQ(GetStatus(0).workers_alive(), 0);
  EXPECT_TRUE(Register(std::string(kMaxWorkerNameBytes, 'n'), &id).ok());
  EXPECT_TRUE(Register("h\xc3\xb4te:42", &id).ok());  // UTF-8 is fine
  EXPECT_EQ(GetStatus(0).workers_alive(), 2);
}

// RegisterWorker's host and job id are checked as its name is; ListWorkers shows each worker with
// them, its state (idle, training with the trial's number and epoch) and counts.
TEST_F(ServiceTest, ListWorkersShowsHostJobAndState) {
  auto reg = [&](const std::string& name, const std::string& host, const std::string& job) {
    grpc::ClientContext ctx;
    SetDeadline(&ctx);
    pb::RegisterWorkerRequest req;
    req.set_worker_name(name);
    req.set_threads(3);
    req.set_host(host);
    req.set_job_id(job);
    pb::RegisterWorkerResponse resp;
    return stub_->RegisterWorker(&ctx, req, &resp);
  };
  grpc::Status s = reg("w1", "bad\nhost", "");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("host"), std::string::npos) << s.error_message();
  s = reg("w1", "node", std::string(kMaxWorkerJobIdBytes + 1, 'j'));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("job_id"), std::string::npos) << s.error_message();
  s = reg("w1", "node\xff", "");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  ASSERT_TRUE(reg("w1", "node1", "777_2").ok());
  ASSERT_TRUE(reg("w2", "node2", "").ok());
  const int64_t sweep = Submit(SweepYaml("listed", 2));
  const int64_t w1 = MustRegister("w1");  // (the same worker; host and job as now given)
  ASSERT_TRUE(reg("w1", "node1", "777_2").ok());
  pb::LeaseTrialResponse lease = Lease(w1);

  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  pb::ListWorkersResponse resp;
  s = stub_->ListWorkers(&ctx, pb::ListWorkersRequest(), &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(resp.lease_seconds(), 30);
  EXPECT_GT(resp.now(), 0);
  ASSERT_EQ(resp.workers_size(), 2);
  const pb::WorkerInfo& a = resp.workers(0);
  EXPECT_EQ(a.worker_id(), w1);
  EXPECT_EQ(a.name(), "w1");
  EXPECT_EQ(a.host(), "node1");
  EXPECT_EQ(a.job_id(), "777_2");
  EXPECT_EQ(a.threads(), 3);
  EXPECT_EQ(a.state(), "training");
  EXPECT_EQ(a.sweep_id(), sweep);
  EXPECT_EQ(a.trial_id(), lease.trial().trial_id());
  EXPECT_EQ(a.trial_number(), lease.trial().number());
  EXPECT_EQ(a.epoch(), 1);
  EXPECT_LE(a.last_seen(), resp.now());
  const pb::WorkerInfo& b = resp.workers(1);
  EXPECT_EQ(b.name(), "w2");
  EXPECT_EQ(b.state(), "idle");
  EXPECT_EQ(b.job_id(), "");
}

TEST_F(ServiceTest, OversizedErrorsAreRefusedAndStoredErrorsBounded) {
  const int64_t sweep = Submit(SweepYaml("errors", 1, /*max_attempts=*/20));
  const int64_t worker = MustRegister("w");
  pb::LeaseTrialResponse lease = Lease(worker);
  const json before = Export(sweep);
  for (size_t size : {size_t{1} << 20, kMaxFailErrorBytes + 1}) {
    grpc::Status s = Fail(lease.lease_id(), std::string(size, 'e'));
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
    EXPECT_LT(s.error_message().size(), 300u);
    EXPECT_EQ(Export(sweep), before);
  }
  // Each attempt's error at the limit: the trial's stored error keeps the latest, bounded.
  for (int attempt = 1; attempt <= 19; ++attempt) {
    std::string error(kMaxFailErrorBytes, 'e');
    error.replace(0, 20, "failure of attempt " + std::to_string(attempt % 10));
    grpc::Status s = Fail(lease.lease_id(), error);
    ASSERT_TRUE(s.ok()) << s.error_message();
    lease = Lease(worker);
  }
  const json t = Trial(sweep, lease.trial().trial_id());
  const std::string error = t["error"];
  EXPECT_LE(error.size(), kMaxTrialErrorBytes);
  EXPECT_NE(error.find("attempt 19 on 'w': failure of attempt 9"), std::string::npos);
  EXPECT_EQ(error.find("attempt 1 on 'w'"), std::string::npos) << "the oldest are dropped";
}

TEST_F(ServiceTest, OversizedRequestsAreRefusedByTheirHandler) {
  pb::GetStatusRequest req;
  req.set_sweep_id(0);
  // Unknown fields count: a hostile client may pad any request.
  req.GetReflection()->MutableUnknownFields(&req)->AddLengthDelimited(99,
                                                                      std::string(100 << 10, 'x'));
  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  pb::GetStatusResponse resp;
  grpc::Status s = stub_->GetStatus(&ctx, req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  EXPECT_NE(s.error_message().find(std::to_string(kMaxRequestBytes)), std::string::npos)
      << s.error_message();
  // Over the server's limit: gRPC itself refuses it unread.
  pb::CompleteTrialRequest huge = GoodCompletion("x");
  huge.set_model(std::string(kMaxReceiveBytes + 1, 'm'));
  s = Complete(huge);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
  EXPECT_TRUE(Refused(Report(std::string(kMaxLeaseIdBytes + 1, 'a'), nullptr)));
}

// ---- Bounded state ----

TEST_F(ServiceTest, WatchesHoldNoThreadAndAreCapped) {
  const int64_t sweep = Submit(SweepYaml("watched", 2));
  GetStatus(sweep);  // (warm the server's threads up)
  const int threads_before = ThreadCount();

  constexpr int kStreams = 100;
  std::vector<std::unique_ptr<grpc::ClientContext>> ctxs;
  std::vector<std::unique_ptr<grpc::ClientReader<pb::GetStatusResponse>>> readers;
  pb::WatchSweepRequest req;
  req.set_sweep_id(sweep);
  for (int i = 0; i < kStreams; ++i) {
    ctxs.push_back(std::make_unique<grpc::ClientContext>());
    SetDeadline(ctxs.back().get());
    readers.push_back(stub_->WatchSweep(ctxs.back().get(), req));
  }
  int open = 0, refused = 0;
  std::vector<bool> is_open(kStreams);
  for (int i = 0; i < kStreams; ++i) {
    pb::GetStatusResponse snap;
    if (readers[i]->Read(&snap)) {
      is_open[i] = true;
      ++open;
      EXPECT_EQ(snap.sweeps(0).queued() + snap.sweeps(0).unproposed(), 2);
    } else {
      grpc::Status s = readers[i]->Finish();
      EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
      EXPECT_NE(s.error_message().find(std::to_string(kMaxWatches)), std::string::npos);
      ++refused;
    }
  }
  EXPECT_EQ(open, kMaxWatches);
  EXPECT_EQ(refused, kStreams - kMaxWatches);
  const int threads_during = ThreadCount();
  EXPECT_LT(threads_during - threads_before, 20) << threads_before << " threads before " << open
                                                 << " watches, " << threads_during << " with them";

  // A change reaches every open watch.
  const pb::LeaseTrialResponse lease = Lease(MustRegister("w"));
  ASSERT_TRUE(Complete(GoodCompletion(lease.lease_id())).ok());
  for (int i = 0; i < kStreams; ++i) {
    if (!is_open[i]) continue;
    pb::GetStatusResponse snap;
    do {
      ASSERT_TRUE(readers[i]->Read(&snap)) << "watch " << i;
    } while (snap.sweeps(0).completed() < 1);
    EXPECT_EQ(snap.sweeps(0).queued() + snap.sweeps(0).unproposed(), 1);
  }
  // Watchers that leave free their places.
  for (int i = 0; i < kStreams; ++i) {
    if (!is_open[i]) continue;
    ctxs[i]->TryCancel();
    readers[i]->Finish();
  }
  readers.clear();
  ctxs.clear();
  // The last trial completes: a new watch gets the final snapshot and ends by itself. The server
  // hears of the cancellations above asynchronously: until it has, the places may still be taken
  // (RESOURCE_EXHAUSTED), so the new watch is retried for a while.
  std::unique_ptr<grpc::ClientContext> ctx;
  std::unique_ptr<grpc::ClientReader<pb::GetStatusResponse>> reader;
  pb::GetStatusResponse snap;
  bool opened = false;
  for (int attempt = 0; attempt < 100 && !opened; ++attempt) {
    ctx = std::make_unique<grpc::ClientContext>();
    SetDeadline(ctx.get());
    reader = stub_->WatchSweep(ctx.get(), req);
    opened = reader->Read(&snap);
    if (!opened) {
      grpc::Status refused = reader->Finish();
      ASSERT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
          << refused.error_message();
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  ASSERT_TRUE(opened) << "the watches that left never freed their places";
  const pb::LeaseTrialResponse last = Lease(MustRegister("w"));
  ASSERT_TRUE(Complete(GoodCompletion(last.lease_id())).ok());
  while (reader->Read(&snap)) {
  }
  grpc::Status s = reader->Finish();
  EXPECT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(snap.sweeps(0).completed(), 2);
  EXPECT_EQ(snap.sweeps(0).state(), "completed");
}

TEST_F(ServiceTest, ManyRegistrationsStopCountingAfterALeasePeriod) {
  Start(/*lease_seconds=*/1);
  constexpr int kWorkers = 2000;
  std::vector<int64_t> ids;
  for (int i = 0; i < kWorkers; ++i) {
    int64_t id = 0;
    grpc::Status s = Register("worker-" + std::to_string(i), &id);
    ASSERT_TRUE(s.ok()) << i << ": " << s.error_message();
    ids.push_back(id);
  }
  // The same name again is the same worker.
  EXPECT_EQ(MustRegister("worker-7"), ids[7]);
  EXPECT_LE(GetStatus(0).workers_alive(), kWorkers);

  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // past one lease period
  EXPECT_EQ(GetStatus(0).workers_alive(), 0);
  ASSERT_TRUE(server_->scheduler()->ExpireLeases().ok());
  EXPECT_EQ(server_->scheduler()->WorkersHeld(), 0u) << "silent workers are dropped from memory";

  EXPECT_EQ(MustRegister("worker-7"), ids[7]);  // still known to the database
  EXPECT_EQ(GetStatus(0).workers_alive(), 1);
}

// ---- Ranking ----

// A val_loss/minimize sweep whose trials' loss order (#2, #3, #1) is the reverse of their accuracy
// order: GetStatus's best (both fields) is the lowest loss and names the metric, and
// GetLeaderboard ranks by loss with each row's value. Before Objective, status's
// best_val_accuracy was the highest accuracy (0.90, trial #1's).
TEST_F(ServiceTest, MinimizedMetricDecidesStatusBestAndLeaderboard) {
  Start(/*lease_seconds=*/60);
  const std::string yaml = SweepYaml("loss", 3) + "metric: {name: val_loss, goal: minimize}\n";
  const int64_t sweep = Submit(yaml);
  const double results[3][2] = {{0.90, 0.50}, {0.80, 0.20}, {0.85, 0.30}};
  int n = 0;
  for (const auto& r : results) {  // (a worker each: a worker holds one lease at a time)
    const pb::LeaseTrialResponse l = Lease(MustRegister("w" + std::to_string(++n)));
    pb::EpochMetrics m;
    SetEpoch(1, r[0], &m);
    m.set_val_loss(r[1]);
    ASSERT_TRUE(Report(l.lease_id(), &m).ok());
  }
  const pb::GetStatusResponse st = GetStatus(sweep);
  ASSERT_EQ(st.sweeps_size(), 1);
  EXPECT_EQ(st.sweeps(0).best_val_accuracy(), 0.20);
  EXPECT_EQ(st.sweeps(0).best_metric(), 0.20);
  EXPECT_EQ(st.sweeps(0).metric_name(), "val_loss");
  EXPECT_FALSE(st.sweeps(0).maximize());

  const pb::GetLeaderboardResponse lb = Leaderboard(sweep);
  EXPECT_EQ(lb.metric_name(), "val_loss");
  EXPECT_FALSE(lb.maximize());
  ASSERT_EQ(lb.rows_size(), 3);
  EXPECT_EQ(lb.rows(0).number(), 2);
  EXPECT_EQ(lb.rows(1).number(), 3);
  EXPECT_EQ(lb.rows(2).number(), 1);
  EXPECT_EQ(lb.rows(0).metric_value(), 0.20);
}

// A sweep's own data comes only from the folders the operator named: a sweep naming a file
// elsewhere is refused at submit, with the path and never a byte of the file (a parse error once
// quoted a line of a root-only file), and nothing is stored.
TEST_F(ServiceTest, OwnDataOutsideTheDataRootsIsRefusedUnread) {
  server_->Shutdown();
  const std::string allowed = dir_.File("allowed"), outside = dir_.File("outside");
  std::filesystem::create_directories(allowed);
  std::filesystem::create_directories(outside);
  auto write_csv = [](const std::string& path, const std::string& second_line) {
    std::ofstream out(path);
    out << "0,0.1,0.2,0.3\n" << second_line << "\n";
    for (int i = 0; i < 30; ++i) out << (i % 2) << ",0." << i % 10 << ",0.5,0.7\n";
  };
  write_csv(allowed + "/train.csv", "1,0.4,0.5,0.6");
  write_csv(allowed + "/test.csv", "1,0.4,0.5,0.6");
  write_csv(outside + "/secret.csv", "TOPSECRET-do-not-print");
  // A link inside an allowed folder to a file outside is outside too.
  std::filesystem::create_symlink(outside + "/secret.csv", allowed + "/innocent.csv");
  CoordinatorOptions options;
  options.listen = "127.0.0.1:0";
  options.db_path = dir_.File("roots.db");
  options.data_roots = {allowed};
  server_ = std::make_unique<CoordinatorServer>();
  ASSERT_TRUE(server_->Start(options).ok());
  stub_ = pb::Coordinator::NewStub(grpc::CreateChannel(
      "127.0.0.1:" + std::to_string(server_->port()), grpc::InsecureChannelCredentials()));
  auto submit = [&](const std::string& train, const std::string& test, pb::SubmitSweepResponse* r) {
    grpc::ClientContext ctx;
    SetDeadline(&ctx);
    pb::SubmitSweepRequest req;
    req.set_file_name("own.yaml");
    req.set_yaml("name: own\ndata: {format: csv, train: " + train + ", test: " + test +
                 "}\nfixed: {cell: dense, epochs: 1}\nparameters:\n  units: {values: [4]}\n");
    return stub_->SubmitSweep(&ctx, req, r);
  };
  for (const std::string& bad :
       {outside + "/secret.csv", allowed + "/../outside/secret.csv", allowed + "/innocent.csv",
        std::string("/etc/passwd")}) {
    pb::SubmitSweepResponse resp;
    grpc::Status s = submit(bad, allowed + "/test.csv", &resp);
    ASSERT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << bad;
    EXPECT_NE(s.error_message().find("own.yaml:2: key 'data.train': "), std::string::npos)
        << s.error_message();
    EXPECT_NE(s.error_message().find("is outside this coordinator's data folders (--data-root: " +
                                     allowed + "); it was not read"),
              std::string::npos)
        << s.error_message();
    EXPECT_EQ(s.error_message().find("TOPSECRET"), std::string::npos) << s.error_message();
    EXPECT_EQ(s.error_message().find("root:x:0"), std::string::npos) << s.error_message();
  }
  EXPECT_EQ(GetStatus(0).sweeps_size(), 0);  // nothing stored
  pb::SubmitSweepResponse ok;
  grpc::Status s = submit(allowed + "/train.csv", allowed + "/test.csv", &ok);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(ok.trials(), 1);
}

// GetDataset hashed a sweep's own data files by path and then opened them again by path to send
// them: a link swapped in between (to a secret file) was sent. Now each file is opened once (no
// link followed), hashed and sent through that descriptor: the swap sends the original bytes.
TEST_F(ServiceTest, AFileSwappedForALinkAfterItsHashIsNotWhatIsSent) {
  server_->Shutdown();
  const std::string allowed = dir_.File("allowed"), outside = dir_.File("outside");
  std::filesystem::create_directories(allowed);
  std::filesystem::create_directories(outside);
  std::string rows;
  for (int i = 0; i < 40; ++i) rows += std::to_string(i % 2) + ",0." + std::to_string(i % 10) + ",0.5\n";
  for (const char* name : {"/train.csv", "/test.csv"}) std::ofstream(allowed + name) << rows;
  std::ofstream(outside + "/secret.csv") << "TOPSECRET-do-not-send\n" << rows;
  bool swapped = false;
  CoordinatorOptions options;
  options.listen = "127.0.0.1:0";
  options.db_path = dir_.File("swap.db");
  options.data_roots = {allowed};
  options.before_data_sent_for_testing = [&] {
    std::filesystem::remove(allowed + "/test.csv");
    std::filesystem::create_symlink(outside + "/secret.csv", allowed + "/test.csv");
    swapped = true;
  };
  server_ = std::make_unique<CoordinatorServer>();
  ASSERT_TRUE(server_->Start(options).ok());
  stub_ = pb::Coordinator::NewStub(grpc::CreateChannel(
      "127.0.0.1:" + std::to_string(server_->port()), grpc::InsecureChannelCredentials()));
  pb::SubmitSweepRequest req;
  req.set_file_name("own.yaml");
  req.set_yaml("name: own\ndata: {format: csv, train: " + allowed + "/train.csv, test: " + allowed +
               "/test.csv}\nfixed: {cell: dense, epochs: 1}\nparameters:\n  units: {values: [4]}\n");
  pb::SubmitSweepResponse submitted;
  {
    grpc::ClientContext ctx;
    SetDeadline(&ctx);
    ASSERT_TRUE(stub_->SubmitSweep(&ctx, req, &submitted).ok());
  }
  DataSpec spec;
  spec.format = DataFormat::kCsv;
  spec.train_file = allowed + "/train.csv";
  spec.test_file = allowed + "/test.csv";
  StatusOr<std::string> sha = DatasetSha256(spec);
  ASSERT_TRUE(sha.ok()) << sha.status().ToString();
  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  pb::GetDatasetRequest get;
  get.set_sha256(*sha);
  auto reader = stub_->GetDataset(&ctx, get);
  std::map<std::string, std::string> got;
  pb::DatasetChunk chunk;
  while (reader->Read(&chunk)) got[chunk.part()] += chunk.data();
  grpc::Status s = reader->Finish();
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_TRUE(swapped);
  EXPECT_EQ(got["train"], rows);
  EXPECT_EQ(got["test"], rows);  // the file hashed, not the link's target
  EXPECT_EQ(got["test"].find("TOPSECRET"), std::string::npos);
  // Asked again, the link is not followed: refused, and nothing of the secret is sent.
  grpc::ClientContext again_ctx;
  SetDeadline(&again_ctx);
  auto again = stub_->GetDataset(&again_ctx, get);
  std::string bytes;
  while (again->Read(&chunk)) bytes += chunk.data();
  grpc::Status refused = again->Finish();
  EXPECT_FALSE(refused.ok());
  EXPECT_EQ(bytes.find("TOPSECRET"), std::string::npos);
  EXPECT_EQ(refused.error_message().find("TOPSECRET"), std::string::npos);
}

// Checkpoints are written by name into <db>.checkpoints: a link planted there (to redirect them)
// stops the coordinator from starting, and nothing is written through it.
TEST_F(ServiceTest, CheckpointFolderThatIsALinkIsRefused) {
  server_->Shutdown();
  const std::string elsewhere = dir_.File("elsewhere");
  std::filesystem::create_directories(elsewhere);
  const std::string db = dir_.File("linked.db");
  std::filesystem::create_directory_symlink(elsewhere, db + ".checkpoints");
  CoordinatorOptions options;
  options.listen = "127.0.0.1:0";
  options.db_path = db;
  server_ = std::make_unique<CoordinatorServer>();
  Status s = server_->Start(options);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s.ToString();
  EXPECT_NE(s.message().find(db + ".checkpoints: not a folder"), std::string::npos)
      << s.message();
  EXPECT_TRUE(std::filesystem::is_empty(elsewhere));
  server_ = std::make_unique<CoordinatorServer>();  // (TearDown shuts a fresh one down)
  options.db_path = dir_.File("plain.db");
  ASSERT_TRUE(server_->Start(options).ok());
}

// A bayes sweep over gRPC: the response and status name max_trials and the trials not yet
// proposed; proposals (made at lease time) obey the coordinator's --max-model-params.
TEST_F(ServiceTest, BayesSweepIsProposedAtLeaseTimeWithinTheLimits) {
  server_->Shutdown();
  CoordinatorOptions options;
  options.listen = "127.0.0.1:0";
  options.db_path = dir_.File("bayes.db");
  options.sweep_limits.max_params = 100000;
  server_ = std::make_unique<CoordinatorServer>();
  ASSERT_TRUE(server_->Start(options).ok());
  stub_ = pb::Coordinator::NewStub(grpc::CreateChannel(
      "127.0.0.1:" + std::to_string(server_->port()), grpc::InsecureChannelCredentials()));

  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  pb::SubmitSweepRequest req;
  req.set_file_name("bayes.yaml");
  req.set_yaml(
      "name: b\nmethod: bayes\nmax_trials: 4\nbayes: {n_startup_trials: 2}\n"
      "fixed: {cell: lstm, epochs: 1}\nparameters:\n"
      "  units: {distribution: int_uniform, min: 8, max: 1024}\n"
      "  layers: {distribution: int_uniform, min: 1, max: 4}\n");
  pb::SubmitSweepResponse resp;
  grpc::Status s = stub_->SubmitSweep(&ctx, req, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(resp.trials(), 4);
  pb::SweepStatus st = GetStatus(resp.sweep_id()).sweeps(0);
  EXPECT_EQ(st.total(), 4);
  EXPECT_EQ(st.unproposed(), 4);
  EXPECT_EQ(st.queued(), 0);

  for (int n = 1; n <= 4; ++n) {  // (a worker each: a worker holds one lease at a time)
    pb::LeaseTrialResponse lease = Lease(MustRegister("w" + std::to_string(n)));
    ASSERT_TRUE(lease.has_trial());
    EXPECT_EQ(lease.trial().number(), n);
    TrialConfig config;
    for (const auto& [key, value] : lease.trial().params()) {
      ASSERT_TRUE(ApplyKey(key, value, &config).ok()) << key << "=" << value;
    }
    EXPECT_LE(ParamCount(config), 100000) << "trial " << n;
    EXPECT_EQ(GetStatus(resp.sweep_id()).sweeps(0).unproposed(), 4 - n);
  }
}

}  // namespace
}  // namespace hpsweep::service_test
