#include "coordinator/service.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>

#include <fstream>

#include "coordinator/sweep_file.h"
#include "engine/sha256.h"
#include "proto/hpsweep.grpc.pb.h"

namespace hpsweep {

namespace pb = ::hpsweep::v1;

grpc::Status ToGrpc(const Status& s) {
  using grpc::StatusCode;
  switch (s.code()) {
    case hpsweep::StatusCode::kOk: return grpc::Status::OK;
    case hpsweep::StatusCode::kInvalidArgument: return {StatusCode::INVALID_ARGUMENT, s.message()};
    case hpsweep::StatusCode::kNotFound: return {StatusCode::NOT_FOUND, s.message()};
    case hpsweep::StatusCode::kAlreadyExists: return {StatusCode::ALREADY_EXISTS, s.message()};
    case hpsweep::StatusCode::kFailedPrecondition:
      return {StatusCode::FAILED_PRECONDITION, s.message()};
    case hpsweep::StatusCode::kUnavailable: return {StatusCode::UNAVAILABLE, s.message()};
    case hpsweep::StatusCode::kCancelled: return {StatusCode::CANCELLED, s.message()};
    case hpsweep::StatusCode::kDataLoss: return {StatusCode::DATA_LOSS, s.message()};
    default: return {StatusCode::INTERNAL, s.ToString()};
  }
}

namespace {

pb::TrialStatus ToProto(TrialStatus s) {
  switch (s) {
    case TrialStatus::kQueued: return pb::QUEUED;
    case TrialStatus::kRunning: return pb::RUNNING;
    case TrialStatus::kCompleted: return pb::COMPLETED;
    case TrialStatus::kFailed: return pb::FAILED;
    case TrialStatus::kStopped: return pb::STOPPED;
  }
  return pb::TRIAL_STATUS_UNSPECIFIED;
}

EpochReport FromProto(const pb::EpochMetrics& m) {
  return {m.epoch(),    m.train_loss(),   m.train_accuracy(),
          m.val_loss(), m.val_accuracy(), m.seconds()};
}

const char* kDataFiles[] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                            "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};

}  // namespace

v1::GetLeaderboardResponse LeaderboardProto(const SweepRow& sweep,
                                            const std::vector<TrialRow>& rows) {
  pb::GetLeaderboardResponse resp;
  resp.set_sweep_id(sweep.id);
  resp.set_sweep_name(sweep.name);
  int rank = 0;
  for (const TrialRow& t : rows) {
    pb::LeaderboardRow* r = resp.add_rows();
    r->set_rank(++rank);
    r->set_trial_id(t.id);
    r->set_number(t.number);
    for (const auto& [k, v] : t.params) (*r->mutable_params())[k] = v;
    r->set_best_epoch(t.best_epoch);
    r->set_val_accuracy(t.best_val_accuracy);
    r->set_test_accuracy(t.test_accuracy);
    r->set_epochs(t.epochs_run);
    r->set_seconds(t.seconds);
    r->set_worker(t.worker_name);
    r->set_status(ToProto(t.status));
  }
  return resp;
}

// The worker calls (lease, report, complete, fail) use gRPC's callback API: the handler makes the
// change and returns at once; the scheduler's commit thread finishes the call once the change is
// committed. No gRPC thread waits on the disk, and one commit serves every call that arrived while
// the last one was being written. The rest are plain synchronous methods.
using ServiceBase = pb::Coordinator::WithCallbackMethod_LeaseTrial<
    pb::Coordinator::WithCallbackMethod_ReportProgress<
        pb::Coordinator::WithCallbackMethod_CompleteTrial<
            pb::Coordinator::WithCallbackMethod_FailTrial<pb::Coordinator::Service>>>>;

class CoordinatorServer::Service final : public ServiceBase {
 public:
  Service(Scheduler* scheduler, std::string data_dir, std::string data_sha, SweepLimits limits)
      : s_(scheduler),
        data_dir_(std::move(data_dir)),
        data_sha_(std::move(data_sha)),
        limits_(limits) {}

  grpc::Status SubmitSweep(grpc::ServerContext*, const pb::SubmitSweepRequest* req,
                           pb::SubmitSweepResponse* resp) override {
    const std::string file = req->file_name().empty() ? "<sweep>" : req->file_name();
    auto spec = ParseSweep(req->yaml(), file);
    if (!spec.ok()) return ToGrpc(spec.status());
    auto trials = ExpandSweep(*spec, file, limits_);
    if (!trials.ok()) return ToGrpc(trials.status());
    auto id = s_->Submit(*spec, *trials, req->yaml(), file);
    if (!id.ok()) return ToGrpc(id.status());
    resp->set_sweep_id(*id);
    resp->set_name(spec->name);
    resp->set_trials(static_cast<int>(trials->size()));
    return grpc::Status::OK;
  }

