// diagnose() of the XPU plugin: Level Zero Sysman readings when Sysman works, i915/xe sysfs
// otherwise, through the pure rules of xpu_rules.h. Needs no initialize and no device.
//
// The sysfs root comes from the host option "diag.root", else TESSERA_DIAG_ROOT, else "/";
// tests point it at fixture trees. Sysman is always asked first (it does not read sysfs).
#include <algorithm>
#include <cstdlib>
#include <vector>

#include "xpu_internal.h"
#include "ze_loader.h"
#include "xpu_rules.h"

namespace tsr::xpu {
namespace {

ReadState state_of(ze_result_t rc) {
  switch (rc) {
    case ZE_RESULT_SUCCESS:
      return ReadState::kOk;
    case ZE_RESULT_ERROR_INSUFFICIENT_PERMISSIONS:
      return ReadState::kNeedsRoot;
    case ZE_RESULT_ERROR_UNSUPPORTED_FEATURE:
      return ReadState::kMissing;
    default:
      return ReadState::kError;
  }
}

template <class T>
void set(Reading<T>& reading, ze_result_t rc, T value, const char* call) {
  reading.state = state_of(rc);
  reading.value = value;
  reading.detail = rc == ZE_RESULT_SUCCESS ? call : std::string(call) + ": " + ze_result_name(rc);
}

void read_frequency(const ZeLoader& z, zes_device_handle_t device, XpuCardReading& card) {
  uint32_t count = 0;
  if (z.zesDeviceEnumFrequencyDomains(device, &count, nullptr) != ZE_RESULT_SUCCESS) return;
  std::vector<zes_freq_handle_t> domains(count);
  if (z.zesDeviceEnumFrequencyDomains(device, &count, domains.data()) != ZE_RESULT_SUCCESS) return;
  for (zes_freq_handle_t domain : domains) {
    zes_freq_properties_t props{};
    props.stype = ZES_STRUCTURE_TYPE_FREQ_PROPERTIES;
    if (z.zesFrequencyGetProperties(domain, &props) != ZE_RESULT_SUCCESS ||
        props.type != ZES_FREQ_DOMAIN_GPU) {
      continue;
    }
    set(card.freq_hw_min, ZE_RESULT_SUCCESS, props.min, "zesFrequencyGetProperties");
    set(card.freq_hw_max, ZE_RESULT_SUCCESS, props.max, "zesFrequencyGetProperties");
    zes_freq_state_t state{};
    state.stype = ZES_STRUCTURE_TYPE_FREQ_STATE;
    const ze_result_t state_rc = z.zesFrequencyGetState(domain, &state);
    set(card.freq_current, state_rc, state.actual, "zesFrequencyGetState");
    set(card.freq_requested, state_rc, state.request, "zesFrequencyGetState");
    zes_freq_range_t range{};
    const ze_result_t range_rc = z.zesFrequencyGetRange(domain, &range);
    set(card.freq_min, range_rc, range.min, "zesFrequencyGetRange");
    set(card.freq_max, range_rc, range.max, "zesFrequencyGetRange");
    return;
  }
}

void read_pci(const ZeLoader& z, zes_device_handle_t device, XpuCardReading& card) {
  zes_pci_properties_t props{};
  props.stype = ZES_STRUCTURE_TYPE_PCI_PROPERTIES;
  if (z.zesDevicePciGetProperties(device, &props) == ZE_RESULT_SUCCESS) {
    card.pci_bus_id = sdk::format("%04x:%02x:%02x.%x", props.address.domain, props.address.bus,
                                  props.address.device, props.address.function);
    if (props.maxSpeed.gen > 0)
      set(card.pcie_gen_max, ZE_RESULT_SUCCESS, props.maxSpeed.gen, "zesDevicePciGetProperties");
    if (props.maxSpeed.width > 0) {
      set(card.pcie_width_max, ZE_RESULT_SUCCESS, props.maxSpeed.width,
          "zesDevicePciGetProperties");
    }
  }
  zes_pci_state_t state{};
  state.stype = ZES_STRUCTURE_TYPE_PCI_STATE;
  const ze_result_t rc = z.zesDevicePciGetState(device, &state);
  if (rc != ZE_RESULT_SUCCESS || state.speed.gen > 0)
    set(card.pcie_gen_current, rc, state.speed.gen, "zesDevicePciGetState");
  if (rc != ZE_RESULT_SUCCESS || state.speed.width > 0) {
    set(card.pcie_width_current, rc, state.speed.width, "zesDevicePciGetState");
  }

  uint32_t count = 0;
  if (z.zesDevicePciGetBars(device, &count, nullptr) != ZE_RESULT_SUCCESS || count == 0) return;
  std::vector<zes_pci_bar_properties_t> bars(count);
  std::vector<zes_pci_bar_properties_1_2_t> resizable(count);
  for (uint32_t i = 0; i < count; ++i) {
    resizable[i].stype = ZES_STRUCTURE_TYPE_PCI_BAR_PROPERTIES_1_2;
    bars[i].stype = ZES_STRUCTURE_TYPE_PCI_BAR_PROPERTIES;
    bars[i].pNext = &resizable[i];
  }
  ze_result_t bars_rc = z.zesDevicePciGetBars(device, &count, bars.data());
  const bool have_resizable = bars_rc == ZE_RESULT_SUCCESS;
  if (!have_resizable) {  // drivers older than Sysman 1.2 reject the chained struct
    for (auto& bar : bars) bar.pNext = nullptr;
    bars_rc = z.zesDevicePciGetBars(device, &count, bars.data());
  }
  if (bars_rc != ZE_RESULT_SUCCESS) return;
  uint64_t largest = 0;
  bool supported = false;
  bool enabled = false;
  for (uint32_t i = 0; i < count; ++i) {
    if (bars[i].type == ZES_PCI_BAR_TYPE_MEM) largest = std::max(largest, bars[i].size);
    supported = supported || (have_resizable && resizable[i].resizableBarSupported);
    enabled = enabled || (have_resizable && resizable[i].resizableBarEnabled);
  }
  if (largest > 0) set(card.vram_bar_bytes, ZE_RESULT_SUCCESS, largest, "zesDevicePciGetBars");
  if (have_resizable) {
    set(card.rebar_supported, ZE_RESULT_SUCCESS, supported, "zesDevicePciGetBars");
    set(card.rebar_enabled, ZE_RESULT_SUCCESS, enabled, "zesDevicePciGetBars");
  }
}

void read_memory(const ZeLoader& z, zes_device_handle_t device, XpuCardReading& card) {
  uint32_t count = 0;
  if (z.zesDeviceEnumMemoryModules == nullptr || z.zesMemoryGetProperties == nullptr ||
      z.zesDeviceEnumMemoryModules(device, &count, nullptr) != ZE_RESULT_SUCCESS) {
    return;
  }
  std::vector<zes_mem_handle_t> modules(count);
  if (z.zesDeviceEnumMemoryModules(device, &count, modules.data()) != ZE_RESULT_SUCCESS) return;
  uint64_t total = 0;
  for (zes_mem_handle_t module : modules) {
    zes_mem_properties_t props{};
    props.stype = ZES_STRUCTURE_TYPE_MEM_PROPERTIES;
    if (z.zesMemoryGetProperties(module, &props) == ZE_RESULT_SUCCESS &&
        props.location == ZES_MEM_LOC_DEVICE) {
      total += props.physicalSize;
    }
  }
  if (total > 0) set(card.vram_bytes, ZE_RESULT_SUCCESS, total, "zesMemoryGetProperties");
}

// Fills snapshot.cards from Sysman; false (with sysman_status) when Sysman cannot be used.
bool read_sysman(XpuSnapshot& snapshot) {
  const ZeLoader& z = ze_loader();
  snapshot.loader_found = z.loaded();
  if (!z.loaded()) {
    snapshot.loader_error = z.error;
    snapshot.sysman_status = "Level Zero loader not found";
    return false;
  }
  if (z.zesDeviceEnumFrequencyDomains == nullptr || z.zesFrequencyGetProperties == nullptr ||
      z.zesFrequencyGetState == nullptr || z.zesFrequencyGetRange == nullptr ||
      z.zesDevicePciGetProperties == nullptr || z.zesDevicePciGetState == nullptr ||
      z.zesDevicePciGetBars == nullptr) {
    snapshot.sysman_status = "the Level Zero loader lacks the Sysman entry points";
    return false;
  }
  if (const ze_result_t rc = z.zeInit(ZE_INIT_FLAG_GPU_ONLY); rc != ZE_RESULT_SUCCESS) {
    snapshot.sysman_status = std::string("zeInit: ") + ze_result_name(rc);
    return false;
  }
  uint32_t driver_count = 0;
  if (z.zeDriverGet(&driver_count, nullptr) != ZE_RESULT_SUCCESS || driver_count == 0) {
    snapshot.sysman_status = "no Level Zero GPU driver";
    return false;
  }
  std::vector<ze_driver_handle_t> drivers(driver_count);
  if (z.zeDriverGet(&driver_count, drivers.data()) != ZE_RESULT_SUCCESS) {
    snapshot.sysman_status = "zeDriverGet failed";
    return false;
  }
  ze_result_t last = ZE_RESULT_SUCCESS;
  for (ze_driver_handle_t driver : drivers) {
    ze_driver_properties_t driver_props{};
    driver_props.stype = ZE_STRUCTURE_TYPE_DRIVER_PROPERTIES;
    if (z.zeDriverGetProperties(driver, &driver_props) == ZE_RESULT_SUCCESS) {
      snapshot.ze_driver_version = std::to_string(driver_props.driverVersion);
    }
    uint32_t count = 0;
    if (z.zeDeviceGet(driver, &count, nullptr) != ZE_RESULT_SUCCESS) continue;
    std::vector<ze_device_handle_t> devices(count);
    if (z.zeDeviceGet(driver, &count, devices.data()) != ZE_RESULT_SUCCESS) continue;
    for (ze_device_handle_t device : devices) {
      ze_device_properties_t props{};
      props.stype = ZE_STRUCTURE_TYPE_DEVICE_PROPERTIES;
      if (z.zeDeviceGetProperties(device, &props) != ZE_RESULT_SUCCESS ||
          props.type != ZE_DEVICE_TYPE_GPU)
        continue;
      // With ZES_ENABLE_SYSMAN=1 before zeInit, core device handles are Sysman handles.
      auto sysman = reinterpret_cast<zes_device_handle_t>(device);
      uint32_t domains = 0;
      last = z.zesDeviceEnumFrequencyDomains(sysman, &domains, nullptr);
      if (last != ZE_RESULT_SUCCESS) continue;
      XpuCardReading card;
      card.index = static_cast<int>(snapshot.cards.size());
      card.card = sdk::format("ze%d", card.index);
      card.source = "level-zero-sysman";
      card.pci_device_id = props.deviceId;
      read_frequency(z, sysman, card);
      read_pci(z, sysman, card);
      read_memory(z, sysman, card);
      snapshot.cards.push_back(std::move(card));
    }
  }
  if (snapshot.cards.empty()) {
    snapshot.sysman_status = last == ZE_RESULT_SUCCESS
                                 ? "no Level Zero GPU"
                                 : std::string("Sysman refused: ") + ze_result_name(last) +
                                       " (ZES_ENABLE_SYSMAN=1 must be set before the first zeInit)";
    return false;
  }
  snapshot.sysman_available = true;
  return true;
}

}  // namespace

tsr_error* diagnose(const tsr_diag_sink* sink) {
  return sdk::guard([&] {
    TSR_PLUGIN_CHECK_ARG(sink != nullptr && sink->push != nullptr, "diagnose: sink is NULL");
    const char* env_root = std::getenv("TESSERA_DIAG_ROOT");
    const std::string root = host().option("diag.root", env_root != nullptr ? env_root : "");
    XpuSnapshot snapshot;
    const bool sysman = read_sysman(snapshot);
    XpuSnapshot sysfs;
    read_sysfs(*make_filesystem_source(root), sysfs);
    snapshot.kernel_release = sysfs.kernel_release;
    snapshot.unbound = sysfs.unbound;
    if (!sysman) {
      snapshot.cards = std::move(sysfs.cards);
    } else {
      // Sysman does not name the kernel driver or DRM card: take them from sysfs.
      for (XpuCardReading& card : snapshot.cards) {
        for (const XpuCardReading& other : sysfs.cards) {
          if (other.pci_bus_id == card.pci_bus_id) {
            card.driver = other.driver;
            card.card = other.card;
          }
        }
      }
    }
    push_items(evaluate_xpu_snapshot(snapshot), sink);
  });
}

}  // namespace tsr::xpu
