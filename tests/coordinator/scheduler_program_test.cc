// Tests of program sweeps (docs/programs.md) through coordinator/scheduler.h: their trials go
// only to workers that offer the program (and a sweep no live worker offers says why), named
// metrics are checked, stored and rank the trials (negative values too), a resumed attempt's
// history keeps the epochs stored before it, and Hyperband prunes on the named metric.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "coordinator/scheduler.h"
#include "coordinator/store/storage.h"
#include "search/sweep_file.h"
#include "tests/coordinator/test_util.h"

namespace hpsweep::scheduler_program_test {
namespace {

constexpr double kLease = 30;

int64_t MustSubmit(Scheduler& s, const std::string& yaml) {
  StatusOr<PreparedSweep> p = PrepareSweep(yaml, "prog.yaml");
  EXPECT_TRUE(p.ok()) << p.status().ToString();
  if (!p.ok()) return 0;
  StatusOr<int64_t> id = s.Submit(p->spec, p->trials, yaml, "prog.yaml");
  EXPECT_TRUE(id.ok()) << id.status().ToString();
  return id.ok() ? *id : 0;
}

SweepCounts CountsOf(Scheduler& s, int64_t sweep_id) {
  std::vector<SweepCounts> c = s.Counts(sweep_id);
  EXPECT_EQ(c.size(), 1u);
  return c.empty() ? SweepCounts{} : c[0];
}

// A program epoch: the named metric `score`, nothing else.
EpochReport Epoch(int epoch, double score) {
  EpochReport r;
  r.epoch = epoch;
  r.train_loss = r.train_accuracy = r.val_loss = r.val_accuracy = -1;
  r.seconds = 1;
  r.metrics = {{"score", score}};
  return r;
}

class SchedulerProgramTest : public ::testing::Test {
 protected:
  void SetUp() override {
    storage_ = MustOpen(":memory:");
    ASSERT_NE(storage_, nullptr);
    SchedulerOptions options;
    options.lease_seconds = kLease;
    sched_ = std::make_unique<Scheduler>(storage_.get(), &clock_, options);
    ASSERT_TRUE(sched_->Load().ok());
  }
  int64_t Register(const std::string& name, std::vector<std::string> programs) {
    auto id = sched_->RegisterWorker(name, 1, "", "", "", programs);
    EXPECT_TRUE(id.ok()) << id.status().ToString();
    return id.ok() ? *id : 0;
  }
  LeaseGrant MustLease(int64_t worker) {
    auto g = sched_->Lease(worker);
    EXPECT_TRUE(g.ok() && g->has_value()) << (g.ok() ? "nothing leased" : g.status().ToString());
    return g.ok() && g->has_value() ? **g : LeaseGrant{};
  }
  // Runs a leased trial's epochs and completes it.
  void Finish(const LeaseGrant& g, std::vector<double> scores) {
    Completion c;
    for (size_t i = 0; i < scores.size(); ++i) {
      c.history.push_back(Epoch(static_cast<int>(i) + 1, scores[i]));
    }
    Status s = sched_->Complete(g.lease_id, c);
    EXPECT_TRUE(s.ok()) << s.ToString();
  }

