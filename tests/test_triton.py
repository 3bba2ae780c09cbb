"""`roipool triton`: generated model repositories parse with Triton's own model_config
schema (tritonclient's protobuf) and match the ONNX model they serve."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper
from roipool._libs import ORT_LIBRARY, find_library
from roipool.cli import main

text_format = pytest.importorskip("google.protobuf.text_format")
model_config_pb2 = pytest.importorskip("tritonclient.grpc.model_config_pb2")
triton_utils = pytest.importorskip("tritonclient.utils")
pytestmark = pytest.mark.skipif(find_library(ORT_LIBRARY) is None,
                                reason=f"{ORT_LIBRARY} was not built")

TINY = ["--channels", "4", "--pooled", "2", "--height", "32", "--width", "64", "--rois", "3"]


def _parse(path: Path) -> model_config_pb2.ModelConfig:
    return text_format.Parse(path.read_text(), model_config_pb2.ModelConfig())


def _expected(value: onnx.ValueInfoProto, batched: bool) -> tuple[str, list[int]]:
    """Triton data type and dims of an ONNX graph input/output, derived independently of
    roipool.serving.triton (numpy dtype -> tritonclient's name)."""
    tensor = value.type.tensor_type
    dtype = helper.tensor_dtype_to_np_dtype(tensor.elem_type)
    dims = [d.dim_value if d.HasField("dim_value") else -1 for d in tensor.shape.dim]
    return "TYPE_" + triton_utils.np_to_triton_dtype(dtype), dims[1:] if batched else dims


def _assert_matches_model(config: model_config_pb2.ModelConfig, model: onnx.ModelProto) -> None:
    batched = config.max_batch_size > 0
    for configured, values in ((config.input, model.graph.input),
                               (config.output, model.graph.output)):
        assert [t.name for t in configured] == [v.name for v in values]
        for tensor, value in zip(configured, values, strict=True):
            data_type, dims = _expected(value, batched)
            assert model_config_pb2.DataType.Name(tensor.data_type) == data_type, tensor.name
            assert list(tensor.dims) == dims, tensor.name


@pytest.fixture(scope="module")
def detector(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("triton") / "detector.onnx"
    assert main(["export", "--variant", "roi_align", "--torchscript", "-o", str(path),
                 *TINY]) == 0
    return path


def test_onnxruntime_and_tensorrt_repository(detector: Path, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    plan = tmp_path / "given.plan"  # stands for a `roipool build` plan (no TensorRT here)
    plan.write_bytes(b"plan bytes")
    trt_library = tmp_path / "libroipool_trt.so"
    assert main(["triton", str(detector), "-o", str(repo), "--name", "det", "--instances", "2",
                 "--tensorrt", "--engine", str(plan), "--plugin-library", str(trt_library)]) == 0
    model = onnx.load(detector)

    ort = _parse(repo / "det" / "config.pbtxt")
    assert (ort.name, ort.backend, ort.max_batch_size) == ("det", "onnxruntime", 0)
    _assert_matches_model(ort, model)
    assert not ort.HasField("dynamic_batching")  # rois index the request's images
    assert [(g.count, g.kind) for g in ort.instance_group] == [
        (2, model_config_pb2.ModelInstanceGroup.KIND_CPU)]
    (library,) = ort.model_operations.op_library_filename
    assert Path(library) == find_library(ORT_LIBRARY) and Path(library).is_file()
    assert (repo / "det" / "1" / "model.onnx").read_bytes() == detector.read_bytes()

    trt = _parse(repo / "det_trt" / "config.pbtxt")
    assert (trt.name, trt.backend, trt.max_batch_size) == ("det_trt", "tensorrt", 0)
    _assert_matches_model(trt, model)
    assert [g.kind for g in trt.instance_group] == [model_config_pb2.ModelInstanceGroup.KIND_GPU]
    assert not trt.HasField("model_operations")
    assert (repo / "det_trt" / "1" / "model.plan").read_bytes() == b"plan bytes"
    launcher = (repo / "tritonserver.sh").read_text()
    assert f"--backend-config=tensorrt,plugins={trt_library}" in launcher


def test_roi_model_refuses_triton_batching(detector: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["triton", str(detector), "-o", str(tmp_path), "--max-batch-size", "8"]) == 1
    error = capsys.readouterr().err
    assert "max_batch_size=8" in error and "rois" in error
    assert not (tmp_path / "detector").exists()


def _batchable_model(path: Path) -> None:
    """A feature-map model whose every input and output starts with the batch N."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT16, ["N", 3, 8, "W"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT16, ["N", 3, 8, "W"])
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


def test_batchable_model_gets_dynamic_batching_on_gpu(tmp_path: Path) -> None:
    path = tmp_path / "relu.onnx"
    _batchable_model(path)
    from roipool.serving.triton import write_repository

    (config_path,) = write_repository(path, tmp_path / "repo", device="gpu", max_batch_size=8,
                                      op_library="/srv/lib/libroipool_ort.so")
    config = _parse(config_path)
    assert config.max_batch_size == 8 and config.HasField("dynamic_batching")
    _assert_matches_model(config, onnx.load(path))
    assert [t.dims for t in config.input] == [[3, 8, -1]]
    assert config.instance_group[0].kind == model_config_pb2.ModelInstanceGroup.KIND_GPU
    assert list(config.model_operations.op_library_filename) == ["/srv/lib/libroipool_ort.so"]


@pytest.mark.parametrize("kwargs, message", [
    ({"device": "tpu"}, "device"), ({"instances": 0}, "instances"),
    ({"max_batch_size": -1}, "max_batch_size"), ({"name": "a/b"}, "name"),
    ({"onnxruntime": False}, "nothing to write"),
])
def test_bad_arguments_name_the_argument(detector: Path, tmp_path: Path, kwargs: dict,
                                         message: str) -> None:
    from roipool.serving.triton import write_repository

    with pytest.raises(ValueError, match=message):
        write_repository(detector, tmp_path, **kwargs)
