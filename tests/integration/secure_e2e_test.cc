// End-to-end over loopback with TLS and tokens: real coordinator and worker processes of the
// hpsweep binary, certificates and tokens made by `hpsweep certs` and `hpsweep token create`, and
// raw gRPC calls from a client that is not hpsweep's, as a hostile peer would make them.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>

#include "proto/hpsweep.grpc.pb.h"
#include "tests/integration/coordinator_client.h"
#include "tests/integration/e2e_test.h"
#include "tests/integration/process.h"
#include "tests/mnist_dir.h"

namespace hpsweep {
namespace {

namespace fs = std::filesystem;
namespace pb = ::hpsweep::v1;

std::string FirstLine(const std::string& path) {
  std::string s = ReadText(path);
  return s.substr(0, s.find('\n'));
}

const char kTinySweep[] = R"(name: secure-tiny
method: grid
data: {validation_split: 0.2, train_limit: 600}
fixed: {cell: dense, epochs: 1, batch_size: 64}
parameters:
  units: {values: [8, 16]}
)";

class SecureE2ETest : public E2ETest {
 protected:
  SecureE2ETest() : E2ETest("sec", /*needs_mnist=*/false) {}

  void SetUp() override {
    E2ETest::SetUp();
    // (The tokens file is named without .txt: a failed test prints every .txt in dir_.)
    ASSERT_EQ(Cli({"certs", "--out", P("certs"), "--host", "localhost"}), 0) << ReadText(log_);
    for (const char* role : {"worker", "user", "reader"}) {
      ASSERT_EQ(Cli({"token", "create", "--role", role, "--tokens", P("tokens"), "--out",
                     P(std::string(role) + ".token")}),
                0)
          << ReadText(log_);
      tokens_[role] = FirstLine(P(std::string(role) + ".token"));
      ASSERT_EQ(tokens_[role].size(), 68u);
    }
  }

  // Runs `hpsweep args...` to the end; its exit code.
  int Cli(const std::vector<std::string>& args, double seconds = 60) {
    Process p(args, log_);
    if (!p.Wait(seconds)) return -1000;
    return p.exit_code();
  }

  std::unique_ptr<Process> StartCoordinator(bool mutual = false) {
    std::vector<std::string> args = {"coordinator",
                                     "--listen",
                                     addr_,
                                     "--db",
                                     P("sweeps.db"),
                                     "--data-dir",
                                     MnistDir(),
                                     "--tls-cert",
                                     P("certs/server.crt"),
                                     "--tls-key",
                                     P("certs/server.key"),
                                     "--auth-tokens",
                                     P("tokens"),
                                     "--log-format",
                                     "json"};
    if (mutual) {
      args.push_back("--tls-client-ca");
      args.push_back(P("certs/ca.crt"));
    }
    return std::make_unique<Process>(args, log_);
  }

