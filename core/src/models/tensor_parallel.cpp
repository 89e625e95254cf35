#include "models/tensor_parallel.h"

#include <fmt/format.h>

#include "common/check.h"

namespace tessera::models {

void check_tensor_parallel(const model::ModelConfig& c, int32_t n) {
  TSR_CHECK_INPUT(n >= 1, "tensor_parallel_size", "--tensor-parallel-size must be >= 1, got {}", n);
  if (n == 1) return;
  const auto fail = [&](const std::string& why) {
    throw Error(
        fmt::format("--tensor-parallel-size {} cannot split {}: {}", n, c.architecture_name, why),
        ErrorKind::kInvalidArgument);
  };
  if (c.num_heads % n != 0) {
    fail(fmt::format("its {} attention heads do not divide among {} ranks", c.num_heads, n));
  }
  if (n <= c.num_kv_heads ? c.num_kv_heads % n != 0 : n % c.num_kv_heads != 0) {
    fail(
        fmt::format("its {} KV heads neither divide among {} ranks nor divide {} (for replication)",
                    c.num_kv_heads, n, n));
  }
  if (c.intermediate_size % n != 0) {
    fail(fmt::format("its MLP intermediate size {} does not divide among {} ranks",
                     c.intermediate_size, n));
  }
}

ShardLayout shard_layout(const model::ModelConfig& c, TensorShard shard) {
  const int64_t n = shard.size;
  const int64_t r = shard.rank;
  TSR_INVARIANT(n >= 1 && r >= 0 && r < n, "tensor-parallel rank {} of {}", r, n);
  ShardLayout s;
  s.q_heads = c.num_heads / n;
  s.q_head_begin = r * s.q_heads;
  if (n <= c.num_kv_heads) {
    s.kv_heads = c.num_kv_heads / n;
    s.kv_head_begin = r * s.kv_heads;
  } else {
    // n / num_kv_heads ranks share each KV head: the one their query heads are grouped on.
    s.kv_heads = 1;
    s.kv_head_begin = r / (n / c.num_kv_heads);
  }
  s.intermediate = c.intermediate_size / n;
  s.intermediate_begin = r * s.intermediate;
  s.vocab_parallel = n > 1 && c.vocab_size % n == 0;
  s.vocab = s.vocab_parallel ? c.vocab_size / n : c.vocab_size;
  s.vocab_begin = s.vocab_parallel ? r * s.vocab : 0;
  return s;
}

}  // namespace tessera::models
