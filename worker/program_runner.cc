// One program trial as child processes (worker/program_runner.h).
//
// The supervisor (A) and the program (B) are forks of a multi-threaded worker: between fork and
// execve they make only async-signal-safe calls on what was prepared before the fork (ChildPlan).
// Both forks are glibc's _Fork, which runs no pthread_atfork handlers: the worker's libraries
// (gRPC's fork support among them) must not run theirs around a fork that only ever execs or
// waits, in the worker or in the children.
#include "worker/program_runner.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <optional>

#include "base/file_io.h"
#include "base/utf8.h"
#include "worker/unique_fd.h"

extern char** environ;

namespace hpsweep {

namespace {

using Clock = std::chrono::steady_clock;

constexpr int kPollMillis = 50;
constexpr size_t kReadChunk = 65536;
constexpr double kBadLineTermSeconds = 1;  // a bad report line: SIGTERM, SIGKILL 1 s later
constexpr double kEofWaitSeconds = 2;      // after the supervisor, for a pipe held outside
constexpr char kStopLine[] = "{\"action\": \"stop\"}\n";

// What the supervisor or the program writes on the exec-error pipe: the stage, then errno.
enum ChildStage : int { kForkFailed = 1, kSetupFailed = 2, kExecFailed = 3 };

// Everything the children need, made before the fork.
struct ChildPlan {
  const char* path = nullptr;
  char* const* argv = nullptr;
  char* const* envp = nullptr;
  int devnull = -1, out_w = -1, err_w = -1, report_w = -1, control = -1;
  int exec_err_w = -1, status_w = -1;
  pid_t worker = 0;
  int max_fd = 1024;  // for closing descriptors where close_range is missing
};

// ---- In the children: async-signal-safe calls only ----

[[noreturn]] void ChildFail(int fd, int stage) {
  const int msg[2] = {stage, errno};
  ssize_t ignored = write(fd, msg, sizeof msg);
  (void)ignored;
  _exit(127);
}

void CloseFrom(int lo, int hi, int max_fd) {
  if (lo > hi) return;
  if (close_range(static_cast<unsigned>(lo), static_cast<unsigned>(hi), 0) == 0) return;
  for (int fd = lo; fd <= std::min(hi, max_fd); ++fd) close(fd);
}

void SetAll(void (*handler)(int)) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = handler;
  sigemptyset(&sa.sa_mask);
  for (int s = 1; s < NSIG; ++s) {
    if (s != SIGKILL && s != SIGSTOP) sigaction(s, &sa, nullptr);
  }
}

void SetOne(int sig, void (*handler)(int)) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = handler;
  sigemptyset(&sa.sa_mask);
  sigaction(sig, &sa, nullptr);
}

void UnblockAll() {
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
}

void KillGroup(int) { kill(0, SIGKILL); }

// B: the program. Descriptors 0-4 as docs/programs.md says, nothing else across execve.
[[noreturn]] void RunChild(const ChildPlan& p, pid_t supervisor) {
  SetAll(SIG_DFL);
  UnblockAll();
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != supervisor) _exit(127);
  // Copies above 10 first, so that moving one into 0-4 cannot overwrite another.
  const int from[5] = {p.devnull, p.out_w, p.err_w, p.report_w, p.control};
  int high[5];
  for (int i = 0; i < 5; ++i) {
    high[i] = fcntl(from[i], F_DUPFD_CLOEXEC, 10);
    if (high[i] < 0) ChildFail(p.exec_err_w, kSetupFailed);
  }
  const int err = fcntl(p.exec_err_w, F_DUPFD_CLOEXEC, 10);
  if (err < 0) ChildFail(p.exec_err_w, kSetupFailed);
  for (int i = 0; i < 5; ++i) {
    if (dup2(high[i], i) < 0) ChildFail(err, kSetupFailed);  // dup2 clears close-on-exec
  }
  if (dup3(err, 5, O_CLOEXEC) < 0) ChildFail(err, kSetupFailed);
  CloseFrom(6, ~0U >> 1, p.max_fd);
  execve(p.path, p.argv, p.envp);
  ChildFail(5, kExecFailed);
}

