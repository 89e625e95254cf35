#include "host_state.h"

#include <unistd.h>

#include <fstream>

#include "diag/host_diagnostics.h"
#include "diag/report.h"
#include "diag/sysfs_reader.h"

namespace tessera::bench {

using nlohmann::json;

json host_state() {
  json out = json::object();
  std::ifstream loadavg("/proc/loadavg");
  double one = 0, five = 0, fifteen = 0;
  if (loadavg >> one >> five >> fifteen) out["loadavg"] = {one, five, fifteen};
  out["online_cpus"] = ::sysconf(_SC_NPROCESSORS_ONLN);
  try {
    const auto sections = diag::run_host_checks(diag::SysfsReader(diag::root_from_environment()));
    out["diagnose"] = json::parse(diag::format_json(sections));
  } catch (const std::exception& e) {
    out["diagnose"] = nullptr;
    out["diagnose_error"] = e.what();
  }
  return out;
}

}  // namespace tessera::bench
