// GuardedServer, GuardedSslServer, ConnectionGuard and ConnectionThreads (http/guarded_server.h).
#include "http/guarded_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <limits>
#include <system_error>

namespace hpsweep {

namespace {

using SteadyClock = std::chrono::steady_clock;

SteadyClock::time_point After(double seconds) {
  return SteadyClock::now() + std::chrono::duration_cast<SteadyClock::duration>(
                                  std::chrono::duration<double>(std::max(0.0, seconds)));
}

// Waits until `sock` has one of `events` (or is closed or failed: the next call then says so),
// or `until` passes (false).
bool PollUntil(int sock, short events, SteadyClock::time_point until) {
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - SteadyClock::now() + std::chrono::microseconds(999));
    if (left.count() <= 0) return false;
    pollfd p{sock, events, 0};
    const int n = poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 1 << 30)));
    if (n > 0) return true;
    if (n < 0 && errno != EINTR) return false;
  }
}

// The numeric address and port of a socket's peer (or its own end).
void AddressOf(int sock, bool peer, std::string* ip, int* port) {
  sockaddr_storage a{};
  socklen_t len = sizeof(a);
  ip->clear();
  *port = 0;
  if ((peer ? getpeername(sock, reinterpret_cast<sockaddr*>(&a), &len)
            : getsockname(sock, reinterpret_cast<sockaddr*>(&a), &len)) != 0) {
    return;
  }
  char text[INET6_ADDRSTRLEN] = {};
  if (a.ss_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&a);
    inet_ntop(AF_INET, &v4->sin_addr, text, sizeof(text));
    *port = ntohs(v4->sin_port);
  } else if (a.ss_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&a);
    inet_ntop(AF_INET6, &v6->sin6_addr, text, sizeof(text));
    *port = ntohs(v6->sin6_port);
  }
  *ip = text;
}

// One connection's requests and answers, for httplib's parser: a non-blocking socket, with TLS
// when ssl is set. Reads stop at the request's deadline; a write waits for room at most the
// write timeout. The first write of an answer tells the guard the connection is serving.
class ConnectionStream : public httplib::Stream {
 public:
  ConnectionStream(int sock, SSL* ssl, ConnectionGuard* guard, uint64_t id, double write_seconds)
      : sock_(sock), ssl_(ssl), guard_(guard), id_(id), write_seconds_(write_seconds) {
    AddressOf(sock, true, &peer_ip_, &peer_port_);
    AddressOf(sock, false, &local_ip_, &local_port_);
  }

  // Waits until `until` for the next request's first byte: true when there is one (or the
  // connection ended: the read says so). Then its line, headers and body have request_seconds.
  bool WaitForRequest(SteadyClock::time_point until, double request_seconds) {
    if (serving_) guard_->Waiting(id_);
    serving_ = false;
    if (!Buffered() && !PollUntil(sock_, POLLIN, until)) return false;
    read_deadline_ = After(request_seconds);
    return true;
  }

  bool is_readable() const override {
    return Buffered() || PollUntil(sock_, POLLIN, read_deadline_);
  }
  // A read failed (the deadline passed, or the connection broke): nothing more is read from it.
  bool failed() const { return failed_; }

