// Tests for engine/dataset.h: small data sets made here (an 8x8 IDX set with 3 classes, plain and
// gzipped; a CSV time series with 4 classes), trained to clearly above chance, and the errors a
// hostile file gets, each naming file:line.
#include "engine/dataset.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "engine/trainer.h"

namespace hpsweep::dataset_test {
namespace {

using Bytes = std::vector<uint8_t>;

void Put32(Bytes* b, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) b->push_back(static_cast<uint8_t>(v >> shift));
}

class DatasetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "/dataset_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& bytes, bool gz = false) {
    const std::string path = dir_ + "/" + name;
    if (gz) {
      gzFile f = gzopen(path.c_str(), "wb");
      EXPECT_NE(f, nullptr);
      EXPECT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())),
                static_cast<int>(bytes.size()));
      EXPECT_EQ(gzclose(f), Z_OK);
    } else {
      FILE* f = std::fopen(path.c_str(), "wb");
      EXPECT_NE(f, nullptr);
      EXPECT_EQ(std::fwrite(bytes.data(), 1, bytes.size(), f), bytes.size());
      std::fclose(f);
    }
    return path;
  }

  // n images of 8x8: class c (0..2) lights rows 2c..2c+2 on a noisy background.
  void WriteIdxSplit(const std::string& split, int n, bool gz, uint32_t seed) {
    std::mt19937 rng(seed);
    Bytes images, labels;
    Put32(&images, 0x803);
    Put32(&images, n);
    Put32(&images, 8);
    Put32(&images, 8);
    Put32(&labels, 0x801);
    Put32(&labels, n);
    for (int i = 0; i < n; ++i) {
      const int c = static_cast<int>(rng() % 3);
      labels.push_back(static_cast<uint8_t>(c));
      for (int r = 0; r < 8; ++r) {
        for (int col = 0; col < 8; ++col) {
          const bool lit = r / 2 == c + 1;
          images.push_back(static_cast<uint8_t>((lit ? 180 : 0) + rng() % 60));
        }
      }
    }
    const std::string sfx = gz ? ".gz" : "";
    Write(split + "-images-idx3-ubyte" + sfx, std::string(images.begin(), images.end()), gz);
    Write(split + "-labels-idx1-ubyte" + sfx, std::string(labels.begin(), labels.end()), gz);
  }

  // rows of a 4-class time series of T=10 steps x F=2 features: feature 0 drifts at a rate set by
  // the class, feature 1 is noise.
  std::string CsvSeries(int n, uint32_t seed, bool header) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> noise(-0.2f, 0.2f);
    std::string s = header ? "label,x\n" : "";
    for (int i = 0; i < n; ++i) {
      const int c = static_cast<int>(rng() % 4);
      s += std::to_string(c);
      for (int t = 0; t < 10; ++t) {
        s += "," + std::to_string(0.1f * c * t + noise(rng)) + "," + std::to_string(noise(rng));
      }
      s += "\r\n";
    }
    return s;
  }

  double TrainAccuracy(const Mnist& data, Cell cell) {
    TrialConfig config;
    config.model.cell = cell;
    config.model.units = 16;
    config.train.learning_rate = 0.01f;
    config.train.epochs = 4;
    config.train.batch_size = 16;
    config.train.seed = 1;
    ShapeModelToData(data, &config.model);
    StatusOr<TrainResult> r = Train(config, data, TrainOptions());
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? r->test.accuracy : 0;
  }

  std::string dir_;
};

TEST_F(DatasetTest, IdxEightByEightThreeClassesTrainsAboveChance) {
  WriteIdxSplit("train", 300, /*gz=*/false, 1);
  WriteIdxSplit("t10k", 90, /*gz=*/true, 2);  // gzipped, found by its .gz name
  DataSpec spec;
  spec.format = DataFormat::kIdx;
  spec.path = dir_;
  StatusOr<Mnist> data = LoadDataset(spec);
  ASSERT_TRUE(data.ok()) << data.status().ToString();
  EXPECT_EQ(data->train.rows, 8);
  EXPECT_EQ(data->train.cols, 8);
  EXPECT_EQ(data->train.num_classes, 3);
  EXPECT_EQ(data->test.num_classes, 3);
  EXPECT_EQ(data->test.count, 90);
  TrialConfig config;
  ShapeModelToData(*data, &config.model);
  EXPECT_EQ(config.model.steps, 8);
  EXPECT_EQ(config.model.features, 8);
  EXPECT_EQ(config.model.classes, 3);
  EXPECT_GT(TrainAccuracy(*data, Cell::kLstm), 1.0 / 3 + 0.3);
  StatusOr<std::string> sha = DatasetSha256(spec);
  ASSERT_TRUE(sha.ok()) << sha.status().ToString();
  EXPECT_EQ(sha->size(), 64u);
}

