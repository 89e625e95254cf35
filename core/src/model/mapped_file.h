// A read-only memory mapping of a whole file. Model weights are mapped, never read into
// copies: the kernel pages them in on first touch and the page cache is shared between
// processes. Move-only; unmaps on destruction, so views into it must not outlive it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace tessera::model {

class MappedFile {
 public:
  // Throws tessera::Error naming the path when the file cannot be opened or mapped.
  explicit MappedFile(const std::string& path);
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  const std::string& path() const { return path_; }
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  std::span<const uint8_t> bytes() const { return {data_, size_}; }

 private:
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

// Drops the resident pages of [data, data + bytes), a range of a MappedFile, once their
// contents were copied elsewhere (weights prepacked by a plugin): the load's peak memory is
// then the plugin's copy plus one weight, not plus the whole file. Reading the range again
// is still correct: the kernel reloads it from the file. Best effort; never fails.
void release_mapped_pages(const void* data, size_t bytes) noexcept;

}  // namespace tessera::model
