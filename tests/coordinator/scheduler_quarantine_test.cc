// Tests of quarantine (coordinator/scheduler.h, "Quarantine"): a worker whose last K attempts
// failed while its sweep's trials completed on another worker is leased nothing and the attempts
// it spent are given back (a trial it failed for good is queued again); a sweep that fails
// everywhere quarantines no one; ReleaseWorker and a registration with a new fingerprint lift
// it; it survives a restart; quarantine_after 0 turns it off; every live worker quarantined is
// said in Counts' waiting.
#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "coordinator/scheduler.h"
#include "coordinator/store/storage.h"
#include "search/sweep_file.h"
#include "tests/coordinator/test_util.h"

namespace hpsweep::scheduler_quarantine_test {
namespace {

constexpr double kLease = 30;

// A program sweep of n trials (x = 1..n), one epoch each.
std::string SweepYaml(int n, const std::string& extra = "") {
  std::string values;
  for (int i = 1; i <= n; ++i) values += (i > 1 ? ", " : "") + std::to_string(i);
  return "name: q\nprogram: p\nmetric: {name: score, goal: maximize}\nmax_attempts: 3\n" + extra +
         "fixed: {epochs: 1}\nparameters:\n  x: {values: [" + values + "]}\n";
}

class QuarantineTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(":memory:"); }
  void Open(const std::string& path) {
    sched_.reset();
    storage_ = MustOpen(path);
    ASSERT_NE(storage_, nullptr);
    SchedulerOptions options;
    options.lease_seconds = kLease;
    sched_ = std::make_unique<Scheduler>(storage_.get(), &clock_, options);
    ASSERT_TRUE(sched_->Load().ok());
  }
  int64_t Submit(const std::string& yaml) {
    StatusOr<PreparedSweep> p = PrepareSweep(yaml, "q.yaml");
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    if (!p.ok()) return 0;
    StatusOr<int64_t> id = sched_->Submit(p->spec, p->trials, yaml, "q.yaml");
    EXPECT_TRUE(id.ok()) << id.status().ToString();
    return id.ok() ? *id : 0;
  }
  int64_t Register(const std::string& name, const std::string& fingerprint = "fp1") {
    auto id = sched_->RegisterWorker(name, 1, "", "", "", {"p"}, false, fingerprint);
    EXPECT_TRUE(id.ok()) << id.status().ToString();
    return id.ok() ? *id : 0;
  }
  std::optional<LeaseGrant> Lease(int64_t worker) {
    auto g = sched_->Lease(worker);
    EXPECT_TRUE(g.ok()) << g.status().ToString();
    return g.ok() ? *g : std::nullopt;
  }
  LeaseGrant MustLease(int64_t worker) {
    std::optional<LeaseGrant> g = Lease(worker);
    EXPECT_TRUE(g.has_value()) << "nothing leased";
    return g.value_or(LeaseGrant{});
  }
  void Finish(const LeaseGrant& g) {
    Completion c;
    EpochReport r;
    r.epoch = 1;
    r.train_loss = r.train_accuracy = r.val_loss = r.val_accuracy = -1;
    r.metrics = {{"score", 1}};
    c.history.push_back(r);
    Status s = sched_->Complete(g.lease_id, c);
    EXPECT_TRUE(s.ok()) << s.ToString();
  }
  void FailIt(const LeaseGrant& g) {
    Status s = sched_->Fail(g.lease_id, "driver: no such device", false);
    EXPECT_TRUE(s.ok()) << s.ToString();
  }
  WorkerRow Worker(const std::string& name) {
    double now = 0;
    for (const WorkerView& v : sched_->ListWorkers(&now)) {
      if (v.worker.name == name) return v.worker;
    }
    ADD_FAILURE() << "no worker " << name;
    return {};
  }
  TrialRow Trial(int64_t id) {
    auto rows = storage_->LoadTrials(0);
    EXPECT_TRUE(rows.ok());
    for (const TrialRow& t : rows.ok() ? *rows : std::vector<TrialRow>{}) {
      if (t.id == id) return t;
    }
    ADD_FAILURE() << "no trial " << id;
    return {};
  }
  // `bad` fails, `good` completes a trial (while bad's streak runs), `bad` fails twice more
  // (k failures in all); the trial of bad's last failure.
  int64_t FailWhileGoodCompletes(int64_t good, int64_t bad, int k = 3) {
    clock_.Advance(1);
    FailIt(MustLease(bad));
    clock_.Advance(1);
    Finish(MustLease(good));
    int64_t last = 0;
    for (int i = 1; i < k; ++i) {
      clock_.Advance(1);
      const LeaseGrant g = MustLease(bad);
      last = g.trial.id;
      FailIt(g);
    }
    return last;
  }
  SweepCounts Counts(int64_t sweep) {
    std::vector<SweepCounts> c = sched_->Counts(sweep);
    EXPECT_EQ(c.size(), 1u);
    return c.empty() ? SweepCounts{} : c[0];
  }

