// Public: OpenAI completion-request fields (JSON) -> SamplingParams, shared by `tessera generate
// --input` and the server. Wrong types and out-of-range values throw tessera::Error
// (kInvalidArgument) naming the field, which the server turns into a 400.
#pragma once

#include <nlohmann/json.hpp>

#include "tessera/sampling_params.h"

namespace tessera::engine {

// Reads max_tokens (or max_completion_tokens), temperature, top_p, top_k, min_p, seed, stop
// (string or list), stop_token_ids, ignore_eos, presence/frequency/repetition penalties,
// logprobs (int for completions; with top_logprobs for chat), prompt_logprobs, min_tokens,
// skip_special_tokens, priority. Unknown fields are ignored, as OpenAI-compatible servers do.
// `default_max_tokens` applies when neither max_tokens field is present.
SamplingParams sampling_params_from_json(const nlohmann::json& request, int default_max_tokens,
                                         bool chat = false);

}  // namespace tessera::engine
