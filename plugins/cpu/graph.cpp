// Graph capture for the CPU plugin: between graph_begin_capture and graph_end_capture a
// stream records its ops (validated at record time, see ops_table.cpp) and device-side
// copies and fills; graph_launch replays them in order on any stream of the same device.
// Host-side copies and block copies cannot be recorded (their host memory is only valid
// during the call) and are refused while capturing, as are nested captures.
#include <cstring>
#include <memory>

#include "api_functions.h"
#include "cpu_internal.h"

namespace tsr::cpu {
namespace {

tsr_graph_s* check_graph(tsr_graph_t graph, const char* what) {
  TSR_PLUGIN_CHECK_ARG(graph != nullptr && graph->magic == kGraphMagic,
                       "%s: not a valid cpu graph handle", what);
  return graph;
}

}  // namespace

void refuse_during_capture(const tsr_stream_s* stream, const char* what) {
  TSR_PLUGIN_CHECK(stream->capturing == nullptr, TSR_ERROR_CODE_FAILED_PRECONDITION,
                   "%s cannot be recorded while the stream captures a graph", what);
}

namespace api {

tsr_error* graph_begin_capture(tsr_stream_t stream) {
  return tsr::sdk::guard([&] {
    tsr_stream_s* s = check_stream(stream, "graph_begin_capture");
    TSR_PLUGIN_CHECK(s->capturing == nullptr, TSR_ERROR_CODE_FAILED_PRECONDITION,
                     "graph_begin_capture: the stream is already capturing");
    auto graph = std::make_unique<tsr_graph_s>();
    graph->device = s->device;
    s->capturing = graph.release();
  });
}

tsr_error* graph_end_capture(tsr_stream_t stream, tsr_graph_t* out) {
  return tsr::sdk::guard([&] {
    tsr_stream_s* s = check_stream(stream, "graph_end_capture");
    TSR_PLUGIN_CHECK_ARG(out != nullptr, "graph_end_capture: out is NULL");
    TSR_PLUGIN_CHECK(s->capturing != nullptr, TSR_ERROR_CODE_FAILED_PRECONDITION,
                     "graph_end_capture: the stream is not capturing");
    tsr_graph_s* graph = s->capturing;
    s->capturing = nullptr;
    graph->device->live.fetch_add(1);
    *out = graph;
  });
}

tsr_error* graph_launch(tsr_graph_t graph, tsr_stream_t stream) {
  return tsr::sdk::guard([&] {
    tsr_graph_s* g = check_graph(graph, "graph_launch");
    tsr_stream_s* s = check_stream(stream, "graph_launch: stream");
    require_initialized("graph_launch");
    refuse_during_capture(s, "graph_launch");
    TSR_PLUGIN_CHECK_ARG(s->device == g->device,
                         "graph_launch: the graph was captured on another device");
    for (const auto& step : g->steps) step();
  });
}

tsr_error* graph_destroy(tsr_graph_t graph) {
  return tsr::sdk::guard([&] {
    tsr_graph_s* g = check_graph(graph, "graph_destroy");
    g->device->live.fetch_sub(1);
    g->magic = kDeadMagic;
    delete g;
  });
}

}  // namespace api
}  // namespace tsr::cpu
