// --device parsing and resolution (see tessera/device_spec.h, runtime/device_selector.h).
#include "runtime/device_selector.h"

#include <fmt/format.h>

#include <charconv>

#include "common/check.h"

namespace tessera {

std::string DeviceSpec::to_string() const {
  return index ? fmt::format("{}:{}", plugin, *index) : plugin;
}

DeviceSpec parse_device_spec(std::string_view text) {
  DeviceSpec spec;
  const auto colon = text.find(':');
  const std::string_view name = text.substr(0, colon);
  TSR_CHECK(!name.empty(),
            "invalid --device '{}': expected auto, cpu, cuda, xpu or a plugin "
            "name, optionally followed by :N",
            text);
  spec.plugin = std::string(name);
  if (colon == std::string_view::npos) return spec;
  const std::string_view digits = text.substr(colon + 1);
  int32_t index = -1;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), index);
  TSR_CHECK(
      !digits.empty() && ec == std::errc() && end == digits.data() + digits.size() && index >= 0,
      "invalid --device '{}': the device index after ':' must be a number >= 0", text);
  TSR_CHECK(!spec.is_auto(),
            "invalid --device '{}': auto picks the device itself; use "
            "<plugin>:N to choose an index",
            text);
  spec.index = index;
  return spec;
}

namespace runtime {

std::string DeviceChoice::to_string() const {
  return fmt::format("{}:{}", plugin->name(), index);
}

std::string list_usable_devices(const PluginRegistry& registry) {
  std::string out;
  for (const auto& plugin : registry.plugins()) {
    for (const auto& device : plugin->devices()) {
      if (!out.empty()) out += ", ";
      out += fmt::format("{}:{}", plugin->name(), device.index);
    }
  }
  return out.empty() ? "none" : out;
}

namespace {
std::string where_searched(const PluginRegistry& registry) {
  std::string dirs;
  for (const auto& dir : registry.searched_dirs()) dirs += (dirs.empty() ? "" : ", ") + dir;
  return dirs.empty() ? "no plugin directories" : dirs;
}
}  // namespace

DeviceChoice select_device(const PluginRegistry& registry, const DeviceSpec& spec) {
  if (spec.is_auto()) {
    const LoadedPlugin* best = nullptr;
    for (const auto& plugin : registry.plugins()) {
      if (plugin->devices().empty() || plugin->score() <= 0) continue;
      if (best == nullptr || plugin->score() > best->score()) best = plugin.get();
    }
    TSR_CHECK_KIND(best != nullptr, ErrorKind::kNotFound,
                   "--device auto: no plugin with a usable device ({} plugin(s) loaded, {} "
                   "refused; searched {}); run `tessera plugins` to see why",
                   registry.plugins().size(), registry.refusals().size(), where_searched(registry));
    return DeviceChoice{best, spec.index.value_or(0)};
  }

  const LoadedPlugin* plugin = registry.find(spec.plugin);
  if (plugin == nullptr) {
    if (const Refusal* refusal = registry.find_refusal(spec.plugin)) {
      throw Error(fmt::format("--device {}: plugin {} was refused: {}", spec.to_string(),
                              refusal->file, refusal->reason),
                  ErrorKind::kUnavailable);
    }
    throw Error(fmt::format("--device {}: no plugin named '{}' (available devices: {}; "
                            "searched {})",
                            spec.to_string(), spec.plugin, list_usable_devices(registry),
                            where_searched(registry)),
                ErrorKind::kNotFound);
  }
  const auto count = static_cast<int32_t>(plugin->devices().size());
  if (count == 0) {
    throw Error(fmt::format("--device {}: plugin '{}' has no devices ({})", spec.to_string(),
                            plugin->name(),
                            plugin->status_note().empty() ? "no status" : plugin->status_note()),
                ErrorKind::kUnavailable);
  }
  const int32_t index = spec.index.value_or(0);
  TSR_CHECK_KIND(index < count, ErrorKind::kNotFound,
                 "--device {}: device index {} out of range: plugin '{}' has {} device(s) "
                 "({}:0 to {}:{})",
                 spec.to_string(), index, plugin->name(), count, plugin->name(), plugin->name(),
                 count - 1);
  return DeviceChoice{plugin, index};
}

}  // namespace runtime
}  // namespace tessera
