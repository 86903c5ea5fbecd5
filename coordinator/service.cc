#include "coordinator/service.h"

#include <malloc.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "auth/credentials.h"
#include "base/file_io.h"
#include "base/mutex.h"
#include "base/sha256.h"
#include "coordinator/connection_cap.h"
#include "coordinator/rpc_edge.h"
#include "engine/dataset.h"
#include "proto/hpsweep.grpc.pb.h"
#include "search/objective.h"
#include "search/sweep_file.h"

namespace hpsweep {

namespace pb = ::hpsweep::v1;

namespace {

// A WatchSweep answered with an error at once.
class Refusal final : public grpc::ServerWriteReactor<pb::GetStatusResponse> {
 public:
  explicit Refusal(grpc::Status status) { Finish(std::move(status)); }
  void OnDone() override { delete this; }
};

const char* kDataFiles[] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                            "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};

}  // namespace

// The worker calls (lease, report, complete, fail) use gRPC's callback API: the handler makes the
// change and returns at once; the scheduler's commit thread finishes the call once the change is
// committed. No gRPC thread waits on the disk, and one commit serves every call that arrived while
// the last one was being written. WatchSweep is a callback stream too, so that a watcher holds no
// thread (see Watch). The rest are plain synchronous methods.
//
// Every handler first checks its request's size against what that call needs, and its text
// fields (limits in scheduler.h); the scheduler checks the rest. Refusals change nothing.
using ServiceBase = pb::Coordinator::WithCallbackMethod_LeaseTrial<
    pb::Coordinator::WithCallbackMethod_ReportProgress<
        pb::Coordinator::WithCallbackMethod_CompleteTrial<
            pb::Coordinator::WithCallbackMethod_FailTrial<
                pb::Coordinator::WithCallbackMethod_WatchSweep<pb::Coordinator::Service>>>>>;

class CoordinatorServer::Service final : public ServiceBase {
 public:
  Service(Scheduler* scheduler, std::string data_dir, std::string data_sha, SweepLimits limits)
      : s_(scheduler),
        data_dir_(std::move(data_dir)),
        data_sha_(std::move(data_sha)),
        limits_(limits) {
    watch_thread_ = std::thread([this] { WatchLoop(); });
  }

  // Call after the server has shut down (no watch is left then).
  ~Service() override {
    {
      MutexLock l(&watch_mu_);
      watch_stop_ = true;
    }
    watch_cv_.SignalAll();
    watch_thread_.join();
  }

  grpc::Status SubmitSweep(grpc::ServerContext*, const pb::SubmitSweepRequest* req,
                           pb::SubmitSweepResponse* resp) override {
    if (auto s = CheckSize("SubmitSweep", *req, kMaxSubmitRequestBytes); !s.ok()) return s;
    if (Status s = CheckText("file_name", req->file_name(), kMaxFileNameBytes, true); !s.ok())
      return ToGrpc(s);
    if (Status s = CheckText("yaml", req->yaml(), kMaxSubmitRequestBytes, false); !s.ok()) {
      return ToGrpc(s);
    }
    const std::string file = req->file_name().empty() ? "<sweep>" : req->file_name();
    // A sweep of its own data: its files are read (on this coordinator) and named by sha256.
    StatusOr<PreparedSweep> sweep = PrepareSweep(req->yaml(), file, limits_);
    if (!sweep.ok()) return ToGrpc(sweep.status());
    const SweepSpec* spec = &sweep->spec;
    const std::vector<TrialSpec>* trials = &sweep->trials;
    auto id = s_->Submit(*spec, *trials, req->yaml(), file, req->reuse(), &sweep->data);
    if (!id.ok()) return ToGrpc(id.status());
    RememberOwnData(*id, sweep->data.params);  // (every method: a bayes sweep has no trials yet)
    const IdenticalFinished same = s_->FindIdenticalFinished(*spec, *trials, *id);
    resp->set_identical_finished(same.trials);
    for (int64_t sweep : same.sweeps) resp->add_identical_sweeps(sweep);
    resp->set_sweep_id(*id);
    resp->set_name(spec->name);
    // The sweep's total: a plan's size, or max_trials (fewer for a smaller finite bayes space).
    int total = static_cast<int>(trials->size());
    for (const SweepCounts& c : s_->Counts(*id)) total = static_cast<int>(c.sweep.total);
    resp->set_trials(total);
    return grpc::Status::OK;
  }

  grpc::Status GetStatus(grpc::ServerContext*, const pb::GetStatusRequest* req,
                         pb::GetStatusResponse* resp) override {
    if (auto s = CheckSize("GetStatus", *req, kMaxRequestBytes); !s.ok()) return s;
    if (grpc::Status known = KnownSweep(req->sweep_id()); !known.ok()) return known;
    FillStatus(req->sweep_id(), resp);
    return grpc::Status::OK;
  }

