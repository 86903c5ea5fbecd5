// The connection caps (coordinator/connection_cap.h): the process's accept4 and the one Cap it
// consults.
#include "coordinator/connection_cap.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/mutex.h"

namespace hpsweep {
namespace {

// libc's accept4, which this file's replaces: the system call itself.
int KernelAccept4(int fd, sockaddr* addr, socklen_t* len, int flags) {
  return static_cast<int>(syscall(SYS_accept4, fd, addr, len, flags));
}

// The peer's address as bytes (an IPv4-mapped IPv6 address as its IPv4 one); "" for a socket
// that is neither IPv4 nor IPv6.
std::string AddressKey(const sockaddr_storage& peer) {
  if (peer.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&peer);
    return std::string(reinterpret_cast<const char*>(&in->sin_addr), 4);
  }
  if (peer.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&peer);
    const char* bytes = reinterpret_cast<const char*>(&in6->sin6_addr);
    if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) return std::string(bytes + 12, 4);
    return std::string(bytes, 16);
  }
  return "";
}

std::string AddressText(const std::string& key) {
  char text[INET6_ADDRSTRLEN] = "";
  if (key.size() == 4) return inet_ntop(AF_INET, key.data(), text, sizeof(text)) ? text : "?";
  if (key.size() == 16) return inet_ntop(AF_INET6, key.data(), text, sizeof(text)) ? text : "?";
  return "a local socket";
}

// Errors of accept4 that say the process or the kernel is short of something for now. gRPC 1.51
// stops accepting for good on them; it is told EAGAIN instead (EINVAL, EBADF and the like still
// reach it: they are how its listeners end at shutdown).
bool Transient(int error) {
  return error == EMFILE || error == ENFILE || error == ENOBUFS || error == ENOMEM;
}

// The listening TCP sockets of this process bound to `port`.
std::vector<int> ListeningSocketsOn(int port) {
  std::vector<int> out;
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return out;
  while (const dirent* e = readdir(dir)) {
    char* end = nullptr;
    const long fd = std::strtol(e->d_name, &end, 10);
    if (end == e->d_name || *end != '\0' || fd == dirfd(dir)) continue;
    int listening = 0;
    socklen_t n = sizeof(listening);
    sockaddr_storage local{};
    socklen_t local_len = sizeof(local);
    if (getsockopt(static_cast<int>(fd), SOL_SOCKET, SO_ACCEPTCONN, &listening, &n) != 0 ||
        !listening ||
        getsockname(static_cast<int>(fd), reinterpret_cast<sockaddr*>(&local), &local_len) != 0) {
      continue;
    }
    int bound = -1;
    if (local.ss_family == AF_INET) bound = ntohs(reinterpret_cast<sockaddr_in*>(&local)->sin_port);
    if (local.ss_family == AF_INET6) {
      bound = ntohs(reinterpret_cast<sockaddr_in6*>(&local)->sin6_port);
    }
    if (bound == port) out.push_back(static_cast<int>(fd));
  }
  closedir(dir);
  return out;
}

// The process's caps and the connections it handed out.
class Cap {
 public:
  // Never destroyed: gRPC's threads may still accept while the process exits.
  static Cap* Get() {
    static Cap* cap = new Cap;
    return cap;
  }

  // accept4(2), with the caps on the listeners registered here.
  int Accept(int listener, sockaddr* addr, socklen_t* len, int flags);

  void Add(const std::vector<int>& listeners, int port, const ConnectionCaps& caps) {
    MutexLock lock(&mu_);
    for (int fd : listeners) listeners_[fd] = port;
    caps_ = caps;
    if (spare_ < 0) spare_ = open("/dev/null", O_RDONLY | O_CLOEXEC);
  }

  void Remove(int port) {
    MutexLock lock(&mu_);
    for (auto it = listeners_.begin(); it != listeners_.end();) {
      it = it->second == port ? listeners_.erase(it) : std::next(it);
    }
  }

 private:
  enum class Refusal { kNone, kDescriptors, kAddress, kExhausted };
  // A connection handed to gRPC, known by its socket's identity: the descriptor may have been
  // closed and reused since.
  struct Held {
    std::string address;
    dev_t dev;
    ino_t inode;
  };

  Cap() = default;

