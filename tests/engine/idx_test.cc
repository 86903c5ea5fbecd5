// Tests for engine/idx.h: good and malformed IDX files, plain and gzipped.
#include "engine/idx.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <zlib.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

namespace hpsweep::idx_test {
namespace {

using Bytes = std::vector<uint8_t>;

void PutBigEndian32(Bytes* b, uint32_t v) {
  b->push_back(static_cast<uint8_t>(v >> 24));
  b->push_back(static_cast<uint8_t>(v >> 16));
  b->push_back(static_cast<uint8_t>(v >> 8));
  b->push_back(static_cast<uint8_t>(v));
}

// An IDX image file: header for (count, rows, cols), then `pixels` as given.
Bytes ImageFile(uint32_t count, uint32_t rows, uint32_t cols, const Bytes& pixels,
                uint32_t magic = 0x00000803) {
  Bytes b;
  PutBigEndian32(&b, magic);
  PutBigEndian32(&b, count);
  PutBigEndian32(&b, rows);
  PutBigEndian32(&b, cols);
  b.insert(b.end(), pixels.begin(), pixels.end());
  return b;
}

Bytes LabelFile(uint32_t count, const Bytes& labels, uint32_t magic = 0x00000801) {
  Bytes b;
  PutBigEndian32(&b, magic);
  PutBigEndian32(&b, count);
  b.insert(b.end(), labels.begin(), labels.end());
  return b;
}

Bytes Iota(size_t n) {
  Bytes b(n);
  for (size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(i * 7 + 1);
  return b;
}

class IdxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "/idx_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Write(const std::string& name, const Bytes& bytes) {
    std::string path = dir_ + "/" + name;
    FILE* f = std::fopen(path.c_str(), "wb");
    EXPECT_NE(f, nullptr) << path;
    if (f == nullptr) return path;
    if (!bytes.empty()) {
      EXPECT_EQ(std::fwrite(bytes.data(), 1, bytes.size(), f), bytes.size());
    }
    std::fclose(f);
    return path;
  }

  std::string WriteGz(const std::string& name, const Bytes& bytes) {
    std::string path = dir_ + "/" + name;
    gzFile f = gzopen(path.c_str(), "wb");
    EXPECT_NE(f, nullptr) << path;
    if (f == nullptr) return path;
    if (!bytes.empty()) {
      EXPECT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())),
                static_cast<int>(bytes.size()));
    }
    EXPECT_EQ(gzclose(f), Z_OK);
    return path;
  }

  static Bytes ReadAll(const std::string& path) {
    Bytes b;
    FILE* f = std::fopen(path.c_str(), "rb");
    if (f == nullptr) return b;
    int c;
    while ((c = std::fgetc(f)) != EOF) b.push_back(static_cast<uint8_t>(c));
    std::fclose(f);
    return b;
  }

  std::string dir_;
};

// Asserts that `result` failed with `code` and that its message names `path` and has `needle`.
template <typename T>
void ExpectError(const StatusOr<T>& result, StatusCode code, const std::string& path,
                 const std::string& needle = "") {
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), code) << result.status().ToString();
  EXPECT_NE(result.status().message().find(path), std::string::npos)
      << "message does not name " << path << ": " << result.status().message();
  if (!needle.empty()) {
    EXPECT_NE(result.status().message().find(needle), std::string::npos)
        << "message lacks \"" << needle << "\": " << result.status().message();
  }
}

TEST_F(IdxTest, ReadsPlainImages) {
  const Bytes pixels = Iota(3 * 2 * 4);
  StatusOr<IdxImages> r = ReadIdxImages(Write("img", ImageFile(3, 2, 4, pixels)));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->count, 3);
  EXPECT_EQ(r->rows, 2);
  EXPECT_EQ(r->cols, 4);
  EXPECT_EQ(r->pixels, pixels);
}

TEST_F(IdxTest, ReadsGzippedImages) {
  const Bytes pixels = Iota(5 * 3 * 3);
  // The name does not end in .gz: gzip is recognised by its magic bytes.
  StatusOr<IdxImages> r = ReadIdxImages(WriteGz("img", ImageFile(5, 3, 3, pixels)));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->count, 5);
  EXPECT_EQ(r->rows, 3);
  EXPECT_EQ(r->cols, 3);
  EXPECT_EQ(r->pixels, pixels);
}