  grpc::Status CancelSweep(grpc::ServerContext*, const pb::CancelSweepRequest* req,
                           pb::CancelSweepResponse* resp) override {
    if (auto s = CheckSize("CancelSweep", *req, kMaxRequestBytes); !s.ok()) return s;
    auto n = s_->Cancel(req->sweep_id());
    if (!n.ok()) return ToGrpc(n.status());
    resp->set_stopped(*n);
    return grpc::Status::OK;
  }

  grpc::Status ExtendSweep(grpc::ServerContext*, const pb::ExtendSweepRequest* req,
                           pb::ExtendSweepResponse* resp) override {
    if (auto s = CheckSize("ExtendSweep", *req, kMaxRequestBytes); !s.ok()) return s;
    return ExtendSweepCall(s_, *req, resp);  // (rpc_edge.h: the fields checked, then Extend)
  }

  grpc::Status GetLeaderboard(grpc::ServerContext*, const pb::GetLeaderboardRequest* req,
                              pb::GetLeaderboardResponse* resp) override {
    if (auto s = CheckSize("GetLeaderboard", *req, kMaxRequestBytes); !s.ok()) return s;
    SweepRow sweep;
    auto rows = s_->Leaderboard(req->sweep_id(), req->top(), &sweep);
    if (!rows.ok()) return ToGrpc(rows.status());
    *resp = LeaderboardProto(sweep, *rows);
    return grpc::Status::OK;
  }

  grpc::Status ExportSweep(grpc::ServerContext*, const pb::ExportSweepRequest* req,
                           pb::ExportSweepResponse* resp) override {
    if (auto s = CheckSize("ExportSweep", *req, kMaxRequestBytes); !s.ok()) return s;
    return ToGrpc(ExportSweepProto(s_, *req, resp));  // (views.h: pages; an older client's)
  }

  // At most kMaxWatches at once; each is a reactor woken by WatchLoop, not a thread.
  grpc::ServerWriteReactor<pb::GetStatusResponse>* WatchSweep(
      grpc::CallbackServerContext* ctx, const pb::WatchSweepRequest* req) override {
    if (auto s = CheckSize("WatchSweep", *req, kMaxRequestBytes); !s.ok()) return new Refusal(s);
    if (grpc::Status known = KnownSweep(req->sweep_id()); !known.ok()) return new Refusal(known);
    auto* watch = new Watch(this, req->sweep_id(), CallerTokenKey(*ctx));
    {
      MutexLock l(&watch_mu_);
      if (watch_stop_ || ending_watches_ || watches_.size() >= static_cast<size_t>(kMaxWatches)) {
        delete watch;
        return new Refusal({grpc::StatusCode::RESOURCE_EXHAUSTED,
                            std::to_string(watches_.size()) +
                                " WatchSweep streams are open; the limit is " +
                                std::to_string(kMaxWatches) + " (use GetStatus, or retry later)"});
      }
      // One token's share, so that one reader cannot hold every stream (no tokens: no share).
      const std::string& owner = watch->owner();
      const auto mine = std::count_if(watches_.begin(), watches_.end(),
                                      [&](const Watch* w) { return w->owner() == owner; });
      if (!owner.empty() && mine >= kMaxWatchesPerToken) {
        delete watch;
        return new Refusal({grpc::StatusCode::RESOURCE_EXHAUSTED,
                            std::to_string(mine) +
                                " WatchSweep streams of this token are open; the limit per token "
                                "is " +
                                std::to_string(kMaxWatchesPerToken) + " (retry later)"});
      }
      watches_.insert(watch);
    }
    watch_cv_.SignalAll();  // (WatchLoop sleeps while no watch is open)
    watch->Offer(MakeSnapshot(req->sweep_id()));
    return watch;
  }

  // Ends every watch (coordinator shutting down), so that the server need not wait for them.
  void EndWatches() EXCLUDES(watch_mu_) {
    MutexLock l(&watch_mu_);
    ending_watches_ = true;
    for (Watch* w : watches_) {
      w->End({grpc::StatusCode::UNAVAILABLE, "the coordinator is shutting down"});
    }
  }

