// End-to-end tests of the processes' lives, with real processes of the hpsweep binary: ports that
// are taken, `run` ended by a signal (its workers must not outlive it, its leases must go back),
// and a worker stopped while its coordinator is out of reach.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "coordinator/store/storage.h"
#include "tests/integration/coordinator_client.h"
#include "tests/integration/e2e_test.h"
#include "tests/integration/process.h"
#include "tests/mnist_dir.h"

namespace hpsweep::lifecycle_e2e_test {
namespace {

namespace fs = std::filesystem;

// Waits up to `seconds` for `text` in the file at `path`; false if it did not come (or `p`
// exited first).
bool WaitForText(const std::string& path, const std::string& text, Process* p, double seconds) {
  const auto end = std::chrono::steady_clock::now() +
                   std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
  while (std::chrono::steady_clock::now() < end) {
    if (ReadText(path).find(text) != std::string::npos) return true;
    if (p != nullptr && !p->running()) return ReadText(path).find(text) != std::string::npos;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

// The number of times `text` occurs in the file at `path`.
int CountText(const std::string& path, const std::string& text) {
  const std::string s = ReadText(path);
  int n = 0;
  for (size_t at = s.find(text); at != std::string::npos; at = s.find(text, at + 1)) ++n;
  return n;
}

// The pids whose parent is `parent` (from /proc).
std::vector<pid_t> ChildrenOf(pid_t parent) {
  std::vector<pid_t> out;
  for (const auto& e : fs::directory_iterator("/proc")) {
    const std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream in(e.path() / "stat");
    std::string stat;
    std::getline(in, stat);
    const size_t close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(stat.substr(close + 2));
    char state = 0;
    pid_t ppid = 0;
    rest >> state >> ppid;
    if (ppid == parent) out.push_back(static_cast<pid_t>(std::stol(name)));
  }
  return out;
}

// True while `pid` exists and is not a zombie (a reparented child nobody reaps yet is dead).
bool Alive(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  if (!std::getline(in, stat)) return false;
  const size_t close = stat.rfind(')');
  return close != std::string::npos && close + 2 < stat.size() && stat[close + 2] != 'Z' &&
         stat[close + 2] != 'X';
}

// Waits up to `seconds` for every pid in `pids` to end; true if they did.
bool WaitAllGone(const std::vector<pid_t>& pids, double seconds) {
  const auto end = std::chrono::steady_clock::now() +
                   std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
  while (std::chrono::steady_clock::now() < end) {
    bool any = false;
    for (pid_t p : pids) any = any || Alive(p);
    if (!any) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

// Long trials: a tenth of a second or so an epoch, many epochs (minutes in all), so that a test
// stops them well inside one.
constexpr char kLongSweep[] = R"(name: long
method: grid
data: {validation_split: 0.2, train_limit: 6000}
fixed: {cell: lstm, units: 8, epochs: 2000, batch_size: 64}
parameters:
  seed: {values: [1, 2]}
)";

class LifecycleE2ETest : public E2ETest {
 protected:
  LifecycleE2ETest() : E2ETest("life_e2e", /*needs_mnist=*/false) {}

  void TearDown() override {
    for (pid_t p : strays_) {
      if (Alive(p)) kill(p, SIGKILL);
    }
    E2ETest::TearDown();
  }
  bool HaveMnist() const { return fs::exists(MnistDir() + "/train-images-idx3-ubyte"); }
  std::string WriteFile(const std::string& name, const std::string& text) {
    std::ofstream(P(name)) << text;
    return P(name);
  }

  // `hpsweep run` of kLongSweep with `workers` local workers (its output in run.txt, theirs in
  // workers.txt), returned once a worker has reported its first epoch; null (and a test
  // failure) if none did.
  std::unique_ptr<Process> StartLongRun(int workers) {
    const std::string log = P("run.txt"), wlog = P("workers.txt");
    auto run = std::make_unique<Process>(
        std::vector<std::string>{"run", WriteFile("long.yaml", kLongSweep), "--workers",
                                 std::to_string(workers), "--db", db_, "--data-dir", MnistDir(),
                                 "--log", wlog},
        log);
    if (!WaitForText(wlog, " epoch 1:", run.get(), 120)) {
      ADD_FAILURE() << "no epoch reported:\n" << ReadText(log);
      return nullptr;
    }
    return run;
  }

  std::vector<pid_t> strays_;  // killed at the end if a failed test left them running
};

// At its soft open-files limit gRPC stops accepting for good; the coordinator raises the soft
// limit to the hard one at start and says so.
TEST_F(LifecycleE2ETest, CoordinatorRaisesItsOpenFilesLimit) {
  struct rlimit own;
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &own), 0);
  if (own.rlim_max <= 256) GTEST_SKIP() << "the hard open-files limit is " << own.rlim_max;
  const std::string addr = "127.0.0.1:" + std::to_string(FreePort());
  const std::string log = P("limit.txt");
  Process c({"coordinator", "--listen", addr, "--db", P("limit.db")}, log, [] {
    struct rlimit lim;
    getrlimit(RLIMIT_NOFILE, &lim);
    lim.rlim_cur = 256;  // (as `ulimit -Sn 256`)
    setrlimit(RLIMIT_NOFILE, &lim);
  });
  ASSERT_TRUE(WaitForText(log, "listening on", &c, 30)) << ReadText(log);
  std::ifstream limits("/proc/" + std::to_string(c.pid()) + "/limits");
  std::string line, soft, hard;
  while (std::getline(limits, line)) {
    if (line.rfind("Max open files", 0) != 0) continue;
    std::istringstream in(line.substr(14));
    in >> soft >> hard;
  }
  EXPECT_EQ(soft, hard) << ReadText(log);
  EXPECT_NE(soft, "256");
  EXPECT_NE(ReadText(log).find("open-files limit raised from 256 to "), std::string::npos)
      << ReadText(log);
  c.Signal(SIGTERM);
  EXPECT_TRUE(c.Wait(30));
}

// More connections than the coordinator's open-files limit, then closed, must not stop it
// accepting: gRPC 1.51 stopped for good at its first "accept4: Too many open files"
// (grpc/grpc#20418). The coordinator refuses those over its caps, says so, and a new client is
// answered once they are closed.
TEST_F(LifecycleE2ETest, CoordinatorAcceptsAgainAfterMoreConnectionsThanItsOpenFilesLimit) {
  constexpr int kLimit = 256, kConnections = kLimit + 100;
  struct rlimit own;
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &own), 0);
  if (own.rlim_cur < kConnections + 100) {
    own.rlim_cur = std::min<rlim_t>(own.rlim_max, kConnections + 100);
    setrlimit(RLIMIT_NOFILE, &own);
    getrlimit(RLIMIT_NOFILE, &own);
  }
  if (own.rlim_cur < kConnections + 100) GTEST_SKIP() << "open-files limit " << own.rlim_cur;
  const int port = FreePort();
  const std::string addr = "127.0.0.1:" + std::to_string(port);
  const std::string log = P("conn.txt");
  Process c({"coordinator", "--listen", addr, "--db", P("conn.db")}, log, [] {
    struct rlimit lim;
    lim.rlim_cur = lim.rlim_max = kLimit;  // (as `ulimit -n 256`: it cannot raise the soft one)
    setrlimit(RLIMIT_NOFILE, &lim);
  });
  ASSERT_TRUE(WaitForText(log, "listening on", &c, 30)) << ReadText(log);

