// The dashboard (http/dashboard.h) against a real coordinator in this process: a CoordinatorServer
// on 127.0.0.1 port 0 with its SQLite file, the Dashboard on its scheduler, and cpp-httplib's
// client as the browser. The scheduler is driven directly (register, lease, report) to make the
// changes the event stream must carry, without training anything.
#include "http/dashboard.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <filesystem>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "auth/certs.h"
#include "auth/tokens.h"
#include "search/objective.h"
#include "coordinator/service.h"
#include "coordinator/views.h"
#include "http/dashboard_json.h"
#include "search/sweep_file.h"
#include "testing/big_sweep.h"
#include "tests/coordinator/test_util.h"

namespace hpsweep {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// Minimised val_loss: the leaderboard must follow the loss, not the accuracy.
const char kSweep[] = R"(name: dash-test
method: grid
metric: {name: val_loss, goal: minimize}
data: {validation_split: 0.2, train_limit: 500}
fixed: {cell: dense, epochs: 3, batch_size: 64}
parameters:
  units: {values: [8, 16, 32]}
)";

const httplib::Headers kCsrf = {{"X-Hpsweep-Csrf", "1"}};

// Reads an event stream on a thread of its own, keeping what arrived (Client is httplib::Client
// or httplib::SSLClient).
class EventReader {
 public:
  template <typename Client>
  EventReader(Client* client, const std::string& path, httplib::Headers headers = {})
      : thread_([this, client, path, headers] {
          auto res = client->Get(
              path, headers,
              [this](const httplib::Response& r) {
                std::lock_guard<std::mutex> l(mu_);
                status_ = r.status;
                return true;  // (a refusal's body is its reason)
              },
              [this](const char* data, size_t n) {
                std::lock_guard<std::mutex> l(mu_);
                text_.append(data, n);
                return !stop_;
              });
          std::lock_guard<std::mutex> l(mu_);
          if (res && status_ == 0) status_ = res->status;
          done_ = true;
        }) {}
  ~EventReader() {
    {
      std::lock_guard<std::mutex> l(mu_);
      stop_ = true;
    }
    thread_.join();
  }