  FakeClock clock_;
  std::unique_ptr<Storage> storage_;
  std::unique_ptr<Scheduler> sched_;
};

constexpr char kSweep[] = R"(name: prog
program: quad
metric: {name: score, goal: maximize}
fixed: {epochs: 2, lr: 0.1}
parameters:
  x: {values: [-3, 1, 2]}
)";

TEST_F(SchedulerProgramTest, OnlyAWorkerThatOffersTheProgramLeasesItsTrials) {
  const int64_t sweep = MustSubmit(*sched_, kSweep);
  const int64_t plain = Register("plain", {});
  const int64_t other = Register("other", {"not-quad"});
  for (int64_t w : {plain, other}) {
    auto g = sched_->Lease(w);
    ASSERT_TRUE(g.ok()) << g.status().ToString();
    EXPECT_FALSE(g->has_value()) << "a worker that does not offer quad leased its trial";
  }
  EXPECT_NE(CountsOf(*sched_, sweep).waiting.find("no live worker offers program 'quad'"),
            std::string::npos)
      << CountsOf(*sched_, sweep).waiting;
  const int64_t offering = Register("offering", {"quad"});
  EXPECT_EQ(CountsOf(*sched_, sweep).waiting, "");
  LeaseGrant g = MustLease(offering);
  EXPECT_EQ(g.sweep.program, "quad");
  // Its params are the file's keys as written: fixed and axes, nothing of the engine's.
  EXPECT_EQ(g.trial.params, (std::map<std::string, std::string>{
                                {"epochs", "2"}, {"lr", "0.1"}, {"x", "-3"}}));
  // An engine sweep still goes to any worker.
  const int64_t engine = MustSubmit(
      *sched_, "name: e\nfixed: {cell: dense, units: 4, epochs: 1}\nparameters:\n  layers: "
               "{values: [1]}\n");
  LeaseGrant e = MustLease(plain);
  EXPECT_EQ(e.trial.sweep_id, engine);
}

TEST_F(SchedulerProgramTest, NamedMetricsRankTheTrialsNegativeValuesToo) {
  const int64_t sweep = MustSubmit(*sched_, kSweep);
  const int64_t w = Register("w", {"quad"});
  Finish(MustLease(w), {-5, -4});   // best -4
  Finish(MustLease(w), {-9, -0.5});  // best -0.5
  Finish(MustLease(w), {-2, -3});   // best -2, at epoch 1
  auto rows = storage_->Leaderboard(sweep, "score", true, 0);
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  ASSERT_EQ(rows->size(), 3u);
  EXPECT_EQ((*rows)[0].metric_value, -0.5);
  EXPECT_EQ((*rows)[1].metric_value, -2);
  EXPECT_EQ((*rows)[1].best_epoch, 1);
  EXPECT_EQ((*rows)[2].metric_value, -4);
  EXPECT_EQ(CountsOf(*sched_, sweep).best, -0.5);
  // The epochs keep their metrics by name.
  auto epochs = storage_->LoadEpochs((*rows)[0].id);
  ASSERT_TRUE(epochs.ok());
  ASSERT_EQ(epochs->size(), 2u);
  EXPECT_EQ((*epochs)[1].metrics.at("score"), -0.5);
  EXPECT_EQ((*epochs)[1].val_accuracy, -1);
}

TEST_F(SchedulerProgramTest, BadNamedMetricsAreRefusedAndTheLeaseStaysGood) {
  MustSubmit(*sched_, kSweep);
  const int64_t w = Register("w", {"quad"});
  LeaseGrant g = MustLease(w);
  double deadline = 0;
  EpochReport nan = Epoch(1, std::nan(""));
  auto r = sched_->Report(g.lease_id, nan, &deadline);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("metrics.score"), std::string::npos) << r.status().ToString();
  EpochReport many = Epoch(1, 1);
  for (int i = 0; i < 100; ++i) many.metrics["m" + std::to_string(i)] = 1;
  r = sched_->Report(g.lease_id, many, &deadline);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("the limit is 64"), std::string::npos);
  EpochReport name = Epoch(1, 1);
  name.metrics["bad name"] = 1;
  r = sched_->Report(g.lease_id, name, &deadline);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EpochReport accuracy = Epoch(1, 1);
  accuracy.val_accuracy = 1.5;
  r = sched_->Report(g.lease_id, accuracy, &deadline);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  r = sched_->Report(g.lease_id, Epoch(1, 0.25), &deadline);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  // A model is not a program's to send.
  Completion c;
  c.history = {Epoch(1, 0.25), Epoch(2, 0.5)};
  c.model = "bytes";
  EXPECT_EQ(sched_->Complete(g.lease_id, c).code(), StatusCode::kInvalidArgument);
  c.model.clear();
  c.final_metrics = {{"test_score", 0.75}};
  ASSERT_TRUE(sched_->Complete(g.lease_id, c).ok());
  auto trials = storage_->LoadTrials(0);
  ASSERT_TRUE(trials.ok());
  EXPECT_EQ((*trials)[0].final_metrics.at("test_score"), 0.75);
  EXPECT_EQ((*trials)[0].metric_value, 0.5);
}

TEST_F(SchedulerProgramTest, AnEngineTrialTakesNoNamedMetrics) {
  MustSubmit(*sched_,
             "name: e\nfixed: {cell: dense, units: 4, epochs: 1}\nparameters:\n  layers: "
             "{values: [1]}\n");
  const int64_t w = Register("w", {});
  LeaseGrant g = MustLease(w);
  EpochReport r = Epoch(1, 1);
  r.val_accuracy = 0.5;
  r.val_loss = r.train_loss = 0.5;
  r.train_accuracy = 0.5;
  double deadline = 0;
  EXPECT_EQ(sched_->Report(g.lease_id, r, &deadline).status().code(),
            StatusCode::kInvalidArgument);
}

