// Test helper: real child processes of the hpsweep binary, a free loopback port, and reading
// their logs.
//
// Thread-safety: one thread per object.
#ifndef HPSWEEP_TESTS_INTEGRATION_PROCESS_H_
#define HPSWEEP_TESTS_INTEGRATION_PROCESS_H_

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace hpsweep {

// A child process running `HPSWEEP_BIN args...`, stdout and stderr appended to log_path.
// before_exec, if set, runs in the child just before exec (to set resource limits: it must only
// make async-signal-safe calls such as setrlimit). The destructor kills it (SIGKILL) if it still
// runs.
class Process {
 public:
  Process(const std::vector<std::string>& args, const std::string& log_path,
          void (*before_exec)() = nullptr) {
    pid_ = fork();
    if (pid_ == 0) {
      if (before_exec != nullptr) before_exec();
      int fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd >= 0) {
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        close(fd);
      }
      std::vector<char*> argv;
      std::string bin = HPSWEEP_BIN;
      argv.push_back(bin.data());
      std::vector<std::string> copy = args;
      for (std::string& a : copy) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(bin.c_str(), argv.data());
      _exit(127);
    }
  }
  ~Process() {
    if (running()) {
      kill(pid_, SIGKILL);
      Wait(10);
    }
  }
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  bool running() {
    if (exited_) return false;
    int status;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      exited_ = true;
      status_ = status;
      return false;
    }
    return true;
  }
  void Signal(int sig) { kill(pid_, sig); }
  // Waits up to `seconds` for the process to exit; true if it did.
  bool Wait(double seconds) {
    const auto end = std::chrono::steady_clock::now() +
                     std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
    while (running()) {
      if (std::chrono::steady_clock::now() > end) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return true;
  }
  // Exit code, or -signal if it was killed by one. REQUIRES: it exited.
  int exit_code() const { return WIFEXITED(status_) ? WEXITSTATUS(status_) : -WTERMSIG(status_); }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  bool exited_ = false;
  int status_ = 0;
};

// The whole file, "" if it cannot be read.
inline std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A loopback port that was free a moment ago.
inline int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  const int port = ntohs(addr.sin_port);
  close(fd);
  return port;
}

}  // namespace hpsweep

#endif  // HPSWEEP_TESTS_INTEGRATION_PROCESS_H_