  grpc::Status GetModel(grpc::ServerContext*, const pb::GetModelRequest* req,
                        pb::GetModelResponse* resp) override {
    if (auto s = CheckSize("GetModel", *req, kMaxRequestBytes); !s.ok()) return s;
    if (req->artifact() != "" && req->artifact() != "model" && req->artifact() != "output") {
      return {grpc::StatusCode::INVALID_ARGUMENT,
              "artifact must be \"\", \"model\" or \"output\""};
    }
    auto model = req->artifact() == "output" ? s_->GetOutput(req->trial_id())
                                             : s_->GetModel(req->trial_id());
    if (!model.ok()) return ToGrpc(model.status());
    resp->set_model(*model);
    return grpc::Status::OK;
  }

  grpc::Status RegisterWorker(grpc::ServerContext* ctx, const pb::RegisterWorkerRequest* req,
                              pb::RegisterWorkerResponse* resp) override {
    if (auto s = CheckSize("RegisterWorker", *req, kMaxRequestBytes); !s.ok()) return s;
    // (the scheduler checks the name, host, job id and thread count, and the token's share)
    // (the scheduler checks the names and their count)
    const std::vector<std::string> programs(req->programs().begin(), req->programs().end());
    auto id = s_->RegisterWorker(req->worker_name(), req->threads(), req->host(), req->job_id(),
                                 CallerTokenKey(*ctx), programs, req->bf16(), req->fingerprint());
    if (!id.ok()) return ToGrpc(id.status());
    resp->set_worker_id(*id);
    resp->set_lease_seconds(lease_seconds_);
    return grpc::Status::OK;
  }

  grpc::Status ListWorkers(grpc::ServerContext*, const pb::ListWorkersRequest* req,
                           pb::ListWorkersResponse* resp) override {
    if (auto s = CheckSize("ListWorkers", *req, kMaxRequestBytes); !s.ok()) return s;
    double now = 0;
    const std::vector<WorkerView> workers = s_->ListWorkers(&now);  // (sets now first)
    *resp = WorkersProto(workers, now, lease_seconds_);
    return grpc::Status::OK;
  }

  // (the role check, user only, is the server's: auth/credentials.h)
  grpc::Status ReleaseWorker(grpc::ServerContext*, const pb::ReleaseWorkerRequest* req,
                             pb::ReleaseWorkerResponse* resp) override {
    if (auto s = CheckSize("ReleaseWorker", *req, kMaxRequestBytes); !s.ok()) return s;
    auto released = s_->ReleaseWorker(req->worker_name());  // (checks the name)
    if (!released.ok()) return ToGrpc(released.status());
    resp->set_released(*released);
    return grpc::Status::OK;
  }

  grpc::ServerUnaryReactor* LeaseTrial(grpc::CallbackServerContext* ctx,
                                       const pb::LeaseTrialRequest* req,
                                       pb::LeaseTrialResponse* resp) override {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    grpc::Status bad = CheckSize("LeaseTrial", *req, kMaxRequestBytes);
    if (bad.ok()) bad = ToGrpc(s_->CheckWorkerOwner(req->worker_id(), CallerTokenKey(*ctx)));
    if (!bad.ok()) {
      reactor->Finish(bad);
      return reactor;
    }
    s_->LeaseAsync(req->worker_id(), [this, reactor, resp](auto grant) {
      if (grant.ok()) FillLease(*grant, resp);
      reactor->Finish(ToGrpc(grant.status()));
    });
    return reactor;
  }

  grpc::ServerUnaryReactor* ReportProgress(grpc::CallbackServerContext* ctx,
                                           const pb::ReportProgressRequest* req,
                                           pb::ReportProgressResponse* resp) override {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    grpc::Status bad = CheckSize("ReportProgress", *req, kMaxRequestBytes);
    if (bad.ok()) bad = CheckLeaseId(req->lease_id());
    if (!bad.ok()) {
      reactor->Finish(bad);
      return reactor;
    }
    EpochReport r;
    if (req->has_metrics()) r = FromProto(req->metrics());
    s_->ReportAsync(req->lease_id(), r, [reactor, resp](auto action, double deadline) {
      if (action.ok()) {
        resp->set_action(*action == ReportAction::kContinue ? pb::ReportProgressResponse::CONTINUE
                                                            : pb::ReportProgressResponse::STOP);
        resp->set_pruned(*action == ReportAction::kPrune);
        resp->set_lease_deadline(deadline);
      }
      reactor->Finish(ToGrpc(action.status()));
    });
    return reactor;
  }

