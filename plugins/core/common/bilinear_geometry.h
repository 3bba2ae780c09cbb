// The geometry functor of each bilinear op, built from its attributes in one place for
// the CPU engine, the CUDA engine and the host test of the CUDA work items.
#pragma once

#include "bin_sampler.h"
#include "multi_scale_roi_align/multi_scale_geometry.h"
#include "roi_align_rotated/rotated_geometry.h"

namespace roipool {

template <OpKind kOp>
auto bilinear_geometry(const OpAttrs& attrs) {
  if constexpr (kOp == OpKind::kRoIAlign) {
    return BoxGeometry::from_attrs(attrs, attrs.aligned != 0, false);
  } else if constexpr (kOp == OpKind::kRoIWarp) {  // SPEC 3.3: quantised, aligned=0
    return BoxGeometry::from_attrs(attrs, false, true);
  } else if constexpr (kOp == OpKind::kPSRoIAlign || kOp == OpKind::kDeformRoIPool) {
    return BoxGeometry::from_attrs(attrs, true, false);  // always aligned
  } else if constexpr (kOp == OpKind::kMultiScaleRoIAlign) {
    return MultiScaleGeometry::from_attrs(attrs);
  } else {
    static_assert(kOp == OpKind::kRoIAlignRotated, "not a bilinear op");
    return RotatedGeometry::from_attrs(attrs);
  }
}

}  // namespace roipool