  // Waits (up to 30 s: generous for a loaded machine) until `pred(text)` holds.
  template <typename Pred>
  bool WaitFor(Pred pred) {
    for (int i = 0; i < 3000; ++i) {
      {
        std::lock_guard<std::mutex> l(mu_);
        if (pred(text_)) return true;
        if (done_) return pred(text_);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }
  std::string text() {
    std::lock_guard<std::mutex> l(mu_);
    return text_;
  }
  int status() {
    std::lock_guard<std::mutex> l(mu_);
    return status_;
  }

 private:
  std::mutex mu_;
  std::string text_;
  int status_ = 0;
  bool stop_ = false, done_ = false;
  std::thread thread_;
};

// A plain TCP connection to 127.0.0.1:port, or -1.
int ConnectTo(int port) {
  const int s = socket(AF_INET, SOCK_STREAM, 0);
  if (s < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(s, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    close(s);
    return -1;
  }
  return s;
}

// Slowloris: `n` connections that each send the start of a request and then one more byte of a
// header every `every`, never finishing it, until destroyed. The trickle starts with the first
// connection, so none falls silent while the others connect.
class SlowClients {
 public:
  SlowClients(int port, int n, std::chrono::milliseconds every) {
    thread_ = std::thread([this, every] {
      std::unique_lock<std::mutex> l(mu_);
      while (!cv_.wait_for(l, every, [this] { return stop_; })) {
        for (int s : socks_) send(s, "a", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
      }
    });
    const std::string start = "GET /api/sweeps HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";
    for (int i = 0; i < n; ++i) {
      const int s = ConnectTo(port);
      if (s < 0) continue;
      send(s, start.data(), start.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      std::lock_guard<std::mutex> l(mu_);
      socks_.push_back(s);
    }
  }
  ~SlowClients() {
    {
      std::lock_guard<std::mutex> l(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
    for (int s : socks_) close(s);
  }
  size_t opened() {
    std::lock_guard<std::mutex> l(mu_);
    return socks_.size();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<int> socks_;
  bool stop_ = false;
  std::thread thread_;
};

// Reads `sock` until the peer closes it (true) or `limit` passes (false).
bool ClosedByPeerWithin(int sock, std::chrono::seconds limit) {
  const auto until = std::chrono::steady_clock::now() + limit;
  char buf[4096];
  while (std::chrono::steady_clock::now() < until) {
    pollfd p{sock, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    const ssize_t n = recv(sock, buf, sizeof(buf), MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) return true;
  }
  return false;
}

// Sends `start` on a new connection, then a byte every 200 ms: true when the server closes it
// within 30 s.
bool TrickleIsCutOff(int port, const std::string& start) {
  const int s = ConnectTo(port);
  if (s < 0) return false;
  send(s, start.data(), start.size(), MSG_NOSIGNAL);
  std::atomic<bool> stop{false};
  std::thread trickle([&] {
    while (!stop) {
      send(s, start.data() + start.size() - 1, 1, MSG_NOSIGNAL | MSG_DONTWAIT);
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  });
  const bool closed = ClosedByPeerWithin(s, std::chrono::seconds(30));
  stop = true;
  trickle.join();
  close(s);
  return closed;
}

class DashboardTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "/dashboard_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    if (dash_) dash_->Stop();
    dash_.reset();
    if (server_) server_->Shutdown();
    server_.reset();
    fs::remove_all(dir_);
  }

  std::string P(const std::string& name) { return (fs::path(dir_) / name).string(); }

  // The coordinator and its dashboard, both on 127.0.0.1 port 0, with `security` on both.
  void StartAll(const ServerSecurity& security = {}, int max_event_clients = 64) {
    CoordinatorOptions o;
    o.listen = "127.0.0.1:0";
    o.db_path = P("sweeps.db");
    o.security = security;
    server_ = std::make_unique<CoordinatorServer>();
    Status s = server_->Start(o);
    ASSERT_TRUE(s.ok()) << s.ToString();
    dash_ = std::make_unique<Dashboard>(server_->scheduler());
    DashboardOptions d = dash_options_;
    d.listen = "127.0.0.1:0";
    d.security = security;
    d.max_event_clients = max_event_clients;
    s = dash_->Start(d);
    ASSERT_TRUE(s.ok()) << s.ToString();
    ASSERT_GT(dash_->port(), 0);
  }

  Scheduler* sched() { return server_->scheduler(); }

  int64_t Submit() {
    auto spec = ParseSweep(kSweep, "dash.yaml");
    EXPECT_TRUE(spec.ok()) << spec.status().ToString();
    auto trials = ExpandSweep(*spec, "dash.yaml");
    EXPECT_TRUE(trials.ok()) << trials.status().ToString();
    auto id = sched()->Submit(*spec, *trials, kSweep, "dash.yaml");
    EXPECT_TRUE(id.ok()) << id.status().ToString();
    return id.ok() ? *id : 0;
  }

  // Leases the next trial for a worker and reports `epochs` epochs with these metrics.
  std::string LeaseAndReport(int64_t worker, int epochs, double acc, double loss) {
    auto grant = sched()->Lease(worker);
    EXPECT_TRUE(grant.ok() && grant->has_value());
    if (!grant.ok() || !grant->has_value()) return "";
    const std::string lease = (*grant)->lease_id;
    for (int e = 1; e <= epochs; ++e) {
      double deadline = 0;
      EpochReport r{e, loss + 0.1, acc - 0.01, loss, acc, 0.5, {}};
      auto action = sched()->Report(lease, r, &deadline);
      EXPECT_TRUE(action.ok()) << action.status().ToString();
    }
    return lease;
  }

  httplib::Client Client() {
    httplib::Client c("127.0.0.1", dash_->port());
    c.set_read_timeout(10, 0);
    return c;
  }

  // With a cap of `cap` connections: 20 slow clients leave room for a request; `cap` event
  // streams leave none, and the next connection is told so (`refusal`) and closed.
  void CapPushesOutSlowOnesOrRefuses(int cap, const std::string& refusal) {
    const int64_t id = Submit();
    {
      SlowClients slow(dash_->port(), 20, std::chrono::milliseconds(500));
      ASSERT_EQ(slow.opened(), 20u);
      // The server may still be admitting the slow clients' backlog when this request connects,
      // and one admitted after it pushes it out (the oldest idle connection goes first: a clean-
      // clone run failed so, "Read"). Once they are all in, a request gets through.
      int status = 0;
      std::string error;
      for (int attempt = 0; attempt < 5 && status == 0; ++attempt) {
        auto c = Client();
        auto r = c.Get("/api/sweeps");
        if (r) {
          status = r->status;
        } else {
          error = httplib::to_string(r.error());
        }
      }
      EXPECT_EQ(status, 200) << error;
    }
    std::vector<httplib::Client> clients;
    for (int i = 0; i < cap; ++i) clients.push_back(Client());
    std::vector<std::unique_ptr<EventReader>> streams;
    const std::string path = "/api/sweeps/" + std::to_string(id) + "/events";
    for (auto& c : clients) {
      streams.push_back(std::make_unique<EventReader>(&c, path));
      ASSERT_TRUE(streams.back()->WaitFor([](const std::string& t) {
        return t.find("event: snapshot") != std::string::npos;
      })) << streams.back()->text();
    }
    // The next one sends nothing: the refusal comes first, then the end.
    const int s = ConnectTo(dash_->port());
    ASSERT_GE(s, 0);
    std::string answer;
    char buf[1024];
    for (;;) {
      pollfd p{s, POLLIN, 0};
      if (poll(&p, 1, 10000) <= 0) break;
      const ssize_t n = recv(s, buf, sizeof(buf), 0);
      if (n <= 0) break;
      answer.append(buf, static_cast<size_t>(n));
    }
    close(s);
    EXPECT_EQ(answer.rfind("HTTP/1.1 503", 0), 0u) << answer;
    EXPECT_NE(answer.find(refusal), std::string::npos) << answer;
    dash_->Stop();
  }

  DashboardOptions dash_options_;  // StartAll's, but for the address, security and stream cap
  std::string dir_;
  std::unique_ptr<CoordinatorServer> server_;
  std::unique_ptr<Dashboard> dash_;
};

// The data of every event named `name` in a stream's text, parsed.
std::vector<json> EventsNamed(const std::string& text, const std::string& name) {
  std::vector<json> out;
  const std::string head = "event: " + name + "\ndata: ";
  size_t pos = 0;
  while ((pos = text.find(head, pos)) != std::string::npos) {
    const size_t start = pos + head.size();
    const size_t end = text.find("\n\n", start);
    if (end == std::string::npos) break;
    out.push_back(json::parse(text.substr(start, end - start), nullptr, false));
    pos = end;
  }
  return out;
}

TEST_F(DashboardTest, ServesThePageAndTheJsonEndpoints) {
  StartAll();
  const int64_t id = Submit();
  auto c = Client();
  auto page = c.Get("/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_NE(page->body.find("<script src=\"/app.js\""), std::string::npos);
  EXPECT_NE(page->get_header_value("Content-Security-Policy").find("script-src 'self'"),
            std::string::npos);
  EXPECT_EQ(page->get_header_value("X-Content-Type-Options"), "nosniff");
  for (const char* asset : {"/app.js", "/app.css"}) {
    auto r = c.Get(asset);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << asset;
    EXPECT_GT(r->body.size(), 500u) << asset;
  }

  auto sweeps = c.Get("/api/sweeps");
  ASSERT_TRUE(sweeps);
  ASSERT_EQ(sweeps->status, 200);
  json j = json::parse(sweeps->body);
  ASSERT_EQ(j["sweeps"].size(), 1u);
  EXPECT_EQ(j["sweeps"][0]["id"], id);
  EXPECT_EQ(j["sweeps"][0]["total"], 3);
  EXPECT_EQ(j["sweeps"][0]["queued"], 3);
  EXPECT_EQ(j["sweeps"][0]["metric"], "val_loss");
  EXPECT_EQ(j["sweeps"][0]["goal"], "minimize");
  EXPECT_TRUE(j["sweeps"][0]["best"].is_null());
  EXPECT_EQ(j["workers_alive"], 0);

  // Trial 1 has the best accuracy but the worst loss; trial 2 the lowest loss.
  std::vector<std::string> leases;
  for (int i = 1; i <= 3; ++i) {  // a worker each: a worker holds one lease at a time
    auto w = sched()->RegisterWorker("w" + std::to_string(i), 1);
    ASSERT_TRUE(w.ok());
    const double r[3][2] = {{0.95, 0.9}, {0.80, 0.2}, {0.90, 0.5}};
    leases.push_back(LeaseAndReport(*w, 2, r[i - 1][0], r[i - 1][1]));
  }
  auto lb = c.Get("/api/sweeps/" + std::to_string(id) + "/leaderboard?top=3");
  ASSERT_TRUE(lb);
  ASSERT_EQ(lb->status, 200) << lb->body;
  j = json::parse(lb->body);
  EXPECT_EQ(j["sweep"]["ranked_by"], Objective("val_loss", false).DisplayName());
  ASSERT_EQ(j["rows"].size(), 3u);
  EXPECT_EQ(j["rows"][0]["number"], 2);
  EXPECT_EQ(j["rows"][1]["number"], 3);
  EXPECT_EQ(j["rows"][2]["number"], 1);
  EXPECT_DOUBLE_EQ(j["rows"][0]["metric_value"].get<double>(), 0.2);
  EXPECT_EQ(j["rows"][0]["params"]["units"], 16);  // typed, as the CLI's JSON
  EXPECT_TRUE(j["rows"][0]["weights_epoch"].is_null()) << "running: no test pass yet";

  // Completed, a trial says which epoch its test accuracy and model come from (keep: best).
  Completion done;
  for (int e = 1; e <= 3; ++e) done.history.push_back({e, 0.3, 0.79, 0.2 + e / 100.0, 0.80, 0.5, {}});
  done.test_accuracy = 0.78;
  done.test_loss = 0.25;
  done.weights_epoch = 1;
  const Status completed = sched()->Complete(leases[1], done);
  ASSERT_TRUE(completed.ok()) << completed.ToString();
  lb = c.Get("/api/sweeps/" + std::to_string(id) + "/leaderboard?top=3");
  ASSERT_TRUE(lb);
  j = json::parse(lb->body);
  ASSERT_EQ(j["rows"][0]["number"], 2) << lb->body;
  EXPECT_EQ(j["rows"][0]["weights_epoch"], 1) << lb->body;

  auto ex = c.Get("/api/sweeps/" + std::to_string(id) + "/export");
  ASSERT_TRUE(ex);
  ASSERT_EQ(ex->status, 200);
  j = json::parse(ex->body);
  ASSERT_EQ(j["trials"].size(), 3u);
  EXPECT_EQ(j["trials"][0]["epochs"].size(), 2u);

  auto who = c.Get("/api/whoami");
  ASSERT_TRUE(who);
  EXPECT_EQ(json::parse(who->body)["can_cancel"], true);  // loopback, no tokens: as over gRPC
  auto sw = c.Get("/api/sweeps");
  EXPECT_EQ(json::parse(sw->body)["workers_alive"], 3);
}

TEST_F(DashboardTest, RefusesBadInputWithoutFalling) {
  StartAll();
  const int64_t id = Submit();
  auto c = Client();
  const std::string base = "/api/sweeps/" + std::to_string(id);
  const std::pair<std::string, int> cases[] = {
      {"/api/sweeps/abc/leaderboard", 400},
      {"/api/sweeps/0/export", 400},
      {"/api/sweeps/-1/export", 400},
      {"/api/sweeps/1e3/export", 400},
      {"/api/sweeps/99999999999999999999/export", 400},
      {"/api/sweeps/999/leaderboard", 404},
      {"/api/sweeps/999/events", 404},
      {base + "/nothing", 404},
      {base, 404},
      {base + "/leaderboard?top=0", 400},
      {base + "/leaderboard?top=1001", 400},
      {base + "/leaderboard?top=-5", 400},
      {base + "/leaderboard?top=abc", 400},
      {base + "/leaderboard?top=99999999999999999999999", 400},
      {"/etc/passwd", 404},
      {"/../../etc/passwd", 404},
      {"/api/nothing", 404},
  };
  for (const auto& [path, want] : cases) {
    auto r = c.Get(path);
    ASSERT_TRUE(r) << path;
    EXPECT_EQ(r->status, want) << path << ": " << r->body;
    EXPECT_NE(r->body.find("\"error\""), std::string::npos) << path;
  }
  // A huge path, a huge header and a long Range header (httplib parses Range with std::regex):
  // refused, and the server still answers afterwards.
  auto huge = c.Get("/" + std::string(100000, 'a'));
  if (huge) {
    EXPECT_GE(huge->status, 400);
  }
  auto long_path = c.Get("/api/sweeps/" + std::string(7000, '1') + "/export");
  ASSERT_TRUE(long_path);
  EXPECT_EQ(long_path->status, 400);
  std::string ranges = "bytes=0-1";
  while (ranges.size() < 8000) ranges += ",0-1";
  auto ranged = c.Get("/", {{"Range", ranges}});
  if (ranged) {
    EXPECT_NE(ranged->status, 500);
  }
  auto big = c.Post(base + "/cancel", kCsrf, std::string(1 << 20, 'x'), "text/plain");
  if (big) {
    EXPECT_EQ(big->status, 413);
  }
  EXPECT_EQ(sched()->Counts(id)[0].sweep.state, SweepState::kRunning);  // nothing changed
  // Wrong methods.
  auto post_list = c.Post("/api/sweeps", kCsrf, "", "text/plain");
  ASSERT_TRUE(post_list);
  EXPECT_EQ(post_list->status, 405);
  auto get_cancel = c.Get(base + "/cancel");
  ASSERT_TRUE(get_cancel);
  EXPECT_EQ(get_cancel->status, 405);
  // DNS rebinding: another site's name in Host.
  auto rebind = c.Get("/api/sweeps", {{"Host", "evil.example:80"}});
  ASSERT_TRUE(rebind);
  EXPECT_EQ(rebind->status, 403);
  auto ok = c.Get("/api/sweeps");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
}

TEST_F(DashboardTest, CancelNeedsPostAndTheCsrfHeader) {
  StartAll();
  const int64_t id = Submit();
  auto c = Client();
  const std::string path = "/api/sweeps/" + std::to_string(id) + "/cancel";
  auto no_header = c.Post(path, "", "text/plain");
  ASSERT_TRUE(no_header);
  EXPECT_EQ(no_header->status, 403);
  auto cross =
      c.Post(path, {{"X-Hpsweep-Csrf", "1"}, {"Origin", "http://evil.example"}}, "", "text/plain");
  ASSERT_TRUE(cross);
  EXPECT_EQ(cross->status, 403);
  EXPECT_EQ(sched()->Counts(id)[0].sweep.state, SweepState::kRunning);
  auto ok = c.Post(path, kCsrf, "", "text/plain");
  ASSERT_TRUE(ok);
  ASSERT_EQ(ok->status, 200) << ok->body;
  // Nothing was leased, so no trial exists (they are proposed at lease time); the 3 the sweep
  // will never propose are what the cancel stopped.
  EXPECT_EQ(json::parse(ok->body)["stopped"], 3);
  EXPECT_EQ(sched()->Counts(id)[0].sweep.state, SweepState::kCancelled);
  EXPECT_EQ(sched()->Counts(id)[0].queued + sched()->Counts(id)[0].unproposed, 0);
}

TEST_F(DashboardTest, EventStreamCarriesEpochsAsTheyArrive) {
  StartAll();
  const int64_t id = Submit();
  auto c = Client();
  EventReader events(&c, "/api/sweeps/" + std::to_string(id) + "/events");
  ASSERT_TRUE(events.WaitFor([](const std::string& t) {
    return t.find("event: snapshot") != std::string::npos;
  })) << events.text();
  EXPECT_EQ(events.status(), 200);
  auto snaps = EventsNamed(events.text(), "snapshot");
  ASSERT_EQ(snaps.size(), 1u);
  EXPECT_EQ(snaps[0]["trials"].size(), 0u);  // (trials are stored as they are leased)
  EXPECT_FALSE(EventsNamed(events.text(), "status").empty());

  auto w = sched()->RegisterWorker("w1", 1);
  ASSERT_TRUE(w.ok());
  LeaseAndReport(*w, 1, 0.9, 0.3);
  ASSERT_TRUE(events.WaitFor([](const std::string& t) {
    for (const json& e : EventsNamed(t, "trial")) {
      if (e["number"] == 1 && e["epochs"].size() == 1) return true;
    }
    return false;
  })) << events.text();
  // A second epoch of the same trial: the curve grows.
  auto grant = sched()->Counts(id);
  ASSERT_EQ(grant[0].running, 1);
  ASSERT_TRUE(
      events.WaitFor([](const std::string& t) { return !EventsNamed(t, "leaderboard").empty(); }));
  const json trial = EventsNamed(events.text(), "trial").back();
  EXPECT_EQ(trial["status"], "running");
  EXPECT_DOUBLE_EQ(trial["epochs"][0]["val_accuracy"].get<double>(), 0.9);
  EXPECT_FALSE(trial.contains("confusion_matrix"));
  ASSERT_TRUE(events.WaitFor([](const std::string& t) {
    for (const json& e : EventsNamed(t, "status")) {
      if (e["sweeps"][0]["running"] == 1) return true;
    }
    return false;
  })) << events.text();
  dash_->Stop();  // ends the stream now (else the reader waits for the next ping)
}

// The workers table's data: who is alive, where, training what, with what record; on the page's
// event stream too, as it changes.
TEST_F(DashboardTest, WorkersShowWhoTrainsWhat) {
  StartAll();
  const int64_t id = Submit();
  auto c = Client();
  auto empty = c.Get("/api/workers");
  ASSERT_TRUE(empty);
  ASSERT_EQ(empty->status, 200) << empty->body;
  json j = json::parse(empty->body);
  EXPECT_TRUE(j["workers"].is_array());
  EXPECT_EQ(j["workers"].size(), 0u);
  EXPECT_EQ(j["alive"], 0);

  auto ec = Client();
  EventReader events(&ec, "/api/sweeps/" + std::to_string(id) + "/events");
  ASSERT_TRUE(events.WaitFor([](const std::string& t) {
    for (const json& e : EventsNamed(t, "workers")) {
      if (e["workers"].empty()) return true;
    }
    return false;
  })) << events.text();

  auto w = sched()->RegisterWorker("w1", 2, "node7", "job-9");
  ASSERT_TRUE(w.ok());
  auto idle = sched()->RegisterWorker("w2", 1);  // says no host
  ASSERT_TRUE(idle.ok());
  const std::string lease = LeaseAndReport(*w, 1, 0.9, 0.3);
  ASSERT_FALSE(lease.empty());
  auto r = c.Get("/api/workers");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  j = json::parse(r->body);
  EXPECT_EQ(j["alive"], 2);
  EXPECT_EQ(j["gone"], 0);
  ASSERT_EQ(j["workers"].size(), 2u);
  const json w1 = j["workers"][0];
  EXPECT_EQ(w1["id"], *w);
  EXPECT_EQ(w1["name"], "w1");
  EXPECT_EQ(w1["host"], "node7");
  EXPECT_EQ(w1["threads"], 2);
  EXPECT_EQ(w1["job_id"], "job-9");
  EXPECT_EQ(w1["precision"], "fp32");  // registered without bf16
  EXPECT_EQ(w1["state"], "training");  // the read model's word (coordinator/views.h)
  ASSERT_TRUE(w1["trial"].is_object()) << w1.dump();
  EXPECT_EQ(w1["trial"]["label"], "sweep " + std::to_string(id) + " #1");
  EXPECT_EQ(w1["trial"]["sweep"], id);
  EXPECT_EQ(w1["trial"]["number"], 1);
  EXPECT_EQ(w1["trial"]["epoch"], 2);  // epoch 1 reported: training the second
  EXPECT_EQ(w1["trials_done"], 0);
  EXPECT_EQ(w1["trials_failed"], 0);
  EXPECT_TRUE(w1["quarantine"].is_null());  // (why, when it is quarantined)
  ASSERT_TRUE(w1["seconds_since_seen"].is_number());
  EXPECT_GE(w1["seconds_since_seen"].get<double>(), 0);
  EXPECT_TRUE(w1["last_seen"].is_number());
  const json w2 = j["workers"][1];
  EXPECT_EQ(w2["name"], "w2");
  EXPECT_TRUE(w2["host"].is_null());
  EXPECT_EQ(w2["state"], "idle");
  EXPECT_TRUE(w2["trial"].is_null());

  // The stream carries the change without being asked.
  const std::string label = "sweep " + std::to_string(id) + " #1";
  ASSERT_TRUE(events.WaitFor([&](const std::string& t) {
    for (const json& e : EventsNamed(t, "workers")) {
      if (e["workers"].size() == 2 && e["workers"][0]["trial"].is_object() &&
          e["workers"][0]["trial"]["label"] == label) {
        return true;
      }
    }
    return false;
  })) << events.text();

  // The attempt fails on w1: its record says so, and it holds no trial any more.
  ASSERT_TRUE(sched()->Fail(lease, "out of memory", /*released=*/false).ok());
  r = c.Get("/api/workers");
  ASSERT_TRUE(r);
  j = json::parse(r->body);
  ASSERT_EQ(j["workers"].size(), 2u);
  EXPECT_EQ(j["workers"][0]["trials_failed"], 1);
  EXPECT_TRUE(j["workers"][0]["trial"].is_null());
  EXPECT_EQ(j["workers"][0]["state"], "idle");
  ASSERT_TRUE(events.WaitFor([](const std::string& t) {
    for (const json& e : EventsNamed(t, "workers")) {
      if (e["workers"].size() == 2 && e["workers"][0]["trials_failed"] == 1) return true;
    }
    return false;
  })) << events.text();

  auto post = c.Post("/api/workers", kCsrf, "", "text/plain");
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 405);
  dash_->Stop();
}

// early_terminate prunes a trial: the leaderboard (ranked by the minimised val_loss) says where
// it was pruned, the counts keep pruned apart from stopped (a cancel), and the event stream's
// trial ends with its epochs so far.
TEST_F(DashboardTest, PrunedTrialsAreMarkedApartFromStopped) {
  StartAll();
  const char yaml[] = R"(name: dash-prune
method: grid
metric: {name: val_loss, goal: minimize}
early_terminate: {type: hyperband, min_iter: 1, eta: 3}
fixed: {cell: dense, epochs: 9}
parameters:
  units: {values: [8, 16, 32]}
)";
  auto spec = ParseSweep(yaml, "prune.yaml");
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  auto trials = ExpandSweep(*spec, "prune.yaml");
  ASSERT_TRUE(trials.ok()) << trials.status().ToString();
  auto sid = sched()->Submit(*spec, *trials, yaml, "prune.yaml");
  ASSERT_TRUE(sid.ok()) << sid.status().ToString();
  const int64_t id = *sid;
  std::vector<std::string> lease;
  for (int i = 0; i < 3; ++i) {  // a worker each: a worker holds one lease at a time
    auto w = sched()->RegisterWorker("w" + std::to_string(i + 1), 1);
    ASSERT_TRUE(w.ok());
    auto g = sched()->Lease(*w);
    ASSERT_TRUE(g.ok() && g->has_value());
    lease.push_back((*g)->lease_id);
  }
  auto epoch = [](int e, double loss, double acc) {
    return EpochReport{e, loss, acc, loss, acc, 1, {}};
  };
  // Rung 1 (eta 3): #1 0.30 and #2 0.20 go on; #3 has the best accuracy and the worst loss, and
  // the sweep minimises val_loss: pruned.
  const double losses[] = {0.30, 0.20, 0.50}, accs[] = {0.9, 0.8, 0.99};
  for (int i = 0; i < 3; ++i) {
    double deadline = 0;
    auto a = sched()->Report(lease[i], epoch(1, losses[i], accs[i]), &deadline);
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    EXPECT_EQ(*a, i == 2 ? ReportAction::kPrune : ReportAction::kContinue) << i;
  }
  Completion stopped;
  stopped.history = {epoch(1, 0.50, 0.99)};
  stopped.stopped = true;
  stopped.seconds = 1;
  ASSERT_TRUE(sched()->Complete(lease[2], stopped).ok());
  // #1 goes on to epoch 2, then the sweep is cancelled and #1 stops there.
  double deadline = 0;
  ASSERT_TRUE(sched()->Report(lease[0], epoch(2, 0.28, 0.91), &deadline).ok());
  ASSERT_TRUE(sched()->Cancel(id).ok());
  stopped.history = {epoch(1, 0.30, 0.9), epoch(2, 0.28, 0.91)};
  ASSERT_TRUE(sched()->Complete(lease[0], stopped).ok());

  auto c = Client();
  auto lb = c.Get("/api/sweeps/" + std::to_string(id) + "/leaderboard");
  ASSERT_TRUE(lb);
  ASSERT_EQ(lb->status, 200) << lb->body;
  json j = json::parse(lb->body);
  EXPECT_EQ(j["sweep"]["metric"], "val_loss");
  EXPECT_EQ(j["sweep"]["goal"], "minimize");
  ASSERT_EQ(j["rows"].size(), 3u);
  // Lowest loss first: #2 (0.20, running), #1 (0.28, stopped), #3 (0.50, pruned).
  EXPECT_EQ(j["rows"][0]["number"], 2);
  EXPECT_EQ(j["rows"][0]["status"], "running");
  EXPECT_TRUE(j["rows"][0]["pruned_at_epoch"].is_null());
  EXPECT_EQ(j["rows"][1]["number"], 1);
  EXPECT_EQ(j["rows"][1]["status"], "stopped");
  EXPECT_DOUBLE_EQ(j["rows"][1]["metric_value"].get<double>(), 0.28);
  EXPECT_TRUE(j["rows"][1]["pruned_at_epoch"].is_null());
  EXPECT_EQ(j["rows"][2]["number"], 3);
  EXPECT_EQ(j["rows"][2]["status"], "pruned");
  EXPECT_EQ(j["rows"][2]["pruned_at_epoch"], 1);
  EXPECT_EQ(j["rows"][2]["epochs"], 1);
  // None ran the test pass (running, stopped, pruned): null, not -1 as if it were a value.
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(j["rows"][i]["test_accuracy"].is_null()) << j["rows"][i];

  auto sw = c.Get("/api/sweeps");
  ASSERT_TRUE(sw);
  j = json::parse(sw->body);
  ASSERT_EQ(j["sweeps"].size(), 1u);
  EXPECT_EQ(j["sweeps"][0]["pruned"], 1);
  EXPECT_EQ(j["sweeps"][0]["stopped"], 1);
  EXPECT_EQ(j["sweeps"][0]["early_terminate"], "hyperband (min_iter 1, eta 3, s 1)");
  EXPECT_EQ(j["sweeps"][0]["ranked_by"], Objective("val_loss", false).DisplayName());
  EXPECT_DOUBLE_EQ(j["sweeps"][0]["best"].get<double>(), 0.20);

  // The page's stream: the pruned trial's curve ends after its one epoch.
  auto ec = Client();  // (a client that holds a stream serves nothing else meanwhile)
  EventReader events(&ec, "/api/sweeps/" + std::to_string(id) + "/events");
  ASSERT_TRUE(events.WaitFor([](const std::string& t) {
    return !EventsNamed(t, "leaderboard").empty();
  })) << events.text();
  // The snapshot names the sweep; its trials follow it as "trial" events, in number order.
  const auto snaps = EventsNamed(events.text(), "snapshot");
  ASSERT_EQ(snaps.size(), 1u);
  EXPECT_EQ(snaps[0]["sweep"]["id"], id);
  const auto sent = EventsNamed(events.text(), "trial");
  ASSERT_EQ(sent.size(), 3u);
  EXPECT_EQ(sent[2]["number"], 3);
  EXPECT_EQ(sent[2]["status"], "pruned");
  EXPECT_EQ(sent[2]["epochs"].size(), 1u);
  EXPECT_EQ(sent[0]["status"], "stopped");
  EXPECT_EQ(sent[0]["epochs"].size(), 2u);
  EXPECT_EQ(EventsNamed(events.text(), "leaderboard")[0]["rows"][2]["pruned_at_epoch"], 1);
  // The page says so in words (its script is what the browser runs).
  auto js = c.Get("/app.js");
  ASSERT_TRUE(js);
  EXPECT_NE(js->body.find("'pruned at epoch '"), std::string::npos);
  dash_->Stop();
}

// A sweep of 20 trials x 3000 epochs (an export of some 15 MB): /export comes chunked, page by
// page, and whole (the scheduler's export, byte for byte); an event stream's first data comes,
// then every trial, each one's curve thinned to kMaxEventEpochs with its first, last and best
// epochs, so that no one event grows with the trial.
TEST_F(DashboardTest, BigSweepExportIsChunkedAndEventsAreBounded) {
  constexpr int kTrials = 20, kEpochs = 3000;
  int64_t id = 0;
  {
    auto storage = OpenSqliteStorage(P("sweeps.db"));
    ASSERT_TRUE(storage.ok()) << storage.status().ToString();
    auto sweep = WriteBigSweep(storage->get(), kTrials, kEpochs);
    ASSERT_TRUE(sweep.ok()) << sweep.status().ToString();
    id = *sweep;
  }
  StartAll();
  auto expected = sched()->ExportJson(id);
  ASSERT_TRUE(expected.ok()) << expected.status().ToString();
  ASSERT_GT(expected->size(), kDefaultExportPageBytes);  // (more than one page)

  auto c = Client();
  auto ex = c.Get("/api/sweeps/" + std::to_string(id) + "/export");
  ASSERT_TRUE(ex) << httplib::to_string(ex.error());
  EXPECT_EQ(ex->status, 200);
  EXPECT_EQ(ex->get_header_value("Transfer-Encoding"), "chunked");
  EXPECT_FALSE(ex->has_header("Content-Length"));
  EXPECT_EQ(ex->get_header_value("Content-Type"), "application/json");
  EXPECT_TRUE(ex->body == *expected) << ex->body.size() << " bytes, expected " << expected->size();

  auto ec = Client();
  EventReader events(&ec, "/api/sweeps/" + std::to_string(id) + "/events");
  ASSERT_TRUE(events.WaitFor([](const std::string& t) {
    return t.find("event: snapshot") != std::string::npos;
  })) << events.text().substr(0, 2000);
  ASSERT_TRUE(events.WaitFor([&](const std::string& t) {
    // (counted, not parsed: this runs every few milliseconds on megabytes)
    const size_t board = t.find("event: leaderboard\ndata: ");
    return board != std::string::npos && t.find("\n\n", board) != std::string::npos;
  })) << events.text().size();
  const std::string text = events.text();
  const auto snaps = EventsNamed(text, "snapshot");
  ASSERT_EQ(snaps.size(), 1u);
  EXPECT_EQ(snaps[0]["sweep"]["trials"], kTrials);
  const auto trials = EventsNamed(text, "trial");
  ASSERT_EQ(trials.size(), static_cast<size_t>(kTrials));
  for (int i = 0; i < kTrials; ++i) {
    const json& t = trials[i];
    EXPECT_EQ(t["number"], i + 1);
    ASSERT_TRUE(t["epochs"].is_array());
    EXPECT_LE(t["epochs"].size(), kMaxEventEpochs);
    EXPECT_GE(t["epochs"].size(), kMaxEventEpochs - 2);
    EXPECT_EQ(t["epochs_shown"], t["epochs"].size());
    EXPECT_EQ(t["epochs_run"], kEpochs);
    EXPECT_EQ(t["epochs"].front()["epoch"], 1);
    EXPECT_EQ(t["epochs"].back()["epoch"], kEpochs);
    bool best = false;
    int last = 0;
    for (const json& e : t["epochs"]) {
      best = best || e["epoch"] == t["best_epoch"];
      EXPECT_GT(e["epoch"].get<int>(), last);
      last = e["epoch"].get<int>();
    }
    EXPECT_TRUE(best) << "trial " << i + 1 << " lost its best epoch";
    EXPECT_LT(t.dump().size(), size_t{512} << 10);  // one event: far from the trial's 1.2 MB
  }
  // Each trial once, and before the leaderboard that follows them.
  EXPECT_LT(text.rfind("event: trial"), text.find("event: leaderboard"));
  dash_->Stop();
}

TEST_F(DashboardTest, EventStreamsAreCapped) {
  StartAll({}, /*max_event_clients=*/2);
  const int64_t id = Submit();
  const std::string path = "/api/sweeps/" + std::to_string(id) + "/events";
  auto c1 = Client(), c2 = Client(), c3 = Client();
  auto has_snapshot = [](const std::string& t) {
    return t.find("event: snapshot") != std::string::npos;
  };
  EventReader a(&c1, path), b(&c2, path);
  ASSERT_TRUE(a.WaitFor(has_snapshot));
  ASSERT_TRUE(b.WaitFor(has_snapshot));
  auto third = c3.Get(path);
  ASSERT_TRUE(third);
  EXPECT_EQ(third->status, 503);
  EXPECT_NE(third->body.find("the limit is 2"), std::string::npos) << third->body;
  // Other requests are still served.
  auto ok = c3.Get("/api/sweeps");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  dash_->Stop();
}

// Slowloris: 200 connections that never finish their headers (a byte each every half second,
// well within any per-read timeout) must not keep a legitimate request from being answered.
TEST_F(DashboardTest, SlowClientsDoNotStarveOthers) {
  StartAll();
  Submit();
  SlowClients slow(dash_->port(), 200, std::chrono::milliseconds(500));
  ASSERT_EQ(slow.opened(), 200u);
  std::this_thread::sleep_for(std::chrono::seconds(1));  // every one accepted and waited on
  for (int i = 0; i < 3; ++i) {
    httplib::Client c("127.0.0.1", dash_->port());
    c.set_connection_timeout(5, 0);
    c.set_read_timeout(5, 0);  // "promptly": generous for a loaded machine
    auto r = c.Get("/api/sweeps");
    ASSERT_TRUE(r) << "request " << i << ": " << httplib::to_string(r.error());
    EXPECT_EQ(r->status, 200);
  }
}

// A request whose headers trickle in forever is cut off (kHttpRequestSeconds), however often
// its bytes come.
TEST_F(DashboardTest, ATrickledRequestIsCutOff) {
  StartAll();
  EXPECT_TRUE(TrickleIsCutOff(dash_->port(), "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "))
      << "a request trickling in for 30 s was still being read";
}

// Beyond a cap of 6 connections (in all, or from 127.0.0.1) a new connection pushes out the
// oldest one that is idle or half-sent; when every one is busy answering, it is refused at once.
TEST_F(DashboardTest, ConnectionsBeyondTheCapPushOutSlowOnesOrAreRefused) {
  dash_options_.max_connections = 6;
  StartAll();
  CapPushesOutSlowOnesOrRefuses(6, "the limit is 6");
}

TEST_F(DashboardTest, ConnectionsBeyondThePerAddressCapPushOutSlowOnesOrAreRefused) {
  dash_options_.max_connections_per_peer = 6;
  StartAll();
  CapPushesOutSlowOnesOrRefuses(6, "the limit per address is 6");
}

TEST_F(DashboardTest, RefusesAnOpenNetworkAddress) {
  CoordinatorOptions o;
  o.listen = "127.0.0.1:0";
  o.db_path = P("sweeps.db");
  server_ = std::make_unique<CoordinatorServer>();
  ASSERT_TRUE(server_->Start(o).ok());
  Dashboard d(server_->scheduler());
  DashboardOptions opts;
  opts.listen = "0.0.0.0:0";
  Status s = d.Start(opts);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("without TLS and tokens"), std::string::npos) << s.message();
  opts.listen = "nonsense";
  EXPECT_EQ(d.Start(opts).code(), StatusCode::kInvalidArgument);
  opts.listen = "127.0.0.1:0";
  opts.security.auth_tokens = P("tokens.txt");  // tokens without TLS
  EXPECT_EQ(d.Start(opts).code(), StatusCode::kInvalidArgument);
}

// TLS and tokens, as on a network: certificates from MakeCertificates, tokens of every role.
class SecureDashboardTest : public DashboardTest {
 protected:
  void SetUp() override {
    DashboardTest::SetUp();
    const std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    if (name == "SessionsExpireAndAreBounded") dash_options_.max_sessions = 1;
    if (name == "OneTokensLoginsDoNotEvictAnothersSessions") dash_options_.max_sessions = 8;
    Status s = MakeCertificates(P("certs"), {"localhost"});
    ASSERT_TRUE(s.ok()) << s.ToString();
    for (Role role : {Role::kReader, Role::kUser, Role::kWorker}) {
      auto t = CreateToken(P("tokens.txt"), role, RoleName(role));
      ASSERT_TRUE(t.ok()) << t.status().ToString();
      token_[RoleName(role)] = *t;
    }
    ServerSecurity sec;
    sec.tls_cert = P("certs/server.crt");
    sec.tls_key = P("certs/server.key");
    sec.auth_tokens = P("tokens.txt");
    StartAll(sec);
    id_ = Submit();
  }

  std::unique_ptr<httplib::SSLClient> Tls() {
    auto c = std::make_unique<httplib::SSLClient>("127.0.0.1", dash_->port());
    c->set_ca_cert_path(P("certs/ca.crt"));
    c->enable_server_certificate_verification(true);
    c->set_read_timeout(10, 0);
    return c;
  }
  httplib::Headers Bearer(const std::string& role, bool csrf = false) {
    httplib::Headers h = {{"Authorization", "Bearer " + token_[role]}};
    if (csrf) h.emplace("X-Hpsweep-Csrf", "1");
    return h;
  }
  std::string CancelPath() { return "/api/sweeps/" + std::to_string(id_) + "/cancel"; }

  std::map<std::string, std::string> token_;
  int64_t id_ = 0;
};

TEST_F(SecureDashboardTest, TokensDecideWhoMayViewAndCancel) {
  auto c = Tls();
  auto page = c->Get("/");
  ASSERT_TRUE(page) << httplib::to_string(page.error());
  EXPECT_EQ(page->status, 200);  // the page itself holds nothing; it asks to log in
  EXPECT_EQ(page->get_header_value("Strict-Transport-Security").empty(), false);

  auto none = c->Get("/api/sweeps");
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 401);
  auto wrong = c->Get("/api/sweeps", {{"Authorization", "Bearer hps_" + std::string(64, '0')}});
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 401);
  auto not_bearer = c->Get("/api/sweeps", {{"Authorization", "Basic abc"}});
  ASSERT_TRUE(not_bearer);
  EXPECT_EQ(not_bearer->status, 401);
  auto worker = c->Get("/api/sweeps", Bearer("worker"));
  ASSERT_TRUE(worker);
  EXPECT_EQ(worker->status, 403);
  auto reader = c->Get("/api/sweeps", Bearer("reader"));
  ASSERT_TRUE(reader);
  EXPECT_EQ(reader->status, 200);
  auto events = c->Get("/api/sweeps/" + std::to_string(id_) + "/events");
  ASSERT_TRUE(events);
  EXPECT_EQ(events->status, 401);  // streams too

  auto c_none = c->Post(CancelPath(), kCsrf, "", "text/plain");
  ASSERT_TRUE(c_none);
  EXPECT_EQ(c_none->status, 401);
  auto c_reader = c->Post(CancelPath(), Bearer("reader", true), "", "text/plain");
  ASSERT_TRUE(c_reader);
  EXPECT_EQ(c_reader->status, 403);
  EXPECT_NE(c_reader->body.find("needs user"), std::string::npos) << c_reader->body;
  auto c_worker = c->Post(CancelPath(), Bearer("worker", true), "", "text/plain");
  ASSERT_TRUE(c_worker);
  EXPECT_EQ(c_worker->status, 403);
  auto c_user_nocsrf = c->Post(CancelPath(), Bearer("user"), "", "text/plain");
  ASSERT_TRUE(c_user_nocsrf);
  EXPECT_EQ(c_user_nocsrf->status, 403);
  EXPECT_EQ(sched()->Counts(id_)[0].sweep.state, SweepState::kRunning);
  auto c_user = c->Post(CancelPath(), Bearer("user", true), "", "text/plain");
  ASSERT_TRUE(c_user);
  EXPECT_EQ(c_user->status, 200) << c_user->body;
  EXPECT_EQ(sched()->Counts(id_)[0].sweep.state, SweepState::kCancelled);
  // No answer ever contains a token.
  for (const auto* r : {&none, &wrong, &worker, &reader, &c_reader, &c_user}) {
    for (const auto& [role, token] : token_) {
      EXPECT_EQ((*r)->body.find(token), std::string::npos);
    }
  }
}

// The session id of a Set-Cookie header ("hpsweep_session=..."), or "".
std::string SessionOf(const httplib::Result& r) {
  if (!r || r->status != 200) return "";
  const std::string c = r->get_header_value("Set-Cookie");
  return c.substr(0, c.find(';'));
}

TEST_F(SecureDashboardTest, WorkersNeedAReaderTokenOrSession) {
  ASSERT_TRUE(sched()->RegisterWorker("w1", 1, "node7").ok());
  auto c = Tls();
  // The status of GET /api/workers with these headers (0: no answer).
  auto status = [&](const httplib::Headers& h) {
    auto r = c->Get("/api/workers", h);
    if (r && r->status != 200) {
      EXPECT_EQ(r->body.find("node7"), std::string::npos);  // refused: nothing shown
    }
    return r ? r->status : 0;
  };
  EXPECT_EQ(status({}), 401);
  EXPECT_EQ(status({{"Cookie", "hpsweep_session=" + std::string(64, 'a')}}), 401);  // forged
  EXPECT_EQ(status({{"Authorization", "Bearer hps_" + std::string(64, '0')}}), 401);
  EXPECT_EQ(status(Bearer("worker")), 403);
  auto reader = c->Get("/api/workers", Bearer("reader"));
  ASSERT_TRUE(reader);
  ASSERT_EQ(reader->status, 200) << reader->body;
  EXPECT_EQ(json::parse(reader->body)["workers"][0]["host"], "node7");
  const std::string session = SessionOf(
      c->Post("/login", kCsrf, "token=" + token_["reader"], "application/x-www-form-urlencoded"));
  ASSERT_FALSE(session.empty());
  EXPECT_EQ(status({{"Cookie", session}}), 200);
}

TEST_F(SecureDashboardTest, LoginSetsASessionCookieThatIsNotTheToken) {
  auto c = Tls();
  auto who = c->Get("/api/whoami");
  ASSERT_TRUE(who);
  EXPECT_EQ(json::parse(who->body)["role"], "none");

  auto no_csrf =
      c->Post("/login", "token=" + token_["reader"], "application/x-www-form-urlencoded");
  ASSERT_TRUE(no_csrf);
  EXPECT_EQ(no_csrf->status, 403);
  auto bad = c->Post("/login", kCsrf, "token=hps_nope", "application/x-www-form-urlencoded");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 401);
  auto worker =
      c->Post("/login", kCsrf, "token=" + token_["worker"], "application/x-www-form-urlencoded");
  ASSERT_TRUE(worker);
  EXPECT_EQ(worker->status, 403);
  EXPECT_TRUE(worker->get_header_value("Set-Cookie").empty());

  auto login =
      c->Post("/login", kCsrf, "token=" + token_["reader"], "application/x-www-form-urlencoded");
  ASSERT_TRUE(login);
  ASSERT_EQ(login->status, 200) << login->body;
  const std::string cookie = login->get_header_value("Set-Cookie");
  EXPECT_NE(cookie.find("HttpOnly"), std::string::npos) << cookie;
  EXPECT_NE(cookie.find("SameSite=Strict"), std::string::npos) << cookie;
  EXPECT_NE(cookie.find("Secure"), std::string::npos) << cookie;
  EXPECT_EQ(cookie.find(token_["reader"]), std::string::npos);
  EXPECT_EQ(cookie.find(token_["reader"].substr(4)), std::string::npos);
  const std::string session = cookie.substr(0, cookie.find(';'));
  httplib::Headers with_cookie = {{"Cookie", "other=1; " + session}};

  auto sweeps = c->Get("/api/sweeps", with_cookie);
  ASSERT_TRUE(sweeps);
  EXPECT_EQ(sweeps->status, 200);
  who = c->Get("/api/whoami", with_cookie);
  EXPECT_EQ(json::parse(who->body)["role"], "reader");
  EXPECT_EQ(json::parse(who->body)["can_cancel"], false);
  httplib::Headers cancel_headers = with_cookie;
  cancel_headers.emplace("X-Hpsweep-Csrf", "1");
  auto cancel = c->Post(CancelPath(), cancel_headers, "", "text/plain");
  ASSERT_TRUE(cancel);
  EXPECT_EQ(cancel->status, 403);

  // A made-up session id of the right shape is nobody.
  auto forged = c->Get("/api/sweeps", {{"Cookie", "hpsweep_session=" + std::string(64, 'a')}});
  ASSERT_TRUE(forged);
  EXPECT_EQ(forged->status, 401);

  auto logout = c->Post("/logout", cancel_headers, "", "text/plain");
  ASSERT_TRUE(logout);
  EXPECT_EQ(logout->status, 200);
  auto after = c->Get("/api/sweeps", with_cookie);
  ASSERT_TRUE(after);
  EXPECT_EQ(after->status, 401);

  // A user's session may cancel.
  auto user =
      c->Post("/login", kCsrf, "token=" + token_["user"], "application/x-www-form-urlencoded");
  ASSERT_TRUE(user);
  ASSERT_EQ(user->status, 200);
  const std::string user_cookie = user->get_header_value("Set-Cookie");
  httplib::Headers user_headers = {{"Cookie", user_cookie.substr(0, user_cookie.find(';'))},
                                   {"X-Hpsweep-Csrf", "1"}};
  auto ok = c->Post(CancelPath(), user_headers, "", "text/plain");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200) << ok->body;
}

