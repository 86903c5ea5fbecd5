// worker/folder_pack.h: a checkpoint folder packed and unpacked, links left out, and hostile
// packed bytes refused (over the limit, "..", absolute paths, too deep, truncated, garbage)
// without anything written outside the folder.
#include "worker/folder_pack.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

namespace hpsweep::folder_pack_test {
namespace {

namespace fs = std::filesystem;

class FolderPackTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/hpsweep_folder_pack_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }

  static void Write(const std::string& path, const std::string& bytes) {
    std::ofstream(path, std::ios::binary) << bytes;
  }
  static std::string Read(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }
  // A packed folder by hand: entries of (kind, path, content).
  static std::string Packed(const std::vector<std::tuple<char, std::string, std::string>>& es) {
    std::string out = "HPSWFLD1";
    auto put = [&](uint64_t v, int n) {
      for (int i = 0; i < n; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
    };
    for (const auto& [kind, path, content] : es) {
      out.push_back(kind);
      put(path.size(), 2);
      out += path;
      if (kind == 'F') {
        put(content.size(), 8);
        out += content;
      }
    }
    out.push_back('E');
    return out;
  }

  std::string dir_;
};

TEST_F(FolderPackTest, RoundTrip) {
  const std::string src = dir_ + "/src";
  fs::create_directories(src + "/sub/deeper");
  fs::create_directories(src + "/empty");
  Write(src + "/model.bin", std::string("\0\x01\xff binary", 10));
  Write(src + "/sub/state.json", "{\"epoch\": 3}");
  Write(src + "/sub/deeper/zero", "");
  Write(src + "/caf\xC3\xA9", "utf8 name");
  Write(dir_ + "/secret", "outside");
  fs::create_symlink(dir_ + "/secret", src + "/link");  // left out, never followed
  fs::create_symlink(dir_, src + "/dirlink");
  StatusOr<std::string> packed = PackFolder(src, 1 << 20);
  ASSERT_TRUE(packed.ok()) << packed.status().ToString();
  EXPECT_EQ(packed->find("outside"), std::string::npos);

  const std::string dst = dir_ + "/dst";
  Status s = UnpackFolder(*packed, dst, 1 << 20);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(Read(dst + "/model.bin"), std::string("\0\x01\xff binary", 10));
  EXPECT_EQ(Read(dst + "/sub/state.json"), "{\"epoch\": 3}");
  EXPECT_TRUE(fs::is_regular_file(dst + "/sub/deeper/zero"));
  EXPECT_TRUE(fs::is_directory(dst + "/empty"));
  EXPECT_EQ(Read(dst + "/caf\xC3\xA9"), "utf8 name");
  EXPECT_FALSE(fs::exists(fs::symlink_status(dst + "/link")));
  EXPECT_FALSE(fs::exists(fs::symlink_status(dst + "/dirlink")));
  struct stat st;
  ASSERT_EQ(stat((dst + "/model.bin").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // Packing is deterministic: the same folder, the same bytes.
  StatusOr<std::string> again = PackFolder(dst, 1 << 20);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *packed);
  // An empty folder packs to a header and an end, and its stamp is "".
  fs::create_directories(dir_ + "/none");
  StatusOr<std::string> stamp = FolderStamp(dir_ + "/none", 10);
  ASSERT_TRUE(stamp.ok());
  EXPECT_EQ(*stamp, "");
}

TEST_F(FolderPackTest, StampChangesWhenAFileIsReplaced) {
  const std::string src = dir_ + "/src";
  fs::create_directories(src);
  Write(src + "/a", "1");
  StatusOr<std::string> one = FolderStamp(src, 100);
  ASSERT_TRUE(one.ok());
  EXPECT_NE(*one, "");
  EXPECT_EQ(*FolderStamp(src, 100), *one);
  Write(src + "/a.tmp", "2");
  fs::rename(src + "/a.tmp", src + "/a");
  EXPECT_NE(*FolderStamp(src, 100), *one);
}

TEST_F(FolderPackTest, LimitsOnPacking) {
  const std::string src = dir_ + "/src";
  fs::create_directories(src);
  Write(src + "/a", std::string(600, 'a'));
  Write(src + "/b", std::string(600, 'b'));
  StatusOr<std::string> over = PackFolder(src, 1000);
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(over.status().message().find("over the limit of 1000 bytes"), std::string::npos);
  EXPECT_FALSE(FolderStamp(src, 1000).ok());
  EXPECT_TRUE(PackFolder(src, 1200).ok());
  // Nine folders deep is one too many.
  std::string deep = dir_ + "/deep";
  for (int i = 0; i < 9; ++i) deep += "/d";
  fs::create_directories(deep);
  StatusOr<std::string> too_deep = PackFolder(dir_ + "/deep", 1000);
  ASSERT_FALSE(too_deep.ok());
  EXPECT_NE(too_deep.status().message().find("deeper than 8"), std::string::npos);
  fs::remove(deep);
  EXPECT_TRUE(PackFolder(dir_ + "/deep", 1000).ok());
  // A name that is not UTF-8.
  fs::create_directories(dir_ + "/bad");
  Write(dir_ + "/bad/\xff", "x");
  EXPECT_FALSE(PackFolder(dir_ + "/bad", 1000).ok());
}

TEST_F(FolderPackTest, HostileBytesAreRefused) {
  const std::string dst = dir_ + "/dst";
  auto refused = [&](const std::string& packed, size_t max = 1000) {
    fs::remove_all(dst);
    return !UnpackFolder(packed, dst, max).ok();
  };
  EXPECT_FALSE(refused(Packed({{'D', "a", ""}, {'F', "a/b", "x"}})));
  EXPECT_TRUE(refused(Packed({{'F', "../escape", "x"}})));
  EXPECT_TRUE(refused(Packed({{'F', "a/../../escape", "x"}})));
  EXPECT_TRUE(refused(Packed({{'F', "/tmp/escape", "x"}})));
  EXPECT_TRUE(refused(Packed({{'F', ".", "x"}})));
  EXPECT_TRUE(refused(Packed({{'F', "a//b", "x"}})));
  EXPECT_TRUE(refused(Packed({{'F', std::string("a\0b", 3), "x"}})));
  EXPECT_TRUE(refused(Packed({{'F', "\xff", "x"}})));
  EXPECT_TRUE(refused(Packed({{'F', "nodir/x", "x"}})));      // its folder is not there
  EXPECT_TRUE(refused(Packed({{'F', "x", "1"}, {'F', "x", "2"}})));  // twice
  EXPECT_TRUE(refused(Packed({{'F', "big", std::string(1001, 'x')}})));
  EXPECT_TRUE(refused(Packed({{'F', "a", std::string(600, 'x')}, {'F', "b", std::string(600, 'x')}})));
  std::string deep;
  for (int i = 0; i < 9; ++i) {
    deep += (i ? "/" : "") + std::string("d");
  }
  EXPECT_TRUE(refused(Packed({{'D', deep, ""}})));
  EXPECT_FALSE(fs::exists(dir_ + "/escape"));
  EXPECT_FALSE(fs::exists("/tmp/escape"));
  // A link planted where a folder is expected is not followed.
  fs::create_directories(dst);
  fs::create_directories(dir_ + "/elsewhere");
  fs::create_symlink(dir_ + "/elsewhere", dst + "/a");
  EXPECT_FALSE(UnpackFolder(Packed({{'F', "a/x", "x"}}), dst, 100).ok());
  EXPECT_FALSE(fs::exists(dir_ + "/elsewhere/x"));
  // Garbage, and every truncation of a good one.
  EXPECT_EQ(UnpackFolder("garbage", dst, 100).code(), StatusCode::kDataLoss);
  EXPECT_EQ(UnpackFolder("", dst, 100).code(), StatusCode::kDataLoss);
  const std::string good = Packed({{'D', "d", ""}, {'F', "d/f", "content"}, {'F', "g", "1"}});
  for (size_t n = 0; n < good.size(); ++n) {
    EXPECT_TRUE(refused(good.substr(0, n))) << n;
  }
  EXPECT_TRUE(refused(good + "x"));
  EXPECT_TRUE(refused(Packed({{'Q', "x", ""}})));
  EXPECT_FALSE(refused(good));
}

}  // namespace
}  // namespace hpsweep::folder_pack_test
