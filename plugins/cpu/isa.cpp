// ISA detection and kernel-set selection (see isa.h).
#include "isa.h"

#include <cpuid.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>

#include "cpu_internal.h"
#include "kernels.h"
#include "linear_half.h"
#include "quant_tiles.h"

namespace tsr::cpu {
namespace {
std::atomic<int> g_active{static_cast<int>(Isa::kGeneric)};

// F16C straight from CPUID: clang 14's __builtin_cpu_supports does not know it (the clang
// ASan build of scripts/sanitize.sh compiles this file too). AMX: quant_tiles_amx.cpp.
bool cpu_has_f16c() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  return __get_cpuid(1, &eax, &ebx, &ecx, &edx) != 0 && (ecx & bit_F16C) != 0;
}

bool cpu_has_avx2() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && cpu_has_f16c();
}

bool cpu_has_avx512() {
  __builtin_cpu_init();
  return cpu_has_avx2() && __builtin_cpu_supports("avx512f") &&
         __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
         __builtin_cpu_supports("avx512dq");
}

bool available(Isa isa) {
  switch (isa) {
    case Isa::kGeneric:
      return true;
    case Isa::kAvx2:
      return kernels_avx2() != nullptr && cpu_has_avx2();
    case Isa::kAvx512:
      return kernels_avx512() != nullptr && cpu_has_avx512();
  }
  return false;
}

bool parse_isa(const char* text, Isa* out) {
  if (std::strcmp(text, "generic") == 0) {
    *out = Isa::kGeneric;
  } else if (std::strcmp(text, "avx2") == 0) {
    *out = Isa::kAvx2;
  } else if (std::strcmp(text, "avx512") == 0) {
    *out = Isa::kAvx512;
  } else {
    return false;
  }
  return true;
}

const Kernels* table_for(Isa isa) {
  switch (isa) {
    case Isa::kAvx2:
      return kernels_avx2();
    case Isa::kAvx512:
      return kernels_avx512();
    case Isa::kGeneric:
      break;
  }
  return &kernels_generic();
}
}  // namespace

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::kGeneric:
      return "generic";
    case Isa::kAvx2:
      return "avx2";
    case Isa::kAvx512:
      return "avx512";
  }
  return "unknown";
}

Isa detect_isa() {
  if (available(Isa::kAvx512)) return Isa::kAvx512;
  if (available(Isa::kAvx2)) return Isa::kAvx2;
  return Isa::kGeneric;
}

Isa select_isa() {
  const Isa best = detect_isa();
  Isa chosen = best;
  const char* source = nullptr;
  const char* request = host().option("cpu.isa");
  if (request != nullptr) {
    source = "option cpu.isa";
  } else if (const char* env = std::getenv("TESSERA_CPU_ISA"); env != nullptr && *env != '\0') {
    request = env;
    source = "TESSERA_CPU_ISA";
  }
  if (request != nullptr && std::strcmp(request, "auto") != 0) {
    Isa wanted;
    if (!parse_isa(request, &wanted)) {
      host().warn(std::string(source) + "='" + request +
                  "' is not one of generic|avx2|avx512|auto; using " + isa_name(best));
    } else if (!available(wanted)) {
      host().warn(std::string(source) + " asks for " + isa_name(wanted) +
                  ", which this CPU or build lacks; using " + isa_name(best));
    } else {
      chosen = wanted;
    }
  }
  g_active.store(static_cast<int>(chosen));
  set_active_kernels(table_for(chosen));
  set_tile_kernels(chosen);
  host().info(std::string("kernels: ") + isa_name(chosen) + " (best available: " + isa_name(best) +
              "; quantized tiles: " + tile_kernels().name +
              (amx_tile_kernels(TileFormat::kInt8) != nullptr
                   ? ", amx-int8 from " + std::to_string(kAmxMinRows) + " rows"
                   : std::string()) +
              ")");
  return chosen;
}

Isa active_isa() {
  return static_cast<Isa>(g_active.load());
}

std::string cpu_feature_list() {
  __builtin_cpu_init();
  std::string out;
  const auto add = [&out](const char* name, bool has) {
    if (!has) return;
    if (!out.empty()) out += ' ';
    out += name;
  };
  add("sse4.2", __builtin_cpu_supports("sse4.2"));
  add("avx", __builtin_cpu_supports("avx"));
  add("avx2", __builtin_cpu_supports("avx2"));
  add("fma", __builtin_cpu_supports("fma"));
  add("f16c", cpu_has_f16c());
  add("avx512f", __builtin_cpu_supports("avx512f"));
  add("avx512bw", __builtin_cpu_supports("avx512bw"));
  add("avx512vl", __builtin_cpu_supports("avx512vl"));
  add("avx512dq", __builtin_cpu_supports("avx512dq"));
  add("avx512bf16", __builtin_cpu_supports("avx512bf16"));
  add("amx-bf16", amx_bf16_usable());
  add("amx-int8", amx_int8_usable());
  return out.empty() ? std::string("none") : out;
}

}  // namespace tsr::cpu
