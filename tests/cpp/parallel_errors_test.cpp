// Issue 10 item 12: an exception thrown inside a CPU parallel loop (std::bad_alloc from a
// kernel's scratch buffers, say) reaches the calling thread once every thread has left
// the loop (ranges not yet started are skipped), whether the core's own threads or a caller's executor ran the ranges; forward_cpu then
// returns it as a Status. Without that it is std::terminate on a worker thread.
#include <atomic>
#include <cstdio>
#include <stdexcept>
#include <string>

#include "parallel.h"

namespace {

int g_failed = 0;

void check(bool ok, const char* what) {
  std::printf("%s: %s\n", ok ? "ok" : "FAILED", what);
  if (!ok) ++g_failed;
}

// Runs [0, 64) in ranges; the range holding index 40 throws. Returns the caught message.
std::string run_throwing_loop(std::atomic<int64_t>* covered) {
  try {
    roipool::parallel_for(64, 4, 1, [covered](int64_t begin, int64_t end) {
      if (begin <= 40 && 40 < end) throw std::runtime_error("range with 40");
      *covered += end - begin;
    });
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

void serial_executor(void*, int64_t num_tasks, roipool::CpuTaskFn task, void* data) {
  for (int64_t i = 0; i < num_tasks; ++i) task(data, i);
}

}  // namespace

int main() {
  std::atomic<int64_t> covered{0};
  check(run_throwing_loop(&covered) == "range with 40", "worker exception reaches the caller");
  check(covered <= 48, "the failing range counted nothing");

  covered = 0;
  {
    const roipool::ScopedCpuExecutor executor({serial_executor, nullptr});
    check(run_throwing_loop(&covered) == "range with 40", "executor task exception reaches the caller");
  }
  check(covered <= 48, "the failing executor task counted nothing");

  // forward_cpu turns an allocation failure into a Status: a RoI count no host can plan.
  roipool::OpAttrs attrs = roipool::default_attrs(roipool::OpKind::kRoIAlign);
  float input[16] = {}, rois[5] = {}, output[49] = {};
  const roipool::FeatureMap map{input, 1, 1, 4, 4, roipool::Layout::kNCHW};
  roipool::OpArgs args{};
  args.num_features = 1;
  args.features = &map;
  args.rois = rois;
  args.num_rois = int64_t{1} << 40;
  args.output = output;
  const roipool::Status status = roipool::forward_cpu(roipool::OpKind::kRoIAlign, attrs, args);
  check(status.code() == roipool::Status::Code::kInternal &&
            status.message() == "RoIAlign: out of host memory",
        "bad_alloc in forward_cpu becomes Status kInternal");
  return g_failed == 0 ? 0 : 1;
}
