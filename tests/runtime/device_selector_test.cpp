// --device parsing and resolution against fake cpu/cuda/xpu plugins.
#include <gtest/gtest.h>

#include "common/check.h"
#include "runtime/device_selector.h"
#include "runtime/host_services.h"
#include "tessera/device_spec.h"
#include "test_util.h"

namespace tessera::runtime {
namespace {

using testing::kBrokenDir;
using testing::kSelectDir;
using testing::only_dirs;

std::string parse_error(const std::string& text) {
  try {
    parse_device_spec(text);
  } catch (const Error& e) {
    return e.what();
  }
  return "<no error>";
}

std::string select_error(const PluginRegistry& registry, const std::string& text) {
  try {
    select_device(registry, parse_device_spec(text));
  } catch (const Error& e) {
    return e.what();
  }
  return "<no error>";
}

TEST(DeviceSpecTest, ParsesNamesAndIndices) {
  EXPECT_TRUE(parse_device_spec("auto").is_auto());
  EXPECT_FALSE(parse_device_spec("auto").index.has_value());
  const DeviceSpec cpu = parse_device_spec("cpu");
  EXPECT_EQ(cpu.plugin, "cpu");
  EXPECT_FALSE(cpu.index.has_value());
  const DeviceSpec cuda = parse_device_spec("cuda:1");
  EXPECT_EQ(cuda.plugin, "cuda");
  EXPECT_EQ(cuda.index, 1);
  EXPECT_EQ(cuda.to_string(), "cuda:1");
  EXPECT_EQ(parse_device_spec("my-plugin:0").plugin, "my-plugin");
  EXPECT_EQ(DeviceSpec{}.to_string(), "auto");
}

TEST(DeviceSpecTest, RejectsMalformedValuesWithOneLine) {
  for (const char* bad :
       {"", ":1", "cuda:", "cuda:x", "cuda:-1", "cuda:1x", "cuda:1:2", "cuda:99999999999"}) {
    const std::string message = parse_error(bad);
    EXPECT_NE(message.find("invalid --device"), std::string::npos) << bad << ": " << message;
    EXPECT_EQ(message.find('\n'), std::string::npos);
  }
  EXPECT_NE(parse_error("auto:1").find("auto picks the device itself"), std::string::npos);
}

class SelectTest : public ::testing::Test {
 protected:
  void SetUp() override { HostServices::instance().clear_options(); }
};

TEST_F(SelectTest, AutoPicksHighestScoreAmongPluginsWithDevices) {
  // xpu scores 50 but has no device; cuda (20) beats cpu (10).
  const auto registry = PluginRegistry::discover(only_dirs({kSelectDir}));
  const DeviceChoice choice = select_device(*registry, parse_device_spec("auto"));
  EXPECT_EQ(choice.plugin->name(), "cuda");
  EXPECT_EQ(choice.index, 0);
  EXPECT_EQ(choice.to_string(), "cuda:0");
  EXPECT_STREQ(choice.info().properties.name, "Fake cuda device 0");
}

TEST_F(SelectTest, AutoPassesOverPluginsThatCannotRunTheModel) {
  // cuda (20) scores above cpu (10) but claims no op: with the model's needs auto takes cpu.
  const auto registry = PluginRegistry::discover(only_dirs({kSelectDir}));
  const ModelNeeds needs = serving_needs("", "auto");
  EXPECT_EQ(select_device(*registry, parse_device_spec("auto"), &needs).to_string(), "cpu:0");
  const LoadedPlugin* cuda = registry->find("cuda");
  ASSERT_NE(cuda, nullptr);
  EXPECT_NE(why_cannot_run(*cuda, 0, needs).find("not supported"), std::string::npos);
  EXPECT_EQ(why_cannot_run(*registry->find("cpu"), 0, needs), "");
  // int4 weights and f32 are the fake cpu's; fp8 weights or bf16 activations are not.
  const ModelNeeds int4 = serving_needs("sym_int4", "float32");
  EXPECT_EQ(select_device(*registry, parse_device_spec("auto"), &int4).to_string(), "cpu:0");
  for (const ModelNeeds& impossible : {serving_needs("fp8", "auto"), serving_needs("", "bf16")}) {
    try {
      select_device(*registry, parse_device_spec("auto"), &impossible);
      ADD_FAILURE() << "expected no device";
    } catch (const Error& e) {
      const std::string message = e.what();
      EXPECT_NE(message.find("cpu cannot run the model"), std::string::npos) << message;
      EXPECT_NE(message.find("cuda cannot run the model"), std::string::npos) << message;
      EXPECT_EQ(message.find('\n'), std::string::npos);
    }
  }
  // A named device is the user's choice and is not second-guessed here.
  EXPECT_EQ(select_device(*registry, parse_device_spec("cuda"), &needs).to_string(), "cuda:0");
}

TEST_F(SelectTest, NamedPluginAndIndex) {
  const auto registry = PluginRegistry::discover(only_dirs({kSelectDir}));
  EXPECT_EQ(select_device(*registry, parse_device_spec("cpu")).to_string(), "cpu:0");
  EXPECT_EQ(select_device(*registry, parse_device_spec("cuda:1")).to_string(), "cuda:1");
}

TEST_F(SelectTest, IndexOutOfRangeSaysHowManyDevices) {
  const auto registry = PluginRegistry::discover(only_dirs({kSelectDir}));
  const std::string message = select_error(*registry, "cuda:3");
  EXPECT_NE(message.find("out of range"), std::string::npos) << message;
  EXPECT_NE(message.find("2 device(s)"), std::string::npos) << message;
}

TEST_F(SelectTest, UnknownNameListsAvailableDevices) {
  const auto registry = PluginRegistry::discover(only_dirs({kSelectDir}));
  const std::string message = select_error(*registry, "tpu");
  EXPECT_NE(message.find("no plugin named 'tpu'"), std::string::npos) << message;
  EXPECT_NE(message.find("cpu:0, cuda:0, cuda:1"), std::string::npos) << message;
  EXPECT_EQ(list_usable_devices(*registry), "cpu:0, cuda:0, cuda:1");
}

TEST_F(SelectTest, PluginWithoutDevicesRepeatsItsNote) {
  const auto registry = PluginRegistry::discover(only_dirs({kSelectDir}));
  const std::string message = select_error(*registry, "xpu");
  EXPECT_NE(message.find("has no devices"), std::string::npos) << message;
  EXPECT_NE(message.find("no devices found"), std::string::npos) << message;
}

TEST_F(SelectTest, RefusedPluginSaysWhy) {
  const auto registry = PluginRegistry::discover(only_dirs({kBrokenDir}));
  const std::string message = select_error(*registry, "initfail");
  EXPECT_NE(message.find("was refused"), std::string::npos) << message;
  EXPECT_NE(message.find("no fake driver on this machine"), std::string::npos) << message;
  // auto skips nodev (score 100, no device) and countfail (no device).
  EXPECT_EQ(select_device(*registry, DeviceSpec{}).to_string(), "good:0");
}

TEST_F(SelectTest, AutoWithNothingUsableIsAClearError) {
  const auto registry = PluginRegistry::discover(only_dirs({"/nonexistent/tessera/plugins"}));
  const std::string message = select_error(*registry, "auto");
  EXPECT_NE(message.find("no plugin with a usable device"), std::string::npos) << message;
  EXPECT_NE(message.find("/nonexistent/tessera/plugins"), std::string::npos) << message;
}

}  // namespace
}  // namespace tessera::runtime
