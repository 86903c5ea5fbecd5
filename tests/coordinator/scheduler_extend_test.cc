// Extending a sweep (coordinator/scheduler_extend.cc): a finished bayes or random sweep given a
// larger max_trials runs again and its sampler goes on from its history, numbering on; the limit
// is stored and kept across a restart; grid, list and cancelled sweeps, a limit not larger, an
// unknown sweep and an exhausted space are refused and change nothing.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "coordinator/scheduler.h"
#include "coordinator/store/storage.h"
#include "search/sampler.h"
#include "search/sweep_file.h"
#include "tests/coordinator/test_util.h"

namespace hpsweep::scheduler_extend_test {
namespace {

constexpr double kLease = 30;

// A sweep over two continuous axes (bayes: TPE after 2 random trials).
std::string Yaml(const std::string& method, int max_trials) {
  return "name: grow\nmethod: " + method + "\nmax_trials: " + std::to_string(max_trials) +
         "\nseed: 7\n" + (method == "bayes" ? "bayes: {n_startup_trials: 2}\n" : "") +
         "metric: {name: val_accuracy, goal: maximize}\nfixed:\n  cell: lstm\n  epochs: 1\n"
         "  units: 8\nparameters:\n"
         "  learning_rate: {distribution: log_uniform, min: 1.0e-4, max: 1.0e-1}\n"
         "  dropout: {distribution: uniform, min: 0.0, max: 0.5}\n";
}

// A one-epoch completion whose value depends on the point (best near learning_rate 0.01).
Completion CompletionFor(const LeaseGrant& g) {
  const double lr = std::stod(g.trial.params.at("learning_rate"));
  const double v = 0.95 - 0.05 * std::fabs(std::log10(lr) + 2);
  Completion c;
  EpochReport e;
  e.epoch = 1;
  e.train_loss = 0.5;
  e.train_accuracy = v;
  e.val_loss = 1 - v;
  e.val_accuracy = v;
  e.seconds = 1;
  c.history = {e};
  c.seconds = 1;
  c.weights_epoch = 1;
  return c;
}

class SchedulerExtendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    storage_ = MustOpen(":memory:");
    ASSERT_NE(storage_, nullptr);
    Start();
  }
  void Start() {  // (again: a restart over the same storage, as after a kill -9)
    sched_.reset();
    SchedulerOptions options;
    options.lease_seconds = kLease;
    sched_ = std::make_unique<Scheduler>(storage_.get(), &clock_, options);
    ASSERT_TRUE(sched_->Load().ok());
    auto w = sched_->RegisterWorker("w1", 1);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    worker_ = *w;
  }
  int64_t Submit(const std::string& yaml) {
    StatusOr<SweepSpec> spec = ParseSweep(yaml, "g.yaml");
    EXPECT_TRUE(spec.ok()) << spec.status().ToString();
    std::vector<TrialSpec> plan;
    if (spec->method != SweepMethod::kBayes) {
      StatusOr<std::vector<TrialSpec>> p = ExpandSweep(*spec, "g.yaml");
      EXPECT_TRUE(p.ok()) << p.status().ToString();
      plan = *p;
    }
    StatusOr<int64_t> id = sched_->Submit(*spec, plan, yaml, "g.yaml");
    EXPECT_TRUE(id.ok()) << id.status().ToString();
    return id.ok() ? *id : 0;
  }
  std::optional<LeaseGrant> Lease() {
    auto g = sched_->Lease(worker_);
    EXPECT_TRUE(g.ok()) << g.status().ToString();
    return g.ok() ? *g : std::nullopt;
  }
  // Trains every trial there is to lease; returns how many.
  int RunAll() {
    int n = 0;
    while (std::optional<LeaseGrant> g = Lease()) {
      EXPECT_TRUE(sched_->Complete(g->lease_id, CompletionFor(*g)).ok());
      ++n;
    }
    return n;
  }
  SweepCounts CountsOf(int64_t id) {
    std::vector<SweepCounts> c = sched_->Counts(id);
    EXPECT_EQ(c.size(), 1u);
    return c.empty() ? SweepCounts() : c[0];
  }
  SweepRow Stored(int64_t id) {
    StatusOr<std::vector<SweepRow>> rows = storage_->LoadSweeps();
    EXPECT_TRUE(rows.ok());
    for (const SweepRow& r : *rows) {
      if (r.id == id) return r;
    }
    ADD_FAILURE() << "no sweep " << id;
    return SweepRow();
  }
  std::vector<TrialRow> TrialsOf(int64_t id) {
    StatusOr<std::vector<TrialRow>> t = storage_->LoadTrials(id);
    EXPECT_TRUE(t.ok());
    return t.ok() ? *t : std::vector<TrialRow>();
  }

  FakeClock clock_;
  std::unique_ptr<Storage> storage_;
  std::unique_ptr<Scheduler> sched_;
  int64_t worker_ = 0;
};

