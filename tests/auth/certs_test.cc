// `hpsweep certs --out DIR`: the CA's key is never written where someone else can plant a link.
#include "auth/certs.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace hpsweep::certs_test {
namespace {

class CertsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/hpsweep_certs_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

TEST_F(CertsTest, AFolderOthersCanWriteIsRefusedAndNothingIsWritten) {
  const std::string out = dir_ + "/shared";
  ASSERT_EQ(mkdir(out.c_str(), 0700), 0);
  ASSERT_EQ(chmod(out.c_str(), 0777), 0);
  // What someone else planted: ca.key pointing at a file of the victim's.
  const std::string victim = dir_ + "/victim.txt";
  std::ofstream(victim) << "precious\n";
  ASSERT_EQ(symlink(victim.c_str(), (out + "/ca.key").c_str()), 0);
  Status s = MakeCertificates(out, {"localhost"});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s.ToString();
  EXPECT_NE(s.message().find("others can write to this folder (mode 0777"), std::string::npos)
      << s.message();
  std::ifstream in(victim);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text, "precious\n");
  EXPECT_FALSE(std::filesystem::exists(out + "/ca.crt"));
}

TEST_F(CertsTest, ALinkAsTheFolderIsRefused) {
  const std::string real = dir_ + "/real";
  ASSERT_EQ(mkdir(real.c_str(), 0700), 0);
  const std::string out = dir_ + "/link";
  ASSERT_EQ(symlink(real.c_str(), out.c_str()), 0);
  Status s = MakeCertificates(out, {"localhost"});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("not a folder"), std::string::npos) << s.message();
}

TEST_F(CertsTest, ADanglingLinkCountsAsAnExistingFile) {
  const std::string out = dir_ + "/mine";
  ASSERT_EQ(mkdir(out.c_str(), 0700), 0);
  ASSERT_EQ(symlink((dir_ + "/nowhere").c_str(), (out + "/server.key").c_str()), 0);
  Status s = MakeCertificates(out, {"localhost"});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("server.key exists; certs never overwrites"), std::string::npos)
      << s.message();
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/nowhere"));
}

TEST_F(CertsTest, APrivateNewFolderGetsEveryFile) {
  if (std::system("openssl version >/dev/null 2>&1") != 0) GTEST_SKIP() << "openssl missing";
  const std::string out = dir_ + "/new";
  Status s = MakeCertificates(out, {"localhost"});
  ASSERT_TRUE(s.ok()) << s.ToString();
  for (const char* f : {"ca.crt", "ca.key", "server.crt", "server.key", "client.crt"}) {
    EXPECT_TRUE(std::filesystem::exists(out + "/" + f)) << f;
  }
  struct stat st;
  ASSERT_EQ(stat((out + "/ca.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 077, 0u);
}

}  // namespace
}  // namespace hpsweep::certs_test
