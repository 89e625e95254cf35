// The plugin's exports (tsr_plugin_get_api, tsr_plugin_score), its function table, and
// the lifecycle (initialize: ISA choice, thread count, oneDNN engine; shutdown).
// The table is static; the host services pointer lives as long as the plugin is loaded.
#include <atomic>
#include <string>

#include "api_functions.h"
#include "collectives.h"
#include "cpu_internal.h"
#include "isa.h"
#include "linear_onednn.h"
#include "ops.h"
#include "parallel.h"

namespace tsr::cpu {
namespace {

tsr::sdk::Host g_host;
std::atomic<bool> g_initialized{false};
// cpu.linear_out_parts, read at initialize (options are fixed from then on).
std::atomic<bool> g_linear_out_parts{true};

bool read_linear_out_parts() {
  const char* text = host().option("cpu.linear_out_parts");
  return text == nullptr || std::string(text) != "0";
}

tsr_error* initialize() {
  return tsr::sdk::guard([] {
    configure_threads();
    g_linear_out_parts.store(read_linear_out_parts());
    bind_threads();
    select_isa();
    onednn_init();
    g_initialized.store(true);
    host().info("initialized with " + std::to_string(configured_threads()) + " threads");
  });
}

// Shutting down also allows a later initialize(), which re-reads the options.
void shutdown() {
  g_initialized.store(false);
}

int supported(tsr_device_t device, tsr_op_id op, const void* params) {
  return op_supported(device, op, params);
}

tsr_plugin_api make_table() {
  tsr_plugin_api t{};
  t.struct_size = sizeof(tsr_plugin_api);
  t.abi_major = TSR_ABI_VERSION_MAJOR;
  t.abi_minor = TSR_ABI_VERSION_MINOR;
  t.name = "cpu";
  t.version = "0.1.0";
  t.device_type = TSR_DEVICE_TYPE_CPU;
  t.initialize = &initialize;
  t.shutdown = &shutdown;
  t.device_count = &api::device_count;
  t.device_get_properties = &api::device_get_properties;
  t.device_open = &api::device_open;
  t.device_close = &api::device_close;
  t.device_memory_info = &api::device_memory_info;
  t.buffer_alloc = &api::buffer_alloc;
  t.buffer_free = &api::buffer_free;
  t.buffer_host_ptr = &api::buffer_host_ptr;
  t.stream_create = &api::stream_create;
  t.stream_destroy = &api::stream_destroy;
  t.stream_synchronize = &api::stream_synchronize;
  t.event_create = &api::event_create;
  t.event_destroy = &api::event_destroy;
  t.event_record = &api::event_record;
  t.event_synchronize = &api::event_synchronize;
  t.stream_wait_event = &api::stream_wait_event;
  t.event_elapsed_ms = &api::event_elapsed_ms;
  t.memcpy_h2d = &api::memcpy_h2d;
  t.memcpy_d2h = &api::memcpy_d2h;
  t.memcpy_d2d = &api::memcpy_d2d;
  t.memset_d = &api::memset_d;
  t.weight_prepack = &api::weight_prepack;
  t.weight_destroy = &api::weight_destroy;
  t.weight_bytes = &api::weight_bytes;
  t.kv_block_bytes = &api::kv_block_bytes;
  t.ops = ops_table();
  t.op_supported = &supported;
  // Graphs record validated ops and replay them without validation. Nothing is saved on a
  // CPU; they exist so the engine's graph path (padded decode batches, replay) can be tested
  // on every machine, and the device claims TSR_DEVICE_CAP_GRAPHS only with the option
  // cpu.graphs=1. Collectives work for ranks that are threads of this process.
  t.graph_begin_capture = &api::graph_begin_capture;
  t.graph_end_capture = &api::graph_end_capture;
  t.graph_launch = &api::graph_launch;
  t.graph_destroy = &api::graph_destroy;
  t.collectives = collectives_table();
  t.diagnose = &api::diagnose;
  return t;
}

const tsr_plugin_api kTable = make_table();

}  // namespace

tsr::sdk::Host& host() {
  return g_host;
}

bool linear_out_parts_enabled() {
  // Before initialize (device properties may be asked first) the option is read directly.
  return is_initialized() ? g_linear_out_parts.load() : read_linear_out_parts();
}

bool q8_activations_enabled() {
  const char* text = host().option("cpu.q8_activations");
  return text == nullptr || std::string(text) != "0";
}

bool amx_option_enabled() {
  const char* text = host().option("cpu.amx");
  return text == nullptr || std::string(text) != "0";
}

bool is_initialized() {
  return g_initialized.load();
}

void require_initialized(const char* what) {
  TSR_PLUGIN_CHECK(is_initialized(), TSR_ERROR_CODE_FAILED_PRECONDITION,
                   "%s: the cpu plugin is not initialized (call initialize first)", what);
}

}  // namespace tsr::cpu

extern "C" TSR_PLUGIN_EXPORT const tsr_plugin_api* tsr_plugin_get_api(const tsr_host_api* host,
                                                                      uint32_t abi_major,
                                                                      uint32_t abi_minor) {
  if (host != nullptr) tsr::cpu::host().attach(host, "cpu");
  if (abi_major != TSR_ABI_VERSION_MAJOR) {
    tsr::cpu::host().log(TSR_LOG_LEVEL_ERROR,
                         "refusing host ABI " + std::to_string(abi_major) + "." +
                             std::to_string(abi_minor) + ": libtessera-cpu was built for ABI " +
                             std::to_string(TSR_ABI_VERSION_MAJOR) + "." +
                             std::to_string(TSR_ABI_VERSION_MINOR) +
                             " (sdk/include/tessera/plugin.h); major versions must match");
    return nullptr;
  }
  return &tsr::cpu::kTable;
}

// Any x86-64 CPU runs this plugin; it is the fallback every accelerator plugin outranks.
extern "C" TSR_PLUGIN_EXPORT int32_t tsr_plugin_score(void) {
  return 10;
}
