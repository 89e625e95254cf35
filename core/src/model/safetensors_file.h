// Reader for the safetensors format (https://github.com/huggingface/safetensors): an 8-byte
// little-endian header length, a JSON header {name: {dtype, shape, data_offsets}}, then the
// data. The file is memory-mapped; tensors are views into the mapping. Every header field
// is validated against the file (offsets in range, sizes equal to shape x dtype, no
// overlapping tensors), so a truncated or lying file is one clear error, never a wild read.
// Hand-written: Debian packages no C++ safetensors reader.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "model/mapped_file.h"
#include "model/tensor_view.h"

namespace tessera::model {

class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::string& path);

  const std::string& path() const { return file_.path(); }
  const std::map<std::string, TensorView>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  MappedFile file_;
  std::map<std::string, TensorView> tensors_;
  std::map<std::string, std::string> metadata_;
};

// All tensors of a Hugging Face model directory: model.safetensors, or the shards named by
// model.safetensors.index.json. Keeps every shard mapped for its lifetime.
class SafetensorsModel {
 public:
  explicit SafetensorsModel(const std::string& model_dir);

  const TensorView* find(const std::string& name) const;
  const TensorView& get(const std::string& name) const;  // throws naming the tensor
  std::vector<std::string> names() const;
  size_t total_bytes() const;

 private:
  std::vector<std::unique_ptr<SafetensorsFile>> shards_;
  std::map<std::string, const TensorView*> index_;
};

}  // namespace tessera::model