  // A third from 127.0.0.1 (past the cap on one address), the rest from 127.0.0.2-4 (past the
  // cap on all). Any 127.x address is this machine's loopback on Linux.
  std::vector<int> fds;
  int connected = 0;
  for (int i = 0; i < kConnections; ++i) {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(fd, 0) << std::strerror(errno);
    fds.push_back(fd);
    const timeval five_s{5, 0};  // bounds connect() too
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &five_s, sizeof(five_s));
    sockaddr_in from{};
    from.sin_family = AF_INET;
    from.sin_addr.s_addr = htonl(INADDR_LOOPBACK + (i < kConnections / 3 ? 0 : 1 + i % 3));
    bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof(from));  // (default source if it fails)
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    to.sin_port = htons(static_cast<uint16_t>(port));
    if (connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof(to)) == 0) ++connected;
  }
  EXPECT_GT(connected, kLimit);
  const std::string per_address = "connection cap hit: refused a connection from 127.0.0.1: that";
  // Until the coordinator has met them: refused some for each cap (or failed, before the caps).
  PollFor(30, [&] {
    const std::string text = ReadText(log);
    return text.find("Failed accept4") != std::string::npos ||
           (text.find(per_address) != std::string::npos &&
            text.find("it got descriptor") != std::string::npos);
  });
  for (int fd : fds) close(fd);

  TestClient client(addr);
  EXPECT_TRUE(client.WaitUp(60)) << "no answer once the connections closed:\n" << ReadText(log);
  const std::string text = ReadText(log);
  EXPECT_EQ(text.find("Failed accept4"), std::string::npos) << text;
  EXPECT_NE(text.find(per_address), std::string::npos) << text;
  EXPECT_NE(text.find("it got descriptor"), std::string::npos) << text;
  EXPECT_TRUE(c.running());
  c.Signal(SIGTERM);
  EXPECT_TRUE(c.Wait(30));
}