  grpc::ServerUnaryReactor* CompleteTrial(grpc::CallbackServerContext* ctx,
                                          const pb::CompleteTrialRequest* req,
                                          pb::CompleteTrialResponse* resp) override {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    grpc::Status bad = CheckSize("CompleteTrial", *req, kMaxCompleteRequestBytes);
    if (bad.ok()) bad = CheckLeaseId(req->lease_id());

    if (!bad.ok()) {
      reactor->Finish(bad);
      return reactor;
    }
    Completion c;
    for (const auto& m : req->history()) c.history.push_back(FromProto(m));
    c.test_loss = req->test_loss();
    c.test_accuracy = req->test_accuracy();
    c.seconds = req->seconds();
    c.confusion.assign(req->confusion_matrix().begin(), req->confusion_matrix().end());
    c.model = req->model();
    c.stopped = req->stopped();
    c.weights_epoch = req->weights_epoch();
    c.stopped_epoch = req->stopped_epoch();
    for (const auto& [name, v] : req->final_metrics()) c.final_metrics[name] = v;
    if (!req->output().empty()) {
      if (Status kept = s_->KeepOutput(req->lease_id(), req->output()); !kept.ok()) {
        reactor->Finish(ToGrpc(kept));
        return reactor;
      }
    }
    // The next lease only for a worker of the caller's token; else the result is still kept and
    // the worker asks with LeaseTrial, which says why.
    int64_t next_for = req->lease_next_for_worker();
    if (next_for != 0 && !s_->CheckWorkerOwner(next_for, CallerTokenKey(*ctx)).ok()) next_for = 0;
    s_->CompleteAndLeaseAsync(req->lease_id(), c, next_for,
                              [this, reactor, resp, next_for](auto grant) {
                                if (grant.ok() && next_for != 0) {
                                  FillLease(*grant, resp->mutable_next());
                                }
                                reactor->Finish(ToGrpc(grant.status()));
                              });
    return reactor;
  }

  grpc::ServerUnaryReactor* FailTrial(grpc::CallbackServerContext* ctx,
                                      const pb::FailTrialRequest* req,
                                      pb::FailTrialResponse*) override {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    grpc::Status bad = CheckSize("FailTrial", *req, kMaxRequestBytes);
    if (bad.ok()) bad = CheckLeaseId(req->lease_id());
    if (!bad.ok()) {
      reactor->Finish(bad);
      return reactor;
    }
    // (the scheduler checks the error text)
    if (!req->output().empty()) {
      if (Status kept = s_->KeepOutput(req->lease_id(), req->output()); !kept.ok()) {
        reactor->Finish(ToGrpc(kept));
        return reactor;
      }
    }
    if (req->segment_end()) {  // a pbt member's segment is done (its checkpoint sent)
      s_->EndSegmentAsync(req->lease_id(), [reactor](Status s) { reactor->Finish(ToGrpc(s)); });
      return reactor;
    }
    s_->FailAsync(req->lease_id(), req->error(), req->released(),
                  [reactor](Status s) { reactor->Finish(ToGrpc(s)); });
    return reactor;
  }

  grpc::Status GetDataset(grpc::ServerContext* ctx, const pb::GetDatasetRequest* req,
                          grpc::ServerWriter<pb::DatasetChunk>* writer) override {
    if (auto s = CheckSize("GetDataset", *req, kMaxRequestBytes); !s.ok()) return s;
    if (!req->sha256().empty()) return SendOwnData(ctx, req->sha256(), writer);
    if (data_dir_.empty()) {
      return {grpc::StatusCode::FAILED_PRECONDITION, "this coordinator serves no data set"};
    }
    for (const char* name : kDataFiles) {
      StatusOr<ReadOnlyFile> f = ReadOnlyFile::Open(data_dir_ + "/" + name);
      if (!f.ok()) return ToGrpc(f.status());
      StatusOr<std::string> sha = f->Sha256();
      if (!sha.ok()) return ToGrpc(sha.status());
      grpc::Status s = SendFile(ctx, *f, *sha, name, "", writer);
      if (!s.ok()) return s;
    }
    return grpc::Status::OK;
  }

  // A sweep of its own data was submitted here: its data set (its data.* params, with the
  // trials' data.sha256 and absolute paths; nothing for MNIST) may be sent to workers that lack it.
  void RememberOwnData(int64_t sweep_id, const std::map<std::string, std::string>& p) {
    if (p.empty()) return;
    auto get = [&](const char* k) {
      auto it = p.find(k);
      return it == p.end() ? std::string() : it->second;
    };
    const std::string sha = get("data.sha256");
    StatusOr<DataSpec> spec = DataSpecFromParams(get);
    if (sha.empty() || !spec.ok()) return;
    MutexLock l(&own_mu_);
    own_data_[sha] = {sweep_id, *spec};
    scanned_.insert(sweep_id);
  }

