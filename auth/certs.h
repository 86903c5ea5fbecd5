// `hpsweep certs`: a private certificate authority and the certificates a coordinator and its
// clients need for TLS, made with Debian's openssl command in one step.
//
// Writes into out_dir (created 0700 if missing; existing files are never overwritten):
//   ca.crt                   the CA certificate: every client's --tls-ca
//   ca.key                   the CA's key (0600): keep it safe, or delete it once done
//   server.crt, server.key   the coordinator's --tls-cert and --tls-key, valid for every name in
//                            hosts plus localhost and 127.0.0.1
//   client.crt, client.key   a client certificate for mutual TLS (--tls-client-ca ca.crt on the
//                            coordinator, --tls-cert/--tls-key on clients)
// Keys are ECDSA P-256. openssl runs with an argument vector (no shell); keys never pass through
// a command line.
//
// Thread-safety: a function; runs child processes.
#ifndef HPSWEEP_AUTH_CERTS_H_
#define HPSWEEP_AUTH_CERTS_H_

#include <string>
#include <vector>

#include "base/status.h"

namespace hpsweep {

// hosts: DNS names or IP addresses the coordinator is reached by (at least one). days: validity.
Status MakeCertificates(const std::string& out_dir, const std::vector<std::string>& hosts,
                        int days = 825);

}  // namespace hpsweep

#endif  // HPSWEEP_AUTH_CERTS_H_
