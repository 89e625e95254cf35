#include "perplexity.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ostream>

#include "tessera/check.h"
#include "tessera/engine.h"

namespace tessera::bench {

std::vector<PerplexityWindow> perplexity_windows(int64_t num_tokens, int64_t context,
                                                 int64_t stride) {
  TSR_CHECK(context >= 2, "the context must be at least 2 tokens, got {}", context);
  TSR_CHECK(stride >= 1 && stride <= context,
            "the stride must be between 1 and the context ({}), got {}", context, stride);
  std::vector<PerplexityWindow> windows;
  int64_t previous_end = 0;
  for (int64_t begin = 0; begin < num_tokens; begin += stride) {
    const int64_t end = std::min(begin + context, num_tokens);
    const int64_t first_scored = std::max(begin + 1, previous_end);
    if (first_scored < end) windows.push_back({begin, end, first_scored});
    previous_end = end;
    if (end == num_tokens) break;
  }
  return windows;
}

namespace {

// Sums -logprob over the window's scored tokens from the request's prompt logprobs
// (entry i is window token i + 1).
double window_nll(const PerplexityWindow& w, const std::vector<TokenLogprob>& prompt_logprobs) {
  const auto expected = static_cast<size_t>(w.end - w.begin - 1);
  TSR_CHECK(prompt_logprobs.size() == expected,
            "window [{}, {}) returned {} prompt logprobs, expected {}", w.begin, w.end,
            prompt_logprobs.size(), expected);
  double nll = 0;
  for (int64_t t = w.first_scored; t < w.end; ++t) {
    nll -= static_cast<double>(prompt_logprobs[static_cast<size_t>(t - w.begin - 1)].logprob);
  }
  return nll;
}

}  // namespace

PerplexityResult run_perplexity(Engine& engine, const std::vector<int32_t>& ids,
                                const PerplexityOptions& options) {
  const auto windows =
      perplexity_windows(static_cast<int64_t>(ids.size()), options.context, options.stride);
  TSR_CHECK(!windows.empty(), "the dataset has {} tokens: perplexity needs at least 2", ids.size());
  PerplexityResult result;
  const auto& model = engine.model();
  result.model = model.path;
  result.dtype = model.dtype;
  // "none" in the summary is Quantization::kNone: no --quantization, weights as in the file.
  const std::string asked = model.quantization == "none" ? "as in the file" : model.quantization;
  result.quantization = model.linear_formats.empty()
                            ? asked
                            : fmt::format("{}; linear weights {}", asked, model.linear_formats);
  result.device = engine.memory_plan().device;
  result.dataset = options.dataset;
  result.dataset_tokens = static_cast<int64_t>(ids.size());
  result.context = options.context;
  result.stride = options.stride;
  result.windows = static_cast<int>(windows.size());

  SamplingParams params;
  params.max_tokens = 1;  // the engine generates at least one token; it is not scored
  params.temperature = 0.0f;
  params.ignore_eos = true;
  params.prompt_logprobs = 0;
  engine.start();
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::shared_ptr<OutputChannel>> channels;
  for (size_t i = 0; i < windows.size(); ++i) {
    const auto& w = windows[i];
    result.tokens_processed += w.end - w.begin;
    channels.push_back(engine.add_request(
        fmt::format("perplexity-{}", i),
        std::vector<int32_t>(ids.begin() + w.begin, ids.begin() + w.end), params));
  }
  for (size_t i = 0; i < windows.size(); ++i) {
    std::vector<TokenLogprob> prompt_logprobs;
    while (auto output = channels[i]->next()) {
      TSR_CHECK(output->finish_reason != FinishReason::kError, "window {} failed: {}", i,
                output->error);
      TSR_CHECK(output->finish_reason != FinishReason::kAbort, "window {} was aborted", i);
      if (!output->prompt_logprobs.empty()) prompt_logprobs = std::move(output->prompt_logprobs);
    }
    result.nll_sum += window_nll(windows[i], prompt_logprobs);
    result.tokens_scored += windows[i].end - windows[i].first_scored;
  }
  result.elapsed_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  result.mean_nll = result.nll_sum / static_cast<double>(result.tokens_scored);
  result.perplexity = std::exp(result.mean_nll);
  result.tokens_per_s =
      result.elapsed_s > 0 ? static_cast<double>(result.tokens_processed) / result.elapsed_s : 0;
  return result;
}

nlohmann::json to_json(const PerplexityResult& r) {
  return {{"benchmark", "perplexity"},
          {"model", r.model},
          {"dtype", r.dtype},
          {"quantization", r.quantization},
          {"device", r.device},
          {"dataset", r.dataset},
          {"dataset_tokens", r.dataset_tokens},
          {"context", r.context},
          {"stride", r.stride},
          {"windows", r.windows},
          {"tokens_scored", r.tokens_scored},
          {"tokens_processed", r.tokens_processed},
          {"nll_sum", r.nll_sum},
          {"mean_nll", r.mean_nll},
          {"perplexity", r.perplexity},
          {"elapsed_time", r.elapsed_s},
          {"tokens_per_second", r.tokens_per_s}};
}

void print_report(const PerplexityResult& r, std::ostream& out) {
  out << fmt::format("Model:              {} ({})\n", r.model, r.dtype);
  out << fmt::format("Weights:            {}\n", r.quantization);
  out << fmt::format("Device:             {}\n", r.device);
  out << fmt::format("Dataset:            {} ({} tokens)\n", r.dataset, r.dataset_tokens);
  out << fmt::format("Windows:            {} of {} tokens, stride {}\n", r.windows, r.context,
                     r.stride);
  out << fmt::format("Tokens scored:      {}\n", r.tokens_scored);
  out << fmt::format("Mean NLL:           {:.4f} nats/token\n", r.mean_nll);
  out << fmt::format("Perplexity:         {:.4f}\n", r.perplexity);
  out << fmt::format("Elapsed:            {:.2f} s ({:.1f} tokens/s processed)\n", r.elapsed_s,
                     r.tokens_per_s);
}

}  // namespace tessera::bench
