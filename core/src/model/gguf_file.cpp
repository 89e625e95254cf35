#include "model/gguf_file.h"

#include <cstring>
#include <limits>

#include "common/check.h"

namespace tessera::model {

namespace {

constexpr uint32_t kGgufMagic = 0x46554747;  // "GGUF" little-endian
constexpr uint64_t kMaxStringBytes = 1ull << 30;
constexpr int kMaxArrayDepth = 4;

enum GgufType : uint32_t {
  kU8 = 0,
  kI8 = 1,
  kU16 = 2,
  kI16 = 3,
  kU32 = 4,
  kI32 = 5,
  kF32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kU64 = 10,
  kI64 = 11,
  kF64 = 12
};

const char* ggml_type_name(uint32_t type) {
  static const char* const kNames[] = {
      "F32",     "F16",    "Q4_0",    "Q4_1",  "Q4_2",   "Q4_3",  "Q5_0",  "Q5_1",
      "Q8_0",    "Q8_1",   "Q2_K",    "Q3_K",  "Q4_K",   "Q5_K",  "Q6_K",  "Q8_K",
      "IQ2_XXS", "IQ2_XS", "IQ3_XXS", "IQ1_S", "IQ4_NL", "IQ3_S", "IQ2_S", "IQ4_XS",
      "I8",      "I16",    "I32",     "I64",   "F64",    "IQ1_M", "BF16"};
  return type < sizeof(kNames) / sizeof(kNames[0]) ? kNames[type] : "unknown";
}

// Bounds-checked little-endian cursor over the mapping.
class Cursor {
 public:
  Cursor(const uint8_t* data, size_t size, const std::string& path)
      : data_(data), size_(size), path_(path) {}

