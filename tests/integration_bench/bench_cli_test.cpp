// `tessera bench latency` and `tessera bench throughput` run as real processes on the tiny
// Qwen3 model (CPU plugin): the --json output has every field with sane values, results are
// saved where asked, and bad flags give one clear error with exit code 2.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

namespace {

struct Result {
  int code = -1;
  std::string out;
  std::string err;
};

Result run(const std::string& args) {
  const std::string err_file = std::filesystem::temp_directory_path() /
                               ("tessera-bench-cli-test-" + std::to_string(getpid()) + ".err");
  const std::string command =
      "'" + std::string(TESSERA_CLI) + "' " + args + " 2>'" + err_file + "'";
  Result result;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return result;
  std::array<char, 4096> chunk;
  size_t n;
  while ((n = fread(chunk.data(), 1, chunk.size(), pipe)) > 0) result.out.append(chunk.data(), n);
  const int status = pclose(pipe);
  result.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream err(err_file);
  std::stringstream buffer;
  buffer << err.rdbuf();
  result.err = buffer.str();
  std::filesystem::remove(err_file);
  return result;
}

const std::string kModel = std::string(TESSERA_TINY_MODELS_DIR) + "/qwen3";
const std::string kEngineFlags = "--model '" + kModel +
                                 "' --device cpu --max-model-len 128 --kv-cache-memory 16MiB "
                                 "--swap-space 0.01";

nlohmann::json parse(const Result& r) {
  try {
    return nlohmann::json::parse(r.out);
  } catch (const nlohmann::json::exception& e) {
    ADD_FAILURE() << "not JSON: " << e.what() << "\nstdout:\n" << r.out << "\nstderr:\n" << r.err;
    return {};
  }
}

TEST(BenchCli, HelpListsTheBenchmarks) {
  const Result r = run("bench --help");
  EXPECT_EQ(r.code, 0);
  for (const char* name : {"latency", "throughput", "serve"}) {
    EXPECT_NE(r.out.find(name), std::string::npos) << r.out;
  }
  const Result latency = run("bench latency --help");
  EXPECT_EQ(latency.code, 0);
  EXPECT_NE(latency.out.find("--num-iters-warmup"), std::string::npos);
  EXPECT_NE(latency.out.find("--max-num-seqs"), std::string::npos);  // engine flags
}

TEST(BenchCli, LatencyJson) {
  const std::string saved = std::filesystem::temp_directory_path() /
                            ("tessera-bench-latency-" + std::to_string(getpid()) + ".json");
  const Result r = run("bench latency " + kEngineFlags +
                       " --input-len 8 --output-len 4 --batch-size 2 --num-iters 2"
                       " --num-iters-warmup 1 --bandwidth-mib 8 --json --output-json '" +
                       saved + "'");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = parse(r);
  EXPECT_EQ(j["benchmark"], "latency");
  EXPECT_EQ(j["input_len"], 8);
  EXPECT_EQ(j["output_len"], 4);
  EXPECT_GT(j["model"]["weight_bytes_per_token"].get<double>(), 0);
  EXPECT_EQ(j["bandwidth"]["method"], "host-stream");
  EXPECT_EQ(j["bandwidth"]["array_bytes"], 8 << 20);
  EXPECT_GT(j["bandwidth"]["triad_gbps"].get<double>(), 0);
  EXPECT_GT(j["bandwidth"]["copy_gbps"].get<double>(), 0);
  ASSERT_EQ(j["runs"].size(), 2u);
  EXPECT_EQ(j["runs"][0]["batch_size"], 1);
  EXPECT_EQ(j["runs"][1]["batch_size"], 2);
  for (const auto& run : j["runs"]) {
    EXPECT_EQ(run["prefill_s"].size(), 2u);
    for (const char* key : {"prefill_tok_s", "decode_tok_s", "decode_ms_per_token",
                            "roofline_tok_s", "roofline_fraction"}) {
      EXPECT_GT(run[key].get<double>(), 0) << key;
    }
  }
  std::ifstream in(saved);
  ASSERT_TRUE(in.good());
  EXPECT_EQ(nlohmann::json::parse(in), j);
  std::filesystem::remove(saved);
}

TEST(BenchCli, LatencyTable) {
  const Result r = run("bench latency " + kEngineFlags +
                       " --input-len 4 --output-len 2 --num-iters 1 --num-iters-warmup 0"
                       " --bandwidth-mib 4");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("Bandwidth:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("% roofline"), std::string::npos) << r.out;
}

TEST(BenchCli, ThroughputJson) {
  const std::string saved = std::filesystem::temp_directory_path() /
                            ("tessera-bench-throughput-" + std::to_string(getpid()) + ".json");
  const Result r = run("bench throughput " + kEngineFlags +
                       " --num-prompts 6 --input-len 10 --output-len 5 --random-range-ratio 0.3"
                       " --max-concurrency 2 --seed 4 --json --save-result '" +
                       saved + "'");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = parse(r);
  EXPECT_EQ(j["benchmark"], "throughput");
  EXPECT_EQ(j["num_requests"], 6);
  EXPECT_EQ(j["completed"], 6);
  EXPECT_EQ(j["failed"], 0);
  EXPECT_EQ(j["max_concurrency"], 2);
  EXPECT_EQ(j["output_tokens"], j["expected_output_tokens"]);
  EXPECT_EQ(j["total_num_tokens"].get<uint64_t>(),
            j["prompt_tokens"].get<uint64_t>() + j["output_tokens"].get<uint64_t>());
  for (const char* key :
       {"requests_per_second", "tokens_per_second", "output_tokens_per_second", "elapsed_time"}) {
    EXPECT_GT(j[key].get<double>(), 0) << key;
  }
  for (const char* key :
       {"mean_kv_usage", "max_kv_usage", "preemptions_swap", "preemptions_recompute"}) {
    EXPECT_GE(j[key].get<double>(), 0) << key;
  }
  std::ifstream in(saved);
  ASSERT_TRUE(in.good());
  EXPECT_EQ(nlohmann::json::parse(in), j);
  std::filesystem::remove(saved);

  // The same seed sends the same requests.
  const Result again = run("bench throughput " + kEngineFlags +
                           " --num-prompts 6 --input-len 10 --output-len 5"
                           " --random-range-ratio 0.3 --max-concurrency 2 --seed 4 --json");
  ASSERT_EQ(again.code, 0) << again.err;
  const auto k = parse(again);
  EXPECT_EQ(k["prompt_tokens"], j["prompt_tokens"]);
  EXPECT_EQ(k["output_tokens"], j["output_tokens"]);
}

TEST(BenchCli, BadFlagsAreUsageErrors) {
  for (const std::string args :
       {"bench", "bench nonsense", "bench latency --num-iters 0",
        "bench throughput --num-prompts -1", "bench throughput --random-range-ratio 1.5",
        "bench throughput --dataset-name sharegpt", "bench throughput --max-concurrency 0",
        "bench latency --no-such-flag"}) {
    const Result r = run(args);
    EXPECT_EQ(r.code, 2) << args << "\n" << r.err;
    if (args != "bench") {
      EXPECT_NE(r.err.find("tessera: error:"), std::string::npos) << args << "\n" << r.err;
    }
  }
  const Result missing = run("bench throughput " + kEngineFlags +
                             " --num-prompts 2 --dataset-path /nonexistent/sharegpt.json");
  EXPECT_EQ(missing.code, 1);
  EXPECT_NE(missing.err.find("cannot read"), std::string::npos) << missing.err;
}

}  // namespace
