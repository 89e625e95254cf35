#include "child_process.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "tessera/check.h"

namespace tessera::cli {

namespace {

int exit_status(int raw) {
  if (WIFEXITED(raw)) return WEXITSTATUS(raw);
  if (WIFSIGNALED(raw)) return 128 + WTERMSIG(raw);
  return -1;
}

}  // namespace

ChildProcess::ChildProcess(const std::vector<std::string>& argv) {
  TSR_CHECK(!argv.empty(), "no command to run");
  int fds[2];
  TSR_CHECK(::pipe2(fds, O_CLOEXEC) == 0, "pipe: {}", std::strerror(errno));
  std::vector<char*> args;
  for (const auto& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  pid_ = ::fork();
  if (pid_ < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    throw Error(fmt::format("fork: {}", std::strerror(errno)));
  }
  if (pid_ == 0) {                       // the child: only async-signal-safe calls until exec
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);  // a killed tuner takes its server along
    ::dup2(fds[1], STDOUT_FILENO);
    ::dup2(fds[1], STDERR_FILENO);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  fd_ = fds[0];
}

ChildProcess::~ChildProcess() {
  if (status_ < 0 && pid_ > 0) stop(SIGKILL, std::chrono::seconds(5));
  if (fd_ >= 0) ::close(fd_);
}

bool ChildProcess::read_some(int timeout_ms) {
  pollfd p{fd_, POLLIN, 0};
  const int ready = ::poll(&p, 1, timeout_ms);
  if (ready <= 0) return true;  // timeout (or EINTR): still open
  char buffer[4096];
  const ssize_t n = ::read(fd_, buffer, sizeof buffer);
  if (n <= 0) return false;
  output_.append(buffer, static_cast<size_t>(n));
  return true;
}

std::string ChildProcess::wait_for_line(const std::regex& pattern, std::chrono::seconds timeout,
                                        bool* ended) {
  *ended = false;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    for (size_t eol; (eol = output_.find('\n', scanned_)) != std::string::npos;) {
      const std::string line = output_.substr(scanned_, eol - scanned_);
      scanned_ = eol + 1;
      std::smatch m;
      if (std::regex_search(line, m, pattern)) return m.size() > 1 ? m[1].str() : line;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      *ended = true;
      return "";
    }
    if (!read_some(200)) {
      *ended = true;
      return "";
    }
  }
}

int ChildProcess::stop(int signal, std::chrono::seconds grace) {
  if (status_ >= 0) return status_;
  ::kill(pid_, signal);
  const auto deadline = std::chrono::steady_clock::now() + grace;
  int raw = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    if (::waitpid(pid_, &raw, WNOHANG) == pid_) return status_ = exit_status(raw);
    read_some(100);  // keep the pipe drained so the child never blocks on a write
  }
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, &raw, 0);
  return status_ = exit_status(raw);
}

int ChildProcess::wait() {
  if (status_ >= 0) return status_;
  while (read_some(200)) {
  }
  int raw = 0;
  ::waitpid(pid_, &raw, 0);
  return status_ = exit_status(raw);
}

}  // namespace tessera::cli
