#include "coordinator/events.h"

#include <fcntl.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <ctime>
#include <limits>
#include <nlohmann/json.hpp>

#include "search/objective.h"
#include "base/utf8.h"

namespace hpsweep {

Event& Event::With(std::string key, int64_t v) {
  fields.emplace_back(std::move(key), v);
  return *this;
}
Event& Event::With(std::string key, double v) {
  fields.emplace_back(std::move(key), v);
  return *this;
}
Event& Event::With(std::string key, bool v) {
  fields.emplace_back(std::move(key), v);
  return *this;
}
Event& Event::With(std::string key, std::string v) {
  fields.emplace_back(std::move(key), std::move(v));
  return *this;
}

StatusOr<LogFormat> ParseLogFormat(const std::string& name) {
  if (name == "text") return LogFormat::kText;
  if (name == "json") return LogFormat::kJson;
  return InvalidArgument("--log-format: expected text or json, got '" + EscapeText(name) + "'");
}

namespace {

// ISO 8601 UTC with milliseconds.
std::string IsoTime(double t) {
  if (!std::isfinite(t) || t < 0) t = 0;
  const time_t secs = static_cast<time_t>(t);
  int ms = static_cast<int>(std::lround((t - static_cast<double>(secs)) * 1000));
  if (ms > 999) ms = 999;
  struct tm tm = {};
  gmtime_r(&secs, &tm);
  char buf[80];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
  return buf;
}

const char* LevelName(EventLevel l) { return l == EventLevel::kWarning ? "warning" : "info"; }

// Worker-sent text, cut to kMaxEventTextBytes at a character boundary.
std::string Cut(const std::string& text) {
  std::string t = ToValidUtf8(text);
  if (t.size() <= kMaxEventTextBytes) return t;
  size_t cut = kMaxEventTextBytes;
  while (cut > 0 && (static_cast<unsigned char>(t[cut]) & 0xc0) == 0x80) --cut;
  return t.substr(0, cut) + "...";
}

std::string Trial(const TrialRow& t, const SweepRow& s) {
  return "trial #" + std::to_string(t.number) + " of sweep " + std::to_string(s.id) + " (" +
         s.name + ")";
}

// The fields every trial event has.
Event TrialEvent(const char* name, const TrialRow& t, const SweepRow& s) {
  Event e;
  e.name = name;
  e.With("sweep_id", t.sweep_id)
      .With("sweep", s.name)
      .With("trial_id", t.id)
      .With("trial", t.number)
      .With("attempt", t.attempts)
      .With("max_attempts", s.max_attempts)
      .With("worker_id", t.worker_id)
      .With("worker", t.worker_name);
  return e;
}

// What becomes of a trial after a failed or given-back attempt, for people.
std::string Outcome(TrialStatus outcome) {
  switch (outcome) {
    case TrialStatus::kQueued: return "queued again";
    case TrialStatus::kFailed: return "failed (no attempt left)";
    case TrialStatus::kStopped: return "stopped (its sweep was cancelled)";
    default: return TrialStatusName(outcome);
  }
}

class SpdlogEventLog final : public EventLog {
 public:
  SpdlogEventLog(LogFormat format, std::shared_ptr<spdlog::logger> logger)
      : format_(format), logger_(std::move(logger)) {}
  void Record(const Event& e) override {
    const std::string line = format_ == LogFormat::kJson ? EventJson(e) : EventText(e);
    logger_->log(e.level == EventLevel::kWarning ? spdlog::level::warn : spdlog::level::info, "{}",
                 line);
  }

 private:
  const LogFormat format_;
  std::shared_ptr<spdlog::logger> logger_;
};

}  // namespace

std::string EventJson(const Event& e) {
  nlohmann::ordered_json j;
  j["time"] = IsoTime(e.time);
  j["level"] = LevelName(e.level);
  j["event"] = e.name;
  j["msg"] = e.message;
  for (const auto& [k, v] : e.fields) {
    std::visit(
        [&j, &k](const auto& x) {
          using T = std::decay_t<decltype(x)>;
          if constexpr (std::is_same_v<T, double>) {
            if (std::isfinite(x)) {
              j[k] = x;
            } else {
              j[k] = nullptr;  // JSON has no NaN
            }
          } else {
            j[k] = x;
          }
        },
        v);
  }
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

std::string EventText(const Event& e) {
  return IsoTime(e.time) + (e.level == EventLevel::kWarning ? " WARN  " : " INFO  ") +
         EscapeText(e.message);
}

namespace {

// Appends each formatted line to a file descriptor it owns (spdlog's file sink opens by name, and
// would follow a link planted where the log goes).
class FdSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit FdSink(int fd) : fd_(fd) {}
  ~FdSink() override { ::close(fd_); }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t line;
    formatter_->format(msg, line);
    const char* p = line.data();
    size_t left = line.size();
    while (left > 0) {
      const ssize_t n = ::write(fd_, p, left);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;  // (a full disk loses log lines, never the coordinator)
      p += n;
      left -= static_cast<size_t>(n);
    }
  }
  void flush_() override {}

 private:
  const int fd_;
};

}  // namespace

