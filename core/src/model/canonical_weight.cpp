#include "model/canonical_weight.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>

#include "common/check.h"
#include "model/gguf_blocks.h"
#include "tessera/plugin.hpp"

namespace tessera::model {

namespace {

float read_f16(const uint8_t* p) {
  uint16_t bits;
  std::memcpy(&bits, p, 2);
  return tsr::sdk::f16_to_f32(bits);
}

// Whole GGUF blocks into a canonical quantized weight (layouts in gguf_blocks.h). Rows are
// whole blocks, so block b holds the flattened elements [b * E, (b + 1) * E) and its groups are
// scale entries b * groups_per_block onwards, in row-major order as the ABI lays them out.
void blocks_to_canonical(const TensorView& view, int64_t rows, int64_t cols,
                         const GgufBlockLayout& layout, std::vector<uint8_t>& data,
                         std::vector<float>& scales, std::vector<float>& mins) {
  const bool int8 = layout.canonical == TSR_WEIGHT_FORMAT_INT8_GROUP;
  const bool asym = layout.canonical == TSR_WEIGHT_FORMAT_INT4_GROUP_ASYM;
  const int64_t groups_per_block = layout.elements / layout.group;
  const int64_t blocks = rows * cols / layout.elements;
  data.assign(static_cast<size_t>(int8 ? rows * cols : rows * cols / 2), 0);
  scales.resize(static_cast<size_t>(blocks * groups_per_block));
  mins.assign(asym ? scales.size() : 0, 0.0f);
  std::vector<int8_t> codes(static_cast<size_t>(layout.elements));
  std::vector<float> unused_mins(static_cast<size_t>(groups_per_block));
  for (int64_t b = 0; b < blocks; ++b) {
    decode_gguf_block(view, b, codes.data(), scales.data() + b * groups_per_block,
                      asym ? mins.data() + b * groups_per_block : unused_mins.data());
    if (int8) {
      std::memcpy(data.data() + b * layout.elements, codes.data(), codes.size());
      continue;
    }
    // The ABI packs consecutive pairs: element 2i in the low nibble of byte i.
    uint8_t* out = data.data() + b * layout.elements / 2;
    for (int i = 0; i < layout.elements / 2; ++i) {
      out[i] = static_cast<uint8_t>((codes[2 * i] & 0x0f) | (codes[2 * i + 1] << 4));
    }
  }
}

float element_f32(const TensorView& view, int64_t i) {
  const uint8_t* p = view.data;
  switch (view.dtype) {
    case FileDType::kF32: {
      float v;
      std::memcpy(&v, p + i * 4, 4);
      return v;
    }
    case FileDType::kF16:
      return read_f16(p + i * 2);
    case FileDType::kBF16: {
      uint16_t bits;
      std::memcpy(&bits, p + i * 2, 2);
      return tsr::sdk::bf16_to_f32(bits);
    }
    default:
      throw Error(fmt::format("tensor '{}': not a float tensor", view.name));
  }
}

void quantize_rows(const TensorView& view, int64_t rows, int64_t cols, int64_t group, bool int4,
                   std::vector<uint8_t>& data, std::vector<float>& scales) {
  const int64_t groups = cols / group;
  scales.assign(static_cast<size_t>(rows * groups), 0.0f);
  data.assign(static_cast<size_t>(int4 ? rows * cols / 2 : rows * cols), 0);
  const float qmax = int4 ? 7.0f : 127.0f;
  std::vector<float> row(static_cast<size_t>(cols));
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) row[c] = element_f32(view, r * cols + c);
    for (int64_t g = 0; g < groups; ++g) {
      float absmax = 0.0f;
      for (int64_t c = g * group; c < (g + 1) * group; ++c)
        absmax = std::max(absmax, std::fabs(row[c]));
      const float scale = absmax > 0.0f ? absmax / qmax : 1.0f;
      scales[r * groups + g] = scale;
      for (int64_t c = g * group; c < (g + 1) * group; ++c) {
        const float q =
            std::clamp(std::nearbyint(row[c] / scale), -qmax - (int4 ? 1.0f : 0.0f), qmax);
        if (int4) {
          const auto u = static_cast<uint8_t>(static_cast<int>(q) + 8);
          uint8_t& byte = data[(r * cols + c) / 2];
          byte = (c % 2 == 0) ? static_cast<uint8_t>((byte & 0xf0) | u)
                              : static_cast<uint8_t>((byte & 0x0f) | (u << 4));
        } else {
          data[r * cols + c] = static_cast<uint8_t>(static_cast<int8_t>(q));
        }
      }
    }
  }
}

