// --device parsing and resolution (see tessera/device_spec.h, runtime/device_selector.h).
#include "runtime/device_selector.h"

#include <fmt/format.h>

#include <fmt/ranges.h>

#include <algorithm>
#include <charconv>

#include "common/check.h"

namespace tessera {

std::string DeviceSpec::to_string() const {
  if (indices.size() > 1) return fmt::format("{}:{}", plugin, fmt::join(indices, ","));
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
  TSR_CHECK(!spec.is_auto(),
            "invalid --device '{}': auto picks the device itself; use "
            "<plugin>:N to choose an index",
            text);
  std::string_view rest = text.substr(colon + 1);
  for (;;) {
    const auto comma = rest.find(',');
    const std::string_view digits = rest.substr(0, comma);
    int32_t index = -1;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), index);
    TSR_CHECK(
        !digits.empty() && ec == std::errc() && end == digits.data() + digits.size() && index >= 0,
        "invalid --device '{}': each device index after ':' must be a number >= 0 (a list is "
        "comma-separated: cuda:2,3)",
        text);
    TSR_CHECK(std::find(spec.indices.begin(), spec.indices.end(), index) == spec.indices.end(),
              "invalid --device '{}': device {} is named twice", text, index);
    spec.indices.push_back(index);
    if (comma == std::string_view::npos) break;
    rest = rest.substr(comma + 1);
  }
  spec.index = spec.indices.front();
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

ModelNeeds serving_needs(const std::string& quantization, const std::string& dtype) {
  ModelNeeds needs;
  needs.ops = {TSR_OP_EMBEDDING, TSR_OP_RMS_NORM,       TSR_OP_LINEAR,
               TSR_OP_ROPE,      TSR_OP_KV_CACHE_WRITE, TSR_OP_PAGED_ATTENTION,
               TSR_OP_SILU_MUL,  TSR_OP_GATHER_ROWS,    TSR_OP_SAMPLE};
  if (quantization == "int8" || quantization == "sym_int8") {
    needs.weight_formats = TSR_WEIGHT_FORMAT_BIT(TSR_WEIGHT_FORMAT_INT8_GROUP);
  } else if (quantization == "int4" || quantization == "sym_int4") {
    needs.weight_formats = TSR_WEIGHT_FORMAT_BIT(TSR_WEIGHT_FORMAT_INT4_GROUP);
  } else if (quantization == "fp8") {
    needs.weight_formats = TSR_WEIGHT_FORMAT_BIT(TSR_WEIGHT_FORMAT_FP8_E4M3);
  }
  if (dtype == "float32" || dtype == "f32" || dtype == "float") {
    needs.activation_dtypes = TSR_DTYPE_BIT(TSR_DTYPE_F32);
  } else if (dtype == "bfloat16" || dtype == "bf16") {
    needs.activation_dtypes = TSR_DTYPE_BIT(TSR_DTYPE_BF16);
  } else if (dtype == "float16" || dtype == "f16" || dtype == "half") {
    needs.activation_dtypes = TSR_DTYPE_BIT(TSR_DTYPE_F16);
  }
  return needs;
}

std::string why_cannot_run(const LoadedPlugin& plugin, int32_t index, const ModelNeeds& needs) {
  const auto& devices = plugin.devices();
  if (index < 0 || static_cast<size_t>(index) >= devices.size()) return "no such device";
  const tsr_device_properties& props = devices[static_cast<size_t>(index)].properties;
  const uint32_t missing_formats = needs.weight_formats & ~props.weight_formats;
  if (missing_formats != 0) {
    return fmt::format("weight format(s) 0x{:x} not accepted (it takes 0x{:x})", missing_formats,
                       props.weight_formats);
  }
  if (needs.activation_dtypes != 0 && (needs.activation_dtypes & props.activation_dtypes) == 0) {
    return "the requested activation dtype is not supported";
  }
  const tsr_plugin_api* api = plugin.api();
  std::string missing;
  for (const tsr_op_id op : needs.ops) {
    const bool has_op = api != nullptr && api->op_supported != nullptr &&
                        api->op_supported(nullptr, op, nullptr) == 1;
    if (!has_op) missing += fmt::format("{}{}", missing.empty() ? "" : ", ", static_cast<int>(op));
  }
  if (!missing.empty()) return fmt::format("op(s) {} of ops.def not supported", missing);
  return "";
}

