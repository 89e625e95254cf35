// --config YAML files (tools/tessera/config_file.h) through the real option table of
// `tessera serve`, as `tessera serve --config FILE` reads them. Contract: the file is
// accepted, or refused with one UsageError (the CLI prints it and exits 2); any other
// exception would reach main()'s catch-all as an internal error. The values that parsed then
// go through engine_config_from(), which refuses bad values with UsageError or
// tessera::Error. --model is given on the command line so that no default model is looked up.
#include <boost/program_options.hpp>
#include <string>
#include <vector>

#include "command.h"
#include "common_options.h"
#include "engine_options.h"
#include "fuzz_support.h"
#include "tessera/error.h"

namespace po = boost::program_options;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static tessera::fuzz::MemoryFile file;
  static const po::options_description options = tessera::cli::serve_options();
  std::string path = file.write(data, size);
  std::string command = "serve";
  std::string flag = "--config";
  std::string model = "--model=fuzz-model-dir";
  std::vector<char*> argv = {command.data(), model.data(), flag.data(), path.data()};
  try {
    const auto vm =
        tessera::cli::parse_command_line(static_cast<int>(argv.size()), argv.data(), options);
    bool is_default = false;
    (void)tessera::cli::engine_config_from(vm, &is_default);
  } catch (const tessera::cli::UsageError& e) {
    TSR_FUZZ_ASSERT(e.what()[0] != '\0', "an error without a message");
  } catch (const tessera::Error& e) {
    TSR_FUZZ_ASSERT(e.what()[0] != '\0', "an error without a message");
  }
  return 0;
}
