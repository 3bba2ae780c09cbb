"""Inputs that exercise every RoI pooling node of an ONNX graph.

Random data (polygraphy's default loader, or ``numpy.random``) gives RoIs whose batch
index is a fraction and whose boxes are inverted, so every RoI pools to zeros and any
comparison passes on nothing. :func:`make_feeds` reads the graph instead: for each
roipool node (domain ``roipool``) and each standard ``RoiAlign`` / ``MaxRoiPool`` it
finds the graph inputs its RoIs come from and fills them with valid boxes: integer
batch indices in ``[0, B)``, ``x2 > x1`` and ``y2 > y1``, boxes inside the image,
finite angles. Other inputs get standard-normal values. Needs ``onnx`` and numpy only.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import helper

__all__ = ["RoiFeeds", "make_feeds"]

#: Sizes of symbolic dimensions: RoI count, batch, everything else (image sides too).
DEFAULT_NUM_ROIS = 8
DEFAULT_BATCH = 2
DEFAULT_DIM = 64
#: Smallest box side in image pixels, so every box covers samples of every bin.
MIN_BOX = 4.0


@dataclass
class _RoiInput:
    """One graph input that holds RoIs, with the tightest limits of the nodes reading it."""

    columns: int  # 5: (batch, x1, y1, x2, y2); 6: (batch, cx, cy, w, h, theta); 4: boxes
    batch: int
    height: float
    width: float
    batch_indices: str | None = None  # standard RoiAlign's separate int64 input

    def tighten(self, batch: int, height: float, width: float) -> None:
        self.batch = min(self.batch, batch)
        self.height = min(self.height, height)
        self.width = min(self.width, width)


def _attribute(node: onnx.NodeProto, name: str, default: object) -> object:
    for attribute in node.attribute:
        if attribute.name == name:
            return helper.get_attribute_value(attribute)
    return default


class _Graph:
    """Input shapes (symbols resolved) and the graph inputs each tensor depends on."""

    def __init__(self, model: onnx.ModelProto, shapes: Mapping[str, Sequence[int]],
                 num_rois: int, batch: int) -> None:
        graph = model.graph
        initializers = {t.name for t in graph.initializer}
        self.inputs = [i for i in graph.input if i.name not in initializers]
        self.producer = {out: node for node in graph.node for out in node.output}
        self.nodes = list(graph.node)
        self.symbols = self._symbol_sizes(num_rois, batch)
        self.shapes = {i.name: self._shape(i, shapes) for i in self.inputs}
        self.types = {i.name: helper.tensor_dtype_to_np_dtype(i.type.tensor_type.elem_type)
                      for i in self.inputs}
        self._ancestors: dict[str, frozenset[str]] = {}

    def _symbol_sizes(self, num_rois: int, batch: int) -> dict[str, int]:
        """RoI inputs' first symbol -> num_rois, 4-D inputs' first symbol -> batch."""
        symbols: dict[str, int] = {}
        for value in self.inputs:
            dims = value.type.tensor_type.shape.dim
            if dims and dims[0].dim_param:
                size = num_rois if len(dims) == 2 else batch if len(dims) == 4 else None
                if size is not None:
                    symbols.setdefault(dims[0].dim_param, size)
        return symbols

    def _shape(self, value: onnx.ValueInfoProto, shapes: Mapping[str, Sequence[int]]
               ) -> tuple[int, ...]:
        if value.name in shapes:
            return tuple(int(d) for d in shapes[value.name])
        dims = value.type.tensor_type.shape.dim
        return tuple(d.dim_value if d.dim_value > 0 else self.symbols.get(d.dim_param, DEFAULT_DIM)
                     for d in dims)

    def ancestors(self, tensor: str) -> frozenset[str]:
        """Graph inputs `tensor` is computed from (itself when it is one)."""
        if tensor in self._ancestors:
            return self._ancestors[tensor]
        found: set[str] = set()
        stack, seen = [tensor], set()
        while stack:
            name = stack.pop()
            if name in seen or not name:
                continue
            seen.add(name)
            if name in self.shapes:
                found.add(name)
            elif name in self.producer:
                stack.extend(self.producer[name].input)
        self._ancestors[tensor] = frozenset(found)
        return self._ancestors[tensor]


def _pooling_operands(node: onnx.NodeProto) -> tuple[list[str], str, float] | None:
    """(feature inputs, rois input, spatial scale of the first feature map) of a RoI
    pooling node, or None for any other node."""
    if node.domain == "roipool":
        if node.op_type == "MultiScaleRoIAlign":
            scales = _attribute(node, "spatial_scales", [1.0])
            return list(node.input[1:]), node.input[0], float(scales[0])
        return [node.input[0]], node.input[1], float(_attribute(node, "spatial_scale", 1.0))
    if node.domain in ("", "ai.onnx") and node.op_type in ("RoiAlign", "MaxRoiPool"):
        return [node.input[0]], node.input[1], float(_attribute(node, "spatial_scale", 1.0))
    return None


def _image_extent(graph: _Graph, features: str, scale: float) -> tuple[int, float, float]:
    """(batch, height, width) in image pixels of the image a feature map comes from."""
    if features in graph.shapes:  # the feature map is itself a graph input
        b, _, h, w = graph.shapes[features]
        return b, h / scale, w / scale
    images = [graph.shapes[n] for n in sorted(graph.ancestors(features))
              if len(graph.shapes[n]) == 4]
    if not images:
        raise ValueError(f"cannot tell which image the RoI feature map {features!r} comes from")
    return min(s[0] for s in images), min(s[2] for s in images), min(s[3] for s in images)


def _roi_inputs(graph: _Graph) -> dict[str, _RoiInput]:
    """The graph inputs holding RoIs, each with the limits of every node reading it."""
    found: dict[str, _RoiInput] = {}
    for node in graph.nodes:
        operands = _pooling_operands(node)
        if operands is None:
            continue
        features, rois, scale = operands
        batch, height, width = _image_extent(graph, features[0], scale)
        columns = 6 if node.op_type == "RoIAlignRotated" else 5
        candidates = [n for n in sorted(graph.ancestors(rois))
                      if len(graph.shapes[n]) == 2 and graph.shapes[n][1] in (4, 5, 6)]
        if not candidates:
            raise ValueError(f"{node.op_type} node {node.name!r}: its rois {rois!r} do not come "
                             "from a [K, 4/5/6] graph input")
        for name in candidates:
            if name in found:
                found[name].tighten(batch, height, width)
                continue
            entry = _RoiInput(graph.shapes[name][1], batch, height, width)
            if entry.columns == 4 and len(node.input) > 2 and node.input[2] in graph.shapes:
                entry.batch_indices = node.input[2]
            elif entry.columns not in (4, columns):
                raise ValueError(f"{node.op_type} node {node.name!r} expects [K, {columns}] "
                                 f"rois, graph input {name!r} has {entry.columns} columns")
            found[name] = entry
    return found


def _boxes(rng: np.random.Generator, k: int, roi: _RoiInput) -> tuple[np.ndarray, np.ndarray]:
    """(batch indices [K], box columns [K, 4 or 5]) of K valid boxes for `roi`."""
    index = rng.integers(0, max(roi.batch, 1), k)
    height, width = max(roi.height, 2 * MIN_BOX), max(roi.width, 2 * MIN_BOX)
    if roi.columns == 6:
        # Rotated boxes stay inside the image at any angle: the half diagonal is at most
        # the distance from the centre to the nearest image edge.
        side = min(height, width)
        w = rng.uniform(MIN_BOX, side / 2, k)
        h = rng.uniform(MIN_BOX, side / 2, k)
        radius = np.hypot(w, h) / 2
        cx = rng.uniform(radius, width - radius)
        cy = rng.uniform(radius, height - radius)
        theta = rng.uniform(-np.pi, np.pi, k)
        return index, np.stack([cx, cy, w, h, theta], 1)
    x1 = rng.uniform(0, width - MIN_BOX, k)
    y1 = rng.uniform(0, height - MIN_BOX, k)
    x2 = rng.uniform(x1 + MIN_BOX, width)
    y2 = rng.uniform(y1 + MIN_BOX, height)
    return index, np.stack([x1, y1, x2, y2], 1)


def make_feeds(model: onnx.ModelProto | str | os.PathLike[str], *,
               shapes: Mapping[str, Sequence[int]] | None = None, seed: int = 0,
               num_rois: int = DEFAULT_NUM_ROIS, batch: int = DEFAULT_BATCH
               ) -> dict[str, np.ndarray]:
    """One feed dict for `model` with valid RoIs for every RoI pooling node.

    ``shapes`` fixes input shapes (else symbolic dimensions get ``num_rois`` for a RoI
    input's first dimension, ``batch`` for a 4-D input's first, 64 otherwise).
    """
    if num_rois < 0 or batch < 1:
        raise ValueError(f"num_rois must be >= 0 and batch >= 1, got {num_rois}, {batch}")
    if not isinstance(model, onnx.ModelProto):
        model = onnx.load(os.fspath(model), load_external_data=False)
    graph = _Graph(model, shapes or {}, num_rois, batch)
    rng = np.random.default_rng(seed)
    feeds = {name: rng.standard_normal(shape).astype(graph.types[name])
             if np.issubdtype(graph.types[name], np.floating)
             else np.zeros(shape, graph.types[name])
             for name, shape in graph.shapes.items()}
    for name, roi in _roi_inputs(graph).items():
        k = graph.shapes[name][0]
        index, boxes = _boxes(rng, k, roi)
        dtype = graph.types[name]
        if roi.columns == 4:
            feeds[name] = boxes.astype(dtype)
            if roi.batch_indices is not None:
                feeds[roi.batch_indices] = index.astype(graph.types[roi.batch_indices])
        else:
            feeds[name] = np.concatenate([index[:, None], boxes], 1).astype(dtype)
    return feeds


class RoiFeeds:
    """A polygraphy data loader (an iterable of feed dicts) built on :func:`make_feeds`.

    Iteration ``i`` uses seed ``seed + i``, so runs are reproducible.
    """

    def __init__(self, model: onnx.ModelProto | str | os.PathLike[str], *, iterations: int = 1,
                 seed: int = 0, shapes: Mapping[str, Sequence[int]] | None = None,
                 num_rois: int = DEFAULT_NUM_ROIS, batch: int = DEFAULT_BATCH) -> None:
        if iterations < 1:
            raise ValueError(f"iterations must be >= 1, got {iterations}")
        self._model = (model if isinstance(model, onnx.ModelProto)
                       else onnx.load(os.fspath(model), load_external_data=False))
        self._kwargs = {"shapes": shapes, "num_rois": num_rois, "batch": batch}
        self.iterations = iterations
        self.seed = seed

    def __len__(self) -> int:
        return self.iterations

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        if not 0 <= index < self.iterations:
            raise IndexError(f"iteration {index} out of range [0, {self.iterations})")
        return make_feeds(self._model, seed=self.seed + index, **self._kwargs)

    def __iter__(self) -> Iterator[dict[str, np.ndarray]]:
        return (self[i] for i in range(self.iterations))