// A second coordinator on a port the first listens on must fail to start, not listen beside it
// (gRPC's default SO_REUSEPORT let both listen and clients reach either at random).
TEST_F(LifecycleE2ETest, SecondCoordinatorOnTheSamePortFailsToStart) {
  const std::string addr = "127.0.0.1:" + std::to_string(FreePort());
  const std::string a_log = P("a.txt"), b_log = P("b.txt");
  Process a({"coordinator", "--listen", addr, "--db", P("a.db")}, a_log);
  ASSERT_TRUE(WaitForText(a_log, "listening on", &a, 30)) << ReadText(a_log);
  Process b({"coordinator", "--listen", addr, "--db", P("b.db")}, b_log);
  ASSERT_TRUE(b.Wait(30)) << "a second coordinator is listening on " << addr << ":\n"
                          << ReadText(b_log);
  EXPECT_NE(b.exit_code(), 0);
  EXPECT_NE(ReadText(b_log).find("cannot listen on " + addr), std::string::npos) << ReadText(b_log);
  EXPECT_EQ(ReadText(b_log).find("listening on"), std::string::npos) << ReadText(b_log);
  EXPECT_TRUE(a.running());
  a.Signal(SIGTERM);
  EXPECT_TRUE(a.Wait(30));
}

// The dashboard must not bind a port another process listens on, even one that allowed port
// sharing (SO_REUSEPORT, as gRPC servers do by default): `run --http` fails, saying why.
TEST_F(LifecycleE2ETest, DashboardOnATakenPortFailsWithAMessage) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  int yes = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &yes, sizeof(yes));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(fd, 4), 0);
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  const std::string taken = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  const std::string file = WriteFile("long.yaml", kLongSweep);
  const std::string log = P("run.txt");
  Process run(
      {"run", file, "--workers", "1", "--db", db_, "--data-dir", MnistDir(), "--http", taken}, log);
  const bool ended = run.Wait(60);
  close(fd);
  ASSERT_TRUE(ended) << "run served its dashboard on a taken port:\n" << ReadText(log);
  EXPECT_NE(run.exit_code(), 0);
  EXPECT_NE(ReadText(log).find("--http: cannot listen on " + taken), std::string::npos)
      << ReadText(log);
  EXPECT_EQ(ReadText(log).find("dashboard at"), std::string::npos) << ReadText(log);
}

// `run` killed by SIGKILL (which it cannot handle): its local workers end too, rather than retry
// a dead coordinator forever with PPID 1.
TEST_F(LifecycleE2ETest, WorkersDoNotOutliveARunKilledBySigkill) {
  if (!HaveMnist()) GTEST_SKIP() << "MNIST not found in " << MnistDir();
  const std::string log = P("run.txt"), wlog = P("workers.txt");
  std::unique_ptr<Process> started = StartLongRun(2);
  ASSERT_NE(started, nullptr);
  Process& run = *started;
  const std::vector<pid_t> workers = ChildrenOf(run.pid());
  ASSERT_EQ(workers.size(), 2u);
  strays_ = workers;
  run.Signal(SIGKILL);
  ASSERT_TRUE(run.Wait(30));
  EXPECT_TRUE(WaitAllGone(workers, 30)) << "workers still running after their run was killed";
}

