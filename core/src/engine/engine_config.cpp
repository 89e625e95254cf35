#include <cctype>
#include <cmath>

#include "common/check.h"
#include "model/canonical_weight.h"
#include "tessera/engine_config.h"
#include "tessera/sampling_params.h"

namespace tessera {

uint64_t parse_byte_size(const std::string& text) {
  size_t pos = 0;
  double value = 0;
  try {
    value = std::stod(text, &pos);
  } catch (const std::exception&) {
    throw Error(fmt::format("'{}' is not a size (e.g. 8GiB, 512MiB, 1073741824)", text));
  }
  std::string unit = text.substr(pos);
  while (!unit.empty() && std::isspace(static_cast<unsigned char>(unit.front()))) unit.erase(0, 1);
  for (auto& c : unit) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  double scale = 1;
  if (unit.empty() || unit == "b") {
    scale = 1;
  } else if (unit == "k" || unit == "kb" || unit == "kib") {
    scale = 1024.0;
  } else if (unit == "m" || unit == "mb" || unit == "mib") {
    scale = 1024.0 * 1024;
  } else if (unit == "g" || unit == "gb" || unit == "gib") {
    scale = 1024.0 * 1024 * 1024;
  } else if (unit == "t" || unit == "tb" || unit == "tib") {
    scale = 1024.0 * 1024 * 1024 * 1024;
  } else {
    throw Error(fmt::format("'{}': unknown size unit '{}' (B, KiB, MiB, GiB, TiB)", text, unit));
  }
  TSR_CHECK(value >= 0 && std::isfinite(value), "'{}' must be a non-negative size", text);
  return static_cast<uint64_t>(value * scale);
}

void SamplingParams::validate(int max_logprobs) const {
  TSR_CHECK_INPUT(max_tokens >= 1, "max_tokens", "max_tokens must be at least 1, got {}",
                  max_tokens);
  TSR_CHECK_INPUT(min_tokens >= 0 && min_tokens <= max_tokens, "min_tokens",
                  "min_tokens must be between 0 and max_tokens, got {}", min_tokens);
  TSR_CHECK_INPUT(std::isfinite(temperature) && temperature >= 0.0f, "temperature",
                  "temperature must be >= 0, got {}", temperature);
  TSR_CHECK_INPUT(std::isfinite(top_p) && top_p > 0.0f && top_p <= 1.0f, "top_p",
                  "top_p must be in (0, 1], got {}", top_p);
  TSR_CHECK_INPUT(top_k >= -1, "top_k", "top_k must be -1 (off), 0 (off) or positive, got {}",
                  top_k);
  TSR_CHECK_INPUT(std::isfinite(min_p) && min_p >= 0.0f && min_p <= 1.0f, "min_p",
                  "min_p must be in [0, 1], got {}", min_p);
  TSR_CHECK_INPUT(std::isfinite(repetition_penalty) && repetition_penalty > 0.0f,
                  "repetition_penalty", "repetition_penalty must be > 0, got {}",
                  repetition_penalty);
  TSR_CHECK_INPUT(
      std::isfinite(presence_penalty) && presence_penalty >= -2.0f && presence_penalty <= 2.0f,
      "presence_penalty", "presence_penalty must be in [-2, 2], got {}", presence_penalty);
  TSR_CHECK_INPUT(
      std::isfinite(frequency_penalty) && frequency_penalty >= -2.0f && frequency_penalty <= 2.0f,
      "frequency_penalty", "frequency_penalty must be in [-2, 2], got {}", frequency_penalty);
  TSR_CHECK_INPUT(!logprobs || (*logprobs >= 0 && *logprobs <= max_logprobs), "logprobs",
                  "logprobs must be between 0 and {}, got {}", max_logprobs, logprobs.value_or(0));
  TSR_CHECK_INPUT(!prompt_logprobs || (*prompt_logprobs >= 0 && *prompt_logprobs <= max_logprobs),
                  "prompt_logprobs", "prompt_logprobs must be between 0 and {}, got {}",
                  max_logprobs, prompt_logprobs.value_or(0));
  TSR_CHECK_INPUT(stop.size() <= 16, "stop", "at most 16 stop strings, got {}", stop.size());
  for (const auto& s : stop) {
    TSR_CHECK_INPUT(s.size() <= 256, "stop", "stop strings are limited to 256 bytes");
  }
}

bool is_quantization_name(const std::string& name) {
  try {
    model::parse_quantization(name);
    return true;
  } catch (const Error&) {
    return false;
  }
}

}  // namespace tessera
