// The `--device` value every tessera command takes: auto | <plugin>[:N], where <plugin> is
// a plugin name ("cpu", "cuda", "xpu", or a third-party plugin's name). A value type only;
// choosing a device among the loaded plugins is runtime/device_selector.h.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tessera {

struct DeviceSpec {
  std::string plugin = "auto";   // "auto" or a plugin name
  std::optional<int32_t> index;  // absent: device 0 of that plugin (auto: of the best plugin)

  bool is_auto() const { return plugin == "auto"; }
  std::string to_string() const;  // "auto", "cuda", "cuda:1"
};

// Parses "auto", "cpu", "cuda:1", … Throws tessera::Error (common/check.h) with one line
// naming the bad part for an empty name, a bad index ("cuda:x", "cuda:-1") or "auto:N".
DeviceSpec parse_device_spec(std::string_view text);

}  // namespace tessera
