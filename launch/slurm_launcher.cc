#include "launch/slurm_launcher.h"

#include <fcntl.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstring>
#include <map>
#include <sstream>
#include <thread>

#include "launch/command.h"

namespace hpsweep {
namespace {

bool HasControl(const std::string& s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) return true;
  }
  return false;
}

bool OnlyChars(const std::string& s, const char* extra) {
  for (unsigned char c : s) {
    if (!isalnum(c) && !std::strchr(extra, c)) return false;
  }
  return true;
}

// A value for the script: no control characters, bounded.
Status CheckValue(const std::string& what, const std::string& v) {
  if (v.size() > kMaxSlurmValueBytes) {
    return InvalidArgument(what + ": longer than " + std::to_string(kMaxSlurmValueBytes) +
                           " bytes");
  }
  if (HasControl(v)) return InvalidArgument(what + ": contains a control character");
  return Status::Ok();
}

}  // namespace

std::string ShellQuote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

namespace {

// Slurm's --mem: megabytes, or a number with a unit K, M, G or T (12 characters at most).
bool IsSlurmMemory(const std::string& m) {
  if (m.empty() || m.size() > 12) return false;
  const size_t unit = m.find_first_not_of("0123456789");
  if (unit == 0) return false;
  if (unit == std::string::npos) return true;
  return unit == m.size() - 1 && std::string("KMGTkmgt").find(m.back()) != std::string::npos;
}

std::string Trim(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\r\n") - b + 1);
}

bool ParseIndex(const std::string& s, int* out) {
  if (s.empty() || s.size() > 9 || !OnlyChars(s, "") ||
      s.find_first_not_of("0123456789") != std::string::npos) {
    return false;
  }
  *out = std::stoi(s);
  return true;
}

// "3" or "[0-3,5]" or "[0-9%2]" -> the task indexes (at most kMaxSlurmWorkers).
bool ParseTasks(const std::string& s, std::vector<int>* out) {
  int one;
  if (ParseIndex(s, &one)) {
    out->push_back(one);
    return true;
  }
  if (s.size() < 3 || s.front() != '[' || s.back() != ']') return false;
  std::string body = s.substr(1, s.size() - 2);
  body = body.substr(0, body.find('%'));  // "%2": a limit on tasks running at once
  std::stringstream ss(body);
  std::string part;
  while (std::getline(ss, part, ',')) {
    const size_t dash = part.find('-');
    int a, b;
    if (dash == std::string::npos) {
      if (!ParseIndex(part, &a)) return false;
      b = a;
    } else if (!ParseIndex(part.substr(0, dash), &a) || !ParseIndex(part.substr(dash + 1), &b) ||
               b < a) {
      return false;
    }
    if (b - a >= kMaxSlurmWorkers || out->size() + (b - a + 1) > kMaxSlurmWorkers) return false;
    for (int i = a; i <= b; ++i) out->push_back(i);
  }
  return !out->empty();
}

bool MapState(const std::string& s, WorkerState* out) {
  static const std::map<std::string, WorkerState> kStates = {
      {"PENDING", WorkerState::kPending},     {"CONFIGURING", WorkerState::kPending},
      {"REQUEUED", WorkerState::kPending},    {"REQUEUE_HOLD", WorkerState::kPending},
      {"REQUEUE_FED", WorkerState::kPending}, {"RESV_DEL_HOLD", WorkerState::kPending},
      {"RUNNING", WorkerState::kRunning},     {"COMPLETING", WorkerState::kRunning},
      {"SUSPENDED", WorkerState::kRunning},   {"STOPPED", WorkerState::kRunning},
      {"SIGNALING", WorkerState::kRunning},   {"STAGE_OUT", WorkerState::kRunning},
      {"RESIZING", WorkerState::kRunning},    {"COMPLETED", WorkerState::kExited},
      {"CANCELLED", WorkerState::kFailed},    {"FAILED", WorkerState::kFailed},
      {"TIMEOUT", WorkerState::kFailed},      {"NODE_FAIL", WorkerState::kFailed},
      {"PREEMPTED", WorkerState::kFailed},    {"BOOT_FAIL", WorkerState::kFailed},
      {"DEADLINE", WorkerState::kFailed},     {"OUT_OF_MEMORY", WorkerState::kFailed},
      {"SPECIAL_EXIT", WorkerState::kFailed}, {"REVOKED", WorkerState::kFailed},
  };
  // "CANCELLED by 0": the state is the first word.
  auto it = kStates.find(s.substr(0, s.find(' ')));
  if (it == kStates.end()) return false;
  *out = it->second;
  return true;
}

std::string FirstLine(const std::string& s) {
  const std::string t = Trim(s);
  return t.substr(0, std::min(t.find('\n'), static_cast<size_t>(300)));
}

// A command's error output in brief: its last three lines (Slurm's commands end with the
// conclusion: "fatal: Could not establish a configuration source"), bounded.
std::string Brief(const std::string& s) {
  std::vector<std::string> lines;
  std::stringstream in(Trim(s));
  std::string line;
  while (std::getline(in, line)) {
    if (!Trim(line).empty()) lines.push_back(Trim(line));
  }
  std::string out;
  for (size_t i = lines.size() > 3 ? lines.size() - 3 : 0; i < lines.size(); ++i) {
    out += (out.empty() ? "" : " / ") + lines[i].substr(0, 300);
  }
  return out.empty() ? "(no message)" : out;
}

}  // namespace