  // ---- Resuming trials (scheduler.h) ----
  grpc::Status SaveCheckpoint(grpc::ServerContext*, const pb::SaveCheckpointRequest* req,
                              pb::SaveCheckpointResponse*) override {
    if (auto s = CheckSize("SaveCheckpoint", *req, kMaxCheckpointRequestBytes); !s.ok()) return s;
    if (auto s = CheckLeaseId(req->lease_id()); !s.ok()) return s;
    return ToGrpc(s_->SaveCheckpoint(req->lease_id(), req->epoch(), req->checkpoint()));
  }

  grpc::Status GetCheckpoint(grpc::ServerContext*, const pb::GetCheckpointRequest* req,
                             pb::GetCheckpointResponse* resp) override {
    if (auto s = CheckSize("GetCheckpoint", *req, kMaxRequestBytes); !s.ok()) return s;
    if (auto s = CheckLeaseId(req->lease_id()); !s.ok()) return s;
    auto c = s_->GetCheckpoint(req->lease_id());
    if (!c.ok()) return ToGrpc(c.status());
    resp->set_epoch(c->first);
    resp->set_checkpoint(std::move(c->second));
    return grpc::Status::OK;
  }

  double lease_seconds_ = 30, retry_after_ = 1;
  std::function<void()> before_data_sent_;  // CoordinatorOptions::before_data_sent_for_testing

 private:
  using Snapshot = std::shared_ptr<const pb::GetStatusResponse>;

  // One WatchSweep stream: sends the snapshots it is offered, one write at a time (a snapshot
  // offered meanwhile replaces any waiting one: a watcher wants the latest), and finishes after
  // the snapshot in which no watched sweep is running. Deletes itself when gRPC is done with it.
  // Thread-safety: Offer and End may be called from any thread, with the service's watch_mu_
  // held (so OnDone, which takes it, cannot delete the watch meanwhile), or by the handler before
  // it returns the watch (gRPC calls no reaction before that).
  class Watch final : public grpc::ServerWriteReactor<pb::GetStatusResponse> {
   public:
    Watch(Service* service, int64_t sweep_id, std::string owner)
        : service_(service), sweep_id_(sweep_id), owner_(std::move(owner)) {}
    int64_t sweep_id() const { return sweep_id_; }
    const std::string& owner() const { return owner_; }  // the caller's token key ("": none)

    void Offer(Snapshot snap) EXCLUDES(mu_) {
      MutexLock l(&mu_);
      if (finished_ || ending_) return;
      if (writing_) {
        pending_ = std::move(snap);
        return;
      }
      bool last = false;
      const pb::GetStatusResponse* msg = Prepare(std::move(snap), &last);
      l.Unlock();
      Write(msg, last);
    }

    void End(grpc::Status status) EXCLUDES(mu_) {
      MutexLock l(&mu_);
      if (finished_ || ending_) return;
      end_ = std::move(status);
      if (writing_) {
        ending_ = true;  // OnWriteDone finishes
        return;
      }
      finished_ = true;
      const grpc::Status end = end_;
      l.Unlock();
      Finish(end);
    }

    void OnWriteDone(bool ok) override EXCLUDES(mu_) {
      MutexLock l(&mu_);
      writing_ = false;
      if (!ok || ending_) {
        finished_ = true;
        const grpc::Status status =
            ok ? end_ : grpc::Status(grpc::StatusCode::CANCELLED, "the watcher went away");
        l.Unlock();
        Finish(status);
        return;
      }
      if (!pending_) return;
      bool last = false;
      const pb::GetStatusResponse* msg = Prepare(std::move(pending_), &last);
      l.Unlock();
      Write(msg, last);
    }

    void OnCancel() override { End({grpc::StatusCode::CANCELLED, "cancelled by the watcher"}); }

    void OnDone() override {
      service_->Unregister(this);
      delete this;
    }

   private:
    // Makes snap the write in flight; *last: it is the last one (nothing watched is running),
    // written with Finish. The caller then unlocks and calls Write.
    const pb::GetStatusResponse* Prepare(Snapshot snap, bool* last) REQUIRES(mu_) {
      bool done = true;  // (also when there is no sweep at all: nothing to wait for)
      for (const auto& sw : snap->sweeps()) done = done && sw.state() != "running";
      writing_ = true;
      finished_ = done;
      current_ = std::move(snap);  // (alive until the next Prepare: the write reads it)
      *last = done;
      return current_.get();
    }

    // Starts writing msg (from Prepare), without mu_: gRPC may call OnWriteDone at once.
    void Write(const pb::GetStatusResponse* msg, bool done) EXCLUDES(mu_) {
      if (done) {
        StartWriteAndFinish(msg, grpc::WriteOptions(), grpc::Status::OK);
      } else {
        StartWrite(msg);
      }
    }

