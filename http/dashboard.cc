// The dashboard (http/dashboard.h): Dashboard::Impl's setup, access and sessions, event streams
// and the hub thread that feeds them; routing is in dashboard_api.cc, the /api JSON (the read
// model's) in dashboard_json.cc.
#include "http/dashboard.h"

#include <arpa/inet.h>
#include <httplib.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <functional>
#include <limits>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>
#include <vector>

#include "base/csprng.h"
#include "base/sha256.h"
#include "coordinator/views.h"
#include "http/dashboard_impl.h"
#include "http/dashboard_json.h"

namespace hpsweep {

namespace {

using json = nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

constexpr char kCookieName[] = "hpsweep_session";
constexpr char kCsrfHeader[] = "X-Hpsweep-Csrf";
constexpr size_t kMaxQueuedEventBytes = 8u << 20;  // a stream this far behind is dropped
// A new stream is fed its sweep's trials while its queue holds less than this, so that changes
// still have room (kMaxQueuedEventBytes) behind them.
constexpr size_t kSnapshotQueueBytes = 2u << 20;
constexpr auto kPingInterval = std::chrono::seconds(5);
constexpr double kMinRoundSeconds = 0.25;
constexpr double kWorkersEverySeconds = 1;  // the workers' "last seen" and alive/gone age

// Access::owner for a token: its hash (which no one can turn back into the token).
std::string TokenOwner(const TokenEntry& e) {
  return "token " + std::string(reinterpret_cast<const char*>(e.hash.data()), e.hash.size());
}

// host and port of "host:port" or "[v6]:port".
bool SplitHostPort(const std::string& address, std::string* host, int* port) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  std::string h = address.substr(0, colon);
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  const std::string p = address.substr(colon + 1);
  if (p.empty() || p.size() > 5) return false;
  int v = 0;
  for (char c : p) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  if (v > 65535) return false;
  *host = h;
  *port = v;
  return true;
}

}  // namespace

std::string Dashboard::Impl::Dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

void Dashboard::Impl::SetJson(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(Dump(body), "application/json");
}

void Dashboard::Impl::SetError(httplib::Response& res, int status, const std::string& message) {
  SetJson(res, status, json{{"error", message}});
}

// The host of a Host header ("127.0.0.1:8080", "[::1]:8080", "localhost") is a loopback name.
bool Dashboard::Impl::IsLoopbackHost(const std::string& host_header) {
  if (host_header.empty() || host_header.size() > 255) return false;
  std::string h = host_header;
  if (h.front() == '[') {
    const size_t close = h.find(']');
    if (close == std::string::npos) return false;
    h = h.substr(0, close + 1) + ":1";
  } else if (h.find(':') == std::string::npos) {
    h += ":1";
  }
  return IsLoopbackAddress(h);
}

