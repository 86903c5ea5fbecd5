// Tests of the precision capability through coordinator/scheduler.h: a trial whose params say
// precision: bf16 is leased only to a worker registered with bf16 (its CPU has avx512_bf16), a
// worker without it takes another trial or nothing and no attempt is charged, a sweep whose bf16
// trials no live worker can run says why, and the flag outlives a coordinator restart. Pure
// scheduler tests: the flag is a boolean, whatever this machine's CPU has.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "coordinator/scheduler.h"
#include "coordinator/store/storage.h"
#include "search/sweep_file.h"
#include "tests/coordinator/test_util.h"

namespace hpsweep::scheduler_precision_test {
namespace {

constexpr double kLease = 30;
constexpr char kWaiting[] =
    "trials ask for precision: bf16 and no live worker's CPU has avx512_bf16 (use precision: auto "
    "to run fp32 there)";

class SchedulerPrecisionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    storage_ = MustOpen(":memory:");
    ASSERT_NE(storage_, nullptr);
    Start();
  }
  void Start() {  // (again: a restart over the same storage)
    sched_.reset();
    SchedulerOptions options;
    options.lease_seconds = kLease;
    sched_ = std::make_unique<Scheduler>(storage_.get(), &clock_, options);
    ASSERT_TRUE(sched_->Load().ok());
  }
  int64_t Submit(const std::string& yaml) {
    StatusOr<PreparedSweep> p = PrepareSweep(yaml, "p.yaml");
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    if (!p.ok()) return 0;
    StatusOr<int64_t> id = sched_->Submit(p->spec, p->trials, yaml, "p.yaml");
    EXPECT_TRUE(id.ok()) << id.status().ToString();
    return id.ok() ? *id : 0;
  }
  int64_t Register(const std::string& name, bool bf16,
                   const std::vector<std::string>& programs = {}) {
    auto id = sched_->RegisterWorker(name, 1, "", "", "", programs, bf16);
    EXPECT_TRUE(id.ok()) << id.status().ToString();
    return id.ok() ? *id : 0;
  }
  std::optional<LeaseGrant> Lease(int64_t worker) {
    auto g = sched_->Lease(worker);
    EXPECT_TRUE(g.ok()) << g.status().ToString();
    return g.ok() ? *g : std::nullopt;
  }
  std::string Waiting(int64_t sweep) {
    std::vector<SweepCounts> c = sched_->Counts(sweep);
    EXPECT_EQ(c.size(), 1u);
    return c.empty() ? "" : c[0].waiting;
  }
  // The stored trial of `sweep` numbered `number`.
  TrialRow Trial(int64_t sweep, int number) {
    auto rows = storage_->LoadTrials(sweep);
    EXPECT_TRUE(rows.ok()) << rows.status().ToString();
    if (rows.ok()) {
      for (const TrialRow& t : *rows) {
        if (t.number == number) return t;
      }
    }
    ADD_FAILURE() << "no trial #" << number << " in sweep " << sweep;
    return TrialRow{};
  }

  FakeClock clock_;
  std::unique_ptr<Storage> storage_;
  std::unique_ptr<Scheduler> sched_;
};

// A grid whose first trial is bf16 and second fp32.
constexpr char kMixed[] =
    "name: mixed\nfixed: {cell: dense, units: 4, epochs: 1}\n"
    "parameters:\n  precision: {values: [bf16, fp32]}\n";
// Every trial bf16.
constexpr char kAllBf16[] =
    "name: fast\nfixed: {cell: dense, units: 4, epochs: 1, precision: bf16}\n"
    "parameters:\n  learning_rate: {values: [0.1, 0.01]}\n";
constexpr char kFp32[] =
    "name: plain\nfixed: {cell: dense, units: 4, epochs: 1}\nparameters:\n  learning_rate: {values: [0.1]}\n";

