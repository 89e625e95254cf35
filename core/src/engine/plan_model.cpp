// plan_model (tessera/plan.h): reads what the plan needs from the model's files (its config,
// and for GGUF the format its linear weights are stored in) and runs engine::plan_memory.
#include <algorithm>
#include <fstream>
#include <sstream>

#include "common/check.h"
#include "engine/memory_plan.h"
#include "engine/memory_sizing.h"
#include "engine/model_weights.h"
#include "model/gguf_blocks.h"
#include "model/gguf_file.h"
#include "models/registry.h"
#include "tessera/plan.h"

namespace tessera {

namespace {

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() > suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

tsr_dtype plan_dtype(const std::string& name) {
  if (name == "float32") return TSR_DTYPE_F32;
  if (name == "float16") return TSR_DTYPE_F16;
  TSR_CHECK(name == "bfloat16", "dtype must be float32, bfloat16 or float16 (got '{}')", name);
  return TSR_DTYPE_BF16;
}

}  // namespace

uint64_t default_cpu_kv_cache_memory(uint64_t available_bytes) {
  constexpr uint64_t kCap = uint64_t{4} << 30;
  return std::min(kCap, static_cast<uint64_t>(engine::kDefaultCpuKvShare *
                                              static_cast<double>(available_bytes)));
}

PlanReport plan_model(const PlanOptions& options) {
  TSR_CHECK(options.block_size > 0 && options.max_num_seqs > 0 &&
                options.max_num_batched_tokens > 0 && options.tensor_parallel_size > 0,
            "block size, max_num_seqs, max_num_batched_tokens and tensor_parallel_size must "
            "be positive");
  engine::PlanInput in;
  const std::string& path = options.model;
  if (ends_with(path, ".json")) {
    std::ifstream file(path);
    TSR_CHECK(file.good(), "cannot read {}", path);
    std::stringstream text;
    text << file.rdbuf();
    in.config = models::parse_hf_config(text.str(), path);
  } else {
    in.config = engine::load_model_config(path);
    if (ends_with(path, ".gguf")) {
      const model::GgufFile gguf(path);
      if (const auto* w = gguf.find("blk.0.attn_q.weight")) {
        const auto block = model::gguf_block_layout(w->dtype);
        if (block.elements > 0) in.file_format = block.canonical;
      }
    }
  }
  in.dtype = plan_dtype(options.dtype);
  if (options.kv_cache_dtype != "auto") in.kv_dtype = plan_dtype(options.kv_cache_dtype);
  if (!options.quantization.empty()) {
    in.quantization = model::parse_quantization(options.quantization);
  }
  in.block_size = options.block_size;
  in.max_num_seqs = options.max_num_seqs;
  in.max_num_batched_tokens = options.max_num_batched_tokens;
  in.max_model_len = options.max_model_len;
  in.tensor_parallel_size = options.tensor_parallel_size;
  in.device_memory = options.device_memory;
  in.gpu_memory_utilization = options.gpu_memory_utilization;
  in.kv_cache_memory = options.kv_cache_memory;
  const auto result = engine::plan_memory(in);
  return {result.fits, engine::format_plan(in, result)};
}

}  // namespace tessera
