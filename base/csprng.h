// Unguessable identifiers: random bytes from the kernel's CSPRNG (getrandom(2)), as hex. Used for
// lease ids (whoever holds one may complete a trial) and bearer tokens.
//
// Thread-safety: functions only.
#ifndef HPSWEEP_BASE_CSPRNG_H_
#define HPSWEEP_BASE_CSPRNG_H_

#include <cstddef>
#include <string>

#include "base/status.h"

namespace hpsweep {

// `bytes` random bytes as 2 * bytes lowercase hex digits. Internal if the kernel refuses.
StatusOr<std::string> RandomHex(size_t bytes);

}  // namespace hpsweep

#endif  // HPSWEEP_BASE_CSPRNG_H_
