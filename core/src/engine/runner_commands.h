// What rank 0's model runner sends the runners of the other processes of a tensor-parallel
// MPI job (engine/mpi_world.h), in the order it runs them itself: KV cache and swap space
// allocation, the plan's KV moves, each forward batch, and stop. Encoded as bytes for
// MPI_Bcast.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "engine/forward_batch.h"

namespace tessera::engine {

using BlockPairs = std::vector<std::pair<int64_t, int64_t>>;  // (src, dst)

struct RunnerCommand {
  enum class Kind : uint8_t {
    kForward,
    kAllocateKv,
    kAllocateSwap,
    kCopy,
    kSwapOut,
    kSwapIn,
    kStop
  };
  Kind kind = Kind::kStop;
  int64_t count = 0;  // blocks to allocate
  BlockPairs pairs;   // copy / swap
  ForwardBatch batch;
};

std::vector<uint8_t> encode(const RunnerCommand& command);
// Throws tessera::Error on bytes that are not a whole command.
RunnerCommand decode(const std::vector<uint8_t>& bytes);

}  // namespace tessera::engine
