// first_invalid_batch_index: the eager API's batch-index check for host rois.
#include "dtype.h"
#include "roipool/common.h"
#include "sampling.h"

namespace roipool {

int64_t first_invalid_batch_index(const void* rois, DType rois_dtype, int64_t num_rois,
                                  int32_t columns, int64_t batch) {
  for (int64_t k = 0; k < num_rois; ++k) {
    if (roi_batch_index(load_as_float(rois, rois_dtype, k * columns), batch) < 0) return k;
  }
  return -1;
}

}  // namespace roipool