DeviceChoice select_device(const PluginRegistry& registry, const DeviceSpec& spec,
                           const ModelNeeds* needs) {
  TSR_CHECK_KIND(spec.indices.size() <= 1, ErrorKind::kInvalidArgument,
                 "--device {} names {} devices: that takes --tensor-parallel-size {}",
                 spec.to_string(), spec.indices.size(), spec.indices.size());
  return select_first_device(registry, spec, needs, 1);
}

DeviceChoice select_device(const PluginRegistry& registry, const DeviceSpec& spec) {
  return select_device(registry, spec, nullptr);
}

std::vector<DeviceChoice> select_devices(const PluginRegistry& registry, const DeviceSpec& spec,
                                         int32_t count, const ModelNeeds* needs) {
  TSR_CHECK_KIND(count >= 1, ErrorKind::kInvalidArgument,
                 "--tensor-parallel-size must be >= 1, got {}", count);
  if (spec.indices.size() > 1 || count > 1) {
    TSR_CHECK_KIND(spec.indices.size() <= 1 || static_cast<int32_t>(spec.indices.size()) == count,
                   ErrorKind::kInvalidArgument,
                   "--device {} names {} devices but --tensor-parallel-size is {}: name one "
                   "device per rank, or only the plugin (--device {})",
                   spec.to_string(), spec.indices.size(), count, spec.plugin);
  }
  const DeviceChoice first = select_first_device(registry, spec, needs, count);
  std::vector<DeviceChoice> choices;
  const auto available = static_cast<int32_t>(first.plugin->devices().size());
  for (int32_t rank = 0; rank < count; ++rank) {
    const int32_t index =
        spec.indices.size() > 1 ? spec.indices[static_cast<size_t>(rank)] : first.index + rank;
    if (index >= available) {
      throw Error(
          fmt::format("--tensor-parallel-size {} needs {} devices of plugin '{}' from {}:{} on, "
                      "but it has {} ({}:0 to {}:{}){}",
                      count, count, first.plugin->name(), first.plugin->name(), first.index,
                      available, first.plugin->name(), first.plugin->name(), available - 1,
                      first.plugin->name() == "cpu"
                          ? "; the cpu plugin makes N core-group devices with --plugin-option "
                            "cpu.devices=N"
                          : "; lower --tensor-parallel-size or name other devices"),
          ErrorKind::kNotFound);
    }
    choices.push_back(DeviceChoice{first.plugin, index});
  }
  return choices;
}

DeviceChoice select_first_device(const PluginRegistry& registry, const DeviceSpec& spec,
                                 const ModelNeeds* needs, int32_t ranks) {
  if (spec.is_auto()) {
    const LoadedPlugin* best = nullptr;
    std::string passed_over;
    for (const auto& plugin : registry.plugins()) {
      // Tensor parallelism: a plugin with fewer devices than ranks is passed over.
      if (static_cast<int32_t>(plugin->devices().size()) < ranks || plugin->score() <= 0) {
        continue;
      }
      if (needs != nullptr) {
        const std::string why = why_cannot_run(*plugin, 0, *needs);
        if (!why.empty()) {
          passed_over += fmt::format("; {} cannot run the model: {}", plugin->name(), why);
          continue;
        }
      }
      if (best == nullptr || plugin->score() > best->score()) best = plugin.get();
    }
    TSR_CHECK_KIND(best != nullptr, ErrorKind::kNotFound,
                   "--device auto: no plugin with a usable device ({} plugin(s) loaded, {} "
                   "refused; searched {}{}); run `tessera plugins` to see why",
                   registry.plugins().size(), registry.refusals().size(), where_searched(registry),
                   passed_over);
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
