// FaultInjectingStorage: a test double, linked into tests and benchmarks only (hpsweep_testing,
// never the coordinator). A Storage (coordinator/store/storage.h) that forwards to another and
// fails calls on demand.
//
// Thread-safety: none, like every Storage; the scheduler serialises its calls.
#ifndef HPSWEEP_TESTING_FAULT_INJECTING_STORAGE_H_
#define HPSWEEP_TESTING_FAULT_INJECTING_STORAGE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "coordinator/store/storage.h"
#include "base/status.h"

namespace hpsweep {

// Wraps a Storage and fails calls on demand, for tests of how the scheduler survives errors.
// Ownership: owns the wrapped storage.
class FaultInjectingStorage : public Storage {
 public:
  explicit FaultInjectingStorage(std::unique_ptr<Storage> inner);
  // The next n calls succeed, every call after that fails with IoError until Heal().
  void FailAfter(int n);
  void FailCommits(bool fail);  // Commit() fails (and rolls back) while set
  void Heal();
  int calls() const { return calls_; }

  Status Begin() override;
  Status Commit() override;
  void Rollback() override;
  StatusOr<int64_t> InsertSweep(const SweepRow& sweep) override;
  Status UpdateSweepState(int64_t sweep_id, SweepState state, double finished_at) override;
  Status ExtendSweep(int64_t sweep_id, int max_trials, int total) override;
  Status SetPopulationEpoch(int64_t sweep_id, int epoch) override;
  Status SetTrialParams(int64_t trial_id, const std::map<std::string, std::string>& params,
                        const std::string& schedule) override;
  StatusOr<int64_t> InsertTrial(const TrialRow& trial) override;
  Status UpdateTrial(const TrialRow& trial) override;
  Status PutEpoch(const EpochRow& epoch) override;
  Status DeleteEpochs(int64_t trial_id) override;
  StatusOr<WorkerRow> UpsertWorker(const WorkerRow& worker, double now) override;
  Status TouchWorker(int64_t worker_id, double now) override;
  Status AddWorkerTrials(int64_t worker_id, int done, int failed) override;
  Status UpdateWorkerHealth(int64_t worker_id, const std::string& fingerprint,
                            const std::string& quarantine, double quarantined_at) override;
  Status PutArtifact(int64_t trial_id, const std::string& kind, const std::string& bytes) override;
  StatusOr<std::string> GetArtifact(int64_t trial_id, const std::string& kind) override;
  StatusOr<std::vector<SweepRow>> LoadSweeps() override;
  StatusOr<std::vector<TrialRow>> LoadTrials(int64_t sweep_id) override;
  StatusOr<std::vector<EpochRow>> LoadEpochs(int64_t trial_id) override;
  StatusOr<std::vector<WorkerRow>> LoadWorkers() override;
  StatusOr<std::vector<TrialRow>> Leaderboard(int64_t sweep_id, const std::string& metric,
                                              bool maximize, int top) override;
  StatusOr<std::string> IntegrityCheck() override;
  Status DeleteEpochsAfter(int64_t trial_id, int epoch) override;
  Status InsertAttempt(const AttemptRow& attempt) override;
  Status EndAttempt(int64_t trial_id, double ended_at) override;
  StatusOr<std::vector<AttemptRow>> LoadAttempts(int64_t trial_id) override;

 private:
  Status Check();  // counts the call; IoError when failing
  std::unique_ptr<Storage> inner_;
  int calls_ = 0;
  int fail_after_ = -1;  // -1: never
  bool fail_commits_ = false;
};

}  // namespace hpsweep

#endif  // HPSWEEP_TESTING_FAULT_INJECTING_STORAGE_H_
