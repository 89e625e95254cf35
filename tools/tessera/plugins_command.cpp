// `tessera plugins`: what the loader found, in search order — each plugin's file, name,
// version, ABI version, score and devices, and for each refused file the reason. --json
// prints the same as one JSON object for scripts. Exit 0 when at least one plugin has a
// device (refusals are reported, not fatal), 1 when none does.
#include <fmt/format.h>

#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "command.h"
#include "common_options.h"
#include "tessera/plugins.h"

namespace po = boost::program_options;

namespace tessera::cli {

namespace {

using runtime::DeviceInfo;
using runtime::LoadedPlugin;
using runtime::PluginRegistry;

std::string gib(uint64_t bytes) {
  return fmt::format("{:.1f} GiB", static_cast<double>(bytes) / (1024.0 * 1024.0 * 1024.0));
}

std::string memory_text(const DeviceInfo& device) {
  if (device.total_memory == 0) return "memory unknown";
  std::string text = gib(device.total_memory) + " total";
  text += device.free_memory != 0 ? ", " + gib(device.free_memory) + " free" : ", free unknown";
  return text;
}

bool has_usable_plugin(const PluginRegistry& registry) {
  for (const auto& plugin : registry.plugins()) {
    if (!plugin->devices().empty()) return true;
  }
  return false;
}

void print_text(const PluginRegistry& registry, const std::string& selection_label,
                const std::string& selection) {
  std::cout << "Plugin search path:\n";
  int position = 1;
  for (const auto& dir : registry.search_path()) {
    std::cout << fmt::format("  {}. {}  ({}{})\n", position++, dir.path,
                             runtime::search_origin_name(dir.origin),
                             dir.exists ? "" : ", missing");
  }
  if (registry.search_path().empty()) std::cout << "  (none)\n";

  std::cout << "\nPlugins:\n";
  if (registry.plugins().empty()) std::cout << "  none loaded\n";
  for (const auto& plugin : registry.plugins()) {
    std::cout << fmt::format("  {}  version {}  ABI {}.{}  score {}  {} device(s)  {}\n",
                             plugin->name(), plugin->version().empty() ? "?" : plugin->version(),
                             plugin->abi_major(), plugin->abi_minor(), plugin->score(),
                             plugin->devices().size(), plugin->file());
    for (const auto& device : plugin->devices()) {
      const auto& p = device.properties;
      std::cout << fmt::format("    {}:{}  {}  type {}  {}  PCI {}\n", plugin->name(), device.index,
                               p.name[0] != '\0' ? p.name : "(unnamed)",
                               runtime::device_type_name(p.type), memory_text(device),
                               p.pci_bus_id[0] != '\0' ? p.pci_bus_id : "-");
    }
    if (!plugin->status_note().empty()) std::cout << "    note: " << plugin->status_note() << "\n";
  }

  if (!registry.refusals().empty()) {
    std::cout << "\nRefused:\n";
    for (const auto& refusal : registry.refusals()) {
      std::cout << "  " << refusal.file << ": " << refusal.reason << "\n";
    }
  }
  std::cout << "\n" << selection_label << ": " << selection << "\n";
}

nlohmann::json to_json(const PluginRegistry& registry, const std::string& device_flag,
                       const std::optional<std::string>& selected, const std::string& error) {
  nlohmann::json out;
  out["search_path"] = nlohmann::json::array();
  for (const auto& dir : registry.search_path()) {
    out["search_path"].push_back({{"dir", dir.path},
                                  {"origin", runtime::search_origin_name(dir.origin)},
                                  {"exists", dir.exists}});
  }
  out["plugins"] = nlohmann::json::array();
  for (const auto& plugin : registry.plugins()) {
    nlohmann::json devices = nlohmann::json::array();
    for (const auto& device : plugin->devices()) {
      const auto& p = device.properties;
      devices.push_back({{"index", device.index},
                         {"name", p.name},
                         {"vendor", p.vendor},
                         {"type", runtime::device_type_name(p.type)},
                         {"pci_bus_id", p.pci_bus_id},
                         {"total_memory", device.total_memory},
                         {"free_memory", device.free_memory},
                         {"compute_units", p.compute_units}});
    }
    out["plugins"].push_back(
        {{"name", plugin->name()},
         {"file", plugin->file()},
         {"version", plugin->version()},
         {"abi", fmt::format("{}.{}", plugin->abi_major(), plugin->abi_minor())},
         {"score", plugin->score()},
         {"device_type", runtime::device_type_name(plugin->device_type())},
         {"status_note", plugin->status_note()},
         {"devices", std::move(devices)}});
  }
  out["refused"] = nlohmann::json::array();
  for (const auto& refusal : registry.refusals()) {
    out["refused"].push_back(
        {{"file", refusal.file}, {"name", refusal.name}, {"reason", refusal.reason}});
  }
  out["device"] = device_flag;
  out["selected"] = selected ? nlohmann::json(*selected) : nlohmann::json(nullptr);
  if (!error.empty()) out["selection_error"] = error;
  return out;
}

}  // namespace

int run_plugins_command(int argc, char** argv) {
  po::options_description own("Options");
  own.add_options()("help,h", "show this help")("json", "print one JSON object instead of text");
  po::options_description all;
  all.add(own).add(loader_options());
  const auto vm = parse_command_line(argc, argv, all);
  if (vm.count("help")) {
    print_command_help("plugins",
                       "Lists the plugins found in the search path (in search order), their "
                       "versions, ABI versions,\nscores and devices, and every file that was "
                       "refused with the reason. Exits 1 when no plugin\nhas a usable device.",
                       all);
    return 0;
  }
  const DeviceSpec spec = device_spec_from(vm);
  const auto registry = runtime::PluginRegistry::discover(loader_options_from(vm));

  std::optional<std::string> selected;
  std::string error;
  try {
    selected = runtime::select_device(*registry, spec).to_string();
  } catch (const std::exception& e) {
    error = e.what();
  }

  if (vm.count("json")) {
    std::cout << to_json(*registry, spec.to_string(), selected, error).dump(2) << "\n";
  } else {
    print_text(*registry, "Selected (--device " + spec.to_string() + ")",
               selected ? *selected : "none: " + error);
  }

  if (!has_usable_plugin(*registry)) {
    std::cerr << "tessera: error: no usable plugin: none of the "
              << registry->plugins().size() + registry->refusals().size()
              << " plugin file(s) found has a device\n";
    return 1;
  }
  // An explicit --device that cannot be satisfied is an error even though plugins exist.
  if (device_given(vm) && !selected) {
    std::cerr << "tessera: error: " << error << "\n";
    return 1;
  }
  return 0;
}

}  // namespace tessera::cli
