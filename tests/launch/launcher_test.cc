// The launcher layer without a cluster: the batch script, the squeue and sbatch parsers, the
// run's private folder, RunCommand, and the local pool's restarts.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "launch/command.h"
#include "launch/local_launcher.h"
#include "launch/slurm_launcher.h"
#include "launch/slurm_run.h"

namespace hpsweep {
namespace {

LaunchSpec Spec() {
  LaunchSpec s;
  s.exe = "/opt/hp sweep/hpsweep";
  s.coordinator = "login1:40123";
  s.security.tls_ca = "/home/a/run.slurm/tls/ca.crt";
  s.security.token_file = "/home/a/run.slurm/worker.token";
  s.data_dir = "/home/a/it's mnist";
  s.log = "/home/a/run.slurm";
  return s;
}

TEST(SlurmScriptTest, OneArrayJobWithThreadsFromSlurmAndTheTokenOnlyAsAFile) {
  SlurmOptions o;
  o.partition = "cpu";
  o.time = "1:30:00";
  o.cpus_per_worker = 4;
  auto s = SlurmScript(3, Spec(), o);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->rfind("#!/bin/bash\n", 0), 0u);
  for (const char* line :
       {"#SBATCH --array=0-2\n", "#SBATCH --cpus-per-task=4\n", "#SBATCH --partition=cpu\n",
        "#SBATCH --time=1:30:00\n", "#SBATCH --output=/home/a/run.slurm/worker-%A_%a.log\n",
        "#SBATCH --job-name=hpsweep-worker\n", "unset HPSWEEP_TOKEN\n"}) {
    EXPECT_NE(s->find(line), std::string::npos) << line << " in\n" << *s;
  }
  // exec: Slurm's SIGTERM reaches the worker itself. Values single-quoted; ' escaped.
  EXPECT_NE(s->find("exec '/opt/hp sweep/hpsweep' worker --coordinator 'login1:40123'"),
            std::string::npos)
      << *s;
  EXPECT_NE(s->find("--token-file '/home/a/run.slurm/worker.token'"), std::string::npos) << *s;
  EXPECT_NE(s->find("--data-dir '/home/a/it'\\''s mnist'"), std::string::npos) << *s;
  EXPECT_NE(s->find("--threads \"${SLURM_CPUS_PER_TASK:-4}\""), std::string::npos) << *s;
  EXPECT_NE(s->find("--exit-when-idle"), std::string::npos);
}

TEST(SlurmScriptTest, MemoryAndSetupLinesBeforeTheWorkerEachSaidWhatItIsFor) {
  SlurmOptions o;
  o.mem = "4G";
  o.setup = {"module load gcc/12", "source '/opt/venv it/bin/activate'"};
  LaunchSpec spec = Spec();
  spec.exe = "/shared/bin/hpsweep-portable";
  auto s = SlurmScript(2, spec, o);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  const size_t mem = s->find("#SBATCH --mem=4G\n");
  const size_t setup = s->find("\nmodule load gcc/12\nsource '/opt/venv it/bin/activate'\n");
  const size_t exec = s->find("exec '/shared/bin/hpsweep-portable' worker");
  ASSERT_NE(mem, std::string::npos) << *s;
  ASSERT_NE(setup, std::string::npos) << *s;
  ASSERT_NE(exec, std::string::npos) << *s;
  // #SBATCH lines come before the first command (Slurm stops reading them there), the set-up
  // before the worker, and each part has its comment.
  EXPECT_LT(mem, setup);
  EXPECT_LT(setup, exec);
  EXPECT_NE(s->find("# Set-up before the worker starts (--setup)"), std::string::npos) << *s;
  EXPECT_NE(s->find("its memory (--mem)"), std::string::npos) << *s;
  EXPECT_NE(s->find("# The worker (--worker-binary"), std::string::npos) << *s;
  for (size_t at = s->find("\n#SBATCH"); at != std::string::npos; at = s->find("\n#SBATCH", at + 1)) {
    EXPECT_LT(at, setup) << "an #SBATCH line after a command is ignored by Slurm";
  }
}

TEST(SlurmScriptTest, OptionalLinesLeftOutWhenNotGiven) {
  auto s = SlurmScript(1, Spec(), SlurmOptions());
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->find("--partition"), std::string::npos);
  EXPECT_EQ(s->find("--time"), std::string::npos);
  EXPECT_EQ(s->find("#SBATCH --mem"), std::string::npos);
  EXPECT_EQ(s->find("Set-up"), std::string::npos);
  EXPECT_NE(s->find("#SBATCH --array=0-0\n"), std::string::npos);
}

