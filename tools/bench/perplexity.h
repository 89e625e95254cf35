// `tessera bench perplexity`: perplexity of a model over a token sequence, with Hugging Face's
// sliding-window recipe ("Perplexity of fixed-length models"): windows of `context` tokens
// start every `stride` tokens, and each window scores only the tokens no earlier window
// scored, each given up to `context` - 1 tokens before it. The windows run as concurrent
// requests through the in-process engine, each with prompt logprobs (SamplingParams::
// prompt_logprobs, float64 log-softmax) and one generated token, which is ignored.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace tessera {
class Engine;
}

namespace tessera::bench {

// One window: tokens [begin, end) of the sequence go in; tokens [first_scored, end) are scored
// (first_scored > begin: the window's first token has no context in it).
struct PerplexityWindow {
  int64_t begin = 0;
  int64_t end = 0;
  int64_t first_scored = 0;
};

// The windows of Hugging Face's recipe over `num_tokens` tokens: begin = 0, stride, 2*stride …
// until a window reaches the end; window i scores [max(begin + 1, end of window i - 1), end).
// Needs 1 <= stride <= context and context >= 2; throws tessera::Error otherwise.
std::vector<PerplexityWindow> perplexity_windows(int64_t num_tokens, int64_t context,
                                                 int64_t stride);

struct PerplexityOptions {
  int64_t context = 1024;
  int64_t stride = 512;
  std::string dataset;  // for the report
};

struct PerplexityResult {
  std::string model;
  std::string dtype;
  std::string quantization;
  std::string device;
  std::string dataset;
  int64_t dataset_tokens = 0;
  int64_t context = 0;
  int64_t stride = 0;
  int windows = 0;
  int64_t tokens_scored = 0;
  int64_t tokens_processed = 0;  // every window's tokens (what the model ran over)
  double nll_sum = 0;            // natural log
  double mean_nll = 0;
  double perplexity = 0;
  double elapsed_s = 0;
  double tokens_per_s = 0;  // tokens_processed / elapsed_s
};

// Runs the windows of `ids` through `engine` (started here if it is not) and waits for all.
// Throws tessera::Error when a window fails.
PerplexityResult run_perplexity(Engine& engine, const std::vector<int32_t>& ids,
                                const PerplexityOptions& options);

nlohmann::json to_json(const PerplexityResult& result);
void print_report(const PerplexityResult& result, std::ostream& out);

}  // namespace tessera::bench
