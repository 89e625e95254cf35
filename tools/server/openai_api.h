// The OpenAI wire format: parses /v1/completions and /v1/chat/completions bodies into engine
// requests (one per prompt × n), and formats the engine's RequestOutput deltas back into
// responses — whole JSON bodies, or SSE chunks shaped as OpenAI sends them. Also the small
// routes' bodies (/v1/models, /tokenize, /detokenize). Pure functions and one per-request
// accumulator; no I/O, so everything here is unit-testable without sockets.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "chat_output.h"
#include "prompt_builder.h"
#include "tessera/request_output.h"
#include "tessera/sampling_params.h"

namespace tessera::server {

// What the API layer needs to know about the served model and the server's limits.
struct ApiLimits {
  std::vector<std::string> served_model_names;  // first = the one responses name
  int max_model_len = 0;
  int64_t kv_tokens = 0;  // a request's prompt + max_tokens must fit here too
  int max_logprobs = 20;
  bool prompt_logprobs_supported = true;  // false under tensor parallelism
  int max_n = 128;                        // largest n
  int max_choices = 1024;                 // prompts × n per HTTP request
  int default_max_tokens = 0;             // cap on the vLLM default (0: none)
  int32_t vocab_size = 0;
  ChatParsing chat_parsing;  // --reasoning-parser, --tool-call-parser (chat_output.h)
};

struct ChoiceRequest {
  std::vector<int32_t> prompt;
  std::optional<std::string> prompt_text;  // the prompt as given, when it was a string (echo)
  SamplingParams params;
};

struct GenerationRequest {
  bool chat = false;
  bool stream = false;
  bool include_usage = false;
  bool want_logprobs = false;
  // Completions' echo: the prompt comes before the completion, and with logprobs its tokens
  // come first in the logprobs object (the first with a null logprob), as lm-evaluation-
  // harness reads them. prompt_only: max_tokens 0 with echo; the engine still generates one
  // token (it always does), which is left out of the response.
  bool echo = false;
  bool prompt_only = false;
  // vLLM's prompt_logprobs field asked for directly: a "prompt_logprobs" list per choice.
  bool want_prompt_logprobs = false;
  std::string id;       // "cmpl-…" / "chatcmpl-…"
  int64_t created = 0;  // unix seconds
  std::string model;
  size_t num_prompts = 0;
  std::vector<ChoiceRequest> choices;  // index = prompt * n + i
  ChatParsing parsing;                 // chat: the output parsers that apply
};

// Throws ApiError (400 bad field, 404 unknown model) with the offending param named.
GenerationRequest parse_generation_request(const nlohmann::json& body, bool chat,
                                           const ApiLimits& limits, const PromptBuilder& prompts);

// Checks the optional "model" field of any request against the served names (404 otherwise).
void check_model_name(const nlohmann::json& body, const ApiLimits& limits);

// Accumulates one generation's outputs and formats them.
class ResponseFormatter {
 public:
  ResponseFormatter(const GenerationRequest& request, const tokenizer::Tokenizer& tokenizer);

  // Streaming: the SSE events (possibly none) to send for this output.
  std::string stream_start() const;  // chat: the role deltas; completions: nothing
  std::string stream_output(size_t choice, const RequestOutput& output);
  std::string stream_end() const;  // the usage chunk when asked, then "data: [DONE]"

  // Non-streaming: record the output; body() once every choice finished.
  void add_output(size_t choice, const RequestOutput& output);
  nlohmann::json body() const;

  bool finished() const { return num_finished_ == choices_.size(); }
  // The first engine error among the choices ("" when none).
  const std::string& error() const { return error_; }

 private:
  struct Choice {
    std::string text;
    std::vector<TokenLogprob> logprobs;
    std::vector<TokenLogprob> prompt_logprobs;  // prompt[i + 1] at i
    bool echoed = false;                        // streaming: the prompt went out
    FinishReason finish_reason = FinishReason::kNone;
    int prompt_tokens = 0;
    int completion_tokens = 0;
    std::vector<size_t> offsets;  // completions logprobs' text_offset, one per token
    bool finished = false;
    std::shared_ptr<ChatOutputStream> parser;  // streamed chat with output parsing
  };
  void record(size_t choice, const RequestOutput& output);
  nlohmann::json logprobs_json(const std::vector<TokenLogprob>& logprobs,
                               const std::vector<size_t>& offsets) const;
  // Completions with echo: the prompt's tokens (the first with null logprobs), then
  // `generated` with `offsets` shifted past the prompt text.
  nlohmann::json echo_logprobs_json(size_t choice, const std::vector<TokenLogprob>& generated,
                                    const std::vector<size_t>& offsets) const;
  nlohmann::json prompt_logprobs_json(size_t choice) const;  // vLLM's "prompt_logprobs"
  std::string echo_text(size_t choice) const;  // the prompt as the response repeats it
  // Drops the token a prompt-only (max_tokens 0) request generated anyway.
  RequestOutput visible(const RequestOutput& output) const;
  nlohmann::json chunk_base() const;
  nlohmann::json usage() const;

  const GenerationRequest& request_;
  const tokenizer::Tokenizer& tokenizer_;
  std::vector<Choice> choices_;
  size_t num_finished_ = 0;
  std::string error_;
};

// "data: <json>\n\n"
std::string sse_event(const nlohmann::json& data);
std::string dump_json(const nlohmann::json& value);

nlohmann::json models_body(const ApiLimits& limits, int64_t created);
nlohmann::json tokenize_body(const nlohmann::json& body, const ApiLimits& limits,
                             const PromptBuilder& prompts, const tokenizer::Tokenizer& tokenizer);
nlohmann::json detokenize_body(const nlohmann::json& body, const ApiLimits& limits,
                               const tokenizer::Tokenizer& tokenizer);

// A fresh random id with the given prefix ("cmpl-", "chatcmpl-").
std::string random_id(const std::string& prefix);

}  // namespace tessera::server
