#include "engine/model_weights.h"

#include <algorithm>
#include <filesystem>
#include <set>

#include "common/check.h"
#include "common/log.h"
#include "model/gguf_file.h"
#include "model/mapped_file.h"
#include "model/safetensors_file.h"
#include "models/registry.h"
#include "runtime/stream.h"

namespace tessera::engine {

using models::WeightFileKind;
using StackedPart = models::WeightLoader::StackedPart;

// The WeightLoader a family's load() draws from: a GGUF file or a safetensors directory,
// with shape checks, uploads, prepacking and the byte accounting of ModelWeights.
class FileWeightLoader final : public models::WeightLoader {
 public:
  FileWeightLoader(const std::string& path, std::shared_ptr<runtime::Device> device,
                   const LoadOptions& options, ModelWeights& weights)
      : path_(path),
        device_(std::move(device)),
        options_(options),
        weights_(weights),
        stream_(runtime::Stream::create(device_)) {
    if (models::is_gguf_path(path)) {
      gguf_ = std::make_unique<model::GgufFile>(path);
      kind_ = WeightFileKind::kGguf;
    } else {
      TSR_CHECK_KIND(std::filesystem::is_directory(path), ErrorKind::kNotFound,
                     "model path '{}' is neither a model directory nor a .gguf file", path);
      safetensors_ = std::make_unique<model::SafetensorsModel>(path);
      kind_ = WeightFileKind::kHuggingFace;
    }
    if (safetensors_) {
      total_ = safetensors_->total_bytes();
    } else {
      for (const auto& [name, view] : gguf_->tensors()) total_ += view.bytes;
    }
  }

  model::ModelConfig config(const std::string& path) const {
    return gguf_ ? models::config_from_gguf(*gguf_) : models::load_hf_config(path);
  }

  WeightFileKind kind() const override { return kind_; }
  tsr_dtype dtype() const override { return options_.activation_dtype; }
  bool has(const std::string& name) const override { return find(name) != nullptr; }

  models::TensorShard shard() const override { return options_.shard; }

  runtime::Buffer plain(const std::string& name, const std::vector<int64_t>& shape,
                        models::TensorSlice slice, int64_t zero_rows,
                        models::ValueMap map) override {
    const auto& view = get(name, shape);
    std::vector<float> values = model::to_f32(view);
    if (!map.identity()) {
      for (float& v : values) v = v * map.scale + map.offset;
    }
    if (slice.rows >= 0 || zero_rows > 0) {
      // Rows of the first dimension, each `row` elements wide.
      const int64_t rows = shape.empty() ? 1 : shape[0];
      const auto row = static_cast<int64_t>(values.size()) / std::max<int64_t>(rows, 1);
      const int64_t count = slice.rows >= 0 ? slice.rows : rows;
      TSR_INVARIANT(slice.row_begin >= 0 && slice.row_begin + count <= rows,
                    "{}: rows [{}, +{}) outside its {}", name, slice.row_begin, count, rows);
      std::vector<float> part(values.begin() + slice.row_begin * row,
                              values.begin() + (slice.row_begin + count) * row);
      part.resize(part.size() + static_cast<size_t>(zero_rows * row), 0.0f);
      values = std::move(part);
    }
    const auto bytes = model::f32_to_dtype(values, dtype());
    auto buffer = runtime::Buffer::allocate(device_, bytes.size());
    stream_.copy_to_device(buffer, 0, bytes.data(), bytes.size());
    stream_.synchronize();  // `bytes` dies at the end of this scope
    weights_.device_bytes_ += bytes.size();
    report(view);
    model::release_mapped_pages(view.data, view.bytes);
    return buffer;
  }

  runtime::Weight linear(const std::vector<std::string>& names, int64_t rows_each, int64_t cols,
                         models::TensorSlice slice) override {
    TSR_CHECK(!names.empty(), "a linear weight needs at least one tensor");
    std::vector<StackedPart> parts;
    for (const auto& name : names) parts.push_back({name, rows_each, slice});
    return stack_and_prepack(parts, cols);
  }

  runtime::Weight linear_with_split_output(const std::vector<StackedPart>& parts,
                                           int64_t cols) override {
    TSR_CHECK(!parts.empty(), "a linear weight needs at least one tensor");
    if ((device_->info().properties.caps & TSR_DEVICE_CAP_LINEAR_OUT_PARTS) == 0) return {};
    const model::TensorView& first = get(parts[0].name, {parts[0].rows, cols});
    for (const auto& part : parts) {
      if (get(part.name, {part.rows, cols}).dtype != first.dtype) return {};
    }
    return stack_and_prepack(parts, cols);
  }

  void add_bytes_per_token(uint64_t bytes) override { weights_.bytes_per_token_ += bytes; }

