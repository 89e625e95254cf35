// How one request is sampled and when it stops: the OpenAI completion fields, resolved to
// plain values (the server and `tessera generate --input` parse JSON into this).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tessera {

struct SamplingParams {
  int max_tokens = 16;
  int min_tokens = 0;
  float temperature = 1.0f;         // 0: greedy
  float top_p = 1.0f;               // (0, 1]
  int top_k = 0;                    // 0 or -1: off
  float min_p = 0.0f;               // [0, 1)
  float repetition_penalty = 1.0f;  // > 0; 1: off
  float presence_penalty = 0.0f;    // [-2, 2]
  float frequency_penalty = 0.0f;   // [-2, 2]
  std::optional<uint64_t> seed;     // same seed, same output
  std::vector<std::string> stop;    // stop strings (not included in the output)
  std::vector<int32_t> stop_token_ids;
  bool ignore_eos = false;
  std::optional<int> logprobs;  // chosen token's logprob plus this many top alternatives
  // vLLM's prompt_logprobs: every prompt token after the first gets its logprob given the
  // tokens before it, plus this many top alternatives. A request that asks computes its whole
  // prompt (no prefix-cache hits) and is refused under tensor parallelism.
  std::optional<int> prompt_logprobs;
  bool skip_special_tokens = true;
  int priority = 0;  // --scheduling-policy priority: lower first

  // Throws tessera::Error (kInvalidArgument) naming the field for out-of-range values.
  void validate(int max_logprobs = 20) const;
};

}  // namespace tessera
