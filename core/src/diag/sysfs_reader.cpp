// POSIX implementation of FileReader and the root-prefixing SysfsReader; see sysfs_reader.h.
#include "diag/sysfs_reader.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace tessera::diag {

namespace {

// /proc/cpuinfo of a 512-thread machine is about 1 MiB; nothing we read is larger.
constexpr size_t kMaxFileBytes = 8u << 20;

ReadStatus status_from_errno(int err) {
  switch (err) {
    case ENOENT:
    case ENOTDIR:
      return ReadStatus::kMissing;
    case EACCES:
    case EPERM:
      return ReadStatus::kNoAccess;
    default:
      return ReadStatus::kError;
  }
}

Field failed(int err, const std::string& path) {
  Field f;
  f.status = status_from_errno(err);
  f.path = path;
  f.error = std::strerror(err);
  return f;
}

std::string trim(std::string s) {
  const auto not_space = [](unsigned char c) {
    return c != ' ' && c != '\n' && c != '\t' && c != '\r';
  };
  s.erase(s.begin(), std::find_if(s.begin(), s.end(), not_space));
  s.erase(std::find_if(s.rbegin(), s.rend(), not_space).base(), s.end());
  return s;
}

}  // namespace

Field field_ok(std::string text, std::string path) {
  Field f;
  f.status = ReadStatus::kOk;
  f.text = std::move(text);
  f.path = std::move(path);
  return f;
}

Field field_failed(ReadStatus status, std::string path) {
  Field f;
  f.status = status;
  f.path = std::move(path);
  return f;
}

Field PosixFileReader::read_file(const std::string& path) const {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return failed(errno, path);
  std::string data;
  std::array<char, 4096> chunk{};
  for (;;) {
    const ssize_t n = ::read(fd, chunk.data(), chunk.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      return failed(err, path);
    }
    if (n == 0) break;
    data.append(chunk.data(), static_cast<size_t>(n));
    if (data.size() > kMaxFileBytes) break;
  }
  ::close(fd);
  return field_ok(std::move(data), path);
}

DirListing PosixFileReader::list_dir(const std::string& path) const {
  DirListing out;
  DIR* dir = ::opendir(path.c_str());
  if (dir == nullptr) {
    out.status = status_from_errno(errno);
    out.error = std::strerror(errno);
    return out;
  }
  while (const dirent* entry = ::readdir(dir)) {
    const std::string name = entry->d_name;
    if (name != "." && name != "..") out.names.push_back(name);
  }
  ::closedir(dir);
  std::sort(out.names.begin(), out.names.end());
  out.status = ReadStatus::kOk;
  return out;
}

Field PosixFileReader::read_link(const std::string& path) const {
  std::array<char, 4096> buf{};
  const ssize_t n = ::readlink(path.c_str(), buf.data(), buf.size() - 1);
  if (n < 0) return failed(errno, path);
  return field_ok(std::string(buf.data(), static_cast<size_t>(n)), path);
}

SysfsReader::SysfsReader(std::string root, std::shared_ptr<const FileReader> fs)
    : root_(std::move(root)), fs_(std::move(fs)) {
  while (!root_.empty() && root_.back() == '/') root_.pop_back();
  if (!fs_) fs_ = std::make_shared<PosixFileReader>();
}

std::string SysfsReader::real_path(std::string_view logical) const {
  return root_ + std::string(logical);
}

Field SysfsReader::read_raw(std::string_view logical) const {
  Field f = fs_->read_file(real_path(logical));
  f.path = std::string(logical);
  return f;
}

Field SysfsReader::read(std::string_view logical) const {
  Field f = read_raw(logical);
  if (f.ok()) f.text = trim(std::move(f.text));
  return f;
}

DirListing SysfsReader::list(std::string_view logical) const {
  return fs_->list_dir(real_path(logical));
}

Field SysfsReader::link_target(std::string_view logical) const {
  Field f = fs_->read_link(real_path(logical));
  f.path = std::string(logical);
  return f;
}

Field SysfsReader::link_basename(std::string_view logical) const {
  Field f = link_target(logical);
  if (f.ok()) {
    std::string target = trim(std::move(f.text));
    while (!target.empty() && target.back() == '/') target.pop_back();
    const auto slash = target.rfind('/');
    f.text = slash == std::string::npos ? target : target.substr(slash + 1);
  }
  return f;
}

std::string root_from_environment() {
  const char* env = std::getenv("TESSERA_DIAG_ROOT");
  return env != nullptr ? std::string(env) : std::string();
}

}  // namespace tessera::diag
