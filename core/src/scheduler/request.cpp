// Request state and stop conditions.
#include "scheduler/request.h"

#include <algorithm>

namespace tessera::sched {

const char* to_string(RequestStatus status) {
  switch (status) {
    case RequestStatus::kWaiting:
      return "waiting";
    case RequestStatus::kRunning:
      return "running";
    case RequestStatus::kSwapped:
      return "swapped";
    case RequestStatus::kFinished:
      return "finished";
  }
  return "?";
}

const char* to_string(FinishReason reason) {
  switch (reason) {
    case FinishReason::kNone:
      return "";
    case FinishReason::kStop:
      return "stop";
    case FinishReason::kLength:
      return "length";
    case FinishReason::kAbort:
      return "abort";
  }
  return "?";
}

Request::Request(NewRequest s, std::uint64_t arrival)
    : spec(std::move(s)),
      token_ids(std::move(spec.prompt_token_ids)),
      arrival_seq(arrival),
      num_prompt_tokens_(static_cast<int>(token_ids.size())) {
  spec.prompt_token_ids.clear();
  // The whole history's room now, so that appending a sampled token never reallocates.
  token_ids.reserve(token_ids.size() + static_cast<std::size_t>(std::max(spec.max_tokens, 0)));
}

FinishReason Request::append_and_check_stop(TokenId token, int max_model_len) {
  token_ids.push_back(token);
  auto contains = [token](const std::vector<TokenId>& v) {
    return std::find(v.begin(), v.end(), token) != v.end();
  };
  if (num_output_tokens() >= spec.min_tokens) {
    if (!spec.ignore_eos && contains(spec.eos_token_ids)) return FinishReason::kStop;
    if (contains(spec.stop_token_ids)) return FinishReason::kStop;
  }
  if (num_tokens() >= max_model_len) return FinishReason::kLength;
  if (num_output_tokens() >= spec.max_tokens) return FinishReason::kLength;
  return FinishReason::kNone;
}

}  // namespace tessera::sched
