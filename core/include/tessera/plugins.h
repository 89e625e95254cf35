// Public: plugin discovery, the device inventory, device selection and Ctrl-C cancellation,
// what `tessera plugins`, `diagnose`, `plan` and `tune` need. Loading itself (Boost.DLL, the
// host services table, the RAII device wrappers) stays inside the core.
//
// Plugin discovery and loading. The registry owns every loaded plugin for the life of the
// process: a plugin is never unloaded while anything it made may be alive.
//
// Search order: LoaderOptions::plugin_dirs (--plugin-dir), then TESSERA_PLUGIN_PATH
// (colon-separated), then <executable dir>/../lib/tessera/plugins (build and install
// layouts are the same). Files named libtessera-<name>.so are candidates. Each candidate is
// either loaded or recorded as a Refusal with a reason; loading never throws for a bad
// plugin and never crashes on one.
//
// Ownership: the core's device objects point into a LoadedPlugin, so the registry must
// outlive every engine and DeviceChoice made from it; keep one registry for the whole
// process. Destroying the registry calls shutdown() on every initialized plugin and unloads
// it.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tessera/device_spec.h"
#include "tessera/plugin.h"

namespace tessera::runtime {

struct LoaderOptions {
  std::vector<std::string> plugin_dirs;  // searched first, in order
  bool use_environment = true;           // read TESSERA_PLUGIN_PATH
  bool use_default_dir = true;           // <exe>/../lib/tessera/plugins
  // Replaces <exe>/../lib/tessera/plugins when non-empty (tests; relocated installs).
  std::string default_dir;
  // --plugin-option key=value pairs; installed into the process-wide host services (the
  // tsr_host_api every plugin reads options from) before any plugin is loaded. They win over
  // TESSERA_PLUGIN_OPT_<KEY> environment variables.
  std::map<std::string, std::string> plugin_options;
  // Open each device once to read free/total memory (falls back to total_memory).
  bool query_memory = true;
};

struct DeviceInfo {
  int32_t index = 0;
  tsr_device_properties properties{};
  uint64_t free_memory = 0;  // 0 when unknown
  uint64_t total_memory = 0;
};

// One plugin that passed every check. Devices were counted after initialize().
class LoadedPlugin {
 public:
  virtual ~LoadedPlugin() = default;
  virtual const std::string& name() const = 0;  // tsr_plugin_api::name
  virtual const std::string& file() const = 0;  // absolute path of the .so
  virtual uint32_t abi_major() const = 0;
  virtual uint32_t abi_minor() const = 0;
  virtual int32_t score() const = 0;  // tsr_plugin_score(), 1 when absent
  virtual const tsr_plugin_api* api() const = 0;
  virtual const std::vector<DeviceInfo>& devices() const = 0;
  virtual const std::string& status_note() const = 0;  // e.g. "no CUDA driver: 0 devices"
  virtual const std::string& version() const = 0;      // tsr_plugin_api::version ("" if NULL)
  virtual tsr_device_type device_type() const = 0;
};

struct Refusal {
  std::string file;
  std::string reason;  // one line: "not a shared object: …", "ABI major 2, host 1", …
  // The plugin's own name when its table could be read, else the <name> of
  // libtessera-<name>.so; lets `--device <name>` explain why that plugin is unusable.
  std::string name;
};

// Where a searched directory came from, for listings.
enum class SearchOrigin { kPluginDirFlag, kEnvironment, kDefault };

struct SearchDir {
  std::string path;
  SearchOrigin origin = SearchOrigin::kDefault;
  bool exists = false;
};

const char* search_origin_name(
    SearchOrigin origin);  // "--plugin-dir", "TESSERA_PLUGIN_PATH", "default"
const char* device_type_name(tsr_device_type type);  // "cpu", "cuda", "xpu", "other"
const char* error_code_name(tsr_error_code code);    // "invalid argument", …

class PluginRegistry {
 public:
  static std::unique_ptr<PluginRegistry> discover(const LoaderOptions& options);
  virtual ~PluginRegistry() = default;

  virtual const std::vector<std::unique_ptr<LoadedPlugin>>& plugins() const = 0;
  virtual const std::vector<Refusal>& refusals() const = 0;
  // Every directory searched, in order (for `tessera plugins` and error messages).
  virtual const std::vector<std::string>& searched_dirs() const = 0;
  // The same directories with their origin and whether they exist.
  virtual const std::vector<SearchDir>& search_path() const = 0;

  // The loaded plugin with this name, or nullptr.
  const LoadedPlugin* find(const std::string& name) const;
  // The refusal of a plugin with this name (Refusal::name), or nullptr.
  const Refusal* find_refusal(const std::string& name) const;
};

// One device of one loaded plugin, as --device names it.
struct DeviceChoice {
  const LoadedPlugin* plugin = nullptr;  // owned by the registry
  int32_t index = 0;

  const DeviceInfo& info() const { return plugin->devices().at(static_cast<size_t>(index)); }
  std::string to_string() const;  // "cuda:1"
};

// Resolves a --device value against the loaded plugins: auto is the plugin with the highest
// score (> 0) that has a device (ties: the first in search order), device 0; name[:N] is
// device N (default 0) of the plugin called `name`. Throws tessera::Error with one line that
// says what to do (an unknown name lists the usable devices, a refused plugin says why).
DeviceChoice select_device(const PluginRegistry& registry, const DeviceSpec& spec);

// "cpu:0, cuda:0, cuda:1" — every usable device, or "none" (for messages).
std::string list_usable_devices(const PluginRegistry& registry);

// Device-to-device copy time of one device: what `tessera bench latency` turns into the
// device's memory bandwidth for its decode roofline.
struct DeviceCopyTiming {
  std::string device;        // "cuda:0"
  uint64_t array_bytes = 0;  // bytes of one copy
  int repetitions = 0;
  double best_seconds = 0;  // the fastest copy, host time around a stream synchronize
};

// Opens device `choice`, fills two buffers of `array_bytes` (0: a tenth of the device's free
// memory, clamped to 16 MiB .. 1 GiB), copies one into the other once to warm up and then
// `repetitions` times on one stream. Every buffer and the device are released before it
// returns. Throws tessera::Error for repetitions < 1 or a failed allocation.
DeviceCopyTiming time_device_copy(const DeviceChoice& choice, uint64_t array_bytes,
                                  int repetitions);

// Cancellation: a process-wide flag plugins poll through tsr_host_api::cancel_requested and
// long loops of the tools (`tessera tune`) check between steps.
void request_cancel() noexcept;  // async-signal-safe
void clear_cancel() noexcept;
bool cancel_requested() noexcept;
// Installs a SIGINT handler that calls request_cancel(); a second SIGINT terminates the
// process as usual (the handler restores the default action after the first).
void install_cancel_on_sigint();

}  // namespace tessera::runtime
