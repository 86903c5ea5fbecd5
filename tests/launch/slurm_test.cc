// `hpsweep run --launcher slurm` against a real single-node Slurm (slurmctld, slurmd and munged
// on loopback, started per test by tests/launch/start_slurm.sh with their own key, ports and
// state). A test skips, saying exactly why, only when the daemons cannot start (not root, Slurm
// not installed, a daemon's error); the rest of the suite does not need any of this.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "launch/command.h"
#include "tests/integration/process.h"
#include "tests/mnist_dir.h"

namespace hpsweep {
namespace {

using json = nlohmann::json;

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Every file under dir, concatenated (logs, job scripts, slurmctld's saved job state).
std::string SlurpTree(const std::string& dir) {
  std::string all;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file(ec) && it->path().filename() != "worker.token") {
      all += Slurp(it->path().string());
    }
  }
  return all;
}

bool WaitUntil(double seconds, const std::function<bool()>& ok) {
  const auto end = std::chrono::steady_clock::now() +
                   std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
  while (!ok()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

// Processes whose command line contains `needle`: pid -> command line (NULs as spaces).
std::vector<std::pair<pid_t, std::string>> ProcessesWith(const std::string& needle) {
  std::vector<std::pair<pid_t, std::string>> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string cmd = Slurp(e.path().string() + "/cmdline");
    for (char& c : cmd) c = c == '\0' ? ' ' : c;
    if (cmd.find(needle) != std::string::npos) out.push_back({std::stoi(name), cmd});
  }
  return out;
}

class SlurmTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!S_ISDIR(Stat(MnistDir()))) GTEST_SKIP() << "MNIST not found in " << MnistDir();
    StopStaleClusters();
    char tmpl[] = "/tmp/hpsweep-slurm-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    cluster_ = dir_ + "/cluster";
    auto r = RunCommand(
        {"bash", kScript, cluster_, std::to_string(FreePort()), std::to_string(FreePort())}, 60);
    if (!r.ok() || r->exit_code != 0) {
      const std::string why = r.ok() ? r->err : r.status().ToString();
      std::filesystem::remove_all(dir_);
      dir_.clear();
      GTEST_SKIP() << "Slurm daemons could not start: " << why;
    }
    setenv("SLURM_CONF", (cluster_ + "/slurm.conf").c_str(), 1);
    db_ = dir_ + "/s.db";
    run_dir_ = db_ + ".slurm";
  }

  void TearDown() override {
    if (dir_.empty()) return;
    // Jobs left by a failed test first (slurmstepd outlives slurmd), then the daemons.
    RunCommand({"scancel", "--user=root"}, 30);
    WaitUntil(30, [] {
      auto q = RunCommand({"squeue", "--noheader"}, 30);
      return q.ok() && q->out.empty();
    });
    std::vector<pid_t> daemons;
    for (const char* d : {"slurmd", "slurmctld", "munged"}) {
      const std::string pid = Slurp(cluster_ + "/" + d + ".pid");
      if (!pid.empty()) daemons.push_back(std::atoi(pid.c_str()));
    }
    RunCommand({"bash", kScript, "--stop", cluster_}, 60);
    for (pid_t p : daemons) EXPECT_NE(kill(p, 0), 0) << "daemon " << p << " still runs";
    // No worker of this test's cluster left (their command lines name the run folder).
    for (const auto& [pid, cmd] : ProcessesWith(run_dir_)) {
      ADD_FAILURE() << "left over: " << pid << " " << cmd;
      kill(pid, SIGKILL);
    }
    unsetenv("SLURM_CONF");
    std::filesystem::remove_all(dir_);
  }

  // A test killed before its TearDown (ctest's timeout) leaves its daemons running: stop those
  // of clusters older than any test may last, so that they do not pile up.
  static void StopStaleClusters() {
    std::error_code ec;
    const auto now = std::filesystem::file_time_type::clock::now();
    for (const auto& e : std::filesystem::directory_iterator("/tmp", ec)) {
      const std::string name = e.path().filename().string();
      if (name.rfind("hpsweep-slurm-", 0) != 0) continue;
      const auto age = now - std::filesystem::last_write_time(e.path(), ec);
      if (ec || age < std::chrono::minutes(10)) continue;
      RunCommand({"bash", kScript, "--stop", e.path().string() + "/cluster"}, 60);
      std::filesystem::remove_all(e.path(), ec);
    }
  }

  static mode_t Stat(const std::string& path) {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0 ? st.st_mode : 0;
  }

  std::string WriteSweep(const std::string& name, const std::string& fixed,
                         const std::string& units, int train_limit) {
    const std::string file = dir_ + "/" + name + ".yaml";
    std::ofstream(file) << "name: " << name << "\nmethod: grid\n"
                        << "data: {validation_split: 0.2, train_limit: " << train_limit << "}\n"
                        << "fixed: {" << fixed << ", batch_size: 64}\n"
                        << "parameters:\n  units: {values: [" << units << "]}\n";
    return file;
  }

  std::unique_ptr<Process> StartRun(const std::string& file, std::vector<std::string> extra) {
    std::vector<std::string> args = {"run",      file,          "--launcher",  "slurm",
                                     "--db",     db_,           "--data-dir",  MnistDir(),
                                     "--listen", "127.0.0.1:0", "--advertise", "127.0.0.1"};
    args.insert(args.end(), extra.begin(), extra.end());
    return std::make_unique<Process>(args, out_);
  }

  // The array job's id, from the run's output.
  std::string JobId() {
    std::string id;
    WaitUntil(60, [&] {
      const std::string text = Slurp(out_);
      const size_t at = text.find("Slurm array job ");
      if (at == std::string::npos) return false;
      id = text.substr(at + 16, text.find(':', at) - at - 16);
      return true;
    });
    return id;
  }

  // Waits until task `task` of the job has started a trial; returns that trial's id.
  std::string TrialStarted(const std::string& job, int task) {
    const std::string log = run_dir_ + "/worker-" + job + "_" + std::to_string(task) + ".log";
    std::string trial;
    WaitUntil(90, [&] {
      const std::string text = Slurp(log);
      const size_t at = text.find("] trial ");
      if (at == std::string::npos || text.find(" (sweep ", at) == std::string::npos) return false;
      trial = text.substr(at + 8, text.find(' ', at + 8) - at - 8);
      return true;
    });
    return trial;
  }

  // trial id -> the worker that finished it, from the database.
  std::map<std::string, std::string> FinishedBy() {
    auto r = RunCommand({HPSWEEP_BIN, "leaderboard", "--db", db_, "--format", "json"}, 60);
    std::map<std::string, std::string> by;
    if (!r.ok() || r->exit_code != 0) {
      ADD_FAILURE() << "leaderboard: " << (r.ok() ? r->err : r.status().ToString());
      return by;
    }
    const json lb = json::parse(r->out);  // kept: rows refer into it
    for (const auto& row : lb["rows"]) {
      by[std::to_string(row["trial_id"].get<int64_t>())] = row["worker"].get<std::string>();
    }
    return by;
  }

  // Waits until the coordinator keeps a checkpoint of the trial (after its first epoch).
  bool CheckpointKept(const std::string& trial) {
    return WaitUntil(120, [&] {
      return std::filesystem::exists(db_ + ".checkpoints/trial-" + trial + ".ckpt");
    });
  }

  // The trial's export entry (attempt_history among its fields).
  json ExportedTrial(const std::string& trial) {
    auto r = RunCommand({HPSWEEP_BIN, "export", "--db", db_, "--format", "json"}, 60);
    if (!r.ok() || r->exit_code != 0) {
      ADD_FAILURE() << "export: " << (r.ok() ? r->err : r.status().ToString());
      return json();
    }
    const json ex = json::parse(r->out);  // kept: t refers into it
    for (const auto& t : ex["trials"]) {
      if (std::to_string(t["id"].get<int64_t>()) == trial) return t;
    }
    ADD_FAILURE() << "trial " << trial << " not in the export";
    return json();
  }

  // The trial was resumed, not trained again from the start: its last attempt began after the
  // checkpoint's epoch, and the worker that finished it never trained epoch 1.
  void ExpectResumed(const std::string& trial, const std::string& finisher_log, size_t epochs) {
    const json t = ExportedTrial(trial);
    ASSERT_TRUE(t.contains("attempt_history")) << t;
    const json& attempts = t["attempt_history"];
    ASSERT_GE(attempts.size(), 2u) << t;
    EXPECT_EQ(attempts[0]["resumed_from_epoch"], 0) << t;
    EXPECT_GE(attempts.back()["resumed_from_epoch"].get<int>(), 1) << t;
    EXPECT_EQ(t["status"], "completed") << t;
    EXPECT_EQ(t["epochs"].size(), epochs) << t;  // 1..epochs once each
    const std::string log = Slurp(finisher_log);
    EXPECT_NE(log.find("trial " + trial + ": resuming after epoch"), std::string::npos) << log;
    EXPECT_EQ(log.find("trial " + trial + " epoch 1:"), std::string::npos)
        << "epoch 1 trained twice: " << log;
  }

  bool QueueEmpty() {
    auto q = RunCommand({"squeue", "--noheader"}, 30);
    return q.ok() && q->exit_code == 0 && q->out.empty();
  }

  static constexpr const char* kScript = HPSWEEP_SOURCE_DIR "/tests/launch/start_slurm.sh";
  std::string dir_, cluster_, db_, run_dir_, out_ = "/dev/null";
};

