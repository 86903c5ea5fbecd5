// Worker::Impl's running of one trial (worker/worker_impl.h): the trial's config and data, the
// memory check, the heartbeat and watcher threads around training, checkpoints sent and fetched,
// and the result delivered to the coordinator.
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <condition_variable>
#include <fstream>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <stdexcept>
#include <thread>

#include "engine/checkpoint.h"
#include "engine/config.h"
#include "engine/dataset.h"
#include "engine/mnist.h"
#include "engine/model_io.h"
#include "engine/network.h"
#include "engine/trainer.h"
#include "proto/hpsweep.grpc.pb.h"
#include "worker/worker_impl.h"

namespace hpsweep {

namespace {

void ToProto(const EpochMetrics& m, pb::EpochMetrics* pm) {
  pm->set_epoch(m.epoch);
  pm->set_train_loss(m.train_loss);
  pm->set_train_accuracy(m.train_accuracy);
  pm->set_val_loss(m.val_loss);
  pm->set_val_accuracy(m.val_accuracy);
  pm->set_seconds(m.seconds);
  pm->set_lr(m.lr);
  // task: regression: val_mse and val_mae as named metrics (search/objective.h
  // IsRegressionMetric), when there is validation data.
  if (m.val_mse >= 0) (*pm->mutable_named())["val_mse"] = m.val_mse;
  if (m.val_mae >= 0) (*pm->mutable_named())["val_mae"] = m.val_mae;
}

// MemAvailable from /proc/meminfo, in bytes; -1 if unknown.
int64_t MemAvailableBytes() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  int64_t kb = 0;
  std::string unit;
  while (in >> key >> kb >> unit) {
    if (key == "MemAvailable:") return kb * 1024;
  }
  return -1;
}

// A lower bound of the bytes training `config` on `threads` threads allocates: the parameters,
// one gradient buffer per thread and the optimizer's state, and the hidden state of every layer
// at every step of one batch, all float32. Real use is higher; a trial above this cannot fit.
double MemoryLowerBound(const TrialConfig& config, int threads) {
  const ModelConfig& m = config.model;
  const double params = static_cast<double>(CountParams(m));
  const double optimizer = config.train.optimizer == Optimizer::kAdam      ? 2
                           : config.train.optimizer == Optimizer::kRmsprop ? 1
                                                                           : 0;
  const double steps = m.cell == Cell::kDense ? 1 : m.steps;
  const double activations =
      static_cast<double>(config.train.batch_size) * steps * m.units * std::max(1, m.layers);
  return 4.0 * (params * (1 + std::max(1, threads) + optimizer) + activations);
}

// ---- Resuming trials: when to send a checkpoint ----
// A checkpoint is about three times the model (parameters and the optimizer's slots). Small ones
// (most MNIST models: LSTM-128's is 1 MB) go after every epoch; bigger ones once at least
// kCheckpointEverySeconds of training have passed since the last, so that sending them costs
// little next to the training they save (LSTM-256x3, 16 MB, every epoch whose training takes 10 s
// or more). None above the coordinator's limit (scheduler.h kMaxCheckpointBytes): such a trial
// restarts if it is leased again.
constexpr size_t kSmallCheckpointBytes = 8u << 20;
constexpr double kCheckpointEverySeconds = 10;
constexpr size_t kMaxCheckpointSendBytes = 128u << 20;

size_t CheckpointBytes(const TrialConfig& config) {
  const size_t n = static_cast<size_t>(CountParams(config.model));
  const size_t slots = config.train.optimizer == Optimizer::kSgd ? 1 : 2;
  // The kept epoch's weights (keep: best, restore_best_weights) travel too, at most one copy.
  const size_t kept = config.train.keep == Keep::kBest || config.train.restore_best_weights;
  return kCheckpointHeaderBytes + static_cast<size_t>(config.train.epochs) * kCheckpointEpochBytes +
         kCheckpointScheduleBytes + kCheckpointKeepBytes + n * (1 + slots + kept) * sizeof(float) +
         4;
}

// The trial's config from its params; the first bad key's error, or Validate's.
Status TrialConfigOf(const pb::Trial& trial, TrialConfig* config) {
  Status bad;
  for (const auto& [key, value] : trial.params()) {
    // "label" names a list sweep's item (search/sweep_file.h, kLabelKey); not a config key.
    if (key == "label") continue;
    // data.* name a sweep's own data set (search/sweep_file.h, kDataParamPrefix).
    if (key.compare(0, 5, "data.") == 0) continue;
    Status s = ApplyKey(key, value, config);
    if (!s.ok() && bad.ok()) bad = s;
  }
  if (bad.ok()) bad = Validate(*config);
  return bad;
}

}  // namespace

