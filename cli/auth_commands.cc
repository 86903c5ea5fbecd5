#include "cli/auth_commands.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "auth/certs.h"
#include "auth/tokens.h"
#include "cli/client.h"

namespace hpsweep {
namespace {

struct AuthFlags {
  std::string role, tokens, name, out;
  std::string certs_out;
  std::vector<std::string> hosts;
  int days = 825;
};

// A new token: its hash goes into the tokens file; the token itself to stdout, or to a new file
// readable by its owner only (so that scripts never hold it on a command line).
int RunTokenCreate(const AuthFlags& f) {
  Role role;
  if (!ParseRole(f.role, &role)) {
    return Fail(InvalidArgument("--role: expected worker, user or reader, got '" +
                                f.role.substr(0, 40) + "'"));
  }
  int out_fd = -1;
  if (!f.out.empty()) {
    // Created before the token exists, so that a bad path adds no line to the tokens file.
    out_fd = open(f.out.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (out_fd < 0) {
      return Fail(IoError("--out " + f.out + ": cannot create (" + std::strerror(errno) +
                          "); it must not exist yet"));
    }
  }
  auto token = CreateToken(f.tokens, role, f.name.empty() ? f.role : f.name);
  if (!token.ok()) {
    if (out_fd >= 0) {
      close(out_fd);
      unlink(f.out.c_str());
    }
    return Fail(token.status());
  }
  if (out_fd >= 0) {
    const std::string line = *token + "\n";
    const bool ok = write(out_fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
    close(out_fd);
    if (!ok) return Fail(IoError("--out " + f.out + ": cannot write"));
    std::cerr << "a " << f.role << " token was written to " << f.out
              << " (mode 600) and its hash added to " << f.tokens << "\n";
  } else {
    std::cout << *token << "\n";
    std::cerr << "a " << f.role << " token: its hash was added to " << f.tokens
              << "; the token is shown once, above: keep it in a file only you can read\n";
  }
  return 0;
}

int RunCerts(const AuthFlags& f) {
  Status s = MakeCertificates(f.certs_out, f.hosts, f.days);
  if (!s.ok()) return Fail(s);
  const std::string d = f.certs_out;
  std::cerr << "certificates written to " << d << ":\n"
            << "  coordinator: --tls-cert " << d << "/server.crt --tls-key " << d
            << "/server.key   (mutual TLS: --tls-client-ca " << d << "/ca.crt)\n"
            << "  clients:     --tls-ca " << d << "/ca.crt   (mutual TLS: --tls-cert " << d
            << "/client.crt --tls-key " << d << "/client.key)\n"
            << "  keep " << d << "/ca.key safe, or delete it: it signs certificates\n";
  return 0;
}

}  // namespace

std::function<int()> AddAuthCommands(CLI::App* app) {
  auto f = std::make_shared<AuthFlags>();
  CLI::App* token = app->add_subcommand("token", "bearer tokens for a coordinator's clients");
  CLI::App* create =
      token->add_subcommand("create", "make a token and add its hash to a tokens file");
  token->require_subcommand(1);
  create->add_option("--role", f->role, "worker, user or reader")->required();
  create->add_option("--tokens", f->tokens, "tokens file (the coordinator's --auth-tokens)")
      ->required();
  create->add_option("--name", f->name, "a name for logs (default: the role)");
  create->add_option("--out", f->out, "write the token to this new file (mode 600), not stdout");

  CLI::App* certs = app->add_subcommand(
      "certs", "make a CA and the coordinator's and a client's TLS certificates (openssl)");
  certs->add_option("--out", f->certs_out, "folder to write them to")->required();
  certs->add_option("--host", f->hosts, "a name or address workers use to reach the coordinator")
      ->required();
  certs->add_option("--days", f->days, "validity in days")->check(CLI::Range(1, 3650));

  return [=]() -> int {
    if (*create) return RunTokenCreate(*f);
    if (*certs) return RunCerts(*f);
    return -1;
  };
}

}  // namespace hpsweep
