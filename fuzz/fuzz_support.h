// Helpers shared by the fuzz targets (fuzz/*_fuzzer.cpp). Each target defines
// LLVMFuzzerTestOneInput; it is linked either with libFuzzer (scripts/fuzz.sh, clang) or with
// replay_main.cpp, which runs the committed corpus through it as a CTest test in every build.
//
// The contract every target checks: a parser of untrusted input either succeeds or throws the
// error type its caller turns into one clear message (tessera::Error, the server's ApiError
// below 500, the CLI's UsageError). Any other exception escapes the target, and libFuzzer (or
// the replay driver) reports it: such an exception would reach the user as an internal error
// or a raw library message ("[json.exception.type_error.302] ...").
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace tessera::fuzz {

// Reports a broken invariant the way a crash is reported: libFuzzer saves the input.
[[noreturn]] inline void fail(const std::string& what) {
  std::fprintf(stderr, "fuzz invariant violated: %s\n", what.c_str());
  std::fflush(stderr);
  std::abort();
}

#define TSR_FUZZ_ASSERT(cond, message)                                         \
  do {                                                                         \
    if (!(cond)) ::tessera::fuzz::fail(std::string(#cond " -- ") + (message)); \
  } while (0)

// The file parsers take a path; an anonymous in-memory file (memfd) gives them one without
// touching the disk. One per process, rewritten for each input.
class MemoryFile {
 public:
  MemoryFile() : fd_(::memfd_create("tessera-fuzz", MFD_CLOEXEC)) {
    if (fd_ < 0) fail("memfd_create failed");
  }
  ~MemoryFile() { ::close(fd_); }
  MemoryFile(const MemoryFile&) = delete;
  MemoryFile& operator=(const MemoryFile&) = delete;

  // Replaces the file's contents and returns a path that opens it.
  std::string write(const uint8_t* data, size_t size) {
    if (::ftruncate(fd_, 0) != 0) fail("ftruncate failed");
    size_t done = 0;
    while (done < size) {
      const ssize_t n = ::pwrite(fd_, data + done, size - done, static_cast<off_t>(done));
      if (n <= 0) fail("pwrite failed");
      done += static_cast<size_t>(n);
    }
    return "/proc/self/fd/" + std::to_string(fd_);
  }

 private:
  int fd_;
};

inline std::string_view as_text(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

}  // namespace tessera::fuzz
