#include "host_state.h"

#include <unistd.h>

#include <fstream>

#include "tessera/diagnostics.h"

namespace tessera::bench {

using nlohmann::json;

json host_state() {
  json out = json::object();
  std::ifstream loadavg("/proc/loadavg");
  double one = 0, five = 0, fifteen = 0;
  if (loadavg >> one >> five >> fifteen) out["loadavg"] = {one, five, fifteen};
  out["online_cpus"] = ::sysconf(_SC_NPROCESSORS_ONLN);
  try {
    diag::DiagnoseOptions host_only;
    host_only.plugins = false;
    const auto sections = diag::run_diagnostics(host_only);
    out["diagnose"] = json::parse(diag::format_json(sections));
  } catch (const std::exception& e) {
    out["diagnose"] = nullptr;
    out["diagnose_error"] = e.what();
  }
  return out;
}

}  // namespace tessera::bench
