"""ONNX Runtime surface of the sanitizer fuzz job (scripts/fuzz.sh): random and mutated
roipool nodes (attribute names, types and values, non-UTF-8 strings, input counts and
dtypes) and random feeds (shapes, C = 0, K = 0, NaN / inf / huge boxes, bad batch
indices) through sessions on ``--library`` (an ASan/UBSan build of libroipool_ort.so).

A finding is anything but a result or an ONNX Runtime error: a Python exception of
another kind (an undecodable message, say), a wrong output shape, a RoI with a NaN
coordinate or a bad batch index that does not pool to zeros, or a sanitizer report
(which aborts the process). Prints the number of models, sessions and runs.
Needs only numpy, onnx and onnxruntime (no torch), so it runs with libasan preloaded.
"""

from __future__ import annotations

import argparse
import ctypes
import math
import random
import sys
from typing import Any

import numpy as np
import onnxruntime as ort
from onnx import TensorProto, helper
from onnxruntime.capi import onnxruntime_pybind11_state as ort_state

ORT_ERRORS = (ort_state.Fail, ort_state.InvalidArgument, ort_state.NotImplemented,
              ort_state.RuntimeException, ort_state.InvalidGraph, ort_state.EPFail,
              ort_state.InvalidProtobuf, ort_state.NoSuchFile)
OPS = ["RoIPool", "RoIAlign", "RoIWarp", "PSRoIPool", "PSRoIAlign", "DeformRoIPool",
       "MultiScaleRoIAlign", "RoIAlignRotated", "PrRoIPool"]
ODD_INTS = [0, 1, -1, 2, 3, 1024, 1025, 65535, 65536, 2**31 - 1, -(2**31), 2**62]
ODD_FLOATS = [0.0, -0.0, 1.0, 0.5, -1.0, math.nan, math.inf, -math.inf, 1e-45, 1e30, 3e38]
ODD_STRINGS = [b"avg", b"max", b"mmdet", b"torchvision", b"", b"\xff\xfe", b"av\x00g",
               "m\u00e9dian".encode(), b"\x80max"]
FLOAT_TYPES = {TensorProto.FLOAT: np.float32, TensorProto.FLOAT16: np.float16,
               TensorProto.BFLOAT16: np.uint16}


def base_attributes(rng: random.Random, op: str) -> dict[str, Any]:
    a: dict[str, Any] = {"pooled_h": rng.randint(1, 3), "pooled_w": rng.randint(1, 3)}
    if op != "MultiScaleRoIAlign":
        a["spatial_scale"] = rng.choice([1.0, 0.5, 0.25])
    if op not in ("RoIPool", "PSRoIPool", "PrRoIPool"):
        a["sampling_ratio"] = rng.randint(-1, 2)
    if op in ("RoIAlign", "RoIWarp", "MultiScaleRoIAlign", "RoIAlignRotated"):
        a["aligned"] = rng.randint(0, 1)
    if op in ("RoIAlign", "RoIWarp"):
        a["mode"] = rng.choice(["avg", "max"])
    if op == "RoIAlignRotated":
        a["clockwise"] = rng.randint(0, 1)
    if op == "DeformRoIPool":
        a["gamma"] = 0.1
    if op == "MultiScaleRoIAlign":
        a["spatial_scales"] = [1.0, 0.5, 0.25][:rng.randint(1, 3)]
        a["level_mapping"] = rng.choice(["torchvision", "mmdet"])
        a["canonical_scale"] = rng.choice([0.0, 56.0, 224.0])
        a["canonical_level"] = 4
        a["roi_scale_factor"] = rng.choice([1.0, 1.5])
    return a


