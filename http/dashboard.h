// Dashboard: a small web server inside the coordinator process (`hpsweep coordinator --http
// ADDR`, `hpsweep run --http ADDR`) that shows the sweeps live: status counts, the leaderboard
// (ranked by each sweep's Objective, as the Scheduler ranks it), accuracy and loss curves per trial
// that grow as epochs arrive, and a cancel button. cpp-httplib (Debian's libcpp-httplib-dev) serves
// it; the page, its script and its style are compiled into the binary (http/assets/), and nothing
// is loaded from the network.
//
// clang-format off
//   GET  /                              the page (index.html, app.js, app.css)
//   GET  /api/whoami                    {"role", "can_cancel", "tokens"}: what the page may show
//   GET  /api/sweeps                    every sweep's counts (pruned apart from stopped), state,
//                                       metric, goal, best; workers alive
//   GET  /api/workers                   the workers (ListWorkers): id, name, host, alive/gone,
//                                       the trial each trains, trials done/failed, last heard
//   GET  /api/sweeps/N/leaderboard?top=K  trials ranked by the sweep's metric and goal (K <= 1000);
//                                       a pruned trial says the epoch it was pruned at
//   GET  /api/sweeps/N/export           the scheduler's ExportJson (every trial, every epoch)
//   GET  /api/sweeps/N/events           server-sent events: "status", "workers", "snapshot",
//                                       "trial", "leaderboard" (below)
//   POST /api/sweeps/N/cancel           cancels the sweep (user role; CSRF header)
//   POST /login, POST /logout           token -> session cookie, and back
// clang-format on
//
// Events are fed by the scheduler's change counter (Scheduler::WaitForChange), the notifications
// WatchSweep uses: one hub thread wakes on a change (at most about 4 rounds a second), re-reads the
// watched sweeps and sends each open stream what changed: "status" (all sweeps' counts), "workers"
// (the whole list, as /api/workers; re-read at least every second, since a silent worker turns
// gone by time alone, and sent only when something other than its ages changed: the page ages
// the rows itself), "trial" (one trial's whole state, epochs included: replaying it is harmless)
// and "leaderboard". A new stream first gets a "snapshot" (every trial and the leaderboard) made
// by the hub from the same read as everyone's diffs, so no change falls between the snapshot and
// the first diff, and the workers. A sweep's re-read (ExportJson) is spaced by ten times its own
// duration, and so is the workers' (ListWorkers) on changes, so a huge sweep or a crowd of
// workers cannot keep the scheduler busy.
//
// Security, the gRPC side's rules (auth/credentials.h CheckListenSecurity): a loopback address
// needs nothing; any other needs TLS and tokens (the coordinator's --tls-cert/--tls-key, its
// --tls-client-ca for mutual TLS, its --auth-tokens), or --insecure. With tokens, every /api call
// needs a reader or user token, as an `Authorization: Bearer` header or as the session cookie that
// POST /login sets (a random id mapped to the token's role, expiring; HttpOnly, SameSite=Strict,
// Secure; the token itself is never stored, logged or shown). A reader may view; cancel needs
// user; a worker token gets 403. Without tokens everyone may do everything (as over gRPC). Every
// POST needs the header `X-Hpsweep-Csrf: 1` (a cross-site form cannot send it, a cross-site script
// cannot without a CORS preflight we never answer) and, when the browser sends an Origin, one that
// names this server. On loopback the Host header must be a loopback name, which defeats DNS
// rebinding. Requests are bounded (URI 8 KiB and headers 8 KiB by httplib, bodies 16 KiB), every
// number in a path or query is range-checked (400), unknown sweeps are 404, and at most
// max_event_clients streams are open at once (503 beyond).
//
// Thread-safety: Start and Stop from one thread; requests are served on httplib's pool (one thread
// per connection, max_event_clients + 16 of them) and the hub thread. Ownership: borrows the
// Scheduler, which must outlive the Dashboard (Stop, or the destructor, before the scheduler goes).
#ifndef HPSWEEP_HTTP_DASHBOARD_H_
#define HPSWEEP_HTTP_DASHBOARD_H_

#include <memory>
#include <string>

#include "auth/credentials.h"
#include "coordinator/scheduler.h"
#include "base/status.h"

namespace hpsweep {

struct DashboardOptions {
  std::string listen = "127.0.0.1:8080";  // host:port; port 0 picks a free one
  // The coordinator's TLS files, tokens file and --insecure: the same rules as the gRPC port.
  ServerSecurity security;
  int max_event_clients = 64;          // open event streams; 503 beyond
  double session_seconds = 12 * 3600;  // a login lasts this long
  size_t max_sessions = 1024;          // the oldest goes first beyond
};

// Bounds on what a request may carry, beyond httplib's own (URI and header lengths).
constexpr size_t kMaxHttpBodyBytes = 16 << 10;
constexpr int kMaxLeaderboardTop = 1000;
constexpr size_t kMaxDashboardWorkers = 1000;  // rows of /api/workers and the "workers" event

class Dashboard {
 public:
  explicit Dashboard(Scheduler* scheduler);
  ~Dashboard();
  Dashboard(const Dashboard&) = delete;
  Dashboard& operator=(const Dashboard&) = delete;

  // Checks the security rules, reads the tokens file, binds and starts serving. InvalidArgument
  // for a bad address or a refused setup; Unavailable when the address cannot be bound.
  Status Start(const DashboardOptions& options);
  // Ends every event stream, stops listening and joins the threads. Idempotent.
  void Stop();

  int port() const;
  // "http://127.0.0.1:8080/" (https with TLS): what to print for people.
  std::string url() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hpsweep

#endif  // HPSWEEP_HTTP_DASHBOARD_H_