Status Dashboard::Impl::Start(const DashboardOptions& options) {
  options_ = options;
  std::string host;
  int port = 0;
  if (options.listen.rfind("unix:", 0) == 0 || !SplitHostPort(options.listen, &host, &port) ||
      host.empty()) {
    return InvalidArgument("--http '" + options.listen +
                           "': expected HOST:PORT, e.g. 127.0.0.1:8080 (port 0 picks one)");
  }
  Status sec = CheckListenSecurity(options.listen, options.security);
  if (!sec.ok()) return InvalidArgument("--http: " + sec.message());
  loopback_ = IsLoopbackAddress(options.listen);
  if (!options.security.auth_tokens.empty()) {
    auto store = TokenStore::LoadFile(options.security.auth_tokens);
    if (!store.ok()) return store.status();
    tokens_ = *store;
  }
  ConnectionLimits limits;
  limits.max_connections = std::max(1, options.max_connections);
  limits.max_per_peer = std::max(1, options.max_connections_per_peer);
  limits.request_seconds = kHttpRequestSeconds;
  limits.idle_seconds = kHttpIdleSeconds;
  limits.spare_threads = kSpareHttpThreads;
  limits.listen_backlog = kHttpListenBacklog;
  guard_ = std::make_unique<ConnectionGuard>(limits);
  tls_ = !options.security.tls_cert.empty();
  if (tls_) {
    const ServerSecurity& s = options.security;
    server_ = std::make_unique<GuardedSslServer>(
        guard_.get(), s.tls_cert.c_str(), s.tls_key.c_str(),
        s.tls_client_ca.empty() ? nullptr : s.tls_client_ca.c_str());
    if (!server_->is_valid()) {
      return InvalidArgument(
          "--http: cannot use the TLS certificate " + s.tls_cert + " and key " + s.tls_key +
          (s.tls_client_ca.empty() ? "" : " (client CA " + s.tls_client_ca + ")"));
    }
  } else {
    server_ = std::make_unique<GuardedServer>(guard_.get());
  }
  // A peer that goes away mid-write must not kill the coordinator (OpenSSL writes without
  // MSG_NOSIGNAL); gRPC already ignores SIGPIPE on its own sockets.
  signal(SIGPIPE, SIG_IGN);
  // (Reads and idle waits are the guard's: ConnectionLimits above.)
  server_->set_payload_max_length(kMaxHttpBodyBytes);
  server_->set_write_timeout(5, 0);
  server_->set_keep_alive_max_count(100);
  // Every route is decided here, by plain string comparisons: httplib's own routing uses
  // std::regex, whose recursion a long hostile path could take deep. Only POST /login, which
  // needs its body read, goes on to httplib's router (which then matches exactly "/login").
  server_->set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (req.method == "POST" && req.path == "/login")
      return httplib::Server::HandlerResponse::Unhandled;
    Route(req, res);
    return httplib::Server::HandlerResponse::Handled;
  });
  server_->Post("/login", [this](const httplib::Request& req, httplib::Response& res) {
    Headers(res);
    Login(req, res);
  });
  server_->set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (res.body.empty()) {
      res.set_content("{\"error\":\"HTTP " + std::to_string(res.status) + "\"}",
                      "application/json");
    }
  });
  server_->set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
        SetError(res, 500, "internal error");
      });
  // httplib's default sets SO_REUSEPORT, which lets the dashboard bind a port another process
  // already listens on (and share its connections). SO_REUSEADDR alone only allows rebinding
  // over connections in TIME_WAIT: a taken port then fails the bind, as it should.
  server_->set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, reinterpret_cast<void*>(&yes), sizeof(yes));
  });
  if (port == 0) {
    port_ = server_->bind_to_any_port(host);
  } else {
    port_ = server_->bind_to_port(host, port) ? port : -1;
  }
  if (port_ <= 0) {
    port_ = 0;
    return Unavailable("--http: cannot listen on " + options.listen +
                       " (address in use, or not an address of this machine?)");
  }
  if (tls_) {
    static_cast<GuardedSslServer*>(server_.get())->WidenBacklog();
  } else {
    static_cast<GuardedServer*>(server_.get())->WidenBacklog();
  }
  host_ = host;
  hub_ = std::thread([this] { HubLoop(); });
  listener_ = std::thread([this] { server_->listen_after_bind(); });
  return Status::Ok();
}

void Dashboard::Impl::Stop() {
  {
    std::lock_guard<std::mutex> l(hub_mu_);
    if (stopping_) return;
    stopping_ = true;
    for (auto& c : clients_) Close(c.get());
  }
  hub_cv_.notify_all();
  if (server_) server_->stop();
  if (guard_) guard_->CloseAll();  // idle and half-sent connections end now
  if (listener_.joinable()) listener_.join();
  if (hub_.joinable()) hub_.join();
}

std::string Dashboard::Impl::url() const {
  std::string h = host_.find(':') != std::string::npos ? "[" + host_ + "]" : host_;
  return std::string(tls_ ? "https" : "http") + "://" + h + ":" + std::to_string(port_) + "/";
}

// ---- access --------------------------------------------------------------------------------

