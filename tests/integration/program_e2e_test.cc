// End to end: sweeps of the user's own program (docs/programs.md) with real processes: a
// coordinator, workers that offer a stdlib-Python program with --program, and the program's
// processes. What reaches the leaderboard, what pruning and a cancel do to the program, how a
// failing or hostile program ends its trial, a worker killed mid-trial (the trial resumes
// elsewhere from the program's checkpoint folder, and no process of the trial survives), and a
// sweep no worker can run.
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/coordinator_client.h"
#include "tests/integration/e2e_test.h"
#include "tests/integration/process.h"

namespace hpsweep::program_e2e_test {
namespace {

namespace pb = ::hpsweep::v1;

// The test program. --mode picks what it does; every mode but the hostile ones reports
// {"epoch": e, "score": ..., "val_loss": ...} each epoch, keeps a checkpoint file (the epoch it
// reached) in HPSWEEP_CHECKPOINT_DIR, resumes from it, writes its pid to pids/, and stops when
// told on the control descriptor.
const char kProgram[] = R"(#!/usr/bin/env python3
import json, os, select, signal, sys, time
args = dict(a[2:].split("=", 1) for a in sys.argv[1:])
info = json.load(open(os.environ["HPSWEEP_TRIAL"]))
report = int(os.environ["HPSWEEP_REPORT_FD"])
control = int(os.environ["HPSWEEP_CONTROL_FD"])
ckdir = os.environ["HPSWEEP_CHECKPOINT_DIR"]
mode = args.get("mode", "good")
x = float(args.get("x", "0"))
pids = args.get("pids", "")
if pids:
    with open(os.path.join(pids, str(os.getpid())), "w") as f:
        f.write(json.dumps({"mode": mode, "env": {k: v for k, v in os.environ.items()
                                                  if k.startswith("HPSWEEP_")},
                            "resume": info["resume_epoch"]}))
def send(obj):
    os.write(report, (json.dumps(obj) + "\n").encode())
def told_to_stop():
    r, _, _ = select.select([control], [], [], 0)
    return bool(r) and b"stop" in os.read(control, 100)
if mode == "ignore":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
if mode == "exit1":
    sys.stderr.write("cannot open the data: no such file\n"); sys.exit(1)
if mode == "segv":
    os.kill(os.getpid(), signal.SIGSEGV)
if mode == "nan":
    os.write(report, b'{"epoch": 1, "score": NaN}\n'); time.sleep(30)
if mode == "long":
    os.write(report, b'{"epoch": 1, "s": "' + b"x" * (10 << 20) + b'"}\n'); time.sleep(30)
if mode == "names":
    send({"epoch": 1, **{"m%d" % i: 0.5 for i in range(10000)}}); time.sleep(30)
if mode == "order":
    send({"epoch": 2, "score": 0.1}); time.sleep(30)
if mode == "utf8":
    os.write(report, b'{"epoch": 1, "sc\xff\xfe": 0.5}\n'); time.sleep(30)
if mode == "child":  # leaves a grandchild behind in its group
    os.system("sleep 1000 &")
start = info["resume_epoch"]
for e in range(start + 1, info["epochs"] + 1):
    time.sleep(float(args.get("sleep", "0.05")))
    if mode == "hang":
        time.sleep(1000)
    with open(os.path.join(ckdir, "state.tmp"), "w") as f:
        f.write(str(e))
    os.replace(os.path.join(ckdir, "state.tmp"), os.path.join(ckdir, "state"))
    send({"epoch": e, "score": x * e, "val_loss": 1.0 / (1 + abs(x * e))})
    print("epoch", e, "done", flush=True)
    if mode != "ignore" and told_to_stop():
        sys.exit(0)
    if mode == "ignore":
        while True:
            time.sleep(1)
send({"test_score": x})
)";

class ProgramE2ETest : public E2ETest {
 protected:
  ProgramE2ETest() : E2ETest("program") {}

