// Test helper: a client of a coordinator process on loopback (plaintext, no token), with the
// waits and reads the end-to-end tests share.
//
// Thread-safety: one thread per object.
#ifndef HPSWEEP_TESTS_INTEGRATION_COORDINATOR_CLIENT_H_
#define HPSWEEP_TESTS_INTEGRATION_COORDINATOR_CLIENT_H_

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>

#include "proto/hpsweep.grpc.pb.h"
#include "tests/integration/process.h"  // ReadText

namespace hpsweep {

// Polls pred every 100 ms until it is true (true) or `seconds` pass (false).
template <typename P>
bool PollFor(double seconds, P pred) {
  const auto end = std::chrono::steady_clock::now() +
                   std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

// Channel arguments for a test's client: reconnect within 100-500 ms, as the worker does (200 ms to
// 2 s), not after gRPC's default backoff (1 s growing to 2 min). A test that polls a coordinator
// still starting would otherwise wait out the backoff: up to 15 s for a coordinator up in 0.3 s.
// (Not GRPC_ARG_MIN_RECONNECT_BACKOFF_MS: it is also each attempt's connect timeout, and a TLS
// handshake on a busy machine can take longer than 100 ms.)
inline grpc::ChannelArguments TestChannelArgs() {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 500);
  return args;
}

class TestClient {
 public:
  explicit TestClient(const std::string& address)
      : stub_(v1::Coordinator::NewStub(grpc::CreateCustomChannel(
            address, grpc::InsecureChannelCredentials(), TestChannelArgs()))) {}

  v1::Coordinator::Stub* stub() { return stub_.get(); }

  // Whether the coordinator answers GetStatus within `seconds`.
  bool WaitUp(double seconds) {
    return PollFor(seconds, [&] {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(1));
      v1::GetStatusResponse resp;
      return stub_->GetStatus(&ctx, v1::GetStatusRequest(), &resp).ok();
    });
  }

  // The new sweep's id (0, and a test failure, if it was refused).
  int64_t Submit(const std::string& yaml) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::SubmitSweepRequest req;
    req.set_file_name("test.yaml");
    req.set_yaml(yaml);
    v1::SubmitSweepResponse resp;
    grpc::Status s = stub_->SubmitSweep(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp.sweep_id();
  }

  // The sweep's status, or an empty one if the call fails.
  v1::SweepStatus Status(int64_t sweep) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    v1::GetStatusRequest req;
    req.set_sweep_id(sweep);
    v1::GetStatusResponse resp;
    if (!stub_->GetStatus(&ctx, req, &resp).ok() || resp.sweeps_size() == 0) {
      return v1::SweepStatus();
    }
    return resp.sweeps(0);
  }

  // The sweep's export, or null (and a test failure) if the call fails.
  nlohmann::json Export(int64_t sweep) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::ExportSweepRequest req;
    req.set_sweep_id(sweep);
    v1::ExportSweepResponse resp;
    grpc::Status s = stub_->ExportSweep(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return s.ok() ? nlohmann::json::parse(resp.json()) : nlohmann::json();
  }

 private:
  std::unique_ptr<v1::Coordinator::Stub> stub_;
};

}  // namespace hpsweep

#endif  // HPSWEEP_TESTS_INTEGRATION_COORDINATOR_CLIENT_H_