def mutate_attributes(rng: random.Random, a: dict[str, Any]) -> None:
    names = ["pooled_h", "pooled_w", "spatial_scale", "sampling_ratio", "aligned", "mode",
             "gamma", "clockwise", "spatial_scales", "level_mapping", "canonical_scale",
             "canonical_level", "roi_scale_factor", "foo", "plugin_namespace"]
    for _ in range(rng.randint(0, 3)):
        name = rng.choice(names + list(a))
        kind = rng.randrange(7)
        if kind == 0:
            a.pop(name, None)
        elif kind == 1:
            a[name] = rng.choice(ODD_INTS)
        elif kind == 2:
            a[name] = rng.choice(ODD_FLOATS)
        elif kind == 3:
            a[name] = rng.choice(ODD_STRINGS)
        elif kind == 4:
            a[name] = [rng.choice(ODD_INTS) for _ in range(rng.randint(1, 9))]
        elif kind == 5:
            a[name] = [rng.choice([*ODD_FLOATS, 0.5, 0.25]) for _ in range(rng.randint(1, 9))]
        else:
            a[name] = rng.randint(-2, 4)


def input_layout(rng: random.Random, op: str, a: dict[str, Any]) -> list[str]:
    """Input roles in node order ("" = an absent optional input)."""
    levels = a.get("spatial_scales")
    count = len(levels) if isinstance(levels, list) and 1 <= len(levels) <= 8 else 1
    roles = (["rois"] + [f"feature{i}" for i in range(count)] if op == "MultiScaleRoIAlign"
             else ["input", "rois"])
    if op == "DeformRoIPool":
        roles += rng.choice([[], ["offset"], ["", "mask"], ["offset", "mask"]])
    if rng.random() < 0.05:
        roles.append("extra")
    if rng.random() < 0.05 and len(roles) > 1:
        roles.pop()
    return roles


def make_model(op: str, roles: list[str], types: dict[str, int], a: dict[str, Any]) -> bytes:
    names = [role for role in roles]
    node = helper.make_node(op, names, ["output"], domain="roipool",
                            **{"plugin_namespace": "roipool", **a})
    inputs = [helper.make_tensor_value_info(r, types[r], [f"{r}_{j}" for j in range(4)])
              for r in roles if r]
    graph = helper.make_graph([node], "fuzz", inputs,
                              [helper.make_tensor_value_info("output", types["out"], None)])
    model = helper.make_model(graph, ir_version=13, opset_imports=[
        helper.make_opsetid("", 17), helper.make_opsetid("roipool", 1)])
    return model.SerializeToString()


def encode(values: np.ndarray, onnx_type: int) -> Any:
    if onnx_type == TensorProto.BFLOAT16:
        bits = values.astype(np.float32).view(np.uint32) >> 16
        nan = np.isnan(values)
        bits[nan] = 0x7FC0
        array = bits.astype(np.uint16)
    else:
        array = values.astype(FLOAT_TYPES.get(onnx_type, np.float32))
    return ort.OrtValue.ortvalue_from_numpy_with_onnx_type(np.ascontiguousarray(array), onnx_type)


def decode(value: Any, onnx_type: int) -> np.ndarray:
    shape = value.shape()
    size = {TensorProto.FLOAT: 4}.get(onnx_type, 2)
    count = math.prod(shape)
    if count == 0:
        return np.zeros(shape, np.float32)
    raw = np.frombuffer(bytes((ctypes.c_char * (count * size)).from_address(value.data_ptr())),
                        dtype={4: np.uint32, 2: np.uint16}[size])
    if onnx_type == TensorProto.FLOAT:
        return raw.view(np.float32).reshape(shape)
    if onnx_type == TensorProto.FLOAT16:
        return raw.view(np.float16).astype(np.float32).reshape(shape)
    return (raw.astype(np.uint32) << 16).view(np.float32).reshape(shape)


def roi_values(rng: random.Random, k: int, columns: int, batch: int) -> np.ndarray:
    rois = np.zeros((k, columns), np.float32)
    for r in range(k):
        rois[r, 0] = rng.choice([0, 0, 0, 1, batch - 1, -1, 0.5, math.nan, 1e30])
        for c in range(1, columns):
            rois[r, c] = rng.uniform(-4, 14) if rng.random() < 0.85 else rng.choice(ODD_FLOATS)
    return rois