StatusOr<std::string> SlurmScript(int n, const LaunchSpec& spec, const SlurmOptions& o) {
  if (n < 1 || n > kMaxSlurmWorkers) {
    return InvalidArgument("--workers: expected 1 to " + std::to_string(kMaxSlurmWorkers) +
                           ", got " + std::to_string(n));
  }
  if (o.cpus_per_worker < 1 || o.cpus_per_worker > 1024) {
    return InvalidArgument("--cpus-per-worker: expected 1 to 1024, got " +
                           std::to_string(o.cpus_per_worker));
  }
  const std::pair<const char*, const std::string*> values[] = {
      {"the hpsweep binary", &spec.exe},   {"--coordinator", &spec.coordinator},
      {"--tls-ca", &spec.security.tls_ca}, {"--token-file", &spec.security.token_file},
      {"--data-dir", &spec.data_dir},      {"the log folder", &spec.log},
      {"--partition", &o.partition},       {"--time", &o.time},
      {"--mem", &o.mem},
  };
  for (const auto& [what, v] : values) HPSWEEP_RETURN_IF_ERROR(CheckValue(what, *v));
  for (const std::string& a : spec.extra_args) {
    HPSWEEP_RETURN_IF_ERROR(CheckValue("a worker argument", a));
  }
  if (spec.exe.empty() || spec.coordinator.empty()) {
    return InvalidArgument("the hpsweep binary and --coordinator are needed");
  }
  if (spec.security.tls_ca.empty() || spec.security.token_file.empty()) {
    return InvalidArgument(
        "--tls-ca and --token-file are needed: workers reach the coordinator over the network, "
        "where it takes TLS and tokens only (README, Security)");
  }
  // #SBATCH values cannot be quoted: they must be single words.
  if (spec.log.find_first_of(" \t") != std::string::npos) {
    return InvalidArgument("the log folder '" + spec.log +
                           "' has a space: Slurm's #SBATCH --output cannot hold one");
  }
  if (!o.partition.empty() && !OnlyChars(o.partition, "_.,-")) {
    return InvalidArgument("--partition '" + o.partition +
                           "': expected letters, digits and _ . , - only");
  }
  if (!o.time.empty() && o.time != "UNLIMITED" && o.time != "INFINITE" &&
      o.time.find_first_not_of("0123456789:-") != std::string::npos) {
    return InvalidArgument("--time '" + o.time +
                           "': expected Slurm's format, minutes or [D-]HH:MM:SS (e.g. 30, "
                           "1:00:00, 2-00:00:00), or UNLIMITED");
  }
  if (!o.mem.empty() && !IsSlurmMemory(o.mem)) {
    return InvalidArgument("--mem '" + o.mem +
                           "': expected Slurm's format, a number of megabytes with an optional "
                           "unit K, M, G or T (e.g. 4G, 4000M; 0 = all of a node's memory)");
  }
  if (o.setup.size() > kMaxSlurmSetupLines) {
    return InvalidArgument("--setup: at most " + std::to_string(kMaxSlurmSetupLines) +
                           " lines, got " + std::to_string(o.setup.size()));
  }
  for (const std::string& line : o.setup) {
    HPSWEEP_RETURN_IF_ERROR(CheckValue("--setup", line));  // one line: no newline, no control
    if (line.find_first_not_of(" \t") == std::string::npos) {
      return InvalidArgument("--setup: an empty line");
    }
  }
  if (o.job_name.empty() || o.job_name.size() > 64 || !OnlyChars(o.job_name, "_.-")) {
    return InvalidArgument("job name '" + o.job_name + "': expected [A-Za-z0-9_.-]{1,64}");
  }

  std::ostringstream s;
  s << "#!/bin/bash\n"
    << "# hpsweep workers for the coordinator at " << spec.coordinator
    << ": one array job, one worker per task.\n"
    << "# The token is not in this script: each worker reads it from --token-file (mode 0600,\n"
    << "# on a filesystem every node sees).\n"
    << "#\n"
    << "# Slurm's settings, read up to the first command: one task per worker (an array job),\n"
    << "# its CPUs (the worker's --threads), and when given its memory (--mem), partition, time\n"
    << "# limit and output file.\n"
    << "#SBATCH --job-name=" << o.job_name << "\n"
    << "#SBATCH --array=0-" << n - 1 << "\n"
    << "#SBATCH --ntasks=1\n"
    << "#SBATCH --cpus-per-task=" << o.cpus_per_worker << "\n";
  if (!o.mem.empty()) s << "#SBATCH --mem=" << o.mem << "\n";
  if (!o.partition.empty()) s << "#SBATCH --partition=" << o.partition << "\n";
  if (!o.time.empty()) s << "#SBATCH --time=" << o.time << "\n";
  if (!spec.log.empty()) s << "#SBATCH --output=" << spec.log << "/worker-%A_%a.log\n";
  if (!o.setup.empty()) {
    s << "# Set-up before the worker starts (--setup): modules, environments.\n";
    for (const std::string& line : o.setup) s << line << "\n";
  }
  s << "# A token in the environment would outrank --token-file: drop any the job inherited.\n"
    << "unset HPSWEEP_TOKEN\n"
    << "# The worker (--worker-binary: a build for the nodes' CPUs), its data as the nodes see\n"
    << "# it (--data-dir): it leases trials until the coordinator has none left for it\n"
    << "# (--exit-when-idle), then the task ends.\n"
    << "exec " << ShellQuote(spec.exe) << " worker --coordinator " << ShellQuote(spec.coordinator)
    << " \\\n  --tls-ca " << ShellQuote(spec.security.tls_ca) << " --token-file "
    << ShellQuote(spec.security.token_file);
  if (!spec.security.tls_server_name.empty()) {
    HPSWEEP_RETURN_IF_ERROR(CheckValue("--tls-server-name", spec.security.tls_server_name));
    s << " --tls-server-name " << ShellQuote(spec.security.tls_server_name);
  }
  s << " \\\n  --threads \"${SLURM_CPUS_PER_TASK:-" << o.cpus_per_worker << "}\""
    << " --name \"slurm-${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}\"";
  if (!spec.data_dir.empty()) s << " \\\n  --data-dir " << ShellQuote(spec.data_dir);
  s << " --exit-when-idle";
  for (const std::string& a : spec.extra_args) s << " " << ShellQuote(a);
  s << "\n";
  return s.str();
}