// A: the supervisor. Its own group; the group dies when the program ends or the worker dies.
[[noreturn]] void RunSupervisor(const ChildPlan& p) {
  setpgid(0, 0);
  SetAll(SIG_DFL);  // none of the worker's handlers
  SetOne(SIGUSR1, KillGroup);
  for (int s : {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGPIPE}) SetOne(s, SIG_IGN);
  UnblockAll();
  prctl(PR_SET_PDEATHSIG, SIGUSR1);
  if (getppid() != p.worker) kill(0, SIGKILL);  // the worker died before prctl
  const pid_t self = getpid();
  const pid_t b = _Fork();
  if (b == 0) RunChild(p, self);
  if (b < 0) ChildFail(p.exec_err_w, kForkFailed);
  // Nothing of the worker stays open here but the status pipe.
  CloseFrom(0, p.status_w - 1, p.max_fd);
  CloseFrom(p.status_w + 1, ~0U >> 1, p.max_fd);
  int status = 0;
  while (waitpid(b, &status, 0) < 0 && errno == EINTR) {
  }
  ssize_t ignored = write(p.status_w, &status, sizeof status);
  (void)ignored;
  kill(0, SIGKILL);
  _exit(0);
}

// ---- In the worker ----

std::string Seconds(double s) {
  char buf[32];
  snprintf(buf, sizeof buf, "%g", s);
  return buf;
}

// The last bytes of a stream, valid UTF-8 and cut at a character boundary.
class Tail {
 public:
  explicit Tail(size_t max) : max_(max) {}
  void Add(const char* p, size_t n) {
    text_.append(p, n);
    if (text_.size() > 2 * max_ + kReadChunk) text_.erase(0, text_.size() - max_);
  }
  std::string Text() const {
    size_t start = text_.size() > max_ ? text_.size() - max_ : 0;
    for (int k = 0; k < 3 && start > 0 && start < text_.size() &&
                    (static_cast<unsigned char>(text_[start]) & 0xC0) == 0x80;
         ++k) {
      ++start;
    }
    return ToValidUtf8(std::string_view(text_).substr(start));
  }

 private:
  size_t max_;
  std::string text_;
};

// Owns the strings a char* array points into.
struct CStrings {
  std::vector<std::string> strings;
  std::vector<char*> ptrs;
  void Seal() {
    ptrs.clear();
    for (std::string& s : strings) ptrs.push_back(s.data());
    ptrs.push_back(nullptr);
  }
};

Status SetNonBlocking(int fd) {
  const int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
    return Internal("fcntl O_NONBLOCK: " + Errno());
  }
  return Status::Ok();
}

// One attempt: its processes, descriptors, clocks and result.
class Runner {
 public:
  explicit Runner(const ProgramRunOptions& o)
      : o_(o),
        output_(o.max_output_bytes),
        stderr_tail_(kProgramErrorTailBytes),
        reader_(o.resume_epoch, o.epochs) {}

  StatusOr<ProgramResult> Run();

 private:
  Status Prepare(CStrings* argv, CStrings* envp);
  Status Start();
  void Loop();
  void ReadOutput(UniqueFd* fd, bool is_stderr);
  void ReadReport();
  void ReadStatus();
  void TakeLines(const std::vector<ReportLine>& lines, const Status& s);
  void Checkpoint(int epoch);
  void CheckClocks();
  void Decide(ProgramOutcome outcome, std::string error);
  void AskStop();
  void Term(double seconds);
  void Signal(int sig);
  void Reap();
  Status Conclude();

