// PluginRegistry against the fake plugins: every kind of broken plugin is refused with its
// reason and nothing crashes; the search order decides which of two same-named plugins
// wins; a file reached twice is loaded once; options reach plugins; errors are destroyed.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "runtime/host_services.h"
#include "tessera/plugins.h"
#include "test_util.h"

namespace tessera::runtime {
namespace {

using testing::FakeHooks;
using testing::kBrokenDir;
using testing::only_dirs;
using testing::order_dir;
using testing::ScopedEnv;
namespace fs = std::filesystem;

class RegistryTest : public ::testing::Test {
 protected:
  void SetUp() override { HostServices::instance().clear_options(); }
  void TearDown() override { HostServices::instance().clear_options(); }
};

const Refusal* refusal_of(const PluginRegistry& registry, const std::string& file_name) {
  for (const auto& refusal : registry.refusals()) {
    if (fs::path(refusal.file).filename() == file_name) return &refusal;
  }
  return nullptr;
}

std::string reason_of(const PluginRegistry& registry, const std::string& file_name) {
  const Refusal* refusal = refusal_of(registry, file_name);
  return refusal != nullptr ? refusal->reason : "<not refused>";
}

TEST_F(RegistryTest, RefusesEachBrokenPluginWithItsReason) {
  const auto registry = PluginRegistry::discover(only_dirs({kBrokenDir}));

  EXPECT_NE(reason_of(*registry, "libtessera-text.so").find("not a loadable shared object"),
            std::string::npos);
  EXPECT_NE(reason_of(*registry, "libtessera-nosym.so").find("no tsr_plugin_get_api symbol"),
            std::string::npos);
  EXPECT_NE(reason_of(*registry, "libtessera-nullapi.so").find("returned NULL"), std::string::npos);
  const std::string abi = reason_of(*registry, "libtessera-abi2.so");
  EXPECT_NE(abi.find("ABI version mismatch"), std::string::npos) << abi;
  EXPECT_NE(abi.find("libtessera-abi2.so"), std::string::npos) << abi;
  const std::string minor = "." + std::to_string(TSR_ABI_VERSION_MINOR);
  EXPECT_NE(abi.find("ABI 2" + minor), std::string::npos) << abi;
  EXPECT_NE(abi.find("ABI 1" + minor), std::string::npos) << abi;
  const std::string small = reason_of(*registry, "libtessera-small.so");
  EXPECT_NE(small.find("table too small"), std::string::npos) << small;
  const std::string init = reason_of(*registry, "libtessera-initfail.so");
  EXPECT_NE(init.find("initialize failed: unavailable: no fake driver on this machine"),
            std::string::npos)
      << init;
  EXPECT_NE(reason_of(*registry, "libtessera-nullfn.so").find("memcpy_d2h is NULL"),
            std::string::npos);
  const std::string dup = reason_of(*registry, "libtessera-dup-b.so");
  EXPECT_NE(dup.find("duplicate plugin name 'dup'"), std::string::npos) << dup;
  EXPECT_NE(dup.find("libtessera-dup-a.so"), std::string::npos) << dup;

  EXPECT_EQ(registry->refusals().size(), 8u);
  for (const auto& refusal : registry->refusals()) {
    EXPECT_EQ(refusal.reason.find('\n'), std::string::npos) << refusal.reason;
    EXPECT_FALSE(refusal.name.empty()) << refusal.file;
  }
  ASSERT_NE(registry->find_refusal("initfail"), nullptr);
  EXPECT_EQ(registry->find_refusal("dup")->file,
            refusal_of(*registry, "libtessera-dup-b.so")->file);

  std::vector<std::string> names;
  for (const auto& plugin : registry->plugins()) names.push_back(plugin->name());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"countfail", "dup", "good", "nodev"}));
  EXPECT_EQ(registry->find("dup")->version(), "a");
}

