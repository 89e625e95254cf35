// `tessera diagnose`: host checks (tessera/diagnostics.h: kernel, CPU clocks, memory, PCIe links,
// Resizable BAR / Above 4G) followed by every loaded plugin's own diagnostics, with advice
// for each warning. A table by default, --json for scripts. Exit 0 when nothing failed,
// 1 when an item failed, 2 for a command-line mistake (via main). Only the report goes to
// stdout; logs go to stderr. Needs neither root nor a GPU.
#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <string>

#include "command.h"
#include "common_options.h"
#include "tessera/diagnostics.h"

namespace po = boost::program_options;

namespace tessera::cli {

namespace {

bool use_color() {
  return ::isatty(STDOUT_FILENO) == 1 && std::getenv("NO_COLOR") == nullptr;
}

}  // namespace

int run_diagnose_command(int argc, char** argv) {
  po::options_description own("Options");
  own.add_options()("help,h", "show this help")(
      "json", "print a JSON array of items {section, key, value, unit, status, source, hint}")(
      "verbose,v", "also show per-policy and per-BAR detail items in the table")(
      "no-plugins", "skip the plugins' diagnostics (host checks only)")(
      "root", po::value<std::string>()->value_name("DIR"),
      "read sysfs/procfs under DIR instead of / (fixture trees for tests; default: "
      "TESSERA_DIAG_ROOT, else /)");
  po::options_description all;
  all.add(own).add(loader_options());
  const auto vm = parse_command_line(argc, argv, all);
  if (vm.count("help")) {
    print_command_help(
        "diagnose",
        "Checks what limits performance on this machine: kernel, CPU governor, EPP and turbo,\n"
        "transparent huge pages, NUMA, memory, and for each GPU/accelerator the driver, PCIe\n"
        "link, Resizable BAR and Above 4G Decoding; then asks every plugin for its own\n"
        "diagnostics. Each warning comes with advice. Runs without root and without a GPU\n"
        "(unreadable files are reported as NEEDS_ROOT). Exit code 0 when nothing fails, 1\n"
        "when something does.",
        all);
    return 0;
  }
  diag::DiagnoseOptions options;
  options.device = device_spec_from(vm);
  if (vm.count("root")) options.root = vm["root"].as<std::string>();
  options.plugins = vm.count("no-plugins") == 0;
  if (options.plugins) options.loader = loader_options_from(vm);
  const std::vector<diag::DiagSection> sections = diag::run_diagnostics(options);

  if (vm.count("json")) {
    std::cout << diag::format_json(sections);
  } else {
    diag::TableOptions table;
    table.verbose = vm.count("verbose") > 0;
    table.color = use_color();
    std::cout << diag::format_table(sections, table);
  }
  std::cout.flush();
  return diag::exit_code_for(sections);
}

}  // namespace tessera::cli