TEST_F(SecureDashboardTest, SessionsExpireAndAreBounded) {
  // max_sessions is 1 here: a second login pushes the first session out.
  auto c = Tls();
  const std::string form = "token=" + token_["reader"];
  const std::string first =
      SessionOf(c->Post("/login", kCsrf, form, "application/x-www-form-urlencoded"));
  ASSERT_FALSE(first.empty());
  auto ok = c->Get("/api/sweeps", {{"Cookie", first}});
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  const std::string second =
      SessionOf(c->Post("/login", kCsrf, form, "application/x-www-form-urlencoded"));
  ASSERT_FALSE(second.empty());
  EXPECT_NE(first, second);  // a new random id at every login
  auto evicted = c->Get("/api/sweeps", {{"Cookie", first}});
  ASSERT_TRUE(evicted);
  EXPECT_EQ(evicted->status, 401);
  auto kept = c->Get("/api/sweeps", {{"Cookie", second}});
  ASSERT_TRUE(kept);
  EXPECT_EQ(kept->status, 200);

  // A session that lasts 0 seconds has expired by its first use.
  dash_->Stop();
  dash_ = std::make_unique<Dashboard>(sched());
  DashboardOptions d;
  d.listen = "127.0.0.1:0";
  d.security.tls_cert = P("certs/server.crt");
  d.security.tls_key = P("certs/server.key");
  d.security.auth_tokens = P("tokens.txt");
  d.session_seconds = 0;
  ASSERT_TRUE(dash_->Start(d).ok());
  auto c2 = Tls();
  const std::string gone =
      SessionOf(c2->Post("/login", kCsrf, form, "application/x-www-form-urlencoded"));
  ASSERT_FALSE(gone.empty());
  auto expired = c2->Get("/api/sweeps", {{"Cookie", gone}});
  ASSERT_TRUE(expired);
  EXPECT_EQ(expired->status, 401);
}

