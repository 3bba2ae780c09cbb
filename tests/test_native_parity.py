"""Native kernel core (CPU, and CUDA where present) against the float64 eager reference.

Every op x dtype x attribute variant, memory layouts, rois dtypes and the edge cases
of SPEC section 2, within the SPEC section 4 tolerances.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pytest
import torch
from conftest import DEVICES, assert_spec_close, random_rois
from roipool import _native
from roipool.ops import reference

pytestmark = pytest.mark.skipif(
    not _native.available(torch.device("cpu")), reason="libroipool_core.so not built"
)

DTYPES = [torch.float32, torch.float16, torch.bfloat16]
BATCH, HEIGHT, WIDTH = 2, 13, 16
PH, PW = 3, 4  # unequal, so a swapped height/width shows


@dataclass(frozen=True)
class Case:
    """One op with one attribute set; `inputs` says which optional inputs it feeds."""

    op: str
    attrs: dict = field(default_factory=dict)
    inputs: str = ""  # DeformRoIPool: "", "offset" or "offset+mask"

    def __str__(self) -> str:
        extra = ",".join(f"{k}={v}" for k, v in self.attrs.items() if k not in _BASE)
        return f"{self.op}[{extra}{',' + self.inputs if self.inputs else ''}]"


_BASE = {"pooled_h": PH, "pooled_w": PW}
_SCALE = {"spatial_scale": 0.5}


def _case(op: str, inputs: str = "", **attrs: object) -> Case:
    base = dict(_BASE) if op == "multi_scale_roi_align" else {**_BASE, **_SCALE}
    return Case(op, {**base, **attrs}, inputs)


_MS_IMAGE = 256  # MultiScaleRoIAlign image size: levels of 64, 32 and 16 pixels
_MS = {"spatial_scales": [0.25, 0.125, 0.0625], "canonical_level": 4, "roi_scale_factor": 1.0}

CASES = [
    _case("roi_pool"),
    *[
        _case("roi_align", sampling_ratio=sr, aligned=al, mode=mode)
        for al in (0, 1) for sr in (-1, 0, 2) for mode in ("avg", "max")
    ],
    *[
        _case("roi_warp", sampling_ratio=sr, aligned=0, mode=m)
        for sr in (-1, 2) for m in ("avg", "max")
    ],
    _case("ps_roi_pool"),
    *[_case("ps_roi_align", sampling_ratio=sr) for sr in (-1, 2)],
    *[
        _case("deform_roi_pool", inputs, sampling_ratio=sr, gamma=0.1)
        for inputs in ("", "offset", "offset+mask") for sr in (-1, 2)
    ],
    *[
        _case("multi_scale_roi_align", sampling_ratio=sr, aligned=al, level_mapping=lm,
              canonical_scale=cs, **{**_MS, "roi_scale_factor": rsf})
        for lm, cs in (("torchvision", 224.0), ("mmdet", 56.0))
        for al, sr, rsf in ((0, 2, 1.0), (1, -1, 1.0), (1, 2, 1.5))
    ],
    *[
        _case("roi_align_rotated", sampling_ratio=sr, aligned=al, clockwise=cw)
        for al in (0, 1) for cw in (0, 1) for sr in (-1, 2)
    ],
    _case("prroi_pool"),
]
# First listed variant of each op; DeformRoIPool with both optional inputs.
DEFAULT_CASES = {c.op: c for c in reversed(CASES)}
DEFAULT_CASES["deform_roi_pool"] = _case(
    "deform_roi_pool", "offset+mask", sampling_ratio=-1, gamma=0.1
)


def _channels(case: Case) -> int:
    return 2 * PH * PW if case.op.startswith("ps_") else 3


def _features(case: Case, generator: torch.Generator) -> list[torch.Tensor]:
    """Float32 features; MultiScaleRoIAlign gets one map per level (image 4x the finest)."""
    if case.op != "multi_scale_roi_align":
        return [torch.randn(BATCH, _channels(case), HEIGHT, WIDTH, generator=generator) * 3]
    sizes = [round(_MS_IMAGE * s) for s in case.attrs["spatial_scales"]]
    return [torch.randn(BATCH, 3, size, size, generator=generator) for size in sizes]


def _rois(case: Case, num_rois: int, generator: torch.Generator) -> torch.Tensor:
    if case.op == "multi_scale_roi_align":  # boxes of every size, so every level is hit
        return random_rois(num_rois, BATCH, _MS_IMAGE, _MS_IMAGE, generator=generator)
    rois = random_rois(num_rois, BATCH, HEIGHT, WIDTH, generator=generator, spatial_scale=0.5)
    if case.op != "roi_align_rotated":
        return rois
    centre = (rois[:, 1:3] + rois[:, 3:5]) / 2
    size = rois[:, 3:5] - rois[:, 1:3]
    theta = (torch.rand(num_rois, generator=generator) - 0.5) * 2 * math.pi
    return torch.cat([rois[:, :1], centre, size, theta[:, None]], dim=1)


def _aux(case: Case, num_rois: int, generator: torch.Generator) -> tuple:
    offset = torch.randn(num_rois, 2, PH, PW, generator=generator)
    mask = torch.rand(num_rois, 1, PH, PW, generator=generator)
    return (offset if "offset" in case.inputs else None, mask if "mask" in case.inputs else None)


def _opt(t: torch.Tensor | None, *args: object) -> torch.Tensor | None:
    """`t.to(*args)`, passing an absent optional input through."""
    return None if t is None else t.to(*args)


def _reference(case: Case, features, rois, offset=None, mask=None) -> torch.Tensor:
    fn = getattr(reference, f"{case.op}_reference")
    if case.op == "multi_scale_roi_align":
        return fn(rois, features, **case.attrs)
    if case.op == "deform_roi_pool":
        return fn(features[0], rois, offset, mask, **case.attrs)
    return fn(features[0], rois, **case.attrs)


def _check(
    case: Case, device: str, dtype: torch.dtype, features: list[torch.Tensor], rois: torch.Tensor,
    offset: torch.Tensor | None = None, mask: torch.Tensor | None = None, *,
    channels_last: bool = False, rois_same_dtype: bool = False,
) -> torch.Tensor:
    """Run the native op on `dtype` copies of the inputs and compare with the float64
    reference evaluated on exactly those (rounded) values."""
    typed = [f.to(dtype) for f in features]
    typed_rois = rois.to(dtype) if rois_same_dtype else rois
    offset, mask = _opt(offset, dtype), _opt(mask, dtype)
    layout = torch.channels_last if channels_last else torch.contiguous_format
    actual = _native.forward(
        case.op, [f.to(device).contiguous(memory_format=layout) for f in typed],
        typed_rois.to(device), case.attrs, offset=_opt(offset, device), mask=_opt(mask, device),
    )
    assert actual.dtype == dtype and actual.device.type == device
    expected = _reference(
        case, [f.double() for f in typed], typed_rois.double(), _opt(offset, torch.float64),
        _opt(mask, torch.float64),
    )
    assert_spec_close(actual, expected, dtype, typed)
    return actual


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("case", CASES, ids=str)
def test_parity(case: Case, dtype: torch.dtype, device: str, generator: torch.Generator) -> None:
    features = _features(case, generator)
    rois = _rois(case, 12, generator)
    _check(case, device, dtype, features, rois, *_aux(case, 12, generator))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("rois_same_dtype", [False, True], ids=["rois_fp32", "rois_same"])
@pytest.mark.parametrize("channels_last", [False, True], ids=["nchw", "nhwc"])
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("op", sorted(DEFAULT_CASES))
def test_layouts_and_rois_dtype(
    op: str, dtype: torch.dtype, channels_last: bool, rois_same_dtype: bool, device: str,
    generator: torch.Generator,
) -> None:
    case = DEFAULT_CASES[op]
    features = _features(case, generator)
    rois = _rois(case, 8, generator)
    _check(case, device, dtype, features, rois, *_aux(case, 8, generator),
           channels_last=channels_last, rois_same_dtype=rois_same_dtype)


EDGE_CASES = [
    *DEFAULT_CASES.values(), _case("roi_align", sampling_ratio=-1, aligned=1, mode="max")
]


def _edge_rois(case: Case, rows: list[list[float]]) -> torch.Tensor:
    """Boxes given as (b, x1, y1, x2, y2), converted to rotated rows where needed."""
    rois = torch.tensor(rows, dtype=torch.float32)
    if case.op != "roi_align_rotated":
        return rois
    centre, size = (rois[:, 1:3] + rois[:, 3:5]) / 2, rois[:, 3:5] - rois[:, 1:3]
    return torch.cat([rois[:, :1], centre, size, torch.full_like(rois[:, :1], 0.3)], dim=1)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case", EDGE_CASES, ids=str)
def test_empty_rois(case: Case, device: str, generator: torch.Generator) -> None:
    features = [f.to(device) for f in _features(case, generator)]
    rois = torch.zeros(0, 6 if case.op == "roi_align_rotated" else 5, device=device)
    offset, mask = (_opt(t, device) for t in _aux(case, 0, generator))
    out = _native.forward(case.op, features, rois, case.attrs, offset=offset, mask=mask)
    out_channels = _channels(case) // (PH * PW) if case.op.startswith("ps_") else _channels(case)
    assert out.shape == (0, out_channels, PH, PW)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case", EDGE_CASES, ids=str)
def test_awkward_boxes(case: Case, device: str, generator: torch.Generator) -> None:
    """Boxes outside the map, degenerate (zero-size, inverted) and huge boxes."""
    img_h, img_w = HEIGHT * 2, WIDTH * 2
    rows = [
        [0, -50, -40, -10, -5],            # entirely above-left of the map
        [1, img_w + 4, img_h + 2, img_w + 30, img_h + 9],  # entirely below-right
        [0, 6, 7, 6, 7],                   # zero size
        [1, 10, 3, 10, 20],                # zero width
        [0, 12, 12, 4, 5],                 # inverted
        [1, -1e4, -1e4, 1e4, 1e4],         # huge, covers everything
        [0, 3.5, 2.5, 20.25, 17.75],       # ordinary, for contrast
    ]
    rois = _edge_rois(case, rows)
    if case.op == "multi_scale_roi_align":
        rois[:, 1:] *= 8
    # Adaptive sampling would give the huge box the 1024 x 1024 grid cap (millions of
    # float64 reference samples); test_sampling_ratio_at_cap covers the cap itself.
    if "sampling_ratio" in case.attrs:
        case = Case(case.op, {**case.attrs, "sampling_ratio": 2}, case.inputs)
    _check(case, device, torch.float32, _features(case, generator), rois,
           *_aux(case, len(rows), generator))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case", EDGE_CASES, ids=str)
def test_bad_batch_index_gives_zeros(case: Case, device: str, generator: torch.Generator) -> None:
    features = _features(case, generator)
    rois = _rois(case, 7, generator)
    bad = [-1.0, float(BATCH), math.nan, 0.5, 1e9]
    rois[: len(bad), 0] = torch.tensor(bad)
    offset, mask = _aux(case, 7, generator)
    on = [f.to(device) for f in features]
    out = _native.forward(case.op, on, rois.to(device), case.attrs,
                          offset=_opt(offset, device), mask=_opt(mask, device))
    assert torch.all(out[: len(bad)] == 0)
    good = slice(len(bad), None)
    expected = _reference(case, [f.double() for f in features], rois[good].double(),
                          _opt(offset[good] if offset is not None else None, torch.float64),
                          _opt(mask[good] if mask is not None else None, torch.float64))
    assert_spec_close(out[good], expected, torch.float32, features)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case", EDGE_CASES, ids=str)
def test_nan_coordinates_are_finite(case: Case, device: str, generator: torch.Generator) -> None:
    features = [f.to(device) for f in _features(case, generator)]
    rois = _rois(case, 4, generator)
    rois[0, 1] = math.nan
    rois[1, 2:] = math.nan
    rois[2, 1:] = math.inf
    offset, mask = (_opt(t, device) for t in _aux(case, 4, generator))
    out = _native.forward(case.op, features, rois.to(device), case.attrs, offset=offset, mask=mask)
    assert torch.isfinite(out).all()


BILINEAR_OPS = ["roi_align", "roi_warp", "ps_roi_align", "deform_roi_pool",
                "multi_scale_roi_align", "roi_align_rotated"]


@pytest.mark.parametrize("op", BILINEAR_OPS)
def test_sampling_ratio_above_cap_is_rejected(op: str, generator: torch.Generator) -> None:
    case = DEFAULT_CASES[op]
    features = _features(case, generator)
    rois = _rois(case, 2, generator)
    with pytest.raises(ValueError, match="sampling_ratio"):
        _native.forward(op, features, rois, {**case.attrs, "sampling_ratio": 1025})


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(
    ("sampling_ratio", "box"),
    [(1024, [1.0, 2.0, 15.0, 12.0]), (-1, [-5e3, -4e3, 6e3, 5e3])],
    ids=["explicit", "adaptive"],
)
def test_sampling_grid_at_cap(
    sampling_ratio: int, box: list[float], device: str, generator: torch.Generator
) -> None:
    """1024 x 1024 samples per bin, asked for or reached by the adaptive grid's cap."""
    case = _case("roi_align", pooled_h=1, pooled_w=1, sampling_ratio=sampling_ratio,
                 aligned=1, mode="avg")
    features = [torch.randn(1, 2, 9, 11, generator=generator)]
    _check(case, device, torch.float32, features, torch.tensor([[0.0, *box]]))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("op", BILINEAR_OPS)
