// The CPU kernels' parallel loops: [0, n) in chunks handed out by an atomic counter
// (parallel_for: one per thread; parallel_for_dynamic: many small ones, so RoIs of very
// different sizes still keep every thread busy), run either by the executor of a
// ScopedCpuExecutor active on the calling thread (ONNX Runtime's intra-op pool, a
// framework's pool) or by the core's one persistent pool. No thread is created per call.
#pragma once

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

#if defined(__unix__) || defined(__APPLE__)
#include <unistd.h>
#endif

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

// The tasks of one parallel loop, claimed one at a time by whichever thread is free.
// Tasks run on worker or executor threads, where an escaping exception would be
// std::terminate: the first one is kept (the remaining tasks are skipped) and the
// calling thread rethrows it once every thread has left the loop (forward_cpu turns
// it into a Status).
class LoopTasks {
 public:
  LoopTasks(int64_t num_tasks, void (*task)(void*, int64_t), void* data)
      : num_tasks_(num_tasks), task_(task), data_(data) {}

  // Runs unclaimed tasks until none is left.
  void drain() noexcept {
    for (;;) {
      const int64_t index = next_.fetch_add(1, std::memory_order_relaxed);
      if (index >= num_tasks_) return;
      if (failed_.load(std::memory_order_relaxed)) continue;
      try {
        task_(data_, index);
      } catch (...) {
        const std::lock_guard<std::mutex> lock(mutex_);
        if (!error_) error_ = std::current_exception();
        failed_.store(true, std::memory_order_relaxed);
      }
    }
  }

  void rethrow() {
    if (error_) std::rethrow_exception(error_);
  }

 private:
  const int64_t num_tasks_;
  void (*const task_)(void*, int64_t);
  void* const data_;
  std::atomic<int64_t> next_{0};
  std::atomic<bool> failed_{false};
  std::mutex mutex_;
  std::exception_ptr error_;
};

// The core's worker threads, used when no executor is installed: started on first use,
// grown to the largest thread count asked for (never shrunk), alive for the process.
// One loop at a time: a loop started while another thread's loop holds the pool, or
// from inside a worker, runs on its calling thread alone (no deadlock, no
// oversubscription). A forked child gets a fresh pool (the parent's threads are gone).
class ThreadPool {
 public:
  static ThreadPool& instance() {
#if defined(__unix__) || defined(__APPLE__)
    static std::atomic<ThreadPool*> pool{nullptr};
    ThreadPool* current = pool.load(std::memory_order_acquire);
    if (current == nullptr || current->pid_ != getpid()) {
      static std::mutex create;
      const std::lock_guard<std::mutex> lock(create);
      current = pool.load(std::memory_order_acquire);
      if (current == nullptr || current->pid_ != getpid()) {
        current = new ThreadPool;  // leaked on purpose: workers outlive static destructors
        pool.store(current, std::memory_order_release);
      }
    }
    return *current;
#else
    static ThreadPool* pool = new ThreadPool;
    return *pool;
#endif
  }

  // Runs `loop` on the calling thread and up to `helpers` workers; returns when every
  // thread has left it.
  void run(LoopTasks& loop, int32_t helpers) {
    std::unique_lock<std::mutex> busy(busy_, std::try_to_lock);
    if (!busy.owns_lock() || in_worker()) {
      loop.drain();
      return;
    }
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      grow(std::min(helpers, kMaxWorkers));
      loop_ = &loop;
      slots_ = helpers;
      ++generation_;
    }
    wake_.notify_all();
    loop.drain();
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, [this] { return active_ == 0; });
    loop_ = nullptr;  // late wakers find nothing to join
    slots_ = 0;
  }

 private:
  static constexpr int32_t kMaxWorkers = 255;

#if defined(__unix__) || defined(__APPLE__)
  const pid_t pid_ = getpid();
