// Reusing pruned trials (coordinator/scheduler_reuse.cc, "Pruned twins"): a sweep with reuse and
// early_terminate copies a trial whose identical twin was pruned at epoch E in an earlier sweep
// with the same early_terminate, when its own pruner, with its own history, prunes it at E too;
// where its pruner would let it go on, or the rule differs, the trial trains. The decision is the
// same after a restart, and a copy survives one.
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

namespace hpsweep::reuse_pruned_test {
namespace {

constexpr char kHyperband[] = "{type: hyperband, min_iter: 1, eta: 2}";

// A grid over units in the order given, 3 epochs, pruned by `early` (rungs: epochs 1 and 2).
std::string Yaml(const std::string& name, const std::string& units, const std::string& early,
                 bool reuse) {
  return "name: " + name + "\nmethod: grid\nreuse: " + (reuse ? "true" : "false") +
         "\nearly_terminate: " + early +
         "\nfixed: {cell: lstm, epochs: 3}\nparameters:\n  units: {values: [" + units + "]}\n";
}

// The val_accuracy every epoch of a trial of `units` reaches: units 2 is mediocre (0.5), 3 and 5
// good, 4 bad.
double ValueOf(int units) {
  static const std::map<int, double> kValues = {
      {1, 0.9}, {2, 0.5}, {3, 0.95}, {4, 0.1}, {5, 0.97}};
  return kValues.at(units);
}

EpochReport Epoch(int epoch, double v) {
  EpochReport r;
  r.epoch = epoch;
  r.train_loss = r.val_loss = 1 - v;
  r.train_accuracy = r.val_accuracy = v;
  r.seconds = 1;
  return r;
}

class ReusePrunedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    storage_ = MustOpen(":memory:");
    ASSERT_NE(storage_, nullptr);
    Start();
  }
  void Start() {  // (again: a restart over the same storage)
    sched_.reset();
    sched_ = std::make_unique<Scheduler>(storage_.get(), &clock_);
    ASSERT_TRUE(sched_->Load().ok());
    StatusOr<int64_t> w = sched_->RegisterWorker("w1", 1);
    ASSERT_TRUE(w.ok());
    worker_ = *w;
  }
  int64_t Submit(const std::string& yaml) {
    StatusOr<SweepSpec> spec = ParseSweep(yaml, "p.yaml");
    EXPECT_TRUE(spec.ok()) << spec.status().ToString();
    StatusOr<std::vector<TrialSpec>> plan = ExpandSweep(*spec, "p.yaml");
    EXPECT_TRUE(plan.ok()) << plan.status().ToString();
    StatusOr<int64_t> id = sched_->Submit(*spec, *plan, yaml, "p.yaml");
    EXPECT_TRUE(id.ok()) << id.status().ToString();
    return id.ok() ? *id : 0;
  }
  // Leases the next trial and trains it epoch by epoch until the end or the pruner's STOP; returns
  // its units, 0 when nothing was leased.
  int TrainNext() {
    StatusOr<std::optional<LeaseGrant>> g = sched_->Lease(worker_);
    EXPECT_TRUE(g.ok()) << g.status().ToString();
    if (!g.ok() || !g->has_value()) return 0;
    const LeaseGrant& grant = **g;
    const int units = std::stoi(grant.trial.params.at("units"));
    Completion c;
    for (int e = 1; e <= 3; ++e) {
      clock_.Advance(1);
      c.history.push_back(Epoch(e, ValueOf(units)));
      double deadline = 0;
      StatusOr<ReportAction> a = sched_->Report(grant.lease_id, c.history.back(), &deadline);
      EXPECT_TRUE(a.ok()) << a.status().ToString();
      if (!a.ok() || *a != ReportAction::kContinue) {
        c.stopped = true;
        break;
      }
    }
    c.seconds = static_cast<double>(c.history.size());
    if (!c.stopped) {
      c.test_accuracy = ValueOf(units);
      c.test_loss = 1 - ValueOf(units);
      c.weights_epoch = 3;
    }
    EXPECT_TRUE(sched_->Complete(grant.lease_id, c).ok());
    return units;
  }
  std::vector<int> TrainAll() {
    std::vector<int> trained;
    for (int units = TrainNext(); units != 0; units = TrainNext()) trained.push_back(units);
    return trained;
  }
  std::map<int, TrialRow> ByUnits(int64_t sweep) {
    StatusOr<std::vector<TrialRow>> rows = storage_->LoadTrials(sweep);
    EXPECT_TRUE(rows.ok());
    std::map<int, TrialRow> out;
    for (const TrialRow& t : *rows) out[std::stoi(t.params.at("units"))] = t;
    return out;
  }
  size_t EpochsOf(int64_t trial_id) {
    StatusOr<std::vector<EpochRow>> e = storage_->LoadEpochs(trial_id);
    EXPECT_TRUE(e.ok());
    return e.ok() ? e->size() : 0;
  }

  FakeClock clock_;
  std::unique_ptr<Storage> storage_;
  std::unique_ptr<Scheduler> sched_;
  int64_t worker_ = 0;
};

