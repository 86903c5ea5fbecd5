// Tests for engine/torch_export.h: the tensor list matches the engine's weight layout, the folder
// holds exactly the parameters, and bad models and bad folders are refused without writing.
#include "engine/torch_export.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "engine/network.h"

namespace hpsweep::torch_export_test {
namespace {

namespace fs = std::filesystem;

TrialConfig Config(Cell cell, int units, int layers, bool bidirectional, std::vector<int> dense) {
  TrialConfig c;
  c.model.cell = cell;
  c.model.units = units;
  c.model.layers = layers;
  c.model.bidirectional = bidirectional;
  c.model.dense = std::move(dense);
  c.model.steps = 5;
  c.model.features = 3;
  c.model.classes = 4;
  return c;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

class TorchExportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "/torch_export_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string Path(const std::string& name) const { return dir_ + "/" + name; }
  std::string dir_;
};

TEST_F(TorchExportTest, TensorsFollowTheEngineLayout) {
  const std::vector<TrialConfig> configs = {
      Config(Cell::kSimpleRnn, 4, 1, false, {}), Config(Cell::kLstm, 3, 2, true, {5}),
      Config(Cell::kGru, 2, 3, true, {}), Config(Cell::kDense, 6, 2, false, {3, 2})};
  for (const TrialConfig& c : configs) {
    const std::vector<TorchTensor> tensors = TorchTensors(c.model);
    const std::vector<int64_t> sizes = WeightTensorSizes(c.model);
    ASSERT_EQ(tensors.size(), sizes.size()) << CellName(c.model.cell);
    int64_t offset = 0;
    for (size_t i = 0; i < tensors.size(); ++i) {
      EXPECT_EQ(tensors[i].size, sizes[i]) << tensors[i].name;
      EXPECT_EQ(tensors[i].offset, offset) << tensors[i].name;
      offset += sizes[i];
    }
    EXPECT_EQ(offset, CountParams(c.model));
  }
  const std::vector<TorchTensor> gru = TorchTensors(Config(Cell::kGru, 2, 1, true, {}).model);
  ASSERT_EQ(gru.size(), 8u);
  EXPECT_EQ(gru[3].name, "recurrent.0.backward.kernel");
  EXPECT_EQ(gru[2].shape, (std::vector<int64_t>{2, 6}));
  EXPECT_EQ(gru[7].name, "output.bias");
}

TEST_F(TorchExportTest, WritesEveryParameterLittleEndian) {
  Model model = InitModel(Config(Cell::kLstm, 3, 2, true, {5}));
  for (size_t i = 0; i < model.params.size(); ++i) model.params[i] = 0.25f * float(i) - 7.0f;
  const std::string out = Path("out");
  ASSERT_TRUE(ExportTorch(model, out).ok());
  const std::string json = ReadAll(out + "/model.json");
  EXPECT_NE(json.find("\"format\": \"hpsweep-torch\""), std::string::npos);
  EXPECT_NE(json.find("\"bidirectional\": true"), std::string::npos);
  std::string all;
  for (const TorchTensor& t : TorchTensors(model.config.model)) {
    const size_t at = json.find("\"name\": \"" + t.name + "\"");
    ASSERT_NE(at, std::string::npos) << t.name;
    const size_t file = json.find("\"file\": \"", at) + 9;
    const std::string bytes = ReadAll(out + "/" + json.substr(file, json.find('"', file) - file));
    EXPECT_EQ(bytes.size(), size_t(t.size) * 4) << t.name;
    all += bytes;
  }
  ASSERT_EQ(all.size(), model.params.size() * 4);
  for (size_t i = 0; i < model.params.size(); ++i) {
    uint32_t u = 0;
    for (int b = 0; b < 4; ++b) u |= uint32_t(uint8_t(all[i * 4 + b])) << (8 * b);
    float f;
    std::memcpy(&f, &u, 4);
    ASSERT_EQ(f, model.params[i]) << i;
  }
  // Nothing is written twice: the folder is no longer empty.
  const Status again = ExportTorch(model, out);
  EXPECT_EQ(again.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(again.message().find("not empty"), std::string::npos) << again.ToString();
}

TEST_F(TorchExportTest, RefusesLinksFilesAndFullFolders) {
  const Model model = InitModel(Config(Cell::kGru, 2, 1, false, {}));
  fs::create_directory(Path("target"));
  fs::create_directory_symlink(Path("target"), Path("link"));
  for (const std::string& out : {Path("link"), Path("link") + "/"}) {
    const Status s = ExportTorch(model, out);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << out;
    EXPECT_NE(s.message().find("symbolic link"), std::string::npos) << s.ToString();
  }
  EXPECT_TRUE(fs::is_empty(Path("target")));
  std::ofstream(Path("file")) << "x";
  EXPECT_EQ(ExportTorch(model, Path("file")).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ReadAll(Path("file")), "x");
  fs::create_directory(Path("empty"));
  EXPECT_TRUE(ExportTorch(model, Path("empty")).ok());
  EXPECT_TRUE(fs::exists(Path("empty/model.json")));
  EXPECT_FALSE(ExportTorch(model, "").ok());
}

TEST_F(TorchExportTest, RefusesModelsTorchCannotCompute) {
  Model model = InitModel(Config(Cell::kLstm, 2, 1, false, {}));
  model.config.model.activation = Activation::kRelu;
  Status s = ExportTorch(model, Path("a"));
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("activation=relu"), std::string::npos) << s.ToString();
  EXPECT_FALSE(fs::exists(Path("a")));

  Model rnn = InitModel(Config(Cell::kSimpleRnn, 2, 1, false, {3}));
  rnn.config.model.activation = Activation::kRelu;
  EXPECT_TRUE(CheckTorchExportable(rnn.config.model).ok());
  rnn.config.model.dense_activation = Activation::kSoftmax;
  s = CheckTorchExportable(rnn.config.model);
  EXPECT_NE(s.message().find("dense_activation=softmax"), std::string::npos) << s.ToString();

  Model short_model = InitModel(Config(Cell::kGru, 2, 1, false, {}));
  short_model.params.pop_back();
  s = ExportTorch(short_model, Path("b"));
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("parameters"), std::string::npos) << s.ToString();
  EXPECT_FALSE(fs::exists(Path("b")));
}

}  // namespace
}  // namespace hpsweep::torch_export_test
