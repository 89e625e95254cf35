// Tensor parallelism across processes: `mpirun -np N tessera serve --tensor-parallel-size N`.
// Every process parses the same command line; rank 0 runs the server, scheduler and tokenizer
// and its model runner sends each step (KV moves, the forward batch) to the other ranks'
// runners (engine/runner_commands.h), which run the same forward on their shard. Collectives
// between the processes are MPI's, on host memory (the CPU plugin).
//
// Failure: a rank other than 0 that fails prints its error and aborts the MPI job, which
// takes every process down (no rank waits forever in a collective); rank 0 aborts the job
// when it exits without having stopped the other ranks.
//
// Built with MPI when CMake finds it (Open MPI from Debian: libopenmpi-dev); otherwise a run
// under mpirun with --tensor-parallel-size > 1 fails with one message saying so.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/communicator.h"

namespace tessera::engine {

// Whether this process was started by an MPI launcher (mpirun sets OMPI_COMM_WORLD_SIZE,
// PMI_SIZE or PMIX_RANK); it reads the environment only.
bool launched_by_mpi();

class MpiWorld final : public runtime::HostCollectives {
 public:
  // Initializes MPI on first use (thread level SERIALIZED: the engine thread makes the calls).
  // Throws when Tessera was built without MPI.
  static MpiWorld& instance();

  int rank() const { return rank_; }
  int size() const { return size_; }
  int local_rank() const { return local_rank_; }
  int local_size() const { return local_size_; }

  // Rank 0's bytes to every rank (resized on the receivers).
  void broadcast(std::vector<uint8_t>& bytes);
  void all_reduce_sum(void* data, tsr_dtype dtype, int64_t count) override;
  void all_gather(const void* in, void* out, tsr_dtype dtype, int64_t count) override;

  // Rank 0 sent the other ranks their stop command: the job may end normally.
  void mark_workers_stopped() { workers_stopped_ = true; }
  // Prints `message` on stderr and ends every process of the job with exit status 1.
  [[noreturn]] void abort(const std::string& message);

 private:
  MpiWorld();
  static void at_exit();

  int rank_ = 0;
  int size_ = 1;
  int local_rank_ = 0;
  int local_size_ = 1;
  bool workers_stopped_ = false;
};

}  // namespace tessera::engine
