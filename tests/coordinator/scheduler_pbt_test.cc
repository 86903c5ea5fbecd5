// Tests for population-based training in coordinator/scheduler.h: leases of one segment, members
// waiting at the barrier, the population's decision (a bottom member takes a top member's
// checkpoint, epochs and explored params, and its schedule says so), restarts, refusals, and
// cancelling a sweep whose members wait.
#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "coordinator/scheduler.h"
#include "coordinator/store/storage.h"
#include "engine/checkpoint.h"
#include "search/sweep_file.h"
#include "tests/coordinator/checkpoint_bytes.h"
#include "tests/coordinator/test_util.h"

namespace hpsweep::scheduler_pbt_test {
namespace {

constexpr char kYaml[] =
    "name: pbt\nmethod: pbt\nseed: 3\nfixed: {cell: lstm, units: 8, epochs: 6}\n"
    "parameters:\n"
    "  learning_rate: {distribution: log_uniform, min: 0.00001, max: 1.0}\n"
    "  dropout: {distribution: uniform, min: 0.0, max: 0.5}\n"
    "pbt: {population: 4, interval: 2, resample_probability: 0, mutable: [learning_rate]}\n";

class SchedulerPbtTest : public ::testing::Test {
 protected:
  void Open() {
    scheduler_.reset();
    if (!storage_) {
      auto st = OpenSqliteStorage(":memory:");
      ASSERT_TRUE(st.ok()) << st.status().ToString();
      storage_ = std::move(*st);
    }
    SchedulerOptions o;
    o.lease_seconds = 30;
    // Checkpoints in a folder, as a coordinator with a database file keeps them: they outlive
    // a restart.
    if (dir_.empty()) {
      dir_ = ::testing::TempDir() + "pbt_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name();
      std::filesystem::remove_all(dir_);
    }
    o.checkpoint_dir = dir_;
    scheduler_ = std::make_unique<Scheduler>(storage_.get(), &clock_, o);
    ASSERT_TRUE(scheduler_->Load().ok());
  }

  void Submit() {
    auto spec = ParseSweep(kYaml, "p.yaml");
    ASSERT_TRUE(spec.ok()) << spec.status().ToString();
    auto trials = ExpandSweep(*spec, "p.yaml");
    ASSERT_TRUE(trials.ok());
    auto id = scheduler_->Submit(*spec, *trials, kYaml, "p.yaml");
    ASSERT_TRUE(id.ok()) << id.status().ToString();
    sweep_id_ = *id;
  }

  std::optional<LeaseGrant> Lease(const std::string& worker) {
    auto w = scheduler_->RegisterWorker(worker, 1);
    EXPECT_TRUE(w.ok());
    auto g = scheduler_->Lease(w.ok() ? *w : 0);
    EXPECT_TRUE(g.ok()) << g.status().ToString();
    return g.ok() ? *g : std::nullopt;
  }