class Fuzzer:
    def __init__(self, library: str, seed: int) -> None:
        self.library = library
        self.rng = random.Random(seed)
        self.models = self.sessions = self.runs = self.findings = 0

    def finding(self, what: str) -> None:
        self.findings += 1
        if self.findings <= 20:
            print(f"FINDING: {what}")

    def session(self, model: bytes) -> Any | None:
        options = ort.SessionOptions()
        options.register_custom_ops_library(self.library)
        options.intra_op_num_threads = self.rng.choice([1, 2])
        options.log_severity_level = 4
        try:
            return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        except ORT_ERRORS:
            return None
        except Exception as e:  # anything else is a finding
            self.finding(f"session creation raised {type(e).__name__}: {e}")
            return None

    def one_model(self) -> None:
        rng = self.rng
        op = rng.choice(OPS)
        attrs = base_attributes(rng, op)
        if rng.random() < 0.5:
            mutate_attributes(rng, attrs)
        roles = input_layout(rng, op, attrs)
        dtype = rng.choice(list(FLOAT_TYPES)) if rng.random() < 0.95 else TensorProto.DOUBLE
        types = {r: dtype for r in roles}
        types["rois"] = TensorProto.FLOAT if rng.random() < 0.5 else dtype
        types["out"] = dtype
        self.models += 1
        session = self.session(make_model(op, roles, types, attrs))
        if session is None:
            return
        self.sessions += 1
        for _ in range(rng.randint(1, 3)):
            self.one_run(session, op, roles, types, attrs)

    def one_run(self, session: Any, op: str, roles: list[str], types: dict[str, int],
                attrs: dict[str, Any]) -> None:
        rng = self.rng
        # A session exists, so pooled sizes are ints or one-element lists (both accepted).
        ph, pw = (int(np.ravel(attrs.get(name, 7))[0]) for name in ("pooled_h", "pooled_w"))
        batch, k = rng.randint(0, 2), rng.randint(0, 4)
        channels = rng.randint(0, 3)
        if op.startswith("PS") and rng.random() < 0.8:
            channels = ph * pw * rng.randint(0, 2)
        columns = 6 if op == "RoIAlignRotated" else 5
        if rng.random() < 0.03:
            columns = rng.choice([4, 7])
        rois = roi_values(rng, k, columns, max(batch, 1))
        feeds = {}
        for role in (r for r in roles if r):
            if role == "rois":
                values = rois
            elif role in ("offset", "mask", "extra"):
                depth = 2 if role == "offset" else 1
                values = np.random.default_rng(rng.randrange(2**32)).uniform(
                    -1, 1, (k, depth, ph, pw)).astype(np.float32)
            else:
                h, w = rng.randint(1, 6), rng.randint(1, 6)
                if rng.random() < 0.03:
                    h = 0
                values = np.random.default_rng(rng.randrange(2**32)).standard_normal(
                    (batch, channels, h, w)).astype(np.float32)
            feeds[role] = encode(values, types[role])
        self.runs += 1
        try:
            output = session.run_with_ort_values(None, feeds)[0]
        except ORT_ERRORS:
            return
        except Exception as e:  # anything else is a finding
            self.finding(f"{op} run raised {type(e).__name__}: {e}")
            return
        c_out = channels // (ph * pw) if op.startswith("PS") else channels
        if tuple(output.shape()) != (k, c_out, ph, pw):
            self.finding(f"{op}: output shape {output.shape()} != {(k, c_out, ph, pw)}")
            return
        result = decode(output, types["out"])
        seen = rois if types["rois"] == TensorProto.FLOAT else decode(feeds["rois"],
                                                                      types["rois"])
        for r in range(k):
            b = seen[r, 0]
            bad = np.isnan(seen[r, 1:]).any() or not (0 <= b < batch and b == math.floor(b))
            if bad and np.count_nonzero(result[r]):
                self.finding(f"{op} {attrs}: RoI {seen[r].tolist()} must pool to zeros")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--library", required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--models", type=int, default=600)
    args = parser.parse_args()
    fuzzer = Fuzzer(args.library, args.seed)
    np.seterr(all="ignore")  # huge fuzz values overflow to inf in float16 on purpose
    for _ in range(args.models):
        fuzzer.one_model()
    print(f"ort: {fuzzer.models} models, {fuzzer.sessions} sessions created, "
          f"{fuzzer.runs} runs (seed {args.seed})")
    print(f"{fuzzer.findings} findings")
    return 1 if fuzzer.findings else 0


if __name__ == "__main__":
    sys.exit(main())
