// Tests for the `data:` forms of a user's own data set in sweep files (search/sweep_file.h):
// format idx / csv, paths relative to the sweep file, errors naming file:line:key, and
// CheckSweepData reading the files at submit.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "search/sweep_file.h"

namespace hpsweep::sweep_data_test {
namespace {

class SweepDataTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "/sweep_data_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& text) {
    const std::string path = dir_ + "/" + name;
    FILE* f = std::fopen(path.c_str(), "wb");
    EXPECT_NE(f, nullptr);
    std::fwrite(text.data(), 1, text.size(), f);
    std::fclose(f);
    return path;
  }

  static std::string Sweep(const std::string& data) {
    return "name: own\n" + data + "parameters:\n  units: {values: [8, 16]}\n";
  }

  std::string dir_;
};

TEST_F(SweepDataTest, CsvFormResolvesPathsNextToTheSweepFile) {
  Write("train.csv", "0,1,2,3,4\n1,4,3,2,1\n");
  Write("test.csv", "1,1,1,1,1\n");
  const std::string path =
      Write("s.yaml", Sweep("data:\n  format: csv\n  train: train.csv\n  test: test.csv\n"
                            "  sequence_length: 2\n"));
  StatusOr<SweepSpec> spec = ParseSweepFile(path);
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_EQ(spec->data.format, DataFormat::kCsv);
  EXPECT_EQ(spec->data.train_file, dir_ + "/train.csv");
  EXPECT_EQ(spec->data.test_file, dir_ + "/test.csv");
  EXPECT_EQ(spec->data.sequence_length, 2);
  StatusOr<std::string> sha = CheckSweepData(*spec, path);
  ASSERT_TRUE(sha.ok()) << sha.status().ToString();
  EXPECT_EQ(sha->size(), 64u);
  // Another file content, another identity.
  Write("test.csv", "0,1,1,1,1\n");
  StatusOr<std::string> sha2 = CheckSweepData(*spec, path);
  ASSERT_TRUE(sha2.ok());
  EXPECT_NE(*sha, *sha2);
}

TEST_F(SweepDataTest, LimitsAreCheckedWithTheDataShape) {
  // 20,000 flat features: a dense(64) model has 1.28e6 parameters with them, 50,240 with MNIST's.
  std::string row = "1";
  for (int i = 0; i < 20000; ++i) row += ",0";
  Write("train.csv", row + "\n");
  Write("test.csv", row + "\n");
  const std::string path =
      Write("s.yaml",
            "name: wide\ndata: {format: csv, train: train.csv, test: test.csv}\n"
            "fixed: {cell: dense, layers: 1}\nparameters:\n  units: {values: [64]}\n");
  StatusOr<SweepSpec> spec = ParseSweepFile(path);
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  SweepLimits limits;
  limits.max_params = 1'000'000;
  StatusOr<std::vector<TrialSpec>> trials = ExpandSweep(*spec, path, limits);
  ASSERT_TRUE(trials.ok()) << trials.status().ToString();  // MNIST's shape fits
  Status st = AttachSweepData(*spec, path, &*trials, limits);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find(":2: trial 1: "), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("with the data's shape (1 steps x 20000 features, 2 classes), over "
                              "the limit of"),
            std::string::npos)
      << st.message();
  limits.max_params = 2'000'000;
  st = AttachSweepData(*spec, path, &*trials, limits);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ((*trials)[0].config.model.features, 20000);
  EXPECT_EQ((*trials)[0].params.at("data.format"), "csv");
  EXPECT_EQ((*trials)[0].params.at("data.train"),
            std::filesystem::path(dir_ + "/train.csv").lexically_normal().string());
  EXPECT_EQ((*trials)[0].params.at("data.sha256").size(), 64u);
}

