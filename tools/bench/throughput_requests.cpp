#include "throughput_requests.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numeric>

#include "tessera/check.h"
#include "tessera/tokenizer.h"

namespace tessera::bench {

std::vector<int32_t> random_token_ids(std::mt19937_64& rng, int length, int32_t vocab_size) {
  TSR_CHECK(vocab_size > 0, "vocabulary size must be positive");
  std::uniform_int_distribution<int32_t> token(0, vocab_size - 1);
  std::vector<int32_t> ids(static_cast<size_t>(std::max(length, 0)));
  for (auto& id : ids) id = token(rng);
  return ids;
}

std::vector<BenchRequest> random_dataset(int num_prompts, int input_len, int output_len,
                                         double range_ratio, uint64_t seed, int32_t vocab_size) {
  TSR_CHECK(num_prompts > 0, "--num-prompts must be positive (got {})", num_prompts);
  TSR_CHECK(input_len > 0, "--input-len must be positive (got {})", input_len);
  TSR_CHECK(output_len > 0, "--output-len must be positive (got {})", output_len);
  TSR_CHECK(range_ratio >= 0 && range_ratio < 1, "--random-range-ratio must be in [0, 1) (got {})",
            range_ratio);
  std::mt19937_64 rng(seed);
  // vLLM's bounds: floor(len * (1 - r)) .. ceil(len * (1 + r)), never below 1.
  auto draw = [&](int len) {
    const int low = std::max(1, static_cast<int>(std::floor(len * (1 - range_ratio))));
    const int high = std::max(low, static_cast<int>(std::ceil(len * (1 + range_ratio))));
    return std::uniform_int_distribution<int>(low, high)(rng);
  };
  std::vector<BenchRequest> requests;
  requests.reserve(static_cast<size_t>(num_prompts));
  for (int i = 0; i < num_prompts; ++i) {
    BenchRequest r;
    const int prompt_len = draw(input_len);
    r.output_len = draw(output_len);
    r.prompt = random_token_ids(rng, prompt_len, vocab_size);
    requests.push_back(std::move(r));
  }
  return requests;
}

namespace {

// The text of turn `index` of a ShareGPT entry, or nullopt when the entry has no such turn.
std::optional<std::string> turn_text(const nlohmann::json& entry, size_t index) {
  if (!entry.is_object()) return std::nullopt;
  const auto it = entry.find("conversations");
  if (it == entry.end() || !it->is_array() || it->size() <= index) return std::nullopt;
  const auto& turn = (*it)[index];
  if (!turn.is_object() || !turn.contains("value") || !turn["value"].is_string()) {
    return std::nullopt;
  }
  return turn["value"].get<std::string>();
}

}  // namespace

std::vector<BenchRequest> sharegpt_dataset(const std::string& path, int num_prompts,
                                           const tokenizer::Tokenizer& tokenizer,
                                           std::optional<int> fixed_output_len, uint64_t seed,
                                           const ShareGptLimits& limits) {
  TSR_CHECK(num_prompts > 0, "--num-prompts must be positive (got {})", num_prompts);
  TSR_CHECK(!fixed_output_len || *fixed_output_len > 0, "--output-len must be positive (got {})",
            fixed_output_len.value_or(0));
  std::ifstream in(path);
  TSR_CHECK(in.good(), "--dataset-path: cannot read {}", path);
  nlohmann::json data;
  try {
    data = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("--dataset-path {}: not valid JSON: {}", path, e.what()));
  }
  TSR_CHECK(data.is_array(), "--dataset-path {}: expected a JSON list of ShareGPT entries", path);

  std::vector<size_t> order(data.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::mt19937_64 rng(seed);
  std::shuffle(order.begin(), order.end(), rng);

  std::vector<BenchRequest> requests;
  size_t usable_entries = 0;
  tokenizer::EncodeOptions plain;
  plain.parse_special = false;  // conversation text is data, not markup
  for (size_t index : order) {
    if (static_cast<int>(requests.size()) == num_prompts) break;
    const auto prompt = turn_text(data[index], 0);
    const auto reply = turn_text(data[index], 1);
    if (!prompt || !reply) continue;
    ++usable_entries;
    BenchRequest r;
    try {
      r.prompt = tokenizer.encode(*prompt, plain);
      r.output_len = fixed_output_len ? *fixed_output_len
                                      : static_cast<int>(tokenizer.encode(*reply, plain).size());
    } catch (const Error&) {
      continue;  // text that is not valid UTF-8
    }
    const int prompt_len = static_cast<int>(r.prompt.size());
    if (prompt_len < limits.min_len || (!fixed_output_len && r.output_len < limits.min_len)) {
      continue;
    }
    if (prompt_len > limits.max_prompt_len || prompt_len + r.output_len > limits.max_total_len) {
      continue;
    }
    requests.push_back(std::move(r));
  }
  TSR_CHECK(static_cast<int>(requests.size()) == num_prompts,
            "--dataset-path {}: only {} of {} conversations with two turns fit the limits "
            "(prompt {}..{} tokens, prompt + output <= {}); {} were asked for (--num-prompts)",
            path, requests.size(), usable_entries, limits.min_len, limits.max_prompt_len,
            limits.max_total_len, num_prompts);
  return requests;
}

void drain(OutputChannel& channel, RequestRecord& record) {
  while (auto out = channel.next()) {
    if (!record.first_token && !out->token_ids.empty()) record.first_token = Clock::now();
    record.prompt_tokens = out->prompt_tokens;
    record.completion_tokens = out->completion_tokens;
    record.cached_tokens = out->cached_tokens;
    if (out->finished) {
      record.finished = Clock::now();
      record.finish_reason = to_string(out->finish_reason);
      record.error = out->error;
    }
  }
}

}  // namespace tessera::bench
