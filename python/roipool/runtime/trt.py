"""TensorRT engines with roipool's IPluginV3 plugins (``libroipool_trt.so``).

The plugin library registers its creators with TensorRT's global plugin registry when it
is loaded into a process that has TensorRT (see ``docs/tensorrt.md``), after which
TensorRT's ONNX parser maps every node of domain ``roipool`` to its plugin. ``tensorrt``
is imported lazily: importing this module never needs it.

``EngineRunner`` runs an engine on torch CUDA tensors, on numpy arrays (host memory,
copied through ``cuda-python``) or on :class:`DeviceArray` device pointers, so a service
can run engines without torch. cuda-python (NVIDIA's own bindings of the CUDA runtime
API, used by TensorRT's Python samples) was chosen over pycuda: it ships as binary wheels
for every CUDA version (pycuda compiles against a local toolkit), and it works on the
runtime API's primary context that TensorRT uses, where pycuda's ``autoinit`` creates a
context of its own.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from roipool._libs import TRT_LIBRARY, require_library

if TYPE_CHECKING:
    import torch

__all__ = ["DeviceArray", "EngineRunner", "build_engine", "load_plugins", "trt_library_path"]

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


@dataclass(frozen=True)
class DeviceArray:
    """A C-contiguous tensor in CUDA device memory owned by the caller (or, for outputs,
    by the runner): device address, shape and numpy dtype."""

    ptr: int
    shape: tuple[int, ...]
    dtype: np.dtype

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * np.dtype(self.dtype).itemsize


def _cudart() -> Any:
    """cuda-python's runtime API module (``cuda.bindings.runtime``, or ``cuda.cudart``
    in cuda-python < 12.6)."""
    try:
        from cuda.bindings import runtime
    except ImportError:
        try:
            from cuda import cudart as runtime
        except ImportError as error:
            raise ImportError("EngineRunner on numpy arrays / device pointers needs cuda-python "
                              "(pip install cuda-python)") from error
    return runtime


def _cuda_call(result: tuple[Any, ...]) -> Any:
    """The value of a cuda-python call ``(error, *values)``; raises on a CUDA error."""
    error, *values = result
    if int(error) != 0:
        raise RuntimeError(f"CUDA error: {error!r}")
    return values[0] if len(values) == 1 else None


class EngineRunner:
    """Runs a serialized engine on torch CUDA tensors, numpy arrays or device pointers.

    Inputs and outputs are addressed by the engine's I/O tensor names. One call takes
    inputs of one kind:

    - torch CUDA tensors: zero-copy, enqueued on ``torch.cuda.current_stream()`` and not
      waited for, exactly like a torch op; returns new torch tensors;
    - numpy arrays: copied to device buffers the runner keeps (grown, never reallocated
      per call when large enough), run on the runner's own stream, waited for; returns
      numpy arrays;
    - :class:`DeviceArray`: zero-copy, enqueued on ``stream`` (a ``cudaStream_t`` as int,
      default the legacy stream) and not waited for; returns :class:`DeviceArray` outputs
      in runner-owned buffers, valid until the next call.
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
        self._buffers: dict[str, tuple[int, int]] = {}  # name -> (device address, bytes)
        self._stream: Any = None

    def __call__(self, inputs: Mapping[str, Any], *, stream: int = 0) -> dict[str, Any]:
        """Run the engine on ``inputs`` (see the class docstring); outputs keyed by name."""
        self._check_names(inputs)
        values = list(inputs.values())
        if all(isinstance(v, np.ndarray) for v in values):
            return self._run_numpy(inputs)
        if all(isinstance(v, DeviceArray) for v in values):
            return self._run_device(inputs, stream)
        return self._run_torch(inputs)

    def close(self) -> None:
        """Free the runner's device buffers and stream (also done on garbage collection)."""
        if not self._buffers and self._stream is None:
            return
        cudart = _cudart()
        for address, _ in self._buffers.values():
            cudart.cudaFree(address)
        self._buffers.clear()
        if self._stream is not None:
            cudart.cudaStreamDestroy(self._stream)
            self._stream = None

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # interpreter shutdown: CUDA may be gone
            self.close()

    def _check_names(self, inputs: Mapping[str, Any]) -> None:
        missing = set(self.input_names) - set(inputs)
        unknown = set(inputs) - set(self.input_names)
        if missing or unknown:
            raise ValueError(f"engine inputs are {self.input_names}; missing {sorted(missing)}, "
                             f"unknown {sorted(unknown)}")

    def _set_shape(self, name: str, shape: Sequence[int]) -> None:
        if not self.context.set_input_shape(name, tuple(shape)):
            raise ValueError(f"input {name!r}: shape {tuple(shape)} is outside the engine's "
                             "optimisation profile")

    def _numpy_dtype(self, name: str) -> np.dtype:
        dtype = self.engine.get_tensor_dtype(name)
        try:
            return np.dtype(self._trt.nptype(dtype))
        except TypeError as error:  # bfloat16: no numpy type
            raise TypeError(f"tensor {name!r} is {dtype}, which numpy cannot hold; use torch "
                            "tensors or DeviceArray") from error

    def _buffer(self, name: str, nbytes: int) -> int:
        """A runner-owned device buffer of at least ``nbytes`` for tensor ``name``."""
        address, capacity = self._buffers.get(name, (0, 0))
        if nbytes > capacity or address == 0:
            cudart = _cudart()
            if address:
                _cuda_call(cudart.cudaFree(address))
            capacity = max(nbytes, 256)  # never 0: TensorRT wants an address for empty tensors
            address = int(_cuda_call(cudart.cudaMalloc(capacity)))
            self._buffers[name] = (address, capacity)
        return address

    def _execute(self, stream: int) -> None:
        if not self.context.execute_async_v3(stream):
            raise RuntimeError("TensorRT execution failed (see its log)")

    def _run_numpy(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        cudart = _cudart()
        if self._stream is None:
            self._stream = _cuda_call(cudart.cudaStreamCreateWithFlags(
                cudart.cudaStreamNonBlocking))
        stream = int(self._stream)
        host_inputs = []  # pageable host memory must live until the stream is done with it
        for name in self.input_names:
            array = np.ascontiguousarray(inputs[name])
            expected = self._numpy_dtype(name)
            if array.dtype != expected:
                raise TypeError(f"input {name!r} must be {expected}, got {array.dtype}")
            host_inputs.append(array)
            self._set_shape(name, array.shape)
            device = self._buffer(name, array.nbytes)
            _cuda_call(cudart.cudaMemcpyAsync(device, array.ctypes.data, array.nbytes,
                                              cudart.cudaMemcpyKind.cudaMemcpyHostToDevice,
                                              stream))
            self.context.set_tensor_address(name, device)
        outputs = {}
        for name in self.output_names:
            outputs[name] = np.empty(tuple(self.context.get_tensor_shape(name)),
                                     self._numpy_dtype(name))
            self.context.set_tensor_address(name, self._buffer(name, outputs[name].nbytes))
        self._execute(stream)
        for name, array in outputs.items():
            _cuda_call(cudart.cudaMemcpyAsync(array.ctypes.data, self._buffers[name][0],
                                              array.nbytes,
                                              cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost,
                                              stream))
        _cuda_call(cudart.cudaStreamSynchronize(stream))
        return outputs

    def _run_device(self, inputs: Mapping[str, DeviceArray], stream: int) -> dict[str, DeviceArray]:
        for name in self.input_names:
            array = inputs[name]
            expected = self._numpy_dtype(name)
            if np.dtype(array.dtype) != expected:
                raise TypeError(f"input {name!r} must be {expected}, got {array.dtype}")
            if array.ptr == 0 and array.nbytes > 0:
                raise ValueError(f"input {name!r}: null device pointer")
            self._set_shape(name, array.shape)
            self.context.set_tensor_address(name, array.ptr)
        outputs = {}
        for name in self.output_names:
            shape = tuple(self.context.get_tensor_shape(name))
            dtype = self._numpy_dtype(name)
            size = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
            outputs[name] = DeviceArray(self._buffer(name, size), shape, dtype)
            self.context.set_tensor_address(name, outputs[name].ptr)
        self._execute(stream)
        return outputs

    def _run_torch(self, inputs: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Every input must be a CUDA tensor of the engine's type for that name; a
        non-contiguous tensor is made contiguous (the only copy this path may make)."""
        import torch

        device = None
        keep_alive = []
        for name in self.input_names:
            tensor = inputs[name]
            if not isinstance(tensor, torch.Tensor):
                raise TypeError(f"input {name!r}: pass torch tensors, numpy arrays or "
                                f"DeviceArray (one kind per call), got {type(tensor).__name__}")
            expected = _torch_dtype(self._trt, self.engine.get_tensor_dtype(name))
            if not tensor.is_cuda or tensor.dtype != expected:
                raise TypeError(f"input {name!r} must be a CUDA {expected} tensor, "
                                f"got {tensor.dtype} on {tensor.device}")
            device = tensor.device if device is None else device
            tensor = tensor.contiguous()
            keep_alive.append(tensor)
            self._set_shape(name, tensor.shape)
            self.context.set_tensor_address(name, tensor.data_ptr())
        outputs = {}
        for name in self.output_names:
            shape = tuple(self.context.get_tensor_shape(name))
            dtype = _torch_dtype(self._trt, self.engine.get_tensor_dtype(name))
            outputs[name] = torch.empty(shape, dtype=dtype, device=device)
            self.context.set_tensor_address(name, outputs[name].data_ptr())
        stream = torch.cuda.current_stream(device)
        self._execute(stream.cuda_stream)
        for tensor in keep_alive:  # copies made above must live until the stream reaches them
            tensor.record_stream(stream)
        return outputs
