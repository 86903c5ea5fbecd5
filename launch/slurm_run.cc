#include "launch/slurm_run.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "auth/certs.h"
#include "auth/tokens.h"

namespace hpsweep {

Status ParseAdvertise(const std::string& advertise, std::string* host, int* port) {
  if (advertise.empty()) {
    char name[256] = {};
    if (gethostname(name, sizeof(name) - 1) != 0 || name[0] == '\0') {
      return FailedPrecondition("cannot learn this host's name: pass --advertise HOST");
    }
    *host = name;
    return Status::Ok();
  }
  if (advertise.size() > 255) return InvalidArgument("--advertise: longer than 255 bytes");
  // "host:port", "[v6]:port", "host", "[v6]"; a bare IPv6 address has more than one colon.
  const size_t colon = advertise.rfind(':');
  const bool bracketed = advertise.front() == '[';
  const bool has_port =
      colon != std::string::npos &&
      (bracketed ? colon > 0 && advertise[colon - 1] == ']' : advertise.find(':') == colon);
  std::string h = has_port ? advertise.substr(0, colon) : advertise;
  if (has_port) {
    const std::string p = advertise.substr(colon + 1);
    if (p.empty() || p.size() > 5 || p.find_first_not_of("0123456789") != std::string::npos ||
        std::stoi(p) < 1 || std::stoi(p) > 65535) {
      return InvalidArgument("--advertise '" + advertise + "': expected a port 1 to 65535");
    }
    *port = std::stoi(p);
  }
  if (h.size() > 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  if (h.empty()) return InvalidArgument("--advertise '" + advertise + "': no host");
  *host = h;
  return Status::Ok();
}

StatusOr<SlurmRunFiles> PrepareSlurmRunFolder(const std::string& dir, const std::string& host) {
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return IoError(dir + ": cannot create: " + std::strerror(errno));
  }
  struct stat st;
  if (lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid()) {
    return FailedPrecondition(dir +
                              ": not a folder of this user (a link, a file, or another "
                              "user's): remove it or pass another --db");
  }
  if (chmod(dir.c_str(), 0700) != 0) return IoError(dir + ": chmod 0700 failed");
  for (const char* f :
       {"tls/ca.crt", "tls/ca.key", "tls/ca.srl", "tls/server.crt", "tls/server.key",
        "tls/client.crt", "tls/client.key", "tokens", "worker.token"}) {
    unlink((dir + "/" + f).c_str());
  }
  HPSWEEP_RETURN_IF_ERROR(MakeCertificates(dir + "/tls", {host}));
  unlink((dir + "/tls/ca.key").c_str());
  auto token = CreateToken(dir + "/tokens", Role::kWorker, "slurm-workers");
  if (!token.ok()) return token.status();
  const std::string token_file = dir + "/worker.token";
  const int fd = open(token_file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return IoError(token_file + ": cannot create: " + std::strerror(errno));
  const std::string line = *token + "\n";
  const bool written = write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  if (close(fd) != 0 || !written) return IoError(token_file + ": write failed");
  SlurmRunFiles files;
  files.server.tls_cert = dir + "/tls/server.crt";
  files.server.tls_key = dir + "/tls/server.key";
  files.server.auth_tokens = dir + "/tokens";
  files.workers.tls_ca = dir + "/tls/ca.crt";
  files.workers.token_file = token_file;
  return files;
}

}  // namespace hpsweep