// A TLS handshake that trickles in is cut off as a request is: a TLS record header (a
// handshake record of 512 bytes), then its body a byte at a time.
TEST_F(SecureDashboardTest, ATrickledHandshakeIsCutOff) {
  EXPECT_TRUE(TrickleIsCutOff(dash_->port(), std::string("\x16\x03\x01\x02\x00\x01", 6)))
      << "a TLS handshake trickling in for 30 s was still being read";
}

// One token may hold only a few of the event streams (kMaxEventClientsPerToken), by bearer and
// by its sessions together; the rest stay for everyone else.
TEST_F(SecureDashboardTest, EventStreamsAreCappedPerToken) {
  const std::string path = "/api/sweeps/" + std::to_string(id_) + "/events";
  const int per_token = DashboardOptions().max_event_clients_per_token;
  ASSERT_GT(per_token, 1);
  auto login = Tls();
  const std::string session = SessionOf(login->Post("/login", kCsrf, "token=" + token_["reader"],
                                                    "application/x-www-form-urlencoded"));
  ASSERT_FALSE(session.empty());
  std::vector<std::unique_ptr<httplib::SSLClient>> clients;
  std::vector<std::unique_ptr<EventReader>> readers;
  auto has_snapshot = [](const std::string& t) {
    return t.find("event: snapshot") != std::string::npos;
  };
  for (int i = 0; i < per_token; ++i) {
    clients.push_back(Tls());
    // Half by the session cookie, half by bearer: both are the reader token.
    const httplib::Headers h = i % 2 ? httplib::Headers{{"Cookie", session}} : Bearer("reader");
    readers.push_back(std::make_unique<EventReader>(clients.back().get(), path, h));
    ASSERT_TRUE(readers.back()->WaitFor(has_snapshot)) << i << ": " << readers.back()->text();
  }
  auto c = Tls();
  EventReader refused(c.get(), path, Bearer("reader"));
  ASSERT_TRUE(refused.WaitFor([](const std::string& t) { return !t.empty(); }));
  EXPECT_EQ(refused.status(), 429) << refused.text();
  EXPECT_NE(refused.text().find("limit per token is " + std::to_string(per_token)),
            std::string::npos)
      << refused.text();
  // Another token still gets one.
  auto uc = Tls();
  EventReader user(uc.get(), path, Bearer("user"));
  EXPECT_TRUE(user.WaitFor(has_snapshot)) << user.text();
  EXPECT_EQ(user.status(), 200);
  dash_->Stop();
}

