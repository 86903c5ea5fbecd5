// base/file_io.h and Sha256File: bounded reads, durable writes that never go through a link,
// private folders, and FIFOs refused without blocking.
#include "base/file_io.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "base/sha256.h"

namespace hpsweep::file_io_test {
namespace {

class FileIoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/hpsweep_file_io_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string Slurp(const std::string& path) {
    std::ifstream in(path);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }
  std::string dir_;
};

// A FIFO's reader would wait for a writer; this thread is the writer of last resort, so that a
// regression fails the test instead of hanging it.
class Unblocker {
 public:
  explicit Unblocker(std::string fifo)
      : thread_([this, fifo] {
          for (int i = 0; i < 50 && !done_.load(); ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
          }
          if (done_.load()) return;
          needed_ = true;
          const int fd = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK);
          if (fd >= 0) ::close(fd);
        }) {}
  ~Unblocker() {
    done_ = true;
    thread_.join();
  }
  bool needed() const { return needed_.load(); }

 private:
  std::atomic<bool> done_{false}, needed_{false};
  std::thread thread_;
};

TEST_F(FileIoTest, ReadsWholeFilesUpToTheLimit) {
  const std::string path = dir_ + "/a.txt";
  std::ofstream(path) << std::string(200000, 'x');
  StatusOr<std::string> all = ReadFileBounded(path, 200000, "test file");
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  EXPECT_EQ(all->size(), 200000u);
  StatusOr<std::string> over = ReadFileBounded(path, 199999, "test file");
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(over.status().message(),
            path + ": test file is over the limit of 199999 bytes");
  // An endless file ends at the limit.
  StatusOr<std::string> zero = ReadFileBounded("/dev/zero", 1000, "token file");
  ASSERT_FALSE(zero.ok());
  EXPECT_NE(zero.status().message().find("over the limit of 1000 bytes"), std::string::npos);
  StatusOr<std::string> none = ReadFileBounded(dir_ + "/none", 10, "token file");
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), StatusCode::kNotFound);
  EXPECT_NE(none.status().message().find("cannot open token file: No such file"),
            std::string::npos)
      << none.status().message();
}

TEST_F(FileIoTest, FifosAreRefusedWithoutWaitingForAWriter) {
  const std::string fifo = dir_ + "/train-images-idx3-ubyte";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  {
    Unblocker unblocker(fifo);
    StatusOr<std::string> read = ReadFileBounded(fifo, 1000, "data file", /*regular_only=*/true);
    ASSERT_FALSE(read.ok());
    EXPECT_NE(read.status().message().find("data file is not a regular file"), std::string::npos)
        << read.status().message();
    EXPECT_FALSE(unblocker.needed());
  }
  {
    // Opened to be read in pieces (a CSV data set): the same refusal, the same open.
    Unblocker unblocker(fifo);
    StatusOr<int> fd = OpenForReading(fifo, "data file", /*regular_only=*/true);
    ASSERT_FALSE(fd.ok());
    EXPECT_EQ(fd.status().message(), fifo + ": data file is not a regular file");
    EXPECT_FALSE(unblocker.needed());
  }
  {
    Unblocker unblocker(fifo);
    StatusOr<std::string> sha = Sha256File(fifo);
    ASSERT_FALSE(sha.ok());
    EXPECT_NE(sha.status().message().find("not a regular file"), std::string::npos)
        << sha.status().message();
    EXPECT_FALSE(unblocker.needed());
  }
}

TEST_F(FileIoTest, DurableWritesReplaceALinkInsteadOfWritingThroughIt) {
  const std::string victim = dir_ + "/victim.txt", path = dir_ + "/model.bin";
  std::ofstream(victim) << "precious";
  ASSERT_EQ(symlink(victim.c_str(), path.c_str()), 0);
  ASSERT_TRUE(WriteFileDurable(path, "new bytes", 0600).ok());
  EXPECT_EQ(Slurp(victim), "precious");
  EXPECT_EQ(Slurp(path), "new bytes");
  struct stat st;
  ASSERT_EQ(lstat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // WriteFileSynced on a planted link: the link goes, the target stays.
  const std::string tmp = dir_ + "/trial-1.ckpt.tmp";
  ASSERT_EQ(symlink(victim.c_str(), tmp.c_str()), 0);
  ASSERT_TRUE(WriteFileSynced(tmp, "ckpt").ok());
  EXPECT_EQ(Slurp(victim), "precious");
  EXPECT_EQ(Slurp(tmp), "ckpt");
  // No temporary file is left beside it.
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir_)) files += e.is_regular_file();
  EXPECT_EQ(files, 3);  // victim, model.bin, trial-1.ckpt.tmp
}

TEST_F(FileIoTest, PrivateFolderIsMadeOrRefusedWhenOthersCanWrite) {
  const std::string fresh = dir_ + "/fresh";
  ASSERT_TRUE(EnsurePrivateFolder(fresh, "the checkpoint folder").ok());
  struct stat st;
  ASSERT_EQ(stat(fresh.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 077, 0u);
  ASSERT_TRUE(EnsurePrivateFolder(fresh, "the checkpoint folder").ok());  // again: fine

  const std::string shared = dir_ + "/shared";
  ASSERT_EQ(mkdir(shared.c_str(), 0700), 0);
  ASSERT_EQ(chmod(shared.c_str(), 0777), 0);
  Status s = EnsurePrivateFolder(shared, "--out");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("others can write to this folder (mode 0777)"), std::string::npos)
      << s.message();

  const std::string link = dir_ + "/link";
  ASSERT_EQ(symlink(fresh.c_str(), link.c_str()), 0);
  s = EnsurePrivateFolder(link, "the checkpoint folder");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("not a folder (a link or a file)"), std::string::npos)
      << s.message();
}

}  // namespace
}  // namespace hpsweep::file_io_test
