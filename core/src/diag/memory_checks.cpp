// Memory family: total and available memory, transparent huge pages, NUMA nodes.
#include <fmt/format.h>

#include <algorithm>

#include "diag/advice.h"
#include "diag/items.h"
#include "diag/parse.h"
#include "diag/readings.h"

namespace tessera::diag {

namespace {

constexpr std::string_view kNodeDir = "/sys/devices/system/node";

std::optional<int> node_number(const std::string& name) {
  if (name.rfind("node", 0) != 0 || name.size() == 4) return std::nullopt;
  const auto n = parse_u64(std::string_view(name).substr(4));
  return n ? std::optional<int>(static_cast<int>(*n)) : std::nullopt;
}

}  // namespace

MemoryReadings read_memory(const SysfsReader& reader) {
  MemoryReadings r;
  r.meminfo = reader.read_raw("/proc/meminfo");
  r.thp_enabled = reader.read("/sys/kernel/mm/transparent_hugepage/enabled");
  r.thp_defrag = reader.read("/sys/kernel/mm/transparent_hugepage/defrag");
  const DirListing listing = reader.list(kNodeDir);
  r.nodes_status = listing.status;
  std::vector<std::pair<int, std::string>> names;
  for (const auto& name : listing.names) {
    if (const auto n = node_number(name)) names.emplace_back(*n, name);
  }
  std::sort(names.begin(), names.end());
  for (const auto& [n, name] : names) {
    const std::string dir = std::string(kNodeDir) + "/" + name + "/";
    NumaNodeReadings node;
    node.name = name;
    node.cpulist = reader.read(dir + "cpulist");
    node.meminfo = reader.read_raw(dir + "meminfo");
    r.nodes.push_back(std::move(node));
  }
  return r;
}

std::vector<DiagItem> check_memory(const MemoryReadings& r) {
  std::vector<DiagItem> items;
  if (r.meminfo.ok()) {
    const auto total = meminfo_bytes(r.meminfo.text, "MemTotal");
    const auto available = meminfo_bytes(r.meminfo.text, "MemAvailable");
    if (total) {
      items.push_back(
          make_item("memory.total", mib_text(*total), "MiB", DiagStatus::kOk, "procfs"));
    } else {
      items.push_back(make_item("memory.total", "unknown", "", DiagStatus::kUnknown, "procfs"));
    }
    if (available) {
      const bool low = total && *total > 0 && *available * 10 < *total;
      items.push_back(make_item("memory.available", mib_text(*available), "MiB",
                                low ? DiagStatus::kWarn : DiagStatus::kOk, "procfs",
                                low ? advice::memory_low() : std::string()));
    }
    if (const auto huge = meminfo_bytes(r.meminfo.text, "HugePages_Total")) {
      items.push_back(make_item("memory.hugepages.total", std::to_string(*huge), "pages",
                                DiagStatus::kOk, "procfs", {}, true));
    }
  } else {
    items.push_back(unreadable_item("memory.total", r.meminfo, "procfs"));
  }

  if (r.thp_enabled.ok()) {
    const std::string mode = bracketed_choice(r.thp_enabled.text);
    const bool ok = mode == "always" || mode == "madvise";
    items.push_back(make_item("memory.thp", mode, "", ok ? DiagStatus::kOk : DiagStatus::kWarn,
                              "sysfs", ok ? std::string() : advice::thp(mode)));
  } else if (r.thp_enabled.status == ReadStatus::kMissing) {
    items.push_back(make_item("memory.thp", "not available", "", DiagStatus::kUnknown, "sysfs",
                              "this kernel was built without transparent huge pages"));
  } else {
    items.push_back(unreadable_item("memory.thp", r.thp_enabled, "sysfs"));
  }
  if (r.thp_defrag.ok()) {
    items.push_back(make_item("memory.thp.defrag", bracketed_choice(r.thp_defrag.text), "",
                              DiagStatus::kOk, "sysfs", {}, true));
  }

  if (r.nodes_status == ReadStatus::kOk && !r.nodes.empty()) {
    items.push_back(make_item("memory.numa.nodes", std::to_string(r.nodes.size()), "",
                              DiagStatus::kOk, "sysfs"));
    for (const auto& node : r.nodes) {
      const std::string prefix = "memory.numa." + node.name + ".";
      if (node.cpulist.ok()) {
        items.push_back(make_item(prefix + "cpus",
                                  node.cpulist.text.empty() ? "none" : node.cpulist.text, "",
                                  DiagStatus::kOk, "sysfs", {}, true));
      }
      if (node.meminfo.ok()) {
        if (const auto total = meminfo_bytes(node.meminfo.text, "MemTotal")) {
          items.push_back(make_item(prefix + "total", mib_text(*total), "MiB", DiagStatus::kOk,
                                    "sysfs", {}, true));
        }
      }
    }
  } else if (r.nodes_status == ReadStatus::kNoAccess) {
    items.push_back(unreadable_item(
        "memory.numa.nodes", field_failed(ReadStatus::kNoAccess, std::string(kNodeDir)), "sysfs"));
  } else {
    items.push_back(make_item("memory.numa.nodes", "not exposed", "", DiagStatus::kUnknown, "sysfs",
                              "this kernel was built without NUMA support"));
  }
  return items;
}

}  // namespace tessera::diag