  grpc::Status GetStatus(grpc::ServerContext*, const pb::GetStatusRequest* req,
                         pb::GetStatusResponse* resp) override {
    if (grpc::Status known = KnownSweep(req->sweep_id()); !known.ok()) return known;
    FillStatus(req->sweep_id(), resp);
    return grpc::Status::OK;
  }

  grpc::Status CancelSweep(grpc::ServerContext*, const pb::CancelSweepRequest* req,
                           pb::CancelSweepResponse* resp) override {
    auto n = s_->Cancel(req->sweep_id());
    if (!n.ok()) return ToGrpc(n.status());
    resp->set_stopped(*n);
    return grpc::Status::OK;
  }

  grpc::Status GetLeaderboard(grpc::ServerContext*, const pb::GetLeaderboardRequest* req,
                              pb::GetLeaderboardResponse* resp) override {
    SweepRow sweep;
    auto rows = s_->Leaderboard(req->sweep_id(), req->top(), &sweep);
    if (!rows.ok()) return ToGrpc(rows.status());
    *resp = LeaderboardProto(sweep, *rows);
    return grpc::Status::OK;
  }

  grpc::Status ExportSweep(grpc::ServerContext*, const pb::ExportSweepRequest* req,
                           pb::ExportSweepResponse* resp) override {
    auto json = s_->ExportJson(req->sweep_id());
    if (!json.ok()) return ToGrpc(json.status());
    resp->set_json(*json);
    return grpc::Status::OK;
  }

  grpc::Status WatchSweep(grpc::ServerContext* ctx, const pb::WatchSweepRequest* req,
                          grpc::ServerWriter<pb::GetStatusResponse>* writer) override {
    if (grpc::Status known = KnownSweep(req->sweep_id()); !known.ok()) return known;
    uint64_t seen = s_->version();
    while (!ctx->IsCancelled()) {
      pb::GetStatusResponse resp;
      FillStatus(req->sweep_id(), &resp);
      if (!writer->Write(resp)) break;
      bool done = true;  // (also when there is no sweep at all: nothing to wait for)
      for (const auto& sw : resp.sweeps()) done = done && sw.state() != "running";
      if (done) break;
      seen = s_->WaitForChange(seen, 1.0);
    }
    return grpc::Status::OK;
  }

  grpc::Status GetModel(grpc::ServerContext*, const pb::GetModelRequest* req,
                        pb::GetModelResponse* resp) override {
    auto model = s_->GetModel(req->trial_id());
    if (!model.ok()) return ToGrpc(model.status());
    resp->set_model(*model);
    return grpc::Status::OK;
  }

  grpc::Status RegisterWorker(grpc::ServerContext*, const pb::RegisterWorkerRequest* req,
                              pb::RegisterWorkerResponse* resp) override {
    if (req->worker_name().empty()) {
      return {grpc::StatusCode::INVALID_ARGUMENT, "worker_name is empty"};
    }
    auto id = s_->RegisterWorker(req->worker_name(), req->threads());
    if (!id.ok()) return ToGrpc(id.status());
    resp->set_worker_id(*id);
    resp->set_lease_seconds(lease_seconds_);
    return grpc::Status::OK;
  }

