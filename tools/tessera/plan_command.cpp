// `tessera plan`: print the memory plan of a model (weights, activations, KV blocks and
// tokens, concurrency at max_model_len) without loading weights, for a real device or a
// hypothetical one (--device-memory), and what would make it fit. Exit 0 when it fits, 1
// when it does not.
#include <iostream>

#include "command.h"
#include "common_options.h"
#include "tessera/engine_config.h"
#include "tessera/plan.h"
#include "tessera/plugins.h"

namespace po = boost::program_options;

namespace tessera::cli {

int run_plan_command(int argc, char** argv) {
  po::options_description options("tessera plan");
  options.add_options()("help,h", "show this help")(
      "model", po::value<std::string>(), "HF model directory, config.json, or .gguf file")(
      "device-memory", po::value<std::string>(), "a hypothetical device's memory (e.g. 16GiB)")(
      "dtype", po::value<std::string>()->default_value("bfloat16"), "float32, bfloat16, float16")(
      "kv-cache-dtype", po::value<std::string>()->default_value("auto"),
      "auto (--dtype), float32, bfloat16, float16")("quantization", po::value<std::string>(),
                                                    "int8, int4 (also sym_int8, sym_int4)")(
      "load-in-low-bit", po::value<std::string>(), "IPEX-LLM spelling of --quantization")(
      "block-size", po::value<int>()->default_value(16), "tokens per KV block")(
      "max-num-seqs", po::value<int>()->default_value(256), "running requests at most")(
      "max-num-batched-tokens", po::value<int>()->default_value(2048), "tokens per step")(
      "max-model-len", po::value<int>()->default_value(0), "context length (default: the model's)")(
      "tensor-parallel-size", po::value<int>()->default_value(1),
      "devices the model is split over")(
      "gpu-memory-utilization", po::value<double>()->default_value(0.9), "share of device memory")(
      "kv-cache-memory", po::value<std::string>(), "CPU: the KV cache budget");
  options.add(loader_options());
  const auto vm = parse_command_line(argc, argv, options);
  if (vm.count("help")) {
    print_command_help("plan",
                       "Memory plan of a model on a device, from its config and headers only "
                       "(no weights are loaded), and what would make it fit.",
                       options);
    return 0;
  }
  if (!vm.count("model")) throw UsageError("--model is required");
  PlanOptions plan;
  plan.model = vm["model"].as<std::string>();
  plan.dtype = vm["dtype"].as<std::string>();
  if (plan.dtype != "float32" && plan.dtype != "float16" && plan.dtype != "bfloat16") {
    throw UsageError("--dtype must be float32, bfloat16 or float16");
  }
  plan.kv_cache_dtype = vm["kv-cache-dtype"].as<std::string>();
  if (plan.kv_cache_dtype != "auto" && plan.kv_cache_dtype != "float32" &&
      plan.kv_cache_dtype != "float16" && plan.kv_cache_dtype != "bfloat16") {
    throw UsageError("--kv-cache-dtype must be auto, float32, bfloat16 or float16");
  }
  if (vm.count("quantization")) plan.quantization = vm["quantization"].as<std::string>();
  if (vm.count("load-in-low-bit")) plan.quantization = vm["load-in-low-bit"].as<std::string>();
  plan.block_size = vm["block-size"].as<int>();
  plan.max_num_seqs = vm["max-num-seqs"].as<int>();
  plan.max_num_batched_tokens = vm["max-num-batched-tokens"].as<int>();
  plan.max_model_len = vm["max-model-len"].as<int>();
  plan.tensor_parallel_size = vm["tensor-parallel-size"].as<int>();
  plan.gpu_memory_utilization = vm["gpu-memory-utilization"].as<double>();
  if (plan.block_size <= 0 || plan.max_num_seqs <= 0 || plan.max_num_batched_tokens <= 0 ||
      plan.tensor_parallel_size <= 0) {
    throw UsageError(
        "--block-size, --max-num-seqs, --max-num-batched-tokens and "
        "--tensor-parallel-size must be positive");
  }
  if (vm.count("device-memory")) {
    plan.device_memory = parse_byte_size(vm["device-memory"].as<std::string>());
    std::cout << "device      hypothetical, " << vm["device-memory"].as<std::string>() << "\n";
  } else {
    const auto registry = runtime::PluginRegistry::discover(loader_options_from(vm));
    const auto choice = runtime::select_device(*registry, device_spec_from(vm));
    plan.device_memory = choice.info().total_memory ? choice.info().total_memory
                                                    : choice.info().properties.total_memory;
    std::cout << "device      " << choice.to_string() << " (" << choice.info().properties.name
              << ")\n";
    if (choice.info().properties.type == TSR_DEVICE_TYPE_CPU) {
      plan.kv_cache_memory = vm.count("kv-cache-memory")
                                 ? parse_byte_size(vm["kv-cache-memory"].as<std::string>())
                                 : default_cpu_kv_cache_memory(choice.info().free_memory);
    }
  }
  const PlanReport report = plan_model(plan);
  std::cout << report.text;
  return report.fits ? 0 : 1;
}

}  // namespace tessera::cli
