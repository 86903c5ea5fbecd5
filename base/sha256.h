// SHA-256 of a byte string or a file, as lowercase hex. Used to check data sets that travel from
// the coordinator to workers, and by tests.
//
// Thread-safety: functions only.
#ifndef HPSWEEP_BASE_SHA256_H_
#define HPSWEEP_BASE_SHA256_H_

#include <string>

#include "base/status.h"

namespace hpsweep {

std::string Sha256Hex(const std::string& bytes);
StatusOr<std::string> Sha256File(const std::string& path);
// The whole of an open file (read with pread from offset 0; the descriptor's offset is left
// alone). name is for messages.
StatusOr<std::string> Sha256Fd(int fd, const std::string& name);

}  // namespace hpsweep

#endif  // HPSWEEP_BASE_SHA256_H_