  const ProgramRunOptions& o_;
  std::string checkpoint_dir_;
  UniqueFd out_, err_, report_, status_, exec_err_, control_;
  pid_t pid_ = -1;  // the supervisor; also the process group
  bool reaped_ = false;
  std::string status_bytes_;  // the program's wait status, from the supervisor
  Clock::time_point start_;
  bool cancel_seen_ = false, stop_sent_ = false, term_sent_ = false, late_ = false;
  std::optional<Clock::time_point> grace_end_, kill_at_;
  bool decided_ = false;
  ProgramResult result_;
  Tail output_, stderr_tail_;
  ReportReader reader_;
  bool report_failed_ = false;
  std::string stamp_;  // FolderStamp of the checkpoint folder when last sent (or at the start)
};

Status Runner::Prepare(CStrings* argv, CStrings* envp) {
  HPSWEEP_RETURN_IF_ERROR(EnsurePrivateFolder(o_.work_dir, "the trial's work folder"));
  HPSWEEP_RETURN_IF_ERROR(WriteFileSynced(o_.work_dir + "/trial.json", o_.trial_json, 0600));
  checkpoint_dir_ = o_.work_dir + "/checkpoint";
  HPSWEEP_RETURN_IF_ERROR(EnsurePrivateFolder(checkpoint_dir_, "the checkpoint folder"));
  StatusOr<std::string> stamp = FolderStamp(checkpoint_dir_, o_.max_checkpoint_bytes);
  if (stamp.ok()) stamp_ = *stamp;
  argv->strings.push_back(o_.path);
  for (const std::string& a : o_.args) argv->strings.push_back(a);
  argv->Seal();
  std::map<std::string, std::string> extra = {
      {"HPSWEEP_TRIAL", o_.work_dir + "/trial.json"},
      {"HPSWEEP_REPORT_FD", "3"},
      {"HPSWEEP_CONTROL_FD", "4"},
      {"HPSWEEP_CHECKPOINT_DIR", checkpoint_dir_}};
  if (!o_.data_dir.empty()) extra["HPSWEEP_DATA_DIR"] = o_.data_dir;
  envp->strings = ProgramEnvironment(environ, extra);
  envp->Seal();
  return Status::Ok();
}

// Pipes, the socket and the fork. On return the worker holds only its own ends.
Status Runner::Start() {
  CStrings argv, envp;
  HPSWEEP_RETURN_IF_ERROR(Prepare(&argv, &envp));
  int out[2], err[2], report[2], status[2], exec_err[2], control[2];
  if (pipe2(out, O_CLOEXEC) != 0) return Internal("pipe: " + Errno());
  UniqueFd out_r(out[0]), out_w(out[1]);
  if (pipe2(err, O_CLOEXEC) != 0) return Internal("pipe: " + Errno());
  UniqueFd err_r(err[0]), err_w(err[1]);
  if (pipe2(report, O_CLOEXEC) != 0) return Internal("pipe: " + Errno());
  UniqueFd report_r(report[0]), report_w(report[1]);
  if (pipe2(status, O_CLOEXEC) != 0) return Internal("pipe: " + Errno());
  UniqueFd status_r(status[0]), status_w(status[1]);
  if (pipe2(exec_err, O_CLOEXEC) != 0) return Internal("pipe: " + Errno());
  UniqueFd exec_r(exec_err[0]), exec_w(exec_err[1]);
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, control) != 0) {
    return Internal("socketpair: " + Errno());
  }
  UniqueFd control_worker(control[0]), control_child(control[1]);
  UniqueFd devnull(open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (!devnull.ok()) return Internal("cannot open /dev/null: " + Errno());
  ChildPlan plan;
  plan.path = o_.path.c_str();
  plan.argv = argv.ptrs.data();
  plan.envp = envp.ptrs.data();
  plan.devnull = devnull.get();
  plan.out_w = out_w.get();
  plan.err_w = err_w.get();
  plan.report_w = report_w.get();
  plan.control = control_child.get();
  plan.exec_err_w = exec_w.get();
  plan.status_w = status_w.get();
  plan.worker = getpid();
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
    plan.max_fd = static_cast<int>(std::min<rlim_t>(rl.rlim_cur, 1 << 20));
  }
  // No signal handler of the worker may run in a child before it sets its own.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  const pid_t pid = _Fork();
  if (pid == 0) RunSupervisor(plan);
  const int fork_errno = errno;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (pid < 0) return Internal("cannot fork the program's supervisor: " + std::string(
                                   std::strerror(fork_errno)));
  setpgid(pid, pid);  // as the supervisor does, so that a signal to the group reaches it at once
  pid_ = pid;
  start_ = Clock::now();
  out_ = std::move(out_r);
  err_ = std::move(err_r);
  report_ = std::move(report_r);
  status_ = std::move(status_r);
  exec_err_ = std::move(exec_r);
  control_ = std::move(control_worker);
  for (int fd : {out_.get(), err_.get(), report_.get(), status_.get(), exec_err_.get()}) {
    HPSWEEP_RETURN_IF_ERROR(SetNonBlocking(fd));
  }
  return Status::Ok();
}

