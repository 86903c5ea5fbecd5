#include "auth/certs.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "base/file_io.h"

extern char** environ;

namespace hpsweep {
namespace {

bool IsIp(const std::string& host) {
  unsigned char buf[16];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

bool ValidHost(const std::string& host) {
  if (host.empty() || host.size() > 253) return false;
  if (IsIp(host)) return true;
  for (char c : host) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '.' || c == '*';
    if (!ok) return false;
  }
  return host.front() != '-' && host.front() != '.';
}

// Runs openssl with args; on failure the error carries what openssl printed (its last lines).
Status Openssl(const std::vector<std::string>& args, const std::string& dir) {
  const std::string log_path = dir + "/.openssl.log";
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0600);
  std::vector<char*> argv;
  std::string exe = "openssl";
  argv.push_back(exe.data());
  std::vector<std::string> copy = args;
  for (std::string& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid;
  const int rc = posix_spawnp(&pid, "openssl", &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    return FailedPrecondition(std::string("cannot run openssl (") + std::strerror(rc) +
                              "); install it: apt-get install openssl (scripts/bootstrap.sh does)");
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  std::ifstream log(log_path);
  std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  unlink(log_path.c_str());
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return Status::Ok();
  if (text.size() > 2000) text = text.substr(text.size() - 2000);
  return Internal("openssl " + args[0] + " failed: " + text);
}

Status WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  out.close();
  if (!out) return IoError(path + ": cannot write");
  return Status::Ok();
}

// A key and a certificate signed by the CA in dir, with the extensions given.
Status Issue(const std::string& dir, const std::string& name, const std::string& cn,
             const std::string& extensions, int days) {
  const std::string key = dir + "/" + name + ".key", csr = dir + "/" + name + ".csr",
                    crt = dir + "/" + name + ".crt", ext = dir + "/" + name + ".ext";
  HPSWEEP_RETURN_IF_ERROR(
      Openssl({"req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
               "-keyout", key, "-out", csr, "-subj", "/CN=" + cn},
              dir));
  chmod(key.c_str(), 0600);
  HPSWEEP_RETURN_IF_ERROR(WriteFile(ext, extensions));
  Status st = Openssl(
      {"x509", "-req", "-in", csr, "-CA", dir + "/ca.crt", "-CAkey", dir + "/ca.key",
       "-CAcreateserial", "-out", crt, "-days", std::to_string(days), "-sha256", "-extfile", ext},
      dir);
  unlink(csr.c_str());
  unlink(ext.c_str());
  return st;
}

}  // namespace

Status MakeCertificates(const std::string& out_dir, const std::vector<std::string>& hosts,
                        int days) {
  if (hosts.empty()) return InvalidArgument("--host: name at least one host the workers use");
  if (days < 1 || days > 3650) return InvalidArgument("--days: expected 1 to 3650");
  std::vector<std::string> names = hosts;
  names.push_back("localhost");
  names.push_back("127.0.0.1");
  std::string san;
  std::vector<std::string> seen;
  for (const std::string& h : names) {
    if (!ValidHost(h)) {
      return InvalidArgument("--host '" + h.substr(0, 80) + "': not a host name or an IP address");
    }
    bool dup = false;
    for (const std::string& s : seen) dup |= (s == h);
    if (dup) continue;
    seen.push_back(h);
    san += (san.empty() ? "" : ",") + std::string(IsIp(h) ? "IP:" : "DNS:") + h;
  }
  // The folder will hold the CA's key, and openssl writes its files by name: whoever else may
  // write to it could plant a link where a key is about to be written.
  HPSWEEP_RETURN_IF_ERROR(EnsurePrivateFolder(out_dir, "--out"));
  for (const char* f :
       {"ca.crt", "ca.key", "server.crt", "server.key", "client.crt", "client.key"}) {
    const std::string path = out_dir + "/" + f;
    struct stat st;
    if (lstat(path.c_str(), &st) == 0) {  // (a link counts, even one pointing nowhere)
      return FailedPrecondition(path +
                                " exists; certs never overwrites: pick another --out or remove "
                                "the old files");
    }
  }
  HPSWEEP_RETURN_IF_ERROR(Openssl({"req",
                                   "-x509",
                                   "-newkey",
                                   "ec",
                                   "-pkeyopt",
                                   "ec_paramgen_curve:prime256v1",
                                   "-nodes",
                                   "-keyout",
                                   out_dir + "/ca.key",
                                   "-out",
                                   out_dir + "/ca.crt",
                                   "-days",
                                   std::to_string(days),
                                   "-sha256",
                                   "-subj",
                                   "/CN=hpsweep CA",
                                   "-addext",
                                   "basicConstraints=critical,CA:TRUE",
                                   "-addext",
                                   "keyUsage=critical,keyCertSign,cRLSign"},
                                  out_dir));
  chmod((out_dir + "/ca.key").c_str(), 0600);
  HPSWEEP_RETURN_IF_ERROR(Issue(out_dir, "server", hosts[0],
                                "basicConstraints=CA:FALSE\n"
                                "keyUsage=critical,digitalSignature,keyEncipherment\n"
                                "extendedKeyUsage=serverAuth\n"
                                "subjectAltName=" +
                                    san + "\n",
                                days));
  HPSWEEP_RETURN_IF_ERROR(Issue(out_dir, "client", "hpsweep client",
                                "basicConstraints=CA:FALSE\n"
                                "keyUsage=critical,digitalSignature,keyEncipherment\n"
                                "extendedKeyUsage=clientAuth\n",
                                days));
  unlink((out_dir + "/ca.srl").c_str());
  return Status::Ok();
}

}  // namespace hpsweep
