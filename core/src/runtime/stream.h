// Stream and Event: ordered work queues of a device and markers in them (stream_* and
// event_* of the ABI), move-only, each keeping its Device alive. Copies are asynchronous:
// host memory passed to them must stay valid until synchronize() (the ABI's rule). Ranges
// are checked against buffer sizes here, before the plugin sees them.
#pragma once

#include <cstddef>
#include <memory>

#include "runtime/buffer.h"
#include "runtime/device.h"

namespace tessera::runtime {

class Event;

class Stream {
 public:
  static Stream create(std::shared_ptr<Device> device);

  Stream() = default;
  ~Stream() { reset(); }
  Stream(Stream&& other) noexcept;
  Stream& operator=(Stream&& other) noexcept;
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  void reset() noexcept;
  bool valid() const { return handle_ != nullptr; }
  tsr_stream_t handle() const { return handle_; }
  Device& device() const { return *device_; }

  void synchronize();
  void copy_to_device(const Buffer& dst, size_t dst_offset, const void* src, size_t bytes);
  void copy_to_host(void* dst, const Buffer& src, size_t src_offset, size_t bytes);
  void copy(const Buffer& dst, size_t dst_offset, const Buffer& src, size_t src_offset,
            size_t bytes);
  void fill(const Buffer& dst, size_t offset, int value, size_t bytes);
  // Later work on this stream waits until `event` (recorded on any stream) completed.
  void wait(const Event& event);

 private:
  void check_device(const Buffer& buffer, const char* what) const;

  std::shared_ptr<Device> device_;
  tsr_stream_t handle_ = nullptr;
};

class Event {
 public:
  static Event create(std::shared_ptr<Device> device);

  Event() = default;
  ~Event() { reset(); }
  Event(Event&& other) noexcept;
  Event& operator=(Event&& other) noexcept;
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;

  void reset() noexcept;
  bool valid() const { return handle_ != nullptr; }
  tsr_event_t handle() const { return handle_; }

  void record(Stream& stream);
  void synchronize();
  // Milliseconds between two recorded, completed events of one device.
  static float elapsed_ms(const Event& start, const Event& end);

 private:
  std::shared_ptr<Device> device_;
  tsr_event_t handle_ = nullptr;
};

}  // namespace tessera::runtime
