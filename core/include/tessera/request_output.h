// What an Engine streams back for one request: one RequestOutput per step in which the
// request produced text (a delta), and a final one with finish_reason and usage. Read them
// from the request's OutputChannel.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace tessera {

// Why a request ended. kStop: an eos token, a stop token id or a stop string; kLength:
// max_tokens or the context; kAbort: aborted (a closed connection, the engine stopping);
// kError: the request failed (RequestOutput::error says why).
enum class FinishReason { kNone, kStop, kLength, kAbort, kError };

// The OpenAI API's names: "stop", "length", "abort", "error"; "" for kNone.
inline const char* to_string(FinishReason reason) {
  switch (reason) {
    case FinishReason::kStop:
      return "stop";
    case FinishReason::kLength:
      return "length";
    case FinishReason::kAbort:
      return "abort";
    case FinishReason::kError:
      return "error";
    case FinishReason::kNone:
      break;
  }
  return "";
}

struct TokenLogprob {
  int32_t token = 0;
  float logprob = 0.0f;
  std::vector<std::pair<int32_t, float>> top;  // best first
};

struct RequestOutput {
  std::string request_id;
  std::string text;                    // new text since the previous output
  std::vector<int32_t> token_ids;      // new tokens since the previous output
  std::vector<TokenLogprob> logprobs;  // one per new token, when asked
  // SamplingParams::prompt_logprobs: one per prompt token after the first (prompt[i + 1] at
  // index i), all in the request's first output; empty in the others.
  std::vector<TokenLogprob> prompt_logprobs;
  bool finished = false;
  FinishReason finish_reason = FinishReason::kNone;  // set on the final output
  std::string error;                                 // when finish_reason is kError
  int prompt_tokens = 0;
  int completion_tokens = 0;  // so far
  int cached_tokens = 0;      // prompt tokens served from the prefix cache
};

// A single-producer (engine thread), single-consumer queue of outputs. Thread-safe.
class OutputChannel {
 public:
  void push(RequestOutput output) {
    {
      std::lock_guard lock(mutex_);
      if (output.finished) closed_ = true;
      queue_.push_back(std::move(output));
    }
    ready_.notify_all();
  }
  // Blocks until an output is available; std::nullopt once the final output was taken.
  std::optional<RequestOutput> next() {
    std::unique_lock lock(mutex_);
    ready_.wait(lock, [&] { return !queue_.empty() || (closed_ && taken_final_); });
    return pop_locked();
  }
  // Waits at most `timeout`; std::nullopt on timeout or after the final output.
  std::optional<RequestOutput> next_for(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    ready_.wait_for(lock, timeout, [&] { return !queue_.empty(); });
    return pop_locked();
  }
  bool done() const {
    std::lock_guard lock(mutex_);
    return closed_ && queue_.empty();
  }

 private:
  std::optional<RequestOutput> pop_locked() {
    if (queue_.empty()) return std::nullopt;
    RequestOutput out = std::move(queue_.front());
    queue_.pop_front();
    if (out.finished) taken_final_ = true;
    return out;
  }

  mutable std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<RequestOutput> queue_;
  bool closed_ = false;
  bool taken_final_ = false;
};

}  // namespace tessera