  // Why the connection just accepted as `fd` from `address` is refused (kNone: it is not).
  Refusal Check(int fd, const std::string& address) REQUIRES(mu_);
  // At a Transient error: lets the spare descriptor go, accepts one pending connection and closes
  // it, takes the spare back. False if no connection was taken off the queue.
  bool ShedOne(int listener, int error) REQUIRES(mu_);
  void Hold(int fd, const std::string& address) REQUIRES(mu_);
  void Forget(int fd) REQUIRES(mu_);
  // Forgets the connections from `address` whose sockets have closed since.
  void Prune(const std::string& address) REQUIRES(mu_);
  void NoteRefusal(Refusal why, const std::string& address, int fd, int error) REQUIRES(mu_);

  Mutex mu_;
  ConnectionCaps caps_ GUARDED_BY(mu_);
  std::map<int, int> listeners_ GUARDED_BY(mu_);        // listening descriptor -> its port
  int spare_ GUARDED_BY(mu_) = -1;                      // /dev/null, let go at EMFILE
  std::unordered_map<int, Held> held_ GUARDED_BY(mu_);  // by descriptor
  std::map<std::string, std::set<int>> by_address_ GUARDED_BY(mu_);  // descriptors in held_
  long long refused_ GUARDED_BY(mu_) = 0;                            // since start
  // When a refusal of each kind was last logged.
  std::map<Refusal, std::chrono::steady_clock::time_point> last_log_ GUARDED_BY(mu_);
};

int Cap::Accept(int listener, sockaddr* addr, socklen_t* len, int flags) {
  MutexLock lock(&mu_);
  if (listeners_.count(listener) == 0) {
    lock.Unlock();
    return KernelAccept4(listener, addr, len, flags);
  }
  // Refused connections are taken off the queue too, at most this many a call.
  constexpr int kMaxRefusedPerCall = 1024;
  for (int refused = 0; refused < kMaxRefusedPerCall; ++refused) {
    sockaddr_storage peer{};
    socklen_t peer_len = sizeof(peer);
    const int fd = KernelAccept4(listener, reinterpret_cast<sockaddr*>(&peer), &peer_len, flags);
    if (fd < 0) {
      if (!Transient(errno)) return -1;  // EAGAIN, EINTR... as they are
      if (!ShedOne(listener, errno)) break;
      continue;
    }
    Forget(fd);  // the number was free: whatever held it before has closed
    const std::string address = AddressKey(peer);
    const Refusal why = Check(fd, address);
    if (why == Refusal::kNone) {
      Hold(fd, address);
      if (addr != nullptr && len != nullptr) {
        std::memcpy(addr, &peer, std::min(*len, peer_len));
        *len = peer_len;
      }
      return fd;
    }
    close(fd);
    NoteRefusal(why, address, fd, 0);
  }
  errno = EAGAIN;  // gRPC waits for the next connection
  return -1;
}

Cap::Refusal Cap::Check(int fd, const std::string& address) {
  if (fd >= caps_.max_descriptor) return Refusal::kDescriptors;
  if (caps_.per_address <= 0 || address.empty()) return Refusal::kNone;
  auto it = by_address_.find(address);
  if (it == by_address_.end() || it->second.size() < static_cast<size_t>(caps_.per_address)) {
    return Refusal::kNone;
  }
  Prune(address);
  it = by_address_.find(address);
  if (it == by_address_.end() || it->second.size() < static_cast<size_t>(caps_.per_address)) {
    return Refusal::kNone;
  }
  return Refusal::kAddress;
}

bool Cap::ShedOne(int listener, int error) {
  if (spare_ >= 0) close(spare_);
  sockaddr_storage peer{};
  socklen_t peer_len = sizeof(peer);
  const int fd =
      KernelAccept4(listener, reinterpret_cast<sockaddr*>(&peer), &peer_len, SOCK_CLOEXEC);
  if (fd >= 0) close(fd);
  spare_ = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  NoteRefusal(Refusal::kExhausted, AddressKey(peer), fd, error);
  return true;
}

void Cap::Hold(int fd, const std::string& address) {
  struct stat st;
  if (address.empty() || fstat(fd, &st) != 0) return;
  held_[fd] = Held{address, st.st_dev, st.st_ino};
  by_address_[address].insert(fd);
}

void Cap::Forget(int fd) {
  auto it = held_.find(fd);
  if (it == held_.end()) return;
  auto of = by_address_.find(it->second.address);
  if (of != by_address_.end()) {
    of->second.erase(fd);
    if (of->second.empty()) by_address_.erase(of);
  }
  held_.erase(it);
}

