// Tests for engine/mnist.h: small generated data folders, and the real MNIST when it is there.
#include "engine/mnist.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "tests/mnist_dir.h"

namespace hpsweep::mnist_test {
namespace {

using Bytes = std::vector<uint8_t>;

void PutBigEndian32(Bytes* b, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) b->push_back(static_cast<uint8_t>(v >> shift));
}

Bytes ImageFile(uint32_t count, uint32_t rows, uint32_t cols, const Bytes& pixels) {
  Bytes b;
  PutBigEndian32(&b, 0x00000803);
  PutBigEndian32(&b, count);
  PutBigEndian32(&b, rows);
  PutBigEndian32(&b, cols);
  b.insert(b.end(), pixels.begin(), pixels.end());
  return b;
}

Bytes LabelFile(const Bytes& labels) {
  Bytes b;
  PutBigEndian32(&b, 0x00000801);
  PutBigEndian32(&b, static_cast<uint32_t>(labels.size()));
  b.insert(b.end(), labels.begin(), labels.end());
  return b;
}

Bytes Pixels(size_t n) {
  Bytes b(n);
  for (size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>((i * 51) % 256);
  return b;
}

class MnistTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "/mnist_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  void Write(const std::string& name, const Bytes& bytes) {
    std::string path = dir_ + "/" + name;
    FILE* f = std::fopen(path.c_str(), "wb");
    ASSERT_NE(f, nullptr) << path;
    EXPECT_EQ(std::fwrite(bytes.data(), 1, bytes.size(), f), bytes.size());
    std::fclose(f);
  }

  void WriteGz(const std::string& name, const Bytes& bytes) {
    std::string path = dir_ + "/" + name;
    gzFile f = gzopen(path.c_str(), "wb");
    ASSERT_NE(f, nullptr) << path;
    EXPECT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())),
              static_cast<int>(bytes.size()));
    EXPECT_EQ(gzclose(f), Z_OK);
  }

  // A complete small data set: 5 training and 2 test images of 3x2, mixing the accepted names.
  void WriteSmallSet() {
    Write("train-images-idx3-ubyte", ImageFile(5, 3, 2, Pixels(5 * 3 * 2)));
    WriteGz("train-labels-idx1-ubyte.gz", LabelFile({3, 1, 4, 1, 5}));
    WriteGz("t10k-images.idx3-ubyte.gz", ImageFile(2, 3, 2, Pixels(2 * 3 * 2)));
    Write("t10k-labels.idx1-ubyte", LabelFile({9, 0}));
  }

  std::string dir_;
};

template <typename T>
void ExpectError(const StatusOr<T>& result, StatusCode code, const std::string& needle1,
                 const std::string& needle2 = "") {
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), code) << result.status().ToString();
  for (const std::string& needle : {needle1, needle2}) {
    EXPECT_NE(result.status().message().find(needle), std::string::npos)
        << "message lacks \"" << needle << "\": " << result.status().message();
  }
}

TEST_F(MnistTest, LoadsPlainGzippedAndDottedNamesAndScalesPixels) {
  WriteSmallSet();
  StatusOr<Mnist> r = LoadMnist(dir_);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const Mnist& m = *r;
  EXPECT_EQ(m.train.count, 5);
  EXPECT_EQ(m.train.rows, 3);
  EXPECT_EQ(m.train.cols, 2);
  EXPECT_EQ(m.train.num_classes, 10);
  EXPECT_EQ(m.train.labels, (Bytes{3, 1, 4, 1, 5}));
  const std::vector<float> v = m.train.Floats();
  ASSERT_EQ(v.size(), 5u * 3 * 2);
  const Bytes pixels = Pixels(5 * 3 * 2);
  for (size_t i = 0; i < pixels.size(); ++i) {
    EXPECT_FLOAT_EQ(v[i], pixels[i] / 255.0f) << i;
  }
  EXPECT_EQ(v[0], 0.0f);
  EXPECT_EQ(v[5], 1.0f);  // 5 * 51 = 255
  EXPECT_EQ(m.test.count, 2);
  EXPECT_EQ(m.test.rows, 3);
  EXPECT_EQ(m.test.cols, 2);
  EXPECT_EQ(m.test.labels, (Bytes{9, 0}));
  EXPECT_EQ(m.test.Floats().size(), 2u * 3 * 2);
}

