// Dashboard::Impl (http/dashboard.h): the dashboard's server, sessions and event hub, shared by
// dashboard.cc (setup, access and sessions, event streams and the hub thread) and
// dashboard_api.cc (the routing of every request); the JSON of the /api routes and events is the
// read model's, made by http/dashboard_json.h. Internal to http/.
//
// Ownership: the Dashboard owns its Impl; the Impl owns the httplib server (a GuardedServer),
// its ConnectionGuard and threads, the sessions and the event streams' clients, and borrows the
// Scheduler. Thread-safety: as Dashboard's: Start and Stop from one thread; requests on the
// connections' threads and the hub thread, with sessions_ under session_mu_ and clients_ (and
// each Client's needs_snapshot) under hub_mu_.
#ifndef HPSWEEP_HTTP_DASHBOARD_IMPL_H_
#define HPSWEEP_HTTP_DASHBOARD_IMPL_H_

#include <httplib.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "auth/tokens.h"
#include "coordinator/scheduler.h"
#include "http/dashboard.h"
#include "http/guarded_server.h"
#include "proto/hpsweep.pb.h"

namespace hpsweep {

class Dashboard::Impl {
 public:
  explicit Impl(Scheduler* scheduler) : s_(scheduler) {}
  ~Impl() { Stop(); }

  Status Start(const DashboardOptions& options);
  void Stop();

  int port() const { return port_; }
  std::string url() const;

 private:
  using json = nlohmann::json;
  using SteadyClock = std::chrono::steady_clock;

  struct Client {
    int64_t sweep_id = 0;
    std::string owner;  // Access::owner of the request that opened it
    std::mutex mu;
    std::condition_variable cv;
    std::deque<std::string> queue;
    size_t queued_bytes = 0;
    bool closed = false;
    bool needs_snapshot = true;  // the hub sends "snapshot" first (read under hub_mu_)
    // The hub thread's own: the stream still lacks trials after number snapshot_after.
    bool in_snapshot = false;
    int snapshot_after = 0;
  };
  struct Session {
    Role role;
    std::string owner;  // the token's Access::owner
    SteadyClock::time_point expires;
  };
  struct SweepCache {
    std::map<int64_t, size_t> trials;  // trial id -> hash of its state as last read
    uint64_t exported_version = ~uint64_t{0};
    SteadyClock::time_point next_export{};
  };

  // Access a request has: none (with the HTTP status and why), reader, or user.
  struct Access {
    int status = 0;  // 0: allowed
    std::string error;
    bool can_cancel = false;
    const char* role = "open";
    // Whose streams these are, for the per-token cap: the token (bearer or session), without
    // tokens the peer's address, and "" (no cap of its own) on a loopback dashboard without
    // tokens, where every client is 127.0.0.1 and may do everything anyway.
    std::string owner;
  };

  // ---- shared helpers (dashboard.cc) ----------------------------------------------------------
  static std::string Dump(const json& j);
  static void SetJson(httplib::Response& res, int status, const json& body);
  static void SetError(httplib::Response& res, int status, const std::string& message);
  // The host of a Host header ("127.0.0.1:8080", "[::1]:8080", "localhost") is a loopback name.
  static bool IsLoopbackHost(const std::string& host_header);

  // ---- routing (dashboard_api.cc) --------------------------------------------------------------
  // The workers as the read model lists them now (WorkersProto of Scheduler::ListWorkers).
  v1::ListWorkersResponse WorkersNow();
  void Headers(httplib::Response& res);
  void Route(const httplib::Request& req, httplib::Response& res);
  bool Admissible(const httplib::Request& req, httplib::Response& res);
  static bool ServeAsset(const std::string& path, httplib::Response& res);
  void RouteSweep(const httplib::Request& req, httplib::Response& res, const Access& access);
  void CancelSweep(const httplib::Request& req, httplib::Response& res, const Access& access,
                   int64_t id);
  void LeaderboardRoute(const httplib::Request& req, httplib::Response& res, int64_t id);
  void MethodNotAllowed(httplib::Response& res, const char* allowed);

  // ---- access (dashboard.cc) ------------------------------------------------------------------
  Access Authorize(const httplib::Request& req);
  static std::string CookieValue(const httplib::Request& req);
  bool SessionRole(const httplib::Request& req, Role* role, std::string* owner);
  bool CsrfOk(const httplib::Request& req, httplib::Response& res);
  void Login(const httplib::Request& req, httplib::Response& res);
  // Makes room for one more session of `owner` (under session_mu_): drops the expired, then the
  // owner's oldest beyond its cap, and at the global cap the owner's oldest (or, when it has
  // none, the oldest of the owner holding the most).
  void MakeRoomForSession(const std::string& owner, SteadyClock::time_point now);
  void Logout(const httplib::Request& req, httplib::Response& res);

  // ---- events (dashboard.cc) ------------------------------------------------------------------
  static std::string WorkersKey(json j);
  static std::string SseEvent(const char* name, const json& data);
  void Events(int64_t sweep_id, const Access& access, httplib::Response& res);
  // Why a new stream of `owner` is refused, with the HTTP status; 0 when it is not (hub_mu_).
  int RefuseStream(const std::string& owner, std::string* why);
  static void Close(Client* c);
  static void Push(Client* c, const std::string& event);
  static json TrialEventJson(json t, int64_t sweep_id);
  // Room in c's queue for `bytes` more of a new stream's trials (always, when it is empty).
  static bool HasRoom(Client* c, size_t bytes);
  void SweepRound(int64_t sweep_id, const std::vector<Client*>& watchers, uint64_t version,
                  SteadyClock::time_point now, SweepCache* cache);
  std::string LeaderboardEvent(int64_t sweep_id);
  void HubLoop();

  Scheduler* s_;
  DashboardOptions options_;
  std::unique_ptr<ConnectionGuard> guard_;  // (outlives server_, which borrows it)
  std::unique_ptr<httplib::Server> server_;
  std::shared_ptr<const TokenStore> tokens_;
  bool tls_ = false, loopback_ = false;
  std::string host_;
  int port_ = 0;
  std::thread listener_, hub_;

  std::mutex session_mu_;
  std::map<std::string, Session> sessions_;  // sha256(session id) -> session

  std::mutex hub_mu_;
  std::condition_variable hub_cv_;
  std::set<std::shared_ptr<Client>> clients_;
  bool stopping_ = false;
};

}  // namespace hpsweep

#endif  // HPSWEEP_HTTP_DASHBOARD_IMPL_H_