// max_sessions is 8 here: one token's many logins push out its own oldest sessions, never
// another token's.
TEST_F(SecureDashboardTest, OneTokensLoginsDoNotEvictAnothersSessions) {
  auto c = Tls();
  auto login = [&](const std::string& role) {
    return SessionOf(
        c->Post("/login", kCsrf, "token=" + token_[role], "application/x-www-form-urlencoded"));
  };
  auto status = [&](const std::string& session) {
    auto r = c->Get("/api/sweeps", {{"Cookie", session}});
    return r ? r->status : 0;
  };
  const std::string user = login("user");
  ASSERT_FALSE(user.empty());
  std::vector<std::string> reader;
  for (int i = 0; i < 20; ++i) {
    reader.push_back(login("reader"));
    ASSERT_FALSE(reader.back().empty()) << i;
  }
  EXPECT_EQ(status(user), 200) << "the user's session was evicted by the reader's logins";
  EXPECT_EQ(status(reader.back()), 200);
  EXPECT_EQ(status(reader.front()), 401);  // the reader's own oldest went
}

TEST_F(SecureDashboardTest, PlaintextIsRefused) {
  httplib::Client plain("127.0.0.1", dash_->port());
  plain.set_read_timeout(5, 0);
  auto r = plain.Get("/api/sweeps");
  EXPECT_FALSE(r && r->status == 200);
}

