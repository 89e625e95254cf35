// Flags every `tessera` subcommand accepts, in one place so that all subcommands spell and
// interpret them the same way:
//   --device auto|cpu|cuda|xpu[:N]   (any plugin name; default auto)
//   --plugin-dir DIR                 (repeatable; searched before TESSERA_PLUGIN_PATH)
//   --plugin-option KEY=VALUE        (repeatable; plugins read it via the host API)
//   --log-level LEVEL                (trace|debug|info|warn|error|off; TESSERA_LOG_LEVEL)
// main.cpp applies --log-level before dispatching, so subcommands only need to accept it.
#pragma once

#include <boost/program_options.hpp>
#include <stdexcept>
#include <string>

#include "tessera/plugins.h"
#include "tessera/device_spec.h"

namespace tessera::cli {

// A mistake in the command line: main prints "tessera: error: <what>" and exits 2.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The shared flags above, as a group to add() to a subcommand's options_description.
boost::program_options::options_description loader_options();

// Loader settings from parsed flags (--plugin-dir, --plugin-option). Throws UsageError for
// a --plugin-option without '=' or with an empty key.
runtime::LoaderOptions loader_options_from(const boost::program_options::variables_map& vm);

// The parsed --device value ("auto" when absent). Throws UsageError for a malformed value.
DeviceSpec device_spec_from(const boost::program_options::variables_map& vm);

// True when --device was given on the command line (not defaulted).
bool device_given(const boost::program_options::variables_map& vm);

// Parses argv[1..] (argv[0] is the subcommand name) against `options`, with optional
// positional arguments, and runs notify(). Boost's parse errors become UsageError.
boost::program_options::variables_map parse_command_line(
    int argc, char** argv, const boost::program_options::options_description& options,
    const boost::program_options::positional_options_description* positional = nullptr);

// Prints "Usage: tessera <name> [options]", `summary` and the options, to stdout.
void print_command_help(const std::string& name, const std::string& summary,
                        const boost::program_options::options_description& options);

}  // namespace tessera::cli
