// A minimal parallel-for for the CPU kernels: contiguous chunks of [0, n) on up to
// `num_threads` std::threads (the calling thread takes the first chunk).
#pragma once

#include <algorithm>
#include <cstdint>
#include <thread>
#include <vector>

namespace roipool {

inline int32_t resolve_num_threads(int32_t requested) {
  if (requested > 0) return requested;
  const unsigned hw = std::thread::hardware_concurrency();
  return hw > 0 ? static_cast<int32_t>(hw) : 1;
}

// fn(begin, end) is called on disjoint ranges covering [0, n). `min_grain` keeps tiny
// workloads on one thread, where starting threads would cost more than it saves.
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
  std::vector<std::thread> workers;
  workers.reserve(static_cast<size_t>(chunks - 1));
  for (int64_t begin = step; begin < n; begin += step) {
    workers.emplace_back([&fn, begin, step, n] { fn(begin, std::min(n, begin + step)); });
  }
  fn(int64_t{0}, std::min(n, step));
  for (auto& worker : workers) worker.join();
}

}  // namespace roipool
