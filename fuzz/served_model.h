// The model the server-side fuzz targets (openai_request, http_request) serve: Qwen3's
// tokenizer and chat template from tests/data, with the server's reasoning and tool-call
// parsing on and small limits, so that the limits' checks are reached by short inputs.
#pragma once

#include <memory>

#include "openai_api.h"
#include "prompt_builder.h"
#include "tessera/tokenizer.h"

#ifndef TESSERA_TEST_DATA_DIR
#error "TESSERA_TEST_DATA_DIR must name tests/data"
#endif

namespace tessera::fuzz {

struct ServedModel {
  std::unique_ptr<tessera::tokenizer::Tokenizer> tokenizer =
      tessera::tokenizer::Tokenizer::from_files(TESSERA_TEST_DATA_DIR "/tokenizers/qwen3");
  tessera::server::PromptBuilder prompts{*tokenizer, ""};
  tessera::server::ApiLimits limits = [this] {
    tessera::server::ApiLimits l;
    l.served_model_names = {"fuzz-model", "alias"};
    l.max_model_len = 512;
    l.kv_tokens = 4096;
    l.max_n = 4;
    l.max_choices = 16;
    l.vocab_size = tokenizer->vocab_size();
    l.chat_parsing.reasoning = tessera::server::ReasoningFormat::kQwen3;
    l.chat_parsing.tools = tessera::server::ToolCallFormat::kHermes;
    return l;
  }();
};

// Loaded once per process (seconds under ASan: call it from LLVMFuzzerInitialize, outside
// libFuzzer's per-input timeout).
inline const ServedModel& served_model() {
  static const ServedModel kServed;
  return kServed;
}

}  // namespace tessera::fuzz
