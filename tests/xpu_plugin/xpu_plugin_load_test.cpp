// Loads the built libtessera-xpu.so with dlopen and a test host. Without an Intel GPU driver
// (CI): initialize succeeds with 0 devices and one log line, device_open fails with
// NOT_FOUND, the score is 0, and diagnose reports Sysman unavailable and falls back to the
// sysfs fixture tree given as the diag.root option.
#include <dirent.h>
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "test_host.h"

namespace {

using tsr::test::take;

struct Plugin {
  void* handle = nullptr;
  tsr_plugin_get_api_fn get_api = nullptr;
  tsr_plugin_score_fn score = nullptr;
};

const Plugin& plugin() {
  static const Plugin p = [] {
    Plugin out;
    out.handle = tsr::test::load_plugin(TESSERA_XPU_PLUGIN_FILE);
    if (out.handle != nullptr) {
      out.get_api =
          reinterpret_cast<tsr_plugin_get_api_fn>(dlsym(out.handle, TSR_PLUGIN_GET_API_SYMBOL));
      out.score = reinterpret_cast<tsr_plugin_score_fn>(dlsym(out.handle, TSR_PLUGIN_SCORE_SYMBOL));
    }
    return out;
  }();
  return p;
}

tsr::test::TestHost& host() {
  static tsr::test::TestHost h;
  return h;
}

const tsr_plugin_api* api() {
  static const tsr_plugin_api* a =
      plugin().get_api != nullptr
          ? plugin().get_api(&host().api, TSR_ABI_VERSION_MAJOR, TSR_ABI_VERSION_MINOR)
          : nullptr;
  return a;
}

bool intel_render_node() {
  namespace fs = std::filesystem;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/sys/class/drm", ec)) {
    if (entry.path().filename().string().rfind("renderD", 0) != 0) continue;
    std::ifstream vendor(entry.path() / "device" / "vendor");
    std::string id;
    if (vendor >> id && id == "0x8086") return true;
  }
  return false;
}

bool loader_present() {
  void* loader = dlopen("libze_loader.so.1", RTLD_LAZY | RTLD_LOCAL);
  if (loader != nullptr) dlclose(loader);
  return loader != nullptr;
}

TEST(XpuPlugin, ExportsAndRefusesAnotherAbiMajor) {
  ASSERT_NE(plugin().get_api, nullptr);
  ASSERT_NE(plugin().score, nullptr);
  tsr::test::TestHost other;
  EXPECT_EQ(plugin().get_api(&other.api, TSR_ABI_VERSION_MAJOR + 1, 0), nullptr);
  EXPECT_EQ(other.logs_containing("refusing").size(), 1u);
}

TEST(XpuPlugin, TableDescribesAnXpuPlugin) {
  ASSERT_NE(api(), nullptr);
  EXPECT_STREQ(api()->name, "xpu");
  EXPECT_EQ(api()->device_type, TSR_DEVICE_TYPE_XPU);
  ASSERT_NE(api()->ops, nullptr);
  EXPECT_NE(api()->ops->copy_blocks, nullptr);
  EXPECT_NE(api()->ops->rms_norm, nullptr);
  EXPECT_EQ(api()->op_supported(nullptr, TSR_OP_SWAP_BLOCKS, nullptr), 1);
  EXPECT_EQ(api()->op_supported(nullptr, TSR_OP_RMS_NORM, nullptr), 1);
  EXPECT_EQ(api()->graph_begin_capture, nullptr);
  EXPECT_EQ(api()->collectives, nullptr);
}

TEST(XpuPlugin, ScoreNeedsLoaderAndIntelRenderNode) {
  ASSERT_NE(plugin().score, nullptr);
  EXPECT_EQ(plugin().score(), loader_present() && intel_render_node() ? 100 : 0);
}

