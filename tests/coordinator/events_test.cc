// Tests for coordinator/events.h: the event builders, the two line formats (JSON that parses with
// typed values; text on one line whatever a worker sent) and the spdlog-backed log file.
#include "coordinator/events.h"

#include <gtest/gtest.h>
#include <unistd.h>
#include <sys/stat.h>
#include <stdlib.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace hpsweep::events_test {
namespace {

using json = nlohmann::json;

TrialRow MakeTrial() {
  TrialRow t;
  t.id = 12;
  t.sweep_id = 3;
  t.number = 4;
  t.attempts = 2;
  t.worker_id = 7;
  t.worker_name = "node1:123";
  t.lease_id = "0123456789abcdef0123456789abcdef";  // never in a line
  t.best_epoch = 2;
  t.best_val_accuracy = 0.97;
  t.best_val_loss = std::numeric_limits<double>::quiet_NaN();
  return t;
}

SweepRow MakeSweep() {
  SweepRow s;
  s.id = 3;
  s.name = "quick";
  s.max_attempts = 3;
  return s;
}

TEST(EventsTest, ParseLogFormat) {
  EXPECT_EQ(*ParseLogFormat("text"), LogFormat::kText);
  EXPECT_EQ(*ParseLogFormat("json"), LogFormat::kJson);
  StatusOr<LogFormat> bad = ParseLogFormat("xml");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("--log-format"), std::string::npos);
}

TEST(EventsTest, JsonHasTypedValuesAndNoLeaseId) {
  Event e = events::TrialCompleted(MakeTrial(), MakeSweep(), TrialStatus::kCompleted);
  e.time = 1767323045.678;
  const std::string line = EventJson(e);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  EXPECT_EQ(line.find("0123456789abcdef"), std::string::npos) << line;
  json j = json::parse(line);
  EXPECT_EQ(j["time"], "2026-01-02T03:04:05.678Z");
  EXPECT_EQ(j["level"], "info");
  EXPECT_EQ(j["event"], "trial_completed");
  EXPECT_EQ(j["sweep_id"], 3);
  EXPECT_TRUE(j["trial"].is_number_integer());
  EXPECT_EQ(j["trial"], 4);
  EXPECT_EQ(j["attempt"], 2);
  EXPECT_EQ(j["worker"], "node1:123");
  EXPECT_EQ(j["status"], "completed");
  EXPECT_DOUBLE_EQ(j["best_val_accuracy"].get<double>(), 0.97);
  EXPECT_TRUE(j["best_val_loss"].is_null());  // NaN: JSON has none
  EXPECT_NE(j["msg"].get<std::string>().find("trial #4 of sweep 3 (quick) completed"),
            std::string::npos)
      << j["msg"];
}

// A pruned trial of a val_loss sweep: the line says pruned (and when) and reports val_loss, the
// sweep's metric, not val_accuracy; what was never measured (the test pass) is null, not -1.
TEST(EventsTest, PrunedTrialOfALossSweepSaysSoAndReportsTheMetric) {
  SweepRow s = MakeSweep();
  s.metric = "val_loss";
  s.maximize = false;
  TrialRow t = MakeTrial();
  t.best_epoch = 1;
  t.epochs_run = 1;
  t.best_val_accuracy = 0.175;
  t.best_val_loss = 1.54761;
  Event e = events::TrialCompleted(t, s, TrialStatus::kPruned);
  const std::string text = EventText(e);
  EXPECT_NE(text.find("trial #4 of sweep 3 (quick) pruned"), std::string::npos) << text;
  EXPECT_NE(text.find("after epoch 1"), std::string::npos) << text;
  EXPECT_NE(text.find("best val_loss 1.5476 at epoch 1"), std::string::npos) << text;
  EXPECT_EQ(text.find("completed"), std::string::npos) << text;
  EXPECT_EQ(text.find("val_accuracy"), std::string::npos) << text;
  json j = json::parse(EventJson(e));
  EXPECT_EQ(j["event"], "trial_completed");  // the event name dashboards key on
  EXPECT_EQ(j["status"], "pruned");
  EXPECT_EQ(j["pruned_at_epoch"], 1);
  EXPECT_EQ(j["metric"], "val_loss");
  EXPECT_EQ(j["goal"], "minimize");
  EXPECT_DOUBLE_EQ(j["best"].get<double>(), 1.54761);
  EXPECT_DOUBLE_EQ(j["best_val_accuracy"].get<double>(), 0.175);
  EXPECT_DOUBLE_EQ(j["best_val_loss"].get<double>(), 1.54761);
  EXPECT_TRUE(j["test_accuracy"].is_null()) << j;
  EXPECT_TRUE(j["test_loss"].is_null()) << j;

  // Completed: no pruned_at_epoch; a test metric is reported as such.
  s.metric = "test_accuracy";
  s.maximize = true;
  t.test_accuracy = 0.9612;
  json done = json::parse(EventJson(events::TrialCompleted(t, s, TrialStatus::kCompleted)));
  EXPECT_EQ(done["status"], "completed");
  EXPECT_FALSE(done.contains("pruned_at_epoch"));
  EXPECT_EQ(done["metric"], "test_accuracy");
  EXPECT_DOUBLE_EQ(done["best"].get<double>(), 0.9612);
  EXPECT_NE(done["msg"].get<std::string>().find("completed on worker 'node1:123': test_accuracy "
                                                "0.9612, best epoch 1"),
            std::string::npos)
      << done["msg"];
}

