#include "engine/model_weights.h"

#include <filesystem>

#include "common/check.h"
#include "common/log.h"
#include "model/gguf_file.h"
#include "model/mapped_file.h"
#include "model/safetensors_file.h"
#include "runtime/stream.h"

namespace tessera::engine {

namespace {

using models::GlobalTensor;
using models::LayerTensor;
using models::WeightFileKind;

bool is_gguf_path(const std::string& path) {
  return std::filesystem::is_regular_file(path) && path.size() > 5 &&
         path.substr(path.size() - 5) == ".gguf";
}

// Uniform lookup over the two file kinds.
class TensorSource {
 public:
  explicit TensorSource(const std::string& path) {
    if (is_gguf_path(path)) {
      gguf_ = std::make_unique<model::GgufFile>(path);
      kind_ = WeightFileKind::kGguf;
    } else {
      TSR_CHECK_KIND(std::filesystem::is_directory(path), ErrorKind::kNotFound,
                     "model path '{}' is neither a model directory nor a .gguf file", path);
      safetensors_ = std::make_unique<model::SafetensorsModel>(path);
      kind_ = WeightFileKind::kHuggingFace;
    }
  }
  WeightFileKind kind() const { return kind_; }
  const model::TensorView* find(const std::string& name) const {
    if (name.empty()) return nullptr;
    return gguf_ ? gguf_->find(name) : safetensors_->find(name);
  }
  const model::TensorView& get(const std::string& name) const {
    const auto* view = find(name);
    TSR_CHECK(view != nullptr, "weight '{}' is missing from the model", name);
    return *view;
  }
  model::ModelConfig config(const std::string& path) const {
    return gguf_ ? model::config_from_gguf(*gguf_) : model::load_hf_config(path);
  }
  uint64_t total_bytes() const {
    if (safetensors_) return safetensors_->total_bytes();
    uint64_t total = 0;
    for (const auto& [name, view] : gguf_->tensors()) total += view.bytes;
    return total;
  }

