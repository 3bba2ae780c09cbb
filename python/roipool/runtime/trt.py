"""TensorRT engines with roipool's IPluginV3 plugins (``libroipool_trt.so``).

The plugin library registers its creators with TensorRT's global plugin registry when it
is loaded into a process that has TensorRT (see ``docs/tensorrt.md``), after which
TensorRT's ONNX parser maps every node of domain ``roipool`` to its plugin. ``tensorrt``
is imported lazily: importing this module never needs it.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from roipool._libs import TRT_LIBRARY, require_library

if TYPE_CHECKING:
    import torch

__all__ = ["EngineRunner", "build_engine", "load_plugins", "trt_library_path"]

PLUGIN_NAMESPACE = "roipool"
PLUGIN_VERSION = "1"
PLUGIN_NAMES = (
    "RoIPool", "RoIAlign", "RoIWarp", "PSRoIPool", "PSRoIAlign", "DeformRoIPool",
    "MultiScaleRoIAlign", "RoIAlignRotated", "PrRoIPool",
)

Shape = Sequence[int]

_loaded_library: str | None = None


def trt_library_path() -> str:
    """Path of ``libroipool_trt.so``; raises ``FileNotFoundError`` when it was not built."""
    return str(require_library(TRT_LIBRARY))


def _tensorrt() -> Any:
    try:
        import tensorrt
    except ImportError as error:
        raise ImportError(
            "roipool.runtime.trt needs the TensorRT Python package (`pip install tensorrt`, "
            "TensorRT >= 10) and a CUDA GPU"
        ) from error
    return tensorrt


def _logger(verbose: bool = False) -> Any:
    trt = _tensorrt()
    return trt.Logger(trt.Logger.VERBOSE if verbose else trt.Logger.WARNING)


def load_plugins() -> str:
    """Register roipool's plugin creators with TensorRT's global registry (once per process).

    The library is loaded with a plain ``dlopen`` (``ctypes``) after ``tensorrt``: it then
    registers its creators itself, as under Triton or ``polygraphy --plugins``
    (``roipool_trt_register_creators`` is the fallback when libnvinfer was not found by
    soname). Returns the library path. Raises ``RuntimeError`` when the creators do not
    appear in the registry.
    """
    global _loaded_library
    if _loaded_library is not None:
        return _loaded_library
    trt = _tensorrt()
    path = trt_library_path()
    library = ctypes.CDLL(path)
    registry = trt.get_plugin_registry()

    def missing() -> list[str]:
        return [name for name in PLUGIN_NAMES
                if registry.get_creator(name, PLUGIN_VERSION, PLUGIN_NAMESPACE) is None]

    if missing():
        library.roipool_trt_register_creators.restype = ctypes.c_int32
        library.roipool_trt_register_creators()
    if missing():
        raise RuntimeError(f"{path} registered no creator for {', '.join(missing())}")
    _loaded_library = path
    return path


def _progress_monitor(trt: Any) -> Any | None:
    """An IProgressMonitor printing build phases, or None on TensorRT versions without one."""
    base = getattr(trt, "IProgressMonitor", None)
    if base is None:
        return None

    class _PrintProgress(base):  # type: ignore[misc, valid-type]
        def __init__(self) -> None:
            base.__init__(self)
            self._depth: dict[str, int] = {}

        def phase_start(self, phase_name: str, parent_phase: str | None, num_steps: int) -> None:
            depth = self._depth.get(parent_phase, -1) + 1 if parent_phase else 0
            self._depth[phase_name] = depth
            print(f"{'  ' * depth}{phase_name} ({num_steps} steps)", flush=True)

        def step_complete(self, phase_name: str, step: int) -> bool:
            return True  # never cancel the build

        def phase_finish(self, phase_name: str) -> None:
            self._depth.pop(phase_name, None)

    return _PrintProgress()


def build_engine(
    onnx_path: str | os.PathLike[str],
    engine_path: str | os.PathLike[str],
    *,
    shapes: Mapping[str, tuple[Shape, Shape, Shape]] | None = None,
    workspace_mib: int = 1024,
    verbose: bool = False,
) -> Path:
    """Build a strongly typed TensorRT engine from an ONNX model with roipool nodes.

    ``shapes`` maps each dynamic input name to its ``(min, opt, max)`` shapes (one
    optimisation profile); inputs with static shapes need no entry. Tensor types come
    from the ONNX model (strongly typed network), so an fp16 model gives fp16 plugins.
    ``verbose`` logs TensorRT's verbose output and prints build progress. Returns the
    path the serialized engine was written to.
    """
    trt = _tensorrt()
    load_plugins()
    logger = _logger(verbose)
    builder = trt.Builder(logger)
    flags = 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(os.fspath(onnx_path)):
        errors = "\n".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RuntimeError(f"TensorRT could not parse {onnx_path}:\n{errors}")

    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_mib << 20)
    if shapes:
        profile = builder.create_optimization_profile()
        for name, (minimum, optimum, maximum) in shapes.items():
            profile.set_shape(name, tuple(minimum), tuple(optimum), tuple(maximum))
        config.add_optimization_profile(profile)
    monitor = _progress_monitor(trt) if verbose else None
    if monitor is not None:
        config.progress_monitor = monitor

    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError(f"TensorRT failed to build an engine from {onnx_path} (see its log)")
    path = Path(engine_path)
    path.write_bytes(bytes(serialized))
    return path


def _torch_dtype(trt: Any, dtype: Any) -> torch.dtype:
    import torch

    table = {
        trt.float32: torch.float32, trt.float16: torch.float16, trt.bfloat16: torch.bfloat16,
        trt.int32: torch.int32, trt.int64: torch.int64, trt.int8: torch.int8,
        trt.bool: torch.bool, trt.uint8: torch.uint8,
    }
    if dtype not in table:
        raise TypeError(f"TensorRT type {dtype} has no torch equivalent")
    return table[dtype]


class EngineRunner:
    """Runs a serialized engine on torch CUDA tensors, zero-copy, on the current stream.

    Inputs and outputs are addressed by the engine's I/O tensor names. Work is enqueued
    on ``torch.cuda.current_stream()`` and is not waited for, exactly like a torch op.
    """

    def __init__(self, engine_path: str | os.PathLike[str], *, verbose: bool = False) -> None:
        """Deserialize ``engine_path`` (roipool's plugins are registered first)."""
        trt = _tensorrt()
        load_plugins()
        self._trt = trt
        self._runtime = trt.Runtime(_logger(verbose))
        self.engine = self._runtime.deserialize_cuda_engine(Path(engine_path).read_bytes())
        if self.engine is None:
            raise RuntimeError(f"TensorRT could not deserialize {engine_path}")
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        is_input = {n: self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT for n in names}
        self.input_names = [n for n in names if is_input[n]]
        self.output_names = [n for n in names if not is_input[n]]

    def __call__(self, inputs: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Run the engine; returns new output tensors keyed by name.

        Every input must be a CUDA tensor of the engine's type for that name; a
        non-contiguous tensor is made contiguous (the only copy this method may make).
        """
        import torch

        missing = set(self.input_names) - set(inputs)
        unknown = set(inputs) - set(self.input_names)
        if missing or unknown:
            raise ValueError(f"engine inputs are {self.input_names}; missing {sorted(missing)}, "
                             f"unknown {sorted(unknown)}")
        device = None
        keep_alive = []
        for name in self.input_names:
            tensor = inputs[name]
            expected = _torch_dtype(self._trt, self.engine.get_tensor_dtype(name))
            if not tensor.is_cuda or tensor.dtype != expected:
                raise TypeError(f"input {name!r} must be a CUDA {expected} tensor, "
                                f"got {tensor.dtype} on {tensor.device}")
            device = tensor.device if device is None else device
            tensor = tensor.contiguous()
            keep_alive.append(tensor)
            if not self.context.set_input_shape(name, tuple(tensor.shape)):
                raise ValueError(f"input {name!r}: shape {tuple(tensor.shape)} is outside the "
                                 "engine's optimisation profile")
            self.context.set_tensor_address(name, tensor.data_ptr())
        outputs = {}
        for name in self.output_names:
            shape = tuple(self.context.get_tensor_shape(name))
            dtype = _torch_dtype(self._trt, self.engine.get_tensor_dtype(name))
            outputs[name] = torch.empty(shape, dtype=dtype, device=device)
            self.context.set_tensor_address(name, outputs[name].data_ptr())
        stream = torch.cuda.current_stream(device)
        if not self.context.execute_async_v3(stream.cuda_stream):
            raise RuntimeError("TensorRT execution failed (see its log)")
        for tensor in keep_alive:  # copies made above must live until the stream reaches them
            tensor.record_stream(stream)
        return outputs