    Service* const service_;
    const int64_t sweep_id_;
    const std::string owner_;
    Mutex mu_;
    Snapshot current_ GUARDED_BY(mu_), pending_ GUARDED_BY(mu_);
    bool writing_ GUARDED_BY(mu_) = false;  // a write is in flight
    bool finished_ GUARDED_BY(mu_) =
        false;                             // Finish was called (or is part of the write in flight)
    bool ending_ GUARDED_BY(mu_) = false;  // finish with end_ once the write in flight is done
    grpc::Status end_ GUARDED_BY(mu_);
  };

  void Unregister(Watch* w) EXCLUDES(watch_mu_) {
    MutexLock l(&watch_mu_);
    watches_.erase(w);
  }

  Snapshot MakeSnapshot(int64_t sweep_id) {
    auto resp = std::make_shared<pb::GetStatusResponse>();
    FillStatus(sweep_id, resp.get());
    return resp;
  }

  // The one thread behind every watch: woken by the scheduler's changes (and every second, for
  // workers_alive), it makes one snapshot per watched sweep and offers it to its watches; at most
  // about 20 rounds a second, however fast the trials change. With no watch open it sleeps on its
  // own condition, so that it costs the scheduler nothing.
  void WatchLoop() EXCLUDES(watch_mu_) {
    using Clock = std::chrono::steady_clock;
    uint64_t seen = 0;
    Clock::time_point last = Clock::now();
    MutexLock l(&watch_mu_);
    while (!watch_stop_) {
      if (watches_.empty()) {
        while (!watch_stop_ && watches_.empty()) watch_cv_.Wait();
        l.Unlock();
        seen = s_->version();  // (each new watch got its first snapshot from its handler)
        last = Clock::now();
        l.Lock();
        continue;
      }
      l.Unlock();
      const uint64_t version = s_->WaitForChange(seen, 0.25);
      l.Lock();
      const bool changed = version != seen;
      seen = version;
      if (watch_stop_ || watches_.empty()) continue;
      if (!changed && Clock::now() - last < std::chrono::seconds(1)) continue;
      last = Clock::now();
      std::set<int64_t> ids;
      for (Watch* w : watches_) ids.insert(w->sweep_id());
      l.Unlock();
      std::map<int64_t, Snapshot> snaps;
      for (int64_t id : ids) snaps[id] = MakeSnapshot(id);
      l.Lock();
      for (Watch* w : watches_) {
        auto it = snaps.find(w->sweep_id());
        if (it != snaps.end()) w->Offer(it->second);
      }
      const Clock::time_point pause_until = Clock::now() + std::chrono::milliseconds(50);
      while (!watch_stop_ && Clock::now() < pause_until) {
        watch_cv_.WaitFor(std::chrono::duration<double>(pause_until - Clock::now()).count());
      }
    }
  }

  // OK for 0 (every sweep) or a sweep that exists; NOT_FOUND otherwise.
  grpc::Status KnownSweep(int64_t sweep_id) {
    if (sweep_id == 0 || !s_->Counts(sweep_id).empty()) return grpc::Status::OK;
    return {grpc::StatusCode::NOT_FOUND, "no sweep " + std::to_string(sweep_id)};
  }

  void FillLease(const std::optional<LeaseGrant>& grant, pb::LeaseTrialResponse* resp) {
    FillLeaseResponse(grant, data_sha_, retry_after_, resp);
  }

  // The own data set with this sha256, of a stored sweep: those submitted through this service
  // are known; the others (stored before a restart) are found by parsing their sweep files and
  // hashing their data sets, each sweep once. Only files a stored sweep names are ever sent.
  StatusOr<std::pair<int64_t, DataSpec>> FindOwnData(const std::string& sha) {
    MutexLock l(&own_mu_);
    auto it = own_data_.find(sha);
    if (it != own_data_.end()) return it->second;
    for (const SweepCounts& c : s_->Counts(0)) {
      const SweepRow& row = c.sweep;
      if (!scanned_.insert(row.id).second) continue;
      StatusOr<SweepSpec> spec = ParseSweep(row.yaml, row.file_name);
      if (!spec.ok() || spec->data.format == DataFormat::kMnist) continue;
      // As at submit: absolute paths, the files hashed now.
      StatusOr<SweepData> data = PrepareSweepData(*spec, row.file_name, limits_);
      if (!data.ok()) continue;
      StatusOr<DataSpec> d = DataSpecFromParams([&](const char* key) {
        auto p = data->params.find(key);
        return p == data->params.end() ? std::string() : p->second;
      });
      if (d.ok()) own_data_.emplace(data->params["data.sha256"], std::make_pair(row.id, *d));
    }
    it = own_data_.find(sha);
    if (it != own_data_.end()) return it->second;
    return NotFound("no stored sweep has a data set with sha256 " + sha +
                    " (were its files changed since it was submitted?)");
  }