TEST_F(IdxTest, ReadsLargeGzippedImagesAcrossChunks) {
  // More than one 1 MiB read chunk, so the growing-buffer path runs several times.
  const Bytes pixels = Iota(3000 * 28 * 28);
  StatusOr<IdxImages> r = ReadIdxImages(WriteGz("big.gz", ImageFile(3000, 28, 28, pixels)));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->count, 3000);
  EXPECT_EQ(r->pixels, pixels);
}

TEST_F(IdxTest, ReadsPlainAndGzippedLabels) {
  const Bytes labels = {5, 0, 4, 1, 9, 2};
  StatusOr<Bytes> plain = ReadIdxLabels(Write("lbl", LabelFile(6, labels)));
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  EXPECT_EQ(*plain, labels);
  StatusOr<Bytes> gz = ReadIdxLabels(WriteGz("lbl.gz", LabelFile(6, labels)));
  ASSERT_TRUE(gz.ok()) << gz.status().ToString();
  EXPECT_EQ(*gz, labels);
}

TEST_F(IdxTest, MissingFileIsNotFound) {
  const std::string path = dir_ + "/no-such-file";
  ExpectError(ReadIdxImages(path), StatusCode::kNotFound, path);
  ExpectError(ReadIdxLabels(path), StatusCode::kNotFound, path);
}

TEST_F(IdxTest, DirectoryIsIoError) {
  ExpectError(ReadIdxImages(dir_), StatusCode::kIoError, dir_);
}

TEST_F(IdxTest, BadMagicSaysExpectedAndFound) {
  // A label file given to the image reader, and the other way round.
  const std::string labels = Write("lbl", LabelFile(2, {1, 2}));
  ExpectError(ReadIdxImages(labels), StatusCode::kInvalidArgument, labels, "0x00000803");
  ExpectError(ReadIdxImages(labels), StatusCode::kInvalidArgument, labels, "0x00000801");
  const std::string images = Write("img", ImageFile(1, 1, 1, {0}));
  ExpectError(ReadIdxLabels(images), StatusCode::kInvalidArgument, images, "0x00000803");
  // Some other file altogether, plain and gzipped.
  const Bytes text = {'h', 'e', 'l', 'l', 'o', ' ', 'w', 'o', 'r',
                      'l', 'd', '!', '!', '!', '!', '!', '!', '\n'};
  const std::string txt = Write("hello.txt", text);
  ExpectError(ReadIdxImages(txt), StatusCode::kInvalidArgument, txt, "0x68656c6c");
  const std::string gz = WriteGz("hello.txt.gz", text);
  ExpectError(ReadIdxImages(gz), StatusCode::kInvalidArgument, gz, "0x68656c6c");
}

TEST_F(IdxTest, TruncatedDataSaysExpectedAndGot) {
  const Bytes bytes = ImageFile(3, 2, 4, Iota(20));  // 24 bytes declared, 20 present
  const std::string plain = Write("img", bytes);
  ExpectError(ReadIdxImages(plain), StatusCode::kDataLoss, plain, "expecting 24 bytes");
  ExpectError(ReadIdxImages(plain), StatusCode::kDataLoss, plain, "holds 20");
  const std::string gz = WriteGz("img.gz", bytes);
  ExpectError(ReadIdxImages(gz), StatusCode::kDataLoss, gz, "expecting 24 bytes");
  ExpectError(ReadIdxImages(gz), StatusCode::kDataLoss, gz, "holds 20");

  const std::string labels = Write("lbl", LabelFile(10, {1, 2, 3}));
  ExpectError(ReadIdxLabels(labels), StatusCode::kDataLoss, labels, "expecting 10 bytes");
}