  FakeClock clock_;
  std::unique_ptr<Storage> storage_;
  std::unique_ptr<Scheduler> sched_;
};

// The bad worker fails one trial three times (its max_attempts) before the good one completes
// anything: the trial fails, no quarantine yet. The good worker's completion then quarantines
// the bad one, and the failed trial is queued again with its attempts given back.
TEST_F(QuarantineTest, AfterKFailuresWhileTrialsCompleteElsewhere) {
  const int64_t sweep = Submit(SweepYaml(4));
  const int64_t good = Register("good"), bad = Register("bad");
  const LeaseGrant first = MustLease(good);
  int64_t failed_trial = 0;
  for (int i = 0; i < 3; ++i) {
    clock_.Advance(1);
    const LeaseGrant g = MustLease(bad);
    if (failed_trial == 0) failed_trial = g.trial.id;
    EXPECT_EQ(g.trial.id, failed_trial);  // (put back, it is leased first)
    FailIt(g);
  }
  EXPECT_EQ(Trial(failed_trial).status, TrialStatus::kFailed);
  EXPECT_TRUE(Worker("bad").quarantine.empty());  // nothing completed elsewhere yet
  clock_.Advance(1);
  Finish(first);
  const WorkerRow q = Worker("bad");
  EXPECT_NE(q.quarantine.find("last 3 attempts failed"), std::string::npos) << q.quarantine;
  EXPECT_NE(q.quarantine.find("driver: no such device"), std::string::npos) << q.quarantine;
  EXPECT_GT(q.quarantined_at, 0);
  const TrialRow back = Trial(failed_trial);
  EXPECT_EQ(back.status, TrialStatus::kQueued);
  EXPECT_EQ(back.attempts, 0);
  EXPECT_NE(back.error.find("quarantined"), std::string::npos) << back.error;
  EXPECT_FALSE(Lease(bad).has_value());  // leased nothing
  const LeaseGrant again = MustLease(good);
  EXPECT_EQ(again.trial.id, failed_trial);
  EXPECT_EQ(again.trial.attempts, 1);
  Finish(again);
  for (int i = 0; i < 2; ++i) Finish(MustLease(good));
  const SweepCounts c = Counts(sweep);
  EXPECT_EQ(c.completed, 4);
  EXPECT_EQ(c.failed, 0);
  EXPECT_EQ(c.sweep.state, SweepState::kCompleted);
}

// A failure that completes the streak after a trial completed elsewhere during it quarantines at
// once and is itself given back: the trial is not failed, and no attempt of it is charged.
TEST_F(QuarantineTest, TheFailureThatQuarantinesIsGivenBackToo) {
  Submit(SweepYaml(4));
  const int64_t good = Register("good"), bad = Register("bad");
  const int64_t trial = FailWhileGoodCompletes(good, bad);
  EXPECT_FALSE(Worker("bad").quarantine.empty());
  EXPECT_EQ(Trial(trial).status, TrialStatus::kQueued);
  EXPECT_EQ(Trial(trial).attempts, 0);
  EXPECT_EQ(Worker("bad").trials_failed, 3);  // (its failures are still counted on it)
}

