"""roipool: every RoI pooling variant for training, export and low-latency serving.

``roipool.ops`` holds the operators (eager PyTorch reference with autograd, native
CPU/CUDA kernels as the fast path); ``roipool.export`` the ONNX exporters;
``roipool.runtime`` ONNX Runtime sessions and TensorRT engines.
"""

from __future__ import annotations

__version__ = "0.1.0"
