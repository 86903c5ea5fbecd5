// worker/program_runner.h with real processes: small /bin/sh and python3 programs report,
// fail, crash, hang, stop when told (or are killed when they do not), write hostile report lines,
// leave grandchildren behind, look for what they must not see, and checkpoint. After every run
// no process of the trial's group is left, even when the worker itself is SIGKILLed.
#include "worker/program_runner.h"

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

namespace hpsweep::program_runner_test {
namespace {

namespace fs = std::filesystem;

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// The state letter of /proc/PID/stat, and its process group; 0 when it is gone.
char ProcState(pid_t pid, pid_t* pgrp = nullptr) {
  const std::string stat = Slurp("/proc/" + std::to_string(pid) + "/stat");
  const size_t close = stat.rfind(')');
  if (close == std::string::npos || close + 2 >= stat.size()) return 0;
  char state = 0;
  int ppid = 0, group = 0;
  if (sscanf(stat.c_str() + close + 2, "%c %d %d", &state, &ppid, &group) != 3) return 0;
  if (pgrp != nullptr) *pgrp = group;
  return state;
}

bool Alive(pid_t pid) {
  const char s = ProcState(pid);
  return s != 0 && s != 'Z' && s != 'X';
}

// Live (not zombie) processes whose group is pgid.
int GroupMembers(pid_t pgid) {
  int n = 0;
  DIR* d = opendir("/proc");
  while (dirent* e = d == nullptr ? nullptr : readdir(d)) {
    const pid_t pid = atoi(e->d_name);
    pid_t group = 0;
    const char s = pid > 0 ? ProcState(pid, &group) : 0;
    if (s != 0 && s != 'Z' && s != 'X' && group == pgid) ++n;
  }
  if (d != nullptr) closedir(d);
  return n;
}

// Waits up to `seconds` for pred.
template <typename F>
bool Within(double seconds, F pred) {
  const auto until = std::chrono::steady_clock::now() +
                     std::chrono::milliseconds(static_cast<int>(seconds * 1000));
  while (!pred()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

class ProgramRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/hpsweep_program_runner_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    work_ = dir_ + "/work";
    ASSERT_EQ(mkdir(work_.c_str(), 0700), 0);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // An executable script in the test's folder.
  std::string Script(const std::string& name, const std::string& text) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    chmod(path.c_str(), 0700);
    return path;
  }
  std::string Python(const std::string& name, const std::string& body) {
    return Script(name, "#!/usr/bin/python3\nimport json, os, signal, sys, time\n" + body);
  }

  ProgramRunOptions Options(const std::string& path) {
    ProgramRunOptions o;
    o.path = path;
    o.work_dir = work_;
    o.trial_json = R"({"trial": 7})";
    o.epochs = 10;
    o.grace_seconds = 0.3;
    o.term_seconds = 0.3;
    return o;
  }

  ProgramResult Run(const ProgramRunOptions& o) {
    StatusOr<ProgramResult> r = RunProgram(o);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : ProgramResult{};
  }

  std::string dir_, work_;
};

TEST_F(ProgramRunnerTest, ReportsInOrderWithTheFinalLine) {
  const std::string path = Script("train.sh", R"(#!/bin/sh
echo "args: $*"
cat "$HPSWEEP_TRIAL"; echo
for e in 1 2 3; do
  printf '{"epoch": %d, "val_f1": 0.%d, "train_loss": %d}\n' "$e" "$e" "$e" >&"$HPSWEEP_REPORT_FD"
done
echo '{"test_f1": 0.875}' >&3
echo "to stderr" >&2
)");
  ProgramRunOptions o = Options(path);
  o.args = {"--lr=0.1", "--name=a b; rm -rf /"};
  std::vector<int> seen;
  o.on_epoch = [&](const ProgramEpoch& e) {
    seen.push_back(e.epoch);
    return true;
  };
  ProgramResult r = Run(o);
  EXPECT_EQ(r.outcome, ProgramOutcome::kCompleted) << r.error;
  EXPECT_EQ(r.error, "");
  ASSERT_EQ(r.epochs.size(), 3u);
  EXPECT_EQ(seen, (std::vector<int>{1, 2, 3}));
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(r.epochs[i].epoch, i + 1);
    EXPECT_DOUBLE_EQ(r.epochs[i].metrics.at("val_f1"), 0.1 * (i + 1));
    EXPECT_DOUBLE_EQ(r.epochs[i].metrics.at("train_loss"), i + 1);
  }
  EXPECT_EQ(r.final_metrics, (std::map<std::string, double>{{"test_f1", 0.875}}));
  EXPECT_NE(r.output.find("args: --lr=0.1 --name=a b; rm -rf /"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(R"({"trial": 7})"), std::string::npos);
  EXPECT_NE(r.output.find("to stderr"), std::string::npos);
  struct stat st;
  ASSERT_EQ(stat((work_ + "/trial.json").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_GT(r.seconds, 0);
}

TEST_F(ProgramRunnerTest, ExitStatusFailsWithTheStderrTail) {
  const std::string path = Python("fail.py", R"(
sys.stderr.write("x" * 5000 + "\nValueError: bad lr\n")
sys.exit(3)
)");
  ProgramResult r = Run(Options(path));
  EXPECT_EQ(r.outcome, ProgramOutcome::kFailed);
  EXPECT_EQ(r.error.rfind("exit status 3: xxx", 0), 0u) << r.error;
  EXPECT_NE(r.error.find("ValueError: bad lr"), std::string::npos);
  EXPECT_LE(r.error.size(), 2048u + 20);
  EXPECT_NE(r.output.find("ValueError"), std::string::npos);
}

TEST_F(ProgramRunnerTest, ASignalIsNamed) {
  const std::string path = Python("segv.py", R"(
os.write(3, b'{"epoch": 1, "a": 1}\n')
sys.stderr.write("about to crash\n"); sys.stderr.flush()
os.kill(os.getpid(), signal.SIGSEGV)
)");
  ProgramResult r = Run(Options(path));
  EXPECT_EQ(r.outcome, ProgramOutcome::kFailed);
  EXPECT_EQ(r.error, "killed by signal 11 (Segmentation fault): about to crash");
  EXPECT_EQ(r.epochs.size(), 1u);
}

TEST_F(ProgramRunnerTest, OutputIsATailOfValidUtf8) {
  const std::string path = Python("out.py", R"(
sys.stdout.buffer.write(b"\xff" + "é".encode() * 3000); sys.stdout.flush()
)");
  ProgramRunOptions o = Options(path);
  o.max_output_bytes = 1001;  // cuts a 2-byte character in two
  ProgramResult r = Run(o);
  EXPECT_EQ(r.outcome, ProgramOutcome::kCompleted);
  std::string want;
  for (int i = 0; i < 500; ++i) want += "é";
  EXPECT_EQ(r.output, want);
}

TEST_F(ProgramRunnerTest, MaxSecondsFailsAndKills) {
  const std::string path = Script("hang.sh", "#!/bin/sh\necho $$ > \"$1\"\nsleep 100\n");
  ProgramRunOptions o = Options(path);
  o.args = {dir_ + "/pid"};
  o.max_seconds = 0.5;
  ProgramResult r = Run(o);
  EXPECT_EQ(r.outcome, ProgramOutcome::kFailed);
  EXPECT_EQ(r.error, "ran past max_trial_seconds (0.5 s)");
  EXPECT_LT(r.seconds, 3);
  const pid_t pid = atoi(Slurp(dir_ + "/pid").c_str());
  ASSERT_GT(pid, 0);
  EXPECT_TRUE(Within(1, [&] { return GroupMembers(pid) == 0; }));
}

TEST_F(ProgramRunnerTest, StopSendsTheControlLine) {
  const std::string path = Python("stop.py", R"(
import select
fd = int(os.environ["HPSWEEP_CONTROL_FD"])
for e in range(1, 11):
    os.write(3, json.dumps({"epoch": e, "val_f1": e / 10}).encode() + b"\n")
    r, _, _ = select.select([fd], [], [], 0.2 if e < 2 else 5)
    if r:
        print("got", os.read(fd, 100).decode().strip(), flush=True)
        sys.exit(0)
)");
  ProgramRunOptions o = Options(path);
  o.grace_seconds = 5;
  o.on_epoch = [](const ProgramEpoch& e) { return e.epoch < 2; };
  ProgramResult r = Run(o);
  EXPECT_EQ(r.outcome, ProgramOutcome::kStopped) << r.error;
  EXPECT_EQ(r.epochs.size(), 2u);
  EXPECT_NE(r.output.find(R"(got {"action": "stop"})"), std::string::npos) << r.output;
  EXPECT_LT(r.seconds, 4);  // it left on the line, before the grace was over
}

TEST_F(ProgramRunnerTest, AProgramThatIgnoresStopIsKilled) {
  const std::string path = Python("stubborn.py", R"(
signal.signal(signal.SIGTERM, signal.SIG_IGN)
with open(sys.argv[1], "w") as f: f.write(str(os.getpgid(0)))
os.write(3, b'{"epoch": 1}\n')
while True: time.sleep(1)
)");
  ProgramRunOptions o = Options(path);
  o.args = {dir_ + "/pgid"};
  std::atomic<bool> stop{false};
  o.stop = &stop;
  o.on_epoch = [&](const ProgramEpoch&) {
    stop = true;
    return true;
  };
  ProgramResult r = Run(o);
  EXPECT_EQ(r.outcome, ProgramOutcome::kStopped);
  EXPECT_EQ(r.epochs.size(), 1u);
  EXPECT_LT(r.seconds, 4);  // grace 0.3 s and term 0.3 s, and python's start on a busy machine
  const pid_t pgid = atoi(Slurp(dir_ + "/pgid").c_str());
  ASSERT_GT(pgid, 0);
  EXPECT_TRUE(Within(1, [&] { return GroupMembers(pgid) == 0; }));
}

TEST_F(ProgramRunnerTest, CancelTermsAtOnce) {
  const std::string path = Script("sleep.sh", "#!/bin/sh\nsleep 100\n");
  ProgramRunOptions o = Options(path);
  o.grace_seconds = 100;  // not used by a cancel
  std::atomic<bool> cancel{false};
  o.cancel = &cancel;
  std::thread t([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    cancel = true;
  });
  ProgramResult r = Run(o);
  t.join();
  EXPECT_EQ(r.outcome, ProgramOutcome::kCancelled);
  EXPECT_EQ(r.error, "");
  EXPECT_LT(r.seconds, 2);
}

struct Hostile {
  const char* name;
  const char* body;  // python writing to fd 3; the runner must end it (it sleeps afterwards)
  const char* error;  // the start of the error
};

TEST_F(ProgramRunnerTest, HostileLinesFailTheTrialAndEndTheProgram) {
  const Hostile cases[] = {
      {"nan", R"(os.write(3, (json.dumps({"epoch": 1, "x": float("nan")}) + "\n").encode()))",
       "report line 1: not JSON: {\"epoch\": 1, \"x\": NaN}"},
      {"long", R"(os.write(3, b'{"epoch": 1}\n'); os.write(3, b"x" * 10_000_000))",
       "report line 2: longer than 65536 bytes"},
      {"many", R"(os.write(3, (json.dumps({f"m{i}": i for i in range(10000)}) + "\n").encode()))",
       "report line 1: longer than 65536 bytes"},
      {"metrics", R"(os.write(3, (json.dumps({f"m{i}": i for i in range(65)}) + "\n").encode()))",
       "report line 1: more than 64 metrics"},
      {"order", R"(os.write(3, b'{"epoch": 1}\n\n{"epoch": 3}\n'))",
       "report line 3: epoch 3 out of order (expected 2)"},
      {"utf8", R"(os.write(3, b'{"epoch": 1, "\xc3\x28": 1}\n'))", "report line 1: invalid UTF-8"},
      {"nested", R"(os.write(3, b'{"epoch": 1, "a": {"b": 1}}\n'))",
       "report line 1: \"a\" is nested"},
      {"after", R"(os.write(3, b'{"f": 1}\n{"epoch": 1}\n'))",
       "report line 2: a line after the final line"},
      {"partial", R"(os.write(3, b'{"epoch": 1}\n{"epoch": 2, "a": "x'); sys.exit(0))",
       "report line 2: not JSON"},
  };
  for (const Hostile& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string path =
        Python(std::string(c.name) + ".py",
               std::string(c.body) + "\nwith open(sys.argv[1], 'w') as f: f.write(str(os.getpgid(0)))\n"
                                     "time.sleep(30)\n");
    ProgramRunOptions o = Options(path);
    o.args = {dir_ + "/" + c.name + ".pgid"};
    o.term_seconds = 5;  // a bad line ends the program faster than this
    ProgramResult r = Run(o);
    EXPECT_EQ(r.outcome, ProgramOutcome::kFailed);
    EXPECT_EQ(r.error.rfind(c.error, 0), 0u) << r.error;
    EXPECT_LT(r.error.size(), 200u);
    EXPECT_LT(r.seconds, 5);
  }
}

TEST_F(ProgramRunnerTest, ResumeStartsAfterTheResumeEpoch) {
  const std::string path = Script("resume.sh", R"(#!/bin/sh
printf '{"epoch": %s}\n' "$@" >&3
)");
  ProgramRunOptions o = Options(path);
  o.resume_epoch = 2;
  o.args = {"3", "4"};
  ProgramResult r = Run(o);
  EXPECT_EQ(r.outcome, ProgramOutcome::kCompleted) << r.error;
  ASSERT_EQ(r.epochs.size(), 2u);
  EXPECT_EQ(r.epochs[0].epoch, 3);
  o.args = {"1"};
  r = Run(o);
  EXPECT_EQ(r.outcome, ProgramOutcome::kFailed);
  EXPECT_EQ(r.error, "report line 1: epoch 1 out of order (expected 3): {\"epoch\": 1}");
  o.args = {"3", "4", "5", "6", "7", "8", "9", "10", "11"};
  r = Run(o);
  EXPECT_EQ(r.error.rfind("report line 9: epoch 11 is past the trial's epochs (10)", 0), 0u)
      << r.error;
}

TEST_F(ProgramRunnerTest, NoProcessOfTheGroupOutlivesTheProgram) {
  const std::string path = Python("fork.py", R"(
import subprocess
p = subprocess.Popen(["sleep", "1000"])
with open(sys.argv[1], "w") as f: f.write("%d %d" % (p.pid, os.getpgid(0)))
os.write(3, b'{"epoch": 1}\n')
)");
  ProgramRunOptions o = Options(path);
  o.args = {dir_ + "/pids"};
  ProgramResult r = Run(o);
  EXPECT_EQ(r.outcome, ProgramOutcome::kCompleted) << r.error;
  EXPECT_LT(r.seconds, 5);
  int child = 0, pgid = 0;
  ASSERT_EQ(sscanf(Slurp(dir_ + "/pids").c_str(), "%d %d", &child, &pgid), 2);
  EXPECT_TRUE(Within(1, [&] { return !Alive(child) && GroupMembers(pgid) == 0; }));
}

TEST_F(ProgramRunnerTest, TheProgramSeesNoSecretAndNoDescriptor) {
  setenv("HPSWEEP_TOKEN", "secret-token", 1);
  // Open without close-on-exec, as careless code of the worker might, above the program's 0-4.
  const int opened = open("/dev/null", O_RDONLY);
  ASSERT_GE(opened, 0);
  const int leaked = fcntl(opened, F_DUPFD, 7);
  close(opened);
  ASSERT_GE(leaked, 7);
  const std::string path = Python("env.py", R"(
bad = []
if "HPSWEEP_TOKEN" in os.environ: bad.append("token")
if os.environ.get("HPSWEEP_REPORT_FD") != "3": bad.append("report fd")
if os.environ.get("HPSWEEP_CONTROL_FD") != "4": bad.append("control fd")
if os.environ.get("HPSWEEP_DATA_DIR") != "/data/mnist": bad.append("data dir")
if os.environ.get("KEEP_ME") != "yes": bad.append("environment")
if not os.path.isdir(os.environ["HPSWEEP_CHECKPOINT_DIR"]): bad.append("checkpoint dir")
if oct(os.stat(os.environ["HPSWEEP_TRIAL"]).st_mode & 0o777) != "0o600": bad.append("mode")
if sys.stdin.read() != "": bad.append("stdin")
for fd in range(5, 21):
    try:
        os.fstat(fd)
        bad.append("fd %d" % fd)
    except OSError:
        pass
if signal.getsignal(signal.SIGTERM) != signal.SIG_DFL: bad.append("SIGTERM")
if bad:
    print("bad:", bad, file=sys.stderr); sys.exit(1)
)");
  setenv("KEEP_ME", "yes", 1);
  ProgramRunOptions o = Options(path);
  o.data_dir = "/data/mnist";
  ProgramResult r = Run(o);
  close(leaked);
  unsetenv("HPSWEEP_TOKEN");
  EXPECT_EQ(r.outcome, ProgramOutcome::kCompleted) << r.error;
}

TEST_F(ProgramRunnerTest, EnvironmentDropsTheWorkersVariables) {
  std::string a = "PATH=/bin", b = "HPSWEEP_TOKEN=x", c = "HPSWEEP_TRIAL=old", d = "NOEQUALS";
  char* env[] = {a.data(), b.data(), c.data(), d.data(), nullptr};
  EXPECT_EQ(ProgramEnvironment(env, {{"HPSWEEP_TRIAL", "/t"}, {"HPSWEEP_REPORT_FD", "3"}}),
            (std::vector<std::string>{"PATH=/bin", "HPSWEEP_REPORT_FD=3", "HPSWEEP_TRIAL=/t"}));
}

TEST_F(ProgramRunnerTest, ExecFailureNamesThePathAndTheReason) {
  const std::string path = dir_ + "/not_executable";
  std::ofstream(path) << "#!/bin/sh\nexit 0\n";
  chmod(path.c_str(), 0600);
  ProgramResult r = Run(Options(path));
  EXPECT_EQ(r.outcome, ProgramOutcome::kFailed);
  EXPECT_EQ(r.error, "cannot run " + path + ": Permission denied");
  r = Run(Options(dir_ + "/missing"));
  EXPECT_EQ(r.error, "cannot run " + dir_ + "/missing: No such file or directory");
  // The worker's own problem is a Status: a work folder that is not there.
  ProgramRunOptions o = Options(path);
  o.work_dir = dir_ + "/no/such/folder";
  EXPECT_FALSE(RunProgram(o).ok());
}

TEST_F(ProgramRunnerTest, CheckpointsAfterEpochLinesThatChangedThem) {
  const std::string path = Python("ckpt.py", R"(
d = os.environ["HPSWEEP_CHECKPOINT_DIR"]
for e in range(1, 5):
    if e != 3:  # epoch 3 leaves the folder as it was
        with open(d + "/state.tmp", "w") as f: f.write(str(e))
        os.rename(d + "/state.tmp", d + "/state")
    os.write(3, json.dumps({"epoch": e}).encode() + b"\n")
    # The runner packs right after on_epoch: the next epoch writes once it has seen this one.
    seen = "%s/seen%d" % (sys.argv[1], e)
    for _ in range(500):
        if os.path.exists(seen): break
        time.sleep(0.01)
    time.sleep(0.1)
)");
  ProgramRunOptions o = Options(path);
  o.args = {dir_};
  o.on_epoch = [&](const ProgramEpoch& e) {
    std::ofstream(dir_ + "/seen" + std::to_string(e.epoch)) << "";
    return true;
  };
  std::vector<std::pair<int, std::string>> got;
  o.on_checkpoint = [&](int epoch, const std::string& packed) {
    got.emplace_back(epoch, packed);
  };
  ProgramResult r = Run(o);
  EXPECT_EQ(r.outcome, ProgramOutcome::kCompleted) << r.error;
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].first, 1);
  EXPECT_EQ(got[1].first, 2);
  EXPECT_EQ(got[2].first, 4);
  const std::string out = dir_ + "/restored";
  ASSERT_TRUE(UnpackFolder(got[2].second, out, 1 << 20).ok());
  EXPECT_EQ(Slurp(out + "/state"), "4");
  EXPECT_EQ(r.checkpoint_error, "");
}

TEST_F(ProgramRunnerTest, ACheckpointOverTheLimitIsSkipped) {
  const std::string path = Python("bigckpt.py", R"(
d = os.environ["HPSWEEP_CHECKPOINT_DIR"]
with open(d + "/big", "w") as f: f.write("x" * 5000)
os.write(3, b'{"epoch": 1}\n')
)");
  ProgramRunOptions o = Options(path);
  o.max_checkpoint_bytes = 1000;
  int calls = 0;
  o.on_checkpoint = [&](int, const std::string&) { ++calls; };
  ProgramResult r = Run(o);
  EXPECT_EQ(r.outcome, ProgramOutcome::kCompleted) << r.error;
  EXPECT_EQ(calls, 0);
  EXPECT_NE(r.checkpoint_error.find("over the limit of 1000 bytes"), std::string::npos);
}

// The supervisor killed by someone else: the program goes with it (its PR_SET_PDEATHSIG), its
// grandchild by the worker's SIGKILL to the group, and the result says what happened.
TEST_F(ProgramRunnerTest, AKilledSupervisorTakesTheGroupWithIt) {
  const std::string path = Python("lost.py", R"(
import subprocess
subprocess.Popen(["sleep", "1000"])
with open(sys.argv[1] + ".tmp", "w") as f: f.write(str(os.getpgid(0)))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
while True: time.sleep(1)
)");
  ProgramRunOptions o = Options(path);
  const std::string pgid_file = dir_ + "/pgid";
  o.args = {pgid_file};
  std::thread killer([&] {
    if (!Within(10, [&] { return fs::exists(pgid_file); })) return;
    kill(atoi(Slurp(pgid_file).c_str()), SIGKILL);  // the group's id is the supervisor's pid
  });
  ProgramResult r = Run(o);
  killer.join();
  EXPECT_EQ(r.outcome, ProgramOutcome::kFailed);
  EXPECT_EQ(r.error, "the program's supervisor ended without its exit status");
  EXPECT_LT(r.seconds, 5);
  const pid_t pgid = atoi(Slurp(pgid_file).c_str());
  EXPECT_TRUE(Within(1, [&] { return GroupMembers(pgid) == 0; }));
}

// The worker SIGKILLed mid-trial: the kernel tells the supervisor, which ends the group.
TEST_F(ProgramRunnerTest, TheGroupDiesWithAKilledWorker) {
  const std::string path = Python("orphan.py", R"(
import subprocess
subprocess.Popen(["sleep", "1000"])
signal.signal(signal.SIGTERM, signal.SIG_IGN)
with open(sys.argv[1] + ".tmp", "w") as f: f.write(str(os.getpgid(0)))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
while True: time.sleep(1)
)");
  ProgramRunOptions o = Options(path);
  const std::string pgid_file = dir_ + "/pgid";
  o.args = {pgid_file};
  const pid_t worker = fork();
  ASSERT_GE(worker, 0);
  if (worker == 0) {
    StatusOr<ProgramResult> r = RunProgram(o);
    _exit(r.ok() ? 0 : 1);
  }
  ASSERT_TRUE(Within(10, [&] { return fs::exists(pgid_file); }));
  const pid_t pgid = atoi(Slurp(pgid_file).c_str());
  ASSERT_GT(pgid, 0);
  EXPECT_EQ(GroupMembers(pgid), 3);  // the supervisor, the program, its sleep
  kill(worker, SIGKILL);
  int status = 0;
  waitpid(worker, &status, 0);
  EXPECT_TRUE(Within(2, [&] { return GroupMembers(pgid) == 0; }));
}

}  // namespace
}  // namespace hpsweep::program_runner_test
