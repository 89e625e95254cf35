// Plugin discovery and loading (Boost.DLL). The registry owns every loaded plugin for the
// life of the process: a plugin is never unloaded while anything it made may be alive.
//
// Search order: LoaderOptions::plugin_dirs (--plugin-dir), then TESSERA_PLUGIN_PATH
// (colon-separated), then <executable dir>/../lib/tessera/plugins (build and install
// layouts are the same). Files named libtessera-<name>.so are candidates. Each candidate is
// either loaded or recorded as a Refusal with a reason; loading never throws for a bad
// plugin and never crashes on one.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tessera/plugin.h"

namespace tessera::runtime {

struct LoaderOptions {
  std::vector<std::string> plugin_dirs;  // searched first, in order
  bool use_environment = true;           // read TESSERA_PLUGIN_PATH
  bool use_default_dir = true;           // <exe>/../lib/tessera/plugins
};

struct DeviceInfo {
  int32_t index = 0;
  tsr_device_properties properties{};
  uint64_t free_memory = 0;   // 0 when unknown
  uint64_t total_memory = 0;
};

// One plugin that passed every check. Devices were counted after initialize().
class LoadedPlugin {
 public:
  virtual ~LoadedPlugin() = default;
  virtual const std::string& name() const = 0;       // tsr_plugin_api::name
  virtual const std::string& file() const = 0;       // absolute path of the .so
  virtual uint32_t abi_major() const = 0;
  virtual uint32_t abi_minor() const = 0;
  virtual int32_t score() const = 0;                 // tsr_plugin_score(), 1 when absent
  virtual const tsr_plugin_api* api() const = 0;
  virtual const std::vector<DeviceInfo>& devices() const = 0;
  virtual const std::string& status_note() const = 0;// e.g. "no CUDA driver: 0 devices"
};

struct Refusal {
  std::string file;
  std::string reason;  // one line: "not a shared object: …", "ABI major 2, host 1", …
};

class PluginRegistry {
 public:
  static std::unique_ptr<PluginRegistry> discover(const LoaderOptions& options);
  virtual ~PluginRegistry() = default;

  virtual const std::vector<std::unique_ptr<LoadedPlugin>>& plugins() const = 0;
  virtual const std::vector<Refusal>& refusals() const = 0;
  // Every directory searched, in order (for `tessera plugins` and error messages).
  virtual const std::vector<std::string>& searched_dirs() const = 0;
};

}  // namespace tessera::runtime