  template <class T>
  T read() {
    need(sizeof(T), "a value");
    T value;
    std::memcpy(&value, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return value;
  }

  std::string read_string() {
    const auto length = read<uint64_t>();
    TSR_CHECK(length <= kMaxStringBytes, "{}: corrupt GGUF: string of {} bytes at offset {}", path_,
              length, pos_);
    need(length, "a string");
    std::string out(reinterpret_cast<const char*>(data_ + pos_), length);
    pos_ += length;
    return out;
  }

  void need(uint64_t bytes, const char* what) const {
    TSR_CHECK(bytes <= size_ - pos_,
              "{}: truncated GGUF: needs {} more bytes for {} at offset {}, file has {}", path_,
              bytes, what, pos_, size_);
  }

  size_t pos() const { return pos_; }
  void seek(size_t pos) { pos_ = pos; }
  const std::string& path() const { return path_; }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
  const std::string& path_;
};

nlohmann::json read_value(Cursor& cursor, uint32_t type, int depth) {
  switch (type) {
    case kU8:
      return cursor.read<uint8_t>();
    case kI8:
      return cursor.read<int8_t>();
    case kU16:
      return cursor.read<uint16_t>();
    case kI16:
      return cursor.read<int16_t>();
    case kU32:
      return cursor.read<uint32_t>();
    case kI32:
      return cursor.read<int32_t>();
    case kF32:
      return cursor.read<float>();
    case kBool:
      return cursor.read<uint8_t>() != 0;
    case kString:
      return cursor.read_string();
    case kU64:
      return cursor.read<uint64_t>();
    case kI64:
      return cursor.read<int64_t>();
    case kF64:
      return cursor.read<double>();
    case kArray: {
      TSR_CHECK(depth < kMaxArrayDepth, "{}: corrupt GGUF: arrays nested too deeply",
                cursor.path());
      const auto element_type = cursor.read<uint32_t>();
      const auto count = cursor.read<uint64_t>();
      // Each element takes at least one byte, so a count beyond the file is a lie.
      cursor.need(count, "array elements");
      nlohmann::json out = nlohmann::json::array();
      out.get_ref<nlohmann::json::array_t&>().reserve(count);
      for (uint64_t i = 0; i < count; ++i)
        out.push_back(read_value(cursor, element_type, depth + 1));
      return out;
    }
    default:
      throw Error(
          fmt::format("{}: corrupt GGUF: unknown metadata value type {}", cursor.path(), type));
  }
}

}  // namespace

GgufFile::GgufFile(const std::string& path) : file_(path) {
  Cursor cursor(file_.data(), file_.size(), file_.path());
  TSR_CHECK(file_.size() >= 4 && cursor.read<uint32_t>() == kGgufMagic,
            "{}: not a GGUF file (bad magic)", path);
  version_ = cursor.read<uint32_t>();
  TSR_CHECK(version_ == 2 || version_ == 3, "{}: GGUF version {} is not supported (2 or 3)", path,
            version_);
  const auto tensor_count = cursor.read<uint64_t>();
  const auto kv_count = cursor.read<uint64_t>();
  cursor.need(kv_count, "metadata");
  for (uint64_t i = 0; i < kv_count; ++i) {
    const std::string key = cursor.read_string();
    const auto type = cursor.read<uint32_t>();
    metadata_[key] = read_value(cursor, type, 0);
  }

  struct Info {
    std::string name;
    std::vector<int64_t> shape;
    uint32_t type;
    uint64_t offset;
  };
  std::vector<Info> infos;
  cursor.need(tensor_count, "tensor infos");
  for (uint64_t i = 0; i < tensor_count; ++i) {
    Info info;
    info.name = cursor.read_string();
    const auto n_dims = cursor.read<uint32_t>();
    TSR_CHECK(n_dims >= 1 && n_dims <= 4, "{}: tensor '{}' has {} dimensions", path, info.name,
              n_dims);
    std::vector<int64_t> ne(n_dims);
    for (auto& d : ne) {
      const auto dim = cursor.read<uint64_t>();
      TSR_CHECK(dim > 0 && dim < (1ull << 40), "{}: tensor '{}' has a dimension of {}", path,
                info.name, dim);
      d = static_cast<int64_t>(dim);
    }
    info.shape.assign(ne.rbegin(), ne.rend());
    info.type = cursor.read<uint32_t>();
    info.offset = cursor.read<uint64_t>();
    infos.push_back(std::move(info));
  }

  uint64_t alignment = 32;
  if (metadata_.contains("general.alignment")) {
    const auto& value = metadata_["general.alignment"];
    TSR_CHECK(value.is_number_unsigned() || (value.is_number_integer() && value.get<int64_t>() > 0),
              "{}: general.alignment must be a positive integer", path);
    alignment = value.get<uint64_t>();
    TSR_CHECK(alignment > 0 && (alignment & (alignment - 1)) == 0 && alignment <= 4096,
              "{}: general.alignment {} is not a power of two", path, alignment);
  }
  const uint64_t data_start = (cursor.pos() + alignment - 1) / alignment * alignment;
  TSR_CHECK(data_start <= file_.size(), "{}: truncated GGUF: no tensor data", path);
  const uint64_t data_size = file_.size() - data_start;

  for (auto& info : infos) {
    TensorView view;
    view.name = info.name;
    view.shape = info.shape;
    switch (info.type) {
      case 0:
        view.dtype = FileDType::kF32;
        break;
      case 1:
        view.dtype = FileDType::kF16;
        break;
      case 2:
        view.dtype = FileDType::kQ4_0;
        break;
      case 3:
        view.dtype = FileDType::kQ4_1;
        break;
      case 6:
        view.dtype = FileDType::kQ5_0;
        break;
      case 7:
        view.dtype = FileDType::kQ5_1;
        break;
      case 8:
        view.dtype = FileDType::kQ8_0;
        break;
      case 10:
        view.dtype = FileDType::kQ2_K;
        break;
      case 11:
        view.dtype = FileDType::kQ3_K;
        break;
      case 12:
        view.dtype = FileDType::kQ4_K;
        break;
      case 13:
        view.dtype = FileDType::kQ5_K;
        break;
      case 14:
        view.dtype = FileDType::kQ6_K;
        break;
      case 20:
        view.dtype = FileDType::kIQ4_NL;
        break;
      case 24:
        view.dtype = FileDType::kI8;
        break;
      case 26:
        view.dtype = FileDType::kI32;
        break;
      case 30:
        view.dtype = FileDType::kBF16;
        break;
      default:
        throw Error(fmt::format(
            "{}: tensor '{}' has GGUF type {} ({}), which Tessera cannot "
            "load (supported: F32, F16, BF16, Q8_0, Q5_0, Q5_1, Q4_0, Q4_1, Q2_K, Q3_K, Q4_K, "
            "Q5_K, Q6_K, IQ4_NL)",
            path, info.name, info.type, ggml_type_name(info.type)));
    }
    const std::optional<size_t> bytes = tensor_bytes(view.dtype, view.shape);
    TSR_CHECK(bytes.has_value(),
              "{}: tensor '{}' ({}) has a row of {} elements, not a whole number of blocks, or "
              "more elements than 64 bits count",
              path, info.name, file_dtype_name(view.dtype), view.shape.back());
    view.bytes = *bytes;
    TSR_CHECK(info.offset % alignment == 0, "{}: tensor '{}' is misaligned", path, info.name);
    TSR_CHECK(info.offset <= data_size && view.bytes <= data_size - info.offset,
              "{}: tensor '{}' lies outside the file (bytes {}..{} of {}): truncated file?", path,
              info.name, info.offset, info.offset + view.bytes, data_size);
    view.data = file_.data() + data_start + info.offset;
    TSR_CHECK(tensors_.emplace(info.name, std::move(view)).second, "{}: tensor '{}' appears twice",
              path, info.name);
  }
}

const TensorView* GgufFile::find(const std::string& name) const {
  const auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

const TensorView& GgufFile::get(const std::string& name) const {
  const TensorView* view = find(name);
  TSR_CHECK(view != nullptr, "{}: tensor '{}' is missing", path(), name);
  return *view;
}

std::string GgufFile::get_string(const std::string& key) const {
  TSR_CHECK(metadata_.contains(key) && metadata_[key].is_string(),
            "{}: metadata '{}' is missing or not a string", path(), key);
  return metadata_[key].get<std::string>();
}

int64_t GgufFile::get_int(const std::string& key) const {
  TSR_CHECK(metadata_.contains(key) && metadata_[key].is_number_integer(),
            "{}: metadata '{}' is missing or not an integer", path(), key);
  return metadata_[key].get<int64_t>();
}

double GgufFile::get_float(const std::string& key) const {
  TSR_CHECK(metadata_.contains(key) && metadata_[key].is_number(),
            "{}: metadata '{}' is missing or not a number", path(), key);
  return metadata_[key].get<double>();
}

}  // namespace tessera::model