// A sweep whose trials fail on every worker completes nowhere: nobody is quarantined, and its
// trials fail as they would without quarantine.
TEST_F(QuarantineTest, NotWhenTheSweepFailsEverywhere) {
  const int64_t sweep = Submit(SweepYaml(2));
  const int64_t a = Register("a"), b = Register("b");
  for (int i = 0; i < 6; ++i) {
    clock_.Advance(1);
    FailIt(MustLease(i % 2 ? a : b));
  }
  EXPECT_TRUE(Worker("a").quarantine.empty());
  EXPECT_TRUE(Worker("b").quarantine.empty());
  const SweepCounts c = Counts(sweep);
  EXPECT_EQ(c.failed, 2);
  EXPECT_EQ(c.sweep.state, SweepState::kCompleted);
  EXPECT_TRUE(c.waiting.empty());
}

// A completion by the worker itself ends its streak: two failures, a completion, two failures
// (with completions elsewhere all along) quarantine no one; without the reset they would.
TEST_F(QuarantineTest, ACompletionEndsTheStreak) {
  Submit(SweepYaml(8));
  const int64_t good = Register("good"), flaky = Register("flaky");
  for (int round = 0; round < 2; ++round) {
    for (int i = 0; i < 2; ++i) {
      clock_.Advance(1);
      FailIt(MustLease(flaky));
      clock_.Advance(1);
      Finish(MustLease(good));
    }
    clock_.Advance(1);
    if (round == 0) Finish(MustLease(flaky));
  }
  EXPECT_TRUE(Worker("flaky").quarantine.empty());
  clock_.Advance(1);
  FailIt(MustLease(flaky));  // a third in a row now
  EXPECT_FALSE(Worker("flaky").quarantine.empty());
}

// A completion elsewhere before the streak began says nothing of it: no quarantine until another
// worker completes a trial while (or after) the streak runs.
TEST_F(QuarantineTest, CompletionsBeforeTheStreakDoNotCount) {
  Submit(SweepYaml(6));
  const int64_t good = Register("good"), bad = Register("bad");
  const LeaseGrant held = MustLease(good);
  Finish(MustLease(good));
  for (int i = 0; i < 3; ++i) {
    clock_.Advance(1);
    FailIt(MustLease(bad));
  }
  EXPECT_TRUE(Worker("bad").quarantine.empty());
  clock_.Advance(1);
  Finish(held);  // now one completes during the streak
  EXPECT_FALSE(Worker("bad").quarantine.empty());
}

// quarantine_after: 0 in the sweep file turns it off for that sweep.
TEST_F(QuarantineTest, SweepKeyZeroTurnsItOff) {
  Submit(SweepYaml(4, "quarantine_after: 0\n"));
  const int64_t good = Register("good"), bad = Register("bad");
  FailWhileGoodCompletes(good, bad);
  EXPECT_TRUE(Worker("bad").quarantine.empty());
}

// quarantine_after: 2 quarantines after two.
TEST_F(QuarantineTest, SweepKeySetsK) {
  Submit(SweepYaml(4, "quarantine_after: 2\n"));
  const int64_t good = Register("good"), bad = Register("bad");
  FailWhileGoodCompletes(good, bad, 2);
  EXPECT_NE(Worker("bad").quarantine.find("last 2 attempts"), std::string::npos);
}

