// End to end: `hpsweep run` on a sweep of the user's own data -- an 8x8 IDX set with 3 classes
// (gzipped) and a CSV time series with 4 classes, both made here -- trains clearly above chance;
// `hpsweep train` takes the same data by flags; bad data ends before anything starts.
#include <algorithm>
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

namespace own_data_test {

using json = nlohmann::json;

std::string Quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

struct Result {
  int code = -1;
  std::string out, err;
};

class OwnDataTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "/own_data_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  Result Run(const std::string& args) {
    const std::string err_path = dir_ + "/stderr.txt";
    const std::string cmd =
        "(cd " + Quote(dir_) + " && " + Quote(HPSWEEP_BIN) + " " + args + ") 2>" + Quote(err_path);
    Result r;
    FILE* p = popen(cmd.c_str(), "r");
    if (p == nullptr) return r;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), p)) > 0) r.out.append(buf, n);
    const int status = pclose(p);
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    std::ifstream in(err_path);
    r.err.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    return r;
  }

  void WriteGz(const std::string& path, const std::vector<uint8_t>& bytes) {
    gzFile f = gzopen(path.c_str(), "wb");
    ASSERT_NE(f, nullptr) << path;
    gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
    ASSERT_EQ(gzclose(f), Z_OK);
  }

  // 8x8 images, class c (0..2) lights rows 2c+2..2c+3 over noise; gzipped IDX files in `sub`.
  void WriteIdxSet(const std::string& sub) {
    std::filesystem::create_directories(dir_ + "/" + sub);
    std::mt19937 rng(7);
    for (const auto& [split, n] : {std::pair<std::string, int>{"train", 300}, {"t10k", 90}}) {
      std::vector<uint8_t> images, labels;
      auto put = [](std::vector<uint8_t>* b, uint32_t v) {
        for (int s = 24; s >= 0; s -= 8) b->push_back(static_cast<uint8_t>(v >> s));
      };
      put(&images, 0x803);
      put(&images, n);
      put(&images, 8);
      put(&images, 8);
      put(&labels, 0x801);
      put(&labels, n);
      for (int i = 0; i < n; ++i) {
        const int c = static_cast<int>(rng() % 3);
        labels.push_back(static_cast<uint8_t>(c));
        for (int p = 0; p < 64; ++p) {
          images.push_back(static_cast<uint8_t>((p / 16 == c + 1 ? 180 : 0) + rng() % 60));
        }
      }
      WriteGz(dir_ + "/" + sub + "/" + split + "-images-idx3-ubyte.gz", images);
      WriteGz(dir_ + "/" + sub + "/" + split + "-labels-idx1-ubyte.gz", labels);
    }
  }

  // label,then 10 steps x 2 features: feature 0 drifts at a rate set by the class (0..3). With
  // `names`, class c's label is names[c].
  void WriteCsv(const std::string& name, int n, uint32_t seed,
                const std::vector<std::string>& names = {}) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> noise(-0.2f, 0.2f);
    std::ofstream out(dir_ + "/" + name);
    out << "label";
    for (int i = 0; i < 20; ++i) out << ",x" << i;
    out << "\n";
    for (int i = 0; i < n; ++i) {
      const int c = static_cast<int>(rng() % 4);
      if (names.empty()) {
        out << c;
      } else {
        out << names[static_cast<size_t>(c)];
      }
      for (int t = 0; t < 10; ++t) out << "," << 0.1f * c * t + noise(rng) << "," << noise(rng);
      out << "\n";
    }
  }

  // Runs the sweep (the workers still load --data-dir's IDX folder at start: the tiny set here)
  // and returns the best test accuracy on its leaderboard.
  double RunSweep(const std::string& yaml) {
    std::ofstream(dir_ + "/s.yaml") << yaml;
    const Result run = Run("run s.yaml --workers 1 --db s.db --data-dir idx");
    EXPECT_EQ(run.code, 0) << run.err << run.out;
    const Result lb = Run("leaderboard --db s.db --format json");
    EXPECT_EQ(lb.code, 0) << lb.err;
    double best = 0;
    const json j = json::parse(lb.out, nullptr, false);
    if (j.is_discarded() || !j.contains("rows")) {
      ADD_FAILURE() << lb.out;
      return 0;
    }
    // report works on it, leaving out MNIST's sections (they would be about other data).
    const Result rep = Run("report --db s.db -o r.html --data-dir idx");
    EXPECT_EQ(rep.code, 0) << rep.err;
    EXPECT_NE(rep.err.find("the sweep trained on its own data set"), std::string::npos) << rep.err;
    for (const json& r : j["rows"]) {
      EXPECT_EQ(r["status"], "completed") << r.dump();
      if (r["test_accuracy"].is_number()) best = std::max(best, r["test_accuracy"].get<double>());
    }
    return best;
  }

  std::string dir_;
};