// One trial from lease to completion. The completion also asks for the next lease, which is
// left in *next. Running out of memory (std::bad_alloc, std::length_error) anywhere in it gives
// the trial back (see OutOfMemory) and the worker goes on.
void Worker::Impl::RunTrial(const pb::LeaseTrialResponse& lease, pb::LeaseTrialResponse* next) {
  try {
    RunTrialOrThrow(lease, next);
  } catch (const std::bad_alloc& e) {
    OutOfMemory(lease, std::string("out of memory building or training it (") + e.what() + ")");
  } catch (const std::length_error& e) {
    OutOfMemory(lease, std::string("out of memory building or training it (std::length_error: ") +
                           e.what() + ")");
  }
}

// The trial does not fit in this worker's memory. The first time, the lease is given back
// without charging an attempt, so that a worker with more memory may take it, and this one
// waits a little before leasing again (else it would lease the same trial at once). If the
// same trial comes back to this worker, the attempt is charged: a trial that fits nowhere ends
// failed after max_attempts, with the reason, instead of going round for ever.
void Worker::Impl::OutOfMemory(const pb::LeaseTrialResponse& lease, const std::string& what) {
  const pb::Trial& trial = lease.trial();
  const bool again = ++oom_count_[trial.trial_id()] > 1;
  const std::string why = "trial " + std::to_string(trial.trial_id()) + " (sweep " +
                          std::to_string(trial.sweep_id()) + " #" +
                          std::to_string(trial.number()) + "): " + what;
  if (!again) {
    Log(why + "; giving it back (no attempt charged) and going on");
    SendFail(lease.lease_id(), why, /*released=*/true);
    Sleep(o_.oom_backoff_seconds);
  } else {
    SendFail(lease.lease_id(), why + " (again on this worker)", /*released=*/false);
  }
}

// Runs the trial; may throw std::bad_alloc or std::length_error. The heartbeat and watcher
// threads are joined on every way out, exceptions included.
void Worker::Impl::RunTrialOrThrow(const pb::LeaseTrialResponse& lease,
                                   pb::LeaseTrialResponse* next) {
  const pb::Trial& trial = lease.trial();
  const std::string lease_id = lease.lease_id();
  Log("trial " + std::to_string(trial.trial_id()) + " (sweep " +
      std::to_string(trial.sweep_id()) + " #" + std::to_string(trial.number()) + ", attempt " +
      std::to_string(trial.attempt()) + ")" +
      (trial.program().empty() ? "" : ": program '" + trial.program() + "'"));
  if (!trial.program().empty()) {
    RunProgramTrial(lease, next);
    return;
  }
  TrialConfig config;
  Status bad = TrialConfigOf(trial, &config);
  if (!bad.ok()) {
    SendFail(lease_id, bad.ToString(), false);
    return;
  }
  // precision: bf16 on a CPU without avx512_bf16: not the trial's fault. The coordinator leases
  // such a trial only to a worker that registered with bf16; an older one does not know, so give
  // it back uncharged for another worker, and pause so as not to lease it again at once.
  if (Status p = CheckPrecision(config.train); !p.ok()) {
    Log(p.message() + "; giving trial " + std::to_string(trial.trial_id()) +
        " back (no attempt charged)");
    SendFail(lease_id, p.message(), /*released=*/true);
    Sleep(o_.oom_backoff_seconds);
    return;
  }
  const Mnist* data = DataForTrial(lease);
  if (data == nullptr) return;
  ShapeModelToData(*data, &config.model);
  if (!FitsInMemory(lease, config)) return;

  // Heartbeat: renews the lease during epochs; learns of STOP (which training checks every
  // batch) or a lost lease. Joined on every way out (TrialWatch).
  TrialWatch watch;
  StartTrialThreads(lease_id, &watch);
  TrainOptions opts = TrialTrainOptions(trial, lease_id, &watch);
  // A population member's checkpoints carry the fingerprint without its mutable params, so that
  // one resumes under changed values of them (engine/checkpoint.h, FingerprintConfig).
  const TrialConfig fingerprint = FingerprintConfig(
      config, {trial.mutable_params().begin(), trial.mutable_params().end()});
  std::optional<TrainCheckpoint> resume;
  if (trial.resume_from_epoch() > 0) resume = FetchCheckpoint(lease, fingerprint);
  const bool member = trial.pause_after_epoch() > 0 || trial.mutable_params_size() > 0;
  if (trial.resume_from_epoch() > 0 && !resume && member) {
    // A population member's segment starting over would train something else than the member
    // (its checkpoint may be another member's, under other values): this attempt fails instead.
    watch.Stop();
    SendFail(lease_id,
             "the checkpoint after epoch " + std::to_string(trial.resume_from_epoch()) +
                 " could not be had or did not fit (the worker's log says why); a population "
                 "member does not start over",
             /*released=*/false);
    return;
  }
  SetUpCheckpoints(lease_id, trial, fingerprint, resume, &opts);
  auto t0 = std::chrono::steady_clock::now();
  StatusOr<TrainResult> result = Train(config, *data, opts);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  if (!result.ok()) {
    watch.Stop();
    SendFail(lease_id, result.status().ToString(), false);
    return;
  }
  if (watch.lost) {  // someone else has the trial now
    watch.Stop();
    return;
  }
  if (result->cancelled) {
    watch.Stop();
    Log("stopping: giving trial " + std::to_string(trial.trial_id()) + " back");
    SendFail(lease_id, "", /*released=*/true);  // a plain give-back: nothing to record
    return;
  }
  if (result->paused) {  // a population member's segment: its checkpoint is sent already
    watch.Stop();
    Log("trial " + std::to_string(trial.trial_id()) + ": segment done after epoch " +
        std::to_string(result->history.back().epoch));
    SendFail(lease_id, "", /*released=*/true, /*output=*/"", /*segment_end=*/true);
    return;
  }
  grpc::Status s = SendResult(lease_id, *result, seconds, next);
  watch.Stop();
  LogResult(trial, lease_id, *result, s, watch);
}

