"""Triton Inference Server model repositories for models with roipool nodes.

:func:`write_repository` writes, for one ONNX model:

- ``<name>/``: the ONNX Runtime backend, ``model_operations { op_library_filename }``
  pointing at ``libroipool_ort.so`` (the installed library unless told otherwise);
- ``<name>_trt/`` (``tensorrt=True``): the TensorRT backend with a plan built by
  ``roipool build`` (:func:`roipool.runtime.trt.build_engine`) or given as a file; Triton
  loads the plugin library with ``--backend-config=tensorrt,plugins=...``, which the
  generated ``tritonserver.sh`` passes (the library registers its creators on load).

Inputs, outputs, data types and dims come from the ONNX graph (symbolic dims -> -1).
``max_batch_size`` > 0 (Triton batching, with ``dynamic_batching``) is allowed only when
every input and output starts with the same symbolic dimension; a RoI model whose
``rois`` rows index images of the request cannot be batched by Triton, so it gets
``max_batch_size: 0``. Needs ``onnx``; no Triton package.
"""

from __future__ import annotations

import os
import shlex
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["TensorSpec", "model_io", "write_repository"]

# ONNX TensorProto element type -> Triton data type.
_TRITON_TYPES = {
    1: "TYPE_FP32", 2: "TYPE_UINT8", 3: "TYPE_INT8", 4: "TYPE_UINT16", 5: "TYPE_INT16",
    6: "TYPE_INT32", 7: "TYPE_INT64", 8: "TYPE_STRING", 9: "TYPE_BOOL", 10: "TYPE_FP16",
    11: "TYPE_FP64", 12: "TYPE_UINT32", 13: "TYPE_UINT64", 16: "TYPE_BF16",
}


@dataclass(frozen=True)
class TensorSpec:
    """One model input or output: name, Triton data type, dims (-1 = dynamic) and the
    symbol of its first dimension (None when static or unnamed)."""

    name: str
    data_type: str
    dims: tuple[int, ...]
    first_symbol: str | None


def model_io(model: str | os.PathLike[str]) -> tuple[list[TensorSpec], list[TensorSpec]]:
    """(inputs, outputs) of the ONNX model at ``model``, initializers excluded."""
    import onnx

    proto = onnx.load(os.fspath(model), load_external_data=False)
    initializers = {t.name for t in proto.graph.initializer}

    def spec(value: onnx.ValueInfoProto) -> TensorSpec:
        tensor = value.type.tensor_type
        if not value.type.HasField("tensor_type") or tensor.elem_type not in _TRITON_TYPES:
            raise ValueError(f"{model}: {value.name!r} is not a tensor of a type Triton serves")
        if not tensor.HasField("shape"):
            raise ValueError(f"{model}: {value.name!r} has no shape (rank unknown)")
        dims = tuple(d.dim_value if d.HasField("dim_value") else -1 for d in tensor.shape.dim)
        first = (tensor.shape.dim[0].dim_param or None) if dims else None
        return TensorSpec(value.name, _TRITON_TYPES[tensor.elem_type], dims, first)

    inputs = [spec(v) for v in proto.graph.input if v.name not in initializers]
    return inputs, [spec(v) for v in proto.graph.output]


def batch_symbol(inputs: Sequence[TensorSpec], outputs: Sequence[TensorSpec]) -> str | None:
    """The symbolic first dimension every input and output shares (Triton can then batch
    requests along it), or None."""
    symbols = {t.first_symbol for t in (*inputs, *outputs)}
    return symbols.pop() if len(symbols) == 1 and None not in symbols else None


def _tensor_block(kind: str, tensors: Sequence[TensorSpec], batched: bool) -> str:
    entries = []
    for t in tensors:
        dims = t.dims[1:] if batched else t.dims
        entries.append(f'  {{\n    name: "{t.name}"\n    data_type: {t.data_type}\n'
                       f'    dims: [ {", ".join(map(str, dims))} ]\n  }}')
    return f"{kind} [\n" + ",\n".join(entries) + "\n]\n"


def _config(name: str, backend: str, inputs: Sequence[TensorSpec],
            outputs: Sequence[TensorSpec], *, max_batch_size: int, kind: str, instances: int,
            op_library: str | None) -> str:
    text = (f'name: "{name}"\nbackend: "{backend}"\nmax_batch_size: {max_batch_size}\n'
            + _tensor_block("input", inputs, max_batch_size > 0)
            + _tensor_block("output", outputs, max_batch_size > 0)
            + f"instance_group [\n  {{\n    count: {instances}\n    kind: {kind}\n  }}\n]\n")
    if max_batch_size > 0:
        text += "dynamic_batching { }\n"
    if op_library is not None:
        text += f'model_operations {{\n  op_library_filename: "{op_library}"\n}}\n'
    return text


def _check_name(name: str) -> str:
    if not name or "/" in name or name.startswith(".") or '"' in name:
        raise ValueError(f"name must be a plain directory name, got {name!r}")
    return name


