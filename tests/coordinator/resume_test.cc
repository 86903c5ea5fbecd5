// Tests for resuming trials in coordinator/scheduler.h: who may save a checkpoint and of which
// epoch, the checkpoint kept beside the database (one file per trial, removed when the trial
// ends), a re-leased trial resuming from it (epochs after it dropped, best epoch of the epochs
// kept, reports taken from the next epoch), the attempts in the export, and a restarted
// coordinator finding the checkpoint again.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "coordinator/scheduler.h"
#include "coordinator/store/storage.h"
#include "search/sweep_file.h"
#include "engine/checkpoint.h"
#include "tests/coordinator/checkpoint_bytes.h"
#include "tests/coordinator/test_util.h"

namespace hpsweep::resume_test {
namespace {

constexpr double kLease = 30;

EpochReport Epoch(int epoch, double val_accuracy) {
  EpochReport r;
  r.epoch = epoch;
  r.train_loss = r.val_loss = 1.0 / epoch;
  r.train_accuracy = r.val_accuracy = val_accuracy;
  r.seconds = 1;
  return r;
}

class ResumeTrialTest : public ::testing::Test {
 protected:
  // dir empty: checkpoints in memory; else in dir/checkpoints.
  void Open(const std::string& db, const std::string& checkpoint_dir) {
    scheduler_.reset();
    if (!storage_) {
      auto st = OpenSqliteStorage(db);
      ASSERT_TRUE(st.ok()) << st.status().ToString();
      storage_ = std::move(*st);
    }
    SchedulerOptions o;
    o.lease_seconds = kLease;
    o.checkpoint_dir = checkpoint_dir;
    o.max_checkpoint_bytes_total = max_checkpoint_bytes_total_;
    o.max_checkpoint_bytes_per_token = max_checkpoint_bytes_per_token_;
    scheduler_ = std::make_unique<Scheduler>(storage_.get(), &clock_, o);
    ASSERT_TRUE(scheduler_->Load().ok());
  }

  void SubmitOneTrial() {
    Submit("name: resume\nmethod: grid\nmax_attempts: 3\nfixed: {cell: lstm, epochs: 3}\n"
           "parameters:\n  units: {values: [8]}\n");
  }

  void Submit(const std::string& yaml) {
    auto spec = ParseSweep(yaml, "r.yaml");
    ASSERT_TRUE(spec.ok()) << spec.status().ToString();
    auto trials = ExpandSweep(*spec, "r.yaml");
    ASSERT_TRUE(trials.ok());
    auto id = scheduler_->Submit(*spec, *trials, yaml, "r.yaml");
    ASSERT_TRUE(id.ok());
    sweep_id_ = *id;
  }

  LeaseGrant Lease(const std::string& worker) {
    auto w = scheduler_->RegisterWorker(worker, 1);
    EXPECT_TRUE(w.ok());
    auto g = scheduler_->Lease(w.ok() ? *w : 0);
    EXPECT_TRUE(g.ok() && g->has_value());
    return g.ok() && g->has_value() ? **g : LeaseGrant{};
  }

  Status Report(const LeaseGrant& g, int epoch, double acc) {
    double deadline = 0;
    return scheduler_->Report(g.lease_id, Epoch(epoch, acc), &deadline).status();
  }

  std::vector<int> StoredEpochs(int64_t trial_id) {
    std::vector<int> out;
    auto rows = storage_->LoadEpochs(trial_id);
    EXPECT_TRUE(rows.ok());
    if (rows.ok()) {
      for (const EpochRow& e : *rows) out.push_back(e.epoch);
    }
    return out;
  }

  nlohmann::json ExportedTrial() {
    auto j = scheduler_->ExportJson(sweep_id_);
    EXPECT_TRUE(j.ok());
    return nlohmann::json::parse(j.ok() ? *j : "{}")["trials"][0];
  }