TEST_F(OwnDataTest, IdxSweepTrainsAboveChance) {
  WriteIdxSet("idx");
  const double acc = RunSweep(
      "name: own-idx\ndata: {format: idx, path: idx, validation_split: 0.2}\n"
      "fixed: {cell: lstm, epochs: 4, batch_size: 16, learning_rate: 0.01}\n"
      "parameters:\n  units: {values: [16]}\n");
  EXPECT_GT(acc, 1.0 / 3 + 0.3);
}

TEST_F(OwnDataTest, CsvSweepTrainsAboveChance) {
  WriteIdxSet("idx");
  WriteCsv("train.csv", 400, 1);
  WriteCsv("test.csv", 100, 2);
  const double acc = RunSweep(
      "name: own-csv\n"
      "data: {format: csv, train: train.csv, test: test.csv, sequence_length: 10,"
      " validation_split: 0.2}\n"
      "fixed: {cell: gru, epochs: 4, batch_size: 16, learning_rate: 0.01}\n"
      "parameters:\n  units: {values: [16]}\n");
  EXPECT_GT(acc, 0.25 + 0.3);
}

TEST_F(OwnDataTest, TrainFlagsReadCsvAndIdx) {
  WriteIdxSet("idx");
  WriteCsv("train.csv", 400, 1);
  WriteCsv("test.csv", 100, 2);
  Result r = Run(
      "train --data-format csv --train-file train.csv --test-file test.csv --sequence-length 10 "
      "--cell gru --units 16 --epochs 3 --learning-rate 0.01 --json");
  ASSERT_EQ(r.code, 0) << r.err;
  json j = json::parse(r.out);
  EXPECT_GT(j["test_accuracy"].get<double>(), 0.55);
  EXPECT_EQ(j["confusion_matrix"].size(), 4u);
  r =
      Run("train --data-format idx --data-path idx --units 16 --epochs 3 --learning-rate 0.01 "
          "--json");
  ASSERT_EQ(r.code, 0) << r.err;
  j = json::parse(r.out);
  EXPECT_GT(j["test_accuracy"].get<double>(), 1.0 / 3 + 0.3);
  EXPECT_EQ(j["confusion_matrix"].size(), 3u);
}

