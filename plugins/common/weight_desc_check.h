// The weight_prepack descriptor check every plugin needs (plugin.h's tsr_weight_desc
// contract), and the format predicates it is made of. A plugin adds only its own limits
// (e.g. the formats it declares) on top.
#pragma once

#include "tessera/plugin.h"

namespace tsr::plugin {

// A value of tsr_weight_format this ABI defines.
bool weight_format_known(tsr_weight_format f);
// INT4_GROUP_ASYM / INT8_GROUP_ASYM: scales and mins per group.
bool weight_format_asym(tsr_weight_format f);
// Scales per group of group_size along K (the group-wise and asym formats).
bool weight_format_grouped(tsr_weight_format f);
// Two 4-bit codes per byte.
bool weight_format_int4(tsr_weight_format f);
// Integer or fp8 codes with f32 scales (the rest are dense F32/F16/BF16).
bool weight_format_quantized(tsr_weight_format f);

// Throws INVALID_ARGUMENT naming the field unless `d` is a descriptor weight_prepack can take:
// a known format, sizes in range, data, an activation compute dtype, scales for quantized
// formats, mins for the asym ones (which an ABI 1.0 descriptor lacks), a group_size that
// divides cols, and even cols for 4-bit codes.
void check_weight_desc(const tsr_weight_desc* d, const char* op = "weight_prepack");

}  // namespace tsr::plugin
