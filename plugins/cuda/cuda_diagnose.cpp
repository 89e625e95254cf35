// diagnose() of the CUDA plugin: an NVML snapshot plus the CUDA runtime and driver
// versions, through the pure rules of nvml_rules.h. Needs no initialize and no device.
#include "cuda_internal.h"
#include "nvml_rules.h"

namespace tsr::cuda {

tsr_error* diagnose(const tsr_diag_sink* sink) {
  return sdk::guard([&] {
    TSR_PLUGIN_CHECK_ARG(sink != nullptr && sink->push != nullptr, "diagnose: sink is NULL");
    NvmlSnapshot snapshot = read_nvml_snapshot();
    int runtime = 0;
    if (cudaRuntimeGetVersion(&runtime) == cudaSuccess) snapshot.cuda_runtime_version = runtime;
    // Without NVML there is no driver, and asking the runtime would only repeat that.
    if (snapshot.library_found && !snapshot.cuda_driver_version) {
      int driver = 0;
      if (cudaDriverGetVersion(&driver) == cudaSuccess && driver > 0)
        snapshot.cuda_driver_version = driver;
    }
    (void)cudaGetLastError();
    push_items(evaluate_nvml_snapshot(snapshot), sink);
  });
}

}  // namespace tsr::cuda