Dashboard::Impl::Access Dashboard::Impl::Authorize(const httplib::Request& req) {
  Access a;
  if (!tokens_) {
    a.can_cancel = true;
    if (!loopback_) a.owner = "address " + req.remote_addr;
    return a;
  }
  Role role;
  const std::string auth = req.get_header_value("Authorization");
  if (!auth.empty()) {
    static const std::string kBearer = "Bearer ";
    if (auth.rfind(kBearer, 0) != 0 || auth.size() - kBearer.size() > kMaxTokenBytes) {
      a.status = 401;
      a.error = "the Authorization header must be `Bearer TOKEN`";
      return a;
    }
    const TokenEntry* e = tokens_->Authenticate(auth.substr(kBearer.size()));
    if (!e) {
      a.status = 401;
      a.error = "the token is not one this coordinator knows";
      return a;
    }
    role = e->role;
    a.owner = TokenOwner(*e);
  } else if (!SessionRole(req, &role, &a.owner)) {
    a.status = 401;
    a.error = "this dashboard needs a token: log in, or send `Authorization: Bearer TOKEN`";
    return a;
  }
  if (role == Role::kWorker) {
    a.status = 403;
    a.error = "a worker token may not use the dashboard (it needs reader or user)";
    return a;
  }
  a.role = RoleName(role);
  a.can_cancel = role == Role::kUser;
  return a;
}

// The session cookie's value, or "".
std::string Dashboard::Impl::CookieValue(const httplib::Request& req) {
  const std::string cookies = req.get_header_value("Cookie");
  const std::string key = std::string(kCookieName) + "=";
  size_t pos = 0;
  while (pos < cookies.size()) {
    while (pos < cookies.size() && (cookies[pos] == ' ' || cookies[pos] == ';')) ++pos;
    const size_t end = std::min(cookies.find(';', pos), cookies.size());
    if (cookies.compare(pos, key.size(), key) == 0) {
      return cookies.substr(pos + key.size(), end - pos - key.size());
    }
    pos = end;
  }
  return "";
}

bool Dashboard::Impl::SessionRole(const httplib::Request& req, Role* role, std::string* owner) {
  const std::string id = CookieValue(req);
  if (id.size() != 64) return false;
  // Sessions are keyed by the id's hash: a lookup's timing says nothing about the ids held.
  const std::string key = Sha256Hex(id);
  std::lock_guard<std::mutex> l(session_mu_);
  auto it = sessions_.find(key);
  if (it == sessions_.end()) return false;
  if (SteadyClock::now() >= it->second.expires) {
    sessions_.erase(it);
    return false;
  }
  *role = it->second.role;
  *owner = it->second.owner;
  return true;
}

// POSTs carry the custom header (no cross-site form can, no cross-site script can without a
// preflight), and an Origin, when sent, that is this server.
bool Dashboard::Impl::CsrfOk(const httplib::Request& req, httplib::Response& res) {
  if (req.get_header_value(kCsrfHeader) != "1") {
    SetError(res, 403, std::string("missing the header ") + kCsrfHeader + ": 1");
    return false;
  }
  const std::string origin = req.get_header_value("Origin");
  if (!origin.empty()) {
    const std::string self =
        std::string(tls_ ? "https://" : "http://") + req.get_header_value("Host");
    if (origin != self) {
      SetError(res, 403, "cross-origin request refused");
      return false;
    }
  }
  return true;
}

void Dashboard::Impl::Login(const httplib::Request& req, httplib::Response& res) {
  if (loopback_ && !IsLoopbackHost(req.get_header_value("Host"))) {
    SetError(res, 403, "this dashboard answers only to a loopback Host (127.0.0.1, localhost)");
    return;
  }
  if (!CsrfOk(req, res)) return;
  if (!tokens_) {
    SetError(res, 400, "this dashboard has no tokens: nothing to log in to");
    return;
  }
  std::string token = req.get_param_value("token");  // form-encoded body
  while (!token.empty() &&
         (token.back() == '\n' || token.back() == '\r' || token.back() == ' ')) {
    token.pop_back();
  }
  if (token.empty() || token.size() > kMaxTokenBytes) {
    SetError(res, 400, "token: expected the token (hps_ and 64 hex digits)");
    return;
  }
  const TokenEntry* e = tokens_->Authenticate(token);
  if (!e) {
    SetError(res, 401, "the token is not one this coordinator knows");
    return;
  }
  if (e->role == Role::kWorker) {
    SetError(res, 403, "a worker token may not use the dashboard (it needs reader or user)");
    return;
  }
  auto id = RandomHex(32);
  if (!id.ok()) return SetError(res, 500, "no randomness for a session");
  const auto now = SteadyClock::now();
  const std::string owner = TokenOwner(*e);
  {
    std::lock_guard<std::mutex> l(session_mu_);
    MakeRoomForSession(owner, now);
    sessions_[Sha256Hex(*id)] = {
        e->role, owner,
        now + std::chrono::duration_cast<SteadyClock::duration>(
                  std::chrono::duration<double>(options_.session_seconds))};
  }
  res.set_header("Set-Cookie",
                 std::string(kCookieName) + "=" + *id +
                     "; Path=/; HttpOnly; SameSite=Strict; Secure; Max-Age=" +
                     std::to_string(static_cast<int64_t>(options_.session_seconds)));
  SetJson(res, 200, {{"role", RoleName(e->role)}, {"can_cancel", e->role == Role::kUser}});
}

