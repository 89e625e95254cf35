// Buffer (see buffer.h).
#include "runtime/buffer.h"

#include <fmt/format.h>

#include <utility>

#include "common/check.h"

namespace tessera::runtime {

Buffer Buffer::allocate(std::shared_ptr<Device> device, size_t bytes, tsr_buffer_kind kind) {
  TSR_CHECK(device != nullptr, "Buffer::allocate without a device");
  Buffer buffer;
  device->check(device->api().buffer_alloc(device->handle(), bytes, kind, &buffer.handle_),
                fmt::format("buffer_alloc({} bytes)", bytes));
  TSR_CHECK_KIND(buffer.handle_ != nullptr, ErrorKind::kInternal,
                 "{}: buffer_alloc succeeded but returned no handle", device->plugin().name());
  buffer.device_ = std::move(device);
  buffer.bytes_ = bytes;
  buffer.kind_ = kind;
  return buffer;
}

Buffer::Buffer(Buffer&& other) noexcept
    : device_(std::move(other.device_)),
      handle_(std::exchange(other.handle_, nullptr)),
      bytes_(std::exchange(other.bytes_, 0)),
      kind_(other.kind_) {}

Buffer& Buffer::operator=(Buffer&& other) noexcept {
  if (this != &other) {
    reset();
    device_ = std::move(other.device_);
    handle_ = std::exchange(other.handle_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
    kind_ = other.kind_;
  }
  return *this;
}

void Buffer::reset() noexcept {
  if (handle_ != nullptr) {
    log_release_error(device_->api().buffer_free(handle_), device_->plugin().name(), "buffer_free");
  }
  handle_ = nullptr;
  bytes_ = 0;
  device_.reset();
}

void* Buffer::host_ptr() const {
  TSR_CHECK(valid(), "host_ptr of an empty buffer");
  void* ptr = nullptr;
  device_->check(device_->api().buffer_host_ptr(handle_, &ptr), "buffer_host_ptr");
  return ptr;
}

void Buffer::check_range(size_t offset, size_t bytes, const char* what) const {
  TSR_CHECK(valid(), "{}: empty buffer", what);
  TSR_CHECK(offset <= bytes_ && bytes <= bytes_ - offset,
            "{}: range [{}, {}+{}) outside a buffer of {} bytes", what, offset, offset, bytes,
            bytes_);
}

}  // namespace tessera::runtime
