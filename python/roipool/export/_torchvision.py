"""Route torchvision's RoI ops through roipool so unmodified torchvision models export
to ``roipool`` nodes (and run on roipool's kernels in eager mode).

torchvision's functions are looked up as module globals at call time (``RoIAlign.forward``
calls ``torchvision.ops.roi_align.roi_align``, ``MultiScaleRoIAlign`` calls
``poolers.roi_align``), so replacing those globals reaches every caller except code that
did ``from torchvision.ops import roi_align`` itself before the capture.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
from collections.abc import Iterator
from typing import Any

from torch import Tensor

from roipool import ops
from roipool.ops.modules import infer_scale, select_features

#: Modules whose globals hold torchvision's RoI functions, and the functions replaced.
_FUNCTION_HOMES = ("torchvision.ops", "torchvision.ops.roi_align", "torchvision.ops.roi_pool",
                   "torchvision.ops.ps_roi_align", "torchvision.ops.ps_roi_pool",
                   "torchvision.ops.poolers")
_REPLACEMENTS = {"roi_align": ops.roi_align, "roi_pool": ops.roi_pool,
                 "ps_roi_align": ops.ps_roi_align, "ps_roi_pool": ops.ps_roi_pool}


@contextlib.contextmanager
def capture_torchvision() -> Iterator[None]:
    """Within the block, ``torchvision.ops.roi_align / roi_pool / ps_roi_align /
    ps_roi_pool`` (functions and ``nn.Module`` s) and ``MultiScaleRoIAlign`` run as
    roipool ops (one ``MultiScaleRoIAlign`` node instead of per-level RoIAligns).
    Everything is restored on exit. Raises ``ModuleNotFoundError`` without torchvision."""
    try:
        importlib.import_module("torchvision.ops")
    except ModuleNotFoundError as error:
        raise ModuleNotFoundError("capture_torchvision() needs torchvision installed") from error
    saved: list[tuple[Any, str, Any]] = []
    try:
        for module_name in _FUNCTION_HOMES:
            module = sys.modules.get(module_name)
            for name, replacement in _REPLACEMENTS.items():
                if module is not None and callable(getattr(module, name, None)):
                    saved.append((module, name, getattr(module, name)))
                    setattr(module, name, replacement)
        poolers = sys.modules.get("torchvision.ops.poolers")
        if poolers is not None:
            saved.append((poolers.MultiScaleRoIAlign, "forward",
                          poolers.MultiScaleRoIAlign.forward))
            poolers.MultiScaleRoIAlign.forward = _multi_scale_forward
        yield
    finally:
        for owner, name, original in reversed(saved):
            setattr(owner, name, original)


def _multi_scale_forward(self: Any, x: dict[str, Tensor], boxes: list[Tensor],
                         image_shapes: list[tuple[int, int]]) -> Tensor:
    """torchvision ``MultiScaleRoIAlign.forward`` as one roipool op (torchvision levels,
    ``aligned=False`` like torchvision): the maps named in ``featmap_names`` that `x`
    holds, and torchvision's scales (its cached ``scales`` when it has them)."""
    features = select_features(x, self.featmap_names)
    scales = getattr(self, "scales", None)
    if scales is None or len(scales) != len(features):
        if not image_shapes:
            raise ValueError("image_shapes must not be empty")
        max_height = max(shape[0] for shape in image_shapes)
        scales = [infer_scale(f.shape, (max_height, 0)) for f in features]
    output_size = self.output_size
    if isinstance(output_size, int):
        output_size = (output_size, output_size)
    return ops.multi_scale_roi_align(
        features, boxes, tuple(output_size), scales, self.sampling_ratio, aligned=False,
        level_mapping="torchvision", canonical_scale=float(self.canonical_scale),
        canonical_level=int(self.canonical_level))