StatusOr<std::string> ParseSbatchJobId(const std::string& output) {
  const std::string line = FirstLine(output);
  const std::string id = line.substr(0, line.find(';'));
  if (id.empty() || id.size() > 20 || id.find_first_not_of("0123456789") != std::string::npos) {
    return InvalidArgument("sbatch: expected a job id, got '" + line + "'");
  }
  return id;
}

StatusOr<std::vector<LaunchedWorker>> ParseSqueue(const std::string& text,
                                                  const std::string& job_id) {
  if (text.size() > kMaxCommandOutput) return InvalidArgument("squeue: output too large");
  std::map<int, LaunchedWorker> tasks;
  std::stringstream in(text);
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    line = Trim(line);
    if (line.empty()) continue;
    const std::string where = "squeue line " + std::to_string(number);
    std::vector<std::string> f;
    std::stringstream ls(line);
    std::string field;
    while (std::getline(ls, field, '|')) f.push_back(field);
    if (line.back() == '|') f.push_back("");
    if (f.size() != 4) {
      return InvalidArgument(where + ": expected ID|STATE|NODELIST|REASON, got '" +
                             line.substr(0, 200) + "'");
    }
    const size_t us = f[0].find('_');
    if (us == std::string::npos || f[0].substr(0, us) != job_id) continue;  // another job
    std::vector<int> ids;
    if (!ParseTasks(f[0].substr(us + 1), &ids)) {
      return InvalidArgument(where + ": bad array task id '" + f[0].substr(0, 200) + "'");
    }
    LaunchedWorker w;
    if (!MapState(f[1], &w.state)) {
      return InvalidArgument(where + ": unknown job state '" + f[1].substr(0, 64) + "'");
    }
    w.node = f[2].substr(0, 256);
    if (w.state == WorkerState::kPending) {
      w.info = f[3] == "None" ? "" : f[3].substr(0, 256);
    } else if (w.state != WorkerState::kRunning) {
      w.info = f[1].substr(0, 64);
    }
    for (int id : ids) {
      w.id = job_id + "_" + std::to_string(id);
      tasks[id] = w;
    }
  }
  std::vector<LaunchedWorker> out;
  for (auto& [id, w] : tasks) out.push_back(std::move(w));
  return out;
}

