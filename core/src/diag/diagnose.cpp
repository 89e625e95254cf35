// run_diagnostics (tessera/diagnostics.h): the host checks, then the plugin loader's view and
// every plugin's own diagnostics (tsr_plugin_api::diagnose) merged after them.
#include <fmt/format.h>

#include <memory>
#include <string>
#include <vector>

#include "diag/diag_item.h"
#include "diag/host_diagnostics.h"
#include "diag/sysfs_reader.h"
#include "runtime/plugin_error.h"
#include "tessera/diagnostics.h"
#include "tessera/plugins.h"

namespace tessera::diag {

namespace {

// Collects a plugin's pushes. The plugin calls push() through a C function pointer, so
// nothing may escape it as an exception.
struct SinkState {
  std::vector<DiagItem>* items = nullptr;
  std::string source_fallback;
  size_t dropped = 0;
};

std::string c_string(const char* s) {
  return s != nullptr ? std::string(s) : std::string();
}

void push_item(void* ctx, const tsr_diag_item* item) noexcept {
  auto* state = static_cast<SinkState*>(ctx);
  try {
    if (item == nullptr || !TSR_STRUCT_HAS(item, tsr_diag_item, key) || item->key == nullptr ||
        item->key[0] == '\0') {
      ++state->dropped;
      return;
    }
    DiagItem out;
    out.key = item->key;
    if (TSR_STRUCT_HAS(item, tsr_diag_item, value)) out.value = c_string(item->value);
    if (TSR_STRUCT_HAS(item, tsr_diag_item, unit)) out.unit = c_string(item->unit);
    out.status = TSR_STRUCT_HAS(item, tsr_diag_item, status)
                     ? status_from_c(static_cast<int>(item->status))
                     : DiagStatus::kUnknown;
    if (TSR_STRUCT_HAS(item, tsr_diag_item, source)) out.source = c_string(item->source);
    if (out.source.empty()) out.source = state->source_fallback;
    if (TSR_STRUCT_HAS(item, tsr_diag_item, hint)) out.hint = c_string(item->hint);
    state->items->push_back(std::move(out));
  } catch (...) {
    ++state->dropped;
  }
}

DiagItem loader_item(std::string key, std::string value, DiagStatus status, std::string hint = {}) {
  DiagItem item;
  item.key = std::move(key);
  item.value = std::move(value);
  item.status = status;
  item.source = "loader";
  item.hint = std::move(hint);
  return item;
}

// The diagnostics of one plugin, as its own section. diagnose() needs no initialize() by
// contract; a plugin without it, or one whose call fails, is reported rather than fatal.
DiagSection plugin_section(const runtime::LoadedPlugin& plugin) {
  DiagSection section{"plugin " + plugin.name(), {}};
  const tsr_plugin_api* api = plugin.api();
  if (api == nullptr || !TSR_STRUCT_HAS(api, tsr_plugin_api, diagnose) ||
      api->diagnose == nullptr) {
    section.items.push_back(loader_item(plugin.name() + ".diagnose", "not offered by this plugin",
                                        DiagStatus::kUnknown));
    return section;
  }
  SinkState state;
  state.items = &section.items;
  state.source_fallback = plugin.name();
  tsr_diag_sink sink{};
  sink.struct_size = sizeof(sink);
  sink.ctx = &state;
  sink.push = &push_item;
  tsr_error* error = api->diagnose(&sink);
  if (error != nullptr) {
    section.items.push_back(
        loader_item(plugin.name() + ".diagnose", "failed: " + runtime::take_error_message(error),
                    DiagStatus::kWarn,
                    "the plugin could not finish its diagnostics; rerun with --log-level debug and "
                    "report the message to the plugin's authors"));
  }
  if (state.dropped > 0) {
    section.items.push_back(
        loader_item(plugin.name() + ".diagnose.dropped",
                    std::to_string(state.dropped) + " item(s) without a key", DiagStatus::kWarn,
                    "the plugin pushed malformed items; report it to its authors"));
  }
  return section;
}

std::string device_summary(const runtime::LoadedPlugin& plugin) {
  std::string text = fmt::format("{} device(s)", plugin.devices().size());
  for (const auto& device : plugin.devices()) {
    const auto& p = device.properties;
    text += fmt::format("; {}:{} {}", plugin.name(), device.index,
                        p.name[0] != '\0' ? p.name : "(unnamed)");
    if (p.pci_bus_id[0] != '\0') text += fmt::format(" ({})", p.pci_bus_id);
  }
  if (!plugin.status_note().empty()) text += " — " + plugin.status_note();
  return text;
}

// The loader's view: what loaded, what was refused and why (refusals are warnings: a
// plugin the user installed is not being used).
DiagSection loader_section(const runtime::PluginRegistry& registry) {
  DiagSection section{"plugins", {}};
  std::string names;
  for (const auto& plugin : registry.plugins()) {
    names += names.empty() ? plugin->name() : ", " + plugin->name();
  }
  if (registry.plugins().empty()) {
    std::string dirs;
    for (const auto& dir : registry.searched_dirs()) dirs += dirs.empty() ? dir : ":" + dir;
    section.items.push_back(loader_item(
        "plugins.loaded", "none", DiagStatus::kWarn,
        fmt::format("no libtessera-*.so plugin was loaded from {}; pass --plugin-dir DIR or set "
                    "TESSERA_PLUGIN_PATH",
                    dirs.empty() ? "any directory" : dirs)));
  } else {
    section.items.push_back(loader_item("plugins.loaded", names, DiagStatus::kOk));
  }
  for (const auto& plugin : registry.plugins()) {
    section.items.push_back(loader_item("plugins." + plugin->name() + ".devices",
                                        device_summary(*plugin), DiagStatus::kOk));
  }
  int index = 0;
  for (const auto& refusal : registry.refusals()) {
    section.items.push_back(loader_item(
        fmt::format("plugins.refused.{}", index++), refusal.file + ": " + refusal.reason,
        DiagStatus::kWarn,
        "this plugin file was not loaded: rebuild it against this Tessera's SDK, install its "
        "missing dependencies, or remove it from the plugin path"));
  }
  return section;
}

// Device memory of PCI devices known to plugins, so the host's Resizable BAR check can
// compare the BAR with it when sysfs has no size (nvidia, i915, xe).
std::vector<VramHint> vram_hints(const runtime::PluginRegistry& registry) {
  std::vector<VramHint> hints;
  for (const auto& plugin : registry.plugins()) {
    for (const auto& device : plugin->devices()) {
      const auto& p = device.properties;
      const uint64_t bytes = device.total_memory != 0 ? device.total_memory : p.total_memory;
      if (p.pci_bus_id[0] == '\0' || bytes == 0) continue;
      hints.push_back({std::string(p.pci_bus_id), bytes, "plugin " + plugin->name()});
    }
  }
  return hints;
}

// The loader's section, with a failed item when --device names a plugin that did not load,
// then the diagnostics of the plugins --device asks for (all of them for auto).
std::vector<DiagSection> plugin_sections(const runtime::PluginRegistry& registry,
                                         const DeviceSpec& spec) {
  std::vector<DiagSection> sections{loader_section(registry)};
  if (!spec.is_auto() && registry.find(spec.plugin) == nullptr) {
    const runtime::Refusal* refusal = registry.find_refusal(spec.plugin);
    sections.front().items.push_back(loader_item(
        "plugins." + spec.plugin, refusal != nullptr ? "refused: " + refusal->reason : "not found",
        DiagStatus::kFail,
        fmt::format("--device {} names a plugin that is not loaded; `tessera plugins` lists "
                    "what was found",
                    spec.to_string())));
  }
  for (const auto& plugin : registry.plugins()) {
    if (!spec.is_auto() && plugin->name() != spec.plugin) continue;
    sections.push_back(plugin_section(*plugin));
  }
  return sections;
}

}  // namespace

std::vector<DiagSection> run_diagnostics(const DiagnoseOptions& options) {
  const std::string root = options.root.empty() ? root_from_environment() : options.root;
  std::unique_ptr<runtime::PluginRegistry> registry;
  HostCheckOptions host_options;
  if (options.plugins) {
    runtime::LoaderOptions loader = options.loader;
    loader.query_memory = false;  // diagnostics must not allocate on devices
    registry = runtime::PluginRegistry::discover(loader);
    host_options.vram_hints = vram_hints(*registry);
  }
  std::vector<DiagSection> sections = run_host_checks(SysfsReader(root), host_options);
  if (registry) {
    for (auto& section : plugin_sections(*registry, options.device)) {
      sections.push_back(std::move(section));
    }
  }
  return sections;
}

}  // namespace tessera::diag
