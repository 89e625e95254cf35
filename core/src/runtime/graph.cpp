// Graph (see graph.h).
#include "runtime/graph.h"

#include <utility>

#include "common/check.h"

namespace tessera::runtime {

bool Graph::supported(const Device& device) {
  const tsr_plugin_api& api = device.api();
  return (device.info().properties.caps & TSR_DEVICE_CAP_GRAPHS) != 0 &&
         api.graph_begin_capture != nullptr && api.graph_end_capture != nullptr &&
         api.graph_launch != nullptr && api.graph_destroy != nullptr;
}

void Graph::begin_capture(Stream& stream) {
  Device& device = stream.device();
  TSR_CHECK(supported(device), "device {} does not offer graph capture", device.label());
  device.check(device.api().graph_begin_capture(stream.handle()), "graph_begin_capture");
}

Graph Graph::end_capture(Stream& stream) {
  Device& device = stream.device();
  Graph graph;
  device.check(device.api().graph_end_capture(stream.handle(), &graph.handle_),
               "graph_end_capture");
  TSR_CHECK_KIND(graph.handle_ != nullptr, ErrorKind::kInternal,
                 "{}: graph_end_capture succeeded but returned no graph", device.plugin().name());
  graph.device_ = device.shared_from_this();
  return graph;
}

void Graph::abandon_capture(Stream& stream) noexcept {
  Device& device = stream.device();
  tsr_graph_t handle = nullptr;
  tsr_error* error = device.api().graph_end_capture(stream.handle(), &handle);
  if (error != nullptr) error->destroy(error);
  if (handle != nullptr) {
    log_release_error(device.api().graph_destroy(handle), device.plugin().name(), "graph_destroy");
  }
}

Graph::Graph(Graph&& other) noexcept
    : device_(std::move(other.device_)), handle_(std::exchange(other.handle_, nullptr)) {}

Graph& Graph::operator=(Graph&& other) noexcept {
  if (this != &other) {
    reset();
    device_ = std::move(other.device_);
    handle_ = std::exchange(other.handle_, nullptr);
  }
  return *this;
}

void Graph::reset() noexcept {
  if (handle_ == nullptr) return;
  log_release_error(device_->api().graph_destroy(handle_), device_->plugin().name(),
                    "graph_destroy");
  handle_ = nullptr;
  device_.reset();
}

void Graph::launch(Stream& stream) const {
  TSR_CHECK(valid(), "launch of an empty graph");
  device_->check(device_->api().graph_launch(handle_, stream.handle()), "graph_launch");
}

}  // namespace tessera::runtime