  bool is_writable() const override {
    if (!PollUntil(sock_, POLLOUT, After(write_seconds_))) return false;
    // Alive: a peer that closed reads as end of file (what is still to read is not consumed).
    char c;
    const ssize_t n = recv(sock_, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return n > 0 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR));
  }

  ssize_t read(char* ptr, size_t size) override {
    if (off_ == len_) {
      const ssize_t n = FillOrFail();
      if (n <= 0) return n;
      off_ = 0;
      len_ = static_cast<size_t>(n);
    }
    const size_t n = std::min(size, len_ - off_);
    memcpy(ptr, buf_ + off_, n);
    off_ += n;
    return static_cast<ssize_t>(n);
  }

  ssize_t write(const char* ptr, size_t size) override {
    if (!serving_) guard_->Serving(id_);
    serving_ = true;
    size = std::min<size_t>(size, std::numeric_limits<int>::max());
    for (;;) {
      short wait = POLLOUT;
      if (ssl_) {
        ERR_clear_error();
        const int n = SSL_write(ssl_, ptr, static_cast<int>(size));
        if (n > 0) return n;
        const int err = SSL_get_error(ssl_, n);
        if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) return -1;
        if (err == SSL_ERROR_WANT_READ) wait = POLLIN;
      } else {
        const ssize_t n = send(sock_, ptr, size, MSG_NOSIGNAL);
        if (n >= 0) return n;
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return -1;
      }
      if (!PollUntil(sock_, wait, After(write_seconds_))) return -1;
    }
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    ip = peer_ip_;
    port = peer_port_;
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    ip = local_ip_;
    port = local_port_;
  }
  socket_t socket() const override { return sock_; }

 private:
  bool Buffered() const { return off_ < len_ || (ssl_ && SSL_pending(ssl_) > 0); }

  // Reads what has come into buf_, waiting until the read deadline: > 0, 0 at the end, -1.
  ssize_t Fill() {
    for (;;) {
      short wait = POLLIN;
      if (ssl_) {
        ERR_clear_error();
        const int n = SSL_read(ssl_, buf_, sizeof(buf_));
        if (n > 0) return n;
        const int err = SSL_get_error(ssl_, n);
        if (err == SSL_ERROR_ZERO_RETURN) return 0;
        if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) return -1;
        if (err == SSL_ERROR_WANT_WRITE) wait = POLLOUT;
      } else {
        const ssize_t n = recv(sock_, buf_, sizeof(buf_), 0);
        if (n >= 0) return n;
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return -1;
      }
      if (!PollUntil(sock_, wait, read_deadline_)) return -1;
    }
  }

  // Fill, remembering a failure.
  ssize_t FillOrFail() {
    const ssize_t n = Fill();
    if (n < 0) failed_ = true;
    return n;
  }

  const int sock_;
  SSL* const ssl_;
  ConnectionGuard* const guard_;
  const uint64_t id_;
  const double write_seconds_;
  std::string peer_ip_, local_ip_;
  int peer_port_ = 0, local_port_ = 0;
  SteadyClock::time_point read_deadline_ = SteadyClock::now();
  bool serving_ = false, failed_ = false;
  char buf_[4096];
  size_t off_ = 0, len_ = 0;
};

// The TLS handshake on a non-blocking socket, finished by `until`: the SSL, or nullptr.
SSL* Handshake(SSL_CTX* ctx, int sock, SteadyClock::time_point until) {
  SSL* ssl = SSL_new(ctx);
  if (!ssl) return nullptr;
  if (SSL_set_fd(ssl, sock) == 1) {
    for (;;) {
      ERR_clear_error();
      const int r = SSL_accept(ssl);
      if (r == 1) return ssl;
      const int err = SSL_get_error(ssl, r);
      if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) break;
      if (!PollUntil(sock, err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, until)) break;
    }
  }
  SSL_free(ssl);
  return nullptr;
}

// What a server's loop needs of it (httplib's protected settings, and its parser and router).
struct ServeSettings {
  const std::atomic<socket_t>* listening;  // INVALID_SOCKET once stopped
  size_t max_requests;                     // per connection (httplib's keep-alive count)
  double write_seconds;
  SSL_CTX* ssl_ctx;  // nullptr: plaintext
  // httplib's Server::process_request, with the connection's SSL (or nullptr).
  std::function<bool(httplib::Stream&, bool close_connection, bool& connection_closed, SSL*)>
      process;
};