// The data set the trial trains on: the sweep's own (data.* params) or this worker's; nullptr
// when the trial has been failed or given back instead.
const Mnist* Worker::Impl::DataForTrial(const pb::LeaseTrialResponse& lease) {
  const pb::Trial& trial = lease.trial();
  const std::string lease_id = lease.lease_id();
  const Mnist* data = &data_;
  if (trial.params().count("data.format") != 0) {
    // A sweep of its own data: read from the named path, or fetched; checked by its sha256.
    Status s = UseOwnData(trial);
    if (!s.ok()) {
      SendFail(lease_id, s.ToString(), false);
      return nullptr;
    }
    data = &own_data_;
  } else if (!trial.data_sha256().empty() && !data_sha_.empty() &&
             trial.data_sha256() != data_sha_) {
    // Not the trial's fault: give it back uncharged, and stop leasing until the data match.
    const std::string why = "this worker's training images in " + data_in_use_ + " (sha256 " +
                            data_sha_ + ") differ from the coordinator's (" +
                            trial.data_sha256() + ")";
    Log(why + "; giving trial " + std::to_string(trial.trial_id()) +
        " back (no attempt charged)");
    SendFail(lease_id, why, /*released=*/true);
    want_sha_ = trial.data_sha256();
    RecoverData();
    return nullptr;
  }
  return data;
}

// False, the trial given back (OutOfMemory), when a lower bound of what it needs is more than
// this node has available.
bool Worker::Impl::FitsInMemory(const pb::LeaseTrialResponse& lease, const TrialConfig& config) {
  const double need = MemoryLowerBound(config, o_.threads);
  const int64_t available = MemAvailableBytes();
  if (available > 0 && need > static_cast<double>(available)) {
    OutOfMemory(lease, "needs at least " + GiB(need) + " of memory, this node has " +
                           GiB(static_cast<double>(available)) + " available");
    return false;
  }
  return true;
}

// A heartbeat's or an epoch report's answer: STOP (maybe pruned), or the lease lost.
void Worker::Impl::HandleProgress(const grpc::Status& s, const pb::ReportProgressResponse& resp,
                                  TrialWatch* watch) {
  if (s.ok()) {
    if (resp.action() == pb::ReportProgressResponse::STOP) {
      if (resp.pruned()) watch->pruned = true;
      watch->stop_trial = true;
    }
  } else if (s.error_code() == grpc::StatusCode::FAILED_PRECONDITION ||
             s.error_code() == grpc::StatusCode::NOT_FOUND) {
    Log("lease lost: " + s.error_message());
    watch->lost = true;
  }
}

