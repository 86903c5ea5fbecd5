// Status and StatusOr<T>: errors as values.
//
// A Status is either OK or carries a code and a message that names the problem (file, line, key).
// Functions that can fail for reasons outside the program (I/O, parsing, bad input, RPC) return a
// Status or a StatusOr<T>; only main() turns one into an exit code, and only the RPC service layer
// turns one into a grpc::Status. assert() is kept for programmer bugs.
//
// Thread-safety: values; a const Status may be read from any thread.
#ifndef HPSWEEP_BASE_STATUS_H_
#define HPSWEEP_BASE_STATUS_H_

#include <cassert>
#include <optional>
#include <string>
#include <utility>

namespace hpsweep {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,  // bad input: a malformed file, a value out of range (exit code 2)
  kNotFound,         // a file, sweep or trial that does not exist (exit code 2)
  kAlreadyExists,
  kFailedPrecondition,
  kDataLoss,     // a truncated or corrupt file, a checksum mismatch
  kIoError,      // the OS refused a read or write
  kUnavailable,  // a peer that cannot be reached (retry may help)
  kCancelled,
  kInternal,
  kPermissionDenied,  // the caller may not do this (another token's worker)
};

class Status {
 public:
  Status() = default;  // OK
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "invalid argument: <message>", or "OK".
  std::string ToString() const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status InvalidArgument(std::string m) {
  return {StatusCode::kInvalidArgument, std::move(m)};
}
inline Status NotFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
inline Status DataLoss(std::string m) { return {StatusCode::kDataLoss, std::move(m)}; }
inline Status IoError(std::string m) { return {StatusCode::kIoError, std::move(m)}; }
inline Status FailedPrecondition(std::string m) {
  return {StatusCode::kFailedPrecondition, std::move(m)};
}
inline Status Unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
inline Status Internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }
inline Status PermissionDenied(std::string m) {
  return {StatusCode::kPermissionDenied, std::move(m)};
}

const char* StatusCodeName(StatusCode code);

// Either a T or a non-OK Status. REQUIRES: value() only when ok().
template <typename T>
class StatusOr {
 public:
  StatusOr(Status status) : status_(std::move(status)) { assert(!status_.ok()); }  // NOLINT
  StatusOr(T value) : value_(std::move(value)) {}                                  // NOLINT

  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }
  T& value() & {
    assert(ok());
    return *value_;
  }
  const T& value() const& {
    assert(ok());
    return *value_;
  }
  // On a temporary (`F().value()`, `*F()`) the value is moved out and returned by value, never
  // as a reference into the temporary: `for (auto& x : *F())` then iterates a live object.
  T value() && {
    assert(ok());
    return std::move(*value_);
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T operator*() && { return std::move(*this).value(); }
  const T& operator*() const&& = delete;  // a const temporary cannot give its value away
  const T& value() const&& = delete;

 private:
  Status status_;
  std::optional<T> value_;
};

}  // namespace hpsweep

// Returns early from the enclosing function if `expr` (a Status) is not OK.
#define HPSWEEP_RETURN_IF_ERROR(expr) \
  do {                                \
    ::hpsweep::Status _st = (expr);   \
    if (!_st.ok()) return _st;        \
  } while (0)

#endif  // HPSWEEP_BASE_STATUS_H_
