"""ctypes binding over the kernel core's C ABI (``libroipool_core.so``).

The torch ops' CPU/CUDA kernels are normally libroipool_torch.so's (C++, torch stable
ABI; see docs/architecture.md); this binding is their Python fallback and serves
everything without that library (torch < 2.10, builds without torch). It needs no torch
ABI coupling, so it works with any torch and runs exactly the library (and the kernels)
the ONNX Runtime ops and TensorRT plugins link. Attribute parsing, validation and their
error text all come from the core; this module only describes tensors to it.

The ctypes structs below mirror ``OpAttrs`` / ``FeatureMap`` / ``OpArgs`` of
``plugins/core/include/roipool/common.h`` field for field.
"""

from __future__ import annotations

import ctypes
import functools
import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

import torch

from roipool._libs import CORE_LIBRARY, find_library
from roipool._schema import TYPE_NAMES, Alias

__all__ = ["alias_attrs", "available", "backward", "cpu_isa", "first_invalid_batch_index",
           "forward"]

_MAX_LEVELS = 8
_ERROR_SIZE = 1024

# Status::Code and the enums of common.h.
_OK, _INVALID_ARGUMENT = 0, 1
_ATTR_INT, _ATTR_FLOAT, _ATTR_STRING, _ATTR_INTS, _ATTR_FLOATS = range(5)
_NCHW, _NHWC = 0, 1
_DTYPES = {torch.float32: 0, torch.float16: 1, torch.bfloat16: 2}
_DEVICE_CPU, _DEVICE_CUDA = 0, 1


class _OpAttrs(ctypes.Structure):
    _fields_ = [
        ("pooled_h", ctypes.c_int32),
        ("pooled_w", ctypes.c_int32),
        ("spatial_scale", ctypes.c_float),
        ("sampling_ratio", ctypes.c_int32),
        ("aligned", ctypes.c_int32),
        ("mode", ctypes.c_int32),
        ("gamma", ctypes.c_float),
        ("clockwise", ctypes.c_int32),
        ("num_levels", ctypes.c_int32),
        ("spatial_scales", ctypes.c_float * _MAX_LEVELS),
        ("level_mapping", ctypes.c_int32),
        ("canonical_scale", ctypes.c_float),
        ("canonical_level", ctypes.c_int32),
        ("roi_scale_factor", ctypes.c_float),
        ("legacy_roi_rescale", ctypes.c_int32),
    ]


class _FeatureMap(ctypes.Structure):
    _fields_ = [
        ("data", ctypes.c_void_p),
        ("batch", ctypes.c_int64),
        ("channels", ctypes.c_int64),
        ("height", ctypes.c_int64),
        ("width", ctypes.c_int64),
        ("layout", ctypes.c_int32),
    ]


class _OpArgs(ctypes.Structure):
    _fields_ = [
        ("dtype", ctypes.c_int32),
        ("rois_dtype", ctypes.c_int32),
        ("num_features", ctypes.c_int32),
        ("features", ctypes.POINTER(_FeatureMap)),
        ("rois", ctypes.c_void_p),
        ("num_rois", ctypes.c_int64),
        ("offset", ctypes.c_void_p),
        ("mask", ctypes.c_void_p),
        ("output", ctypes.c_void_p),
    ]


class _GradArgs(ctypes.Structure):
    _fields_ = [
        ("grad_output", ctypes.c_void_p),
        ("grad_features", ctypes.POINTER(ctypes.c_void_p)),
        ("grad_offset", ctypes.c_void_p),
        ("grad_mask", ctypes.c_void_p),
        ("grad_rois", ctypes.c_void_p),
    ]