// A completed bayes sweep extended from 4 to 7 runs again: trials #5-#7 are TPE's proposals from
// the 4 before (the sampler a fresh sweep of max_trials 7 would make, given that history), then it
// completes with 7.
TEST_F(SchedulerExtendTest, BayesGoesOnFromItsHistory) {
  const int64_t id = Submit(Yaml("bayes", 4));
  EXPECT_EQ(RunAll(), 4);
  EXPECT_EQ(CountsOf(id).sweep.state, SweepState::kCompleted);

  StatusOr<SweepRow> sw = sched_->Extend(id, 7);
  ASSERT_TRUE(sw.ok()) << sw.status().ToString();
  EXPECT_EQ(sw->max_trials, 7);
  EXPECT_EQ(sw->total, 7);
  EXPECT_EQ(sw->state, SweepState::kRunning);
  SweepCounts c = CountsOf(id);
  EXPECT_EQ(c.sweep.state, SweepState::kRunning);
  EXPECT_EQ(c.sweep.total, 7);
  EXPECT_EQ(c.completed, 4);
  EXPECT_EQ(c.unproposed, 3);

  std::optional<LeaseGrant> g = Lease();
  ASSERT_TRUE(g.has_value());
  EXPECT_EQ(g->trial.number, 5);
  StatusOr<SweepSpec> spec = ParseSweep(Yaml("bayes", 7), "g.yaml");
  ASSERT_TRUE(spec.ok());
  auto sampler = MakeSampler(*spec, "g.yaml");
  ASSERT_TRUE(sampler.ok());
  std::vector<TrialRow> history = TrialsOf(id);
  std::vector<const TrialRow*> rows;
  for (const TrialRow& t : history) {
    if (t.number < 5) rows.push_back(&t);
  }
  ASSERT_EQ(rows.size(), 4u);
  StatusOr<TrialSpec> expected = (*sampler)->Propose(5, rows);
  ASSERT_TRUE(expected.ok());
  EXPECT_EQ(g->trial.params, expected->params);
  ASSERT_TRUE(sched_->Complete(g->lease_id, CompletionFor(*g)).ok());
  EXPECT_EQ(RunAll(), 2);
  c = CountsOf(id);
  EXPECT_EQ(c.sweep.state, SweepState::kCompleted);
  EXPECT_EQ(c.completed, 7);
  EXPECT_EQ(c.unproposed, 0);
  std::vector<int> numbers;
  for (const TrialRow& t : TrialsOf(id)) numbers.push_back(t.number);
  EXPECT_EQ(numbers, (std::vector<int>{1, 2, 3, 4, 5, 6, 7}));
}

// A random sweep extended from 3 to 6 draws on from the same stream: its 6 trials are the plan of
// a random sweep of max_trials 6, the first 3 unchanged.
TEST_F(SchedulerExtendTest, RandomDrawsOnFromTheSameStream) {
  const int64_t id = Submit(Yaml("random", 3));
  EXPECT_EQ(RunAll(), 3);
  ASSERT_TRUE(sched_->Extend(id, 6).ok());
  EXPECT_EQ(CountsOf(id).unproposed, 3);
  EXPECT_EQ(RunAll(), 3);
  StatusOr<SweepSpec> spec = ParseSweep(Yaml("random", 6), "g.yaml");
  ASSERT_TRUE(spec.ok());
  StatusOr<std::vector<TrialSpec>> plan = ExpandSweep(*spec, "g.yaml");
  ASSERT_TRUE(plan.ok());
  std::vector<TrialRow> trials = TrialsOf(id);
  ASSERT_EQ(trials.size(), 6u);
  for (size_t i = 0; i < trials.size(); ++i) {
    EXPECT_EQ(trials[i].number, static_cast<int>(i) + 1);
    EXPECT_EQ(trials[i].params, (*plan)[i].params) << "trial #" << i + 1;
  }
  EXPECT_EQ(CountsOf(id).sweep.state, SweepState::kCompleted);
}

// The extended limit is stored: a coordinator restarted (a new scheduler over the same storage,
// as after kill -9) before the new trials keeps it, and so does one restarted in their middle.
TEST_F(SchedulerExtendTest, ARestartKeepsTheExtendedLimit) {
  const int64_t id = Submit(Yaml("bayes", 3));
  EXPECT_EQ(RunAll(), 3);
  ASSERT_TRUE(sched_->Extend(id, 6).ok());
  EXPECT_EQ(Stored(id).max_trials, 6);
  EXPECT_EQ(Stored(id).total, 6);
  EXPECT_EQ(Stored(id).state, SweepState::kRunning);
  Start();
  SweepCounts c = CountsOf(id);
  EXPECT_EQ(c.sweep.state, SweepState::kRunning);
  EXPECT_EQ(c.sweep.max_trials, 6);
  EXPECT_EQ(c.unproposed, 3);
  std::optional<LeaseGrant> g = Lease();
  ASSERT_TRUE(g.has_value());
  EXPECT_EQ(g->trial.number, 4);
  ASSERT_TRUE(sched_->Complete(g->lease_id, CompletionFor(*g)).ok());
  Start();  // (again, with one of the new trials done)
  EXPECT_EQ(CountsOf(id).unproposed, 2);
  EXPECT_EQ(RunAll(), 2);
  EXPECT_EQ(CountsOf(id).completed, 6);
  EXPECT_EQ(CountsOf(id).sweep.state, SweepState::kCompleted);
  // Extended again, from the stored limit (not the file's 3).
  EXPECT_EQ(sched_->Extend(id, 6).status().code(), StatusCode::kInvalidArgument);
  ASSERT_TRUE(sched_->Extend(id, 8).ok());
  Start();
  EXPECT_EQ(RunAll(), 2);
  EXPECT_EQ(CountsOf(id).completed, 8);
}

