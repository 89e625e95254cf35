// Rules from an XpuSnapshot to diagnostics findings. See xpu_rules.h.
#include "xpu_rules.h"

#include <cstdio>
#include <utility>

#include "tessera/plugin.hpp"

namespace tsr::xpu {
namespace {

using sdk::format;

constexpr const char* kSysfs = "sysfs";
constexpr const char* kRootHint =
    "this file is readable only by root: run `sudo tessera diagnose` to read it";

class Items {
 public:
  void add(std::string key, std::string value, std::string unit, tsr_diag_status status,
           std::string source, std::string hint = {}) {
    items_.push_back(DiagItem{std::move(key), std::move(value), std::move(unit), status,
                              std::move(source), std::move(hint)});
  }
  std::vector<DiagItem> take() { return std::move(items_); }

 private:
  std::vector<DiagItem> items_;
};

std::string mhz(double value) {
  return format("%.0f", value);
}

// Adds a plain reading: its value when read, NEEDS_ROOT or UNKNOWN otherwise.
template <class T, class Show>
void add_reading(Items& items, const std::string& key, const Reading<T>& reading, const char* unit,
                 const std::string& source, Show show) {
  switch (reading.state) {
    case ReadState::kOk:
      items.add(key, show(reading.value), unit, TSR_DIAG_STATUS_OK, source);
      break;
    case ReadState::kNeedsRoot:
      items.add(key, "needs root", "", TSR_DIAG_STATUS_NEEDS_ROOT, source, kRootHint);
      break;
    case ReadState::kError:
      items.add(key, "unreadable", "", TSR_DIAG_STATUS_UNKNOWN, source,
                "reading failed: " + reading.detail);
      break;
    case ReadState::kMissing:
      break;
  }
}

std::string max_freq_path(const XpuCardReading& card, const char* which) {
  if (card.driver == "xe")
    return format("/sys/class/drm/%s/device/tile0/gt0/freq0/%s_freq", card.card.c_str(), which);
  return format("/sys/class/drm/%s/gt_%s_freq_mhz", card.card.c_str(), which);
}

void add_frequency(Items& items, const XpuCardReading& card) {
  const int i = card.index;
  const std::string& src = card.source;
  auto show = [](double v) { return mhz(v); };
  add_reading(items, format("gpu.%d.freq.gt.current", i), card.freq_current, "MHz", src, show);
  add_reading(items, format("gpu.%d.freq.gt.min", i), card.freq_min, "MHz", src, show);
  add_reading(items, format("gpu.%d.freq.gt.max", i), card.freq_max, "MHz", src, show);
  add_reading(items, format("gpu.%d.freq.gt.hw_max", i), card.freq_hw_max, "MHz", src, show);
  const std::string key = format("gpu.%d.freq.locked", i);
  const Reading<double>* needed[] = {&card.freq_min, &card.freq_max, &card.freq_hw_max};
  for (const Reading<double>* r : needed) {
    if (r->state == ReadState::kNeedsRoot) {
      items.add(key, "needs root", "", TSR_DIAG_STATUS_NEEDS_ROOT, src, kRootHint);
      return;
    }
  }
  if (!card.freq_min.ok() || !card.freq_max.ok() || !card.freq_hw_max.ok()) return;
  const double min = card.freq_min.value;
  const double max = card.freq_max.value;
  const double hw_max = card.freq_hw_max.value;
  const double hw_min = card.freq_hw_min.ok() ? card.freq_hw_min.value : min;
  const bool capped = max < hw_max * 0.98;
  if (!capped) {
    items.add(key, min >= max ? format("yes (at %s MHz, the maximum)", mhz(max).c_str()) : "no", "",
              TSR_DIAG_STATUS_OK, src);
    return;
  }
  const std::string value =
      min >= max ? format("yes (at %s of %s MHz)", mhz(max).c_str(), mhz(hw_max).c_str())
                 : format("capped (max %s of %s MHz)", mhz(max).c_str(), mhz(hw_max).c_str());
  items.add(key, value, "", TSR_DIAG_STATUS_WARN, src,
            format("the GPU frequency range is limited to %s-%s MHz while the hardware reaches %s "
                   "MHz. Restore "
                   "it with `sudo xpu-smi config -d %d -t 0 --frequencyrange %s,%s` or `echo %s | "
                   "sudo tee %s` "
                   "(needs root). To keep the clock from idling low between requests also raise "
                   "the minimum: "
                   "`echo %s | sudo tee %s`",
                   mhz(min).c_str(), mhz(max).c_str(), mhz(hw_max).c_str(), i, mhz(hw_min).c_str(),
                   mhz(hw_max).c_str(), mhz(hw_max).c_str(), max_freq_path(card, "max").c_str(),
                   mhz(hw_max).c_str(), max_freq_path(card, "min").c_str()));
}

void add_bar(Items& items, const XpuCardReading& card) {
  const int i = card.index;
  const std::string& src = card.source;
  add_reading(items, format("pcie.%d.rebar.bar_size", i), card.vram_bar_bytes, "MiB", src,
              [](uint64_t v) { return std::to_string(v >> 20); });
  add_reading(items, format("pcie.%d.rebar.vram", i), card.vram_bytes, "MiB", src,
              [](uint64_t v) { return std::to_string(v >> 20); });
  add_reading(items, format("pcie.%d.rebar.supported", i), card.rebar_supported, "", src,
              [](bool v) { return std::string(v ? "yes" : "no"); });
  const std::string key = format("pcie.%d.rebar.enabled", i);
  switch (card.rebar_enabled.state) {
    case ReadState::kOk:
      if (card.rebar_enabled.value) {
        items.add(key, "yes", "", TSR_DIAG_STATUS_OK, src);
      } else {
        items.add(
            key, "no", "", TSR_DIAG_STATUS_WARN, src,
            "the GPU's memory BAR is at its 256 MiB default: enable Resizable BAR (\"Re-Size BAR "
            "Support\") and Above 4G Decoding in the firmware (BIOS/UEFI) setup; Intel Arc GPUs "
            "lose much "
            "of their performance without it");
      }
      break;
    case ReadState::kNeedsRoot:
      items.add(key, "needs root", "", TSR_DIAG_STATUS_NEEDS_ROOT, src, kRootHint);
      break;
    case ReadState::kError:
      items.add(key, "unreadable", "", TSR_DIAG_STATUS_UNKNOWN, src,
                "reading failed: " + card.rebar_enabled.detail);
      break;
    case ReadState::kMissing:
      break;
  }
}

void add_link(Items& items, const XpuCardReading& card) {
  const int i = card.index;
  const std::string& src = card.source;
  if (card.pcie_gen_current.ok() && card.pcie_gen_max.ok()) {
    const bool slow = card.pcie_gen_current.value < card.pcie_gen_max.value;
    items.add(format("pcie.%d.link.gen.current", i), std::to_string(card.pcie_gen_current.value),
              "", slow ? TSR_DIAG_STATUS_WARN : TSR_DIAG_STATUS_OK, src,
              slow ? format("the link runs at PCIe gen%d of gen%d: reseat the card, check the "
                            "slot, risers, the "
                            "BIOS PCIe speed setting and ASPM power saving",
                            card.pcie_gen_current.value, card.pcie_gen_max.value)
                   : std::string());
    items.add(format("pcie.%d.link.gen.max", i), std::to_string(card.pcie_gen_max.value), "",
              TSR_DIAG_STATUS_OK, src);
  }
  if (card.pcie_width_current.ok() && card.pcie_width_max.ok()) {
    const bool narrow = card.pcie_width_current.value < card.pcie_width_max.value;
    items.add(
        format("pcie.%d.link.width.current", i), std::to_string(card.pcie_width_current.value),
        "lanes", narrow ? TSR_DIAG_STATUS_WARN : TSR_DIAG_STATUS_OK, src,
        narrow
            ? format(
                  "the link trained to x%d of x%d: check that the slot is wired x%d, that no riser "
                  "limits it and that the card is fully seated",
                  card.pcie_width_current.value, card.pcie_width_max.value,
                  card.pcie_width_max.value)
            : std::string());
    items.add(format("pcie.%d.link.width.max", i), std::to_string(card.pcie_width_max.value),
              "lanes", TSR_DIAG_STATUS_OK, src);
  }
}

// Driver and kernel advice for the GPU generation.
void add_driver(Items& items, const XpuCardReading& card, const Reading<std::string>& kernel) {
  const std::string key = format("gpu.%d.driver", card.index);
  if (card.driver.empty()) {
    items.add(key, "unknown", "", TSR_DIAG_STATUS_UNKNOWN, kSysfs,
              format("no driver name in /sys/class/drm/%s/device/uevent", card.card.c_str()));
    return;
  }
  const GpuFamily family = gpu_family(card.pci_device_id);
  if (!kernel.ok()) {
    items.add(key, card.driver, "", TSR_DIAG_STATUS_OK, kSysfs);
    return;
  }
  const auto [major, minor] = kernel_version(kernel.value);
  const int version = major * 100 + minor;
  tsr_diag_status status = TSR_DIAG_STATUS_OK;
  std::string hint;
  if (family == GpuFamily::kAlchemist && card.driver == "i915" && version < 605) {
    status = version < 602 ? TSR_DIAG_STATUS_FAIL : TSR_DIAG_STATUS_WARN;
    hint = format(
        "Arc A-series (Alchemist, DG2) is supported by i915 from kernel 6.2 on; this is %d.%d. "
        "Recommended: kernel 6.5 or newer, or the xe driver on 6.8 or newer, with a current "
        "intel-level-zero-gpu / intel-compute-runtime",
        major, minor);
  } else if (family == GpuFamily::kBattlemage && version < 612) {
    status = TSR_DIAG_STATUS_FAIL;
    hint = format(
        "Arc B-series (Battlemage) needs the xe driver on kernel 6.12 or newer; this is %d.%d",
        major, minor);
  } else if (card.driver == "xe" && version < 608) {
    status = TSR_DIAG_STATUS_WARN;
    hint = format(
        "the xe driver entered the mainline kernel in 6.8; on %d.%d it is a preview: use kernel "
        "6.8 or "
        "newer",
        major, minor);
  }
  items.add(key, card.driver, "", status, kSysfs, hint);
}

}  // namespace

std::pair<int, int> kernel_version(const std::string& release) {
  int major = 0;
  int minor = 0;
  if (std::sscanf(release.c_str(), "%d.%d", &major, &minor) != 2) return {0, 0};
  return {major, minor};
}

std::vector<DiagItem> evaluate_xpu_snapshot(const XpuSnapshot& snapshot) {
  Items items;
  if (!snapshot.loader_found) {
    items.add(
        "xpu.level_zero", "Level Zero loader not found (libze_loader.so.1)", "",
        TSR_DIAG_STATUS_UNKNOWN, "level-zero",
        "the XPU plugin needs the Level Zero loader (Debian/Ubuntu: libze1) and Intel's GPU driver "
        "(intel-level-zero-gpu or libze-intel-gpu1) to use Intel GPUs");
  }
  if (snapshot.ze_driver_version) {
    items.add("driver.version", *snapshot.ze_driver_version, "", TSR_DIAG_STATUS_OK, "level-zero");
  }
  if (snapshot.sysman_available) {
    items.add("xpu.sysman", "available", "", TSR_DIAG_STATUS_OK, "level-zero-sysman");
  } else {
    items.add("xpu.sysman", "unavailable: " + snapshot.sysman_status + "; using sysfs", "",
              TSR_DIAG_STATUS_UNKNOWN, "level-zero-sysman",
              "Level Zero Sysman needs Intel's GPU driver (intel-level-zero-gpu); frequencies and "
              "BARs come from "
              "i915/xe sysfs instead, and PCIe link speed is not reported");
  }
  add_reading(items, "kernel.version", snapshot.kernel_release, "", kSysfs,
              [](const std::string& s) { return s; });
  if (snapshot.cards.empty() && snapshot.unbound.empty()) {
    items.add("device.count", "0", "", TSR_DIAG_STATUS_UNKNOWN, kSysfs,
              "no Intel GPU is visible in /sys/class/drm; if one is installed, check that the i915 "
              "or xe module "
              "is loaded (`lsmod | grep -E 'i915|xe'`) and `dmesg | grep -iE 'i915|xe'`");
  }
  for (const XpuCardReading& card : snapshot.cards) {
    if (!card.pci_bus_id.empty()) {
      items.add(format("device.%d.pci_bus_id", card.index), card.pci_bus_id, "", TSR_DIAG_STATUS_OK,
                card.source);
    }
    add_driver(items, card, snapshot.kernel_release);
    add_frequency(items, card);
    add_bar(items, card);
    add_link(items, card);
  }
  for (const UnboundGpu& gpu : snapshot.unbound) {
    const bool newer = gpu_family(gpu.pci_device_id) == GpuFamily::kBattlemage;
    items.add(
        format("pci.%s.driver", gpu.pci_bus_id.c_str()), "none", "", TSR_DIAG_STATUS_FAIL, kSysfs,
        format("the Intel GPU %s (device 0x%04x) has no kernel driver bound: load it with `sudo "
               "modprobe %s` "
               "and check `dmesg | grep -iE 'i915|xe'`; %s",
               gpu.pci_bus_id.c_str(), gpu.pci_device_id, newer ? "xe" : "i915 (or xe)",
               newer ? "Battlemage needs kernel 6.12+"
                     : "Arc A-series needs kernel 6.2+ (6.5+ recommended), older kernels only with "
                       "i915.force_probe"));
  }
  return items.take();
}

void push_items(const std::vector<DiagItem>& items, const tsr_diag_sink* sink) {
  for (const DiagItem& item : items) {
    tsr_diag_item out{};
    out.struct_size = sizeof out;
    out.key = item.key.c_str();
    out.value = item.value.c_str();
    out.unit = item.unit.empty() ? nullptr : item.unit.c_str();
    out.status = item.status;
    out.source = item.source.empty() ? nullptr : item.source.c_str();
    out.hint = item.hint.empty() ? nullptr : item.hint.c_str();
    sink->push(sink->ctx, &out);
  }
}

}  // namespace tsr::xpu
