// Buffer: one plugin buffer (buffer_alloc / buffer_free), move-only. Keeps its Device alive.
// Freeing waits for no stream (ABI rule): synchronize the streams using it first.
#pragma once

#include <cstddef>
#include <memory>

#include "runtime/device.h"

namespace tessera::runtime {

class Buffer {
 public:
  static Buffer allocate(std::shared_ptr<Device> device, size_t bytes,
                         tsr_buffer_kind kind = TSR_BUFFER_KIND_DEVICE);

  Buffer() = default;
  ~Buffer() { reset(); }
  Buffer(Buffer&& other) noexcept;
  Buffer& operator=(Buffer&& other) noexcept;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  void reset() noexcept;  // frees now; the buffer becomes empty
  bool valid() const { return handle_ != nullptr; }
  tsr_buffer_t handle() const { return handle_; }
  size_t bytes() const { return bytes_; }
  tsr_buffer_kind kind() const { return kind_; }
  Device& device() const { return *device_; }
  // The host address (HOST_PINNED, or DEVICE with UNIFIED_HOST); throws otherwise.
  void* host_ptr() const;
  // Throws unless [offset, offset + bytes) lies inside the buffer.
  void check_range(size_t offset, size_t bytes, const char* what) const;

 private:
  std::shared_ptr<Device> device_;
  tsr_buffer_t handle_ = nullptr;
  size_t bytes_ = 0;
  tsr_buffer_kind kind_ = TSR_BUFFER_KIND_DEVICE;
};

}  // namespace tessera::runtime
