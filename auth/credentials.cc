#include "auth/credentials.h"

#include <arpa/inet.h>

#include <cerrno>
#include <cstring>

#include "base/file_io.h"
#include "base/sha256.h"

namespace hpsweep {
namespace {

StatusOr<std::string> ReadPem(const std::string& path, const char* flag) {
  StatusOr<std::string> text = ReadFileBounded(path, kMaxPemBytes, "PEM file");
  if (!text.ok()) {
    const std::string& why = text.status().message();
    switch (text.status().code()) {
      case StatusCode::kNotFound:  // "PATH: cannot open PEM file: <errno text>"
        return NotFound(std::string(flag) + " " + path +
                        ": cannot open: " + why.substr(why.rfind(": ") + 2));
      case StatusCode::kInvalidArgument:
        return InvalidArgument(std::string(flag) + " " + path + ": over the limit of " +
                               std::to_string(kMaxPemBytes) + " bytes for a PEM file");
      default: return text.status();
    }
  }
  if (text->find("-----BEGIN ") == std::string::npos) {
    return InvalidArgument(std::string(flag) + " " + path +
                           ": not a PEM file (no '-----BEGIN' line)");
  }
  return text;
}

// "host:port" -> host, without brackets ("[::1]:5" -> "::1").
std::string HostOf(const std::string& address) {
  std::string a = address;
  for (const char* scheme : {"dns:///", "ipv4:", "ipv6:"}) {
    if (a.rfind(scheme, 0) == 0) a = a.substr(std::strlen(scheme));
  }
  if (!a.empty() && a[0] == '[') {
    const size_t close = a.find(']');
    return close == std::string::npos ? a : a.substr(1, close - 1);
  }
  const size_t colon = a.rfind(':');
  return colon == std::string::npos ? a : a.substr(0, colon);
}

const char* kSetup =
    "set them up with\n"
    "  hpsweep certs --out certs --host $(hostname)\n"
    "  hpsweep token create --role worker --tokens tokens.txt --out worker.token\n"
    "then pass --tls-cert certs/server.crt --tls-key certs/server.key --auth-tokens tokens.txt "
    "(README, Security); or pass --insecure to serve plaintext to anyone who can reach the port";

}  // namespace

bool IsLoopbackAddress(const std::string& address) {
  if (address.rfind("unix:", 0) == 0) return true;
  const std::string host = HostOf(address);
  if (host == "localhost" || host == "ip6-localhost") return true;
  in_addr v4;
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) {
    return (ntohl(v4.s_addr) >> 24) == 127;
  }
  in6_addr v6;
  if (inet_pton(AF_INET6, host.c_str(), &v6) == 1) {
    return IN6_IS_ADDR_LOOPBACK(&v6) != 0;
  }
  return false;  // a name, a wildcard (0.0.0.0, [::], ""), or another address
}

Status CheckListenSecurity(const std::string& listen, const ServerSecurity& s) {
  if (s.tls_cert.empty() != s.tls_key.empty()) {
    return InvalidArgument("--tls-cert and --tls-key go together: give both or neither");
  }
  const bool tls = !s.tls_cert.empty();
  if (!s.tls_client_ca.empty() && !tls) {
    return InvalidArgument("--tls-client-ca needs --tls-cert and --tls-key (mutual TLS is TLS)");
  }
  if (!s.auth_tokens.empty() && !tls) {
    return InvalidArgument(
        "--auth-tokens needs --tls-cert and --tls-key: tokens would travel in the clear");
  }
  if (IsLoopbackAddress(listen) || s.insecure) return Status::Ok();
  if (tls && !s.auth_tokens.empty()) return Status::Ok();
  return InvalidArgument("refusing to listen on " + listen + " without " +
                         (tls ? "tokens" : "TLS and tokens") +
                         ": anyone who can reach it could submit, cancel, read models and "
                         "forge results; " +
                         kSetup);
}

