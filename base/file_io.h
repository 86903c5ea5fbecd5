// Reading and writing whole files, bounded and durable: the one place the project reads a file
// whose size it does not control (sweep files, tokens, PEM files, data sets, checkpoints), and the
// one way it replaces a file so that a crash leaves the old one or the new one, never half.
//
// Thread-safety: free functions; safe to call from any thread on different paths.
#ifndef HPSWEEP_BASE_FILE_IO_H_
#define HPSWEEP_BASE_FILE_IO_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

#include "base/status.h"

namespace hpsweep {

// The whole of path, at most max_bytes. Reads at most max_bytes + 1 bytes whatever the file
// claims, so /dev/zero or a growing file ends too. Errors name the path and `what` ("tokens
// file"): NotFound "PATH: cannot open WHAT: <errno text>"; InvalidArgument "PATH: WHAT is over
// the limit of N bytes"; IoError when a read fails.
// regular_only: anything but a regular file (a FIFO, a device, a socket) is InvalidArgument,
// found without blocking; otherwise a pipe (`--token-file <(...)`) reads as well.
StatusOr<std::string> ReadFileBounded(const std::string& path, size_t max_bytes,
                                      const std::string& what, bool regular_only = false);

// path opened for reading as ReadFileBounded opens it (O_CLOEXEC; regular_only: O_NONBLOCK, and
// anything but a regular file is InvalidArgument "PATH: WHAT is not a regular file", found
// without blocking). NotFound "PATH: cannot open WHAT: <errno text>". The caller owns the
// descriptor and closes it; for reading a file in pieces rather than whole.
StatusOr<int> OpenForReading(const std::string& path, const std::string& what,
                             bool regular_only = false);

// Writes bytes to a new file at path (mode `mode`; whatever was at path, a link included, is
// removed first, never written through) and fsyncs it: the file is whole on disk when this
// returns. IoError naming the path ("cannot create", "write failed", "fsync failed"); the file is
// removed then.
Status WriteFileSynced(const std::string& path, const std::string& bytes, unsigned mode = 0600);

// Writes bytes to path durably: WriteFileSynced to a temporary file beside it, renamed over path,
// and the folder fsynced. A crash leaves the old file or the new one. IoError naming the path on
// any failure (the temporary file is removed).
Status WriteFileDurable(const std::string& path, const std::string& bytes, unsigned mode = 0600);

// fsyncs the folder that holds path, so that a rename or link into it survives a power loss.
// Best effort: a folder that cannot be opened or synced is left as it is.
void SyncFolderOf(const std::string& path);

// A folder only this user can write, for files whose names others must not be able to plant
// links at (keys, checkpoints): made (mode 0700) if missing; FailedPrecondition naming the path
// if it is a link or not a folder, another user's, or writable by group or others ("what" names
// it in the message: "--out", "the checkpoint folder").
Status EnsurePrivateFolder(const std::string& path, const std::string& what);

// A regular file opened for reading once, so that what is checked, hashed and sent is one file
// whatever is done to its path meanwhile (a link swapped in after a check). Opened with
// O_NOFOLLOW (a link at the path is refused) and O_NONBLOCK (a FIFO or device is refused without
// blocking). RealPath() is where the descriptor's file is: the folders above it are checked
// after the open. Owns the descriptor (closed by the destructor); movable, not copyable; one
// thread at a time.
class ReadOnlyFile {
 public:
  // InvalidArgument naming the path for a link, a FIFO, a device or a folder; NotFound when it
  // cannot be opened.
  static StatusOr<ReadOnlyFile> Open(const std::string& path);
  ReadOnlyFile(ReadOnlyFile&& other) noexcept;
  ReadOnlyFile& operator=(ReadOnlyFile&& other) noexcept;
  ReadOnlyFile(const ReadOnlyFile&) = delete;
  ReadOnlyFile& operator=(const ReadOnlyFile&) = delete;
  ~ReadOnlyFile();

  const std::string& path() const { return path_; }  // as given
  int64_t size() const { return size_; }               // at the open
  std::string RealPath() const;                       // "" if the system cannot say
  // Up to n bytes at offset into buf; how many (0 at the end). IoError naming the path.
  StatusOr<size_t> ReadAt(int64_t offset, char* buf, size_t n) const;
  // The lowercase hex SHA-256 of the whole file, read through this descriptor.
  StatusOr<std::string> Sha256() const;

 private:
  ReadOnlyFile(int fd, std::string path, int64_t size)
      : fd_(fd), path_(std::move(path)), size_(size) {}
  int fd_ = -1;
  std::string path_;
  int64_t size_ = 0;
};

}  // namespace hpsweep

#endif  // HPSWEEP_BASE_FILE_IO_H_