@functools.cache
def _library() -> ctypes.CDLL | None:
    path = find_library(CORE_LIBRARY)
    if path is None:
        return None
    lib = ctypes.CDLL(str(path))
    i32, i64, ptr, err = ctypes.c_int32, ctypes.c_int64, ctypes.c_void_p, ctypes.c_char_p
    lib.roipool_cuda_compiled.restype = i32
    lib.roipool_cpu_isa.restype = ctypes.c_char_p
    lib.roipool_op_from_name.argtypes = [ctypes.c_char_p, ctypes.POINTER(i32)]
    lib.roipool_op_from_name.restype = i32
    lib.roipool_default_attrs.argtypes = [i32, ctypes.POINTER(_OpAttrs)]
    lib.roipool_default_attrs.restype = i32
    lib.roipool_attribute_type.argtypes = [i32, ctypes.c_char_p, ctypes.POINTER(i32)]
    lib.roipool_attribute_type.restype = i32
    lib.roipool_rois_columns.argtypes = [i32]
    lib.roipool_rois_columns.restype = i32
    lib.roipool_output_channels.argtypes = [i32, ctypes.POINTER(_OpAttrs), i64]
    lib.roipool_output_channels.restype = i64
    lib.roipool_set_attribute.argtypes = [
        i32, ctypes.POINTER(_OpAttrs), ctypes.c_char_p, i32, ctypes.POINTER(i64),
        ctypes.POINTER(ctypes.c_float), i64, ctypes.c_char_p, err, ctypes.c_size_t,
    ]
    lib.roipool_set_attribute.restype = i32
    lib.roipool_forward.argtypes = [
        i32, ctypes.POINTER(_OpAttrs), ctypes.POINTER(_OpArgs), i32, ptr, i32, err,
        ctypes.c_size_t,
    ]
    lib.roipool_forward.restype = i32
    lib.roipool_backward.argtypes = [
        i32, ctypes.POINTER(_OpAttrs), ctypes.POINTER(_OpArgs), ctypes.POINTER(_GradArgs), i32,
        ptr, i32, err, ctypes.c_size_t,
    ]
    lib.roipool_backward.restype = i32
    lib.roipool_first_invalid_batch_index.argtypes = [ptr, i32, i64, i32, i64]
    lib.roipool_first_invalid_batch_index.restype = i64
    return lib


def _require_library() -> ctypes.CDLL:
    lib = _library()
    if lib is None:
        raise RuntimeError(
            f"{CORE_LIBRARY} was not found; build roipool or set ROIPOOL_LIBRARY_DIR"
        )
    return lib


def available(device: torch.device) -> bool:
    """Whether the native core can run ops on ``device`` (built, and with CUDA for GPUs)."""
    lib = _library()
    if lib is None:
        return False
    device = torch.device(device)
    if device.type == "cpu":
        return True
    return device.type == "cuda" and bool(lib.roipool_cuda_compiled())


def cpu_isa() -> str | None:
    """The CPU vector code path the native core takes now: ``"baseline"``, ``"avx2"`` or
    ``"avx512"`` (the ``ROIPOOL_CPU_ISA`` environment variable when set, else the best
    this CPU and build support); None when that variable names an unknown or unavailable
    level (CPU calls then raise ValueError)."""
    name = _require_library().roipool_cpu_isa()
    return None if name is None else name.decode()


def first_invalid_batch_index(rois: torch.Tensor, batch: int) -> int | None:
    """First row of CPU ``rois`` whose batch index (column 0) is not an integer in
    ``[0, batch)``, -1 when all are valid, None when the core cannot check these rois
    (not built, not a contiguous CPU float32/float16/bfloat16 tensor): one C loop
    instead of a round of tensor ops, for the eager API's check (on every call, so kept
    to attribute reads and one ctypes call)."""
    lib = _library()
    dtype = _DTYPES.get(rois.dtype)
    if (lib is None or dtype is None or not rois.is_cpu or rois.dim() != 2
            or not rois.is_contiguous()):
        return None
    rows, columns = rois.shape
    row = lib.roipool_first_invalid_batch_index(rois.data_ptr(), dtype, rows, columns, batch)
    return None if row < -1 else row


def _check(code: int, error: ctypes.Array) -> None:
    if code == _OK:
        return
    message = error.value.decode(errors="replace") or f"roipool core error {code}"
    raise (ValueError if code == _INVALID_ARGUMENT else RuntimeError)(message)


@functools.cache
def _op_index(op: str) -> int:
    index = ctypes.c_int32()
    if _require_library().roipool_op_from_name(op.encode(), ctypes.byref(index)) != _OK:
        raise ValueError(f"unknown roipool op {op!r}")
    return index.value


