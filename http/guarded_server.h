// GuardedServer and GuardedSslServer: cpp-httplib's Server and SSLServer (0.11) with the limits
// on connections that a server facing hostile clients needs and httplib lacks. httplib gives
// each connection a thread of a fixed pool for as long as the client keeps sending, with a
// timeout per read only: a client that sends a byte every few seconds holds its thread for
// hours, and a hundred such (slowloris) starve everyone else. Here:
//   - a ConnectionGuard admits each connection, counting those open in all and from each peer
//     address; a connection beyond a cap takes the place of the oldest one that is idle or still
//     sending its request (a slow or forgotten client: it is shut down), and is itself closed at
//     once, after a 503 on plaintext, when every one is busy answering;
//   - a request's line, headers and body must all arrive within request_seconds of its first
//     byte, and a TLS handshake within request_seconds of the accept, however the bytes trickle;
//     a connection waits idle_seconds for its next request;
//   - every admitted connection has a thread of its own (ConnectionThreads, up to the cap plus a
//     few spares that admit or refuse the next ones), so no connection waits for another to end.
// They replace httplib's loop over a connection's requests (its private, virtual
// process_and_close_socket) with their own around httplib's parser and router
// (Server::process_request), over their own Stream on a non-blocking socket (and OpenSSL's SSL
// for TLS, made from SSLServer's context as httplib makes its own).
//
// Thread-safety: a ConnectionGuard's calls are safe from any thread. The servers are httplib's:
// configured, then listened on from one thread; stop() from another, then the guard's CloseAll
// to end the open connections at once (else each ends by its own deadline). SIGPIPE must be
// ignored (OpenSSL writes to the socket with write()). Ownership: a server borrows its
// ConnectionGuard, which must outlive it.
#ifndef HPSWEEP_HTTP_GUARDED_SERVER_H_
#define HPSWEEP_HTTP_GUARDED_SERVER_H_

#include <httplib.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/status.h"

namespace hpsweep {

struct ConnectionLimits {
  int max_connections = 0;     // open at once, in all
  int max_per_peer = 0;        // open at once from one peer address
  double request_seconds = 0;  // a request's line, headers and body (and a TLS handshake)
  double idle_seconds = 0;     // the wait for a request's first byte
  int spare_threads = 0;       // threads beyond max_connections, to admit or refuse the next
  int listen_backlog = 0;      // connections the kernel holds until accepted (httplib's: 5)
};

// The connections a server has open, and its caps (above).
class ConnectionGuard {
 public:
  explicit ConnectionGuard(const ConnectionLimits& limits) : limits_(limits) {}
  ConnectionGuard(const ConnectionGuard&) = delete;
  ConnectionGuard& operator=(const ConnectionGuard&) = delete;

  const ConnectionLimits& limits() const { return limits_; }

  // Admits the connection `sock` from `peer` (an address), giving its id; at a cap, shuts down
  // the oldest waiting connection (of this peer, at the per-peer cap) to make room.
  // Unavailable (why, for the client) when there is none to shut down, or after CloseAll.
  StatusOr<uint64_t> Admit(int sock, const std::string& peer);
  // The connection is answering a request (not to be shut down for room), or waiting again.
  void Serving(uint64_t id);
  void Waiting(uint64_t id);
  // Forgets the connection; called before its socket is closed, so that Admit never shuts down
  // a socket number that was reused.
  void Release(uint64_t id);
  // Shuts every connection down (their threads see the end at once) and admits no more.
  void CloseAll();

 private:
  using SteadyClock = std::chrono::steady_clock;
  struct Conn {
    int sock = -1;
    std::string peer;
    bool serving = false, evicted = false;
    SteadyClock::time_point since;  // of the phase (waiting or serving)
  };
  // Shuts down the oldest waiting connection (of *peer, or of any when null): false if none.
  bool EvictOldest(const std::string* peer);
  // Marks the connection's phase (Serving, Waiting) and when it began.
  void SetServing(uint64_t id, bool serving);

  const ConnectionLimits limits_;
  std::mutex mu_;
  std::map<uint64_t, Conn> conns_;
  std::map<std::string, int> per_peer_;  // counts of those not shut down
  int live_ = 0;                         // connections not shut down
  uint64_t next_id_ = 1;
  bool closing_ = false;
};

// A httplib TaskQueue that runs each job on an idle thread, or on a new one while there are
// fewer than max_threads (then the job waits for one). Threads stay until shutdown.
class ConnectionThreads : public httplib::TaskQueue {
 public:
  explicit ConnectionThreads(size_t max_threads) : max_threads_(max_threads) {}
  ~ConnectionThreads() override { shutdown(); }

  void enqueue(std::function<void()> fn) override;
  void shutdown() override;  // runs the jobs queued, then joins every thread

 private:
  void Loop();

  const size_t max_threads_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  std::vector<std::thread> threads_;
  size_t idle_ = 0;
  bool shutdown_ = false;
};

class GuardedServer : public httplib::Server {
 public:
  explicit GuardedServer(ConnectionGuard* guard);
  // After bind_to_port: the guard's listen_backlog instead of httplib's 5, so that a burst of
  // connections waits in the kernel rather than being dropped (and retried a second later).
  void WidenBacklog();

 private:
  bool process_and_close_socket(socket_t sock) override;
  ConnectionGuard* guard_;
};

class GuardedSslServer : public httplib::SSLServer {
 public:
  // As SSLServer's: the certificate and key files, and a client CA file (nullptr: none).
  GuardedSslServer(ConnectionGuard* guard, const char* cert_path, const char* key_path,
                   const char* client_ca_path);
  void WidenBacklog();  // as GuardedServer's

 private:
  bool process_and_close_socket(socket_t sock) override;
  ConnectionGuard* guard_;
};

}  // namespace hpsweep

#endif  // HPSWEEP_HTTP_GUARDED_SERVER_H_