def test_empty_channels_and_batch(op: str, device: str, generator: torch.Generator) -> None:
    """C = 0 gives an empty output; B = 0 makes every batch index invalid (zeros)."""
    case = DEFAULT_CASES[op]
    features = _features(case, generator)
    rois = _rois(case, 3, generator).to(device)
    offset, mask = (_opt(t, device) for t in _aux(case, 3, generator))
    no_channels = [f[:, :0].to(device) for f in features]
    out = _native.forward(op, no_channels, rois, case.attrs, offset=offset, mask=mask)
    assert out.shape == (3, 0, PH, PW)
    no_images = [f[:0].to(device) for f in features]
    out = _native.forward(op, no_images, rois, case.attrs, offset=offset, mask=mask)
    assert out.shape[0] == 3 and out.shape[1] > 0 and torch.all(out == 0)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(("level_mapping", "canonical_scale"), [("torchvision", 224.0),
                                                                 ("mmdet", 56.0)])
def test_multi_scale_level_choice(level_mapping: str, canonical_scale: float, device: str) -> None:
    """Level l filled with l + 1: each box's largest output names the level it used,
    independently of the reference. Sides 112 and 224 sit exactly on level boundaries."""
    sides = [10.0, 100.0, 112.0, 120.0, 200.0, 224.0, 300.0, 1000.0]
    expected = torch.tensor([0, 0, 1, 1, 1, 2, 2, 2], dtype=torch.float32) + 1
    case = _case("multi_scale_roi_align", sampling_ratio=2, aligned=0, level_mapping=level_mapping,
                 canonical_scale=canonical_scale, **_MS)
    sizes = [round(_MS_IMAGE * s) for s in _MS["spatial_scales"]]
    features = [torch.full((1, 2, n, n), float(level + 1), device=device)
                for level, n in enumerate(sizes)]
    rois = torch.tensor([[0.0, 0.0, 0.0, side, side] for side in sides], device=device)
    out = _native.forward(case.op, features, rois, case.attrs)
    assert torch.equal(out.flatten(1).amax(dim=1).cpu(), expected)
