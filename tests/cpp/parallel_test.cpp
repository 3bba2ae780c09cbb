// parallel_for / parallel_for_dynamic (plugins/core/common/parallel.h): every index
// exactly once, the core's
// pool reused across calls (no thread per call), dynamic chunks, an exception from any
// task rethrown on the calling thread (own pool and executor alike), and loops started
// from several threads at once.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "parallel.h"

namespace {

int failures = 0;

void expect(bool ok, const char* what) {
  if (!ok) {
    std::printf("FAIL %s\n", what);
    ++failures;
  }
}

// Runs both loops over [0, n) and checks that each visits every index once; the
// static loop in at most `threads` ranges.
bool covers_once(int64_t n, int32_t threads, int64_t grain) {
  for (const bool dynamic : {false, true}) {
    std::vector<std::atomic<int>> seen(static_cast<size_t>(n));
    std::atomic<int64_t> ranges{0};
    const auto fn = [&](int64_t begin, int64_t end) {
      ranges.fetch_add(1);
      for (int64_t i = begin; i < end; ++i) seen[static_cast<size_t>(i)].fetch_add(1);
    };
    if (dynamic) {
      roipool::parallel_for_dynamic(n, threads, grain, fn);
    } else {
      roipool::parallel_for(n, threads, grain, fn);
    }
    for (auto& s : seen) {
      if (s.load() != 1) return false;
    }
    if (!dynamic && ranges.load() > threads) return false;
  }
  return true;
}

std::set<std::thread::id> threads_used(int32_t threads) {
  std::mutex mutex;
  std::set<std::thread::id> ids;
  roipool::parallel_for_dynamic(4096, threads, 1, [&](int64_t, int64_t) {
    std::this_thread::sleep_for(std::chrono::microseconds(50));  // let every worker join
    const std::lock_guard<std::mutex> lock(mutex);
    ids.insert(std::this_thread::get_id());
  });
  return ids;
}

bool rethrows(int32_t threads) {
  try {
    roipool::parallel_for_dynamic(1000, threads, 1, [](int64_t begin, int64_t end) {
      if (begin <= 777 && 777 < end) throw std::runtime_error("task 777");
    });
  } catch (const std::runtime_error& e) {
    return std::string(e.what()) == "task 777";
  }
  return false;
}

// An executor that runs its tasks one after another on the calling thread.
void run_inline(void*, int64_t num_tasks, roipool::CpuTaskFn task, void* data) {
  for (int64_t i = 0; i < num_tasks; ++i) task(data, i);
}

}  // namespace

int main() {
  expect(covers_once(1, 4, 1), "n = 1");
  expect(covers_once(1000, 4, 1), "n = 1000, 4 threads");
  expect(covers_once(1000, 3, 64), "n = 1000, grain 64");
  expect(covers_once(100003, 2, 1), "n = 100003, 2 threads");

  // Threads started per call would give new ids every call; the pool's stay the same.
  // (How many of them join a given loop depends on the machine's load.)
  std::set<std::thread::id> all;
  for (int call = 0; call < 8; ++call) {
    const auto ids = threads_used(4);
    all.insert(ids.begin(), ids.end());
  }
  expect(all.size() <= 4, "4 threads: the same pool threads on every call");

  expect(rethrows(4), "exception from a pool task reaches the caller");
  expect(covers_once(1000, 4, 1), "pool usable after an exception");
  {
    const roipool::ScopedCpuExecutor executor({&run_inline, nullptr});
    expect(rethrows(4), "exception from an executor task reaches the caller");
    expect(covers_once(1000, 4, 1), "executor: each index once");
  }

  std::atomic<int> concurrent_ok{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < 3; ++t) {
    callers.emplace_back([&] {
      for (int i = 0; i < 20; ++i) concurrent_ok += covers_once(5000, 2, 1) ? 1 : 0;
    });
  }
  for (auto& c : callers) c.join();
  expect(concurrent_ok.load() == 60, "loops from three threads at once");

  std::printf("%s\n", failures == 0 ? "parallel_for: all checks passed" : "parallel_for: FAILED");
  return failures == 0 ? 0 : 1;
}