// Starts the heartbeat (a bare report every heartbeat_seconds, at least every third of the lease
// period) and the watcher (turns a stop request or a lost lease into a cancel).
void Worker::Impl::StartTrialThreads(const std::string& lease_id, TrialWatch* watch) {
  watch->heartbeat = std::thread([this, lease_id, watch] {
    std::unique_lock<std::mutex> lock(watch->mu);
    while (!watch->done) {
      const double every = std::max(0.05, std::min(o_.heartbeat_seconds, lease_seconds_ / 3));
      watch->cv.wait_for(lock, std::chrono::duration<double>(every));
      if (watch->done) break;
      grpc::ClientContext ctx;
      ctx.set_deadline(Deadline(std::min(10.0, lease_seconds_ / 3)));
      pb::ReportProgressRequest req;
      req.set_lease_id(lease_id);
      pb::ReportProgressResponse resp;
      HandleProgress(stub_->ReportProgress(&ctx, req, &resp), resp, watch);
    }
  });
  // The watcher turns a stop request or a lost lease into a cancel.
  watch->watcher = std::thread([this, watch] {
    std::unique_lock<std::mutex> lock(watch->watcher_mu);
    while (!watch->done) {
      if (Stopping() || watch->lost.load()) watch->cancel = true;
      watch->watcher_cv.wait_for(lock, std::chrono::milliseconds(50));
    }
  });
}

// Training's options: the threads, the cancel and stop flags, and a report of every epoch.
TrainOptions Worker::Impl::TrialTrainOptions(const pb::Trial& trial, const std::string& lease_id,
                                             TrialWatch* watch) {
  TrainOptions opts;
  opts.threads = o_.threads;
  // keep: best and early stopping watch the sweep's metric by its epoch rule
  // (search/objective.h, ForEpochs): val_loss for a loss metric, else val_accuracy (also when an
  // older coordinator does not say).
  const std::string& metric = trial.metric();
  opts.monitor = metric == "val_loss" || metric == "test_loss"   ? Monitor::kValLoss
                 : metric == "val_mse" || metric == "test_mse" ? Monitor::kValMse
                 : metric == "val_mae" || metric == "test_mae" ? Monitor::kValMae
                                                               : Monitor::kValAccuracy;
  opts.cancel = &watch->cancel;
  opts.stop = &watch->stop_trial;
  opts.on_epoch = [this, lease_id, watch, trial_id = trial.trial_id()](const EpochMetrics& m) {
    grpc::ClientContext ctx;
    ctx.set_deadline(Deadline(10));
    pb::ReportProgressRequest req;
    req.set_lease_id(lease_id);
    ToProto(m, req.mutable_metrics());
    pb::ReportProgressResponse resp;
    HandleProgress(stub_->ReportProgress(&ctx, req, &resp), resp, watch);  // unreachable: train on
    Log("trial " + std::to_string(trial_id) + " epoch " + std::to_string(m.epoch) +
        (m.val_mse >= 0 ? ": val_mse " + std::to_string(m.val_mse)
                        : ": val_accuracy " + std::to_string(m.val_accuracy)));
    return !watch->stop_trial.load() && !watch->lost.load();
  };
  opts.on_warning = [this, trial_id = trial.trial_id()](const std::string& warning) {
    Log("trial " + std::to_string(trial_id) + ": warning: " + warning);
  };
  return opts;
}

// Delivers the result; *next gets the next lease when the coordinator hands one over with it.
grpc::Status Worker::Impl::SendResult(const std::string& lease_id, const TrainResult& result,
                                      double seconds, pb::LeaseTrialResponse* next) {
  pb::CompleteTrialRequest req;
  req.set_lease_id(lease_id);
  for (const EpochMetrics& m : result.history) ToProto(m, req.add_history());
  if (result.test.count > 0) {
    req.set_test_loss(result.test.loss);
    req.set_test_accuracy(result.test.accuracy);  // -1 for regression
    for (int64_t c : result.test.confusion) req.add_confusion_matrix(c);
    if (result.test.mse >= 0) {
      (*req.mutable_final_metrics())["test_mse"] = result.test.mse;
      (*req.mutable_final_metrics())["test_mae"] = result.test.mae;
    }
  } else {  // stopped: not tested
    req.set_test_loss(-1);
    req.set_test_accuracy(-1);
  }
  req.set_model(SerializeModel(result.model));
  req.set_stopped(result.stopped);
  req.set_weights_epoch(result.weights_epoch);
  req.set_stopped_epoch(result.stopped_epoch);
  req.set_seconds(seconds);
  return DeliverCompletion(&req, next);
}