 private:
  WeightFileKind kind_ = WeightFileKind::kHuggingFace;
  std::unique_ptr<model::GgufFile> gguf_;
  std::unique_ptr<model::SafetensorsModel> safetensors_;
};

void check_shape(const model::TensorView& view, std::vector<int64_t> expected) {
  TSR_CHECK(view.shape == expected, "weight '{}' has shape [{}] but the config implies [{}]",
            view.name, fmt::join(view.shape, ", "), fmt::join(expected, ", "));
}

}  // namespace

model::ModelConfig load_model_config(const std::string& path) {
  if (is_gguf_path(path)) return model::config_from_gguf(model::GgufFile(path));
  return model::load_hf_config(path);
}

std::unique_ptr<ModelWeights> ModelWeights::load(const std::string& path,
                                                 std::shared_ptr<runtime::Device> device,
                                                 const LoadOptions& options) {
  TensorSource source(path);
  auto weights = std::unique_ptr<ModelWeights>(new ModelWeights());
  weights->path_ = path;
  weights->is_gguf_ = source.kind() == WeightFileKind::kGguf;
  weights->spec_ = models::build_decoder_spec(source.config(path));
  weights->activation_dtype_ = options.activation_dtype;
  const auto& spec = weights->spec_;
  const auto& cfg = spec.config;
  const tsr_dtype dtype = options.activation_dtype;
  TSR_CHECK((device->info().properties.activation_dtypes & TSR_DTYPE_BIT(dtype)) != 0,
            "device {} cannot run {} activations (--dtype)", device->label(),
            dtype == TSR_DTYPE_BF16  ? "bf16"
            : dtype == TSR_DTYPE_F16 ? "f16"
                                     : "f32");

  auto stream = runtime::Stream::create(device);
  const uint64_t total = source.total_bytes();
  uint64_t done = 0;
  auto report = [&](const model::TensorView& view) {
    done += view.bytes;
    if (options.progress) options.progress(std::min(done, total), total);
  };

  // Views whose contents the device holds now: their file pages can leave memory.
  std::vector<const model::TensorView*> consumed;
  auto release_consumed = [&] {
    for (const auto* view : consumed) model::release_mapped_pages(view->data, view->bytes);
    consumed.clear();
  };
  auto upload = [&](const model::TensorView& view) {
    const auto bytes = model::f32_to_dtype(model::to_f32(view), dtype);
    auto buffer = runtime::Buffer::allocate(device, bytes.size());
    stream.copy_to_device(buffer, 0, bytes.data(), bytes.size());
    stream.synchronize();  // `bytes` dies at the end of this scope
    weights->device_bytes_ += bytes.size();
    report(view);
    model::release_mapped_pages(view.data, view.bytes);
    return buffer;
  };
  auto vector_tensor = [&](LayerTensor t, int layer, int64_t size) {
    const auto& view = source.get(spec.layer_name(t, layer, source.kind()));
    check_shape(view, {size});
    return upload(view);
  };
  const uint32_t formats = device->info().properties.weight_formats;
  auto prepack = [&](const model::CanonicalWeight& canonical) {
    tsr_weight_desc desc = canonical.desc();
    if ((formats & TSR_WEIGHT_FORMAT_BIT(desc.format)) == 0) {
      std::vector<std::string> taken;
      for (int f = 0; f < 32; ++f) {
        if (formats & TSR_WEIGHT_FORMAT_BIT(f)) {
          taken.push_back(model::weight_format_name(static_cast<tsr_weight_format>(f)));
        }
      }
      throw Error(fmt::format(
          "{}: device {} (plugin '{}') does not take {} weights, which this model's tensors "
          "load as (it takes: {}); run it on another device (--device cpu)",
          path, device->label(), device->plugin().name(), model::weight_format_name(desc.format),
          fmt::join(taken, ", ")));
    }
    desc.compute_dtype = dtype;
    auto weight = runtime::Weight::prepack(device, desc);
    weights->device_bytes_ += weight.bytes();
    weights->bytes_per_token_ += weight.bytes();
    release_consumed();
    return weight;
  };
  auto canonical = [&](LayerTensor t, int layer, int64_t rows, int64_t cols) {
    const auto& view = source.get(spec.layer_name(t, layer, source.kind()));
    check_shape(view, {rows, cols});
    report(view);
    consumed.push_back(&view);
    return model::CanonicalWeight::from_tensor(view, options.quantization);
  };

  const int64_t h = cfg.hidden_size;
  const int64_t q_dim = cfg.num_heads * cfg.head_dim;
  const int64_t kv_dim = cfg.num_kv_heads * cfg.head_dim;
  const auto& embedding_view =
      source.get(spec.global_name(GlobalTensor::kEmbedding, source.kind()));
  check_shape(embedding_view, {cfg.vocab_size, h});
  weights->embedding = upload(embedding_view);
  weights->bytes_per_token_ += static_cast<uint64_t>(h) * (dtype == TSR_DTYPE_F32 ? 4 : 2);

  for (int layer = 0; layer < cfg.num_layers; ++layer) {
    LayerWeights lw;
    lw.attn_norm = vector_tensor(LayerTensor::kAttnNorm, layer, h);
    lw.ffn_norm = vector_tensor(LayerTensor::kFfnNorm, layer, h);
    lw.q = prepack(canonical(LayerTensor::kQProj, layer, q_dim, h));
    lw.k = prepack(canonical(LayerTensor::kKProj, layer, kv_dim, h));
    lw.v = prepack(canonical(LayerTensor::kVProj, layer, kv_dim, h));
    lw.o = prepack(canonical(LayerTensor::kOProj, layer, h, q_dim));
    lw.gate_up = prepack(model::CanonicalWeight::concat_rows(
        canonical(LayerTensor::kGate, layer, cfg.intermediate_size, h),
        canonical(LayerTensor::kUp, layer, cfg.intermediate_size, h)));
    lw.down = prepack(canonical(LayerTensor::kDown, layer, h, cfg.intermediate_size));
    if (spec.qkv_bias) {
      lw.q_bias = vector_tensor(LayerTensor::kQBias, layer, q_dim);
      lw.k_bias = vector_tensor(LayerTensor::kKBias, layer, kv_dim);
      lw.v_bias = vector_tensor(LayerTensor::kVBias, layer, kv_dim);
    }
    if (spec.qk_norm) {
      lw.q_norm = vector_tensor(LayerTensor::kQNorm, layer, cfg.head_dim);
      lw.k_norm = vector_tensor(LayerTensor::kKNorm, layer, cfg.head_dim);
    }
    weights->layers.push_back(std::move(lw));
  }
  const auto& final_norm = source.get(spec.global_name(GlobalTensor::kFinalNorm, source.kind()));
  check_shape(final_norm, {h});
  weights->final_norm = upload(final_norm);
  const auto* lm_head = source.find(spec.global_name(GlobalTensor::kLmHead, source.kind()));
  if (lm_head == nullptr) {
    TSR_CHECK(cfg.tie_word_embeddings || source.kind() == WeightFileKind::kGguf,
              "weight '{}' is missing and the config does not tie embeddings",
              spec.global_name(GlobalTensor::kLmHead, source.kind()));
    lm_head = &embedding_view;
  } else {
    check_shape(*lm_head, {cfg.vocab_size, h});
    report(*lm_head);
  }
  weights->lm_head = prepack(model::CanonicalWeight::from_tensor(*lm_head, options.quantization));
  TSR_LOG_DEBUG("loaded {} ({} layers) onto {}: {:.1f} MiB on the device", path, cfg.num_layers,
                device->label(), static_cast<double>(weights->device_bytes_) / (1 << 20));
  return weights;
}

}  // namespace tessera::engine