StatusOr<ProgramResult> Runner::Run() {
  Status s = Start();
  if (!s.ok()) {
    if (pid_ > 0) {
      Signal(SIGKILL);
      Reap();
    }
    return s;
  }
  Loop();
  HPSWEEP_RETURN_IF_ERROR(Conclude());
  return std::move(result_);
}

// Reads what the children write and watches the clocks until the supervisor is gone and the
// pipes are at their end (or, for a pipe a process outside the group still holds, a little
// longer).
void Runner::Loop() {
  std::optional<Clock::time_point> eof_by;
  while (true) {
    const bool pipes_open = out_.ok() || err_.ok() || report_.ok();
    if (reaped_ && !pipes_open) break;
    if (reaped_ && !eof_by) {
      eof_by = Clock::now() + std::chrono::milliseconds(static_cast<int>(kEofWaitSeconds * 1000));
    }
    if (eof_by && Clock::now() >= *eof_by) break;
    pollfd fds[4];
    UniqueFd* owner[4];
    nfds_t n = 0;
    for (UniqueFd* fd : {&out_, &err_, &report_, &status_}) {
      if (!fd->ok()) continue;
      fds[n] = {fd->get(), POLLIN, 0};
      owner[n++] = fd;
    }
    const int ready = poll(fds, n, kPollMillis);
    for (nfds_t i = 0; ready > 0 && i < n; ++i) {
      if (fds[i].revents == 0) continue;
      if (owner[i] == &out_) ReadOutput(&out_, false);
      if (owner[i] == &err_) ReadOutput(&err_, true);
      if (owner[i] == &report_) ReadReport();
      if (owner[i] == &status_) ReadStatus();
    }
    if (!status_.ok() && !reaped_) Reap();  // its end of the pipe closed: the supervisor is gone
    CheckClocks();
  }
  if (report_.ok() && !report_failed_) {
    std::vector<ReportLine> lines;
    Status s = reader_.Finish(&lines);
    TakeLines(lines, s);
  }
  out_.Reset();
  err_.Reset();
  report_.Reset();
}

void Runner::ReadOutput(UniqueFd* fd, bool is_stderr) {
  char buf[kReadChunk];
  const ssize_t n = read(fd->get(), buf, sizeof buf);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
  if (n <= 0) {
    fd->Reset();
    return;
  }
  output_.Add(buf, static_cast<size_t>(n));
  if (is_stderr) stderr_tail_.Add(buf, static_cast<size_t>(n));
}

void Runner::ReadReport() {
  char buf[kReadChunk];
  const ssize_t n = read(report_.get(), buf, sizeof buf);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
  std::vector<ReportLine> lines;
  if (n <= 0) {
    report_.Reset();
    if (!report_failed_) TakeLines(lines, reader_.Finish(&lines));
    return;
  }
  if (report_failed_) return;  // drained, so that the program never blocks on it
  Status s = reader_.Add(std::string_view(buf, static_cast<size_t>(n)), &lines);
  TakeLines(lines, s);
}