TEST(SlurmScriptTest, RefusesWhatWouldBreakOrInjectIntoTheScript) {
  auto refused = [](int n, LaunchSpec spec, SlurmOptions o, const std::string& needle) {
    auto s = SlurmScript(n, spec, o);
    EXPECT_FALSE(s.ok()) << needle;
    if (!s.ok()) {
      EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
      EXPECT_NE(s.status().message().find(needle), std::string::npos) << s.status().message();
    }
  };
  SlurmOptions o;
  refused(0, Spec(), o, "--workers");
  refused(kMaxSlurmWorkers + 1, Spec(), o, "--workers");
  LaunchSpec nl = Spec();
  nl.coordinator = "h:1\nrm -rf ~";
  refused(1, nl, o, "--coordinator: contains a control character");
  LaunchSpec space = Spec();
  space.log = "/home/a/my runs";
  refused(1, space, o, "has a space");
  LaunchSpec no_token = Spec();
  no_token.security.token_file.clear();
  refused(1, no_token, o, "--token-file");
  SlurmOptions bad = o;
  bad.partition = "cpu --wrap=x";
  refused(1, Spec(), bad, "--partition");
  bad = o;
  bad.time = "1h";
  refused(1, Spec(), bad, "--time");
  bad = o;
  bad.cpus_per_worker = 0;
  refused(1, Spec(), bad, "--cpus-per-worker");
  for (const char* mem : {"4 G", "G4", "4GB", "-1", "4G\n#SBATCH --wrap=x", "1234567890123"}) {
    bad = o;
    bad.mem = mem;
    refused(1, Spec(), bad, "--mem");
  }
  bad = o;
  bad.setup = {"module load gcc\nrm -rf ~"};
  refused(1, Spec(), bad, "--setup: contains a control character");
  bad.setup = {"   "};
  refused(1, Spec(), bad, "--setup: an empty line");
  bad.setup.assign(kMaxSlurmSetupLines + 1, "true");
  refused(1, Spec(), bad, "--setup: at most");
  bad.setup = {std::string(kMaxSlurmValueBytes + 1, 'x')};
  refused(1, Spec(), bad, "--setup: longer than");
  LaunchSpec big = Spec();
  big.data_dir = std::string(kMaxSlurmValueBytes + 1, 'a');
  refused(1, big, o, "--data-dir: longer than");
}

TEST(SqueueParserTest, TasksAndTheirStates) {
  const std::string text =
      "17_2|PENDING||Resources\n"
      "17_0|RUNNING|node3|None\n"
      "17_1|TIMEOUT|node4|None\n"
      "18_0|RUNNING|node9|None\n"  // another job: skipped
      "17_3|CANCELLED by 0|node5|None\n"
      "17_4|COMPLETED|node5|None\n"
      "17_5|COMPLETING|node6|None\n";
  auto w = ParseSqueue(text, "17");
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  ASSERT_EQ(w->size(), 6u);
  EXPECT_EQ((*w)[0].id, "17_0");
  EXPECT_EQ((*w)[0].state, WorkerState::kRunning);
  EXPECT_EQ((*w)[0].node, "node3");
  EXPECT_EQ((*w)[1].state, WorkerState::kFailed);
  EXPECT_EQ((*w)[1].info, "TIMEOUT");
  EXPECT_EQ((*w)[2].state, WorkerState::kPending);
  EXPECT_EQ((*w)[2].info, "Resources");
  EXPECT_EQ((*w)[3].state, WorkerState::kFailed);
  EXPECT_EQ((*w)[4].state, WorkerState::kExited);
  EXPECT_EQ((*w)[5].state, WorkerState::kRunning);
  EXPECT_EQ(WorkerSummary(*w), "2 running, 1 pending, 1 exited, 2 failed");
  EXPECT_FALSE(AllGone(*w));
}