// The 127 non-negative finite e4m3fn values, by code (0x00 .. 0x7e), ascending.
const std::array<float, 127>& fp8_positive_values() {
  static const std::array<float, 127> values = [] {
    std::array<float, 127> v{};
    for (int code = 0; code < 127; ++code) {
      v[static_cast<size_t>(code)] = tsr::sdk::fp8_e4m3_to_f32(static_cast<uint8_t>(code));
    }
    return v;
  }();
  return values;
}

// Round to the nearest e4m3fn value, ties to the even code (the even mantissa), saturating at
// +-448; x must be finite. Written by hand: no packaged C++ library converts to fp8 on the
// host.
uint8_t to_fp8_e4m3(float x) {
  const auto& values = fp8_positive_values();
  const float a = std::fabs(x);
  const auto upper = std::lower_bound(values.begin(), values.end(), a);
  size_t code;
  if (upper == values.end()) {
    code = values.size() - 1;
  } else if (upper == values.begin() || *upper == a) {
    code = static_cast<size_t>(upper - values.begin());
  } else {
    const size_t hi = static_cast<size_t>(upper - values.begin());
    const size_t lo = hi - 1;
    const float below = a - values[lo];
    const float above = values[hi] - a;
    code = below < above ? lo : above < below ? hi : (lo % 2 == 0 ? lo : hi);
  }
  return static_cast<uint8_t>(code | (std::signbit(x) && code != 0 ? 0x80u : 0u));
}

// Per-row scales (absmax / 448) and e4m3fn codes of w / scale.
void quantize_rows_fp8(const TensorView& view, int64_t rows, int64_t cols,
                       std::vector<uint8_t>& data, std::vector<float>& scales) {
  constexpr float kFp8Max = 448.0f;
  scales.assign(static_cast<size_t>(rows), 1.0f);
  data.assign(static_cast<size_t>(rows * cols), 0);
  std::vector<float> row(static_cast<size_t>(cols));
  for (int64_t r = 0; r < rows; ++r) {
    float absmax = 0.0f;
    for (int64_t c = 0; c < cols; ++c) {
      row[c] = element_f32(view, r * cols + c);
      TSR_CHECK(std::isfinite(row[c]), "weight '{}': non-finite value at [{}, {}]", view.name, r,
                c);
      absmax = std::max(absmax, std::fabs(row[c]));
    }
    const float scale = absmax > 0.0f ? absmax / kFp8Max : 1.0f;
    scales[static_cast<size_t>(r)] = scale;
    for (int64_t c = 0; c < cols; ++c) data[r * cols + c] = to_fp8_e4m3(row[c] / scale);
  }
}

}  // namespace

Quantization parse_quantization(const std::string& name) {
  if (name.empty() || name == "none") return Quantization::kNone;
  if (name == "int8" || name == "sym_int8") return Quantization::kInt8;
  if (name == "int4" || name == "sym_int4") return Quantization::kInt4;
  if (name == "fp8") return Quantization::kFp8;
  throw Error(
      fmt::format("unknown quantization '{}' (int8, int4, sym_int8, sym_int4, fp8, none)", name));
}

const char* quantization_name(Quantization q) {
  switch (q) {
    case Quantization::kNone:
      return "none";
    case Quantization::kInt8:
      return "int8";
    case Quantization::kInt4:
      return "int4";
    case Quantization::kFp8:
      return "fp8";
  }
  return "?";
}