void Runner::TakeLines(const std::vector<ReportLine>& lines, const Status& s) {
  for (const ReportLine& line : lines) {
    if (line.kind == ReportLine::Kind::kFinal) {
      result_.final_metrics = line.epoch.metrics;
      continue;
    }
    result_.epochs.push_back(line.epoch);
    if (o_.on_epoch && !o_.on_epoch(line.epoch)) AskStop();
    Checkpoint(line.epoch.epoch);
  }
  if (!s.ok() && !report_failed_) {
    report_failed_ = true;
    Decide(ProgramOutcome::kFailed, s.message());
    Term(std::min(o_.term_seconds, kBadLineTermSeconds));
  }
}

void Runner::Checkpoint(int epoch) {
  if (!o_.on_checkpoint) return;
  StatusOr<std::string> stamp = FolderStamp(checkpoint_dir_, o_.max_checkpoint_bytes);
  if (!stamp.ok()) {
    result_.checkpoint_error = stamp.status().message();
    return;
  }
  if (stamp->empty() || *stamp == stamp_) return;
  stamp_ = *stamp;
  StatusOr<std::string> packed = PackFolder(checkpoint_dir_, o_.max_checkpoint_bytes);
  if (!packed.ok()) {
    result_.checkpoint_error = packed.status().message();
    return;
  }
  o_.on_checkpoint(epoch, *packed);
}

void Runner::ReadStatus() {
  char buf[16];
  const ssize_t n = read(status_.get(), buf, sizeof buf);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
  if (n <= 0) {
    status_.Reset();
    return;
  }
  status_bytes_.append(buf, static_cast<size_t>(n));
}

void Runner::CheckClocks() {
  const Clock::time_point now = Clock::now();
  // The program has ended (its status is here) or the supervisor is gone: a stop, a cancel or
  // the time limit that comes now does not change how it ended.
  if (reaped_ || status_bytes_.size() == sizeof(int)) return;
  if (o_.cancel != nullptr && o_.cancel->load() && !cancel_seen_) {
    cancel_seen_ = true;
    Decide(ProgramOutcome::kCancelled, "");
    Term(o_.term_seconds);
  }
  if (o_.stop != nullptr && o_.stop->load()) AskStop();
  const double ran = std::chrono::duration<double>(now - start_).count();
  if (o_.max_seconds > 0 && ran > o_.max_seconds && !late_) {
    late_ = true;
    Decide(ProgramOutcome::kFailed,
           "ran past max_trial_seconds (" + Seconds(o_.max_seconds) + " s)");
    Term(o_.term_seconds);
  }
  if (grace_end_ && now >= *grace_end_) {
    grace_end_.reset();
    Term(o_.term_seconds);
  }
  if (kill_at_ && now >= *kill_at_) {
    kill_at_.reset();
    Signal(SIGKILL);
  }
}

// The first reason the attempt ends is the one it ends with.
void Runner::Decide(ProgramOutcome outcome, std::string error) {
  if (decided_) return;
  decided_ = true;
  result_.outcome = outcome;
  result_.error = std::move(error);
}

void Runner::AskStop() {
  if (stop_sent_) return;
  stop_sent_ = true;
  Decide(ProgramOutcome::kStopped, "");
  // The program may not read it, or may have closed it: neither blocks nor signals the worker.
  ssize_t ignored = send(control_.get(), kStopLine, sizeof kStopLine - 1,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
  (void)ignored;
  grace_end_ = Clock::now() + std::chrono::milliseconds(
                                  static_cast<int64_t>(std::max(0.0, o_.grace_seconds) * 1000));
}

// SIGTERM to the group now (once), SIGKILL `seconds` later (or sooner, if asked for before).
void Runner::Term(double seconds) {
  const Clock::time_point kill_at =
      Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(std::max(0.0, seconds) * 1000));
  if (!term_sent_) {
    term_sent_ = true;
    Signal(SIGTERM);
    kill_at_ = kill_at;
  } else if (kill_at_ && kill_at < *kill_at_) {
    kill_at_ = kill_at;
  }
}

