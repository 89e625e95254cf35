// Stream and Event (see stream.h).
#include "runtime/stream.h"

#include <utility>

#include "common/check.h"

namespace tessera::runtime {

Stream Stream::create(std::shared_ptr<Device> device) {
  TSR_CHECK(device != nullptr, "Stream::create without a device");
  Stream stream;
  device->check(device->api().stream_create(device->handle(), &stream.handle_), "stream_create");
  TSR_CHECK_KIND(stream.handle_ != nullptr, ErrorKind::kInternal,
                 "{}: stream_create succeeded but returned no handle", device->plugin().name());
  stream.device_ = std::move(device);
  return stream;
}

Stream::Stream(Stream&& other) noexcept
    : device_(std::move(other.device_)), handle_(std::exchange(other.handle_, nullptr)) {}

Stream& Stream::operator=(Stream&& other) noexcept {
  if (this != &other) {
    reset();
    device_ = std::move(other.device_);
    handle_ = std::exchange(other.handle_, nullptr);
  }
  return *this;
}

void Stream::reset() noexcept {
  if (handle_ != nullptr) {
    log_release_error(device_->api().stream_destroy(handle_), device_->plugin().name(),
                      "stream_destroy");
  }
  handle_ = nullptr;
  device_.reset();
}

void Stream::check_device(const Buffer& buffer, const char* what) const {
  TSR_CHECK(valid(), "{} on an empty stream", what);
  TSR_CHECK(buffer.valid() && &buffer.device() == device_.get(),
            "{}: the buffer belongs to another device than the stream ({})", what,
            device_->label());
}

void Stream::synchronize() {
  TSR_CHECK(valid(), "synchronize on an empty stream");
  device_->check(device_->api().stream_synchronize(handle_), "stream_synchronize");
}

void Stream::copy_to_device(const Buffer& dst, size_t dst_offset, const void* src, size_t bytes) {
  check_device(dst, "memcpy_h2d");
  dst.check_range(dst_offset, bytes, "memcpy_h2d");
  device_->check(device_->api().memcpy_h2d(handle_, dst.handle(), dst_offset, src, bytes),
                 "memcpy_h2d");
}

void Stream::copy_to_host(void* dst, const Buffer& src, size_t src_offset, size_t bytes) {
  check_device(src, "memcpy_d2h");
  src.check_range(src_offset, bytes, "memcpy_d2h");
  device_->check(device_->api().memcpy_d2h(handle_, dst, src.handle(), src_offset, bytes),
                 "memcpy_d2h");
}

void Stream::copy(const Buffer& dst, size_t dst_offset, const Buffer& src, size_t src_offset,
                  size_t bytes) {
  check_device(dst, "memcpy_d2d");
  check_device(src, "memcpy_d2d");
  dst.check_range(dst_offset, bytes, "memcpy_d2d destination");
  src.check_range(src_offset, bytes, "memcpy_d2d source");
  device_->check(
      device_->api().memcpy_d2d(handle_, dst.handle(), dst_offset, src.handle(), src_offset, bytes),
      "memcpy_d2d");
}

void Stream::fill(const Buffer& dst, size_t offset, int value, size_t bytes) {
  check_device(dst, "memset_d");
  dst.check_range(offset, bytes, "memset_d");
  device_->check(device_->api().memset_d(handle_, dst.handle(), offset, value, bytes), "memset_d");
}

void Stream::wait(const Event& event) {
  TSR_CHECK(valid() && event.valid(), "stream_wait_event on an empty stream or event");
  device_->check(device_->api().stream_wait_event(handle_, event.handle()), "stream_wait_event");
}

Event Event::create(std::shared_ptr<Device> device) {
  TSR_CHECK(device != nullptr, "Event::create without a device");
  Event event;
  device->check(device->api().event_create(device->handle(), &event.handle_), "event_create");
  TSR_CHECK_KIND(event.handle_ != nullptr, ErrorKind::kInternal,
                 "{}: event_create succeeded but returned no handle", device->plugin().name());
  event.device_ = std::move(device);
  return event;
}

Event::Event(Event&& other) noexcept
    : device_(std::move(other.device_)), handle_(std::exchange(other.handle_, nullptr)) {}

Event& Event::operator=(Event&& other) noexcept {
  if (this != &other) {
    reset();
    device_ = std::move(other.device_);
    handle_ = std::exchange(other.handle_, nullptr);
  }
  return *this;
}

void Event::reset() noexcept {
  if (handle_ != nullptr) {
    log_release_error(device_->api().event_destroy(handle_), device_->plugin().name(),
                      "event_destroy");
  }
  handle_ = nullptr;
  device_.reset();
}

void Event::record(Stream& stream) {
  TSR_CHECK(valid() && stream.valid(), "event_record on an empty event or stream");
  TSR_CHECK(&stream.device() == device_.get(),
            "event_record: the stream belongs to another device");
  device_->check(device_->api().event_record(handle_, stream.handle()), "event_record");
}

void Event::synchronize() {
  TSR_CHECK(valid(), "event_synchronize on an empty event");
  device_->check(device_->api().event_synchronize(handle_), "event_synchronize");
}

float Event::elapsed_ms(const Event& start, const Event& end) {
  TSR_CHECK(start.valid() && end.valid(), "event_elapsed_ms on an empty event");
  TSR_CHECK(start.device_ == end.device_, "event_elapsed_ms: events of different devices");
  float ms = 0.0f;
  start.device_->check(start.device_->api().event_elapsed_ms(start.handle_, end.handle_, &ms),
                       "event_elapsed_ms");
  return ms;
}

}  // namespace tessera::runtime
