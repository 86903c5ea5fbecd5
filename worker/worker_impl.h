// Worker::Impl (worker/worker.h): the worker's state and steps, shared by worker.cc (registering,
// the data set, the lease loop) and trial_run.cc (running one trial: config, memory check,
// heartbeat, training, checkpoints, result). Internal to worker/.
//
// Ownership: Worker::Run makes one Impl on its stack; it owns the stub and the data sets, and
// borrows the Worker's stop flag. Thread-safety: Run() and everything it calls on one thread,
// except that a trial's heartbeat and watcher threads (trial_run.cc) call the stub, Log and
// HandleProgress, and ask Stopping() (atomics).
#ifndef HPSWEEP_WORKER_WORKER_IMPL_H_
#define HPSWEEP_WORKER_WORKER_IMPL_H_

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "engine/checkpoint.h"
#include "engine/config.h"
#include "engine/mnist.h"
#include "base/status.h"
#include "engine/trainer.h"
#include "proto/hpsweep.grpc.pb.h"
#include "worker/program_runner.h"
#include "worker/worker.h"

namespace hpsweep {

namespace pb = ::hpsweep::v1;

class Worker::Impl {
 public:
  Impl(const WorkerOptions& o, std::atomic<bool>* stop, std::shared_ptr<grpc::Channel> channel)
      : o_(o), stop_(stop), channel_(std::move(channel)) {
    stub_ = pb::Coordinator::NewStub(channel_);
  }

  // A stop was asked for: RequestStop(), or the signal flag of WorkerOptions::stop_signal.
  bool Stopping() const {
    return stop_->load() || (o_.stop_signal != nullptr && o_.stop_signal->load() != 0);
  }

  // The lease loop (worker.cc); counts the trials run in *trials_done.
  Status Run(int* trials_done);

 private:
  struct TrialWatch;  // one trial's heartbeat and watcher threads (trial_run.cc)

  // ---- worker.cc ----
  static std::chrono::system_clock::time_point Deadline(double seconds);
  static bool Transient(const grpc::Status& s);
  static std::string GiB(double bytes);

  void Log(const std::string& msg);
  bool Sleep(double seconds);