// The dashboard shows the read model (coordinator/views.h), not rules of its own: a worker in
// each state (idle, training, quarantined, gone) has WorkersProto's state in /api/workers and the
// "workers" event, the leaderboard has LeaderboardProto's order, ranks and values, and the
// sweeps' counts are StatusProto's. A scheduler on a clock moved by hand, so that one worker goes
// silent past its lease.
TEST(DashboardReadModelTest, WorkersLeaderboardAndCountsAreTheReadModels) {
  FakeClock clock;
  std::unique_ptr<Storage> storage = MustOpen(":memory:");
  ASSERT_NE(storage, nullptr);
  SchedulerOptions options;
  options.lease_seconds = 30;
  Scheduler sched(storage.get(), &clock, options);
  ASSERT_TRUE(sched.Load().ok());
  // A program sweep of 8 one-epoch trials, ranked by the maximised "score".
  const std::string yaml =
      "name: views\nprogram: p\nmetric: {name: score, goal: maximize}\nmax_attempts: 3\n"
      "fixed: {epochs: 1}\nparameters:\n  x: {values: [1, 2, 3, 4, 5, 6, 7, 8]}\n";
  auto prepared = PrepareSweep(yaml, "views.yaml");
  ASSERT_TRUE(prepared.ok()) << prepared.status().ToString();
  auto sweep = sched.Submit(prepared->spec, prepared->trials, yaml, "views.yaml");
  ASSERT_TRUE(sweep.ok()) << sweep.status().ToString();
  auto reg = [&](const std::string& name) {
    auto id = sched.RegisterWorker(name, 1, "", "", "", {"p"}, false, "fp1");
    EXPECT_TRUE(id.ok()) << id.status().ToString();
    return id.ok() ? *id : 0;
  };
  auto lease = [&](int64_t worker) {
    clock.Advance(1);
    auto g = sched.Lease(worker);
    EXPECT_TRUE(g.ok() && g->has_value()) << "nothing leased to worker " << worker;
    return g.ok() && g->has_value() ? (*g)->lease_id : std::string();
  };
  auto finish = [&](const std::string& lease_id, double score) {
    Completion c;
    EpochReport r;
    r.epoch = 1;
    r.train_loss = r.train_accuracy = r.val_loss = r.val_accuracy = -1;
    r.metrics = {{"score", score}};
    c.history.push_back(r);
    Status st = sched.Complete(lease_id, c);
    EXPECT_TRUE(st.ok()) << st.ToString();
  };
  auto fail = [&](const std::string& lease_id) {
    Status st = sched.Fail(lease_id, "driver: no such device", false);
    EXPECT_TRUE(st.ok()) << st.ToString();
  };

  reg("gone");
  clock.Advance(options.lease_seconds + 1);  // silent past its lease
  const int64_t good = reg("good"), bad = reg("bad");
  reg("idle");
  // bad's three failures in a row while good completes: quarantined (kDefaultQuarantineAfter).
  fail(lease(bad));
  finish(lease(good), 1);
  fail(lease(bad));
  fail(lease(bad));
  finish(lease(good), 5);
  finish(lease(good), 3);
  ASSERT_FALSE(lease(good).empty());  // held: training

  double now = 0;
  const v1::ListWorkersResponse want_workers =
      WorkersProto(sched.ListWorkers(&now), now, options.lease_seconds);
  std::set<std::string> states;
  for (const v1::WorkerInfo& w : want_workers.workers()) states.insert(w.state());
  ASSERT_EQ(states, (std::set<std::string>{"idle", "training", "quarantined", "gone"}));
  SweepRow row;
  auto board = sched.Leaderboard(*sweep, 0, &row);
  ASSERT_TRUE(board.ok()) << board.status().ToString();
  const v1::GetLeaderboardResponse want_board = LeaderboardProto(row, *board);
  ASSERT_GE(want_board.rows_size(), 3);
  const v1::GetStatusResponse want_status = StatusProto(sched.Counts(0), sched.WorkersAlive());

  Dashboard dash(&sched);
  DashboardOptions d;
  d.listen = "127.0.0.1:0";
  ASSERT_TRUE(dash.Start(d).ok());
  httplib::Client c("127.0.0.1", dash.port());
  c.set_read_timeout(10, 0);

  // Each worker's state as the read model says it, training ones with their trial.
  auto check_workers = [&](const json& j) {
    EXPECT_EQ(j["alive"], 3);
    EXPECT_EQ(j["gone"], 1);
    ASSERT_EQ(j["workers"].size(), static_cast<size_t>(want_workers.workers_size())) << j.dump();
    for (int i = 0; i < want_workers.workers_size(); ++i) {
      const v1::WorkerInfo& w = want_workers.workers(i);
      const json& got = j["workers"][i];
      EXPECT_EQ(got["id"], w.worker_id());
      EXPECT_EQ(got["state"], w.state()) << w.name();
      EXPECT_EQ(got["trial"].is_object(), w.state() == "training") << got.dump();
      EXPECT_EQ(got["quarantine"].is_string(), !w.quarantine().empty()) << got.dump();
    }
  };
  auto r = c.Get("/api/workers");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  check_workers(json::parse(r->body));

  // The leaderboard: the read model's order (score 5, 3, 1) and values.
  r = c.Get("/api/sweeps/" + std::to_string(*sweep) + "/leaderboard");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const json lb = json::parse(r->body);
  EXPECT_EQ(lb["sweep"]["metric"], want_board.metric_name());
  EXPECT_EQ(lb["sweep"]["goal"], "maximize");
  ASSERT_EQ(lb["rows"].size(), static_cast<size_t>(want_board.rows_size()));
  for (int i = 0; i < want_board.rows_size(); ++i) {
    const v1::LeaderboardRow& want = want_board.rows(i);
    const json& got = lb["rows"][i];
    EXPECT_EQ(got["rank"], want.rank());
    EXPECT_EQ(got["trial_id"], want.trial_id());
    EXPECT_EQ(got["number"], want.number());
    EXPECT_EQ(got["status"], TrialStatusText(want.status()));
    if (MetricMeasured(want_board.metric_name(), want.metric_value())) {
      EXPECT_EQ(got["metric_value"], want.metric_value());
    } else {
      EXPECT_TRUE(got["metric_value"].is_null()) << got.dump();
    }
  }
  EXPECT_EQ(lb["rows"][0]["metric_value"], 5.0);
  EXPECT_EQ(lb["rows"][1]["metric_value"], 3.0);
  EXPECT_EQ(lb["rows"][2]["metric_value"], 1.0);

  // The counts: StatusProto's, queued with the trials not proposed yet (as `hpsweep status`).
  r = c.Get("/api/sweeps");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const json sw = json::parse(r->body);
  EXPECT_EQ(sw["workers_alive"], want_status.workers_alive());
  ASSERT_EQ(sw["sweeps"].size(), 1u);
  const v1::SweepStatus& st = want_status.sweeps(0);
  const json& got = sw["sweeps"][0];
  EXPECT_EQ(got["queued"], st.queued() + st.unproposed());
  EXPECT_EQ(got["running"], st.running());
  EXPECT_EQ(got["completed"], st.completed());
  EXPECT_EQ(got["failed"], st.failed());
  EXPECT_EQ(got["total"], st.total());
  EXPECT_EQ(got["best"], 5.0);
  EXPECT_EQ(got["state"], st.state());

  // The event stream's "workers" carries the same states.
  httplib::Client ec("127.0.0.1", dash.port());
  ec.set_read_timeout(10, 0);
  EventReader events(&ec, "/api/sweeps/" + std::to_string(*sweep) + "/events");
  ASSERT_TRUE(events.WaitFor([](const std::string& t) {
    return !EventsNamed(t, "workers").empty();
  })) << events.text();
  check_workers(EventsNamed(events.text(), "workers").front());
  dash.Stop();
}


