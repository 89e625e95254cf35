// The XPU plugin's sysfs reader and diagnostic rules, against fixture trees in
// tests/data/diag_gpu/sysfs/ and hand-built snapshots. No Level Zero and no GPU needed.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <string>

#include "xpu_rules.h"
#include "xpu_snapshot.h"

namespace tsr::xpu {
namespace {

namespace fs = std::filesystem;

const fs::path kTrees = fs::path(TESSERA_TEST_DATA_DIR) / "diag_gpu" / "sysfs";

std::map<std::string, DiagItem> by_key(const std::vector<DiagItem>& items) {
  std::map<std::string, DiagItem> map;
  for (const DiagItem& item : items) {
    EXPECT_TRUE(map.emplace(item.key, item).second) << "duplicate key " << item.key;
  }
  return map;
}

XpuSnapshot read_tree(const SysfsSource& source) {
  XpuSnapshot snapshot;
  snapshot.loader_found = true;
  snapshot.sysman_status = "test";
  read_sysfs(source, snapshot);
  return snapshot;
}

std::map<std::string, DiagItem> findings(const SysfsSource& source) {
  return by_key(evaluate_xpu_snapshot(read_tree(source)));
}

void expect_hint(const DiagItem& item, const std::string& fragment) {
  EXPECT_NE(item.hint.find(fragment), std::string::npos)
      << item.key << " hint lacks '" << fragment << "': " << item.hint;
}

// Answers EACCES for paths ending in one of `denied`, as sysfs does for root-only files.
class DenyingSource : public SysfsSource {
 public:
  DenyingSource(const SysfsSource& inner, std::vector<std::string> denied)
      : inner_(inner), denied_(std::move(denied)) {}
  FileRead read(const std::string& path) const override {
    for (const std::string& suffix : denied_) {
      if (path.size() >= suffix.size() &&
          path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0) {
        return FileRead{ReadState::kNeedsRoot, {}, path + ": Permission denied"};
      }
    }
    return inner_.read(path);
  }
  std::vector<std::string> list(const std::string& dir) const override { return inner_.list(dir); }
  bool exists(const std::string& path) const override { return inner_.exists(path); }

