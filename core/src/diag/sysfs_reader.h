// Reading sysfs/procfs for the host checks, with two seams for tests:
//   - a root prefix (`--root DIR` / TESSERA_DIAG_ROOT): every logical path such as
//     "/sys/bus/pci/devices" is read under DIR, so fixture trees stand in for a machine;
//   - an injectable FileReader, so a test can make chosen paths fail with EACCES even when
//     it runs as root (root ignores file modes).
// A failed read is a value (Field with a ReadStatus), never an exception: an unreadable
// file must become NEEDS_ROOT, a missing one "not present", and neither may abort a check.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace tessera::diag {

enum class ReadStatus {
  kOk,
  kMissing,   // ENOENT / ENOTDIR: the kernel or driver does not expose it
  kNoAccess,  // EACCES / EPERM: needs privileges
  kError,     // anything else (EIO, EINVAL …); `error` says what
};

// One value read from a file (trimmed of surrounding whitespace) or a symlink target.
struct Field {
  ReadStatus status = ReadStatus::kMissing;
  std::string text;
  std::string path;   // logical path (without the root prefix), for hints
  std::string error;  // strerror text when status is not kOk

  bool ok() const { return status == ReadStatus::kOk; }
};

// Convenience for tests and rules: a successfully read value.
Field field_ok(std::string text, std::string path = {});
// A failed read with the given status.
Field field_failed(ReadStatus status, std::string path = {});

struct DirListing {
  ReadStatus status = ReadStatus::kMissing;
  std::vector<std::string> names;  // sorted, without "." and ".."
  std::string error;
};

// The file-system access the reader uses. Paths given here are real (already prefixed).
class FileReader {
 public:
  virtual ~FileReader() = default;
  // Whole file contents up to a few MiB (sysfs/procfs files are small).
  virtual Field read_file(const std::string& path) const = 0;
  virtual DirListing list_dir(const std::string& path) const = 0;
  // The target of a symlink, as stored.
  virtual Field read_link(const std::string& path) const = 0;
};

// POSIX open/read/readlink/opendir; errno decides the ReadStatus.
class PosixFileReader final : public FileReader {
 public:
  Field read_file(const std::string& path) const override;
  DirListing list_dir(const std::string& path) const override;
  Field read_link(const std::string& path) const override;
};

class SysfsReader {
 public:
  // root: "" or "/" reads the live system. fs: nullptr means PosixFileReader.
  explicit SysfsReader(std::string root = {}, std::shared_ptr<const FileReader> fs = nullptr);

  const std::string& root() const { return root_; }
  // The real path of a logical absolute path.
  std::string real_path(std::string_view logical) const;

  // File contents, trimmed; Field::path is the logical path.
  Field read(std::string_view logical) const;
  // File contents untrimmed (for multi-line files like /proc/cpuinfo).
  Field read_raw(std::string_view logical) const;
  DirListing list(std::string_view logical) const;
  // A symlink's target, as stored (usually relative).
  Field link_target(std::string_view logical) const;
  // Last component of a symlink's target ("amdgpu" for …/drivers/amdgpu).
  Field link_basename(std::string_view logical) const;

 private:
  std::string root_;
  std::shared_ptr<const FileReader> fs_;
};

// Root from the TESSERA_DIAG_ROOT environment variable ("" when unset).
std::string root_from_environment();

}  // namespace tessera::diag