TEST_F(IdxTest, TruncatedHeaderIsDataLoss) {
  const Bytes header = ImageFile(3, 2, 4, {});
  const std::string short_header = Write("img", Bytes(header.begin(), header.begin() + 9));
  ExpectError(ReadIdxImages(short_header), StatusCode::kDataLoss, short_header, "16 bytes");
  const std::string empty = Write("empty", {});
  ExpectError(ReadIdxImages(empty), StatusCode::kDataLoss, empty);
  ExpectError(ReadIdxLabels(empty), StatusCode::kDataLoss, empty);
  const std::string empty_gz = WriteGz("empty.gz", {});
  ExpectError(ReadIdxLabels(empty_gz), StatusCode::kDataLoss, empty_gz);
}

// A small gzip file declaring gigabytes is refused from its header, before anything is inflated
// or allocated; one of honest size (however well it compresses, up to the floor) is read.
TEST_F(IdxTest, DecompressionBombIsRefusedFromItsHeader) {
  // 64 images of 4096x4096 (1 GiB) declared; 1 MiB of zeros behind the header, gzipped to ~1 KB.
  Bytes bomb = {0, 0, 8, 3, 0, 0, 0, 64, 0, 0, 16, 0, 0, 0, 16, 0};
  bomb.resize(bomb.size() + (size_t{1} << 20), 0);
  const std::string gz = WriteGz("bomb.gz", bomb);
  ExpectError(ReadIdxImages(gz), StatusCode::kInvalidArgument, gz, "a decompression bomb");
  ExpectError(ReadIdxImages(gz), StatusCode::kInvalidArgument, gz,
              "64 images of 4096x4096, 1073741824 bytes");
  // The same from memory (an upload).
  const Bytes raw = ReadAll(gz);
  ExpectError(ParseIdxImages(std::string(raw.begin(), raw.end()), "upload.gz"),
              StatusCode::kInvalidArgument, "upload.gz", "times the file's size");
  // Over the absolute limit, a plain file that really holds it (sparse: no disk used) is refused
  // before anything is allocated.
  Bytes huge = {0, 0, 8, 3, 0, 0, 1, 0, 0, 0, 16, 0, 0, 0, 16, 0};  // 256 x 4096 x 4096: 4 GiB
  const std::string plain = Write("huge", huge);
  ASSERT_EQ(truncate(plain.c_str(), 16 + (off_t{4} << 30)), 0);
  ExpectError(ReadIdxImages(plain), StatusCode::kInvalidArgument, plain,
              "over the limit of 2147483648 bytes");
  // Zeros compress about 1,000x: 10,000 blank 28x28 images (7.8 MB) from a few KB still read,
  // under the floor.
  const Bytes blank = ImageFile(10000, 28, 28, Bytes(10000 * 28 * 28, 0));
  const std::string ok = WriteGz("blank.gz", blank);
  ASSERT_LT(ReadAll(ok).size() * kIdxGzipMaxRatio, blank.size() * 1.0) << "not a high ratio";
  StatusOr<IdxImages> r = ReadIdxImages(ok);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->count, 10000);
}

TEST_F(IdxTest, TrailingBytesAreDataLoss) {
  Bytes pixels = Iota(2 * 2 * 2 + 5);
  const std::string plain = Write("img", ImageFile(2, 2, 2, pixels));
  ExpectError(ReadIdxImages(plain), StatusCode::kDataLoss, plain, "5 trailing bytes");
  const std::string gz = WriteGz("img.gz", ImageFile(2, 2, 2, pixels));
  ExpectError(ReadIdxImages(gz), StatusCode::kDataLoss, gz, "5 trailing bytes");
  const std::string labels = WriteGz("lbl.gz", LabelFile(2, {1, 2, 3}));
  ExpectError(ReadIdxLabels(labels), StatusCode::kDataLoss, labels, "1 trailing bytes");
}

