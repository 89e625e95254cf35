// The one validation of a generation request against the served model, used by the engine
// (Engine::add_request) and by the server before it queues anything, so the two cannot
// disagree. Throws tessera::Error (kInvalidArgument) whose field() names the request field at
// fault: a sampling field (SamplingParams::validate), "prompt" (empty, a token id outside
// the vocabulary, or no room left for a completion) or "max_tokens" (prompt + max_tokens
// beyond the context). The context is the smaller of max_model_len and the KV cache's
// capacity: a request must fit whole.
#pragma once

#include <cstdint>
#include <span>

#include "tessera/sampling_params.h"

namespace tessera {

struct RequestLimits {
  int max_model_len = 0;
  int64_t kv_tokens = 0;  // KV cache capacity in tokens
  int64_t vocab_size = 0;
  int max_logprobs = 20;
  // False under tensor parallelism: the LM head over prompt rows is not wired across ranks.
  bool prompt_logprobs_supported = true;

  int64_t context() const;  // min(max_model_len, kv_tokens)
};

void validate_request(std::span<const int32_t> prompt, const SamplingParams& params,
                      const RequestLimits& limits);

}  // namespace tessera
