// The one place where gRPC credentials are made: the coordinator's server credentials (TLS,
// optionally mutual, and bearer tokens with roles) and every client's channel (worker, CLI,
// benchmarks, tests). Nothing else in hpsweep names grpc::Insecure*Credentials.
//
// Secure by default: a coordinator on a loopback address needs nothing; on any other address it
// needs TLS and tokens, or an explicit --insecure (CheckListenSecurity). Tokens travel only over
// TLS. The health service stays open to everyone; every hpsweep RPC checks the caller's role:
//
//   RPC                                                      roles that may call it
//   GetStatus                                                reader, user, worker (exit when idle)
//   GetLeaderboard ExportSweep WatchSweep GetModel           reader, user
//   SubmitSweep CancelSweep ExtendSweep ReleaseWorker        user
//   RegisterWorker LeaseTrial ReportProgress CompleteTrial
//   FailTrial GetDataset                                     worker
//
// How: the server's AuthMetadataProcessor decides every call from that call's own metadata: the
// method (":path") gives the roles allowed (AllowedRoles), the "authorization: Bearer TOKEN" header
// is looked up in the tokens file (constant time). No token: UNAUTHENTICATED; an unknown token:
// UNAUTHENTICATED; a known one with the wrong role: PERMISSION_DENIED. The call never reaches the
// handler then. Nothing is stored in the AuthContext: gRPC shares that among all calls of a
// connection, so a role recorded for one call would carry over to the next. Handlers take only
// the caller's token key (CallerTokenKey, a hash of the header) from it, to bind a worker to the
// token that registered it; no log line, error or message contains a token or its key.
//
// Thread-safety: functions; the processor they install is immutable.
#ifndef HPSWEEP_AUTH_CREDENTIALS_H_
#define HPSWEEP_AUTH_CREDENTIALS_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "auth/tokens.h"
#include "base/status.h"

namespace hpsweep {

// Largest PEM file (certificate, key, CA bundle) read.
constexpr size_t kMaxPemBytes = 1 << 20;

struct ServerSecurity {
  std::string tls_cert, tls_key;  // PEM files; both given: the coordinator speaks TLS
  std::string tls_client_ca;      // PEM: clients must show a certificate it signed (mutual TLS)
  std::string auth_tokens;        // tokens file (auth/tokens.h); needs TLS
  bool insecure = false;          // allow plaintext without tokens on a non-loopback address
};

struct ClientSecurity {
  std::string tls_ca;             // PEM: the CA that signed the coordinator's certificate; TLS on
  std::string tls_cert, tls_key;  // this client's certificate, for a coordinator with mutual TLS
  std::string token_file;         // else HPSWEEP_TOKEN (auth/tokens.h ReadClientToken)
  std::string tls_server_name;    // the name to check the certificate against, if not the host's
};

// Whether host:port names this machine's loopback (127.0.0.0/8, localhost, [::1]) or a unix
// socket: nothing outside the machine can reach it.
bool IsLoopbackAddress(const std::string& address);

// OK for a loopback address, or for TLS + tokens, or with insecure set. Otherwise an
// InvalidArgument that says why and which two commands set TLS and tokens up. Also refuses
// contradictions: tokens without TLS, half a certificate pair, a client CA without TLS.
Status CheckListenSecurity(const std::string& listen, const ServerSecurity& security);

// The roles (RoleBit mask) that may call the gRPC method `path`
// ("/hpsweep.v1.Coordinator/SubmitSweep"); false for methods open to everyone (health,
// reflection). A method of hpsweep's service missing from the table gets no role: new RPCs are
// closed until someone decides.
constexpr unsigned RoleBit(Role role) { return 1u << static_cast<unsigned>(role); }
bool AllowedRoles(const std::string& path, unsigned* roles);

// Who made the call, as far as tokens tell: "" when the call carried no token (a coordinator
// without tokens), else a key derived from the token (a SHA-256 prefix; the token cannot be
// recovered from it). The processor above has checked the token before any handler runs.
std::string CallerTokenKey(const grpc::ServerContextBase& context);

// Reads the files `security` names and builds the server's credentials: plaintext, or TLS with
// the token processor when there is a tokens file. Run CheckListenSecurity first. Errors name the
// file and what is wrong with it.
StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const ServerSecurity& security);

// OK for HOST:PORT (port 1..65535; [IPv6]:PORT) or unix:PATH; else InvalidArgument saying what is
// expected (a bare port, "50051", would otherwise reach DNS and fail there obscurely).
Status CheckAddress(const std::string& address);

// A channel to a coordinator with the client's credentials (the address checked first): plaintext
// when no CA is given (a token then is refused: it would travel in the clear), TLS otherwise, with
// the token attached to every call. args: message sizes and the like.
StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(const std::string& address,
                                                     const ClientSecurity& security,
                                                     grpc::ChannelArguments args = {});

}  // namespace hpsweep

#endif  // HPSWEEP_AUTH_CREDENTIALS_H_