// Admits the connection `sock`, serves its requests and closes it, as httplib's
// process_and_close_socket does, within the guard's limits.
bool ServeConnection(ConnectionGuard* guard, const ServeSettings& s, int sock) {
  const ConnectionLimits& limits = guard->limits();
  std::string peer;
  int peer_port = 0;
  AddressOf(sock, true, &peer, &peer_port);
  const StatusOr<uint64_t> id = guard->Admit(sock, peer);
  if (!id.ok()) {
    if (!s.ssl_ctx) {  // a word for a plaintext client, if its buffer has room; no wait
      const std::string body = "{\"error\":\"" + id.status().message() + "\"}";
      const std::string answer =
          "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
          "Retry-After: 5\r\nConnection: close\r\nContent-Length: " +
          std::to_string(body.size()) + "\r\n\r\n" + body;
      (void)send(sock, answer.data(), answer.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    }
    shutdown(sock, SHUT_RDWR);
    close(sock);
    return false;
  }
  fcntl(sock, F_SETFL, fcntl(sock, F_GETFL, 0) | O_NONBLOCK);
  bool ok = false;
  SSL* ssl = s.ssl_ctx ? Handshake(s.ssl_ctx, sock, After(limits.request_seconds)) : nullptr;
  if (!s.ssl_ctx || ssl) {
    ConnectionStream stream(sock, ssl, guard, *id, s.write_seconds);
    for (size_t left = std::max<size_t>(1, s.max_requests); left > 0; --left) {
      if (*s.listening == INVALID_SOCKET ||
          !stream.WaitForRequest(After(limits.idle_seconds), limits.request_seconds)) {
        break;
      }
      bool closed = false;
      ok = s.process(stream, left == 1, closed, ssl);
      // (After a request cut off by its deadline httplib answers 400 and would read on.)
      if (!ok || closed || stream.failed()) break;
    }
  }
  if (ssl) {
    SSL_shutdown(ssl);  // close_notify if there is room; no wait for the peer's
    SSL_free(ssl);
  }
  guard->Release(*id);
  shutdown(sock, SHUT_RDWR);
  close(sock);
  return ok;
}

// A thread for every connection admitted, and spares to admit or refuse the next ones.
std::function<httplib::TaskQueue*()> ThreadsFor(const ConnectionLimits& l) {
  const size_t threads = static_cast<size_t>(std::max(1, l.max_connections + l.spare_threads));
  return [threads] { return new ConnectionThreads(threads); };
}

}  // namespace

// ---- ConnectionGuard -----------------------------------------------------------------------

StatusOr<uint64_t> ConnectionGuard::Admit(int sock, const std::string& peer) {
  std::lock_guard<std::mutex> l(mu_);
  if (closing_) return Unavailable("the server is stopping");
  const auto from_peer = per_peer_.find(peer);
  if (from_peer != per_peer_.end() && from_peer->second >= std::max(1, limits_.max_per_peer) &&
      !EvictOldest(&peer)) {
    return Unavailable("too many connections from " + peer + ": the limit per address is " +
                       std::to_string(limits_.max_per_peer) + ", all busy");
  }
  if (live_ >= std::max(1, limits_.max_connections) && !EvictOldest(nullptr)) {
    return Unavailable("too many connections: the limit is " +
                       std::to_string(limits_.max_connections) + ", all busy");
  }
  const uint64_t id = next_id_++;
  Conn& c = conns_[id];
  c.sock = sock;
  c.peer = peer;
  c.since = SteadyClock::now();
  ++per_peer_[peer];
  ++live_;
  return id;
}

bool ConnectionGuard::EvictOldest(const std::string* peer) {
  Conn* oldest = nullptr;
  for (auto& [id, c] : conns_) {
    if (c.serving || c.evicted || (peer && c.peer != *peer)) continue;
    if (!oldest || c.since < oldest->since) oldest = &c;
  }
  if (!oldest) return false;
  // Its thread, waiting on the socket, sees the end at once, and releases it.
  shutdown(oldest->sock, SHUT_RDWR);
  oldest->evicted = true;
  --live_;
  if (--per_peer_[oldest->peer] == 0) per_peer_.erase(oldest->peer);
  return true;
}

