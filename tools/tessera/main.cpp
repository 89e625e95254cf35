// The `tessera` command: dispatches `tessera <subcommand> [flags]` to one function per
// subcommand (command.h). Every error ends here as one line on stderr,
// "tessera: error: <message>", with exit code 2 for a command-line mistake and 1 otherwise.
#include <boost/program_options/errors.hpp>
#include <cstring>
#include <exception>
#include <iostream>
#include <string>
#include <string_view>

#include "command.h"
#include "tessera/check.h"
#include "tessera/log.h"
#include "common_options.h"
#include "tessera/plugin.h"
#include "tessera/plugins.h"

#ifndef TESSERA_VERSION
#define TESSERA_VERSION "unknown"
#endif

namespace {

struct Subcommand {
  const char* name;
  const char* summary;
  int (*run)(int argc, char** argv);
};

constexpr Subcommand kSubcommands[] = {
    {"serve", "OpenAI-compatible HTTP server", &tessera::cli::run_serve_command},
    {"generate", "offline generation: one --prompt (streamed) or a JSONL file of requests",
     &tessera::cli::run_generate_command},
    {"bench", "benchmarks: latency and throughput in-process, serve against a running server",
     &tessera::cli::run_bench_command},
    {"tune", "find engine settings that raise the knee (highest load meeting an SLO)",
     &tessera::cli::run_tune_command},
    {"plan", "memory plan (weights, activations, KV blocks, max concurrency) before loading",
     &tessera::cli::run_plan_command},
    {"diagnose", "check drivers, clocks, PCIe links and other settings that limit performance",
     &tessera::cli::run_diagnose_command},
    {"plugins",
     "list the plugins found, their ABI versions, scores and devices, and why any were "
     "refused",
     &tessera::cli::run_plugins_command},
};

void print_usage(std::ostream& out) {
  out << "Usage: tessera <subcommand> [options]\n"
         "       tessera <subcommand> --help\n\n"
         "Subcommands:\n";
  for (const auto& command : kSubcommands) {
    std::string name = command.name;
    name.resize(12, ' ');
    out << "  " << name << command.summary << "\n";
  }
  out << "\nOptions:\n"
         "  --help       show this help\n"
         "  --version    show the version\n\n"
         "Every subcommand accepts --device, --plugin-dir, --plugin-option and --log-level\n"
         "(see `tessera plugins --help`).\n";
}

// --log-level is global: applied here, before the subcommand runs, so that the subcommand's
// own parsing and plugin loading already log at the requested level.
void apply_log_level(int argc, char** argv) {
  for (int i = 2; i < argc; ++i) {
    std::string_view arg = argv[i];
    std::string_view value;
    if (arg == "--log-level") {
      if (i + 1 >= argc) return;  // the subcommand's parser reports the missing value
      value = argv[i + 1];
    } else if (arg.starts_with("--log-level=")) {
      value = arg.substr(std::strlen("--log-level="));
    } else {
      continue;
    }
    if (!tessera::log::set_level(value)) {
      throw tessera::cli::UsageError("--log-level: unknown level '" + std::string(value) +
                                     "' (trace, debug, info, warn, error, off)");
    }
  }
}

int run(int argc, char** argv) {
  if (argc < 2) {
    print_usage(std::cerr);
    return 2;
  }
  const std::string_view first = argv[1];
  if (first == "--help" || first == "-h" || first == "help") {
    print_usage(std::cout);
    return 0;
  }
  if (first == "--version") {
    std::cout << "tessera " << TESSERA_VERSION << " (plugin ABI " << TSR_ABI_VERSION_MAJOR << "."
              << TSR_ABI_VERSION_MINOR << ")\n";
    return 0;
  }
  for (const auto& command : kSubcommands) {
    if (first == command.name) {
      apply_log_level(argc, argv);
      tessera::runtime::install_cancel_on_sigint();
      return command.run(argc - 1, argv + 1);
    }
  }
  throw tessera::cli::UsageError("unknown subcommand '" + std::string(first) +
                                 "' (run `tessera --help` for the list)");
}

}  // namespace

int main(int argc, char** argv) {
  try {
    tessera::log::init_from_env();
    return run(argc, argv);
  } catch (const tessera::cli::UsageError& e) {
    std::cerr << "tessera: error: " << e.what() << "\n";
    return 2;
  } catch (const boost::program_options::error& e) {
    std::cerr << "tessera: error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "tessera: error: " << e.what() << "\n";
    return 1;
  } catch (...) {
    std::cerr << "tessera: error: unknown exception\n";
    return 1;
  }
}