  // Trains the lease's segment: reports its epochs (val_accuracy `acc` each), saves the
  // checkpoint after the last, and ends the segment.
  void TrainSegment(const LeaseGrant& g, double acc, bool checkpoint = true) {
    for (int e = g.resume_from_epoch + 1; e <= g.pause_after_epoch; ++e) {
      EpochReport r;
      r.epoch = e;
      r.train_loss = r.val_loss = 1.0 / e;
      r.train_accuracy = r.val_accuracy = acc;
      r.seconds = 1;
      double deadline = 0;
      ASSERT_TRUE(scheduler_->Report(g.lease_id, r, &deadline).ok()) << e;
    }
    if (checkpoint) {
      ASSERT_TRUE(scheduler_->SaveCheckpoint(g.lease_id, g.pause_after_epoch,
                                             CheckpointThroughEpoch(g.pause_after_epoch))
                      .ok());
    }
    Status s = scheduler_->EndSegment(g.lease_id);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

  // The first segment of every member: member #n reaches val_accuracy 0.1 * n.
  void FirstSegment() {
    for (int i = 0; i < 4; ++i) {
      std::optional<LeaseGrant> g = Lease("w" + std::to_string(i));
      ASSERT_TRUE(g.has_value());
      EXPECT_EQ(g->pause_after_epoch, 2);
      EXPECT_EQ(g->mutable_params, std::vector<std::string>{"learning_rate"});
      TrainSegment(*g, 0.1 * g->trial.number);
    }
  }

  TrialRow Member(int number) {
    auto rows = storage_->LoadTrials(sweep_id_);
    EXPECT_TRUE(rows.ok());
    for (const TrialRow& t : rows.ok() ? *rows : std::vector<TrialRow>{}) {
      if (t.number == number) return t;
    }
    ADD_FAILURE() << "no member #" << number;
    return TrialRow();
  }

  int PopulationEpoch() {
    auto rows = storage_->LoadSweeps();
    EXPECT_TRUE(rows.ok());
    for (const SweepRow& sw : rows.ok() ? *rows : std::vector<SweepRow>{}) {
      if (sw.id == sweep_id_) return sw.pbt_epoch;
    }
    return -1;
  }

  void TearDown() override {
    scheduler_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  FakeClock clock_;
  std::string dir_;
  std::unique_ptr<Storage> storage_;
  std::unique_ptr<Scheduler> scheduler_;
  int64_t sweep_id_ = 0;
};

TEST_F(SchedulerPbtTest, MembersWaitForThePopulationThenTheWorstTakesTheBest) {
  Open();
  Submit();
  // Member 1's segment ends first: it waits, and no lease hands it out again.
  std::optional<LeaseGrant> first = Lease("w0");
  ASSERT_TRUE(first.has_value());
  TrainSegment(*first, 0.1);
  std::set<int> leased = {first->trial.number};
  std::vector<LeaseGrant> rest;
  for (int i = 1; i < 4; ++i) {
    std::optional<LeaseGrant> g = Lease("w" + std::to_string(i));
    ASSERT_TRUE(g.has_value());
    EXPECT_EQ(leased.count(g->trial.number), 0u) << "a waiting member was leased";
    leased.insert(g->trial.number);
    rest.push_back(*g);
  }
  EXPECT_FALSE(Lease("w9").has_value());  // all four trained or training: nothing to lease
  for (const LeaseGrant& g : rest) TrainSegment(g, 0.1 * g.trial.number);
  // The barrier is passed: one bottom member (#1, the worst) took #4's checkpoint and params.
  const TrialRow worst = Member(1), best = Member(4);
  EXPECT_EQ(PopulationEpoch(), 2);
  nlohmann::json schedule = nlohmann::json::parse(worst.schedule);
  ASSERT_EQ(schedule.size(), 2u) << worst.schedule;
  EXPECT_EQ(schedule[1]["epoch"], 2);
  EXPECT_EQ(schedule[1]["from"], 4);
  EXPECT_EQ(worst.params.at("dropout"), best.params.at("dropout"));  // not mutable: copied
  const double lr = std::stod(worst.params.at("learning_rate"));
  const double parent_lr = std::stod(best.params.at("learning_rate"));
  EXPECT_TRUE(std::abs(lr - 0.8 * parent_lr) < 1e-6 * parent_lr ||
              std::abs(lr - 1.2 * parent_lr) < 1e-6 * parent_lr)
      << lr << " vs " << parent_lr;
  auto epochs = storage_->LoadEpochs(worst.id);
  ASSERT_TRUE(epochs.ok());
  ASSERT_EQ(epochs->size(), 2u);
  EXPECT_DOUBLE_EQ(epochs->back().val_accuracy, 0.4);  // #4's epochs now
  EXPECT_TRUE(Member(2).schedule.empty());  // the others go on as they were
  // The next segment: epochs 3-4, resuming from each one's checkpoint; #1 from #4's.
  std::optional<LeaseGrant> g = Lease("w0");
  ASSERT_TRUE(g.has_value());
  EXPECT_EQ(g->pause_after_epoch, 4);
  EXPECT_EQ(g->resume_from_epoch, 2);
  auto bytes = scheduler_->GetCheckpoint(g->lease_id);
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(bytes->first, 2);
  // The export says who copied whom: every member has a schedule, the head the population.
  auto exported = scheduler_->ExportJson(sweep_id_);
  ASSERT_TRUE(exported.ok());
  nlohmann::json doc = nlohmann::json::parse(*exported);
  EXPECT_EQ(doc["sweep"]["pbt"]["population"], 4);
  EXPECT_EQ(doc["sweep"]["pbt"]["decided_after_epoch"], 2);
  for (const auto& t : doc["trials"]) {
    ASSERT_TRUE(t.contains("schedule")) << t.dump();
    EXPECT_EQ(t["schedule"].size(), t["number"] == 1 ? 2u : 1u) << t.dump();
  }
}

TEST_F(SchedulerPbtTest, ARestartKeepsTheDecisionAndTheWaitingMembers) {
  Open();
  Submit();
  FirstSegment();
  // Two members train their second segment; then the coordinator restarts.
  std::optional<LeaseGrant> a = Lease("w0");
  ASSERT_TRUE(a.has_value());
  TrainSegment(*a, 0.5);
  const std::string params_before = Member(1).params.at("learning_rate");
  Open();  // (a restart: memory from storage)
  std::set<int> next;
  for (int i = 0; i < 3; ++i) {
    std::optional<LeaseGrant> g = Lease("v" + std::to_string(i));
    ASSERT_TRUE(g.has_value());
    EXPECT_NE(g->trial.number, a->trial.number) << "the waiting member was leased again";
    EXPECT_EQ(g->pause_after_epoch, 4);
    EXPECT_EQ(g->resume_from_epoch, 2);
    next.insert(g->trial.number);
  }
  EXPECT_EQ(next.size(), 3u);
  EXPECT_FALSE(Lease("v9").has_value());
  EXPECT_EQ(Member(1).params.at("learning_rate"), params_before);  // decided once, not again
}

TEST_F(SchedulerPbtTest, RefusesEpochsPastTheSegmentAndASegmentWithoutCheckpoint) {
  Open();
  Submit();
  std::optional<LeaseGrant> g = Lease("w0");
  ASSERT_TRUE(g.has_value());
  double deadline = 0;
  EpochReport r;
  r.train_loss = r.val_loss = 1;
  r.train_accuracy = r.val_accuracy = 0.5;
  for (int e = 1; e <= 2; ++e) {
    r.epoch = e;
    ASSERT_TRUE(scheduler_->Report(g->lease_id, r, &deadline).ok());
  }
  r.epoch = 3;
  Status past = scheduler_->Report(g->lease_id, r, &deadline).status();
  EXPECT_EQ(past.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(past.message().find("segment ends after epoch 2"), std::string::npos) << past.message();
  // Its segment ends with no checkpoint kept: it could only start over, so it fails, saying why.
  ASSERT_TRUE(scheduler_->EndSegment(g->lease_id).ok());
  const TrialRow t = Member(g->trial.number);
  EXPECT_EQ(t.status, TrialStatus::kFailed);
  EXPECT_NE(t.error.find("no checkpoint was kept after epoch 2"), std::string::npos) << t.error;
  // A segment ended early (a broken or forged worker) is a failed attempt, charged and said.
  std::optional<LeaseGrant> early = Lease("w1");
  ASSERT_TRUE(early.has_value());
  r.epoch = 1;
  ASSERT_TRUE(scheduler_->Report(early->lease_id, r, &deadline).ok());
  ASSERT_TRUE(scheduler_->EndSegment(early->lease_id).ok());
  const TrialRow e = Member(early->trial.number);
  EXPECT_EQ(e.status, TrialStatus::kQueued);
  EXPECT_EQ(e.attempts, 1);
  EXPECT_NE(e.error.find("ended its segment after epoch 1; the segment ends after epoch 2"),
            std::string::npos)
      << e.error;
  // A segment end from a trial that is no member is refused.
  Status not_member = scheduler_->EndSegment("0123456789abcdef0123456789abcdef");
  EXPECT_EQ(not_member.code(), StatusCode::kFailedPrecondition);
}

TEST_F(SchedulerPbtTest, CancellingStopsWaitingMembersAndTheLastSegmentCompletes) {
  Open();
  Submit();
  FirstSegment();
  // Segment 2 for all, then segment 3 (the last: it trains to the end and completes).
  for (int round = 0; round < 4; ++round) {
    std::optional<LeaseGrant> g = Lease("w" + std::to_string(round));
    ASSERT_TRUE(g.has_value());
    TrainSegment(*g, 0.5);
  }
  EXPECT_EQ(PopulationEpoch(), 4);
  std::optional<LeaseGrant> last = Lease("w0");
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(last->pause_after_epoch, 0);  // the last segment: train to the end
  EXPECT_EQ(last->resume_from_epoch, 4);
  // Cancel now: the three queued members stop at once, the running one when it ends.
  auto n = scheduler_->Cancel(sweep_id_);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 4);
  int stopped = 0;
  for (int i = 1; i <= 4; ++i) stopped += Member(i).status == TrialStatus::kStopped;
  EXPECT_EQ(stopped, 3);
}

TEST_F(SchedulerPbtTest, AMemberThatWaitsWhenOthersFailStillMovesOn) {
  Open();
  Submit();
  // Three members end their segment; the fourth fails for good (max_attempts 3 by default).
  std::vector<LeaseGrant> held;
  for (int i = 0; i < 4; ++i) {
    std::optional<LeaseGrant> g = Lease("w" + std::to_string(i));
    ASSERT_TRUE(g.has_value());
    held.push_back(*g);
  }
  for (int i = 0; i < 3; ++i) TrainSegment(held[static_cast<size_t>(i)], 0.2 * (i + 1));
  std::string lease = held[3].lease_id;
  for (int attempt = 0; attempt < 3; ++attempt) {
    ASSERT_TRUE(scheduler_->Fail(lease, "broken", false).ok());
    if (attempt == 2) break;
    std::optional<LeaseGrant> again = Lease("w3");
    ASSERT_TRUE(again.has_value());
    EXPECT_EQ(again->trial.number, held[3].trial.number);
    lease = again->lease_id;
  }
  EXPECT_EQ(Member(held[3].trial.number).status, TrialStatus::kFailed);
  // The three others are not left waiting: the population decided without the failed one.
  EXPECT_EQ(PopulationEpoch(), 2);
  std::optional<LeaseGrant> g = Lease("w0");
  ASSERT_TRUE(g.has_value());
  EXPECT_EQ(g->pause_after_epoch, 4);
}

}  // namespace
}  // namespace hpsweep::scheduler_pbt_test
