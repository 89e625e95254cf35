// Request state as the scheduler sees it: token history (prompt + generated), progress
// (num_computed_tokens), queue status and the few sampling fields that decide stopping.
// Sampling itself (temperature, top-p, …) is the engine's business and never reaches here.
//
// Ownership: the Scheduler owns every Request from add_request() until it finishes or is
// aborted; the engine reads them through Scheduler::find() and never keeps pointers across
// update()/abort() calls.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "kv/kv_cache_manager.h"

namespace tessera::sched {

using kv::BlockId;
using kv::RequestId;
using kv::TokenId;

// A request's dense index inside the core (scheduler slots, the runner's per-request state),
// so that the hot path indexes arrays instead of hashing string ids. Given at add_request();
// reused for a later request only after the plan that listed the old one as finished.
using RequestHandle = std::int32_t;
inline constexpr RequestHandle kNoHandle = -1;

// What the engine hands to Scheduler::add_request().
struct NewRequest {
  RequestId id;
  std::vector<TokenId> prompt_token_ids;
  int max_tokens = 16;  // generated tokens at most (the engine resolves "unset")
  int min_tokens = 0;   // eos and stop tokens are ignored before this many outputs
  bool ignore_eos = false;
  std::vector<TokenId> eos_token_ids;
  std::vector<TokenId> stop_token_ids;
  int priority = 0;                // priority policy: lower value first, then arrival
  bool skip_prefix_cache = false;  // computes its whole prompt (prompt logprobs)
};

enum class RequestStatus { kWaiting, kRunning, kSwapped, kFinished };

// kStop: eos, a stop token id, or a stop string the engine reported.
enum class FinishReason { kNone, kStop, kLength, kAbort };

const char* to_string(RequestStatus status);
// "stop", "length", "abort" as the OpenAI API names them; "" for kNone.
const char* to_string(FinishReason reason);

struct Request {
  Request(NewRequest spec, std::uint64_t arrival_seq);

  int num_prompt_tokens() const { return num_prompt_tokens_; }
  int num_tokens() const { return static_cast<int>(token_ids.size()); }
  int num_output_tokens() const { return num_tokens() - num_prompt_tokens_; }
  std::span<const TokenId> prompt_token_ids() const {
    return std::span<const TokenId>(token_ids).first(static_cast<std::size_t>(num_prompt_tokens_));
  }
  std::span<const TokenId> output_token_ids() const {
    return std::span<const TokenId>(token_ids).subspan(
        static_cast<std::size_t>(num_prompt_tokens_));
  }

  // Appends a sampled token and returns why the request stops now (kNone: it goes on).
  // Order as vLLM: eos (unless ignore_eos), stop token ids (both after min_tokens), then
  // max_model_len, then max_tokens.
  FinishReason append_and_check_stop(TokenId token, int max_model_len);

  NewRequest spec;                 // spec.prompt_token_ids is moved into token_ids
  std::vector<TokenId> token_ids;  // prompt then generated tokens
  std::uint64_t arrival_seq;       // order of add_request(); FCFS key and tie-breaker
  RequestHandle handle = kNoHandle;
  double arrival_time = 0;  // the scheduler's clock at add_request(), seconds
  RequestStatus status = RequestStatus::kWaiting;
  FinishReason finish_reason = FinishReason::kNone;
  int num_computed_tokens = 0;  // tokens whose KV is written (and kept)
  int num_preemptions = 0;
  // Set by a recompute preemption: the next admission must reserve the whole context.
  bool resume_whole_context = false;
  int computed_before_preemption = 0;
  // Leading entries of the block table the runner already holds for this request (the base
  // of the next plan's delta); 0 until first scheduled and after every preemption.
  int num_blocks_sent = 0;

 private:
  int num_prompt_tokens_;
};

}  // namespace tessera::sched
