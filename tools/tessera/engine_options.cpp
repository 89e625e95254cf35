#include "engine_options.h"

#include <unistd.h>

#include <boost/dll/runtime_symbol_info.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "tessera/check.h"
#include "tessera/log.h"
#include "common_options.h"

namespace po = boost::program_options;

namespace tessera::cli {

po::options_description engine_options() {
  po::options_description o("Engine options (vLLM's names)");
  o.add_options()("model", po::value<std::string>(),
                  "Hugging Face model directory or .gguf file (default: SmolLM2-135M-Instruct when "
                  "installed, else the embedded random-weight model)")(
      "tokenizer", po::value<std::string>(), "tokenizer directory (default: the model's)")(
      "dtype", po::value<std::string>()->default_value("auto"),
      "activation dtype: auto, float32, bfloat16, float16")(
      "kv-cache-dtype", po::value<std::string>()->default_value("auto"),
      "KV cache dtype: auto (the activation dtype), float32, bfloat16, float16 (a 16-bit cache "
      "beside f32 activations holds twice the tokens and halves attention's reads)")(
      "quantization", po::value<std::string>(),
      "quantize weights at load: int8, int4 (group-wise), fp8 (e4m3, per channel); GGUF blocks "
      "are dequantized first; none: dequantize GGUF blocks to f32")(
      "load-in-low-bit", po::value<std::string>(), "IPEX-LLM spelling: sym_int8, sym_int4")(
      "block-size", po::value<int>()->default_value(16), "tokens per KV block")(
      "max-num-seqs", po::value<int>()->default_value(256), "running requests at most")(
      "max-num-batched-tokens", po::value<int>()->default_value(2048), "tokens per step")(
      "max-model-len", po::value<int>()->default_value(0), "context length (default: the model's)")(
      "tensor-parallel-size", po::value<int>()->default_value(1),
      "split the model over N devices of one plugin (--device cuda: cuda:0..N-1; "
      "--device cuda:2,3 names them; cpu: N core groups); docs/tensor-parallel.md")(
      "enable-prefix-caching", po::value<bool>()->default_value(true)->implicit_value(true),
      "reuse KV blocks of shared prefixes")("no-enable-prefix-caching", "turn prefix caching off")(
      "enable-chunked-prefill", po::value<bool>()->default_value(true)->implicit_value(true),
      "split long prompts across steps")("swap-space", po::value<double>(),
                                         "host swap space, GiB (default 4; 0 on the cpu device)")(
      "preemption-mode", po::value<std::string>()->default_value("auto"),
      "swap, recompute or auto")(
      "scheduling-policy", po::value<std::string>()->default_value("fcfs"), "fcfs or priority")(
      "gpu-memory-utilization", po::value<double>()->default_value(0.9),
      "share of device memory Tessera may use (GPU/XPU)")(
      "kv-cache-memory", po::value<std::string>(),
      "KV cache size on the CPU device (e.g. 4GiB; default 40% of available RAM, at most 4GiB; "
      "written in full at start)")("num-gpu-blocks-override", po::value<int64_t>(),
                                   "force the number of KV blocks")(
      "max-logprobs", po::value<int>()->default_value(20), "largest logprobs a request may ask")(
      "enforce-eager", po::value<bool>()->default_value(false)->implicit_value(true),
      "never run decode steps as captured device graphs (CUDA graphs)")(
      "enable-cuda-graph", po::value<bool>()->implicit_value(true),
      "run decode steps as captured device graphs where the device offers them (the default; "
      "the opposite of --enforce-eager)")(
      "scheduler-delay-factor", po::value<double>()->default_value(0.0),
      "while requests run, admit new prompts only after the oldest has waited this many times "
      "the last prompt step's latency (vLLM's; 0: off)")(
      "trust-remote-code",
      "accepted for vLLM's command lines; Tessera never runs code from a model repository")(
      "seed", po::value<uint64_t>()->default_value(0), "seed for requests without one")(
      "config", po::value<std::string>(),
      "YAML file of option: value lines, any option of the command (flags given here win)");
  return o;
}

std::string default_model_path() {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path exe = boost::dll::program_location().string();
  for (const fs::path& candidate :
       {exe.parent_path().parent_path() / "share" / "tessera" / "default-model"}) {
    if (fs::exists(candidate / "config.json", ec)) return candidate.string();
  }
  return "";
}

const DefaultModel& default_model() {
  static const DefaultModel chosen = [] {
    namespace fs = std::filesystem;
    std::error_code ec;
    DefaultModel m;
    const char* env = std::getenv("TESSERA_DEFAULT_MODEL");
    const std::string request = env != nullptr ? env : "";
    const fs::path share =
        fs::path(boost::dll::program_location().string()).parent_path().parent_path() / "share" /
        "tessera";
    const fs::path smollm2 = share / "SmolLM2-135M-Instruct.Q4_1.gguf";
    const std::string random_note =
        "the embedded tiny model with RANDOM weights and a real tokenizer; its text is "
        "meaningless";
    if (!request.empty() && request != "random") {
      m.path = request;
      m.real = true;
      m.banner = "tessera: no --model given: using TESSERA_DEFAULT_MODEL=" + request;
    } else if (request.empty() && fs::exists(smollm2, ec)) {
      m.path = smollm2.string();
      m.real = true;
      m.banner =
          "tessera: no --model given: using the default model, SmolLM2-135M-Instruct (Q4_1 "
          "GGUF, Apache-2.0)";
    } else {
      m.path = default_model_path();
      m.banner = request == "random"
                     ? "tessera: no --model given: using " + random_note +
                           " (TESSERA_DEFAULT_MODEL=random)"
                     : "tessera: no --model given and the default model SmolLM2-135M-Instruct "
                       "was not fetched (scripts/install-deps.sh): falling back to " +
                           random_note;
    }
    return m;
  }();
  return chosen;
}

EngineConfig engine_config_from(const po::variables_map& vm, bool* is_default) {
  // --config was merged into vm by parse_command_line (config_file.h).
  EngineConfig c;
  if (vm.count("model")) {
    c.model = vm["model"].as<std::string>();
    *is_default = false;
  } else {
    c.model = default_model().path;
    if (c.model.empty()) {
      throw UsageError("no --model given and the embedded default model was not built");
    }
    *is_default = true;
  }
  if (vm.count("tokenizer")) c.tokenizer = vm["tokenizer"].as<std::string>();
  const auto loader = loader_options_from(vm);
  c.plugin_dirs = loader.plugin_dirs;
  c.plugin_options = loader.plugin_options;
  c.device = device_spec_from(vm).to_string();
  c.dtype = vm["dtype"].as<std::string>();
  c.kv_cache_dtype = vm["kv-cache-dtype"].as<std::string>();
  if (vm.count("quantization")) c.quantization = vm["quantization"].as<std::string>();
  if (vm.count("load-in-low-bit")) c.quantization = vm["load-in-low-bit"].as<std::string>();
  c.block_size = vm["block-size"].as<int>();
  c.max_num_seqs = vm["max-num-seqs"].as<int>();
  c.max_num_batched_tokens = vm["max-num-batched-tokens"].as<int>();
  c.max_model_len = vm["max-model-len"].as<int>();
  c.tensor_parallel_size = vm["tensor-parallel-size"].as<int>();
  c.enable_prefix_caching =
      vm["enable-prefix-caching"].as<bool>() && !vm.count("no-enable-prefix-caching");
  c.enable_chunked_prefill = vm["enable-chunked-prefill"].as<bool>();
  if (vm.count("swap-space")) c.swap_space_gib = vm["swap-space"].as<double>();
  c.preemption_mode = vm["preemption-mode"].as<std::string>();
  c.scheduling_policy = vm["scheduling-policy"].as<std::string>();
  c.gpu_memory_utilization = vm["gpu-memory-utilization"].as<double>();
  if (vm.count("kv-cache-memory")) {
    try {
      c.kv_cache_memory_bytes = parse_byte_size(vm["kv-cache-memory"].as<std::string>());
    } catch (const Error& e) {
      throw UsageError(std::string("--kv-cache-memory: ") + e.what());
    }
  }
  if (vm.count("num-gpu-blocks-override")) {
    c.num_gpu_blocks_override = vm["num-gpu-blocks-override"].as<int64_t>();
  }
  c.max_logprobs = vm["max-logprobs"].as<int>();
  c.enforce_eager = vm["enforce-eager"].as<bool>();
  if (vm.count("enable-cuda-graph")) {
    const bool graphs = vm["enable-cuda-graph"].as<bool>();
    if (graphs && c.enforce_eager) {
      throw UsageError("--enable-cuda-graph and --enforce-eager contradict each other; give one");
    }
    c.enforce_eager = !graphs;
  }
  c.scheduler_delay_factor = vm["scheduler-delay-factor"].as<double>();
  if (!(c.scheduler_delay_factor >= 0)) throw UsageError("--scheduler-delay-factor must be >= 0");
  if (vm.count("trust-remote-code")) {
    TSR_LOG_INFO(
        "--trust-remote-code: accepted and has no effect: Tessera runs no code from model "
        "repositories (architectures are built in)");
  }
  c.seed = vm["seed"].as<uint64_t>();
  if (c.block_size <= 0 || c.block_size > 256) throw UsageError("--block-size must be in 1..256");
  if (c.max_num_seqs <= 0) throw UsageError("--max-num-seqs must be positive");
  if (c.tensor_parallel_size <= 0 || c.tensor_parallel_size > 4096) {
    throw UsageError("--tensor-parallel-size must be in 1..4096");
  }
  if (c.max_num_batched_tokens <= 0) throw UsageError("--max-num-batched-tokens must be positive");
  if (c.swap_space_gib && *c.swap_space_gib < 0) throw UsageError("--swap-space must be >= 0");
  if (c.kv_cache_dtype != "auto" && c.kv_cache_dtype != "float32" &&
      c.kv_cache_dtype != "bfloat16" && c.kv_cache_dtype != "float16") {
    throw UsageError("--kv-cache-dtype '" + c.kv_cache_dtype +
                     "' is not one of auto, float32, bfloat16, float16 (fp8 and int8 KV caches "
                     "are not implemented)");
  }
  return c;
}

void LoadProgressBar::operator()(uint64_t done, uint64_t total) {
  if (total == 0) return;
  const int percent =
      static_cast<int>(100.0 * static_cast<double>(done) / static_cast<double>(total));
  const bool tty = ::isatty(STDERR_FILENO) != 0;
  if (percent == last_percent_ || (!tty && percent / 10 == last_percent_ / 10 && percent != 100)) {
    return;
  }
  last_percent_ = percent;
  constexpr int kWidth = 30;
  const int filled = percent * kWidth / 100;
  std::fprintf(stderr, "%sLoading weights [%s%s] %3d%% %.1f/%.1f MiB%s", tty ? "\r" : "",
               std::string(static_cast<size_t>(filled), '#').c_str(),
               std::string(static_cast<size_t>(kWidth - filled), ' ').c_str(), percent,
               static_cast<double>(done) / (1 << 20), static_cast<double>(total) / (1 << 20),
               tty && percent < 100 ? "" : "\n");
  std::fflush(stderr);
}

}  // namespace tessera::cli
