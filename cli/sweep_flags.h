// What the sweep subcommands (cli/sweep_commands.h) take in: one Flags for all of them (CLI11
// writes each subcommand's options into it; a command reads the fields it registered), the limits
// and event log those flags ask for, and a sweep file loaded and checked before anything is stored
// or sent.
//
// Ownership: plain values; OpenEventLog's log belongs to the caller. Thread-safety: functions
// only; a Flags is filled by the parser, then only read.
#ifndef HPSWEEP_CLI_SWEEP_FLAGS_H_
#define HPSWEEP_CLI_SWEEP_FLAGS_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "auth/credentials.h"
#include "coordinator/events.h"
#include "search/sweep_file.h"
#include "base/status.h"

namespace hpsweep {

// Every sweep subcommand's flags, with their defaults; the parser writes the chosen subcommand's.
struct Flags {
  std::string file, coordinator = "127.0.0.1:50051", listen = "127.0.0.1:50051", db, data_dir,
                    format = "table", name, log, log_format = "text";
  std::string http;  // --http: the dashboard's host:port (http/dashboard.h)
  std::vector<std::string> data_roots;  // --data-root: folders a sweep's own data may come from
  int request_memory_mb = 512;  // coordinator --request-memory: the gRPC server's memory budget
  int workers = 2, threads = 1, top = 0, max_trials = 0;
  int64_t sweep = 0;
  std::vector<int64_t> sweeps;  // report: one sweep, or several to compare
  int64_t train_limit = 0;      // data-report
  // data-report: a user's own data set, as `train` takes it (engine/dataset.h).
  std::string data_format = "mnist", data_path, train_file, test_file;
  int sequence_length = 0;  // 0: not given (1 for csv)
  int64_t max_model_params = SweepLimits().max_params;
  int64_t max_training_memory_mb = SweepLimits().max_training_bytes >> 20;
  double lease_seconds = 30;
  // coordinator, run --quarantine-after: failures in a row that quarantine a worker (0: off).
  int quarantine_after = kDefaultQuarantineAfter;
  std::string release;  // workers --release NAME: lift that worker's quarantine
  std::string target;   // extend SWEEP: an id or a name
  int more = 0;         // extend --more K
  double validation_split = 0.2;
  std::string output;
  bool exit_when_idle = false, quiet = false, sync_full = false, no_wait = false, watch = false;
  bool reuse = false;     // run, submit: copy finished identical trials' results
  ServerSecurity server;  // coordinator: TLS and tokens
  // run --launcher slurm, slurm-script
  std::string launcher = "local", run_listen, advertise, partition, time, script_coordinator;
  int cpus_per_worker = 0;  // 0: --threads
  std::vector<std::string> sbatch_args;
  std::string mem, worker_binary;  // --mem per worker; the binary the nodes run (default: this one)
  std::vector<std::string> setup;  // --setup: shell lines before the worker starts
  double wait_for_workers = 300;
  ClientSecurity client;  // every command that talks to a coordinator
  // worker, run, slurm-script: --program NAME=PATH, the programs a worker offers
  // (docs/programs.md), and how long a program told to stop has before SIGTERM.
  std::vector<std::string> programs;
  double program_grace = 10;
};

// The --program NAME=PATH flags as name -> absolute path: each NAME a program name
// ([A-Za-z0-9._-], 1 to 64 characters, once), each PATH an executable regular file.
// InvalidArgument naming the flag and the problem.
StatusOr<std::map<std::string, std::string>> ParseProgramFlags(
    const std::vector<std::string>& flags);

// --max-model-params and --max-training-memory-mb as the limits a sweep is expanded under.
SweepLimits Limits(const Flags& f);

// The coordinator's event log (coordinator/events.h): stderr when path is "".
StatusOr<std::unique_ptr<EventLog>> OpenEventLog(const Flags& f, const std::string& path);

// A sweep file read, parsed and expanded: every check done before anything is stored or sent.
struct SweepFile {
  std::string yaml;
  SweepSpec spec;
  std::vector<TrialSpec> trials;
};

StatusOr<SweepFile> LoadSweepFile(const std::string& path, const SweepLimits& limits);

}  // namespace hpsweep

#endif  // HPSWEEP_CLI_SWEEP_FLAGS_H_