TEST_F(SweepDataTest, IdxFormTakesAFolder) {
  StatusOr<SweepSpec> spec =
      ParseSweep(Sweep("data: {format: idx, path: /abs/imgs}\n"), "d/s.yaml");
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_EQ(spec->data.format, DataFormat::kIdx);
  EXPECT_EQ(spec->data.path, "/abs/imgs");
  spec = ParseSweep(Sweep("data: {format: idx, path: imgs}\n"), "d/s.yaml");
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_EQ(spec->data.path, "d/imgs");
  // Missing files are refused at submit, naming the key's line.
  StatusOr<std::string> sha = CheckSweepData(*spec, "d/s.yaml");
  ASSERT_FALSE(sha.ok());
  EXPECT_NE(sha.status().message().find("d/s.yaml:2: key 'data.path': d/imgs"), std::string::npos)
      << sha.status().message();
}

TEST_F(SweepDataTest, BadFilesNameSweepLineKeyAndDataLine) {
  Write("train.csv", "0,1,2\n1,3\n");
  Write("test.csv", "0,1,2\n");
  const std::string path =
      Write("s.yaml", Sweep("data:\n  format: csv\n  train: train.csv\n  test: test.csv\n"));
  StatusOr<SweepSpec> spec = ParseSweepFile(path);
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  StatusOr<std::string> sha = CheckSweepData(*spec, path);
  ASSERT_FALSE(sha.ok());
  EXPECT_NE(
      sha.status().message().find(":4: key 'data.train': " + dir_ + "/train.csv:2: ragged row"),
      std::string::npos)
      << sha.status().message();
  Write("train.csv", "0,1,2\n1,3,4\n");
  Write("test.csv", "0,1,2\n7,1,x\n");
  sha = CheckSweepData(*spec, path);
  ASSERT_FALSE(sha.ok());
  EXPECT_NE(sha.status().message().find(":5: key 'data.test': " + dir_ +
                                        "/test.csv:2: field 3 'x' is not a finite number"),
            std::string::npos)
      << sha.status().message();
}

// The peak resident memory of this process (VmHWM), in bytes; -1 if unreadable.
int64_t PeakRssBytes() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoll(line.substr(6)) * 1024;  // kB
  }
  return -1;
}

// Checking a sweep's data at submit holds about one line of a CSV file, not the file: in a child
// process (its own peak), PrepareSweepData over a 64 MB training file grows the peak by well under
// a quarter of the file, reads it once, and still gives the shape, classes and a late bad row.
TEST_F(SweepDataTest, SubmitCheckOfABigCsvHoldsFarLessThanTheFile) {
  const std::string train = dir_ + "/train.csv";
  {
    std::string tail;
    for (int i = 0; i < 100; ++i) tail += "," + std::to_string(100 + i) + ".25";
    FILE* f = std::fopen(train.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    int64_t written = 0;
    for (int i = 0; written < (int64_t{64} << 20); ++i) {
      const std::string row = std::to_string(i % 10) + tail + "\n";
      ASSERT_EQ(std::fwrite(row.data(), 1, row.size(), f), row.size());
      written += static_cast<int64_t>(row.size());
    }
    std::fclose(f);
  }
  const int64_t file_bytes = static_cast<int64_t>(std::filesystem::file_size(train));
  std::string test_row = "3";
  for (int i = 0; i < 100; ++i) test_row += ",1";
  Write("test.csv", test_row + "\n");
  const std::string path =
      Write("s.yaml", Sweep("data:\n  format: csv\n  train: train.csv\n  test: test.csv\n"
                            "  sequence_length: 4\n"));
  StatusOr<SweepSpec> spec = ParseSweepFile(path);
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();

  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(fds[0]);
    const int64_t before = PeakRssBytes();
    StatusOr<SweepData> d = PrepareSweepData(*spec, path);
    const int64_t after = PeakRssBytes();
    int64_t out[5] = {d.ok() ? 1 : 0, before < 0 || after < 0 ? -1 : after - before,
                      d.ok() ? d->steps : 0, d.ok() ? d->features : 0, d.ok() ? d->classes : 0};
    const bool sent = ::write(fds[1], out, sizeof(out)) == static_cast<ssize_t>(sizeof(out));
    ::_exit(sent ? 0 : 1);
  }
  ::close(fds[1]);
  int64_t got[5] = {0, 0, 0, 0, 0};
  const ssize_t n = ::read(fds[0], got, sizeof(got));
  ::close(fds[0]);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  ASSERT_EQ(n, static_cast<ssize_t>(sizeof(got)));
  EXPECT_EQ(got[0], 1) << "PrepareSweepData failed";
  ASSERT_GE(got[1], 0) << "no VmHWM in /proc/self/status";
  EXPECT_LT(got[1], file_bytes / 4)
      << "peak grew by " << (got[1] >> 20) << " MiB for a " << (file_bytes >> 20) << " MiB file";
  EXPECT_EQ(got[2], 4);
  EXPECT_EQ(got[3], 25);
  EXPECT_EQ(got[4], 10);

  // A bad row at the very end is still found, at its line.
  {
    FILE* f = std::fopen(train.c_str(), "ab");
    ASSERT_NE(f, nullptr);
    std::fputs("1,2\n", f);
    std::fclose(f);
  }
  StatusOr<SweepData> d = PrepareSweepData(*spec, path);
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find("key 'data.train': " + train + ":"), std::string::npos)
      << d.status().message();
  EXPECT_NE(d.status().message().find(": ragged row: 1 features, but the first row has 100"),
            std::string::npos)
      << d.status().message();
}