TEST_F(SlurmTest, SweepCompletesOnSlurmAndNoTokenLeaks) {
  const std::string file = WriteSweep("slurm-a", "cell: dense, epochs: 2", "8, 16, 32, 64", 300);
  out_ = dir_ + "/run.out";
  // A token in the submitting environment must not travel into the job.
  setenv("HPSWEEP_TOKEN", "hps_from_the_environment_of_the_run", 1);
  auto run = StartRun(file, {"--workers", "2"});
  unsetenv("HPSWEEP_TOKEN");
  std::string token;
  ASSERT_TRUE(WaitUntil(60, [&] {
    std::ifstream in(run_dir_ + "/worker.token");
    return static_cast<bool>(std::getline(in, token)) && !token.empty();
  }));
  EXPECT_EQ(Stat(run_dir_ + "/worker.token") & 0777, 0600u);
  EXPECT_EQ(Stat(run_dir_) & 0777, 0700u);
  // While it runs: every worker's command line and environment, looked at as they come.
  int seen = 0;
  while (run->running()) {
    for (const auto& [pid, cmd] : ProcessesWith("--token-file " + run_dir_)) {
      EXPECT_EQ(cmd.find(token), std::string::npos) << cmd;
      const std::string env = Slurp("/proc/" + std::to_string(pid) + "/environ");
      if (env.empty()) continue;  // it ended meanwhile
      ++seen;
      EXPECT_EQ(env.find(token), std::string::npos);
      EXPECT_EQ(env.find("HPSWEEP_TOKEN="), std::string::npos) << "in the job's environment";
      EXPECT_NE(env.find("SLURM_ARRAY_JOB_ID="), std::string::npos) << "not a Slurm job?";
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_GT(seen, 0) << "no worker process was seen running";
  EXPECT_EQ(run->exit_code(), 0) << Slurp(out_);
  const std::string text = Slurp(out_);
  EXPECT_NE(text.find("Leaderboard of sweep 1 (slurm-a)"), std::string::npos) << text;
  EXPECT_NE(text.find("4/4 trials done"), std::string::npos) << text;
  EXPECT_NE(text.find("(slurm)"), std::string::npos) << text;
  EXPECT_TRUE(QueueEmpty()) << "jobs left after the run";
  const auto by = FinishedBy();
  EXPECT_EQ(by.size(), 4u);
  for (const auto& [trial, worker] : by) {
    EXPECT_EQ(worker.rfind("slurm-", 0), 0u) << trial << " finished by " << worker;
  }
  // Not in the run's output, the workers' logs, the job script, nor anything Slurm saved.
  const std::string events = Slurp(db_ + ".coordinator.log");  // the coordinator's events
  const std::string everything = text + SlurpTree(run_dir_) + SlurpTree(cluster_) + events;
  EXPECT_EQ(everything.find(token), std::string::npos);
  EXPECT_EQ(everything.find("hps_from_the_environment_of_the_run"), std::string::npos);
  EXPECT_NE(Slurp(run_dir_ + "/workers.sbatch").find("--token-file"), std::string::npos);
  // Each worker names its array task, as squeue does: JOB_TASK.
  const std::string job = JobId();
  ASSERT_FALSE(job.empty()) << text;
  EXPECT_NE(events.find(", job " + job + "_"), std::string::npos) << events;
  auto listed = RunCommand({HPSWEEP_BIN, "workers", "--db", db_, "--format", "json"}, 60);
  ASSERT_TRUE(listed.ok() && listed->exit_code == 0)
      << (listed.ok() ? listed->err : listed.status().ToString());
  const json workers = json::parse(listed->out);
  ASSERT_FALSE(workers["workers"].empty()) << listed->out;
  for (const auto& w : workers["workers"]) {
    EXPECT_EQ(w["job_id"].get<std::string>().rfind(job + "_", 0), 0u) << w;
  }
}

// scancel sends SIGTERM: the worker gives its trial back, and the other one finishes it. The
// lease is far longer than the test, so only the give-back can free the trial in time. The worker
// is frozen (SIGSTOP) once its checkpoint is kept, so that however fast this machine trains, the
// trial is mid-way when the cancel comes (Slurm sends SIGCONT before SIGTERM).
TEST_F(SlurmTest, CancelledJobGivesItsTrialBackAndTheSweepCompletes) {
  const std::string file = WriteSweep("slurm-b", "cell: lstm, epochs: 12", "32, 48, 64", 3000);
  out_ = dir_ + "/run.out";
  auto run = StartRun(file, {"--workers", "2", "--lease-seconds", "600"});
  const std::string job = JobId();
  ASSERT_FALSE(job.empty()) << Slurp(out_);
  const std::string trial = TrialStarted(job, 0);
  ASSERT_FALSE(trial.empty()) << Slurp(run_dir_ + "/worker-" + job + "_0.log");
  // Mid-trial, after its first epoch's checkpoint: the next worker resumes from it.
  ASSERT_TRUE(CheckpointKept(trial)) << Slurp(run_dir_ + "/worker-" + job + "_0.log");
  auto worker = ProcessesWith("slurm-" + job + "_0");
  ASSERT_EQ(worker.size(), 1u);
  ASSERT_EQ(kill(worker[0].first, SIGSTOP), 0);
  auto c = RunCommand({"scancel", job + "_0"}, 30);
  ASSERT_TRUE(c.ok() && c->exit_code == 0);
  ASSERT_TRUE(run->Wait(150)) << Slurp(out_);
  EXPECT_EQ(run->exit_code(), 0) << Slurp(out_);
  EXPECT_NE(Slurp(run_dir_ + "/worker-" + job + "_0.log")
                .find("stopping: giving trial " + trial + " back"),
            std::string::npos)
      << Slurp(run_dir_ + "/worker-" + job + "_0.log");
  EXPECT_EQ(FinishedBy()[trial], "slurm-" + job + "_1");
  ExpectResumed(trial, run_dir_ + "/worker-" + job + "_1.log", 12);
  EXPECT_TRUE(QueueEmpty());
}

// A job that reaches its time limit mid-trial: Slurm sends SIGCONT and SIGTERM (then SIGKILL
// after KillWait), the worker gives the trial back. Every job is then gone while trials remain:
// the run says so and prints the slurm-script command; workers added with it finish the sweep.
// The worker is frozen (SIGSTOP) mid-trial, and the job's limit (one minute, Slurm's shortest) is
// then lowered to zero as an administrator may: slurmctld checks limits every 30 s, so the job
// ends TIMEOUT within about half a minute instead of the one to one and a half a real minute's
// limit would take, and the trial has not finished.
TEST_F(SlurmTest, TimeLimitMidTrialThenWorkersAddedWithSlurmScript) {
  const std::string file = WriteSweep("slurm-c", "cell: lstm, epochs: 12", "32, 48, 64", 3000);
  out_ = dir_ + "/run.out";
  auto run = StartRun(file, {"--workers", "1", "--time", "1", "--lease-seconds", "600",
                             "--wait-for-workers", "120"});
  const std::string job = JobId();
  ASSERT_FALSE(job.empty()) << Slurp(out_);
  const std::string trial = TrialStarted(job, 0);
  ASSERT_FALSE(trial.empty());
  ASSERT_TRUE(CheckpointKept(trial)) << Slurp(run_dir_ + "/worker-" + job + "_0.log");
  auto worker = ProcessesWith("slurm-" + job + "_0");
  ASSERT_EQ(worker.size(), 1u);
  ASSERT_EQ(kill(worker[0].first, SIGSTOP), 0);
  auto lowered = RunCommand({"scontrol", "update", "JobId=" + job, "TimeLimit=0"}, 30);
  ASSERT_TRUE(lowered.ok() && lowered->exit_code == 0)
      << (lowered.ok() ? lowered->err : lowered.status().ToString());

  std::string command;
  ASSERT_TRUE(WaitUntil(150, [&] {
    const std::string text = Slurp(out_);
    const size_t at = text.find("Add workers with\n  ");
    if (at == std::string::npos) return false;
    command = text.substr(at + 19, text.find('\n', at + 19) - at - 19);
    return true;
  })) << Slurp(out_);
  const std::string text = Slurp(out_);
  EXPECT_NE(text.find("Slurm task " + job + "_0 on "), std::string::npos) << text;
  EXPECT_NE(text.find(": TIMEOUT"), std::string::npos) << text;
  EXPECT_NE(text.find("every Slurm job of this run is gone"), std::string::npos) << text;
  EXPECT_NE(Slurp(run_dir_ + "/worker-" + job + "_0.log")
                .find("stopping: giving trial " + trial + " back"),
            std::string::npos);

  // The printed command, as a person would paste it ("hpsweep" on the PATH).
  ASSERT_EQ(command.rfind("hpsweep slurm-script ", 0), 0u) << command;
  const std::string bin_dir = std::filesystem::path(HPSWEEP_BIN).parent_path().string();
  auto added =
      RunCommand({"bash", "-c", "cd " + dir_ + " && PATH=" + bin_dir + ":$PATH && " + command}, 60);
  ASSERT_TRUE(added.ok());
  ASSERT_EQ(added->exit_code, 0) << added->out << added->err;
  ASSERT_TRUE(run->Wait(150)) << Slurp(out_);
  EXPECT_EQ(run->exit_code(), 0) << Slurp(out_);
  const std::string finisher = FinishedBy()[trial];
  EXPECT_EQ(finisher.rfind("slurm-", 0), 0u);
  EXPECT_NE(finisher, "slurm-" + job + "_0");
  // The added workers log under their own job's name: the finisher's log is
  // worker-<its job>_<task>.log in the same folder.
  if (finisher.rfind("slurm-", 0) == 0) {
    ExpectResumed(trial, run_dir_ + "/worker-" + finisher.substr(6) + ".log", 12);
  }
  // The run's own job is gone. The one added by hand is the user's: its worker exits if it sees
  // the sweep done before the coordinator stops, else it waits for a coordinator; TearDown
  // cancels it.
  auto q = RunCommand({"squeue", "--noheader", "--jobs=" + job}, 30);
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->out, "");
}

// Every job gone and nobody adds workers: the run says so and exits non-zero.
TEST_F(SlurmTest, AllJobsGoneWhileTrialsRemainEndsTheRun) {
  const std::string file =
      WriteSweep("slurm-d", "cell: lstm, epochs: 12", "16, 24, 32, 40, 48, 56, 64", 3000);
  out_ = dir_ + "/run.out";
  auto run = StartRun(file, {"--workers", "2", "--wait-for-workers", "2"});
  const std::string job = JobId();
  ASSERT_FALSE(job.empty()) << Slurp(out_);
  auto c = RunCommand({"scancel", job}, 30);
  ASSERT_TRUE(c.ok() && c->exit_code == 0);
  ASSERT_TRUE(run->Wait(120)) << Slurp(out_);
  EXPECT_EQ(run->exit_code(), 1);
  const std::string text = Slurp(out_);
  EXPECT_NE(text.find("every Slurm job of this run is gone"), std::string::npos) << text;
  EXPECT_NE(text.find("hpsweep slurm-script --coordinator 127.0.0.1:"), std::string::npos) << text;
  EXPECT_NE(text.find("no worker came for 2 s"), std::string::npos) << text;
  EXPECT_EQ(text.find("Leaderboard of sweep"), std::string::npos) << text;
  EXPECT_TRUE(QueueEmpty());
}

// The CLI side without a cluster: slurm-script's checks and output, slurm flags on a local run.
TEST(SlurmCliTest, SlurmScriptPrintsTheScriptAndRefusesALooseTokenFile) {
  char tmpl[] = "/tmp/hpsweep-slurmcli-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  std::ofstream(dir + "/ca.crt") << "-----BEGIN CERTIFICATE-----\n";
  const std::string token = "hps_" + std::string(64, 'a');
  std::ofstream(dir + "/w.token") << token << "\n";
  ASSERT_EQ(chmod((dir + "/w.token").c_str(), 0644), 0);
  const std::vector<std::string> args = {
      HPSWEEP_BIN, "slurm-script",  "--coordinator", "login1:4000",    "--workers", "3",
      "--tls-ca",  dir + "/ca.crt", "--token-file",  dir + "/w.token", "--time",    "10"};
  auto loose = RunCommand(args, 30);
  ASSERT_TRUE(loose.ok());
  EXPECT_EQ(loose->exit_code, 2) << loose->err;
  EXPECT_NE(loose->err.find("w.token"), std::string::npos) << loose->err;
  EXPECT_EQ(loose->out, "");

  ASSERT_EQ(chmod((dir + "/w.token").c_str(), 0600), 0);
  auto ok = RunCommand(args, 30);
  ASSERT_TRUE(ok.ok());
  ASSERT_EQ(ok->exit_code, 0) << ok->err;
  EXPECT_NE(ok->out.find("#SBATCH --array=0-2\n"), std::string::npos) << ok->out;
  EXPECT_NE(ok->out.find("#SBATCH --time=10\n"), std::string::npos) << ok->out;
  EXPECT_NE(ok->out.find("--token-file '" + dir + "/w.token'"), std::string::npos) << ok->out;
  EXPECT_EQ(ok->out.find(token), std::string::npos);
  // Programs the workers offer (docs/programs.md) go into their command line, paths absolute.
  std::ofstream(dir + "/train.sh") << "#!/bin/sh\n";
  ASSERT_EQ(chmod((dir + "/train.sh").c_str(), 0755), 0);
  std::vector<std::string> with_program = args;
  with_program.push_back("--program=lstm=" + dir + "/train.sh");
  auto prog = RunCommand(with_program, 30);
  ASSERT_TRUE(prog.ok());
  ASSERT_EQ(prog->exit_code, 0) << prog->err;
  EXPECT_NE(prog->out.find("'--program=lstm=" + dir + "/train.sh'"), std::string::npos)
      << prog->out;
  // The nodes' binary, memory and set-up: a binary that need not exist here (it is the nodes').
  std::vector<std::string> nodes = args;
  for (const char* a : {"--worker-binary", "/shared/hpsweep-v3", "--mem", "8G", "--setup",
                        "module load gcc", "--setup", "export OMP_PROC_BIND=true"}) {
    nodes.push_back(a);
  }
  auto node = RunCommand(nodes, 30);
  ASSERT_TRUE(node.ok());
  ASSERT_EQ(node->exit_code, 0) << node->err;
  EXPECT_NE(node->out.find("exec '/shared/hpsweep-v3' worker"), std::string::npos) << node->out;
  EXPECT_NE(node->out.find("#SBATCH --mem=8G\n"), std::string::npos) << node->out;
  EXPECT_NE(node->out.find("\nmodule load gcc\nexport OMP_PROC_BIND=true\n"), std::string::npos)
      << node->out;
  std::vector<std::string> lots = args;
  lots.push_back("--mem=lots");
  auto bad_mem = RunCommand(lots, 30);
  ASSERT_TRUE(bad_mem.ok());
  EXPECT_EQ(bad_mem->exit_code, 2) << bad_mem->err;
  EXPECT_NE(bad_mem->err.find("--mem 'lots'"), std::string::npos) << bad_mem->err;
  EXPECT_EQ(bad_mem->out, "");
  std::filesystem::remove_all(dir);
}

TEST(SlurmCliTest, SlurmFlagsOnALocalRunAreRefusedBeforeAnythingIsMade) {
  const std::string db = "/tmp/hpsweep-slurmcli-never.db";
  auto r = RunCommand({HPSWEEP_BIN, "run", HPSWEEP_SOURCE_DIR "/sweeps/quickstart.yaml",
                       "--partition", "cpu", "--db", db},
                      30);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, 2);
  EXPECT_NE(r->err.find("are for --launcher slurm"), std::string::npos) << r->err;
  EXPECT_NE(access(db.c_str(), F_OK), 0);
  for (const char* flag : {"--mem=4G", "--setup=module load x", "--worker-binary=/x/hpsweep"}) {
    auto local = RunCommand({HPSWEEP_BIN, "run", HPSWEEP_SOURCE_DIR "/sweeps/quickstart.yaml",
                             flag, "--db", db},
                            30);
    ASSERT_TRUE(local.ok());
    EXPECT_EQ(local->exit_code, 2) << flag;
    EXPECT_NE(local->err.find("are for --launcher slurm"), std::string::npos) << local->err;
    EXPECT_NE(access(db.c_str(), F_OK), 0) << flag;
  }
  auto bad = RunCommand({HPSWEEP_BIN, "run", HPSWEEP_SOURCE_DIR "/sweeps/quickstart.yaml",
                         "--launcher", "kubernetes", "--db", db},
                        30);
  ASSERT_TRUE(bad.ok());
  EXPECT_EQ(bad->exit_code, 2);
  EXPECT_NE(bad->err.find("--launcher: expected local or slurm"), std::string::npos);
}

