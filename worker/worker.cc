#include "worker/worker.h"

#include <grpcpp/grpcpp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "auth/credentials.h"
#include "engine/dataset.h"
#include "engine/gemm.h"
#include "engine/mnist.h"
#include "base/sha256.h"
#include "base/utf8.h"
#include "proto/hpsweep.grpc.pb.h"
#include "worker/worker_impl.h"

namespace hpsweep {

namespace {

// The most a data-set fetch may write: MNIST is 55 MB; a coordinator that sends more is refused.
constexpr int64_t kMaxFetchBytes = int64_t{1} << 30;

// data_dir without trailing slashes, so that a sibling folder is made beside it, not in it.
std::string TrimSlashes(std::string dir) {
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  return dir.empty() ? "." : dir;
}

std::string HostName() {
  char host[256] = "host";
  gethostname(host, sizeof(host) - 1);
  return host;
}

std::string DefaultName() { return HostName() + ":" + std::to_string(getpid()); }

// What a file is, for WorkerFingerprint: its path, size and modification time ("-" if missing).
std::string FileStamp(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return path + " -\n";
  return path + " " + std::to_string(static_cast<long long>(st.st_size)) + " " +
         std::to_string(static_cast<long long>(st.st_mtim.tv_sec)) + "." +
         std::to_string(st.st_mtim.tv_nsec) + "\n";
}

}  // namespace

std::string WorkerFingerprint(const WorkerOptions& o) {
  std::string text = FileStamp("/proc/self/exe");  // (stat follows the link to the binary)
  for (const auto& [program, path] : o.programs) text += program + "=" + FileStamp(path);
  text += "data " + FileStamp(o.data_dir);
  for (const char* f : {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                        "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"}) {
    text += FileStamp(o.data_dir + "/" + f);
  }
  return Sha256Hex(text);  // 64 hex digits
}

namespace {

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

std::chrono::system_clock::time_point Worker::Impl::Deadline(double seconds) {
  return std::chrono::system_clock::now() +
         std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
}

// Worth retrying: the coordinator is down, restarting or overloaded.
bool Worker::Impl::Transient(const grpc::Status& s) {
  return s.error_code() == grpc::StatusCode::UNAVAILABLE ||
         s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED ||
         s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED ||
         s.error_code() == grpc::StatusCode::ABORTED ||
         s.error_code() == grpc::StatusCode::INTERNAL;
}

std::string Worker::Impl::GiB(double bytes) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f GiB", bytes / (1 << 30));
  return buf;
}

void Worker::Impl::Log(const std::string& msg) {
  if (!o_.verbose) return;
  std::fprintf(stderr, "[worker %s] %s\n", name_.c_str(), msg.c_str());
  std::fflush(stderr);
}

// Sleeps `seconds`, waking early on stop. Returns false if stop was requested.
bool Worker::Impl::Sleep(double seconds) {
  const auto end = std::chrono::steady_clock::now() +
                   std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
  while (std::chrono::steady_clock::now() < end) {
    if (Stopping()) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return !Stopping();
}

// True once stop has been requested for longer than o_.stop_grace_seconds (the clock starts at
// the first look after the request).
bool Worker::Impl::StopGraceOver() {
  if (!Stopping()) return false;
  const auto now = std::chrono::steady_clock::now();
  if (!stop_seen_) {
    stop_seen_ = true;
    stop_seen_at_ = now;
  }
  return std::chrono::duration<double>(now - stop_seen_at_).count() >= o_.stop_grace_seconds;
}

Status Worker::Impl::Register() {
  name_ = o_.name.empty() ? DefaultName() : o_.name;
  pb::RegisterWorkerResponse resp;
  const std::string fingerprint = WorkerFingerprint(o_);
  grpc::Status s = Retry("register", [&] {
    grpc::ClientContext ctx;
    ctx.set_deadline(Deadline(10));
    pb::RegisterWorkerRequest req;
    req.set_worker_name(name_);
    req.set_threads(o_.threads);
    req.set_host(Printable(HostName().c_str()));
    req.set_job_id(LauncherJobId());
    for (const auto& [program, path] : o_.programs) req.add_programs(program);
    req.set_bf16(Bf16Supported());  // so that precision: bf16 trials come only where they run
    req.set_fingerprint(fingerprint);  // another one than before lifts a quarantine
    return stub_->RegisterWorker(&ctx, req, &resp);
  });
  if (!s.ok()) return Unavailable("register with " + o_.coordinator + ": " + s.error_message());
  worker_id_ = resp.worker_id();
  lease_seconds_ = resp.lease_seconds() > 0 ? resp.lease_seconds() : 30;
  Log("registered with " + o_.coordinator + " as worker " + std::to_string(worker_id_));
  Log("matrix products: " + Bf16Description());
  return Status::Ok();
}

// Loads the data set, fetching it from the coordinator first if this node lacks it.
Status Worker::Impl::EnsureData() {
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
Status Worker::Impl::FetchData(const std::string& dir, const std::string& own_sha) {
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

Status Worker::Impl::FetchDataInto(const std::string& dir, const std::string& own_sha) {
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
Status Worker::Impl::UseCoordinatorData(const std::string& want) {
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
Status Worker::Impl::UseOwnData(const pb::Trial& trial) {
  auto param = [&](const char* key) {
    auto it = trial.params().find(key);
    return it == trial.params().end() ? std::string() : it->second;
  };
  const std::string want = param("data.sha256");
  // The same files read another way (sequence_length, regression targets) are another data set.
  const std::string read_as =
      want + " " + param("data.sequence_length") + " " + param("data.targets");
  if (!own_sha_.empty() && own_sha_ == read_as) return Status::Ok();
  if (want.size() != 64 || want.find_first_not_of("0123456789abcdef") != std::string::npos) {
    return InvalidArgument("the trial's data.sha256 is not a sha256 in hex");
  }
  StatusOr<DataSpec> parsed = DataSpecFromParams(param);
  if (!parsed.ok()) return parsed.status();
  DataSpec spec = std::move(*parsed);
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
  own_sha_ = read_as;
  Log("training with the sweep's own data set in " +
      (spec.format == DataFormat::kIdx ? spec.path : spec.train_file + ", " + spec.test_file) +
      " (sha256 " + want.substr(0, 12) + ")");
  return Status::Ok();
}

// After a data mismatch: tries to get the coordinator's data; on failure logs why (once) and
// stops leasing until a retry (every data_recheck_seconds) succeeds.
void Worker::Impl::RecoverData() {
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
bool Worker::Impl::Idle() {
  pb::GetStatusResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(Deadline(10));
  if (!stub_->GetStatus(&ctx, pb::GetStatusRequest(), &resp).ok()) return false;
  for (const auto& s : resp.sweeps()) {
    if (s.state() == "running") return false;
  }
  return true;
}

void Worker::Impl::SendFail(const std::string& lease_id, const std::string& error, bool released,
                            const std::string& output, bool segment_end) {
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
        req.set_output(output);
        req.set_segment_end(segment_end);
        pb::FailTrialResponse resp;
        return stub_->FailTrial(&ctx, req, &resp);
      },
      /*give_up_on_stop=*/false);
}

Status Worker::Impl::LoadDataOnce() {
  if (data_loaded_) return Status::Ok();
  HPSWEEP_RETURN_IF_ERROR(EnsureData());
  data_loaded_ = true;
  return Status::Ok();
}

// Runs a leased trial; an engine trial needs the data set first. An error only when the data
// cannot be had (the trial is given back first): the worker cannot go on.
Status Worker::Impl::RunLeased(const pb::LeaseTrialResponse& lease, pb::LeaseTrialResponse* next) {
  if (lease.trial().program().empty() && !data_loaded_) {
    Status s = LoadDataOnce();
    if (!s.ok()) {
      SendFail(lease.lease_id(), s.ToString(), /*released=*/true);
      return s;
    }
  }
  RunTrial(lease, next);
  return Status::Ok();
}

Status Worker::Impl::Run(int* trials_done) {
  HPSWEEP_RETURN_IF_ERROR(Register());
  if (Stopping()) return Status::Ok();
  // A worker that offers programs may never train an engine trial: its data set is loaded (or
  // fetched) at its first engine trial, not before (a program trial forks the worker, and 200 MB
  // of MNIST made each fork slower; a program's node may have no MNIST at all).
  if (o_.programs.empty()) HPSWEEP_RETURN_IF_ERROR(LoadDataOnce());
  pb::LeaseTrialResponse next;  // handed over with the last completion
  while (!Stopping()) {
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
      HPSWEEP_RETURN_IF_ERROR(RunLeased(lease, &next));
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
    if (Stopping()) {
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
    HPSWEEP_RETURN_IF_ERROR(RunLeased(lease, &next));
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
