// /metrics: the engine's counters, gauges and histograms in the Prometheus text exposition
// format (0.0.4), named `tessera:` + vLLM's names with vLLM's meanings, plus Tessera's own
// (swap traffic, recomputed tokens, disconnect aborts, blocks in use). Every sample carries a
// model_name label. docs/metrics.md lists them all.
#pragma once

#include <cstdint>
#include <string>

#include "tessera/metrics.h"

namespace tessera::server {

struct MetricsExtras {
  int64_t blocks_in_use = 0;
  int block_size = 16;
  uint64_t kv_block_bytes = 0;  // one block, all layers
  uint64_t http_requests_total = 0;
  uint64_t http_errors_total = 0;  // 4xx and 5xx responses
  bool has_device_memory = false;  // the plugin reported its device memory
  uint64_t device_memory_free_bytes = 0;
  uint64_t device_memory_total_bytes = 0;
};

std::string prometheus_text(const engine::EngineMetrics& metrics, const MetricsExtras& extras,
                            const std::string& model_name);

}  // namespace tessera::server
