#include "latency.h"

#include <fmt/format.h>
#include <algorithm>
#include <ostream>
#include <random>
#include <thread>

#include "tessera/check.h"
#include "tessera/metrics.h"
#include "tessera/engine.h"
#include "throughput_requests.h"
#include "tessera/tokenizer.h"

namespace tessera::bench {

namespace {

double median(std::vector<double> values) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const size_t mid = values.size() / 2;
  return values.size() % 2 ? values[mid] : (values[mid - 1] + values[mid]) / 2;
}

double mean(const std::vector<double>& values) {
  if (values.empty()) return 0;
  double sum = 0;
  for (double v : values) sum += v;
  return sum / static_cast<double>(values.size());
}

double seconds(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

struct Iteration {
  double prefill_s = 0;
  double total_s = 0;
};

// One batch of `batch` requests through the running engine; one thread per request reads
// its channel so that every first-token time is taken when it happens.
Iteration run_iteration(Engine& engine, const LatencyOptions& o, int batch, int32_t vocab,
                        std::mt19937_64& rng, const std::string& tag) {
  std::vector<std::vector<int32_t>> prompts;
  for (int b = 0; b < batch; ++b) prompts.push_back(random_token_ids(rng, o.input_len, vocab));
  SamplingParams params;
  params.max_tokens = o.output_len;
  params.ignore_eos = true;
  params.temperature = 0.0f;

  std::vector<RequestRecord> records(static_cast<size_t>(batch));
  std::vector<std::shared_ptr<OutputChannel>> channels;
  const auto start = Clock::now();
  for (int b = 0; b < batch; ++b) {
    records[static_cast<size_t>(b)].submitted = Clock::now();
    channels.push_back(engine.add_request(fmt::format("latency-{}-{}", tag, b),
                                          std::move(prompts[static_cast<size_t>(b)]), params));
  }
  std::vector<std::thread> readers;
  for (size_t b = 0; b < channels.size(); ++b) {
    readers.emplace_back([&, b] { drain(*channels[b], records[b]); });
  }
  for (auto& reader : readers) reader.join();

  Iteration it;
  for (const auto& r : records) {
    TSR_CHECK(r.finish_reason == "length" && r.completion_tokens == o.output_len,
              "a benchmark request ended with finish_reason '{}' after {} of {} tokens{}{}",
              r.finish_reason, r.completion_tokens, o.output_len, r.error.empty() ? "" : ": ",
              r.error);
    it.prefill_s = std::max(it.prefill_s, seconds(start, *r.first_token));
    it.total_s = std::max(it.total_s, seconds(start, r.finished));
  }
  return it;
}

LatencyRun measure(Engine& engine, const LatencyOptions& o, int batch, int32_t vocab,
                   std::mt19937_64& rng, const LatencyResult& context) {
  LatencyRun run;
  run.batch_size = batch;
  engine::EngineMetrics before;
  for (int i = 0; i < o.num_iters_warmup + o.num_iters; ++i) {
    const bool warmup = i < o.num_iters_warmup;
    if (i == o.num_iters_warmup) before = engine.metrics();
    const auto it = run_iteration(engine, o, batch, vocab, rng,
                                  fmt::format("b{}-{}{}", batch, warmup ? "w" : "", i));
    if (warmup) continue;
    run.prefill_s.push_back(it.prefill_s);
    run.total_s.push_back(it.total_s);
    run.decode_s.push_back(it.total_s - it.prefill_s);
  }
  const auto after = engine.metrics();
  if (const auto steps = after.tp_decode_forwards - before.tp_decode_forwards; steps > 0) {
    run.tp_decode_step_ms =
        (after.tp_decode_forward_seconds - before.tp_decode_forward_seconds) / steps * 1e3;
    run.tp_collective_ms =
        (after.tp_decode_collective_seconds - before.tp_decode_collective_seconds) / steps * 1e3;
  }
  const double prefill = median(run.prefill_s);
  run.prefill_tok_s = prefill > 0 ? batch * o.input_len / prefill : 0;
  if (prefill > 0 && context.linear_macs_per_token > 0) {
    const double tokens = static_cast<double>(batch) * o.input_len;
    const double pairs = batch * 0.5 * o.input_len * (o.input_len + 1.0);
    const double macs = tokens * static_cast<double>(context.linear_macs_per_token) +
                        pairs * static_cast<double>(context.attention_macs_per_pair);
    run.prefill_gflops = 2 * macs / prefill / 1e9;
    if (context.gemm && context.gemm->gflops() > 0) {
      run.prefill_gemm_fraction = run.prefill_gflops / context.gemm->gflops();
    }
  }
  const int decode_steps = o.output_len - 1;
  const double bandwidth = context.bandwidth.roofline_gbps() * 1e9;
  if (decode_steps > 0) {
    const double decode = median(run.decode_s);
    run.decode_ms_per_token = decode / decode_steps * 1e3;
    run.decode_tok_s = decode > 0 ? batch * decode_steps / decode : 0;
  }
  if (context.weight_bytes_per_token > 0 && bandwidth > 0) {
    const double weights = static_cast<double>(context.weight_bytes_per_token);
    run.roofline_tok_s = batch * bandwidth / weights;
    run.roofline_fraction = run.decode_tok_s / run.roofline_tok_s;
    // The mean context length a decode step attends over.
    const double context_len = o.input_len + o.output_len / 2.0;
    const double kv = static_cast<double>(context.kv_bytes_per_token) * context_len * batch;
    run.roofline_with_kv_tok_s = batch * bandwidth / (weights + kv);
    if (decode_steps > 0) {
      const double bound_ms_per_step = (weights + kv) / bandwidth * 1e3;
      run.step_overhead_ms = run.decode_ms_per_token - bound_ms_per_step;
    }
  }
  return run;
}

nlohmann::json run_json(const LatencyRun& r, bool has_decode) {
  nlohmann::json j = {{"batch_size", r.batch_size},
                      {"prefill_s", r.prefill_s},
                      {"total_s", r.total_s},
                      {"avg_latency", mean(r.total_s)},
                      {"prefill_s_median", median(r.prefill_s)},
                      {"prefill_tok_s", r.prefill_tok_s},
                      {"prefill_gflops", r.prefill_gflops},
                      {"prefill_gemm_fraction", r.prefill_gemm_fraction}};
  if (has_decode) {
    j["decode_s"] = r.decode_s;
    j["decode_ms_per_token"] = r.decode_ms_per_token;
    j["decode_tok_s"] = r.decode_tok_s;
  } else {
    j["decode_s"] = nullptr;
    j["decode_ms_per_token"] = nullptr;
    j["decode_tok_s"] = nullptr;
  }
  j["roofline_tok_s"] = r.roofline_tok_s;
  j["roofline_with_kv_tok_s"] = r.roofline_with_kv_tok_s;
  j["roofline_fraction"] = has_decode ? nlohmann::json(r.roofline_fraction) : nlohmann::json();
  j["step_overhead_ms"] = has_decode ? nlohmann::json(r.step_overhead_ms) : nlohmann::json();
  if (r.tp_decode_step_ms > 0) {
    j["tp_decode_step_ms"] = r.tp_decode_step_ms;
    j["tp_collective_ms"] = r.tp_collective_ms;
    j["tp_compute_ms"] = r.tp_decode_step_ms - r.tp_collective_ms;
  }
  return j;
}

nlohmann::json gemm_json(const std::optional<GemmCalibration>& g) {
  if (!g) return nullptr;
  return {{"what", "linear op on the first layer's gate/up weight"},
          {"m", g->rows},
          {"n", g->out_features},
          {"k", g->in_features},
          {"seconds", g->seconds},
          {"gflops", g->gflops()}};
}

}  // namespace

LatencyResult run_latency(Engine& engine, const LatencyOptions& o,
                          const BandwidthResult& bandwidth) {
  TSR_CHECK(o.input_len > 0, "--input-len must be positive (got {})", o.input_len);
  TSR_CHECK(o.output_len > 0, "--output-len must be positive (got {})", o.output_len);
  TSR_CHECK(o.batch_size > 0, "--batch-size must be positive (got {})", o.batch_size);
  TSR_CHECK(o.num_iters > 0, "--num-iters must be positive (got {})", o.num_iters);
  TSR_CHECK(o.num_iters_warmup >= 0, "--num-iters-warmup must be >= 0 (got {})",
            o.num_iters_warmup);
  LatencyResult result;
  const auto& model = engine.model();
  const auto& plan = engine.memory_plan();
  result.model = model.path;
  result.architecture = model.architecture;
  result.dtype = model.dtype;
  result.quantization = model.quantization.empty() ? "none" : model.quantization;
  result.device = plan.device;
  result.tensor_parallel_size = model.tensor_parallel_size;
  result.weight_bytes_per_token = model.weight_bytes_per_token;
  result.linear_macs_per_token = model.linear_macs_per_token;
  result.attention_macs_per_pair = model.attention_macs_per_pair;
  const int block_size = std::max(1, engine.config().block_size);
  result.kv_bytes_per_token = plan.kv_block_bytes / static_cast<uint64_t>(block_size);
  result.options = o;
  result.bandwidth = bandwidth;

  const int32_t vocab =
      std::min<int32_t>(engine.tokenizer().vocab_size(), static_cast<int32_t>(model.vocab_size));
  std::mt19937_64 rng(o.seed);
  // Before the engine thread starts: the calibration runs on this thread.
  constexpr int kGemmRepeats = 5;
  result.gemm = engine.calibrate_prefill_gemm(o.input_len, kGemmRepeats);
  engine.start();
  result.runs.push_back(measure(engine, o, 1, vocab, rng, result));
  if (o.batch_size > 1) result.runs.push_back(measure(engine, o, o.batch_size, vocab, rng, result));
  return result;
}

nlohmann::json to_json(const LatencyResult& r) {
  nlohmann::json runs = nlohmann::json::array();
  for (const auto& run : r.runs) runs.push_back(run_json(run, r.options.output_len > 1));
  return {{"benchmark", "latency"},
          {"model",
           {{"path", r.model},
            {"architecture", r.architecture},
            {"dtype", r.dtype},
            {"quantization", r.quantization},
            {"weight_bytes_per_token", r.weight_bytes_per_token},
            {"kv_bytes_per_token", r.kv_bytes_per_token}}},
          {"device", r.device},
          {"tensor_parallel_size", r.tensor_parallel_size},
          {"input_len", r.options.input_len},
          {"output_len", r.options.output_len},
          {"batch_size", r.options.batch_size},
          {"num_iters", r.options.num_iters},
          {"num_iters_warmup", r.options.num_iters_warmup},
          {"bandwidth", to_json(r.bandwidth)},
          {"gemm_calibration", gemm_json(r.gemm)},
          {"runs", runs}};
}

void print_table(const LatencyResult& r, std::ostream& out) {
  constexpr double kMB = 1e6;
  out << fmt::format("Model:      {} ({}, {}, quantization {})\n", r.model, r.architecture, r.dtype,
                     r.quantization);
  out << fmt::format("Device:     {}\n", r.device);
  out << fmt::format("Weights read per decoded token: {:.2f} MB; KV cache per token: {:.3f} MB\n",
                     static_cast<double>(r.weight_bytes_per_token) / kMB,
                     static_cast<double>(r.kv_bytes_per_token) / kMB);
  const auto& bw = r.bandwidth;
  if (bw.method == "host-stream") {
    out << fmt::format(
        "Bandwidth:  {:.1f} GB/s triad (copy {:.1f}, read {:.1f}) over 3 x {} MiB, {} threads\n",
        bw.triad_gbps, bw.copy_gbps, bw.read_gbps, bw.array_bytes >> 20, bw.threads);
  } else {
    out << fmt::format("Bandwidth:  {:.1f} GB/s d2d copy on {} over {} MiB (read + written)\n",
                       bw.copy_gbps, bw.device, bw.array_bytes >> 20);
  }
  out << fmt::format(
      "Requests:   {} prompt tokens, {} output tokens; {} iterations after {} "
      "warm-up (medians)\n",
      r.options.input_len, r.options.output_len, r.options.num_iters, r.options.num_iters_warmup);
  if (r.gemm) {
    out << fmt::format(
        "GEMM peak:  {:.1f} GFLOP/s: the linear op alone on the first gate/up weight, M={} N={} "
        "K={}\n",
        r.gemm->gflops(), r.gemm->rows, r.gemm->out_features, r.gemm->in_features);
  }
  out << fmt::format(
      "\n{:>5}  {:>10}  {:>13}  {:>15}  {:>11}  {:>13}  {:>12}  {:>14}  {:>10}  {:>16}\n", "batch",
      "prefill s", "prefill tok/s", "prefill GFLOP/s", "% GEMM peak", "decode ms/tok",
      "decode tok/s", "roofline tok/s", "% roofline", "step overhead ms");
  const bool has_decode = r.options.output_len > 1;
  for (const auto& run : r.runs) {
    const std::string decode_ms = has_decode ? fmt::format("{:.2f}", run.decode_ms_per_token) : "-";
    const std::string decode = has_decode ? fmt::format("{:.2f}", run.decode_tok_s) : "-";
    const std::string fraction = has_decode && run.roofline_tok_s > 0
                                     ? fmt::format("{:.1f}%", 100 * run.roofline_fraction)
                                     : "-";
    const std::string overhead = has_decode && run.roofline_with_kv_tok_s > 0
                                     ? fmt::format("{:.2f}", run.step_overhead_ms)
                                     : "-";
    const std::string gemm_fraction = run.prefill_gemm_fraction > 0
                                          ? fmt::format("{:.1f}%", 100 * run.prefill_gemm_fraction)
                                          : "-";
    out << fmt::format(
        "{:>5}  {:>10.4f}  {:>13.1f}  {:>15.1f}  {:>11}  {:>13}  {:>12}  {:>14.2f}  {:>10}  "
        "{:>16}\n",
        run.batch_size, median(run.prefill_s), run.prefill_tok_s, run.prefill_gflops, gemm_fraction,
        decode_ms, decode, run.roofline_tok_s, fraction, overhead);
  }
  out << "\nprefill GFLOP/s = 2 x (linear multiply-adds of the prompt tokens + attention's over\n"
         "their causal pairs) / prefill time; % GEMM peak compares it with the GEMM above.\n"
         "roofline tok/s = batch x bandwidth / weight bytes per token (an upper bound for a\n"
         "memory-bound decode; weights that fit in cache can beat it).\n"
         "step overhead ms = decode ms per step - (weights + KV read per step) / bandwidth:\n"
         "the fixed cost of a step beyond moving its bytes.\n";
  if (r.tensor_parallel_size > 1) {
    out << fmt::format(
        "\nTensor parallel size {}: one decode step's forward pass (all ranks), split into "
        "rank 0's collectives and the rest\n{:>5}  {:>14}  {:>16}  {:>14}  {:>13}\n",
        r.tensor_parallel_size, "batch", "step ms", "collectives ms", "compute ms",
        "% collectives");
    for (const auto& run : r.runs) {
      const double compute = run.tp_decode_step_ms - run.tp_collective_ms;
      out << fmt::format(
          "{:>5}  {:>14.3f}  {:>16.3f}  {:>14.3f}  {:>12.1f}%\n", run.batch_size,
          run.tp_decode_step_ms, run.tp_collective_ms, compute,
          run.tp_decode_step_ms > 0 ? 100 * run.tp_collective_ms / run.tp_decode_step_ms : 0.0);
    }
  }
}

}  // namespace tessera::bench
