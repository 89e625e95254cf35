#include "model/safetensors_file.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "common/check.h"

namespace tessera::model {

namespace {

// The header is capped so that a corrupt length cannot make us parse gigabytes of JSON.
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

FileDType parse_dtype(const std::string& name, const std::string& tensor, const std::string& path) {
  if (name == "F32") return FileDType::kF32;
  if (name == "F16") return FileDType::kF16;
  if (name == "BF16") return FileDType::kBF16;
  if (name == "I8") return FileDType::kI8;
  if (name == "U8") return FileDType::kU8;
  if (name == "I32") return FileDType::kI32;
  if (name == "I64") return FileDType::kI64;
  throw Error(
      fmt::format("{}: tensor '{}' has dtype {}, which Tessera cannot load "
                  "(supported: F32, F16, BF16, I8, U8, I32, I64)",
                  path, tensor, name));
}

}  // namespace

SafetensorsFile::SafetensorsFile(const std::string& path) : file_(path) {
  const size_t size = file_.size();
  TSR_CHECK(size >= 8, "{}: truncated safetensors file ({} bytes, no header)", path, size);
  uint64_t header_len = 0;
  std::memcpy(&header_len, file_.data(), 8);
  TSR_CHECK(header_len <= kMaxHeaderBytes && header_len <= size - 8,
            "{}: safetensors header claims {} bytes but the file has {} after the length", path,
            header_len, size - 8);
  const char* header_begin = reinterpret_cast<const char*>(file_.data() + 8);
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(header_begin, header_begin + header_len);
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("{}: safetensors header is not valid JSON: {}", path, e.what()));
  }
  TSR_CHECK(header.is_object(), "{}: safetensors header is not a JSON object", path);

  const uint8_t* data_begin = file_.data() + 8 + header_len;
  const uint64_t data_size = size - 8 - header_len;
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      if (entry.is_object()) {
        for (const auto& [key, value] : entry.items()) {
          if (value.is_string()) metadata_[key] = value.get<std::string>();
        }
      }
      continue;
    }
    TSR_CHECK(entry.is_object() && entry.contains("dtype") && entry.contains("shape") &&
                  entry.contains("data_offsets"),
              "{}: tensor '{}' lacks dtype, shape or data_offsets", path, name);
    const auto& offsets = entry["data_offsets"];
    TSR_CHECK(entry["dtype"].is_string() && entry["shape"].is_array() && offsets.is_array() &&
                  offsets.size() == 2 && offsets[0].is_number_unsigned() &&
                  offsets[1].is_number_unsigned(),
              "{}: tensor '{}' has a malformed header entry", path, name);
    TensorView view;
    view.name = name;
    view.dtype = parse_dtype(entry["dtype"].get<std::string>(), name, path);
    for (const auto& dim : entry["shape"]) {
      TSR_CHECK(dim.is_number_unsigned(), "{}: tensor '{}' has a negative or non-integer dim", path,
                name);
      TSR_CHECK(dim.get<uint64_t>() <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()),
                "{}: tensor '{}' has a dimension of {}", path, name, dim.get<uint64_t>());
      view.shape.push_back(dim.get<int64_t>());
    }
    const auto begin = offsets[0].get<uint64_t>();
    const auto end = offsets[1].get<uint64_t>();
    TSR_CHECK(begin <= end && end <= data_size,
              "{}: tensor '{}' lies outside the file (bytes {}..{} of {}): the file is "
              "truncated or its header is wrong",
              path, name, begin, end, data_size);
    const std::optional<size_t> expected = tensor_bytes(view.dtype, view.shape);
    TSR_CHECK(expected.has_value(), "{}: tensor '{}' has more elements than 64 bits count", path,
              name);
    TSR_CHECK(end - begin == *expected,
              "{}: tensor '{}' has {} bytes but its shape and dtype need {}", path, name,
              end - begin, *expected);
    view.data = data_begin + begin;
    view.bytes = end - begin;
    ranges.emplace_back(begin, end);
    tensors_.emplace(name, std::move(view));
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i) {
    TSR_CHECK(ranges[i].first >= ranges[i - 1].second,
              "{}: two tensors overlap in the data section (bytes {}..{})", path, ranges[i].first,
              ranges[i - 1].second);
  }
}

SafetensorsModel::SafetensorsModel(const std::string& model_dir) {
  namespace fs = std::filesystem;
  const fs::path dir(model_dir);
  const fs::path index_path = dir / "model.safetensors.index.json";
  const fs::path single_path = dir / "model.safetensors";
  std::vector<std::string> shard_files;
  if (fs::exists(index_path)) {
    std::ifstream in(index_path);
    nlohmann::json index;
    try {
      index = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
      throw Error(fmt::format("{}: not valid JSON: {}", index_path.string(), e.what()));
    }
    TSR_CHECK(index.contains("weight_map") && index["weight_map"].is_object(),
              "{}: no weight_map object", index_path.string());
    std::set<std::string> unique;
    for (const auto& [tensor, file] : index["weight_map"].items()) {
      TSR_CHECK(file.is_string(), "{}: weight_map entry for '{}' is not a file name",
                index_path.string(), tensor);
      const auto name = file.get<std::string>();
      // Shard names come from a file we did not write: never let them leave the directory.
      TSR_CHECK(name.find('/') == std::string::npos && name != ".." && !name.empty(),
                "{}: shard name '{}' is not a plain file name", index_path.string(), name);
      unique.insert(name);
    }
    shard_files.assign(unique.begin(), unique.end());
  } else if (fs::exists(single_path)) {
    shard_files.push_back("model.safetensors");
  } else {
    throw Error(fmt::format("{}: no model.safetensors or model.safetensors.index.json", model_dir),
                ErrorKind::kNotFound);
  }
  for (const auto& file : shard_files) {
    shards_.push_back(std::make_unique<SafetensorsFile>((dir / file).string()));
    for (const auto& [name, view] : shards_.back()->tensors()) {
      TSR_CHECK(index_.emplace(name, &view).second, "{}: tensor '{}' appears in two shards",
                model_dir, name);
    }
  }
}

const TensorView* SafetensorsModel::find(const std::string& name) const {
  const auto it = index_.find(name);
  return it == index_.end() ? nullptr : it->second;
}

const TensorView& SafetensorsModel::get(const std::string& name) const {
  const TensorView* view = find(name);
  TSR_CHECK(view != nullptr, "weight '{}' is missing from the model files", name);
  return *view;
}

std::vector<std::string> SafetensorsModel::names() const {
  std::vector<std::string> out;
  for (const auto& [name, view] : index_) out.push_back(name);
  return out;
}

size_t SafetensorsModel::total_bytes() const {
  size_t total = 0;
  for (const auto& [name, view] : index_) total += view->bytes;
  return total;
}

}  // namespace tessera::model