StatusOr<std::unique_ptr<EventLog>> MakeEventLog(LogFormat format, const std::string& path) {
  spdlog::sink_ptr sink;
  if (path.empty()) {
    sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  } else {
    // Appended to, never through a link; created owner-only.
    const int fd =
        ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
      const std::string why = errno == ELOOP ? "it is a symbolic link" : std::strerror(errno);
      return IoError(path + ": cannot open the coordinator's log: " + why);
    }
    struct stat st;
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      ::close(fd);
      return IoError(path + ": cannot open the coordinator's log: not a regular file");
    }
    sink = std::make_shared<FdSink>(fd);
  }
  // Not registered with spdlog's global registry: this log is the coordinator's own.
  auto logger = std::make_shared<spdlog::logger>("hpsweep-events", std::move(sink));
  logger->set_pattern("%v");  // the line carries its own time and level
  logger->set_level(spdlog::level::info);
  logger->flush_on(spdlog::level::info);
  return std::unique_ptr<EventLog>(new SpdlogEventLog(format, std::move(logger)));
}

namespace events {

Event SweepSubmitted(const SweepRow& s, const std::string& file_name) {
  Event e;
  e.name = "sweep_submitted";
  e.message = "sweep " + std::to_string(s.id) + " (" + s.name +
              ") submitted: " + std::to_string(s.total) + " trials from " + file_name;
  e.With("sweep_id", s.id).With("sweep", s.name).With("trials", s.total).With("file", file_name);
  return e;
}

Event SweepCancelled(const SweepRow& s, int stopped) {
  Event e;
  e.name = "sweep_cancelled";
  e.message = "sweep " + std::to_string(s.id) + " (" + s.name +
              ") cancelled: " + std::to_string(stopped) + " trials stopped or told to stop";
  e.With("sweep_id", s.id).With("sweep", s.name).With("stopped", stopped);
  return e;
}

Event SweepExtended(const SweepRow& s, int before) {
  Event e;
  e.name = "sweep_extended";
  e.message = "sweep " + std::to_string(s.id) + " (" + s.name + ") extended to max_trials " +
              std::to_string(s.max_trials) + ": " + std::to_string(s.total) + " trials (was " +
              std::to_string(before) + "), running";
  e.With("sweep_id", s.id).With("sweep", s.name).With("max_trials", s.max_trials);
  e.With("total", s.total).With("before", before);
  return e;
}

Event SweepFinished(const SweepRow& s, int completed, int failed, int stopped, int pruned) {
  Event e;
  e.name = "sweep_finished";
  // Every finished state is counted: a hyperband sweep's pruned trials are as done as the rest.
  e.message = "sweep " + std::to_string(s.id) + " (" + s.name + ") finished, " + std::string(SweepStateName(s.state)) + ": " +
              std::to_string(completed) + " completed, " + std::to_string(pruned) + " pruned, " +
              std::to_string(failed) + " failed, " + std::to_string(stopped) + " stopped";
  e.With("sweep_id", s.id)
      .With("sweep", s.name)
      .With("state", SweepStateName(s.state))
      .With("completed", completed)
      .With("pruned", pruned)
      .With("failed", failed)
      .With("stopped", stopped)
      .With("seconds", s.finished_at - s.created_at);
  return e;
}

Event TrialLeased(const TrialRow& t, const SweepRow& s) {
  Event e = TrialEvent("trial_leased", t, s);
  e.message = Trial(t, s) + " leased to worker '" + t.worker_name + "', attempt " +
              std::to_string(t.attempts) + "/" + std::to_string(s.max_attempts);
  return e;
}

Event TrialCompleted(const TrialRow& t, const SweepRow& s, TrialStatus status) {
  Event e = TrialEvent("trial_completed", t, s);
  // The sweep's own metric, not always val_accuracy: a val_loss sweep is judged by its loss.
  const Objective o(s.metric, s.maximize);
  const double best = o.ValueOf(t);
  char result[160];
  if (!Objective::HasValue(best)) {
    std::snprintf(result, sizeof(result), "no %s measured", s.metric.c_str());
  } else if (s.metric == "val_accuracy" || s.metric == "val_loss") {
    std::snprintf(result, sizeof(result), "best %s %.4f at epoch %d", s.metric.c_str(), best,
                  t.best_epoch);
  } else {  // a test metric is measured once, after training; the best epoch is by validation
    std::snprintf(result, sizeof(result), "%s %.4f, best epoch %d", s.metric.c_str(), best,
                  t.best_epoch);
  }
  std::string what;
  switch (status) {
    case TrialStatus::kPruned:
      what = " pruned by early_terminate after epoch " + std::to_string(t.epochs_run);
      break;
    case TrialStatus::kStopped:
      what = " stopped after epoch " + std::to_string(t.epochs_run);
      break;
    default: what = " completed"; break;
  }
  e.message = Trial(t, s) + what + " on worker '" + t.worker_name + "': " + result;
  // No value is null (NaN becomes null in EventJson), never the -1 that TrialRow keeps for it.
  auto value = [](double v) {
    return Objective::HasValue(v) ? v : std::numeric_limits<double>::quiet_NaN();
  };
  e.With("status", TrialStatusName(status))
      .With("epochs", t.epochs_run)
      .With("best_epoch", t.best_epoch)
      .With("metric", s.metric)
      .With("goal", s.maximize ? "maximize" : "minimize")
      .With("best", value(best));
  if (status == TrialStatus::kPruned) e.With("pruned_at_epoch", t.epochs_run);
  e.With("best_val_accuracy", value(t.best_val_accuracy))
      .With("best_val_loss", value(t.best_val_loss))
      .With("test_accuracy", value(t.test_accuracy))
      .With("test_loss", value(t.test_loss))
      .With("seconds", t.seconds);
  return e;
}

Event TrialFailed(const TrialRow& t, const SweepRow& s, const std::string& error,
                  TrialStatus outcome) {
  Event e = TrialEvent("trial_failed", t, s);
  e.level = EventLevel::kWarning;
  e.message = Trial(t, s) + " failed on worker '" + t.worker_name + "' (attempt " +
              std::to_string(t.attempts) + "/" + std::to_string(s.max_attempts) +
              "): " + Cut(error) + "; " + Outcome(outcome);
  e.With("outcome", TrialStatusName(outcome)).With("error", Cut(error));
  return e;
}

Event TrialReleased(const TrialRow& t, const SweepRow& s, const std::string& error,
                    TrialStatus outcome) {
  Event e = TrialEvent("trial_released", t, s);
  e.message = Trial(t, s) + " given back by worker '" + t.worker_name + "'" +
              (error.empty() ? "" : ": " + Cut(error)) + "; " + Outcome(outcome);
  e.With("outcome", TrialStatusName(outcome)).With("error", Cut(error));
  return e;
}

Event LeaseExpired(const TrialRow& t, const SweepRow& s, TrialStatus outcome) {
  Event e = TrialEvent("lease_expired", t, s);
  e.level = EventLevel::kWarning;
  e.message = "lease of " + Trial(t, s) + " expired: worker '" + t.worker_name +
              "' stopped reporting (attempt " + std::to_string(t.attempts) + "/" +
              std::to_string(s.max_attempts) + "); " + Outcome(outcome);
  e.With("outcome", TrialStatusName(outcome));
  return e;
}

Event WorkerJoined(const WorkerRow& w) {
  Event e;
  e.name = "worker_joined";
  e.message = "worker '" + w.name + "' (id " + std::to_string(w.id) + ") joined" +
              (w.host.empty() ? "" : " on host " + w.host) +
              (w.job_id.empty() ? "" : ", job " + w.job_id) + ", " + std::to_string(w.threads) +
              (w.threads == 1 ? " thread" : " threads");
  e.With("worker_id", w.id)
      .With("worker", w.name)
      .With("host", w.host)
      .With("job_id", w.job_id)
      .With("threads", w.threads);
  return e;
}

Event WorkerGone(const WorkerRow& w, double silent_seconds) {
  Event e;
  e.name = "worker_gone";
  e.level = EventLevel::kWarning;
  char silent[32];
  std::snprintf(silent, sizeof(silent), "%.0f", silent_seconds);
  e.message = "worker '" + w.name + "' (id " + std::to_string(w.id) +
              ") gone: not heard from for " + silent + " s; " + std::to_string(w.trials_done) +
              " trials done, " + std::to_string(w.trials_failed) + " failed";
  e.With("worker_id", w.id)
      .With("worker", w.name)
      .With("host", w.host)
      .With("job_id", w.job_id)
      .With("last_seen", w.last_seen)
      .With("trials_done", w.trials_done)
      .With("trials_failed", w.trials_failed);
  return e;
}

Event WorkerQuarantined(const WorkerRow& w, int given_back) {
  Event e;
  e.name = "worker_quarantined";
  e.level = EventLevel::kWarning;
  e.message = "worker '" + w.name + "' (id " + std::to_string(w.id) + ") quarantined: " +
              w.quarantine + "; " + std::to_string(given_back) +
              " attempts given back uncharged (lift with: hpsweep workers --release " + w.name +
              ")";
  e.With("worker_id", w.id)
      .With("worker", w.name)
      .With("host", w.host)
      .With("quarantine", w.quarantine)
      .With("given_back", given_back);
  return e;
}

Event WorkerReleased(const WorkerRow& w, const std::string& how) {
  Event e;
  e.name = "worker_released";
  e.message = "worker '" + w.name + "' (id " + std::to_string(w.id) + ") out of quarantine (" +
              how + ")";
  e.With("worker_id", w.id).With("worker", w.name).With("how", how);
  return e;
}

}  // namespace events

}  // namespace hpsweep