  void SetUp() override {
    E2ETest::SetUp();
    if (IsSkipped()) return;
    program_ = P("prog.py");
    std::ofstream(program_) << kProgram;
    ::chmod(program_.c_str(), 0755);
    pids_ = P("pids");
    std::filesystem::create_directories(pids_);
  }

  std::unique_ptr<Process> StartCoordinator(double lease_seconds = 30, int http_port = 0) {
    std::vector<std::string> args = {"coordinator", "--listen", addr_, "--db", db_, "--data-dir",
                                     MnistDir(), "--lease-seconds", std::to_string(lease_seconds)};
    if (http_port > 0) {
      args.push_back("--http");
      args.push_back("127.0.0.1:" + std::to_string(http_port));
    }
    return std::make_unique<Process>(args, log_);
  }
  std::unique_ptr<Process> StartWorker(const std::string& name, bool offer = true,
                                       std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"worker",    "--coordinator", addr_,  "--name",
                                     name,        "--data-dir",    MnistDir(), "--program-grace",
                                     "1"};
    if (offer) args.push_back("--program=prog=" + program_);
    args.insert(args.end(), extra.begin(), extra.end());
    return std::make_unique<Process>(args, P(name + ".log"));
  }
  // The pids the program's processes wrote, with what each wrote.
  std::map<int, std::string> Pids() {
    std::map<int, std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(pids_)) {
      out[std::stoi(e.path().filename().string())] = ReadText(e.path().string());
    }
    return out;
  }
  static bool Alive(int pid) {
    // A zombie is gone for our purpose; /proc/PID/stat's third field says so.
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string pid_field, comm, state;
    if (!(stat >> pid_field >> comm >> state)) return false;
    return state != "Z";
  }
  std::string Sweep(const std::string& body) {
    return "name: prog-e2e\nprogram: prog\nmetric: {name: score, goal: maximize}\n" + body;
  }
  bool Finished(int64_t sweep) {
    const std::string s = TestClient(addr_).Status(sweep).state();
    return s == "completed" || s == "cancelled";
  }

  std::string program_, pids_;
};

