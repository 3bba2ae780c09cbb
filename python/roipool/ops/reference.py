"""Pure-PyTorch reference implementation of every roipool op (``shared/SPEC.md`` section 3).

Every function takes exactly the arguments of the matching ``torch.ops.roipool`` custom
op and is the ground truth the native kernels, ONNX Runtime ops and TensorRT plugins
are compared with. Computation runs in float64 for float64 inputs and in float32
otherwise (float16/bfloat16 are upcast), and the result has the input's dtype.

How it works: every op describes each output bin as a set of *samples*, each sample as
a few weighted *taps* (feature-map pixels: 4 for a bilinear sample, 1 for a max-pool
pixel). One gather fetches all taps of a chunk of RoIs from a ``[rows, C]`` table of
channel vectors, and one reduction (weighted sum, or max over samples) produces the
bins. Nothing loops over RoIs, bins or samples in Python; RoIs are sorted by their
sample count and processed in chunks so the gathered tensor stays bounded (a single RoI
with a huge sample grid is further split by sample rows).

Choices where SPEC.md is silent: RoIWarp ignores `aligned` (the box is quantised, then
pooled with aligned = 0, like the kernel core); MultiScaleRoIAlign sends NaN/empty boxes
to the finest level; a PrRoIPool bin with zero or non-finite area is 0; RoIPool/max
bins containing -inf values return -inf (not 0).
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "ADAPTIVE_SAMPLE_LIMIT_VARIABLE",
    "DEFAULT_ADAPTIVE_SAMPLE_LIMIT",
    "MAX_SAMPLING_GRID",
    "adaptive_sample_limit",
    "deform_roi_pool_reference",
    "multi_scale_roi_align_reference",
    "prroi_pool_reference",
    "ps_roi_align_reference",
    "ps_roi_pool_reference",
    "roi_align_reference",
    "roi_align_rotated_reference",
    "roi_pool_reference",
    "roi_warp_reference",
]

# Samples per bin axis are capped like the kernel core's kMaxSamplingGrid.
MAX_SAMPLING_GRID = 1024
# The kernel core's bound on pooled_h / pooled_w.
_MAX_POOLED = 65535
# The kernel core's bound on adaptive samples along one axis of one RoI (all its bins
# together): the environment variable when set, else the default (sampling.h).
ADAPTIVE_SAMPLE_LIMIT_VARIABLE = "ROIPOOL_ADAPTIVE_SAMPLE_LIMIT"
DEFAULT_ADAPTIVE_SAMPLE_LIMIT = 1024
_MAX_ADAPTIVE_SAMPLE_LIMIT = 1 << 20
# Upper bound on the elements gathered per chunk of RoIs (a chunk holds >= 1 RoI).
_CHUNK_ELEMENTS = 1 << 23

# A chunk callback gets the (sorted) RoI indices of the chunk and returns [k, ph, pw, C].
_ChunkFn = Callable[[Tensor], Tensor]


# ----------------------------------------------------------------------------- helpers


def _compute_dtype(input: Tensor) -> torch.dtype:
    return torch.float64 if input.dtype == torch.float64 else torch.float32


def _check_inputs(input: Tensor, rois: Tensor, columns: int, pooled_h: int, pooled_w: int,
                  spatial_scale: float = 1.0, sampling_ratio: int = 0) -> None:
    """The kernel core's checks of one call (same rules, Python wording)."""
    if not (1 <= pooled_h <= _MAX_POOLED and 1 <= pooled_w <= _MAX_POOLED):
        raise ValueError(f"pooled_h and pooled_w must be in [1, {_MAX_POOLED}], got "
                         f"{pooled_h}x{pooled_w}")
    if not (math.isfinite(spatial_scale) and spatial_scale > 0):
        raise ValueError(f"spatial_scale must be finite and > 0, got {spatial_scale}")
    if sampling_ratio > MAX_SAMPLING_GRID:
        raise ValueError(f"sampling_ratio must be <= {MAX_SAMPLING_GRID}, got {sampling_ratio}")
    if input.dim() != 4:
        raise ValueError(f"input must be [B, C, H, W], got shape {tuple(input.shape)}")
    if rois.dim() != 2 or rois.shape[1] != columns:
        raise ValueError(f"rois must be [K, {columns}], got shape {tuple(rois.shape)}")
    if not input.is_floating_point() or not rois.is_floating_point():
        raise TypeError("input and rois must be floating-point tensors")


def _round_half_away(x: Tensor) -> Tensor:
    """C's round(): halves go away from zero (torch.round goes to even)."""
    whole = torch.trunc(x)
    return torch.where((x - whole).abs() >= 0.5, whole + torch.sign(x), whole)


def _batch_index(rois: Tensor, batch: int) -> tuple[Tensor, Tensor]:
    """(index, ok): RoIs whose batch index is not an integer in [0, batch) (NaN too) or
    that have a NaN coordinate get ok = False and index 0, so they read a valid plane and
    are zeroed by the caller (SPEC section 2), whatever else multiplies their bins."""
    column = rois[:, 0]
    ok = (column >= 0) & (column < batch) & (column == torch.trunc(column))
    ok = ok & ~torch.isnan(rois[:, 1:]).any(dim=1)
    return torch.where(ok, column, 0).long(), ok


@functools.cache
def adaptive_sample_limit() -> int:
    """The most adaptive samples one RoI takes along one axis, all bins together: the
    ``ROIPOOL_ADAPTIVE_SAMPLE_LIMIT`` environment variable when set, else 1024 (read once
    per process, like the kernel core)."""
    text = os.environ.get(ADAPTIVE_SAMPLE_LIMIT_VARIABLE, "")
    if not text:
        return DEFAULT_ADAPTIVE_SAMPLE_LIMIT
    if not text.isdigit() or not 1 <= int(text) <= _MAX_ADAPTIVE_SAMPLE_LIMIT:
        raise ValueError(f"{ADAPTIVE_SAMPLE_LIMIT_VARIABLE} must be an integer in "
                         f"[1, {_MAX_ADAPTIVE_SAMPLE_LIMIT}], got {text!r}")
    return int(text)


