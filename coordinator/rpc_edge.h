// The RPC edge's small rules, shared by the coordinator's handlers (coordinator/service.cc):
// the checks each handler makes before the scheduler sees a request, and a request's epoch
// metrics as the scheduler takes them. ToGrpc (Status to gRPC status) is declared in service.h.
// Thread-safety: plain functions of their arguments.
#ifndef HPSWEEP_COORDINATOR_RPC_EDGE_H_
#define HPSWEEP_COORDINATOR_RPC_EDGE_H_

#include <grpcpp/grpcpp.h>

#include <optional>
#include <string>

#include "base/file_io.h"
#include "coordinator/scheduler.h"
#include "proto/hpsweep.pb.h"

namespace hpsweep {

// A request's epoch metrics as the scheduler takes them (the scheduler checks the values).
EpochReport FromProto(const v1::EpochMetrics& m);
// INVALID_ARGUMENT unless the request fits what its call needs (see the limits in scheduler.h).
// gRPC has already refused anything over kMaxReceiveBytes unread.
grpc::Status CheckSize(const char* call, const google::protobuf::Message& req, size_t limit);
// A lease id as a worker sends it: short printable text (the scheduler matches it exactly).
grpc::Status CheckLeaseId(const std::string& lease_id);
// A LeaseTrial's answer from a grant (nullopt: retry after retry_after seconds); data_sha is the
// coordinator's MNIST's, which a worker checks its copy against.
void FillLeaseResponse(const std::optional<LeaseGrant>& grant, const std::string& data_sha,
                       double retry_after, v1::LeaseTrialResponse* resp);
// ExtendSweep: its fields checked (sweep_id a sweep's id, max_trials 1..kMaxTrialsPerSweep:
// INVALID_ARGUMENT naming the field and the limit), then Scheduler::Extend, answered in resp.
grpc::Status ExtendSweepCall(Scheduler* scheduler, const v1::ExtendSweepRequest& req,
                             v1::ExtendSweepResponse* resp);
// Streams one open file to a GetDataset caller in chunks of 1 MiB, its sha256 and size on the
// first; CANCELLED when the caller went away.
grpc::Status SendFile(grpc::ServerContext* ctx, const ReadOnlyFile& file, const std::string& sha,
                      const std::string& name, const std::string& part,
                      grpc::ServerWriter<v1::DatasetChunk>* writer);

}  // namespace hpsweep

#endif  // HPSWEEP_COORDINATOR_RPC_EDGE_H_
