#include "prometheus.h"

#include <fmt/format.h>

namespace tessera::server {

namespace {

class Writer {
 public:
  explicit Writer(const std::string& model_name) : label_(escape(model_name)) {}

  void gauge(const char* name, const char* help, double value) {
    header(name, help, "gauge");
    sample(name, "", value);
  }
  void counter(const char* name, const char* help, double value) {
    header(name, help, "counter");
    sample(name, "", value);
  }
  void histogram(const char* name, const char* help, const engine::Histogram& h) {
    header(name, help, "histogram");
    uint64_t cumulative = 0;
    const auto& bounds = h.bounds();
    const auto& counts = h.counts();
    for (size_t i = 0; i < bounds.size(); ++i) {
      cumulative += i < counts.size() ? counts[i] : 0;
      sample(fmt::format("{}_bucket", name), fmt::format("le=\"{}\",", bounds[i]),
             static_cast<double>(cumulative));
    }
    sample(fmt::format("{}_bucket", name), "le=\"+Inf\",", static_cast<double>(h.count()));
    sample(fmt::format("{}_sum", name), "", h.sum());
    sample(fmt::format("{}_count", name), "", static_cast<double>(h.count()));
  }
  // A counter family with one extra label.
  void labeled_counter_header(const char* name, const char* help) { header(name, help, "counter"); }
  void labeled_sample(const char* name, const std::string& label, double value) {
    sample(name, label + ",", value);
  }

  std::string take() { return std::move(out_); }

 private:
  static std::string escape(const std::string& s) {
    std::string out;
    for (char c : s) {
      if (c == '\\' || c == '"') out.push_back('\\');
      if (c == '\n') {
        out += "\\n";
        continue;
      }
      out.push_back(c);
    }
    return out;
  }
  void header(const std::string& name, const char* help, const char* type) {
    out_ += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  }
  void sample(const std::string& name, const std::string& labels, double value) {
    out_ += fmt::format("{}{{{}model_name=\"{}\"}} {}\n", name, labels, label_, value);
  }

  std::string label_;
  std::string out_;
};

}  // namespace

std::string prometheus_text(const engine::EngineMetrics& m, const MetricsExtras& x,
                            const std::string& model_name) {
  Writer w(model_name);
  w.gauge("tessera:num_requests_running", "Number of requests in model execution batches.",
          m.num_running);
  w.gauge("tessera:num_requests_waiting", "Number of requests waiting to be processed.",
          m.num_waiting);
  w.gauge("tessera:num_requests_swapped", "Number of requests swapped out to host memory.",
          m.num_swapped);
  w.gauge("tessera:kv_cache_usage_perc",
          "KV-cache usage. 1 means 100 percent usage (blocks held by requests).", m.kv_usage);
  w.gauge("tessera:kv_blocks_in_use", "KV-cache blocks held by requests.",
          static_cast<double>(x.blocks_in_use));
  w.gauge("tessera:kv_blocks_total", "KV-cache blocks on the device.",
          static_cast<double>(m.num_kv_blocks));
  w.gauge("tessera:swap_blocks_in_use", "Host swap-space blocks held by swapped-out requests.",
          static_cast<double>(m.swap_blocks_in_use));
  w.counter("tessera:prompt_tokens_total", "Number of prefill tokens processed.",
            static_cast<double>(m.prompt_tokens));
  w.counter("tessera:generation_tokens_total", "Number of generation tokens processed.",
            static_cast<double>(m.generation_tokens));
  w.counter("tessera:num_preemptions_total", "Cumulative number of preemptions.",
            static_cast<double>(m.preemptions_swap + m.preemptions_recompute));
  w.counter("tessera:num_preemptions_swap_total", "Preemptions that swapped KV blocks out.",
            static_cast<double>(m.preemptions_swap));
  w.counter("tessera:num_preemptions_recompute_total",
            "Preemptions that dropped KV blocks to recompute them later.",
            static_cast<double>(m.preemptions_recompute));
  w.counter("tessera:prefix_cache_queries_total",
            "Prefix-cache queries, in terms of number of queried tokens.",
            static_cast<double>(m.prefix_cache_queries));
  w.counter("tessera:prefix_cache_hits_total",
            "Prefix-cache hits, in terms of number of cached tokens.",
            static_cast<double>(m.prefix_cache_hits));
  w.counter("tessera:recomputed_tokens_total",
            "Tokens prefilled again after a recompute preemption.",
            static_cast<double>(m.recomputed_tokens));
  w.counter("tessera:swapped_out_bytes_total", "KV-cache bytes swapped out to host memory.",
            static_cast<double>(m.swapped_out_bytes));
  w.counter("tessera:swapped_in_bytes_total", "KV-cache bytes swapped back in from host memory.",
            static_cast<double>(m.swapped_in_bytes));
  const double tokens_per_byte =
      x.kv_block_bytes ? static_cast<double>(x.block_size) / static_cast<double>(x.kv_block_bytes)
                       : 0;
  w.counter("tessera:swapped_out_tokens_total", "KV-cache token slots swapped out (whole blocks).",
            static_cast<double>(m.swapped_out_bytes) * tokens_per_byte);
  w.counter("tessera:swapped_in_tokens_total", "KV-cache token slots swapped in (whole blocks).",
            static_cast<double>(m.swapped_in_bytes) * tokens_per_byte);
  w.labeled_counter_header("tessera:request_success_total",
                           "Count of finished requests, by finish reason.");
  w.labeled_sample("tessera:request_success_total", "finished_reason=\"stop\"",
                   static_cast<double>(m.requests_finished_stop));
  w.labeled_sample("tessera:request_success_total", "finished_reason=\"length\"",
                   static_cast<double>(m.requests_finished_length));
  w.labeled_sample("tessera:request_success_total", "finished_reason=\"abort\"",
                   static_cast<double>(m.requests_aborted));
  w.counter("tessera:requests_aborted_total", "Requests aborted (by a client or at shutdown).",
            static_cast<double>(m.requests_aborted));
  w.counter("tessera:requests_aborted_by_disconnect_total",
            "Requests aborted because their client closed the connection.",
            static_cast<double>(m.requests_aborted_disconnect));
  w.counter("tessera:requests_failed_total", "Requests that ended with an engine error.",
            static_cast<double>(m.requests_failed));
  w.counter("tessera:engine_steps_total", "Engine steps run.", static_cast<double>(m.steps));
  w.counter("tessera:http_requests_total", "HTTP requests answered.",
            static_cast<double>(x.http_requests_total));
  w.counter("tessera:http_errors_total", "HTTP requests answered with a 4xx or 5xx status.",
            static_cast<double>(x.http_errors_total));
  if (x.has_device_memory) {
    w.gauge("tessera:device_memory_used_bytes",
            "Device memory in use (all processes), as the device's plugin reports it.",
            static_cast<double>(x.device_memory_total_bytes - x.device_memory_free_bytes));
    w.gauge("tessera:device_memory_total_bytes", "Device memory in total.",
            static_cast<double>(x.device_memory_total_bytes));
  }
  w.histogram("tessera:time_to_first_token_seconds", "Histogram of time to first token in seconds.",
              m.time_to_first_token);
  w.histogram("tessera:inter_token_latency_seconds", "Histogram of inter-token latency in seconds.",
              m.inter_token_latency);
  w.histogram("tessera:e2e_request_latency_seconds",
              "Histogram of end to end request latency in seconds.", m.e2e_request_latency);
  w.histogram("tessera:request_queue_time_seconds",
              "Histogram of time spent in the WAITING phase for a request.", m.request_queue_time);
  return w.take();
}

}  // namespace tessera::server
