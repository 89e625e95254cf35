// PCI family: every display (class 0x03xxxx) and processing-accelerator (0x12xxxx) device:
// identity, bound driver, PCIe link (current vs max, for the device and for the link into
// the card), BARs, Resizable BAR and Above 4G Decoding, and the Intel Arc kernel/driver
// generations. Also the global PCIe ASPM policy.
//
// Device memory is compared to the largest BAR only when it is known (amdgpu's
// mem_info_vram_total, or a plugin's device properties); otherwise the verdict is UNKNOWN.
#include <fmt/format.h>

#include <algorithm>

#include "diag/advice.h"
#include "diag/items.h"
#include "diag/parse.h"
#include "diag/readings.h"

namespace tessera::diag {

namespace {

constexpr std::string_view kDevicesDir = "/sys/bus/pci/devices";
constexpr uint64_t k4GiB = uint64_t{1} << 32;
constexpr uint32_t kNvidia = 0x10de;
constexpr uint32_t kAmd = 0x1002;
constexpr uint32_t kIntel = 0x8086;

std::string vendor_name(uint32_t vendor) {
  switch (vendor) {
    case kNvidia:
      return "NVIDIA";
    case kAmd:
      return "AMD";
    case kIntel:
      return "Intel";
    case 0x1a03:
      return "ASPEED";
    case 0x102b:
      return "Matrox";
    case 0x15ad:
      return "VMware";
    case 0x1234:
      return "QEMU";
    case 0x1af4:
      return "virtio";
    case 0x1da3:
      return "Habana";
    case 0x1e52:
      return "Tenstorrent";
    default:
      return fmt::format("vendor {:04x}", vendor);
  }
}

std::string class_name(uint32_t class_code) {
  switch (class_code >> 8) {
    case 0x0300:
      return "VGA controller";
    case 0x0302:
      return "3D controller";
    case 0x0380:
      return "display controller";
    case 0x1200:
      return "processing accelerator";
    default:
      return (class_code >> 16) == 0x12 ? "accelerator" : "display device";
  }
}

// Intel discrete GPU families whose driver support depends on the kernel generation.
std::string_view intel_family(uint32_t device) {
  if (device >= 0x5690 && device <= 0x56cf) return "DG2";
  if (device >= 0xe200 && device <= 0xe2ff) return "Battlemage";
  return {};
}

// The PCI addresses along a sysfs device path, root port first:
// "../../../devices/pci0000:00/0000:00:01.0/0000:01:00.0" -> {0000:00:01.0, 0000:01:00.0}.
std::vector<std::string> address_chain(const std::string& link_target) {
  std::vector<std::string> chain;
  for (const auto& part : split(link_target, "/")) {
    if (part.rfind("pci", 0) == 0) continue;
    if (auto a = normalize_pci_address(part); a && *a == part) chain.push_back(*a);
  }
  return chain;
}

struct Link {
  std::optional<double> cur_gts, max_gts;
  std::optional<uint64_t> cur_width, max_width;
  bool any_present = false;
  const Field* denied = nullptr;
};

Link parse_link(const Field& cs, const Field& ms, const Field& cw, const Field& mw) {
  Link l;
  for (const Field* f : {&cs, &ms, &cw, &mw}) {
    if (f->status != ReadStatus::kMissing) l.any_present = true;
    if (f->status == ReadStatus::kNoAccess && l.denied == nullptr) l.denied = f;
  }
  if (cs.ok()) l.cur_gts = parse_link_speed(cs.text);
  if (ms.ok()) l.max_gts = parse_link_speed(ms.text);
  if (cw.ok()) l.cur_width = parse_u64(cw.text);
  if (mw.ok()) l.max_width = parse_u64(mw.text);
  return l;
}

std::string gen_text(std::optional<double> gts) {
  if (!gts) return "unknown";
  if (const auto gen = link_speed_to_gen(*gts)) return std::to_string(*gen);
  return fmt::format("{} GT/s", *gts);
}

// Items `<prefix>.gen.current/.max` and `<prefix>.width.current/.max`. A link below its
// maximum warns: GPUs downtrain at idle, so this is a "check under load", not a failure.
void link_items(std::vector<DiagItem>& items, const std::string& prefix, const Link& l,
                const std::string& note) {
  if (!l.any_present) return;
  if (l.denied != nullptr) {
    items.push_back(unreadable_item(prefix, *l.denied, "sysfs"));
    return;
  }
  const bool speed_low = l.cur_gts && l.max_gts && *l.cur_gts + 0.05 < *l.max_gts;
  const bool width_low =
      l.cur_width && l.max_width && *l.cur_width > 0 && *l.cur_width < *l.max_width;
  const bool down = l.cur_width && *l.cur_width == 0;
  const std::string hint =
      (speed_low || width_low) ? advice::link_below_max(speed_low, width_low) : std::string();
  const auto status_of = [&](bool low, bool known) {
    if (!known) return DiagStatus::kUnknown;
    return low ? DiagStatus::kWarn : DiagStatus::kOk;
  };
  DiagItem gen_cur = make_item(prefix + ".gen.current", gen_text(l.cur_gts), "",
                               status_of(speed_low, l.cur_gts.has_value()), "sysfs",
                               speed_low ? hint : std::string());
  if (!note.empty()) gen_cur.value += " " + note;
  items.push_back(std::move(gen_cur));
  items.push_back(make_item(prefix + ".gen.max", gen_text(l.max_gts), "",
                            l.max_gts ? DiagStatus::kOk : DiagStatus::kUnknown, "sysfs"));
  if (down) {
    items.push_back(make_item(prefix + ".width.current", "0", "lanes", DiagStatus::kUnknown,
                              "sysfs", "the link is down or the device is in a low-power state"));
  } else {
    items.push_back(make_item(
        prefix + ".width.current", l.cur_width ? std::to_string(*l.cur_width) : "unknown", "lanes",
        status_of(width_low, l.cur_width.has_value()), "sysfs", width_low ? hint : std::string()));
  }
  items.push_back(make_item(prefix + ".width.max",
                            l.max_width ? std::to_string(*l.max_width) : "unknown", "lanes",
                            l.max_width ? DiagStatus::kOk : DiagStatus::kUnknown, "sysfs"));
}

std::string bar_text(const PciResource& bar) {
  std::string size = bar.size() >= (uint64_t{1} << 20) ? fmt::format("{} MiB", bar.size() >> 20)
                                                       : fmt::format("{} KiB", bar.size() >> 10);
  return fmt::format("{} at 0x{:x}, {}{}", size, bar.start, bar.is_64bit() ? "64-bit" : "32-bit",
                     bar.is_prefetchable() ? " prefetchable" : "");
}

void driver_items(std::vector<DiagItem>& items, const std::string& prefix,
                  const PciDeviceReadings& d, uint32_t vendor, uint32_t class_code) {
  if (d.driver.ok()) {
    const bool vfio = d.driver.text == "vfio-pci";
    items.push_back(make_item(prefix + "driver", d.driver.text, "",
                              vfio ? DiagStatus::kWarn : DiagStatus::kOk, "sysfs",
                              vfio ? advice::driver_vfio() : std::string()));
  } else if (d.driver.status == ReadStatus::kMissing) {
    // A GPU vendor's device or an accelerator without a driver cannot be used; a BMC's
    // VGA chip without one is harmless.
    const bool compute =
        vendor == kNvidia || vendor == kAmd || vendor == kIntel || (class_code >> 16) == 0x12;
    items.push_back(make_item(prefix + "driver", "none", "",
                              compute ? DiagStatus::kFail : DiagStatus::kWarn, "sysfs",
                              advice::driver_missing(vendor)));
  } else {
    items.push_back(unreadable_item(prefix + "driver", d.driver, "sysfs"));
  }
}

void arc_driver_item(std::vector<DiagItem>& items, const std::string& prefix,
                     const PciDeviceReadings& d, std::string_view family,
                     const Field& kernel_release) {
  if (family.empty() || !d.driver.ok()) return;
  const std::string& driver = d.driver.text;
  if (driver != "i915" && driver != "xe") return;
  const auto parsed =
      kernel_release.ok() ? parse_kernel_version(kernel_release.text) : std::nullopt;
  const std::string value =
      fmt::format("{} on kernel {} ({})", driver,
                  kernel_release.ok() ? kernel_release.text : std::string("unknown"), family);
  if (!parsed) {
    items.push_back(make_item(prefix + "driver_support", value, "", DiagStatus::kUnknown, "sysfs",
                              advice::arc_driver(family)));
    return;
  }
  // A copy out of the optional keeps GCC's maybe-uninitialized analysis quiet.
  const KernelVersion kernel = parsed.value_or(KernelVersion{});
  DiagStatus status = DiagStatus::kOk;
  if (family == "DG2") {
    if (driver == "i915") {
      if (kernel < KernelVersion{6, 2, 0}) {
        status = DiagStatus::kFail;
      } else if (kernel < KernelVersion{6, 5, 0}) {
        status = DiagStatus::kWarn;
      }
    } else if (kernel < KernelVersion{6, 8, 0}) {
      status = DiagStatus::kWarn;
    }
  } else {  // Battlemage: xe only, from 6.12
    if (driver == "i915" || kernel < KernelVersion{6, 12, 0}) status = DiagStatus::kFail;
  }
  items.push_back(
      make_item(prefix + "driver_support", value, "", status, "sysfs",
                status == DiagStatus::kOk ? std::string() : advice::arc_driver(family)));
}

void bar_items(std::vector<DiagItem>& items, const std::string& prefix, const PciDeviceReadings& d,
               bool strict) {
  if (!d.resource.ok()) {
    if (d.resource.status != ReadStatus::kMissing) {
      items.push_back(unreadable_item(prefix + "rebar.bar_size", d.resource, "sysfs"));
    }
    return;
  }
  const auto table = parse_resource_table(d.resource.text);
  if (!table) {
    items.push_back(make_item(prefix + "rebar.bar_size", "unparsable resource table", "",
                              DiagStatus::kUnknown, "sysfs"));
    return;
  }
  const PciResource* largest = nullptr;
  for (const auto& bar : *table) {
    if (bar.index > 5 || !bar.used() || !bar.is_memory()) continue;
    items.push_back(make_item(fmt::format("{}bar.{}", prefix, bar.index), bar_text(bar), "",
                              DiagStatus::kOk, "sysfs", {}, true));
    if (largest == nullptr || bar.size() > largest->size()) largest = &bar;
  }
  if (largest == nullptr) {
    items.push_back(
        make_item(prefix + "rebar.bar_size", "no memory BAR", "", DiagStatus::kUnknown, "sysfs"));
    return;
  }
  const uint64_t bar_bytes = largest->size();
  items.push_back(
      make_item(prefix + "rebar.bar_size", mib_text(bar_bytes), "MiB", DiagStatus::kOk, "sysfs"));

  uint64_t supported_max = 0;
  for (const auto& [index, field] : d.resize) {
    if (index != largest->index || !field.ok()) continue;
    if (const auto mask = parse_u64("0x" + field.text)) supported_max = rebar_max_bytes(*mask);
  }
  if (supported_max > 0) {
    items.push_back(make_item(prefix + "rebar.supported_max", mib_text(supported_max), "MiB",
                              DiagStatus::kOk, "sysfs", {}, true));
  }

  std::optional<uint64_t> vram;
  std::string vram_source;
  if (d.vram_total.ok()) {
    vram = parse_u64(d.vram_total.text);
    vram_source = "sysfs";
  }
  if (!vram && d.vram_hint && d.vram_hint->bytes > 0) {
    vram = d.vram_hint->bytes;
    vram_source = d.vram_hint->source;
  }
  const DiagStatus not_in_effect = strict ? DiagStatus::kFail : DiagStatus::kWarn;
  const std::string rebar_hint =
      advice::rebar(bar_bytes >> 20, supported_max >> 20, vram.has_value());
  if (vram) {
    items.push_back(
        make_item(prefix + "rebar.vram", mib_text(*vram), "MiB", DiagStatus::kOk, vram_source));
    const bool covers = bar_bytes >= *vram;
    items.push_back(make_item(prefix + "rebar.enabled", covers ? "yes" : "no", "",
                              covers ? DiagStatus::kOk : not_in_effect, "sysfs",
                              covers ? std::string() : rebar_hint));
  } else {
    items.push_back(make_item(prefix + "rebar.vram", "unknown", "", DiagStatus::kUnknown, "sysfs",
                              advice::vram_unknown(d.driver.ok() ? d.driver.text : "")));
    if (supported_max > bar_bytes) {
      items.push_back(
          make_item(prefix + "rebar.enabled", "no", "", not_in_effect, "sysfs", rebar_hint));
    } else {
      items.push_back(make_item(prefix + "rebar.enabled", "unknown", "", DiagStatus::kUnknown,
                                "sysfs",
                                "cannot tell without the device memory size (see rebar.vram)"));
    }
  }

  if (!largest->is_64bit()) {
    items.push_back(
        make_item(prefix + "above4g", "n/a (32-bit BAR)", "", DiagStatus::kOk, "sysfs", {}, true));
  } else {
    const bool above = largest->start >= k4GiB;
    items.push_back(make_item(prefix + "above4g", above ? "yes" : "no", "",
                              above ? DiagStatus::kOk : DiagStatus::kWarn, "sysfs",
                              above ? std::string() : advice::above4g()));
  }
}

void device_items(std::vector<DiagItem>& items, int index, const PciDeviceReadings& d,
                  const Field& kernel_release) {
  const std::string prefix = fmt::format("pci.{}.", index);
  const uint32_t class_code =
      static_cast<uint32_t>(d.class_code.ok() ? parse_u64(d.class_code.text).value_or(0) : 0);
  const uint32_t vendor =
      static_cast<uint32_t>(d.vendor.ok() ? parse_u64(d.vendor.text).value_or(0) : 0);
  const uint32_t device =
      static_cast<uint32_t>(d.device.ok() ? parse_u64(d.device.text).value_or(0) : 0);
  const std::string_view family = vendor == kIntel ? intel_family(device) : std::string_view();

  items.push_back(make_item(prefix + "address", d.address, "", DiagStatus::kOk, "sysfs"));
  std::string name = fmt::format("{} {} [{:04x}:{:04x}]", vendor_name(vendor),
                                 class_name(class_code), vendor, device);
  if (!family.empty()) name += fmt::format(" (Arc {})", family);
  items.push_back(make_item(prefix + "device", name, "", DiagStatus::kOk, "sysfs"));
  driver_items(items, prefix, d, vendor, class_code);
  arc_driver_item(items, prefix, d, family, kernel_release);

  link_items(items, prefix + "link", parse_link(d.cur_speed, d.max_speed, d.cur_width, d.max_width),
             {});
  if (!d.slot_address.empty()) {
    link_items(items, prefix + "slot_link",
               parse_link(d.slot_cur_speed, d.slot_max_speed, d.slot_cur_width, d.slot_max_width),
               "(at " + d.slot_address + ")");
  }

  const bool gpu_vendor = vendor == kNvidia || vendor == kAmd || vendor == kIntel;
  if (gpu_vendor || (class_code >> 16) == 0x12) bar_items(items, prefix, d, !family.empty());

  if (d.numa_node.ok()) {
    items.push_back(make_item(prefix + "numa_node",
                              d.numa_node.text == "-1" ? "none" : d.numa_node.text, "",
                              DiagStatus::kOk, "sysfs", {}, true));
  }
}

}  // namespace

PciReadings read_pci(const SysfsReader& reader, const std::vector<VramHint>& hints) {
  PciReadings r;
  r.kernel_release = reader.read("/proc/sys/kernel/osrelease");
  r.aspm_policy = reader.read("/sys/module/pcie_aspm/parameters/policy");
  const DirListing listing = reader.list(kDevicesDir);
  r.devices_status = listing.status;
  r.devices_error = listing.error;
  const std::string base(kDevicesDir);
  for (const auto& name : listing.names) {
    const std::string dir = base + "/" + name + "/";
    const Field class_code = reader.read(dir + "class");
    const auto code = class_code.ok() ? parse_u64(class_code.text) : std::nullopt;
    if (!code || ((*code >> 16) != 0x03 && (*code >> 16) != 0x12)) continue;

    PciDeviceReadings d;
    d.address = name;
    d.class_code = class_code;
    d.vendor = reader.read(dir + "vendor");
    d.device = reader.read(dir + "device");
    d.driver = reader.link_basename(dir + "driver");
    d.cur_speed = reader.read(dir + "current_link_speed");
    d.max_speed = reader.read(dir + "max_link_speed");
    d.cur_width = reader.read(dir + "current_link_width");
    d.max_width = reader.read(dir + "max_link_width");
    d.resource = reader.read_raw(dir + "resource");
    for (int bar = 0; bar < 6; ++bar) {
      Field f = reader.read(dir + fmt::format("resource{}_resize", bar));
      if (f.status != ReadStatus::kMissing) d.resize.emplace_back(bar, std::move(f));
    }
    d.vram_total = reader.read(dir + "mem_info_vram_total");
    d.numa_node = reader.read(dir + "numa_node");

    const Field path = reader.link_target(base + "/" + name);
    const auto chain = address_chain(path.ok() ? path.text : std::string());
    if (chain.size() >= 3 && chain.back() == name) {
      d.slot_address = chain[1];
      const std::string slot = base + "/" + chain[1] + "/";
      d.slot_cur_speed = reader.read(slot + "current_link_speed");
      d.slot_max_speed = reader.read(slot + "max_link_speed");
      d.slot_cur_width = reader.read(slot + "current_link_width");
      d.slot_max_width = reader.read(slot + "max_link_width");
    }

    const auto normalized = normalize_pci_address(name);
    for (const auto& hint : hints) {
      const auto other = normalize_pci_address(hint.pci_address);
      if (normalized && other && *normalized == *other) d.vram_hint = hint;
    }
    r.devices.push_back(std::move(d));
  }
  return r;
}

std::vector<DiagItem> check_pci(const PciReadings& r) {
  std::vector<DiagItem> items;
  if (r.aspm_policy.ok()) {
    const std::string policy = bracketed_choice(r.aspm_policy.text);
    const bool saving = policy == "powersave" || policy == "powersupersave";
    items.push_back(make_item("pci.aspm.policy", policy, "",
                              saving ? DiagStatus::kWarn : DiagStatus::kOk, "sysfs",
                              saving ? advice::aspm_policy(policy) : std::string()));
  }
  if (r.devices_status != ReadStatus::kOk) {
    Field f = field_failed(r.devices_status, std::string(kDevicesDir));
    f.error = r.devices_error;
    DiagItem item = unreadable_item("pci.devices", f, "sysfs");
    if (r.devices_status == ReadStatus::kMissing) item.value = "no PCI bus in sysfs";
    items.push_back(std::move(item));
    return items;
  }
  items.push_back(
      make_item("pci.devices", std::to_string(r.devices.size()), "", DiagStatus::kOk, "sysfs"));
  for (size_t i = 0; i < r.devices.size(); ++i) {
    device_items(items, static_cast<int>(i), r.devices[i], r.kernel_release);
  }
  return items;
}

}  // namespace tessera::diag