TEST_F(RegistryTest, GoodPluginReportsVersionScoreAndDevices) {
  const auto registry = PluginRegistry::discover(only_dirs({kBrokenDir}));
  const LoadedPlugin* good = registry->find("good");
  ASSERT_NE(good, nullptr);
  EXPECT_EQ(good->version(), "1.2.3");
  EXPECT_EQ(good->abi_major(), 1u);
  EXPECT_EQ(good->abi_minor(), static_cast<uint32_t>(TSR_ABI_VERSION_MINOR));
  EXPECT_EQ(good->score(), 5);
  EXPECT_TRUE(fs::path(good->file()).is_absolute());
  EXPECT_EQ(fs::path(good->file()).filename(), "libtessera-good.so");
  ASSERT_EQ(good->devices().size(), 2u);
  const DeviceInfo& second = good->devices()[1];
  EXPECT_EQ(second.index, 1);
  EXPECT_STREQ(second.properties.name, "Fake good device 1");
  EXPECT_STREQ(second.properties.pci_bus_id, "0000:02:00.0");
  EXPECT_EQ(second.properties.struct_size, sizeof(tsr_device_properties));
  EXPECT_EQ(second.total_memory, 8ull << 30);
  EXPECT_EQ(second.free_memory, 8ull << 30);  // read through device_open + memory_info
  EXPECT_TRUE(good->status_note().empty()) << good->status_note();
}

TEST_F(RegistryTest, ZeroDevicesIsListedWithANoteNotRefused) {
  const auto registry = PluginRegistry::discover(only_dirs({kBrokenDir}));
  const LoadedPlugin* nodev = registry->find("nodev");
  ASSERT_NE(nodev, nullptr);
  EXPECT_TRUE(nodev->devices().empty());
  EXPECT_EQ(nodev->score(), 100);
  EXPECT_EQ(nodev->status_note(), "no devices found");

  const LoadedPlugin* countfail = registry->find("countfail");
  ASSERT_NE(countfail, nullptr);
  EXPECT_TRUE(countfail->devices().empty());
  EXPECT_EQ(countfail->score(), 1);  // no tsr_plugin_score export
  EXPECT_EQ(countfail->status_note(), "device_count failed: unavailable: fake driver too old");

  // The device_count error was destroyed after reading.
  FakeHooks hooks(countfail->file());
  ASSERT_TRUE(hooks.loaded());
  EXPECT_EQ(hooks.live_errors(), 0);
  EXPECT_EQ(hooks.live_objects(), 0);  // the memory probe closed what it opened
}

TEST_F(RegistryTest, IgnoresFilesThatAreNotCandidates) {
  const auto registry = PluginRegistry::discover(only_dirs({kBrokenDir}));
  for (const auto& refusal : registry->refusals()) {
    EXPECT_EQ(refusal.file.find("README"), std::string::npos);
  }
}

TEST_F(RegistryTest, PluginDirFlagBeatsEnvironmentBeatsDefault) {
  ScopedEnv env("TESSERA_PLUGIN_PATH", order_dir("b"));
  LoaderOptions options;
  options.plugin_dirs = {order_dir("a")};
  options.default_dir = order_dir("c");
  {
    const auto registry = PluginRegistry::discover(options);
    ASSERT_NE(registry->find("fake"), nullptr);
    EXPECT_EQ(registry->find("fake")->version(), "a");
    ASSERT_EQ(registry->refusals().size(), 2u);
    for (const auto& refusal : registry->refusals()) {
      EXPECT_NE(refusal.reason.find("already loaded from " + order_dir("a")), std::string::npos)
          << refusal.reason;
    }
    ASSERT_EQ(registry->search_path().size(), 3u);
    EXPECT_EQ(registry->search_path()[0].origin, SearchOrigin::kPluginDirFlag);
    EXPECT_EQ(registry->search_path()[1].origin, SearchOrigin::kEnvironment);
    EXPECT_EQ(registry->search_path()[2].origin, SearchOrigin::kDefault);
    EXPECT_EQ(registry->searched_dirs()[2], order_dir("c"));
  }
  options.plugin_dirs.clear();
  {
    const auto registry = PluginRegistry::discover(options);
    ASSERT_NE(registry->find("fake"), nullptr);
    EXPECT_EQ(registry->find("fake")->version(), "b");
  }
  {
    ScopedEnv no_env("TESSERA_PLUGIN_PATH", std::nullopt);
    const auto registry = PluginRegistry::discover(options);
    ASSERT_NE(registry->find("fake"), nullptr);
    EXPECT_EQ(registry->find("fake")->version(), "c");
  }
}