// A regression trial's test pass reaches the page: its leaderboard row carries test_mse and
// test_mae (null when not measured), which the page shows in place of the accuracies; a
// classification row carries none.
TEST(DashboardJsonTest, ARegressionRowCarriesItsTestErrors) {
  LeaderboardView view;
  view.board.set_sweep_id(4);
  view.board.set_metric_name("val_mse");
  view.board.set_maximize(false);
  v1::LeaderboardRow* reg = view.board.add_rows();
  reg->set_rank(1);
  reg->set_val_accuracy(-1);
  reg->set_test_accuracy(-1);
  reg->set_metric_value(0.0123);
  (*reg->mutable_test_metrics())["test_mse"] = 0.0131;
  (*reg->mutable_test_metrics())["test_mae"] = std::nan("");
  v1::LeaderboardRow* plain = view.board.add_rows();
  plain->set_rank(2);
  plain->set_test_accuracy(0.97);
  const json j = LeaderboardJson(view);
  ASSERT_EQ(j["rows"].size(), 2u);
  EXPECT_EQ(j["rows"][0]["test_metrics"]["test_mse"], 0.0131);
  EXPECT_TRUE(j["rows"][0]["test_metrics"]["test_mae"].is_null()) << j.dump();
  EXPECT_TRUE(j["rows"][0]["test_accuracy"].is_null()) << j.dump();
  EXPECT_EQ(j["rows"][0]["metric_value"], 0.0123);
  EXPECT_TRUE(j["rows"][1]["test_metrics"].is_object());
  EXPECT_TRUE(j["rows"][1]["test_metrics"].empty()) << j.dump();
  EXPECT_EQ(j["rows"][1]["test_accuracy"], 0.97);
}