CanonicalWeight CanonicalWeight::from_tensor(const TensorView& view, Quantization quantization,
                                             int64_t group_size) {
  TSR_CHECK(view.shape.size() == 2, "weight '{}' must be 2-D, has {} dimensions", view.name,
            view.shape.size());
  CanonicalWeight w;
  const int64_t rows = view.shape[0];
  const int64_t cols = view.shape[1];
  w.desc_.struct_size = sizeof(tsr_weight_desc);
  w.desc_.rows = rows;
  w.desc_.cols = cols;
  w.desc_.compute_dtype = TSR_DTYPE_F32;
  switch (view.dtype) {
    case FileDType::kF32:
    case FileDType::kF16:
    case FileDType::kBF16: {
      if (quantization == Quantization::kInt8 || quantization == Quantization::kInt4) {
        int64_t group = group_size;
        while (group > 1 && cols % group != 0) group /= 2;
        TSR_CHECK(group >= 8 || quantization == Quantization::kInt8,
                  "weight '{}': {} columns cannot be split into int4 groups", view.name, cols);
        TSR_CHECK(quantization == Quantization::kInt8 || cols % 2 == 0,
                  "weight '{}': int4 needs an even column count, has {}", view.name, cols);
        quantize_rows(view, rows, cols, group, quantization == Quantization::kInt4, w.data_,
                      w.scales_);
        w.desc_.format = quantization == Quantization::kInt4 ? TSR_WEIGHT_FORMAT_INT4_GROUP
                                                             : TSR_WEIGHT_FORMAT_INT8_GROUP;
        w.desc_.group_size = group;
        break;
      }
      if (quantization == Quantization::kFp8) {
        quantize_rows_fp8(view, rows, cols, w.data_, w.scales_);
        w.desc_.format = TSR_WEIGHT_FORMAT_FP8_E4M3;
        w.desc_.group_size = 0;
        break;
      }
      TSR_CHECK(quantization == Quantization::kNone,
                "quantization '{}' at load is not supported (int8, int4, fp8)",
                quantization_name(quantization));
      w.desc_.format = view.dtype == FileDType::kF32   ? TSR_WEIGHT_FORMAT_F32
                       : view.dtype == FileDType::kF16 ? TSR_WEIGHT_FORMAT_F16
                                                       : TSR_WEIGHT_FORMAT_BF16;
      w.desc_.data = view.data;  // a view of the mapping: no copy
      return w;
    }
    default: {
      const GgufBlockLayout layout = gguf_block_layout(view.dtype);
      TSR_CHECK(layout.elements > 0,
                "weight '{}' has type {}, which cannot be used as a linear "
                "weight",
                view.name, file_dtype_name(view.dtype));
      // No requantizing: GGUF blocks keep their values (the --quantization request applies to
      // full-precision weights only).
      blocks_to_canonical(view, rows, cols, layout, w.data_, w.scales_, w.mins_);
      w.desc_.format = layout.canonical;
      w.desc_.group_size = layout.group;
      if (!w.mins_.empty()) w.desc_.mins = w.mins_.data();
      break;
    }
  }
  w.desc_.data = w.data_.data();
  w.desc_.scales = w.scales_.data();
  return w;
}

namespace {

// Bytes of `elements` consecutive elements of one row (int4 packs two per byte).
size_t row_span_bytes(tsr_weight_format format, int64_t elements) {
  switch (format) {
    case TSR_WEIGHT_FORMAT_F32:
      return 4 * static_cast<size_t>(elements);
    case TSR_WEIGHT_FORMAT_F16:
    case TSR_WEIGHT_FORMAT_BF16:
      return 2 * static_cast<size_t>(elements);
    case TSR_WEIGHT_FORMAT_INT4_GROUP:
    case TSR_WEIGHT_FORMAT_INT4_GROUP_ASYM:
      return static_cast<size_t>(elements) / 2;
    default:
      return static_cast<size_t>(elements);
  }
}

}  // namespace

CanonicalWeight CanonicalWeight::slice(int64_t row_begin, int64_t num_rows, int64_t col_begin,
                                       int64_t num_cols, const std::string& what) const {
  const tsr_weight_desc& d = desc_;
  TSR_INVARIANT(row_begin >= 0 && num_rows > 0 && row_begin + num_rows <= d.rows &&
                    col_begin >= 0 && num_cols > 0 && col_begin + num_cols <= d.cols,
                "{}: slice rows [{}, +{}) cols [{}, +{}) outside [{}, {}]", what, row_begin,
                num_rows, col_begin, num_cols, d.rows, d.cols);
  const bool grouped = d.group_size > 0 && d.scales != nullptr;
  if (grouped && (col_begin % d.group_size != 0 || num_cols % d.group_size != 0)) {
    throw Error(fmt::format(
        "{}: a tensor-parallel shard of {} columns starting at column {} would split its "
        "quantization groups of {} ({} weights); choose a --tensor-parallel-size whose shards "
        "hold whole groups, or load the model unquantized",
        what, num_cols, col_begin, d.group_size, weight_format_name(d.format)));
  }
  const bool int4 =
      d.format == TSR_WEIGHT_FORMAT_INT4_GROUP || d.format == TSR_WEIGHT_FORMAT_INT4_GROUP_ASYM;
  TSR_CHECK(!int4 || (col_begin % 2 == 0 && num_cols % 2 == 0),
            "{}: an int4 shard must start and end on an even column", what);
  CanonicalWeight w;
  w.desc_ = d;
  w.desc_.rows = num_rows;
  w.desc_.cols = num_cols;
  const size_t row_bytes = row_span_bytes(d.format, d.cols);
  const size_t offset = row_span_bytes(d.format, col_begin);
  const size_t take = row_span_bytes(d.format, num_cols);
  const auto* src = static_cast<const uint8_t*>(d.data);
  w.data_.reserve(take * static_cast<size_t>(num_rows));
  for (int64_t r = row_begin; r < row_begin + num_rows; ++r) {
    const uint8_t* row = src + static_cast<size_t>(r) * row_bytes + offset;
    w.data_.insert(w.data_.end(), row, row + take);
  }
  w.desc_.data = w.data_.data();
  // Scales (and asymmetric mins) are [rows, groups per row], or one per row.
  auto cut = [&](const float* values, std::vector<float>& out) -> const float* {
    if (values == nullptr) return nullptr;
    const int64_t per_row = grouped ? d.cols / d.group_size : 1;
    const int64_t first = grouped ? col_begin / d.group_size : 0;
    const int64_t count = grouped ? num_cols / d.group_size : 1;
    for (int64_t r = row_begin; r < row_begin + num_rows; ++r) {
      const float* row = values + r * per_row + first;
      out.insert(out.end(), row, row + count);
    }
    return out.data();
  };
  w.desc_.scales = cut(d.scales, w.scales_);
  w.desc_.mins = cut(d.mins, w.mins_);
  return w;
}