// SIGHUP (the terminal closed) stops `run` cleanly, as SIGTERM does: 128 + 1, workers stopped,
// the trial given back.
TEST_F(LifecycleE2ETest, SighupStopsRunCleanly) {
  if (!HaveMnist()) GTEST_SKIP() << "MNIST not found in " << MnistDir();
  const std::string log = P("run.txt"), wlog = P("workers.txt");
  std::unique_ptr<Process> started = StartLongRun(1);
  ASSERT_NE(started, nullptr);
  Process& run = *started;
  const std::vector<pid_t> workers = ChildrenOf(run.pid());
  ASSERT_EQ(workers.size(), 1u);
  strays_ = workers;
  run.Signal(SIGHUP);
  ASSERT_TRUE(run.Wait(60));
  EXPECT_EQ(run.exit_code(), 128 + SIGHUP) << ReadText(log);
  EXPECT_NE(ReadText(log).find("interrupted: "), std::string::npos) << ReadText(log);
  EXPECT_TRUE(WaitAllGone(workers, 30));
  auto storage = OpenSqliteStorage(db_);
  ASSERT_TRUE(storage.ok()) << storage.status().ToString();
  auto trials = (*storage)->LoadTrials(1);
  ASSERT_TRUE(trials.ok());
  for (const TrialRow& t : *trials) EXPECT_EQ(t.status, TrialStatus::kQueued) << t.id;
}

// `hpsweep run f.yaml | head`: stdout closed under it. SIGPIPE must not kill `run` (nor leave
// its workers behind); the sweep finishes and every result is in the database.
TEST_F(LifecycleE2ETest, ClosedStdoutDoesNotKillRun) {
  if (!HaveMnist()) GTEST_SKIP() << "MNIST not found in " << MnistDir();
  const std::string file = WriteFile("tiny.yaml", R"(name: tiny
method: grid
data: {validation_split: 0.2, train_limit: 1000}
fixed: {cell: gru, units: 8, epochs: 1, batch_size: 64}
parameters:
  seed: {values: [1, 2]}
)");
  const std::string log = P("run.txt");
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  const pid_t pid = fork();
  if (pid == 0) {
    close(pipe_fds[0]);  // the reader is gone before a byte is written
    dup2(pipe_fds[1], STDOUT_FILENO);
    const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    dup2(fd, STDERR_FILENO);
    std::vector<std::string> args = {HPSWEEP_BIN, "run", file,         "--workers", "1",
                                     "--db",      db_,   "--data-dir", MnistDir()};
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    signal(SIGPIPE, SIG_DFL);  // as a shell starts it
    execv(argv[0], argv.data());
    _exit(127);
  }
  ASSERT_GT(pid, 0);
  close(pipe_fds[0]);
  close(pipe_fds[1]);
  int status = 0;
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (waitpid(pid, &status, WNOHANG) == 0 && std::chrono::steady_clock::now() < end) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (Alive(pid)) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    FAIL() << "run did not end:\n" << ReadText(log);
  }
  EXPECT_TRUE(WIFEXITED(status)) << "run died of signal " << WTERMSIG(status) << ":\n"
                                 << ReadText(log);
  auto storage = OpenSqliteStorage(db_);
  ASSERT_TRUE(storage.ok()) << storage.status().ToString();
  auto trials = (*storage)->LoadTrials(1);
  ASSERT_TRUE(trials.ok());
  ASSERT_EQ(trials->size(), 2u);
  for (const TrialRow& t : *trials) EXPECT_EQ(t.status, TrialStatus::kCompleted) << t.id;
}

// A worker whose coordinator is gone and that retries its finished result must still end
// promptly on SIGTERM (the result is not stored: its lease expires and the trial is trained
// again), saying that it was not delivered.
TEST_F(LifecycleE2ETest, SigtermEndsAWorkerRetryingItsResult) {
  if (!HaveMnist()) GTEST_SKIP() << "MNIST not found in " << MnistDir();
  const std::string addr = "127.0.0.1:" + std::to_string(FreePort());
  const std::string clog = P("coordinator.txt"), wlog = P("worker.txt");
  auto coordinator =
      std::make_unique<Process>(std::vector<std::string>{"coordinator", "--listen", addr, "--db",
                                                         db_, "--data-dir", MnistDir()},
                                clog);
  ASSERT_TRUE(WaitForText(clog, "listening on", coordinator.get(), 30)) << ReadText(clog);
  // Enough epochs (a few seconds of them) that the coordinator is gone well before the end.
  const std::string file = WriteFile("hundred.yaml", R"(name: hundred
method: grid
data: {validation_split: 0.2, train_limit: 1000}
fixed: {cell: gru, units: 8, epochs: 150, batch_size: 64}
parameters:
  seed: {values: [1]}
)");
  Process submit({"submit", file, "--coordinator", addr}, P("submit.txt"));
  ASSERT_TRUE(submit.Wait(30));
  ASSERT_EQ(submit.exit_code(), 0) << ReadText(P("submit.txt"));
  Process worker({"worker", "--coordinator", addr, "--data-dir", MnistDir()}, wlog);
  ASSERT_TRUE(WaitForText(wlog, " epoch 1:", &worker, 120)) << ReadText(wlog);
  coordinator.reset();  // SIGKILL: the worker trains on and then cannot deliver
  ASSERT_TRUE(WaitForText(wlog, "complete: coordinator " + addr + " unreachable", &worker, 120))
      << ReadText(wlog);
  worker.Signal(SIGTERM);
  ASSERT_TRUE(worker.Wait(30)) << "the worker ignored SIGTERM while retrying its result";
  EXPECT_EQ(worker.exit_code(), 0);
  EXPECT_NE(ReadText(wlog).find("result not delivered"), std::string::npos) << ReadText(wlog);
}

