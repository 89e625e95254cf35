#include "serve_bench.h"

#include <algorithm>
#include <limits>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <ctime>
#include <deque>
#include <fstream>
#include <mutex>
#include <numeric>
#include <random>
#include <thread>

#include <fmt/format.h>

#include "tessera/check.h"
#include "tessera/tokenizer.h"

namespace tessera::bench {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

int count_tokens(const tokenizer::Tokenizer& tok, const std::string& text) {
  return static_cast<int>(tok.encode(text, {false, true}).size());
}

double mean(const std::vector<double>& v) {
  return v.empty() ? 0.0 : std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
}

double stddev(const std::vector<double>& v) {  // numpy's default: population
  if (v.empty()) return 0.0;
  const double m = mean(v);
  double sum = 0;
  for (double x : v) sum += (x - m) * (x - m);
  return std::sqrt(sum / static_cast<double>(v.size()));
}

std::string percentile_word(double p) {
  return p == std::floor(p) ? std::to_string(static_cast<int>(p)) : fmt::format("{}", p);
}

}  // namespace

double percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0.0;
  std::sort(values.begin(), values.end());
  const double rank = p / 100.0 * static_cast<double>(values.size() - 1);
  const auto lo = static_cast<size_t>(std::floor(rank));
  const auto hi = std::min(lo + 1, values.size() - 1);
  return values[lo] + (values[hi] - values[lo]) * (rank - static_cast<double>(lo));
}

std::vector<BenchRequest> random_dataset(const tokenizer::Tokenizer& tok, int num_prompts,
                                         int input_len, int output_len, double range_ratio,
                                         uint64_t seed) {
  TSR_CHECK(num_prompts > 0, "--num-prompts must be positive");
  TSR_CHECK(input_len > 0 && output_len > 0,
            "--random-input-len and --random-output-len must be positive");
  TSR_CHECK(range_ratio >= 0 && range_ratio < 1, "--random-range-ratio must be in [0, 1)");
  std::vector<int32_t> vocab;
  for (int32_t id = 0; id < tok.vocab_size(); ++id) {
    if (!tok.is_special(id)) vocab.push_back(id);
  }
  TSR_CHECK(!vocab.empty(), "the tokenizer has no ordinary tokens");
  std::mt19937_64 rng(seed);
  auto lengths = [&](int len) {
    const int lo = std::max(1, static_cast<int>(len * (1 - range_ratio)));
    const int hi = std::max(lo, static_cast<int>(len * (1 + range_ratio)));
    return std::uniform_int_distribution<int>(lo, hi);
  };
  auto in_dist = lengths(input_len);
  auto out_dist = lengths(output_len);
  std::uniform_int_distribution<size_t> offset_dist(0, vocab.size() - 1);
  std::vector<BenchRequest> out;
  for (int i = 0; i < num_prompts; ++i) {
    BenchRequest r;
    r.prompt_len = in_dist(rng);
    r.output_len = out_dist(rng);
    const size_t offset = offset_dist(rng);
    std::vector<int32_t> ids;
    for (int j = 0; j < r.prompt_len; ++j) {
      ids.push_back(
          vocab[(offset + static_cast<size_t>(i) + static_cast<size_t>(j)) % vocab.size()]);
    }
    r.prompt = tok.decode(ids);
    out.push_back(std::move(r));
  }
  return out;
}

std::vector<BenchRequest> sharegpt_dataset(const std::string& path, const tokenizer::Tokenizer& tok,
                                           int num_prompts, int fixed_output_len, uint64_t seed) {
  TSR_CHECK(num_prompts > 0, "--num-prompts must be positive");
  std::ifstream in(path);
  TSR_CHECK(in.good(), "--dataset-path {}: cannot read", path);
  json data = json::parse(in, nullptr, false);
  TSR_CHECK(!data.is_discarded() && data.is_array(),
            "--dataset-path {}: not a ShareGPT JSON list of conversations", path);
  std::vector<std::pair<std::string, std::string>> pairs;
  for (const auto& entry : data) {
    if (!entry.is_object() || !entry.contains("conversations")) continue;
    const auto& conv = entry["conversations"];
    if (!conv.is_array() || conv.size() < 2) continue;
    if (!conv[0].contains("value") || !conv[1].contains("value")) continue;
    if (!conv[0]["value"].is_string() || !conv[1]["value"].is_string()) continue;
    pairs.emplace_back(conv[0]["value"].get<std::string>(), conv[1]["value"].get<std::string>());
  }
  std::mt19937_64 rng(seed);
  std::shuffle(pairs.begin(), pairs.end(), rng);
  std::vector<BenchRequest> out;
  for (const auto& [prompt, completion] : pairs) {
    if (static_cast<int>(out.size()) >= num_prompts) break;
    BenchRequest r;
    r.prompt = prompt;
    r.prompt_len = count_tokens(tok, prompt);
    r.output_len = fixed_output_len > 0 ? fixed_output_len : count_tokens(tok, completion);
    const bool too_short = r.prompt_len < 4 || (fixed_output_len <= 0 && r.output_len < 4);
    const bool too_long = r.prompt_len > 1024 || r.prompt_len + r.output_len > 2048;
    if (too_short || too_long) continue;
    out.push_back(std::move(r));
  }
  TSR_CHECK(!out.empty(), "--dataset-path {}: no usable conversation", path);
  return out;
}

