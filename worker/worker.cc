#include "worker/worker.h"

#include <grpcpp/grpcpp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <thread>

#include "engine/config.h"
#include "engine/mnist.h"
#include "engine/model_io.h"
#include "engine/sha256.h"
#include "engine/trainer.h"
#include "proto/hpsweep.grpc.pb.h"

namespace hpsweep {

namespace pb = ::hpsweep::v1;

namespace {

std::chrono::system_clock::time_point Deadline(double seconds) {
  return std::chrono::system_clock::now() +
         std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
}

// Worth retrying: the coordinator is down, restarting or overloaded.
bool Transient(const grpc::Status& s) {
  return s.error_code() == grpc::StatusCode::UNAVAILABLE ||
         s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED ||
         s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED ||
         s.error_code() == grpc::StatusCode::ABORTED ||
         s.error_code() == grpc::StatusCode::INTERNAL;
}

void ToProto(const EpochMetrics& m, pb::EpochMetrics* pm) {
  pm->set_epoch(m.epoch);
  pm->set_train_loss(m.train_loss);
  pm->set_train_accuracy(m.train_accuracy);
  pm->set_val_loss(m.val_loss);
  pm->set_val_accuracy(m.val_accuracy);
  pm->set_seconds(m.seconds);
}

std::string DefaultName() {
  char host[256] = "host";
  gethostname(host, sizeof(host) - 1);
  return std::string(host) + ":" + std::to_string(getpid());
}

}  // namespace

class Worker::Impl {
 public:
  Impl(const WorkerOptions& o, std::atomic<bool>* stop) : o_(o), stop_(stop) {
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(256 << 20);
    args.SetMaxSendMessageSize(256 << 20);
    // Reconnect quickly when a restarted coordinator comes back.
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
    channel_ = grpc::CreateCustomChannel(o.coordinator, grpc::InsecureChannelCredentials(), args);
    stub_ = pb::Coordinator::NewStub(channel_);
  }

  void Log(const std::string& msg) {
    if (!o_.verbose) return;
    std::fprintf(stderr, "[worker %s] %s\n", name_.c_str(), msg.c_str());
    std::fflush(stderr);
  }

  // Sleeps `seconds`, waking early on stop. Returns false if stop was requested.
  bool Sleep(double seconds) {
    const auto end = std::chrono::steady_clock::now() +
                     std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
    while (std::chrono::steady_clock::now() < end) {
      if (stop_->load()) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return !stop_->load();
  }

  // Calls `rpc` until it succeeds or fails for a non-transient reason; backoff between tries.
  // give_up_on_stop: return the last status when stop is requested instead of retrying on.
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
      if (give_up_on_stop && stop_->load()) return s;
      std::this_thread::sleep_for(std::chrono::milliseconds(static_cast<int64_t>(backoff * 1000)));
      backoff = std::min(max_backoff, backoff * 2);
    }
  }

  Status Register() {
    name_ = o_.name.empty() ? DefaultName() : o_.name;
    pb::RegisterWorkerResponse resp;
    grpc::Status s = Retry("register", [&] {
      grpc::ClientContext ctx;
      ctx.set_deadline(Deadline(10));
      pb::RegisterWorkerRequest req;
      req.set_worker_name(name_);
      req.set_threads(o_.threads);
      return stub_->RegisterWorker(&ctx, req, &resp);
    });
    if (!s.ok()) return Unavailable("register with " + o_.coordinator + ": " + s.error_message());
    worker_id_ = resp.worker_id();
    lease_seconds_ = resp.lease_seconds() > 0 ? resp.lease_seconds() : 30;
    Log("registered with " + o_.coordinator + " as worker " + std::to_string(worker_id_));
    return Status::Ok();
  }