TEST_F(DatasetTest, MnistLoaderKeepsTenOutputs) {
  WriteIdxSplit("train", 10, false, 1);
  WriteIdxSplit("t10k", 10, false, 2);
  StatusOr<Mnist> m = LoadMnist(dir_);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->train.num_classes, 10);  // MNIST keeps its 10 outputs
}

TEST_F(DatasetTest, CsvTimeSeriesFourClassesTrainsAboveChance) {
  DataSpec spec;
  spec.format = DataFormat::kCsv;
  spec.train_file = Write("train.csv", CsvSeries(400, 1, /*header=*/true));
  spec.test_file = Write("test.csv", CsvSeries(100, 2, /*header=*/false));
  spec.sequence_length = 10;
  StatusOr<Mnist> data = LoadDataset(spec);
  ASSERT_TRUE(data.ok()) << data.status().ToString();
  EXPECT_EQ(data->train.count, 400);  // the header is not a row
  EXPECT_EQ(data->train.rows, 10);
  EXPECT_EQ(data->train.cols, 2);
  EXPECT_EQ(data->train.num_classes, 4);
  EXPECT_GT(TrainAccuracy(*data, Cell::kGru), 0.25 + 0.3);
}

TEST_F(DatasetTest, CsvFlatFeaturesForDense) {
  StatusOr<Dataset> ds = ParseCsv("1,0.5,2\n0,1,-3e2\n", "flat.csv", 1);
  ASSERT_TRUE(ds.ok()) << ds.status().ToString();
  EXPECT_EQ(ds->rows, 1);
  EXPECT_EQ(ds->cols, 2);
  EXPECT_EQ(ds->num_classes, 2);
  EXPECT_FLOAT_EQ(ds->images[3], -300.0f);
}

struct BadCsv {
  const char* text;
  int sequence_length;
  const char* message;
};

TEST(CsvErrorsTest, NameFileLineAndProblem) {
  const BadCsv cases[] = {
      {"0,1,2\n1,3\n", 1, "bad.csv:2: ragged row: 1 features, but the first row has 2"},
      {"0,1,2\n1,3,x\n", 1, "bad.csv:2: field 3 'x' is not a finite number"},
      {"0,1,2\n1,3,nan\n", 1, "bad.csv:2: field 3 'nan' is not a finite number"},
      {"0,1,2\n-1,3,4\n", 1, "bad.csv:2: label '-1' is out of range [0, 255]"},
      {"0,1,2\n\n1.5,3,4\n", 1, "bad.csv:3: label '1.5' is not an integer"},
      {"0,1,2\n256,3,4\n", 1, "bad.csv:2: label '256' is out of range"},
      {"0,1,2\nb,3,4\n", 1, "bad.csv:2: label 'b' is not a number"},
      {"0,1,2,3\n", 2, "bad.csv:1: 3 features per row cannot be split into sequence_length 2"},
      {"0\n", 1, "bad.csv:1: a row needs a label and at least one feature"},
      {"label,a\n", 1, "bad.csv: no data rows"},
      {"0,1\n", 0, "sequence_length 0 is out of range"},
  };
  for (const BadCsv& c : cases) {
    StatusOr<Dataset> ds = ParseCsv(c.text, "bad.csv", c.sequence_length);
    ASSERT_FALSE(ds.ok()) << c.text;
    EXPECT_EQ(ds.status().code(), StatusCode::kInvalidArgument) << c.text;
    EXPECT_NE(ds.status().message().find(c.message), std::string::npos)
        << c.text << " -> " << ds.status().message();
  }
}

TEST(CsvErrorsTest, OverlongRowIsRefusedBeforeSplitting) {
  const std::string row = "0" + std::string(kCsvMaxFeatures + 1, ',') + "\n";
  StatusOr<Dataset> ds = ParseCsv("0,1\n" + row, "wide.csv", 1);
  ASSERT_FALSE(ds.ok());
  EXPECT_NE(ds.status().message().find("wide.csv:2: 65537 features, over the limit of 65536"),
            std::string::npos)
      << ds.status().message();
}

