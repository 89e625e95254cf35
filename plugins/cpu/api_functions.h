// The C entry points of tsr_plugin_api implemented across the plugin's files, gathered
// here so plugin_api.cpp can fill the table. Each one runs under tsr::sdk::guard().
#ifndef TESSERA_PLUGINS_CPU_API_FUNCTIONS_H
#define TESSERA_PLUGINS_CPU_API_FUNCTIONS_H

#include "tessera/plugin.h"

namespace tsr::cpu::api {

// device.cpp
tsr_error* device_count(int32_t* count);
tsr_error* device_get_properties(int32_t index, tsr_device_properties* props);
tsr_error* device_open(int32_t index, tsr_device_t* out);
tsr_error* device_close(tsr_device_t device);
tsr_error* device_memory_info(tsr_device_t device, uint64_t* free_bytes, uint64_t* total_bytes);

// buffer.cpp
tsr_error* buffer_alloc(tsr_device_t device, size_t bytes, tsr_buffer_kind kind, tsr_buffer_t* out);
tsr_error* buffer_free(tsr_buffer_t buffer);
tsr_error* buffer_host_ptr(tsr_buffer_t buffer, void** out);
tsr_error* memcpy_h2d(tsr_stream_t stream, tsr_buffer_t dst, size_t dst_offset, const void* src,
                      size_t bytes);
tsr_error* memcpy_d2h(tsr_stream_t stream, void* dst, tsr_buffer_t src, size_t src_offset,
                      size_t bytes);
tsr_error* memcpy_d2d(tsr_stream_t stream, tsr_buffer_t dst, size_t dst_offset, tsr_buffer_t src,
                      size_t src_offset, size_t bytes);
tsr_error* memset_d(tsr_stream_t stream, tsr_buffer_t dst, size_t offset, int value, size_t bytes);

// stream.cpp
tsr_error* stream_create(tsr_device_t device, tsr_stream_t* out);
tsr_error* stream_destroy(tsr_stream_t stream);
tsr_error* stream_synchronize(tsr_stream_t stream);
tsr_error* event_create(tsr_device_t device, tsr_event_t* out);
tsr_error* event_destroy(tsr_event_t event);
tsr_error* event_record(tsr_event_t event, tsr_stream_t stream);
tsr_error* event_synchronize(tsr_event_t event);
tsr_error* stream_wait_event(tsr_stream_t stream, tsr_event_t event);
tsr_error* event_elapsed_ms(tsr_event_t start, tsr_event_t end, float* ms);

// graph.cpp
tsr_error* graph_begin_capture(tsr_stream_t stream);
tsr_error* graph_end_capture(tsr_stream_t stream, tsr_graph_t* out);
tsr_error* graph_launch(tsr_graph_t graph, tsr_stream_t stream);
tsr_error* graph_destroy(tsr_graph_t graph);

// weight.cpp
tsr_error* weight_prepack(tsr_device_t device, const tsr_weight_desc* desc, tsr_weight_t* out);
tsr_error* weight_destroy(tsr_weight_t weight);
tsr_error* weight_bytes(tsr_weight_t weight, uint64_t* bytes);

// ops_kv.cpp
tsr_error* kv_block_bytes(tsr_device_t device, const tsr_kv_layout* layout, uint64_t* bytes);

// diagnose.cpp
tsr_error* diagnose(const tsr_diag_sink* sink);

}  // namespace tsr::cpu::api

#endif  // TESSERA_PLUGINS_CPU_API_FUNCTIONS_H