TEST_F(ProgramE2ETest, ReportsRankTheLeaderboardByTheProgramsMetric) {
  const int http_port = FreePort();
  auto coord = StartCoordinator(30, http_port);
  ASSERT_TRUE(TestClient(addr_).WaitUp(20));
  const int64_t sweep = TestClient(addr_).Submit(
      Sweep("fixed: {epochs: 3, pids: " + pids_ + "}\nparameters:\n  x: {values: [0.5, -2, 3]}\n"));
  ASSERT_GT(sweep, 0);
  // None of the worker's HPSWEEP_ variables (its token, say) reaches the program.
  setenv("HPSWEEP_PROBE", "secret-of-the-worker", 1);
  auto worker = StartWorker("w1", true, {"--exit-when-idle"});
  unsetenv("HPSWEEP_PROBE");
  ASSERT_TRUE(PollFor(60, [&] { return Finished(sweep); })) << "sweep did not finish";
  ASSERT_TRUE(worker->Wait(30));

  const nlohmann::json ex = TestClient(addr_).Export(sweep);
  ASSERT_EQ(ex["trials"].size(), 3u);
  std::map<double, double> value_of_x;
  for (const auto& t : ex["trials"]) {
    EXPECT_EQ(t["status"], "completed") << t.dump();
    ASSERT_EQ(t["epochs"].size(), 3u);
    EXPECT_EQ(t["epochs"][2]["score"].get<double>(), t["params"]["x"].get<double>() * 3);
    EXPECT_EQ(t["final_metrics"]["test_score"].get<double>(), t["params"]["x"].get<double>());
    // The final line's value of the sweep's metric is absent: the best epoch's ranks.
    value_of_x[t["params"]["x"].get<double>()] = t["metric_value"].get<double>();
  }
  EXPECT_EQ(value_of_x[3], 9);
  EXPECT_EQ(value_of_x[-2], -2);  // a negative metric is a value, its best epoch the first
  std::string out;
  ASSERT_EQ(RunCli({"leaderboard", "--coordinator", addr_, "--format", "json"}, &out), 0) << out;
  const nlohmann::json lb = nlohmann::json::parse(out);
  ASSERT_EQ(lb["rows"].size(), 3u) << out;
  EXPECT_EQ(lb["rows"][0]["params"]["x"].dump(), "3");
  EXPECT_EQ(lb["rows"][2]["params"]["x"].dump(), "-2");
  ASSERT_EQ(Pids().size(), 3u);
  for (const auto& [pid, text] : Pids()) {
    EXPECT_EQ(text.find("secret-of-the-worker"), std::string::npos) << text;
    EXPECT_NE(text.find("HPSWEEP_REPORT_FD"), std::string::npos) << text;
  }
  // The program's output is kept: hpsweep logs shows it.
  ASSERT_EQ(RunCli({"logs", std::to_string(sweep) + "#1", "--coordinator", addr_}, &out), 0)
      << out;
  EXPECT_NE(out.find("epoch 3 done"), std::string::npos) << out;
  // The dashboard too: the sweep's program, and each trial's output as plain text.
  httplib::Client web("127.0.0.1", http_port);
  auto board = web.Get("/api/sweeps/" + std::to_string(sweep) + "/leaderboard");
  ASSERT_TRUE(board) << "dashboard did not answer";
  ASSERT_EQ(board->status, 200) << board->body;
  const nlohmann::json dash = nlohmann::json::parse(board->body);
  EXPECT_EQ(dash["sweep"]["program"], "prog");
  const int64_t trial_id = dash["rows"][0]["trial_id"].get<int64_t>();
  auto shown = web.Get("/api/sweeps/" + std::to_string(sweep) + "/output/" +
                       std::to_string(trial_id));
  ASSERT_TRUE(shown);
  ASSERT_EQ(shown->status, 200) << shown->body;
  EXPECT_EQ(shown->get_header_value("Content-Type"), "text/plain; charset=utf-8");
  EXPECT_EQ(shown->get_header_value("X-Content-Type-Options"), "nosniff");
  EXPECT_NE(shown->body.find("epoch 3 done"), std::string::npos) << shown->body;
  auto none = web.Get("/api/sweeps/" + std::to_string(sweep) + "/output/999999");
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 404);
}

TEST_F(ProgramE2ETest, FailingAndHostileProgramsFailTheirTrialsAndTheWorkerServesOn) {
  auto coord = StartCoordinator();
  ASSERT_TRUE(TestClient(addr_).WaitUp(20));
  const int64_t sweep = TestClient(addr_).Submit(Sweep(
      "method: list\nmax_attempts: 1\nmax_trial_seconds: 3\nfixed: {epochs: 2, x: 1}\n"
      "trials:\n  - {mode: exit1}\n  - {mode: segv}\n  - {mode: hang}\n  - {mode: nan}\n"
      "  - {mode: long}\n  - {mode: names}\n  - {mode: order}\n  - {mode: utf8}\n"
      "  - {mode: good}\n"));
  ASSERT_GT(sweep, 0);
  auto worker = StartWorker("w1", true, {"--exit-when-idle"});
  ASSERT_TRUE(PollFor(200, [&] { return Finished(sweep); })) << "sweep did not finish";
  ASSERT_TRUE(worker->Wait(30));
  EXPECT_EQ(worker->exit_code(), 0);

  const nlohmann::json ex = TestClient(addr_).Export(sweep);
  std::map<std::string, nlohmann::json> by_mode;
  for (const auto& t : ex["trials"]) by_mode[t["params"]["mode"].get<std::string>()] = t;
  const std::map<std::string, std::string> want = {
      {"exit1", "exit status 1"},          {"segv", "signal 11"},
      {"hang", "max_trial_seconds"},       {"nan", "report line 1"},
      {"long", "report line 1"},           {"names", "report line 1"},
      {"order", "report line 1"},          {"utf8", "report line 1"}};
  for (const auto& [mode, why] : want) {
    ASSERT_TRUE(by_mode.count(mode)) << mode;
    EXPECT_EQ(by_mode[mode]["status"], "failed") << mode;
    EXPECT_NE(by_mode[mode]["error"].get<std::string>().find(why), std::string::npos)
        << mode << ": " << by_mode[mode]["error"];
  }
  // The stderr tail is in the error.
  EXPECT_NE(by_mode["exit1"]["error"].get<std::string>().find("cannot open the data"),
            std::string::npos);
  EXPECT_EQ(by_mode["good"]["status"], "completed");
}

