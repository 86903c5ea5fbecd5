#include "launch/local_launcher.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

namespace hpsweep {

std::vector<std::string> LocalWorkerArgs(const LaunchSpec& spec, int k) {
  std::vector<std::string> a = {"worker",
                                "--coordinator",
                                spec.coordinator,
                                "--threads",
                                std::to_string(spec.threads),
                                "--name",
                                "local-" + std::to_string(k),
                                "--data-dir",
                                spec.data_dir,
                                "--exit-when-idle"};
  // Only the paths: the worker reads the token from its file itself.
  if (!spec.security.tls_ca.empty()) a.insert(a.end(), {"--tls-ca", spec.security.tls_ca});
  if (!spec.security.token_file.empty()) {
    a.insert(a.end(), {"--token-file", spec.security.token_file});
  }
  a.insert(a.end(), spec.extra_args.begin(), spec.extra_args.end());
  return a;
}

pid_t LocalLauncher::Spawn(int k) {
  std::vector<std::string> args = LocalWorkerArgs(spec_, k);
  args.insert(args.begin(), spec_.exe);
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid != 0) return pid;
  // Child. A worker outlives a `run` killed by SIGKILL (or any signal it cannot handle) and
  // would retry its dead coordinator forever: have the kernel send it SIGTERM (a clean stop)
  // when the parent dies, and end now if the parent died before that was in place.
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (getppid() != parent) _exit(1);
  // Its log goes to a file, so the progress line stays readable.
  int fd = open(spec_.log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (fd >= 0) {
    dup2(fd, STDERR_FILENO);
    dup2(fd, STDOUT_FILENO);
    close(fd);
  }
  execv(argv[0], argv.data());
  _exit(127);
}

Status LocalLauncher::Start(int n, const LaunchSpec& spec) {
  if (!pids_.empty()) return FailedPrecondition("local launcher: already started");
  if (n < 1) return InvalidArgument("local launcher: need at least one worker");
  spec_ = spec;
  pids_.assign(n, 0);
  workers_.resize(n);
  for (int k = 0; k < n; ++k) {
    workers_[k].id = "local-" + std::to_string(k + 1);
    workers_[k].node = "localhost";
    workers_[k].state = WorkerState::kRunning;
    pids_[k] = Spawn(k + 1);
    if (pids_[k] < 0) return IoError("fork failed for worker " + workers_[k].id);
  }
  return Status::Ok();
}

StatusOr<std::vector<LaunchedWorker>> LocalLauncher::List() {
  for (size_t k = 0; k < pids_.size(); ++k) {
    int wstatus;
    if (pids_[k] <= 0 || waitpid(pids_[k], &wstatus, WNOHANG) != pids_[k]) continue;
    pids_[k] = 0;
    LaunchedWorker& w = workers_[k];
    const bool clean = WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0;
    w.info = WIFEXITED(wstatus) ? "exit " + std::to_string(WEXITSTATUS(wstatus))
                                : "signal " + std::to_string(WTERMSIG(wstatus));
    if (w.restarts < max_restarts_) {
      ++w.restarts;
      pids_[k] = Spawn(static_cast<int>(k) + 1);
      w.state = WorkerState::kRunning;
    } else {
      w.state = clean ? WorkerState::kExited : WorkerState::kFailed;
    }
  }
  return workers_;
}

Status LocalLauncher::Stop() {
  for (pid_t p : pids_) {
    if (p > 0) kill(p, SIGTERM);
  }
  // A worker gives its lease back on SIGTERM within a few seconds (worker.h); one that does not
  // (stuck, or its coordinator gone) is killed: its lease then expires.
  const auto end = std::chrono::steady_clock::now() +
                   std::chrono::milliseconds(static_cast<int64_t>(stop_grace_seconds_ * 1000));
  int killed = 0;
  for (size_t k = 0; k < pids_.size(); ++k) {
    if (pids_[k] <= 0) continue;
    int wstatus = 0;
    while (waitpid(pids_[k], &wstatus, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() >= end) {
        kill(pids_[k], SIGKILL);
        ++killed;
        waitpid(pids_[k], &wstatus, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    pids_[k] = 0;
    workers_[k].state = WorkerState::kExited;
  }
  if (killed > 0) {
    return Unavailable(std::to_string(killed) + " local worker(s) did not stop within " +
                       std::to_string(static_cast<int>(stop_grace_seconds_)) +
                       " s of SIGTERM and were killed; their trials are queued again when " +
                       "their leases expire");
  }
  return Status::Ok();
}

}  // namespace hpsweep