CanonicalWeight::CanonicalWeight(const CanonicalWeight& other)
    : data_(other.data_), scales_(other.scales_), mins_(other.mins_), desc_(other.desc_) {
  repoint(other);
}

CanonicalWeight& CanonicalWeight::operator=(const CanonicalWeight& other) {
  if (this != &other) {
    data_ = other.data_;
    scales_ = other.scales_;
    mins_ = other.mins_;
    desc_ = other.desc_;
    repoint(other);
  }
  return *this;
}

// A copy owns its own bytes: pointers into `other`'s vectors move to ours; pointers into a
// mapped file stay.
void CanonicalWeight::repoint(const CanonicalWeight& other) {
  if (!other.data_.empty() && desc_.data == other.data_.data()) desc_.data = data_.data();
  if (!other.scales_.empty() && desc_.scales == other.scales_.data()) {
    desc_.scales = scales_.data();
  }
  if (!other.mins_.empty() && desc_.mins == other.mins_.data()) desc_.mins = mins_.data();
}

CanonicalWeight CanonicalWeight::concat_rows(const CanonicalWeight& a, const CanonicalWeight& b) {
  const tsr_weight_desc& da = a.desc_;
  const tsr_weight_desc& db = b.desc_;
  TSR_CHECK(da.format == db.format && da.cols == db.cols && da.group_size == db.group_size,
            "cannot fuse weights of different formats or shapes");
  size_t row_bytes = 0;
  switch (da.format) {
    case TSR_WEIGHT_FORMAT_F32:
      row_bytes = 4 * static_cast<size_t>(da.cols);
      break;
    case TSR_WEIGHT_FORMAT_F16:
    case TSR_WEIGHT_FORMAT_BF16:
      row_bytes = 2 * static_cast<size_t>(da.cols);
      break;
    case TSR_WEIGHT_FORMAT_INT4_GROUP:
    case TSR_WEIGHT_FORMAT_INT4_GROUP_ASYM:
      row_bytes = static_cast<size_t>(da.cols) / 2;
      break;
    default:
      row_bytes = static_cast<size_t>(da.cols);
      break;
  }
  CanonicalWeight w;
  w.desc_ = da;
  w.desc_.rows = da.rows + db.rows;
  const auto* pa = static_cast<const uint8_t*>(da.data);
  const auto* pb = static_cast<const uint8_t*>(db.data);
  w.data_.assign(pa, pa + row_bytes * static_cast<size_t>(da.rows));
  w.data_.insert(w.data_.end(), pb, pb + row_bytes * static_cast<size_t>(db.rows));
  w.desc_.data = w.data_.data();
  if (da.scales != nullptr) {
    const size_t per_row = da.group_size > 0 ? static_cast<size_t>(da.cols / da.group_size) : 1;
    w.scales_.assign(da.scales, da.scales + per_row * static_cast<size_t>(da.rows));
    w.scales_.insert(w.scales_.end(), db.scales,
                     db.scales + per_row * static_cast<size_t>(db.rows));
    w.desc_.scales = w.scales_.data();
  }
  if (da.mins != nullptr) {
    const size_t per_row = static_cast<size_t>(da.cols / da.group_size);
    w.mins_.assign(da.mins, da.mins + per_row * static_cast<size_t>(da.rows));
    w.mins_.insert(w.mins_.end(), db.mins, db.mins + per_row * static_cast<size_t>(db.rows));
    w.desc_.mins = w.mins_.data();
  }
  return w;
}

