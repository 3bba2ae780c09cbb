"""``torch.ops.roipool.*`` custom ops: schemas, fake (meta) kernels and autograd.

When ``libroipool_torch.so`` is built (and torch is 2.10 or newer), its C++ kernels,
registered through torch's stable ABI for the CPU and CUDA dispatch keys, serve every op
and its ``<op>_backward``, running the kernel core on torch's intra-op threads and
current CUDA stream. Calls they do not serve go to ``roipool::_<op>_fallback`` /
``_<op>_backward_fallback``, the Python implementations below; without the library those
are the ops' only implementation (``ROIPOOL_DISABLE_TORCH_LIBRARY=1`` keeps it unloaded).

The Python implementation runs the native kernel core through ctypes (``roipool._native``)
when it is built for the input's device and dtype, unless ``ROIPOOL_DISABLE_NATIVE`` is
set; otherwise the pure-PyTorch reference. The backward likewise runs the native backward
kernels, else the vector-Jacobian product of the reference. CPU kernels use
``torch.get_num_threads()`` threads.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from roipool._libs import TORCH_LIBRARY, find_library
from roipool.ops import reference
from roipool.ops._checks import check_op_tensors

_NATIVE_DTYPES = (torch.float32, torch.float16, torch.bfloat16)


@functools.cache
def native_module() -> Any | None:
    """roipool._native when importable (it needs the built core library), else None."""
    try:
        from roipool import _native
    except (ImportError, OSError):
        return None
    return _native


def _native_forward(op: str, features: Sequence[Tensor], rois: Tensor,
                    attrs: Mapping[str, Any], offset: Tensor | None = None,
                    mask: Tensor | None = None) -> Tensor | None:
    """The native kernel's result, or None when the reference must run instead."""
    check_op_tensors(op, features, rois, offset, mask,
                     "features" if op == "multi_scale_roi_align" else "input")
    if os.environ.get("ROIPOOL_DISABLE_NATIVE") or features[0].dtype not in _NATIVE_DTYPES:
        return None
    native = native_module()
    if native is None or not native.available(features[0].device):
        return None
    if rois.dtype not in (torch.float32, features[0].dtype):
        rois = rois.float()
    return native.forward(op, list(features), rois, attrs, offset=offset, mask=mask,
                          num_threads=torch.get_num_threads())


# ----------------------------------------------------------------------------- autograd

# Holds the backward ops: the gradient runs inside an opaque op (<op>_backward) so that
# torch.compile / AOT autograd can trace a graph containing it. It runs the native
# backward kernels (SPEC section 5) where the forward would run natively, else the
# vector-Jacobian product of the reference (float64, other devices), which is also the
# oracle the tests compare the kernels with.
_LIB = torch.library.Library("roipool", "FRAGMENT")

# Forward arguments that are tensors; every other argument is an ONNX attribute.
_TENSOR_ARGS = ("input", "features", "rois", "offset", "mask")


def _reads_input(name: str, named: Mapping[str, Any]) -> bool:
    """Whether the backward of this call reads the input values (max modes, DeformRoIPool
    offset/mask gradients, PrRoIPool's box gradient); otherwise only shapes are kept."""
    return (name in ("roi_pool", "prroi_pool") or named.get("mode") == "max"
            or named.get("offset") is not None or named.get("mask") is not None)


def _stand_in(value: Any) -> Any:
    """A stride-0 tensor (one element of storage) with the shape of `value` (or of each
    tensor of a list): what backward keeps of a feature map whose values it never reads."""
    if isinstance(value, (list, tuple)):
        return [_stand_in(t) for t in value]
    return value.new_zeros(()).expand(value.shape)


def _native_backward(name: str, grad: Tensor, named: Mapping[str, Any]) -> list[Tensor] | None:
    """Gradients from the native kernels, in `differentiable` order, or None when the
    reference must compute them."""
    features = named["features"] if "features" in named else [named["input"]]
    if os.environ.get("ROIPOOL_DISABLE_NATIVE") or features[0].dtype not in _NATIVE_DTYPES:
        return None
    native = native_module()
    if native is None or not native.available(features[0].device):
        return None
    offset, mask = named.get("offset"), named.get("mask")
    attrs = {k: v for k, v in named.items() if k not in _TENSOR_ARGS}
    g = native.backward(name, grad, features, named["rois"], attrs, offset, mask,
                        read_features=_reads_input(name, named), offset_grad=True,
                        mask_grad=True, rois_grad=name == "prroi_pool",
                        num_threads=torch.get_num_threads())
    grads = list(g.features)
    grads += [t for t in (g.offset, g.mask, g.rois) if t is not None]
    return grads


