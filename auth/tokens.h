// Bearer tokens with roles, for a coordinator that is reachable from a network.
//
// A tokens file names every token the coordinator accepts, one a line, by its SHA-256 only: the
// file holds no secret, and a stolen copy lets no one in.
//
//   # role   name        sha256 of the token (lowercase hex)
//   worker   slurm-run   3f9a0c...
//   user     alice       8c1d27...
//
// Roles (what each may call; auth/credentials.h has the table per RPC):
//   reader  status, leaderboard, export, watch, saved models
//   user    everything a reader may, plus submit and cancel
//   worker  register, lease, report, complete, fail, fetch the data set
//
// A token is "hps_" followed by 64 hex digits: 256 random bits from the kernel's CSPRNG. Clients
// read theirs from a file or the HPSWEEP_TOKEN environment variable, never from a command line,
// and no message of this module ever contains a token.
//
// Thread-safety: a TokenStore is immutable once built; Authenticate may be called from any thread.
#ifndef HPSWEEP_AUTH_TOKENS_H_
#define HPSWEEP_AUTH_TOKENS_H_

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"

namespace hpsweep {

enum class Role { kReader, kUser, kWorker };
const char* RoleName(Role role);  // "reader", "user", "worker"
bool ParseRole(const std::string& name, Role* out);

// Limits on what is read: a tokens file, a token presented by a client, a token's name.
constexpr size_t kMaxTokensFileBytes = 1 << 20;
constexpr size_t kMaxTokenBytes = 256;
constexpr size_t kMaxTokenNameBytes = 64;

struct TokenEntry {
  Role role = Role::kReader;
  std::string name;                   // [A-Za-z0-9._@-], for logs; never the token
  std::array<uint8_t, 32> hash = {};  // SHA-256 of the token
};

class TokenStore {
 public:
  // Parses a tokens file's text; errors name file:line and what is wrong. An empty store (no
  // lines) is refused: it would let no one in, which is never what was meant.
  static StatusOr<std::shared_ptr<const TokenStore>> Parse(const std::string& text,
                                                           const std::string& file_name);
  static StatusOr<std::shared_ptr<const TokenStore>> LoadFile(const std::string& path);

  // The entry whose hash is SHA-256(token), or nullptr. Every entry is compared, each in constant
  // time, so the time taken says nothing about which bytes matched.
  const TokenEntry* Authenticate(const std::string& token) const;
  size_t size() const { return entries_.size(); }

 private:
  std::vector<TokenEntry> entries_;
};

// A new random token ("hps_" + 64 hex digits).
StatusOr<std::string> NewToken();

// Makes a new token, appends its line to the tokens file at `path` (created with mode 0600 if
// missing; an existing file must parse), and returns the token. name: [A-Za-z0-9._@-]{1,64}.
StatusOr<std::string> CreateToken(const std::string& path, Role role, const std::string& name);

// The token a client presents: the first line of token_file when one is given, else the
// HPSWEEP_TOKEN environment variable, else "" (none). A token file readable by other users is
// refused, as ssh refuses such a key.
StatusOr<std::string> ReadClientToken(const std::string& token_file);

}  // namespace hpsweep

#endif  // HPSWEEP_AUTH_TOKENS_H_
