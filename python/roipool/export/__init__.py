"""PyTorch -> ONNX export of the roipool ops (domain ``roipool``, opset 1).

:func:`export_onnx` runs either exporter of ``torch.onnx``: the dynamo exporter with
:func:`translation_table`, or the TorchScript exporter with the symbolics that importing
:mod:`roipool.ops` registers. A plain ``torch.onnx.export`` (either exporter) writes the
same ``roipool`` nodes (:mod:`roipool.ops._onnx_symbolic`). ``standard_ops=True`` writes standard
ONNX where it is exact (RoIAlign avg -> ``RoiAlign``, RoIPool -> ``MaxRoiPool``) and
keeps ``roipool`` nodes for everything else. :func:`capture_torchvision` routes
torchvision's RoI ops through roipool so unmodified torchvision models export too, and
:func:`export_detector` exports a whole torchvision two-stage detector (images ->
detections) with either exporter. Importing this package registers the roipool ONNX
schemas (:func:`onnx_schema`) with ``onnx.defs``, so ``onnx.checker`` and
``onnx.shape_inference`` know the nodes.
"""

from __future__ import annotations

import inspect
import io
import os
from collections.abc import Mapping, Sequence
from typing import Any

import onnx
import torch

from roipool.export._contract import (
    ATTRIBUTE_TYPES,
    CONTRACTS,
    DOMAIN,
    OP_NAMES,
    OPSET_VERSION,
    PLUGIN_NAMESPACE,
)
from roipool.export._detectors import (
    DetectorExportError,
    DetectorGraph,
    detector_output_names,
    export_detector,
)
from roipool.export._dynamo import translation_table
from roipool.export._ort_shapes import symbolic_shape_infer
from roipool.export._schemas import onnx_schema, register_schemas
from roipool.export._torchscript import register_torchscript_symbolics, standard_ops_option
from roipool.export._torchvision import capture_torchvision
from roipool.ops._onnx_symbolic import rewrite_disabled

__all__ = [
    "ATTRIBUTE_TYPES",
    "CONTRACTS",
    "DOMAIN",
    "MAX_IR_VERSION",
    "OPSET_VERSION",
    "OP_NAMES",
    "PLUGIN_NAMESPACE",
    "DetectorExportError",
    "DetectorGraph",
    "capture_torchvision",
    "detector_output_names",
    "export_detector",
    "export_onnx",
    "onnx_schema",
    "register_torchscript_symbolics",
    "symbolic_shape_infer",
    "translation_table",
]

register_schemas()

#: Newest ONNX IR version that onnxruntime 1.21 .. 1.31 load; exported models are capped.
MAX_IR_VERSION = 10
DEFAULT_OPSET = 18
#: Oldest default-domain opset torch's dynamo exporter (onnxscript) converts to.
MIN_DYNAMO_OPSET = 18

DynamicAxes = Mapping[str, Mapping[int, str] | Sequence[int]]


def export_onnx(
    model: torch.nn.Module,
    args: tuple[Any, ...],
    path: str | os.PathLike[str] | None = None,
    *,
    dynamo: bool = True,
    input_names: Sequence[str] | None = None,
    output_names: Sequence[str] | None = None,
    dynamic_axes: DynamicAxes | None = None,
    dynamic_shapes: Any = None,
    standard_ops: bool = False,
    opset: int = DEFAULT_OPSET,
) -> onnx.ModelProto:
    """Export `model` called on `args` to ONNX with roipool nodes; returns the model and
    writes it to `path` when given.

    ``dynamic_axes`` ({input or output name: {axis: name}}) works with both exporters;
    ``dynamic_shapes`` (``torch.export`` style) only with ``dynamo=True``. With
    ``standard_ops`` the RoIAlign-avg and RoIPool ops become ``RoiAlign`` (needs
    ``opset >= 16``) and ``MaxRoiPool``; other ops stay ``roipool`` nodes. The dynamo
    exporter needs ``opset >= 18``; the TorchScript one takes older opsets too.
    """
    if dynamo:
        if opset < MIN_DYNAMO_OPSET:
            raise ValueError(f"the dynamo exporter writes opset >= {MIN_DYNAMO_OPSET}, got "
                             f"opset={opset}; use dynamo=False for older opsets")
        proto = _export_dynamo(model, args, input_names, output_names, dynamic_axes,
                               dynamic_shapes, standard_ops, opset)
    else:
        if dynamic_shapes is not None:
            raise ValueError("dynamic_shapes needs dynamo=True; use dynamic_axes instead")
        proto = _export_torchscript(model, args, input_names, output_names, dynamic_axes,
                                    standard_ops, opset)
    proto = _finalize(proto)
    if path is not None:
        onnx.save(proto, os.fspath(path))
    return proto