TEST_F(RegistryTest, EnvironmentPathIsColonSeparatedAndSkipsEmptyAndMissingEntries) {
  ScopedEnv env("TESSERA_PLUGIN_PATH", "::/nonexistent/tessera/plugins:" + order_dir("b") + ":");
  LoaderOptions options;
  options.use_default_dir = false;
  const auto registry = PluginRegistry::discover(options);
  ASSERT_EQ(registry->search_path().size(), 2u);
  EXPECT_FALSE(registry->search_path()[0].exists);
  EXPECT_TRUE(registry->search_path()[1].exists);
  ASSERT_NE(registry->find("fake"), nullptr);
  EXPECT_EQ(registry->find("fake")->version(), "b");
  EXPECT_TRUE(registry->refusals().empty());
}

TEST_F(RegistryTest, TheSameFileThroughTwoDirectoriesIsLoadedOnce) {
  const fs::path tmp =
      fs::temp_directory_path() / ("tessera-runtime-dedupe-" + std::to_string(getpid()));
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  fs::create_symlink(fs::path(order_dir("a")) / "libtessera-fake.so", tmp / "libtessera-fake.so");
  {
    // The same directory twice, and a symlink to a file in it from another directory.
    const auto registry =
        PluginRegistry::discover(only_dirs({tmp.string(), order_dir("a"), order_dir("a")}));
    EXPECT_EQ(registry->searched_dirs().size(), 2u);
    ASSERT_EQ(registry->plugins().size(), 1u);
    EXPECT_TRUE(registry->refusals().empty()) << registry->refusals()[0].reason;
  }
  fs::remove_all(tmp);
}

TEST_F(RegistryTest, MissingDirectoryIsRecordedNotFatal) {
  const auto registry = PluginRegistry::discover(only_dirs({"/nonexistent/tessera/plugins"}));
  ASSERT_EQ(registry->search_path().size(), 1u);
  EXPECT_FALSE(registry->search_path()[0].exists);
  EXPECT_TRUE(registry->plugins().empty());
  EXPECT_TRUE(registry->refusals().empty());
}

TEST_F(RegistryTest, PluginOptionsReachThePluginAndBeatTheEnvironment) {
  ScopedEnv env("TESSERA_PLUGIN_OPT_GOOD_DEVICES", "1");
  {
    const auto registry = PluginRegistry::discover(only_dirs({kBrokenDir}));
    EXPECT_EQ(registry->find("good")->devices().size(), 1u);
  }
  LoaderOptions options = only_dirs({kBrokenDir});
  options.plugin_options["good.devices"] = "3";
  const auto registry = PluginRegistry::discover(options);
  EXPECT_EQ(registry->find("good")->devices().size(), 3u);
}

TEST_F(RegistryTest, DestroyingTheRegistryShutsPluginsDown) {
  auto registry = PluginRegistry::discover(only_dirs({order_dir("a")}));
  ASSERT_NE(registry->find("fake"), nullptr);
  FakeHooks hooks(registry->find("fake")->file());  // keeps the library mapped
  ASSERT_TRUE(hooks.loaded());
  const int before = hooks.shutdowns();
  registry.reset();
  EXPECT_EQ(hooks.shutdowns(), before + 1);
}

}  // namespace
}  // namespace tessera::runtime
