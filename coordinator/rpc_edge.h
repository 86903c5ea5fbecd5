// The RPC edge's small rules, shared by the coordinator's handlers (coordinator/service.cc):
// the checks each handler makes before the scheduler sees a request, and a request's epoch
// metrics as the scheduler takes them. ToGrpc (Status to gRPC status) is declared in service.h.
// Thread-safety: plain functions of their arguments.
#ifndef HPSWEEP_COORDINATOR_RPC_EDGE_H_
#define HPSWEEP_COORDINATOR_RPC_EDGE_H_

#include <grpcpp/grpcpp.h>

#include <string>

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

}  // namespace hpsweep

#endif  // HPSWEEP_COORDINATOR_RPC_EDGE_H_