json run_serve_bench(const ServeBenchOptions& o, const std::vector<BenchRequest>& requests) {
  TSR_CHECK(!requests.empty(), "no requests to send");
  TSR_CHECK(o.request_rate > 0, "--request-rate must be positive (or inf)");
  TSR_CHECK(o.burstiness > 0, "--burstiness must be positive");
  ServeClient client(parse_url(o.base_url), o.client_threads, o.api_key);
  std::string model = o.model;
  if (model.empty()) {
    const auto [status, body] = client.request("GET", "/v1/models");
    const json models = json::parse(body, nullptr, false);
    TSR_CHECK(status == 200 && !models.is_discarded() && models.contains("data") &&
                  !models["data"].empty(),
              "GET /v1/models failed (HTTP {}): {}", status, body);
    model = models["data"][0]["id"].get<std::string>();
  }
  auto body_of = [&](const BenchRequest& r) {
    return json{{"model", model},
                {"prompt", r.prompt},
                {"max_tokens", r.output_len},
                {"temperature", o.temperature},
                {"ignore_eos", o.ignore_eos},
                {"stream", true},
                {"stream_options", {{"include_usage", true}}}};
  };

  std::mutex mutex;
  std::condition_variable cv;
  {  // vLLM's initial single-prompt test run: fail fast on a wrong URL, model or endpoint.
    std::optional<StreamResult> test;
    client.stream(o.endpoint, body_of(requests.front()), [&](StreamResult r) {
      std::lock_guard lock(mutex);
      test = std::move(r);
      cv.notify_all();
    });
    std::unique_lock lock(mutex);
    cv.wait(lock, [&] { return test.has_value(); });
    TSR_CHECK(test->success, "initial test run failed: {}", test->error);
  }

  std::vector<StreamResult> results(requests.size());
  std::deque<size_t> pending;
  size_t in_flight = 0;
  size_t done = 0;
  std::function<void(size_t)> launch;  // called with the mutex held
  launch = [&](size_t i) {
    ++in_flight;
    client.stream(o.endpoint, body_of(requests[i]), [&, i](StreamResult r) {
      std::lock_guard lock(mutex);
      results[i] = std::move(r);
      --in_flight;
      ++done;
      if (!pending.empty()) {
        const size_t next = pending.front();
        pending.pop_front();
        launch(next);
      }
      cv.notify_all();
    });
  };
  std::mt19937_64 rng(o.seed);
  const bool paced = std::isfinite(o.request_rate);
  std::gamma_distribution<double> gap(o.burstiness,
                                      paced ? 1.0 / (o.request_rate * o.burstiness) : 1.0);
  const auto start = Clock::now();
  auto next_arrival = start;
  for (size_t i = 0; i < requests.size(); ++i) {
    std::this_thread::sleep_until(next_arrival);
    {
      std::lock_guard lock(mutex);
      if (o.max_concurrency > 0 && in_flight >= static_cast<size_t>(o.max_concurrency)) {
        pending.push_back(i);
      } else {
        launch(i);
      }
    }
    if (paced) {
      next_arrival +=
          std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(gap(rng)));
    }
  }
  {
    std::unique_lock lock(mutex);
    cv.wait(lock, [&] { return done == requests.size(); });
  }
  const double duration = std::chrono::duration<double>(Clock::now() - start).count();

  std::vector<double> ttfts, tpots, itls, e2els;
  json input_lens = json::array(), output_lens = json::array(), ttfts_json = json::array(),
       itls_json = json::array(), texts = json::array(), errors = json::array();
  int64_t total_input = 0;
  int64_t total_output = 0;
  int completed = 0;
  for (size_t i = 0; i < results.size(); ++i) {
    const auto& r = results[i];
    input_lens.push_back(requests[i].prompt_len);
    texts.push_back(r.generated_text);
    errors.push_back(r.error);
    ttfts_json.push_back(r.ttft);
    itls_json.push_back(r.itl);
    if (!r.success) {
      output_lens.push_back(0);
      continue;
    }
    const int out_len = r.output_tokens >= 0 ? r.output_tokens : static_cast<int>(r.itl.size()) + 1;
    output_lens.push_back(out_len);
    total_input += requests[i].prompt_len;
    total_output += out_len;
    if (out_len > 1) tpots.push_back((r.latency - r.ttft) / (out_len - 1));
    itls.insert(itls.end(), r.itl.begin(), r.itl.end());
    ttfts.push_back(r.ttft);
    e2els.push_back(r.latency);
    ++completed;
  }
  char date[32];
  const std::time_t now = std::time(nullptr);
  std::strftime(date, sizeof date, "%Y%m%d-%H%M%S", std::localtime(&now));
  json result = {
      {"date", date},
      {"backend", "openai"},
      {"endpoint", o.endpoint},
      {"base_url", o.base_url},
      {"model_id", model},
      {"dataset_name", o.dataset_name},
      {"num_prompts", requests.size()},
      {"request_rate", paced ? json(o.request_rate) : json("inf")},
      {"burstiness", o.burstiness},
      {"max_concurrency", o.max_concurrency > 0 ? json(o.max_concurrency) : json()},
      {"duration", duration},
      {"completed", completed},
      {"failed", static_cast<int>(requests.size()) - completed},
      {"total_input_tokens", total_input},
      {"total_output_tokens", total_output},
      {"request_throughput", completed / duration},
      {"output_throughput", static_cast<double>(total_output) / duration},
      {"total_token_throughput", static_cast<double>(total_input + total_output) / duration}};
  auto add_metric = [&](const std::string& name, const std::vector<double>& seconds) {
    result["mean_" + name + "_ms"] = mean(seconds) * 1000;
    result["median_" + name + "_ms"] = percentile(seconds, 50) * 1000;
    result["std_" + name + "_ms"] = stddev(seconds) * 1000;
    for (double p : o.percentiles) {
      result["p" + percentile_word(p) + "_" + name + "_ms"] = percentile(seconds, p) * 1000;
    }
  };
  add_metric("ttft", ttfts);
  add_metric("tpot", tpots);
  add_metric("itl", itls);
  add_metric("e2el", e2els);
  result["input_lens"] = input_lens;
  result["output_lens"] = output_lens;
  result["ttfts"] = ttfts_json;
  result["itls"] = itls_json;
  result["generated_texts"] = texts;
  result["errors"] = errors;
  return result;
}