// Sweep 1 trains units 1 (0.9) then 2 (0.5), pruned at epoch 1 (rung 1: one of two better).
class ReusePrunedTwinTest : public ReusePrunedTest {
 protected:
  void SetUp() override {
    ReusePrunedTest::SetUp();
    first_ = Submit(Yaml("a", "1, 2", kHyperband, false));
    EXPECT_EQ(TrainAll(), (std::vector<int>{1, 2}));
    pruned_ = ByUnits(first_)[2];
    ASSERT_EQ(pruned_.status, TrialStatus::kPruned);
    ASSERT_EQ(pruned_.epochs_run, 1);
  }
  int64_t first_ = 0;
  TrialRow pruned_;
};

// Sweep 2 (reuse) trains units 3 (0.95) first; units 2 would be pruned at epoch 1 by its pruner as
// by sweep 1's, so it is copied as pruned, never leased, with its one epoch and where it came from.
TEST_F(ReusePrunedTwinTest, PrunedAgainAtTheSameRungIsCopied) {
  const int64_t second = Submit(Yaml("b", "3, 2", kHyperband, true));
  EXPECT_EQ(TrainAll(), std::vector<int>{3});
  const TrialRow copy = ByUnits(second)[2];
  EXPECT_EQ(copy.status, TrialStatus::kPruned);
  EXPECT_EQ(copy.attempts, 0);
  EXPECT_EQ(copy.epochs_run, 1);
  EXPECT_EQ(copy.best_val_accuracy, pruned_.best_val_accuracy);
  EXPECT_EQ(copy.reused_from, "sweep " + std::to_string(first_) + " #2 (worker w1)");
  EXPECT_EQ(EpochsOf(copy.id), 1u);
  std::vector<SweepCounts> c = sched_->Counts(second);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].pruned, 1);
  EXPECT_EQ(c[0].completed, 1);
  EXPECT_EQ(c[0].sweep.state, SweepState::kCompleted);
  // A restart keeps it as it is.
  Start();
  EXPECT_EQ(ByUnits(second)[2].reused_from, copy.reused_from);
  EXPECT_EQ(sched_->Counts(second)[0].pruned, 1);
}

// Sweep 2 trains units 4 (0.1) first: at rung 1 units 2 (0.5) is the better of two, so its pruner
// lets it go on: it is leased and trains all 3 epochs, though its twin was pruned.
TEST_F(ReusePrunedTwinTest, NotPrunedByThisSweepsPrunerTrains) {
  const int64_t second = Submit(Yaml("b", "4, 2", kHyperband, true));
  EXPECT_EQ(TrainAll(), (std::vector<int>{4, 2}));
  const TrialRow trained = ByUnits(second)[2];
  EXPECT_EQ(trained.status, TrialStatus::kCompleted);
  EXPECT_EQ(trained.reused_from, "");
  EXPECT_EQ(trained.attempts, 1);
  EXPECT_EQ(trained.epochs_run, 3);
}

// Another early_terminate (eta 3), or no reuse: the twin's pruning says nothing; units 2 trains
// (and this sweep's own pruner stops it live).
TEST_F(ReusePrunedTwinTest, AnotherRuleOrNoReuseTrains) {
  for (const std::string& yaml :
       {Yaml("c", "3, 2", "{type: hyperband, min_iter: 1, eta: 3}", true),
        Yaml("d", "3, 2", kHyperband, false)}) {
    SCOPED_TRACE(yaml);
    const int64_t sweep = Submit(yaml);
    const std::vector<int> trained = TrainAll();
    ASSERT_FALSE(trained.empty());
    EXPECT_EQ(trained.back(), 2);
    EXPECT_EQ(ByUnits(sweep)[2].reused_from, "");
    EXPECT_EQ(ByUnits(sweep)[2].attempts, 1);
  }
}

// A restart between the trained trial and the copy's lease decides the same (the pruner is
// rebuilt from the stored epochs, the twins from storage).
TEST_F(ReusePrunedTwinTest, ARestartBeforeTheLeaseDecidesTheSame) {
  const int64_t second = Submit(Yaml("b", "3, 2", kHyperband, true));
  EXPECT_EQ(TrainNext(), 3);
  Start();
  EXPECT_EQ(TrainAll(), std::vector<int>{});
  const TrialRow copy = ByUnits(second)[2];
  EXPECT_EQ(copy.status, TrialStatus::kPruned);
  EXPECT_EQ(copy.reused_from, "sweep " + std::to_string(first_) + " #2 (worker w1)");
  // A third sweep, after another restart, finds the pruned twins in the rebuilt index, and its
  // copy names the trial that trained (not the copy).
  Start();
  const int64_t third = Submit(Yaml("e", "5, 2", kHyperband, true));
  EXPECT_EQ(TrainAll(), std::vector<int>{5});
  EXPECT_EQ(ByUnits(third)[2].status, TrialStatus::kPruned);
  EXPECT_EQ(ByUnits(third)[2].reused_from, copy.reused_from);
}

}  // namespace
}  // namespace hpsweep::reuse_pruned_test