def _set_attribute(lib: ctypes.CDLL, op: int, attrs: _OpAttrs, name: str, value: object) -> None:
    kind = ctypes.c_int32()
    error = ctypes.create_string_buffer(_ERROR_SIZE)
    if lib.roipool_attribute_type(op, name.encode(), ctypes.byref(kind)) != _OK:
        # Not an attribute of op: let the core word the error.
        code = lib.roipool_set_attribute(
            op, ctypes.byref(attrs), name.encode(), _ATTR_INT, None, None, 0, None, error,
            _ERROR_SIZE,
        )
        _check(code, error)
    values = value if isinstance(value, (list, tuple)) else [value]
    ints = floats = text = None
    count = len(values)
    if kind.value == _ATTR_STRING:
        if not isinstance(value, str):
            raise ValueError(f"attribute {name!r} must be a string, got {value!r}")
        text, count = value.encode(), 0
    elif kind.value in (_ATTR_FLOAT, _ATTR_FLOATS):
        floats = (ctypes.c_float * count)(*(_number(name, v, float) for v in values))
    else:
        ints = (ctypes.c_int64 * count)(*(_number(name, v, int) for v in values))
    code = lib.roipool_set_attribute(
        op, ctypes.byref(attrs), name.encode(), kind.value, ints, floats, count, text, error,
        _ERROR_SIZE,
    )
    _check(code, error)


def _number(name: str, value: object, kind: type) -> int | float:
    """`value` as `kind`; numpy scalars welcome, fractional values for ints rejected."""
    if not isinstance(value, numbers.Real):
        raise ValueError(f"attribute {name!r} must be numeric, got {value!r}")
    if kind is int and not float(value).is_integer():
        raise ValueError(f"attribute {name!r} must be an integer, got {value!r}")
    if kind is int and not -(2**63) <= int(value) < 2**63:  # ctypes would wrap it silently
        raise ValueError(f"attribute {name!r} is out of range, got {value!r}")
    return kind(value)


@functools.lru_cache(maxsize=256)
def _parsed_attrs(op: int, items: tuple) -> _OpAttrs:
    lib = _require_library()
    attrs = _OpAttrs()
    lib.roipool_default_attrs(op, ctypes.byref(attrs))
    for name, value in items:
        _set_attribute(lib, op, attrs, name, value)
    return attrs


def _freeze(attrs: Mapping[str, object]) -> tuple:
    return tuple(
        (name, tuple(v) if isinstance(v, (list, tuple)) else v) for name, v in sorted(attrs.items())
    )


def _feature_map(tensor: torch.Tensor) -> tuple[_FeatureMap, torch.Tensor]:
    """The core's view of one [B, C, H, W] tensor and the tensor that backs it."""
    if tensor.dim() != 4:
        raise ValueError(f"input must be [B, C, H, W], got shape {tuple(tensor.shape)}")
    channels_last = tensor.is_contiguous(memory_format=torch.channels_last)
    if channels_last and not tensor.is_contiguous():
        layout = _NHWC
    else:
        tensor, layout = tensor.contiguous(), _NCHW
    b, c, h, w = tensor.shape
    return _FeatureMap(tensor.data_ptr(), b, c, h, w, layout), tensor


def _aux_input(
    name: str, tensor: torch.Tensor | None, like: torch.Tensor, shape: tuple[int, ...]
) -> torch.Tensor | None:
    if tensor is None:
        return None
    if tuple(tensor.shape) != shape:
        raise ValueError(f"{name} must have shape {list(shape)}, got {list(tensor.shape)}")
    if tensor.device != like.device:
        raise ValueError(f"{name} is on {tensor.device}, input on {like.device}")
    return tensor.to(like.dtype).contiguous()