// Ctrl-C of `run` gives every lease back before the coordinator stops: nothing is left
// "running" (a rerun would wait for the lease to expire) and no attempt is charged. Stopped at
// various moments after trials finish, since a stop that comes while a completion is answered
// with the next trial left that trial leased.
TEST_F(LifecycleE2ETest, InterruptedRunLeavesNoTrialRunning) {
  if (!HaveMnist()) GTEST_SKIP() << "MNIST not found in " << MnistDir();
  // Far more trials than eight short rounds can finish on any machine: each round must be
  // interrupted with trials left, however fast training is (80 were all done by round 7 on a
  // fast CPU, and that run exited 0).
  std::string seeds;
  for (int i = 1; i <= 1000; ++i) seeds += (i > 1 ? ", " : "") + std::to_string(i);
  const std::string file = WriteFile("short.yaml", R"(name: short
method: grid
data: {validation_split: 0.2, train_limit: 1000}
fixed: {cell: gru, units: 8, epochs: 1, batch_size: 64}
parameters:
  seed: {values: [)" + seeds + R"(]}
)");
  for (int round = 0; round < 8; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    const std::string log = P("run" + std::to_string(round) + ".txt");
    const std::string wlog = P("workers" + std::to_string(round) + ".txt");
    Process run(
        {"run", file, "--workers", "2", "--db", db_, "--data-dir", MnistDir(), "--log", wlog}, log);
    ASSERT_TRUE(WaitForText(wlog, " done: test_accuracy", &run, 120)) << ReadText(log);
    std::this_thread::sleep_for(std::chrono::milliseconds(60 * round));
    run.Signal(SIGINT);
    ASSERT_TRUE(run.Wait(60));
    ASSERT_EQ(run.exit_code(), 130) << ReadText(log);
    auto storage = OpenSqliteStorage(db_);
    ASSERT_TRUE(storage.ok()) << storage.status().ToString();
    auto trials = (*storage)->LoadTrials(1);
    ASSERT_TRUE(trials.ok());
    for (const TrialRow& t : *trials) {
      ASSERT_NE(t.status, TrialStatus::kRunning) << "trial " << t.id << " left running";
      EXPECT_NE(t.status, TrialStatus::kFailed) << t.id;
      if (t.status == TrialStatus::kQueued) {
        EXPECT_EQ(t.attempts, 0) << t.id;
      }
    }
    EXPECT_GT(CountText(wlog, " done: test_accuracy"), 0);
  }
}

// The same interruption mid-trial, after the first epoch: the trial is queued again, uncharged.
TEST_F(LifecycleE2ETest, InterruptedTrialIsQueuedAgainUncharged) {
  if (!HaveMnist()) GTEST_SKIP() << "MNIST not found in " << MnistDir();
  const std::string log = P("run.txt"), wlog = P("workers.txt");
  std::unique_ptr<Process> started = StartLongRun(1);
  ASSERT_NE(started, nullptr);
  Process& run = *started;
  run.Signal(SIGINT);
  ASSERT_TRUE(run.Wait(60));
  EXPECT_EQ(run.exit_code(), 130) << ReadText(log);
  auto storage = OpenSqliteStorage(db_);
  ASSERT_TRUE(storage.ok()) << storage.status().ToString();
  auto trials = (*storage)->LoadTrials(1);
  ASSERT_TRUE(trials.ok());
  // Trial #1 was proposed and leased; #2 is not proposed yet (trials are made at lease time).
  ASSERT_EQ(trials->size(), 1u);
  for (const TrialRow& t : *trials) {
    EXPECT_EQ(t.status, TrialStatus::kQueued) << t.id;
    EXPECT_EQ(t.attempts, 0) << t.id;
  }
}

}  // namespace
}  // namespace hpsweep::lifecycle_e2e_test