  FakeClock clock_;
  std::unique_ptr<Storage> storage_;
  std::unique_ptr<Scheduler> scheduler_;
  int64_t sweep_id_ = 0;
  uint64_t max_checkpoint_bytes_total_ = kMaxCheckpointBytesTotal;
  uint64_t max_checkpoint_bytes_per_token_ = kMaxCheckpointBytesPerToken;
};

TEST_F(ResumeTrialTest, OnlyTheCurrentLeaseSavesItsLastStoredEpoch) {
  Open(":memory:", "");
  SubmitOneTrial();
  LeaseGrant g = Lease("w1");
  // Before any epoch is stored: refused, naming both epochs.
  Status s = scheduler_->SaveCheckpoint(g.lease_id, 1, CheckpointThroughEpoch(1));
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("last epoch stored for trial"), std::string::npos) << s.message();
  ASSERT_TRUE(Report(g, 1, 0.5).ok());
  EXPECT_EQ(scheduler_->SaveCheckpoint(g.lease_id, 2, CheckpointThroughEpoch(2)).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(scheduler_->SaveCheckpoint(g.lease_id, 1, "").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(
      scheduler_->SaveCheckpoint(g.lease_id, 1, std::string(kMaxCheckpointBytes + 1, 'x')).code(),
      StatusCode::kInvalidArgument);
  EXPECT_EQ(scheduler_->SaveCheckpoint("not-a-lease", 1, CheckpointThroughEpoch(1)).code(),
            StatusCode::kFailedPrecondition);
  EXPECT_TRUE(scheduler_->SaveCheckpoint(g.lease_id, 1, CheckpointThroughEpoch(1)).ok());
  // A fresh lease starts from scratch: nothing to fetch.
  EXPECT_EQ(scheduler_->GetCheckpoint("not-a-lease").status().code(),
            StatusCode::kFailedPrecondition);
}

TEST_F(ResumeTrialTest, TrialLeasedAgainResumesFromItsCheckpoint) {
  Open(":memory:", "");
  SubmitOneTrial();
  LeaseGrant first = Lease("w1");
  EXPECT_EQ(first.resume_from_epoch, 0);
  ASSERT_TRUE(Report(first, 1, 0.5).ok());
  ASSERT_TRUE(scheduler_->SaveCheckpoint(first.lease_id, 1, CheckpointThroughEpoch(1)).ok());
  ASSERT_TRUE(Report(first, 2, 0.9).ok());  // stored, but after the checkpoint: dropped on resume
  clock_.Advance(kLease + 1);               // the worker died

  LeaseGrant second = Lease("w2");
  ASSERT_EQ(second.trial.id, first.trial.id);
  EXPECT_EQ(second.trial.attempts, 2);
  EXPECT_EQ(second.resume_from_epoch, 1);
  EXPECT_EQ(second.trial.epochs_run, 1);
  EXPECT_EQ(second.trial.best_epoch, 1);  // not epoch 2's 0.9: that epoch is gone
  EXPECT_DOUBLE_EQ(second.trial.best_val_accuracy, 0.5);
  EXPECT_EQ(StoredEpochs(first.trial.id), std::vector<int>({1}));
  auto c = scheduler_->GetCheckpoint(second.lease_id);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->first, 1);
  EXPECT_EQ(c->second, CheckpointThroughEpoch(1));
  // The old lease can neither save nor fetch.
  EXPECT_EQ(scheduler_->SaveCheckpoint(first.lease_id, 1, CheckpointThroughEpoch(1)).code(),
            StatusCode::kFailedPrecondition);

  // Reports go on from epoch 2; the completion carries the whole history.
  ASSERT_TRUE(Report(second, 2, 0.6).ok());
  ASSERT_TRUE(Report(second, 3, 0.7).ok());
  Completion done;
  done.history = {Epoch(1, 0.5), Epoch(2, 0.6), Epoch(3, 0.7)};
  ASSERT_TRUE(scheduler_->Complete(second.lease_id, done).ok());
  EXPECT_EQ(StoredEpochs(first.trial.id), std::vector<int>({1, 2, 3}));
  // The trial ended: its checkpoint is gone.
  EXPECT_EQ(scheduler_->GetCheckpoint(second.lease_id).status().code(),
            StatusCode::kFailedPrecondition);

  const nlohmann::json t = ExportedTrial();
  ASSERT_EQ(t["attempt_history"].size(), 2u) << t.dump();
  EXPECT_EQ(t["attempt_history"][0]["attempt"], 1);
  EXPECT_EQ(t["attempt_history"][0]["worker"], "w1");
  EXPECT_EQ(t["attempt_history"][0]["resumed_from_epoch"], 0);
  EXPECT_GT(t["attempt_history"][0]["ended_at"].get<double>(), 0);
  EXPECT_EQ(t["attempt_history"][1]["worker"], "w2");
  EXPECT_EQ(t["attempt_history"][1]["resumed_from_epoch"], 1);
  EXPECT_GT(t["attempt_history"][1]["ended_at"].get<double>(), 0);
}

// SIGTERM (a Slurm time limit, a preemption): the worker gives the trial back; the next lease
// resumes too, and the give-back charges no attempt.
TEST_F(ResumeTrialTest, TrialGivenBackResumesFromItsCheckpoint) {
  Open(":memory:", "");
  SubmitOneTrial();
  LeaseGrant first = Lease("w1");
  ASSERT_TRUE(Report(first, 1, 0.5).ok());
  ASSERT_TRUE(Report(first, 2, 0.6).ok());
  ASSERT_TRUE(scheduler_->SaveCheckpoint(first.lease_id, 2, CheckpointThroughEpoch(2)).ok());
  ASSERT_TRUE(scheduler_->Fail(first.lease_id, "", /*released=*/true).ok());
  LeaseGrant second = Lease("w2");
  EXPECT_EQ(second.resume_from_epoch, 2);
  EXPECT_EQ(second.trial.attempts, 1);
  EXPECT_EQ(StoredEpochs(first.trial.id), std::vector<int>({1, 2}));
  const nlohmann::json t = ExportedTrial();
  ASSERT_EQ(t["attempt_history"].size(), 2u) << t.dump();
  EXPECT_GT(t["attempt_history"][0]["ended_at"].get<double>(), 0);
  EXPECT_EQ(t["attempt_history"][1]["ended_at"], 0);  // still running
  EXPECT_EQ(t["attempt_history"][1]["resumed_from_epoch"], 2);
}

// A cancelled sweep's queued trial ends stopped: its checkpoint goes with it.
TEST_F(ResumeTrialTest, CancelledTrialLosesItsCheckpointFile) {
  TempDir dir;
  const std::string ckpts = dir.File("db.checkpoints");
  Open(dir.File("db"), ckpts);
  SubmitOneTrial();
  LeaseGrant first = Lease("w1");
  ASSERT_TRUE(Report(first, 1, 0.5).ok());
  ASSERT_TRUE(scheduler_->SaveCheckpoint(first.lease_id, 1, CheckpointThroughEpoch(1)).ok());
  ASSERT_TRUE(scheduler_->Fail(first.lease_id, "", /*released=*/true).ok());
  const std::string file = ckpts + "/trial-" + std::to_string(first.trial.id) + ".ckpt";
  ASSERT_TRUE(std::filesystem::exists(file));
  ASSERT_TRUE(scheduler_->Cancel(sweep_id_).ok());
  EXPECT_FALSE(std::filesystem::exists(file));
}

TEST_F(ResumeTrialTest, WithoutACheckpointARetryStartsOver) {
  Open(":memory:", "");
  SubmitOneTrial();
  LeaseGrant first = Lease("w1");
  ASSERT_TRUE(Report(first, 1, 0.5).ok());
  ASSERT_TRUE(scheduler_->Fail(first.lease_id, "crashed", false).ok());
  LeaseGrant second = Lease("w2");
  EXPECT_EQ(second.resume_from_epoch, 0);
  EXPECT_EQ(second.trial.epochs_run, 0);
  EXPECT_TRUE(StoredEpochs(first.trial.id).empty());
  EXPECT_EQ(scheduler_->GetCheckpoint(second.lease_id).status().code(), StatusCode::kNotFound);
}

TEST_F(ResumeTrialTest, CheckpointFileBesideTheDatabaseSurvivesARestartAndGoesWithTheTrial) {
  TempDir dir;
  const std::string ckpts = dir.File("sweeps.db.checkpoints");
  Open(dir.File("sweeps.db"), ckpts);
  SubmitOneTrial();
  LeaseGrant first = Lease("w1");
  ASSERT_TRUE(Report(first, 1, 0.5).ok());
  ASSERT_TRUE(Report(first, 2, 0.6).ok());
  ASSERT_TRUE(scheduler_->SaveCheckpoint(first.lease_id, 2, CheckpointThroughEpoch(2)).ok());
  const std::string file = ckpts + "/trial-" + std::to_string(first.trial.id) + ".ckpt";
  ASSERT_TRUE(std::filesystem::exists(file));
  size_t files = 0;
  for (const auto& e : std::filesystem::directory_iterator(ckpts)) files += e.exists();
  EXPECT_EQ(files, 1u);  // no temporary file left behind

  Open("", ckpts);  // the coordinator restarts (same database)
  clock_.Advance(2 * kLease + 1);
  LeaseGrant second = Lease("w2");
  EXPECT_EQ(second.resume_from_epoch, 2);
  auto c = scheduler_->GetCheckpoint(second.lease_id);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->first, 2);
  EXPECT_EQ(c->second, CheckpointThroughEpoch(2));
  ASSERT_TRUE(Report(second, 3, 0.7).ok());
  Completion done;
  done.history = {Epoch(1, 0.5), Epoch(2, 0.6), Epoch(3, 0.7)};
  ASSERT_TRUE(scheduler_->Complete(second.lease_id, done).ok());
  EXPECT_FALSE(std::filesystem::exists(file));
}

// All checkpoints kept at once are capped (a worker token could keep 128 MiB for every trial it
// leased): one past the cap is refused and not kept, the cap counts the files again after a
// restart, and a checkpoint that goes with its finished trial makes room.
TEST_F(ResumeTrialTest, CheckpointsKeptAtOnceAreCapped) {
  TempDir dir;
  const std::string ckpts = dir.File("sweeps.db.checkpoints");
  max_checkpoint_bytes_total_ = CheckpointThroughEpoch(1).size() * 3 / 2;  // room for one
  Open(dir.File("sweeps.db"), ckpts);
  Submit("name: cap\nmethod: grid\nfixed: {cell: lstm, epochs: 3}\n"
         "parameters:\n  units: {values: [8, 9]}\n");
  LeaseGrant a = Lease("w1"), b = Lease("w2");
  ASSERT_TRUE(Report(a, 1, 0.5).ok());
  ASSERT_TRUE(Report(b, 1, 0.5).ok());
  ASSERT_TRUE(scheduler_->SaveCheckpoint(a.lease_id, 1, CheckpointThroughEpoch(1)).ok());
  Status over = scheduler_->SaveCheckpoint(b.lease_id, 1, CheckpointThroughEpoch(1));
  EXPECT_EQ(over.code(), StatusCode::kUnavailable) << over.ToString();
  EXPECT_NE(over.message().find("the limit for all of them is"), std::string::npos);
  const std::string b_file = ckpts + "/trial-" + std::to_string(b.trial.id) + ".ckpt";
  EXPECT_FALSE(std::filesystem::exists(b_file));
  size_t files = 0;
  for (const auto& e : std::filesystem::directory_iterator(ckpts)) files += e.exists();
  EXPECT_EQ(files, 1u);  // nor a temporary file
  // Replacing its own checkpoint with one of the same size is fine.
  ASSERT_TRUE(Report(a, 2, 0.6).ok());
  ASSERT_TRUE(scheduler_->SaveCheckpoint(a.lease_id, 2, CheckpointThroughEpoch(1)).ok());

  Open("", ckpts);  // a restart counts the files kept
  ASSERT_TRUE(Report(b, 2, 0.6).ok());
  EXPECT_EQ(scheduler_->SaveCheckpoint(b.lease_id, 2, CheckpointThroughEpoch(2)).code(),
            StatusCode::kUnavailable);
  ASSERT_TRUE(Report(a, 3, 0.7).ok());
  Completion done;
  done.history = {Epoch(1, 0.5), Epoch(2, 0.6), Epoch(3, 0.7)};
  Status completed = scheduler_->Complete(a.lease_id, done);  // its checkpoint goes
  ASSERT_TRUE(completed.ok()) << completed.ToString();
  EXPECT_TRUE(scheduler_->SaveCheckpoint(b.lease_id, 2, CheckpointThroughEpoch(1)).ok());
  EXPECT_TRUE(std::filesystem::exists(b_file));
}

// One worker token could fill the room every token's trials resume from: a token's share is
// capped below the total, so another token's worker still keeps its checkpoint. A checkpoint that
// goes (its trial ended) gives its token's room back. Workers without a token count toward the
// total only.
TEST_F(ResumeTrialTest, OneTokensCheckpointsAreCappedBelowTheTotal) {
  TempDir dir;
  const std::string ckpts = dir.File("sweeps.db.checkpoints");
  const uint64_t one = CheckpointThroughEpoch(1).size();
  max_checkpoint_bytes_per_token_ = one * 3 / 2;  // room for one of each token
  Open(dir.File("sweeps.db"), ckpts);
  Submit("name: share\nmethod: grid\nfixed: {cell: lstm, epochs: 3}\n"
         "parameters:\n  units: {values: [8, 9, 10, 11]}\n");
  auto lease = [&](const std::string& name, const std::string& token) {
    auto w = scheduler_->RegisterWorker(name, 1, "", "", token);
    EXPECT_TRUE(w.ok()) << w.status().ToString();
    auto g = scheduler_->Lease(w.ok() ? *w : 0);
    EXPECT_TRUE(g.ok() && g->has_value());
    return g.ok() && g->has_value() ? **g : LeaseGrant{};
  };
  LeaseGrant a1 = lease("a1", "token-a"), a2 = lease("a2", "token-a");
  LeaseGrant b1 = lease("b1", "token-b"), n1 = lease("n1", "");
  for (const LeaseGrant* g : {&a1, &a2, &b1, &n1}) ASSERT_TRUE(Report(*g, 1, 0.5).ok());
  ASSERT_TRUE(scheduler_->SaveCheckpoint(a1.lease_id, 1, CheckpointThroughEpoch(1)).ok());
  Status over = scheduler_->SaveCheckpoint(a2.lease_id, 1, CheckpointThroughEpoch(1));
  EXPECT_EQ(over.code(), StatusCode::kUnavailable) << over.ToString();
  EXPECT_NE(over.message().find("the limit per token is"), std::string::npos) << over.message();
  EXPECT_FALSE(std::filesystem::exists(ckpts + "/trial-" + std::to_string(a2.trial.id) + ".ckpt"));
  EXPECT_TRUE(scheduler_->SaveCheckpoint(b1.lease_id, 1, CheckpointThroughEpoch(1)).ok());  // another token
  EXPECT_TRUE(scheduler_->SaveCheckpoint(n1.lease_id, 1, CheckpointThroughEpoch(1)).ok());  // no token
  // Replacing its own is fine; once a1's trial ends, a2 has the room.
  ASSERT_TRUE(Report(a1, 2, 0.6).ok());
  EXPECT_TRUE(scheduler_->SaveCheckpoint(a1.lease_id, 2, CheckpointThroughEpoch(1)).ok());
  ASSERT_TRUE(Report(a1, 3, 0.7).ok());
  Completion done;
  done.history = {Epoch(1, 0.5), Epoch(2, 0.6), Epoch(3, 0.7)};
  ASSERT_TRUE(scheduler_->Complete(a1.lease_id, done).ok());
  EXPECT_TRUE(scheduler_->SaveCheckpoint(a2.lease_id, 1, CheckpointThroughEpoch(1)).ok());
}

TEST_F(ResumeTrialTest, ACheckpointThatDoesNotMatchTheStoredEpochsIsDroppedAtLoad) {
  TempDir dir;
  const std::string ckpts = dir.File("db.checkpoints");
  Open(dir.File("db"), ckpts);
  SubmitOneTrial();
  LeaseGrant first = Lease("w1");
  ASSERT_TRUE(Report(first, 1, 0.5).ok());
  ASSERT_TRUE(scheduler_->SaveCheckpoint(first.lease_id, 1, CheckpointThroughEpoch(1)).ok());
  const std::string file = ckpts + "/trial-" + std::to_string(first.trial.id) + ".ckpt";
  // Replaced behind the coordinator's back by one that claims epoch 3 (never stored).
  {
    std::FILE* f = std::fopen(file.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    const std::string b = CheckpointThroughEpoch(3);
    std::fwrite(b.data(), 1, b.size(), f);
    std::fclose(f);
  }
  Open("", ckpts);
  EXPECT_FALSE(std::filesystem::exists(file));
  clock_.Advance(2 * kLease + 1);
  EXPECT_EQ(Lease("w2").resume_from_epoch, 0);
}

}  // namespace
}  // namespace hpsweep::resume_test