std::string format_report(const json& r, const std::vector<double>& percentiles) {
  std::string out;
  auto line = [&](const std::string& label, const std::string& value) {
    out += fmt::format("{:<40} {:<10}\n", label, value);
  };
  auto num = [&](const char* key) { return fmt::format("{:.2f}", r[key].get<double>()); };
  auto title = [&](const std::string& text, char fill) {
    const int width = 50;
    const int pad = std::max(0, width - static_cast<int>(text.size()));
    out += std::string(static_cast<size_t>(pad / 2), fill) + text +
           std::string(static_cast<size_t>(pad - pad / 2), fill) + "\n";
  };
  title(" Serving Benchmark Result ", '=');
  line("Successful requests:", std::to_string(r["completed"].get<int>()));
  if (r["failed"].get<int>() > 0) line("Failed requests:", std::to_string(r["failed"].get<int>()));
  if (!r["max_concurrency"].is_null()) {
    line("Maximum request concurrency:", std::to_string(r["max_concurrency"].get<int>()));
  }
  line("Benchmark duration (s):", num("duration"));
  line("Total input tokens:", std::to_string(r["total_input_tokens"].get<int64_t>()));
  line("Total generated tokens:", std::to_string(r["total_output_tokens"].get<int64_t>()));
  line("Request throughput (req/s):", num("request_throughput"));
  line("Output token throughput (tok/s):", num("output_throughput"));
  line("Total Token throughput (tok/s):", num("total_token_throughput"));
  const struct {
    const char* key;
    const char* label;
    const char* header;
  } metrics[] = {{"ttft", "TTFT", "Time to First Token"},
                 {"tpot", "TPOT", "Time per Output Token (excl. 1st token)"},
                 {"itl", "ITL", "Inter-token Latency"},
                 {"e2el", "E2EL", "End-to-end Latency"}};
  for (const auto& m : metrics) {
    title(m.header, '-');
    line(fmt::format("Mean {} (ms):", m.label), num(fmt::format("mean_{}_ms", m.key).c_str()));
    line(fmt::format("Median {} (ms):", m.label), num(fmt::format("median_{}_ms", m.key).c_str()));
    for (double p : percentiles) {
      const auto word = percentile_word(p);
      line(fmt::format("P{} {} (ms):", word, m.label),
           num(fmt::format("p{}_{}_ms", word, m.key).c_str()));
    }
  }
  out += std::string(50, '=') + "\n";
  return out;
}

void warm_up_server(const ServeBenchOptions& options, const std::vector<BenchRequest>& requests,
                    size_t count) {
  ServeBenchOptions warm = options;
  warm.request_rate = std::numeric_limits<double>::infinity();
  warm.max_concurrency = 0;
  const size_t n = std::min(count, requests.size());
  run_serve_bench(warm, std::vector<BenchRequest>(requests.begin(),
                                                  requests.begin() + static_cast<ptrdiff_t>(n)));
}

}  // namespace tessera::bench
