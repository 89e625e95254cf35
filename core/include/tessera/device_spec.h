// The `--device` value every tessera command takes: auto | <plugin>[:N[,M…]], where <plugin>
// is a plugin name ("cpu", "cuda", "xpu", or a third-party plugin's name); a list of indices
// names the devices of a tensor-parallel run, one per rank ("cuda:2,3"). A value type only;
// choosing devices among the loaded plugins is runtime/device_selector.h.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tessera {

struct DeviceSpec {
  std::string plugin = "auto";   // "auto" or a plugin name
  std::optional<int32_t> index;  // absent: device 0 of that plugin (auto: of the best plugin)
  // Every index given, in order ("cuda:2,3" -> {2, 3}); index is the first. Empty: none.
  std::vector<int32_t> indices;

  bool is_auto() const { return plugin == "auto"; }
  std::string to_string() const;  // "auto", "cuda", "cuda:1", "cuda:2,3"
};

// Parses "auto", "cpu", "cuda:1", "cuda:2,3", … Throws tessera::Error (tessera/check.h) with
// one line naming the bad part for an empty name, a bad or repeated index ("cuda:x",
// "cuda:-1", "cuda:1,1") or "auto:N".
DeviceSpec parse_device_spec(std::string_view text);

}  // namespace tessera
