#include "openai_api.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <random>
#include <set>

#include "api_error.h"
#include "tessera/check.h"
#include "tessera/request_json.h"
#include "tessera/validate_request.h"

namespace tessera::server {

namespace {

using nlohmann::json;

bool optional_bool(const json& body, const char* key, bool fallback) {
  if (!body.contains(key) || body[key].is_null()) return fallback;
  if (!body[key].is_boolean())
    throw bad_request(std::string("'") + key + "' must be a boolean", key);
  return body[key].get<bool>();
}

// prompt: a string, a list of token ids, or a list of either. texts[i]: prompt i as given,
// when it was a string.
std::vector<std::vector<int32_t>> completion_prompts(
    const json& body, const PromptBuilder& prompts,
    std::vector<std::optional<std::string>>& texts) {
  if (!body.contains("prompt") || body["prompt"].is_null()) {
    throw bad_request("'prompt' is required", "prompt");
  }
  const bool add_special = optional_bool(body, "add_special_tokens", true);
  auto token_list = [&](const json& list) {
    std::vector<int32_t> ids;
    for (const auto& id : list) {
      if (!id.is_number_integer()) {
        throw bad_request("'prompt' token ids must be integers", "prompt");
      }
      // The vocabulary range is validate_request's check; here only what fits an int32.
      const auto value = id.get<int64_t>();
      if (value < std::numeric_limits<int32_t>::min() ||
          value > std::numeric_limits<int32_t>::max()) {
        throw bad_request("prompt token id " + std::to_string(value) + " is out of range",
                          "prompt");
      }
      ids.push_back(static_cast<int32_t>(value));
    }
    return ids;
  };
  const json& prompt = body["prompt"];
  std::vector<std::vector<int32_t>> out;
  if (prompt.is_string()) {
    out.push_back(prompts.encode_text(prompt.get<std::string>(), add_special));
    texts.emplace_back(prompt.get<std::string>());
  } else if (prompt.is_array() && !prompt.empty() && prompt[0].is_number()) {
    out.push_back(token_list(prompt));
    texts.emplace_back();
  } else if (prompt.is_array() && !prompt.empty()) {
    for (const auto& item : prompt) {
      if (item.is_string()) {
        out.push_back(prompts.encode_text(item.get<std::string>(), add_special));
        texts.emplace_back(item.get<std::string>());
      } else if (item.is_array()) {
        out.push_back(token_list(item));
        texts.emplace_back();
      } else {
        throw bad_request("'prompt' must be a string, a list of token ids, or a list of either",
                          "prompt");
      }
    }
  } else {
    throw bad_request("'prompt' must be a non-empty string, list of token ids, or list of either",
                      "prompt");
  }
  return out;  // an empty prompt is validate_request's to refuse
}

float clamp_logprob(float value) {
  return std::isfinite(value) ? value : -9999.0f;  // as vLLM: JSON has no -inf
}

json token_bytes(const std::string& text) {
  json bytes = json::array();
  for (unsigned char c : text) bytes.push_back(static_cast<int>(c));
  return bytes;
}

// Appends one token to the legacy completions logprobs lists; returns its text's length.
size_t append_legacy_logprob(const tokenizer::Tokenizer& tokenizer, const TokenLogprob& lp,
                             json& tokens, json& token_logprobs, json& top_logprobs) {
  const auto token = tokenizer.decode(std::vector<int32_t>{lp.token});
  tokens.push_back(token);
  token_logprobs.push_back(clamp_logprob(lp.logprob));
  json top = json::object();
  for (const auto& [id, value] : lp.top) {
    top[tokenizer.decode(std::vector<int32_t>{id})] = clamp_logprob(value);
  }
  top_logprobs.push_back(std::move(top));
  return token.size();
}

// Sets r.echo and r.prompt_only; returns the body the sampling fields are read from.
// lm-evaluation-harness scores a text with echo, logprobs and max_tokens 0: the engine
// generates one token anyway (max_tokens >= 1 there), and the response leaves it out, so a
// prompt-only body is read as max_tokens 1 (a copy in `storage`).
const json& echo_fields(const json& body, bool chat, GenerationRequest& r, json& storage) {
  r.echo = optional_bool(body, "echo", false);
  if (r.echo && chat) throw bad_request("'echo' is only supported by /v1/completions", "echo");
  if (!r.echo || !body.contains("max_tokens") || !body["max_tokens"].is_number() ||
      body["max_tokens"].get<double>() != 0.0) {
    return body;
  }
  r.prompt_only = true;
  storage = body;
  storage["max_tokens"] = 1;
  return storage;
}

}  // namespace

std::string dump_json(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string sse_event(const json& data) {
  return "data: " + dump_json(data) + "\n\n";
}

std::string random_id(const std::string& prefix) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id = prefix;
  for (int i = 0; i < 32; ++i) id.push_back(kHex[rng() & 15]);
  return id;
}

void check_model_name(const json& body, const ApiLimits& limits) {
  if (!body.contains("model") || body["model"].is_null()) return;
  if (!body["model"].is_string()) throw bad_request("'model' must be a string", "model");
  const auto name = body["model"].get<std::string>();
  const auto& names = limits.served_model_names;
  if (std::find(names.begin(), names.end(), name) == names.end()) {
    throw ApiError(404, "The model '" + name + "' does not exist.", "model",
                   "invalid_request_error", "model_not_found");
  }
}

GenerationRequest parse_generation_request(const json& body, bool chat, const ApiLimits& limits,
                                           const PromptBuilder& prompts) {
  if (!body.is_object()) throw bad_request("the request body must be a JSON object");
  check_model_name(body, limits);
  GenerationRequest r;
  r.chat = chat;
  r.model = limits.served_model_names.front();
  r.id = random_id(chat ? "chatcmpl-" : "cmpl-");
  r.created = std::chrono::duration_cast<std::chrono::seconds>(
                  std::chrono::system_clock::now().time_since_epoch())
                  .count();
  r.stream = optional_bool(body, "stream", false);
  if (chat) r.parsing = chat_parsing_for(body, limits.chat_parsing);
  if (body.contains("stream_options") && !body["stream_options"].is_null()) {
    const auto& so = body["stream_options"];
    if (!so.is_object()) throw bad_request("'stream_options' must be an object", "stream_options");
    if (!r.stream) {
      throw bad_request("'stream_options' is only allowed when 'stream' is true", "stream_options");
    }
    r.include_usage = optional_bool(so, "include_usage", false);
  }
  if (body.contains("user") && !body["user"].is_null() && !body["user"].is_string()) {
    throw bad_request("'user' must be a string", "user");
  }
  json prompt_only_body;
  const json& fields = echo_fields(body, chat, r, prompt_only_body);
  if (body.contains("suffix") && !body["suffix"].is_null()) {
    throw bad_request("'suffix' is not supported", "suffix");
  }
  if (body.contains("best_of") && !body["best_of"].is_null() &&
      !(body["best_of"].is_number_integer() && body["best_of"].get<int64_t>() == 1)) {
    throw bad_request("'best_of' other than 1 is not supported", "best_of");
  }
  int n = 1;
  if (body.contains("n") && !body["n"].is_null()) {
    if (!body["n"].is_number_integer()) throw bad_request("'n' must be an integer", "n");
    const auto value = body["n"].get<int64_t>();
    if (value < 1 || value > limits.max_n) {
      throw bad_request("'n' must be between 1 and " + std::to_string(limits.max_n) + ", got " +
                            std::to_string(value),
                        "n");
    }
    n = static_cast<int>(value);
  }

  SamplingParams base;
  try {
    base = engine::sampling_params_from_json(fields, 0, chat);
    if (base.max_tokens == 0) base.max_tokens = 1;  // placeholder, replaced per prompt below
    r.want_prompt_logprobs = base.prompt_logprobs.has_value();
    // vLLM's echo: the prompt's logprobs come with the same number of alternatives.
    if (r.echo && base.logprobs && !base.prompt_logprobs) base.prompt_logprobs = base.logprobs;
    base.validate(limits.max_logprobs);
  } catch (const Error& e) {
    throw api_error_of(e);
  }
  const bool max_tokens_given =
      (body.contains("max_tokens") && !body["max_tokens"].is_null()) ||
      (body.contains("max_completion_tokens") && !body["max_completion_tokens"].is_null());
  r.want_logprobs = base.logprobs.has_value();

  std::vector<std::vector<int32_t>> prompt_ids;
  std::vector<std::optional<std::string>> prompt_texts;
  if (chat) {
    prompt_ids.push_back(prompts.encode_chat(body).ids);
    prompt_texts.emplace_back();
  } else {
    prompt_ids = completion_prompts(body, prompts, prompt_texts);
  }
  r.num_prompts = prompt_ids.size();
  if (static_cast<int64_t>(prompt_ids.size()) * n > limits.max_choices) {
    throw bad_request("prompts × n = " + std::to_string(prompt_ids.size() * n) +
                          " exceeds the limit of " + std::to_string(limits.max_choices),
                      "n");
  }
  RequestLimits request_limits;
  request_limits.max_model_len = limits.max_model_len;
  request_limits.kv_tokens = limits.kv_tokens;
  request_limits.vocab_size = limits.vocab_size;
  request_limits.max_logprobs = limits.max_logprobs;
  request_limits.prompt_logprobs_supported = limits.prompt_logprobs_supported;
  const int64_t context = request_limits.context();
  for (size_t prompt = 0; prompt < prompt_ids.size(); ++prompt) {
    const auto& ids = prompt_ids[prompt];
    const auto len = static_cast<int64_t>(ids.size());
    SamplingParams params = base;
    if (!max_tokens_given) {
      // vLLM's default: what the context leaves (at least 1, so that a prompt that fills the
      // context is refused by validate_request as too long).
      int64_t budget = std::max<int64_t>(1, context - len);
      if (limits.default_max_tokens > 0)
        budget = std::min<int64_t>(budget, limits.default_max_tokens);
      params.max_tokens = static_cast<int>(budget);
    }
    params.min_tokens = std::min(params.min_tokens, params.max_tokens);
    try {
      validate_request(ids, params, request_limits);
    } catch (const Error& e) {
      // The chat API's prompt is its messages.
      throw api_error_of(e, chat && e.field() == "prompt" ? "messages" : e.field());
    }
    for (int i = 0; i < n; ++i) {
      ChoiceRequest choice;
      choice.prompt = ids;
      choice.prompt_text = prompt_texts[prompt];
      choice.params = params;
      if (params.seed) choice.params.seed = *params.seed + static_cast<uint64_t>(i);
      r.choices.push_back(std::move(choice));
    }
  }
  return r;
}

ResponseFormatter::ResponseFormatter(const GenerationRequest& request,
                                     const tokenizer::Tokenizer& tokenizer)
    : request_(request), tokenizer_(tokenizer), choices_(request.choices.size()) {
  if (request.stream && request.parsing.any()) {
    for (auto& c : choices_) c.parser = std::make_shared<ChatOutputStream>(request.parsing);
  }
}

json ResponseFormatter::chunk_base() const {
  json chunk = {{"id", request_.id},
                {"object", request_.chat ? "chat.completion.chunk" : "text_completion"},
                {"created", request_.created},
                {"model", request_.model}};
  return chunk;
}

json ResponseFormatter::usage() const {
  int prompt = 0;
  int completion = 0;
  const size_t n = request_.num_prompts ? choices_.size() / request_.num_prompts : 1;
  for (size_t i = 0; i < choices_.size(); ++i) {
    if (i % n == 0) prompt += static_cast<int>(request_.choices[i].prompt.size());
    completion += choices_[i].completion_tokens;
  }
  return {{"prompt_tokens", prompt},
          {"total_tokens", prompt + completion},
          {"completion_tokens", completion},
          {"prompt_tokens_details", nullptr}};
}

json ResponseFormatter::logprobs_json(const std::vector<TokenLogprob>& logprobs,
                                      const std::vector<size_t>& offsets) const {
  if (!request_.want_logprobs) return nullptr;
  if (request_.chat) {
    json content = json::array();
    for (const auto& lp : logprobs) {
      const auto token = tokenizer_.decode(std::vector<int32_t>{lp.token});
      json top = json::array();
      for (const auto& [id, value] : lp.top) {
        const auto alt = tokenizer_.decode(std::vector<int32_t>{id});
        top.push_back(
            {{"token", alt}, {"logprob", clamp_logprob(value)}, {"bytes", token_bytes(alt)}});
      }
      content.push_back({{"token", token},
                         {"logprob", clamp_logprob(lp.logprob)},
                         {"bytes", token_bytes(token)},
                         {"top_logprobs", top}});
    }
    return {{"content", content}};
  }
  json tokens = json::array();
  json token_logprobs = json::array();
  json top_logprobs = json::array();
  for (const auto& lp : logprobs) {
    append_legacy_logprob(tokenizer_, lp, tokens, token_logprobs, top_logprobs);
  }
  return {{"text_offset", offsets},
          {"token_logprobs", token_logprobs},
          {"tokens", tokens},
          {"top_logprobs", top_logprobs}};
}

std::string ResponseFormatter::echo_text(size_t index) const {
  const ChoiceRequest& choice = request_.choices.at(index);
  return choice.prompt_text ? *choice.prompt_text : tokenizer_.decode(choice.prompt);
}

json ResponseFormatter::echo_logprobs_json(size_t index, const std::vector<TokenLogprob>& generated,
                                           const std::vector<size_t>& offsets) const {
  const auto& prompt = request_.choices.at(index).prompt;
  const auto& scored = choices_.at(index).prompt_logprobs;  // prompt[i + 1] at i
  json tokens = json::array();
  json token_logprobs = json::array();
  json top_logprobs = json::array();
  json text_offset = json::array();
  size_t offset = 0;
  for (size_t i = 0; i < prompt.size(); ++i) {
    text_offset.push_back(offset);
    if (i == 0 || i > scored.size()) {  // the first token has no logprob (OpenAI: null)
      const auto token = tokenizer_.decode(std::vector<int32_t>{prompt[i]});
      offset += token.size();
      tokens.push_back(token);
      token_logprobs.push_back(nullptr);
      top_logprobs.push_back(nullptr);
      continue;
    }
    offset +=
        append_legacy_logprob(tokenizer_, scored[i - 1], tokens, token_logprobs, top_logprobs);
  }
  for (size_t k = 0; k < generated.size(); ++k) {
    text_offset.push_back(offsets.at(k));
    append_legacy_logprob(tokenizer_, generated[k], tokens, token_logprobs, top_logprobs);
  }
  return {{"text_offset", text_offset},
          {"token_logprobs", token_logprobs},
          {"tokens", tokens},
          {"top_logprobs", top_logprobs}};
}

// vLLM's shape: null for the first prompt token, then {"<id>": {"logprob", "decoded_token"}}
// holding the prompt token and its top alternatives.
json ResponseFormatter::prompt_logprobs_json(size_t index) const {
  json list = json::array({nullptr});
  for (const auto& lp : choices_.at(index).prompt_logprobs) {
    json entry = json::object();
    auto add = [&](int32_t id, float value) {
      entry[std::to_string(id)] = {{"logprob", clamp_logprob(value)},
                                   {"decoded_token", tokenizer_.decode(std::vector<int32_t>{id})}};
    };
    add(lp.token, lp.logprob);
    for (const auto& [id, value] : lp.top) add(id, value);
    list.push_back(std::move(entry));
  }
  return list;
}

RequestOutput ResponseFormatter::visible(const RequestOutput& output) const {
  RequestOutput out = output;
  out.text.clear();
  out.token_ids.clear();
  out.logprobs.clear();
  out.completion_tokens = 0;
  return out;
}

void ResponseFormatter::record(size_t index, const RequestOutput& output) {
  Choice& c = choices_.at(index);
  c.prompt_tokens = output.prompt_tokens;
  c.completion_tokens = output.completion_tokens;
  if (output.finished && !c.finished) {
    c.finished = true;
    c.finish_reason = output.finish_reason;
    ++num_finished_;
    if (output.finish_reason == FinishReason::kError && error_.empty()) {
      error_ = output.error.empty() ? "the engine failed this request" : output.error;
    }
  }
}

std::string ResponseFormatter::stream_start() const {
  if (!request_.chat) return "";
  std::string events;
  for (size_t i = 0; i < choices_.size(); ++i) {
    json chunk = chunk_base();
    chunk["choices"] = json::array({{{"index", i},
                                     {"delta", {{"role", "assistant"}, {"content", ""}}},
                                     {"logprobs", nullptr},
                                     {"finish_reason", nullptr}}});
    if (request_.include_usage) chunk["usage"] = nullptr;
    events += sse_event(chunk);
  }
  return events;
}

std::string ResponseFormatter::stream_output(size_t index, const RequestOutput& engine_output) {
  RequestOutput hidden;
  if (request_.prompt_only) hidden = visible(engine_output);
  const RequestOutput& output = request_.prompt_only ? hidden : engine_output;
  Choice& c = choices_.at(index);
  record(index, output);
  if (!output.prompt_logprobs.empty()) c.prompt_logprobs = output.prompt_logprobs;
  // Echo: the prompt goes out in the choice's first chunk.
  const bool echo_now = request_.echo && !c.echoed && output.finish_reason != FinishReason::kError;
  const bool send_prompt_logprobs =
      request_.want_prompt_logprobs && !output.prompt_logprobs.empty();
  if (output.text.empty() && output.logprobs.empty() && !output.finished && !echo_now &&
      !send_prompt_logprobs) {
    return "";
  }
  if (output.finish_reason == FinishReason::kError) {
    return sse_event(
        {{"error",
          {{"message", error_}, {"type", "internal_error"}, {"param", nullptr}, {"code", 500}}}});
  }
  json choice = {{"index", index}};
  if (c.parser) {
    choice["delta"] = c.parser->delta(output.text, output.finished);
    if (choice["delta"].empty() && output.logprobs.empty() && !output.finished) return "";
  } else if (request_.chat) {
    choice["delta"] =
        output.text.empty() && output.finished ? json::object() : json{{"content", output.text}};
  } else {
    choice["text"] = echo_now ? echo_text(index) + output.text : output.text;
  }
  if (echo_now) {
    c.echoed = true;
    c.text = echo_text(index);
  }
  const std::vector<size_t> offsets(output.logprobs.size(), c.text.size());
  choice["logprobs"] = echo_now && request_.want_logprobs
                           ? echo_logprobs_json(index, output.logprobs, offsets)
                           : logprobs_json(output.logprobs, offsets);
  if (send_prompt_logprobs) choice["prompt_logprobs"] = prompt_logprobs_json(index);
  c.text += output.text;
  // As vLLM: a choice that called tools and stopped on its own ends with "tool_calls".
  const bool tool_stop =
      c.parser && c.parser->called_tools() && output.finish_reason == FinishReason::kStop;
  choice["finish_reason"] =
      output.finished ? json(tool_stop ? "tool_calls" : to_string(output.finish_reason)) : json();
  if (!request_.chat) choice["stop_reason"] = nullptr;
  json chunk = chunk_base();
  chunk["choices"] = json::array({choice});
  if (request_.include_usage) chunk["usage"] = nullptr;
  return sse_event(chunk);
}

std::string ResponseFormatter::stream_end() const {
  std::string events;
  if (request_.include_usage) {
    json chunk = chunk_base();
    chunk["choices"] = json::array();
    chunk["usage"] = usage();
    events += sse_event(chunk);
  }
  events += "data: [DONE]\n\n";
  return events;
}

void ResponseFormatter::add_output(size_t index, const RequestOutput& engine_output) {
  RequestOutput hidden;
  if (request_.prompt_only) hidden = visible(engine_output);
  const RequestOutput& output = request_.prompt_only ? hidden : engine_output;
  Choice& c = choices_.at(index);
  if (!output.prompt_logprobs.empty()) c.prompt_logprobs = output.prompt_logprobs;
  c.offsets.insert(c.offsets.end(), output.logprobs.size(), c.text.size());
  c.text += output.text;
  c.logprobs.insert(c.logprobs.end(), output.logprobs.begin(), output.logprobs.end());
  record(index, output);
}

json ResponseFormatter::body() const {
  json choices = json::array();
  for (size_t i = 0; i < choices_.size(); ++i) {
    const Choice& c = choices_[i];
    json choice = {{"index", i}};
    bool called_tools = false;
    if (request_.chat && request_.parsing.any()) {
      choice["message"] = chat_message(request_.parsing, c.text, &called_tools);
    } else if (request_.chat) {
      choice["message"] = {{"role", "assistant"}, {"content", c.text}};
    } else {
      choice["text"] = request_.echo ? echo_text(i) + c.text : c.text;
    }
    if (request_.echo && request_.want_logprobs) {
      const size_t shift = echo_text(i).size();
      std::vector<size_t> offsets = c.offsets;
      for (auto& offset : offsets) offset += shift;
      choice["logprobs"] = echo_logprobs_json(i, c.logprobs, offsets);
    } else {
      choice["logprobs"] = logprobs_json(c.logprobs, c.offsets);
    }
    if (request_.want_prompt_logprobs) choice["prompt_logprobs"] = prompt_logprobs_json(i);
    choice["finish_reason"] = called_tools && c.finish_reason == FinishReason::kStop
                                  ? std::string("tool_calls")
                                  : std::string(to_string(c.finish_reason));
    if (!request_.chat) choice["stop_reason"] = nullptr;
    choices.push_back(std::move(choice));
  }
  json out = {{"id", request_.id},
              {"object", request_.chat ? "chat.completion" : "text_completion"},
              {"created", request_.created},
              {"model", request_.model},
              {"choices", choices},
              {"usage", usage()}};
  return out;
}

json models_body(const ApiLimits& limits, int64_t created) {
  json data = json::array();
  for (const auto& name : limits.served_model_names) {
    data.push_back({{"id", name},
                    {"object", "model"},
                    {"created", created},
                    {"owned_by", "tessera"},
                    {"root", limits.served_model_names.front()},
                    {"parent", nullptr},
                    {"max_model_len", limits.max_model_len},
                    {"permission", json::array()}});
  }
  return {{"object", "list"}, {"data", data}};
}

json tokenize_body(const json& body, const ApiLimits& limits, const PromptBuilder& prompts,
                   const tokenizer::Tokenizer& tokenizer) {
  if (!body.is_object()) throw bad_request("the request body must be a JSON object");
  check_model_name(body, limits);
  std::vector<int32_t> ids;
  if (body.contains("messages")) {
    ids = prompts.encode_chat(body).ids;
  } else if (body.contains("prompt") && body["prompt"].is_string()) {
    ids = prompts.encode_text(body["prompt"].get<std::string>(),
                              optional_bool(body, "add_special_tokens", true));
  } else {
    throw bad_request("give 'prompt' (a string) or 'messages'", "prompt");
  }
  json out = {{"count", ids.size()}, {"max_model_len", limits.max_model_len}, {"tokens", ids}};
  if (optional_bool(body, "return_token_strs", false)) {
    json strs = json::array();
    for (int32_t id : ids) strs.push_back(tokenizer.token_text(id));
    out["token_strs"] = strs;
  } else {
    out["token_strs"] = nullptr;
  }
  return out;
}

json detokenize_body(const json& body, const ApiLimits& limits,
                     const tokenizer::Tokenizer& tokenizer) {
  if (!body.is_object()) throw bad_request("the request body must be a JSON object");
  check_model_name(body, limits);
  if (!body.contains("tokens") || !body["tokens"].is_array()) {
    throw bad_request("'tokens' must be a list of token ids", "tokens");
  }
  std::vector<int32_t> ids;
  for (const auto& id : body["tokens"]) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0 ||
        id.get<int64_t>() >= limits.vocab_size) {
      throw bad_request("'tokens' must be token ids in 0.." + std::to_string(limits.vocab_size - 1),
                        "tokens");
    }
    ids.push_back(id.get<int32_t>());
  }
  return {{"prompt", tokenizer.decode(ids)}};
}

}  // namespace tessera::server
