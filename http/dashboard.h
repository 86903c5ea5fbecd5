// Dashboard: a small web server inside the coordinator process (`hpsweep coordinator --http
// ADDR`, `hpsweep run --http ADDR`), or over a database file read-only (`hpsweep dashboard --db
// FILE`, which reloads the file as another process writes it), that shows the sweeps live: status counts, the leaderboard
// (ranked by each sweep's Objective, as the Scheduler ranks it), accuracy and loss curves per trial
// that grow as epochs arrive, and a cancel button. cpp-httplib (Debian's libcpp-httplib-dev) serves
// it; the page, its script and its style are compiled into the binary (http/assets/), and nothing
// is loaded from the network.
//
// clang-format off
//   GET  /                              the page (index.html, app.js, app.css)
//   GET  /api/whoami                    {"role", "can_cancel", "tokens", "read_only"}: what the
//                                       page may show
//   GET  /api/sweeps                    every sweep's counts (pruned apart from stopped), state,
//                                       metric, goal, best; workers alive
//   GET  /api/workers                   the workers (ListWorkers): id, name, host, alive/gone,
//                                       the trial each trains, trials done/failed, last heard
//   GET  /api/sweeps/N/leaderboard?top=K  trials ranked by the sweep's metric and goal (K <= 1000);
//                                       a pruned trial says the epoch it was pruned at
//   GET  /api/sweeps/N/export           the sweep's export (every trial, every epoch), chunked:
//                                       sent a page (ExportSweepPage) at a time
//   GET  /api/sweeps/N/events           server-sent events: "status", "workers", "snapshot",
//                                       "trial", "leaderboard" (below)
//   POST /api/sweeps/N/cancel           cancels the sweep (user role; CSRF header); 403 on a
//                                       read-only dashboard (DashboardOptions::read_only)
//   POST /login, POST /logout           token -> session cookie, and back
// clang-format on
//
// Events are fed by the scheduler's change counter (Scheduler::WaitForChange), the notifications
// WatchSweep uses: one hub thread wakes on a change (at most about 4 rounds a second), re-reads the
// watched sweeps and sends each open stream what changed: "status" (all sweeps' counts), "workers"
// (the whole list, as /api/workers; re-read at least every second, since a silent worker turns
// gone by time alone, and sent only when something other than its ages changed: the page ages
// the rows itself), "trial" (one trial's whole state, its epochs thinned to kMaxEventEpochs:
// replaying it is harmless) and "leaderboard". A new stream first gets the workers, a "snapshot"
// (the sweep, no trials yet) and then every trial as a "trial" event in number order, fed only
// while its queue has room (a slow reader is fed as it reads; a huge sweep's first data comes
// at once), then the leaderboard. The hub reads a sweep a page (ExportSweepPage) at a time and
// keeps a hash per trial, never the sweep; a trial that changed goes to every stream that
// already has it, so no change is lost between a stream's first trials and its diffs. A
// stream whose queue passes 8 MiB is closed, with a line on stderr. A sweep's full re-read is
// spaced by ten times its own duration, and so is the workers' (ListWorkers) on changes, so a
// huge sweep or a crowd of workers cannot keep the scheduler busy.
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
// max_event_clients streams are open at once (503 beyond), max_event_clients_per_token of them
// for one token (429 beyond). Hostile clients are bounded by the limits below: connections in all
// and per address, and a deadline for each request's arrival (slowloris).
//
// Thread-safety: Start and Stop from one thread; requests are served on a thread per connection
// (GuardedServer: at most max_connections + kSpareHttpThreads) and the hub thread. Ownership:
// borrows the Scheduler, which must outlive the Dashboard (Stop, or the destructor, before the
// scheduler goes).
#ifndef HPSWEEP_HTTP_DASHBOARD_H_
#define HPSWEEP_HTTP_DASHBOARD_H_

#include <memory>
#include <string>

#include "auth/credentials.h"
#include "coordinator/scheduler.h"
#include "base/status.h"

