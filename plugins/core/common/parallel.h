// A minimal parallel-for for the CPU kernels: [0, n) in contiguous chunks, run either
// on up to `num_threads` std::threads (the calling thread takes the first chunk) or,
// while a ScopedCpuExecutor is active on the calling thread, by that executor.
#pragma once

#include <algorithm>
#include <cstdint>
#include <exception>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

#include "roipool/common.h"

namespace roipool {

inline int32_t resolve_num_threads(int32_t requested) {
  if (requested > 0) return requested;
  const unsigned hw = std::thread::hardware_concurrency();
  return hw > 0 ? static_cast<int32_t>(hw) : 1;
}

namespace detail {
// The executor of the forward_cpu call running on this thread (run == nullptr: none).
inline thread_local CpuExecutor active_cpu_executor = {nullptr, nullptr};
}  // namespace detail

// Routes every parallel_for started on this thread to `executor` while in scope.
// forward_cpu installs CpuOptions::executor this way rather than passing it down: the
// kernels and their shared helpers take only an int32_t thread count, and a
// thread-local reaches all of them without touching their signatures. Loops run inside
// an executor's tasks (on its threads) do not see it; no kernel nests parallel_for.
class ScopedCpuExecutor {
 public:
  explicit ScopedCpuExecutor(const CpuExecutor& executor)
      : previous_(detail::active_cpu_executor) {
    detail::active_cpu_executor = executor;
  }
  ~ScopedCpuExecutor() { detail::active_cpu_executor = previous_; }
  ScopedCpuExecutor(const ScopedCpuExecutor&) = delete;
  ScopedCpuExecutor& operator=(const ScopedCpuExecutor&) = delete;

 private:
  CpuExecutor previous_;
};

namespace detail {
// The first exception thrown by any task of one parallel loop: tasks run on worker or
// executor threads, where an escaping exception would be std::terminate; the calling
// thread rethrows it once every task has returned (forward_cpu turns it into a Status).
class FirstError {
 public:
  template <typename Fn>
  void run(Fn&& fn) noexcept {
    try {
      fn();
    } catch (...) {
      const std::lock_guard<std::mutex> lock(mutex_);
      if (!error_) error_ = std::current_exception();
    }
  }
  void rethrow() {
    if (error_) std::rethrow_exception(error_);
  }

 private:
  std::mutex mutex_;
  std::exception_ptr error_;
};
}  // namespace detail

// fn(begin, end) is called on disjoint ranges covering [0, n). `min_grain` keeps tiny
// workloads on one thread, where starting threads would cost more than it saves. An
// exception from fn reaches the caller after all ranges have finished.
template <typename Fn>
void parallel_for(int64_t n, int32_t num_threads, int64_t min_grain, Fn&& fn) {
  if (n <= 0) return;
  const int64_t max_chunks = std::max<int64_t>(1, n / std::max<int64_t>(1, min_grain));
  const int64_t chunks = std::min<int64_t>(resolve_num_threads(num_threads), max_chunks);
  if (chunks <= 1) {
    fn(int64_t{0}, n);
    return;
  }
  const int64_t step = (n + chunks - 1) / chunks;
  detail::FirstError error;
  const auto run_range = [&fn, &error, step, n](int64_t begin) {
    error.run([&] { fn(begin, std::min(n, begin + step)); });
  };
  const CpuExecutor executor = detail::active_cpu_executor;
  if (executor.run != nullptr) {
    auto run_chunk = [&run_range, step](int64_t index) { run_range(index * step); };
    using Chunk = decltype(run_chunk);
    executor.run(executor.user_data, (n + step - 1) / step,
                 [](void* chunk, int64_t index) { (*static_cast<Chunk*>(chunk))(index); },
                 &run_chunk);
    error.rethrow();
    return;
  }
  std::vector<std::thread> workers;
  workers.reserve(static_cast<size_t>(chunks - 1));  // emplace_back below never reallocates
  int64_t begin = step;
  try {
    for (; begin < n; begin += step) workers.emplace_back(run_range, begin);
  } catch (const std::system_error&) {
    // Out of threads: the ranges not started yet run on the calling thread below.
  }
  run_range(0);
  for (; begin < n; begin += step) run_range(begin);
  for (auto& worker : workers) worker.join();
  error.rethrow();
}

}  // namespace roipool