  grpc::Status SendOwnData(grpc::ServerContext* ctx, const std::string& sha,
                           grpc::ServerWriter<pb::DatasetChunk>* writer) {
    if (sha.size() != 64 || sha.find_first_not_of("0123456789abcdef") != std::string::npos) {
      return {grpc::StatusCode::INVALID_ARGUMENT,
              "GetDataset sha256: expected 64 lowercase hex digits (a trial's data.sha256)"};
    }
    StatusOr<std::pair<int64_t, DataSpec>> found = FindOwnData(sha);
    if (!found.ok()) return ToGrpc(found.status());
    const auto& [sweep_id, spec] = *found;
    StatusOr<std::vector<std::string>> files = spec.Files();
    if (!files.ok()) return ToGrpc(files.status());
    // Each file opened once (no link followed), its folder checked where the descriptor's file
    // really is, hashed and sent through that descriptor: a link swapped in at its path after
    // this changes nothing of what is sent.
    std::vector<ReadOnlyFile> opened;
    std::vector<std::string> shas;
    Status now_status = Status::Ok();
    for (const std::string& path : *files) {
      StatusOr<ReadOnlyFile> f = ReadOnlyFile::Open(path);
      if (!f.ok()) {
        now_status = f.status();
        break;
      }
      const std::string real = f->RealPath();
      if (real.empty()) return {grpc::StatusCode::FAILED_PRECONDITION, path + ": not sent"};
      if (Status roots = CheckFilesUnderRoots({real}, limits_); !roots.ok()) return ToGrpc(roots);
      StatusOr<std::string> file_sha = f->Sha256();
      if (!file_sha.ok()) {
        now_status = file_sha.status();
        break;
      }
      shas.push_back(*file_sha);
      opened.push_back(std::move(*f));
    }
    // The files as they are now: a data set changed since submit is not the trials' any more.
    StatusOr<std::string> now = now_status.ok() ? StatusOr<std::string>(DatasetSha256Of(*files, shas))
                                                : StatusOr<std::string>(now_status);
    if (!now.ok() || *now != sha) {
      return {grpc::StatusCode::FAILED_PRECONDITION,
              "the data set of sweep " + std::to_string(sweep_id) + " (" +
                  (spec.format == DataFormat::kIdx ? spec.path
                                                   : spec.train_file + ", " + spec.test_file) +
                  ") " +
                  (now.ok() ? "has sha256 " + *now + " now"
                            : "cannot be read: " + now.status().message()) +
                  ", but it was submitted with " + sha +
                  "; its files changed since submit, so they are not sent"};
    }
    if (before_data_sent_) before_data_sent_();
    for (size_t i = 0; i < files->size(); ++i) {
      const std::string& path = (*files)[i];
      const std::string name = path.substr(path.find_last_of('/') + 1);
      const std::string part =
          spec.format == DataFormat::kCsv ? (i == 0 ? "train" : "test") : std::string();
      grpc::Status s = SendFile(ctx, opened[i], shas[i], name, part, writer);
      if (!s.ok()) return s;
    }
    return grpc::Status::OK;
  }

  void FillStatus(int64_t sweep_id, pb::GetStatusResponse* resp) {
    *resp = StatusProto(s_->Counts(sweep_id), s_->WorkersAlive(), s_->QuarantinedWorkers());
  }

  Scheduler* s_;
  std::string data_dir_, data_sha_;
  SweepLimits limits_;

  // Own data sets that GetDataset may send: sha256 -> (sweep id, its files). Guarded by own_mu_.
  Mutex own_mu_;
  std::map<std::string, std::pair<int64_t, DataSpec>> own_data_ GUARDED_BY(own_mu_);
  // Sweeps whose data set is in own_data_ (or is MNIST, or gone).
  std::set<int64_t> scanned_ GUARDED_BY(own_mu_);