// A finished result is retried until the coordinator has it, even while stopping. The first try
// also leases the next trial; a retry does not (it would lease another one).
grpc::Status Worker::Impl::DeliverCompletion(pb::CompleteTrialRequest* request,
                                             pb::LeaseTrialResponse* next) {
  pb::CompleteTrialRequest& req = *request;
  const bool want_next =
      !Stopping() && !(o_.max_trials > 0 && trials_done_ + 1 >= o_.max_trials);
  if (want_next) req.set_lease_next_for_worker(worker_id_);
  bool first = true;
  return Retry(
      "complete",
      [&] {
        grpc::ClientContext ctx;
        ctx.set_deadline(Deadline(120));
        pb::CompleteTrialResponse resp;
        if (!first) req.set_lease_next_for_worker(0);
        first = false;
        grpc::Status st = stub_->CompleteTrial(&ctx, req, &resp);
        if (st.ok() && resp.has_next()) *next = resp.next();
        return st;
      },
      /*give_up_on_stop=*/false, /*max_backoff=*/2.0);
}

// What became of the result (s: the completion's answer); a result the coordinator refused as
// invalid fails the trial.
void Worker::Impl::LogResult(const pb::Trial& trial, const std::string& lease_id,
                             const TrainResult& result, const grpc::Status& s,
                             const TrialWatch& watch) {
  if (s.ok() && result.stopped) {
    // Stopped trials are not results a reader should take for finished ones: say why, and
    // where in the next epoch training stopped.
    const int last = result.history.empty() ? 0 : result.history.back().epoch;
    Log("trial " + std::to_string(trial.trial_id()) + " stopped (" +
        (watch.pruned.load()       ? "pruned by early_terminate"
         : watch.stop_trial.load() ? "sweep cancelled"
         : watch.lost.load()       ? "lease lost"
                                   : "worker stopping") +
        ") after epoch " + std::to_string(last) +
        (result.stopped_at_batch > 0
             ? " (epoch " + std::to_string(last + 1) + " stopped at batch " +
                   std::to_string(result.stopped_at_batch) + " of " +
                   std::to_string(result.batches_per_epoch) + ")"
             : ""));
  } else if (s.ok()) {
    Log("trial " + std::to_string(trial.trial_id()) + " done: " +
        (result.test.mse >= 0 ? "test_mse " + std::to_string(result.test.mse)
                              : "test_accuracy " + std::to_string(result.test.accuracy)) +
        " (weights of epoch " +
        std::to_string(result.weights_epoch) + ")" +
        (result.stopped_epoch > 0
             ? "; early stopping after epoch " + std::to_string(result.stopped_epoch)
             : ""));
  } else if (Transient(s)) {
    // Stopping with the coordinator out of reach: the result is not stored. The lease expires
    // and the trial is trained again (by whichever worker leases it).
    Log("trial " + std::to_string(trial.trial_id()) +
        " result not delivered: coordinator unreachable while stopping (" + s.error_message() +
        "); the trial will be trained again when its lease expires");
  } else {
    Log("trial " + std::to_string(trial.trial_id()) + " result refused: " + s.error_message());
    // A result the coordinator cannot store (a diverged run's NaN loss, a model over its size
    // limit) is this attempt's failure, with the reason, rather than a lease left to expire.
    if (s.error_code() == grpc::StatusCode::INVALID_ARGUMENT) {
      SendFail(lease_id, "the coordinator refused the result: " + s.error_message(), false);
    }
  }
}
// ---- Resuming trials ----
// The checkpoint of the lease (GetCheckpoint), retried while the coordinator is out of reach.
grpc::Status Worker::Impl::GetCheckpointOf(const std::string& lease_id,
                                           pb::GetCheckpointResponse* resp) {
  return Retry("checkpoint", [&] {
    grpc::ClientContext ctx;
    ctx.set_deadline(Deadline(120));
    pb::GetCheckpointRequest req;
    req.set_lease_id(lease_id);
    resp->Clear();
    return stub_->GetCheckpoint(&ctx, req, resp);
  });
}

