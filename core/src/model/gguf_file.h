// Reader for GGUF (versions 2 and 3), the llama.cpp model container: a header, typed
// metadata key/values, tensor infos, then aligned tensor data. The file is memory-mapped;
// tensors are views into the mapping with shapes converted to outermost-first (GGUF
// stores ne[0], the innermost dimension, first). Every count, length and offset is checked
// against the file size before use, so a truncated or hostile file is one clear error.
// Hand-written: Debian packages no GGUF reader for C++ (ggml is not packaged as a library).
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "model/mapped_file.h"
#include "model/tensor_view.h"

namespace tessera::model {

class GgufFile {
 public:
  explicit GgufFile(const std::string& path);

  const std::string& path() const { return file_.path(); }
  uint32_t version() const { return version_; }
  // Metadata values as JSON: integers, floats, bools, strings and arrays of those.
  const nlohmann::json& metadata() const { return metadata_; }
  const std::map<std::string, TensorView>& tensors() const { return tensors_; }

  const TensorView* find(const std::string& name) const;
  const TensorView& get(const std::string& name) const;

  // Typed metadata accessors; throw naming the key when it is missing or of another type.
  std::string get_string(const std::string& key) const;
  int64_t get_int(const std::string& key) const;
  double get_float(const std::string& key) const;
  bool has(const std::string& key) const { return metadata_.contains(key); }

 private:
  MappedFile file_;
  uint32_t version_ = 0;
  nlohmann::json metadata_ = nlohmann::json::object();
  std::map<std::string, TensorView> tensors_;
};

}  // namespace tessera::model