def _register_autograd(name: str, ref: Callable[..., Tensor],
                       differentiable: Sequence[int]) -> None:
    """Backward of ``roipool::<name>`` w.r.t. the inputs at positions `differentiable`
    (each a tensor, an optional tensor or a list of tensors): native kernels, else the
    vjp of `ref`."""
    schema = getattr(torch.ops.roipool, name).default._schema
    arg_names = [a.name for a in schema.arguments]
    forward_schema = str(schema)
    arguments = forward_schema[forward_schema.index("(") + 1:forward_schema.rindex(") ->")]
    backward_name = f"{name}_backward"
    _LIB.define(f"{backward_name}(Tensor grad, {arguments}) -> Tensor[]")

    def reference_vjp(grad: Tensor, args: list[Any]) -> list[Tensor]:
        leaves_in = [t for i in differentiable for t in _as_list(args[i])]
        if grad.shape[0] == 0:  # K = 0: the reference output is not connected to inputs
            return [torch.zeros(t.shape, dtype=t.dtype, device=t.device) for t in leaves_in]
        with torch.enable_grad():
            for i in differentiable:
                if args[i] is not None:
                    args[i] = _detached(args[i])
            out = ref(*args)
        leaves = [t for i in differentiable for t in _as_list(args[i])]
        grads = torch.autograd.grad(out, leaves, grad, allow_unused=True)
        return [torch.zeros(t.shape, dtype=t.dtype, device=t.device) if g is None
                else g.contiguous() for g, t in zip(grads, leaves, strict=True)]

    def vjp(grad: Tensor, *inputs: Any) -> list[Tensor]:
        grads = _native_backward(name, grad, dict(zip(arg_names, inputs, strict=True)))
        return grads if grads is not None else reference_vjp(grad, list(inputs))

    def fake_vjp(grad: Tensor, *inputs: Any) -> list[Tensor]:
        # Contiguous, as both implementations return (never the inputs' strides).
        return [torch.empty(t.shape, dtype=t.dtype, device=t.device)
                for i in differentiable for t in _as_list(inputs[i])]

    _LIB.impl(backward_name, vjp, "CompositeExplicitAutograd")
    torch.library.register_fake(f"roipool::{backward_name}", fake_vjp, lib=_LIB)
    _define_fallbacks(name, arguments, vjp)
    backward_op = getattr(torch.ops.roipool, backward_name).default
    feature_position = arg_names.index("features" if "features" in arg_names else "input")

    def setup_context(ctx: Any, inputs: tuple, output: Tensor) -> None:
        inputs = list(inputs)
        if not _reads_input(name, dict(zip(arg_names, inputs, strict=True))):
            inputs[feature_position] = _stand_in(inputs[feature_position])
        flat, layout = [], []
        for value in inputs:
            if isinstance(value, Tensor):
                layout.append(("tensor", len(flat)))
                flat.append(value)
            elif isinstance(value, (list, tuple)) and value and isinstance(value[0], Tensor):
                layout.append(("list", len(flat), len(value)))
                flat.extend(value)
            else:
                layout.append(("value", value))
        ctx.layout = layout
        ctx.save_for_backward(*flat)

    def backward(ctx: Any, grad: Tensor) -> tuple:
        saved = [t.detach() for t in ctx.saved_tensors]
        args = [_unflatten(entry, saved) for entry in ctx.layout]
        grads = backward_op(grad.contiguous(), *args)
        result: list[Any] = [None] * len(args)
        for i in differentiable:
            count = len(_as_list(args[i]))
            taken, grads = grads[:count], grads[count:]
            if count:
                result[i] = taken if isinstance(args[i], list) else taken[0]
        return tuple(result)

    torch.library.register_autograd(f"roipool::{name}", backward, setup_context=setup_context)


