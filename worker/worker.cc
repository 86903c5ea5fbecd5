#include "worker/worker.h"

#include <grpcpp/grpcpp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <new>
#include <optional>
#include <stdexcept>
#include <thread>

#include "auth/credentials.h"
#include "engine/checkpoint.h"
#include "engine/config.h"
#include "engine/dataset.h"
#include "engine/mnist.h"
#include "engine/model_io.h"
#include "engine/network.h"
#include "engine/sha256.h"
#include "engine/trainer.h"
#include "engine/utf8.h"
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

// The most a data-set fetch may write: MNIST is 55 MB; a coordinator that sends more is refused.
constexpr int64_t kMaxFetchBytes = int64_t{1} << 30;

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

std::string GiB(double bytes) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f GiB", bytes / (1 << 30));
  return buf;
}

// data_dir without trailing slashes, so that a sibling folder is made beside it, not in it.
std::string TrimSlashes(std::string dir) {
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  return dir.empty() ? "." : dir;
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
  return kCheckpointHeaderBytes + static_cast<size_t>(config.train.epochs) * kCheckpointEpochBytes +
         n * (1 + slots) * sizeof(float) + 4;
}

std::string HostName() {
  char host[256] = "host";
  gethostname(host, sizeof(host) - 1);
  return host;
}

std::string DefaultName() { return HostName() + ":" + std::to_string(getpid()); }

// Text for RegisterWorker's host and job_id: the coordinator refuses anything but printable UTF-8
// of at most 256 bytes (a refusal would keep the worker from registering), so anything else from
// the environment is left out.
std::string Printable(const char* value) {
  if (value == nullptr) return "";
  const std::string v(value);
  if (v.size() > 256 || !IsValidUtf8(v)) return "";
  for (size_t i = 0; i < v.size();) {
    const size_t n = Utf8Length(v, i);
    if (n == 0 || IsControlAt(v, i, n) || v[i] == '\t' || v[i] == '\n') return "";
    i += n;
  }
  return v;
}

// The id of the job this worker runs in, as its launcher names it: a Slurm array task
// (ARRAYJOB_TASK, as squeue shows it) or job, $HPSWEEP_JOB_ID, or a Kubernetes pod (its name is
// the host name there); "" when none.
std::string LauncherJobId() {
  const std::string array = Printable(std::getenv("SLURM_ARRAY_JOB_ID"));
  const std::string task = Printable(std::getenv("SLURM_ARRAY_TASK_ID"));
  if (!array.empty() && !task.empty()) return Printable((array + "_" + task).c_str());
  for (const char* name : {"SLURM_JOB_ID", "HPSWEEP_JOB_ID"}) {
    const std::string v = Printable(std::getenv(name));
    if (!v.empty()) return v;
  }
  if (std::getenv("KUBERNETES_SERVICE_HOST") != nullptr) {
    std::string pod = Printable(std::getenv("HOSTNAME"));
    return pod.empty() ? Printable(HostName().c_str()) : pod;
  }
  return "";
}

}  // namespace

class Worker::Impl {
 public:
  Impl(const WorkerOptions& o, std::atomic<bool>* stop, std::shared_ptr<grpc::Channel> channel)
      : o_(o), stop_(stop), channel_(std::move(channel)) {
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
      if (stop_->load() && (give_up_on_stop || StopGraceOver())) return s;
      // The pause ends early on a stop request; a call that retries through stops is then
      // retried at once and at most until the grace is over.
      const auto until = std::chrono::steady_clock::now() +
                         std::chrono::milliseconds(static_cast<int64_t>(backoff * 1000));
      const bool stopping = stop_->load();
      while (std::chrono::steady_clock::now() < until) {
        if (!stopping && stop_->load()) break;
        if (stopping && StopGraceOver()) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      backoff = std::min(max_backoff, backoff * 2);
    }
  }

