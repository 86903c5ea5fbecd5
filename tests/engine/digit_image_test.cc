// Digit images converted as MNIST's were, and classified: real MNIST test images written out as
// PNG and PGM (as they are, and inverted and enlarged as a scan of ink on paper would be).
#include "engine/digit_image.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <numeric>

#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>

#include "engine/mnist.h"
#include "engine/trainer.h"
#include "tests/mnist_dir.h"

namespace hpsweep {
namespace {

std::string DataDir() { return MnistDir(); }

double Correlation(const std::vector<float>& a, const std::vector<float>& b) {
  const double ma = std::accumulate(a.begin(), a.end(), 0.0) / a.size();
  const double mb = std::accumulate(b.begin(), b.end(), 0.0) / b.size();
  double ab = 0, aa = 0, bb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    ab += (a[i] - ma) * (b[i] - mb);
    aa += (a[i] - ma) * (a[i] - ma);
    bb += (b[i] - mb) * (b[i] - mb);
  }
  return ab / std::sqrt(aa * bb);
}

// Image k of the set as 8-bit, optionally inverted (dark on light) and enlarged `zoom` times.
std::vector<unsigned char> Bytes(const Dataset& d, int64_t k, bool invert, int zoom) {
  const int n = 28 * zoom;
  std::vector<unsigned char> out(n * n);
  for (int y = 0; y < n; ++y) {
    for (int x = 0; x < n; ++x) {
      float v = d.images[k * 784 + (y / zoom) * 28 + x / zoom];
      if (invert) v = 1.0f - v;
      out[y * n + x] = static_cast<unsigned char>(std::lround(v * 255));
    }
  }
  return out;
}

class DigitImageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto data = LoadMnist(DataDir(), 6000);
    if (!data.ok()) GTEST_SKIP() << data.status().ToString();
    data_ = std::move(*data);
    dir_ = std::filesystem::temp_directory_path() / ("digit_image_" + std::to_string(getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }
  Mnist data_;
  std::filesystem::path dir_;
};

TEST_F(DigitImageTest, MnistImagesComeBackNearlyUnchanged) {
  for (int64_t k = 0; k < 30; ++k) {
    std::vector<float> img(data_.test.images.begin() + k * 784,
                           data_.test.images.begin() + (k + 1) * 784);
    auto out = MnistStyle(img, 28, 28);
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    ASSERT_EQ(out->size(), 784u);
    EXPECT_GT(Correlation(img, *out), 0.8) << "test image " << k;
  }
}

TEST_F(DigitImageTest, InvertedAndEnlargedScansMatchTheOriginal) {
  for (int64_t k = 0; k < 30; ++k) {
    std::vector<unsigned char> bytes = Bytes(data_.test, k, /*invert=*/true, /*zoom=*/3);
    const std::string path = (dir_ / ("scan" + std::to_string(k) + ".png")).string();
    ASSERT_TRUE(stbi_write_png(path.c_str(), 84, 84, 1, bytes.data(), 84));
    auto scan = LoadDigitImage(path);
    ASSERT_TRUE(scan.ok()) << scan.status().ToString();
    std::vector<float> img(data_.test.images.begin() + k * 784,
                           data_.test.images.begin() + (k + 1) * 784);
    auto direct = MnistStyle(img, 28, 28);
    ASSERT_TRUE(direct.ok());
    EXPECT_GT(Correlation(*direct, *scan), 0.85) << "test image " << k;
  }
}

TEST_F(DigitImageTest, ReadsBinaryPgm) {
  const std::string path = (dir_ / "seven.pgm").string();
  std::vector<unsigned char> bytes = Bytes(data_.test, 0, false, 1);
  std::ofstream f(path, std::ios::binary);
  f << "P5\n28 28\n255\n";
  f.write(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  f.close();
  auto img = LoadDigitImage(path);
  ASSERT_TRUE(img.ok()) << img.status().ToString();
  EXPECT_EQ(img->size(), 784u);
}

TEST_F(DigitImageTest, BadFilesAreClearErrors) {
  auto missing = LoadDigitImage((dir_ / "none.png").string());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("none.png"), std::string::npos);
  const std::string junk = (dir_ / "junk.png").string();
  std::ofstream(junk) << "this is not an image";
  auto bad = LoadDigitImage(junk);
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("junk.png"), std::string::npos);
  std::vector<float> blank(50 * 40, 0.9f);
  auto none = MnistStyle(blank, 50, 40);
  EXPECT_EQ(none.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(none.status().message().find("no digit"), std::string::npos);
}

TEST_F(DigitImageTest, TrainedModelClassifiesScannedTestImages) {
  TrialConfig config;
  ASSERT_TRUE(ApplyKey("cell", "dense", &config).ok());
  ASSERT_TRUE(ApplyKey("layers", "1", &config).ok());
  ASSERT_TRUE(ApplyKey("units", "64", &config).ok());
  ASSERT_TRUE(ApplyKey("epochs", "3", &config).ok());
  ASSERT_TRUE(ApplyKey("seed", "1", &config).ok());
  TrainOptions opts;
  auto result = Train(config, data_, opts);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  const int n = 100;
  std::vector<float> pixels;
  for (int64_t k = 0; k < n; ++k) {
    std::vector<unsigned char> bytes = Bytes(data_.test, k, true, 2);
    const std::string path = (dir_ / ("d" + std::to_string(k) + ".png")).string();
    ASSERT_TRUE(stbi_write_png(path.c_str(), 56, 56, 1, bytes.data(), 56));
    auto img = LoadDigitImage(path);
    ASSERT_TRUE(img.ok()) << img.status().ToString();
    pixels.insert(pixels.end(), img->begin(), img->end());
  }
  const Mat<float> probs = PredictProba(result->model, pixels.data(), n, 1);
  int correct = 0;
  for (int k = 0; k < n; ++k) {
    Eigen::Index digit;
    probs.row(k).maxCoeff(&digit);
    EXPECT_NEAR(probs.row(k).sum(), 1.0f, 1e-4);
    correct += digit == data_.test.labels[k];
  }
  // The model scores about 93% on the test set as it is; scans must do nearly as well.
  EXPECT_GE(correct, 85) << correct << " of " << n;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in) << path;
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

TEST(DecodeDigitImageTest, DecodesBytesAsLoadDigitImageDoesTheFile) {
  const std::string path =
      std::string(HPSWEEP_SOURCE_DIR) + "/fuzz/corpus/digit_image/digit-28.png";
  auto from_file = LoadDigitImage(path);
  ASSERT_TRUE(from_file.ok()) << from_file.status().ToString();
  auto from_bytes = DecodeDigitImage(ReadFile(path), "upload.png");
  ASSERT_TRUE(from_bytes.ok()) << from_bytes.status().ToString();
  EXPECT_EQ(*from_bytes, *from_file);
  auto junk = DecodeDigitImage("this is not an image", "upload.png");
  EXPECT_EQ(junk.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(junk.status().message().find("upload.png: not a readable image"), std::string::npos)
      << junk.status().message();
}

TEST(DecodeDigitImageTest, HugeDeclaredSizeIsRefusedBeforeDecoding) {
  // 20 bytes that declare a 5000x5000 image: refused by its header, naming the size and limit.
  auto r = DecodeDigitImage(std::string("P5\n5000 5000\n255\n") + "abc", "big.pgm");
  ASSERT_EQ(r.status().code(), StatusCode::kInvalidArgument) << r.status().ToString();
  EXPECT_NE(r.status().message().find("big.pgm: image of 5000x5000 pixels"), std::string::npos)
      << r.status().message();
  EXPECT_NE(r.status().message().find(std::to_string(kMaxDigitImagePixels)), std::string::npos);
}

// Found by fuzz/digit_image_fuzz.cc (fuzz/regressions/digit_image/jpeg-thin-28x65299, and
// thin-1x4000000.png): for a very thin image the one target column's source area runs far past
// the image's edge, and the scaling loop visited every pixel of it, in or out of the image:
// 10^11 steps, hours, for a 8 KB PNG. Now it visits the pixels inside only (without the fix this
// test runs until ctest's timeout).
TEST(DecodeDigitImageTest, ThinImageIsScaledVisitingOnlyItsPixels) {
  const int w = 1, h = 4000000;
  std::vector<float> gray(static_cast<size_t>(w) * h, 0.0f);
  for (int y = 1200000; y < 2800000; ++y) gray[y] = 1.0f;  // a bar, 40% of the height
  auto r = MnistStyle(gray, w, h);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  int lit = 0, column = -1;
  for (int i = 0; i < 28 * 28; ++i) {
    if ((*r)[i] > 0.5f) {
      ++lit;
      if (column < 0) column = i % 28;
      EXPECT_EQ(i % 28, column) << "the bar must stay one column wide";
    }
  }
  EXPECT_EQ(lit, 20);  // the bar's height scaled to 20
}

}  // namespace
}  // namespace hpsweep