// The sweep's summary counts its pruned trials: 5 completed + 3 pruned of 8.
TEST(EventsTest, SweepFinishedCountsPruned) {
  SweepRow s = MakeSweep();
  s.state = SweepState::kCompleted;
  Event e = events::SweepFinished(s, /*completed=*/5, /*failed=*/0, /*stopped=*/0, /*pruned=*/3);
  EXPECT_NE(EventText(e).find("finished, completed: 5 completed, 3 pruned, 0 failed, 0 stopped"),
            std::string::npos)
      << EventText(e);
  json j = json::parse(EventJson(e));
  EXPECT_EQ(j["completed"], 5);
  EXPECT_EQ(j["pruned"], 3);
}

// What a worker sent (its error) may hold anything: the text line stays one line, the JSON line
// parses, and a long error is cut.
TEST(EventsTest, WorkerTextCannotForgeALine) {
  const std::string error = "boom\n2026-01-01T00:00:00.000Z INFO  forged\r\x1b[2J \xff" +
                            std::string(2 * kMaxEventTextBytes, 'x');
  Event e = events::TrialFailed(MakeTrial(), MakeSweep(), error, TrialStatus::kQueued);
  const std::string text = EventText(e);
  EXPECT_EQ(text.find('\n'), std::string::npos) << text;
  EXPECT_EQ(text.find('\r'), std::string::npos) << text;
  EXPECT_EQ(text.find('\x1b'), std::string::npos) << text;
  EXPECT_NE(text.find(" WARN  "), std::string::npos) << text;
  EXPECT_LT(text.size(), 2 * kMaxEventTextBytes) << text;
  json j;
  ASSERT_NO_THROW(j = json::parse(EventJson(e)));
  EXPECT_EQ(j["outcome"], "queued");
  EXPECT_LE(j["error"].get<std::string>().size(), kMaxEventTextBytes + 3);
}

TEST(EventsTest, WorkerEvents) {
  WorkerRow w;
  w.id = 9;
  w.name = "w";
  w.host = "node7";
  w.job_id = "4242_3";
  w.threads = 8;
  w.trials_done = 5;
  w.trials_failed = 1;
  json joined = json::parse(EventJson(events::WorkerJoined(w)));
  EXPECT_EQ(joined["event"], "worker_joined");
  EXPECT_EQ(joined["job_id"], "4242_3");
  EXPECT_EQ(joined["threads"], 8);
  json gone = json::parse(EventJson(events::WorkerGone(w, 31)));
  EXPECT_EQ(gone["event"], "worker_gone");
  EXPECT_EQ(gone["level"], "warning");
  EXPECT_EQ(gone["trials_done"], 5);
  EXPECT_EQ(gone["trials_failed"], 1);
}

TEST(EventsTest, LogFileGetsOneLinePerEvent) {
  std::string tmpl = ::testing::TempDir() + "/events_test.XXXXXX";
  ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
  const std::string path = tmpl + "/coordinator.log";
  {
    StatusOr<std::unique_ptr<EventLog>> log = MakeEventLog(LogFormat::kJson, path);
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    (*log)->Record(events::SweepSubmitted(MakeSweep(), "a.yaml"));
    (*log)->Record(events::TrialLeased(MakeTrial(), MakeSweep()));
  }
  {
    // Appended to, not truncated: a resumed run keeps the history.
    StatusOr<std::unique_ptr<EventLog>> log = MakeEventLog(LogFormat::kText, path);
    ASSERT_TRUE(log.ok());
    (*log)->Record(events::SweepCancelled(MakeSweep(), 2));
  }
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(json::parse(lines[0])["event"], "sweep_submitted");
  EXPECT_EQ(json::parse(lines[1])["event"], "trial_leased");
  EXPECT_NE(lines[2].find("sweep 3 (quick) cancelled: 2 trials"), std::string::npos) << lines[2];

  // Under a file, where no folder can be made.
  const std::string under_file = path + "/x.log";
  StatusOr<std::unique_ptr<EventLog>> bad = MakeEventLog(LogFormat::kText, under_file);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kIoError) << bad.status().ToString();
  EXPECT_NE(bad.status().message().find(under_file), std::string::npos);
  std::filesystem::remove_all(tmpl);
}

// A link planted where the log goes (run --db X writes X.coordinator.log) is not followed, and a
// new log is the owner's only.
TEST(EventsTest, LogFileIsNeverWrittenThroughALink) {
  std::string tmpl = ::testing::TempDir() + "/events_test.XXXXXX";
  ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
  const std::string victim = tmpl + "/victim.txt", path = tmpl + "/x.db.coordinator.log";
  std::ofstream(victim) << "precious\n";
  ASSERT_EQ(symlink(victim.c_str(), path.c_str()), 0);
  StatusOr<std::unique_ptr<EventLog>> log = MakeEventLog(LogFormat::kText, path);
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(log.status().code(), StatusCode::kIoError);
  EXPECT_NE(log.status().message().find("it is a symbolic link"), std::string::npos)
      << log.status().message();
  std::ifstream in(victim);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text, "precious\n");

  const std::string fresh = tmpl + "/fresh.log";
  const mode_t old_umask = umask(022);
  ASSERT_TRUE(MakeEventLog(LogFormat::kText, fresh).ok());
  umask(old_umask);
  struct stat st;
  ASSERT_EQ(stat(fresh.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  std::filesystem::remove_all(tmpl);
}

}  // namespace
}  // namespace hpsweep::events_test