void Cap::Prune(const std::string& address) {
  auto of = by_address_.find(address);
  if (of == by_address_.end()) return;
  const std::set<int> fds = of->second;
  for (int fd : fds) {
    const Held& h = held_.at(fd);
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_dev != h.dev || st.st_ino != h.inode) Forget(fd);
  }
}

void Cap::NoteRefusal(Refusal why, const std::string& address, int fd, int error) {
  ++refused_;
  const auto now = std::chrono::steady_clock::now();
  auto last = last_log_.find(why);
  if (last != last_log_.end() && now - last->second < std::chrono::seconds(10)) return;
  last_log_[why] = now;
  char reason[256];
  if (why == Refusal::kDescriptors) {
    std::snprintf(reason, sizeof(reason),
                  "it got descriptor %d, and connections may have only those below %d (the rest "
                  "of the open-files limit is kept for the database, checkpoints and logs)",
                  fd, caps_.max_descriptor);
  } else if (why == Refusal::kAddress) {
    std::snprintf(reason, sizeof(reason),
                  "that address holds %d connections already, the most one address may",
                  caps_.per_address);
  } else {
    std::snprintf(reason, sizeof(reason), "the process is out of descriptors (accept4: %s)",
                  std::strerror(error));
  }
  std::fprintf(stderr,
               "hpsweep: connection cap hit: refused a connection from %s: %s; %lld refused "
               "since start (a line like this one at most each 10 s); new connections are "
               "accepted again as others close\n",
               AddressText(address).c_str(), reason, refused_);
}

// Whether calls to accept4 from the shared libraries (gRPC's) reach this file's definition.
bool AcceptReachesCap() {
  return dlsym(RTLD_DEFAULT, "accept4") == reinterpret_cast<void*>(&::accept4);
}

}  // namespace

ConnectionCaps ConnectionCapsFor(rlim_t open_files_limit) {
  const rlim_t limit = std::min<rlim_t>(open_files_limit, INT_MAX);
  const rlim_t kept = std::max<rlim_t>(64, limit / 4);
  ConnectionCaps caps;
  caps.max_descriptor = static_cast<int>(limit > kept + 16 ? limit - kept : 16);
  caps.per_address = std::max(1, caps.max_descriptor / 2);
  return caps;
}

Status CapConnectionsOn(int port, const ConnectionCaps& caps) {
  if (!AcceptReachesCap()) {
    return FailedPrecondition(
        "connections are not capped: accept4 calls do not reach the cap (a binary linked without "
        "exporting accept4, coordinator/CMakeLists.txt)");
  }
  const std::vector<int> listeners = ListeningSocketsOn(port);
  if (listeners.empty()) {
    return NotFound("connections are not capped: no listening socket on port " +
                    std::to_string(port));
  }
  Cap::Get()->Add(listeners, port, caps);
  return Status::Ok();
}

void UncapConnectionsOn(int port) { Cap::Get()->Remove(port); }

// Every connection holds a descriptor; at the soft limit gRPC 1.51's accept loop stops for good
// (accept4: Too many open files). The soft limit goes up to the hard one, which this process may
// do unprivileged; said once on stderr.
void RaiseOpenFilesLimit() {
  struct rlimit lim;
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur >= lim.rlim_max) return;
  const rlim_t was = lim.rlim_cur;
  lim.rlim_cur = lim.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &lim) == 0) {
    std::fprintf(stderr, "hpsweep: open-files limit raised from %llu to %llu\n",
                 static_cast<unsigned long long>(was),
                 static_cast<unsigned long long>(lim.rlim_cur));
  }
}

// Caps the server's connections below the open-files limit; says so on stderr only if it
// cannot.
void CapConnectionsBelowLimit(int port) {
  struct rlimit lim;
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return;
  const Status capped = CapConnectionsOn(port, ConnectionCapsFor(lim.rlim_cur));
  if (!capped.ok()) std::fprintf(stderr, "hpsweep: %s\n", capped.message().c_str());
}

}  // namespace hpsweep

// The process's accept4 (declared in <sys/socket.h>), in place of libc's: see the header.
extern "C" int accept4(int fd, struct sockaddr* addr, socklen_t* len, int flags) {
  return hpsweep::Cap::Get()->Accept(fd, addr, len, flags);
}
