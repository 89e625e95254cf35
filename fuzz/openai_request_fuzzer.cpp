// OpenAI request bodies as the server receives them (tools/server/openai_api.h): JSON ->
// prompts (text, token ids, chat messages through the chat template) -> SamplingParams ->
// validate_request, and the /tokenize and /detokenize bodies. The first input byte picks the
// route; the rest is the body. The tokenizer and template are Qwen3's (tests/data), with the
// server's reasoning and tool-call parsing on.
// Contract: a request is accepted, or refused with an ApiError below 500 (a 4xx naming the
// problem); anything else would reach the client as a 500. Invariants on an accepted request:
// it has prompts × n choices, every prompt id is in the vocabulary, and prompt + max_tokens
// fits the context, and the stop token ids are the ones sent.
#include <string>

#include "api_error.h"
#include "fuzz_support.h"
#include "openai_api.h"
#include "served_model.h"
#include "tessera/error.h"

namespace {

using nlohmann::json;
using namespace tessera::server;

using Served = tessera::fuzz::ServedModel;
using tessera::fuzz::served_model;

void check_accepted(const GenerationRequest& request, const json& body, const Served& served) {
  TSR_FUZZ_ASSERT(!request.choices.empty(), "accepted a request with no choices");
  TSR_FUZZ_ASSERT(request.choices.size() % request.num_prompts == 0, "choices != prompts x n");
  for (const auto& choice : request.choices) {
    TSR_FUZZ_ASSERT(!choice.prompt.empty(), "accepted an empty prompt");
    for (int32_t id : choice.prompt) {
      TSR_FUZZ_ASSERT(id >= 0 && id < served.limits.vocab_size, "a prompt id outside the vocab");
    }
    TSR_FUZZ_ASSERT(choice.params.max_tokens >= 1, "max_tokens below 1");
    if (body.contains("stop_token_ids") && body["stop_token_ids"].is_array()) {
      const auto& given = body["stop_token_ids"];
      TSR_FUZZ_ASSERT(given.size() == choice.params.stop_token_ids.size(), "stop ids lost");
      for (size_t i = 0; i < given.size(); ++i) {
        TSR_FUZZ_ASSERT(given[i] == choice.params.stop_token_ids[i], "a stop id changed value");
      }
    }
    TSR_FUZZ_ASSERT(static_cast<int64_t>(choice.prompt.size()) + choice.params.max_tokens <=
                        served.limits.max_model_len,
                    "prompt + max_tokens beyond the context");
  }
}

}  // namespace

// Loading the tokenizer takes seconds under ASan: done here, outside libFuzzer's per-input
// timeout.
extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  (void)served_model();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const Served& served = served_model();
  const json body = json::parse(tessera::fuzz::as_text(data + 1, size - 1), nullptr, false);
  if (body.is_discarded()) return 0;  // the server answers 400 before any of this runs
  try {
    switch (data[0] % 4) {
      case 0:
      case 1: {
        const bool chat = data[0] % 4 == 1;
        const auto request = parse_generation_request(body, chat, served.limits, served.prompts);
        check_accepted(request, body, served);
        (void)dump_json(json{{"id", request.id}});
        break;
      }
      case 2:
        (void)dump_json(tokenize_body(body, served.limits, served.prompts, *served.tokenizer));
        break;
      default:
        (void)dump_json(detokenize_body(body, served.limits, *served.tokenizer));
        break;
    }
  } catch (const ApiError& e) {
    TSR_FUZZ_ASSERT(e.status() >= 400 && e.status() < 500,
                    "a bad request answered with " + std::to_string(e.status()) + ": " + e.what());
  }
  return 0;
}
