// The prepacked weight behind tsr_weight_t: a float or quantized weight with our own kernels,
// or (F32 weights computed in bf16 on a CPU with bf16 GEMM) a oneDNN-packed bf16 matmul. Immutable
// after prepack, so any thread may use it.
#ifndef TESSERA_PLUGINS_CPU_WEIGHT_H
#define TESSERA_PLUGINS_CPU_WEIGHT_H

#include <cstdint>
#include <memory>

#include "cpu_internal.h"
#include "linear_asym.h"
#include "linear_asym8.h"
#include "linear_half.h"
#include "linear_onednn.h"
#include "linear_quant.h"

struct tsr_weight_s {
  uint64_t magic = tsr::cpu::kWeightMagic;
  tsr_device_s* device = nullptr;
  tsr_weight_format format = TSR_WEIGHT_FORMAT_F32;
  int64_t n = 0;
  int64_t k = 0;
  std::unique_ptr<tsr::cpu::OnednnGemm> gemm;       // F32 computed in bf16 by oneDNN
  std::unique_ptr<tsr::cpu::F32Weight> dense;       // F32
  std::unique_ptr<tsr::cpu::HalfWeight> half;       // F16, BF16 (kept 16-bit)
  std::unique_ptr<tsr::cpu::QuantWeight> quant;     // quantized formats
  std::unique_ptr<tsr::cpu::AsymInt4Weight> asym;   // INT4_GROUP_ASYM
  std::unique_ptr<tsr::cpu::AsymInt8Weight> asym8;  // INT8_GROUP_ASYM
};

namespace tsr::cpu {
tsr_weight_s* check_weight(tsr_weight_t weight, const char* what);
}  // namespace tsr::cpu

#endif  // TESSERA_PLUGINS_CPU_WEIGHT_H