  grpc::ServerUnaryReactor* LeaseTrial(grpc::CallbackServerContext* ctx,
                                       const pb::LeaseTrialRequest* req,
                                       pb::LeaseTrialResponse* resp) override {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
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
    EpochReport r;
    if (req->has_metrics()) r = FromProto(req->metrics());
    s_->ReportAsync(req->lease_id(), r, [reactor, resp](auto action, double deadline) {
      if (action.ok()) {
        resp->set_action(*action == ReportAction::kStop ? pb::ReportProgressResponse::STOP
                                                        : pb::ReportProgressResponse::CONTINUE);
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
    Completion c;
    for (const auto& m : req->history()) c.history.push_back(FromProto(m));
    c.test_loss = req->test_loss();
    c.test_accuracy = req->test_accuracy();
    c.seconds = req->seconds();
    c.confusion.assign(req->confusion_matrix().begin(), req->confusion_matrix().end());
    c.model = req->model();
    c.stopped = req->stopped();
    const int64_t next_for = req->lease_next_for_worker();
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
    s_->FailAsync(req->lease_id(), req->error(), req->released(),
                  [reactor](Status s) { reactor->Finish(ToGrpc(s)); });
    return reactor;
  }

  grpc::Status GetDataset(grpc::ServerContext* ctx, const pb::GetDatasetRequest*,
                          grpc::ServerWriter<pb::DatasetChunk>* writer) override {
    if (data_dir_.empty()) {
      return {grpc::StatusCode::FAILED_PRECONDITION, "this coordinator serves no data set"};
    }
    for (const char* name : kDataFiles) {
      const std::string path = data_dir_ + "/" + name;
      auto sha = Sha256File(path);
      if (!sha.ok()) return ToGrpc(sha.status());
      std::ifstream in(path, std::ios::binary | std::ios::ate);
      const int64_t size = in.tellg();
      in.seekg(0);
      std::string buf(1 << 20, '\0');
      bool first = true;
      while (in && !ctx->IsCancelled()) {
        in.read(&buf[0], static_cast<std::streamsize>(buf.size()));
        pb::DatasetChunk chunk;
        chunk.set_file_name(name);
        if (first) {
          chunk.set_sha256(*sha);
          chunk.set_size(size);
          first = false;
        }
        chunk.set_data(buf.data(), static_cast<size_t>(in.gcount()));
        if (!writer->Write(chunk)) return {grpc::StatusCode::CANCELLED, "client went away"};
      }
    }
    return grpc::Status::OK;
  }

  double lease_seconds_ = 30, retry_after_ = 1;

 private:
  // OK for 0 (every sweep) or a sweep that exists; NOT_FOUND otherwise.
  grpc::Status KnownSweep(int64_t sweep_id) {
    if (sweep_id == 0 || !s_->Counts(sweep_id).empty()) return grpc::Status::OK;
    return {grpc::StatusCode::NOT_FOUND, "no sweep " + std::to_string(sweep_id)};
  }

  void FillLease(const std::optional<LeaseGrant>& grant, pb::LeaseTrialResponse* resp) {
    if (!grant.has_value()) {
      resp->set_retry_after_seconds(retry_after_);
      return;
    }
    const LeaseGrant& g = *grant;
    pb::Trial* t = resp->mutable_trial();
    t->set_trial_id(g.trial.id);
    t->set_sweep_id(g.trial.sweep_id);
    t->set_number(g.trial.number);
    t->set_attempt(g.trial.attempts);
    for (const auto& [k, v] : g.trial.params) (*t->mutable_params())[k] = v;
    t->set_data_sha256(data_sha_);
    resp->set_lease_id(g.lease_id);
    resp->set_lease_deadline(g.deadline);
  }

  void FillStatus(int64_t sweep_id, pb::GetStatusResponse* resp) {
    for (const SweepCounts& c : s_->Counts(sweep_id)) {
      pb::SweepStatus* s = resp->add_sweeps();
      s->set_sweep_id(c.sweep.id);
      s->set_name(c.sweep.name);
      s->set_state(c.sweep.state);
      s->set_queued(c.queued);
      s->set_running(c.running);
      s->set_completed(c.completed);
      s->set_failed(c.failed);
      s->set_stopped(c.stopped);
      s->set_total(c.sweep.total);
      s->set_best_val_accuracy(c.best);
      s->set_created_at(c.sweep.created_at);
    }
    resp->set_workers_alive(s_->WorkersAlive());
  }

  Scheduler* s_;
  std::string data_dir_, data_sha_;
  SweepLimits limits_;
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
  HPSWEEP_RETURN_IF_ERROR(CheckListenSecurity(options.listen, options.security));
  auto auth = MakeServerAuth(options.security);
  if (!auth.ok()) return auth.status();
  auto storage = OpenSqliteStorage(options.db_path, options.storage);
  if (!storage.ok()) return storage.status();
  storage_ = std::move(*storage);
  scheduler_ = std::make_unique<Scheduler>(storage_.get(), &clock_, options.scheduler);
  HPSWEEP_RETURN_IF_ERROR(scheduler_->Load());
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
  service_->retry_after_ = options.scheduler.retry_after_seconds;

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.listen, auth->credentials, &port_);
  builder.RegisterService(service_.get());
  builder.SetMaxReceiveMessageSize(256 << 20);  // model uploads
  builder.SetMaxSendMessageSize(256 << 20);
  // Enough pollers that a handler waiting for the scheduler's commit does not make gRPC spawn and
  // end a thread per call.
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MAX_POLLERS, 16);
  server_ = builder.BuildAndStart();
  if (!server_ || port_ == 0) {
    return Unavailable("cannot listen on " + options.listen +
                       " (address in use, or not an address of this machine?)");
  }
  stopping_ = false;
  ticker_ = std::thread([this] {
    while (!stopping_) {
      scheduler_->ExpireLeases();
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
  if (server_) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  if (ticker_.joinable()) ticker_.join();
}

}  // namespace hpsweep
