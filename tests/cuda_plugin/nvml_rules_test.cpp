// The CUDA plugin's diagnostics rules, fed with fixture NVML snapshots
// (tests/data/diag_gpu/nvml/*.json). Each fixture holds the raw readings and what the rules
// must conclude ("expect": key -> status, value, hint fragments), so a new hardware case is a
// new file. No NVML and no GPU are needed.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "nvml_rules.h"

namespace tsr::cuda {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const fs::path kFixtures = fs::path(TESSERA_TEST_DATA_DIR) / "diag_gpu" / "nvml";

template <class T>
void read_optional(const json& j, const char* key, std::optional<T>& out) {
  if (j.contains(key)) out = j.at(key).get<T>();
}

NvmlSnapshot snapshot_from_json(const json& j) {
  NvmlSnapshot s;
  s.library_found = j.at("library_found").get<bool>();
  s.init_error = j.value("init_error", "");
  read_optional(j, "driver_version", s.driver_version);
  read_optional(j, "cuda_driver_version", s.cuda_driver_version);
  read_optional(j, "cuda_runtime_version", s.cuda_runtime_version);
  for (const json& g : j.value("gpus", json::array())) {
    NvmlGpuReading gpu;
    gpu.index = g.at("index").get<int>();
    gpu.name = g.value("name", "");
    gpu.pci_bus_id = g.value("pci_bus_id", "");
    read_optional(g, "sm_clock_mhz", gpu.sm_clock_mhz);
    read_optional(g, "sm_clock_max_mhz", gpu.sm_clock_max_mhz);
    read_optional(g, "mem_clock_mhz", gpu.mem_clock_mhz);
    read_optional(g, "mem_clock_max_mhz", gpu.mem_clock_max_mhz);
    read_optional(g, "app_sm_clock_mhz", gpu.app_sm_clock_mhz);
    read_optional(g, "default_app_sm_clock_mhz", gpu.default_app_sm_clock_mhz);
    read_optional(g, "clock_event_reasons", gpu.clock_event_reasons);
    read_optional(g, "bar1_total_bytes", gpu.bar1_total_bytes);
    read_optional(g, "memory_total_bytes", gpu.memory_total_bytes);
    read_optional(g, "pcie_gen_current", gpu.pcie_gen_current);
    read_optional(g, "pcie_gen_max", gpu.pcie_gen_max);
    read_optional(g, "pcie_gen_gpu_max", gpu.pcie_gen_gpu_max);
    read_optional(g, "pcie_width_current", gpu.pcie_width_current);
    read_optional(g, "pcie_width_max", gpu.pcie_width_max);
    read_optional(g, "persistence_mode", gpu.persistence_mode);
    read_optional(g, "ecc_current", gpu.ecc_current);
    read_optional(g, "ecc_pending", gpu.ecc_pending);
    s.gpus.push_back(gpu);
  }
  return s;
}

json load(const std::string& name) {
  std::ifstream in(kFixtures / name);
  EXPECT_TRUE(in.good()) << "missing fixture " << name;
  return json::parse(in);
}

const char* status_name(tsr_diag_status status) {
  switch (status) {
    case TSR_DIAG_STATUS_OK:
      return "ok";
    case TSR_DIAG_STATUS_WARN:
      return "warn";
    case TSR_DIAG_STATUS_FAIL:
      return "fail";
    case TSR_DIAG_STATUS_UNKNOWN:
      return "unknown";
    case TSR_DIAG_STATUS_NEEDS_ROOT:
      return "needs_root";
  }
  return "?";
}

std::map<std::string, DiagItem> by_key(const std::vector<DiagItem>& items) {
  std::map<std::string, DiagItem> map;
  for (const DiagItem& item : items) {
    EXPECT_TRUE(map.emplace(item.key, item).second) << "duplicate key " << item.key;
  }
  return map;
}

class NvmlFixture : public ::testing::TestWithParam<std::string> {};

TEST_P(NvmlFixture, RulesGiveExpectedFindings) {
  const json fixture = load(GetParam());
  const std::vector<DiagItem> items = evaluate_nvml_snapshot(snapshot_from_json(fixture));
  const auto found = by_key(items);
  for (const auto& [key, expect] : fixture.at("expect").items()) {
    SCOPED_TRACE(key);
    const auto it = found.find(key);
    ASSERT_NE(it, found.end()) << "no finding for " << key;
    const DiagItem& item = it->second;
    EXPECT_EQ(status_name(item.status), expect.at("status").get<std::string>())
        << item.value << " / " << item.hint;
    if (expect.contains("value")) {
      EXPECT_EQ(item.value, expect.at("value").get<std::string>());
    }
    for (const json& fragment : expect.value("hint_contains", json::array())) {
      EXPECT_NE(item.hint.find(fragment.get<std::string>()), std::string::npos)
          << "hint lacks '" << fragment.get<std::string>() << "': " << item.hint;
    }
  }
  for (const json& absent : fixture.value("expect_absent", json::array())) {
    EXPECT_EQ(found.count(absent.get<std::string>()), 0u) << absent;
  }
  if (fixture.contains("expect_count")) {
    EXPECT_EQ(items.size(), fixture.at("expect_count").get<size_t>());
  }
  for (const json& status : fixture.value("expect_no_status", json::array())) {
    for (const DiagItem& item : items) {
      EXPECT_NE(status_name(item.status), status.get<std::string>())
          << item.key << ": " << item.hint;
    }
  }
  for (const DiagItem& item : items) {
    EXPECT_EQ(item.source.empty(), false) << item.key;
    if (item.status == TSR_DIAG_STATUS_WARN || item.status == TSR_DIAG_STATUS_FAIL ||
        item.status == TSR_DIAG_STATUS_UNKNOWN) {
      EXPECT_FALSE(item.hint.empty()) << item.key << " has no hint";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, NvmlFixture,
                         ::testing::Values("healthy_h100.json", "idle_throttled.json",
                                           "downtrained_link.json", "small_bar1.json",
                                           "thermal_old_driver.json", "missing_driver.json",
                                           "nvml_init_failed.json"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param.substr(0, info.param.find('.'));
                         });

TEST(NvmlRules, EveryFixtureIsListed) {
  size_t files = 0;
  for (const auto& entry : fs::directory_iterator(kFixtures))
    files += entry.path().extension() == ".json";
  EXPECT_EQ(files, 7u) << "add new fixtures to the INSTANTIATE_TEST_SUITE_P list";
}

TEST(NvmlRules, DecodesEveryReasonBitAndUnknownBits) {
  EXPECT_EQ(decode_clock_event_reasons(0), "none");
  EXPECT_EQ(decode_clock_event_reasons(kReasonGpuIdle | kReasonSwPowerCap),
            "gpu_idle,sw_power_cap");
  EXPECT_EQ(decode_clock_event_reasons(kReasonHwPowerBrakeSlowdown | kReasonDisplayClockSetting),
            "hw_power_brake_slowdown,display_clock_setting");
  EXPECT_EQ(decode_clock_event_reasons(kReasonSyncBoost | 0x8000ull), "sync_boost,0x8000");
}

TEST(NvmlRules, MissingDriverIsOneUnknownItemNotAnError) {
  NvmlSnapshot snapshot;  // library_found == false
  snapshot.cuda_runtime_version = 13000;
  const auto items = evaluate_nvml_snapshot(snapshot);
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].status, TSR_DIAG_STATUS_UNKNOWN);
  EXPECT_EQ(items[0].value, "NVIDIA driver not found (libnvidia-ml.so.1)");
}

TEST(NvmlRules, ReaderReportsAMissingLibraryAsNotFound) {
  const NvmlSnapshot snapshot = read_nvml_snapshot("libtessera-no-such-nvml.so.1");
  EXPECT_FALSE(snapshot.library_found);
  EXPECT_TRUE(snapshot.gpus.empty());
}

TEST(NvmlRules, PushedItemsCarryNullForEmptyStrings) {
  std::vector<std::string> keys;
  tsr_diag_sink sink{sizeof(tsr_diag_sink), &keys, [](void* ctx, const tsr_diag_item* item) {
                       auto* k = static_cast<std::vector<std::string>*>(ctx);
                       k->push_back(item->key);
                       EXPECT_EQ(item->unit, nullptr);
                       EXPECT_NE(item->hint, nullptr);
                       EXPECT_STREQ(item->source, "nvml");
                     }};
  push_items(evaluate_nvml_snapshot(NvmlSnapshot{}), &sink);
  EXPECT_EQ(keys, std::vector<std::string>{"driver.version"});
}

}  // namespace
}  // namespace tsr::cuda