# The ops' Python implementations by name (filled by @_op), for _define_fallbacks.
_PYTHON_IMPLS: dict[str, Callable[..., Tensor]] = {}


def _op(fn: Callable[..., Tensor]) -> Any:
    """``roipool::<fn's name>`` as a custom op implemented by `fn` (its schema from the
    annotations), with `fn` kept for the op's fallback."""
    _PYTHON_IMPLS[fn.__name__] = fn
    return torch.library.custom_op(f"roipool::{fn.__name__}", mutates_args=())(fn)


def _define_fallbacks(name: str, arguments: str, vjp: Callable[..., list[Tensor]]) -> None:
    """``roipool::_<name>_fallback`` and ``_<name>_backward_fallback``: the Python forward
    and backward under the schemas of ``<name>`` / ``<name>_backward``, which the C++
    kernels call for whatever they do not serve (other dtypes and devices mixes,
    ROIPOOL_DISABLE_NATIVE, arguments the core rejects, raised here as ValueError)."""
    _LIB.define(f"_{name}_fallback({arguments}) -> Tensor")
    _LIB.impl(f"_{name}_fallback", _PYTHON_IMPLS[name], "CompositeExplicitAutograd")
    _LIB.define(f"_{name}_backward_fallback(Tensor grad, {arguments}) -> Tensor[]")
    _LIB.impl(f"_{name}_backward_fallback", vjp, "CompositeExplicitAutograd")


def _load_torch_library() -> str | None:
    """Loads libroipool_torch.so (its kernels then serve the ops) and returns its path;
    None when it is not built, torch predates its stable ABI (2.10), or
    ROIPOOL_DISABLE_TORCH_LIBRARY is set."""
    if os.environ.get("ROIPOOL_DISABLE_TORCH_LIBRARY") or torch.__version__ < (2, 10):
        return None
    path = find_library(TORCH_LIBRARY)
    if path is None:
        return None
    torch.ops.load_library(str(path))
    return str(path)


def _as_list(value: Any) -> list[Tensor]:
    if isinstance(value, Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for t in value if isinstance(t, Tensor)]
    return []


def _unflatten(entry: tuple, saved: Sequence[Tensor]) -> Any:
    if entry[0] == "tensor":
        return saved[entry[1]]
    if entry[0] == "list":
        return list(saved[entry[1]:entry[1] + entry[2]])
    return entry[1]


def _detached(value: Any) -> Any:
    if isinstance(value, list):
        return [t.detach().requires_grad_() for t in value]
    return value.detach().requires_grad_()


def _pooled_like(input: Tensor, rois: Tensor, channels: int, pooled_h: int,
                 pooled_w: int) -> Tensor:
    """Fake output [K, channels, ph, pw]; K stays symbolic."""
    return input.new_empty((rois.shape[0], channels, pooled_h, pooled_w))


# ----------------------------------------------------------------------------- the ops

@_op
def roi_pool(input: Tensor, rois: Tensor, pooled_h: int, pooled_w: int,
             spatial_scale: float) -> Tensor:
    """RoIPool (SPEC 3.1)."""
    attrs = {"pooled_h": pooled_h, "pooled_w": pooled_w, "spatial_scale": spatial_scale}
    out = _native_forward("roi_pool", [input], rois, attrs)
    if out is None:
        out = reference.roi_pool_reference(input, rois, pooled_h, pooled_w, spatial_scale)
    return out


def _align_attrs(pooled_h: int, pooled_w: int, spatial_scale: float, sampling_ratio: int,
                 aligned: bool, mode: str) -> dict[str, Any]:
    return {"pooled_h": pooled_h, "pooled_w": pooled_w, "spatial_scale": spatial_scale,
            "sampling_ratio": sampling_ratio, "aligned": int(aligned), "mode": mode}