TEST_F(DatasetTest, CsvTestShapeMustMatchTraining) {
  DataSpec spec;
  spec.format = DataFormat::kCsv;
  spec.train_file = Write("train.csv", "0,1,2,3,4\n1,1,2,3,4\n");
  spec.test_file = Write("test.csv", "0,1,2\n");
  spec.sequence_length = 2;
  StatusOr<Mnist> data = LoadDataset(spec);
  ASSERT_FALSE(data.ok());
  EXPECT_NE(data.status().message().find("test.csv:1: rows have 2 features"), std::string::npos)
      << data.status().message();
  // The line named is the first data row's, after a header and a blank line.
  spec.test_file = Write("test.csv", "label,a,b\n\n0,1,2\n");
  data = LoadDataset(spec);
  ASSERT_FALSE(data.ok());
  EXPECT_NE(data.status().message().find("test.csv:3: rows have 2 features"), std::string::npos)
      << data.status().message();
  spec.test_file = dir_ + "/missing.csv";
  data = LoadDataset(spec);
  ASSERT_FALSE(data.ok());
  EXPECT_EQ(data.status().code(), StatusCode::kNotFound);
}

TEST_F(DatasetTest, ModelWithTooFewOutputsIsRefused) {
  DataSpec spec;
  spec.format = DataFormat::kCsv;
  spec.train_file = Write("train.csv", "11,1\n0,2\n");
  spec.test_file = Write("test.csv", "0,1\n");
  StatusOr<Mnist> data = LoadDataset(spec);
  ASSERT_TRUE(data.ok()) << data.status().ToString();
  EXPECT_EQ(data->test.num_classes, 12);
  TrialConfig config;
  config.model.cell = Cell::kDense;
  config.model.steps = 1;
  config.model.features = 1;  // classes stays 10 < 12
  StatusOr<TrainResult> r = Train(config, *data, TrainOptions());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("12 classes"), std::string::npos) << r.status().message();
}

