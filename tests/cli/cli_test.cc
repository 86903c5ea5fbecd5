// End-to-end tests of the hpsweep binary (cli/main.cc): train with --json and --save, summary,
// bench, and the exit codes and messages for bad input.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "coordinator/scheduler.h"
#include "coordinator/store/storage.h"
#include "engine/gemm.h"
#include "engine/mnist.h"
#include "testing/big_sweep.h"
#include "tests/mnist_dir.h"

namespace cli_test {

using json = nlohmann::json;

struct Result {
  int code = -1;
  std::string out, err;
};

std::string Quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) {
    if (c == '\'')
      q += "'\\''";
    else
      q += c;
  }
  return q + "'";
}

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "/cli_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Runs `hpsweep args` with stdout captured through popen and stderr through a file.
  Result Run(const std::string& args) { return RunShell(Quote(HPSWEEP_BIN) + " " + args); }

  // Runs a shell command line (one that starts hpsweep some other way) the same way.
  Result RunShell(const std::string& line) {
    const std::string err_path = dir_ + "/stderr.txt";
    const std::string cmd = "(" + line + ") 2>" + Quote(err_path);
    Result r;
    FILE* p = popen(cmd.c_str(), "r");
    if (p == nullptr) {
      ADD_FAILURE() << "popen failed: " << cmd;
      return r;
    }
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), p)) > 0) r.out.append(buf, n);
    const int status = pclose(p);
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    std::ifstream in(err_path);
    r.err.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    return r;
  }

  // Starts `hpsweep args` in the background, stdout and stderr to `log`; the caller waits.
  static pid_t Spawn(const std::vector<std::string>& args, const std::string& log) {
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
    return pid;
  }
  static std::string ReadText(const std::string& path) {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  // Polls `path` until it contains `needle`; false when `pid` exits first or after 2 minutes
  // (a bound against hanging, not a timing check).
  static bool WaitForText(const std::string& path, const std::string& needle, pid_t pid) {
    for (int i = 0; i < 1200; ++i) {
      if (ReadText(path).find(needle) != std::string::npos) return true;
      if (pid > 0 && waitpid(pid, nullptr, WNOHANG) == pid) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }
  // The exit code of `pid`, or -signal when a signal ended it.
  static int WaitExit(pid_t pid) {
    int status = 0;
    if (waitpid(pid, &status, 0) != pid) return -1000;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
  }

  static std::string DataDir() { return hpsweep::MnistDir(); }
  static bool HaveMnist() {
    struct stat st;
    return ::stat(DataDir().c_str(), &st) == 0 && S_ISDIR(st.st_mode);
  }

  std::string dir_;
};

int64_t LstmParams(int64_t f, int64_t h) { return 4 * h * (f + h + 1); }

// `hpsweep args` with stdout to the file `out`; its exit code and its peak RSS in KiB (wait4's
// ru_maxrss: this child's own, not every child's so far).
int RunMeasured(const std::vector<std::string>& args, const std::string& out, long* max_rss_kib) {
  const pid_t pid = fork();
  if (pid == 0) {
    const int fd = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || dup2(fd, 1) < 0) _exit(127);
    std::vector<char*> argv{const_cast<char*>(HPSWEEP_BIN)};
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(HPSWEEP_BIN, argv.data());
    _exit(127);
  }
  int status = 0;
  rusage usage{};
  if (pid < 0 || wait4(pid, &status, 0, &usage) != pid) return -1;
  *max_rss_kib = usage.ru_maxrss;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// `export --format json` of a big sweep (20 trials x 10,000 epochs: some 50 MB of JSON) is
// written a page at a time: the whole export, byte for byte, from a process that never holds
// the sweep (the whole sweep as one JSON object took several times its text).
TEST_F(CliTest, ExportOfABigSweepStreamsPagesInBoundedMemory) {
  const std::string db = dir_ + "/big.db";
  std::string expected;
  {
    auto storage = hpsweep::OpenSqliteStorage(db);
    ASSERT_TRUE(storage.ok()) << storage.status().ToString();
    auto sweep = hpsweep::WriteBigSweep(storage->get(), 20, 10000);
    ASSERT_TRUE(sweep.ok()) << sweep.status().ToString();
    hpsweep::SystemClock clock;
    hpsweep::Scheduler sched(storage->get(), &clock);
    ASSERT_TRUE(sched.Load().ok());
    auto text = sched.ExportJson(*sweep);
    ASSERT_TRUE(text.ok()) << text.status().ToString();
    expected = *text + "\n";
  }
  ASSERT_GT(expected.size(), size_t{40} << 20);
  const std::string out = dir_ + "/export.json";
  long rss_kib = 0;
  ASSERT_EQ(RunMeasured({"export", "1", "--db", db, "--format", "json"}, out, &rss_kib), 0);
  std::ifstream in(out, std::ios::binary);
  const std::string got((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_TRUE(got == expected) << got.size() << " bytes, expected " << expected.size();
  EXPECT_LT(rss_kib, 100 << 10) << "peak RSS " << rss_kib << " KiB exporting "
                                 << expected.size() / 1024 << " KiB";
}

TEST_F(CliTest, TrainJsonSaveAndSummary) {
  if (!HaveMnist()) GTEST_SKIP() << "MNIST not found in " << DataDir();
  const std::string model = dir_ + "/lstm16.hpsm";
  // One epoch of 25 steps: lr 0.01 instead of Adam's default 0.001 so that it clearly learns.
  const Result r =
      Run("train --cell lstm --units 16 --epochs 1 --train-limit 2000 "
          "--batch-size 64 --validation-split 0.2 --learning-rate 0.01 --json "
          "--threads 1 --data-dir " +
          Quote(DataDir()) + " --save " + Quote(model));
  ASSERT_EQ(r.code, 0) << r.err;
  json j;
  try {
    j = json::parse(r.out);
  } catch (const std::exception& e) {
    FAIL() << "stdout is not one JSON object: " << e.what() << "\n" << r.out;
  }
  ASSERT_TRUE(j.contains("history")) << r.out;
  ASSERT_TRUE(j["history"].is_array());
  ASSERT_EQ(j["history"].size(), 1u);
  const json& h = j["history"][0];
  for (const char* k :
       {"epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "seconds"}) {
    ASSERT_TRUE(h.contains(k)) << k << " missing in " << h.dump();
    EXPECT_TRUE(h[k].is_number()) << k;
  }
  EXPECT_EQ(h["epoch"].get<int>(), 1);
  EXPECT_GT(h["train_loss"].get<double>(), 0.0);
  EXPECT_GE(h["val_accuracy"].get<double>(), 0.0);
  EXPECT_LE(h["val_accuracy"].get<double>(), 1.0);
  EXPECT_GT(h["seconds"].get<double>(), 0.0);
  ASSERT_TRUE(j.contains("test_accuracy"));
  EXPECT_GT(j["test_accuracy"].get<double>(), 0.3) << "chance is 0.1";
  const int64_t params = LstmParams(28, 16) + 16 * 10 + 10;
  EXPECT_EQ(params, 3050);
  // The parameter count is "param_count": "params" names the hyperparameters everywhere else.
  ASSERT_TRUE(j.contains("param_count")) << r.out;
  EXPECT_EQ(j["param_count"].get<int64_t>(), params);
  EXPECT_FALSE(j.contains("params")) << r.out;
  // The config is typed: numbers as numbers, lists as lists, booleans as booleans.
  ASSERT_TRUE(j.contains("config")) << r.out;
  EXPECT_EQ(j["config"]["units"], 16) << j["config"].dump();
  EXPECT_EQ(j["config"]["cell"], "lstm");
  EXPECT_EQ(j["config"]["train_limit"], 2000);
  EXPECT_DOUBLE_EQ(j["config"]["learning_rate"].get<double>(), 0.01);
  EXPECT_DOUBLE_EQ(j["config"]["validation_split"].get<double>(), 0.2);
  EXPECT_EQ(j["config"]["dense"], json::array());
  EXPECT_EQ(j["config"]["nesterov"], false);
  if (j.contains("train_samples") && j.contains("val_samples")) {
    EXPECT_EQ(j["train_samples"].get<int64_t>() + j["val_samples"].get<int64_t>(), 2000);
  }
  ASSERT_TRUE(j.contains("confusion_matrix"));
  const json& cm = j["confusion_matrix"];
  ASSERT_EQ(cm.size(), 10u);
  int64_t total = 0, trace = 0;
  for (size_t r = 0; r < 10; ++r) {
    ASSERT_EQ(cm[r].size(), 10u);
    for (size_t c = 0; c < 10; ++c) {
      total += cm[r][c].get<int64_t>();
      if (r == c) trace += cm[r][c].get<int64_t>();
    }
  }
  EXPECT_EQ(total, 10000);
  EXPECT_NEAR(j["test_accuracy"].get<double>(), trace / 10000.0, 1e-12);

  // --save wrote a model that `summary --model` describes.
  ASSERT_TRUE(std::filesystem::exists(model));
  const Result s = Run("summary --model " + Quote(model));
  ASSERT_EQ(s.code, 0) << s.err;
  EXPECT_NE(s.out.find("lstm (LSTM)"), std::string::npos) << s.out;
  EXPECT_NE(s.out.find("(None, 16)"), std::string::npos) << s.out;
  EXPECT_NE(s.out.find("Total params: 3,050"), std::string::npos) << s.out;
}

// `train` with early stopping: it stops where nothing improves by min_delta 1 (after epoch 2,
// patience 1), is tested, and says which epoch the test and the saved model come from (keep:
// best by --metric val_loss) and each epoch's learning rate.
TEST_F(CliTest, TrainEarlyStoppingSaysWhereItStoppedAndWhichWeightsItTested) {
  if (!HaveMnist()) GTEST_SKIP() << "MNIST not found in " << DataDir();
  const Result r =
      Run("train --cell dense --units 16 --epochs 6 --train-limit 1000 --batch-size 64 "
          "--validation-split 0.2 --early-stopping true --patience 1 --min-delta 1 "
          "--metric val_loss --json --threads 1 --data-dir " +
          Quote(DataDir()));
  ASSERT_EQ(r.code, 0) << r.err;
  json j;
  ASSERT_NO_THROW(j = json::parse(r.out)) << r.out;
  ASSERT_EQ(j["history"].size(), 2u) << r.out;
  EXPECT_EQ(j["stopped_epoch"], 2) << r.out;
  const json& h = j["history"];
  const int best = h[1]["val_loss"].get<double>() < h[0]["val_loss"].get<double>() ? 2 : 1;
  EXPECT_EQ(j["weights_epoch"], best) << r.out;
  for (const json& e : h) EXPECT_FLOAT_EQ(e["lr"].get<double>(), 0.001f) << e.dump();
  EXPECT_EQ(j["config"]["keep"], "best");
  EXPECT_EQ(j["config"]["early_stopping"], true);
  EXPECT_EQ(j["config"]["patience"], 1);
  EXPECT_GT(j["test_accuracy"].get<double>(), 0.1);
}

TEST_F(CliTest, SummaryOfThePerceptron) {
  const Result r = Run("summary --cell dense --layers 0");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("Total params: 7,850"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("dense (Dense)"), std::string::npos) << r.out;
}

TEST_F(CliTest, SummaryOfABidirectionalLstm) {
  // Keras: Bidirectional(LSTM(128)) on 28 features has 2 x 80,384 parameters; Dense(256 -> 10).
  const Result r = Run("summary --cell lstm --units 128 --bidirectional true");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find(" bidirectional (Bidirection  (None, 256)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\n al)\n"), std::string::npos) << r.out;  // Keras's wrap
  EXPECT_NE(r.out.find("160768"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Total params: 163,338"), std::string::npos) << r.out;
}

TEST_F(CliTest, SummaryOfAMissingModelFile) {
  const Result r = Run("summary --model " + Quote(dir_ + "/none.hpsm"));
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("none.hpsm"), std::string::npos) << r.err;
}

TEST_F(CliTest, BadValuesExit2NamingTheKey) {
  struct Case {
    std::string args, key;
  };
  const Case cases[] = {
      {"train --units 0", "units"},
      {"train --optimizer foo", "optimizer"},
      {"train --dropout 0.2,0.3", "dropout"},  // one LSTM layer, no head: one rate at most
      {"train --batch-size abc", "batch"},
      {"train --cell lstm --optimizer adam --momentum 0.9", "momentum"},
      {"train --keep first", "keep"},
      {"train --early-stopping true --validation-split 0.1 --patience 10001", "patience"},
      {"train --early-stopping true --validation-split 0.1 --min-delta -1", "min_delta"},
      {"train --patience 3 --validation-split 0.1", "patience"},  // without early_stopping
      {"train --early-stopping true", "early_stopping"},          // without validation data
      {"train --metric test_accuracy", "--metric"},
      {"train --bidirectional both", "bidirectional"},
      {"train --cell dense --bidirectional true", "bidirectional"},
  };
  for (const Case& c : cases) {
    // Any data dir: bad flags must be refused before the data is read.
    const Result r = Run(c.args + " --data-dir " + Quote(dir_ + "/no_data_here"));
    EXPECT_EQ(r.code, 2) << c.args << "\n" << r.err;
    EXPECT_NE(r.err.find(c.key), std::string::npos) << c.args << ": " << r.err;
  }
}

TEST_F(CliTest, MissingDataDirExits2NamingIt) {
  const std::string missing = dir_ + "/no_such_mnist";
  const Result r = Run("train --cell dense --layers 0 --epochs 1 --data-dir " + Quote(missing));
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find(missing), std::string::npos) << r.err;
}

TEST_F(CliTest, UnknownFlagIsUsageError) {
  const Result r = Run("train --colour blue");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("colour"), std::string::npos) << r.err;
}

// An unknown flag gets the sweep files' did-you-mean, in every subcommand, even when its value
// would otherwise land in a positional ("Could not convert: sweep = csv").
TEST_F(CliTest, UnknownFlagSuggestsTheNearestOne) {
  const Result r = Run("train --unit 32");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("unknown flag --unit; did you mean --units?"), std::string::npos) << r.err;
  const Result lb = Run("leaderboard --formt csv --db " + Quote(dir_ + "/x.db"));
  EXPECT_EQ(lb.code, 2);
  EXPECT_NE(lb.err.find("unknown flag --formt; did you mean --format?"), std::string::npos)
      << lb.err;
  const Result st = Run("status --wach --coordinator 127.0.0.1:1");
  EXPECT_EQ(st.code, 2);
  EXPECT_NE(st.err.find("unknown flag --wach; did you mean --watch?"), std::string::npos) << st.err;
  const Result alias = Run("bench --num-units 8");
  EXPECT_EQ(alias.code, 2);
  EXPECT_NE(alias.err.find("did you mean --units?"), std::string::npos) << alias.err;
  const Result none = Run("train --zzzzzzzz 1");
  EXPECT_EQ(none.code, 2);
  EXPECT_NE(none.err.find("unknown flag --zzzzzzzz"), std::string::npos) << none.err;
  EXPECT_EQ(none.err.find("did you mean"), std::string::npos) << none.err;
}

// Missing files are "not found", naming the path (exit 2), not "invalid argument".
TEST_F(CliTest, MissingFilesAreNotFound) {
  const std::string model = dir_ + "/none.hpsm", yaml = dir_ + "/none.yaml";
  const Result m = Run("predict --model " + Quote(model) + " x.png");
  EXPECT_EQ(m.code, 2);
  EXPECT_NE(m.err.find("not found: " + model), std::string::npos) << m.err;
  const Result y = Run("run " + Quote(yaml) + " --db " + Quote(dir_ + "/x.db"));
  EXPECT_EQ(y.code, 2);
  EXPECT_NE(y.err.find("not found: " + yaml), std::string::npos) << y.err;
  const Result d = Run("status --db " + Quote(dir_ + "/none.db"));
  EXPECT_EQ(d.code, 2);
  EXPECT_NE(d.err.find("not found: " + dir_ + "/none.db"), std::string::npos) << d.err;
}

// Without --data-dir and $HPSWEEP_DATA_DIR, a binary looks beside itself, never in the tree it
// was built in; when nothing is found it says where it looked.
TEST_F(CliTest, DefaultDataDirIsBesideTheBinaryNotCompiledIn) {
  ASSERT_EQ(std::system(("mkdir -p " + Quote(dir_ + "/inst/bin") + " && cp " + Quote(HPSWEEP_BIN) +
                         " " + Quote(dir_ + "/inst/bin/hpsweep"))
                            .c_str()),
            0);
  const std::string train = "cd " + Quote(dir_) +
                            " && env -u HPSWEEP_DATA_DIR ./inst/bin/hpsweep train --cell dense " +
                            "--layers 0 --epochs 1 --train-limit 500 --json";
  const Result none = RunShell(train);
  EXPECT_EQ(none.code, 2) << none.err;
  const std::string inst = std::filesystem::canonical(dir_).string() + "/inst";
  EXPECT_NE(none.err.find("no MNIST folder: looked in data/mnist, " + inst + "/bin/../data/mnist"),
            std::string::npos)
      << none.err;
  EXPECT_NE(none.err.find("/usr/share/hpsweep/mnist"), std::string::npos) << none.err;
  if (!HaveMnist()) GTEST_SKIP() << "MNIST not found in " << DataDir();
  std::filesystem::create_directories(dir_ + "/inst/data");
  std::filesystem::create_directory_symlink(std::filesystem::absolute(DataDir()),
                                            dir_ + "/inst/data/mnist");
  const Result found = RunShell(train);
  EXPECT_EQ(found.code, 0) << found.err;
  EXPECT_NE(found.out.find("\"test_accuracy\""), std::string::npos) << found.out;
}

TEST_F(CliTest, BenchPrintsSamplesPerSecondLast) {
  const Result r =
      Run("bench --cell lstm --units 32 --batch-size 64 --threads 1 --seconds 0.2 "
          "--rounds 1");
  ASSERT_EQ(r.code, 0) << r.err;
  std::istringstream is(r.out);
  std::string line, last;
  while (std::getline(is, line)) {
    if (!line.empty()) last = line;
  }
  ASSERT_FALSE(last.empty()) << r.out;
  size_t used = 0;
  double rate = 0;
  try {
    rate = std::stod(last, &used);
  } catch (const std::exception&) {
    FAIL() << "last line is not a number: '" << last << "'";
  }
  EXPECT_EQ(used, last.size()) << "last line is not just a number: '" << last << "'";
  EXPECT_GT(rate, 0.0);
}

// --- Sweep commands ------------------------------------------------------------------------------

TEST_F(CliTest, BadSweepFileExits2NamingFileLineAndKey) {
  const std::string file = dir_ + "/bad.yaml";
  std::ofstream(file) << "name: bad\nfixed:\n  epochs: 1\n  unitz: 32\n";
  const Result r = Run("submit " + Quote(file) + " --coordinator 127.0.0.1:1");
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("bad.yaml:4"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("unitz"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("units"), std::string::npos) << "no did-you-mean: " << r.err;
  // The embedded runner refuses it the same way, before creating a database.
  const Result run = Run("run " + Quote(file) + " --db " + Quote(dir_ + "/x.db"));
  EXPECT_EQ(run.code, 2) << run.err;
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/x.db"));
}

// A program sweep (docs/programs.md) run without a worker offering its program would wait for
// ever: refused before a database exists, as are --program flags that name no executable.
TEST_F(CliTest, RunOfAProgramSweepNeedsItsProgramOffered) {
  const std::string file = dir_ + "/prog.yaml";
  std::ofstream(file) << "name: p\nprogram: trainer\nmetric: {name: f1, goal: maximize}\n"
                         "parameters:\n  lr: {values: [0.1]}\n";
  const std::string script = dir_ + "/train.sh";
  std::ofstream(script) << "#!/bin/sh\nexit 0\n";
  const std::string db = Quote(dir_ + "/x.db");
  Result r = Run("run " + Quote(file) + " --db " + db);
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("add --program trainer=PATH"), std::string::npos) << r.err;
  r = Run("run " + Quote(file) + " --db " + db + " --program trainer=" + Quote(script));
  EXPECT_EQ(r.code, 2) << r.err;  // not executable yet
  EXPECT_NE(r.err.find("is not an executable file"), std::string::npos) << r.err;
  r = Run("run " + Quote(file) + " --db " + db + " --program 'a/b=" + script + "'");
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("expected NAME=PATH"), std::string::npos) << r.err;
  r = Run("worker --program trainer=" + Quote(dir_ + "/missing"));
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("no such file"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/x.db"));
}

// A sweep whose model would not fit a worker is refused before any database or worker exists.
TEST_F(CliTest, RunRefusesModelsOverTheSizeLimits) {
  const std::string small = dir_ + "/small.yaml";
  std::ofstream(small) << "name: small\nfixed: {units: 64}\n";
  const std::string db = Quote(dir_ + "/x.db");
  const Result tight = Run("run " + Quote(small) + " --db " + db + " --max-model-params 1000");
  ASSERT_EQ(tight.code, 2) << tight.err;
  EXPECT_NE(tight.err.find("small.yaml:2: trial 1: 24458 parameters, over the limit of 1000 "
                           "(--max-model-params)"),
            std::string::npos)
      << tight.err;
  const Result memory = Run("run " + Quote(small) + " --db " + db + " --max-training-memory-mb 1");
  EXPECT_EQ(memory.code, 2) << memory.err;
  EXPECT_NE(memory.err.find("over the limit of 1 MiB (--max-training-memory-mb)"),
            std::string::npos)
      << memory.err;
  // The defaults refuse LSTM(4096) x 16, which used to kill workers with bad_alloc.
  const std::string big = dir_ + "/big.yaml";
  std::ofstream(big) << "name: big\nfixed: {units: 4096, layers: 16}\n";
  const Result huge = Run("run " + Quote(big) + " --db " + db);
  EXPECT_EQ(huge.code, 2) << huge.err;
  EXPECT_NE(huge.err.find("2.08e9 parameters, over the limit of 5e7"), std::string::npos)
      << huge.err;
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/x.db"));
  // The coordinator takes the same flags (it applies them to submitted sweeps).
  const Result help = Run("coordinator --help");
  EXPECT_NE(help.out.find("--max-model-params"), std::string::npos) << help.out;
  EXPECT_NE(help.out.find("--max-training-memory-mb"), std::string::npos) << help.out;
}

// `run --data-dir` pointing nowhere ends before any worker starts or anything is stored, with the
// reason on the terminal; it used to restart exiting workers six times, leave the sweep running
// and create the empty folder.
TEST_F(CliTest, RunWithoutDataEndsBeforeStartingWorkers) {
  const std::string sweep = dir_ + "/tiny.yaml";
  std::ofstream(sweep) << "name: tiny\nfixed: {cell: dense, units: 4, epochs: 1}\n";
  const std::string nowhere = dir_ + "/nowhere";
  const Result r = Run("run " + Quote(sweep) + " --workers 2 --db " + Quote(dir_ + "/x.db") +
                       " --data-dir " + Quote(nowhere));
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("--data-dir: " + nowhere + ": no such data folder"), std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("nothing was started"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("starting it again"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(nowhere));
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/x.db"));
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/x.db.workers.log"));
}

// A sweep of two objectives, end to end: `run` ranks by front, `status` names the front's size,
// and `summary --trial best` refuses to guess until --objective picks one.
TEST_F(CliTest, SeveralObjectivesRankByFrontAndBestAsksWhichObjective) {
  if (!HaveMnist()) GTEST_SKIP() << "MNIST not found in " << DataDir();
  const std::string file = dir_ + "/mo.yaml";
  std::ofstream(file) << "name: mo\ndata: {validation_split: 0.2, train_limit: 600, seed: 1}\n"
                         "metric: [{name: val_accuracy, goal: maximize}, {name: param_count}]\n"
                         "constraints: {param_count: {max: 20000}}\n"
                         "fixed: {cell: dense, epochs: 1, learning_rate: 0.01}\n"
                         "parameters:\n  units: {values: [2, 16, 64]}\n";
  const std::string db = Quote(dir_ + "/x.db");
  const Result r = Run("run " + Quote(file) + " --workers 1 --threads 1 --db " + db +
                       " --data-dir " + Quote(DataDir()));
  ASSERT_EQ(r.code, 0) << r.err;
  // units 64 (50,890 parameters) breaks the constraint: never trained.
  EXPECT_NE(r.out.find("by front of val_accuracy (max), param_count (min)"), std::string::npos)
      << r.out;
  EXPECT_EQ(r.out.find("50890"), std::string::npos) << r.out;
  const Result status = Run("status --db " + db);
  ASSERT_EQ(status.code, 0) << status.err;
  EXPECT_NE(status.out.find("2 trials on the first front"), std::string::npos) << status.out;
  const Result best = Run("summary --trial best --db " + db);
  EXPECT_EQ(best.code, 2) << best.err;
  EXPECT_NE(best.err.find("has several objectives (val_accuracy, param_count)"),
            std::string::npos)
      << best.err;
  const Result small = Run("summary --trial best --objective param_count --db " + db);
  ASSERT_EQ(small.code, 0) << small.err;
  EXPECT_NE(small.err.find("using trial #1 "), std::string::npos) << small.err;
  EXPECT_NE(small.out.find("Total params: 1,600"), std::string::npos) << small.out;
  const Result wrong = Run("summary --trial best --objective val_loss --db " + db);
  EXPECT_EQ(wrong.code, 2);
  EXPECT_NE(wrong.err.find("'val_loss' is none of them"), std::string::npos) << wrong.err;
}

// A file that is not UTF-8 gets a reason that names the line, with the byte escaped.
TEST_F(CliTest, SweepFileThatIsNotUtf8ExitsWithAPrintableReason) {
  const std::string file = dir_ + "/latin1.yaml";
  std::ofstream(file) << "name: x\ndescription: caf\xe9\n";
  const Result r = Run("run " + Quote(file) + " --db " + Quote(dir_ + "/x.db"));
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("latin1.yaml:2: key 'description': not valid UTF-8 text (byte \\xe9)"),
            std::string::npos)
      << r.err;
}

TEST_F(CliTest, EndlessSweepFileIsRefusedNotRead) {
  const Result r = Run("run /dev/zero --db " + Quote(dir_ + "/x.db"));
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("/dev/zero: the file is 1048577 bytes, over the limit"), std::string::npos)
      << r.err;
}

