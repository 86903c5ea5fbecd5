#include "base/file_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <utility>

#include "base/csprng.h"
#include "base/sha256.h"

namespace hpsweep {

StatusOr<int> OpenForReading(const std::string& path, const std::string& what, bool regular_only) {
  // regular_only: O_NONBLOCK, so that opening a FIFO planted there returns at once (refused
  // below) instead of waiting for a writer.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | (regular_only ? O_NONBLOCK : 0));
  if (fd < 0) return NotFound(path + ": cannot open " + what + ": " + std::strerror(errno));
  struct stat st;
  if (regular_only && (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))) {
    ::close(fd);
    return InvalidArgument(path + ": " + what + " is not a regular file");
  }
  return fd;
}

StatusOr<std::string> ReadFileBounded(const std::string& path, size_t max_bytes,
                                      const std::string& what, bool regular_only) {
  StatusOr<int> opened = OpenForReading(path, what, regular_only);
  if (!opened.ok()) return opened.status();
  const int fd = *opened;
  // In chunks: memory grows with what the file holds, not with the limit.
  std::string text;
  char buf[1 << 16];
  while (text.size() <= max_bytes) {
    const size_t want = std::min(sizeof(buf), max_bytes + 1 - text.size());
    const ssize_t n = ::read(fd, buf, want);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const std::string why = std::strerror(errno);
      ::close(fd);
      return IoError(path + ": cannot read " + what + ": " + why);
    }
    if (n == 0) break;  // the end of the file
    text.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  if (text.size() > max_bytes) {
    return InvalidArgument(path + ": " + what + " is over the limit of " +
                           std::to_string(max_bytes) + " bytes");
  }
  return text;
}

Status WriteFileSynced(const std::string& path, const std::string& bytes, unsigned mode) {
  ::unlink(path.c_str());  // a leftover (or a planted link) is replaced, never written through
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd < 0) return IoError(path + ": cannot create: " + std::strerror(errno));
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const std::string why = std::strerror(errno);
      ::close(fd);
      ::unlink(path.c_str());
      return IoError(path + ": write failed: " + why);
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    const std::string why = std::strerror(errno);
    ::unlink(path.c_str());
    return IoError(path + ": fsync failed: " + why);
  }
  return Status::Ok();
}

Status WriteFileDurable(const std::string& path, const std::string& bytes, unsigned mode) {
  StatusOr<std::string> suffix = RandomHex(8);
  if (!suffix.ok()) return suffix.status();
  const std::string tmp = path + ".tmp-" + *suffix;
  HPSWEEP_RETURN_IF_ERROR(WriteFileSynced(tmp, bytes, mode));
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    ::unlink(tmp.c_str());
    return IoError(path + ": rename failed: " + why);
  }
  SyncFolderOf(path);  // the rename itself on disk
  return Status::Ok();
}

void SyncFolderOf(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash + 1);
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

Status EnsurePrivateFolder(const std::string& path, const std::string& what) {
  if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) {
    return IoError(path + ": cannot create " + what + ": " + std::strerror(errno));
  }
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return IoError(path + ": " + std::strerror(errno));
  if (!S_ISDIR(st.st_mode)) {
    return FailedPrecondition(path + ": not a folder (a link or a file); " + what +
                              " needs a folder");
  }
  if (st.st_uid != ::geteuid() || (st.st_mode & 022) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof(mode), "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return FailedPrecondition(path + ": others can write to this folder (mode " + mode +
                              (st.st_uid != ::geteuid() ? ", another user's" : "") + "); " +
                              what + " needs a folder only you can write (a new one is made so)");
  }
  return Status::Ok();
}

StatusOr<ReadOnlyFile> ReadOnlyFile::Open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ELOOP) return InvalidArgument(path + ": is a link (not followed)");
    return NotFound(path + ": cannot open: " + std::strerror(errno));
  }
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return InvalidArgument(path + ": not a regular file");
  }
  return ReadOnlyFile(fd, path, static_cast<int64_t>(st.st_size));
}

ReadOnlyFile::ReadOnlyFile(ReadOnlyFile&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), path_(std::move(other.path_)), size_(other.size_) {}

ReadOnlyFile& ReadOnlyFile::operator=(ReadOnlyFile&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    path_ = std::move(other.path_);
    size_ = other.size_;
  }
  return *this;
}

ReadOnlyFile::~ReadOnlyFile() {
  if (fd_ >= 0) ::close(fd_);
}

std::string ReadOnlyFile::RealPath() const {
  char buf[4096];
  const std::string link = "/proc/self/fd/" + std::to_string(fd_);
  const ssize_t n = ::readlink(link.c_str(), buf, sizeof buf - 1);
  if (n <= 0) return std::string();
  return std::string(buf, static_cast<size_t>(n));
}

StatusOr<size_t> ReadOnlyFile::ReadAt(int64_t offset, char* buf, size_t n) const {
  for (;;) {
    const ssize_t got = ::pread(fd_, buf, n, static_cast<off_t>(offset));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return IoError(path_ + ": cannot read: " + std::strerror(errno));
    return static_cast<size_t>(got);
  }
}

StatusOr<std::string> ReadOnlyFile::Sha256() const { return Sha256Fd(fd_, path_); }

}  // namespace hpsweep