// An IDX set is held as its bytes, one a pixel, with no float copy; every way of reading it gives
// the floats the loader gave when it held floats: static_cast<float>(byte) * (1.0f / 255.0f),
// bit for bit.
TEST_F(MnistTest, HoldsOneBytePerPixelAndReadsTheFloatsItUsedToHold) {
  WriteSmallSet();
  StatusOr<Mnist> r = LoadMnist(dir_);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  for (const Dataset* ds : {&r->train, &r->test}) {
    EXPECT_TRUE(ds->images.empty());
    ASSERT_EQ(ds->pixels.size(), static_cast<size_t>(ds->count) * 3 * 2);
    EXPECT_EQ(ds->pixels.capacity(), ds->pixels.size());  // 1 byte a pixel, not 4
    EXPECT_EQ(ds->samples().floats, nullptr);
    EXPECT_EQ(ds->samples().bytes, ds->pixels.data());
  }
  const Bytes pixels = Pixels(5 * 3 * 2);
  EXPECT_EQ(r->train.pixels, pixels);
  std::vector<float> was(pixels.size());  // today's loader, as it scaled
  for (size_t i = 0; i < pixels.size(); ++i) {
    was[i] = static_cast<float>(pixels[i]) * (1.0f / 255.0f);
  }
  const std::vector<float> all = r->train.Floats();
  ASSERT_EQ(all.size(), was.size());
  EXPECT_EQ(std::memcmp(all.data(), was.data(), was.size() * sizeof(float)), 0);
  std::vector<float> one(6, -1.0f);
  for (int64_t k = 0; k < 5; ++k) {
    r->train.Sample(k, one.data());
    EXPECT_EQ(std::memcmp(one.data(), &was[k * 6], 6 * sizeof(float)), 0) << k;
  }
  // Every byte value converts as the loader scaled it.
  std::vector<uint8_t> bytes(256);
  for (int b = 0; b < 256; ++b) bytes[b] = static_cast<uint8_t>(b);
  std::vector<float> got(256);
  Samples::Bytes(bytes.data()).Copy(0, 256, got.data());
  for (int b = 0; b < 256; ++b) {
    const float want = static_cast<float>(static_cast<uint8_t>(b)) * (1.0f / 255.0f);
    EXPECT_EQ(std::memcmp(&got[b], &want, sizeof(float)), 0) << b;
  }
  EXPECT_EQ(got[0], 0.0f);
  EXPECT_EQ(got[255], 1.0f);
}

TEST_F(MnistTest, TrainLimitKeepsTheFirstImages) {
  WriteSmallSet();
  StatusOr<Mnist> r = LoadMnist(dir_, 3);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->train.count, 3);
  EXPECT_EQ(r->train.labels, (Bytes{3, 1, 4}));
  EXPECT_EQ(r->train.pixels.size(), 3u * 3 * 2);
  EXPECT_EQ(r->test.count, 2);  // the test set is never cut
  // A limit above the count keeps everything.
  StatusOr<Mnist> all = LoadMnist(dir_, 1000);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  EXPECT_EQ(all->train.count, 5);
}

TEST_F(MnistTest, MissingFolderIsNotFoundWithHint) {
  const std::string missing = dir_ + "/nowhere";
  ExpectError(LoadMnist(missing), StatusCode::kNotFound, missing, "scripts/bootstrap.sh");
  ExpectError(LoadMnist(missing), StatusCode::kNotFound, "--data-dir");
  WriteSmallSet();
  const std::string file = dir_ + "/train-images-idx3-ubyte";
  ExpectError(LoadMnist(file), StatusCode::kInvalidArgument, file, "not a folder");
}

TEST_F(MnistTest, MissingFileIsNotFoundWithHint) {
  WriteSmallSet();
  std::filesystem::remove(dir_ + "/t10k-labels.idx1-ubyte");
  ExpectError(LoadMnist(dir_), StatusCode::kNotFound, dir_ + "/t10k-labels-idx1-ubyte",
              "scripts/bootstrap.sh");
}

TEST_F(MnistTest, CountMismatchNamesBothFiles) {
  WriteSmallSet();
  Write("t10k-labels.idx1-ubyte", LabelFile({9, 0, 1}));
  ExpectError(LoadMnist(dir_), StatusCode::kInvalidArgument, "t10k-images.idx3-ubyte.gz",
              "t10k-labels.idx1-ubyte");
}