  // True once stop has been requested for longer than o_.stop_grace_seconds (the clock starts at
  // the first look after the request).
  bool StopGraceOver() {
    if (!stop_->load()) return false;
    const auto now = std::chrono::steady_clock::now();
    if (!stop_seen_) {
      stop_seen_ = true;
      stop_seen_at_ = now;
    }
    return std::chrono::duration<double>(now - stop_seen_at_).count() >= o_.stop_grace_seconds;
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
      req.set_host(Printable(HostName().c_str()));
      req.set_job_id(LauncherJobId());
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
      HPSWEEP_RETURN_IF_ERROR(FetchData(o_.data_dir));
      data = LoadMnist(o_.data_dir);
    }
    if (!data.ok()) return data.status();
    data_ = std::move(*data);
    auto sha = Sha256File(o_.data_dir + "/train-images-idx3-ubyte");
    data_sha_ = sha.ok() ? *sha : "";
    data_in_use_ = o_.data_dir;
    return Status::Ok();
  }

  // Fetches the coordinator's data set into dir (created if missing), each file checked by the
  // sha256 the coordinator sends and moved into place only then.
  // own_sha: "" for the coordinator's MNIST, else the sweep's own data set with that sha256.
  Status FetchData(const std::string& dir, const std::string& own_sha = "") {
    // A folder made here is removed again if the fetch fails (rmdir only removes it empty): a
    // failed run leaves no trace in the user's file system.
    const bool made = mkdir(dir.c_str(), 0755) == 0;
    Status s = FetchDataInto(dir, own_sha);
    if (!s.ok() && made) {
      for (const char* sub : {"/train", "/test"}) rmdir((dir + sub).c_str());
      rmdir(dir.c_str());
    }
    return s;
  }

  Status FetchDataInto(const std::string& dir, const std::string& own_sha) {
    grpc::ClientContext ctx;
    ctx.set_deadline(Deadline(600));
    pb::GetDatasetRequest req;
    req.set_sha256(own_sha);
    auto reader = stub_->GetDataset(&ctx, req);
    pb::DatasetChunk chunk;
    std::ofstream out;
    std::string name, part_name, want_sha, tmp_path, sub_dir;
    int64_t total = 0;
    // A unique temporary name: two workers on one node may fetch into the same folder.
    const std::string part = ".part." + std::to_string(getpid());
    auto finish = [&]() -> Status {
      if (name.empty()) return Status::Ok();
      out.close();
      if (!out) return IoError("cannot write " + tmp_path);
      auto got = Sha256File(tmp_path);
      if (!got.ok()) return got.status();
      if (*got != want_sha) {
        std::remove(tmp_path.c_str());
        return DataLoss("fetched " + name + " has sha256 " + *got + ", the coordinator said " +
                        want_sha);
      }
      if (std::rename(tmp_path.c_str(), (sub_dir + "/" + name).c_str()) != 0) {
        return IoError("cannot move " + tmp_path + " into place");
      }
      return Status::Ok();
    };
    while (reader->Read(&chunk)) {
      if (chunk.file_name() != name || chunk.part() != part_name) {
        HPSWEEP_RETURN_IF_ERROR(finish());
        name = chunk.file_name();
        part_name = chunk.part();
        if (name.find('/') != std::string::npos || name.empty() || name[0] == '.' ||
            name.size() > 255) {
          name.clear();
          return DataLoss("coordinator sent a bad file name '" + chunk.file_name().substr(0, 64) +
                          "'");
        }
        // A csv data set's two files go to train/ and test/ (they may share a base name).
        if (!part_name.empty() && part_name != "train" && part_name != "test") {
          name.clear();
          return DataLoss("coordinator sent a bad file part '" + part_name.substr(0, 16) + "'");
        }
        sub_dir = part_name.empty() ? dir : dir + "/" + part_name;
        if (!part_name.empty()) mkdir(sub_dir.c_str(), 0755);
        want_sha = chunk.sha256();
        tmp_path = sub_dir + "/" + name + part;
        out.open(tmp_path, std::ios::binary | std::ios::trunc);
        if (!out) return IoError("cannot write " + tmp_path);
      }
      total += static_cast<int64_t>(chunk.data().size());
      if (total > kMaxFetchBytes) {
        out.close();
        std::remove(tmp_path.c_str());
        return DataLoss("the coordinator's data set is over " + GiB(kMaxFetchBytes) +
                        "; not fetched");
      }
      out.write(chunk.data().data(), static_cast<std::streamsize>(chunk.data().size()));
    }
    grpc::Status s = reader->Finish();
    if (!s.ok()) {
      if (!name.empty()) std::remove(tmp_path.c_str());
      return Unavailable("fetching the data set from " + o_.coordinator + ": " + s.error_message());
    }
    HPSWEEP_RETURN_IF_ERROR(finish());
    Log("data set fetched into " + dir + " and checked by sha256");
    return Status::Ok();
  }

  // This worker's data differ from the coordinator's (whose training images have sha256 `want`):
  // trains from now on from the coordinator's copy, fetched into a folder of its own beside
  // data_dir (never over the user's files), or reused from there. The user's folder is checked
  // first, in case it was fixed meanwhile.
  Status UseCoordinatorData(const std::string& want) {
    auto own = Sha256File(o_.data_dir + "/train-images-idx3-ubyte");
    std::string dir = o_.data_dir;
    if (!own.ok() || *own != want) {
      dir = TrimSlashes(o_.data_dir) + ".coordinator-" + want.substr(0, 8);
      auto have = Sha256File(dir + "/train-images-idx3-ubyte");
      if (!have.ok() || *have != want) HPSWEEP_RETURN_IF_ERROR(FetchData(dir));
    }
    auto sha = Sha256File(dir + "/train-images-idx3-ubyte");
    if (!sha.ok()) return sha.status();
    if (*sha != want) {
      // The coordinator sent other data than its trials name (its files changed since it
      // started): a folder named after `want` must not keep them. It is ours, never the user's.
      if (dir != o_.data_dir) std::filesystem::remove_all(dir);
      return DataLoss("the coordinator sent training images with sha256 " + *sha +
                      ", but its trials name " + want +
                      " (were its files changed after it "
                      "started?)");
    }
    auto data = LoadMnist(dir);
    if (!data.ok()) return data.status();
    data_ = std::move(*data);
    data_sha_ = *sha;
    data_in_use_ = dir;
    Log("training from now on with the data in " + dir + ", the same as the coordinator's");
    return Status::Ok();
  }

  // Loads (once per identity) the sweep's own data set that the trial's data.* params name: from
  // the named path when the files there have the sha256 the coordinator saw at submit; else from
  // a cache folder of this worker's own beside data_dir (<data_dir>.own-<sha12>, never over the
  // user's files), reused when it matches and otherwise fetched from the coordinator first.
  Status UseOwnData(const pb::Trial& trial) {
    auto param = [&](const char* key) {
      auto it = trial.params().find(key);
      return it == trial.params().end() ? std::string() : it->second;
    };
    const std::string want = param("data.sha256");
    if (!own_sha_.empty() && own_sha_ == want) return Status::Ok();
    if (want.size() != 64 || want.find_first_not_of("0123456789abcdef") != std::string::npos) {
      return InvalidArgument("the trial's data.sha256 is not a sha256 in hex");
    }
    DataSpec spec;
    StatusOr<DataFormat> f = ParseDataFormat(param("data.format"));
    if (!f.ok()) return f.status();
    spec.format = *f;
    spec.path = param("data.path");
    spec.train_file = param("data.train");
    spec.test_file = param("data.test");
    const std::string t = param("data.sequence_length");
    spec.sequence_length = t.empty() ? 1 : std::atoi(t.c_str());
    const std::string named =
        spec.format == DataFormat::kIdx ? spec.path : spec.train_file + ", " + spec.test_file;
    StatusOr<std::string> sha = DatasetSha256(spec);
    if (!sha.ok() || *sha != want) {
      const std::string why =
          !sha.ok() ? "not here (" + sha.status().message() + ")" : "has sha256 " + *sha;
      // The cached copy keeps the files' base names (they are part of the sha256), a csv set's
      // in train/ and test/.
      const std::string cache = TrimSlashes(o_.data_dir) + ".own-" + want.substr(0, 12);
      auto base = [](const std::string& p) { return p.substr(p.find_last_of('/') + 1); };
      DataSpec cached = spec;
      cached.path = cache;
      if (spec.format == DataFormat::kCsv) {
        cached.train_file = cache + "/train/" + base(spec.train_file);
        cached.test_file = cache + "/test/" + base(spec.test_file);
      }
      StatusOr<std::string> have = DatasetSha256(cached);
      if (have.ok() && *have == want) {
        Log("the sweep's data set as named (" + named + ") " + why + "; using the copy in " +
            cache + " (sha256 " + want.substr(0, 12) + ")");
      } else {
        Log("the sweep's data set as named (" + named + ") " + why +
            "; fetching it from the coordinator into " + cache);
        Status fetched = FetchData(cache, want);
        if (!fetched.ok()) {
          return FailedPrecondition(
              "the sweep's data set (" + named + ") " + why +
              ", and fetching it from the coordinator failed: " + fetched.ToString());
        }
        have = DatasetSha256(cached);
        if (!have.ok() || *have != want) {
          std::filesystem::remove_all(cache);  // ours, named after `want`: it must not keep them
          return DataLoss("the data set fetched from the coordinator has sha256 " +
                          (have.ok() ? *have : have.status().ToString()) +
                          ", but the sweep was submitted with " + want);
        }
      }
      spec = cached;
    }
    StatusOr<Mnist> data = LoadDataset(spec);
    if (!data.ok()) return data.status();
    own_data_ = std::move(*data);
    own_sha_ = want;
    Log("training with the sweep's own data set in " +
        (spec.format == DataFormat::kIdx ? spec.path : spec.train_file + ", " + spec.test_file) +
        " (sha256 " + want.substr(0, 12) + ")");
    return Status::Ok();
  }

  // After a data mismatch: tries to get the coordinator's data; on failure logs why (once) and
  // stops leasing until a retry (every data_recheck_seconds) succeeds.
  void RecoverData() {
    Status s = UseCoordinatorData(want_sha_);
    if (s.ok()) {
      data_blocked_ = false;
      return;
    }
    if (!data_blocked_) {
      Log("not leasing trials until this worker's data match the coordinator's (retrying every " +
          std::to_string(static_cast<int>(o_.data_recheck_seconds)) + " s): " + s.ToString());
    }
    data_blocked_ = true;
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
  // left in *next. Running out of memory (std::bad_alloc, std::length_error) anywhere in it gives
  // the trial back (see OutOfMemory) and the worker goes on.
  void RunTrial(const pb::LeaseTrialResponse& lease, pb::LeaseTrialResponse* next) {
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
  void OutOfMemory(const pb::LeaseTrialResponse& lease, const std::string& what) {
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
  void RunTrialOrThrow(const pb::LeaseTrialResponse& lease, pb::LeaseTrialResponse* next) {
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
      // data.* name a sweep's own data set (coordinator/sweep_file.h, kDataParamPrefix).
      if (key.compare(0, 5, "data.") == 0) continue;
      Status s = ApplyKey(key, value, &config);
      if (!s.ok() && bad.ok()) bad = s;
    }
    if (bad.ok()) bad = Validate(config);
    if (!bad.ok()) {
      SendFail(lease_id, bad.ToString(), false);
      return;
    }
    const Mnist* data = &data_;
    if (trial.params().count("data.format") != 0) {
      // A sweep of its own data: read from the named path, or fetched; checked by its sha256.
      Status s = UseOwnData(trial);
      if (!s.ok()) {
        SendFail(lease_id, s.ToString(), false);
        return;
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
      return;
    }
    ShapeModelToData(*data, &config.model);
    const double need = MemoryLowerBound(config, o_.threads);
    const int64_t available = MemAvailableBytes();
    if (available > 0 && need > static_cast<double>(available)) {
      OutOfMemory(lease, "needs at least " + GiB(need) + " of memory, this node has " +
                             GiB(static_cast<double>(available)) + " available");
      return;
    }

    // Heartbeat: renews the lease during epochs; learns of STOP (which training checks every
    // batch) or a lost lease.
    std::atomic<bool> stop_trial{false}, pruned{false}, lost{false}, done{false};
    std::mutex mu;
    std::condition_variable cv;
    auto handle = [&](const grpc::Status& s, const pb::ReportProgressResponse& resp) {
      if (s.ok()) {
        if (resp.action() == pb::ReportProgressResponse::STOP) {
          if (resp.pruned()) pruned = true;
          stop_trial = true;
        }
      } else if (s.error_code() == grpc::StatusCode::FAILED_PRECONDITION ||
                 s.error_code() == grpc::StatusCode::NOT_FOUND) {
        Log("lease lost: " + s.error_message());
        lost = true;
      }
    };
    std::thread heartbeat, watcher;
    // The heartbeat goes on until the result is delivered: a completion retried while the
    // coordinator restarts must not lose its lease meanwhile. Joined here on every way out.
    auto stop_heartbeat = [&] {
      {
        std::lock_guard<std::mutex> lock(mu);
        done = true;
      }
      cv.notify_all();
      if (heartbeat.joinable()) heartbeat.join();
      if (watcher.joinable()) watcher.join();
    };
    struct Joiner {
      std::function<void()> join;
      ~Joiner() { join(); }
    } joiner{stop_heartbeat};
    heartbeat = std::thread([&] {
      std::unique_lock<std::mutex> lock(mu);
      while (!done) {
        const double every = std::max(0.05, std::min(o_.heartbeat_seconds, lease_seconds_ / 3));
        cv.wait_for(lock, std::chrono::duration<double>(every));
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
    opts.stop = &stop_trial;
    watcher = std::thread([&] {  // turns a stop request or a lost lease into a cancel
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
    std::optional<TrainCheckpoint> resume;
    if (trial.resume_from_epoch() > 0) resume = FetchCheckpoint(lease, config);
    SetUpCheckpoints(lease_id, config, resume, &opts);
    auto t0 = std::chrono::steady_clock::now();
    StatusOr<TrainResult> result = Train(config, *data, opts);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

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
      SendFail(lease_id, "", /*released=*/true);  // a plain give-back: nothing to record
      return;
    }
    pb::CompleteTrialRequest req;
    req.set_lease_id(lease_id);
    for (const EpochMetrics& m : result->history) ToProto(m, req.add_history());
    if (result->test.count > 0) {
      req.set_test_loss(result->test.loss);
      req.set_test_accuracy(result->test.accuracy);
      for (int64_t c : result->test.confusion) req.add_confusion_matrix(c);
    } else {  // stopped: not tested
      req.set_test_loss(-1);
      req.set_test_accuracy(-1);
    }
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
    if (s.ok() && result->stopped) {
      // Stopped trials are not results a reader should take for finished ones: say why, and
      // where in the next epoch training stopped.
      const int last = result->history.empty() ? 0 : result->history.back().epoch;
      Log("trial " + std::to_string(trial.trial_id()) + " stopped (" +
          (pruned.load()       ? "pruned by early_terminate"
           : stop_trial.load() ? "sweep cancelled"
           : lost.load()       ? "lease lost"
                               : "worker stopping") +
          ") after epoch " + std::to_string(last) +
          (result->stopped_at_batch > 0
               ? " (epoch " + std::to_string(last + 1) + " stopped at batch " +
                     std::to_string(result->stopped_at_batch) + " of " +
                     std::to_string(result->batches_per_epoch) + ")"
               : ""));
    } else if (s.ok()) {
      Log("trial " + std::to_string(trial.trial_id()) + " done: test_accuracy " +
          std::to_string(result->test.accuracy));
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
  // The checkpoint a resumed lease starts from, parsed against the trial's config; nullopt (the
  // trial starts over, which is slower but right) if it cannot be had or does not fit.
  std::optional<TrainCheckpoint> FetchCheckpoint(const pb::LeaseTrialResponse& lease,
                                                 const TrialConfig& config) {
    const pb::Trial& trial = lease.trial();
    pb::GetCheckpointResponse resp;
    grpc::Status s = Retry("checkpoint", [&] {
      grpc::ClientContext ctx;
      ctx.set_deadline(Deadline(120));
      pb::GetCheckpointRequest req;
      req.set_lease_id(lease.lease_id());
      resp.Clear();
      return stub_->GetCheckpoint(&ctx, req, &resp);
    });
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

  // Sends the state after c.epoch. A refusal or an unreachable coordinator costs only the
  // checkpoint: training goes on.
  void SendCheckpoint(const std::string& lease_id, const TrialConfig& config,
                      const TrainCheckpoint& c) {
    grpc::ClientContext ctx;
    ctx.set_deadline(Deadline(120));
    pb::SaveCheckpointRequest req;
    req.set_lease_id(lease_id);
    req.set_epoch(c.epoch);
    req.set_checkpoint(SerializeCheckpoint(config, c));
    pb::SaveCheckpointResponse resp;
    grpc::Status s = stub_->SaveCheckpoint(&ctx, req, &resp);
    if (!s.ok()) {
      Log("checkpoint after epoch " + std::to_string(c.epoch) + " not kept: " + s.error_message());
    }
  }

  // Sets opts to resume from *resume (if any) and to send checkpoints (see CheckpointBytes).
  void SetUpCheckpoints(const std::string& lease_id, const TrialConfig& config,
                        const std::optional<TrainCheckpoint>& resume, TrainOptions* opts) {
    if (resume) opts->resume = &*resume;
    const size_t bytes = CheckpointBytes(config);
    if (bytes > kMaxCheckpointSendBytes) return;
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
    opts->on_checkpoint = [this, lease_id, config](const TrainCheckpoint& c) {
      SendCheckpoint(lease_id, config, c);
    };
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
      if (data_blocked_) {  // our data differ from the coordinator's: no leasing until fixed
        if (o_.exit_when_idle && Idle()) break;
        if (!Sleep(o_.data_recheck_seconds)) break;
        RecoverData();
        continue;
      }
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
      if (stop_->load()) {
        // A stop that came while the call was under way: the trial it leased goes back now,
        // not when its lease expires.
        if (s.ok() && lease.has_trial()) SendFail(lease.lease_id(), "", /*released=*/true);
        break;
      }
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
    // A completion answered with the next trial just as stop came (or max_trials was reached):
    // give that lease back rather than leave it running until it expires.
    if (next.has_trial()) {
      Log("stopping: giving trial " + std::to_string(next.trial().trial_id()) + " back");
      SendFail(next.lease_id(), "", /*released=*/true);
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
  bool stop_seen_ = false;  // StopGraceOver's clock (Run's thread only)
  std::chrono::steady_clock::time_point stop_seen_at_;
  Mnist data_;
  Mnist own_data_;             // a sweep's own data set (data.* trial params), once loaded
  std::string own_sha_;        // its identity (DatasetSha256), "" before
  std::string data_sha_;       // sha256 of data_'s training images ("" if unknown)
  std::string data_in_use_;    // the folder data_ came from
  bool data_blocked_ = false;  // data differ from the coordinator's and could not be fetched
  std::string want_sha_;       // the coordinator's training images' sha256, once seen to differ
  std::map<int64_t, int> oom_count_;  // trial id -> times it ran out of memory here
};

Worker::Worker(WorkerOptions options) : options_(std::move(options)) {}
Worker::~Worker() = default;

Status Worker::Run() {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(256 << 20);
  args.SetMaxSendMessageSize(256 << 20);
  // Reconnect quickly when a restarted coordinator comes back.
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
  auto channel = MakeChannel(options_.coordinator, options_.security, args);
  if (!channel.ok()) return channel.status();
  Impl impl(options_, &stop_, *channel);
  return impl.Run(&trials_done_);
}

}  // namespace hpsweep