void Dashboard::Impl::MakeRoomForSession(const std::string& owner, SteadyClock::time_point now) {
  std::map<std::string, size_t> held;  // owner -> sessions
  for (auto it = sessions_.begin(); it != sessions_.end();) {
    if (now >= it->second.expires) {
      it = sessions_.erase(it);
    } else {
      ++held[it->second.owner];
      ++it;
    }
  }
  // The oldest session of `whose` goes (every session lasts as long: the first to expire).
  auto drop_oldest_of = [&](const std::string& whose) {
    auto oldest = sessions_.end();
    for (auto it = sessions_.begin(); it != sessions_.end(); ++it) {
      if (it->second.owner == whose &&
          (oldest == sessions_.end() || it->second.expires < oldest->second.expires)) {
        oldest = it;
      }
    }
    if (oldest != sessions_.end()) sessions_.erase(oldest);
    if (--held[whose] == 0) held.erase(whose);
  };
  while (held.count(owner) && held[owner] >= std::max<size_t>(1, options_.max_sessions_per_token)) {
    drop_oldest_of(owner);
  }
  while (!sessions_.empty() && sessions_.size() >= std::max<size_t>(1, options_.max_sessions)) {
    std::string whose = owner;
    if (!held.count(owner)) {
      whose = std::max_element(held.begin(), held.end(), [](const auto& a, const auto& b) {
                return a.second < b.second;
              })->first;
    }
    drop_oldest_of(whose);
  }
}

void Dashboard::Impl::Logout(const httplib::Request& req, httplib::Response& res) {
  const std::string id = CookieValue(req);
  if (id.size() == 64) {
    std::lock_guard<std::mutex> l(session_mu_);
    sessions_.erase(Sha256Hex(id));
  }
  res.set_header("Set-Cookie", std::string(kCookieName) +
                                   "=; Path=/; HttpOnly; SameSite=Strict; Secure; Max-Age=0");
  SetJson(res, 200, {{"role", "none"}});
}

// ---- events --------------------------------------------------------------------------------

// WorkersJson without what changes by itself as time passes ("now", the ages): two lists that
// differ only there need no new event (the page ages the rows itself).
std::string Dashboard::Impl::WorkersKey(json j) {
  j.erase("now");
  for (json& w : j["workers"]) w.erase("seconds_since_seen");
  return Dump(j);
}

std::string Dashboard::Impl::SseEvent(const char* name, const json& data) {
  return std::string("event: ") + name + "\ndata: " + Dump(data) + "\n\n";
}

int Dashboard::Impl::RefuseStream(const std::string& owner, std::string* why) {
  if (stopping_) {
    *why = "the dashboard is stopping";
    return 503;
  }
  if (clients_.size() >= static_cast<size_t>(std::max(0, options_.max_event_clients))) {
    *why = std::to_string(clients_.size()) + " event streams are open; the limit is " +
           std::to_string(options_.max_event_clients);
    return 503;
  }
  if (owner.empty()) return 0;
  const int mine = static_cast<int>(std::count_if(
      clients_.begin(), clients_.end(), [&](const auto& c) { return c->owner == owner; }));
  if (mine >= std::max(1, options_.max_event_clients_per_token)) {
    *why = std::string(tokens_ ? "this token" : "this address") + " has " +
           std::to_string(mine) + " event streams open; the limit per " +
           (tokens_ ? "token" : "address") + " is " +
           std::to_string(options_.max_event_clients_per_token) + " (close another tab first)";
    return 429;
  }
  return 0;
}

