#include "model/canonical_weight.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>

#include "common/check.h"
#include "tessera/plugin.hpp"

namespace tessera::model {

namespace {

float read_f16(const uint8_t* p) {
  uint16_t bits;
  std::memcpy(&bits, p, 2);
  return tsr::sdk::f16_to_f32(bits);
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
    case FileDType::kQ8_0:
    case FileDType::kQ4_0: {
      const bool int4 = view.dtype == FileDType::kQ4_0;
      const int64_t groups = cols / 32;
      const size_t block_bytes = int4 ? 18 : 34;
      w.scales_.resize(static_cast<size_t>(rows * groups));
      w.data_.resize(static_cast<size_t>(int4 ? rows * cols / 2 : rows * cols));
      for (int64_t r = 0; r < rows; ++r) {
        for (int64_t g = 0; g < groups; ++g) {
          const uint8_t* block = view.data + (r * groups + g) * block_bytes;
          w.scales_[r * groups + g] = read_f16(block);
          if (int4) {
            uint8_t* out = w.data_.data() + (r * cols + g * 32) / 2;
            for (int j = 0; j < 16; j += 1) {
              // element j = low nibble of qs[j], element j + 16 = high nibble of qs[j]
              const auto nibble = [&](int e) {
                return e < 16 ? block[2 + e] & 0x0f : block[2 + e - 16] >> 4;
              };
              out[j] = static_cast<uint8_t>(nibble(2 * j) | (nibble(2 * j + 1) << 4));
            }
          } else {
            std::memcpy(w.data_.data() + r * cols + g * 32, block + 2, 32);
          }
        }
      }
      w.desc_.format = int4 ? TSR_WEIGHT_FORMAT_INT4_GROUP : TSR_WEIGHT_FORMAT_INT8_GROUP;
      w.desc_.group_size = 32;
      break;
    }
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
    default:
      throw Error(fmt::format("weight '{}' has type {}, which cannot be used as a linear weight",
                              view.name, file_dtype_name(view.dtype)));
  }
  w.desc_.data = w.data_.data();
  w.desc_.scales = w.scales_.data();
  return w;
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
  if (view.dtype == FileDType::kQ8_0 || view.dtype == FileDType::kQ4_0) {
    const bool int4 = view.dtype == FileDType::kQ4_0;
    const size_t block_bytes = int4 ? 18 : 34;
    for (int64_t b = 0; b < n / 32; ++b) {
      const uint8_t* block = view.data + b * block_bytes;
      const float d = read_f16(block);
      for (int e = 0; e < 32; ++e) {
        const int q = int4 ? ((e < 16 ? block[2 + e] & 0x0f : block[2 + e - 16] >> 4) - 8)
                           : static_cast<int8_t>(block[2 + e]);
        out[b * 32 + e] = d * static_cast<float>(q);
      }
    }
    return out;
  }
  for (int64_t i = 0; i < n; ++i) out[i] = element_f32(view, i);
  return out;
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
  }
  return 4.0;
}

}  // namespace tessera::model