// An engine trial with task: regression (README.md, "Regression") reports val_mse and val_mae as
// named metrics and test_mse and test_mae as final ones, and no accuracy; nothing else named.
TEST_F(SchedulerProgramTest, ARegressionTrialReportsItsFourNamedMetricsOnly) {
  const std::string dir = ::testing::TempDir();
  for (const char* f : {"reg_train.csv", "reg_test.csv"}) {
    FILE* out = std::fopen((dir + "/" + f).c_str(), "w");
    ASSERT_NE(out, nullptr);
    std::fputs("0.5,1,2\n-1.25,3,4\n", out);
    std::fclose(out);
  }
  const std::string yaml = "data: {format: csv, train: " + dir + "/reg_train.csv, test: " + dir +
                           "/reg_test.csv}\nfixed: {task: regression, cell: dense, units: 4, "
                           "epochs: 2}\n";
  const int64_t sweep = MustSubmit(*sched_, "name: r\n" + yaml);
  ASSERT_GT(sweep, 0);
  const int64_t w = Register("w", {});
  LeaseGrant g = MustLease(w);
  auto epoch = [](int n, double mse) {
    EpochReport r;
    r.epoch = n;
    r.train_loss = r.val_loss = mse;
    r.train_accuracy = r.val_accuracy = -1;
    r.seconds = 1;
    r.metrics = {{"val_mse", mse}, {"val_mae", 2 * mse}};
    return r;
  };
  double deadline = 0;
  EpochReport bad = epoch(1, 0.5);
  bad.metrics["score"] = 1;  // a program's name: not a regression trial's
  auto r = sched_->Report(g.lease_id, bad, &deadline);
  EXPECT_NE(r.status().message().find("a regression trial reports val_mse and val_mae"),
            std::string::npos)
      << r.status().ToString();
  bad = epoch(1, 0.5);
  bad.val_accuracy = 0.5;
  EXPECT_EQ(sched_->Report(g.lease_id, bad, &deadline).status().code(),
            StatusCode::kInvalidArgument);
  bad = epoch(1, -0.5);  // an error is never negative
  EXPECT_EQ(sched_->Report(g.lease_id, bad, &deadline).status().code(),
            StatusCode::kInvalidArgument);
  ASSERT_TRUE(sched_->Report(g.lease_id, epoch(1, 0.5), &deadline).ok());
  Completion c;
  c.history = {epoch(1, 0.5), epoch(2, 0.25)};
  c.test_loss = 0.3;
  c.test_accuracy = 0.9;  // no accuracy for regression
  c.final_metrics = {{"test_mse", 0.3}, {"test_mae", 0.4}};
  EXPECT_EQ(sched_->Complete(g.lease_id, c).code(), StatusCode::kInvalidArgument);
  c.test_accuracy = -1;
  c.final_metrics["val_mse"] = 0.1;  // an epoch's metric, not the test pass's
  EXPECT_EQ(sched_->Complete(g.lease_id, c).code(), StatusCode::kInvalidArgument);
  c.final_metrics.erase("val_mse");
  ASSERT_TRUE(sched_->Complete(g.lease_id, c).ok());
  auto rows = storage_->Leaderboard(sweep, "val_mse", false, 0);
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].metric_value, 0.25);  // the best epoch's val_mse
  EXPECT_EQ((*rows)[0].best_epoch, 2);
  EXPECT_EQ((*rows)[0].final_metrics.at("test_mse"), 0.3);
  EXPECT_EQ(CountsOf(*sched_, sweep).best, 0.25);

  // The same trial again with reuse: copied, with its value and its test metrics.
  const int64_t again = MustSubmit(*sched_, "name: r2\nreuse: true\n" + yaml);
  auto none = sched_->Lease(w);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());  // nothing left to train
  rows = storage_->Leaderboard(again, "val_mse", false, 0);
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_FALSE((*rows)[0].reused_from.empty());
  EXPECT_EQ((*rows)[0].metric_value, 0.25);
  EXPECT_EQ((*rows)[0].final_metrics.at("test_mae"), 0.4);
  // Ranked by test_mse instead: the copy's value is its test_mse.
  const int64_t by_test =
      MustSubmit(*sched_, "name: r3\nreuse: true\nmetric: {name: test_mse}\n" + yaml);
  ASSERT_TRUE(sched_->Lease(w).ok());
  rows = storage_->Leaderboard(by_test, "test_mse", false, 0);
  ASSERT_TRUE(rows.ok() && rows->size() == 1u);
  EXPECT_EQ((*rows)[0].metric_value, 0.3);
}