bool AllowedRoles(const std::string& path, unsigned* roles) {
  static const char kService[] = "/hpsweep.v1.Coordinator/";
  if (path.rfind(kService, 0) != 0) return false;  // health, reflection: open
  const std::string method = path.substr(sizeof(kService) - 1);
  constexpr unsigned kR = RoleBit(Role::kReader), kU = RoleBit(Role::kUser),
                     kW = RoleBit(Role::kWorker);
  static const struct {
    const char* method;
    unsigned roles;
  } kTable[] = {
      // A worker reads the status too: `--exit-when-idle` asks whether any sweep still runs.
      {"GetStatus", kR | kU | kW}, {"GetLeaderboard", kR | kU}, {"ExportSweep", kR | kU},
      {"WatchSweep", kR | kU},     {"GetModel", kR | kU},       {"SubmitSweep", kU},
      {"CancelSweep", kU},         {"RegisterWorker", kW},      {"LeaseTrial", kW},
      {"ReportProgress", kW},      {"CompleteTrial", kW},       {"FailTrial", kW},
      {"GetDataset", kW},          {"ListWorkers", kR | kU},    {"SaveCheckpoint", kW},
      {"GetCheckpoint", kW},       {"ReleaseWorker", kU},       {"ExtendSweep", kU},
  };
  for (const auto& row : kTable) {
    if (method == row.method) {
      *roles = row.roles;
      return true;
    }
  }
  // A method of the service not in the table (added to the proto, forgotten here): fail closed.
  *roles = 0;
  return true;
}

namespace {

// "user", "reader or user", "no role (not yet decided for this call)".
std::string RolesText(unsigned roles) {
  std::string text;
  for (Role r : {Role::kReader, Role::kUser, Role::kWorker}) {
    if ((roles & RoleBit(r)) == 0) continue;
    text += (text.empty() ? "" : " or ") + std::string(RoleName(r));
  }
  return text.empty() ? "a role no token has" : text;
}

// Decides each call from its own metadata: the method (":path") and its bearer token. Nothing is
// recorded in the connection's AuthContext, so one call's token never serves another call.
class TokenProcessor : public grpc::AuthMetadataProcessor {
 public:
  explicit TokenProcessor(std::shared_ptr<const TokenStore> tokens) : tokens_(std::move(tokens)) {}
  bool IsBlocking() const override { return false; }  // a hash and a few compares

  grpc::Status Process(const InputMetadata& md, grpc::AuthContext*, OutputMetadata*,
                       OutputMetadata*) override {
    auto path = md.find(":path");
    if (path == md.end()) return {grpc::StatusCode::PERMISSION_DENIED, "no method named"};
    unsigned roles;
    if (!AllowedRoles(std::string(path->second.data(), path->second.size()), &roles)) {
      return grpc::Status::OK;
    }
    auto it = md.find("authorization");
    if (it == md.end()) {
      return {grpc::StatusCode::UNAUTHENTICATED,
              "this coordinator needs a token: pass --token-file FILE or set HPSWEEP_TOKEN"};
    }
    const std::string value(it->second.data(), it->second.size());
    static const std::string kBearer = "Bearer ";
    const TokenEntry* entry = nullptr;
    if (value.size() > kBearer.size() && value.compare(0, kBearer.size(), kBearer) == 0) {
      entry = tokens_->Authenticate(value.substr(kBearer.size()));
    }
    if (entry == nullptr) {
      return {grpc::StatusCode::UNAUTHENTICATED, "the token is not one this coordinator knows"};
    }
    if ((roles & RoleBit(entry->role)) == 0) {
      return {grpc::StatusCode::PERMISSION_DENIED, std::string("a ") + RoleName(entry->role) +
                                                       " token may not make this call (it needs " +
                                                       RolesText(roles) + ")"};
    }
    // (Not consumed: CallerTokenKey derives the caller's key from it.)
    return grpc::Status::OK;
  }

 private:
  std::shared_ptr<const TokenStore> tokens_;
};

}  // namespace

std::string CallerTokenKey(const grpc::ServerContextBase& context) {
  const auto& md = context.client_metadata();
  auto it = md.find("authorization");
  if (it == md.end()) return "";
  return "token:" + Sha256Hex(std::string(it->second.data(), it->second.size())).substr(0, 32);
}

StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(const ServerSecurity& s) {
  std::shared_ptr<const TokenStore> tokens;
  if (!s.auth_tokens.empty()) {
    auto loaded = TokenStore::LoadFile(s.auth_tokens);
    if (!loaded.ok()) return loaded.status();
    tokens = *loaded;
  }
  if (s.tls_cert.empty()) return grpc::InsecureServerCredentials();
  grpc::SslServerCredentialsOptions opts(
      s.tls_client_ca.empty() ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                              : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
  auto cert = ReadPem(s.tls_cert, "--tls-cert");
  if (!cert.ok()) return cert.status();
  auto key = ReadPem(s.tls_key, "--tls-key");
  if (!key.ok()) return key.status();
  pair.cert_chain = *cert;
  pair.private_key = *key;
  opts.pem_key_cert_pairs.push_back(pair);
  if (!s.tls_client_ca.empty()) {
    auto ca = ReadPem(s.tls_client_ca, "--tls-client-ca");
    if (!ca.ok()) return ca.status();
    opts.pem_root_certs = *ca;
  }
  std::shared_ptr<grpc::ServerCredentials> credentials = grpc::SslServerCredentials(opts);
  if (tokens) credentials->SetAuthMetadataProcessor(std::make_shared<TokenProcessor>(tokens));
  return credentials;
}

Status CheckAddress(const std::string& address) {
  if (address.rfind("unix:", 0) == 0 && address.size() > 5) return Status::Ok();
  const std::string host = HostOf(address);
  const size_t colon = address.rfind(':');
  const std::string port = colon == std::string::npos ? "" : address.substr(colon + 1);
  bool digits = !port.empty() && port.size() <= 5;
  for (char c : port) digits = digits && c >= '0' && c <= '9';
  if (host.empty() || !digits || std::stoi(port) < 1 || std::stoi(port) > 65535 ||
      address.size() > 256) {
    return InvalidArgument("--coordinator '" + address.substr(0, 80) +
                           "': expected HOST:PORT, e.g. 127.0.0.1:50051 or nodeA:50051");
  }
  return Status::Ok();
}

StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(const std::string& address,
                                                     const ClientSecurity& s,
                                                     grpc::ChannelArguments args) {
  HPSWEEP_RETURN_IF_ERROR(CheckAddress(address));
  auto token = ReadClientToken(s.token_file);
  if (!token.ok()) return token.status();
  if (s.tls_ca.empty()) {
    if (!token->empty()) {
      return InvalidArgument(
          "a token is given (--token-file or HPSWEEP_TOKEN) but no --tls-ca: the token would "
          "travel in the clear; pass --tls-ca with the coordinator's CA certificate");
    }
    if (!s.tls_cert.empty()) return InvalidArgument("--tls-cert needs --tls-ca");
    return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
  }
  if (s.tls_cert.empty() != s.tls_key.empty()) {
    return InvalidArgument("--tls-cert and --tls-key go together: give both or neither");
  }
  grpc::SslCredentialsOptions opts;
  auto ca = ReadPem(s.tls_ca, "--tls-ca");
  if (!ca.ok()) return ca.status();
  opts.pem_root_certs = *ca;
  if (!s.tls_cert.empty()) {
    auto cert = ReadPem(s.tls_cert, "--tls-cert");
    if (!cert.ok()) return cert.status();
    auto key = ReadPem(s.tls_key, "--tls-key");
    if (!key.ok()) return key.status();
    opts.pem_cert_chain = *cert;
    opts.pem_private_key = *key;
  }
  std::shared_ptr<grpc::ChannelCredentials> creds = grpc::SslCredentials(opts);
  if (!token->empty()) {
    creds = grpc::CompositeChannelCredentials(creds, grpc::AccessTokenCredentials(*token));
  }
  if (!s.tls_server_name.empty()) args.SetSslTargetNameOverride(s.tls_server_name);
  return grpc::CreateCustomChannel(address, creds, args);
}

}  // namespace hpsweep