TEST_F(IdxTest, HugeDeclaredCountInTinyFileIsRefusedWithoutAllocating) {
  // 2^31 images of 28x28 would be 1.6 TiB: the reader must notice the file is tiny first.
  const uint32_t huge = 0x80000000u;
  const Bytes tiny = ImageFile(huge, 28, 28, Iota(100));
  const std::string plain = Write("img", tiny);
  ExpectError(ReadIdxImages(plain), StatusCode::kDataLoss, plain, "expecting 1683627180032 bytes");
  // Gzipped, the size is known only by inflating: the declared size is refused first.
  const std::string gz = WriteGz("img.gz", tiny);
  ExpectError(ReadIdxImages(gz), StatusCode::kInvalidArgument, gz, "over the limit");
  // The largest header the format can express.
  const std::string max = WriteGz("max.gz", ImageFile(0xffffffffu, kIdxMaxSide, kIdxMaxSide, {}));
  ExpectError(ReadIdxImages(max), StatusCode::kInvalidArgument, max, "over the limit");

  const std::string labels = Write("lbl", LabelFile(huge, {1, 2}));
  ExpectError(ReadIdxLabels(labels), StatusCode::kDataLoss, labels, "expecting 2147483648 bytes");
  const std::string labels_gz = WriteGz("lbl.gz", LabelFile(0xffffffffu, {1, 2}));
  ExpectError(ReadIdxLabels(labels_gz), StatusCode::kInvalidArgument, labels_gz, "over the limit");
}

// ParseIdxImages/ParseIdxLabels (bytes in memory) give what reading the same bytes from a file
// gives, message for message: good files, and every way of being bad, plain and gzipped.
TEST_F(IdxTest, ParsingBytesMatchesReadingTheFile) {
  const Bytes header = ImageFile(3, 2, 4, {});
  const std::vector<std::pair<std::string, Bytes>> cases = {
      {"img", ImageFile(3, 2, 4, Iota(24))},
      {"img-short", ImageFile(3, 2, 4, Iota(20))},
      {"img-trailing", ImageFile(2, 2, 2, Iota(13))},
      {"img-huge", ImageFile(0x80000000u, 28, 28, Iota(100))},
      {"img-zero", ImageFile(0, 28, 28, {})},
      {"img-wide", ImageFile(1, 1, kIdxMaxSide + 1, Iota(kIdxMaxSide + 1))},
      {"header-cut", Bytes(header.begin(), header.begin() + 9)},
      {"empty", {}},
      {"lbl", LabelFile(6, {5, 0, 4, 1, 9, 2})},
      {"lbl-short", LabelFile(10, {1, 2, 3})},
      {"text", {'h', 'e', 'l', 'l', 'o', ' ', 'w', 'o', 'r', 'l', 'd', '!', '!', '!', '!', '!'}},
  };
  std::vector<std::string> paths;
  for (const auto& [name, bytes] : cases) {
    paths.push_back(Write(name, bytes));
    paths.push_back(WriteGz(name + ".gz", bytes));
    const Bytes gz = ReadAll(paths.back());
    paths.push_back(Write(name + ".cut.gz", Bytes(gz.begin(), gz.begin() + gz.size() / 2)));
    Bytes flipped = gz;  // a corrupt deflate stream (an error either way: see below)
    flipped[12] ^= 0xff;
    paths.push_back(Write(name + ".bad.gz", flipped));
    Bytes two = ReadAll(
        WriteGz(name + ".half1.gz", Bytes(bytes.begin(), bytes.begin() + bytes.size() / 2)));
    const Bytes half2 =
        ReadAll(WriteGz(name + ".half2.gz", Bytes(bytes.begin() + bytes.size() / 2, bytes.end())));
    two.insert(two.end(), half2.begin(), half2.end());  // two gzip members: one stream
    paths.push_back(Write(name + ".two.gz", two));
    Bytes junk = gz;  // gzread ignores what follows the last member
    junk.insert(junk.end(), {'x', 'y', 'z'});
    paths.push_back(Write(name + ".junk.gz", junk));
  }
  for (const std::string& path : paths) {
    SCOPED_TRACE(path);
    const Bytes b = ReadAll(path);
    const std::string bytes(b.begin(), b.end());
    // gzread inflates ahead of what is asked for, so it may meet a corrupt stream before the
    // header is checked; from memory, only what is needed is inflated. Both fail; the first
    // problem seen may differ.
    const bool corrupt = path.size() > 7 && path.compare(path.size() - 7, 7, ".bad.gz") == 0;
    const StatusOr<IdxImages> file_images = ReadIdxImages(path);
    const StatusOr<IdxImages> mem_images = ParseIdxImages(bytes, path);
    ASSERT_EQ(mem_images.ok(), file_images.ok())
        << mem_images.status().ToString() << " vs " << file_images.status().ToString();
    if (file_images.ok()) {
      EXPECT_EQ(mem_images->count, file_images->count);
      EXPECT_EQ(mem_images->rows, file_images->rows);
      EXPECT_EQ(mem_images->cols, file_images->cols);
      EXPECT_EQ(mem_images->pixels, file_images->pixels);
    } else if (!corrupt) {
      EXPECT_EQ(mem_images.status().ToString(), file_images.status().ToString());
    }
    const StatusOr<Bytes> file_labels = ReadIdxLabels(path);
    const StatusOr<Bytes> mem_labels = ParseIdxLabels(bytes, path);
    ASSERT_EQ(mem_labels.ok(), file_labels.ok())
        << mem_labels.status().ToString() << " vs " << file_labels.status().ToString();
    if (file_labels.ok()) {
      EXPECT_EQ(*mem_labels, *file_labels);
    } else if (!corrupt) {
      EXPECT_EQ(mem_labels.status().ToString(), file_labels.status().ToString());
    }
  }
}

