// Resolves a --device value (tessera/device_spec.h) against the loaded plugins.
//   auto      -> the plugin with the highest score (> 0) that has at least one device;
//                ties go to the plugin found first in the search order; its device 0.
//   name[:N]  -> the plugin called `name`, device N (default 0).
// Every failure throws tessera::Error with one line that says what to do: an unknown name
// lists the usable devices, an index out of range says how many there are, a refused
// plugin says why it was refused, a plugin without devices repeats its status note.
#pragma once

#include <cstdint>
#include <string>

#include "runtime/plugin_registry.h"
#include "tessera/device_spec.h"

namespace tessera::runtime {

struct DeviceChoice {
  const LoadedPlugin* plugin = nullptr;  // owned by the registry
  int32_t index = 0;

  const DeviceInfo& info() const { return plugin->devices().at(static_cast<size_t>(index)); }
  std::string to_string() const;  // "cuda:1"
};

DeviceChoice select_device(const PluginRegistry& registry, const DeviceSpec& spec);

// "cpu:0, cuda:0, cuda:1" — every usable device, or "none" (for messages).
std::string list_usable_devices(const PluginRegistry& registry);

}  // namespace tessera::runtime
