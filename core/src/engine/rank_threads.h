// RankThreads: one persistent thread per tensor-parallel rank beyond the first, so that every
// rank's forward pass runs at once (the CPU plugin's ops run at enqueue and its collectives
// block until every rank arrives; NCCL needs one thread per device as well). run() calls
// task(0) on the calling thread and task(i) on thread i, returns when all are done and
// rethrows the first exception (rank order).
#pragma once

#include <condition_variable>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace tessera::engine {

class RankThreads {
 public:
  explicit RankThreads(int num_ranks);
  ~RankThreads();
  RankThreads(const RankThreads&) = delete;
  RankThreads& operator=(const RankThreads&) = delete;

  void run(const std::function<void(int rank)>& task);

 private:
  void work(int rank);

  std::mutex mutex_;
  std::condition_variable start_, done_;
  const std::function<void(int)>* task_ = nullptr;
  uint64_t generation_ = 0;
  int pending_ = 0;
  bool stopping_ = false;
  std::vector<std::exception_ptr> errors_;
  std::vector<std::thread> threads_;
};

}  // namespace tessera::engine
