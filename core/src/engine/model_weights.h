// A model loaded onto one device: its family's Model (models/registry.h), holding the
// weights its load() asked for — linear weights prepacked by the plugin, embedding table,
// norms and biases as plain activation-dtype buffers — read from a Hugging Face directory
// (safetensors, mapped) or a GGUF file; full-precision linear weights may be quantized on the
// way (int8/int4 group-wise). Host copies made during conversion are released as soon as the
// plugin has its own, and each file page once its weight is on the device.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "model/canonical_weight.h"
#include "models/model.h"

namespace tessera::engine {

struct LoadOptions {
  tsr_dtype activation_dtype = TSR_DTYPE_F32;
  model::Quantization quantization = model::Quantization::kNone;
  // The tensor-parallel rank to load (models/tensor_parallel.h): its slice of every weight.
  models::TensorShard shard;
  // Called after each tensor with (bytes done, bytes total) of the source files.
  std::function<void(uint64_t, uint64_t)> progress;
};

class ModelWeights {
 public:
  // `path`: a Hugging Face model directory or a .gguf file.
  static std::unique_ptr<ModelWeights> load(const std::string& path,
                                            std::shared_ptr<runtime::Device> device,
                                            const LoadOptions& options);

  const models::Model& model() const { return *model_; }
  const model::ModelConfig& config() const { return model_->config(); }
  models::TensorShard shard() const { return shard_; }
  // This rank's heads, intermediate slice and vocabulary rows.
  const models::ShardLayout& layout() const { return layout_; }
  tsr_dtype activation_dtype() const { return activation_dtype_; }
  bool is_gguf() const { return is_gguf_; }
  const std::string& path() const { return path_; }
  uint64_t device_bytes() const { return device_bytes_; }
  // Bytes read from weights per decoded token (all linear weights + one embedding row):
  // the numerator of the decode roofline.
  uint64_t bytes_per_token() const { return bytes_per_token_; }
  // Multiply-adds of one token through every linear weight (rows x cols, summed).
  uint64_t linear_macs_per_token() const { return linear_macs_per_token_; }
  // The canonical formats of the linear weights as prepacked, with counts, most frequent
  // first: "int4_group_asym x210, int8_group x1" (reports, bench perplexity).
  std::string linear_formats() const;

 private:
  friend class FileWeightLoader;
  std::unique_ptr<models::Model> model_;
  tsr_dtype activation_dtype_ = TSR_DTYPE_F32;
  models::TensorShard shard_;
  models::ShardLayout layout_;
  bool is_gguf_ = false;
  std::string path_;
  uint64_t device_bytes_ = 0;
  uint64_t bytes_per_token_ = 0;
  uint64_t linear_macs_per_token_ = 0;
  std::map<tsr_weight_format, int> linear_format_counts_;
};

// Reads only the config of a model path (HF directory or GGUF) without touching weights.
model::ModelConfig load_model_config(const std::string& path);

}  // namespace tessera::engine
