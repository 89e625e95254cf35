// Device: an open device of a loaded plugin (see device.h).
#include "runtime/device.h"

#include <fmt/format.h>

#include "common/check.h"
#include "common/log.h"
#include "runtime/plugin_error.h"

namespace tessera::runtime {

void log_release_error(tsr_error* error, const std::string& plugin, std::string_view call) {
  if (error == nullptr) return;
  TSR_LOG_WARN("{}: {}: {}", plugin, call, take_error_message(error));
}

std::shared_ptr<Device> Device::open(const LoadedPlugin& plugin, int32_t index) {
  const auto count = static_cast<int32_t>(plugin.devices().size());
  TSR_CHECK_KIND(index >= 0 && index < count, ErrorKind::kNotFound,
                 "{}: device index {} out of range ({} device(s))", plugin.name(), index, count);
  tsr_device_t handle = nullptr;
  throw_if_error(plugin.api()->device_open(index, &handle), plugin.name(),
                 fmt::format("device_open({})", index));
  TSR_CHECK_KIND(handle != nullptr, ErrorKind::kInternal,
                 "{}: device_open({}) succeeded but returned no handle", plugin.name(), index);
  return std::make_shared<Device>(Key{}, plugin, index, handle);
}

Device::Device(Key, const LoadedPlugin& plugin, int32_t index, tsr_device_t handle)
    : plugin_(&plugin), index_(index), handle_(handle) {}

Device::~Device() {
  log_release_error(api().device_close(handle_), plugin_->name(), "device_close");
}

const DeviceInfo& Device::info() const {
  return plugin_->devices().at(static_cast<size_t>(index_));
}

std::string Device::label() const {
  return fmt::format("{}:{}", plugin_->name(), index_);
}

void Device::check(tsr_error* error, std::string_view call) const {
  throw_if_error(error, plugin_->name(), call);
}

MemoryInfo Device::memory_info() const {
  MemoryInfo info;
  check(api().device_memory_info(handle_, &info.free_bytes, &info.total_bytes),
        "device_memory_info");
  return info;
}

uint64_t Device::kv_block_bytes(const tsr_kv_layout& layout) const {
  uint64_t bytes = 0;
  check(api().kv_block_bytes(handle_, &layout, &bytes), "kv_block_bytes");
  return bytes;
}

bool Device::op_supported(tsr_op_id op, const void* params) const {
  return api().op_supported(handle_, op, params) != 0;
}

}  // namespace tessera::runtime
