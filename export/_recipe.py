"""Command-line plumbing shared by the export recipes (not a public module)."""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from roipool.export import export_onnx


def parser(description: str, default_output: str) -> argparse.ArgumentParser:
    """Options every recipe takes: output path, exporter, standard ops, ORT check."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("-o", "--output", type=Path, default=Path(default_output))
    p.add_argument("--torchscript", action="store_true",
                   help="TorchScript exporter (default: dynamo)")
    p.add_argument("--standard-ops", action="store_true",
                   help="standard ONNX RoiAlign / MaxRoiPool where exact")
    p.add_argument("--check", action="store_true",
                   help="run the model in ONNX Runtime with roipool and compare with eager")
    return p


def export_and_check(args: argparse.Namespace, model: torch.nn.Module,
                     inputs: Sequence[torch.Tensor], input_names: Sequence[str],
                     output_names: Sequence[str],
                     dynamic_axes: Mapping[str, Mapping[int, str]]) -> int:
    """Export `model`, print the roipool / RoI nodes written, optionally check it."""
    model.eval()
    proto = export_onnx(model, tuple(inputs), args.output, dynamo=not args.torchscript,
                        input_names=input_names, output_names=output_names,
                        dynamic_axes=dynamic_axes, standard_ops=args.standard_ops)
    roi_nodes = sorted({f"{n.domain or 'ai.onnx'}::{n.op_type}" for n in proto.graph.node
                        if n.domain == "roipool" or n.op_type in ("RoiAlign", "MaxRoiPool")})
    print(f"wrote {args.output}: {', '.join(roi_nodes)}")
    if not args.check:
        return 0
    from roipool.export.verify import max_error_vs_eager

    error, tolerance, _ = max_error_vs_eager(model, proto, inputs, input_names)
    print(f"ONNX Runtime vs eager float64: max abs error {error:.3e} (tolerance {tolerance:.1e})")
    return 0 if error <= tolerance else 1