void Dashboard::Impl::Events(int64_t sweep_id, const Access& access, httplib::Response& res) {
  auto client = std::make_shared<Client>();
  client->sweep_id = sweep_id;
  client->owner = access.owner;
  {
    std::lock_guard<std::mutex> l(hub_mu_);
    std::string why;
    if (const int status = RefuseStream(access.owner, &why)) {
      res.set_header("Retry-After", "10");
      return SetError(res, status, why);
    }
    clients_.insert(client);
  }
  hub_cv_.notify_all();
  res.status = 200;
  res.set_header("X-Accel-Buffering", "no");
  auto last_write = std::make_shared<SteadyClock::time_point>(SteadyClock::now());
  res.set_chunked_content_provider(
      "text/event-stream",
      [this, client, last_write](size_t, httplib::DataSink& sink) {
        std::unique_lock<std::mutex> l(client->mu);
        client->cv.wait_for(l, std::chrono::milliseconds(500),
                            [&] { return client->closed || !client->queue.empty(); });
        if (client->closed) {
          l.unlock();
          sink.done();
          return true;
        }
        std::string out;
        while (!client->queue.empty()) {
          out += client->queue.front();
          client->queue.pop_front();
        }
        client->queued_bytes = 0;
        l.unlock();
        const auto now = SteadyClock::now();
        if (out.empty()) {
          if (now - *last_write < kPingInterval) return true;
          out = ": ping\n\n";  // finds a peer that went away, and keeps proxies open
        }
        *last_write = now;
        return sink.write(out.data(), out.size());
      },
      [this, client](bool) {
        {
          std::lock_guard<std::mutex> l(hub_mu_);
          clients_.erase(client);
        }
        Close(client.get());
      });
}

void Dashboard::Impl::Close(Client* c) {
  {
    std::lock_guard<std::mutex> l(c->mu);
    c->closed = true;
    c->queue.clear();
  }
  c->cv.notify_all();
}

void Dashboard::Impl::Push(Client* c, const std::string& event) {
  {
    std::lock_guard<std::mutex> l(c->mu);
    if (c->closed) return;
    if (c->queued_bytes + event.size() > kMaxQueuedEventBytes) {
      c->closed = true;  // too far behind; its browser reconnects and gets a snapshot
      std::fprintf(stderr,
                   "dashboard: dropped an event stream of sweep %lld: %zu bytes queued unread "
                   "(the limit is %zu; a slow reader, whose page reconnects)\n",
                   static_cast<long long>(c->sweep_id), c->queued_bytes, kMaxQueuedEventBytes);
      c->queue.clear();
      c->queued_bytes = 0;
    } else {
      c->queue.push_back(event);
      c->queued_bytes += event.size();
    }
  }
  c->cv.notify_all();
}

// The trial as events carry it: the export's object without the confusion matrix, its epochs
// thinned to at most kMaxEventEpochs (evenly spaced, the first, the last and the best kept;
// "epochs_shown" says so; the export keeps every epoch).
json Dashboard::Impl::TrialEventJson(json t, int64_t sweep_id) {
  t.erase("confusion_matrix");
  t["sweep"] = sweep_id;
  auto it = t.find("epochs");
  if (it != t.end() && it->is_array() && it->size() > kMaxEventEpochs) {
    const size_t n = it->size();
    const int best = t.value("best_epoch", 0);
    json kept = json::array();
    size_t next = 0;  // the next evenly spaced index to keep
    size_t step = 0;
    for (size_t i = 0; i < n; ++i) {
      json& e = (*it)[i];
      const bool is_best = best > 0 && e.value("epoch", 0) == best;
      if (i == next || i + 1 == n || is_best) kept.push_back(std::move(e));
      if (i == next) next = (++step * (n - 1)) / (kMaxEventEpochs - 2);
    }
    t["epochs_shown"] = kept.size();
    *it = std::move(kept);
  }
  return t;
}

bool Dashboard::Impl::HasRoom(Client* c, size_t bytes) {
  std::lock_guard<std::mutex> l(c->mu);
  return !c->closed && (c->queued_bytes == 0 || c->queued_bytes + bytes <= kSnapshotQueueBytes);
}