  // Loads the data set, fetching it from the coordinator first if this node lacks it.
  Status EnsureData() {
    auto data = LoadMnist(o_.data_dir);
    if (!data.ok() && data.status().code() == StatusCode::kNotFound) {
      Log("no data set in " + o_.data_dir + " (" + data.status().message() +
          "); fetching it from the coordinator");
      HPSWEEP_RETURN_IF_ERROR(FetchData());
      data = LoadMnist(o_.data_dir);
    }
    if (!data.ok()) return data.status();
    data_ = std::move(*data);
    auto sha = Sha256File(o_.data_dir + "/train-images-idx3-ubyte");
    data_sha_ = sha.ok() ? *sha : "";
    return Status::Ok();
  }

  Status FetchData() {
    mkdir(o_.data_dir.c_str(), 0755);
    grpc::ClientContext ctx;
    ctx.set_deadline(Deadline(600));
    auto reader = stub_->GetDataset(&ctx, pb::GetDatasetRequest());
    pb::DatasetChunk chunk;
    std::ofstream out;
    std::string name, want_sha, tmp_path;
    auto finish = [&]() -> Status {
      if (name.empty()) return Status::Ok();
      out.close();
      auto got = Sha256File(tmp_path);
      if (!got.ok()) return got.status();
      if (*got != want_sha) {
        return DataLoss("fetched " + name + " has sha256 " + *got + ", the coordinator said " +
                        want_sha);
      }
      if (std::rename(tmp_path.c_str(), (o_.data_dir + "/" + name).c_str()) != 0) {
        return IoError("cannot move " + tmp_path + " into place");
      }
      return Status::Ok();
    };
    while (reader->Read(&chunk)) {
      if (chunk.file_name() != name) {
        HPSWEEP_RETURN_IF_ERROR(finish());
        name = chunk.file_name();
        if (name.find('/') != std::string::npos || name.empty()) {
          return DataLoss("coordinator sent a bad file name '" + name + "'");
        }
        want_sha = chunk.sha256();
        tmp_path = o_.data_dir + "/" + name + ".part";
        out.open(tmp_path, std::ios::binary | std::ios::trunc);
        if (!out) return IoError("cannot write " + tmp_path);
      }
      out.write(chunk.data().data(), static_cast<std::streamsize>(chunk.data().size()));
    }
    grpc::Status s = reader->Finish();
    if (!s.ok()) {
      return Unavailable("fetching the data set from " + o_.coordinator + ": " + s.error_message());
    }
    HPSWEEP_RETURN_IF_ERROR(finish());
    Log("data set fetched into " + o_.data_dir + " and checked by sha256");
    return Status::Ok();
  }

  // True when the coordinator reports no running sweep.
  bool Idle() {
    pb::GetStatusResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(Deadline(10));
    if (!stub_->GetStatus(&ctx, pb::GetStatusRequest(), &resp).ok()) return false;
    for (const auto& s : resp.sweeps()) {
      if (s.state() == "running") return false;
    }
    return true;
  }