  // A raw channel: TLS with the test CA (and a client certificate if asked), the token if given.
  std::shared_ptr<grpc::Channel> Channel(const std::string& token, bool client_cert = false) {
    grpc::SslCredentialsOptions opts;
    opts.pem_root_certs = ReadText(P("certs/ca.crt"));
    if (client_cert) {
      opts.pem_cert_chain = ReadText(P("certs/client.crt"));
      opts.pem_private_key = ReadText(P("certs/client.key"));
    }
    std::shared_ptr<grpc::ChannelCredentials> creds = grpc::SslCredentials(opts);
    if (!token.empty()) {
      creds = grpc::CompositeChannelCredentials(creds, grpc::AccessTokenCredentials(token));
    }
    grpc::ChannelArguments args = TestChannelArgs();
    args.SetSslTargetNameOverride("localhost");
    return grpc::CreateCustomChannel(addr_, creds, args);
  }
  std::unique_ptr<pb::Coordinator::Stub> Stub(const std::string& token, bool cert = false) {
    return pb::Coordinator::NewStub(Channel(token, cert));
  }
  static std::unique_ptr<grpc::ClientContext> Ctx() {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    return ctx;
  }
  grpc::Status GetStatus(pb::Coordinator::Stub* stub, pb::GetStatusResponse* resp) {
    return stub->GetStatus(Ctx().get(), pb::GetStatusRequest(), resp);
  }
  // A new channel each try, as a person retrying a command would: a TLS channel whose first
  // attempts met a coordinator still starting can take its connect timeout (20 s) to recover.
  bool WaitUp(const std::string& token, double seconds, bool cert = false) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(int(seconds));
    while (std::chrono::steady_clock::now() < end) {
      pb::GetStatusResponse r;
      if (GetStatus(Stub(token, cert).get(), &r).ok()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }

  std::map<std::string, std::string> tokens_;
};

TEST_F(SecureE2ETest, NonLoopbackListenWithoutTlsAndTokensIsRefusedWithTheSetupCommands) {
  for (const std::string& listen : {"0.0.0.0:" + addr_.substr(addr_.find(':') + 1),
                                    std::string("[::]:0"), std::string("node1.example:50051")}) {
    Process p({"coordinator", "--listen", listen, "--db", P("refused.db")}, log_);
    ASSERT_TRUE(p.Wait(20)) << listen;
    EXPECT_EQ(p.exit_code(), 2) << listen;
  }
  const std::string log = ReadText(log_);
  EXPECT_NE(log.find("refusing to listen on 0.0.0.0:"), std::string::npos) << log;
  EXPECT_NE(log.find("hpsweep certs --out"), std::string::npos) << log;
  EXPECT_NE(log.find("hpsweep token create"), std::string::npos) << log;
  EXPECT_NE(log.find("--insecure"), std::string::npos) << log;
  EXPECT_FALSE(fs::exists(P("refused.db"))) << "a refused start must change nothing";
}

TEST_F(SecureE2ETest, EveryCallNeedsATokenOfTheRightRoleAndRefusedCallsChangeNothing) {
  auto coord = StartCoordinator();
  ASSERT_TRUE(WaitUp(tokens_["reader"], 30)) << "coordinator did not come up";

  // The health service stays open, without a token.
  {
    grpc::GenericStub generic(Channel(""));
    grpc::CompletionQueue cq;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    grpc::Slice empty("");  // HealthCheckRequest{service: ""} is zero bytes
    grpc::ByteBuffer req(&empty, 1), resp;
    auto call = generic.PrepareUnaryCall(&ctx, "/grpc.health.v1.Health/Check", req, &cq);
    call->StartCall();
    grpc::Status st;
    call->Finish(&resp, &st, reinterpret_cast<void*>(1));
    void* tag;
    bool ok;
    ASSERT_TRUE(cq.Next(&tag, &ok));
    EXPECT_TRUE(st.ok()) << st.error_code() << " " << st.error_message();
  }

  pb::SubmitSweepRequest submit;
  submit.set_file_name("t.yaml");
  submit.set_yaml(kTinySweep);
  pb::SubmitSweepResponse submitted;
  pb::GetStatusResponse status;

  // No token, a made-up token, a token with a space, and the hash of a real token.
  for (const std::string& bad :
       {std::string(""), std::string("hps_forged"), std::string(68, 'a')}) {
    auto stub = Stub(bad);
    grpc::Status s = GetStatus(stub.get(), &status);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED) << "token '" << bad << "'";
    s = stub->SubmitSweep(Ctx().get(), submit, &submitted);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
    pb::CompleteTrialResponse completed;
    pb::CompleteTrialRequest complete;
    complete.set_lease_id("t1.forged");
    s = stub->CompleteTrial(Ctx().get(), complete, &completed);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  }
  // Wrong roles.
  auto reader = Stub(tokens_["reader"]);
  auto worker = Stub(tokens_["worker"]);
  auto user = Stub(tokens_["user"]);
  EXPECT_EQ(reader->SubmitSweep(Ctx().get(), submit, &submitted).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(worker->SubmitSweep(Ctx().get(), submit, &submitted).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  pb::ExportSweepRequest export_req;
  pb::ExportSweepResponse exported;
  EXPECT_EQ(worker->ExportSweep(Ctx().get(), export_req, &exported).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  pb::RegisterWorkerRequest reg;
  reg.set_worker_name("intruder");
  pb::RegisterWorkerResponse registered;
  EXPECT_EQ(user->RegisterWorker(Ctx().get(), reg, &registered).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(reader->RegisterWorker(Ctx().get(), reg, &registered).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  pb::CancelSweepRequest cancel;
  cancel.set_sweep_id(1);
  pb::CancelSweepResponse cancelled;
  EXPECT_EQ(reader->CancelSweep(Ctx().get(), cancel, &cancelled).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  // Nothing was stored by any of that.
  ASSERT_TRUE(GetStatus(reader.get(), &status).ok());
  EXPECT_EQ(status.sweeps_size(), 0);
  EXPECT_EQ(status.workers_alive(), 0);

  // The right roles: a user submits, a worker process with its token file trains, a reader reads.
  ASSERT_TRUE(user->SubmitSweep(Ctx().get(), submit, &submitted).ok());
  EXPECT_EQ(submitted.trials(), 2);
  Process w({"worker", "--coordinator", addr_, "--tls-ca", P("certs/ca.crt"), "--token-file",
             P("worker.token"), "--tls-server-name", "localhost", "--name", "w1", "--data-dir",
             MnistDir(), "--exit-when-idle"},
            log_);
  ASSERT_TRUE(w.Wait(120)) << "worker did not finish the sweep";
  EXPECT_EQ(w.exit_code(), 0);
  ASSERT_TRUE(GetStatus(reader.get(), &status).ok());
  ASSERT_EQ(status.sweeps_size(), 1);
  EXPECT_EQ(status.sweeps(0).completed(), 2);

  // The CLI as a reader (token from the environment is tested in tokens_test; a file here).
  EXPECT_EQ(Cli({"leaderboard", "--coordinator", addr_, "--tls-ca", P("certs/ca.crt"),
                 "--token-file", P("reader.token"), "--tls-server-name", "localhost"}),
            0);
  // ... who may not cancel, and a plaintext client gets nowhere.
  EXPECT_EQ(Cli({"cancel", "1", "--coordinator", addr_, "--tls-ca", P("certs/ca.crt"),
                 "--token-file", P("reader.token"), "--tls-server-name", "localhost"}),
            2);
  EXPECT_NE(Cli({"status", "--coordinator", addr_}), 0);
  // A reader sees the workers; a worker token may not.
  EXPECT_EQ(
      Cli({"workers", "--format", "json", "--coordinator", addr_, "--tls-ca", P("certs/ca.crt"),
           "--token-file", P("reader.token"), "--tls-server-name", "localhost"}),
      0);
  pb::ListWorkersResponse listed;
  ASSERT_TRUE(reader->ListWorkers(Ctx().get(), pb::ListWorkersRequest(), &listed).ok());
  ASSERT_EQ(listed.workers_size(), 1);
  EXPECT_EQ(listed.workers(0).name(), "w1");
  EXPECT_EQ(listed.workers(0).trials_done(), 2);
  EXPECT_FALSE(listed.workers(0).host().empty());
  EXPECT_EQ(worker->ListWorkers(Ctx().get(), pb::ListWorkersRequest(), &listed).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);

  // No token appears in any log or message.
  const std::string log = ReadText(log_);
  for (const auto& [role, token] : tokens_) {
    EXPECT_EQ(log.find(token), std::string::npos) << "the " << role << " token was logged";
  }
  EXPECT_NE(log.find("it needs user"), std::string::npos) << log;
  // The coordinator's events (--log-format json): one object per line, the sweep's story.
  std::set<std::string> events;
  std::istringstream lines(log);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("{\"time\":", 0) != 0) continue;  // (other processes share the log)
    nlohmann::json j;
    ASSERT_NO_THROW(j = nlohmann::json::parse(line)) << line;
    events.insert(j["event"].get<std::string>());
  }
  for (const char* e :
       {"sweep_submitted", "worker_joined", "trial_leased", "trial_completed", "sweep_finished"}) {
    EXPECT_EQ(events.count(e), 1u) << e << " not logged:\n" << log;
  }
}

TEST_F(SecureE2ETest, MutualTlsRefusesAClientWithoutACertificate) {
  auto coord = StartCoordinator(/*mutual=*/true);
  ASSERT_TRUE(WaitUp(tokens_["reader"], 30, /*cert=*/true)) << "coordinator did not come up";
  auto no_cert = Stub(tokens_["reader"], /*cert=*/false);
  pb::GetStatusResponse status;
  grpc::Status s = GetStatus(no_cert.get(), &status);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  EXPECT_EQ(Cli({"status", "--coordinator", addr_, "--tls-ca", P("certs/ca.crt"), "--tls-cert",
                 P("certs/client.crt"), "--tls-key", P("certs/client.key"), "--token-file",
                 P("reader.token"), "--tls-server-name", "localhost"}),
            0);
}

// A worker belongs to the worker token that registered it: another worker token can neither
// take its name nor lease (or be handed a next lease) with its id, so it cannot take that
// worker's trials or have its failures blamed on it.
TEST_F(SecureE2ETest, AWorkerIdWorksOnlyWithTheTokenThatRegisteredIt) {
  ASSERT_EQ(Cli({"token", "create", "--role", "worker", "--tokens", P("tokens"), "--out",
                 P("other.token")}),
            0);
  const std::string other = FirstLine(P("other.token"));
  auto coord = StartCoordinator();
  ASSERT_TRUE(WaitUp(tokens_["reader"], 30)) << "coordinator did not come up";
  auto mine = Stub(tokens_["worker"]);
  auto theirs = Stub(other);

  pb::RegisterWorkerRequest reg;
  reg.set_worker_name("node-1");
  reg.set_threads(1);
  pb::RegisterWorkerResponse registered;
  ASSERT_TRUE(mine->RegisterWorker(Ctx().get(), reg, &registered).ok());
  const int64_t id = registered.worker_id();
  pb::RegisterWorkerResponse again;
  grpc::Status taken = theirs->RegisterWorker(Ctx().get(), reg, &again);
  EXPECT_EQ(taken.error_code(), grpc::StatusCode::PERMISSION_DENIED) << taken.error_message();
  EXPECT_NE(taken.error_message().find("another token"), std::string::npos);

  pb::LeaseTrialRequest lease;
  lease.set_worker_id(id);
  pb::LeaseTrialResponse leased;
  grpc::Status stolen = theirs->LeaseTrial(Ctx().get(), lease, &leased);
  EXPECT_EQ(stolen.error_code(), grpc::StatusCode::PERMISSION_DENIED) << stolen.error_message();
  EXPECT_TRUE(mine->LeaseTrial(Ctx().get(), lease, &leased).ok());  // nothing queued: no trial
  EXPECT_FALSE(leased.has_trial());
  // The same name again with its own token is the same worker.
  ASSERT_TRUE(mine->RegisterWorker(Ctx().get(), reg, &again).ok());
  EXPECT_EQ(again.worker_id(), id);
  // No token or its key in the log.
  const std::string log = ReadText(log_);
  EXPECT_EQ(log.find(tokens_["worker"]), std::string::npos);
  EXPECT_EQ(log.find(other), std::string::npos);
  EXPECT_EQ(log.find("token:"), std::string::npos);
}

}  // namespace
}  // namespace hpsweep