@_op
def roi_align(input: Tensor, rois: Tensor, pooled_h: int, pooled_w: int, spatial_scale: float,
              sampling_ratio: int, aligned: bool, mode: str) -> Tensor:
    """RoIAlign (SPEC 3.2)."""
    attrs = _align_attrs(pooled_h, pooled_w, spatial_scale, sampling_ratio, aligned, mode)
    out = _native_forward("roi_align", [input], rois, attrs)
    if out is None:
        out = reference.roi_align_reference(input, rois, pooled_h, pooled_w, spatial_scale,
                                            sampling_ratio, aligned, mode)
    return out


@_op
def roi_warp(input: Tensor, rois: Tensor, pooled_h: int, pooled_w: int, spatial_scale: float,
             sampling_ratio: int, aligned: bool, mode: str) -> Tensor:
    """RoIWarp (SPEC 3.3)."""
    attrs = _align_attrs(pooled_h, pooled_w, spatial_scale, sampling_ratio, aligned, mode)
    out = _native_forward("roi_warp", [input], rois, attrs)
    if out is None:
        out = reference.roi_warp_reference(input, rois, pooled_h, pooled_w, spatial_scale,
                                           sampling_ratio, aligned, mode)
    return out


@_op
def ps_roi_pool(input: Tensor, rois: Tensor, pooled_h: int, pooled_w: int,
                spatial_scale: float) -> Tensor:
    """PSRoIPool (SPEC 3.4)."""
    attrs = {"pooled_h": pooled_h, "pooled_w": pooled_w, "spatial_scale": spatial_scale}
    out = _native_forward("ps_roi_pool", [input], rois, attrs)
    if out is None:
        out = reference.ps_roi_pool_reference(input, rois, pooled_h, pooled_w, spatial_scale)
    return out


@_op
def ps_roi_align(input: Tensor, rois: Tensor, pooled_h: int, pooled_w: int,
                 spatial_scale: float, sampling_ratio: int) -> Tensor:
    """PSRoIAlign (SPEC 3.4)."""
    attrs = {"pooled_h": pooled_h, "pooled_w": pooled_w, "spatial_scale": spatial_scale,
             "sampling_ratio": sampling_ratio}
    out = _native_forward("ps_roi_align", [input], rois, attrs)
    if out is None:
        out = reference.ps_roi_align_reference(input, rois, pooled_h, pooled_w, spatial_scale,
                                               sampling_ratio)
    return out


@_op
def deform_roi_pool(input: Tensor, rois: Tensor, offset: Tensor | None, mask: Tensor | None,
                    pooled_h: int, pooled_w: int, spatial_scale: float, sampling_ratio: int,
                    gamma: float) -> Tensor:
    """DeformRoIPool (SPEC 3.5)."""
    attrs = {"pooled_h": pooled_h, "pooled_w": pooled_w, "spatial_scale": spatial_scale,
             "sampling_ratio": sampling_ratio, "gamma": gamma}
    out = _native_forward("deform_roi_pool", [input], rois, attrs, offset=offset, mask=mask)
    if out is None:
        out = reference.deform_roi_pool_reference(input, rois, offset, mask, pooled_h, pooled_w,
                                                  spatial_scale, sampling_ratio, gamma)
    return out


@_op
def multi_scale_roi_align(rois: Tensor, features: list[Tensor], pooled_h: int, pooled_w: int,
                          sampling_ratio: int, aligned: bool, spatial_scales: list[float],
                          level_mapping: str, canonical_scale: float, canonical_level: int,
                          roi_scale_factor: float) -> Tensor:
    """MultiScaleRoIAlign (SPEC 3.6)."""
    attrs = {"pooled_h": pooled_h, "pooled_w": pooled_w, "sampling_ratio": sampling_ratio,
             "aligned": int(aligned), "spatial_scales": list(spatial_scales),
             "level_mapping": level_mapping, "canonical_scale": canonical_scale,
             "canonical_level": canonical_level, "roi_scale_factor": roi_scale_factor}
    out = _native_forward("multi_scale_roi_align", features, rois, attrs)
    if out is None:
        out = reference.multi_scale_roi_align_reference(
            rois, features, pooled_h, pooled_w, sampling_ratio, aligned, spatial_scales,
            level_mapping, canonical_scale, canonical_level, roi_scale_factor)
    return out