Status SlurmLauncher::Start(int n, const LaunchSpec& spec) {
  if (!job_id_.empty()) return FailedPrecondition("slurm launcher: already started");
  auto script = SlurmScript(n, spec, options_);
  if (!script.ok()) return script.status();
  for (const std::string& a : options_.sbatch_args) {
    HPSWEEP_RETURN_IF_ERROR(CheckValue("--sbatch-arg", a));
  }
  script_path_ = spec.log + "/workers.sbatch";
  unlink(script_path_.c_str());
  const int fd = open(script_path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return IoError(script_path_ + ": cannot create the batch script");
  const bool written =
      write(fd, script->data(), script->size()) == static_cast<ssize_t>(script->size());
  if (close(fd) != 0 || !written) return IoError(script_path_ + ": write failed");

  std::vector<std::string> argv = {options_.sbatch, "--parsable"};
  argv.insert(argv.end(), options_.sbatch_args.begin(), options_.sbatch_args.end());
  argv.push_back(script_path_);
  auto r = RunCommand(argv, options_.command_timeout_seconds, {"HPSWEEP_TOKEN"});
  if (!r.ok() && r.status().code() == StatusCode::kNotFound) {
    return FailedPrecondition(r.status().message() +
                              " (run this where Slurm's commands are: a login node)");
  }
  if (!r.ok()) return r.status();
  if (r->exit_code != 0) {
    return Unavailable("sbatch failed (exit " + std::to_string(r->exit_code) +
                       "): " + Brief(r->err.empty() ? r->out : r->err));
  }
  auto id = ParseSbatchJobId(r->out);
  if (!id.ok()) return id.status();
  job_id_ = *id;
  n_ = n;
  return Status::Ok();
}

StatusOr<std::vector<LaunchedWorker>> SlurmLauncher::List() {
  if (job_id_.empty()) return std::vector<LaunchedWorker>{};
  auto r = RunCommand({options_.squeue, "--noheader", "--array", "--states=all",
                       "--jobs=" + job_id_, "--format=%i|%T|%N|%r"},
                      options_.command_timeout_seconds);
  if (!r.ok()) return r.status();
  std::vector<LaunchedWorker> listed;
  if (r->exit_code != 0) {
    // A job purged from slurmctld's memory (MinJobAge after it ended) is an "invalid job id".
    if (r->err.find("Invalid job id") == std::string::npos) {
      return Unavailable("squeue failed (exit " + std::to_string(r->exit_code) +
                         "): " + Brief(r->err));
    }
  } else {
    auto parsed = ParseSqueue(r->out, job_id_);
    if (!parsed.ok()) return parsed.status();
    listed = std::move(*parsed);
  }
  // Every task of the array, whether squeue still shows it or not.
  std::map<std::string, LaunchedWorker> by_id;
  for (LaunchedWorker& w : listed) by_id[w.id] = std::move(w);
  std::vector<LaunchedWorker> out;
  for (int k = 0; k < n_; ++k) {
    const std::string id = job_id_ + "_" + std::to_string(k);
    auto it = by_id.find(id);
    if (it != by_id.end()) {
      out.push_back(it->second);
    } else {
      LaunchedWorker w;
      w.id = id;
      w.state = WorkerState::kExited;
      w.info = "no longer in Slurm's queue";
      out.push_back(w);
    }
  }
  return out;
}

Status SlurmLauncher::Stop() {
  if (job_id_.empty() || stopped_) return Status::Ok();
  stopped_ = true;
  auto r = RunCommand({options_.scancel, job_id_}, options_.command_timeout_seconds);
  if (!r.ok()) return r.status();
  if (r->exit_code != 0) {
    return Unavailable("scancel " + job_id_ + " failed: " + Brief(r->err));
  }
  const auto end =
      std::chrono::steady_clock::now() +
      std::chrono::milliseconds(static_cast<int64_t>(options_.stop_wait_seconds * 1000));
  while (true) {
    auto workers = List();
    if (workers.ok() && AllGone(*workers)) return Status::Ok();
    if (std::chrono::steady_clock::now() > end) {
      return Unavailable("job " + job_id_ + " still has tasks after scancel (" +
                         (workers.ok() ? WorkerSummary(*workers) : workers.status().message()) +
                         ")");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
}

}  // namespace hpsweep
