// Tokens files, token checks and the files clients read tokens from (auth/tokens.h).
#include "auth/tokens.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "base/sha256.h"

namespace hpsweep::tokens_test {
namespace {

namespace fs = std::filesystem;

class TokensTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("hpsweep_tokens_" + std::to_string(getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    unsetenv("HPSWEEP_TOKEN");
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string Path(const std::string& name) { return (dir_ / name).string(); }
  static std::string Read(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  fs::path dir_;
};

TEST_F(TokensTest, ParsesRolesNamesAndHashesAndAuthenticatesByHash) {
  const std::string text = "# role name hash\n\nworker w1 " + Sha256Hex("tok-w") +
                           "  # trailing comment\nuser alice " + Sha256Hex("tok-u") +
                           "\nreader bob " + Sha256Hex("tok-r") + "\n";
  auto store = TokenStore::Parse(text, "t.txt");
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  EXPECT_EQ((*store)->size(), 3u);
  const TokenEntry* w = (*store)->Authenticate("tok-w");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->role, Role::kWorker);
  EXPECT_EQ(w->name, "w1");
  ASSERT_NE((*store)->Authenticate("tok-u"), nullptr);
  EXPECT_EQ((*store)->Authenticate("tok-u")->role, Role::kUser);
  EXPECT_EQ((*store)->Authenticate("tok-r")->name, "bob");
  // Wrong, empty, a prefix, the hash itself, and an oversized token are all unknown.
  EXPECT_EQ((*store)->Authenticate("tok-x"), nullptr);
  EXPECT_EQ((*store)->Authenticate(""), nullptr);
  EXPECT_EQ((*store)->Authenticate("tok-"), nullptr);
  EXPECT_EQ((*store)->Authenticate(Sha256Hex("tok-w")), nullptr);
  EXPECT_EQ((*store)->Authenticate(std::string(kMaxTokenBytes + 1, 'a')), nullptr);
}

TEST_F(TokensTest, BadLinesAreRefusedNamingFileAndLine) {
  const std::string h = Sha256Hex("x");
  struct Case {
    std::string text, want;
  } cases[] = {
      {"admin a " + h + "\n", "t.txt:1: unknown role"},
      {"# c\nworker a\n", "t.txt:2: expected 'ROLE NAME SHA256'"},
      {"worker a " + h + " extra\n", "t.txt:1: expected 'ROLE NAME SHA256'"},
      {"worker a hps_0123\n", "t.txt:1: the third field must be a SHA-256"},
      {"worker a " + std::string(64, 'G') + "\n", "the third field must be a SHA-256"},
      {"worker b@d! " + h + "\n", "t.txt:1: a token name is"},
      {"worker a " + h + "\nuser b " + h + "\n", "t.txt:2: the same token is listed twice"},
      {"# only comments\n", "t.txt: no tokens"},
      {std::string(kMaxTokensFileBytes + 1, '#'), "over the limit of 1048576 bytes"},
  };
  for (const Case& c : cases) {
    auto store = TokenStore::Parse(c.text, "t.txt");
    ASSERT_FALSE(store.ok()) << c.text.substr(0, 80);
    EXPECT_EQ(store.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(store.status().message().find(c.want), std::string::npos)
        << store.status().message() << " (want " << c.want << ")";
  }
}

TEST_F(TokensTest, RoleNamesRoundTrip) {
  for (Role r : {Role::kReader, Role::kUser, Role::kWorker}) {
    Role back;
    ASSERT_TRUE(ParseRole(RoleName(r), &back));
    EXPECT_EQ(back, r);
  }
  Role unused;
  EXPECT_FALSE(ParseRole("admin", &unused));
  EXPECT_FALSE(ParseRole("", &unused));
}

TEST_F(TokensTest, CreateTokenAppendsOnlyItsHashToAPrivateFile) {
  const std::string file = Path("tokens.txt");
  auto t1 = CreateToken(file, Role::kWorker, "w1");
  ASSERT_TRUE(t1.ok()) << t1.status().ToString();
  auto t2 = CreateToken(file, Role::kUser, "alice");
  ASSERT_TRUE(t2.ok());
  EXPECT_NE(*t1, *t2);
  EXPECT_EQ(t1->rfind("hps_", 0), 0u);
  EXPECT_EQ(t1->size(), 4u + 64u);
  const std::string text = Read(file);
  EXPECT_EQ(text.find(*t1), std::string::npos) << "the token itself must never be stored";
  EXPECT_NE(text.find("worker w1 " + Sha256Hex(*t1)), std::string::npos) << text;
  EXPECT_NE(text.find("user alice " + Sha256Hex(*t2)), std::string::npos) << text;
  struct stat st;
  ASSERT_EQ(stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto store = TokenStore::LoadFile(file);
  ASSERT_TRUE(store.ok());
  ASSERT_NE((*store)->Authenticate(*t2), nullptr);
  EXPECT_EQ((*store)->Authenticate(*t2)->role, Role::kUser);
}

TEST_F(TokensTest, CreateTokenRefusesAFileThatIsNotATokensFileAndLeavesIt) {
  const std::string file = Path("notes.txt");
  std::ofstream(file) << "these are my notes\n";
  auto t = CreateToken(file, Role::kWorker, "w");
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("notes.txt:1:"), std::string::npos) << t.status().message();
  EXPECT_EQ(Read(file), "these are my notes\n");
  auto bad_name = CreateToken(Path("t.txt"), Role::kWorker, "a b");
  EXPECT_FALSE(bad_name.ok());
  EXPECT_FALSE(fs::exists(Path("t.txt")));
}

TEST_F(TokensTest, ClientReadsTokenFromPrivateFileOrEnvironment) {
  const std::string file = Path("w.token");
  std::ofstream(file) << "hps_abc\n";
  chmod(file.c_str(), 0600);
  auto t = ReadClientToken(file);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(*t, "hps_abc");

  chmod(file.c_str(), 0644);
  auto shared = ReadClientToken(file);
  ASSERT_FALSE(shared.ok());
  EXPECT_NE(shared.status().message().find("chmod 600"), std::string::npos);
  EXPECT_EQ(shared.status().message().find("hps_abc"), std::string::npos)
      << "no message may show a token";

  auto none = ReadClientToken("");
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(*none, "");
  setenv("HPSWEEP_TOKEN", "hps_env\n", 1);
  auto env = ReadClientToken("");
  unsetenv("HPSWEEP_TOKEN");
  ASSERT_TRUE(env.ok());
  EXPECT_EQ(*env, "hps_env");

  const std::string binary = Path("b.token");
  std::ofstream(binary) << "hps_\x01secret\n";
  chmod(binary.c_str(), 0600);
  auto b = ReadClientToken(binary);
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().message().find("secret"), std::string::npos);
  EXPECT_FALSE(ReadClientToken(Path("missing.token")).ok());
}

}  // namespace
}  // namespace hpsweep::tokens_test