  Mutex watch_mu_;
  CondVar watch_cv_{&watch_mu_};
  std::set<Watch*> watches_ GUARDED_BY(watch_mu_);     // open WatchSweep streams
  bool watch_stop_ GUARDED_BY(watch_mu_) = false;      // the service is going away
  bool ending_watches_ GUARDED_BY(watch_mu_) = false;  // EndWatches was called: no new watch
  std::thread watch_thread_;                           // WatchLoop
};

CoordinatorServer::CoordinatorServer() = default;

CoordinatorServer::~CoordinatorServer() { Shutdown(); }

std::string CoordinatorServer::address() const {
  const std::string& l = options_.listen;
  const size_t colon = l.rfind(':');
  return (colon == std::string::npos ? l : l.substr(0, colon)) + ":" + std::to_string(port_);
}

Status CoordinatorServer::Start(const CoordinatorOptions& options) {
  options_ = options;
  RaiseOpenFilesLimit();
  HPSWEEP_RETURN_IF_ERROR(CheckListenSecurity(options.listen, options.security));
  auto credentials = MakeServerCredentials(options.security);
  if (!credentials.ok()) return credentials.status();
  auto storage = OpenSqliteStorage(options.db_path, options.storage);
  if (!storage.ok()) return storage.status();
  storage_ = std::move(*storage);
  SchedulerOptions scheduler_options = options.scheduler;
  scheduler_options.one_lease_per_worker = true;  // no worker id sits on many trials
  scheduler_options.check_models = true;          // --reuse copies only real models
  if (scheduler_options.checkpoint_dir.empty() && options.db_path != ":memory:") {
    scheduler_options.checkpoint_dir = options.db_path + ".checkpoints";  // beside the database
  }
  if (!scheduler_options.checkpoint_dir.empty()) {
    // Checkpoints are written by name: a link planted there would redirect them.
    HPSWEEP_RETURN_IF_ERROR(
        EnsurePrivateFolder(scheduler_options.checkpoint_dir, "the checkpoint folder"));
  }
  // Own data only from the folders the operator named, and the data folder it serves.
  options_.sweep_limits.restrict_data = true;
  options_.sweep_limits.data_roots = options.data_roots;
  if (!options.data_dir.empty()) options_.sweep_limits.data_roots.push_back(options.data_dir);
  scheduler_options.sweep_limits = options_.sweep_limits;  // for trials proposed at lease time
  scheduler_ = std::make_unique<Scheduler>(storage_.get(), &clock_, scheduler_options);
  HPSWEEP_RETURN_IF_ERROR(scheduler_->Load());
  HPSWEEP_RETURN_IF_ERROR(scheduler_->FinishStrandedSweeps());
  std::string data_sha;
  if (!options.data_dir.empty()) {
    auto sha = Sha256File(options.data_dir + "/" + kDataFiles[0]);
    if (sha.ok()) {
      data_sha = *sha;
    } else {
      options_.data_dir.clear();  // nothing to serve; workers must bring their own data
    }
  }
  service_ = std::make_unique<Service>(scheduler_.get(), options_.data_dir, data_sha,
                                       options_.sweep_limits);
  service_->lease_seconds_ = options.scheduler.lease_seconds;
  service_->before_data_sent_ = options.before_data_sent_for_testing;
  service_->retry_after_ = options.scheduler.retry_after_seconds;

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  // gRPC sets SO_REUSEPORT by default: a second coordinator on the same port would then listen
  // beside the first and clients would be answered by either. Off, its bind fails instead.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.AddListeningPort(options.listen, *credentials, &port_);
  builder.RegisterService(service_.get());
  // The largest call is a completion carrying a model; each handler checks its own (scheduler.h).
  builder.SetMaxReceiveMessageSize(static_cast<int>(kMaxReceiveBytes));
  builder.SetMaxSendMessageSize(256 << 20);  // an export, a model
  grpc::ResourceQuota quota("hpsweep-coordinator");
  quota.Resize(options.request_memory_bytes);
  builder.SetResourceQuota(quota);
  // Enough pollers that a handler waiting for the scheduler's commit does not make gRPC spawn and
  // end a thread per call.
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MAX_POLLERS, 16);
  server_ = builder.BuildAndStart();
  if (!server_ || port_ == 0) {
    return Unavailable("cannot listen on " + options.listen +
                       " (address in use, or not an address of this machine?)");
  }
  CapConnectionsBelowLimit(port_);
  stopping_ = false;
  ticker_ = std::thread([this] {
    while (!stopping_) {
      scheduler_->ExpireLeases();
      // Memory freed after a burst of large calls goes back to the system, instead of staying
      // in the allocator's arenas (glibc keeps it: 650 MB after eight refused 120 MiB calls).
      malloc_trim(0);
      for (int i = 0; i < 10 && !stopping_; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    }
  });
  return Status::Ok();
}

void CoordinatorServer::Wait() {
  if (server_) server_->Wait();
}

void CoordinatorServer::Shutdown() {
  if (stopping_.exchange(true)) return;
  if (service_) service_->EndWatches();  // (they would hold the shutdown to its deadline)
  if (port_ != 0) UncapConnectionsOn(port_);  // (its descriptors are about to be reused)
  if (server_) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  if (ticker_.joinable()) ticker_.join();
}

}  // namespace hpsweep
