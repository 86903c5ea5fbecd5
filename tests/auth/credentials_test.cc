// Listen-address policy, the role table and client channels (auth/credentials.h).
#include "auth/credentials.h"

#include <google/protobuf/descriptor.h>
#include <gtest/gtest.h>

#include <cstdlib>

#include "proto/hpsweep.grpc.pb.h"

namespace hpsweep::credentials_test {
namespace {

TEST(CredentialsTest, LoopbackAddressesAreTold) {
  for (const char* a : {"127.0.0.1:50051", "127.5.6.7:1", "localhost:50051", "[::1]:50051",
                        "unix:/tmp/s.sock", "ipv4:127.0.0.1:80", "dns:///localhost:5"}) {
    EXPECT_TRUE(IsLoopbackAddress(a)) << a;
  }
  for (const char* a : {"0.0.0.0:50051", "[::]:50051", ":50051", "10.0.0.1:50051", "node1:50051",
                        "128.0.0.1:5", "[2001:db8::1]:5", "localhost.evil.com:5"}) {
    EXPECT_FALSE(IsLoopbackAddress(a)) << a;
  }
}

TEST(CredentialsTest, NetworkListenNeedsTlsAndTokensOrInsecure) {
  ServerSecurity none;
  EXPECT_TRUE(CheckListenSecurity("127.0.0.1:50051", none).ok());
  Status refused = CheckListenSecurity("0.0.0.0:50051", none);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(refused.message().find("without TLS and tokens"), std::string::npos);
  EXPECT_NE(refused.message().find("hpsweep certs"), std::string::npos) << refused.message();
  EXPECT_NE(refused.message().find("hpsweep token create"), std::string::npos);
  EXPECT_NE(refused.message().find("--insecure"), std::string::npos);

  ServerSecurity tls_only;
  tls_only.tls_cert = "s.crt";
  tls_only.tls_key = "s.key";
  Status no_tokens = CheckListenSecurity("node1:50051", tls_only);
  ASSERT_FALSE(no_tokens.ok());
  EXPECT_NE(no_tokens.message().find("without tokens"), std::string::npos);

  ServerSecurity both = tls_only;
  both.auth_tokens = "tokens.txt";
  EXPECT_TRUE(CheckListenSecurity("0.0.0.0:50051", both).ok());

  ServerSecurity insecure;
  insecure.insecure = true;
  EXPECT_TRUE(CheckListenSecurity("0.0.0.0:50051", insecure).ok());

  // Contradictions are refused everywhere, loopback too.
  ServerSecurity tokens_plain;
  tokens_plain.auth_tokens = "tokens.txt";
  EXPECT_FALSE(CheckListenSecurity("127.0.0.1:1", tokens_plain).ok());
  ServerSecurity half;
  half.tls_cert = "s.crt";
  EXPECT_FALSE(CheckListenSecurity("127.0.0.1:1", half).ok());
  ServerSecurity ca_only;
  ca_only.tls_client_ca = "ca.crt";
  EXPECT_FALSE(CheckListenSecurity("127.0.0.1:1", ca_only).ok());
}

TEST(CredentialsTest, EveryRpcOfTheServiceHasADecidedRole) {
  // Every method of the service as the proto declares it, so a new RPC cannot be forgotten.
  const google::protobuf::ServiceDescriptor* service =
      v1::SubmitSweepRequest::descriptor()->file()->FindServiceByName("Coordinator");
  ASSERT_NE(service, nullptr);
  ASSERT_GT(service->method_count(), 10);
  for (int i = 0; i < service->method_count(); ++i) {
    const std::string path = "/hpsweep.v1.Coordinator/" + service->method(i)->name();
    unsigned roles = 0;
    ASSERT_TRUE(AllowedRoles(path, &roles)) << path;
    EXPECT_NE(roles, 0u) << path << " is missing from the role table";
  }
  auto allowed = [](const std::string& method, Role role) {
    unsigned roles = 0;
    EXPECT_TRUE(AllowedRoles("/hpsweep.v1.Coordinator/" + method, &roles));
    return (roles & RoleBit(role)) != 0;
  };
  EXPECT_TRUE(allowed("SubmitSweep", Role::kUser));
  EXPECT_FALSE(allowed("SubmitSweep", Role::kReader));
  EXPECT_FALSE(allowed("SubmitSweep", Role::kWorker));
  EXPECT_TRUE(allowed("CompleteTrial", Role::kWorker));
  EXPECT_FALSE(allowed("CompleteTrial", Role::kUser));
  EXPECT_TRUE(allowed("ExportSweep", Role::kReader));
  EXPECT_TRUE(allowed("ExportSweep", Role::kUser));
  EXPECT_FALSE(allowed("ExportSweep", Role::kWorker));
  EXPECT_FALSE(allowed("GetModel", Role::kWorker));
  EXPECT_TRUE(allowed("GetStatus", Role::kWorker));
  EXPECT_FALSE(allowed("CancelSweep", Role::kReader));
  EXPECT_TRUE(allowed("ListWorkers", Role::kReader));
  EXPECT_TRUE(allowed("ListWorkers", Role::kUser));
  EXPECT_FALSE(allowed("ListWorkers", Role::kWorker));
  // Lifting a worker's quarantine is a user's act, as cancel is: not a reader's, not a worker's
  // (a quarantined worker must not free itself).
  EXPECT_TRUE(allowed("ReleaseWorker", Role::kUser));
  EXPECT_FALSE(allowed("ReleaseWorker", Role::kReader));
  EXPECT_FALSE(allowed("ReleaseWorker", Role::kWorker));
  // Extending a sweep changes what it trains: a user's act, as cancel is.
  EXPECT_TRUE(allowed("ExtendSweep", Role::kUser));
  EXPECT_FALSE(allowed("ExtendSweep", Role::kReader));
  EXPECT_FALSE(allowed("ExtendSweep", Role::kWorker));
  // Resuming trials: only workers keep and fetch checkpoints.
  EXPECT_TRUE(allowed("SaveCheckpoint", Role::kWorker));
  EXPECT_TRUE(allowed("GetCheckpoint", Role::kWorker));
  EXPECT_FALSE(allowed("SaveCheckpoint", Role::kUser));
  EXPECT_FALSE(allowed("GetCheckpoint", Role::kReader));
  // Unknown methods of the service fail closed; other services (health) are open.
  unsigned roles = 1;
  ASSERT_TRUE(AllowedRoles("/hpsweep.v1.Coordinator/DropDatabase", &roles));
  EXPECT_EQ(roles, 0u);
  EXPECT_FALSE(AllowedRoles("/grpc.health.v1.Health/Check", &roles));
}

TEST(CredentialsTest, CoordinatorAddressMustBeHostAndPort) {
  for (const char* a : {"127.0.0.1:50051", "nodeA:1", "[::1]:65535", "unix:/tmp/s.sock"}) {
    EXPECT_TRUE(CheckAddress(a).ok()) << a;
  }
  for (const char* a : {"50051", "nodeA", "nodeA:", ":50051", "nodeA:0", "nodeA:65536",
                        "nodeA:50x", "nodeA:123456", "unix:"}) {
    Status s = CheckAddress(a);
    ASSERT_FALSE(s.ok()) << a;
    EXPECT_NE(s.message().find("expected HOST:PORT"), std::string::npos) << s.message();
  }
  auto channel = MakeChannel("50051", ClientSecurity{});
  ASSERT_FALSE(channel.ok());
  EXPECT_NE(channel.status().message().find("--coordinator '50051'"), std::string::npos);
}

TEST(CredentialsTest, ClientRefusesToSendATokenInTheClear) {
  setenv("HPSWEEP_TOKEN", "hps_secret_value", 1);
  auto channel = MakeChannel("127.0.0.1:1", ClientSecurity{});
  unsetenv("HPSWEEP_TOKEN");
  ASSERT_FALSE(channel.ok());
  EXPECT_NE(channel.status().message().find("--tls-ca"), std::string::npos);
  EXPECT_EQ(channel.status().message().find("hps_secret_value"), std::string::npos);
  auto plain = MakeChannel("127.0.0.1:1", ClientSecurity{});
  EXPECT_TRUE(plain.ok());
  ClientSecurity missing_ca;
  missing_ca.tls_ca = "/nonexistent/ca.crt";
  auto bad = MakeChannel("127.0.0.1:1", missing_ca);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("--tls-ca /nonexistent/ca.crt"), std::string::npos);
}

}  // namespace
}  // namespace hpsweep::credentials_test
