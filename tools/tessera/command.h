// One function per `tessera` subcommand, each in its own <name>_command.cpp. A subcommand
// parses its own flags (Boost.Program_options), prints its own --help, and returns the
// process exit code. main.cpp dispatches on the first argument.
#pragma once

#include <boost/program_options/options_description.hpp>

namespace tessera::cli {

// Every option `tessera serve` accepts (on the command line and in --config).
boost::program_options::options_description serve_options();
// Every option `tessera generate` accepts.
boost::program_options::options_description generate_options();

// argv[0] is the subcommand's name ("plugins"), so argv[1..] are its flags.
int run_plugins_command(int argc, char** argv);
int run_diagnose_command(int argc, char** argv);
int run_generate_command(int argc, char** argv);
int run_plan_command(int argc, char** argv);
int run_serve_command(int argc, char** argv);
int run_bench_command(int argc, char** argv);
int run_tune_command(int argc, char** argv);
// `tessera bench serve` (bench_serve_command.cpp); run_bench_command routes to it.
int run_bench_serve(int argc, char** argv);
int run_bench_perplexity(int argc, char** argv);

}  // namespace tessera::cli
