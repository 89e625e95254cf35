// diagnose: what the CPU plugin can tell about its runtime without initialize(): oneDNN
// version and threading runtime, the CPU's ISA (detected and in use), thread count and
// affinity. Pushes items only; never fails because something is missing.
#include <string>

#include "api_functions.h"
#include "cpu_internal.h"
#include "host_info.h"
#include "isa.h"
#include "linear_onednn.h"
#include "parallel.h"

namespace tsr::cpu::api {
namespace {

void push(const tsr_diag_sink* sink, const char* key, const std::string& value, const char* unit,
          tsr_diag_status status, const char* source, const char* hint) {
  tsr_diag_item item{};
  item.struct_size = sizeof item;
  item.key = key;
  item.value = value.c_str();
  item.unit = unit;
  item.status = status;
  item.source = source;
  item.hint = hint;
  sink->push(sink->ctx, &item);
}

}  // namespace

tsr_error* diagnose(const tsr_diag_sink* sink) {
  return tsr::sdk::guard([&] {
    TSR_PLUGIN_CHECK_ARG(sink != nullptr && sink->push != nullptr,
                         "diagnose: sink or sink->push is NULL");
    const bool initialized = is_initialized();
    push(sink, "onednn.version", onednn_version_string(), nullptr, TSR_DIAG_STATUS_OK, "onednn",
         nullptr);
    const bool omp = std::string(onednn_cpu_runtime()) == "omp";
    push(sink, "onednn.cpu_runtime", onednn_cpu_runtime(), nullptr,
         omp ? TSR_DIAG_STATUS_OK : TSR_DIAG_STATUS_WARN, "onednn",
         omp ? nullptr
             : "oneDNN was not built with OpenMP; its GEMMs and the plugin's OpenMP kernels use "
               "separate thread pools and may oversubscribe the cores");
    push(sink, "device.0.name", cpu_model_name(), nullptr, TSR_DIAG_STATUS_OK, "cpuid", nullptr);
    const Isa detected = detect_isa();
    const Isa used = initialized ? active_isa() : detected;
    std::string isa = std::string(isa_name(used)) + " (detected: " + isa_name(detected) +
                      (initialized ? "" : "; not initialized, so the override is not applied") +
                      "; features: " + cpu_feature_list() + ")";
    const bool full = used == detected;
    push(sink, "cpu.isa", isa, nullptr, full ? TSR_DIAG_STATUS_OK : TSR_DIAG_STATUS_WARN, "cpuid",
         full ? nullptr
              : "the kernels run below the CPU's best ISA; unset TESSERA_CPU_ISA / cpu.isa "
                "unless you are testing");
    const int threads = initialized ? configured_threads() : affinity_count();
    const int cpus = affinity_count();
    const bool over = cpus > 0 && threads > cpus;
    push(sink, "cpu.threads", std::to_string(threads), "threads",
         over ? TSR_DIAG_STATUS_WARN : TSR_DIAG_STATUS_OK, "sched_getaffinity",
         over ? "cpu.num_threads exceeds the CPUs this process may use; lower it" : nullptr);
    push(sink, "cpu.affinity", affinity_list(), nullptr, TSR_DIAG_STATUS_OK, "sched_getaffinity",
         nullptr);
  });
}

}  // namespace tsr::cpu::api
