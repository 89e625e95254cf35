// Shared flag definitions of the `tessera` subcommands (see common_options.h).
#include "common_options.h"

#include <iostream>
#include <vector>

#include "tessera/check.h"
#include "tessera/log.h"
#include "config_file.h"

namespace po = boost::program_options;

namespace tessera::cli {

po::options_description loader_options() {
  po::options_description options("Device and plugin options");
  options.add_options()(
      "device", po::value<std::string>()->value_name("auto|cpu|cuda|xpu[:N]"),
      "device to run on: auto (best plugin with a device) or a plugin name with an optional "
      "device index (default: auto)")(
      "plugin-dir", po::value<std::vector<std::string>>()->composing()->value_name("DIR"),
      "directory to search for libtessera-*.so plugins first (repeatable; then "
      "TESSERA_PLUGIN_PATH, then the installed plugin directory)")(
      "plugin-option", po::value<std::vector<std::string>>()->composing()->value_name("KEY=VALUE"),
      "option passed to plugins, e.g. cpu.num_threads=8 (repeatable; overrides "
      "TESSERA_PLUGIN_OPT_<KEY>)")(
      "log-level", po::value<std::string>()->value_name("LEVEL"),
      "trace, debug, info, warn, error or off (default: TESSERA_LOG_LEVEL, else info)");
  return options;
}

runtime::LoaderOptions loader_options_from(const po::variables_map& vm) {
  runtime::LoaderOptions options;
  if (vm.count("plugin-dir")) options.plugin_dirs = vm["plugin-dir"].as<std::vector<std::string>>();
  if (vm.count("plugin-option")) {
    for (const auto& item : vm["plugin-option"].as<std::vector<std::string>>()) {
      const auto eq = item.find('=');
      if (eq == std::string::npos || eq == 0) {
        throw UsageError("--plugin-option expects KEY=VALUE, got '" + item + "'");
      }
      options.plugin_options[item.substr(0, eq)] = item.substr(eq + 1);
    }
  }
  return options;
}

DeviceSpec device_spec_from(const po::variables_map& vm) {
  if (!vm.count("device")) return DeviceSpec{};
  try {
    return parse_device_spec(vm["device"].as<std::string>());
  } catch (const Error& e) {
    throw UsageError(e.what());
  }
}

bool device_given(const po::variables_map& vm) {
  return vm.count("device") > 0;
}

po::variables_map parse_command_line(int argc, char** argv, const po::options_description& options,
                                     const po::positional_options_description* positional) {
  po::variables_map vm;
  try {
    // The parser skips argv[0] (the subcommand name) itself.
    po::command_line_parser parser(argc, argv);
    parser.options(options);
    if (positional != nullptr) parser.positional(*positional);
    po::store(parser.run(), vm);
  } catch (const po::error& e) {
    throw UsageError(e.what());
  }
  // --config: the file's values under the command line's, for every option of the command.
  if (options.find_nothrow("config", false) != nullptr && vm.count("config")) {
    store_config_file(vm["config"].as<std::string>(), options, vm);
    if (vm.count("log-level") && !log::set_level(vm["log-level"].as<std::string>())) {
      throw UsageError("--log-level: unknown level '" + vm["log-level"].as<std::string>() + "'");
    }
  }
  try {
    po::notify(vm);
  } catch (const po::error& e) {
    throw UsageError(e.what());
  }
  return vm;
}

void print_command_help(const std::string& name, const std::string& summary,
                        const po::options_description& options) {
  std::cout << "Usage: tessera " << name << " [options]\n\n" << summary << "\n\n" << options;
}

}  // namespace tessera::cli
