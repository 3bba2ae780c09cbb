"""Polygraphy data loader script for models with RoI pooling nodes.

    polygraphy run model.onnx --roipool-onnxrt \\
        --data-loader-script "$(python -m roipool.polygraphy)"

``load_data()`` reads the model given to ``polygraphy run`` (or ``ROIPOOL_MODEL``) and
yields feed dicts with valid RoIs (:class:`roipool.runtime.feeds.RoiFeeds`).
"""

from __future__ import annotations

import os

from roipool.polygraphy import run_context
from roipool.runtime.feeds import RoiFeeds


def load_data() -> RoiFeeds:
    """Feeds for the model of the running ``polygraphy run`` (``--seed``, ``--iterations``
    and ``--input-shapes`` apply)."""
    model = os.environ.get("ROIPOOL_MODEL") or run_context.get("model")
    if not model:
        raise ValueError("roipool's data loader needs the model: run it from `polygraphy run "
                         "MODEL.onnx` or set ROIPOOL_MODEL")
    return RoiFeeds(model, iterations=run_context.get("iterations", 1),
                    seed=run_context.get("seed", 0), shapes=run_context.get("shapes"))