// The checkpoint a resumed lease starts from, parsed against the trial's config (its
// FingerprintConfig); nullopt (the trial starts over, which is slower but right; a population
// member's segment fails instead) if it cannot be had or does not fit.
std::optional<TrainCheckpoint> Worker::Impl::FetchCheckpoint(const pb::LeaseTrialResponse& lease,
                                                             const TrialConfig& config) {
  const pb::Trial& trial = lease.trial();
  pb::GetCheckpointResponse resp;
  grpc::Status s = GetCheckpointOf(lease.lease_id(), &resp);
  const std::string what = "trial " + std::to_string(trial.trial_id()) + " checkpoint";
  if (!s.ok()) {
    Log(what + " not available (" + s.error_message() + "); starting over");
    return std::nullopt;
  }
  StatusOr<TrainCheckpoint> c = ParseCheckpoint(resp.checkpoint(), config, what);
  if (!c.ok()) {
    Log(c.status().ToString() + "; starting over");
    return std::nullopt;
  }
  Log("trial " + std::to_string(trial.trial_id()) + ": resuming after epoch " +
      std::to_string(c->epoch) + " (" + std::to_string(resp.checkpoint().size()) +
      " bytes of checkpoint)");
  return std::move(*c);
}

// Sends the state after c.epoch (config: the trial's FingerprintConfig). A refusal or an
// unreachable coordinator costs only the checkpoint: training goes on. A segment's last
// checkpoint (must_keep) is what the next segment resumes from: it is retried while the
// coordinator is out of reach, as a result is.
void Worker::Impl::SendCheckpoint(const std::string& lease_id, const TrialConfig& config,
                                  const TrainCheckpoint& c, bool must_keep) {
  pb::SaveCheckpointRequest req;
  req.set_lease_id(lease_id);
  req.set_epoch(c.epoch);
  req.set_checkpoint(SerializeCheckpoint(config, c));
  auto save = [&] {
    grpc::ClientContext ctx;
    ctx.set_deadline(Deadline(120));
    pb::SaveCheckpointResponse resp;
    return stub_->SaveCheckpoint(&ctx, req, &resp);
  };
  grpc::Status s = must_keep ? Retry("checkpoint", save, /*give_up_on_stop=*/false) : save();
  if (!s.ok()) {
    Log("checkpoint after epoch " + std::to_string(c.epoch) + " not kept: " + s.error_message());
  }
}

// Sets opts to resume from *resume (if any), to send checkpoints (see CheckpointBytes; config is
// the trial's FingerprintConfig, which has its real shape) and to pause after the trial's
// pause_after_epoch (a population member's segment), whose checkpoint is always sent unless it is
// over the limit: then the segment still ends, without one, and the coordinator fails the member.
void Worker::Impl::SetUpCheckpoints(const std::string& lease_id, const pb::Trial& trial,
                                    const TrialConfig& config,
                                    const std::optional<TrainCheckpoint>& resume,
                                    TrainOptions* opts) {
  if (resume) opts->resume = &*resume;
  const int pause = std::max(0, trial.pause_after_epoch());
  opts->pause_after_epoch = pause;
  const size_t bytes = CheckpointBytes(config);
  if (bytes > kMaxCheckpointSendBytes) {
    if (pause > 0) {
      Log("trial " + std::to_string(trial.trial_id()) + ": its checkpoint (" + GiB(bytes) +
          ") is over the " + GiB(kMaxCheckpointSendBytes) +
          " a worker sends; the segment ends without one");
    }
    return;
  }
  auto last =
      std::make_shared<std::chrono::steady_clock::time_point>(std::chrono::steady_clock::now());
  opts->checkpoint_due = [bytes, last](const EpochMetrics&) {
    const auto now = std::chrono::steady_clock::now();
    if (bytes > kSmallCheckpointBytes &&
        std::chrono::duration<double>(now - *last).count() < kCheckpointEverySeconds) {
      return false;
    }
    *last = now;
    return true;
  };
  opts->on_checkpoint = [this, lease_id, config, pause](const TrainCheckpoint& c) {
    SendCheckpoint(lease_id, config, c, /*must_keep=*/c.epoch == pause);
  };
}

}  // namespace hpsweep