// A label only the test file has would give the model an output it never learns: refused, naming
// the test file's line (the file's own numbering: header and blank lines count) and the training
// classes; so is a label in a gap of training's.
TEST_F(DatasetTest, CsvTestLabelTrainingNeverHasIsRefused) {
  DataSpec spec;
  spec.format = DataFormat::kCsv;
  spec.train_file = Write("train.csv", "label,a\n0,1\n1,2\n2,3\n0,4\n");
  spec.test_file = Write("test.csv", "label,a\n0,1\n1,1\n\n5,1\n2,1\n");
  StatusOr<Mnist> data = LoadDataset(spec);
  ASSERT_FALSE(data.ok());
  EXPECT_EQ(data.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(data.status().message().find(spec.test_file +
                                         ":5: label 5 never occurs in the "
                                         "training file " +
                                         spec.train_file + " (its classes are 0..2)"),
            0u)
      << data.status().message();

  spec.train_file = Write("gap.csv", "0,1\n2,1\n3,1\n");
  spec.test_file = Write("test.csv", "0,1\n1,1\n");
  data = LoadDataset(spec);
  ASSERT_FALSE(data.ok());
  EXPECT_NE(data.status().message().find("test.csv:2: label 1 never occurs in the training file"),
            std::string::npos)
      << data.status().message();
  EXPECT_NE(data.status().message().find("(its classes are 0, 2, 3)"), std::string::npos)
      << data.status().message();

  // train_limit cuts training after the check: the whole file's classes count.
  spec.test_file = Write("test.csv", "3,1\n2,1\n");
  data = LoadDataset(spec, 1);
  ASSERT_TRUE(data.ok()) << data.status().ToString();
  EXPECT_EQ(data->train.count, 1);
  EXPECT_EQ(data->train.num_classes, 4);
  EXPECT_EQ(data->test.num_classes, 4);
}

TEST_F(DatasetTest, IdxTestLabelTrainingNeverHasIsRefused) {
  WriteIdxSplit("train", 60, false, 1);
  WriteIdxSplit("t10k", 10, false, 2);
  // Item 4 of the test labels becomes 7 (the header is 8 bytes).
  Bytes labels;
  Put32(&labels, 0x801);
  Put32(&labels, 10);
  for (int i = 0; i < 10; ++i) labels.push_back(i == 4 ? 7 : static_cast<uint8_t>(i % 3));
  const std::string test_labels =
      Write("t10k-labels-idx1-ubyte", std::string(labels.begin(), labels.end()));
  DataSpec spec;
  spec.format = DataFormat::kIdx;
  spec.path = dir_;
  for (int64_t limit : {0, 5}) {
    StatusOr<Mnist> data = LoadDataset(spec, limit);
    ASSERT_FALSE(data.ok()) << limit;
    EXPECT_EQ(data.status().message().find(
                  test_labels +
                  ": item 4 (counting from 0) has label 7, which the training "
                  "labels (" +
                  dir_ + "/train-labels-idx1-ubyte) never have; their classes are 0..2"),
              0u)
        << data.status().message();
  }
}

// A truncated file of the user's own IDX data says so with its sizes, and gives no advice about
// MNIST; MNIST's loader keeps its hint.
TEST_F(DatasetTest, TruncatedOwnIdxFileNamesItsSizesNotMnist) {
  WriteIdxSplit("train", 20, false, 1);
  WriteIdxSplit("t10k", 10, false, 2);
  Bytes images;
  Put32(&images, 0x803);
  Put32(&images, 10);
  Put32(&images, 8);
  Put32(&images, 8);
  images.resize(16 + 100);  // 640 bytes of pixels declared
  const std::string path =
      Write("t10k-images-idx3-ubyte", std::string(images.begin(), images.end()));
  DataSpec spec;
  spec.format = DataFormat::kIdx;
  spec.path = dir_;
  StatusOr<Mnist> data = LoadDataset(spec);
  ASSERT_FALSE(data.ok());
  const std::string& m = data.status().message();
  EXPECT_EQ(data.status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(m.find(path + ": truncated"), 0u) << m;
  EXPECT_NE(m.find("expecting 640 bytes of data (a file of 656 bytes)"), std::string::npos) << m;
  EXPECT_NE(m.find("the file holds 100 (it is 116 bytes)"), std::string::npos) << m;
  EXPECT_EQ(m.find("MNIST"), std::string::npos) << m;
  EXPECT_EQ(m.find("bootstrap"), std::string::npos) << m;
}

// CSV labels may be names: a file's classes are its names in byte order (so train and test files
// agree whatever order their rows come in), kept as class_names; the test file is read with the
// training file's names.
TEST_F(DatasetTest, CsvLabelNamesGetClassesInNameOrder) {
  DataSpec spec;
  spec.format = DataFormat::kCsv;
  spec.train_file = Write("train.csv", "label,a\ndog,1\ncat,2\nbird,3\n dog ,4\ncaf\xc3\xa9,5\n");
  spec.test_file = Write("test.csv", "cat,1\n\ndog,2\n");
  StatusOr<Mnist> data = LoadDataset(spec);
  ASSERT_TRUE(data.ok()) << data.status().ToString();
  const std::vector<std::string> names = {"bird", "caf\xc3\xa9", "cat", "dog"};
  EXPECT_EQ(data->train.class_names, names);
  EXPECT_EQ(data->test.class_names, names);
  EXPECT_EQ(data->train.labels, (std::vector<uint8_t>{3, 2, 0, 3, 1}));
  EXPECT_EQ(data->test.labels, (std::vector<uint8_t>{2, 3}));
  EXPECT_EQ(data->train.num_classes, 4);
  EXPECT_EQ(data->test.num_classes, 4);
  // The shape a coordinator takes from one training row: all the file's classes.
  data = LoadDataset(spec, 1);
  ASSERT_TRUE(data.ok()) << data.status().ToString();
  EXPECT_EQ(data->train.count, 1);
  EXPECT_EQ(data->train.num_classes, 4);
  EXPECT_EQ(data->train.class_names, names);

  // A name training lacks is refused at the test file's line, listing training's names.
  spec.test_file = Write("test.csv", "cat,1\ndog,2\n\nemu,3\n");
  data = LoadDataset(spec);
  ASSERT_FALSE(data.ok());
  EXPECT_EQ(data.status().message().find(
                spec.test_file + ":4: label 'emu' never occurs in the training file " +
                spec.train_file + " (its classes are 'bird', 'caf\xc3\xa9', 'cat', 'dog')"),
            0u)
      << data.status().message();
  // Labels of the other kind than training's.
  spec.test_file = Write("test.csv", "cat,1\n2,2\n");
  data = LoadDataset(spec);
  ASSERT_FALSE(data.ok());
  EXPECT_NE(data.status().message().find(
                "test.csv:2: label '2' is a number (the training file " + spec.train_file +
                " has label names; a file's labels are all integers or all names)"),
            std::string::npos)
      << data.status().message();
  spec.train_file = Write("numbers.csv", "0,1\n1,2\n");
  spec.test_file = Write("test.csv", "0,1\ncat,2\n");
  data = LoadDataset(spec);
  ASSERT_FALSE(data.ok());
  EXPECT_NE(data.status().message().find("test.csv:2: label 'cat' is not a number (the training "
                                         "file " +
                                         spec.train_file + " has integer labels"),
            std::string::npos)
      << data.status().message();
}

TEST(CsvErrorsTest, LabelNamesAreBoundedAndOfOneKind) {
  const BadCsv cases[] = {
      {"label,f\ncat,1\n3,2\n", 1,
       "bad.csv:3: label '3' is a number (line 2's label 'cat' is a name; a file's labels are all "
       "integers or all names)"},
      {"3,1\ncat,2\n", 1,
       "bad.csv:2: label 'cat' is not a number (line 1's label '3' is an integer"},
      {"a\"b,1\n", 1, "bad.csv:1: label 'a\"b' holds a double quote"},
      {"a\x01z,1\n", 1, "bad.csv:1: label 'a\\x01z' holds a control or invisible character"},
      {"a\tz,1\n", 1, "bad.csv:1: label 'a\\tz' holds a control or invisible character"},
      {"a\xe2\x80\x8bz,1\n", 1, "holds a control or invisible character"},
      {"a\xff,1\n", 1, "bad.csv:1: label 'a\\xff' is not valid UTF-8"},
      {"cat,1\n,2\n", 1, "bad.csv:2: label '' is empty"},
  };
  for (const BadCsv& c : cases) {
    StatusOr<Dataset> ds = ParseCsv(c.text, "bad.csv", c.sequence_length);
    ASSERT_FALSE(ds.ok()) << c.text;
    EXPECT_EQ(ds.status().code(), StatusCode::kInvalidArgument) << c.text;
    EXPECT_NE(ds.status().message().find(c.message), std::string::npos)
        << c.text << " -> " << ds.status().message();
  }
  // At most kMaxClassNameBytes bytes a name.
  const std::string longest(kMaxClassNameBytes, 'n');
  EXPECT_TRUE(ParseCsv(longest + ",1\n", "ok.csv", 1).ok());
  StatusOr<Dataset> ds = ParseCsv(longest + "n,1\n", "bad.csv", 1);
  ASSERT_FALSE(ds.ok());
  EXPECT_NE(ds.status().message().find("bad.csv:1: label '" + longest +
                                       "...' is 65 bytes, over the limit of 64"),
            std::string::npos)
      << ds.status().message();
  // At most kMaxClasses names: the first one over is refused at its line.
  std::string many;
  for (int i = 0; i <= kMaxClasses; ++i) many += "c" + std::to_string(i) + ",1\n";
  ds = ParseCsv(many, "many.csv", 1);
  ASSERT_FALSE(ds.ok());
  EXPECT_NE(ds.status().message().find("many.csv:257: label 'c256' is one name too many: at most "
                                       "256 classes"),
            std::string::npos)
      << ds.status().message();
  many.resize(many.rfind("c256"));
  ds = ParseCsv(many, "many.csv", 1);
  ASSERT_TRUE(ds.ok()) << ds.status().ToString();
  EXPECT_EQ(ds->num_classes, 256);
  EXPECT_EQ(ds->class_names.front(), "c0");
  EXPECT_EQ(ds->class_names.back(), "c99");  // byte order: c0, c1, c10, c100, ...
}

// The first line is a header exactly when none of its fields is a number.
TEST(CsvHeaderTest, FirstLineIsAHeaderOnlyWithoutNumbers) {
  StatusOr<Dataset> ds = ParseCsv("cat,1,2\ndog,3,4\n", "x.csv", 1);  // a name and numbers: data
  ASSERT_TRUE(ds.ok()) << ds.status().ToString();
  EXPECT_EQ(ds->count, 2);
  EXPECT_EQ(ds->class_names, (std::vector<std::string>{"cat", "dog"}));
  ds = ParseCsv("label,f1,f2\ncat,1,2\n", "x.csv", 1);
  ASSERT_TRUE(ds.ok()) << ds.status().ToString();
  EXPECT_EQ(ds->count, 1);
  EXPECT_EQ(ds->images, (std::vector<float>{1, 2}));
  ds = ParseCsv("7,1,2\n", "x.csv", 1);
  ASSERT_TRUE(ds.ok()) << ds.status().ToString();
  EXPECT_EQ(ds->count, 1);
  EXPECT_EQ(ds->labels, (std::vector<uint8_t>{7}));
  EXPECT_TRUE(ds->class_names.empty());
  // A first line with some numbers is data, and its other fields are errors as on any line.
  ds = ParseCsv("label,f1,2\n0,1,2\n", "x.csv", 1);
  ASSERT_FALSE(ds.ok());
  EXPECT_NE(ds.status().message().find("x.csv:1: field 2 'f1' is not a finite number"),
            std::string::npos)
      << ds.status().message();
  // A header naming a column by a number is data; the error says why.
  ds = ParseCsv("label,1,2\n0,3,4\n", "x.csv", 1);
  ASSERT_FALSE(ds.ok());
  EXPECT_NE(ds.status().message().find(
                "x.csv:2: label '0' is a number (line 1's label 'label' is a name, and line 1 is "
                "data, not a header: it holds a number;"),
            std::string::npos)
      << ds.status().message();
  // Only the first line can be a header.
  ds = ParseCsv("\nlabel,f1,f2\n0,1,2\n", "x.csv", 1);
  ASSERT_FALSE(ds.ok());
  // predict's inputs follow the same rule; a label name there is refused (models keep no names).
  StatusOr<ModelInputs> in = ParseCsvForModel("cat,1,2\n", "x.csv", 1, 2);
  ASSERT_FALSE(in.ok());
  EXPECT_NE(in.status().message().find("x.csv:1: label 'cat' is a name, but a model file keeps no "
                                       "class names: give the rows without their labels (2 values "
                                       "each)"),
            std::string::npos)
      << in.status().message();
  in = ParseCsvForModel("label,f1,f2\n1,2\n", "x.csv", 1, 2);
  ASSERT_TRUE(in.ok()) << in.status().ToString();
  EXPECT_EQ(in->lines, (std::vector<int64_t>{2}));
}

// predict's CSV inputs: rows of the model's width, labeled or not, every row as the first.
TEST(CsvForModelTest, RowsWithOrWithoutLabelsOfTheModelsWidth) {
  StatusOr<ModelInputs> in = ParseCsvForModel("a,b,c,d\n1,2,3,4\n5,6,7,8\n", "x.csv", 2, 2);
  ASSERT_TRUE(in.ok()) << in.status().ToString();
  EXPECT_FALSE(in->labeled);
  EXPECT_EQ(in->data.count, 2);
  EXPECT_EQ(in->data.images, (std::vector<float>{1, 2, 3, 4, 5, 6, 7, 8}));
  EXPECT_EQ(in->lines, (std::vector<int64_t>{2, 3}));  // after the header
  in = ParseCsvForModel("3,1,2,3,4\r\n\n0,5,6,7,8\n", "x.csv", 4, 1);
  ASSERT_TRUE(in.ok()) << in.status().ToString();
  EXPECT_TRUE(in->labeled);
  EXPECT_EQ(in->data.labels, (std::vector<uint8_t>{3, 0}));
  // Rows are named by their line in the file (predict prints them so).
  EXPECT_EQ(in->lines, (std::vector<int64_t>{1, 3}));
  EXPECT_EQ(in->data.rows, 4);
  EXPECT_EQ(in->data.cols, 1);
  auto error = [](const std::string& bytes) {
    StatusOr<ModelInputs> r = ParseCsvForModel(bytes, "x.csv", 2, 2);
    EXPECT_FALSE(r.ok());
    return r.ok() ? std::string() : r.status().message();
  };
  EXPECT_EQ(error("1,2,3\n"),
            "x.csv:1: 3 values, but the model reads 4 (2 steps of 2 features), with or without a "
            "label first");
  EXPECT_EQ(error("1,2,3,4\n1,2,3,4,5\n"),
            "x.csv:2: ragged row: 5 values, but the first row has 4");
  EXPECT_EQ(error("1,2,3,4\n1,2,nan,4\n"), "x.csv:2: field 3 'nan' is not a finite number");
  EXPECT_EQ(error("1.5,2,3,4,5\n"), "x.csv:1: label '1.5' is not an integer in [0, 255]");
  EXPECT_EQ(error(std::string(1000, ',')).find("x.csv:1: 1001 values"), 0u);
  EXPECT_EQ(error("\n\n"), "x.csv: no data rows");
}

// A line over kCsvMaxLineBytes is refused at its file:line, naming the limit, before the line is
// held whole: a line of a valid row padded with spaces (which the trim would accept) included.
TEST_F(DatasetTest, CsvLineOverTheLineLimitIsRefusedAtFileLine) {
  const std::string padded = "0," + std::string(static_cast<size_t>(kCsvMaxLineBytes), ' ') + "1\n";
  const std::string limit = "line over the limit of " + std::to_string(kCsvMaxLineBytes) + " bytes";
  StatusOr<Dataset> ds = ParseCsv("1,2\n" + padded, "x.csv", 1);
  ASSERT_FALSE(ds.ok());
  EXPECT_EQ(ds.status().message(), "x.csv:2: " + limit);
  DataSpec spec;
  spec.format = DataFormat::kCsv;
  spec.train_file = Write("train.csv", "label,f\n\n" + padded);
  spec.test_file = Write("test.csv", "0,1\n");
  StatusOr<Mnist> data = LoadDataset(spec);
  ASSERT_FALSE(data.ok());
  EXPECT_EQ(data.status().message(), spec.train_file + ":3: " + limit);
  // One byte under it (a CR line end not counted) is a line like any other.
  const std::string longest =
      "0," + std::string(static_cast<size_t>(kCsvMaxLineBytes) - 3, ' ') + "1\r\n";
  spec.train_file = Write("train.csv", longest + "1,2\n");
  data = LoadDataset(spec);
  ASSERT_TRUE(data.ok()) << data.status().ToString();
  EXPECT_EQ(data->train.count, 2);
}

// A file read in pieces (LoadDataset, LoadCsvForModel) gives what ParseCsv (ParseCsvForModel)
// gives for the same bytes: rows, labels, names and errors with their lines, also where a line,
// its CRLF or a NUL byte lies across a piece's end.
TEST_F(DatasetTest, CsvStreamedFromAFileParsesAsTheBytesDo) {
  // Over two pieces of header, label names, CRLF and blank lines; a CR is a piece's last byte.
  std::string big = "label,a,b\r\n\r\n";
  const char* names[] = {"cat", "ant", "dog"};
  for (int i = 0; big.size() < kCsvReadChunkBytes - 100; ++i) {
    big += std::string(names[i % 3]) + ", " + std::to_string(i % 7) + ".5,-" + std::to_string(i) +
           (i % 5 == 0 ? "\r\n \t\n" : "\n");
  }
  big += "dog,1," + std::string(kCsvReadChunkBytes - 8 - big.size(), ' ') + "2\r\n";
  EXPECT_EQ(big[kCsvReadChunkBytes - 1], '\r');
  std::string two = big;
  for (int i = 0; two.size() < 2 * kCsvReadChunkBytes + 3000; ++i) {
    two += std::string(names[i % 3]) + ",1e-3," + std::to_string(i) + "\n";
  }
  std::string nul = two;
  nul[nul.size() - 10] = '\0';
  const std::vector<std::string> cases = {
      "1,0.5,2\n0,1,-3e2",            // no line end last
      "label,f1\r\n\r\n3,4\r\n",      // header, CRLF, blank
      "cat,1\ndog,2\n\n",             // names
      "0,1\n1,x\n",                   // an error, line 2
      std::string("0,1\n\0,2\n", 8),  // a NUL byte
      "0,1\n\n\n1,2,3\n",             // ragged, line 4
      "",                             // no rows
      big,
      two,
      nul,
      two + "ant,1\n",  // ragged after two pieces
      two + "7,1,2\n",  // a number among names
  };
  for (size_t c = 0; c < cases.size(); ++c) {
    SCOPED_TRACE("case " + std::to_string(c));
    const std::string& bytes = cases[c];
    DataSpec spec;
    spec.format = DataFormat::kCsv;
    spec.train_file = spec.test_file = Write("s.csv", bytes);
    StatusOr<Dataset> want = ParseCsv(bytes, spec.train_file, 1);
    StatusOr<Mnist> got = LoadDataset(spec);
    ASSERT_EQ(got.ok(), want.ok()) << (got.ok() ? want.status() : got.status()).ToString();
    if (!want.ok()) {
      EXPECT_EQ(got.status().message(), want.status().message());
      continue;
    }
    EXPECT_GT(want->count, 0);
    EXPECT_EQ(got->train.count, want->count);
    EXPECT_EQ(got->train.rows, want->rows);
    EXPECT_EQ(got->train.cols, want->cols);
    EXPECT_EQ(got->train.num_classes, want->num_classes);
    EXPECT_EQ(got->train.labels, want->labels);
    EXPECT_EQ(got->train.images, want->images);
    EXPECT_EQ(got->train.class_names, want->class_names);
    // The model's reader, on rows without names.
    if (want->class_names.empty()) {
      StatusOr<ModelInputs> mwant = ParseCsvForModel(bytes, spec.train_file, 1, want->cols);
      StatusOr<ModelInputs> mgot = LoadCsvForModel(spec.train_file, 1, want->cols);
      ASSERT_TRUE(mwant.ok() && mgot.ok());
      EXPECT_EQ(mgot->data.images, mwant->data.images);
      EXPECT_EQ(mgot->lines, mwant->lines);
    }
  }
}

// A row limit stores the first rows only, but every row is still checked: a bad row near the end,
// or a test label training lacks after the kept rows, is found; classes are the whole files'.
TEST_F(DatasetTest, CsvRowLimitKeepsRowsButChecksThemAll) {
  std::string train, test;
  for (int i = 0; i < 1000; ++i) train += std::to_string(i % 5) + "," + std::to_string(i) + ",1\n";
  for (int i = 0; i < 100; ++i) test += std::to_string(i % 4) + ",2,3\n";
  DataSpec spec;
  spec.format = DataFormat::kCsv;
  spec.train_file = Write("train.csv", train);
  spec.test_file = Write("test.csv", test);
  StatusOr<Mnist> data = LoadDataset(spec, 3, 2);
  ASSERT_TRUE(data.ok()) << data.status().ToString();
  EXPECT_EQ(data->train.count, 3);
  EXPECT_EQ(data->train.labels, (std::vector<uint8_t>{0, 1, 2}));
  EXPECT_EQ(data->train.images, (std::vector<float>{0, 1, 1, 1, 2, 1}));
  EXPECT_EQ(data->test.count, 2);
  EXPECT_EQ(data->test.images.size(), 4u);
  EXPECT_EQ(data->train.num_classes, 5);
  EXPECT_EQ(data->test.num_classes, 5);

  Write("train.csv", train + "1,2,x\n" + train);
  data = LoadDataset(spec, 1, 1);
  ASSERT_FALSE(data.ok());
  EXPECT_EQ(data.status().message(), spec.train_file + ":1001: field 3 'x' is not a finite number");

  Write("train.csv", train);
  Write("test.csv", test + "9,1,1\n");
  data = LoadDataset(spec, 1, 1);
  ASSERT_FALSE(data.ok());
  EXPECT_EQ(data.status().message().find(spec.test_file +
                                         ":101: label 9 never occurs in the training file " +
                                         spec.train_file + " (its classes are 0..4)"),
            0u)
      << data.status().message();
  // A shape test rows lack is refused at the test file's first row, after the whole file.
  Write("test.csv", "label,a\n\n0,1\n");
  data = LoadDataset(spec, 1, 1);
  ASSERT_FALSE(data.ok());
  EXPECT_EQ(data.status().message().find(spec.test_file + ":3: rows have 1 features"), 0u)
      << data.status().message();

  // Names: the kept row's class is its name's place among all the file's names.
  Write("train.csv", "dog,1\ncat,2\nant,3\n");
  Write("test.csv", "cat,1\nemu,2\n");
  data = LoadDataset(spec, 1, 1);
  ASSERT_FALSE(data.ok());
  EXPECT_EQ(data.status().message().find(spec.test_file + ":2: label 'emu' never occurs"), 0u)
      << data.status().message();
  Write("test.csv", "cat,1\nant,2\n");
  data = LoadDataset(spec, 1, 1);
  ASSERT_TRUE(data.ok()) << data.status().ToString();
  EXPECT_EQ(data->train.class_names, (std::vector<std::string>{"ant", "cat", "dog"}));
  EXPECT_EQ(data->train.labels, (std::vector<uint8_t>{2}));
  EXPECT_EQ(data->test.labels, (std::vector<uint8_t>{1}));
  EXPECT_EQ(data->train.num_classes, 3);
}

}  // namespace
}  // namespace hpsweep::dataset_test