// A CSV's test rows are rows and its labels classes, not MNIST's images and digits; sorted by
// label, its last rows (Keras's validation split) are one class: said before training, and
// validation_stratify draws every class into validation instead.
TEST_F(OwnDataTest, TrainSaysRowsAndClassesAndWarnsOfASortedCsv) {
  WriteCsv("train.csv", 400, 1);
  WriteCsv("test.csv", 100, 2);
  {
    std::ifstream in(dir_ + "/train.csv");
    std::string header, line;
    std::getline(in, header);
    std::vector<std::string> rows;
    while (std::getline(in, line)) rows.push_back(line);
    std::stable_sort(rows.begin(), rows.end());  // by the label, the first column
    std::ofstream out(dir_ + "/sorted.csv");
    out << header << "\n";
    for (const std::string& r : rows) out << r << "\n";
  }
  const std::string flags =
      "train --data-format csv --train-file sorted.csv --test-file test.csv --sequence-length 10 "
      "--cell gru --units 8 --epochs 1 --validation-split 0.2";
  Result r = Run(flags);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("(100 rows, "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("row = true class"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("digit"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("warning: the validation rows"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("classes 0, 1, 2"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("validation_stratify: true"), std::string::npos) << r.err;
  r = Run(flags + " --validation-stratify true --json");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.err.find("warning"), std::string::npos) << r.err;
  const json j = json::parse(r.out);
  EXPECT_FALSE(j.contains("validation_warning")) << r.out;
  EXPECT_EQ(j["val_samples"].get<int>(), 80);
  EXPECT_GT(j["history"][0]["val_accuracy"].get<double>(), 0.0);
}

// predict takes a model of the user's own data with inputs of its shape: CSV rows (with or
// without a label) and IDX images of its size; another shape is refused naming both.
TEST_F(OwnDataTest, PredictReadsInputsShapedAsTheModelsData) {
  WriteIdxSet("idx");
  WriteCsv("train.csv", 400, 1);
  WriteCsv("test.csv", 100, 2);
  Result r = Run(
      "train --data-format csv --train-file train.csv --test-file test.csv --sequence-length 10 "
      "--cell gru --units 16 --epochs 3 --learning-rate 0.01 --json --save csv.hpsm");
  ASSERT_EQ(r.code, 0) << r.err;
  const double trained = json::parse(r.out)["test_accuracy"].get<double>();
  r = Run("predict --model csv.hpsm --csv test.csv --json");
  ASSERT_EQ(r.code, 0) << r.err;
  json rows = json::parse(r.out, nullptr, false);
  ASSERT_TRUE(rows.is_array()) << r.out;
  ASSERT_EQ(rows.size(), 100u);
  int right = 0;
  for (const json& row : rows) {
    ASSERT_EQ(row["probabilities"].size(), 4u) << row.dump();
    right += row["class"] == row["label"];
  }
  // Rows are named by their line in the file, as its errors name them: the header is line 1.
  EXPECT_EQ(rows[0]["input"], "test.csv:2");
  EXPECT_EQ(rows[99]["input"], "test.csv:101");
  // The same model on the same rows: the accuracy train measured.
  EXPECT_NEAR(right / 100.0, trained, 1e-9);
  r = Run("predict --model csv.hpsm --csv test.csv");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("accuracy: "), std::string::npos) << r.out;

  // Rows without the label: the features alone.
  {
    std::ifstream in(dir_ + "/test.csv");
    std::ofstream out(dir_ + "/nolabel.csv");
    std::string line;
    std::getline(in, line);  // header
    for (int i = 0; i < 3 && std::getline(in, line); ++i)
      out << line.substr(line.find(',') + 1) << "\n";
  }
  r = Run("predict --model csv.hpsm --csv nolabel.csv --json");
  ASSERT_EQ(r.code, 0) << r.err;
  rows = json::parse(r.out, nullptr, false);
  ASSERT_EQ(rows.size(), 3u) << r.out;
  EXPECT_FALSE(rows[0].contains("label"));

  // Another row length, IDX images and digit pictures are not this model's inputs.
  std::ofstream(dir_ + "/short.csv") << "1,2,3\n";
  r = Run("predict --model csv.hpsm --csv short.csv");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("short.csv:1: 3 values, but the model reads 20 (10 steps of 2 features)"),
            std::string::npos)
      << r.err;
  r = Run("predict --model csv.hpsm --idx idx/t10k-images-idx3-ubyte.gz");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("images are 8x8, but the model reads 10 steps of 2 features"),
            std::string::npos)
      << r.err;
  r = Run("predict --model csv.hpsm digit.png");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("not 28x28 digit images: give its inputs as --csv FILE"), std::string::npos)
      << r.err;

  // An IDX model reads IDX images of its size.
  r = Run("train --data-format idx --data-path idx --units 16 --epochs 2 --save idx.hpsm --json");
  ASSERT_EQ(r.code, 0) << r.err;
  r = Run("predict --model idx.hpsm --idx idx/t10k-images-idx3-ubyte.gz --json");
  ASSERT_EQ(r.code, 0) << r.err;
  rows = json::parse(r.out, nullptr, false);
  ASSERT_EQ(rows.size(), 90u) << r.out.substr(0, 300);
  EXPECT_EQ(rows[0]["probabilities"].size(), 3u);
}

