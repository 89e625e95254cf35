// Host services handed to plugins: options (explicit, environment, stable strings), the
// key-value store (copy, too-small, timeout, blocking wake-up), cancellation and logging.
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <cstring>
#include <sstream>
#include <thread>

#include "runtime/host_services.h"
#include "test_util.h"

namespace tessera::runtime {
namespace {

using testing::ScopedEnv;

class HostServicesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    services().clear_options();
    services().kv_clear();
    clear_cancel();
  }
  void TearDown() override { SetUp(); }
  static HostServices& services() { return HostServices::instance(); }
  static const tsr_host_api* api() { return HostServices::instance().api(); }
  static const char* option(const char* key) { return api()->get_option(api()->ctx, key); }
};

TEST_F(HostServicesTest, TableIsComplete) {
  EXPECT_EQ(api()->struct_size, sizeof(tsr_host_api));
  EXPECT_NE(api()->log, nullptr);
  EXPECT_NE(api()->get_option, nullptr);
  EXPECT_NE(api()->kv_set, nullptr);
  EXPECT_NE(api()->kv_get, nullptr);
  EXPECT_NE(api()->cancel_requested, nullptr);
}

TEST_F(HostServicesTest, EnvironmentNameOfAnOption) {
  EXPECT_EQ(HostServices::environment_name("cpu.num_threads"),
            "TESSERA_PLUGIN_OPT_CPU_NUM_THREADS");
  EXPECT_EQ(HostServices::environment_name("xpu.spirv-dir"), "TESSERA_PLUGIN_OPT_XPU_SPIRV_DIR");
}

TEST_F(HostServicesTest, ExplicitOptionsBeatTheEnvironment) {
  ScopedEnv env("TESSERA_PLUGIN_OPT_TEST_KEY", "from-env");
  EXPECT_EQ(option("test.unset_key"), nullptr);
  ASSERT_NE(option("test.key"), nullptr);
  EXPECT_STREQ(option("test.key"), "from-env");
  services().set_option("test.key", "explicit");
  EXPECT_STREQ(option("test.key"), "explicit");
  EXPECT_EQ(option(nullptr), nullptr);
}

TEST_F(HostServicesTest, ReturnedStringsStayValidWhenTheOptionChanges) {
  services().set_option("test.stable", "first");
  const char* first = option("test.stable");
  services().set_option("test.stable", "second");
  const char* second = option("test.stable");
  EXPECT_STREQ(first, "first");
  EXPECT_STREQ(second, "second");
  EXPECT_EQ(option("test.stable"), second);  // the same value gives the same pointer
}

TEST_F(HostServicesTest, KeyValueStoreCopiesValues) {
  const char value[] = "unique-id";
  EXPECT_EQ(api()->kv_set(api()->ctx, "comm.id", value, sizeof value), TSR_HOST_OK);
  char out[32] = {};
  size_t size = 0;
  EXPECT_EQ(api()->kv_get(api()->ctx, "comm.id", out, sizeof out, &size, 0), TSR_HOST_OK);
  EXPECT_EQ(size, sizeof value);
  EXPECT_STREQ(out, value);

  char tiny[4] = {};
  EXPECT_EQ(api()->kv_get(api()->ctx, "comm.id", tiny, sizeof tiny, &size, 0), TSR_HOST_TOO_SMALL);
  EXPECT_EQ(size, sizeof value);
  EXPECT_EQ(std::memcmp(tiny, "uniq", 4), 0);
}

TEST_F(HostServicesTest, KeyValueGetTimesOut) {
  char out[8];
  size_t size = 123;
  EXPECT_EQ(api()->kv_get(api()->ctx, "never.set", out, sizeof out, &size, 30), TSR_HOST_TIMEOUT);
  EXPECT_EQ(api()->kv_get(api()->ctx, "never.set", out, sizeof out, &size, 0), TSR_HOST_TIMEOUT);
}

TEST_F(HostServicesTest, KeyValueGetWakesWhenAnotherThreadSets) {
  std::thread setter([] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const int value = 42;
    api()->kv_set(api()->ctx, "rank0.ready", &value, sizeof value);
  });
  int out = 0;
  size_t size = 0;
  // A generous timeout instead of "forever", so that a bug fails instead of hanging.
  EXPECT_EQ(api()->kv_get(api()->ctx, "rank0.ready", &out, sizeof out, &size, 10000), TSR_HOST_OK);
  setter.join();
  EXPECT_EQ(out, 42);
  EXPECT_EQ(size, sizeof out);
}

TEST_F(HostServicesTest, KeyValueRejectsNullArguments) {
  EXPECT_EQ(api()->kv_set(api()->ctx, nullptr, "x", 1), TSR_HOST_FAILED);
  EXPECT_EQ(api()->kv_set(api()->ctx, "k", nullptr, 1), TSR_HOST_FAILED);
  size_t size = 0;
  EXPECT_EQ(api()->kv_get(api()->ctx, nullptr, nullptr, 0, &size, 0), TSR_HOST_FAILED);
}

TEST_F(HostServicesTest, CancellationFlagAndSigint) {
  EXPECT_EQ(api()->cancel_requested(api()->ctx), 0);
  request_cancel();
  EXPECT_EQ(api()->cancel_requested(api()->ctx), 1);
  clear_cancel();
  EXPECT_FALSE(cancel_requested());
  install_cancel_on_sigint();
  std::raise(SIGINT);  // handled: sets the flag, the process goes on
  EXPECT_TRUE(cancel_requested());
  EXPECT_EQ(api()->cancel_requested(api()->ctx), 1);
  std::signal(SIGINT, SIG_DFL);
}

TEST_F(HostServicesTest, PluginLogsGoToSpdlogWithThePluginName) {
  std::ostringstream captured;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(captured);
  auto previous = spdlog::default_logger();
  auto logger = std::make_shared<spdlog::logger>("test", sink);
  logger->set_level(spdlog::level::trace);
  logger->set_pattern("%l %v");
  spdlog::set_default_logger(logger);
  api()->log(api()->ctx, TSR_LOG_LEVEL_WARN, "fakeplug", "hello from a plugin");
  api()->log(api()->ctx, TSR_LOG_LEVEL_INFO, nullptr, nullptr);
  spdlog::set_default_logger(previous);
  EXPECT_NE(captured.str().find("warning [fakeplug] hello from a plugin"), std::string::npos)
      << captured.str();
  EXPECT_NE(captured.str().find("info [plugin] "), std::string::npos) << captured.str();
}

}  // namespace
}  // namespace tessera::runtime