TEST_F(MnistTest, LabelOutOfRangeIsInvalid) {
  WriteSmallSet();
  WriteGz("train-labels-idx1-ubyte.gz", LabelFile({3, 1, 10, 1, 5}));
  ExpectError(LoadMnist(dir_), StatusCode::kInvalidArgument, "train-labels-idx1-ubyte.gz",
              "label 2 is 10");
}

TEST_F(MnistTest, TrainAndTestImageSizesMustAgree) {
  WriteSmallSet();
  std::filesystem::remove(dir_ + "/t10k-images.idx3-ubyte.gz");
  Write("t10k-images-idx3-ubyte", ImageFile(2, 2, 3, Pixels(2 * 2 * 3)));
  ExpectError(LoadMnist(dir_), StatusCode::kInvalidArgument, "3x2", "2x3");
}

TEST_F(MnistTest, CorruptFileErrorPassesThrough) {
  WriteSmallSet();
  Write("train-images-idx3-ubyte", ImageFile(5, 3, 2, Pixels(7)));
  ExpectError(LoadMnist(dir_), StatusCode::kDataLoss, dir_ + "/train-images-idx3-ubyte",
              "truncated");
  // MNIST can be fetched again: its loader says how (the IDX reader, shared with a user's own
  // data, does not).
  ExpectError(LoadMnist(dir_), StatusCode::kDataLoss, "truncated", "scripts/bootstrap.sh");
}

// The real MNIST, as scripts/bootstrap.sh fetches it.
std::string RealDataDir() { return MnistDir(); }

TEST(RealMnistTest, LoadsSixtyThousandAndTenThousand) {
  const std::string dir = RealDataDir();
  if (!std::filesystem::is_directory(dir)) {
    GTEST_SKIP() << "no MNIST in " << dir
                 << "; run scripts/bootstrap.sh (or set HPSWEEP_DATA_DIR) to fetch it";
  }
  StatusOr<Mnist> r = LoadMnist(dir);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const Mnist& m = *r;
  EXPECT_EQ(m.train.count, 60000);
  EXPECT_EQ(m.test.count, 10000);
  for (const Dataset* ds : {&m.train, &m.test}) {
    EXPECT_EQ(ds->rows, 28);
    EXPECT_EQ(ds->cols, 28);
    EXPECT_EQ(ds->num_classes, 10);
    EXPECT_EQ(ds->pixels.size(), static_cast<size_t>(ds->count) * 28 * 28);
    EXPECT_EQ(ds->labels.size(), static_cast<size_t>(ds->count));
    auto [lo, hi] = std::minmax_element(ds->pixels.begin(), ds->pixels.end());
    EXPECT_EQ(*lo, 0);
    EXPECT_EQ(*hi, 255);
  }
  ASSERT_FALSE(m.train.labels.empty());
  ASSERT_FALSE(m.test.labels.empty());
  EXPECT_EQ(m.train.labels[0], 5);
  EXPECT_EQ(m.test.labels[0], 7);

  // The well-known class counts of the MNIST test and training sets.
  std::array<int, 10> test_hist{}, train_hist{};
  for (uint8_t y : m.test.labels) ++test_hist[y];
  for (uint8_t y : m.train.labels) ++train_hist[y];
  EXPECT_EQ(test_hist,
            (std::array<int, 10>{980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009}));
  EXPECT_EQ(train_hist,
            (std::array<int, 10>{5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949}));

  // The first training image, a 5: its centre row has ink, its corner none.
  std::vector<float> image(28 * 28);
  m.train.Sample(0, image.data());
  const float* first = image.data();
  EXPECT_EQ(first[0], 0.0f);
  EXPECT_GT(*std::max_element(first + 14 * 28, first + 15 * 28), 0.5f);

  StatusOr<Mnist> limited = LoadMnist(dir, 1000);
  ASSERT_TRUE(limited.ok()) << limited.status().ToString();
  EXPECT_EQ(limited->train.count, 1000);
  EXPECT_EQ(limited->train.labels.size(), 1000u);
  EXPECT_EQ(limited->train.pixels.size(), 1000u * 28 * 28);
  EXPECT_EQ(limited->test.count, 10000);
  EXPECT_TRUE(std::equal(limited->train.pixels.begin(), limited->train.pixels.end(),
                         m.train.pixels.begin()));
}

}  // namespace
}  // namespace hpsweep::mnist_test
