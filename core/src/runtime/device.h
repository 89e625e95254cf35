// RAII C++ wrappers over the plugin C ABI: Device (this file), Buffer (buffer.h), Stream and
// Event (stream.h), Weight (weight.h). Every tsr_error* a call returns is destroyed and
// rethrown as tessera::Error("<plugin>: <call>: <code>: <message>").
//
// Ownership (DESIGN.md: a device outlives what it made): a Device is held by shared_ptr and
// every Buffer/Stream/Event/Weight keeps a shared_ptr to its Device, so the device is closed
// only after the last object made on it was destroyed. A Device points into its
// LoadedPlugin, so the PluginRegistry must outlive every Device.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "tessera/plugins.h"
#include "tessera/plugin.h"

namespace tessera::runtime {

struct MemoryInfo {
  uint64_t free_bytes = 0;
  uint64_t total_bytes = 0;
};

class Device : public std::enable_shared_from_this<Device> {
  struct Key {};  // only open() constructs

 public:
  // Opens device `index` of `plugin` (device_open). Throws tessera::Error on failure or
  // for an index the plugin did not report.
  static std::shared_ptr<Device> open(const LoadedPlugin& plugin, int32_t index);

  Device(Key, const LoadedPlugin& plugin, int32_t index, tsr_device_t handle);
  ~Device();  // device_close; an error there is logged, never thrown
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;

  const LoadedPlugin& plugin() const { return *plugin_; }
  const tsr_plugin_api& api() const { return *plugin_->api(); }
  tsr_device_t handle() const { return handle_; }
  int32_t index() const { return index_; }
  const DeviceInfo& info() const;  // properties read at discovery
  std::string label() const;       // "cuda:1"

  MemoryInfo memory_info() const;
  uint64_t kv_block_bytes(const tsr_kv_layout& layout) const;
  // Whether `op` (with `params`, or in general when NULL) would run here.
  bool op_supported(tsr_op_id op, const void* params = nullptr) const;
  // The plugin's op table (entries may be NULL: unimplemented).
  const tsr_ops_api& ops() const { return *api().ops; }

  // Throws tessera::Error for a non-NULL error from `call` on this device's plugin.
  void check(tsr_error* error, std::string_view call) const;

 private:
  const LoadedPlugin* plugin_;
  int32_t index_;
  tsr_device_t handle_;
};

// Logs (never throws) an error from a destroy/free/close call made in a destructor.
void log_release_error(tsr_error* error, const std::string& plugin, std::string_view call);

}  // namespace tessera::runtime
