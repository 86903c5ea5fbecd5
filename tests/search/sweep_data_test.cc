// Tests for the `data:` forms of a user's own data set in sweep files (search/sweep_file.h):
// format idx / csv, paths relative to the sweep file, errors naming file:line:key, and
// CheckSweepData reading the files at submit.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "search/sweep_file.h"

namespace hpsweep {
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

}  // namespace
}  // namespace hpsweep