TEST(SqueueParserTest, PendingTasksFoldedIntoARange) {
  auto w = ParseSqueue("9_[1-3,5%2]|PENDING||Priority\n9_0|RUNNING|n1|None\n", "9");
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  ASSERT_EQ(w->size(), 5u);
  EXPECT_EQ((*w)[4].id, "9_5");
  EXPECT_EQ((*w)[4].state, WorkerState::kPending);
  EXPECT_EQ((*w)[4].info, "Priority");
}

TEST(SqueueParserTest, MalformedLinesAreErrorsNamingTheLine) {
  for (const char* bad : {"9_0|RUNNING|n1\n", "9_x|RUNNING|n1|None\n", "9_0|WEIRD|n1|None\n",
                          "9_[5-1]|PENDING||None\n", "9_[0-99999999]|PENDING||None\n"}) {
    auto w = ParseSqueue(std::string("9_1|RUNNING|n1|None\n") + bad, "9");
    EXPECT_FALSE(w.ok()) << bad;
    if (!w.ok()) {
      EXPECT_NE(w.status().message().find("squeue line 2"), std::string::npos)
          << w.status().message();
    }
  }
  auto empty = ParseSqueue("", "9");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
  EXPECT_TRUE(AllGone(*empty));
}

TEST(SbatchParserTest, JobIdWithOrWithoutCluster) {
  EXPECT_EQ(*ParseSbatchJobId("1234\n"), "1234");
  EXPECT_EQ(*ParseSbatchJobId("77;hpc\n"), "77");
  EXPECT_FALSE(ParseSbatchJobId("Submitted batch job 5\n").ok());
  EXPECT_FALSE(ParseSbatchJobId("").ok());
}

TEST(AdvertiseTest, HostAndPortForms) {
  std::string host;
  int port = 0;
  ASSERT_TRUE(ParseAdvertise("login1:4000", &host, &port).ok());
  EXPECT_EQ(host, "login1");
  EXPECT_EQ(port, 4000);
  port = 0;
  ASSERT_TRUE(ParseAdvertise("10.0.0.5", &host, &port).ok());
  EXPECT_EQ(host, "10.0.0.5");
  EXPECT_EQ(port, 0);
  ASSERT_TRUE(ParseAdvertise("[fd00::1]:5000", &host, &port).ok());
  EXPECT_EQ(host, "fd00::1");
  EXPECT_EQ(port, 5000);
  ASSERT_TRUE(ParseAdvertise("", &host, &port).ok());
  EXPECT_FALSE(host.empty());
  EXPECT_FALSE(ParseAdvertise("login1:99999", &host, &port).ok());
  EXPECT_FALSE(ParseAdvertise("login1:", &host, &port).ok());
  EXPECT_FALSE(ParseAdvertise(":80", &host, &port).ok());
}

class TempDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/hpsweep-launch-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

using SlurmRunFolderTest = TempDirTest;