// predict --trial of a sweep run on the user's own data: the trial's model, the data's shape.
TEST_F(OwnDataTest, PredictTakesATrialOfAnOwnDataSweep) {
  WriteIdxSet("idx");
  WriteCsv("train.csv", 200, 1);
  WriteCsv("test.csv", 40, 2);
  RunSweep(
      "name: own-csv\n"
      "data: {format: csv, train: train.csv, test: test.csv, sequence_length: 10}\n"
      "fixed: {cell: gru, epochs: 2, batch_size: 16, learning_rate: 0.01}\n"
      "parameters:\n  units: {values: [8]}\n");
  const Result r = Run("predict --trial best --db s.db --csv test.csv");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("test.csv:41: "), std::string::npos) << r.out;  // 40 rows after a header
  EXPECT_EQ(r.out.find("test.csv:1: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("accuracy: "), std::string::npos) << r.out;
}

// data-report takes own data as train does and describes it: its classes, shape and the mean
// of each class.
TEST_F(OwnDataTest, DataReportDescribesOwnData) {
  WriteIdxSet("idx");
  WriteCsv("train.csv", 200, 1);
  WriteCsv("test.csv", 40, 2);
  auto page = [&](const std::string& flags, Result* r) {
    *r = Run("data-report -o d.html " + flags);
    std::ifstream in(dir_ + "/d.html");
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  };
  auto count = [](const std::string& text, const std::string& what) {
    size_t n = 0;
    for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
  };
  Result r;
  std::string html = page("--data-format idx --data-path idx --validation-split 0.1", &r);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(html.find("idx idx: 300 training images"), std::string::npos) << html.substr(0, 2000);
  EXPECT_NE(html.find("8x8 pixels scaled to [0, 1]; 3 classes."), std::string::npos);
  EXPECT_EQ(count(html, "title=\"mean "), 3u);
  EXPECT_EQ(html.find("MNIST"), std::string::npos);

  html = page("--data-format csv --train-file train.csv --test-file test.csv --sequence-length 10",
              &r);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(html.find("csv train.csv, test.csv: 200 training rows"), std::string::npos)
      << html.substr(0, 2000);
  EXPECT_NE(html.find("10 steps of 2 features (20 values a row, used as given); 4 classes."),
            std::string::npos);
  EXPECT_EQ(count(html, "title=\"mean "), 4u);
  // Class counts: one table row per class, plus the heading.
  const size_t table = html.find("<table id=\"class-counts\">");
  ASSERT_NE(table, std::string::npos);
  EXPECT_EQ(count(html.substr(table, html.find("</table>", table) - table), "<tr>"), 5u);

  html = page("--data-format idx", &r);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--data-format idx needs --data-path DIR"), std::string::npos) << r.err;
  html = page("--data-format csv --train-file train.csv --test-file short.csv", &r);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("short.csv: no such file"), std::string::npos) << r.err;
}

