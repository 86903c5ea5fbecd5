// What `hpsweep run --launcher slurm` prepares before it submits workers: where the coordinator
// is advertised, and a private folder of credentials made for this run alone.
//
// Thread-safety: functions; PrepareSlurmRunFolder writes files and runs openssl.
#ifndef HPSWEEP_LAUNCH_SLURM_RUN_H_
#define HPSWEEP_LAUNCH_SLURM_RUN_H_

#include <string>

#include "auth/credentials.h"
#include "base/status.h"

namespace hpsweep {

// --advertise HOST[:PORT], or "" for this host's name. port is left as is when none is given
// (the caller then uses the bound one). Brackets of an IPv6 address are removed from host.
Status ParseAdvertise(const std::string& advertise, std::string* host, int* port);

struct SlurmRunFiles {
  ServerSecurity server;   // the coordinator's TLS certificate, key and tokens file
  ClientSecurity workers;  // what the workers get: the CA and the token FILE
};

// Makes dir (mode 0700, refused if it is not a folder of this user) afresh: TLS certificates
// valid for host (auth/certs.h; the CA's key is deleted once they are signed: nothing more is
// ever signed with it), a tokens file with one worker token, and that token alone in
// dir/worker.token (0600). The previous run's credentials there are removed first: a worker
// still holding them is refused. dir must be on a filesystem the compute nodes see.
StatusOr<SlurmRunFiles> PrepareSlurmRunFolder(const std::string& dir, const std::string& host);

}  // namespace hpsweep

#endif  // HPSWEEP_LAUNCH_SLURM_RUN_H_