namespace hpsweep {

// Connections (http/guarded_server.h). Each admitted connection has a thread, mostly asleep in
// poll(): 256 is room for the 64 streams and a few hundred browser connections (a browser opens
// at most 6 per server) without a thousand threads. One address may hold a quarter: a network
// client cannot fill the dashboard by itself, and a proxy or NAT of many people still fits.
// Beyond either cap a new connection takes the place of the oldest idle or half-sent one (on
// loopback every client is 127.0.0.1: a local slowloris pushes out its own oldest connections,
// or a browser's idle one, which the browser reopens), or is refused at once when all are busy
// answering.
constexpr int kMaxHttpConnections = 256;
constexpr int kMaxHttpConnectionsPerPeer = 64;
// A request's line, headers and body (16 KiB at most) must arrive within 5 s of its first byte,
// and a TLS handshake within 5 s of the connect: a browser on any link sends them in one round
// trip, so only a slowloris, which trickles bytes to hold a connection for hours, is cut off.
constexpr double kHttpRequestSeconds = 5;
// A connection waits this long for its next request (a browser reuses one within a second or
// opens another), and Stop waits for none of them.
constexpr double kHttpIdleSeconds = 2;
// Connections the kernel holds until the server accepts them: httplib's 5 drops a burst (a
// page's parallel requests, a reconnecting crowd, a flood), and each dropped one retries a
// second or more later.
constexpr int kHttpListenBacklog = 256;
// Threads beyond kMaxHttpConnections, which admit a new connection or refuse it while every
// admitted one holds its thread.
constexpr int kSpareHttpThreads = 16;
// Event streams: a page holds one; a token (its bearer and its sessions together, or an address
// when there are no tokens) may hold 8 (a few tabs, or a few people sharing a reader token), an
// eighth of the 64, so no one token can shut the others out.
constexpr int kMaxEventClients = 64;
constexpr int kMaxEventClientsPerToken = 8;
// Sessions: 1024 in all, 32 per token (a person's browsers, or a team sharing a token). A login
// beyond either pushes out its own token's oldest session, never another token's (unless it has
// none: then the oldest of the token holding the most).
constexpr size_t kMaxSessions = 1024;
constexpr size_t kMaxSessionsPerToken = 32;

struct DashboardOptions {
  std::string listen = "127.0.0.1:8080";  // host:port; port 0 picks a free one
  // The coordinator's TLS files, tokens file and --insecure: the same rules as the gRPC port.
  ServerSecurity security;
  int max_connections = kMaxHttpConnections;                   // open at once (above)
  int max_connections_per_peer = kMaxHttpConnectionsPerPeer;   // from one address
  int max_event_clients = kMaxEventClients;                    // open event streams; 503 beyond
  int max_event_clients_per_token = kMaxEventClientsPerToken;  // 429 beyond
  // `hpsweep dashboard --db FILE`: a scheduler over a database file opened read-only. Cancel
  // (every write) answers 403, saying so, before it reaches the scheduler; /api/whoami says
  // "read_only" and can_cancel false.
  bool read_only = false;
  double session_seconds = 12 * 3600;                          // a login lasts this long
  size_t max_sessions = kMaxSessions;                          // (above)
  size_t max_sessions_per_token = kMaxSessionsPerToken;
};

// Bounds on what a request may carry, beyond httplib's own (URI and header lengths).
constexpr size_t kMaxHttpBodyBytes = 16 << 10;
constexpr int kMaxLeaderboardTop = 1000;
constexpr size_t kMaxDashboardWorkers = 1000;  // rows of /api/workers and the "workers" event
// Epochs one "trial" event carries: a longer trial's curve is thinned to this many points
// (evenly spaced, with its first, last and best epochs; "epochs_shown" then counts them), so one
// event stays a few hundred KiB however long the trial ran. The export keeps every epoch.
constexpr size_t kMaxEventEpochs = 1000;

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
