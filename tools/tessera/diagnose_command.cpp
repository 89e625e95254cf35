// `tessera diagnose`: host checks (core/src/diag: kernel, CPU clocks, memory, PCIe links,
// Resizable BAR / Above 4G) followed by every loaded plugin's own diagnostics, with advice
// for each warning. A table by default, --json for scripts. Exit 0 when nothing failed,
// 1 when an item failed, 2 for a command-line mistake (via main). Only the report goes to
// stdout; logs go to stderr. Needs neither root nor a GPU.
#include <fmt/format.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "command.h"
#include "common_options.h"
#include "diag/diag_item.h"
#include "diag/host_diagnostics.h"
#include "diag/report.h"
#include "diag/sysfs_reader.h"
#include "runtime/plugin_error.h"
#include "runtime/plugin_registry.h"

namespace po = boost::program_options;

namespace tessera::cli {

namespace {

using diag::DiagItem;
using diag::DiagSection;
using diag::DiagStatus;

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
                     ? diag::status_from_c(static_cast<int>(item->status))
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
std::vector<diag::VramHint> vram_hints(const runtime::PluginRegistry& registry) {
  std::vector<diag::VramHint> hints;
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

bool use_color() {
  return ::isatty(STDOUT_FILENO) == 1 && std::getenv("NO_COLOR") == nullptr;
}

}  // namespace

int run_diagnose_command(int argc, char** argv) {
  po::options_description own("Options");
  own.add_options()("help,h", "show this help")(
      "json", "print a JSON array of items {section, key, value, unit, status, source, hint}")(
      "verbose,v", "also show per-policy and per-BAR detail items in the table")(
      "no-plugins", "skip the plugins' diagnostics (host checks only)")(
      "root", po::value<std::string>()->value_name("DIR"),
      "read sysfs/procfs under DIR instead of / (fixture trees for tests; default: "
      "TESSERA_DIAG_ROOT, else /)");
  po::options_description all;
  all.add(own).add(loader_options());
  const auto vm = parse_command_line(argc, argv, all);
  if (vm.count("help")) {
    print_command_help(
        "diagnose",
        "Checks what limits performance on this machine: kernel, CPU governor, EPP and turbo,\n"
        "transparent huge pages, NUMA, memory, and for each GPU/accelerator the driver, PCIe\n"
        "link, Resizable BAR and Above 4G Decoding; then asks every plugin for its own\n"
        "diagnostics. Each warning comes with advice. Runs without root and without a GPU\n"
        "(unreadable files are reported as NEEDS_ROOT). Exit code 0 when nothing fails, 1\n"
        "when something does.",
        all);
    return 0;
  }
  const DeviceSpec spec = device_spec_from(vm);
  const std::string root =
      vm.count("root") ? vm["root"].as<std::string>() : diag::root_from_environment();

  std::unique_ptr<runtime::PluginRegistry> registry;
  diag::HostCheckOptions host_options;
  if (!vm.count("no-plugins")) {
    runtime::LoaderOptions loader = loader_options_from(vm);
    loader.query_memory = false;  // diagnostics must not allocate on devices
    registry = runtime::PluginRegistry::discover(loader);
    host_options.vram_hints = vram_hints(*registry);
  }

  std::vector<DiagSection> sections = diag::run_host_checks(diag::SysfsReader(root), host_options);
  if (registry) {
    DiagSection loader = loader_section(*registry);
    std::vector<DiagSection> plugin_sections;
    for (const auto& plugin : registry->plugins()) {
      if (!spec.is_auto() && plugin->name() != spec.plugin) continue;
      plugin_sections.push_back(plugin_section(*plugin));
    }
    if (!spec.is_auto() && registry->find(spec.plugin) == nullptr) {
      const runtime::Refusal* refusal = registry->find_refusal(spec.plugin);
      loader.items.push_back(loader_item(
          "plugins." + spec.plugin,
          refusal != nullptr ? "refused: " + refusal->reason : "not found", DiagStatus::kFail,
          fmt::format("--device {} names a plugin that is not loaded; `tessera plugins` lists "
                      "what was found",
                      spec.to_string())));
    }
    sections.push_back(std::move(loader));
    for (auto& section : plugin_sections) sections.push_back(std::move(section));
  }

  if (vm.count("json")) {
    std::cout << diag::format_json(sections);
  } else {
    diag::TableOptions table;
    table.verbose = vm.count("verbose") > 0;
    table.color = use_color();
    std::cout << diag::format_table(sections, table);
  }
  std::cout.flush();
  return diag::exit_code_for(sections);
}

}  // namespace tessera::cli
