// --config FILE: a YAML mapping of option names to values, read with yaml-cpp. Every option
// of the command is accepted (engine, server, loader options alike), spelled without the
// leading dashes, with '-' or '_' ("max-num-seqs: 128", "api_key: \"abc#123\""). Values:
//   - a scalar for an ordinary option (YAML quoting rules apply: "abc#123" keeps its '#');
//   - true / false for a switch (false leaves it off);
//   - a list for an option that may be repeated (stop, served-model-name, plugin-option …);
//   - a mapping for an option that takes a JSON object (*-kwargs), passed on as JSON.
// Flags on the command line win over the file. An unknown key, a value of the wrong type or a
// YAML syntax error is one UsageError naming the file and line.
#pragma once

#include <boost/program_options.hpp>
#include <string>

namespace tessera::cli {

// Stores the file's values into `vm` (values already there from the command line are kept).
void store_config_file(const std::string& path,
                       const boost::program_options::options_description& options,
                       boost::program_options::variables_map& vm);

}  // namespace tessera::cli
