#include "tessera/request_json.h"

#include <cmath>
#include <limits>

#include "common/check.h"

namespace tessera::engine {

namespace {

using nlohmann::json;

template <class T>
bool read(const json& j, const char* key, T& out) {
  if (!j.contains(key) || j[key].is_null()) return false;
  const json& v = j[key];
  if constexpr (std::is_same_v<T, bool>) {
    TSR_CHECK_INPUT(v.is_boolean(), key, "'{}' must be a boolean", key);
  } else if constexpr (std::is_integral_v<T>) {
    static_assert(std::is_signed_v<T>);
    // A whole float (1.0, what some clients send for 1) counts as an integer. The checks
    // compare before converting: casting an out-of-range double to an integer is undefined.
    const bool whole =
        v.is_number_integer() || (v.is_number_float() && std::isfinite(v.get<double>()) &&
                                  std::trunc(v.get<double>()) == v.get<double>());
    TSR_CHECK_INPUT(whole, key, "'{}' must be an integer", key);
    bool in_range = false;
    if (v.is_number_unsigned()) {
      in_range = v.get<uint64_t>() <= static_cast<uint64_t>(std::numeric_limits<T>::max());
    } else if (v.is_number_integer()) {
      const auto value = v.get<int64_t>();
      in_range = value >= std::numeric_limits<T>::min() && value <= std::numeric_limits<T>::max();
    } else {
      // max() + 1 is a power of two, exact in a double, unlike max() itself for int64_t.
      const double value = v.get<double>();
      in_range = value >= static_cast<double>(std::numeric_limits<T>::min()) &&
                 value < static_cast<double>(std::numeric_limits<T>::max()) + 1.0;
    }
    TSR_CHECK_INPUT(in_range, key, "'{}' is out of range", key);
    out = v.is_number_float() ? static_cast<T>(v.get<double>()) : v.get<T>();
    return true;
  } else {
    TSR_CHECK_INPUT(v.is_number(), key, "'{}' must be a number", key);
  }
  out = v.get<T>();
  return true;
}

}  // namespace

SamplingParams sampling_params_from_json(const json& request, int default_max_tokens, bool chat) {
  TSR_CHECK(request.is_object(), "the request must be a JSON object");
  SamplingParams p;
  p.max_tokens = default_max_tokens;
  int64_t max_tokens = 0;
  if (read(request, "max_completion_tokens", max_tokens) ||
      read(request, "max_tokens", max_tokens)) {
    TSR_CHECK_INPUT(max_tokens >= 1 && max_tokens <= (1 << 24), "max_tokens",
                    "max_tokens must be between 1 and {}, got {}", 1 << 24, max_tokens);
    p.max_tokens = static_cast<int>(max_tokens);
  }
  read(request, "min_tokens", p.min_tokens);
  read(request, "temperature", p.temperature);
  read(request, "top_p", p.top_p);
  read(request, "top_k", p.top_k);
  read(request, "min_p", p.min_p);
  read(request, "presence_penalty", p.presence_penalty);
  read(request, "frequency_penalty", p.frequency_penalty);
  read(request, "repetition_penalty", p.repetition_penalty);
  read(request, "ignore_eos", p.ignore_eos);
  read(request, "skip_special_tokens", p.skip_special_tokens);
  read(request, "priority", p.priority);
  int64_t seed = 0;
  if (read(request, "seed", seed)) p.seed = static_cast<uint64_t>(seed);
  if (request.contains("stop") && !request["stop"].is_null()) {
    const json& stop = request["stop"];
    if (stop.is_string()) {
      p.stop.push_back(stop.get<std::string>());
    } else {
      TSR_CHECK_INPUT(stop.is_array(), "stop", "'stop' must be a string or a list of strings");
      for (const auto& s : stop) {
        TSR_CHECK_INPUT(s.is_string(), "stop", "'stop' must be a string or a list of strings");
        p.stop.push_back(s.get<std::string>());
      }
    }
  }
  if (request.contains("stop_token_ids") && !request["stop_token_ids"].is_null()) {
    TSR_CHECK_INPUT(request["stop_token_ids"].is_array(), "stop_token_ids",
                    "'stop_token_ids' must be a list of integers");
    for (const auto& id : request["stop_token_ids"]) {
      TSR_CHECK_INPUT(id.is_number_integer() && id.get<int64_t>() >= 0 &&
                          id.get<int64_t>() <= std::numeric_limits<int32_t>::max(),
                      "stop_token_ids", "'stop_token_ids' must be a list of token ids");
      p.stop_token_ids.push_back(id.get<int32_t>());
    }
  }
  if (chat) {
    bool logprobs = false;
    read(request, "logprobs", logprobs);
    int top = 0;
    read(request, "top_logprobs", top);
    TSR_CHECK_INPUT(top == 0 || logprobs, "top_logprobs",
                    "'top_logprobs' requires 'logprobs': true");
    if (logprobs) p.logprobs = top;
  } else {
    int logprobs = 0;
    if (read(request, "logprobs", logprobs)) p.logprobs = logprobs;
  }
  int prompt_logprobs = 0;
  if (read(request, "prompt_logprobs", prompt_logprobs)) p.prompt_logprobs = prompt_logprobs;
  return p;
}

}  // namespace tessera::engine