TEST_F(ProgramE2ETest, HyperbandPrunesAndTheProgramIsGoneWithinTheGrace) {
  auto coord = StartCoordinator();
  ASSERT_TRUE(TestClient(addr_).WaitUp(20));
  // One worker takes the trials in order: x=3 leads at the rung (epoch 1); x=0.1 and x=0.2 are
  // pruned after it. x=0.2 ignores the control line and SIGTERM: it is SIGKILLed.
  const int64_t sweep = TestClient(addr_).Submit(Sweep(
      "method: list\nearly_terminate: {type: hyperband, min_iter: 1, eta: 3}\n"
      "fixed: {epochs: 4, sleep: 0.3, pids: " + pids_ + "}\n"
      "trials:\n  - {x: 3}\n  - {x: 0.1}\n  - {x: 0.2, mode: ignore}\n"));
  ASSERT_GT(sweep, 0);
  auto worker = StartWorker("w1", true, {"--exit-when-idle"});
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(PollFor(200, [&] { return Finished(sweep); })) << "sweep did not finish";
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(worker->Wait(30));
  const nlohmann::json ex = TestClient(addr_).Export(sweep);
  int pruned = 0;
  for (const auto& t : ex["trials"]) {
    if (t["status"] == "pruned") {
      ++pruned;
      EXPECT_LT(t["epochs_run"].get<int>(), 4) << t.dump();
    }
  }
  EXPECT_EQ(pruned, 2) << ex.dump();
  // The one that ignored everything was killed (grace 1 s + 5 s), not waited for (1000 s).
  EXPECT_LT(seconds, 60);
  for (const auto& [pid, text] : Pids()) EXPECT_FALSE(Alive(pid)) << pid << " " << text;
}

TEST_F(ProgramE2ETest, AKilledWorkersTrialResumesElsewhereAndLeavesNoProcess) {
  auto coord = StartCoordinator(/*lease_seconds=*/3);
  ASSERT_TRUE(TestClient(addr_).WaitUp(20));
  const int64_t sweep = TestClient(addr_).Submit(
      Sweep("fixed: {epochs: 6, sleep: 0.5, x: 1, mode: child, pids: " + pids_ + "}\n"));
  ASSERT_GT(sweep, 0);
  auto first = StartWorker("w1");
  // Killed once the trial has a checkpoint and two epochs stored.
  ASSERT_TRUE(PollFor(60, [&] {
    const nlohmann::json ex = TestClient(addr_).Export(sweep);
    return !ex["trials"].empty() && ex["trials"][0]["epochs_run"].get<int>() >= 2;
  }));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // (its checkpoint follows)
  ::kill(first->pid(), SIGKILL);
  first->Wait(10);
  // Every process of the trial goes with its worker: the program and its grandchild.
  ASSERT_TRUE(PollFor(5, [&] {
    for (const auto& [pid, text] : Pids()) {
      if (Alive(pid)) return false;
    }
    return true;
  })) << "a process of the killed worker's trial survived it";
  auto second = StartWorker("w2", true, {"--exit-when-idle"});
  ASSERT_TRUE(PollFor(60, [&] { return Finished(sweep); })) << "sweep did not finish";
  ASSERT_TRUE(second->Wait(30));
  const nlohmann::json ex = TestClient(addr_).Export(sweep);
  const nlohmann::json& t = ex["trials"][0];
  EXPECT_EQ(t["status"], "completed");
  EXPECT_EQ(t["epochs"].size(), 6u);
  ASSERT_EQ(t["attempt_history"].size(), 2u) << t.dump();
  EXPECT_GE(t["attempt_history"][1]["resumed_from_epoch"].get<int>(), 2) << t.dump();
  bool resumed_program = false;
  for (const auto& [pid, text] : Pids()) {
    resumed_program = resumed_program || text.find("\"resume\": 0") == std::string::npos;
  }
  EXPECT_TRUE(resumed_program) << "no program started from resume_epoch > 0";
}