// A misspelled xpu.runtime is one INVALID_ARGUMENT naming the choices, not a crash or a
// silent fallback; the next initialize with a valid value succeeds.
TEST(XpuPlugin, UnknownRuntimeOptionIsOneClearError) {
  ASSERT_NE(api(), nullptr);
  host().options["xpu.runtime"] = "cuda";
  const auto error = take(api()->initialize());
  host().options.erase("xpu.runtime");
  EXPECT_EQ(error.code, TSR_ERROR_CODE_INVALID_ARGUMENT);
  EXPECT_NE(error.message.find("level_zero, opencl or auto"), std::string::npos) << error.message;
  EXPECT_EQ(error.message.find('\n'), std::string::npos);
  EXPECT_EQ(take(api()->initialize()).code, TSR_ERROR_CODE_OK);
}

TEST(XpuPlugin, InitializeWithoutGpuSucceedsWithOneLogLine) {
  ASSERT_NE(api(), nullptr);
  if (intel_render_node()) GTEST_SKIP() << "an Intel GPU is present";
  EXPECT_EQ(take(api()->initialize()).code, TSR_ERROR_CODE_OK);
  EXPECT_EQ(take(api()->initialize()).code, TSR_ERROR_CODE_OK);
  int32_t count = -1;
  EXPECT_EQ(take(api()->device_count(&count)).code, TSR_ERROR_CODE_OK);
  EXPECT_EQ(count, 0);
  EXPECT_EQ(host().logs_containing("no XPU device (level_zero): ").size(), 1u);
  tsr_device_t device = nullptr;
  const auto error = take(api()->device_open(0, &device));
  EXPECT_EQ(error.code, TSR_ERROR_CODE_NOT_FOUND);
  EXPECT_NE(error.message.find("not found"), std::string::npos) << error.message;
  EXPECT_EQ(take(api()->device_count(nullptr)).code, TSR_ERROR_CODE_INVALID_ARGUMENT);
}

TEST(XpuPlugin, DiagnoseFallsBackToSysfsUnderTheFixtureRoot) {
  ASSERT_NE(api(), nullptr);
  if (intel_render_node()) GTEST_SKIP() << "an Intel GPU is present: Sysman may answer";
  host().options["diag.root"] =
      std::string(TESSERA_TEST_DATA_DIR) + "/diag_gpu/sysfs/i915_locked_low";
  tsr::test::DiagCollector collector;
  EXPECT_EQ(take(api()->diagnose(&collector.sink)).code, TSR_ERROR_CODE_OK);
  host().options.erase("diag.root");
  std::map<std::string, tsr::test::DiagCollector::Item> found;
  for (const auto& item : collector.copies) found.emplace(item.key, item);
  ASSERT_EQ(found.count("xpu.sysman"), 1u);
  EXPECT_EQ(found.at("xpu.sysman").status, TSR_DIAG_STATUS_UNKNOWN);
  EXPECT_EQ(found.at("xpu.sysman").value.rfind("unavailable: ", 0), 0u)
      << found.at("xpu.sysman").value;
  ASSERT_EQ(found.count("gpu.0.freq.locked"), 1u);
  EXPECT_EQ(found.at("gpu.0.freq.locked").status, TSR_DIAG_STATUS_WARN);
  EXPECT_EQ(found.at("gpu.0.freq.locked").source, "sysfs");
  EXPECT_EQ(found.at("kernel.version").value, "6.1.0-18-amd64");
  EXPECT_EQ(found.count("xpu.level_zero"), loader_present() ? 0u : 1u);
}

TEST(XpuPlugin, DiagnoseOnThisMachineDoesNotFail) {
  ASSERT_NE(api(), nullptr);
  tsr::test::DiagCollector collector;
  EXPECT_EQ(take(api()->diagnose(&collector.sink)).code, TSR_ERROR_CODE_OK);
  EXPECT_FALSE(collector.copies.empty());
  EXPECT_EQ(take(api()->diagnose(nullptr)).code, TSR_ERROR_CODE_INVALID_ARGUMENT);
}

}  // namespace
