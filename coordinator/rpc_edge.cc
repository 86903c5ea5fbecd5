// The RPC edge's small rules: Status to gRPC status, the checks every handler makes first, and
// a data file streamed to a worker.
#include "coordinator/rpc_edge.h"

#include <grpcpp/support/sync_stream.h>

#include <string>

#include "base/file_io.h"
#include "coordinator/scheduler.h"
#include "coordinator/service.h"

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
    case hpsweep::StatusCode::kPermissionDenied:
      return {StatusCode::PERMISSION_DENIED, s.message()};
    case hpsweep::StatusCode::kDataLoss: return {StatusCode::DATA_LOSS, s.message()};
    default: return {StatusCode::INTERNAL, s.ToString()};
  }
}

EpochReport FromProto(const pb::EpochMetrics& m) {
  EpochReport r{m.epoch(),    m.train_loss(),   m.train_accuracy(),
                m.val_loss(), m.val_accuracy(), m.seconds(), {}};
  // (the scheduler checks the names, their count and the values)
  for (const auto& [name, v] : m.named()) r.metrics[name] = v;
  if (m.has_lr()) r.lr = m.lr();
  return r;
}

// INVALID_ARGUMENT unless the request fits what its call needs (see the limits in scheduler.h).
// gRPC has already refused anything over kMaxReceiveBytes unread.
grpc::Status CheckSize(const char* call, const google::protobuf::Message& req, size_t limit) {
  const size_t size = req.ByteSizeLong();
  if (size <= limit) return grpc::Status::OK;
  return {grpc::StatusCode::INVALID_ARGUMENT, std::string(call) + " request is " +
                                                  std::to_string(size) + " bytes; the limit is " +
                                                  std::to_string(limit)};
}

// A lease id as a worker sends it: short printable text (the scheduler matches it exactly).
grpc::Status CheckLeaseId(const std::string& lease_id) {
  return ToGrpc(CheckText("lease_id", lease_id, kMaxLeaseIdBytes, true));
}

grpc::Status ExtendSweepCall(Scheduler* scheduler, const pb::ExtendSweepRequest& req,
                             pb::ExtendSweepResponse* resp) {
  if (req.sweep_id() < 1) {
    return ToGrpc(InvalidArgument("sweep_id is " + std::to_string(req.sweep_id()) +
                                  "; it must be a sweep's id, 1 or more"));
  }
  // One of max_trials and more, each 1..kMaxTrialsPerSweep.
  for (const auto& [field, value] : {std::pair<const char*, int>{"max_trials", req.max_trials()},
                                     std::pair<const char*, int>{"more", req.more()}}) {
    if ((value != 0 || req.max_trials() == req.more()) &&
        (value < 1 || value > kMaxTrialsPerSweep)) {
      return ToGrpc(InvalidArgument(std::string(field) + " is " + std::to_string(value) +
                                    "; it must be 1 to " + std::to_string(kMaxTrialsPerSweep)));
    }
  }
  int previous = 0;
  for (const SweepCounts& c : scheduler->Counts(req.sweep_id())) previous = c.sweep.total;
  StatusOr<SweepRow> sw = scheduler->Extend(req.sweep_id(), req.max_trials(), req.more());
  if (!sw.ok()) return ToGrpc(sw.status());
  resp->set_sweep_id(sw->id);
  resp->set_name(sw->name);
  resp->set_max_trials(sw->max_trials);
  resp->set_total(sw->total);
  resp->set_previous_total(previous);
  return grpc::Status::OK;
}

// Streams one open file in chunks of 1 MiB, its sha256 and size on the first.
grpc::Status SendFile(grpc::ServerContext* ctx, const ReadOnlyFile& file, const std::string& sha,
                      const std::string& name, const std::string& part,
                      grpc::ServerWriter<pb::DatasetChunk>* writer) {
  std::string buf(1 << 20, '\0');
  int64_t at = 0;
  bool first = true;
  while (!ctx->IsCancelled()) {
    StatusOr<size_t> n = file.ReadAt(at, &buf[0], buf.size());
    if (!n.ok()) return ToGrpc(n.status());
    if (*n == 0 && !first) break;
    pb::DatasetChunk chunk;
    chunk.set_file_name(name);
    chunk.set_part(part);
    if (first) {
      chunk.set_sha256(sha);
      chunk.set_size(file.size());
      first = false;
    }
    chunk.set_data(buf.data(), *n);
    if (!writer->Write(chunk)) return {grpc::StatusCode::CANCELLED, "client went away"};
    if (*n == 0) break;
    at += static_cast<int64_t>(*n);
  }
  return grpc::Status::OK;
}

// The answer to a LeaseTrial: the grant's trial (with the coordinator's data sha256), or when to
// ask again.
void FillLeaseResponse(const std::optional<LeaseGrant>& grant, const std::string& data_sha,
                       double retry_after, v1::LeaseTrialResponse* resp) {
  if (!grant.has_value()) {
    resp->set_retry_after_seconds(retry_after);
    return;
  }
  const LeaseGrant& g = *grant;
  v1::Trial* t = resp->mutable_trial();
  t->set_trial_id(g.trial.id);
  t->set_sweep_id(g.trial.sweep_id);
  t->set_number(g.trial.number);
  t->set_attempt(g.trial.attempts);
  for (const auto& [k, v] : g.trial.params) (*t->mutable_params())[k] = v;
  t->set_data_sha256(data_sha);
  t->set_resume_from_epoch(g.resume_from_epoch);
  t->set_pause_after_epoch(g.pause_after_epoch);
  for (const std::string& key : g.mutable_params) t->add_mutable_params(key);
  if (!g.sweep.program.empty()) {
    t->set_program(g.sweep.program);
    t->set_max_seconds(g.sweep.max_trial_seconds);
    t->set_seed(g.sweep.seed);
    t->set_sweep_name(g.sweep.name);
  }
  t->set_metric(g.sweep.metric);  // a program's trial file; keep: best, early stopping
  t->set_maximize(g.sweep.maximize);
  resp->set_lease_id(g.lease_id);
  resp->set_lease_deadline(g.deadline);
}

}  // namespace hpsweep
