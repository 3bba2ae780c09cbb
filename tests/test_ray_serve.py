"""Ray Serve deployment on 127.0.0.1: bounded sequential and concurrent HTTP requests and
handle calls, outputs checked against eager PyTorch, everything shut down at the end."""

from __future__ import annotations

import os
import socket
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
from roipool._libs import ORT_LIBRARY, find_library

ray = pytest.importorskip("ray")
serve = pytest.importorskip("ray.serve")
pytestmark = pytest.mark.skipif(find_library(ORT_LIBRARY) is None,
                                reason=f"{ORT_LIBRARY} was not built")

from conftest import child_pythonpath  # noqa: E402
from roipool.export.verify import export_detector  # noqa: E402
from roipool.models import DetectorConfig  # noqa: E402
from roipool.runtime.feeds import make_feeds  # noqa: E402
from roipool.serving.ray import build_app, decode_arrays, encode_arrays  # noqa: E402

REQUESTS = 12  # 4 sequential + 8 in 4 threads
TIMEOUT_S = 60


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple]:
    """(URL, serve handle, eager float64 model, ONNX model): two replicas of the
    roi_align detector."""
    model, proto = export_detector(DetectorConfig(variant="roi_align", channels=4, pooled=2),
                                   dynamo=False)
    path = tmp_path_factory.mktemp("ray") / "detector.onnx"
    path.write_bytes(proto.SerializeToString())
    port = _free_port()
    env = {"PYTHONPATH": os.pathsep.join([child_pythonpath(), *sys.path])}
    if os.environ.get("ROIPOOL_LIBRARY_DIR"):
        env["ROIPOOL_LIBRARY_DIR"] = os.environ["ROIPOOL_LIBRARY_DIR"]
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1",
             log_to_driver=False, runtime_env={"env_vars": env})
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        handle = serve.run(build_app(path, num_replicas=2, num_cpus=0.5), name="detector",
                           route_prefix="/detector")
        yield f"http://127.0.0.1:{port}/detector", handle, model.double(), proto
    finally:
        serve.shutdown()
        ray.shutdown()


def _post(url: str, body: bytes) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/octet-stream"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _eager(model: torch.nn.Module, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    with torch.no_grad():
        scores, deltas = model(torch.from_numpy(feeds["images"]).double(),
                               torch.from_numpy(feeds["rois"]).double())
    return {"scores": scores.numpy(), "deltas": deltas.numpy()}


def _check(outputs: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> None:
    assert sorted(outputs) == sorted(expected)
    for name, value in expected.items():
        magnitude = max(1.0, float(np.abs(value).max()))
        assert outputs[name].shape == value.shape
        np.testing.assert_allclose(outputs[name], value, rtol=0, atol=1e-5 * magnitude)
    assert np.ptp(expected["scores"], axis=0).max() > 1e-5  # RoIs were not all empty


def test_http_sequential_and_concurrent_requests_match_eager(served: tuple) -> None:
    url, _, model, proto = served
    feeds = [make_feeds(proto, seed=seed, num_rois=3 + seed % 4)
             for seed in range(REQUESTS)]
    for item in feeds[:4]:
        status, body = _post(url, encode_arrays(item))
        assert status == 200, body[:500]
        _check(decode_arrays(body), _eager(model, item))
    with ThreadPoolExecutor(max_workers=4) as pool:
        replies = list(pool.map(lambda item: _post(url, encode_arrays(item)), feeds[4:]))
    for item, (status, body) in zip(feeds[4:], replies, strict=True):
        assert status == 200, body[:500]
        _check(decode_arrays(body), _eager(model, item))


def test_handle_call_and_bad_request(served: tuple) -> None:
    url, handle, model, proto = served
    item = make_feeds(proto, seed=99)
    outputs = handle.infer.remote(item).result(timeout_s=TIMEOUT_S)
    _check(outputs, _eager(model, item))
    status, body = _post(url, encode_arrays({"images": item["images"]}))
    assert status == 400 and b"missing ['rois']" in body
    status, body = _post(url, b"not an npz archive")
    assert status == 400 and body.startswith(b"bad request")
