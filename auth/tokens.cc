#include "auth/tokens.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "base/csprng.h"
#include "base/file_io.h"
#include "base/sha256.h"

namespace hpsweep {
namespace {

bool HexToBytes(const std::string& hex, std::array<uint8_t, 32>* out) {
  if (hex.size() != 64) return false;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  for (size_t i = 0; i < 32; ++i) {
    const int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    (*out)[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return true;
}

std::array<uint8_t, 32> HashOf(const std::string& token) {
  std::array<uint8_t, 32> h{};
  HexToBytes(Sha256Hex(token), &h);
  return h;
}

bool ValidName(const std::string& name) {
  if (name.empty() || name.size() > kMaxTokenNameBytes) return false;
  for (char c : name) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '@' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::string Trim(const std::string& s) {
  const char* ws = " \t\r\n";
  const size_t b = s.find_first_not_of(ws);
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(ws) - b + 1);
}


}  // namespace

const char* RoleName(Role role) {
  switch (role) {
    case Role::kReader: return "reader";
    case Role::kUser: return "user";
    case Role::kWorker: return "worker";
  }
  return "?";
}

bool ParseRole(const std::string& name, Role* out) {
  for (Role r : {Role::kReader, Role::kUser, Role::kWorker}) {
    if (name == RoleName(r)) {
      *out = r;
      return true;
    }
  }
  return false;
}

namespace {

// Every entry of a tokens file's text (none is fine here).
Status ParseEntries(const std::string& text, const std::string& file_name,
                    std::vector<TokenEntry>* entries) {
  if (text.size() > kMaxTokensFileBytes) {
    return InvalidArgument(file_name + ": tokens file is over the limit of " +
                           std::to_string(kMaxTokensFileBytes) + " bytes");
  }
  std::istringstream in(text);
  std::string line;
  int line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    const std::string where = file_name + ":" + std::to_string(line_no) + ": ";
    const std::string t = Trim(line.substr(0, line.find('#')));
    if (t.empty()) continue;
    std::istringstream fields(t);
    std::string role, name, hash, extra;
    fields >> role >> name >> hash;
    if (hash.empty() || (fields >> extra)) {
      return InvalidArgument(where + "expected 'ROLE NAME SHA256', three fields");
    }
    TokenEntry e;
    if (!ParseRole(role, &e.role)) {
      return InvalidArgument(where + "unknown role (expected reader, user or worker)");
    }
    if (!ValidName(name)) {
      return InvalidArgument(where + "a token name is 1 to 64 of A-Z a-z 0-9 . _ @ -");
    }
    if (!HexToBytes(hash, &e.hash)) {
      return InvalidArgument(where +
                             "the third field must be a SHA-256 in 64 lowercase hex digits "
                             "(the file holds hashes, never tokens)");
    }
    for (const TokenEntry& other : *entries) {
      if (other.hash == e.hash) return InvalidArgument(where + "the same token is listed twice");
    }
    e.name = name;
    entries->push_back(e);
  }
  return Status::Ok();
}

}  // namespace

StatusOr<std::shared_ptr<const TokenStore>> TokenStore::Parse(const std::string& text,
                                                              const std::string& file_name) {
  auto store = std::make_shared<TokenStore>();
  HPSWEEP_RETURN_IF_ERROR(ParseEntries(text, file_name, &store->entries_));
  if (store->entries_.empty()) {
    return InvalidArgument(file_name +
                           ": no tokens (add one with `hpsweep token create --role ROLE "
                           "--tokens " +
                           file_name + "`)");
  }
  return std::shared_ptr<const TokenStore>(std::move(store));
}

StatusOr<std::shared_ptr<const TokenStore>> TokenStore::LoadFile(const std::string& path) {
  auto text = ReadFileBounded(path, kMaxTokensFileBytes, "tokens file");
  if (!text.ok()) return text.status();
  return Parse(*text, path);
}

const TokenEntry* TokenStore::Authenticate(const std::string& token) const {
  if (token.empty() || token.size() > kMaxTokenBytes) return nullptr;
  const std::array<uint8_t, 32> h = HashOf(token);
  const TokenEntry* found = nullptr;
  for (const TokenEntry& e : entries_) {
    uint8_t diff = 0;
    for (size_t i = 0; i < h.size(); ++i) diff |= static_cast<uint8_t>(e.hash[i] ^ h[i]);
    // No early exit: every entry costs the same whether or not it matched.
    if (diff == 0) found = &e;
  }
  return found;
}

StatusOr<std::string> NewToken() {
  auto hex = RandomHex(32);  // 256 bits
  if (!hex.ok()) return hex.status();
  return "hps_" + *hex;
}

StatusOr<std::string> CreateToken(const std::string& path, Role role, const std::string& name) {
  if (!ValidName(name)) {
    return InvalidArgument("--name: a token name is 1 to 64 of A-Z a-z 0-9 . _ @ -, got '" +
                           name.substr(0, 80) + "'");
  }
  struct stat st;
  if (stat(path.c_str(), &st) == 0) {
    auto existing = ReadFileBounded(path, kMaxTokensFileBytes, "tokens file");
    if (!existing.ok()) return existing.status();
    // An existing file must be a tokens file (one with no token yet is fine: it is being
    // started). Checked before anything is appended, so a wrong path is never made worse.
    std::vector<TokenEntry> entries;
    HPSWEEP_RETURN_IF_ERROR(ParseEntries(*existing, path, &entries));
  }
  auto token = NewToken();
  if (!token.ok()) return token.status();
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return IoError(path + ": cannot write tokens file: " + std::strerror(errno));
  const std::string line =
      std::string(RoleName(role)) + " " + name + " " + Sha256Hex(*token) + "\n";
  const ssize_t n = write(fd, line.data(), line.size());
  const int write_errno = errno;
  if (close(fd) != 0 || n != static_cast<ssize_t>(line.size())) {
    return IoError(path + ": cannot write tokens file: " + std::strerror(write_errno));
  }
  return token;
}

StatusOr<std::string> ReadClientToken(const std::string& token_file) {
  std::string token;
  if (!token_file.empty()) {
    struct stat st;
    if (stat(token_file.c_str(), &st) == 0 && (st.st_mode & 077) != 0) {
      return InvalidArgument(token_file +
                             ": token file is readable or writable by other users; "
                             "chmod 600 it");
    }
    auto text = ReadFileBounded(token_file, 4096, "token file");
    if (!text.ok()) return text.status();
    token = Trim(text->substr(0, text->find('\n')));
    if (token.empty()) return InvalidArgument(token_file + ": token file is empty");
  } else if (const char* env = std::getenv("HPSWEEP_TOKEN")) {
    token = Trim(env);
  }
  if (token.size() > kMaxTokenBytes) {
    return InvalidArgument("the token is over the limit of " + std::to_string(kMaxTokenBytes) +
                           " bytes");
  }
  for (char c : token) {
    if (c < 0x21 || c > 0x7e) {
      return InvalidArgument("the token has a character that is not printable ASCII");
    }
  }
  return token;
}

}  // namespace hpsweep
