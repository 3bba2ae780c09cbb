"""Runtimes for exported models: ONNX Runtime sessions and TensorRT engines."""

# Cheap to import: onnxruntime itself is imported only when a session is created.
from roipool.runtime.ort import create_session as create_session
from roipool.runtime.ort import ort_library_path as ort_library_path
