#include "tessera/validate_request.h"

#include <algorithm>

#include "common/check.h"

namespace tessera {

int64_t RequestLimits::context() const {
  return std::min<int64_t>(max_model_len, kv_tokens);
}

void validate_request(std::span<const int32_t> prompt, const SamplingParams& params,
                      const RequestLimits& limits) {
  params.validate(limits.max_logprobs);
  TSR_CHECK_INPUT(!params.prompt_logprobs || limits.prompt_logprobs_supported, "prompt_logprobs",
                  "prompt_logprobs is not supported with --tensor-parallel-size > 1");
  TSR_CHECK_INPUT(!prompt.empty(), "prompt", "the prompt is empty");
  for (int32_t token : prompt) {
    TSR_CHECK_INPUT(token >= 0 && token < limits.vocab_size, "prompt",
                    "prompt token id {} is outside the vocabulary (0..{})", token,
                    limits.vocab_size - 1);
  }
  // The messages are the OpenAI API's (clients match on them).
  const int64_t context = limits.context();
  const auto len = static_cast<int64_t>(prompt.size());
  TSR_CHECK_INPUT(len < context, "prompt",
                  "This model's maximum context length is {} tokens. However, your prompt has {} "
                  "tokens, leaving no room for a completion.",
                  context, len);
  TSR_CHECK_INPUT(len + params.max_tokens <= context, "max_tokens",
                  "This model's maximum context length is {} tokens. However, you requested {} "
                  "tokens ({} in the prompt, {} in the completion). Please reduce the length of "
                  "the prompt or completion.",
                  context, len + params.max_tokens, len, params.max_tokens);
}

}  // namespace tessera
