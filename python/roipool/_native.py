"""ctypes binding over the kernel core's C ABI (``libroipool_core.so``).

Why ctypes over a flat C ABI rather than a torch C++ extension: the core has no torch
ABI coupling, so one build serves any torch version and needs no torch at build time;
and Python runs exactly the library (and the kernels) the ONNX Runtime ops and
TensorRT plugins link. Attribute parsing, validation and their error text all come
from the core; this module only describes tensors to it.

The ctypes structs below mirror ``OpAttrs`` / ``FeatureMap`` / ``OpArgs`` of
``plugins/core/include/roipool/common.h`` field for field.
"""

from __future__ import annotations

import ctypes
import functools
import numbers
from collections.abc import Mapping, Sequence

import torch

from roipool._libs import CORE_LIBRARY, find_library
from roipool._schema import TYPE_NAMES, Alias

__all__ = ["alias_attrs", "available", "forward"]

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


@functools.cache
def _library() -> ctypes.CDLL | None:
    path = find_library(CORE_LIBRARY)
    if path is None:
        return None
    lib = ctypes.CDLL(str(path))
    i32, i64, ptr, err = ctypes.c_int32, ctypes.c_int64, ctypes.c_void_p, ctypes.c_char_p
    lib.roipool_cuda_compiled.restype = i32
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


def forward(
    op: str,
    features: Sequence[torch.Tensor],
    rois: torch.Tensor,
    attrs: Mapping[str, int | float | str | Sequence[float]],
    offset: torch.Tensor | None = None,
    mask: torch.Tensor | None = None,
    num_threads: int = 0,
) -> torch.Tensor:
    """Run ``op`` (snake or ONNX name) in the native core and return a new
    ``[K, C_out, pooled_h, pooled_w]`` tensor of the input's dtype.

    ``features`` holds one tensor (L for multi_scale_roi_align), ``rois`` the
    ``[K, 5]`` (rotated ``[K, 6]``) boxes, ``attrs`` the ONNX attributes.
    Raises ValueError with the core's message on invalid arguments.
    """
    lib = _require_library()
    op_index = _op_index(op)
    attrs_struct = _parsed_attrs(op_index, _freeze(attrs))
    if not features:
        raise ValueError("at least one feature map is required")
    first = features[0]
    if first.dtype not in _DTYPES:
        raise ValueError(f"input dtype must be float32, float16 or bfloat16, got {first.dtype}")
    device = first.device
    if device.type not in ("cpu", "cuda") or not available(device):
        raise RuntimeError(f"the roipool native core cannot run on {device}")
    for feature in features:
        if feature.device != device or feature.dtype != first.dtype:
            raise ValueError("all feature maps must share the input's device and dtype")
    columns = lib.roipool_rois_columns(op_index)
    if rois.dim() != 2 or rois.shape[1] != columns or rois.device != device:
        raise ValueError(
            f"rois must be a [K, {columns}] tensor on {device}, got {list(rois.shape)} "
            f"on {rois.device}"
        )
    if rois.dtype not in (torch.float32, first.dtype):
        rois = rois.float()
    rois = rois.contiguous()

    maps, keep_alive = zip(*(_feature_map(f) for f in features), strict=True)
    map_array = (_FeatureMap * len(maps))(*maps)
    num_rois = rois.shape[0]
    ph, pw = attrs_struct.pooled_h, attrs_struct.pooled_w
    out_channels = lib.roipool_output_channels(op_index, ctypes.byref(attrs_struct), first.shape[1])
    offset = _aux_input("offset", offset, first, (num_rois, 2, ph, pw))
    mask = _aux_input("mask", mask, first, (num_rois, 1, ph, pw))
    output = torch.empty((num_rois, out_channels, ph, pw), dtype=first.dtype, device=device)
    # An empty output (C_out = 0) has no storage: the core still validates the call but,
    # told K = 0, runs nothing.
    args = _OpArgs(
        _DTYPES[first.dtype], _DTYPES[rois.dtype], len(maps), map_array, rois.data_ptr(),
        num_rois if output.numel() else 0, offset.data_ptr() if offset is not None else None,
        mask.data_ptr() if mask is not None else None, output.data_ptr(),
    )
    error = ctypes.create_string_buffer(_ERROR_SIZE)
    if device.type == "cuda":
        with torch.cuda.device(device):
            stream = torch.cuda.current_stream(device).cuda_stream
            code = lib.roipool_forward(
                op_index, ctypes.byref(attrs_struct), ctypes.byref(args), _DEVICE_CUDA,
                ctypes.c_void_p(stream), 0, error, _ERROR_SIZE,
            )
    else:
        code = lib.roipool_forward(
            op_index, ctypes.byref(attrs_struct), ctypes.byref(args), _DEVICE_CPU, None,
            num_threads, error, _ERROR_SIZE,
        )
    del keep_alive  # the tensors behind the pointers lived until the core returned
    _check(code, error)
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