 private:
  const SysfsSource& inner_;
  std::vector<std::string> denied_;
};

TEST(XpuSysfs, I915CardLockedLowWithSmallBarOnOldKernel) {
  const auto source = make_filesystem_source((kTrees / "i915_locked_low").string());
  const XpuSnapshot snapshot = read_tree(*source);
  ASSERT_EQ(snapshot.cards.size(), 1u);
  const XpuCardReading& card = snapshot.cards[0];
  EXPECT_EQ(card.card, "card0");
  EXPECT_EQ(card.driver, "i915");
  EXPECT_EQ(card.pci_bus_id, "0000:03:00.0");
  EXPECT_EQ(card.pci_device_id, 0x56a0u);
  EXPECT_EQ(card.vram_bar_bytes.value, 256ull << 20);
  EXPECT_TRUE(card.rebar_supported.ok() && card.rebar_supported.value);

  const auto found = by_key(evaluate_xpu_snapshot(snapshot));
  const DiagItem& locked = found.at("gpu.0.freq.locked");
  EXPECT_EQ(locked.status, TSR_DIAG_STATUS_WARN);
  EXPECT_EQ(locked.value, "yes (at 600 of 2400 MHz)");
  expect_hint(locked, "xpu-smi config -d 0 -t 0 --frequencyrange 300,2400");
  expect_hint(locked, "echo 2400 | sudo tee /sys/class/drm/card0/gt_max_freq_mhz");
  expect_hint(locked, "echo 2400 | sudo tee /sys/class/drm/card0/gt_min_freq_mhz");
  EXPECT_EQ(found.at("gpu.0.freq.gt.current").value, "600");
  EXPECT_EQ(found.at("gpu.0.freq.gt.hw_max").value, "2400");

  const DiagItem& rebar = found.at("pcie.0.rebar.enabled");
  EXPECT_EQ(rebar.status, TSR_DIAG_STATUS_WARN);
  EXPECT_EQ(rebar.value, "no");
  expect_hint(rebar, "Resizable BAR");
  expect_hint(rebar, "Above 4G Decoding");
  EXPECT_EQ(found.at("pcie.0.rebar.bar_size").value, "256");
  EXPECT_EQ(found.at("pcie.0.rebar.supported").value, "yes");

  const DiagItem& driver = found.at("gpu.0.driver");
  EXPECT_EQ(driver.status, TSR_DIAG_STATUS_FAIL);
  expect_hint(driver, "6.2");
  expect_hint(driver, "6.5");
  expect_hint(driver, "xe driver on 6.8");
  EXPECT_EQ(found.at("kernel.version").value, "6.1.0-18-amd64");
  EXPECT_EQ(found.at("xpu.sysman").status, TSR_DIAG_STATUS_UNKNOWN);
}

TEST(XpuSysfs, XeCardIsHealthyAndOtherVendorsAndConnectorsAreSkipped) {
  const auto source = make_filesystem_source((kTrees / "xe_ok").string());
  const XpuSnapshot snapshot = read_tree(*source);
  ASSERT_EQ(snapshot.cards.size(), 1u);
  EXPECT_EQ(snapshot.cards[0].card, "card1");
  EXPECT_EQ(snapshot.cards[0].driver, "xe");
  const auto found = by_key(evaluate_xpu_snapshot(snapshot));
  EXPECT_EQ(found.at("gpu.0.freq.locked").value, "no");
  EXPECT_EQ(found.at("gpu.0.freq.locked").status, TSR_DIAG_STATUS_OK);
  EXPECT_EQ(found.at("gpu.0.freq.gt.min").value, "400");
  EXPECT_EQ(found.at("pcie.0.rebar.enabled").status, TSR_DIAG_STATUS_OK);
  EXPECT_EQ(found.at("pcie.0.rebar.bar_size").value, "16384");
  EXPECT_EQ(found.at("gpu.0.driver").status, TSR_DIAG_STATUS_OK);
  for (const auto& [key, item] : found) {
    if (key == "xpu.sysman") continue;
    EXPECT_TRUE(item.status == TSR_DIAG_STATUS_OK)
        << key << ": " << item.value << " / " << item.hint;
  }
}

TEST(XpuSysfs, RootOnlyFileIsNeedsRootNeverAFalseNo) {
  const auto inner = make_filesystem_source((kTrees / "i915_locked_low").string());
  const DenyingSource source(*inner, {"gt_max_freq_mhz", "/resource"});
  const auto found = findings(source);
  EXPECT_EQ(found.at("gpu.0.freq.gt.max").status, TSR_DIAG_STATUS_NEEDS_ROOT);
  EXPECT_EQ(found.at("gpu.0.freq.locked").status, TSR_DIAG_STATUS_NEEDS_ROOT);
  EXPECT_EQ(found.at("gpu.0.freq.locked").value, "needs root");
  expect_hint(found.at("gpu.0.freq.locked"), "sudo");
  EXPECT_EQ(found.at("pcie.0.rebar.bar_size").status, TSR_DIAG_STATUS_NEEDS_ROOT);
  EXPECT_EQ(found.count("pcie.0.rebar.enabled"), 0u)
      << "an unreadable BAR must not read as disabled";
}

TEST(XpuSysfs, Chmod000FileIsNeedsRoot) {
  if (geteuid() == 0) GTEST_SKIP() << "root reads mode-000 files; covered by the injected reader";
  const fs::path copy = fs::temp_directory_path() / ("tessera-diag-" + std::to_string(getpid()));
  fs::remove_all(copy);
  fs::copy(kTrees / "i915_locked_low", copy, fs::copy_options::recursive);
  const fs::path file = copy / "sys/class/drm/card0/gt_min_freq_mhz";
  ASSERT_EQ(chmod(file.c_str(), 0), 0);
  const auto found = findings(*make_filesystem_source(copy.string()));
  EXPECT_EQ(found.at("gpu.0.freq.gt.min").status, TSR_DIAG_STATUS_NEEDS_ROOT);
  EXPECT_EQ(found.at("gpu.0.freq.locked").status, TSR_DIAG_STATUS_NEEDS_ROOT);
  chmod(file.c_str(), 0644);
  fs::remove_all(copy);
}

TEST(XpuSysfs, IntelGpuWithoutDriverFails) {
  const auto found = findings(*make_filesystem_source((kTrees / "no_driver").string()));
  const DiagItem& unbound = found.at("pci.0000:03:00.0.driver");
  EXPECT_EQ(unbound.status, TSR_DIAG_STATUS_FAIL);
  EXPECT_EQ(unbound.value, "none");
  expect_hint(unbound, "modprobe");
  EXPECT_EQ(found.count("pci.0000:00:1f.3.driver"), 0u) << "audio devices are not GPUs";
  EXPECT_EQ(found.count("device.count"), 0u);
}

TEST(XpuSysfs, EmptyRootReportsNoGpuAndNoKernel) {
  const auto found = findings(*make_filesystem_source((kTrees / "does-not-exist").string()));
  EXPECT_EQ(found.at("device.count").status, TSR_DIAG_STATUS_UNKNOWN);
  EXPECT_EQ(found.count("kernel.version"), 0u);
}

TEST(XpuRules, MissingLoaderIsUnknownNotAnError) {
  XpuSnapshot snapshot;
  snapshot.sysman_status = "Level Zero loader not found";
  const auto found = by_key(evaluate_xpu_snapshot(snapshot));
  EXPECT_EQ(found.at("xpu.level_zero").status, TSR_DIAG_STATUS_UNKNOWN);
  EXPECT_EQ(found.at("xpu.level_zero").value, "Level Zero loader not found (libze_loader.so.1)");
  EXPECT_EQ(found.at("xpu.sysman").status, TSR_DIAG_STATUS_UNKNOWN);
}

TEST(XpuRules, SysmanReadingsWithDisabledRebarAndNarrowLink) {
  XpuSnapshot snapshot;
  snapshot.loader_found = true;
  snapshot.sysman_available = true;
  snapshot.kernel_release = {ReadState::kOk, "6.8.0-45-generic", ""};
  XpuCardReading card;
  card.card = "card0";
  card.source = "level-zero-sysman";
  card.driver = "xe";
  card.pci_device_id = 0x56a0;
  card.rebar_supported = {ReadState::kOk, true, ""};
  card.rebar_enabled = {ReadState::kOk, false, ""};
  card.pcie_gen_current = {ReadState::kOk, 4, ""};
  card.pcie_gen_max = {ReadState::kOk, 4, ""};
  card.pcie_width_current = {ReadState::kOk, 8, ""};
  card.pcie_width_max = {ReadState::kOk, 16, ""};
  card.freq_min = {ReadState::kOk, 300, ""};
  card.freq_max = {ReadState::kOk, 1200, ""};
  card.freq_hw_max = {ReadState::kOk, 2400, ""};
  snapshot.cards.push_back(card);
  const auto found = by_key(evaluate_xpu_snapshot(snapshot));
  EXPECT_EQ(found.at("xpu.sysman").status, TSR_DIAG_STATUS_OK);
  EXPECT_EQ(found.at("pcie.0.rebar.enabled").status, TSR_DIAG_STATUS_WARN);
  EXPECT_EQ(found.at("pcie.0.rebar.enabled").source, "level-zero-sysman");
  EXPECT_EQ(found.at("pcie.0.link.width.current").status, TSR_DIAG_STATUS_WARN);
  EXPECT_EQ(found.at("pcie.0.link.gen.current").status, TSR_DIAG_STATUS_OK);
  EXPECT_EQ(found.at("gpu.0.freq.locked").value, "capped (max 1200 of 2400 MHz)");
  expect_hint(found.at("gpu.0.freq.locked"),
              "/sys/class/drm/card0/device/tile0/gt0/freq0/max_freq");
  EXPECT_EQ(found.at("gpu.0.driver").status, TSR_DIAG_STATUS_OK) << found.at("gpu.0.driver").hint;
}

TEST(XpuRules, KernelAdviceByGeneration) {
  auto driver_status = [](const char* release, const char* driver, uint32_t id) {
    XpuSnapshot snapshot;
    snapshot.loader_found = true;
    snapshot.kernel_release = {ReadState::kOk, release, ""};
    XpuCardReading card;
    card.card = "card0";
    card.source = "sysfs";
    card.driver = driver;
    card.pci_device_id = id;
    snapshot.cards.push_back(card);
    return by_key(evaluate_xpu_snapshot(snapshot)).at("gpu.0.driver").status;
  };
  EXPECT_EQ(driver_status("6.1.0", "i915", 0x56a0), TSR_DIAG_STATUS_FAIL);
  EXPECT_EQ(driver_status("6.3.1", "i915", 0x56a0), TSR_DIAG_STATUS_WARN);
  EXPECT_EQ(driver_status("6.5.0", "i915", 0x56a0), TSR_DIAG_STATUS_OK);
  EXPECT_EQ(driver_status("6.11.0", "xe", 0xe20b), TSR_DIAG_STATUS_FAIL);
  EXPECT_EQ(driver_status("6.12.4", "xe", 0xe20b), TSR_DIAG_STATUS_OK);
  EXPECT_EQ(driver_status("6.6.0", "xe", 0x56a0), TSR_DIAG_STATUS_WARN);
  EXPECT_EQ(driver_status("5.15.0", "i915", 0x9a49), TSR_DIAG_STATUS_OK);  // integrated Xe-LP
}

TEST(XpuRules, ParsesKernelReleasesAndFamilies) {
  EXPECT_EQ(kernel_version("6.5.0-21-generic"), std::make_pair(6, 5));
  EXPECT_EQ(kernel_version("6.18.44-fc-v595"), std::make_pair(6, 18));
  EXPECT_EQ(kernel_version("garbage"), std::make_pair(0, 0));
  EXPECT_EQ(gpu_family(0x56a0), GpuFamily::kAlchemist);
  EXPECT_EQ(gpu_family(0xe20b), GpuFamily::kBattlemage);
  EXPECT_EQ(gpu_family(0x4905), GpuFamily::kDg1);
  EXPECT_EQ(gpu_family(0x9a49), GpuFamily::kOther);
  EXPECT_FALSE(is_discrete(GpuFamily::kOther));
}

}  // namespace
}  // namespace tsr::xpu