// Only while the supervisor is not reaped: until then the group's id cannot be anyone else's.
void Runner::Signal(int sig) {
  if (!reaped_ && pid_ > 0) kill(-pid_, sig);
}

// The supervisor is gone. Normally it took its group with it; if something else killed it, the
// program (PR_SET_PDEATHSIG) and whatever it started are SIGKILLed here. Until the supervisor is
// reaped no other process can own its pid as a group id, so the signal reaches only this trial.
void Runner::Reap() {
  kill(-pid_, SIGKILL);
  int status = 0;
  while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  reaped_ = true;
}

Status Runner::Conclude() {
  result_.seconds = std::chrono::duration<double>(Clock::now() - start_).count();
  result_.output = output_.Text();
  int child[2] = {0, 0};
  const ssize_t n = read(exec_err_.get(), child, sizeof child);
  if (n == static_cast<ssize_t>(sizeof child)) {
    const std::string why = std::strerror(child[1]);
    if (child[0] == kForkFailed) return Internal("cannot fork the program: " + why);
    if (child[0] == kSetupFailed) return Internal("cannot set up the program's descriptors: " + why);
    Decide(ProgramOutcome::kFailed, "cannot run " + o_.path + ": " + why);
  }
  if (decided_) return Status::Ok();
  std::string tail = stderr_tail_.Text();
  while (!tail.empty() && (tail.back() == '\n' || tail.back() == '\r' || tail.back() == ' ')) {
    tail.pop_back();
  }
  if (!tail.empty()) tail = ": " + tail;
  int status = 0;
  if (status_bytes_.size() != sizeof status) {
    Decide(ProgramOutcome::kFailed, "the program's supervisor ended without its exit status");
    return Status::Ok();
  }
  memcpy(&status, status_bytes_.data(), sizeof status);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
    Decide(ProgramOutcome::kCompleted, "");
  } else if (WIFEXITED(status)) {
    Decide(ProgramOutcome::kFailed, "exit status " + std::to_string(WEXITSTATUS(status)) + tail);
  } else if (WIFSIGNALED(status)) {
    const char* name = sigdescr_np(WTERMSIG(status));
    Decide(ProgramOutcome::kFailed, "killed by signal " + std::to_string(WTERMSIG(status)) +
                                        " (" + (name != nullptr ? name : "unknown") + ")" + tail);
  } else {
    Decide(ProgramOutcome::kFailed, "ended with wait status " + std::to_string(status) + tail);
  }
  return Status::Ok();
}

}  // namespace

const char* ProgramOutcomeName(ProgramOutcome outcome) {
  switch (outcome) {
    case ProgramOutcome::kCompleted:
      return "completed";
    case ProgramOutcome::kStopped:
      return "stopped";
    case ProgramOutcome::kCancelled:
      return "cancelled";
    case ProgramOutcome::kFailed:
      return "failed";
  }
  return "failed";
}

std::vector<std::string> ProgramEnvironment(char** env,
                                            const std::map<std::string, std::string>& extra) {
  std::vector<std::string> out;
  for (char** e = env; e != nullptr && *e != nullptr; ++e) {
    const std::string entry = *e;
    const size_t eq = entry.find('=');
    if (eq == std::string::npos) continue;
    const std::string name = entry.substr(0, eq);
    if (name.compare(0, 8, "HPSWEEP_") == 0 || extra.count(name) != 0) continue;
    out.push_back(entry);
  }
  for (const auto& [name, value] : extra) out.push_back(name + "=" + value);
  return out;
}

StatusOr<ProgramResult> RunProgram(const ProgramRunOptions& o) {
  Runner runner(o);
  return runner.Run();
}

}  // namespace hpsweep
