// FaultInjectingStorage (testing/fault_injecting_storage.h): a test double, linked into tests
// and benchmarks only.
#include "testing/fault_injecting_storage.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace hpsweep {

FaultInjectingStorage::FaultInjectingStorage(std::unique_ptr<Storage> inner)
    : inner_(std::move(inner)) {}

void FaultInjectingStorage::FailAfter(int n) { fail_after_ = calls_ + (n < 0 ? 0 : n); }
void FaultInjectingStorage::FailCommits(bool fail) { fail_commits_ = fail; }
void FaultInjectingStorage::Heal() {
  fail_after_ = -1;
  fail_commits_ = false;
}

Status FaultInjectingStorage::Check() {
  ++calls_;
  if (fail_after_ >= 0 && calls_ > fail_after_) {
    return IoError("injected fault (call " + std::to_string(calls_) + ", failing after " +
                   std::to_string(fail_after_) + ")");
  }
  return Status::Ok();
}

Status FaultInjectingStorage::Begin() {
  HPSWEEP_RETURN_IF_ERROR(Check());
  return inner_->Begin();
}

// A failed commit rolls back, as SqliteStorage's does.
Status FaultInjectingStorage::Commit() {
  Status st = Check();
  if (st.ok() && fail_commits_) st = IoError("injected commit fault (rolled back)");
  if (!st.ok()) {
    inner_->Rollback();
    return st;
  }
  return inner_->Commit();
}

// Not counted and never failed: a caller must always be able to clean up.
void FaultInjectingStorage::Rollback() { inner_->Rollback(); }

StatusOr<int64_t> FaultInjectingStorage::InsertSweep(const SweepRow& sweep) {
  HPSWEEP_RETURN_IF_ERROR(Check());
  return inner_->InsertSweep(sweep);
}
Status FaultInjectingStorage::UpdateSweepState(int64_t sweep_id, SweepState state,
                                               double finished_at) {
  HPSWEEP_RETURN_IF_ERROR(Check());
  return inner_->UpdateSweepState(sweep_id, state, finished_at);
}
Status FaultInjectingStorage::ExtendSweep(int64_t sweep_id, int max_trials, int total) {
  HPSWEEP_RETURN_IF_ERROR(Check());
  return inner_->ExtendSweep(sweep_id, max_trials, total);
}
Status FaultInjectingStorage::SetPopulationEpoch(int64_t sweep_id, int epoch) {
  HPSWEEP_RETURN_IF_ERROR(Check());
  return inner_->SetPopulationEpoch(sweep_id, epoch);
}
Status FaultInjectingStorage::SetTrialParams(int64_t trial_id,
                                             const std::map<std::string, std::string>& params,
                                             const std::string& schedule) {
  HPSWEEP_RETURN_IF_ERROR(Check());
  return inner_->SetTrialParams(trial_id, params, schedule);
}
StatusOr<int64_t> FaultInjectingStorage::InsertTrial(const TrialRow& trial) {
  HPSWEEP_RETURN_IF_ERROR(Check());
  return inner_->InsertTrial(trial);
}
Status FaultInjectingStorage::UpdateTrial(const TrialRow& trial) {
  HPSWEEP_RETURN_IF_ERROR(Check());
  return inner_->UpdateTrial(trial);
}
Status FaultInjectingStorage::PutEpoch(const EpochRow& epoch) {
  HPSWEEP_RETURN_IF_ERROR(Check());
  return inner_->PutEpoch(epoch);
}
Status FaultInjectingStorage::DeleteEpochs(int64_t trial_id) {
  HPSWEEP_RETURN_IF_ERROR(Check());
  return inner_->DeleteEpochs(trial_id);
}
StatusOr<WorkerRow> FaultInjectingStorage::UpsertWorker(const WorkerRow& worker, double now) {
  HPSWEEP_RETURN_IF_ERROR(Check());
  return inner_->UpsertWorker(worker, now);
}
Status FaultInjectingStorage::AddWorkerTrials(int64_t worker_id, int done, int failed) {
  HPSWEEP_RETURN_IF_ERROR(Check());
  return inner_->AddWorkerTrials(worker_id, done, failed);
}
Status FaultInjectingStorage::UpdateWorkerHealth(int64_t worker_id, const std::string& fingerprint,
                                                const std::string& quarantine,
                                                double quarantined_at) {
  HPSWEEP_RETURN_IF_ERROR(Check());
  return inner_->UpdateWorkerHealth(worker_id, fingerprint, quarantine, quarantined_at);
}
Status FaultInjectingStorage::TouchWorker(int64_t worker_id, double now) {
  HPSWEEP_RETURN_IF_ERROR(Check());
  return inner_->TouchWorker(worker_id, now);
}
Status FaultInjectingStorage::PutArtifact(int64_t trial_id, const std::string& kind,
                                          const std::string& bytes) {
  HPSWEEP_RETURN_IF_ERROR(Check());
  return inner_->PutArtifact(trial_id, kind, bytes);
}
StatusOr<std::string> FaultInjectingStorage::GetArtifact(int64_t trial_id,
                                                         const std::string& kind) {
  HPSWEEP_RETURN_IF_ERROR(Check());
  return inner_->GetArtifact(trial_id, kind);
}
StatusOr<std::vector<SweepRow>> FaultInjectingStorage::LoadSweeps() {
  HPSWEEP_RETURN_IF_ERROR(Check());
  return inner_->LoadSweeps();
}
StatusOr<std::vector<TrialRow>> FaultInjectingStorage::LoadTrials(int64_t sweep_id) {
  HPSWEEP_RETURN_IF_ERROR(Check());
  return inner_->LoadTrials(sweep_id);
}
StatusOr<std::vector<EpochRow>> FaultInjectingStorage::LoadEpochs(int64_t trial_id) {
  HPSWEEP_RETURN_IF_ERROR(Check());
  return inner_->LoadEpochs(trial_id);
}
StatusOr<std::vector<WorkerRow>> FaultInjectingStorage::LoadWorkers() {
  HPSWEEP_RETURN_IF_ERROR(Check());
  return inner_->LoadWorkers();
}
StatusOr<std::vector<TrialRow>> FaultInjectingStorage::Leaderboard(int64_t sweep_id,
                                                                   const std::string& metric,
                                                                   bool maximize, int top) {
  HPSWEEP_RETURN_IF_ERROR(Check());
  return inner_->Leaderboard(sweep_id, metric, maximize, top);
}
StatusOr<std::string> FaultInjectingStorage::IntegrityCheck() {
  HPSWEEP_RETURN_IF_ERROR(Check());
  return inner_->IntegrityCheck();
}

Status FaultInjectingStorage::DeleteEpochsAfter(int64_t trial_id, int epoch) {
  HPSWEEP_RETURN_IF_ERROR(Check());
  return inner_->DeleteEpochsAfter(trial_id, epoch);
}
Status FaultInjectingStorage::InsertAttempt(const AttemptRow& attempt) {
  HPSWEEP_RETURN_IF_ERROR(Check());
  return inner_->InsertAttempt(attempt);
}
Status FaultInjectingStorage::EndAttempt(int64_t trial_id, double ended_at) {
  HPSWEEP_RETURN_IF_ERROR(Check());
  return inner_->EndAttempt(trial_id, ended_at);
}
StatusOr<std::vector<AttemptRow>> FaultInjectingStorage::LoadAttempts(int64_t trial_id) {
  HPSWEEP_RETURN_IF_ERROR(Check());
  return inner_->LoadAttempts(trial_id);
}

}  // namespace hpsweep
