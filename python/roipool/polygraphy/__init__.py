"""Polygraphy extension: ``polygraphy run`` on models with roipool nodes.

Installing roipool registers :func:`get_arg_groups` under polygraphy's
``polygraphy.run.plugins`` entry point, which adds to ``polygraphy run``:

- ``--roipool-onnxrt``: an ONNX Runtime runner whose sessions have roipool's custom-op
  library registered (``--providers`` applies, as for ``--onnxrt``);
- the data loader script :data:`DATA_LOADER_SCRIPT` (``--data-loader-script``), which
  fills every RoI input of the model being run with valid boxes (see
  :mod:`roipool.runtime.feeds`); ``--seed`` / ``--iterations`` / ``--input-shapes``
  apply to it as to polygraphy's own loader.

A model with roipool nodes run on polygraphy's default random data gets a warning:
its random RoIs pool to zeros. Polygraphy is imported only by this module.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from polygraphy import util
from polygraphy.backend.base import BaseLoader
from polygraphy.logger import G_LOGGER
from polygraphy.tools.args import DataLoaderArgs, ModelArgs, OnnxLoadArgs, OnnxrtSessionArgs
from polygraphy.tools.args.base import BaseArgs, BaseRunnerArgs
from polygraphy.tools.script import make_invocable

__all__ = ["DATA_LOADER_SCRIPT", "RoipoolOnnxrtRunnerArgs", "RoipoolSessionFromOnnx",
           "get_arg_groups", "run_context"]

#: Pass as ``--data-loader-script`` to ``polygraphy run``.
DATA_LOADER_SCRIPT = str(Path(__file__).resolve().parent / "data_loader.py")


class RoipoolSessionFromOnnx(BaseLoader):
    """Polygraphy loader of an ``onnxruntime.InferenceSession`` with roipool's ops."""

    def __init__(self, model_bytes: Any, providers: list[str] | None = None) -> None:
        """``model_bytes``: serialized model, path, or a callable returning either;
        ``providers``: exact or case-insensitive partial provider names (default CPU)."""
        self._model = model_bytes
        self.providers = util.default(providers, ["cpu"])

    def call_impl(self) -> Any:
        """The session (roipool's library registered through ``create_session``)."""
        import onnxruntime

        from roipool.runtime.ort import create_session

        model, _ = util.invoke_if_callable(self._model)
        available = onnxruntime.get_available_providers()
        providers = []
        for requested in self.providers:
            match = util.find_str_in_iterable(requested, available)
            if match is None:
                G_LOGGER.critical(f"no ONNX Runtime execution provider matches {requested!r}; "
                                  f"available: {available}")
            providers.append(match)
        G_LOGGER.start(f"Creating ONNX Runtime session with roipool ops, providers {providers}")
        return create_session(model, providers=providers)


class RoipoolOnnxrtRunnerArgs(BaseRunnerArgs):
    """ONNX Runtime with roipool ops: ``polygraphy run --roipool-onnxrt``.

    Depends on:

        - OnnxLoadArgs
        - OnnxrtSessionArgs
        - ModelArgs
    """

    def get_name_opt_impl(self) -> tuple[str, str]:
        return "ONNX-Runtime with roipool ops", "roipool-onnxrt"

    def add_to_script_impl(self, script: Any) -> None:
        if self.arg_groups[OnnxLoadArgs].must_use_onnx_loader():
            model = self.arg_groups[OnnxLoadArgs].add_to_script(script, serialize_model=True)
        else:
            model = self.arg_groups[ModelArgs].path
        script.add_import(imports=["RoipoolSessionFromOnnx"], frm="roipool.polygraphy")
        script.add_import(imports=["OnnxrtRunner"], frm="polygraphy.backend.onnxrt")
        session = script.add_loader(
            make_invocable("RoipoolSessionFromOnnx", model,
                           providers=self.arg_groups[OnnxrtSessionArgs].providers),
            "build_roipool_onnxrt_session")
        script.add_runner(make_invocable("OnnxrtRunner", session))


#: What the running ``polygraphy run`` was given, for the data loader script.
run_context: dict[str, Any] = {}


class RoipoolRunContextArgs(BaseArgs):
    """Hands the model path and data-loader options of ``polygraphy run`` to
    :data:`DATA_LOADER_SCRIPT`, and warns when random data would give empty RoIs.

    Depends on:

        - ModelArgs
        - DataLoaderArgs
    """

    def parse_impl(self, args: Any) -> None:
        model = self.arg_groups[ModelArgs]
        loader = self.arg_groups[DataLoaderArgs]
        shapes = {name: meta.shape for name, meta in (model.input_shapes or {}).items()}
        run_context.update(model=model.path, seed=util.default(loader.seed, 0),
                           iterations=util.default(loader.iterations, 1), shapes=shapes)
        if loader.is_using_random_data() and _has_roipool_nodes(model.path):
            G_LOGGER.warning(
                f"{model.path} has roipool nodes: random inputs give invalid RoIs that pool to "
                f"zeros. Use --data-loader-script {DATA_LOADER_SCRIPT}")


def _has_roipool_nodes(path: str | None) -> bool:
    if not path or not path.endswith(".onnx"):
        return False
    import onnx

    try:
        model = onnx.load(path, load_external_data=False)
    except Exception:  # not readable as ONNX here: polygraphy reports that itself
        return False
    return any(node.domain == "roipool" for node in model.graph.node)


def get_arg_groups() -> list[BaseArgs]:
    """Entry point of ``polygraphy.run.plugins``: the argument groups roipool adds."""
    return [RoipoolOnnxrtRunnerArgs(), RoipoolRunContextArgs()]
