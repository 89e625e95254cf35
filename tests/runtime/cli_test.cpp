// The real `tessera` binary run as a process: help, version, usage errors, and
// `tessera plugins` on the real plugin directory (whatever it holds) and on the fake set.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

namespace {

struct Result {
  int code = -1;
  std::string out;
  std::string err;
};

// Runs `tessera <args>` through the shell with the environment prefix `env`.
Result run(const std::string& args, const std::string& env = "") {
  const std::string err_file = std::filesystem::temp_directory_path() /
                               ("tessera-cli-test-" + std::to_string(getpid()) + ".err");
  const std::string command =
      env + " '" + std::string(TESSERA_CLI) + "' " + args + " 2>'" + err_file + "'";
  Result result;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return result;
  std::array<char, 4096> chunk;
  size_t n;
  while ((n = fread(chunk.data(), 1, chunk.size(), pipe)) > 0) result.out.append(chunk.data(), n);
  const int status = pclose(pipe);
  result.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream err(err_file);
  std::stringstream buffer;
  buffer << err.rdbuf();
  result.err = buffer.str();
  std::filesystem::remove(err_file);
  return result;
}

const std::string kNoEnvPath = "TESSERA_PLUGIN_PATH=";
const std::string kBroken = std::string(TESSERA_RUNTIME_TEST_PLUGIN_DIR) + "/broken";

TEST(TesseraCli, HelpListsOnlyExistingSubcommands) {
  const Result r = run("--help");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("plugins"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("diagnose"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("not yet"), std::string::npos) << r.out;
}

TEST(TesseraCli, VersionAndNoArguments) {
  const Result version = run("--version");
  EXPECT_EQ(version.code, 0);
  EXPECT_EQ(version.out.rfind("tessera ", 0), 0u) << version.out;
  const Result none = run("");
  EXPECT_EQ(none.code, 2);
  EXPECT_NE(none.err.find("Usage: tessera"), std::string::npos);
}

TEST(TesseraCli, UnknownSubcommandIsOneErrorLine) {
  const Result r = run("frobnicate");
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(
      r.err,
      "tessera: error: unknown subcommand 'frobnicate' (run `tessera --help` for the list)\n");
}

TEST(TesseraCli, PluginsHelp) {
  const Result r = run("plugins --help");
  EXPECT_EQ(r.code, 0);
  for (const char* flag :
       {"--json", "--device", "--plugin-dir", "--plugin-option", "--log-level"}) {
    EXPECT_NE(r.out.find(flag), std::string::npos) << flag;
  }
}

TEST(TesseraCli, PluginsOnTheRealPluginDirectory) {
  // Whatever plugins this build has: a readable listing, exit 0 with a usable plugin, else 1.
  const Result r = run("plugins", kNoEnvPath);
  EXPECT_TRUE(r.code == 0 || r.code == 1) << r.code << r.err;
  EXPECT_NE(r.out.find("Plugin search path:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Plugins:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(std::string(TESSERA_PLUGIN_OUTPUT_DIR)), std::string::npos) << r.out;
  if (std::filesystem::exists(std::string(TESSERA_PLUGIN_OUTPUT_DIR) + "/libtessera-cpu.so")) {
    EXPECT_NE(r.out.find("libtessera-cpu.so"), std::string::npos) << r.out;
  }
  if (r.code == 1) {
    EXPECT_NE(r.err.find("tessera: error: no usable plugin"), std::string::npos) << r.err;
  }
}

TEST(TesseraCli, PluginsListsRefusalsAndStillSucceeds) {
  const Result r = run("plugins --plugin-dir '" + kBroken + "'", kNoEnvPath);
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("good:1  Fake good device 1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Refused:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("ABI version mismatch"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("initialize failed"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("note: no devices found"), std::string::npos) << r.out;
}

TEST(TesseraCli, PluginsJson) {
  const Result r = run("plugins --json --plugin-dir '" + kBroken + "' --device good:1", kNoEnvPath);
  EXPECT_EQ(r.code, 0) << r.err;
  const auto json = nlohmann::json::parse(r.out);
  EXPECT_EQ(json["selected"], "good:1");
  EXPECT_EQ(json["search_path"][0]["origin"], "--plugin-dir");
  bool found_good = false;
  for (const auto& plugin : json["plugins"]) {
    if (plugin["name"] == "good") {
      found_good = true;
      EXPECT_EQ(plugin["version"], "1.2.3");
      EXPECT_EQ(plugin["abi"], "1.3");  // TSR_ABI_VERSION_MAJOR.MINOR
      EXPECT_EQ(plugin["score"], 5);
      ASSERT_EQ(plugin["devices"].size(), 2u);
      EXPECT_EQ(plugin["devices"][1]["pci_bus_id"], "0000:02:00.0");
    }
  }
  EXPECT_TRUE(found_good);
  EXPECT_EQ(json["refused"].size(), 8u);
}

TEST(TesseraCli, PluginOptionsReachPlugins) {
  const Result r = run(
      "plugins --json --plugin-dir '" + kBroken + "' --plugin-option good.devices=4", kNoEnvPath);
  ASSERT_EQ(r.code, 0) << r.err;
  for (const auto& plugin : nlohmann::json::parse(r.out)["plugins"]) {
    if (plugin["name"] == "good") {
      EXPECT_EQ(plugin["devices"].size(), 4u);
    }
  }
}

TEST(TesseraCli, UnsatisfiableExplicitDeviceFails) {
  const Result r = run("plugins --plugin-dir '" + kBroken + "' --device good:7", kNoEnvPath);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("out of range"), std::string::npos) << r.err;
}

TEST(TesseraCli, UsageErrorsExitTwo) {
  for (const char* args : {"plugins --plugin-option novalue", "plugins --log-level loud",
                           "plugins --device cuda:x", "plugins --no-such-flag"}) {
    const Result r = run(args, kNoEnvPath);
    EXPECT_EQ(r.code, 2) << args;
    EXPECT_EQ(r.err.rfind("tessera: error: ", 0), 0u) << args << ": " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
}

TEST(TesseraCli, ExitCodeSaysWhetherAnyPluginIsUsable) {
  // The real plugin directory is searched too, so what is usable depends on the build.
  const Result r = run("plugins --json --plugin-dir /nonexistent/tessera", kNoEnvPath);
  const auto json = nlohmann::json::parse(r.out);
  bool usable = false;
  for (const auto& plugin : json["plugins"]) usable = usable || !plugin["devices"].empty();
  EXPECT_EQ(r.code, usable ? 0 : 1) << r.err;
  EXPECT_EQ(json["search_path"][0]["dir"], "/nonexistent/tessera");
  EXPECT_EQ(json["search_path"][0]["exists"], false);
}

}  // namespace