// Trials are proposed in order as workers ask; a bf16 one proposed for a worker without bf16
// stays queued, uncharged, for a worker with it.
TEST_F(SchedulerPrecisionTest, ABf16TrialWaitsForABf16Worker) {
  const int64_t sweep = Submit(kMixed);
  const int64_t plain = Register("plain", false);
  EXPECT_FALSE(Lease(plain).has_value()) << "a worker without bf16 leased a bf16 trial";
  EXPECT_EQ(Trial(sweep, 1).params.at("precision"), "bf16");
  EXPECT_EQ(Trial(sweep, 1).status, TrialStatus::kQueued);
  EXPECT_EQ(Trial(sweep, 1).attempts, 0);
  EXPECT_NE(Waiting(sweep).find(kWaiting), std::string::npos) << Waiting(sweep);

  const int64_t fast = Register("fast", true);
  EXPECT_EQ(Waiting(sweep), "");
  std::optional<LeaseGrant> g = Lease(fast);
  ASSERT_TRUE(g.has_value()) << "the bf16 worker got nothing";
  EXPECT_EQ(g->trial.number, 1);
  EXPECT_EQ(g->trial.attempts, 1);
  // The fp32 trial goes to any worker.
  g = Lease(plain);
  ASSERT_TRUE(g.has_value());
  EXPECT_EQ(g->trial.number, 2);
  EXPECT_EQ(g->trial.params.at("precision"), "fp32");
}

// Both trials queued (given back): a worker without bf16 takes the sweep's fp32 one, past the
// bf16 one that comes first, which stays queued and uncharged.
TEST_F(SchedulerPrecisionTest, AWorkerWithoutBf16SkipsToTheSweepsNextFp32Trial) {
  const int64_t sweep = Submit(kMixed);
  std::optional<LeaseGrant> a = Lease(Register("fast-1", true));
  std::optional<LeaseGrant> b = Lease(Register("fast-2", true));
  ASSERT_TRUE(a.has_value() && b.has_value());
  ASSERT_EQ(a->trial.number, 1);
  ASSERT_EQ(b->trial.number, 2);
  ASSERT_TRUE(sched_->Fail(a->lease_id, "", /*released=*/true).ok());
  ASSERT_TRUE(sched_->Fail(b->lease_id, "", /*released=*/true).ok());
  ASSERT_EQ(Trial(sweep, 1).attempts, 0);

  std::optional<LeaseGrant> g = Lease(Register("plain", false));
  ASSERT_TRUE(g.has_value()) << "the fp32 trial was not leased";
  EXPECT_EQ(g->trial.number, 2);
  EXPECT_EQ(g->trial.attempts, 1);
  EXPECT_EQ(Trial(sweep, 1).status, TrialStatus::kQueued);
  EXPECT_EQ(Trial(sweep, 1).attempts, 0);
  EXPECT_FALSE(Lease(Register("plain-2", false)).has_value());
  EXPECT_EQ(Trial(sweep, 1).attempts, 0);
  // (the bf16 workers are live: nothing to explain)
  EXPECT_EQ(Waiting(sweep), "");
}

TEST_F(SchedulerPrecisionTest, AWorkerWithoutBf16GoesOnToAnotherSweep) {
  const int64_t fast_sweep = Submit(kAllBf16);
  const int64_t plain_sweep = Submit(kFp32);
  const int64_t plain = Register("plain", false);
  // The bf16 sweep's turn comes first: its trial is proposed and stays queued, and does not hold
  // back the sweep this worker can run.
  std::optional<LeaseGrant> g = Lease(plain);
  ASSERT_TRUE(g.has_value());
  EXPECT_EQ(g->trial.sweep_id, plain_sweep);
  EXPECT_EQ(Trial(fast_sweep, 1).status, TrialStatus::kQueued);
  EXPECT_EQ(Trial(fast_sweep, 1).attempts, 0);
  // Nothing else it can run: the bf16 sweep waits, uncharged, and says why.
  EXPECT_FALSE(Lease(Register("plain-2", false)).has_value());
  EXPECT_EQ(Trial(fast_sweep, 1).attempts, 0);
  EXPECT_NE(Waiting(fast_sweep).find(kWaiting), std::string::npos) << Waiting(fast_sweep);
  EXPECT_EQ(Waiting(plain_sweep), "");

  // A bf16 worker takes them; once it is silent for a lease period the sentence comes back.
  const int64_t fast = Register("fast", true);
  EXPECT_EQ(Waiting(fast_sweep), "");
  g = Lease(fast);
  ASSERT_TRUE(g.has_value());
  EXPECT_EQ(g->trial.sweep_id, fast_sweep);
  EXPECT_EQ(g->trial.number, 1);
  EXPECT_EQ(g->trial.attempts, 1);
  g = Lease(fast);
  ASSERT_TRUE(g.has_value());
  EXPECT_EQ(g->trial.sweep_id, fast_sweep);
  EXPECT_EQ(g->trial.number, 2);
  clock_.Advance(kLease + 1);
  ASSERT_TRUE(sched_->ExpireLeases().ok());
  EXPECT_NE(Waiting(fast_sweep).find(kWaiting), std::string::npos) << Waiting(fast_sweep);
  // A worker without bf16 heard from now does not change that.
  Register("plain", false);
  EXPECT_NE(Waiting(fast_sweep).find(kWaiting), std::string::npos) << Waiting(fast_sweep);
}

