"""Checks every ``torch.ops.roipool`` op runs on its tensors before any kernel (native,
reference or fake), so that a call no kernel can serve fails with an error naming the
argument instead of an ``IndexError``, a silent dtype conversion or, for a meta tensor
among CPU tensors, an uninitialised result from the fake kernel."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor


def check_op_tensors(op: str | None, features: Sequence[Tensor], rois: Tensor,
                     offset: Tensor | None = None, mask: Tensor | None = None,
                     features_name: str = "input") -> None:
    """Raises ValueError / TypeError naming the argument when `features` is empty, the
    tensors are not all on one device, or `rois` / `offset` / `mask` is not floating point.
    `op` (the op's name) prefixes the message; the shared fake kernels pass None."""
    prefix = f"roipool::{op}: " if op else "roipool: "
    if len(features) == 0:
        raise ValueError(prefix + f"{features_name} must hold at least one feature map")
    named = [(features_name if len(features) == 1 and features_name == "input"
              else f"{features_name}[{i}]", t) for i, t in enumerate(features)]
    named += [("rois", rois), ("offset", offset), ("mask", mask)]
    first_name, first = named[0]
    for name, t in named[1:]:
        if t is not None and t.device != first.device:
            raise ValueError(prefix + f"{name} is on {t.device} but {first_name} is on "
                             f"{first.device}; all tensors must be on one device")
    if not rois.is_floating_point():
        raise TypeError(prefix + f"rois must be a floating-point tensor, got {rois.dtype}")
    for name, t in (("offset", offset), ("mask", mask)):
        if t is not None and not t.is_floating_point():
            raise TypeError(prefix + f"{name} must be a floating-point tensor, got "
                            f"{t.dtype}")
