// Dashboard::Impl's routing (http/dashboard_impl.h): every request but POST /login is decided
// here, by plain string comparisons. The /api routes' JSON is the read model's
// (coordinator/views.h) through http/dashboard_json.h, as the event hub in dashboard.cc sends it.
#include <algorithm>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/utf8.h"
#include "coordinator/views.h"
#include "http/assets.h"
#include "http/dashboard_impl.h"
#include "http/dashboard_json.h"

namespace hpsweep {

namespace {

using json = nlohmann::json;

// A positive decimal id, at most 18 digits (no sign, no spaces): 0 otherwise.
int64_t ParseId(const std::string& text) {
  if (text.empty() || text.size() > 18) return 0;
  int64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return 0;
    v = v * 10 + (c - '0');
  }
  return v;
}

}  // namespace

v1::ListWorkersResponse Dashboard::Impl::WorkersNow() {
  double now = 0;
  const std::vector<WorkerView> workers = s_->ListWorkers(&now);  // (sets now first)
  // The dashboard's JSON shows no lease period: the response's lease_seconds is left 0.
  return WorkersProto(workers, now, /*lease_seconds=*/0);
}

// ---- routing -------------------------------------------------------------------------------

void Dashboard::Impl::Headers(httplib::Response& res) {
  res.set_header("X-Content-Type-Options", "nosniff");
  res.set_header("Referrer-Policy", "no-referrer");
  res.set_header("X-Frame-Options", "DENY");
  res.set_header("Cache-Control", "no-store");
  res.set_header("Content-Security-Policy",
                 "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
                 "connect-src 'self'; form-action 'self'; base-uri 'none'; "
                 "frame-ancestors 'none'");
  if (tls_) res.set_header("Strict-Transport-Security", "max-age=31536000");
}

void Dashboard::Impl::Route(const httplib::Request& req, httplib::Response& res) {
  Headers(res);
  if (!Admissible(req, res)) return;
  const std::string& p = req.path;
  const bool get = req.method == "GET" || req.method == "HEAD";
  if (get && ServeAsset(p, res)) return;
  if (req.method == "POST" && p == "/logout") {
    if (!CsrfOk(req, res)) return;
    Logout(req, res);
    return;
  }
  if (p.rfind("/api/", 0) != 0) {
    SetError(res, 404, "no such page");
    return;
  }
  const Access access = Authorize(req);
  if (p == "/api/whoami" && get) {
    SetJson(res, 200,
            {{"role", access.status == 0 ? access.role : "none"},
             {"can_cancel", access.status == 0 && access.can_cancel && !options_.read_only},
             {"tokens", tokens_ != nullptr},
             {"read_only", options_.read_only}});
    return;
  }
  if (access.status != 0) {
    SetError(res, access.status, access.error);
    return;
  }
  if (p == "/api/sweeps") {
    if (!get) return MethodNotAllowed(res, "GET");
    SetJson(res, 200, SweepsJson(StatusProto(s_->Counts(0), s_->WorkersAlive())));
    return;
  }
  if (p == "/api/workers") {
    if (!get) return MethodNotAllowed(res, "GET");
    SetJson(res, 200, WorkersJson(WorkersNow(), kMaxDashboardWorkers));
    return;
  }
  RouteSweep(req, res, access);
}

// False (with the answer set) for a request refused before any route: a non-loopback Host on a
// loopback dashboard, or a body.
bool Dashboard::Impl::Admissible(const httplib::Request& req, httplib::Response& res) {
  // DNS rebinding: a page of another site whose name now points at 127.0.0.1 sends its own
  // name as Host. Only loopback names reach a loopback dashboard.
  if (loopback_ && !IsLoopbackHost(req.get_header_value("Host"))) {
    SetError(res, 403, "this dashboard answers only to a loopback Host (127.0.0.1, localhost)");
    return false;
  }
  // Bodies are read only for POST /login (httplib's limit applies there); nothing routed here
  // takes one, so a large or unsized one is refused before anything is done.
  if (req.has_header("Transfer-Encoding")) {
    res.set_header("Connection", "close");
    SetError(res, 411, "send a Content-Length");
    return false;
  }
  const std::string length = req.get_header_value("Content-Length");
  if (!length.empty() &&
      (length.size() > 9 || ParseId(length) > static_cast<int64_t>(kMaxHttpBodyBytes))) {
    res.set_header("Connection", "close");
    SetError(res, 413,
             "the body is over the limit of " + std::to_string(kMaxHttpBodyBytes) + " bytes");
    return false;
  }
  return true;
}

// The page's own files (GET or HEAD): true when path is one of them.
bool Dashboard::Impl::ServeAsset(const std::string& path, httplib::Response& res) {
  if (path == "/" || path == "/index.html") {
    res.set_content(AssetIndexHtml(), "text/html; charset=utf-8");
    return true;
  }
  if (path == "/app.js") {
    res.set_content(AssetAppJs(), "text/javascript; charset=utf-8");
    return true;
  }
  if (path == "/app.css") {
    res.set_content(AssetAppCss(), "text/css; charset=utf-8");
    return true;
  }
  return false;
}

