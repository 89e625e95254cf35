#include "engine/output_processor.h"

#include <algorithm>

namespace tessera::engine {

namespace {

double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

FinishReason finish_reason_of(sched::FinishReason reason) {
  switch (reason) {
    case sched::FinishReason::kStop:
      return FinishReason::kStop;
    case sched::FinishReason::kLength:
      return FinishReason::kLength;
    case sched::FinishReason::kAbort:
      return FinishReason::kAbort;
    case sched::FinishReason::kNone:
      break;
  }
  return FinishReason::kNone;
}

}  // namespace

OutputRequest::OutputRequest(std::string request_id, std::shared_ptr<OutputChannel> out,
                             SamplingParams p, const tokenizer::Tokenizer& tokenizer,
                             std::vector<int32_t> prompt_ids, uint64_t request_seed)
    : id(std::move(request_id)),
      channel(std::move(out)),
      params(std::move(p)),
      decoder(std::make_unique<tokenizer::StreamingDecoder>(tokenizer, params.skip_special_tokens)),
      stops(params.stop),
      prompt(std::move(prompt_ids)),
      seed(request_seed),
      arrival(Clock::now()) {}

void OutputProcessor::add(std::unique_ptr<OutputRequest> request) {
  const std::string id = request->id;
  requests_[id] = std::move(request);
}

std::vector<std::string> OutputProcessor::ids() const {
  std::vector<std::string> out;
  out.reserve(requests_.size());
  for (const auto& [id, request] : requests_) out.push_back(id);
  return out;
}

void OutputProcessor::on_scheduled(const sched::SchedulerOutput& plan) {
  const auto now = Clock::now();
  for (const auto& sr : plan.scheduled) {
    auto it = requests_.find(sr.id);
    if (it == requests_.end() || it->second->scheduled_first != Clock::time_point{}) continue;
    OutputRequest& r = *it->second;
    r.scheduled_first = now;
    r.cached_tokens = sr.start_position;
    metrics_.update(
        [&](EngineMetrics& m) { m.request_queue_time.observe(seconds_between(r.arrival, now)); });
  }
}

OutputProcessor::Processed OutputProcessor::process(std::span<const sched::RequestUpdate> updates,
                                                    const StepOutput& output) {
  const auto now = Clock::now();
  const auto& rows = output.sampled;
  for (const auto& scored : output.prompt_logprobs) {
    auto it = requests_.find(scored.id);
    if (it == requests_.end()) continue;
    auto& gathered = it->second->prompt_logprobs;
    gathered.insert(gathered.end(), scored.entries.begin(), scored.entries.end());
  }
  Processed processed;
  size_t row = 0;
  for (const auto& update : updates) {
    while (row < rows.size() && rows[row].handle != update.handle) ++row;
    auto it = requests_.find(update.id);
    if (it == requests_.end()) continue;
    OutputRequest& r = *it->second;
    RequestOutput out = output_of(r, update, output.sample, row, rows.size(), now);
    const FinishReason reason = out.finish_reason;
    r.channel->push(std::move(out));
    if (reason == FinishReason::kNone) continue;
    processed.finished.push_back(update.id);
    if (update.finish_reason == sched::FinishReason::kNone) processed.stopped.push_back(update.id);
    requests_.erase(it);
  }
  return processed;
}

RequestOutput OutputProcessor::output_of(OutputRequest& r, const sched::RequestUpdate& update,
                                         const SampleResult& sampled, size_t row, size_t rows,
                                         Clock::time_point now) {
  const bool first = r.completion_tokens == 0;
  const double since = seconds_between(first ? r.arrival : r.last_token, now);
  r.last_token = now;
  ++r.completion_tokens;
  RequestOutput out;
  out.request_id = r.id;
  out.token_ids.push_back(update.token);
  if (first) out.prompt_logprobs = std::move(r.prompt_logprobs);
  if (r.params.logprobs && row < rows && !sampled.logprobs.empty()) {
    TokenLogprob lp;
    lp.token = update.token;
    lp.logprob = sampled.logprobs[row];
    const int n = *r.params.logprobs;
    const auto width = sampled.top_ids.size() / std::max<size_t>(rows, 1);
    for (int k = 0; k < n && static_cast<size_t>(k) < width; ++k) {
      lp.top.emplace_back(sampled.top_ids[row * width + static_cast<size_t>(k)],
                          sampled.top_logprobs[row * width + static_cast<size_t>(k)]);
    }
    out.logprobs.push_back(std::move(lp));
  }
  // A stop token is not part of the text (vLLM's default), but is in token_ids.
  const bool is_stop_token = update.finish_reason == sched::FinishReason::kStop;
  const std::string delta = is_stop_token ? std::string() : r.decoder->step(update.token);
  auto result = r.stops.feed(delta);
  out.text = std::move(result.emit);
  FinishReason reason = FinishReason::kNone;
  if (result.stopped) {
    reason = FinishReason::kStop;
  } else if (update.finish_reason != sched::FinishReason::kNone) {
    reason = finish_reason_of(update.finish_reason);
    out.text += r.stops.feed(r.decoder->finish()).emit;
    out.text += r.stops.flush();
  }
  out.prompt_tokens = static_cast<int>(r.prompt.size());
  out.completion_tokens = r.completion_tokens;
  out.cached_tokens = r.cached_tokens;
  out.finished = reason != FinishReason::kNone;
  out.finish_reason = reason;
  const double e2e = seconds_between(r.arrival, now);
  metrics_.update([&](EngineMetrics& m) {
    ++m.generation_tokens;
    (first ? m.time_to_first_token : m.inter_token_latency).observe(since);
    if (reason == FinishReason::kNone) return;
    m.e2e_request_latency.observe(e2e);
    if (reason == FinishReason::kStop) ++m.requests_finished_stop;
    if (reason == FinishReason::kLength) ++m.requests_finished_length;
  });
  return out;
}

bool OutputProcessor::finish(const std::string& id, FinishReason reason, const std::string& error) {
  auto it = requests_.find(id);
  if (it == requests_.end()) return false;
  RequestOutput out;
  out.request_id = id;
  out.finished = true;
  out.finish_reason = reason;
  out.error = error;
  out.prompt_tokens = static_cast<int>(it->second->prompt.size());
  out.completion_tokens = it->second->completion_tokens;
  if (reason == FinishReason::kError)
    metrics_.update([](EngineMetrics& m) { ++m.requests_failed; });
  it->second->channel->push(std::move(out));
  requests_.erase(it);
  return true;
}

}  // namespace tessera::engine