TEST_F(IdxTest, ZeroOrAbsurdDimensionsAreInvalid) {
  const std::string zero_count = Write("a", ImageFile(0, 28, 28, {}));
  ExpectError(ReadIdxImages(zero_count), StatusCode::kInvalidArgument, zero_count, "0 images");
  const std::string zero_rows = Write("b", ImageFile(1, 0, 28, {}));
  ExpectError(ReadIdxImages(zero_rows), StatusCode::kInvalidArgument, zero_rows, "0x28");
  const std::string zero_cols = WriteGz("c", ImageFile(1, 28, 0, {}));
  ExpectError(ReadIdxImages(zero_cols), StatusCode::kInvalidArgument, zero_cols, "28x0");
  const std::string wide = Write("d", ImageFile(1, 1, kIdxMaxSide + 1, Iota(kIdxMaxSide + 1)));
  ExpectError(ReadIdxImages(wide), StatusCode::kInvalidArgument, wide, "1x4097");
  const std::string absurd = Write("e", ImageFile(1, 0xffffffffu, 0xffffffffu, {}));
  ExpectError(ReadIdxImages(absurd), StatusCode::kInvalidArgument, absurd);
  const std::string zero_labels = Write("f", LabelFile(0, {}));
  ExpectError(ReadIdxLabels(zero_labels), StatusCode::kInvalidArgument, zero_labels, "0 labels");
}

TEST_F(IdxTest, TruncatedGzipStreamIsDataLoss) {
  const std::string full = WriteGz("full.gz", ImageFile(200, 28, 28, Iota(200 * 28 * 28)));
  Bytes gz = ReadAll(full);
  ASSERT_GT(gz.size(), 100u);
  const std::string cut = Write("cut.gz", Bytes(gz.begin(), gz.begin() + gz.size() / 2));
  ExpectError(ReadIdxImages(cut), StatusCode::kDataLoss, cut);
  // Only the 8-byte gzip trailer (CRC, size) missing.
  const std::string no_trailer = Write("no-trailer.gz", Bytes(gz.begin(), gz.end() - 8));
  ExpectError(ReadIdxImages(no_trailer), StatusCode::kDataLoss, no_trailer);
}

TEST_F(IdxTest, CorruptGzipDataIsDataLoss) {
  const std::string full = WriteGz("full.gz", ImageFile(200, 28, 28, Iota(200 * 28 * 28)));
  Bytes gz = ReadAll(full);
  ASSERT_GT(gz.size(), 100u);
  for (size_t i = gz.size() / 2; i < gz.size() / 2 + 16; ++i) gz[i] ^= 0x5a;
  const std::string bad = Write("bad.gz", gz);
  ExpectError(ReadIdxImages(bad), StatusCode::kDataLoss, bad);
  // A damaged CRC alone.
  Bytes bad_crc = ReadAll(full);
  bad_crc[bad_crc.size() - 8] ^= 0xff;
  const std::string crc = Write("crc.gz", bad_crc);
  ExpectError(ReadIdxImages(crc), StatusCode::kDataLoss, crc);
}

}  // namespace
}  // namespace hpsweep::idx_test
