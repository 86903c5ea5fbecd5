#include "launch/command.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>

namespace hpsweep {

StatusOr<CommandResult> RunCommand(const std::vector<std::string>& argv, double timeout_seconds,
                                   const std::vector<std::string>& env_drop) {
  if (argv.empty()) return InvalidArgument("RunCommand: no program");
  int out[2], err[2], exec_err[2];
  if (pipe2(out, O_CLOEXEC) != 0) return IoError("pipe: " + std::string(strerror(errno)));
  if (pipe2(err, O_CLOEXEC) != 0) {
    close(out[0]);
    close(out[1]);
    return IoError("pipe: " + std::string(strerror(errno)));
  }
  // Tells the parent, through a close-on-exec pipe, why exec failed.
  if (pipe2(exec_err, O_CLOEXEC) != 0) {
    for (int fd : {out[0], out[1], err[0], err[1]}) close(fd);
    return IoError("pipe: " + std::string(strerror(errno)));
  }
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t pid = fork();
  if (pid < 0) {
    for (int fd : {out[0], out[1], err[0], err[1], exec_err[0], exec_err[1]}) close(fd);
    return IoError("fork: " + std::string(strerror(errno)));
  }
  if (pid == 0) {
    const int null = open("/dev/null", O_RDONLY);
    if (null >= 0) dup2(null, STDIN_FILENO);
    dup2(out[1], STDOUT_FILENO);
    dup2(err[1], STDERR_FILENO);
    for (const std::string& v : env_drop) unsetenv(v.c_str());
    execvp(args[0], args.data());
    const int e = errno;
    (void)!write(exec_err[1], &e, sizeof(e));
    _exit(127);
  }
  close(out[1]);
  close(err[1]);
  close(exec_err[1]);
  int child_errno = 0;
  const bool exec_failed = read(exec_err[0], &child_errno, sizeof(child_errno)) ==
                           static_cast<ssize_t>(sizeof(child_errno));
  close(exec_err[0]);

  CommandResult r;
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(static_cast<int64_t>(timeout_seconds * 1000));
  pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  std::string* sinks[2] = {&r.out, &r.err};
  int open_fds = 2;
  bool timed_out = false;
  char buf[65536];
  while (open_fds > 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                          deadline - std::chrono::steady_clock::now())
                          .count();
    if (left <= 0) {
      timed_out = true;
      break;
    }
    if (poll(fds, 2, static_cast<int>(left)) < 0 && errno != EINTR) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      const ssize_t n = read(fds[i].fd, buf, sizeof(buf));
      if (n > 0) {
        const size_t room = kMaxCommandOutput - std::min(kMaxCommandOutput, sinks[i]->size());
        sinks[i]->append(buf, std::min(static_cast<size_t>(n), room));
      } else if (n == 0 || errno != EINTR) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  for (const pollfd& p : fds) {
    if (p.fd >= 0) close(p.fd);
  }
  if (timed_out) kill(pid, SIGKILL);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (exec_failed) {
    return NotFound(argv[0] + ": cannot run it: " + strerror(child_errno));
  }
  if (timed_out) {
    return Unavailable(argv[0] + ": no answer within " +
                       std::to_string(static_cast<int>(timeout_seconds)) + " s");
  }
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

}  // namespace hpsweep