// Ctrl-C: the run cancels its job (the workers give their trials back) and says how to resume.
TEST_F(SlurmTest, InterruptCancelsTheJob) {
  const std::string file =
      WriteSweep("slurm-e", "cell: lstm, epochs: 12", "16, 24, 32, 40, 48, 56, 64", 3000);
  out_ = dir_ + "/run.out";
  auto run = StartRun(file, {"--workers", "2"});
  const std::string job = JobId();
  ASSERT_FALSE(job.empty()) << Slurp(out_);
  ASSERT_FALSE(TrialStarted(job, 0).empty());
  run->Signal(SIGINT);
  ASSERT_TRUE(run->Wait(120)) << Slurp(out_);
  EXPECT_EQ(run->exit_code(), 130);  // 128 + SIGINT, as shells expect
  EXPECT_NE(Slurp(out_).find("interrupted: every finished trial is in"), std::string::npos)
      << Slurp(out_);
  // Stop() waited for the tasks: none is left when the run has exited.
  EXPECT_TRUE(QueueEmpty());
  // And no trial was left running on a lease that would have to expire: each worker gave its
  // trial back, or finished it first (on a loaded machine a short trial may end before the
  // signal arrives, so the worker's log is not the test).
  auto r = RunCommand({HPSWEEP_BIN, "export", "--db", db_, "--format", "json"}, 60);
  ASSERT_TRUE(r.ok() && r->exit_code == 0) << (r.ok() ? r->err : r.status().ToString());
  const nlohmann::json ex = nlohmann::json::parse(r->out);
  int running = 0, queued = 0;
  for (const auto& t : ex["trials"]) {
    running += t["status"] == "running";
    queued += t["status"] == "queued";
  }
  EXPECT_EQ(running, 0) << r->out.substr(0, 2000);
  EXPECT_GT(queued, 0) << "the run was interrupted before the sweep could finish\n"
                        << Slurp(out_) << r->out.substr(0, 4000);
}

}  // namespace
}  // namespace hpsweep
