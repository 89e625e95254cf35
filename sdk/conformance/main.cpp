// tessera-conformance: runs every op of ops.def and the rest of the plugin ABI of one
// plugin against float64 references.
//
//   tessera-conformance --plugin FILE [--device N] [--seed S] [--option key=value]...
//                       [GoogleTest flags]
//
// The seed (--seed, else taken from the clock and printed) fixes every random input: each
// case draws from a generator seeded with it and the case's name, so a failed case prints
// the one command that replays it alone.
//
// Exit status: 0 when no test failed and at least one ran (some may have skipped); 1 when a
// test failed; 2 when the plugin could not be loaded at all or the command line is wrong;
// 77 (kExitAllSkipped) when no test failed but nothing of the plugin was tested: it has no
// device here (only the device-independent coverage check ran), or every selected test
// skipped, or the filter selected nothing. CTest maps 77 to "Skipped"
// (SKIP_RETURN_CODE), so a suite that tested nothing never shows as passed.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "harness.h"

namespace {

constexpr int kExitAllSkipped = 77;  // automake's and CTest's usual "skipped" status

using tsr::conformance::options;
using tsr::conformance::plugin;

void usage() {
  std::fprintf(stderr,
               "usage: tessera-conformance --plugin FILE [--device N] [--seed S]\n"
               "                           [--option key=value]... [gtest flags]\n"
               "Each flag also takes its value as --flag=value. Options are also read from\n"
               "TESSERA_OPT_<key> and TESSERA_PLUGIN_OPT_<KEY>.\n");
}

// Prints how to reproduce a failed case: its inputs depend only on the seed and its name.
class SeedReporter : public ::testing::EmptyTestEventListener {
  void OnTestEnd(const ::testing::TestInfo& info) override {
    if (info.result() != nullptr && info.result()->Failed()) {
      std::string plugin_options;
      for (const auto& [key, value] : options().plugin_options) {
        plugin_options += " --option " + key + "=" + value;
      }
      std::fprintf(stderr,
                   "  reproduce: tessera-conformance --plugin %s --device %d --seed %llu%s "
                   "--gtest_filter=%s.%s\n",
                   options().plugin_path.c_str(), options().device_index,
                   static_cast<unsigned long long>(options().seed), plugin_options.c_str(),
                   info.test_suite_name(), info.name());
    }
  }
};

bool parse_int(const char* text, long long* out) {
  char* end = nullptr;
  *out = std::strtoll(text, &end, 10);
  return end != text && *end == '\0';
}

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);  // removes the flags it knows
  auto& opts = options();
  opts.seed = static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count() &
                                    0xffffffffu);
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    // --flag=value is accepted as well as --flag value (scripts write either).
    std::string inline_value;
    bool has_inline = false;
    if (const size_t eq = arg.find('='); arg.rfind("--", 0) == 0 && eq != std::string::npos) {
      inline_value = arg.substr(eq + 1);
      arg.resize(eq);
      has_inline = true;
    }
    const auto value = [&](const char* flag) -> const char* {
      if (has_inline) return inline_value.c_str();
      if (i + 1 >= argc) {
        std::fprintf(stderr, "tessera-conformance: %s needs a value\n", flag);
        std::exit(2);
      }
      return argv[++i];
    };
    long long number = 0;
    if (arg == "--plugin") {
      opts.plugin_path = value("--plugin");
    } else if (arg == "--device") {
      if (!parse_int(value("--device"), &number) || number < 0) {
        std::fprintf(stderr, "tessera-conformance: --device takes a non-negative integer\n");
        return 2;
      }
      opts.device_index = static_cast<int32_t>(number);
    } else if (arg == "--seed") {
      const char* text = value("--seed");
      char* end = nullptr;
      opts.seed = std::strtoull(text, &end, 10);
      if (end == text || *end != '\0') {
        std::fprintf(stderr, "tessera-conformance: --seed takes an unsigned integer\n");
        return 2;
      }
    } else if (arg == "--option") {
      const std::string kv = value("--option");
      const size_t eq = kv.find('=');
      if (eq == std::string::npos || eq == 0) {
        std::fprintf(stderr, "tessera-conformance: --option takes key=value, got '%s'\n",
                     kv.c_str());
        return 2;
      }
      opts.plugin_options[kv.substr(0, eq)] = kv.substr(eq + 1);
    } else if (arg == "--help" || arg == "-h") {
      usage();
      return 0;
    } else {
      std::fprintf(stderr, "tessera-conformance: unknown argument '%s'\n", arg.c_str());
      usage();
      return 2;
    }
  }
  if (opts.plugin_path.empty()) {
    usage();
    return 2;
  }

  const std::string fatal = tsr::conformance::load_plugin(opts);
  if (!fatal.empty()) {
    std::fprintf(stderr, "tessera-conformance: %s\n", fatal.c_str());
    return 2;
  }
  const auto& p = plugin();
  std::printf("tessera-conformance: plugin %s %s (ABI %u.%u), seed %llu\n", p.name.c_str(),
              p.api->version ? p.api->version : "?", p.api->abi_major, p.api->abi_minor,
              static_cast<unsigned long long>(opts.seed));
  if (!p.skip_reason.empty()) {
    std::printf("tessera-conformance: every test skips: %s\n", p.skip_reason.c_str());
  } else {
    std::string dtypes, formats, kv;
    for (tsr_dtype d : tsr::conformance::activation_dtypes()) {
      dtypes += std::string(dtypes.empty() ? "" : ",") + tsr::conformance::dtype_label(d);
    }
    for (int d = TSR_DTYPE_F32; d <= TSR_DTYPE_U64; ++d) {
      if (p.props.kv_cache_dtypes & TSR_DTYPE_BIT(d)) {
        kv += std::string(kv.empty() ? "" : ",") +
              tsr::conformance::dtype_label(static_cast<tsr_dtype>(d));
      }
    }
    for (int f = 0; f < 32; ++f) {
      if (p.props.weight_formats & TSR_WEIGHT_FORMAT_BIT(f)) {
        formats += (formats.empty() ? "" : ",") + std::to_string(f);
      }
    }
    std::printf(
        "tessera-conformance: device %d: %s; activations %s; kv cache %s; weight "
        "formats {%s}\n",
        opts.device_index, p.props.name, dtypes.c_str(), kv.c_str(), formats.c_str());
  }
  std::fflush(stdout);

  ::testing::UnitTest::GetInstance()->listeners().Append(new SeedReporter);
  const int result = RUN_ALL_TESTS();
  tsr::conformance::unload_plugin();
  if (result != 0) return 1;
  // Coverage.EveryOpOfOpsDefHasATest needs no device and passes anyway: without a device
  // the run tested nothing of the plugin, which is a skip.
  const ::testing::UnitTest& unit = *::testing::UnitTest::GetInstance();
  if (!p.skip_reason.empty() || unit.successful_test_count() == 0) {
    std::printf(
        "tessera-conformance: nothing of the plugin was tested (%d test(s) skipped): "
        "exit status %d (skipped)\n",
        unit.skipped_test_count(), kExitAllSkipped);
    return kExitAllSkipped;
  }
  return 0;
}