@_op
def roi_align_rotated(input: Tensor, rois: Tensor, pooled_h: int, pooled_w: int,
                      spatial_scale: float, sampling_ratio: int, aligned: bool,
                      clockwise: bool) -> Tensor:
    """RoIAlignRotated (SPEC 3.7)."""
    attrs = {"pooled_h": pooled_h, "pooled_w": pooled_w, "spatial_scale": spatial_scale,
             "sampling_ratio": sampling_ratio, "aligned": int(aligned),
             "clockwise": int(clockwise)}
    out = _native_forward("roi_align_rotated", [input], rois, attrs)
    if out is None:
        out = reference.roi_align_rotated_reference(input, rois, pooled_h, pooled_w,
                                                    spatial_scale, sampling_ratio, aligned,
                                                    clockwise)
    return out


@_op
def prroi_pool(input: Tensor, rois: Tensor, pooled_h: int, pooled_w: int,
               spatial_scale: float) -> Tensor:
    """PrRoIPool (SPEC 3.8)."""
    attrs = {"pooled_h": pooled_h, "pooled_w": pooled_w, "spatial_scale": spatial_scale}
    out = _native_forward("prroi_pool", [input], rois, attrs)
    if out is None:
        out = reference.prroi_pool_reference(input, rois, pooled_h, pooled_w, spatial_scale)
    return out


# ----------------------------------------------------------------------------- fake kernels

def _fake_pooled(input: Tensor, rois: Tensor, pooled_h: int, pooled_w: int,
                 *args: Any) -> Tensor:
    check_op_tensors(None, [input], rois)
    return _pooled_like(input, rois, input.shape[1], pooled_h, pooled_w)


def _fake_position_sensitive(input: Tensor, rois: Tensor, pooled_h: int, pooled_w: int,
                             *args: Any) -> Tensor:
    check_op_tensors(None, [input], rois)
    return _pooled_like(input, rois, input.shape[1] // (pooled_h * pooled_w), pooled_h, pooled_w)


def _fake_deform(input: Tensor, rois: Tensor, offset: Tensor | None, mask: Tensor | None,
                 pooled_h: int, pooled_w: int, *args: Any) -> Tensor:
    check_op_tensors("deform_roi_pool", [input], rois, offset, mask)
    return _pooled_like(input, rois, input.shape[1], pooled_h, pooled_w)


def _fake_multi_scale(rois: Tensor, features: list[Tensor], pooled_h: int, pooled_w: int,
                      *args: Any) -> Tensor:
    check_op_tensors("multi_scale_roi_align", features, rois, features_name="features")
    return _pooled_like(features[0], rois, features[0].shape[1], pooled_h, pooled_w)


for _op, _fake in ((roi_pool, _fake_pooled), (roi_align, _fake_pooled), (roi_warp, _fake_pooled),
                   (ps_roi_pool, _fake_position_sensitive),
                   (ps_roi_align, _fake_position_sensitive), (deform_roi_pool, _fake_deform),
                   (multi_scale_roi_align, _fake_multi_scale), (roi_align_rotated, _fake_pooled),
                   (prroi_pool, _fake_pooled)):
    _op.register_fake(_fake)

# Differentiable inputs: the features; also offset/mask (DeformRoIPool) and the boxes
# (PrRoIPool, whose output is smooth in the box coordinates).
_register_autograd("roi_pool", reference.roi_pool_reference, (0,))
_register_autograd("roi_align", reference.roi_align_reference, (0,))
_register_autograd("roi_warp", reference.roi_warp_reference, (0,))
_register_autograd("ps_roi_pool", reference.ps_roi_pool_reference, (0,))
_register_autograd("ps_roi_align", reference.ps_roi_align_reference, (0,))
_register_autograd("deform_roi_pool", reference.deform_roi_pool_reference, (0, 2, 3))
_register_autograd("multi_scale_roi_align", reference.multi_scale_roi_align_reference, (1,))
_register_autograd("roi_align_rotated", reference.roi_align_rotated_reference, (0,))
_register_autograd("prroi_pool", reference.prroi_pool_reference, (0, 1))

# Last: the C++ kernels are registered for ops (and fallbacks) defined above.
TORCH_LIBRARY_PATH = _load_torch_library()