class _Call:
    """One described call: parsed attrs, feature maps, rois and the tensors behind them."""

    def __init__(self, op: str, features: Sequence[torch.Tensor], rois: torch.Tensor,
                 attrs: Mapping[str, int | float | str | Sequence[float]],
                 offset: torch.Tensor | None, mask: torch.Tensor | None,
                 read_features: bool = True) -> None:
        lib = _require_library()
        self.lib, self.op = lib, _op_index(op)
        self.attrs = _parsed_attrs(self.op, _freeze(attrs))
        if not features:
            raise ValueError("at least one feature map is required")
        first = features[0]
        if first.dtype not in _DTYPES:
            raise ValueError(
                f"input dtype must be float32, float16 or bfloat16, got {first.dtype}"
            )
        device = first.device
        if device.type not in ("cpu", "cuda") or not available(device):
            raise RuntimeError(f"the roipool native core cannot run on {device}")
        for feature in features:
            if feature.device != device or feature.dtype != first.dtype:
                raise ValueError("all feature maps must share the input's device and dtype")
        columns = lib.roipool_rois_columns(self.op)
        if rois.dim() != 2 or rois.shape[1] != columns or rois.device != device:
            raise ValueError(
                f"rois must be a [K, {columns}] tensor on {device}, got {list(rois.shape)} "
                f"on {rois.device}"
            )
        if rois.dtype not in (torch.float32, first.dtype):
            rois = rois.float()
        self.rois = rois.contiguous()
        if read_features:
            maps, self.keep_alive = zip(*(_feature_map(f) for f in features), strict=True)
        else:  # backward that never reads the values: shapes only
            maps = tuple(_FeatureMap(None, *f.shape, _NCHW) for f in features)
            self.keep_alive = ()
        self.maps = (_FeatureMap * len(maps))(*maps)
        self.num_rois = rois.shape[0]
        self.dtype, self.device = first.dtype, device
        ph, pw = self.attrs.pooled_h, self.attrs.pooled_w
        self.out_channels = lib.roipool_output_channels(
            self.op, ctypes.byref(self.attrs), first.shape[1]
        )
        self.out_shape = (self.num_rois, self.out_channels, ph, pw)
        self.offset = _aux_input("offset", offset, first, (self.num_rois, 2, ph, pw))
        self.mask = _aux_input("mask", mask, first, (self.num_rois, 1, ph, pw))

    def args(self, output: torch.Tensor | None, num_rois: int) -> _OpArgs:
        return _OpArgs(
            _DTYPES[self.dtype], _DTYPES[self.rois.dtype], len(self.maps), self.maps,
            self.rois.data_ptr(), num_rois, _pointer(self.offset), _pointer(self.mask),
            _pointer(output),
        )

    def run(self, entry: Callable[..., int], *structs: object, num_threads: int) -> None:
        """Calls the C ABI `entry` (roipool_forward / roipool_backward) on the device."""
        error = ctypes.create_string_buffer(_ERROR_SIZE)
        pointers = [ctypes.byref(s) for s in structs]
        if self.device.type == "cuda":
            with torch.cuda.device(self.device):
                stream = torch.cuda.current_stream(self.device).cuda_stream
                code = entry(self.op, ctypes.byref(self.attrs), *pointers, _DEVICE_CUDA,
                             ctypes.c_void_p(stream), 0, error, _ERROR_SIZE)
        else:
            code = entry(self.op, ctypes.byref(self.attrs), *pointers, _DEVICE_CPU, None,
                         num_threads, error, _ERROR_SIZE)
        _check(code, error)


def _pointer(tensor: torch.Tensor | None) -> int | None:
    return tensor.data_ptr() if tensor is not None else None