  // Calls `rpc` until it succeeds or fails for a non-transient reason; backoff between tries.
  // give_up_on_stop: return the last status when stop is requested instead of retrying on;
  // otherwise (a result, a lease given back) retry on for at most stop_grace_seconds after the
  // stop request, so that SIGTERM ends the worker promptly even with the coordinator gone.
  template <typename F>
  grpc::Status Retry(const char* what, F&& rpc, bool give_up_on_stop = true,
                     double max_backoff = 0) {
    if (max_backoff <= 0) max_backoff = o_.max_backoff_seconds;
    double backoff = 0.2;
    int tries = 0;
    while (true) {
      grpc::Status s = rpc();
      if (s.ok() || !Transient(s)) return s;
      if (++tries == 1 || tries % 10 == 0) {
        Log(std::string(what) + ": coordinator " + o_.coordinator + " unreachable (" +
            s.error_message() + "), retrying");
      }
      if (Stopping() && (give_up_on_stop || StopGraceOver())) return s;
      // The pause ends early on a stop request; a call that retries through stops is then
      // retried at once and at most until the grace is over.
      const auto until = std::chrono::steady_clock::now() +
                         std::chrono::milliseconds(static_cast<int64_t>(backoff * 1000));
      const bool stopping = Stopping();
      while (std::chrono::steady_clock::now() < until) {
        if (!stopping && Stopping()) break;
        if (stopping && StopGraceOver()) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      backoff = std::min(max_backoff, backoff * 2);
    }
  }

  bool StopGraceOver();
  Status Register();
  Status EnsureData();
  Status LoadDataOnce();  // EnsureData, once
  Status RunLeased(const pb::LeaseTrialResponse& lease, pb::LeaseTrialResponse* next);
  Status FetchData(const std::string& dir, const std::string& own_sha = "");
  Status FetchDataInto(const std::string& dir, const std::string& own_sha);
  Status UseCoordinatorData(const std::string& want);
  Status UseOwnData(const pb::Trial& trial);
  void RecoverData();
  bool Idle();
  // FailTrial; segment_end: a population member's segment ended (Trial.pause_after_epoch).
  void SendFail(const std::string& lease_id, const std::string& error, bool released,
                const std::string& output = "", bool segment_end = false);

  // ---- program_trial.cc: a trial of the user's own program (docs/programs.md) ----
  void RunProgramTrial(const pb::LeaseTrialResponse& lease, pb::LeaseTrialResponse* next);
  void SendProgramCheckpoint(const std::string& lease_id, int epoch, const std::string& packed);
  bool RestoreProgramCheckpoint(const pb::LeaseTrialResponse& lease, const std::string& dir);
  grpc::Status SendProgramResult(const std::string& lease_id, const ProgramResult& r,
                                 pb::LeaseTrialResponse* next);

  // ---- trial_run.cc ----
  void RunTrial(const pb::LeaseTrialResponse& lease, pb::LeaseTrialResponse* next);
  void OutOfMemory(const pb::LeaseTrialResponse& lease, const std::string& what);
  void RunTrialOrThrow(const pb::LeaseTrialResponse& lease, pb::LeaseTrialResponse* next);
  const Mnist* DataForTrial(const pb::LeaseTrialResponse& lease);
  bool FitsInMemory(const pb::LeaseTrialResponse& lease, const TrialConfig& config);
  void HandleProgress(const grpc::Status& s, const pb::ReportProgressResponse& resp,
                      TrialWatch* watch);
  void StartTrialThreads(const std::string& lease_id, TrialWatch* watch);
  TrainOptions TrialTrainOptions(const pb::Trial& trial, const std::string& lease_id,
                                 TrialWatch* watch);
  // CompleteTrial with *req (its lease id and result set), retried until the coordinator has it;
  // *next gets the next lease when the coordinator hands one over with it.
  grpc::Status GetCheckpointOf(const std::string& lease_id, pb::GetCheckpointResponse* resp);
  grpc::Status DeliverCompletion(pb::CompleteTrialRequest* req, pb::LeaseTrialResponse* next);
  grpc::Status SendResult(const std::string& lease_id, const TrainResult& result, double seconds,
                          pb::LeaseTrialResponse* next);
  void LogResult(const pb::Trial& trial, const std::string& lease_id, const TrainResult& result,
                 const grpc::Status& s, const TrialWatch& watch);
  std::optional<TrainCheckpoint> FetchCheckpoint(const pb::LeaseTrialResponse& lease,
                                                 const TrialConfig& config);
  void SendCheckpoint(const std::string& lease_id, const TrialConfig& config,
                      const TrainCheckpoint& c, bool must_keep);
  void SetUpCheckpoints(const std::string& lease_id, const pb::Trial& trial,
                        const TrialConfig& config, const std::optional<TrainCheckpoint>& resume,
                        TrainOptions* opts);

  WorkerOptions o_;
  std::atomic<bool>* stop_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<pb::Coordinator::Stub> stub_;
  std::string name_;
  int64_t worker_id_ = 0;
  double lease_seconds_ = 30;
  int trials_done_ = 0;
  bool stop_seen_ = false;  // StopGraceOver's clock (Run's thread only)
  std::chrono::steady_clock::time_point stop_seen_at_;
  Mnist data_;
  Mnist own_data_;             // a sweep's own data set (data.* trial params), once loaded
  std::string own_sha_;        // its identity (DatasetSha256) and how it is read, "" before
  std::string data_sha_;       // sha256 of data_'s training images ("" if unknown)
  std::string data_in_use_;    // the folder data_ came from
  bool data_loaded_ = false;   // EnsureData succeeded (at start, or at the first engine trial)
  bool data_blocked_ = false;  // data differ from the coordinator's and could not be fetched
  std::string want_sha_;       // the coordinator's training images' sha256, once seen to differ
  std::map<int64_t, int> oom_count_;  // trial id -> times it ran out of memory here
};

// What one trial's heartbeat and watcher threads share with its training: STOP or a lost lease
// learned from the coordinator, and the cancel that a stop request or a lost lease turns into.
// The heartbeat goes on until the result is delivered: a completion retried while the
// coordinator restarts must not lose its lease meanwhile. Stop() joins both threads; it is
// called on every way out (by the destructor too, for exceptions).
struct Worker::Impl::TrialWatch {
  std::atomic<bool> stop_trial{false}, pruned{false}, lost{false}, done{false};
  std::atomic<bool> cancel{false};
  std::mutex mu;  // the heartbeat's (held during its RPC)
  std::condition_variable cv;
  // The watcher's own, so that Stop() wakes it at once (it wakes every 50 ms otherwise, and a
  // worker waiting 50 ms to start its next trial was a third of a short program trial's cost).
  std::mutex watcher_mu;
  std::condition_variable watcher_cv;
  std::thread heartbeat, watcher;

  void Stop() {
    {
      std::lock_guard<std::mutex> lock(watcher_mu);
      done = true;
    }
    watcher_cv.notify_all();
    {
      std::lock_guard<std::mutex> lock(mu);  // (done is set: the heartbeat ends after its RPC)
    }
    cv.notify_all();
    if (heartbeat.joinable()) heartbeat.join();
    if (watcher.joinable()) watcher.join();
  }
  ~TrialWatch() { Stop(); }
};

}  // namespace hpsweep

#endif  // HPSWEEP_WORKER_WORKER_IMPL_H_