TEST_F(CliTest, MissingSweepFileExits2) {
  const Result r = Run("run " + Quote(dir_ + "/nope.yaml"));
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("nope.yaml"), std::string::npos) << r.err;
}

TEST_F(CliTest, StatusWithoutCoordinatorSaysWhatToDo) {
  const Result r = Run("status --coordinator 127.0.0.1:1");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("hpsweep coordinator"), std::string::npos) << r.err;
}

// `run --log-format json` writes the coordinator's events beside the database, one JSON object a
// line; `workers --db` then shows who trained what, as a table or as typed JSON.
TEST_F(CliTest, RunLogsEventsAsJsonAndWorkersShowsThem) {
  if (!HaveMnist()) GTEST_SKIP() << "MNIST not found in " << DataDir();
  const std::string file = dir_ + "/tiny.yaml";
  std::ofstream(file) << "name: cli-events\nmethod: grid\n"
                         "data: {validation_split: 0.2, train_limit: 500}\n"
                         "fixed: {cell: dense, layers: 0, epochs: 1}\n"
                         "parameters:\n  batch_size: {values: [32, 64, 128]}\n";
  const std::string db = dir_ + "/e.db";
  // Workers name their launcher's job: a Slurm array task before $HPSWEEP_JOB_ID.
  const Result run =
      RunShell("SLURM_ARRAY_JOB_ID=812 SLURM_ARRAY_TASK_ID=3 HPSWEEP_JOB_ID=other " +
               Quote(HPSWEEP_BIN) + " run " + Quote(file) + " --workers 2 --log-format json --db " +
               Quote(db) + " --data-dir " + Quote(DataDir()));
  ASSERT_EQ(run.code, 0) << run.err;
  EXPECT_NE(run.err.find("coordinator events in " + db + ".coordinator.log"), std::string::npos)
      << run.err;
  EXPECT_EQ(run.err.find("\"event\""), std::string::npos) << "events on stderr: " << run.err;
  std::ifstream in(db + ".coordinator.log");
  std::map<std::string, int> events;
  int lines = 0;
  for (std::string line; std::getline(in, line); ++lines) {
    json j;
    ASSERT_NO_THROW(j = json::parse(line)) << line;
    ASSERT_TRUE(j["event"].is_string()) << line;
    ++events[j["event"].get<std::string>()];
    if (j["event"] == "trial_leased") {
      EXPECT_TRUE(j["trial"].is_number_integer()) << line;
      EXPECT_TRUE(j["sweep_id"].is_number_integer()) << line;
    }
  }
  EXPECT_GT(lines, 0);
  EXPECT_EQ(events["sweep_submitted"], 1);
  EXPECT_EQ(events["worker_joined"], 2);
  EXPECT_EQ(events["trial_leased"], 3);
  EXPECT_EQ(events["trial_completed"], 3);
  EXPECT_EQ(events["sweep_finished"], 1);

  const Result js = Run("workers --db " + Quote(db) + " --format json");
  ASSERT_EQ(js.code, 0) << js.err;
  json w = json::parse(js.out);
  ASSERT_EQ(w["workers"].size(), 2u) << js.out;
  int done = 0;
  for (const json& row : w["workers"]) {
    EXPECT_TRUE(row["worker_id"].is_number_integer()) << row;
    EXPECT_TRUE(row["threads"].is_number_integer()) << row;
    EXPECT_TRUE(row["last_seen"].is_number()) << row;
    EXPECT_FALSE(row["host"].get<std::string>().empty()) << row;
    EXPECT_TRUE(row["state"] == "idle" || row["state"] == "gone") << row;
    EXPECT_EQ(row["job_id"], "812_3") << row;
    // The path its CPU runs (engine/gemm.h Bf16Supported), as it registered.
    EXPECT_EQ(row["precision"], hpsweep::Bf16Supported() ? "bf16" : "fp32") << row;
    done += row["trials_done"].get<int>();
  }
  EXPECT_EQ(done, 3);
  const Result table = Run("workers --db " + Quote(db));
  ASSERT_EQ(table.code, 0) << table.err;
  EXPECT_NE(table.out.find("last heard"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("precision"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("local-1"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("812_3"), std::string::npos) << table.out;
  const Result bad = Run("workers --db " + Quote(db) + " --format csv");
  EXPECT_EQ(bad.code, 2) << bad.err;
  const Result badlog = Run("run " + Quote(file) + " --log-format xml --db " + Quote(db));
  EXPECT_EQ(badlog.code, 2) << badlog.err;
  EXPECT_NE(badlog.err.find("--log-format"), std::string::npos) << badlog.err;
}

// An edited sweep file run again into the same database becomes a second sweep of the same name:
// `run` says so, and how many of its trials are identical to finished ones; with --reuse those
// are copied (marked in the export and the leaderboard) and only the others train.
TEST_F(CliTest, RunningAnEditedSweepAgainSaysSoAndReusesWithReuse) {
  if (!HaveMnist()) GTEST_SKIP() << "MNIST not found in " << DataDir();
  const std::string file = dir_ + "/again.yaml";
  auto write = [&](const std::string& units) {
    std::ofstream(file) << "name: again\ndata: {train_limit: 300}\n"
                           "fixed: {cell: dense, epochs: 1}\n"
                           "parameters:\n  units: {values: "
                        << units << "}\n";
  };
  const std::string db = dir_ + "/again.db";
  const std::string run =
      "run " + Quote(file) + " --workers 1 --db " + Quote(db) + " --data-dir " + Quote(DataDir());
  auto exported = [&](int sweep) {
    const Result ex =
        Run("export " + std::to_string(sweep) + " --db " + Quote(db) + " --format json");
    EXPECT_EQ(ex.code, 0) << ex.err;
    std::map<int, json> by_units;
    if (ex.code != 0) return by_units;
    const json all = json::parse(ex.out);  // (kept: the loop reads into it)
    for (const json& t : all["trials"]) by_units[t["params"]["units"].get<int>()] = t;
    return by_units;
  };
  write("[4, 8]");
  const Result first = Run(run);
  ASSERT_EQ(first.code, 0) << first.err;
  EXPECT_EQ(first.err.find("note:"), std::string::npos) << first.err;
  write("[4, 8, 16]");
  const Result second = Run(run);
  ASSERT_EQ(second.code, 0) << second.err;
  EXPECT_NE(second.err.find("note: sweep 1 in " + db +
                            " is also named 'again' (completed, 2 trials completed), from a "
                            "different file; this run is a new sweep, 2."),
            std::string::npos)
      << second.err;
  EXPECT_NE(second.err.find("note: 2 of its trials match finished trials of sweep 1; pass "
                            "--reuse to copy their results instead of training again"),
            std::string::npos)
      << second.err;
  // Without --reuse every trial trained again.
  const std::map<int, json> plain = exported(2);
  EXPECT_EQ(plain.size(), 3u);
  for (const auto& [units, t] : plain) {
    EXPECT_EQ(t["reused_from"], "") << units;
    EXPECT_EQ(t["attempts"], 1) << units;
  }

  write("[4, 8, 16, 32]");
  const Result third = Run(run + " --reuse");
  ASSERT_EQ(third.code, 0) << third.err;
  EXPECT_NE(third.err.find("note: 3 of its trials match finished trials of sweeps 1, 2: their "
                           "results are copied instead of trained (--reuse)"),
            std::string::npos)
      << third.err;
  std::map<int, json> was = exported(1), now = exported(3);
  ASSERT_EQ(now.size(), 4u);
  // 4 and 8 come from the sweep that first trained them, 16 from sweep 2; only 32 trained.
  // Each names the worker that trained it (local-1 or local-2, whichever leased it).
  auto from = [&now](int units) { return now[units]["reused_from"].get<std::string>(); };
  EXPECT_EQ(from(4).rfind("sweep 1 #1 (worker local-", 0), 0u) << from(4);
  EXPECT_EQ(from(8).rfind("sweep 1 #2 (worker local-", 0), 0u) << from(8);
  EXPECT_EQ(from(16).rfind("sweep 2 #3 (worker local-", 0), 0u) << from(16);
  EXPECT_EQ(from(32), "");
  int trained = 0;
  for (const auto& [units, t] : now) {
    EXPECT_EQ(t["status"], "completed") << units;
    trained += t["attempts"].get<int>();
  }
  EXPECT_EQ(trained, 1);
  for (int units : {4, 8}) {
    EXPECT_EQ(now[units]["epochs"], was[units]["epochs"]) << units;
    EXPECT_EQ(now[units]["best_val_accuracy"], was[units]["best_val_accuracy"]) << units;
    EXPECT_EQ(now[units]["test_accuracy"], was[units]["test_accuracy"]) << units;
    EXPECT_EQ(now[units]["confusion_matrix"], was[units]["confusion_matrix"]) << units;
  }
  // The leaderboard marks the copies.
  const Result lb = Run("leaderboard 3 --db " + Quote(db));
  ASSERT_EQ(lb.code, 0) << lb.err;
  EXPECT_NE(lb.out.find("copied from sweep 1 #1"), std::string::npos) << lb.out;
  EXPECT_NE(lb.out.find("copied from sweep 2 #3"), std::string::npos) << lb.out;

  // One matching trial: the note is in the singular throughout.
  write("[4, 64]");
  const Result fourth = Run(run);
  ASSERT_EQ(fourth.code, 0) << fourth.err;
  EXPECT_NE(fourth.err.find("note: 1 of its trials matches a finished trial of sweep"),
            std::string::npos)
      << fourth.err;
  EXPECT_NE(fourth.err.find("; pass --reuse to copy its result instead of training again"),
            std::string::npos)
      << fourth.err;
  EXPECT_NE(fourth.err.find("): 2 trials, 1 worker x "), std::string::npos) << fourth.err;
  write("[4, 128]");
  const Result fifth = Run(run + " --reuse");
  ASSERT_EQ(fifth.code, 0) << fifth.err;
  EXPECT_NE(fifth.err.find(": its result is copied instead of trained (--reuse)"),
            std::string::npos)
      << fifth.err;
}

// `extend` (README "Growing a sweep") of a finished run's random sweep in its --db, by name: the
// limit is stored, the same file run again resumes the sweep and trains only the new trials,
// numbered on, the first two untouched; refusals exit 2 saying why; the export says extended_to.
TEST_F(CliTest, ExtendAFinishedRunThenRunItAgainTrainsTheNewTrials) {
  if (!HaveMnist()) GTEST_SKIP() << "MNIST not found in " << DataDir();
  const std::string file = dir_ + "/grow.yaml";
  std::ofstream(file) << "name: grow\nmethod: random\nmax_trials: 2\nseed: 3\n"
                         "data: {train_limit: 300}\nfixed: {cell: dense, epochs: 1}\n"
                         "parameters:\n  units: {distribution: int_uniform, min: 2, max: 64}\n";
  const std::string db = dir_ + "/grow.db";
  const std::string run =
      "run " + Quote(file) + " --workers 1 --db " + Quote(db) + " --data-dir " + Quote(DataDir());
  auto exported = [&]() {
    const Result ex = Run("export 1 --db " + Quote(db) + " --format json");
    EXPECT_EQ(ex.code, 0) << ex.err;
    return ex.code == 0 ? json::parse(ex.out) : json();
  };
  const Result first = Run(run);
  ASSERT_EQ(first.code, 0) << first.err;
  const json before = exported();
  ASSERT_EQ(before["trials"].size(), 2u);
  EXPECT_FALSE(before["sweep"].contains("extended_to"));

  const Result not_larger = Run("extend grow --max-trials 2 --db " + Quote(db));
  EXPECT_EQ(not_larger.code, 2);
  EXPECT_NE(not_larger.err.find("max_trials 2 is not larger than the max_trials of sweep 1"),
            std::string::npos)
      << not_larger.err;
  const Result unknown = Run("extend nosuch --more 1 --db " + Quote(db));
  EXPECT_EQ(unknown.code, 2);
  EXPECT_NE(unknown.err.find("no sweep named 'nosuch'"), std::string::npos) << unknown.err;
  const Result both = Run("extend grow --more 1 --max-trials 5 --db " + Quote(db));
  EXPECT_NE(both.code, 0);

  const Result extend = Run("extend grow --max-trials 4 --db " + Quote(db));
  ASSERT_EQ(extend.code, 0) << extend.err;
  EXPECT_NE(extend.out.find("sweep 1 (grow) extended to max_trials 4: 2 more trials to propose "
                            "(4 in all)"),
            std::string::npos)
      << extend.out;
  const Result status = Run("status 1 --db " + Quote(db));
  ASSERT_EQ(status.code, 0) << status.err;
  EXPECT_NE(status.out.find("running"), std::string::npos) << status.out;
  EXPECT_NE(status.out.find("extended to 4 trials (hpsweep extend; the file says 2)"),
            std::string::npos)
      << status.out;

  const Result second = Run(run);
  ASSERT_EQ(second.code, 0) << second.err;
  EXPECT_NE(second.err.find("resuming sweep 1 (grow)"), std::string::npos) << second.err;
  const json after = exported();
  EXPECT_EQ(after["sweep"]["state"], "completed");
  EXPECT_EQ(after["sweep"]["extended_to"], 4);
  EXPECT_EQ(after["sweep"]["trials"], 4);
  ASSERT_EQ(after["trials"].size(), 4u);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(after["trials"][i]["number"], i + 1);
    EXPECT_EQ(after["trials"][i]["status"], "completed");
    EXPECT_EQ(after["trials"][i]["attempts"], 1);
  }
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(after["trials"][i]["params"], before["trials"][i]["params"]);
    EXPECT_EQ(after["trials"][i]["finished_at"], before["trials"][i]["finished_at"]);
  }
}

TEST_F(CliTest, RunThenLeaderboardAndExportFromTheDatabase) {
  if (!HaveMnist()) GTEST_SKIP() << "MNIST not found in " << DataDir();
  const std::string file = dir_ + "/tiny.yaml";
  std::ofstream(file) << "name: cli-tiny\nmethod: grid\n"
                         "data: {validation_split: 0.2, train_limit: 1000}\n"
                         "fixed: {cell: gru, epochs: 2, batch_size: 64}\n"
                         "parameters:\n  units: {values: [4, 8, 16]}\n";
  const std::string db = dir_ + "/s.db";
  const Result run = Run("run " + Quote(file) + " --workers 2 --db " + Quote(db) + " --data-dir " +
                         Quote(DataDir()));
  ASSERT_EQ(run.code, 0) << run.err;
  EXPECT_NE(run.out.find("Leaderboard of sweep 1 (cli-tiny)"), std::string::npos) << run.out;
  // Progress in a log (stderr is a file here): before any result it says so, not "- -"; and a
  // line comes when a trial finishes, not only every 10 s and at the end.
  const size_t line = run.err.find("[cli-tiny]");
  ASSERT_NE(line, std::string::npos) << run.err;
  const std::string first = run.err.substr(line, run.err.find('\n', line) - line);
  EXPECT_NE(first.find("[cli-tiny] 0/3 trials done"), std::string::npos) << run.err;
  EXPECT_NE(first.find("no result yet"), std::string::npos) << run.err;
  EXPECT_EQ(run.err.find("val_accuracy -"), std::string::npos) << run.err;

  // status reads the database file as leaderboard does; --watch on a finished sweep's file
  // prints the table at once.
  const Result watched = Run("status --watch --db " + Quote(db));
  ASSERT_EQ(watched.code, 0) << watched.err;
  EXPECT_NE(watched.out.find("cli-tiny"), std::string::npos) << watched.out;
  EXPECT_NE(watched.out.find("completed"), std::string::npos) << watched.out;
  const Result st = Run("status --db " + Quote(db));
  ASSERT_EQ(st.code, 0) << st.err;
  EXPECT_NE(st.out.find("cli-tiny"), std::string::npos) << st.out;
  EXPECT_NE(st.out.find("completed"), std::string::npos) << st.out;
  const Result st7 = Run("status 7 --db " + Quote(db));
  EXPECT_EQ(st7.code, 2);
  EXPECT_NE(st7.err.find("no sweep 7"), std::string::npos) << st7.err;

  const Result js = Run("leaderboard --db " + Quote(db) + " --format json");
  ASSERT_EQ(js.code, 0) << js.err;
  const json lb = json::parse(js.out);
  ASSERT_EQ(lb["rows"].size(), 3u);
  std::set<int> units;
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(lb["rows"][i]["rank"].get<int>(), static_cast<int>(i) + 1);
    if (i > 0) {
      EXPECT_GE(lb["rows"][i - 1]["val_accuracy"].get<double>(),
                lb["rows"][i]["val_accuracy"].get<double>());
    }
    // Typed params: a number, not its text.
    const json& p = lb["rows"][i]["params"];
    ASSERT_TRUE(p["units"].is_number_integer()) << p.dump();
    units.insert(p["units"].get<int>());
    EXPECT_EQ(p["epochs"], 2) << p.dump();
    EXPECT_TRUE(p["dense"].is_array()) << p.dump();
    EXPECT_TRUE(p["nesterov"].is_boolean()) << p.dump();
    EXPECT_TRUE(p["learning_rate"].is_number_float()) << p.dump();
    EXPECT_EQ(lb["rows"][i]["epochs"].get<int>(), 2);
  }
  EXPECT_EQ(units, (std::set<int>{4, 8, 16}));

  const Result top = Run("leaderboard --db " + Quote(db) + " --format csv --top 2");
  ASSERT_EQ(top.code, 0) << top.err;
  EXPECT_EQ(std::count(top.out.begin(), top.out.end(), '\n'), 3) << top.out;  // header + 2
  EXPECT_EQ(top.out.rfind("rank,trial_id,number,units,", 0), 0u) << top.out;

  const Result ex = Run("export 1 --db " + Quote(db) + " --format json");
  ASSERT_EQ(ex.code, 0) << ex.err;
  const json e = json::parse(ex.out);
  EXPECT_EQ(e["sweep"]["name"], "cli-tiny");
  ASSERT_EQ(e["trials"].size(), 3u);
  for (const auto& t : e["trials"]) {
    EXPECT_EQ(t["status"], "completed");
    EXPECT_EQ(t["epochs"].size(), 2u);
    EXPECT_EQ(t["params"]["cell"], "gru");
    EXPECT_TRUE(t["params"]["units"].is_number_integer()) << t["params"].dump();
    EXPECT_EQ(t["params"]["epochs"], 2) << t["params"].dump();
    EXPECT_TRUE(t["params"]["dropout"].is_array()) << t["params"].dump();
  }
  const Result csv = Run("export --db " + Quote(db) + " --format csv");
  ASSERT_EQ(csv.code, 0) << csv.err;
  EXPECT_EQ(std::count(csv.out.begin(), csv.out.end(), '\n'), 1 + 3 * 2) << csv.out;
  // Typed params print in their text form, as before they were typed.
  EXPECT_NE(csv.out.find(",0.001,"), std::string::npos) << csv.out;
  EXPECT_NE(csv.out.find(",[],"), std::string::npos) << csv.out;

  // The best trial's saved model, summarised straight from the database.
  const Result sum = Run("summary --trial best --db " + Quote(db));
  ASSERT_EQ(sum.code, 0) << sum.err;
  EXPECT_NE(sum.out.find(" (GRU)"), std::string::npos) << sum.out;
  EXPECT_NE(sum.out.find("Total params: "), std::string::npos) << sum.out;
  const Result none = Run("summary --trial 999 --db " + Quote(db));
  EXPECT_EQ(none.code, 2);
  EXPECT_NE(none.err.find("no finished trial #999"), std::string::npos) << none.err;

  // Classify an image (MNIST's first test image, written as a binary PGM) with the best trial.
  auto mnist = hpsweep::LoadMnist(DataDir(), 1);
  ASSERT_TRUE(mnist.ok());
  const std::string pgm = dir_ + "/seven.pgm";
  {
    std::ofstream f(pgm, std::ios::binary);
    f << "P5\n28 28\n255\n";
    for (int i = 0; i < 784; ++i) f.put(static_cast<char>(mnist->test.pixels[i]));
  }
  const Result pred = Run("predict --trial best --db " + Quote(db) + " --json " + Quote(pgm));
  ASSERT_EQ(pred.code, 0) << pred.err;
  const json pj = json::parse(pred.out);
  ASSERT_EQ(pj.size(), 1u);
  double total = 0;
  for (const auto& p : pj[0]["probabilities"]) total += p.get<double>();
  EXPECT_NEAR(total, 1.0, 1e-4);
  const int digit = pj[0]["digit"].get<int>();
  EXPECT_TRUE(digit >= 0 && digit <= 9);
  const Result junk = Run("predict --trial best --db " + Quote(db) + " " + Quote(db));
  EXPECT_EQ(junk.code, 2);
  EXPECT_NE(junk.err.find("not a readable image"), std::string::npos) << junk.err;
  // Bad images among good ones: the good are classified, each bad one named, exit 1.
  const std::string missing = dir_ + "/missing.png";
  const std::string mixed = Quote(pgm) + " " + Quote(db) + " " + Quote(missing) + " " + Quote(pgm);
  const Result some = Run("predict --trial best --db " + Quote(db) + " " + mixed);
  EXPECT_EQ(some.code, 1) << some.err;
  EXPECT_EQ(std::count(some.out.begin(), some.out.end(), '\n'), 2) << some.out;
  EXPECT_NE(some.out.find("seven.pgm: "), std::string::npos) << some.out;
  EXPECT_NE(some.err.find("not a readable image"), std::string::npos) << some.err;
  EXPECT_NE(some.err.find("not found: " + missing), std::string::npos) << some.err;
  const Result somej = Run("predict --trial best --db " + Quote(db) + " --json " + mixed);
  EXPECT_EQ(somej.code, 1) << somej.err;
  const json sj = json::parse(somej.out);
  ASSERT_EQ(sj.size(), 4u) << somej.out;
  EXPECT_EQ(sj[0]["digit"].get<int>(), digit);
  EXPECT_TRUE(sj[1].contains("error")) << sj[1];
  EXPECT_FALSE(sj[1].contains("digit")) << sj[1];
  EXPECT_NE(sj[2]["error"].get<std::string>().find("not found"), std::string::npos) << sj[2];
  EXPECT_EQ(sj[3]["digit"].get<int>(), digit);

  const Result bad = Run("leaderboard 7 --db " + Quote(db));
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.err.find("no sweep 7"), std::string::npos) << bad.err;

  // The HTML report, opened in a real headless browser.
  const std::string html = dir_ + "/report.html";
  const Result rep =
      Run("report --db " + Quote(db) + " -o " + Quote(html) + " --data-dir " + Quote(DataDir()));
  ASSERT_EQ(rep.code, 0) << rep.err;
  std::ifstream hin(html);
  const std::string page((std::istreambuf_iterator<char>(hin)), std::istreambuf_iterator<char>());
  for (const char* id : {"id=\"leaderboard\"", "id=\"curves\"", "id=\"parallel\"", "id=\"effects\"",
                         "id=\"confusion\"", "id=\"per-class\"", "id=\"samples\"",
                         "id=\"class-counts\"", "id=\"mean-images\""}) {
    EXPECT_NE(page.find(id), std::string::npos) << "report lacks " << id;
  }
  EXPECT_EQ(page.find("http"), std::string::npos) << "the report must need no network";
  if (std::system("command -v chromium >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "chromium not installed (scripts/test.sh installs it)";
  }
  const std::string dom_path = dir_ + "/dom.html";
  const std::string cmd = "chromium --headless --no-sandbox --disable-gpu --dump-dom file://" +
                          Quote(html) + " >" + Quote(dom_path) + " 2>/dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  std::ifstream din(dom_path);
  const std::string dom((std::istreambuf_iterator<char>(din)), std::istreambuf_iterator<char>());
  auto count = [&dom](const std::string& needle) {
    size_t n = 0;
    for (size_t p = dom.find(needle); p != std::string::npos; p = dom.find(needle, p + 1)) ++n;
    return n;
  };
  // The browser built the page: 3 trials x 2 curves + the overlay + parallel coordinates.
  EXPECT_GE(count("<svg"), 8u) << dom.substr(0, 500);
  EXPECT_GE(count("<polyline"), 10u);
  EXPECT_GE(count("<img"), 110u);  // 100 test images + 10 mean digits
  EXPECT_NE(dom.find("</html>"), std::string::npos);
}

