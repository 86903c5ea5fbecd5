// Caps on the connections the coordinator's gRPC server accepts, enforced where it accepts them.
//
// gRPC 1.51 has no such cap (GRPC_ARG_MAX_ALLOWED_INCOMING_CONNECTIONS came in a later release),
// and its accept loop stops for good on the first accept4 error other than EAGAIN, EINTR or
// ECONNABORTED (grpc/grpc#20418): one burst of connections past the open-files limit (EMFILE)
// and no client connects again, even after they all closed. So this file defines accept4(2) for
// the whole process, ahead of libc's (every binary that links it exports the symbol:
// coordinator/CMakeLists.txt), and on a listening socket given to CapConnectionsOn:
//  - a connection that got descriptor caps.max_descriptor or above is closed at once. Descriptors
//    are handed out lowest first, so then every lower one is open: connections (and whatever else
//    the process holds) use up to max_descriptor, and the rest of the open-files limit stays free
//    for the database, checkpoints, data sets and logs;
//  - a connection from an address that holds caps.per_address connections already is closed at
//    once (IPv4 and IPv6 addresses; other sockets have no such cap);
//  - at EMFILE or ENFILE (descriptors used up anyway, say by the dashboard's connections), a spare
//    descriptor is let go, the pending connection accepted and closed, and the spare taken back;
// and then the next pending connection is tried, so that gRPC only ever sees a connection or
// EAGAIN and keeps accepting. A refused client sees its connection closed and retries with its
// backoff. Refusals are logged on stderr: for each of the three reasons, the first at once, then
// at most one line each 10 s.
// Every other accept4 call goes straight to the kernel.
//
// Works with TLS: the cap acts on TCP connections, before any handshake.
//
// Thread-safety: thread-safe. The caps are the process's: the last CapConnectionsOn sets them for
// every listener.
#ifndef HPSWEEP_COORDINATOR_CONNECTION_CAP_H_
#define HPSWEEP_COORDINATOR_CONNECTION_CAP_H_

#include <sys/resource.h>

#include "base/status.h"

namespace hpsweep {

struct ConnectionCaps {
  int max_descriptor = 0;  // accepted connections get descriptors below this one
  int per_address = 0;     // connections one peer address may hold; 0: no cap
};

// The caps for an open-files limit: a quarter of it (at least 64 descriptors) kept for all but
// connections, and half of the rest for one address (on loopback every local client shares it).
ConnectionCaps ConnectionCapsFor(rlim_t open_files_limit);

// Starts capping the connections accepted on every listening TCP socket of this process bound to
// `port`. FailedPrecondition if accept4 calls do not reach this file's (a binary linked without
// exporting it), NotFound if no such socket listens.
Status CapConnectionsOn(int port, const ConnectionCaps& caps);

// Stops capping connections on `port` (before its server shuts down: a descriptor number is
// reused).
void UncapConnectionsOn(int port);

// Raises this process's soft open-files limit to the hard one (at the soft limit gRPC 1.51's
// accept loop stops for good); says so once on stderr.
void RaiseOpenFilesLimit();
// CapConnectionsOn(port, ConnectionCapsFor(the open-files limit)); says on stderr if it cannot.
void CapConnectionsBelowLimit(int port);

}  // namespace hpsweep

#endif  // HPSWEEP_COORDINATOR_CONNECTION_CAP_H_