def write_repository(
    model: str | os.PathLike[str],
    repository: str | os.PathLike[str],
    *,
    name: str | None = None,
    device: str = "cpu",
    instances: int = 1,
    max_batch_size: int = 0,
    onnxruntime: bool = True,
    tensorrt: bool = False,
    engine: str | os.PathLike[str] | None = None,
    shapes: Mapping[str, tuple[Sequence[int], Sequence[int], Sequence[int]]] | None = None,
    op_library: str | None = None,
    plugin_library: str | None = None,
) -> list[Path]:
    """Write a Triton model repository for the ONNX ``model``; returns the config files.

    ``device``: ``"cpu"`` or ``"gpu"`` instances of the ONNX Runtime model (TensorRT
    models are always GPU). ``instances``: instances per model. ``max_batch_size`` > 0
    enables Triton batching (only for models that allow it, see the module docstring).
    ``tensorrt``: also write the TensorRT model, from ``engine`` (a plan from
    ``roipool build``) or, without one, built here from ``model`` with ``shapes`` (needs
    TensorRT and a GPU). ``op_library`` / ``plugin_library``: paths of
    ``libroipool_ort.so`` / ``libroipool_trt.so`` as the server will see them (default:
    this installation's).
    """
    model = Path(model)
    if device not in ("cpu", "gpu"):
        raise ValueError(f"device must be 'cpu' or 'gpu', got {device!r}")
    if instances < 1:
        raise ValueError(f"instances must be >= 1, got {instances}")
    if max_batch_size < 0:
        raise ValueError(f"max_batch_size must be >= 0, got {max_batch_size}")
    if not (onnxruntime or tensorrt):
        raise ValueError("nothing to write: enable onnxruntime and/or tensorrt")
    name = _check_name(name or model.stem)
    inputs, outputs = model_io(model)
    if max_batch_size > 0 and batch_symbol(inputs, outputs) is None:
        first = ", ".join(f"{t.name}: {t.dims[0] if t.dims else 'scalar'}"
                          f"{f' ({t.first_symbol})' if t.first_symbol else ''}"
                          for t in (*inputs, *outputs))
        raise ValueError(f"max_batch_size={max_batch_size}: Triton can batch only models whose "
                         f"inputs and outputs all start with one symbolic dimension; {model} "
                         f"has first dims {first}. Use max_batch_size=0")
    repository = Path(repository)
    written = []
    if onnxruntime:
        from roipool.runtime.ort import ort_library_path

        directory = repository / name
        (directory / "1").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(model, directory / "1" / "model.onnx")
        config = _config(name, "onnxruntime", inputs, outputs, max_batch_size=max_batch_size,
                         kind="KIND_GPU" if device == "gpu" else "KIND_CPU",
                         instances=instances, op_library=op_library or ort_library_path())
        (directory / "config.pbtxt").write_text(config)
        written.append(directory / "config.pbtxt")
    if tensorrt:
        written.append(_write_tensorrt(model, repository, f"{name}_trt", inputs, outputs,
                                       engine=engine, shapes=shapes, instances=instances,
                                       max_batch_size=max_batch_size))
        _write_launcher(repository, plugin_library)
    return written


def _write_tensorrt(model: Path, repository: Path, name: str, inputs: Sequence[TensorSpec],
                    outputs: Sequence[TensorSpec], *, engine: str | os.PathLike[str] | None,
                    shapes: Mapping[str, tuple[Sequence[int], Sequence[int], Sequence[int]]]
                    | None, instances: int, max_batch_size: int) -> Path:
    directory = repository / name
    (directory / "1").mkdir(parents=True, exist_ok=True)
    plan = directory / "1" / "model.plan"
    if engine is not None:
        shutil.copyfile(engine, plan)
    else:
        from roipool.runtime.trt import build_engine

        build_engine(model, plan, shapes=shapes)
    config = _config(name, "tensorrt", inputs, outputs, max_batch_size=max_batch_size,
                     kind="KIND_GPU", instances=instances, op_library=None)
    (directory / "config.pbtxt").write_text(config)
    return directory / "config.pbtxt"


def _write_launcher(repository: Path, plugin_library: str | None) -> None:
    """``tritonserver.sh``: the server command line with roipool's TensorRT plugins."""
    if plugin_library is None:
        from roipool.runtime.trt import trt_library_path

        plugin_library = trt_library_path()
    script = repository / "tritonserver.sh"
    script.write_text(
        "#!/bin/sh\n# Serves this repository; Triton's TensorRT backend dlopen()s the plugin\n"
        "# library, which registers roipool's creators on load.\n"
        f'exec tritonserver --model-repository="$(dirname "$0")" '
        f"--backend-config=tensorrt,plugins={shlex.quote(plugin_library)} \"$@\"\n")
    script.chmod(0o755)
