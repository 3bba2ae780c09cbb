"""A Ray Serve deployment of an exported model: ONNX Runtime with roipool's ops.

Numpy in, numpy out, either way:

- HTTP: ``POST`` an ``.npz`` archive of the inputs (``numpy.savez``) to the route; the
  reply is an ``.npz`` archive of the outputs (``application/octet-stream``). Bad input
  gets status 400 and a message naming it.
- Python: ``handle.infer.remote({"images": ..., "rois": ...})`` returns a dict of arrays.

Replicas run on CPU, or with ONNX Runtime's CUDA execution provider when that provider
is available and ``num_gpus`` > 0. The model bytes travel with the deployment, so
replicas need no shared file system. Without torch::

    from ray import serve
    from roipool.serving.ray import build_app
    serve.run(build_app("detector.onnx", num_replicas=2), route_prefix="/detector")

or ``serve run roipool.serving.ray:app model=detector.onnx num_replicas=2``.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from ray import serve

__all__ = ["RoipoolModel", "app", "build_app", "decode_arrays", "encode_arrays"]


def encode_arrays(arrays: Mapping[str, np.ndarray]) -> bytes:
    """Arrays as an ``.npz`` archive (the HTTP body format)."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def decode_arrays(data: bytes) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` archive (no pickled objects accepted)."""
    with np.load(io.BytesIO(data), allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}


@serve.deployment
class RoipoolModel:
    """One replica: an ONNX Runtime session with roipool's ops."""

    def __init__(self, model: bytes, use_cuda: bool = False, threads: int = 1) -> None:
        """``model``: serialized ONNX; ``use_cuda``: CUDA provider when this replica's
        ONNX Runtime has it; ``threads``: ONNX Runtime intra-op threads."""
        import onnxruntime

        from roipool.runtime.ort import create_session

        providers = ["CPUExecutionProvider"]
        if use_cuda and "CUDAExecutionProvider" in onnxruntime.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads  # the replica's reserved CPUs: no oversubscription
        self._session = create_session(model, providers=providers, session_options=options)
        self.providers = self._session.get_providers()
        self.input_names = [i.name for i in self._session.get_inputs()]
        self.output_names = [o.name for o in self._session.get_outputs()]

    def infer(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the model on ``feeds`` (every input, by name); outputs by name."""
        missing = set(self.input_names) - set(feeds)
        unknown = set(feeds) - set(self.input_names)
        if missing or unknown:
            raise ValueError(f"inputs are {self.input_names}; missing {sorted(missing)}, "
                             f"unknown {sorted(unknown)}")
        outputs = self._session.run(None, {name: np.asarray(feeds[name])
                                           for name in self.input_names})
        return dict(zip(self.output_names, outputs, strict=True))

    async def __call__(self, request: Any) -> Any:
        """HTTP: ``.npz`` of the inputs in, ``.npz`` of the outputs out."""
        from starlette.responses import PlainTextResponse, Response

        try:
            feeds = decode_arrays(await request.body())
            outputs = self.infer(feeds)
        except (ValueError, OSError) as error:  # bad archive, names or shapes
            return PlainTextResponse(f"bad request: {error}", status_code=400)
        except Exception as error:  # ONNX Runtime rejects the values (types, shapes)
            return PlainTextResponse(f"bad request: {type(error).__name__}: {error}",
                                     status_code=400)
        return Response(encode_arrays(outputs), media_type="application/octet-stream")


def build_app(model: str | os.PathLike[str] | bytes, *, num_replicas: int = 1,
              num_cpus: float = 1, num_gpus: float = 0, name: str = "roipool") -> Any:
    """A Ray Serve application serving ``model`` (path or serialized ONNX).

    ``num_replicas`` replicas, each reserving ``num_cpus`` CPUs (its ONNX Runtime thread
    count) and ``num_gpus`` GPUs (CUDA provider when > 0 and available).
    """
    if num_replicas < 1:
        raise ValueError(f"num_replicas must be >= 1, got {num_replicas}")
    if num_cpus <= 0 or num_gpus < 0:
        raise ValueError(f"num_cpus must be > 0 and num_gpus >= 0, got {num_cpus}, {num_gpus}")
    data = model if isinstance(model, bytes) else Path(model).read_bytes()
    deployment = RoipoolModel.options(
        name=name, num_replicas=num_replicas,
        ray_actor_options={"num_cpus": num_cpus, "num_gpus": num_gpus})
    return deployment.bind(data, num_gpus > 0, max(1, int(num_cpus)))


def app(args: dict[str, str]) -> Any:
    """Application builder for ``serve run roipool.serving.ray:app model=PATH
    [num_replicas=N] [num_cpus=C] [num_gpus=G]``."""
    if "model" not in args:
        raise ValueError("serve run roipool.serving.ray:app needs model=PATH.onnx")
    return build_app(args["model"], num_replicas=int(args.get("num_replicas", 1)),
                     num_cpus=float(args.get("num_cpus", 1)),
                     num_gpus=float(args.get("num_gpus", 0)))
