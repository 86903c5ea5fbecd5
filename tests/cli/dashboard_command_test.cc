// End-to-end tests of `hpsweep dashboard --db FILE` (cli/run_command.cc RunDashboardDb): the real
// binary serving a finished run's database read-only, over HTTP from the address it prints; a
// cancel refused with the file left as it was; a run writing the file meanwhile followed; and a
// missing file, a non-database and an open address without TLS refused.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "tests/mnist_dir.h"

namespace {

using json = nlohmann::json;

class DashboardCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "/dashboard_command_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    for (pid_t pid : running_) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
    std::filesystem::remove_all(dir_);
  }

  // Starts `hpsweep args`, stdout and stderr to `log`; killed at the end if still running.
  pid_t Spawn(const std::vector<std::string>& args, const std::string& log) {
    const pid_t pid = fork();
    if (pid == 0) {
      const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd < 0) _exit(127);
      dup2(fd, 1);
      dup2(fd, 2);
      std::vector<char*> argv{const_cast<char*>(HPSWEEP_BIN)};
      for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      execv(HPSWEEP_BIN, argv.data());
      _exit(127);
    }
    if (pid > 0) running_.push_back(pid);
    return pid;
  }
  // The exit code of `pid`, or -signal when a signal ended it.
  int WaitExit(pid_t pid) {
    int status = 0;
    if (waitpid(pid, &status, 0) != pid) return -1000;
    running_.erase(std::remove(running_.begin(), running_.end(), pid), running_.end());
    return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
  }
  // Runs `hpsweep args` to its end: the exit code, and its output in *text.
  int Run(const std::vector<std::string>& args, std::string* text) {
    const std::string log = dir_ + "/run" + std::to_string(++runs_) + ".txt";
    const int code = WaitExit(Spawn(args, log));
    *text = ReadText(log);
    return code;
  }
  static std::string ReadText(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  // Polls `path` until it contains `needle`; false when `pid` exits first or after 2 minutes
  // (a bound against hanging, not a timing check).
  static bool WaitForText(const std::string& path, const std::string& needle, pid_t pid) {
    for (int i = 0; i < 1200; ++i) {
      if (ReadText(path).find(needle) != std::string::npos) return true;
      if (waitpid(pid, nullptr, WNOHANG) == pid) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }
  // Starts `dashboard args` and returns the port of the URL it prints (0 when it printed none).
  int StartDashboard(const std::vector<std::string>& args, const std::string& log, pid_t* pid) {
    std::vector<std::string> all{"dashboard"};
    all.insert(all.end(), args.begin(), args.end());
    *pid = Spawn(all, log);
    const std::string prefix = "hpsweep dashboard at http://127.0.0.1:";
    if (!WaitForText(log, prefix, *pid)) return 0;
    const std::string text = ReadText(log);
    return std::atoi(text.c_str() + text.find(prefix) + prefix.size());
  }
  // A finished sweep of two tiny trials in db, named `name`.
  void RunSweep(const std::string& db, const std::string& name) {
    const std::string file = dir_ + "/" + name + ".yaml";
    std::ofstream(file) << "name: " << name
                        << "\nmethod: grid\n"
                           "data: {validation_split: 0.2, train_limit: 500}\n"
                           "fixed: {cell: gru, epochs: 1, batch_size: 64}\n"
                           "parameters:\n  units: {values: [4, 8]}\n";
    std::string out;
    ASSERT_EQ(Run({"run", file, "--workers", "1", "--db", db, "--data-dir", hpsweep::MnistDir()},
                  &out),
              0)
        << out;
  }
  static bool HaveMnist() {
    struct stat st;
    return ::stat(hpsweep::MnistDir().c_str(), &st) == 0 && S_ISDIR(st.st_mode);
  }
  static json Get(httplib::Client& c, const std::string& path, int* status) {
    auto r = c.Get(path.c_str());
    if (!r) {
      ADD_FAILURE() << path << ": " << httplib::to_string(r.error());
      *status = -1;
      return json();
    }
    *status = r->status;
    return json::parse(r->body, nullptr, /*allow_exceptions=*/false);
  }

  std::string dir_;
  std::vector<pid_t> running_;
  int runs_ = 0;
};

TEST_F(DashboardCommandTest, ServesAFinishedRunsDatabaseReadOnly) {
  if (!HaveMnist()) GTEST_SKIP() << "MNIST not found in " << hpsweep::MnistDir();
  const std::string db = dir_ + "/s.db";
  RunSweep(db, "dash-tiny");
  const std::string bytes = ReadText(db);
  struct stat before;
  ASSERT_EQ(stat(db.c_str(), &before), 0);

  const std::string log = dir_ + "/dashboard.txt";
  pid_t pid = 0;
  const int port = StartDashboard({"--db", db}, log, &pid);  // default: a free loopback port
  ASSERT_GT(port, 0) << ReadText(log);
  EXPECT_NE(ReadText(log).find("read-only"), std::string::npos) << ReadText(log);
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(30, 0);

  auto page = c.Get("/");
  ASSERT_TRUE(page) << httplib::to_string(page.error());
  EXPECT_EQ(page->status, 200);
  EXPECT_NE(page->body.find("<html"), std::string::npos) << page->body.substr(0, 200);

  int status = 0;
  const json who = Get(c, "/api/whoami", &status);
  EXPECT_EQ(status, 200);
  EXPECT_EQ(who.value("read_only", false), true) << who.dump();
  EXPECT_EQ(who.value("can_cancel", true), false) << who.dump();

  const json sweeps = Get(c, "/api/sweeps", &status);
  ASSERT_EQ(status, 200) << sweeps.dump();
  ASSERT_EQ(sweeps["sweeps"].size(), 1u) << sweeps.dump();
  EXPECT_EQ(sweeps["sweeps"][0].value("name", ""), "dash-tiny");
  EXPECT_EQ(sweeps["sweeps"][0].value("completed", -1), 2) << sweeps.dump();
  const std::string state = sweeps["sweeps"][0].value("state", "");

  const json lb = Get(c, "/api/sweeps/1/leaderboard", &status);
  ASSERT_EQ(status, 200) << lb.dump();
  ASSERT_EQ(lb["rows"].size(), 2u) << lb.dump();
  for (const json& row : lb["rows"]) {
    EXPECT_EQ(row.value("status", ""), "completed") << row.dump();
    EXPECT_TRUE(row["test_accuracy"].is_number()) << row.dump();
  }

  const json ex = Get(c, "/api/sweeps/1/export", &status);
  ASSERT_EQ(status, 200) << ex.dump();
  ASSERT_EQ(ex["trials"].size(), 2u) << ex.dump().substr(0, 500);

  // A cancel, however well formed, is refused and changes nothing.
  auto cancel = c.Post("/api/sweeps/1/cancel", httplib::Headers{{"X-Hpsweep-Csrf", "1"}}, "",
                       "text/plain");
  ASSERT_TRUE(cancel) << httplib::to_string(cancel.error());
  EXPECT_EQ(cancel->status, 403) << cancel->body;
  EXPECT_NE(cancel->body.find("read-only"), std::string::npos) << cancel->body;
  const json after = Get(c, "/api/sweeps", &status);
  EXPECT_EQ(after["sweeps"][0].value("state", ""), state) << after.dump();
  EXPECT_EQ(Get(c, "/api/sweeps/7/leaderboard", &status), json({{"error", "no sweep 7"}}));
  EXPECT_EQ(status, 404);

  ASSERT_EQ(kill(pid, SIGTERM), 0);
  EXPECT_EQ(WaitExit(pid), 0) << ReadText(log);
  // Nothing was written to the file, in the requests or at the end.
  struct stat now;
  ASSERT_EQ(stat(db.c_str(), &now), 0);
  EXPECT_EQ(now.st_mtim.tv_sec, before.st_mtim.tv_sec);
  EXPECT_EQ(now.st_mtim.tv_nsec, before.st_mtim.tv_nsec);
  EXPECT_TRUE(ReadText(db) == bytes) << "the database's bytes changed";
  // And it is still a database the other commands read.
  std::string out;
  EXPECT_EQ(Run({"status", "--db", db}, &out), 0) << out;
  EXPECT_NE(out.find("dash-tiny"), std::string::npos) << out;
}

// A run writing the file while the dashboard serves it: its sweep appears, and the run is not
// disturbed (it finishes as usual).
TEST_F(DashboardCommandTest, FollowsARunWritingTheDatabase) {
  if (!HaveMnist()) GTEST_SKIP() << "MNIST not found in " << hpsweep::MnistDir();
  const std::string db = dir_ + "/s.db";
  RunSweep(db, "first");
  const std::string log = dir_ + "/dashboard.txt";
  pid_t pid = 0;
  const int port = StartDashboard({"--db", db, "--http", "127.0.0.1:0"}, log, &pid);
  ASSERT_GT(port, 0) << ReadText(log);
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(30, 0);
  int status = 0;
  ASSERT_EQ(Get(c, "/api/sweeps", &status)["sweeps"].size(), 1u);

  RunSweep(db, "second");
  // Bounded polling (2 minutes, against hanging): the reload comes within a second or so.
  json sweeps;
  for (int i = 0; i < 1200; ++i) {
    sweeps = Get(c, "/api/sweeps", &status);
    if (sweeps.contains("sweeps") && sweeps["sweeps"].size() == 2 &&
        sweeps["sweeps"][1].value("completed", -1) == 2) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(sweeps["sweeps"].size(), 2u) << sweeps.dump();
  EXPECT_EQ(sweeps["sweeps"][1].value("name", ""), "second");
  EXPECT_EQ(sweeps["sweeps"][1].value("completed", -1), 2) << sweeps.dump();
  const json lb = Get(c, "/api/sweeps/2/leaderboard", &status);
  EXPECT_EQ(status, 200);
  EXPECT_EQ(lb["rows"].size(), 2u) << lb.dump();

  ASSERT_EQ(kill(pid, SIGINT), 0);
  EXPECT_EQ(WaitExit(pid), 0) << ReadText(log);
}

TEST_F(DashboardCommandTest, RefusesAMissingFileANonDatabaseAndAnOpenAddress) {
  std::string out;
  const std::string missing = dir_ + "/none.db";
  EXPECT_EQ(Run({"dashboard", "--db", missing}, &out), 2);
  EXPECT_NE(out.find(missing + ": no such database file"), std::string::npos) << out;
  EXPECT_FALSE(std::filesystem::exists(missing)) << "a missing file must not be created";

  const std::string text = dir_ + "/notes.txt";
  std::ofstream(text) << "not a database, just some words that are long enough to be looked at\n";
  EXPECT_NE(Run({"dashboard", "--db", text}, &out), 0);
  EXPECT_NE(out.find(text), std::string::npos) << out;
  EXPECT_EQ(out.find("hpsweep dashboard at"), std::string::npos) << out;
  EXPECT_EQ(ReadText(text),
            "not a database, just some words that are long enough to be looked at\n");

  // Another address than loopback needs TLS and tokens, or --insecure, as coordinator --http.
  EXPECT_EQ(Run({"dashboard", "--db", missing, "--http", "0.0.0.0:0"}, &out), 2);
  EXPECT_NE(out.find("--http"), std::string::npos) << out;
  EXPECT_EQ(out.find("hpsweep dashboard at"), std::string::npos) << out;
}

}  // namespace