def _grid_size(sampling_ratio: int, extent: Tensor, pooled: int) -> Tensor:
    """Samples per bin along one axis (SPEC section 2) as int64: `sampling_ratio` when > 0,
    else ceil(extent / pooled) in [0, max(1, limit // pooled)] (adaptive_sample_limit)."""
    if sampling_ratio > 0:
        return torch.full_like(extent, min(sampling_ratio, MAX_SAMPLING_GRID), dtype=torch.long)
    cap = min(max(1, adaptive_sample_limit() // pooled), MAX_SAMPLING_GRID)
    grid = torch.ceil(extent / pooled)
    grid = torch.nan_to_num(grid, nan=0.0).clamp(0, cap)
    return grid.long()


def _channel_table(input: Tensor) -> Tensor:
    """[B*H*W, C]: one row of channels per pixel, so a gather copies contiguous rows."""
    b, c, h, w = input.shape
    return input.permute(0, 2, 3, 1).reshape(b * h * w, c)  # explicit: C may be 0


def _ps_channel_table(input: Tensor, pooled_h: int, pooled_w: int) -> Tensor:
    """[B*ph*pw*H*W, C_out]: position-sensitive planes; bin (i, j) reads channels
    (c*ph + i)*pw + j (SPEC section 3.4), i.e. plane (b*ph + i)*pw + j."""
    b, c, h, w = input.shape
    planes = input.reshape(b, c // (pooled_h * pooled_w), pooled_h, pooled_w, h, w)
    # Explicit sizes: C may be 0.
    return planes.permute(0, 2, 3, 4, 5, 1).reshape(b * pooled_h * pooled_w * h * w,
                                                    c // (pooled_h * pooled_w))


def _ps_plane_base(batch_index: Tensor, pooled_h: int, pooled_w: int, plane_size: int) -> Tensor:
    i = torch.arange(pooled_h, device=batch_index.device).view(1, -1, 1)
    j = torch.arange(pooled_w, device=batch_index.device).view(1, 1, -1)
    return ((batch_index.view(-1, 1, 1) * pooled_h + i) * pooled_w + j) * plane_size


def _run_chunked(extents: tuple[Tensor, Tensor], unit: int, num_channels: int,
                 pooled: tuple[int, int], fn: _ChunkFn, dtype: torch.dtype) -> Tensor:
    """Runs `fn` on chunks of RoIs and returns [K, C, ph, pw] in the original order.

    A chunk pads every RoI to its largest extents (e.g. sample grid rows x columns), so
    it gathers len(chunk) * max(rows) * max(cols) * unit elements; RoIs are sorted by
    size and each chunk is the longest run within _CHUNK_ELEMENTS (at least one RoI)."""
    num_rois = extents[0].numel()
    if num_rois == 0:
        return torch.zeros(0, num_channels, *pooled, dtype=dtype, device=extents[0].device)
    sizes = torch.stack([e.clamp(min=1).double() for e in extents], dim=1)
    order = torch.argsort(sizes.prod(dim=1), stable=True)
    sorted_sizes = sizes[order].cpu().numpy()
    pieces, start = [], 0
    while start < num_rois:
        padded = np.maximum.accumulate(sorted_sizes[start:], axis=0).prod(axis=1)
        chunk_cost = padded * unit * np.arange(1, num_rois - start + 1)  # non-decreasing
        end = start + max(1, int(np.searchsorted(chunk_cost, _CHUNK_ELEMENTS, side="right")))
        pieces.append(fn(order[start:end]))
        start = end
    inverse = torch.empty_like(order)
    inverse[order] = torch.arange(num_rois, device=order.device)
    return torch.cat(pieces).index_select(0, inverse).permute(0, 3, 1, 2).contiguous()


def _gather_reduce(table: Tensor, index: Tensor, weight: Tensor, valid: Tensor,
                   mode: str) -> Tensor:
    """Pools taps into bins.

    table [N, C]; index, weight [k, ph, pw, S, T] (S samples of T taps); valid
    [k, ph, pw, S]. ``avg``: sum of weight * value over samples and taps (the weights
    already hold 1/count). ``max``: max over valid samples of the tap-weighted value,
    -inf for a bin without valid samples (see _empty_to_zero). Returns [k, ph, pw, C].
    """
    taps = table.index_select(0, index.reshape(-1)).view(*index.shape, table.shape[1])
    if mode == "avg":
        return torch.einsum("kijt,kijtc->kijc", weight.flatten(3), taps.flatten(3, 4))
    if weight.shape[-1] == 1:  # one tap per sample (RoIPool): no interpolation to do
        values = taps.squeeze(-2)
    else:
        values = torch.einsum("kijst,kijstc->kijsc", weight, taps)
    return _first_max(values.masked_fill(~valid.unsqueeze(-1), -math.inf), dim=3)


def _first_max(values: Tensor, dim: int) -> Tensor:
    """Max over `dim` whose gradient goes wholly to the FIRST maximal entry (SPEC 5:
    torchvision's RoIPool and mmcv's max RoIAlign do not split ties; ``amax`` would)."""
    return values.gather(dim, values.argmax(dim=dim, keepdim=True)).squeeze(dim)


def _empty_to_zero(pooled: Tensor, nonempty: Tensor) -> Tensor:
    """Max pooling result with 0 for bins that had no sample (nonempty [k, ph, pw])."""
    return torch.where(nonempty.unsqueeze(-1), pooled, torch.zeros_like(pooled))


def _bilinear_taps(y: Tensor, x: Tensor, height: Tensor, width: Tensor
                   ) -> tuple[Tensor, Tensor, Tensor]:
    """SPEC section 2 bilinear rule. Returns (row, col, weight), each [..., 4] for the
    corners (y0,x0), (y0,x1), (y1,x0), (y1,x1); samples off the map get weight 0."""
    y, x, height, width = torch.broadcast_tensors(y, x, height.to(y.dtype), width.to(y.dtype))
    inside = (y >= -1) & (y <= height) & (x >= -1) & (x <= width)  # False for NaN too

    def axis(c: Tensor, size: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        c = torch.where(inside, c, torch.zeros_like(c)).clamp(min=0)
        low = torch.floor(c)
        at_edge = low >= size - 1
        low = torch.where(at_edge, size - 1, low)
        high = torch.where(at_edge, low, low + 1)
        frac = torch.where(at_edge, torch.zeros_like(c), c - low)
        return low.long(), high.long(), 1 - frac, frac

    y0, y1, hy, ly = axis(y, height)
    x0, x1, hx, lx = axis(x, width)
    rows = torch.stack([y0, y0, y1, y1], dim=-1)
    cols = torch.stack([x0, x1, x0, x1], dim=-1)
    weight = torch.stack([hy * hx, hy * lx, ly * hx, ly * lx], dim=-1)
    return rows, cols, weight * inside.unsqueeze(-1)


class _Planes:
    """Where each RoI reads: a [rows, C] channel table plus, per RoI, the row offset of
    its plane (per bin for position-sensitive ops), the plane's size and a validity flag."""

    def __init__(self, table: Tensor, base: Tensor, height: Tensor, width: Tensor,
                 ok: Tensor) -> None:
        self.table = table
        self.base = base if base.dim() == 3 else base.view(-1, 1, 1)  # [K, ph|1, pw|1]
        self.height = height  # [K] int64
        self.width = width
        self.ok = ok  # [K] bool

    @classmethod
    def single(cls, input: Tensor, rois: Tensor) -> _Planes:
        b, _, h, w = input.shape
        index, ok = _batch_index(rois, b)
        size = torch.full_like(index, h)
        return cls(_channel_table(input), index * (h * w), size, torch.full_like(index, w), ok)

    @classmethod
    def position_sensitive(cls, input: Tensor, rois: Tensor, pooled_h: int,
                           pooled_w: int) -> _Planes:
        b, _, h, w = input.shape
        index, ok = _batch_index(rois, b)
        return cls(_ps_channel_table(input, pooled_h, pooled_w),
                   _ps_plane_base(index, pooled_h, pooled_w, h * w),
                   torch.full_like(index, h), torch.full_like(index, w), ok)

    def flat_index(self, rois: Tensor, rows: Tensor, cols: Tensor) -> Tensor:
        """Table rows of pixel (rows, cols) for chunk `rois`; rows/cols are [k, ph, pw, ...]."""
        extra = rows.dim() - 3
        base = self.base[rois].view(*self.base[rois].shape, *([1] * extra))
        width = self.width[rois].view(-1, *([1] * (rows.dim() - 1)))
        return base + rows * width + cols


def _chunk_view(t: Tensor, rois: Tensor, dims: int) -> Tensor:
    """t[rois] shaped [k, 1, ..., 1] (dims trailing singleton dims) for broadcasting."""
    return t[rois].view(-1, *([1] * dims))


def _window_pool(planes: _Planes, rois: Tensor, rows: Tensor, wy: Tensor, cols: Tensor,
                 wx: Tensor) -> Tensor:
    """Separable weighted sum over a pixel window: out[k, i, j] = sum over (r, s) of
    wy[k, i, r] * wx[k, j, s] * pixel(rows[k, r], cols[k, s]). rows [k, Ly], cols [k, Lx]
    (valid pixels), wy [k, ph, Ly], wx [k, pw, Lx]. Returns [k, ph, pw, C]."""
    k, rows_n, cols_n = len(rois), rows.shape[1], cols.shape[1]
    channels = planes.table.shape[1]
    index = planes.flat_index(rois, rows.view(k, 1, 1, rows_n, 1), cols.view(k, 1, 1, 1, cols_n))
    window = planes.table.index_select(0, index.reshape(-1)).view(k, rows_n, cols_n, channels)
    # Rows first, then columns: never materialise the [ph, pw, rows, cols] weights.
    by_rows = torch.bmm(wy, window.view(k, rows_n, cols_n * channels))
    return torch.matmul(wx.unsqueeze(1), by_rows.view(k, wy.shape[1], cols_n, channels))


def _axis_window(coord: Tensor, valid: Tensor, count: Tensor, size: Tensor
                 ) -> tuple[Tensor, Tensor]:
    """One axis of a separable bilinear grid as window pixels and weights.

    coord [k, p, G] sample coordinates, valid [k, 1, G], count [k, 1, 1] samples per bin
    on this axis, size [k, 1, 1] map extent. Returns (pixels [k, L], weights [k, p, L])
    with weights = sum of the samples' 1-D bilinear weights / count."""
    # The 2-D rule with x = 0 (always inside) gives the 1-D taps along this axis.
    pixel, _, weight = _bilinear_taps(coord, torch.zeros_like(coord), size, size)
    weight = weight * (valid.to(weight.dtype) / count.clamp(min=1).to(weight.dtype)).unsqueeze(-1)
    used = valid.unsqueeze(-1).expand_as(pixel)
    first = torch.where(used, pixel, pixel.new_full((), 2**62)).flatten(1).amin(dim=1)
    last = torch.where(used, pixel, pixel.new_full((), -1)).flatten(1).amax(dim=1)
    first = torch.where(last >= 0, first, torch.zeros_like(first))
    length = int((last - first + 1).clamp(min=1).max())
    offset = (pixel - first.view(-1, 1, 1, 1)).clamp(0, length - 1)
    k, p = coord.shape[:2]
    weights = weight.new_zeros(k, p, length).scatter_add_(2, offset.reshape(k, p, -1),
                                                          weight.reshape(k, p, -1))
    pixels = torch.minimum(first.unsqueeze(1) + torch.arange(length, device=coord.device),
                           size.view(-1, 1) - 1)
    return pixels, weights


# A coordinate callback gets (chunk RoI indices, iy [1,1,1,Gh,1], ix [1,1,1,1,Gw]) and
# returns sample coordinates (y, x), broadcastable to [k, ph, pw, Gh, Gw].
_CoordFn = Callable[[Tensor, Tensor, Tensor], tuple[Tensor, Tensor]]


def _bilinear_pool(planes: _Planes, grid_h: Tensor, grid_w: Tensor, pooled: tuple[int, int],
                   mode: str, coords: _CoordFn) -> Tensor:
    """Average (or max) of bilinear samples on a per-RoI grid_h x grid_w grid per bin."""
    ph, pw = pooled
    channels = planes.table.shape[1]

    def rows_block(rois: Tensor, iy: Tensor, ix: Tensor) -> tuple[Tensor, Tensor]:
        """Pooled [k, ph, pw, C] over the sample rows `iy` of every bin, and which bins
        had a valid sample there."""
        gh, gw = _chunk_view(grid_h, rois, 4), _chunk_view(grid_w, rois, 4)
        y, x = coords(rois, iy, ix)
        rows, cols, weight = _bilinear_taps(y, x, _chunk_view(planes.height, rois, 4),
                                            _chunk_view(planes.width, rois, 4))
        shape = (len(rois), ph, pw, iy.shape[3], ix.shape[4])
        valid = ((iy < gh) & (ix < gw) & _chunk_view(planes.ok, rois, 4)).expand(shape)
        if mode == "avg":
            count = (gh * gw).clamp(min=1).to(weight.dtype)
            weight = weight * (valid / count).unsqueeze(-1)
        index = planes.flat_index(rois, rows, cols).expand(*shape, 4)
        samples = shape[3] * shape[4]
        valid = valid.reshape(*shape[:3], samples)
        pooled_block = _gather_reduce(planes.table, index.reshape(*shape[:3], samples, 4),
                                      weight.expand(*shape, 4).reshape(*shape[:3], samples, 4),
                                      valid, mode)
        return pooled_block, valid.any(dim=3)

    def separable_window(rois: Tensor, iy: Tensor, ix: Tensor) -> Tensor | None:
        """Average over a grid whose rows depend only on the bin row and columns only on
        the bin column, as two small matrices applied to the RoI's pixel window: each
        pixel is read once instead of once per covering tap. None when the grid is not
        separable or the window would read more than the taps."""
        y, x = coords(rois, iy, ix)
        if (planes.base.shape[1:] != (1, 1) or y.shape[2] != 1 or y.shape[4] != 1
                or x.shape[1] != 1 or x.shape[3] != 1):
            return None
        gh, gw = _chunk_view(grid_h, rois, 2), _chunk_view(grid_w, rois, 2)
        ok = _chunk_view(planes.ok, rois, 2)
        rows, wy = _axis_window(y.reshape(len(rois), ph, -1), (iy.view(1, 1, -1) < gh) & ok,
                                gh, _chunk_view(planes.height, rois, 2))
        cols, wx = _axis_window(x.reshape(len(rois), pw, -1), ix.view(1, 1, -1) < gw, gw,
                                _chunk_view(planes.width, rois, 2))
        if rows.shape[1] * cols.shape[1] > 2 * ph * pw * iy.numel() * ix.numel():
            return None
        return _window_pool(planes, rois, rows, wy, cols, wx)

    def chunk(rois: Tensor) -> Tensor:
        rows_n = max(int(grid_h[rois].max()), 1)
        cols_n = max(int(grid_w[rois].max()), 1)
        ix = torch.arange(cols_n, device=rois.device).view(1, 1, 1, 1, -1)
        if mode == "avg":
            iy = torch.arange(rows_n, device=rois.device).view(1, 1, 1, -1, 1)
            pooled_window = separable_window(rois, iy, ix)
            if pooled_window is not None:
                return pooled_window
        # A chunk holds >= 1 RoI; a single RoI with a huge grid is split by sample rows.
        per_row = len(rois) * ph * pw * cols_n * 4 * channels
        blocks = torch.arange(rows_n, device=rois.device).split(
            max(1, _CHUNK_ELEMENTS // per_row))
        results = [rows_block(rois, iy.view(1, 1, 1, -1, 1), ix) for iy in blocks]
        if mode == "avg":
            return torch.stack([r[0] for r in results]).sum(dim=0)
        combined = _first_max(torch.stack([r[0] for r in results]), dim=0)
        return _empty_to_zero(combined, torch.stack([r[1] for r in results]).any(dim=0))

    def zeroed_chunk(rois: Tensor) -> Tensor:
        # RoIs that pool to zeros (bad batch index, NaN coordinate) are 0 even where
        # their weight-0 taps read an inf or NaN pixel.
        return torch.where(_chunk_view(planes.ok, rois, 3), chunk(rois), 0.0)

    return _run_chunked((grid_h, grid_w), ph * pw * 4 * channels, channels, pooled,
                        zeroed_chunk, planes.table.dtype)


def _bin_coords(start: Tensor, bin_size: Tensor, grid: Tensor, sample: Tensor,
                bin_index: Tensor) -> Tensor:
    """start + i*bin + (s + 0.5)*bin/grid, in the C kernels' evaluation order."""
    return (start + bin_index * bin_size) + ((sample + 0.5) * bin_size) / grid.clamp(min=1)


def _align_boxes(planes: _Planes, boxes: Tensor, scale: Tensor | float, offset: float,
                 clamp_size: bool, pooled: tuple[int, int], sampling_ratio: int, mode: str,
                 shift: tuple[Tensor, Tensor] | None = None) -> Tensor:
    """RoIAlign geometry (SPEC 3.2) on [K, 4] boxes (x1, y1, x2, y2): start = x1*s - offset,
    size = x2*s - offset - start (>= 1 when clamp_size); `shift` = per-bin (dy, dx)
    [K, ph, pw] added to the start (DeformRoIPool)."""
    ph, pw = pooled
    start_x, start_y = boxes[:, 0] * scale - offset, boxes[:, 1] * scale - offset
    roi_w = (boxes[:, 2] * scale - offset) - start_x
    roi_h = (boxes[:, 3] * scale - offset) - start_y
    if clamp_size:
        roi_w, roi_h = roi_w.clamp(min=1), roi_h.clamp(min=1)
    bin_h, bin_w = roi_h / ph, roi_w / pw
    grid_h = _grid_size(sampling_ratio, roi_h, ph)
    grid_w = _grid_size(sampling_ratio, roi_w, pw)
    device = boxes.device
    i = torch.arange(ph, device=device, dtype=boxes.dtype).view(1, -1, 1, 1, 1)
    j = torch.arange(pw, device=device, dtype=boxes.dtype).view(1, 1, -1, 1, 1)

    def coords(rois: Tensor, iy: Tensor, ix: Tensor) -> tuple[Tensor, Tensor]:
        sy, sx = _chunk_view(start_y, rois, 4), _chunk_view(start_x, rois, 4)
        if shift is not None:
            sy = sy + shift[0][rois].unsqueeze(-1).unsqueeze(-1)
            sx = sx + shift[1][rois].unsqueeze(-1).unsqueeze(-1)
        y = _bin_coords(sy, _chunk_view(bin_h, rois, 4), _chunk_view(grid_h, rois, 4), iy, i)
        x = _bin_coords(sx, _chunk_view(bin_w, rois, 4), _chunk_view(grid_w, rois, 4), ix, j)
        return y, x

    return _bilinear_pool(planes, grid_h, grid_w, pooled, mode, coords)


def _quantised_bins(start: Tensor, extent: Tensor, pooled: int, limit: int
                    ) -> tuple[Tensor, Tensor]:
    """Integer bin edges [K, pooled]: floor(i*extent/pooled) + start to
    ceil((i+1)*extent/pooled) + start, clipped to [0, limit] (NaN boxes: empty bins)."""
    bin_size = extent / pooled
    i = torch.arange(pooled, device=start.device, dtype=start.dtype)
    lo = torch.floor(i * bin_size.unsqueeze(1)) + start.unsqueeze(1)
    hi = torch.ceil((i + 1) * bin_size.unsqueeze(1)) + start.unsqueeze(1)
    lo, hi = torch.nan_to_num(lo, nan=0.0), torch.nan_to_num(hi, nan=0.0)
    return lo.clamp(0, limit).long(), hi.clamp(0, limit).long()


def _pixel_pool(planes: _Planes, rows: tuple[Tensor, Tensor], cols: tuple[Tensor, Tensor],
                pooled: tuple[int, int], mode: str) -> Tensor:
    """Max (RoIPool) or mean (PSRoIPool) over the integer pixel rectangle of every bin;
    rows/cols = (first, end) [K, ph] / [K, pw]; an empty bin gives 0."""
    ph, pw = pooled
    channels = planes.table.shape[1]
    height, width = (rows[1] - rows[0]).clamp(min=0), (cols[1] - cols[0]).clamp(min=0)
    span_h, span_w = height.amax(dim=1).clamp(min=1), width.amax(dim=1).clamp(min=1)

    def chunk(rois: Tensor) -> Tensor:
        ny = torch.arange(int(span_h[rois].max()), device=rois.device)
        nx = torch.arange(int(span_w[rois].max()), device=rois.device)
        row = (rows[0][rois].unsqueeze(-1) + ny).view(len(rois), ph, 1, -1, 1)
        col = (cols[0][rois].unsqueeze(-1) + nx).view(len(rois), 1, pw, 1, -1)
        valid = ((ny < height[rois].unsqueeze(-1)).view(len(rois), ph, 1, -1, 1)
                 & (nx < width[rois].unsqueeze(-1)).view(len(rois), 1, pw, 1, -1)
                 & _chunk_view(planes.ok, rois, 4))
        row = torch.minimum(row, _chunk_view(planes.height, rois, 4) - 1)
        col = torch.minimum(col, _chunk_view(planes.width, rois, 4) - 1)
        shape = (len(rois), ph, pw, len(ny) * len(nx))
        valid = valid.expand(*shape[:3], len(ny), len(nx)).reshape(shape)
        weight = valid.to(planes.table.dtype)
        if mode == "avg":
            area = (height[rois].view(-1, ph, 1) * width[rois].view(-1, 1, pw)).clamp(min=1)
            weight = weight / area.unsqueeze(-1).to(weight.dtype)
        index = planes.flat_index(rois, row, col).expand(*shape[:3], len(ny), len(nx))
        pooled_chunk = _gather_reduce(planes.table, index.reshape(*shape, 1),
                                      weight.unsqueeze(-1), valid, mode)
        return pooled_chunk if mode == "avg" else _empty_to_zero(pooled_chunk, valid.any(dim=3))

    return _run_chunked((span_h, span_w), ph * pw * channels, channels, pooled, chunk,
                        planes.table.dtype)


# ----------------------------------------------------------------------------- the ops


def roi_pool_reference(input: Tensor, rois: Tensor, pooled_h: int, pooled_w: int,
                       spatial_scale: float) -> Tensor:
    """RoIPool (SPEC 3.1, torchvision.ops.roi_pool): max over twice-quantised bins."""
    _check_inputs(input, rois, 5, pooled_h, pooled_w, spatial_scale)
    dtype = _compute_dtype(input)
    x, r = input.to(dtype), rois.to(dtype)
    start = _round_half_away(r[:, 1:3] * spatial_scale)
    end = _round_half_away(r[:, 3:5] * spatial_scale)
    size = (end - start + 1).clamp(min=1)
    _, _, h, w = x.shape
    rows = _quantised_bins(start[:, 1], size[:, 1], pooled_h, h)
    cols = _quantised_bins(start[:, 0], size[:, 0], pooled_w, w)
    planes = _Planes.single(x, r)
    return _pixel_pool(planes, rows, cols, (pooled_h, pooled_w), "max").to(input.dtype)


def roi_align_reference(input: Tensor, rois: Tensor, pooled_h: int, pooled_w: int,
                        spatial_scale: float, sampling_ratio: int, aligned: bool,
                        mode: str) -> Tensor:
    """RoIAlign (SPEC 3.2): torchvision for ``avg``, mmcv for ``max``."""
    _check_inputs(input, rois, 5, pooled_h, pooled_w, spatial_scale, sampling_ratio)
    if mode not in ("avg", "max"):
        raise ValueError(f"mode must be 'avg' or 'max', got {mode!r}")
    dtype = _compute_dtype(input)
    x, r = input.to(dtype), rois.to(dtype)
    planes = _Planes.single(x, r)
    out = _align_boxes(planes, r[:, 1:], spatial_scale, 0.5 if aligned else 0.0, not aligned,
                       (pooled_h, pooled_w), sampling_ratio, mode)
    return out.to(input.dtype)


def roi_warp_reference(input: Tensor, rois: Tensor, pooled_h: int, pooled_w: int,
                       spatial_scale: float, sampling_ratio: int, aligned: bool,
                       mode: str) -> Tensor:
    """RoIWarp (SPEC 3.3): round the scaled box to integers, then RoIAlign with
    aligned = 0 and scale 1 (the `aligned` attribute is accepted and ignored)."""
    del aligned  # RoIWarp is defined on the quantised box without the half-pixel offset
    _check_inputs(input, rois, 5, pooled_h, pooled_w, spatial_scale, sampling_ratio)
    r = rois.to(_compute_dtype(input))
    quantised = torch.cat([r[:, :1], _round_half_away(r[:, 1:] * spatial_scale)], dim=1)
    return roi_align_reference(input, quantised, pooled_h, pooled_w, 1.0, sampling_ratio,
                               False, mode)


def _check_ps_channels(input: Tensor, pooled_h: int, pooled_w: int) -> None:
    if input.shape[1] % (pooled_h * pooled_w) != 0:
        raise ValueError(f"input channels ({input.shape[1]}) must be divisible by "
                         f"pooled_h * pooled_w ({pooled_h * pooled_w})")


def ps_roi_pool_reference(input: Tensor, rois: Tensor, pooled_h: int, pooled_w: int,
                          spatial_scale: float) -> Tensor:
    """PSRoIPool (SPEC 3.4, torchvision.ops.ps_roi_pool, incl. its [0, H-1] clip)."""
    _check_inputs(input, rois, 5, pooled_h, pooled_w, spatial_scale)
    _check_ps_channels(input, pooled_h, pooled_w)
    dtype = _compute_dtype(input)
    x, r = input.to(dtype), rois.to(dtype)
    start = _round_half_away(r[:, 1:3] * spatial_scale)
    size = (_round_half_away(r[:, 3:5] * spatial_scale) - start).clamp(min=1)
    _, _, h, w = x.shape
    rows = _quantised_bins(start[:, 1], size[:, 1], pooled_h, h - 1)
    cols = _quantised_bins(start[:, 0], size[:, 0], pooled_w, w - 1)
    planes = _Planes.position_sensitive(x, r, pooled_h, pooled_w)
    return _pixel_pool(planes, rows, cols, (pooled_h, pooled_w), "avg").to(input.dtype)


def ps_roi_align_reference(input: Tensor, rois: Tensor, pooled_h: int, pooled_w: int,
                           spatial_scale: float, sampling_ratio: int) -> Tensor:
    """PSRoIAlign (SPEC 3.4, torchvision.ops.ps_roi_align): always aligned, no clamp."""
    _check_inputs(input, rois, 5, pooled_h, pooled_w, spatial_scale, sampling_ratio)
    _check_ps_channels(input, pooled_h, pooled_w)
    dtype = _compute_dtype(input)
    x, r = input.to(dtype), rois.to(dtype)
    planes = _Planes.position_sensitive(x, r, pooled_h, pooled_w)
    out = _align_boxes(planes, r[:, 1:], spatial_scale, 0.5, False, (pooled_h, pooled_w),
                       sampling_ratio, "avg")
    return out.to(input.dtype)


def deform_roi_pool_reference(input: Tensor, rois: Tensor, offset: Tensor | None,
                              mask: Tensor | None, pooled_h: int, pooled_w: int,
                              spatial_scale: float, sampling_ratio: int, gamma: float) -> Tensor:
    """DeformRoIPool (SPEC 3.5, mmcv): aligned RoIAlign whose bins shift by
    gamma * roi size * offset; the result is multiplied by `mask` when given."""
    _check_inputs(input, rois, 5, pooled_h, pooled_w, spatial_scale, sampling_ratio)
    num_rois = rois.shape[0]
    for name, t, ch in (("offset", offset, 2), ("mask", mask, 1)):
        if t is not None and tuple(t.shape) != (num_rois, ch, pooled_h, pooled_w):
            raise ValueError(f"{name} must be [{num_rois}, {ch}, {pooled_h}, {pooled_w}], "
                             f"got {tuple(t.shape)}")
    dtype = _compute_dtype(input)
    x, r = input.to(dtype), rois.to(dtype)
    planes = _Planes.single(x, r)
    shift = None
    if offset is not None:
        off = offset.to(dtype)
        roi_w = (r[:, 3] * spatial_scale - 0.5) - (r[:, 1] * spatial_scale - 0.5)
        roi_h = (r[:, 4] * spatial_scale - 0.5) - (r[:, 2] * spatial_scale - 0.5)
        shift = ((gamma * roi_h).view(-1, 1, 1) * off[:, 1],
                 (gamma * roi_w).view(-1, 1, 1) * off[:, 0])
    out = _align_boxes(planes, r[:, 1:], spatial_scale, 0.5, False, (pooled_h, pooled_w),
                       sampling_ratio, "avg", shift)
    if mask is not None:  # RoIs that pool to zeros stay 0 under an inf / NaN mask
        out = torch.where(planes.ok.view(-1, 1, 1, 1), out * mask.to(dtype), 0.0)
    return out.to(input.dtype)


def multi_scale_levels(rois: Tensor, num_levels: int, spatial_scales: Sequence[float],
                       level_mapping: str, canonical_scale: float, canonical_level: int
                       ) -> Tensor:
    """Level index [K] of every RoI (SPEC 3.6), computed in float32 like the kernels;
    NaN and empty boxes land on the finest level."""
    if canonical_scale < 0:
        raise ValueError(f"canonical_scale must be >= 0 (0: the mapping's default), "
                         f"got {canonical_scale}")
    if canonical_scale == 0:  # the kernel core's rule (effective_canonical_scale)
        canonical_scale = 56.0 if level_mapping == "mmdet" else 224.0
    r = rois.detach().float()
    scale = torch.sqrt((r[:, 3] - r[:, 1]) * (r[:, 4] - r[:, 2]))
    if level_mapping == "mmdet":
        target = torch.floor(torch.log2(scale / canonical_scale + 1e-6))
        lo, hi, shift = 0, num_levels - 1, 0
    elif level_mapping == "torchvision":
        target = torch.floor(canonical_level + torch.log2(scale / canonical_scale) + 1e-6)
        lo = int(-math.log2(spatial_scales[0]))
        hi = int(-math.log2(spatial_scales[-1]))
        shift = lo
    else:
        raise ValueError(f"level_mapping must be 'torchvision' or 'mmdet', got {level_mapping!r}")
    target = torch.nan_to_num(target, nan=lo).clamp(lo, hi)
    return (target.long() - shift).clamp(0, num_levels - 1)


def multi_scale_roi_align_reference(rois: Tensor, features: Sequence[Tensor], pooled_h: int,
                                    pooled_w: int, sampling_ratio: int, aligned: bool,
                                    spatial_scales: Sequence[float], level_mapping: str,
                                    canonical_scale: float, canonical_level: int,
                                    roi_scale_factor: float) -> Tensor:
    """MultiScaleRoIAlign (SPEC 3.6): each RoI picks its level from the original box, is
    scaled about its centre by `roi_scale_factor`, then RoIAligned (avg) on that level.
    All levels share one channel table, so every RoI is pooled in the same pass."""
    if len(features) == 0 or len(features) != len(spatial_scales):
        raise ValueError(f"need one spatial scale per feature map, got {len(features)} maps "
                         f"and {len(spatial_scales)} scales")
    for f in features:
        _check_inputs(f, rois, 5, pooled_h, pooled_w, 1.0, sampling_ratio)
        if f.shape[:2] != features[0].shape[:2]:
            raise ValueError("all feature maps must have the same batch size and channels")
    dtype = _compute_dtype(features[0])
    r = rois.to(dtype)
    level = multi_scale_levels(rois, len(features), spatial_scales, level_mapping,
                               canonical_scale, canonical_level)
    batch = features[0].shape[0]
    tables = [_channel_table(f.to(dtype)) for f in features]
    sizes = torch.tensor([[f.shape[2], f.shape[3]] for f in features], device=rois.device)
    offsets = torch.tensor([0] + [t.shape[0] for t in tables[:-1]],
                           device=rois.device).cumsum(0)
    index, ok = _batch_index(r, batch)
    height, width = sizes[level, 0], sizes[level, 1]
    planes = _Planes(torch.cat(tables), offsets[level] + index * height * width,
                     height, width, ok)
    boxes = r[:, 1:]
    if roi_scale_factor != 1.0:
        centre = (boxes[:, :2] + boxes[:, 2:]) * 0.5
        half = (boxes[:, 2:] - boxes[:, :2]) * roi_scale_factor * 0.5
        boxes = torch.cat([centre - half, centre + half], dim=1)
    scale = torch.tensor(spatial_scales, dtype=dtype, device=rois.device)[level]
    out = _align_boxes(planes, boxes, scale, 0.5 if aligned else 0.0, not aligned,
                       (pooled_h, pooled_w), sampling_ratio, "avg")
    return out.to(features[0].dtype)


def roi_align_rotated_reference(input: Tensor, rois: Tensor, pooled_h: int, pooled_w: int,
                                spatial_scale: float, sampling_ratio: int, aligned: bool,
                                clockwise: bool) -> Tensor:
    """RoIAlignRotated (SPEC 3.7, mmcv): rois (b, cx, cy, w, h, theta radians); sample
    points are rotated by theta (-theta when clockwise) about the box centre."""
    _check_inputs(input, rois, 6, pooled_h, pooled_w, spatial_scale, sampling_ratio)
    dtype = _compute_dtype(input)
    x, r = input.to(dtype), rois.to(dtype)
    offset = 0.5 if aligned else 0.0
    centre_x, centre_y = r[:, 1] * spatial_scale - offset, r[:, 2] * spatial_scale - offset
    roi_w, roi_h = r[:, 3] * spatial_scale, r[:, 4] * spatial_scale
    if not aligned:
        roi_w, roi_h = roi_w.clamp(min=1), roi_h.clamp(min=1)
    theta = -r[:, 5] if clockwise else r[:, 5]
    cos, sin = torch.cos(theta), torch.sin(theta)
    bin_h, bin_w = roi_h / pooled_h, roi_w / pooled_w
    grid_h = _grid_size(sampling_ratio, roi_h, pooled_h)
    grid_w = _grid_size(sampling_ratio, roi_w, pooled_w)
    i = torch.arange(pooled_h, device=r.device, dtype=dtype).view(1, -1, 1, 1, 1)
    j = torch.arange(pooled_w, device=r.device, dtype=dtype).view(1, 1, -1, 1, 1)

    def coords(rois_: Tensor, iy: Tensor, ix: Tensor) -> tuple[Tensor, Tensor]:
        def view(t: Tensor) -> Tensor:
            return _chunk_view(t, rois_, 4)

        yy = _bin_coords(-view(roi_h) / 2.0, view(bin_h), view(grid_h), iy, i)
        xx = _bin_coords(-view(roi_w) / 2.0, view(bin_w), view(grid_w), ix, j)
        y = yy * view(cos) - xx * view(sin) + view(centre_y)
        x_ = yy * view(sin) + xx * view(cos) + view(centre_x)
        return y, x_

    planes = _Planes.single(x, r)
    out = _bilinear_pool(planes, grid_h, grid_w, (pooled_h, pooled_w), "avg", coords)
    return out.to(input.dtype)


def _hat_integral(t: Tensor) -> Tensor:
    """Integral of max(0, 1 - |u|) for u from -inf to t."""
    u = t.clamp(-1, 1)
    return torch.where(u < 0, 0.5 * (u + 1) ** 2, 1 - 0.5 * (1 - u) ** 2)


def _prroi_window(lo: Tensor, hi: Tensor, size: int) -> tuple[Tensor, Tensor]:
    """(first pixel, length) [K] of the pixels whose hat reaches into [lo, hi], clipped to
    the map (a NaN box gets any valid window; its zero area zeroes it)."""
    first = (torch.floor(torch.nan_to_num(lo, nan=0.0)) - 1).clamp(0, size - 1)
    last = (torch.ceil(torch.nan_to_num(hi, nan=0.0)) + 1).clamp(0, size - 1)
    return first.long(), (last - first + 1).clamp(min=1).long()


def prroi_pool_reference(input: Tensor, rois: Tensor, pooled_h: int, pooled_w: int,
                         spatial_scale: float) -> Tensor:
    """PrRoIPool (SPEC 3.8, mmcv / PreciseRoIPooling): exact integral of the bilinearly
    interpolated, zero-padded surface over each bin, divided by the bin area (0 for an
    empty or non-finite bin). The surface is a sum of separable hat functions, so each
    bin's integral is a weighted sum of window pixels with weights (integral over the
    bin's rows) x (over its columns). Differentiable w.r.t. the box coordinates too."""
    _check_inputs(input, rois, 5, pooled_h, pooled_w, spatial_scale)
    dtype = _compute_dtype(input)
    x, r = input.to(dtype), rois.to(dtype)
    _, channels, h, w = x.shape
    start = r[:, 1:3] * spatial_scale
    size = (r[:, 3:5] * spatial_scale - start).clamp(min=0)
    bin_w, bin_h = size[:, 0] / pooled_w, size[:, 1] / pooled_h
    area = bin_h * bin_w
    row0, rows_len = _prroi_window(start[:, 1], start[:, 1] + size[:, 1], h)
    col0, cols_len = _prroi_window(start[:, 0], start[:, 0] + size[:, 0], w)
    i = torch.arange(pooled_h, dtype=dtype, device=r.device)
    j = torch.arange(pooled_w, dtype=dtype, device=r.device)
    planes = _Planes.single(x, r)

    def axis_weights(rois_: Tensor, first: Tensor, length: Tensor, lo: Tensor, bin_size: Tensor,
                     bins: Tensor, limit: int) -> tuple[Tensor, Tensor]:
        n = torch.arange(int(length[rois_].max()), device=rois_.device)
        pixel = first[rois_].unsqueeze(1) + n  # [k, L]
        inside = pixel < limit
        a = lo[rois_].view(-1, 1, 1) + bins.view(1, -1, 1) * bin_size[rois_].view(-1, 1, 1)
        b = lo[rois_].view(-1, 1, 1) + (bins.view(1, -1, 1) + 1) * bin_size[rois_].view(-1, 1, 1)
        p = pixel.unsqueeze(1).to(lo.dtype)
        weight = (_hat_integral(b - p) - _hat_integral(a - p)) * inside.unsqueeze(1)
        # Non-finite boxes: zero weights keep NaN out of the output and the gradients.
        weight = torch.where(torch.isfinite(weight), weight, torch.zeros_like(weight))
        return pixel.clamp(max=limit - 1), weight

    def chunk(rois_: Tensor) -> Tensor:
        rows, wy = axis_weights(rois_, row0, rows_len, start[:, 1], bin_h, i, h)
        cols, wx = axis_weights(rois_, col0, cols_len, start[:, 0], bin_w, j, w)
        total = _window_pool(planes, rois_, rows, wy, cols, wx)
        a = area[rois_].view(-1, 1, 1, 1)
        keep = (a > 0) & torch.isfinite(a) & _chunk_view(planes.ok, rois_, 3)
        return torch.where(keep, total / torch.where(a > 0, a, torch.ones_like(a)),
                           torch.zeros_like(total))

    out = _run_chunked((rows_len, cols_len), channels, channels, (pooled_h, pooled_w), chunk,
                       dtype)
    return out.to(input.dtype)
