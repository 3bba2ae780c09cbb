"""The ``roipool`` node as ``torch.onnx.ops.symbolic``: what the dynamo exporter writes
for a ``torch.ops.roipool`` op on a plain ``torch.onnx.export`` (the decomposition
registered by :mod:`roipool.ops._onnx_symbolic`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from roipool.export._contract import CONTRACTS, DOMAIN, OPSET_VERSION, output_channels
from roipool.export._nodes import without_trailing_absent


def emit(name: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Tensor:
    """The node of ``torch.ops.roipool.<name>(*args, **kwargs)``: same inputs, every
    attribute of the contract plus ``plugin_namespace``, output ``[K, C_out, ph, pw]``
    in the feature dtype (``K``, ``C`` symbolic when they are)."""
    contract = CONTRACTS[name]
    values = dict(zip((*contract.tensor_args, *contract.attributes), args, strict=False))
    values.update(kwargs)
    tensors: list[Tensor | None] = []
    for arg in contract.tensor_args:
        tensors.extend(values[arg] if arg == "features" else [values[arg]])
    attrs = contract.node_attributes([values[attr] for attr in contract.attributes])
    rois = values["rois"]
    feature = values["features"][0] if "features" in values else values["input"]
    pooled_h, pooled_w = int(attrs["pooled_h"]), int(attrs["pooled_w"])
    channels = output_channels(contract, feature.shape[1], pooled_h, pooled_w)
    output = torch.onnx.ops.symbolic(
        f"{DOMAIN}::{contract.op_type}", without_trailing_absent(tensors), attrs,
        dtype=feature.dtype, shape=(rois.shape[0], channels, pooled_h, pooled_w),
        version=OPSET_VERSION)
    # torch makes the symbolic output a CPU tensor; later ops expect the feature device.
    return output if output.device == feature.device else output.to(feature.device)