// method: pbt over a program: each lease trains one segment (the worker asks the program to stop
// after the segment's epoch line and sends its checkpoint folder), members resume from folders
// (their own, or the one they took), and a member's x changes between segments.
TEST_F(ProgramE2ETest, APopulationOfProgramsTrainsInSegmentsAndResumesFromFolders) {
  auto coord = StartCoordinator();
  ASSERT_TRUE(TestClient(addr_).WaitUp(20));
  const int64_t sweep = TestClient(addr_).Submit(
      Sweep("method: pbt\nseed: 2\nfixed: {epochs: 3, sleep: 0.05, pids: " + pids_ + "}\n"
            "parameters:\n  x: {values: [0.1, 0.5, 1.0, 2.0]}\n"
            "pbt: {population: 4, interval: 1, resample_probability: 0, mutable: [x]}\n"));
  ASSERT_GT(sweep, 0);
  auto worker = StartWorker("w1", true, {"--exit-when-idle"});
  ASSERT_TRUE(PollFor(90, [&] { return Finished(sweep); })) << "sweep did not finish";
  ASSERT_TRUE(worker->Wait(30));
  const nlohmann::json ex = TestClient(addr_).Export(sweep);
  EXPECT_EQ(ex["sweep"]["pbt"]["decided_after_epoch"], 2);
  ASSERT_EQ(ex["trials"].size(), 4u);
  int taken = 0;
  for (const nlohmann::json& t : ex["trials"]) {
    EXPECT_EQ(t["status"], "completed") << t.dump();
    EXPECT_EQ(t["epochs"].size(), 3u) << t.dump();
    for (const nlohmann::json& e : t["schedule"]) taken += e.contains("from");
    // Every segment after the first resumed from a folder: 3 leases, the last two resumed.
    ASSERT_EQ(t["attempt_history"].size(), 3u) << t.dump();
    EXPECT_EQ(t["attempt_history"][2]["resumed_from_epoch"], 2) << t.dump();
  }
  EXPECT_GE(taken, 2);  // a bottom member took a top one's folder at each of the two decisions
  int resumed = 0;
  for (const auto& [pid, text] : Pids()) resumed += text.find("\"resume\": 0") == std::string::npos;
  EXPECT_EQ(resumed, 8) << "4 members x 2 later segments start from their folders";
  EXPECT_NE(ReadText(P("w1.log")).find("segment done after epoch 2"), std::string::npos);
}

