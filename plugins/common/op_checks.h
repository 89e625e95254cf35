// Validation shared by every plugin for the ops whose checks do not depend on where tensors
// live: params struct, dtypes, ranks, shapes, aliasing and scalar parameters, with the same
// messages everywhere. Plugins add their own checks afterwards (the CPU reads index values;
// the CUDA plugin checks devices and alignment). Nothing here reads tensor data.
#ifndef TESSERA_PLUGINS_COMMON_OP_CHECKS_H
#define TESSERA_PLUGINS_COMMON_OP_CHECKS_H

#include "tensor_check.h"

namespace tsr::plugin {

struct EmbeddingViews {
  View ids, table, out;
};
EmbeddingViews check_embedding(const tsr_embedding_params* p, const char* op);

struct RmsNormViews {
  View x, weight, out, residual;
  bool fused = false;  // residual present
};
RmsNormViews check_rms_norm(const tsr_rms_norm_params* p, const char* op);

struct RopeViews {
  View query, positions, key;
  bool has_key = false;
};
RopeViews check_rope(const tsr_rope_params* p, const char* op);

}  // namespace tsr::plugin

#endif  // TESSERA_PLUGINS_COMMON_OP_CHECKS_H
