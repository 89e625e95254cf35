// A child process with its stdout and stderr on one pipe, for `tessera tune`, which starts
// `tessera serve` (and `tessera plan`) with candidate settings. POSIX fork/exec: Boost.Process
// would do, but its 1.74 API is deprecated and this is the ~100 lines the tuner needs.
#pragma once

#include <chrono>
#include <regex>
#include <string>
#include <sys/types.h>
#include <vector>

namespace tessera::cli {

class ChildProcess {
 public:
  // Starts argv[0] (a path) with argv; throws tessera::Error when it cannot.
  explicit ChildProcess(const std::vector<std::string>& argv);
  ~ChildProcess();  // kills a child still running
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // Reads output lines until one matches `pattern` (returns its first group), the child
  // exits, or the timeout passes (both: nullopt-like empty string and `*ended` set).
  std::string wait_for_line(const std::regex& pattern, std::chrono::seconds timeout, bool* ended);
  // Everything read so far.
  const std::string& output() const { return output_; }
  // Sends `signal`, waits up to `grace` for the exit, then kills. Returns the exit status
  // (128 + signal when killed by one).
  int stop(int signal, std::chrono::seconds grace);
  // Waits for the child to exit by itself, reading its output; the exit status.
  int wait();

 private:
  bool read_some(int timeout_ms);  // false at end of output
  pid_t pid_ = -1;
  int fd_ = -1;
  int status_ = -1;
  std::string output_;
  size_t scanned_ = 0;  // output_ is matched line by line from here
};

}  // namespace tessera::cli
