// Requests for the in-process benchmarks and how one is followed to its end.
//   random_dataset:   vLLM's "random" dataset: N prompts of random token ids whose lengths are
//                     drawn uniformly from [len * (1 - range_ratio), len * (1 + range_ratio)],
//                     from a seeded generator (same seed, same requests).
//   sharegpt_dataset: a ShareGPT JSON file (a list of {"conversations": [{"from": "human",
//                     "value": ...}, {"from": "gpt", "value": ...}, ...]}): the first turn is
//                     the prompt, the token length of the second is the output length;
//                     shuffled with the seed and filtered as vLLM's benchmarks filter it.
//   drain:            reads a request's OutputChannel to the end, timing the first token.
// Thread safety: plain functions; drain blocks the calling thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "tessera/request_output.h"

namespace tessera::tokenizer {
class Tokenizer;
}

namespace tessera::bench {

struct BenchRequest {
  std::vector<int32_t> prompt;
  int output_len = 0;
};

// `length` ids drawn uniformly from [0, vocab_size).
std::vector<int32_t> random_token_ids(std::mt19937_64& rng, int length, int32_t vocab_size);

// Throws tessera::Error for non-positive counts or lengths, or a range ratio outside [0, 1).
std::vector<BenchRequest> random_dataset(int num_prompts, int input_len, int output_len,
                                         double range_ratio, uint64_t seed, int32_t vocab_size);

struct ShareGptLimits {
  int min_len = 4;            // prompts and outputs shorter than this are skipped
  int max_prompt_len = 1024;  // vLLM's limits for ShareGPT
  int max_total_len = 2048;   // prompt + output, also capped by the engine's max_model_len
};

// Reads `path`; `fixed_output_len` replaces the gpt turn's length when given. Throws
// tessera::Error naming the file for unreadable or malformed JSON, or when fewer than
// `num_prompts` conversations pass the limits.
std::vector<BenchRequest> sharegpt_dataset(const std::string& path, int num_prompts,
                                           const tokenizer::Tokenizer& tokenizer,
                                           std::optional<int> fixed_output_len, uint64_t seed,
                                           const ShareGptLimits& limits);

using Clock = std::chrono::steady_clock;

// What one request did, read from its channel.
struct RequestRecord {
  Clock::time_point submitted;
  std::optional<Clock::time_point> first_token;
  Clock::time_point finished;
  int prompt_tokens = 0;
  int completion_tokens = 0;
  int cached_tokens = 0;
  std::string finish_reason;
  std::string error;
};

// Blocks until the final output; `record.submitted` must be set by the caller.
void drain(OutputChannel& channel, RequestRecord& record);

}  // namespace tessera::bench
