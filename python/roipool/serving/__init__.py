"""Serving exported models: Triton model repositories (:mod:`roipool.serving.triton`) and a
Ray Serve deployment (:mod:`roipool.serving.ray`). Importing this package imports neither
Triton, Ray nor torch."""