std::vector<uint8_t> f32_to_dtype(const std::vector<float>& values, tsr_dtype dtype) {
  std::vector<uint8_t> out;
  if (dtype == TSR_DTYPE_F32) {
    out.resize(values.size() * 4);
    std::memcpy(out.data(), values.data(), out.size());
    return out;
  }
  TSR_CHECK(dtype == TSR_DTYPE_BF16 || dtype == TSR_DTYPE_F16, "activation dtype {} unsupported",
            static_cast<int>(dtype));
  out.resize(values.size() * 2);
  for (size_t i = 0; i < values.size(); ++i) {
    const uint16_t bits = dtype == TSR_DTYPE_BF16 ? tsr::sdk::f32_to_bf16(values[i])
                                                  : tsr::sdk::f32_to_f16(values[i]);
    std::memcpy(out.data() + 2 * i, &bits, 2);
  }
  return out;
}

std::vector<float> to_f32(const TensorView& view) {
  const int64_t n = view.numel();
  std::vector<float> out(static_cast<size_t>(n));
  const GgufBlockLayout layout = gguf_block_layout(view.dtype);
  if (layout.elements > 0) {
    // The canonical formula in float32, operation for operation as ggml and the gguf package
    // dequantize (a product, then the min added).
    const int64_t groups_per_block = layout.elements / layout.group;
    std::vector<int8_t> codes(static_cast<size_t>(layout.elements));
    std::vector<float> scales(static_cast<size_t>(groups_per_block));
    std::vector<float> mins(static_cast<size_t>(groups_per_block), 0.0f);
    for (int64_t b = 0; b < n / layout.elements; ++b) {
      decode_gguf_block(view, b, codes.data(), scales.data(), mins.data());
      float* y = out.data() + b * layout.elements;
      for (int e = 0; e < layout.elements; ++e) {
        const float scale = scales[static_cast<size_t>(e / layout.group)];
        switch (layout.canonical) {
          case TSR_WEIGHT_FORMAT_INT4_GROUP:
            y[e] = scale * static_cast<float>(codes[e] - 8);
            break;
          case TSR_WEIGHT_FORMAT_INT4_GROUP_ASYM: {
            const float product = scale * static_cast<float>(codes[e]);
            y[e] = product + mins[static_cast<size_t>(e / layout.group)];
            break;
          }
          default:
            y[e] = scale * static_cast<float>(codes[e]);
            break;
        }
      }
    }
    return out;
  }
  for (int64_t i = 0; i < n; ++i) out[i] = element_f32(view, i);
  return out;
}

const char* weight_format_name(tsr_weight_format format) {
  switch (format) {
    case TSR_WEIGHT_FORMAT_F32:
      return "f32";
    case TSR_WEIGHT_FORMAT_F16:
      return "f16";
    case TSR_WEIGHT_FORMAT_BF16:
      return "bf16";
    case TSR_WEIGHT_FORMAT_INT8_PER_CHANNEL:
      return "int8_per_channel";
    case TSR_WEIGHT_FORMAT_INT8_GROUP:
      return "int8_group";
    case TSR_WEIGHT_FORMAT_INT4_GROUP:
      return "int4_group";
    case TSR_WEIGHT_FORMAT_FP8_E4M3:
      return "fp8_e4m3";
    case TSR_WEIGHT_FORMAT_INT4_GROUP_ASYM:
      return "int4_group_asym";
    case TSR_WEIGHT_FORMAT_INT8_GROUP_ASYM:
      return "int8_group_asym";
  }
  return "unknown";
}

double canonical_bytes_per_element(tsr_weight_format format, int64_t group_size) {
  const double scale_bytes = group_size > 0 ? 4.0 / static_cast<double>(group_size) : 0.0;
  switch (format) {
    case TSR_WEIGHT_FORMAT_F32:
      return 4.0;
    case TSR_WEIGHT_FORMAT_F16:
    case TSR_WEIGHT_FORMAT_BF16:
      return 2.0;
    case TSR_WEIGHT_FORMAT_INT8_PER_CHANNEL:
    case TSR_WEIGHT_FORMAT_FP8_E4M3:
      return 1.0;
    case TSR_WEIGHT_FORMAT_INT8_GROUP:
      return 1.0 + scale_bytes;
    case TSR_WEIGHT_FORMAT_INT4_GROUP:
      return 0.5 + scale_bytes;
    case TSR_WEIGHT_FORMAT_INT4_GROUP_ASYM:
      return 0.5 + 2 * scale_bytes;  // scales and mins
    case TSR_WEIGHT_FORMAT_INT8_GROUP_ASYM:
      return 1.0 + 2 * scale_bytes;
  }
  return 4.0;
}

}  // namespace tessera::model
