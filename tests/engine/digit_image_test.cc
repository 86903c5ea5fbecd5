// Digit images converted as MNIST's were, and classified: real MNIST test images written out as
// PNG and PGM (as they are, and inverted and enlarged as a scan of ink on paper would be).
#include "engine/digit_image.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <climits>
#include <cmath>
#include <cstdint>
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

namespace hpsweep::digit_image_test {
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
  std::vector<float> image(784);
  d.Sample(k, image.data());
  for (int y = 0; y < n; ++y) {
    for (int x = 0; x < n; ++x) {
      float v = image[(y / zoom) * 28 + x / zoom];
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
    std::vector<float> img(784);
    data_.test.Sample(k, img.data());
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
    std::vector<float> img(784);
    data_.test.Sample(k, img.data());
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

// ---- Each format, made here (no MNIST needed), decoded by engine/digit_image.cc's libraries.

// A 28x28 ring, light on dark, with grey levels: what every writer below writes. Off centre, so
// that its centre of mass rounds the same way whatever the float noise.
std::vector<unsigned char> Ring() {
  std::vector<unsigned char> g(28 * 28);
  for (int y = 0; y < 28; ++y) {
    for (int x = 0; x < 28; ++x) {
      const double d = std::hypot(x - 12.8, y - 14.3);
      g[y * 28 + x] = static_cast<unsigned char>(std::max(0.0, 255 - 60 * std::abs(d - 8)));
    }
  }
  return g;
}

void Put16(std::string* s, uint32_t v) {
  *s += static_cast<char>(v & 255);
  *s += static_cast<char>(v >> 8 & 255);
}
void Put32(std::string* s, uint32_t v) {
  Put16(s, v & 0xFFFF);
  Put16(s, v >> 16);
}

struct GifSpec {
  int screen_w = 28, screen_h = 28;
  int left = 0, top = 0, width = 28, height = 28;
  bool interlace = false;
  bool palette = true;  // a 256-level grey global colour map
  int transparent = -1;
};

// A GIF of one frame of palette indexes. The LZW data is written "uncompressed": every code a
// literal, a clear code every 100 pixels, so that every code stays 9 bits wide.
std::string Gif(const GifSpec& spec, const std::vector<unsigned char>& idx) {
  std::string s = "GIF89a";
  Put16(&s, spec.screen_w);
  Put16(&s, spec.screen_h);
  s += static_cast<char>(spec.palette ? 0xF7 : 0x00);
  s += '\0';  // background index
  s += '\0';  // aspect
  for (int i = 0; spec.palette && i < 256; ++i) s += std::string(3, static_cast<char>(i));
  if (spec.transparent >= 0) {
    s += "\x21\xF9\x04\x01";
    Put16(&s, 0);
    s += static_cast<char>(spec.transparent);
    s += '\0';
  }
  s += ',';
  Put16(&s, spec.left);
  Put16(&s, spec.top);
  Put16(&s, spec.width);
  Put16(&s, spec.height);
  s += static_cast<char>(spec.interlace ? 0x40 : 0);
  s += '\x08';  // minimum code size
  std::string data;
  uint32_t acc = 0;
  int bits = 0;
  auto put = [&](uint32_t code) {
    acc |= code << bits;
    for (bits += 9; bits >= 8; bits -= 8, acc >>= 8) data += static_cast<char>(acc & 255);
  };
  std::vector<int> rows;
  if (spec.interlace) {
    const int start[4] = {0, 4, 2, 1}, step[4] = {8, 8, 4, 2};
    for (int p = 0; p < 4; ++p) {
      for (int y = start[p]; y < spec.height; y += step[p]) rows.push_back(y);
    }
  } else {
    for (int y = 0; y < spec.height; ++y) rows.push_back(y);
  }
  put(256);
  int count = 0;
  for (int y : rows) {
    for (int x = 0; x < spec.width; ++x) {
      if (count++ == 100) {
        put(256);
        count = 1;
      }
      put(idx[static_cast<size_t>(y) * spec.width + x]);
    }
  }
  put(257);
  if (bits > 0) data += static_cast<char>(acc & 255);
  for (size_t i = 0; i < data.size(); i += 255) {
    const size_t n = std::min<size_t>(255, data.size() - i);
    s += static_cast<char>(n);
    s += data.substr(i, n);
  }
  s += '\0';
  s += ';';
  return s;
}

// An uncompressed BMP (BITMAPINFOHEADER) of grey pixels: 8 bits with a grey palette, 24 or 32.
std::string Bmp(int w, int h, int bpp, bool top_down, const std::vector<unsigned char>& gray) {
  const uint32_t stride = (w * bpp + 31) / 32 * 4, palette = bpp == 8 ? 1024 : 0;
  const uint32_t offset = 14 + 40 + palette;
  std::string s = "BM";
  Put32(&s, offset + stride * h);
  Put32(&s, 0);
  Put32(&s, offset);
  Put32(&s, 40);
  Put32(&s, w);
  Put32(&s, top_down ? -h : h);
  Put16(&s, 1);
  Put16(&s, bpp);
  Put32(&s, 0);  // BI_RGB
  Put32(&s, stride * h);
  Put32(&s, 2835);
  Put32(&s, 2835);
  Put32(&s, bpp == 8 ? 256 : 0);
  Put32(&s, 0);
  for (uint32_t i = 0; i < palette / 4; ++i) s += std::string(3, static_cast<char>(i)) + '\0';
  for (int r = 0; r < h; ++r) {
    const int y = top_down ? r : h - 1 - r;
    std::string row;
    for (int x = 0; x < w; ++x) {
      const char v = static_cast<char>(gray[static_cast<size_t>(y) * w + x]);
      row += std::string(bpp / 8, v);
      if (bpp == 32) row.back() = '\xff';  // alpha
    }
    row.resize(stride, '\0');
    s += row;
  }
  return s;
}

std::string Pgm(const std::vector<unsigned char>& gray, int maxval = 255) {
  std::string s = "P5\n# a comment\n28 28\n" + std::to_string(maxval) + "\n";
  for (unsigned char v : gray) {
    if (maxval > 255) {
      const unsigned w = v * 257u;
      s += static_cast<char>(w >> 8);
      s += static_cast<char>(w & 255);
    } else {
      s += static_cast<char>(v);
    }
  }
  return s;
}

std::string Ppm(const std::vector<unsigned char>& gray) {
  std::string s = "P6 28 28 255\n";
  for (unsigned char v : gray) s += std::string(3, static_cast<char>(v));
  return s;
}

void AppendTo(void* context, void* data, int size) {
  static_cast<std::string*>(context)->append(static_cast<const char*>(data), size);
}

std::string Png(const std::vector<unsigned char>& gray) {
  std::string s;
  EXPECT_TRUE(stbi_write_png_to_func(AppendTo, &s, 28, 28, 1, gray.data(), 28));
  return s;
}

std::string Jpeg(const std::vector<unsigned char>& gray) {
  std::string s;
  EXPECT_TRUE(stbi_write_jpg_to_func(AppendTo, &s, 28, 28, 1, gray.data(), 95));
  return s;
}

float MaxDiff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  float d = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) d = std::max(d, std::abs(a[i] - b[i]));
  return d;
}

std::string Corpus(const std::string& name) {
  return ReadFile(std::string(HPSWEEP_SOURCE_DIR) + "/fuzz/corpus/digit_image/" + name);
}

// Every format comes out as the same digit; the format is told by the bytes, not the name.
TEST(DecodeDigitImageTest, EveryFormatDecodesTheSameDigit) {
  const std::vector<unsigned char> ring = Ring();
  auto want = DecodeDigitImage(Pgm(ring), "ring.pgm");
  ASSERT_TRUE(want.ok()) << want.status().ToString();
  std::vector<unsigned char> idx(ring);
  const std::vector<std::pair<std::string, std::string>> same = {
      {"png", Png(ring)},
      {"gif", Gif(GifSpec(), ring)},
      {"interlaced gif", Gif(
                             [] {
                               GifSpec s;
                               s.interlace = true;
                               return s;
                             }(),
                             ring)},
      {"bmp 8", Bmp(28, 28, 8, false, ring)},
      {"bmp 24", Bmp(28, 28, 24, false, ring)},
      {"bmp 32", Bmp(28, 28, 32, false, ring)},
      {"bmp 8 top-down", Bmp(28, 28, 8, true, ring)},
      {"bmp 24 top-down", Bmp(28, 28, 24, true, ring)},
      {"pgm 16-bit", Pgm(ring, 65535)},
      {"ppm", Ppm(ring)},
  };
  for (const auto& [what, bytes] : same) {
    auto got = DecodeDigitImage(bytes, "image.jpg");  // the name says nothing
    ASSERT_TRUE(got.ok()) << what << ": " << got.status().ToString();
    EXPECT_LT(MaxDiff(*got, *want), 1e-5) << what;
  }
  auto jpeg = DecodeDigitImage(Jpeg(ring), "ring.png");
  ASSERT_TRUE(jpeg.ok()) << jpeg.status().ToString();
  EXPECT_GT(Correlation(*jpeg, *want), 0.99);  // lossy
  for (const char* name : {"digit-28.png", "digit-28.jpg", "digit-28.gif", "digit-28.bmp",
                           "digit-28.pgm", "inverted-rgb.png", "inverted-rgb.jpg", "small.ppm"}) {
    auto got = DecodeDigitImage(Corpus(name), name);
    EXPECT_TRUE(got.ok()) << got.status().ToString();
  }
}

// Found by fuzz/digit_image_fuzz.cc in stb_image v2.27 (fuzz/regressions/digit_image/): a DHT
// segment declaring 777 codes was written past stb's 257-entry tables; a PNG whose first IDAT
// chunk is empty was memcpy'd to NULL. libjpeg-turbo refuses the table by name, libpng the
// fuzzer's broken CRC; ctest fuzz_replay_digit_image replays both under ASan + UBSan.
TEST(DecodeDigitImageTest, StbImageFuzzFindingsAreRefused) {
  const std::string dir = std::string(HPSWEEP_SOURCE_DIR) + "/fuzz/regressions/digit_image/";
  auto jpeg = DecodeDigitImage(ReadFile(dir + "jpeg-dht-over-256-codes"), "dht.jpg");
  EXPECT_EQ(jpeg.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(jpeg.status().message().find("dht.jpg: not a readable image (JPEG: Bogus Huffman"),
            std::string::npos)
      << jpeg.status().message();
  auto png = DecodeDigitImage(ReadFile(dir + "png-empty-chunk-memcpy-null"), "empty.png");
  EXPECT_EQ(png.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(png.status().message().find("empty.png: not a readable image (PNG: "),
            std::string::npos)
      << png.status().message();
  EXPECT_NE(png.status().message().find("CRC"), std::string::npos) << png.status().message();
}

// An empty IDAT chunk is legal PNG (the case stb_image memcpy'd to NULL): with valid CRCs, libpng
// decodes the image as if it were not there. The same file is
// fuzz/regressions/digit_image/png-empty-first-idat-valid-crc, for the sanitized replay.
TEST(DecodeDigitImageTest, PngWithAnEmptyFirstIdatDecodes) {
  const std::vector<unsigned char> ring = Ring();
  const std::string png = Png(ring);
  const size_t idat = png.find("IDAT");
  ASSERT_NE(idat, std::string::npos);
  std::string empty("\0\0\0\0IDAT", 8);
  const uLong crc = crc32(0, reinterpret_cast<const Bytef*>("IDAT"), 4);
  for (int shift = 24; shift >= 0; shift -= 8) empty += static_cast<char>(crc >> shift & 255);
  const std::string with_empty = png.substr(0, idat - 4) + empty + png.substr(idat - 4);
  auto got = DecodeDigitImage(with_empty, "empty-idat.png");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  auto want = DecodeDigitImage(png, "ring.png");
  ASSERT_TRUE(want.ok());
  EXPECT_EQ(*got, *want);
}

// A PNG's alpha is dropped, as stb_image's grey load did: a transparent pixel counts as its
// colour.
TEST(DecodeDigitImageTest, PngAlphaIsIgnored) {
  const std::vector<unsigned char> ring = Ring();
  std::vector<unsigned char> rgba;
  for (unsigned char v : ring) rgba.insert(rgba.end(), {v, v, v, 0});
  std::string png;
  ASSERT_TRUE(stbi_write_png_to_func(AppendTo, &png, 28, 28, 4, rgba.data(), 28 * 4));
  auto got = DecodeDigitImage(png, "alpha.png");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  auto want = DecodeDigitImage(Pgm(ring), "ring.pgm");
  ASSERT_TRUE(want.ok());
  EXPECT_LT(MaxDiff(*got, *want), 1e-5);
}

// stb_image refused a frame reaching past the screen; now it is clipped to the screen, and
// frames wholly outside, oversized or without colours are clear errors.
TEST(DecodeDigitImageTest, GifFramesOutsideTheScreenAreClipped) {
  const std::vector<unsigned char> ring = Ring();
  GifSpec half;
  half.left = 14;  // the ring's left half on the screen's right half
  auto clipped = DecodeDigitImage(Gif(half, ring), "half.gif");
  ASSERT_TRUE(clipped.ok()) << clipped.status().ToString();

  GifSpec outside;
  outside.left = outside.top = 1000;
  auto none = DecodeDigitImage(Gif(outside, ring), "outside.gif");
  EXPECT_EQ(none.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(none.status().message().find("outside.gif: no digit"), std::string::npos)
      << none.status().message();

  // A 28x28 frame's data under a descriptor that declares 65535x65535 (offset 786: after the
  // 13-byte header, the 768-byte palette, ',' and left, top).
  std::string huge = Gif(GifSpec(), ring);
  ASSERT_EQ(huge[781], ',');
  huge.replace(786, 4, "\xff\xff\xff\xff");
  auto big = DecodeDigitImage(huge, "huge.gif");
  EXPECT_EQ(big.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(big.status().message().find("huge.gif: image of 65535x65535 pixels"), std::string::npos)
      << big.status().message();

  GifSpec no_screen;
  no_screen.screen_w = no_screen.screen_h = 0;
  auto empty = DecodeDigitImage(Gif(no_screen, ring), "empty.gif");
  EXPECT_NE(empty.status().message().find("0x0 pixels has no pixels"), std::string::npos)
      << empty.status().message();

  GifSpec no_palette;
  no_palette.palette = false;
  auto grey = DecodeDigitImage(Gif(no_palette, ring), "nomap.gif");
  EXPECT_NE(grey.status().message().find("no colour map"), std::string::npos)
      << grey.status().message();
}

// The transparent index shows the background (black, as stb_image drew it).
TEST(DecodeDigitImageTest, GifTransparentPixelsAreBackground) {
  std::vector<unsigned char> ring = Ring();
  std::vector<unsigned char> idx(ring);
  int unused = 255;  // a light grey the ring does not use
  while (std::find(ring.begin(), ring.end(), unused) != ring.end()) --unused;
  ASSERT_GT(unused, 100);
  for (unsigned char& v : idx) {
    if (v == 0) v = static_cast<unsigned char>(unused);  // the background, marked transparent
  }
  GifSpec spec;
  spec.transparent = unused;
  auto got = DecodeDigitImage(Gif(spec, idx), "transparent.gif");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  auto want = DecodeDigitImage(Pgm(ring), "ring.pgm");
  ASSERT_TRUE(want.ok());
  EXPECT_LT(MaxDiff(*got, *want), 1e-5);
}

TEST(DecodeDigitImageTest, BmpHeadersAreRangeChecked) {
  const std::vector<unsigned char> ring = Ring();
  const std::string good = Bmp(28, 28, 24, false, ring);
  auto with = [&](size_t at, uint32_t v, int bytes) {
    std::string s = good;
    for (int i = 0; i < bytes; ++i) s[at + i] = static_cast<char>(v >> (8 * i) & 255);
    return s;
  };
  struct Case {
    std::string bytes, want;
  };
  const std::vector<Case> cases = {
      // 4000x4000 is within the pixel limit, but the file holds 28x28's bytes.
      {with(18, 4000, 4).replace(22, 4, with(22, 4000, 4).substr(22, 4)),
       "48000000 bytes of pixels declared at offset 54, but the file has 2406 bytes"},
      {with(18, 100000, 4).replace(22, 4, with(22, 100000, 4).substr(22, 4)),
       "image of 100000x100000 pixels"},
      {with(22, 0x80000000u, 4), "image of 28x2147483648 pixels"},
      {with(22, 0, 4), "28x0 pixels has no pixels"},
      {with(30, 1, 4), "compression 1 (RLE or other) is not supported"},
      {with(28, 4, 2), "4 bits per pixel; only 8, 24 and 32"},
      {with(26, 2, 2), "2 planes"},
      {with(14, 41, 4), "header of 41 bytes is not supported"},
      {with(10, 0xFFFFFFFFu, 4), "declared at offset 4294967295"},
      {good.substr(0, 17), "cut short"},
  };
  for (const Case& c : cases) {
    auto r = DecodeDigitImage(c.bytes, "bad.bmp");
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << c.want;
    EXPECT_NE(r.status().message().find(c.want), std::string::npos)
        << "want: " << c.want << "\n got: " << r.status().message();
  }
}

TEST(DecodeDigitImageTest, PnmHeadersAreRangeChecked) {
  const std::string pixels(28 * 28 * 2, '\x80');
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"P5\n28 28\n0\n" + pixels, "PGM: maxval 0; must be 1..65535"},
      {"P5\n28 28\n70000\n" + pixels, "PGM: maxval 70000; must be 1..65535"},
      {"P6\n28 28\n255\n" + pixels, "PPM: 2352 bytes of pixels expected, 1568 present"},
      {"P5\n28 28\n65535\n" + pixels.substr(1), "PGM: 1568 bytes of pixels expected, 1567 present"},
      {"P5\n1234567890 1\n255\n" + pixels, "PGM: header cut short or malformed"},
      {"P5\n28 28", "PGM: header cut short or malformed"},
      {"P5\n28 28\n255", "PGM: no whitespace after maxval"},
      {"P5x28 28\n255\n" + pixels, "PGM: header cut short or malformed"},
      {"P5\n-28 28\n255\n" + pixels, "PGM: header cut short or malformed"},
      {"P5\n0 28\n255\n" + pixels, "PGM: image of 0x28 pixels has no pixels"},
  };
  for (const auto& [bytes, want] : cases) {
    auto r = DecodeDigitImage(bytes, "bad.pgm");
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << want;
    EXPECT_NE(r.status().message().find("bad.pgm: not a readable image (" + want),
              std::string::npos)
        << "want: " << want << "\n got: " << r.status().message();
  }
}

// Every format cut at every 7th byte is an error, never a crash. Complete images may lack their
// ends: a GIF's trailer byte (after the first image nothing is read) and a PNG's 12-byte IEND
// chunk (libpng's simplified API stops after the last IDAT, its CRC checked).
TEST(DecodeDigitImageTest, TruncatedFilesAreErrors) {
  const std::vector<unsigned char> ring = Ring();
  const std::vector<std::pair<std::string, std::string>> files = {
      {"png", Png(ring)},
      {"jpeg", Jpeg(ring)},
      {"gif", Gif(GifSpec(), ring)},
      {"interlaced gif", Gif(
                             [] {
                               GifSpec s;
                               s.interlace = true;
                               return s;
                             }(),
                             ring)},
      {"bmp 8", Bmp(28, 28, 8, false, ring)},
      {"bmp 32", Bmp(28, 28, 32, true, ring)},
      {"pgm", Pgm(ring)},
      {"pgm 16-bit", Pgm(ring, 1000)},
      {"ppm", Ppm(ring)},
      {"corpus png", Corpus("inverted-rgb.png")},
      {"corpus jpeg", Corpus("inverted-rgb.jpg")},
      {"corpus gif", Corpus("digit-28.gif")},
      {"corpus bmp", Corpus("digit-28.bmp")},
  };
  for (const auto& [what, bytes] : files) {
    ASSERT_TRUE(DecodeDigitImage(bytes, "whole").ok()) << what;
    const size_t complete = what.find("gif") != std::string::npos   ? bytes.size() - 1
                            : what.find("png") != std::string::npos ? bytes.size() - 12
                                                                    : bytes.size();
    for (size_t cut = 0; cut < bytes.size(); cut += 7) {
      auto r = DecodeDigitImage(bytes.substr(0, cut), "cut");
      if (cut >= complete) continue;
      EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << what << " cut at " << cut;
    }
  }
}

}  // namespace
}  // namespace hpsweep::digit_image_test