// data-report describes the data a sweep uses (--train-limit, --validation-split), styled as the
// report; a negative limit is refused by name.
TEST_F(CliTest, DataReportTakesTrainLimit) {
  if (!HaveMnist()) GTEST_SKIP() << "MNIST not found in " << DataDir();
  const std::string html = dir_ + "/data.html";
  const Result rep = Run("data-report --train-limit 3000 --validation-split 0.1 -o " + Quote(html) +
                         " --data-dir " + Quote(DataDir()));
  ASSERT_EQ(rep.code, 0) << rep.err;
  std::ifstream in(html);
  const std::string page((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(page.find("3000 training images"), std::string::npos);
  EXPECT_NE(page.find("the first 2700 train, the last 300 validate"), std::string::npos);
  EXPECT_NE(page.find("<style>"), std::string::npos);
  EXPECT_EQ(page.find("http"), std::string::npos);
  const Result bad = Run("data-report --train-limit -5 -o " + Quote(html) + " --data-dir " +
                         Quote(DataDir()));
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.err.find("--train-limit"), std::string::npos) << bad.err;
}

// In a log (stderr not a terminal) a progress line comes when a trial finishes, not only every
// 10 s and at the end. One worker, trials of several epochs: the first finishes well over the
// once-a-second limit after the first line.
TEST_F(CliTest, LoggedProgressHasALineWhenATrialFinishes) {
  if (!HaveMnist()) GTEST_SKIP() << "MNIST not found in " << DataDir();
  const std::string file = dir_ + "/two.yaml";
  std::ofstream(file) << "name: two\nmethod: grid\n"
                         "data: {validation_split: 0.2, train_limit: 3000}\n"
                         "fixed: {cell: lstm, units: 16, epochs: 12, batch_size: 64}\n"
                         "parameters:\n  seed: {values: [1, 2]}\n";
  const Result run = Run("run " + Quote(file) + " --workers 1 --db " + Quote(dir_ + "/t.db") +
                         " --data-dir " + Quote(DataDir()));
  ASSERT_EQ(run.code, 0) << run.err;
  EXPECT_NE(run.err.find("[two] 1/2 trials done, "), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("[two] 2/2 trials done, "), std::string::npos) << run.err;
}

// Ctrl-C during `run` exits 130 after saying how to resume (SIGTERM: 143), as a shell reports
// death by a signal; the sweep is then resumed from the database.
TEST_F(CliTest, InterruptedRunExits128PlusTheSignalAndSaysHowToResume) {
  if (!HaveMnist()) GTEST_SKIP() << "MNIST not found in " << DataDir();
  const std::string file = dir_ + "/long.yaml";
  std::ofstream(file) << "name: ctrlc\nmethod: grid\n"
                         "data: {validation_split: 0.2, train_limit: 2000}\n"
                         "fixed: {cell: lstm, epochs: 50, batch_size: 64}\n"
                         "parameters:\n  units: {values: [8, 16]}\n";
  const std::string db = dir_ + "/ctrlc.db";
  for (int sig : {SIGINT, SIGTERM}) {
    const std::string log = dir_ + "/run" + std::to_string(sig) + ".txt";  // fresh: no old text
    const pid_t pid =
        Spawn({"run", file, "--workers", "1", "--db", db, "--data-dir", DataDir()}, log);
    ASSERT_GT(pid, 0);
    // The first progress line comes after the signal handlers are in place.
    ASSERT_TRUE(WaitForText(log, "trials done", pid)) << ReadText(log);
    if (sig == SIGINT) {
      // The run says where its coordinator listens, and another terminal can follow it there.
      const std::string text = ReadText(log);
      const size_t at = text.find("coordinator at 127.0.0.1:");
      ASSERT_NE(at, std::string::npos) << text;
      const std::string addr = text.substr(at + 15, text.find(':', at + 25) - at - 15);
      EXPECT_NE(text.find("`hpsweep status --coordinator " + addr + " --watch`"),
                std::string::npos)
          << text;
      const Result st = Run("status --coordinator " + addr);
      EXPECT_EQ(st.code, 0) << st.err;
      EXPECT_NE(st.out.find("ctrlc"), std::string::npos) << st.out;
      // ... and so can `status --watch --db` on the run's file: it follows the sweep while it runs
      // (a progress line, no table yet) until told to stop.
      const std::string watch_log = dir_ + "/watch.txt";
      const pid_t watch = Spawn({"status", "--watch", "--db", db}, watch_log);
      ASSERT_GT(watch, 0);
      EXPECT_TRUE(WaitForText(watch_log, "[ctrlc]", watch)) << ReadText(watch_log);
      const std::string followed = ReadText(watch_log);
      EXPECT_EQ(followed.find("sweep  name"), std::string::npos) << "a table already:\n" << followed;
      ASSERT_EQ(kill(watch, SIGINT), 0);
      EXPECT_EQ(WaitExit(watch), -SIGINT) << ReadText(watch_log);
    }
    ASSERT_EQ(kill(pid, sig), 0);
    EXPECT_EQ(WaitExit(pid), 128 + sig) << ReadText(log);
    const std::string text = ReadText(log);
    EXPECT_NE(text.find("interrupted: every finished trial is in " + db), std::string::npos)
        << text;
    EXPECT_NE(text.find("run the same command again to resume"), std::string::npos) << text;
  }
  const Result st = Run("status --db " + Quote(db));
  EXPECT_EQ(st.code, 0) << st.err;
  EXPECT_NE(st.out.find("ctrlc"), std::string::npos) << st.out;
  // The file edited and run again: a new sweep; the interrupted one is named in one note (it
  // was named twice: as the same name, and as a sweep still running), and left running.
  std::ofstream(file) << "name: ctrlc\nmethod: grid\n"
                         "data: {validation_split: 0.2, train_limit: 500}\n"
                         "fixed: {cell: lstm, epochs: 1, batch_size: 64}\n"
                         "parameters:\n  units: {values: [8]}\n";
  const Result edited = Run("run " + Quote(file) + " --workers 1 --db " + Quote(db) +
                            " --data-dir " + Quote(DataDir()));
  ASSERT_EQ(edited.code, 0) << edited.err;
  EXPECT_NE(edited.err.find("note: sweep 1 in " + db + " is also named 'ctrlc' (running, "),
            std::string::npos)
      << edited.err;
  EXPECT_NE(edited.err.find("this run is a new sweep, 2. Sweep 1 is left as it is ("),
            std::string::npos)
      << edited.err;
  size_t notes = 0;
  for (size_t at = edited.err.find("note: sweep 1 "); at != std::string::npos;
       at = edited.err.find("note: sweep 1 ", at + 1)) {
    ++notes;
  }
  EXPECT_EQ(notes, 1u) << edited.err;
  const Result after = Run("status 1 --db " + Quote(db));
  EXPECT_EQ(after.code, 0) << after.err;
  EXPECT_NE(after.out.find("running"), std::string::npos) << after.out;
}

// After `cancel`, the stopped trial is shown as stopped: in status --watch's progress line, and in
// the worker's log (not "done: test_accuracy ...").
TEST_F(CliTest, CancelledTrialIsReportedStopped) {
  if (!HaveMnist()) GTEST_SKIP() << "MNIST not found in " << DataDir();
  const std::string db = dir_ + "/c.db", clog = dir_ + "/coord.txt", wlog = dir_ + "/worker.txt";
  const pid_t coord =
      Spawn({"coordinator", "--listen", "127.0.0.1:0", "--db", db, "--data-dir", DataDir()}, clog);
  ASSERT_GT(coord, 0);
  ASSERT_TRUE(WaitForText(clog, "), database ", coord)) << ReadText(clog);  // the whole line
  const std::string c = ReadText(clog);
  const size_t at = c.find("listening on ") + 13;
  const std::string addr = c.substr(at, c.find(' ', at) - at);
  const std::string file = dir_ + "/cancel.yaml";
  std::ofstream(file) << "name: cancelme\nmethod: grid\n"
                         "data: {validation_split: 0.2, train_limit: 2000}\n"
                         "fixed: {cell: lstm, units: 8, epochs: 100, batch_size: 64}\n"
                         "parameters:\n  seed: {values: [1, 2]}\n";
  const Result sub = Run("submit " + Quote(file) + " --coordinator " + addr);
  ASSERT_EQ(sub.code, 0) << sub.err;
  const pid_t worker = Spawn({"worker", "--coordinator", addr, "--data-dir", DataDir()}, wlog);
  ASSERT_GT(worker, 0);
  EXPECT_TRUE(WaitForText(wlog, " epoch 1:", worker)) << ReadText(wlog);
  const Result cancel = Run("cancel 1 --coordinator " + addr);
  EXPECT_EQ(cancel.code, 0) << cancel.err;
  EXPECT_TRUE(WaitForText(wlog, " stopped (sweep cancelled) after epoch ", worker))
      << ReadText(wlog);
  EXPECT_EQ(ReadText(wlog).find(" done: test_accuracy"), std::string::npos) << ReadText(wlog);
  const Result watch = Run("status 1 --watch --coordinator " + addr);
  EXPECT_EQ(watch.code, 0) << watch.err;
  // Trial 2 was never proposed (trials are proposed at lease time); the cancel stopped it all
  // the same, so the counts add up.
  EXPECT_NE(watch.err.find("[cancelme] 2/2 trials done (2 stopped), 0 running"), std::string::npos)
      << watch.err;
  kill(worker, SIGTERM);
  WaitExit(worker);
  kill(coord, SIGTERM);
  EXPECT_EQ(WaitExit(coord), 0) << ReadText(clog);
}

}  // namespace cli_test
