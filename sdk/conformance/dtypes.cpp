// Dtype handling of the conformance suite: sizes, names, f16/bf16/fp8 conversions with
// round-to-nearest-even, and encoding float64 values to the bytes a tensor holds. Written
// by hand, deliberately not shared with plugin.hpp, so a conversion bug there cannot hide a
// plugin bug.
#include <cmath>
#include <cstring>

#include "harness.h"

namespace tsr::conformance {

// ---- dtypes -------------------------------------------------------------------------------

size_t dtype_bytes(tsr_dtype dtype) {
  switch (dtype) {
    case TSR_DTYPE_F32:
    case TSR_DTYPE_I32:
      return 4;
    case TSR_DTYPE_F16:
    case TSR_DTYPE_BF16:
      return 2;
    case TSR_DTYPE_I64:
    case TSR_DTYPE_U64:
      return 8;
    case TSR_DTYPE_U8:
    case TSR_DTYPE_I8:
    case TSR_DTYPE_FP8_E4M3:
      return 1;
    default:
      return 0;
  }
}

const char* dtype_label(tsr_dtype dtype) {
  switch (dtype) {
    case TSR_DTYPE_F32:
      return "f32";
    case TSR_DTYPE_F16:
      return "f16";
    case TSR_DTYPE_BF16:
      return "bf16";
    case TSR_DTYPE_I32:
      return "i32";
    case TSR_DTYPE_I64:
      return "i64";
    case TSR_DTYPE_U8:
      return "u8";
    case TSR_DTYPE_I8:
      return "i8";
    case TSR_DTYPE_FP8_E4M3:
      return "fp8_e4m3";
    case TSR_DTYPE_U64:
      return "u64";
    default:
      return "invalid";
  }
}

bool is_float_dtype(tsr_dtype dtype) {
  return dtype == TSR_DTYPE_F32 || dtype == TSR_DTYPE_F16 || dtype == TSR_DTYPE_BF16;
}

float bf16_bits_to_float(uint16_t bits) {
  const uint32_t wide = static_cast<uint32_t>(bits) << 16;
  float out;
  std::memcpy(&out, &wide, sizeof out);
  return out;
}

uint16_t float_to_bf16_bits(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  if (std::isnan(value)) return static_cast<uint16_t>((bits >> 16) | 0x0040u);
  const uint32_t lsb = (bits >> 16) & 1u;
  return static_cast<uint16_t>((bits + 0x7fffu + lsb) >> 16);
}

float f16_bits_to_float(uint16_t bits) {
  const int sign = (bits & 0x8000) ? -1 : 1;
  const int exponent = (bits >> 10) & 0x1f;
  const int mantissa = bits & 0x3ff;
  double magnitude;
  if (exponent == 0x1f) {
    magnitude = mantissa ? std::nan("") : INFINITY;
  } else if (exponent == 0) {
    magnitude = std::ldexp(static_cast<double>(mantissa), -24);
  } else {
    magnitude = std::ldexp(1.0 + mantissa / 1024.0, exponent - 15);
  }
  return static_cast<float>(sign * magnitude);
}

// Rounds in double arithmetic (exact for every float input), nearest-even like IEEE.
uint16_t float_to_f16_bits(float value) {
  const uint16_t sign = std::signbit(value) ? 0x8000 : 0;
  if (std::isnan(value)) return sign | 0x7e00;
  const double a = std::fabs(static_cast<double>(value));
  if (a >= 65520.0) return sign | 0x7c00;
  if (a < std::ldexp(1.0, -14)) {
    // Subnormal in units of 2^-24; 1024 units is the smallest normal, encoded alike.
    return sign | static_cast<uint16_t>(std::nearbyint(a * std::ldexp(1.0, 24)));
  }
  const int e = std::ilogb(a);
  const double mantissa = std::nearbyint((a / std::ldexp(1.0, e) - 1.0) * 1024.0);
  // A mantissa that rounds up to 1024 carries into the exponent, which is correct.
  return sign | static_cast<uint16_t>(((e + 15) << 10) + static_cast<int>(mantissa));
}

double fp8_e4m3_to_double(uint8_t bits) {
  const int exponent = (bits >> 3) & 0xf;
  const int mantissa = bits & 0x7;
  if (exponent == 0xf && mantissa == 0x7) return std::nan("");
  double magnitude = exponent == 0 ? std::ldexp(mantissa / 8.0, -6)
                                   : std::ldexp(1.0 + mantissa / 8.0, exponent - 7);
  return (bits & 0x80) ? -magnitude : magnitude;
}

double round_to(tsr_dtype dtype, double value) {
  switch (dtype) {
    case TSR_DTYPE_F32:
      return static_cast<float>(value);
    case TSR_DTYPE_BF16:
      return bf16_bits_to_float(float_to_bf16_bits(static_cast<float>(value)));
    case TSR_DTYPE_F16:
      return f16_bits_to_float(float_to_f16_bits(static_cast<float>(value)));
    case TSR_DTYPE_I32:
      return static_cast<double>(static_cast<int32_t>(value));
    case TSR_DTYPE_I64:
      return static_cast<double>(static_cast<int64_t>(value));
    default:
      return value;
  }
}

std::vector<uint8_t> encode(tsr_dtype dtype, const std::vector<double>& values) {
  const size_t size = dtype_bytes(dtype);
  std::vector<uint8_t> bytes(values.size() * size);
  for (size_t i = 0; i < values.size(); ++i) {
    uint8_t* dst = bytes.data() + i * size;
    const double v = values[i];
    switch (dtype) {
      case TSR_DTYPE_F32: {
        const float f = static_cast<float>(v);
        std::memcpy(dst, &f, 4);
        break;
      }
      case TSR_DTYPE_BF16: {
        const uint16_t h = float_to_bf16_bits(static_cast<float>(v));
        std::memcpy(dst, &h, 2);
        break;
      }
      case TSR_DTYPE_F16: {
        const uint16_t h = float_to_f16_bits(static_cast<float>(v));
        std::memcpy(dst, &h, 2);
        break;
      }
      case TSR_DTYPE_I32: {
        const int32_t x = static_cast<int32_t>(v);
        std::memcpy(dst, &x, 4);
        break;
      }
      case TSR_DTYPE_I64: {
        const int64_t x = static_cast<int64_t>(v);
        std::memcpy(dst, &x, 8);
        break;
      }
      case TSR_DTYPE_U64: {
        const uint64_t x = static_cast<uint64_t>(v);
        std::memcpy(dst, &x, 8);
        break;
      }
      case TSR_DTYPE_I8: {
        const int8_t x = static_cast<int8_t>(v);
        std::memcpy(dst, &x, 1);
        break;
      }
      case TSR_DTYPE_U8: {
        dst[0] = static_cast<uint8_t>(v);
        break;
      }
      default:
        break;
    }
  }
  return bytes;
}

std::vector<double> decode(tsr_dtype dtype, const std::vector<uint8_t>& bytes) {
  const size_t size = dtype_bytes(dtype);
  std::vector<double> values(size ? bytes.size() / size : 0);
  for (size_t i = 0; i < values.size(); ++i) {
    const uint8_t* src = bytes.data() + i * size;
    switch (dtype) {
      case TSR_DTYPE_F32: {
        float f;
        std::memcpy(&f, src, 4);
        values[i] = f;
        break;
      }
      case TSR_DTYPE_BF16: {
        uint16_t h;
        std::memcpy(&h, src, 2);
        values[i] = bf16_bits_to_float(h);
        break;
      }
      case TSR_DTYPE_F16: {
        uint16_t h;
        std::memcpy(&h, src, 2);
        values[i] = f16_bits_to_float(h);
        break;
      }
      case TSR_DTYPE_I32: {
        int32_t x;
        std::memcpy(&x, src, 4);
        values[i] = x;
        break;
      }
      case TSR_DTYPE_I64: {
        int64_t x;
        std::memcpy(&x, src, 8);
        values[i] = static_cast<double>(x);
        break;
      }
      case TSR_DTYPE_U64: {
        uint64_t x;
        std::memcpy(&x, src, 8);
        values[i] = static_cast<double>(x);
        break;
      }
      case TSR_DTYPE_I8: {
        values[i] = static_cast<int8_t>(src[0]);
        break;
      }
      case TSR_DTYPE_U8: {
        values[i] = src[0];
        break;
      }
      case TSR_DTYPE_FP8_E4M3: {
        values[i] = fp8_e4m3_to_double(src[0]);
        break;
      }
      default:
        break;
    }
  }
  return values;
}

std::vector<tsr_dtype> activation_dtypes() {
  std::vector<tsr_dtype> out;
  for (tsr_dtype d : {TSR_DTYPE_F32, TSR_DTYPE_BF16, TSR_DTYPE_F16}) {
    if (plugin().props.activation_dtypes & TSR_DTYPE_BIT(d)) out.push_back(d);
  }
  return out;
}

}  // namespace tsr::conformance