TEST_F(SchedulerPrecisionTest, AutoAndFp32GoToAnyWorker) {
  const int64_t sweep = Submit(
      "name: any\nfixed: {cell: dense, units: 4, epochs: 1}\n"
      "parameters:\n  precision: {values: [auto, fp32]}\n");
  const int64_t plain = Register("plain", false);
  const int64_t other = Register("other", false);
  std::optional<LeaseGrant> a = Lease(plain), b = Lease(other);
  ASSERT_TRUE(a.has_value() && b.has_value());
  EXPECT_EQ(a->trial.number, 1);
  EXPECT_EQ(b->trial.number, 2);
  EXPECT_EQ(Waiting(sweep), "");
}

// A program's params are its own: a param named precision means nothing to the scheduler.
TEST_F(SchedulerPrecisionTest, AProgramsPrecisionParamIsItsOwn) {
  const int64_t sweep = Submit(
      "name: prog\nprogram: quad\nmetric: {name: score, goal: maximize}\n"
      "parameters:\n  precision: {values: [bf16]}\n");
  const int64_t w = Register("w", false, {"quad"});
  EXPECT_EQ(Waiting(sweep), "");
  std::optional<LeaseGrant> g = Lease(w);
  ASSERT_TRUE(g.has_value());
  EXPECT_EQ(g->trial.params.at("precision"), "bf16");
}

// A sampler proposes trials as workers ask: the check is on each proposed trial's params.
TEST_F(SchedulerPrecisionTest, ASamplersProposedBf16TrialWaitsForABf16Worker) {
  const int64_t sweep = Submit(
      "name: b\nmethod: bayes\nmax_trials: 2\nseed: 3\n"
      "fixed: {cell: dense, units: 4, epochs: 1}\nparameters:\n"
      "  precision: {values: [bf16]}\n  learning_rate: {distribution: uniform, min: 0.01, max: 0.1}\n");
  EXPECT_FALSE(Lease(Register("plain", false)).has_value());
  std::optional<LeaseGrant> g = Lease(Register("fast", true));
  ASSERT_TRUE(g.has_value());
  EXPECT_EQ(g->trial.sweep_id, sweep);
  EXPECT_EQ(g->trial.params.at("precision"), "bf16");
  EXPECT_EQ(g->trial.attempts, 1);
}

// The flag is stored with the worker's row: after a restart a worker that goes on leasing
// without registering again keeps it, and ListWorkers shows it.
TEST_F(SchedulerPrecisionTest, TheFlagOutlivesARestart) {
  const int64_t sweep = Submit(kAllBf16);
  const int64_t fast = Register("fast", true);
  const int64_t plain = Register("plain", false);
  Start();
  std::map<std::string, bool> bf16;
  for (const WorkerView& v : sched_->ListWorkers(nullptr)) bf16[v.worker.name] = v.worker.bf16;
  EXPECT_EQ(bf16, (std::map<std::string, bool>{{"fast", true}, {"plain", false}}));
  EXPECT_FALSE(Lease(plain).has_value());
  std::optional<LeaseGrant> g = Lease(fast);
  ASSERT_TRUE(g.has_value());
  EXPECT_EQ(g->trial.sweep_id, sweep);
}

}  // namespace
}  // namespace hpsweep::scheduler_precision_test