// /api/sweeps/N/ACTION, for a request that Authorize allowed.
void Dashboard::Impl::RouteSweep(const httplib::Request& req, httplib::Response& res,
                                 const Access& access) {
  const std::string& p = req.path;
  const bool get = req.method == "GET" || req.method == "HEAD";
  static const std::string kPrefix = "/api/sweeps/";
  if (p.rfind(kPrefix, 0) != 0) {
    SetError(res, 404, "no such API");
    return;
  }
  const size_t slash = p.find('/', kPrefix.size());
  if (slash == std::string::npos) {
    SetError(res, 404, "no such API (try /api/sweeps/N/leaderboard)");
    return;
  }
  const std::string id_text = p.substr(kPrefix.size(), slash - kPrefix.size());
  std::string action = p.substr(slash + 1);
  // output/T: a program trial's kept output (docs/programs.md), T its trial id.
  int64_t output_of = 0;
  if (action.rfind("output/", 0) == 0) {
    output_of = ParseId(action.substr(7));
    if (output_of <= 0) return SetError(res, 400, "trial id: expected a positive integer");
    action = "output";
  }
  if (action != "leaderboard" && action != "export" && action != "events" && action != "cancel" &&
      action != "output") {
    SetError(res, 404, "no such API: " + action.substr(0, 32));
    return;
  }
  const int64_t id = ParseId(id_text);
  if (id <= 0) {
    SetError(res, 400, "sweep id: expected a positive integer of at most 18 digits");
    return;
  }
  if (s_->Counts(id).empty()) {
    SetError(res, 404, "no sweep " + std::to_string(id));
    return;
  }
  if (action == "cancel") return CancelSweep(req, res, access, id);
  if (!get) return MethodNotAllowed(res, "GET");
  if (action == "leaderboard") return LeaderboardRoute(req, res, id);
  if (action == "output") {
    // The program's own bytes, as text that no browser runs (nosniff, and CSP from Headers).
    auto text = s_->GetOutput(output_of);
    if (!text.ok()) return SetError(res, 404, "trial " + std::to_string(output_of) + " kept no output");
    res.status = 200;
    res.set_content(ToValidUtf8(*text), "text/plain; charset=utf-8");
    return;
  }
  if (action == "export") {
    // Chunked, page by page (Scheduler::ExportSweepPage): the first page is read here, so a
    // failure still has its status; the rest as the connection takes them, one page in memory
    // at a time. A read failing later cuts the stream short (no last chunk): never a complete-
    // looking partial export.
    auto first = s_->ExportSweepPage(id, 0, kDefaultExportPageBytes);
    if (!first.ok()) return SetError(res, 500, first.status().message());
    auto page = std::make_shared<ExportPage>(std::move(*first));
    res.status = 200;
    res.set_chunked_content_provider(
        "application/json", [this, page](size_t, httplib::DataSink& sink) {
          ExportJoiner join;
          std::string out = std::move(page->head);
          for (;;) {
            for (std::string& t : page->trials) {
              out += join.Trial(t);
              std::string().swap(t);
              if (out.size() >= (64u << 10)) {
                if (!sink.write(out.data(), out.size())) return false;
                out.clear();
              }
            }
            if (page->next_after == 0) break;
            auto next = s_->ExportSweepPage(page->sweep_id, page->next_after,
                                            kDefaultExportPageBytes);
            if (!next.ok()) return false;
            *page = std::move(*next);
          }
          out += join.Tail();
          if (!sink.write(out.data(), out.size())) return false;
          sink.done();
          return true;
        });
    return;
  }
  Events(id, access, res);
}

// POST /api/sweeps/N/cancel: the user role, and the CSRF header.
void Dashboard::Impl::CancelSweep(const httplib::Request& req, httplib::Response& res,
                                  const Access& access, int64_t id) {
  if (req.method != "POST") return MethodNotAllowed(res, "POST");
  if (options_.read_only) {
    SetError(res, 403,
             "this dashboard is read-only (hpsweep dashboard --db): it writes nothing to the "
             "database; cancel the sweep where it runs (hpsweep cancel, or the run's own --http "
             "dashboard)");
    return;
  }
  if (!CsrfOk(req, res)) return;
  if (!access.can_cancel) {
    SetError(res, 403,
             std::string("a ") + access.role + " token may not cancel a sweep (it needs user)");
    return;
  }
  auto n = s_->Cancel(id);
  if (!n.ok()) return SetError(res, 500, n.status().message());
  SetJson(res, 200, {{"sweep", id}, {"stopped", *n}});
}

// GET /api/sweeps/N/leaderboard?top=K.
void Dashboard::Impl::LeaderboardRoute(const httplib::Request& req, httplib::Response& res,
                                       int64_t id) {
  int top = 0;
  if (req.has_param("top")) {
    const int64_t t = ParseId(req.get_param_value("top"));
    if (t <= 0 || t > kMaxLeaderboardTop) {
      SetError(res, 400,
               "top: expected an integer in [1, " + std::to_string(kMaxLeaderboardTop) + "]");
      return;
    }
    top = static_cast<int>(t);
  }
  SweepRow sweep;
  auto rows = s_->Leaderboard(id, top, &sweep);
  if (!rows.ok()) return SetError(res, 500, rows.status().message());
  SetJson(res, 200, LeaderboardJson(LeaderboardViewOf(sweep, *rows)));
}
void Dashboard::Impl::MethodNotAllowed(httplib::Response& res, const char* allowed) {
  res.set_header("Allow", allowed);
  SetError(res, 405, std::string("use ") + allowed);
}

}  // namespace hpsweep