// A running sweep (trials still to propose) is extended in place: it just goes on further.
TEST_F(SchedulerExtendTest, ARunningSweepGoesOnFurther) {
  const int64_t id = Submit(Yaml("random", 4));
  std::optional<LeaseGrant> g = Lease();
  ASSERT_TRUE(g.has_value());
  ASSERT_TRUE(sched_->Extend(id, 5).ok());
  ASSERT_TRUE(sched_->Complete(g->lease_id, CompletionFor(*g)).ok());
  EXPECT_EQ(CountsOf(id).unproposed, 4);
  EXPECT_EQ(RunAll(), 4);
  EXPECT_EQ(CountsOf(id).completed, 5);
}

// Every refusal says why and changes nothing: in memory, in storage, after a restart.
TEST_F(SchedulerExtendTest, RefusalsChangeNothing) {
  const int64_t bayes = Submit(Yaml("bayes", 2));
  EXPECT_EQ(RunAll(), 2);
  const int64_t grid = Submit(
      "name: g\nmethod: grid\nfixed: {cell: lstm, epochs: 1, units: 8}\n"
      "parameters:\n  learning_rate: {values: [0.01, 0.001]}\n");
  EXPECT_EQ(RunAll(), 2);
  const int64_t list = Submit(
      "name: l\nmethod: list\nfixed: {cell: lstm, epochs: 1}\ntrials:\n  - {units: 8}\n");
  EXPECT_EQ(RunAll(), 1);
  const int64_t cancelled = Submit(Yaml("random", 3));
  ASSERT_TRUE(sched_->Cancel(cancelled).ok());
  // A finite space (two values) that max_trials 2 covers already.
  const int64_t finite = Submit(
      "name: f\nmethod: bayes\nmax_trials: 2\nfixed: {cell: lstm, epochs: 1}\n"
      "parameters:\n  units: {values: [8, 16]}\n");
  EXPECT_EQ(RunAll(), 2);

  struct Case {
    int64_t sweep;
    int max_trials;
    StatusCode code;
    std::string says;
  };
  const std::vector<Case> cases = {
      {grid, 10, StatusCode::kFailedPrecondition, "grid sweep"},
      {list, 10, StatusCode::kFailedPrecondition, "list sweep"},
      {cancelled, 10, StatusCode::kFailedPrecondition, "cancelled"},
      {bayes, 2, StatusCode::kInvalidArgument, "not larger than the max_trials"},
      {bayes, 1, StatusCode::kInvalidArgument, "not larger"},
      {bayes, 0, StatusCode::kInvalidArgument, "1 to 10000"},
      {bayes, kMaxTrialsPerSweep + 1, StatusCode::kInvalidArgument, "1 to 10000"},
      {bayes + 1000, 10, StatusCode::kNotFound, "no sweep"},
      {finite, 5, StatusCode::kFailedPrecondition, "every one is proposed already"},
  };
  const std::vector<SweepCounts> before = sched_->Counts(0);
  for (const Case& k : cases) {
    SCOPED_TRACE("sweep " + std::to_string(k.sweep) + " to " + std::to_string(k.max_trials));
    StatusOr<SweepRow> r = sched_->Extend(k.sweep, k.max_trials);
    EXPECT_EQ(r.status().code(), k.code) << r.status().ToString();
    EXPECT_NE(r.status().message().find(k.says), std::string::npos) << r.status().message();
  }
  for (int restart = 0; restart < 2; ++restart) {
    const std::vector<SweepCounts> after = sched_->Counts(0);
    ASSERT_EQ(after.size(), before.size());
    for (size_t i = 0; i < after.size(); ++i) {
      EXPECT_EQ(after[i].sweep.state, before[i].sweep.state);
      EXPECT_EQ(after[i].sweep.total, before[i].sweep.total);
      EXPECT_EQ(after[i].sweep.max_trials, 0);
      EXPECT_EQ(after[i].unproposed, before[i].unproposed);
      EXPECT_EQ(Stored(after[i].sweep.id).max_trials, 0);
    }
    EXPECT_FALSE(Lease().has_value());
    Start();
  }
}

}  // namespace
}  // namespace hpsweep::scheduler_extend_test
