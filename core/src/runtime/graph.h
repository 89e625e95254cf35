// Graph: a recorded sequence of work on a stream (graph_* of the ABI), replayed with one
// launch. Move-only; keeps its Device alive. Capturing records instead of running: work
// enqueued between begin_capture() and end_capture() runs only when the graph is launched,
// and reads its buffers' contents at launch time.
#pragma once

#include <memory>

#include "runtime/stream.h"

namespace tessera::runtime {

class Graph {
 public:
  // Whether `device` offers graphs (TSR_DEVICE_CAP_GRAPHS and all four graph calls).
  static bool supported(const Device& device);

  static void begin_capture(Stream& stream);
  // Ends the capture started on `stream` and returns the graph, ready to launch.
  static Graph end_capture(Stream& stream);
  // Ends a capture after a failure, discarding what was recorded; never throws.
  static void abandon_capture(Stream& stream) noexcept;

  Graph() = default;
  ~Graph() { reset(); }
  Graph(Graph&& other) noexcept;
  Graph& operator=(Graph&& other) noexcept;
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;

  void reset() noexcept;
  bool valid() const { return handle_ != nullptr; }
  void launch(Stream& stream) const;

 private:
  std::shared_ptr<Device> device_;
  tsr_graph_t handle_ = nullptr;
};

}  // namespace tessera::runtime