TEST_F(SlurmRunFolderTest, PrivateFolderWithCertsAndATokenFileOnly) {
  const std::string run = dir_ + "/s.db.slurm";
  ASSERT_EQ(mkdir(run.c_str(), 0755), 0);  // a loose folder from before: made private
  auto files = PrepareSlurmRunFolder(run, "login1");
  ASSERT_TRUE(files.ok()) << files.status().ToString();
  struct stat st;
  ASSERT_EQ(stat(run.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(stat(files->workers.token_file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(access((run + "/tls/ca.key").c_str(), F_OK), -1) << "the CA key is deleted";
  EXPECT_EQ(access(files->server.tls_cert.c_str(), R_OK), 0);
  EXPECT_EQ(access(files->workers.tls_ca.c_str(), R_OK), 0);
  std::ifstream in(files->workers.token_file);
  std::string token;
  std::getline(in, token);
  EXPECT_EQ(token.rfind("hps_", 0), 0u);
  // The tokens file holds its hash only.
  std::ifstream tf(files->server.auth_tokens);
  std::stringstream ss;
  ss << tf.rdbuf();
  EXPECT_EQ(ss.str().find(token), std::string::npos);
  EXPECT_NE(ss.str().find("worker"), std::string::npos);

  // Again: a fresh token; the old one is gone.
  auto again = PrepareSlurmRunFolder(run, "login1");
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  std::ifstream in2(again->workers.token_file);
  std::string token2;
  std::getline(in2, token2);
  EXPECT_NE(token2, token);
}

TEST_F(SlurmRunFolderTest, RefusesALinkInsteadOfAFolder) {
  const std::string run = dir_ + "/s.db.slurm";
  ASSERT_EQ(symlink(dir_.c_str(), run.c_str()), 0);
  auto files = PrepareSlurmRunFolder(run, "login1");
  ASSERT_FALSE(files.ok());
  EXPECT_NE(files.status().message().find("not a folder of this user"), std::string::npos);
}

TEST(RunCommandTest, OutputExitCodeAndDroppedVariables) {
  setenv("HPSWEEP_TOKEN", "hps_secret", 1);
  auto r = RunCommand({"sh", "-c", "echo out; echo err >&2; echo \"[$HPSWEEP_TOKEN]\"; exit 3"}, 30,
                      {"HPSWEEP_TOKEN"});
  unsetenv("HPSWEEP_TOKEN");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->exit_code, 3);
  EXPECT_EQ(r->out, "out\n[]\n");
  EXPECT_EQ(r->err, "err\n");
}

TEST(RunCommandTest, MissingProgramAndTimeout) {
  auto missing = RunCommand({"hpsweep-no-such-program"}, 30);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("hpsweep-no-such-program"), std::string::npos);
  auto slow = RunCommand({"sleep", "30"}, 0.2);
  ASSERT_FALSE(slow.ok());
  EXPECT_EQ(slow.status().code(), StatusCode::kUnavailable);
}

using LocalLauncherTest = TempDirTest;

// A worker that exits is started again max_restarts times, then reported as gone.
TEST_F(LocalLauncherTest, RestartsAWorkerThatExitsThenGivesUp) {
  LaunchSpec spec;
  spec.exe = "/bin/false";
  spec.coordinator = "127.0.0.1:1";
  spec.log = dir_ + "/workers.log";
  LocalLauncher launcher(/*max_restarts=*/2);
  ASSERT_TRUE(launcher.Start(1, spec).ok());
  std::vector<LaunchedWorker> w;
  for (int i = 0; i < 500; ++i) {
    auto listed = launcher.List();
    ASSERT_TRUE(listed.ok());
    w = *listed;
    if (AllGone(w)) break;
    usleep(10000);
  }
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0].id, "local-1");
  EXPECT_EQ(w[0].restarts, 2);
  EXPECT_EQ(w[0].state, WorkerState::kFailed);
  EXPECT_EQ(w[0].info, "exit 1");
}

TEST(LocalWorkerArgsTest, TokenOnlyAsAFilePath) {
  LaunchSpec spec = Spec();
  const std::vector<std::string> a = LocalWorkerArgs(spec, 2);
  const std::vector<std::string> want = {"worker",
                                         "--coordinator",
                                         "login1:40123",
                                         "--threads",
                                         "1",
                                         "--name",
                                         "local-2",
                                         "--data-dir",
                                         spec.data_dir,
                                         "--exit-when-idle",
                                         "--tls-ca",
                                         spec.security.tls_ca,
                                         "--token-file",
                                         spec.security.token_file};
  EXPECT_EQ(a, want);
}

}  // namespace
}  // namespace hpsweep