TEST_F(ProgramE2ETest, ASweepNoWorkerOffersWaitsAndSaysWhy) {
  auto coord = StartCoordinator();
  ASSERT_TRUE(TestClient(addr_).WaitUp(20));
  const int64_t sweep =
      TestClient(addr_).Submit(Sweep("fixed: {epochs: 1}\nparameters:\n  x: {values: [1, 2]}\n"));
  ASSERT_GT(sweep, 0);
  auto worker = StartWorker("plain", /*offer=*/false);
  ASSERT_TRUE(PollFor(20, [&] {
    std::string out;
    RunCli({"workers", "--coordinator", addr_}, &out);
    return out.find("plain") != std::string::npos;
  }));
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // (it asks for work meanwhile)
  const pb::SweepStatus st = TestClient(addr_).Status(sweep);
  EXPECT_EQ(st.running(), 0);
  EXPECT_EQ(st.completed(), 0);
  EXPECT_NE(st.waiting().find("no live worker offers program 'prog'"), std::string::npos)
      << st.waiting();
  std::string out;
  ASSERT_EQ(RunCli({"status", std::to_string(sweep), "--coordinator", addr_}, &out), 0);
  EXPECT_NE(out.find("waiting: no live worker offers program 'prog'"), std::string::npos) << out;
  // A worker that offers it takes the trials.
  auto offering = StartWorker("offering", true, {"--exit-when-idle"});
  ASSERT_TRUE(PollFor(30, [&] { return Finished(sweep); }));
  // `workers` says who offers what.
  ASSERT_EQ(RunCli({"workers", "--coordinator", addr_, "--format", "json"}, &out), 0);
  const nlohmann::json workers = nlohmann::json::parse(out);
  std::map<std::string, nlohmann::json> offers;
  for (const auto& w : workers["workers"]) offers[w["name"].get<std::string>()] = w["programs"];
  EXPECT_EQ(offers["offering"], nlohmann::json::array({"prog"})) << out;
  EXPECT_EQ(offers["plain"], nlohmann::json::array()) << out;
  EXPECT_EQ(TestClient(addr_).Status(sweep).completed(), 2);
}

// The README's example, for real: examples/pytorch-lstm/train.py (PyTorch, Debian's
// python3-torch) trained by a worker on 1,000 images for 2 epochs, ranked by its val_f1.
TEST_F(ProgramE2ETest, ThePyTorchExampleTrainsThroughAWorker) {
  if (std::system("/usr/bin/python3 -c 'import torch' 2>/dev/null") != 0) {
    GTEST_SKIP() << "no python3-torch (apt-get install python3-torch)";
  }
  // Debian's python3, whichever python3 comes first on PATH.
  const std::string wrapper = P("torch-lstm.sh");
  std::ofstream(wrapper) << "#!/bin/sh\nexec /usr/bin/python3 " HPSWEEP_SOURCE_DIR
                            "/examples/pytorch-lstm/train.py \"$@\"\n";
  ::chmod(wrapper.c_str(), 0755);
  auto coord = StartCoordinator();
  ASSERT_TRUE(TestClient(addr_).WaitUp(20));
  const int64_t sweep = TestClient(addr_).Submit(
      "name: torch\nprogram: torch-lstm\nmetric: {name: val_f1, goal: maximize}\n"
      "fixed: {epochs: 2, train_limit: 1000, hidden: 32, lr: 0.01, batch_size: 50}\n"
      "parameters:\n  optimizer: {values: [adam]}\n");
  ASSERT_GT(sweep, 0);
  auto worker = StartWorker("torch", false, {"--exit-when-idle", "--program=torch-lstm=" + wrapper});
  ASSERT_TRUE(PollFor(240, [&] { return Finished(sweep); })) << "sweep did not finish";
  ASSERT_TRUE(worker->Wait(30));
  const nlohmann::json ex = TestClient(addr_).Export(sweep);
  ASSERT_EQ(ex["trials"].size(), 1u);
  const nlohmann::json& t = ex["trials"][0];
  ASSERT_EQ(t["status"], "completed") << t.dump();
  ASSERT_EQ(t["epochs"].size(), 2u);
  // Learned something: macro F1 over ten digits well above chance (0.1).
  EXPECT_GT(t["metric_value"].get<double>(), 0.3) << t.dump();
  EXPECT_GT(t["epochs"][1]["val_accuracy"].get<double>(), 0.3);
  EXPECT_GT(t["final_metrics"]["test_f1"].get<double>(), 0.3);
  EXPECT_GT(t["test_accuracy"].get<double>(), 0.3);
}

}  // namespace
}  // namespace hpsweep::program_e2e_test