def forward(
    op: str,
    features: Sequence[torch.Tensor],
    rois: torch.Tensor,
    attrs: Mapping[str, int | float | str | Sequence[float]],
    offset: torch.Tensor | None = None,
    mask: torch.Tensor | None = None,
    num_threads: int = 0,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """Run ``op`` (snake or ONNX name) in the native core and return a new
    ``[K, C_out, pooled_h, pooled_w]`` tensor of the input's dtype (or write it into
    ``out``, a contiguous tensor of that shape, dtype and device, and return ``out``).

    ``features`` holds one tensor (L for multi_scale_roi_align), ``rois`` the
    ``[K, 5]`` (rotated ``[K, 6]``) boxes, ``attrs`` the ONNX attributes.
    ``num_threads`` <= 0 lets the core choose. Raises ValueError with the core's
    message on invalid arguments.
    """
    call = _Call(op, features, rois, attrs, offset, mask)
    if out is None:
        output = torch.empty(call.out_shape, dtype=call.dtype, device=call.device)
    elif (tuple(out.shape) != call.out_shape or out.dtype != call.dtype
          or out.device != call.device or not out.is_contiguous()):
        raise ValueError(f"out must be a contiguous {list(call.out_shape)} {call.dtype} tensor "
                         f"on {call.device}, got {list(out.shape)} {out.dtype} on {out.device}")
    else:
        output = out
    # An empty output (C_out = 0) has no storage: the core still validates the call but,
    # told K = 0, runs nothing.
    args = call.args(output, call.num_rois if output.numel() else 0)
    call.run(call.lib.roipool_forward, args, num_threads=num_threads)
    return output


# ---- aliases: other toolkits' ops (docs/mmdeploy.md) ---------------------------------------

def alias_attrs(alias: Alias, values: Mapping[str, tuple[str, object]]) -> _OpAttrs:
    """The core's parse of one alias node's attributes, ``name -> (ONNX type, value)``.

    Raises ValueError with the core's message (naming the alias and the attribute) for an
    unknown name, a wrong type or value, or a missing required attribute.
    """
    lib = _require_library()
    i32, i64, f32 = ctypes.c_int32, ctypes.c_int64, ctypes.c_float
    lib.roipool_alias_attrs.argtypes = [
        i32, i32, ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(i32),
        ctypes.POINTER(ctypes.POINTER(i64)), ctypes.POINTER(ctypes.POINTER(f32)),
        ctypes.POINTER(i64), ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(_OpAttrs),
        ctypes.c_char_p, ctypes.c_size_t,
    ]
    lib.roipool_alias_attrs.restype = i32
    count = len(values)
    names = (ctypes.c_char_p * count)()
    types = (i32 * count)()
    ints = (ctypes.POINTER(i64) * count)()
    floats = (ctypes.POINTER(f32) * count)()
    counts = (i64 * count)()
    texts = (ctypes.c_char_p * count)()
    for i, (name, (kind, value)) in enumerate(values.items()):
        names[i] = name.encode()
        types[i] = TYPE_NAMES.index(kind)
        if kind == "string":
            texts[i] = str(value).encode()
            continue
        items = list(value) if isinstance(value, (list, tuple)) else [value]
        counts[i] = len(items)
        if kind in ("int", "ints"):
            ints[i] = (i64 * len(items))(*(_number(name, v, int) for v in items))
        else:
            floats[i] = (f32 * len(items))(*(_number(name, v, float) for v in items))
    attrs = _OpAttrs()
    error = ctypes.create_string_buffer(_ERROR_SIZE)
    _check(lib.roipool_alias_attrs(alias.index, count, names, types, ints, floats, counts, texts,
                                   ctypes.byref(attrs), error, _ERROR_SIZE), error)
    return attrs


class Gradients(NamedTuple):
    """What :func:`backward` returns; ``None`` where that gradient was not asked for."""

    features: list[torch.Tensor]
    offset: torch.Tensor | None
    mask: torch.Tensor | None
    rois: torch.Tensor | None


def backward(
    op: str,
    grad_output: torch.Tensor,
    features: Sequence[torch.Tensor],
    rois: torch.Tensor,
    attrs: Mapping[str, int | float | str | Sequence[float]],
    offset: torch.Tensor | None = None,
    mask: torch.Tensor | None = None,
    *,
    read_features: bool = True,
    offset_grad: bool = False,
    mask_grad: bool = False,
    rois_grad: bool = False,
    num_threads: int = 0,
) -> Gradients:
    """Gradients of :func:`forward` for ``grad_output`` (SPEC section 5): w.r.t. every
    feature map (contiguous, the input's dtype), and, when asked, the offset and mask
    (DeformRoIPool) and the rois (PrRoIPool, column 0 is 0), each of its input's dtype.

    With ``read_features=False`` only the feature maps' shapes are used (valid where
    the backward does not read the values: avg modes without offset/mask/box gradients;
    the core refuses otherwise), so callers need not keep the maps alive.
    """
    call = _Call(op, features, rois, attrs, offset, mask, read_features)
    if tuple(grad_output.shape) != call.out_shape:
        raise ValueError(f"grad_output must have shape {list(call.out_shape)}, "
                         f"got {list(grad_output.shape)}")
    grad_output = grad_output.to(call.dtype).contiguous()

    def buffer(shape: Sequence[int], wanted: bool = True) -> torch.Tensor | None:
        if not wanted:
            return None
        return torch.empty(tuple(shape), dtype=torch.float32, device=call.device)

    bins = call.out_shape[2:]
    grad_features = [buffer(f.shape) for f in features]
    grad_offset = buffer((call.num_rois, 2, *bins), offset_grad and offset is not None)
    grad_mask = buffer((call.num_rois, 1, *bins), mask_grad and mask is not None)
    grad_rois = buffer(call.rois.shape, rois_grad)
    if grad_output.numel() == 0:  # C_out = 0 (or K = 0): every gradient is zero
        for t in (*grad_features, grad_offset, grad_mask, grad_rois):
            if t is not None:
                t.zero_()
    else:
        pointers = (ctypes.c_void_p * len(grad_features))(*(g.data_ptr() for g in grad_features))
        grads = _GradArgs(grad_output.data_ptr(), pointers, _pointer(grad_offset),
                          _pointer(grad_mask), _pointer(grad_rois))
        call.run(call.lib.roipool_backward, call.args(None, call.num_rois), grads,
                 num_threads=num_threads)
    return Gradients(
        [g.to(f.dtype) for g, f in zip(grad_features, features, strict=True)],
        None if grad_offset is None else grad_offset.to(offset.dtype),
        None if grad_mask is None else grad_mask.to(mask.dtype),
        None if grad_rois is None else grad_rois.to(rois.dtype),
    )