  // One trial from lease to completion. The completion also asks for the next lease, which is
  // left in *next.
  void RunTrial(const pb::LeaseTrialResponse& lease, pb::LeaseTrialResponse* next) {
    const pb::Trial& trial = lease.trial();
    const std::string lease_id = lease.lease_id();
    Log("trial " + std::to_string(trial.trial_id()) + " (sweep " +
        std::to_string(trial.sweep_id()) + " #" + std::to_string(trial.number()) + ", attempt " +
        std::to_string(trial.attempt()) + ")");
    TrialConfig config;
    Status bad;
    for (const auto& [key, value] : trial.params()) {
      // "label" names a list sweep's item (coordinator/sweep_file.h, kLabelKey); not a config key.
      if (key == "label") continue;
      Status s = ApplyKey(key, value, &config);
      if (!s.ok() && bad.ok()) bad = s;
    }
    if (bad.ok()) bad = Validate(config);
    if (bad.ok() && !trial.data_sha256().empty() && !data_sha_.empty() &&
        trial.data_sha256() != data_sha_) {
      bad = FailedPrecondition("this worker's training images (sha256 " + data_sha_ +
                               ") differ from the coordinator's (" + trial.data_sha256() + ")");
    }
    if (!bad.ok()) {
      SendFail(lease_id, bad.ToString(), false);
      return;
    }
    const Mnist* data = &data_;

    // Heartbeat: renews the lease between epochs; learns of STOP or a lost lease.
    std::atomic<bool> stop_trial{false}, lost{false}, done{false};
    std::mutex mu;
    std::condition_variable cv;
    auto handle = [&](const grpc::Status& s, const pb::ReportProgressResponse& resp) {
      if (s.ok()) {
        if (resp.action() == pb::ReportProgressResponse::STOP) stop_trial = true;
      } else if (s.error_code() == grpc::StatusCode::FAILED_PRECONDITION ||
                 s.error_code() == grpc::StatusCode::NOT_FOUND) {
        Log("lease lost: " + s.error_message());
        lost = true;
      }
    };
    std::thread heartbeat([&] {
      std::unique_lock<std::mutex> lock(mu);
      while (!done) {
        cv.wait_for(lock, std::chrono::duration<double>(lease_seconds_ / 3));
        if (done) break;
        grpc::ClientContext ctx;
        ctx.set_deadline(Deadline(std::min(10.0, lease_seconds_ / 3)));
        pb::ReportProgressRequest req;
        req.set_lease_id(lease_id);
        pb::ReportProgressResponse resp;
        handle(stub_->ReportProgress(&ctx, req, &resp), resp);
      }
    });

    std::atomic<bool> cancel{false};
    TrainOptions opts;
    opts.threads = o_.threads;
    opts.cancel = &cancel;
    std::thread watcher([&] {  // turns a stop request or a lost lease into a cancel
      while (!done) {
        if (stop_->load() || lost.load()) cancel = true;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    });
    opts.on_epoch = [&](const EpochMetrics& m) {
      grpc::ClientContext ctx;
      ctx.set_deadline(Deadline(10));
      pb::ReportProgressRequest req;
      req.set_lease_id(lease_id);
      ToProto(m, req.mutable_metrics());
      pb::ReportProgressResponse resp;
      handle(stub_->ReportProgress(&ctx, req, &resp), resp);  // unreachable: train on
      Log("trial " + std::to_string(trial.trial_id()) + " epoch " + std::to_string(m.epoch) +
          ": val_accuracy " + std::to_string(m.val_accuracy));
      return !stop_trial.load() && !lost.load();
    };
    auto t0 = std::chrono::steady_clock::now();
    StatusOr<TrainResult> result = Train(config, *data, opts);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    // The heartbeat goes on until the result is delivered: a completion retried while the
    // coordinator restarts must not lose its lease meanwhile.
    auto stop_heartbeat = [&] {
      {
        std::lock_guard<std::mutex> lock(mu);
        done = true;
      }
      cv.notify_all();
      if (heartbeat.joinable()) heartbeat.join();
      if (watcher.joinable()) watcher.join();
    };

    if (!result.ok()) {
      stop_heartbeat();
      SendFail(lease_id, result.status().ToString(), false);
      return;
    }
    if (lost) {  // someone else has the trial now
      stop_heartbeat();
      return;
    }
    if (result->cancelled) {
      stop_heartbeat();
      Log("stopping: giving trial " + std::to_string(trial.trial_id()) + " back");
      SendFail(lease_id, "worker stopped", /*released=*/true);
      return;
    }
    pb::CompleteTrialRequest req;
    req.set_lease_id(lease_id);
    for (const EpochMetrics& m : result->history) ToProto(m, req.add_history());
    req.set_test_loss(result->test.loss);
    req.set_test_accuracy(result->test.accuracy);
    for (int64_t c : result->test.confusion) req.add_confusion_matrix(c);
    req.set_model(SerializeModel(result->model));
    req.set_stopped(result->stopped);
    req.set_seconds(seconds);
    // A finished result is retried until the coordinator has it, even while stopping. The first
    // try also leases the next trial; a retry does not (it would lease another one).
    const bool want_next =
        !stop_->load() && !(o_.max_trials > 0 && trials_done_ + 1 >= o_.max_trials);
    if (want_next) req.set_lease_next_for_worker(worker_id_);
    bool first = true;
    grpc::Status s = Retry(
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
    stop_heartbeat();
    if (s.ok()) {
      Log("trial " + std::to_string(trial.trial_id()) + " done: test_accuracy " +
          std::to_string(result->test.accuracy));
    } else {
      Log("trial " + std::to_string(trial.trial_id()) + " result refused: " + s.error_message());
      // A result the coordinator cannot store (a diverged run's NaN loss, a model over its size
      // limit) is this attempt's failure, with the reason, rather than a lease left to expire.
      if (s.error_code() == grpc::StatusCode::INVALID_ARGUMENT) {
        SendFail(lease_id, "the coordinator refused the result: " + s.error_message(), false);
      }
    }
  }

  void SendFail(const std::string& lease_id, const std::string& error, bool released) {
    if (!released) Log("trial failed: " + error);
    Retry(
        "fail",
        [&] {
          grpc::ClientContext ctx;
          ctx.set_deadline(Deadline(10));
          pb::FailTrialRequest req;
          req.set_lease_id(lease_id);
          req.set_error(error);
          req.set_released(released);
          pb::FailTrialResponse resp;
          return stub_->FailTrial(&ctx, req, &resp);
        },
        /*give_up_on_stop=*/false);
  }

  Status Run(int* trials_done) {
    HPSWEEP_RETURN_IF_ERROR(Register());
    if (stop_->load()) return Status::Ok();
    HPSWEEP_RETURN_IF_ERROR(EnsureData());
    pb::LeaseTrialResponse next;  // handed over with the last completion
    while (!stop_->load()) {
      if (o_.max_trials > 0 && *trials_done >= o_.max_trials) break;
      pb::LeaseTrialResponse lease;
      if (next.has_trial()) {
        lease = next;
        next.Clear();
        RunTrial(lease, &next);
        ++*trials_done;
        trials_done_ = *trials_done;
        continue;
      }
      next.Clear();
      grpc::Status s = Retry("lease", [&] {
        grpc::ClientContext ctx;
        ctx.set_deadline(Deadline(10));
        pb::LeaseTrialRequest req;
        req.set_worker_id(worker_id_);
        lease = pb::LeaseTrialResponse();
        return stub_->LeaseTrial(&ctx, req, &lease);
      });
      if (stop_->load()) break;
      if (s.error_code() == grpc::StatusCode::NOT_FOUND) {
        // A coordinator with a fresh database does not know us: register again.
        HPSWEEP_RETURN_IF_ERROR(Register());
        continue;
      }
      if (!s.ok()) {
        Log("lease refused: " + s.error_message());
        if (!Sleep(1)) break;
        continue;
      }
      if (!lease.has_trial()) {
        if (o_.exit_when_idle && Idle()) break;
        if (!Sleep(std::max(0.05, lease.retry_after_seconds()))) break;
        continue;
      }
      RunTrial(lease, &next);
      ++*trials_done;
      trials_done_ = *trials_done;
    }
    return Status::Ok();
  }

 private:
  WorkerOptions o_;
  std::atomic<bool>* stop_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<pb::Coordinator::Stub> stub_;
  std::string name_;
  int64_t worker_id_ = 0;
  double lease_seconds_ = 30;
  int trials_done_ = 0;
  Mnist data_;
  std::string data_sha_;
};

Worker::Worker(WorkerOptions options) : options_(std::move(options)) {}
Worker::~Worker() = default;

Status Worker::Run() {
  Impl impl(options_, &stop_);
  return impl.Run(&trials_done_);
}

}  // namespace hpsweep
