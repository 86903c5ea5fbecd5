#include "base/file_io.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

#include "base/csprng.h"

namespace hpsweep {

StatusOr<std::string> ReadFileBounded(const std::string& path, size_t max_bytes,
                                      const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound(path + ": cannot open " + what + ": " + std::strerror(errno));
  // In chunks: memory grows with what the file holds, not with the limit.
  std::string text;
  char buf[1 << 16];
  while (text.size() <= max_bytes) {
    const size_t want = std::min(sizeof(buf), max_bytes + 1 - text.size());
    in.read(buf, static_cast<std::streamsize>(want));
    if (in.bad()) return IoError(path + ": cannot read " + what);
    text.append(buf, static_cast<size_t>(in.gcount()));
    if (static_cast<size_t>(in.gcount()) < want) break;  // the end of the file
  }
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
  const size_t slash = path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash + 1);
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);  // (the rename itself on disk; best effort where a folder cannot be synced)
    ::close(dfd);
  }
  return Status::Ok();
}

}  // namespace hpsweep