// One round of a watched sweep (see the top of dashboard.h). A new stream gets a "snapshot" of
// the sweep's head and no trials, then its trials in number order as "trial" events, each one
// only while its queue has room (kSnapshotQueueBytes): a slow reader is fed as it reads, never
// queued the whole sweep. The sweep is read a trial at a time (ExportSweepPage): all of it when
// it changed (spaced by ten times a read's duration), else only from the furthest-behind new
// stream on, and only while one of them has room. A trial whose state differs from the last one
// read goes to every stream that already has that trial. So each stream holds, for every trial
// it has been sent, the state last read.
void Dashboard::Impl::SweepRound(int64_t sweep_id, const std::vector<Client*>& watchers,
                                 uint64_t version, SteadyClock::time_point now,
                                 SweepCache* cache) {
  bool fresh = false;
  for (Client* c : watchers) {
    if (!c->needs_snapshot) continue;
    fresh = true;
    c->in_snapshot = true;
    c->snapshot_after = 0;
  }
  bool any_snapshot = false;
  int start = std::numeric_limits<int>::max();
  for (Client* c : watchers) {
    if (!c->in_snapshot) continue;
    any_snapshot = true;
    start = std::min(start, c->snapshot_after);
  }
  const bool full = cache->exported_version != version && now >= cache->next_export;
  if (!full && !any_snapshot) return;
  if (full) start = 0;
  const auto t0 = SteadyClock::now();
  bool head_sent = !fresh, any_change = false, failed = false;
  std::set<Client*> stalled;    // new streams whose queues had no room this round
  std::set<Client*> completed;  // new streams that got their last trial this round
  int after = start;
  for (;;) {
    auto page = s_->ExportSweepPage(sweep_id, after, SIZE_MAX, /*max_trials=*/1);
    if (!page.ok()) {
      failed = true;
      break;
    }
    if (!head_sent) {
      const json whole = json::parse(page->head + ExportJoiner().Tail(), nullptr, false);
      if (whole.is_discarded()) {
        failed = true;
        break;
      }
      const std::string snapshot =
          SseEvent("snapshot", {{"sweep", whole["sweep"]}, {"trials", json::array()}});
      for (Client* c : watchers) {
        if (c->needs_snapshot) Push(c, snapshot);
      }
      head_sent = true;
    }
    for (const std::string& piece : page->trials) {
      json t = json::parse(piece, nullptr, false);
      if (t.is_discarded()) continue;
      const int number = t.value("number", 0);
      const int64_t trial_id = t.value("id", int64_t{0});
      const std::string state = Dump(TrialEventJson(std::move(t), sweep_id));
      const size_t hash = std::hash<std::string>()(state);
      auto last = cache->trials.find(trial_id);
      const bool changed = last == cache->trials.end() || last->second != hash;
      cache->trials[trial_id] = hash;
      any_change = any_change || changed;
      const std::string event = "event: trial\ndata: " + state + "\n\n";
      for (Client* c : watchers) {
        if (!c->in_snapshot || number <= c->snapshot_after) {
          if (changed) Push(c, event);
        } else if (c->snapshot_after != after) {
          // It stopped short of an earlier trial: later ones wait, so that none is skipped.
        } else if (HasRoom(c, event.size())) {
          Push(c, event);  // the next trial this stream lacks
          c->snapshot_after = number;
        } else {
          stalled.insert(c);
        }
      }
      after = number;
    }
    bool wanted = full;  // does a new stream still take trials from this read?
    for (Client* c : watchers) wanted = wanted || (c->in_snapshot && !stalled.count(c));
    if (page->next_after == 0) {
      // Every stream that took the last trial (or has nothing left to take) has the sweep.
      for (Client* c : watchers) {
        if (c->in_snapshot && c->snapshot_after == after) {
          c->in_snapshot = false;
          completed.insert(c);
        }
      }
      break;
    }
    if (!wanted) break;
    after = page->next_after;
  }
  if (!head_sent) {
    // The sweep could not be read: new streams end (their pages reconnect) rather than go on
    // without a snapshot.
    for (Client* c : watchers) {
      if (c->needs_snapshot) Close(c);
    }
  }
  if (full && !failed) {
    const double took = std::chrono::duration<double>(SteadyClock::now() - t0).count();
    cache->next_export =
        SteadyClock::now() + std::chrono::duration_cast<SteadyClock::duration>(
                                 std::chrono::duration<double>(std::max(kMinRoundSeconds, 10 * took)));
    cache->exported_version = version;
  }
  // The leaderboard: to a new stream once it has every trial, and to the others on a change.
  if (!completed.empty() || any_change) {
    const std::string board = LeaderboardEvent(sweep_id);
    for (Client* c : watchers) {
      if (!board.empty() && (completed.count(c) || (any_change && !c->in_snapshot))) {
        Push(c, board);
      }
    }
  }
}

