// UniqueFd: one open file descriptor, closed when its owner goes; and Errno(), the text of the
// last failed system call. For the worker's process and folder code (program_runner.cc,
// folder_pack.cc).
//
// Ownership: owns the descriptor (-1: none). Thread-safety: one owner at a time.
#ifndef HPSWEEP_WORKER_UNIQUE_FD_H_
#define HPSWEEP_WORKER_UNIQUE_FD_H_

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

namespace hpsweep {

// strerror(errno): what the last failed system call says.
inline std::string Errno() { return std::strerror(errno); }

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) Reset(std::exchange(o.fd_, -1));
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { Reset(); }

  int get() const { return fd_; }
  bool ok() const { return fd_ >= 0; }
  // Closes the descriptor held, if any, and holds fd instead.
  void Reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

}  // namespace hpsweep

#endif  // HPSWEEP_WORKER_UNIQUE_FD_H_
