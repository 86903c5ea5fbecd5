// End-to-end over loopback with TLS and tokens: real coordinator and worker processes of the
// hpsweep binary, certificates and tokens made by `hpsweep certs` and `hpsweep token create`, and
// raw gRPC calls from a client that is not hpsweep's, as a hostile peer would make them.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>

#include "proto/hpsweep.grpc.pb.h"
#include "tests/integration/coordinator_client.h"
#include "tests/integration/e2e_test.h"
#include "tests/integration/process.h"
#include "tests/mnist_dir.h"

namespace hpsweep::secure_e2e_test {
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
  // Lifting a quarantine is a user's, as cancel: not a reader's, nor a worker's (a quarantined
  // worker must not free itself). A user is let through (to NOT_FOUND: no such worker).
  pb::ReleaseWorkerRequest release;
  release.set_worker_name("nobody");
  pb::ReleaseWorkerResponse released;
  EXPECT_EQ(reader->ReleaseWorker(Ctx().get(), release, &released).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(worker->ReleaseWorker(Ctx().get(), release, &released).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(user->ReleaseWorker(Ctx().get(), release, &released).error_code(),
            grpc::StatusCode::NOT_FOUND);
  // Extending a sweep is a user's, as cancel: a user is let through (to NOT_FOUND: no such
  // sweep; INVALID_ARGUMENT naming the field for a max_trials out of bounds).
  pb::ExtendSweepRequest extend;
  extend.set_sweep_id(1);
  extend.set_max_trials(20);
  pb::ExtendSweepResponse extended;
  EXPECT_EQ(reader->ExtendSweep(Ctx().get(), extend, &extended).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(worker->ExtendSweep(Ctx().get(), extend, &extended).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(user->ExtendSweep(Ctx().get(), extend, &extended).error_code(),
            grpc::StatusCode::NOT_FOUND);
  extend.set_max_trials(10001);  // (kMaxTrialsPerSweep + 1)
  grpc::Status too_many = user->ExtendSweep(Ctx().get(), extend, &extended);
  EXPECT_EQ(too_many.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(too_many.error_message().find("max_trials"), std::string::npos);
  EXPECT_NE(too_many.error_message().find("10000"), std::string::npos);
  extend.set_sweep_id(-1);
  extend.set_max_trials(20);
  grpc::Status bad_id = user->ExtendSweep(Ctx().get(), extend, &extended);
  EXPECT_EQ(bad_id.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(bad_id.error_message().find("sweep_id"), std::string::npos);
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

// Peak resident memory (VmHWM) of a process, in bytes; 0 if unreadable.
uint64_t PeakRss(pid_t pid) {
  std::istringstream in(ReadText("/proc/" + std::to_string(pid) + "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoull(line.substr(6)) * 1024;  // kB
  }
  return 0;
}

const char kSoakSweep[] = R"(name: soak-legit
method: grid
data: {validation_split: 0.2, train_limit: 1200}
fixed: {cell: dense, epochs: 2, batch_size: 64}
parameters:
  units: {values: [8, 16, 24, 32, 40, 48]}
)";

// The hostile-tenant soak: while two real workers train a real sweep over TLS with tokens, clients
// of every role attack at once, each bounded in count and time: connection floods without a
// token, readers polling, exporting, holding watch streams and sending oversized calls, a user
// submitting sweeps that name the host's files, and a second worker token flooding registrations,
// leasing with the real workers' ids, completing with junk models and oversized checkpoints. The
// coordinator's peak memory stays under a stated bound, the legitimate sweep completes, every
// completion acknowledged survives a SIGKILL of the coordinator, and a new client still gets in.
TEST_F(SecureE2ETest, HostileTenantsAtOnceLeaveLegitimateWorkTrainingAndLoseNothing) {
  constexpr uint64_t kRssBound = uint64_t{768} << 20;  // the stated bound (MNIST is not loaded)
  constexpr double kSoakSeconds = 150;                 // an upper bound, not a measurement
  ASSERT_EQ(Cli({"token", "create", "--role", "worker", "--tokens", P("tokens"), "--out",
                 P("evil.token")}),
            0);
  const std::string evil = FirstLine(P("evil.token"));
  auto coord = StartCoordinator();
  ASSERT_TRUE(WaitUp(tokens_["reader"], 30)) << "coordinator did not come up";
  auto user = Stub(tokens_["user"]);
  pb::SubmitSweepRequest submit;
  submit.set_file_name("soak.yaml");
  submit.set_yaml(kSoakSweep);
  pb::SubmitSweepResponse submitted;
  ASSERT_TRUE(user->SubmitSweep(Ctx().get(), submit, &submitted).ok());
  const int64_t sweep = submitted.sweep_id();
  ASSERT_EQ(submitted.trials(), 6);

  std::atomic<bool> stop{false};
  std::atomic<int> unauthenticated{0}, oversized_refused{0}, watches_refused{0},
      files_refused{0}, registrations_refused{0}, stolen_refused{0}, junk_refused{0},
      checkpoints_refused{0}, reads_ok{0};
  std::atomic<bool> watches_held{false}, flooded{false};
  std::vector<std::thread> attackers;
  // No token: floods of plain TCP connections (more than the loopback peer's share), and TLS
  // calls without a token.
  attackers.emplace_back([&] {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port_));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int round = 0; round < 20 && !stop; ++round) {
      std::vector<int> fds;
      for (int i = 0; i < 400; ++i) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0) break;
        if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
          close(fd);
          continue;
        }
        fds.push_back(fd);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      for (int fd : fds) close(fd);
      pb::GetStatusResponse r;
      if (GetStatus(Stub("").get(), &r).error_code() == grpc::StatusCode::UNAUTHENTICATED) {
        ++unauthenticated;
      }
    }
  });
  // Readers: polling, exports, every watch stream they can hold, and 8 MiB calls.
  attackers.emplace_back([&] {
    auto reader = Stub(tokens_["reader"]);
    for (int i = 0; i < 400 && !stop; ++i) {
      pb::GetStatusResponse r;
      if (GetStatus(reader.get(), &r).ok()) ++reads_ok;
      pb::ExportSweepRequest er;
      er.set_sweep_id(sweep);
      pb::ExportSweepResponse eresp;
      reader->ExportSweep(Ctx().get(), er, &eresp);
      if (i % 50 == 0) {
        pb::SubmitSweepRequest big;  // a reader's oversized call: refused, not kept
        big.set_file_name("big.yaml");
        big.set_yaml(std::string(8u << 20, 'x'));
        pb::SubmitSweepResponse br;
        if (!reader->SubmitSweep(Ctx().get(), big, &br).ok()) ++oversized_refused;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  attackers.emplace_back([&] {
    auto reader = Stub(tokens_["reader"]);
    std::vector<std::unique_ptr<grpc::ClientContext>> ctxs;
    std::vector<std::unique_ptr<grpc::ClientReader<pb::GetStatusResponse>>> streams;
    for (int i = 0; i < 80 && !stop; ++i) {
      auto ctx = std::make_unique<grpc::ClientContext>();
      ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
      pb::WatchSweepRequest w;
      w.set_sweep_id(sweep);
      auto stream = reader->WatchSweep(ctx.get(), w);
      pb::GetStatusResponse first;
      if (!stream->Read(&first)) {
        if (stream->Finish().error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
          ++watches_refused;
        }
        continue;
      }
      ctxs.push_back(std::move(ctx));
      streams.push_back(std::move(stream));
    }
    watches_held = true;
    while (!stop) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    for (auto& c : ctxs) c->TryCancel();
    for (auto& st : streams) st->Finish();
  });
  // A user naming the coordinator host's files as own data.
  attackers.emplace_back([&] {
    for (int i = 0; i < 50 && !stop; ++i) {
      pb::SubmitSweepRequest bad;
      bad.set_file_name("steal.yaml");
      bad.set_yaml(std::string("name: steal\nmethod: grid\ndata: {format: csv, train: ") +
                   (i % 2 ? "/etc/shadow" : "../../../../etc/passwd") +
                   ", sequence_length: 1}\nfixed: {cell: dense, epochs: 1}\n"
                   "parameters:\n  units: {values: [8]}\n");
      pb::SubmitSweepResponse r;
      grpc::Status s = user->SubmitSweep(Ctx().get(), bad, &r);
      if (!s.ok() && s.error_message().find("root:") == std::string::npos) ++files_refused;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
  // A second worker token: a registration flood, leases under the real workers' ids, junk
  // completions and oversized checkpoints on what it leases, each lease then given back.
  attackers.emplace_back([&] {
    auto bad = Stub(evil);
    pb::RegisterWorkerRequest reg;
    reg.set_worker_name("evil-0");
    reg.set_threads(1);
    pb::RegisterWorkerResponse me;
    if (!bad->RegisterWorker(Ctx().get(), reg, &me).ok()) {
      ADD_FAILURE() << "the second worker token could not register a worker";
      flooded = true;
      return;
    }
    for (int i = 0; i < 1100 && !stop; ++i) {
      pb::RegisterWorkerRequest flood;
      flood.set_worker_name("flood-" + std::to_string(i));  // (past the burst: refused)
      flood.set_threads(1);
      pb::RegisterWorkerResponse rr;
      if (bad->RegisterWorker(Ctx().get(), flood, &rr).error_code() ==
          grpc::StatusCode::UNAVAILABLE) {
        ++registrations_refused;
      }
    }
    flooded = true;
    auto lister = Stub(tokens_["reader"]);
    for (int i = 0; i < 400 && !stop; ++i) {
      pb::ListWorkersResponse listed;
      lister->ListWorkers(Ctx().get(), pb::ListWorkersRequest(), &listed);
      for (const pb::WorkerInfo& w : listed.workers()) {  // the real workers' ids
        if (w.name().rfind("legit-", 0) != 0) continue;
        const int64_t id = w.worker_id();
        pb::LeaseTrialRequest steal;
        steal.set_worker_id(id);
        pb::LeaseTrialResponse got;
        grpc::Status s = bad->LeaseTrial(Ctx().get(), steal, &got);
        if (s.error_code() == grpc::StatusCode::PERMISSION_DENIED) ++stolen_refused;
      }
      if (i >= 20) {  // (leases of its own: the first few, then it only tries to steal)
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        continue;
      }
      pb::LeaseTrialRequest mine;
      mine.set_worker_id(me.worker_id());
      pb::LeaseTrialResponse got;
      if (bad->LeaseTrial(Ctx().get(), mine, &got).ok() && got.has_trial()) {
        pb::SaveCheckpointRequest ck;
        ck.set_lease_id(got.lease_id());
        ck.set_epoch(1);
        ck.set_checkpoint(std::string(i < 2 ? (130u << 20) : (1u << 20), '\x7f'));  // 130 MiB:
        // over the limit; 1 MiB: not a checkpoint of an epoch it reported
        pb::SaveCheckpointResponse ckr;
        if (!bad->SaveCheckpoint(Ctx().get(), ck, &ckr).ok()) ++checkpoints_refused;
        pb::CompleteTrialRequest junk;
        junk.set_lease_id(got.lease_id());
        junk.set_model("HPSW not a model");
        pb::CompleteTrialResponse jr;
        if (!bad->CompleteTrial(Ctx().get(), junk, &jr).ok()) ++junk_refused;
        pb::FailTrialRequest back;
        back.set_lease_id(got.lease_id());
        back.set_released(true);
        pb::FailTrialResponse br;
        bad->FailTrial(Ctx().get(), back, &br);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });

  // While the reader holds all the streams it may, another token still watches.
  ASSERT_TRUE(PollFor(60, [&] { return watches_held.load() && flooded.load(); }));
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    pb::WatchSweepRequest w;
    w.set_sweep_id(sweep);
    auto stream = user->WatchSweep(&ctx, w);
    pb::GetStatusResponse first;
    EXPECT_TRUE(stream->Read(&first)) << "a user could not watch while a reader held streams";
    ctx.TryCancel();
    stream->Finish();
  }

  // The attacks in full swing, two real workers join and train the legitimate sweep.
  std::vector<std::unique_ptr<Process>> workers;
  for (const char* name : {"legit-1", "legit-2"}) {
    workers.push_back(std::make_unique<Process>(
        std::vector<std::string>{"worker", "--coordinator", addr_, "--name", name, "--threads",
                                 "1", "--data-dir", MnistDir(), "--tls-ca", P("certs/ca.crt"),
                                 "--token-file", P("worker.token")},
        P(std::string(name) + ".log")));
  }

  // The legitimate sweep completes meanwhile. The attacks go on until the stealer has tried the
  // real workers' ids too: a fast machine finished the sweep before it got there (the real
  // workers stay listed while they wait for work, so it still can).
  pb::SweepStatus done;
  const bool completed = PollFor(kSoakSeconds, [&] {
    pb::GetStatusResponse r;
    if (!GetStatus(Stub(tokens_["reader"]).get(), &r).ok()) return false;
    for (const pb::SweepStatus& st : r.sweeps()) {
      if (st.sweep_id() == sweep) done = st;
    }
    return done.completed() == 6 && stolen_refused > 0;
  });
  stop = true;
  for (std::thread& t : attackers) t.join();
  EXPECT_TRUE(completed) << done.DebugString();
  EXPECT_EQ(done.failed(), 0);
  const uint64_t peak = PeakRss(coord->pid());
  EXPECT_GT(peak, 0u);
  EXPECT_LT(peak, kRssBound) << "coordinator peak RSS " << (peak >> 20) << " MiB";
  std::cerr << "soak: coordinator peak RSS " << (peak >> 20) << " MiB; refused: "
            << unauthenticated << " tokenless, " << oversized_refused << " oversized, "
            << watches_refused << " watches, " << files_refused << " file sweeps, "
            << registrations_refused << " registrations, " << stolen_refused << " stolen ids, "
            << junk_refused << " junk models, " << checkpoints_refused << " checkpoints; "
            << reads_ok << " reads answered\n";
  EXPECT_GT(unauthenticated, 0);
  EXPECT_GT(oversized_refused, 0);
  EXPECT_GT(files_refused, 0);
  EXPECT_GT(watches_refused, 0);
  EXPECT_GT(registrations_refused, 0);
  EXPECT_GT(stolen_refused, 0);
  EXPECT_GT(reads_ok, 0);

  // Nothing acknowledged is lost: the export after a SIGKILL and a restart is the export before.
  auto reader = Stub(tokens_["reader"]);
  pb::ExportSweepRequest er;
  er.set_sweep_id(sweep);
  pb::ExportSweepResponse before;
  ASSERT_TRUE(reader->ExportSweep(Ctx().get(), er, &before).ok());
  for (auto& w : workers) w->Signal(SIGTERM);
  for (auto& w : workers) EXPECT_TRUE(w->Wait(30));
  coord->Signal(SIGKILL);
  ASSERT_TRUE(coord->Wait(10));
  coord = StartCoordinator();
  ASSERT_TRUE(WaitUp(tokens_["reader"], 30)) << "coordinator did not come back";
  pb::ExportSweepResponse after;
  ASSERT_TRUE(Stub(tokens_["reader"])->ExportSweep(Ctx().get(), er, &after).ok());
  auto trials = [](const std::string& json) {
    nlohmann::json j = nlohmann::json::parse(json);
    std::map<int, std::string> by_number;
    for (const auto& t : j["trials"]) {
      by_number[t["number"].get<int>()] =
          t["status"].get<std::string>() + " " + t["epochs"].dump() + " " + t["test_accuracy"].dump();
    }
    return by_number;
  };
  const auto b = trials(before.json()), a = trials(after.json());
  EXPECT_EQ(b.size(), 6u);
  EXPECT_EQ(a, b);
  for (const auto& [number, t] : a) EXPECT_EQ(t.rfind("completed ", 0), 0u) << number << ": " << t;
  // No secret in the coordinator's log.
  const std::string log = ReadText(log_);
  EXPECT_EQ(log.find(evil), std::string::npos);
  EXPECT_EQ(log.find(tokens_["worker"]), std::string::npos);
}

// A burst of oversized calls from a reader token: each is refused by size only once gRPC has read
// it, so eight 120 MiB calls at once took the coordinator to 1.8 GB and left 650 MB in use. The
// server's memory budget (--request-memory, a ResourceQuota) now refuses calls past it, and the
// memory freed goes back to the system; the coordinator answers throughout.
TEST_F(SecureE2ETest, ABurstOfOversizedCallsIsRefusedAndItsMemoryGivenBack) {
  auto coord = StartCoordinator();
  ASSERT_TRUE(WaitUp(tokens_["reader"], 30));
  constexpr size_t kCallBytes = size_t{100} << 20;
  std::string body;  // a GetStatusRequest with a 100 MiB unknown field (15, length-delimited)
  body.push_back(static_cast<char>((15 << 3) | 2));
  for (uint64_t len = kCallBytes;; len >>= 7) {
    if (len < 0x80) {
      body.push_back(static_cast<char>(len));
      break;
    }
    body.push_back(static_cast<char>((len & 0x7f) | 0x80));
  }
  body.append(kCallBytes, 'x');
  std::atomic<int> ok{0}, refused{0};
  std::vector<std::thread> burst;
  for (int i = 0; i < 6; ++i) {
    burst.emplace_back([&] {
      grpc::GenericStub generic(Channel(tokens_["reader"]));
      grpc::CompletionQueue cq;
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
      grpc::Slice slice(body);
      grpc::ByteBuffer req(&slice, 1), resp;
      auto call = generic.PrepareUnaryCall(&ctx, "/hpsweep.v1.Coordinator/GetStatus", req, &cq);
      call->StartCall();
      grpc::Status s;
      call->Finish(&resp, &s, reinterpret_cast<void*>(1));
      void* tag;
      bool done;
      cq.Next(&tag, &done);
      (s.ok() ? ok : refused)++;
    });
  }
  for (std::thread& t : burst) t.join();
  EXPECT_EQ(ok, 0);
  EXPECT_EQ(refused, 6);
  pb::GetStatusResponse status;
  EXPECT_TRUE(GetStatus(Stub(tokens_["reader"]).get(), &status).ok());
  auto rss = [&]() -> uint64_t {
    std::istringstream in(ReadText("/proc/" + std::to_string(coord->pid()) + "/status"));
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
    }
    return uint64_t{0};
  };
  uint64_t now = 0;
  EXPECT_TRUE(PollFor(20, [&] { return (now = rss()) < (uint64_t{200} << 20); }))
      << "coordinator RSS stays at " << (now >> 20) << " MiB after the burst";
  std::cerr << "burst: coordinator peak RSS " << (PeakRss(coord->pid()) >> 20) << " MiB, then "
            << (now >> 20) << " MiB\n";
}

}  // namespace
}  // namespace hpsweep::secure_e2e_test