TEST_F(QuarantineTest, ReleaseLiftsIt) {
  Submit(SweepYaml(6));
  const int64_t good = Register("good"), bad = Register("bad");
  FailWhileGoodCompletes(good, bad);
  ASSERT_FALSE(Worker("bad").quarantine.empty());
  EXPECT_FALSE(Lease(bad).has_value());
  auto r = sched_->ReleaseWorker("bad");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(*r);
  EXPECT_TRUE(Worker("bad").quarantine.empty());
  EXPECT_TRUE(Lease(bad).has_value());
  // Not quarantined: false, nothing changes; no such worker: NotFound; a bad name: refused.
  auto again = sched_->ReleaseWorker("good");
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(*again);
  EXPECT_EQ(sched_->ReleaseWorker("nobody").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(sched_->ReleaseWorker("").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(sched_->ReleaseWorker(std::string(300, 'x')).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(sched_->ReleaseWorker("a\nb").status().code(), StatusCode::kInvalidArgument);
}

// Registering again unchanged keeps the quarantine (a restart fixes no driver); with another
// fingerprint (a new binary, program or data) lifts it.
TEST_F(QuarantineTest, ANewFingerprintLiftsIt) {
  Submit(SweepYaml(6));
  const int64_t good = Register("good"), bad = Register("bad", "fp1");
  FailWhileGoodCompletes(good, bad);
  ASSERT_FALSE(Worker("bad").quarantine.empty());
  EXPECT_EQ(Register("bad", "fp1"), bad);
  EXPECT_FALSE(Worker("bad").quarantine.empty());
  EXPECT_EQ(Register("bad", ""), bad);  // (an older worker sends none: kept)
  EXPECT_FALSE(Worker("bad").quarantine.empty());
  EXPECT_EQ(Register("bad", "fp2"), bad);
  EXPECT_TRUE(Worker("bad").quarantine.empty());
  EXPECT_TRUE(Lease(bad).has_value());
  // A fingerprint is checked as any text a worker sends.
  EXPECT_EQ(sched_->RegisterWorker("x", 1, "", "", "", {}, false, std::string(129, 'f'))
                .status()
                .code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(sched_->RegisterWorker("x", 1, "", "", "", {}, false, "a\x01").status().code(),
            StatusCode::kInvalidArgument);
}

// kill -9 of the coordinator: the quarantine is in the workers' rows, the attempts given back in
// the trials'. A restarted scheduler still leases the worker nothing; a release then works.
TEST_F(QuarantineTest, SurvivesARestart) {
  TempDir dir;
  Open(dir.File("q.db"));
  const int64_t sweep = Submit(SweepYaml(6));
  const int64_t good = Register("good"), bad = Register("bad");
  const int64_t trial = FailWhileGoodCompletes(good, bad);
  ASSERT_FALSE(Worker("bad").quarantine.empty());
  Open(dir.File("q.db"));  // (the old scheduler and storage are dropped: a restart)
  EXPECT_FALSE(Worker("bad").quarantine.empty());
  EXPECT_EQ(Trial(trial).attempts, 0);
  EXPECT_FALSE(Lease(bad).has_value());
  EXPECT_EQ(Counts(sweep).failed, 0);
  ASSERT_EQ(sched_->QuarantinedWorkers().size(), 1u);
  EXPECT_EQ(sched_->QuarantinedWorkers()[0].name, "bad");
  auto r = sched_->ReleaseWorker("bad");
  ASSERT_TRUE(r.ok() && *r);
  Open(dir.File("q.db"));
  EXPECT_TRUE(Worker("bad").quarantine.empty());
  EXPECT_TRUE(Lease(bad).has_value());
}

// The good worker leaves: every live worker is quarantined, and Counts says so.
TEST_F(QuarantineTest, EveryLiveWorkerQuarantinedIsSaid) {
  const int64_t sweep = Submit(SweepYaml(6));
  const int64_t good = Register("good"), bad = Register("bad");
  FailWhileGoodCompletes(good, bad);
  EXPECT_TRUE(Counts(sweep).waiting.empty());  // good is alive
  clock_.Advance(kLease + 1);
  EXPECT_FALSE(Lease(bad).has_value());  // (bad is heard from; good is not)
  const std::string waiting = Counts(sweep).waiting;
  EXPECT_NE(waiting.find("every live worker (1) is quarantined"), std::string::npos) << waiting;
  EXPECT_NE(waiting.find("--release"), std::string::npos) << waiting;
}

}  // namespace
}  // namespace hpsweep::scheduler_quarantine_test
