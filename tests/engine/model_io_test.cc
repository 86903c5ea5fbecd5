// Tests for engine/model_io.h: save/load round trips bit for bit (config, parameters, predictions)
// and every kind of bad file is refused with the right status.
#include "engine/model_io.h"

#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iterator>
#include <string>
#include <vector>

namespace hpsweep::model_io_test {
namespace {

class ModelIoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "/model_io_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Path(const std::string& name) const { return dir_ + "/" + name; }

  static std::string ReadAll(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  static void WriteAll(const std::string& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }

  std::string dir_;
};

// An LSTM with a head, dropout and non-default training keys, with parameters that are not the
// initial ones.
Model TestModel(const std::vector<std::pair<std::string, std::string>>& extra = {}) {
  TrialConfig c;
  const std::vector<std::pair<std::string, std::string>> kv = {{"cell", "lstm"},
                                                               {"units", "12"},
                                                               {"layers", "2"},
                                                               {"dense", "[7]"},
                                                               {"dropout", "0.25,0.5,0.125"},
                                                               {"recurrent_dropout", "0.1"},
                                                               {"output", "logits"},
                                                               {"optimizer", "rmsprop"},
                                                               {"learning_rate", "0.002"},
                                                               {"batch_size", "64"},
                                                               {"epochs", "3"},
                                                               {"seed", "17"},
                                                               {"validation_split", "0.2"}};
  for (const auto& [k, v] : kv) EXPECT_TRUE(ApplyKey(k, v, &c).ok()) << k;
  for (const auto& [k, v] : extra) EXPECT_TRUE(ApplyKey(k, v, &c).ok()) << k;
  EXPECT_TRUE(Validate(c).ok());
  Model m = InitModel(c);
  Rng rng(99);
  for (float& p : m.params) p += static_cast<float>(rng.Uniform(-0.1, 0.1));
  return m;
}

std::vector<float> RandomImages(int64_t n, int pixels, uint64_t seed) {
  std::vector<float> images(n * pixels);
  Rng rng(seed);
  for (float& p : images) p = static_cast<float>(rng.Below(256)) / 255.0f;
  return images;
}

void ExpectSameConfig(const TrialConfig& a, const TrialConfig& b) {
  for (const std::string& k : ConfigKeys()) EXPECT_EQ(GetKey(a, k), GetKey(b, k)) << k;
  EXPECT_EQ(a.model.dropout, b.model.dropout);
  EXPECT_EQ(a.model.recurrent_dropout, b.model.recurrent_dropout);
  EXPECT_EQ(a.model.dense, b.model.dense);
  EXPECT_EQ(a.train.learning_rate, b.train.learning_rate);
  EXPECT_EQ(a.train.validation_split, b.train.validation_split);
  EXPECT_EQ(a.train.seed, b.train.seed);
  EXPECT_EQ(a.model.steps, b.model.steps);
  EXPECT_EQ(a.model.features, b.model.features);
  EXPECT_EQ(a.model.classes, b.model.classes);
}

TEST_F(ModelIoTest, SaveLoadRoundTripIsExact) {
  const Model m = TestModel();
  const std::string path = Path("m.hpsm");
  ASSERT_TRUE(SaveModel(m, path).ok());
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  StatusOr<Model> loaded = LoadModel(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  ExpectSameConfig(m.config, loaded->config);
  ASSERT_EQ(loaded->params.size(), m.params.size());
  EXPECT_EQ(std::memcmp(loaded->params.data(), m.params.data(), m.params.size() * sizeof(float)),
            0);

  const int64_t n = 37;
  const std::vector<float> images = RandomImages(n, 28 * 28, 5);
  const Mat<float> want = PredictProba(m, images.data(), n, 1);
  const Mat<float> got = PredictProba(*loaded, images.data(), n, 1);
  ASSERT_EQ(want.rows(), n);
  ASSERT_EQ(want.cols(), 10);
  EXPECT_EQ(got, want);
  for (int64_t r = 0; r < n; ++r) EXPECT_NEAR(want.row(r).sum(), 1.0f, 1e-5f);
}

TEST_F(ModelIoTest, SerializeParseRoundTripForEveryCell) {
  for (const char* cell : {"dense", "simple_rnn", "gru"}) {
    std::vector<std::pair<std::string, std::string>> extra = {{"cell", cell}};
    if (std::string(cell) == "dense") extra.push_back({"recurrent_dropout", "0"});
    const Model m = TestModel(extra);
    StatusOr<Model> back = ParseModel(SerializeModel(m), "mem");
    ASSERT_TRUE(back.ok()) << cell << ": " << back.status().ToString();
    ExpectSameConfig(m.config, back->config);
    EXPECT_EQ(back->params, m.params) << cell;
  }
}

TEST_F(ModelIoTest, TrainingKeysRoundTrip) {
  // Clipping, weight decay and a schedule are part of the config the file keeps.
  const Model m = TestModel({{"global_clipnorm", "2.5"},
                             {"weight_decay", "0.004"},
                             {"lr_schedule", "cosine"},
                             {"warmup_epochs", "1"}});
  const std::string bytes = SerializeModel(m);
  for (const char* line : {"\nglobal_clipnorm=2.5\n", "\nweight_decay=0.004\n",
                           "\nlr_schedule=cosine\n", "\nwarmup_epochs=1\n", "\nlr_min=0\n"}) {
    EXPECT_NE(bytes.find(line), std::string::npos) << line;
  }
  StatusOr<Model> back = ParseModel(bytes, "mem");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  ExpectSameConfig(m.config, back->config);
  EXPECT_EQ(back->config.train.lr_schedule, LrSchedule::kCosine);
  EXPECT_EQ(back->config.train.global_clipnorm, 2.5f);
}

TEST_F(ModelIoTest, OldFileWithoutTheTrainingKeysLoadsWithDefaults) {
  // A file written before clipping, weight decay, schedules and bidirectional: the same header
  // without their lines (and its own checksum).
  const Model m = TestModel();
  std::string bytes = SerializeModel(m);
  bytes.resize(bytes.size() - 4);
  for (const char* key : {"clipnorm", "clipvalue", "global_clipnorm", "weight_decay", "lr_schedule",
                          "lr_drop", "lr_every", "lr_decay_rate", "lr_decay_steps", "warmup_epochs",
                          "lr_factor", "lr_patience", "lr_min", "bidirectional", "task",
                          "huber_delta"}) {
    const size_t at = bytes.find("\n" + std::string(key) + "=");
    ASSERT_NE(at, std::string::npos) << key;
    bytes.erase(at + 1, bytes.find('\n', at + 1) - at);
  }
  const uint32_t crc = Crc32(bytes.data(), bytes.size());
  bytes.append(reinterpret_cast<const char*>(&crc), 4);
  StatusOr<Model> old = ParseModel(bytes, "old.hpsm");
  ASSERT_TRUE(old.ok()) << old.status().ToString();
  ExpectSameConfig(m.config, old->config);  // m has them all at their defaults
  const TrainConfig defaults;
  EXPECT_EQ(old->config.train.lr_schedule, LrSchedule::kConstant);
  EXPECT_EQ(old->config.train.clipnorm, 0.0f);
  EXPECT_EQ(old->config.train.weight_decay, 0.0f);
  EXPECT_EQ(old->config.train.lr_patience, defaults.lr_patience);
  EXPECT_EQ(old->params, m.params);
  // A file from before task: a classification model, its loss as it was.
  EXPECT_EQ(old->config.model.task, Task::kClassification);
  EXPECT_EQ(GetKey(old->config, "loss"), "sparse_categorical_crossentropy");
}

TEST_F(ModelIoTest, BidirectionalModelRoundTripsAndPredictsTheSame) {
  for (const char* cell : {"simple_rnn", "lstm", "gru"}) {
    SCOPED_TRACE(cell);
    const Model m = TestModel({{"cell", cell}, {"bidirectional", "true"}});
    ASSERT_EQ(static_cast<int64_t>(m.params.size()), CountParams(m.config.model));
    const std::string path = Path(std::string(cell) + ".hpsm");
    ASSERT_TRUE(SaveModel(m, path).ok());
    const std::string bytes = ReadAll(path);
    EXPECT_NE(bytes.find("\nbidirectional=true\n"), std::string::npos);
    StatusOr<Model> loaded = LoadModel(path);
    ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
    ExpectSameConfig(m.config, loaded->config);
    EXPECT_TRUE(loaded->config.model.bidirectional);
    EXPECT_EQ(loaded->params, m.params);
    const int64_t n = 9;
    const std::vector<float> images = RandomImages(n, 28 * 28, 6);
    EXPECT_EQ(PredictProba(*loaded, images.data(), n, 1), PredictProba(m, images.data(), n, 1));
    // The weights belong to the bidirectional model: the same file saying false is refused.
    std::string flipped = bytes.substr(0, bytes.size() - 4);
    const std::string line = "\nbidirectional=true\n";
    const size_t at = flipped.find(line);
    ASSERT_NE(at, std::string::npos);
    flipped.replace(at, line.size(), "\nbidirectional=false\n");
    const uint32_t crc = Crc32(flipped.data(), flipped.size());
    flipped.append(reinterpret_cast<const char*>(&crc), 4);
    StatusOr<Model> wrong = ParseModel(flipped, "flipped.hpsm");
    ASSERT_FALSE(wrong.ok());
    EXPECT_EQ(wrong.status().code(), StatusCode::kDataLoss) << wrong.status().ToString();
    EXPECT_NE(wrong.status().message().find("parameters"), std::string::npos);
  }
}

TEST_F(ModelIoTest, NonMnistShapeRoundTrips) {
  Model m = TestModel();
  m.config.model.steps = 5;
  m.config.model.features = 3;
  m.config.model.classes = 4;
  m.params.assign(CountParams(m.config.model), 0.5f);
  StatusOr<Model> back = ParseModel(SerializeModel(m), "mem");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->config.model.steps, 5);
  EXPECT_EQ(back->config.model.features, 3);
  EXPECT_EQ(back->config.model.classes, 4);
  EXPECT_EQ(back->params, m.params);
}

TEST_F(ModelIoTest, SweepSampledDropoutSurvivesSaveLoad) {
  // A rate a random search would sample: the loaded model must describe the same model.
  const Model m = TestModel({{"dropout", "0.2371846"}});
  StatusOr<Model> back = ParseModel(SerializeModel(m), "mem");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  ASSERT_EQ(back->config.model.dropout.size(), 1u);
  EXPECT_EQ(back->config.model.dropout, m.config.model.dropout)
      << std::setprecision(9) << "saved " << m.config.model.dropout[0] << ", loaded "
      << back->config.model.dropout[0];
}

TEST_F(ModelIoTest, CorruptByteIsDataLossMentioningChecksum) {
  const Model m = TestModel();
  const std::string path = Path("m.hpsm");
  ASSERT_TRUE(SaveModel(m, path).ok());
  const std::string good = ReadAll(path);
  // One byte in the parameters, one in the header's values, one in the stored CRC.
  const size_t header_value = good.find("units=") + 6;
  for (size_t at : {good.size() / 2, header_value, good.size() - 2}) {
    std::string bad = good;
    bad[at] = static_cast<char>(bad[at] ^ 0x10);
    WriteAll(path, bad);
    StatusOr<Model> r = LoadModel(path);
    ASSERT_FALSE(r.ok()) << "byte " << at;
    EXPECT_EQ(r.status().code(), StatusCode::kDataLoss) << r.status().ToString();
    EXPECT_NE(r.status().message().find("checksum"), std::string::npos) << r.status().ToString();
    EXPECT_NE(r.status().message().find(path), std::string::npos) << r.status().ToString();
  }
}

TEST_F(ModelIoTest, TruncatedFileIsAnError) {
  const std::string good = SerializeModel(TestModel());
  for (size_t keep : {good.size() - 1, good.size() - 4, good.size() / 2, size_t{40}, size_t{10}}) {
    StatusOr<Model> r = ParseModel(good.substr(0, keep), "cut");
    ASSERT_FALSE(r.ok()) << "kept " << keep << " of " << good.size();
    EXPECT_TRUE(r.status().code() == StatusCode::kDataLoss ||
                r.status().code() == StatusCode::kInvalidArgument)
        << r.status().ToString();
  }
  EXPECT_FALSE(ParseModel("", "empty").ok());
}

TEST_F(ModelIoTest, NotAModelFileIsInvalidArgument) {
  const std::string path = Path("notes.txt");
  WriteAll(path, "just some text\nnot a model at all\n");
  StatusOr<Model> r = LoadModel(path);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << r.status().ToString();
  EXPECT_NE(r.status().message().find(path), std::string::npos);
  // An IDX file is not a model either.
  StatusOr<Model> idx = ParseModel(std::string("\0\0\x08\x03\0\0\0\x01", 8), "x.idx");
  ASSERT_FALSE(idx.ok());
  EXPECT_EQ(idx.status().code(), StatusCode::kInvalidArgument);
}

TEST_F(ModelIoTest, MissingFileIsNotFound) {
  StatusOr<Model> r = LoadModel(Path("nope.hpsm"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound) << r.status().ToString();
  EXPECT_NE(r.status().message().find("nope.hpsm"), std::string::npos);
}

TEST_F(ModelIoTest, SaveIntoMissingFolderFails) {
  Status s = SaveModel(TestModel(), Path("no/such/dir/m.hpsm"));
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kIoError) << s.ToString();
}

// Re-signs bytes (without their CRC) with a valid CRC-32, so that only the content is wrong.
std::string Resign(std::string body) {
  const uint32_t crc =
      static_cast<uint32_t>(crc32(crc32(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(body.data()),
                                  static_cast<uInt>(body.size())));
  for (int i = 0; i < 4; ++i) body.push_back(static_cast<char>((crc >> (8 * i)) & 0xff));
  return body;
}

TEST_F(ModelIoTest, ValidChecksumButInconsistentContent) {
  const std::string good = SerializeModel(TestModel());
  const std::string body = good.substr(0, good.size() - 4);
  // Sanity: re-signing the unchanged body gives back the same bytes (CRC-32 little-endian).
  ASSERT_EQ(Resign(body), good);
  {
    // The header describes a different model than the parameter count says.
    std::string b = body;
    const size_t at = b.find("units=12");
    ASSERT_NE(at, std::string::npos);
    b.replace(at, 8, "units=13");
    StatusOr<Model> r = ParseModel(Resign(b), "m");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kDataLoss) << r.status().ToString();
  }
  {
    // A bad value in the header names the key.
    std::string b = body;
    const size_t at = b.find("optimizer=rmsprop");
    ASSERT_NE(at, std::string::npos);
    b.replace(at, 17, "optimizer=foobarx");
    StatusOr<Model> r = ParseModel(Resign(b), "m");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << r.status().ToString();
    EXPECT_NE(r.status().message().find("optimizer"), std::string::npos);
  }
  {
    // Parameters missing from the end.
    StatusOr<Model> r = ParseModel(Resign(body.substr(0, body.size() - 8)), "m");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kDataLoss) << r.status().ToString();
  }
}

// fuzz/regressions/model_file/dense-input-overflows-int: a dense model of steps=100000 x
// features=100000 overflowed int in BuildLayers (UBSan: signed integer overflow in network.cc)
// while ParseModel counted its parameters. Seen reading what the fuzz target reaches (3 minutes of
// fuzzing had not hit it) and confirmed with model_file_fuzz. The flattened input is now bounded
// (as an IDX image: 4096 x 4096 values) before any layer is built.
TEST_F(ModelIoTest, HugeInputShapeIsRefusedBeforeLayersAreBuilt) {
  const std::string good =
      SerializeModel(TestModel({{"cell", "dense"}, {"recurrent_dropout", "0"}}));
  std::string b = good.substr(0, good.size() - 4);
  for (const char* key : {"steps=28", "features=28"}) {
    const size_t at = b.find(key);
    ASSERT_NE(at, std::string::npos) << key;
    b.replace(at, std::strlen(key), std::string(key, std::strlen(key) - 2) + "100000");
  }
  StatusOr<Model> r = ParseModel(Resign(b), "m");
  ASSERT_EQ(r.status().code(), StatusCode::kInvalidArgument) << r.status().ToString();
  EXPECT_NE(r.status().message().find("input of 100000 x 100000 values; at most 16777216"),
            std::string::npos)
      << r.status().message();
}

// The header's numbers are read whole and range-checked: atoi took "28abc" as 28 and wrapped
// 4294967324 (2^32 + 28) to 28, so both loaded as a 28-step model. A key given twice is refused.
TEST_F(ModelIoTest, HeaderNumbersMustBeWholeIntegersInRange) {
  const std::string good = SerializeModel(TestModel());
  const std::string body = good.substr(0, good.size() - 4);
  ASSERT_TRUE(ParseModel(Resign(body), "m").ok());
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"steps=28\n", "steps=28abc\n"},
      {"steps=28\n", "steps=4294967324\n"},
      {"classes=10\n", "classes=-10\n"},
      {"features=28\n", "features=28\nfeatures=28\n"},
  };
  for (const auto& [from, to] : bad) {
    std::string b = body;
    const size_t at = b.find(from);
    ASSERT_NE(at, std::string::npos) << from;
    b.replace(at, from.size(), to);
    StatusOr<Model> r = ParseModel(Resign(b), "m");
    ASSERT_FALSE(r.ok()) << to;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << r.status().ToString();
    EXPECT_NE(r.status().message().find(to.substr(0, to.find('='))), std::string::npos)
        << r.status().message();
  }
  std::string b = body;
  const size_t at = b.find("params=");
  ASSERT_NE(at, std::string::npos);
  b.insert(at + 7, "+");
  StatusOr<Model> r = ParseModel(Resign(b), "m");
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << r.status().ToString();
}

}  // namespace
}  // namespace hpsweep::model_io_test