TEST(SweepDataFormTest, ErrorsNameLineAndKey) {
  struct Case {
    const char* data;
    const char* message;
  };
  const Case cases[] = {
      {"data: {format: cvs, train: a, test: b}\n",
       "s.yaml:2: key 'data.format': expected idx, csv or mnist, got 'cvs' (did you mean 'csv'?)"},
      {"data: {format: idx}\n", "s.yaml:2: key 'data.format': idx needs 'path'"},
      {"data:\n  format: csv\n  train: a.csv\n", "s.yaml:3: key 'data.format': csv needs 'test'"},
      {"data:\n  format: idx\n  path: d\n  sequence_length: 4\n",
       "s.yaml:5: key 'data.sequence_length': only for format csv"},
      {"data:\n  format: csv\n  train: a\n  test: b\n  path: d\n",
       "s.yaml:6: key 'data.path': not for format csv"},
      {"data:\n  path: d\n", "s.yaml:3: key 'data.path': needs 'data.format'"},
      {"data:\n  dataset: mnist\n  format: idx\n  path: d\n",
       "s.yaml:3: key 'data.dataset': give either 'dataset' or 'format'"},
      {"data:\n  format: csv\n  train: a\n  test: b\n  sequence_length: 0\n",
       "s.yaml:6: key 'data.sequence_length': expected an integer in [1, 4096], got '0'"},
      {"data:\n  format: csv\n  train: [a]\n  test: b\n",
       "s.yaml:4: key 'data.train': expected a single value"},
      {"data:\n  format: mnist\n  path: d\n", "s.yaml:4: key 'data.path': not for format mnist"},
      {"data:\n  formt: csv\n", "unknown key 'formt' under 'data' (did you mean 'format'?)"},
  };
  for (const Case& c : cases) {
    StatusOr<SweepSpec> spec = ParseSweep(
        "name: own\n" + std::string(c.data) + "parameters:\n  units: {values: [8]}\n", "s.yaml");
    ASSERT_FALSE(spec.ok()) << c.data;
    EXPECT_NE(spec.status().message().find(c.message), std::string::npos)
        << c.data << " -> " << spec.status().message();
  }
}

