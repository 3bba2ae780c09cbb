"""The kernel core's C ABI as the Python binding uses it: struct mirroring, error paths
(unknown names, bad values, null pointers) and thread-count independence."""

from __future__ import annotations

import ctypes

import pytest
import torch
from conftest import random_rois
from roipool import _native

pytestmark = pytest.mark.skipif(
    not _native.available(torch.device("cpu")), reason="libroipool_core.so not built"
)

ALIGN_ATTRS = {"pooled_h": 2, "pooled_w": 3, "spatial_scale": 0.5, "sampling_ratio": 2,
               "aligned": 1, "mode": "avg"}


@pytest.fixture
def lib() -> ctypes.CDLL:
    return _native._library()


def _inputs(generator: torch.Generator, channels: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    features = torch.randn(2, channels, 10, 12, generator=generator)
    return features, random_rois(6, 2, 10, 12, generator=generator, spatial_scale=0.5)


def _error_buffer() -> ctypes.Array:
    return ctypes.create_string_buffer(256)


# ---- struct mirroring ------------------------------------------------------------------


def test_default_attrs_fields_line_up(lib: ctypes.CDLL) -> None:
    """Defaults written by C++ read back in the right ctypes fields (catches field-order drift)."""
    attrs = _native._OpAttrs()
    assert lib.roipool_default_attrs(_native._op_index("multi_scale_roi_align"),
                                     ctypes.byref(attrs)) == 0
    assert (attrs.pooled_h, attrs.pooled_w, attrs.sampling_ratio) == (7, 7, -1)
    assert attrs.gamma == pytest.approx(0.1)
    assert (attrs.canonical_level, attrs.roi_scale_factor, attrs.num_levels) == (4, 1.0, 0)


def test_set_attributes_land_in_their_fields() -> None:
    attrs = _native._parsed_attrs(
        _native._op_index("MultiScaleRoIAlign"),
        _native._freeze({"spatial_scales": [0.25, 0.125], "level_mapping": "mmdet",
                         "roi_scale_factor": 1.5, "canonical_scale": 56.0, "pooled_w": 5}),
    )
    assert attrs.num_levels == 2 and list(attrs.spatial_scales[:2]) == [0.25, 0.125]
    assert (attrs.level_mapping, attrs.roi_scale_factor, attrs.canonical_scale) == (1, 1.5, 56.0)
    assert (attrs.pooled_h, attrs.pooled_w) == (7, 5)


def test_parsed_attrs_are_cached_per_value() -> None:
    op = _native._op_index("roi_align")
    first = _native._parsed_attrs(op, _native._freeze(ALIGN_ATTRS))
    assert _native._parsed_attrs(op, _native._freeze(dict(ALIGN_ATTRS))) is first
    other = _native._parsed_attrs(op, _native._freeze({**ALIGN_ATTRS, "aligned": 0}))
    assert other is not first and other.aligned == 0


def test_available() -> None:
    assert _native.available(torch.device("cpu"))
    assert not _native.available(torch.device("meta"))


# ---- error paths through the binding ----------------------------------------------------


@pytest.mark.parametrize(
    ("op", "attrs", "message"),
    [
        ("roi_align", {"pooled_h": 0}, r"RoIAlign: attribute 'pooled_h' must be in \[1, 65535\]"),
        ("roi_align", {"mode": "median"}, "must be 'avg' or 'max', got 'median'"),
        ("roi_align", {"aligned": 2}, "'aligned' must be 0 or 1"),
        ("roi_align", {"spatial_scale": -1.0}, "'spatial_scale' must be > 0"),
        ("roi_align", {"spatial_scale": float("inf")}, "must be finite"),
        ("roi_align", {"sampling_ratio": 5000}, "'sampling_ratio' must be <= 1024"),
        ("roi_align", {"gamma": 0.1}, "'gamma' is not an attribute of this op"),
        ("ps_roi_align", {"mode": "max"}, "PSRoIAlign: attribute 'mode' is not an attribute"),
        ("roi_align", {"pooled_h": "7"}, "'pooled_h' must be numeric"),
        ("roi_align", {"pooled_h": 2.5}, "'pooled_h' must be an integer"),
        ("roi_align", {"pooled_h": float("nan")}, "'pooled_h' must be an integer"),
        ("roi_align", {"pooled_h": 2**70}, "'pooled_h' is out of range"),
        ("roi_align", {"mode": 1}, "'mode' must be a string"),
        ("multi_scale_roi_align", {"spatial_scales": []}, "must have 1 to 8 entries"),
        ("multi_scale_roi_align", {"spatial_scales": [0.25] * 9}, "must have 1 to 8 entries"),
        ("multi_scale_roi_align", {"spatial_scales": [0.25, -1.0]}, "finite and > 0"),
        ("multi_scale_roi_align", {"spatial_scales": [0.25], "level_mapping": "fpn"},
         "'torchvision' or 'mmdet', got 'fpn'"),
    ],
)
def test_bad_attributes_raise_the_core_message(
    op: str, attrs: dict, message: str, generator: torch.Generator
) -> None:
    features, rois = _inputs(generator, channels=12)
    with pytest.raises(ValueError, match=message):
        _native.forward(op, [features], rois, attrs)


def test_unknown_op(generator: torch.Generator) -> None:
    features, rois = _inputs(generator)
    with pytest.raises(ValueError, match="unknown roipool op 'roi_squash'"):
        _native.forward("roi_squash", [features], rois, {})


def test_int_given_for_float_attribute_is_accepted(generator: torch.Generator) -> None:
    features, rois = _inputs(generator)
    as_int = _native.forward("roi_align", [features], rois, {**ALIGN_ATTRS, "spatial_scale": 1})
    as_float = _native.forward("roi_align", [features], rois, {**ALIGN_ATTRS, "spatial_scale": 1.0})
    assert torch.equal(as_int, as_float)


@pytest.mark.parametrize(
    ("op", "make", "message"),
    [
        ("ps_roi_align", lambda f, r: ([f[:, :5]], r, {}), "must be divisible by pooled_h"),
        ("roi_align", lambda f, r: ([f], r[:, :4], {}), r"rois must be a \[K, 5\] tensor"),
        ("roi_align_rotated", lambda f, r: ([f], r, {}), r"rois must be a \[K, 6\] tensor"),
        ("roi_align", lambda f, r: ([f.double()], r, {}), "input dtype must be float32"),
        ("roi_align", lambda f, r: ([f[0]], r, {}), r"input must be \[B, C, H, W\]"),
        ("roi_align", lambda f, r: ([f[:, :, :0]], r, {}), "H, W >= 1"),
        ("multi_scale_roi_align", lambda f, r: ([f, f], r, {"spatial_scales": [0.5] * 3}),
         r"expected 3 feature map\(s\), got 2"),
        ("multi_scale_roi_align", lambda f, r: ([f, f[:1]], r, {"spatial_scales": [0.5] * 2}),
         "same batch size"),
        ("multi_scale_roi_align", lambda f, r: ([f, f.half()], r, {"spatial_scales": [0.5] * 2}),
         "share the input's device and dtype"),
    ],
)
def test_bad_inputs_raise(op: str, make, message: str, generator: torch.Generator) -> None:
    features, rois = _inputs(generator, channels=36)
    maps, rois, extra = make(features, rois)
    with pytest.raises(ValueError, match=message):
        _native.forward(op, maps, rois, {"pooled_h": 2, "pooled_w": 3, **extra})


@pytest.mark.parametrize(("name", "shape"), [("offset", (6, 1, 2, 3)), ("mask", (6, 1, 3, 2))])
def test_deform_aux_shapes_are_checked(name: str, shape: tuple, generator: torch.Generator) -> None:
    features, rois = _inputs(generator)
    with pytest.raises(ValueError, match=f"{name} must have shape"):
        _native.forward("deform_roi_pool", [features], rois, {"pooled_h": 2, "pooled_w": 3},
                        **{name: torch.zeros(shape)})


def test_offset_on_a_non_deform_op_is_rejected(generator: torch.Generator) -> None:
    features, rois = _inputs(generator)
    with pytest.raises(ValueError, match="only inputs of DeformRoIPool"):
        _native.forward("roi_align", [features], rois, {"pooled_h": 2, "pooled_w": 3},
                        offset=torch.zeros(6, 2, 2, 3))


# ---- the raw C ABI: null pointers and out-of-range arguments ------------------------------


def _raw_args(features: torch.Tensor, rois: torch.Tensor, output: torch.Tensor):
    fmap = _native._FeatureMap(features.data_ptr(), *features.shape, 0)
    args = _native._OpArgs(0, 0, 1, ctypes.pointer(fmap), rois.data_ptr(), rois.shape[0],
                           None, None, output.data_ptr())
    return fmap, args


def _raw_forward(lib, op: int, attrs, args, device: int = 0) -> tuple[int, str]:
    error = _error_buffer()
    code = lib.roipool_forward(op, attrs, args, device, None, 1, error, len(error))
    return code, error.value.decode()


def test_null_pointers_are_rejected(lib: ctypes.CDLL, generator: torch.Generator) -> None:
    features, rois = _inputs(generator)
    output = torch.empty(6, 4, 2, 3)
    op = _native._op_index("roi_align")
    attrs = _native._parsed_attrs(op, _native._freeze(ALIGN_ATTRS))
    fmap, args = _raw_args(features, rois, output)
    assert _raw_forward(lib, op, None, ctypes.byref(args)) == (1, "roipool_forward: bad arguments")
    assert _raw_forward(lib, op, ctypes.byref(attrs), None)[0] == 1

    for field, message in [("rois", "rois must not be null"),
                           ("output", "output must not be null"),
                           ("features", r"expected 1 feature map\(s\)")]:
        _, args = _raw_args(features, rois, output)
        setattr(args, field, None)
        code, text = _raw_forward(lib, op, ctypes.byref(attrs), ctypes.byref(args))
        assert code == 1 and text.startswith("RoIAlign: ") and message.split("\\")[0] in text

    fmap, args = _raw_args(features, rois, output)
    fmap.data = None
    code, text = _raw_forward(lib, op, ctypes.byref(attrs), ctypes.byref(args))
    assert (code, text) == (1, "RoIAlign: input data is null")

    _, args = _raw_args(features, rois, output)
    # A null error buffer is fine on success and on failure.
    code = lib.roipool_forward(op, ctypes.byref(attrs), ctypes.byref(args), 0, None, 1, None, 0)
    assert code == 0
    assert lib.roipool_set_attribute(op, ctypes.byref(attrs), None, 0, None, None, 0, None,
                                     None, 0) == 1
    assert lib.roipool_op_from_name(None, ctypes.byref(ctypes.c_int32())) == 1


def test_out_of_range_enums_are_rejected(lib: ctypes.CDLL, generator: torch.Generator) -> None:
    features, rois = _inputs(generator)
    output = torch.empty(6, 4, 2, 3)
    op = _native._op_index("roi_align")
    cached = _native._parsed_attrs(op, _native._freeze(ALIGN_ATTRS))
    attrs = _native._OpAttrs.from_buffer_copy(cached)  # mutated below: never touch the cache
    _, args = _raw_args(features, rois, output)
    assert _raw_forward(lib, 99, ctypes.byref(attrs), ctypes.byref(args))[0] == 1
    assert _raw_forward(lib, op, ctypes.byref(attrs), ctypes.byref(args), device=7)[0] == 1
    for field, value, message in [("dtype", 9, "input dtype must be"),
                                  ("rois_dtype", 1, "rois must be float32"),
                                  ("num_rois", -1, "number of rois must be >= 0")]:
        _, args = _raw_args(features, rois, output)
        setattr(args, field, value)
        code, text = _raw_forward(lib, op, ctypes.byref(attrs), ctypes.byref(args))
        assert code == 1 and text.startswith(f"RoIAlign: {message}")
    attrs.mode = 5
    code, text = _raw_forward(lib, op, ctypes.byref(attrs), ctypes.byref(args))
    assert code == 1 and "unknown mode" in text


# ---- threads -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("op", "attrs"),
    [
        ("roi_align", ALIGN_ATTRS),
        ("roi_align", {**ALIGN_ATTRS, "mode": "max", "sampling_ratio": -1}),
        ("roi_align_rotated", {"pooled_h": 2, "pooled_w": 3, "spatial_scale": 0.5}),
        ("multi_scale_roi_align", {"pooled_h": 2, "pooled_w": 3, "spatial_scales": [0.5, 0.25]}),
    ],
)
def test_thread_count_does_not_change_results(op: str, attrs: dict,
                                              generator: torch.Generator) -> None:
    features = torch.randn(2, 5, 20, 24, generator=generator)
    maps = [features, features[:, :, ::2, ::2]] if op == "multi_scale_roi_align" else [features]
    rois = random_rois(37, 2, 20, 24, generator=generator, spatial_scale=0.5)
    if op == "roi_align_rotated":
        rois = torch.cat([rois, torch.rand(37, 1, generator=generator)], dim=1)
    outputs = [_native.forward(op, maps, rois, attrs, num_threads=n) for n in (1, 2, 0, 64)]
    for other in outputs[1:]:
        assert torch.equal(outputs[0], other)


def test_out_receives_the_result(generator: torch.Generator) -> None:
    input = torch.randn(1, 3, 9, 11, generator=generator)
    rois = torch.tensor([[0.0, 1.0, 1.0, 15.0, 12.0], [0.0, 0.0, 2.0, 7.0, 9.0]])
    attrs = {"pooled_h": 2, "pooled_w": 3, "spatial_scale": 0.5, "sampling_ratio": 2}
    expected = _native.forward("roi_align", [input], rois, attrs)
    out = torch.full((2, 3, 2, 3), float("nan"))
    assert _native.forward("roi_align", [input], rois, attrs, out=out) is out
    assert torch.equal(out, expected)
    for bad in (torch.empty(2, 3, 3, 2), torch.empty(2, 3, 2, 3, dtype=torch.float64),
                torch.empty(2, 3, 3, 2).transpose(2, 3)):
        with pytest.raises(ValueError, match="out must be"):
            _native.forward("roi_align", [input], rois, attrs, out=bad)