// A resumed attempt's completion carries only its own epochs: those stored before are kept.
TEST_F(SchedulerProgramTest, AResumedAttemptsHistoryKeepsTheEpochsStoredBefore) {
  MustSubmit(*sched_, "name: prog\nprogram: quad\nmetric: {name: score, goal: minimize}\n"
                      "fixed: {epochs: 4}\nparameters:\n  x: {values: [1]}\n");
  const int64_t w = Register("w", {"quad"});
  LeaseGrant g = MustLease(w);
  double deadline = 0;
  ASSERT_TRUE(sched_->Report(g.lease_id, Epoch(1, 0.9), &deadline).ok());
  ASSERT_TRUE(sched_->Report(g.lease_id, Epoch(2, 0.3), &deadline).ok());
  Completion c;
  c.history = {Epoch(4, 0.5)};  // a gap: epoch 3 is missing
  EXPECT_EQ(sched_->Complete(g.lease_id, c).code(), StatusCode::kInvalidArgument);
  c.history = {Epoch(3, 0.4), Epoch(4, 0.5)};
  ASSERT_TRUE(sched_->Complete(g.lease_id, c).ok());
  auto trials = storage_->LoadTrials(0);
  ASSERT_TRUE(trials.ok());
  EXPECT_EQ((*trials)[0].epochs_run, 4);
  EXPECT_EQ((*trials)[0].metric_value, 0.3);  // minimized: epoch 2's
  EXPECT_EQ((*trials)[0].best_epoch, 2);
  auto epochs = storage_->LoadEpochs((*trials)[0].id);
  ASSERT_TRUE(epochs.ok());
  EXPECT_EQ(epochs->size(), 4u);
}

TEST_F(SchedulerProgramTest, HyperbandPrunesOnTheNamedMetric) {
  MustSubmit(*sched_, "name: prog\nprogram: quad\nmetric: {name: score, goal: maximize}\n"
                      "early_terminate: {type: hyperband, min_iter: 1, eta: 3}\n"
                      "fixed: {epochs: 4}\nparameters:\n  x: {values: [1, 2, 3]}\n");
  const int64_t w = Register("w", {"quad"});
  LeaseGrant first = MustLease(w);
  double deadline = 0;
  ASSERT_TRUE(sched_->Report(first.lease_id, Epoch(1, 10), &deadline).ok());
  Finish(first, {10, 11, 12, 13});
  LeaseGrant second = MustLease(w);
  auto action = sched_->Report(second.lease_id, Epoch(1, -7), &deadline);
  ASSERT_TRUE(action.ok()) << action.status().ToString();
  EXPECT_EQ(*action, ReportAction::kPrune);
}

// A program's output is kept under its trial's last lease only, and at most kMaxOutputBytes.
TEST_F(SchedulerProgramTest, OutputIsBoundedAndNeedsTheTrialsLease) {
  MustSubmit(*sched_, kSweep);
  const int64_t w = Register("w", {"quad"});
  LeaseGrant g = MustLease(w);
  EXPECT_EQ(sched_->KeepOutput(g.lease_id, std::string(kMaxOutputBytes + 1, 'x')).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(sched_->KeepOutput("forged-lease", "hello").code(), StatusCode::kFailedPrecondition);
  EXPECT_FALSE(sched_->GetOutput(g.trial.id).ok());  // nothing was kept by the refusals
  ASSERT_TRUE(sched_->KeepOutput(g.lease_id, std::string(kMaxOutputBytes, 'y')).ok());
  auto kept = sched_->GetOutput(g.trial.id);
  ASSERT_TRUE(kept.ok()) << kept.status().ToString();
  EXPECT_EQ(kept->size(), kMaxOutputBytes);
}

TEST_F(SchedulerProgramTest, ProgramNamesAWorkerOffersAreChecked) {
  EXPECT_EQ(sched_->RegisterWorker("w", 1, "", "", "", {"../x"}).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(sched_->RegisterWorker("w", 1, "", "", "", std::vector<std::string>(65, "p"))
                .status()
                .code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace hpsweep::scheduler_program_test