// task: regression (README.md, "Regression"): csv rows of targets first; the metric defaults to
// val_mse (minimised); what does not fit the task is refused at file:line:key.
TEST_F(SweepDataTest, RegressionSweepReadsTargetsAndRanksByValMse) {
  Write("train.csv", "y1,y2,a,b\n0.5,1.25,1,2\n-3.5,2,3,4\n");
  Write("test.csv", "1.5,0,1,1\n");
  const std::string data =
      "data: {format: csv, train: train.csv, test: test.csv, targets: 2}\n";
  std::string path = Write("s.yaml", "name: r\n" + data +
                                         "fixed: {task: regression, cell: lstm}\n"
                                         "parameters:\n  loss: {values: [mse, mae, huber]}\n");
  std::string text;
  {
    std::ifstream in(path);
    std::getline(in, text, '\0');
  }
  StatusOr<PreparedSweep> p = PrepareSweep(text, path);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->spec.metric, "val_mse");
  EXPECT_FALSE(p->spec.maximize);
  EXPECT_EQ(p->spec.data.targets, 2);
  ASSERT_EQ(p->trials.size(), 3u);
  for (const TrialSpec& t : p->trials) {
    EXPECT_EQ(t.params.at("task"), "regression");
    EXPECT_EQ(t.params.at("data.targets"), "2");
    EXPECT_EQ(t.config.model.classes, 2);  // Dense(2): one output per target
    EXPECT_EQ(t.config.model.features, 2);
  }
  EXPECT_EQ(p->trials[1].params.at("loss"), "mae");
  // Without targets: the first column, as a label would be.
  path = Write("one.yaml", "name: r\ndata: {format: csv, train: train.csv, test: test.csv}\n"
                           "fixed: {task: regression}\n");
  StatusOr<SweepSpec> one = ParseSweepFile(path);
  ASSERT_TRUE(one.ok()) << one.status().ToString();
  EXPECT_EQ(one->data.targets, 1);

  struct Bad {
    std::string yaml, want;
  };
  const Bad bad[] = {
      {"name: r\n" + data + "metric: {name: val_accuracy}\nfixed: {task: regression}\n",
       "b.yaml:3: key 'metric.name': val_accuracy is not measured for task: regression; expected "
       "one of val_mse, val_mae, test_mse, test_mae, val_loss (did you mean 'val_mse'?)"},
      {"name: r\n" + data + "metric: {name: val_mse, goal: maximize}\nfixed: {task: regression}\n",
       "b.yaml:3: key 'metric.goal': val_mse should be minimized"},
      {"name: r\n" + data + "fixed: {cell: lstm}\n",
       "b.yaml:2: key 'data.targets': real-valued targets are for task: regression"},
      {"name: r\nmetric: {name: val_mae}\n", "b.yaml:2: key 'metric.name': val_mae is a "
                                                "regression metric; the task is classification"},
      {"name: r\nfixed: {task: regression}\n",
       "b.yaml:2: key 'task': regression reads real-valued targets from csv data"},
      {"name: r\n" + data + "fixed: {task: regression, loss: categorical_crossentropy}\n",
       "b.yaml:3: trial 1: key 'loss': categorical_crossentropy is a classification loss"},
      {"name: r\nfixed:\n  units: 4\n  loss: mse\n",
       "b.yaml:4: trial 1: key 'loss': mse is a regression loss; task is classification"},
      {"name: r\n" + data + "fixed: {task: regression, huber_delta: 2}\n",
       "b.yaml:3: trial 1: key 'huber_delta': only loss=huber uses it (loss is mse)"},
      {"name: r\n" + data + "parameters:\n  task: {values: [regression]}\n",
       "b.yaml:4: key 'task': the task decides the sweep's metric; set it under fixed"},
      {"name: r\ndata: {format: idx, path: imgs, targets: 1}\n",
       "b.yaml:2: key 'data.targets': only for format csv"},
      {"name: r\n" + data + "fixed: {task: regression, huber_delta: 0}\n",
       "b.yaml:3: key 'huber_delta': expected a number in (0, 1e+06]"},
  };
  for (const Bad& b : bad) {
    const std::string f = Write("b.yaml", b.yaml);
    StatusOr<PreparedSweep> r = PrepareSweep(b.yaml, f);
    ASSERT_FALSE(r.ok()) << b.yaml;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << b.yaml;
    EXPECT_NE(r.status().message().find(b.want), std::string::npos)
        << b.yaml << "\ngot:  " << r.status().message() << "\nwant: " << b.want;
  }
  // A target that is not a number: the data file's line, under the data key's.
  Write("train.csv", "y1,y2,a,b\n0.5,1.25,1,2\n0.5,x,3,4\n");
  StatusOr<PreparedSweep> r = PrepareSweep(text, path);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("key 'data.train': " + dir_ +
                                      "/train.csv:3: target 'x' (field 2) is not a finite number"),
            std::string::npos)
      << r.status().message();
}

}  // namespace
}  // namespace hpsweep::sweep_data_test