// Labels given as names: train shows them in its per-class table and confusion matrix (and
// --json's class_names), data-report in its class table, escaped; a one-feature series is drawn
// as line charts; predict refuses labels it cannot name.
TEST_F(OwnDataTest, LabelNamesAreShownByTrainAndDataReport) {
  const std::vector<std::string> names = {"up", "flat", "<script>x</script>", "steep"};
  WriteCsv("train.csv", 400, 1, names);
  WriteCsv("test.csv", 100, 2, names);
  const std::string flags =
      "train --data-format csv --train-file train.csv --test-file test.csv --sequence-length 10 "
      "--cell gru --units 16 --epochs 3 --learning-rate 0.01";
  Result r = Run(flags + " --json --save m.hpsm");
  ASSERT_EQ(r.code, 0) << r.err;
  const json j = json::parse(r.out);
  // Classes in the names' byte order: '<' < 'f' < 's' < 'u'.
  EXPECT_EQ(j["class_names"], json::array({"<script>x</script>", "flat", "steep", "up"}));
  EXPECT_EQ(j["confusion_matrix"].size(), 4u);
  EXPECT_GT(j["test_accuracy"].get<double>(), 0.55);
  r = Run(flags);
  ASSERT_EQ(r.code, 0) << r.err;
  // Padded to the longest name, 18 bytes: right-aligned in the table, left in the matrix.
  EXPECT_NE(r.out.find("\n" + std::string(14, ' ') + "flat  "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\n  steep" + std::string(13, ' ') + " |"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\n  <script>x</script> |"), std::string::npos) << r.out;

  // predict: a model file keeps no names, so rows labeled by name are refused, saying why.
  r = Run("predict --model m.hpsm --csv test.csv");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("test.csv:2: label "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("is a name, but a model file keeps no class names"), std::string::npos)
      << r.err;

  r =
      Run("data-report -o d.html --data-format csv --train-file train.csv --test-file test.csv "
          "--sequence-length 10");
  ASSERT_EQ(r.code, 0) << r.err;
  std::string html;
  {
    std::ifstream in(dir_ + "/d.html");
    html.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  EXPECT_NE(html.find("<td>&lt;script&gt;x&lt;/script&gt;</td>"), std::string::npos);
  EXPECT_NE(html.find("<td>steep</td>"), std::string::npos);
  EXPECT_EQ(html.find("<script>x"), std::string::npos);
  EXPECT_NE(html.find("title=\"mean &lt;script&gt;x&lt;/script&gt;\""), std::string::npos);
  EXPECT_EQ(html.find("mean-series"), std::string::npos);  // 2 features a step: images

  // One feature a step (20 steps of 1): the mean series are line charts, not 1-pixel images.
  r =
      Run("data-report -o d1.html --data-format csv --train-file train.csv --test-file test.csv "
          "--sequence-length 20");
  ASSERT_EQ(r.code, 0) << r.err;
  {
    std::ifstream in(dir_ + "/d1.html");
    html.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  const size_t grid = html.find("id=\"mean-series\"");
  ASSERT_NE(grid, std::string::npos) << html.substr(0, 3000);
  size_t polylines = 0;
  for (size_t at = html.find("<polyline", grid); at != std::string::npos;
       at = html.find("<polyline", at + 1)) {
    ++polylines;
  }
  EXPECT_EQ(polylines, 4u);
  EXPECT_EQ(html.find("<img", grid), std::string::npos);
  EXPECT_NE(html.find("<title>mean &lt;script&gt;x&lt;/script&gt;</title>"), std::string::npos);
}

TEST_F(OwnDataTest, BadDataEndsBeforeAnythingStarts) {
  WriteIdxSet("idx");
  std::ofstream(dir_ + "/train.csv") << "0,1,2\n1,2,3\n2,x,1\n";
  std::ofstream(dir_ + "/test.csv") << "0,1,2\n";
  std::ofstream(dir_ + "/s.yaml") << "name: bad\ndata:\n  format: csv\n  train: train.csv\n"
                                     "  test: test.csv\nparameters:\n  units: {values: [4]}\n";
  Result r = Run("run s.yaml --workers 1 --db s.db --data-dir idx");
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("s.yaml:4: key 'data.train': train.csv:3: field 2 'x' is not a finite "
                       "number"),
            std::string::npos)
      << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/s.db"));
  r = Run("train --data-format csv --train-file train.csv --test-file test.csv");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("train.csv:3: field 2 'x' is not a finite number"), std::string::npos)
      << r.err;
  r = Run("train --data-format csv --train-file train.csv");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--data-format csv needs --train-file FILE and --test-file FILE"),
            std::string::npos)
      << r.err;
}