 private:
  // The parts converted to the canonical form (each cut by its slice after quantizing, so
  // that a shard holds whole groups of the same quantization the unsharded model has:
  // slice() refuses a cut through a group), stacked by rows and prepacked on the device.
  runtime::Weight stack_and_prepack(const std::vector<StackedPart>& parts, int64_t cols) {
    std::vector<const model::TensorView*> views;
    auto canonical = [&](const StackedPart& part) {
      const auto& view = get(part.name, {part.rows, cols});
      report(view);
      views.push_back(&view);
      auto full = model::CanonicalWeight::from_tensor(view, options_.quantization);
      const models::TensorSlice& slice = part.slice;
      if (slice.rows < 0 && slice.cols < 0) return full;
      return full.slice(slice.row_begin, slice.rows >= 0 ? slice.rows : part.rows, slice.col_begin,
                        slice.cols >= 0 ? slice.cols : cols,
                        fmt::format("weight '{}' on tensor-parallel rank {} of {}", part.name,
                                    options_.shard.rank, options_.shard.size));
    };
    model::CanonicalWeight stacked = canonical(parts[0]);
    for (size_t i = 1; i < parts.size(); ++i) {
      stacked = model::CanonicalWeight::concat_rows(stacked, canonical(parts[i]));
    }
    tsr_weight_desc desc = stacked.desc();
    require_weight_format(desc.format);
    desc.compute_dtype = dtype();
    auto weight = runtime::Weight::prepack(device_, desc);
    ++weights_.linear_format_counts_[desc.format];
    weights_.device_bytes_ += weight.bytes();
    weights_.bytes_per_token_ += weight.bytes();
    weights_.linear_macs_per_token_ += static_cast<uint64_t>(desc.rows * desc.cols);
    // The plugin holds its copy: the file pages can leave memory.
    for (const auto* view : views) model::release_mapped_pages(view->data, view->bytes);
    return weight;
  }

  // A format the device does not declare (e.g. GGUF Q4_1's asymmetric int4 on a plugin
  // without it) is one message naming the model, the device and what it takes.
  void require_weight_format(tsr_weight_format format) const {
    const uint32_t formats = device_->info().properties.weight_formats;
    if (formats & TSR_WEIGHT_FORMAT_BIT(format)) return;
    std::vector<std::string> taken;
    for (int f = 0; f < 32; ++f) {
      if (formats & TSR_WEIGHT_FORMAT_BIT(f)) {
        taken.push_back(model::weight_format_name(static_cast<tsr_weight_format>(f)));
      }
    }
    throw Error(fmt::format(
        "{}: device {} (plugin '{}') does not take {} weights, which this model's tensors "
        "load as (it takes: {}); run it on another device (--device cpu)",
        path_, device_->label(), device_->plugin().name(), model::weight_format_name(format),
        fmt::join(taken, ", ")));
  }
  const model::TensorView* find(const std::string& name) const {
    if (name.empty()) return nullptr;
    return gguf_ ? gguf_->find(name) : safetensors_->find(name);
  }
  const model::TensorView& get(const std::string& name, const std::vector<int64_t>& shape) const {
    const auto* view = find(name);
    TSR_CHECK(view != nullptr, "weight '{}' is missing from the model", name);
    TSR_CHECK(view->shape == shape, "weight '{}' has shape [{}] but the config implies [{}]",
              view->name, fmt::join(view->shape, ", "), fmt::join(shape, ", "));
    return *view;
  }
  // Progress counts each file tensor once (a tied LM head reuses the embedding's).
  void report(const model::TensorView& view) {
    if (!reported_.insert(&view).second) return;
    done_ += view.bytes;
    if (options_.progress) options_.progress(std::min(done_, total_), total_);
  }

  std::string path_;
  std::shared_ptr<runtime::Device> device_;
  const LoadOptions& options_;
  ModelWeights& weights_;
  runtime::Stream stream_;
  WeightFileKind kind_ = WeightFileKind::kHuggingFace;
  std::unique_ptr<model::GgufFile> gguf_;
  std::unique_ptr<model::SafetensorsModel> safetensors_;
  uint64_t total_ = 0;
  uint64_t done_ = 0;
  std::set<const model::TensorView*> reported_;
};

model::ModelConfig load_model_config(const std::string& path) {
  return models::load_config(path);
}

std::unique_ptr<ModelWeights> ModelWeights::load(const std::string& path,
                                                 std::shared_ptr<runtime::Device> device,
                                                 const LoadOptions& options) {
  auto weights = std::unique_ptr<ModelWeights>(new ModelWeights());
  FileWeightLoader loader(path, device, options, *weights);
  weights->path_ = path;
  weights->is_gguf_ = loader.kind() == WeightFileKind::kGguf;
  weights->activation_dtype_ = options.activation_dtype;
  const tsr_dtype dtype = options.activation_dtype;
  TSR_CHECK((device->info().properties.activation_dtypes & TSR_DTYPE_BIT(dtype)) != 0,
            "device {} cannot run {} activations (--dtype)", device->label(),
            dtype == TSR_DTYPE_BF16  ? "bf16"
            : dtype == TSR_DTYPE_F16 ? "f16"
                                     : "f32");
  const auto config = loader.config(path);
  models::check_tensor_parallel(config, options.shard.size);
  weights->shard_ = options.shard;
  weights->layout_ = models::shard_layout(config, options.shard);
  weights->model_ = models::create_model(config);
  weights->model_->load(loader);
  TSR_LOG_DEBUG("loaded {} ({} layers) onto {}: {:.1f} MiB on the device", path, config.num_layers,
                device->label(), static_cast<double>(weights->device_bytes_) / (1 << 20));
  return weights;
}

std::string ModelWeights::linear_formats() const {
  std::vector<std::pair<int, tsr_weight_format>> by_count;
  for (const auto& [format, count] : linear_format_counts_) by_count.emplace_back(count, format);
  std::sort(by_count.begin(), by_count.end(),
            [](const auto& a, const auto& b) { return a.first > b.first; });
  std::string out;
  for (const auto& [count, format] : by_count) {
    if (!out.empty()) out += ", ";
    out += fmt::format("{} x{}", model::weight_format_name(format), count);
  }
  return out;
}

}  // namespace tessera::engine
