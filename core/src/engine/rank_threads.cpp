#include "engine/rank_threads.h"

namespace tessera::engine {

RankThreads::RankThreads(int num_ranks) : errors_(static_cast<size_t>(num_ranks)) {
  for (int rank = 1; rank < num_ranks; ++rank) threads_.emplace_back([this, rank] { work(rank); });
}

RankThreads::~RankThreads() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  start_.notify_all();
  for (auto& t : threads_) t.join();
}

void RankThreads::run(const std::function<void(int)>& task) {
  {
    std::lock_guard lock(mutex_);
    task_ = &task;
    pending_ = static_cast<int>(threads_.size());
    ++generation_;
    for (auto& e : errors_) e = nullptr;
  }
  start_.notify_all();
  try {
    task(0);
  } catch (...) {
    errors_[0] = std::current_exception();
  }
  std::unique_lock lock(mutex_);
  done_.wait(lock, [&] { return pending_ == 0; });
  task_ = nullptr;
  for (const auto& e : errors_) {
    if (e) std::rethrow_exception(e);
  }
}

void RankThreads::work(int rank) {
  uint64_t seen = 0;
  for (;;) {
    const std::function<void(int)>* task = nullptr;
    {
      std::unique_lock lock(mutex_);
      start_.wait(lock, [&] { return stopping_ || generation_ != seen; });
      if (stopping_) return;
      seen = generation_;
      task = task_;
    }
    std::exception_ptr error;
    try {
      (*task)(rank);
    } catch (...) {
      error = std::current_exception();
    }
    {
      std::lock_guard lock(mutex_);
      errors_[static_cast<size_t>(rank)] = error;
      --pending_;
    }
    done_.notify_all();
  }
}

}  // namespace tessera::engine