void ConnectionGuard::Serving(uint64_t id) { SetServing(id, true); }

void ConnectionGuard::Waiting(uint64_t id) { SetServing(id, false); }

void ConnectionGuard::SetServing(uint64_t id, bool serving) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = conns_.find(id);
  if (it == conns_.end()) return;
  it->second.serving = serving;
  it->second.since = SteadyClock::now();
}

void ConnectionGuard::Release(uint64_t id) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = conns_.find(id);
  if (it == conns_.end()) return;
  if (!it->second.evicted) {
    --live_;
    if (--per_peer_[it->second.peer] == 0) per_peer_.erase(it->second.peer);
  }
  conns_.erase(it);
}

void ConnectionGuard::CloseAll() {
  std::lock_guard<std::mutex> l(mu_);
  closing_ = true;
  for (auto& [id, c] : conns_) shutdown(c.sock, SHUT_RDWR);
}

// ---- ConnectionThreads ---------------------------------------------------------------------

void ConnectionThreads::enqueue(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> l(mu_);
    jobs_.push_back(std::move(fn));
    if (idle_ < jobs_.size() && threads_.size() < max_threads_) {
      try {
        threads_.emplace_back([this] { Loop(); });
      } catch (const std::system_error&) {
        // No thread to be had now: the job waits for one that finishes.
      }
    }
  }
  cv_.notify_one();
}

void ConnectionThreads::Loop() {
  std::unique_lock<std::mutex> l(mu_);
  for (;;) {
    ++idle_;
    cv_.wait(l, [this] { return shutdown_ || !jobs_.empty(); });
    --idle_;
    if (jobs_.empty()) return;  // shut down, nothing left
    std::function<void()> fn = std::move(jobs_.front());
    jobs_.pop_front();
    l.unlock();
    fn();
    l.lock();
  }
}

void ConnectionThreads::shutdown() {
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> l(mu_);
    shutdown_ = true;
    threads.swap(threads_);
  }
  cv_.notify_all();
  for (std::thread& t : threads) t.join();
}

// ---- the servers ---------------------------------------------------------------------------

GuardedServer::GuardedServer(ConnectionGuard* guard) : guard_(guard) {
  new_task_queue = ThreadsFor(guard->limits());
}

void GuardedServer::WidenBacklog() {
  if (svr_sock_ != INVALID_SOCKET) {
    ::listen(svr_sock_, std::max(1, guard_->limits().listen_backlog));
  }
}

bool GuardedServer::process_and_close_socket(socket_t sock) {
  ServeSettings s{&svr_sock_, keep_alive_max_count_,
                  static_cast<double>(write_timeout_sec_) + write_timeout_usec_ / 1e6, nullptr,
                  [this](httplib::Stream& strm, bool close, bool& closed, SSL*) {
                    return process_request(strm, close, closed, nullptr);
                  }};
  return ServeConnection(guard_, s, sock);
}

GuardedSslServer::GuardedSslServer(ConnectionGuard* guard, const char* cert_path,
                                   const char* key_path, const char* client_ca_path)
    : httplib::SSLServer(cert_path, key_path, client_ca_path), guard_(guard) {
  new_task_queue = ThreadsFor(guard->limits());
}

void GuardedSslServer::WidenBacklog() {
  if (svr_sock_ != INVALID_SOCKET) {
    ::listen(svr_sock_, std::max(1, guard_->limits().listen_backlog));
  }
}

bool GuardedSslServer::process_and_close_socket(socket_t sock) {
  ServeSettings s{&svr_sock_, keep_alive_max_count_,
                  static_cast<double>(write_timeout_sec_) + write_timeout_usec_ / 1e6,
                  ssl_context(), [this](httplib::Stream& strm, bool close, bool& closed, SSL* ssl) {
                    return process_request(strm, close, closed,
                                           [ssl](httplib::Request& req) { req.ssl = ssl; });
                  }};
  return ServeConnection(guard_, s, sock);
}

}  // namespace hpsweep