def _export_dynamo(model: torch.nn.Module, args: tuple[Any, ...],
                   input_names: Sequence[str] | None, output_names: Sequence[str] | None,
                   dynamic_axes: DynamicAxes | None, dynamic_shapes: Any, standard_ops: bool,
                   opset: int) -> onnx.ModelProto:
    if dynamic_axes is not None:
        if dynamic_shapes is not None:
            raise ValueError("pass dynamic_axes or dynamic_shapes, not both")
        dynamic_shapes = _axes_to_shapes(dynamic_axes, input_names, len(args))
        if _takes_var_positional(model):
            dynamic_shapes = (dynamic_shapes,)
    with rewrite_disabled():  # the translation table below writes the nodes
        program = torch.onnx.export(
            model, args, dynamo=True, opset_version=opset,
            custom_translation_table=translation_table(standard_ops=standard_ops, opset=opset),
            input_names=list(input_names) if input_names else None,
            output_names=list(output_names) if output_names else None,
            dynamic_shapes=dynamic_shapes, verbose=False)
    return program.model_proto


def _axes_to_shapes(dynamic_axes: DynamicAxes, input_names: Sequence[str] | None,
                    num_args: int) -> tuple[dict[int, Any] | None, ...]:
    """torch.export dynamic shapes, one entry per positional argument, from dynamic axes
    of the named inputs; axes that share a name share one ``Dim``."""
    if input_names is None or len(input_names) != num_args:
        raise ValueError("dynamic_axes with dynamo=True needs input_names naming every "
                         "positional argument (or pass dynamic_shapes)")
    dims: dict[str, Any] = {}
    shapes: list[dict[int, Any] | None] = []
    for name in input_names:
        axes = dynamic_axes.get(name)
        if axes is None:
            shapes.append(None)
            continue
        named = axes if isinstance(axes, Mapping) else {a: f"{name}_{a}" for a in axes}
        shapes.append({axis: dims.setdefault(dim, torch.export.Dim(_identifier(dim)))
                       for axis, dim in named.items()})
    return tuple(shapes)


def _takes_var_positional(model: torch.nn.Module) -> bool:
    """True for ``forward(self, *tensors)``: torch.export then nests the shapes once."""
    parameters = inspect.signature(model.forward).parameters.values()
    return any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in parameters)


def _identifier(name: str) -> str:
    cleaned = "".join(c if c.isalnum() else "_" for c in name)
    return cleaned if cleaned[:1].isalpha() else f"d_{cleaned}"


def _export_torchscript(model: torch.nn.Module, args: tuple[Any, ...],
                        input_names: Sequence[str] | None, output_names: Sequence[str] | None,
                        dynamic_axes: DynamicAxes | None, standard_ops: bool,
                        opset: int) -> onnx.ModelProto:
    buffer = io.BytesIO()
    with standard_ops_option(standard_ops):
        torch.onnx.export(
            model, args, buffer, dynamo=False, opset_version=opset,
            custom_opsets={DOMAIN: OPSET_VERSION},
            input_names=list(input_names) if input_names else None,
            output_names=list(output_names) if output_names else None,
            dynamic_axes=_plain_axes(dynamic_axes))
    return onnx.load_from_string(buffer.getvalue())


def _plain_axes(dynamic_axes: DynamicAxes | None) -> dict[str, Any] | None:
    if dynamic_axes is None:
        return None
    return {name: dict(axes) if isinstance(axes, Mapping) else list(axes)
            for name, axes in dynamic_axes.items()}


def _finalize(proto: onnx.ModelProto) -> onnx.ModelProto:
    """Cap the IR version for onnxruntime and declare the roipool opset when used."""
    proto.ir_version = min(proto.ir_version, MAX_IR_VERSION)
    uses_domain = any(node.domain == DOMAIN for node in proto.graph.node)
    if uses_domain and not any(o.domain == DOMAIN for o in proto.opset_import):
        proto.opset_import.append(onnx.helper.make_opsetid(DOMAIN, OPSET_VERSION))
    return proto
