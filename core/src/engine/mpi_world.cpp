#include "engine/mpi_world.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "common/check.h"

#ifdef TESSERA_WITH_MPI
#include <mpi.h>
#endif

namespace tessera::engine {

bool launched_by_mpi() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"}) {
    if (const char* value = std::getenv(name); value != nullptr && *value != 0) return true;
  }
  return false;
}

#ifndef TESSERA_WITH_MPI

MpiWorld& MpiWorld::instance() {
  throw Error(
      "this tessera was built without MPI, so it cannot run tensor-parallel ranks in separate "
      "processes (mpirun); install libopenmpi-dev and rebuild, or run the ranks in one "
      "process without mpirun",
      ErrorKind::kUnavailable);
}
MpiWorld::MpiWorld() = default;
void MpiWorld::broadcast(std::vector<uint8_t>&) {}
void MpiWorld::all_reduce_sum(void*, tsr_dtype, int64_t) {}
void MpiWorld::all_gather(const void*, void*, tsr_dtype, int64_t) {}
void MpiWorld::abort(const std::string& message) {
  std::fprintf(stderr, "%s\n", message.c_str());
  std::exit(1);
}
void MpiWorld::at_exit() {}

#else

namespace {

MPI_Datatype mpi_type(tsr_dtype dtype) {
  TSR_CHECK_KIND(dtype == TSR_DTYPE_F32, ErrorKind::kUnavailable,
                 "tensor parallelism across processes (MPI) runs f32 activations only; use "
                 "--dtype float32, or run the ranks in one process");
  return MPI_FLOAT;
}

void mpi_check(int code, const char* what) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  throw Error(fmt::format("MPI {}: {}", what, std::string(text, static_cast<size_t>(length))),
              ErrorKind::kInternal);
}

}  // namespace

MpiWorld& MpiWorld::instance() {
  static MpiWorld* world = new MpiWorld();  // lives until the process ends (at_exit uses it)
  return *world;
}

MpiWorld::MpiWorld() {
  int provided = 0;
  mpi_check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided), "init");
  TSR_CHECK_KIND(provided >= MPI_THREAD_SERIALIZED, ErrorKind::kUnavailable,
                 "the MPI library offers thread level {} but tessera needs SERIALIZED", provided);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
  MPI_Comm local;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &local);
  MPI_Comm_rank(local, &local_rank_);
  MPI_Comm_size(local, &local_size_);
  MPI_Comm_free(&local);
  std::atexit(&MpiWorld::at_exit);
}

void MpiWorld::at_exit() {
  MpiWorld& world = instance();
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (finalized) return;
  // Rank 0 leaving while the other ranks still wait for commands: end the job instead of
  // letting MPI_Finalize wait for them.
  if (world.rank_ == 0 && world.size_ > 1 && !world.workers_stopped_) {
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  MPI_Finalize();
}

void MpiWorld::broadcast(std::vector<uint8_t>& bytes) {
  uint64_t size = bytes.size();
  mpi_check(MPI_Bcast(&size, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD), "broadcast");
  bytes.resize(size);
  mpi_check(MPI_Bcast(bytes.data(), static_cast<int>(size), MPI_BYTE, 0, MPI_COMM_WORLD),
            "broadcast");
}

void MpiWorld::all_reduce_sum(void* data, tsr_dtype dtype, int64_t count) {
  mpi_check(MPI_Allreduce(MPI_IN_PLACE, data, static_cast<int>(count), mpi_type(dtype), MPI_SUM,
                          MPI_COMM_WORLD),
            "all_reduce");
}

void MpiWorld::all_gather(const void* in, void* out, tsr_dtype dtype, int64_t count) {
  const MPI_Datatype type = mpi_type(dtype);
  mpi_check(MPI_Allgather(in, static_cast<int>(count), type, out, static_cast<int>(count), type,
                          MPI_COMM_WORLD),
            "all_gather");
}

void MpiWorld::abort(const std::string& message) {
  std::fprintf(stderr, "tessera (MPI rank %d of %d): %s\n", rank_, size_, message.c_str());
  std::fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, 1);
  std::exit(1);
}

#endif

}  // namespace tessera::engine