#endif

  static bool& in_worker() {
    static thread_local bool flag = false;
    return flag;
  }

  // Starts workers up to `count`; a thread that cannot start leaves its share of the
  // work to the others (the calling thread always takes part).
  void grow(int32_t count) {
    try {
      while (static_cast<int32_t>(workers_.size()) < count) {
        workers_.emplace_back([this] { work(); });
        workers_.back().detach();
      }
    } catch (const std::system_error&) {
    }
  }

  void work() {
    in_worker() = true;
    std::unique_lock<std::mutex> lock(mutex_);
    uint64_t seen = generation_;
    for (;;) {
      wake_.wait(lock, [&] { return loop_ != nullptr && slots_ > 0 && generation_ != seen; });
      seen = generation_;
      --slots_;
      ++active_;
      LoopTasks* loop = loop_;
      lock.unlock();
      loop->drain();
      lock.lock();
      if (--active_ == 0) done_.notify_all();
    }
  }

  std::mutex busy_;   // held by the thread whose loop owns the pool
  std::mutex mutex_;  // guards the fields below
  std::condition_variable wake_, done_;
  std::vector<std::thread> workers_;
  LoopTasks* loop_ = nullptr;
  int32_t slots_ = 0;   // workers that may still join loop_
  int32_t active_ = 0;  // workers inside loop_
  uint64_t generation_ = 0;
};

// Chunks handed to each thread on average by parallel_for_dynamic: enough that a
// thread finishing early takes over work, few enough that claiming one costs nothing
// measurable.
constexpr int64_t kChunksPerThread = 16;

// [0, n) in chunks of `grain` items on up to `threads` threads (threads >= 2).
template <typename Fn>
void run_chunks(int64_t n, int64_t threads, int64_t grain, Fn& fn) {
  auto run_chunk = [&fn, grain, n](int64_t index) {
    const int64_t begin = index * grain;
    fn(begin, std::min(n, begin + grain));
  };
  using Chunk = decltype(run_chunk);
  LoopTasks loop((n + grain - 1) / grain,
                 [](void* chunk, int64_t index) { (*static_cast<Chunk*>(chunk))(index); },
                 &run_chunk);
  const CpuExecutor executor = active_cpu_executor;
  if (executor.run != nullptr) {  // one executor task per thread, each draining the loop
    executor.run(executor.user_data, threads,
                 [](void* tasks, int64_t) { static_cast<LoopTasks*>(tasks)->drain(); }, &loop);
  } else {
    ThreadPool::instance().run(loop, static_cast<int32_t>(threads - 1));
  }
  loop.rethrow();
}

// Threads worth using for n items when each task gets at least `min_grain` of them.
inline int64_t loop_threads(int64_t n, int32_t num_threads, int64_t min_grain) {
  return std::min<int64_t>(resolve_num_threads(num_threads), n / std::max<int64_t>(1, min_grain));
}

}  // namespace detail

// fn(begin, end) is called on disjoint ranges covering [0, n): one contiguous range per
// thread (for work whose every range pays a fixed setup cost). `min_grain` keeps tiny
// workloads on one thread, where waking workers would cost more than it saves. An
// exception from fn reaches the caller after every range has finished or been skipped.
template <typename Fn>
void parallel_for(int64_t n, int32_t num_threads, int64_t min_grain, Fn&& fn) {
  if (n <= 0) return;
  const int64_t threads = detail::loop_threads(n, num_threads, min_grain);
  if (threads <= 1) {
    fn(int64_t{0}, n);
    return;
  }
  detail::run_chunks(n, threads, (n + threads - 1) / threads, fn);
}

// As parallel_for, but in ~kChunksPerThread smaller ranges per thread, claimed as
// threads become free: items of very different cost (RoIs of different sizes) still
// keep every thread busy to the end.
template <typename Fn>
void parallel_for_dynamic(int64_t n, int32_t num_threads, int64_t min_grain, Fn&& fn) {
  if (n <= 0) return;
  const int64_t threads = detail::loop_threads(n, num_threads, min_grain);
  if (threads <= 1) {
    fn(int64_t{0}, n);
    return;
  }
  const int64_t grain =
      std::max(std::max<int64_t>(1, min_grain), n / (threads * detail::kChunksPerThread));
  detail::run_chunks(n, threads, grain, fn);
}

}  // namespace roipool