// A sweep of several objectives reaches the page: the ranking says it is by front, and each row
// carries its front, whether it is feasible, and each objective's value; a sweep of one metric's
// rows carry none of these.
TEST(DashboardJsonTest, SeveralObjectivesCarryTheFront) {
  LeaderboardView view;
  view.board.set_metric_name("val_accuracy");
  view.board.set_maximize(true);
  view.board.add_objectives("val_accuracy");
  view.board.add_objectives_maximize(true);
  view.board.add_objectives("param_count");
  view.board.add_objectives_maximize(false);
  view.board.set_constraints("param_count <= 30000");
  v1::LeaderboardRow* r = view.board.add_rows();
  r->set_rank(1);
  r->set_front(1);
  r->add_objective_values(0.9);
  r->add_objective_values(24458);
  v1::LeaderboardRow* bad = view.board.add_rows();
  bad->set_rank(2);
  bad->set_infeasible(true);
  bad->add_objective_values(0.95);
  bad->add_objective_values(std::nan(""));
  const json j = LeaderboardJson(view);
  EXPECT_EQ(j["sweep"]["ranked_by"],
            "front of val_accuracy (max), param_count (min), then crowding distance; "
            "constraints param_count <= 30000");
  EXPECT_EQ(j["sweep"]["objectives"][1], "param_count");
  EXPECT_EQ(j["rows"][0]["front"], 1);
  EXPECT_EQ(j["rows"][0]["feasible"], true);
  EXPECT_EQ(j["rows"][0]["objectives"]["param_count"], 24458);
  EXPECT_EQ(j["rows"][1]["feasible"], false);
  EXPECT_TRUE(j["rows"][1]["front"].is_null()) << j.dump();
  EXPECT_TRUE(j["rows"][1]["objectives"]["param_count"].is_null()) << j.dump();
  LeaderboardView one;
  one.board.set_metric_name("val_accuracy");
  one.board.add_rows()->set_rank(1);
  EXPECT_FALSE(LeaderboardJson(one)["rows"][0].contains("front"));
}

}  // namespace
}  // namespace hpsweep