// A class only the test set has would silently widen the model with a class it never learns:
// train, data-report and a sweep file refuse it, naming the test file's line (or the IDX labels
// file's item) and the training classes.
TEST_F(OwnDataTest, TestOnlyLabelIsRefusedEverywhere) {
  WriteIdxSet("idx");
  WriteCsv("train.csv", 200, 1);  // classes 0..3
  {
    std::ofstream out(dir_ + "/test.csv");
    out << "label";
    for (int i = 0; i < 20; ++i) out << ",x" << i;
    out << "\n";
    for (int label : {0, 1, 3, 5, 2}) {  // label 5 on line 5
      out << label;
      for (int i = 0; i < 20; ++i) out << ",0.5";
      out << "\n";
    }
  }
  const std::string why =
      "test.csv:5: label 5 never occurs in the training file train.csv (its classes are 0..3)";
  Result r = Run(
      "train --data-format csv --train-file train.csv --test-file test.csv --sequence-length 10 "
      "--epochs 1");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find(why), std::string::npos) << r.err;
  r =
      Run("data-report -o d.html --data-format csv --train-file train.csv --test-file test.csv "
          "--sequence-length 10");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find(why), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/d.html"));
  std::ofstream(dir_ + "/s.yaml") << "name: bad\ndata:\n  format: csv\n  train: train.csv\n"
                                     "  test: test.csv\n  sequence_length: 10\n"
                                     "parameters:\n  units: {values: [4]}\n";
  r = Run("run s.yaml --workers 1 --db s.db --data-dir idx");
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("s.yaml:5: key 'data.test': " + why), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/s.db"));

  // IDX: the test labels file and the item.
  std::vector<uint8_t> labels = {0, 0, 8, 1, 0, 0, 0, 5};  // magic 0x801, 5 labels
  for (uint8_t l : {0, 1, 2, 9, 1}) labels.push_back(l);
  WriteGz(dir_ + "/idx/t10k-labels-idx1-ubyte.gz", labels);
  std::vector<uint8_t> images = {0, 0, 8, 3, 0, 0, 0, 5, 0, 0, 0, 8, 0, 0, 0, 8};  // 5 of 8x8
  images.resize(images.size() + 5 * 64, 7);
  WriteGz(dir_ + "/idx/t10k-images-idx3-ubyte.gz", images);
  r = Run("data-report -o d.html --data-format idx --data-path idx");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("idx/t10k-labels-idx1-ubyte.gz: item 3 (counting from 0) has label 9, "
                       "which the training labels (idx/train-labels-idx1-ubyte.gz) never have; "
                       "their classes are 0..2"),
            std::string::npos)
      << r.err;
}

int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

// A worker whose copy of the files differs from what the sweep was submitted with, on a
// coordinator whose files changed too, fails the trial with the reason and trains nothing on the
// wrong data.
TEST_F(OwnDataTest, WorkerWithChangedFilesFailsTheTrialNamingTheSums) {
  WriteIdxSet("idx");
  WriteCsv("train.csv", 40, 1);
  WriteCsv("test.csv", 10, 2);
  std::ofstream(dir_ + "/s.yaml")
      << "name: changed\nmax_attempts: 1\n"
         "data: {format: csv, train: train.csv, test: test.csv, sequence_length: 10}\n"
         "fixed: {cell: gru, epochs: 1}\nparameters:\n  units: {values: [4]}\n";
  const std::string addr = "127.0.0.1:" + std::to_string(FreePort());
  const Result start = Run("coordinator --listen " + addr +
                           " --db c.db --data-dir idx --data-root . >coord.log 2>&1 & echo $! >&1");
  const pid_t coordinator = std::atoi(start.out.c_str());
  ASSERT_GT(coordinator, 0) << start.err;
  Result submit;
  for (int i = 0; i < 100; ++i) {  // until the coordinator listens (a bound, not a timing check)
    submit = Run("submit s.yaml --coordinator " + addr);
    if (submit.code == 0) break;
    usleep(100 * 1000);
  }
  EXPECT_EQ(submit.code, 0) << submit.err;
  WriteCsv("test.csv", 10, 3);  // changed after submit
  const Result worker = Run("worker --coordinator " + addr + " --data-dir idx --exit-when-idle");
  const Result ex = Run("export 1 --coordinator " + addr);
  kill(coordinator, SIGTERM);
  // Not our child (the shell's): wait until it is gone before the folder is removed.
  for (int i = 0; i < 300 && kill(coordinator, 0) == 0; ++i) usleep(100 * 1000);
  // The worker's copy differs, so it asks the coordinator for the submitted files; the
  // coordinator's differ too now, and it refuses to send them.
  EXPECT_NE(worker.err.find("fetching it from the coordinator"), std::string::npos) << worker.err;
  EXPECT_NE(ex.out.find("its files changed since submit, so they are not sent"), std::string::npos)
      << ex.out;
  // No cache folder is left behind for a fetch that failed.
  for (const auto& e : std::filesystem::directory_iterator(dir_)) {
    EXPECT_EQ(e.path().filename().string().find("idx.own-"), std::string::npos) << e.path();
  }
  const json e = json::parse(ex.out, nullptr, false);
  ASSERT_FALSE(e.is_discarded()) << ex.out;
  ASSERT_EQ(e["trials"].size(), 1u) << ex.out;
  EXPECT_EQ(e["trials"][0]["status"], "failed") << ex.out;
}

}  // namespace own_data_test