std::string Dashboard::Impl::LeaderboardEvent(int64_t sweep_id) {
  SweepRow sweep;
  auto rows = s_->Leaderboard(sweep_id, 50, &sweep);
  if (!rows.ok()) return "";
  return SseEvent("leaderboard", LeaderboardJson(LeaderboardViewOf(sweep, *rows)));
}

// The one thread behind every event stream (see the top of dashboard.h).
void Dashboard::Impl::HubLoop() {
  uint64_t seen = ~uint64_t{0};
  std::string last_status;
  SteadyClock::time_point last_status_at{};
  std::string last_workers_key;
  SteadyClock::time_point last_workers_at{}, next_workers{};
  std::map<int64_t, SweepCache> caches;
  std::unique_lock<std::mutex> l(hub_mu_);
  while (!stopping_) {
    if (clients_.empty()) {
      caches.clear();
      last_status.clear();
      last_workers_key.clear();
      hub_cv_.wait(l, [&] { return stopping_ || !clients_.empty(); });
      continue;
    }
    std::vector<std::shared_ptr<Client>> clients(clients_.begin(), clients_.end());
    l.unlock();
    const uint64_t version = s_->WaitForChange(seen, kMinRoundSeconds);
    const bool changed = version != seen;
    seen = version;
    const auto now = SteadyClock::now();

    // All sweeps' counts: on a change, for a new stream, and every second (workers alive).
    bool any_new = false;
    for (auto& c : clients) any_new = any_new || c->needs_snapshot;
    if (changed || any_new || now - last_status_at >= std::chrono::seconds(1)) {
      const std::string status =
          SseEvent("status", SweepsJson(StatusProto(s_->Counts(0), s_->WorkersAlive())));
      for (auto& c : clients) {
        if (c->needs_snapshot || status != last_status) Push(c.get(), status);
      }
      last_status = status;
      last_status_at = now;
    }

    // The workers: for a new stream, on a change (spaced by ten times a read's duration), and
    // every second (a silent worker turns gone by time alone). Sent when they differ.
    if (any_new || (changed && now >= next_workers) ||
        now - last_workers_at >= std::chrono::duration<double>(kWorkersEverySeconds)) {
      const auto t0 = SteadyClock::now();
      const json j = WorkersJson(WorkersNow(), kMaxDashboardWorkers);
      std::string key = WorkersKey(j);
      const std::string event = SseEvent("workers", j);
      const double took = std::chrono::duration<double>(SteadyClock::now() - t0).count();
      for (auto& c : clients) {
        if (c->needs_snapshot || key != last_workers_key) Push(c.get(), event);
      }
      last_workers_key = std::move(key);
      last_workers_at = now;
      next_workers =
          now + std::chrono::duration_cast<SteadyClock::duration>(
                    std::chrono::duration<double>(std::max(kMinRoundSeconds, 10 * took)));
    }

    std::map<int64_t, std::vector<Client*>> by_sweep;
    for (auto& c : clients) by_sweep[c->sweep_id].push_back(c.get());
    for (auto it = caches.begin(); it != caches.end();) {
      it = by_sweep.count(it->first) ? std::next(it) : caches.erase(it);
    }
    for (auto& [sweep_id, watchers] : by_sweep) {
      SweepRound(sweep_id, watchers, version, now, &caches[sweep_id]);
    }
    l.lock();
    for (auto& c : clients) c->needs_snapshot = false;
    hub_cv_.wait_for(l, std::chrono::duration<double>(kMinRoundSeconds),
                     [&] { return stopping_; });
  }
  for (auto& c : clients_) Close(c.get());
}

Dashboard::Dashboard(Scheduler* scheduler) : impl_(std::make_unique<Impl>(scheduler)) {}
Dashboard::~Dashboard() { impl_->Stop(); }
Status Dashboard::Start(const DashboardOptions& options) { return impl_->Start(options); }
void Dashboard::Stop() { impl_->Stop(); }
int Dashboard::port() const { return impl_->port(); }
std::string Dashboard::url() const { return impl_->url(); }

}  // namespace hpsweep
