"""Parity of an exported torchvision detector (:func:`roipool.export.export_detector`)
in ONNX Runtime against eager torchvision: detection count, order and values.

Used by the tests, ``roipool demo`` and ``bench/detectors.py``. Random-weight detectors
come from :func:`random_detector`, which documents the construction choices that make
their detections non-trivial; images from :func:`smooth_images`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx
import torch
from torch import Tensor, nn

from roipool.export._detectors import DetectorGraph, detector_output_names

__all__ = ["DETECTORS", "DetectorParity", "compare_detections", "detector_demo",
           "quiet_export", "random_detector", "run_parity", "smooth_images"]

#: Every torchvision two-stage detector.
DETECTORS = ("fasterrcnn_resnet50_fpn", "fasterrcnn_resnet50_fpn_v2", "maskrcnn_resnet50_fpn",
             "maskrcnn_resnet50_fpn_v2", "keypointrcnn_resnet50_fpn",
             "fasterrcnn_mobilenet_v3_large_fpn", "fasterrcnn_mobilenet_v3_large_320_fpn")
#: Detections a random-weight build keeps per calibration image (see random_detector).
CALIBRATION_DETECTIONS = 40
#: Calibration images of a backbone renormalised by random_detector (sizes around the
#: test images'; seed 100 + the model's seed, so never the test images themselves).
CALIBRATION_SIZES = ((256, 320), (320, 256), (240, 360), (288, 288))
#: Features below this (max abs) have vanished: MobileNet-v3's random-weight backbone with
#: fresh BatchNorm statistics gives ~1e-8, the ResNet ones ~20.
VANISHING_FEATURES = 1e-3
#: Spread (std over RoIs, mean over classes) given to a renormalised model's class
#: logits; the random-weight ResNet builds have 1.3 to 4.
LOGIT_SPREAD = 2.0

#: Float32 tolerances: absolute, times max(1, magnitude of the eager output). Random
#: weights make a deep backbone amplify rounding (ORT's and torch's convolutions sum in
#: another order); these are a few times the differences measured on the seven models
#: (scores: 1.6e-4 on the renormalised MobileNet-v3 builds, whose classifier scaling
#: amplifies the backbone's rounding).
TOLERANCE = {"boxes": 3e-5, "scores": 5e-4, "masks": 1e-3, "keypoints": 3e-5,
             "keypoints_scores": 2e-4}
#: Scores closer than this are ties: their detections may come in either order.
TIE = 1e-4


def random_detector(name: str, *, min_size: int = 256, max_size: int = 384,
                    seed: int = 0, **kwargs: Any) -> nn.Module:
    """torchvision's `name` with random weights (nothing downloaded), eval mode, small
    images (``min_size`` / ``max_size``) and construction choices that make random
    weights give non-trivial detections whose number differs between images:

    - the RPN's pre-NMS top-n per level at 30 % of its post-NMS cap (300 for the usual
      1000, 45 for the 320 model's 150): its NMS then keeps fewer than the cap, a count
      that depends on the image;
    - a backbone whose features vanish (MobileNet-v3: random weights with fresh BatchNorm
      statistics shrink every block's output) is renormalised: its BatchNorm statistics
      measured on :data:`CALIBRATION_SIZES` images (what training sets), and the box
      classifier scaled to a logit spread of :data:`LOGIT_SPREAD` with every class
      centred on those images' RoIs (otherwise the uniform logits tie every score);
    - ``box_score_thresh`` set so that the calibration images keep
      :data:`CALIBRATION_DETECTIONS` detections each on average (the default 0.05 lets
      the 100-detection cap through on every image). One calibration image unless the
      backbone was renormalised: statistics measured on one image make only that image
      typical.

    Deterministic for a given `seed`; `kwargs` override torchvision's arguments (an
    explicit ``box_score_thresh`` skips the threshold calibration)."""
    from torchvision.models import detection

    torch.manual_seed(seed)
    options = {"weights": None, "weights_backbone": None, "min_size": min_size,
               "max_size": max_size, "box_score_thresh": 0.0}
    options.update(kwargs)
    model = getattr(detection, name)(**options).eval()
    if "rpn_pre_nms_top_n_test" not in kwargs:
        rpn = model.rpn
        rpn._pre_nms_top_n["testing"] = rpn._post_nms_top_n["testing"] * 3 // 10
    calibration = smooth_images(CALIBRATION_SIZES, seed=seed + 100)
    with torch.no_grad():
        renormalised = _renormalise_vanishing_backbone(model, calibration)
        if "box_score_thresh" not in kwargs:
            _calibrate_score_threshold(model, calibration if renormalised
                                       else calibration[:1])
    return model


def _backbone_features(model: nn.Module, images: Sequence[Tensor],
                       ) -> list[tuple[Any, dict[str, Tensor]]]:
    """(transformed image list, FPN features) of each image, one at a time."""
    results = []
    for image in images:
        batch, _ = model.transform([image])
        results.append((batch, model.backbone(batch.tensors)))
    return results


def _renormalise_vanishing_backbone(model: nn.Module, images: Sequence[Tensor]) -> bool:
    """If `model`'s features vanish on `images`, measure its backbone's BatchNorm
    statistics on them (cumulative average) and rescale and centre the box classifier's
    logits over their RoIs; True when it did."""
    features = _backbone_features(model, images[:1])[0][1]
    if max(float(f.abs().max()) for f in features.values()) >= VANISHING_FEATURES:
        return False
    norms = [m for m in model.backbone.modules()
             if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # cumulative average over all calibration images
        norm.train()
    _backbone_features(model, images)
    for norm in norms:
        norm.momentum = 0.1
        norm.eval()
    heads = model.roi_heads
    box_features = []
    for batch, maps in _backbone_features(model, images):
        proposals, _ = model.rpn(batch, maps)
        box_features.append(heads.box_head(heads.box_roi_pool(maps, proposals,
                                                                batch.image_sizes)))
    roi_features = torch.cat(box_features)
    classifier = heads.box_predictor.cls_score
    spread = float(classifier(roi_features).std(dim=0).mean())
    classifier.weight.mul_(LOGIT_SPREAD / spread)
    classifier.bias.copy_(-(roi_features @ classifier.weight.T).mean(dim=0))
    return True


def _calibrate_score_threshold(model: nn.Module, images: Sequence[Tensor]) -> None:
    """``score_thresh`` = the score that keeps CALIBRATION_DETECTIONS per image of
    `images` on average (their detections pooled, no per-image cap)."""
    heads = model.roi_heads
    cap, heads.detections_per_img = heads.detections_per_img, 1000
    try:
        scores = torch.cat([model([image])[0]["scores"] for image in images])
    finally:
        heads.detections_per_img = cap
    keep = CALIBRATION_DETECTIONS * len(images)
    if len(scores) > keep:
        heads.score_thresh = float(scores.sort(descending=True).values[keep - 1])


def smooth_images(sizes: Sequence[tuple[int, int]], seed: int = 1) -> list[Tensor]:
    """Random [3, H, W] images in [0, 1], bilinearly upsampled from 1/8 resolution:
    smooth enough that a random backbone gives confident, well-separated detections."""
    generator = torch.Generator().manual_seed(seed)
    images = []
    for height, width in sizes:
        coarse = torch.rand(1, 3, max(height // 8, 2), max(width // 8, 2), generator=generator)
        images.append(torch.nn.functional.interpolate(coarse, size=(height, width),
                                                      mode="bilinear")[0])
    return images


@dataclass
class DetectorParity:
    """ORT vs eager on one image: counts and the max abs error of every output."""

    size: tuple[int, int]
    eager_count: int
    ort_count: int
    proposals: int
    errors: dict[str, float] = field(default_factory=dict)
    tolerances: dict[str, float] = field(default_factory=dict)
    order_ok: bool = True
    eager_ms: float = 0.0
    ort_ms: float = 0.0

    @property
    def passed(self) -> bool:
        return (self.eager_count == self.ort_count and self.order_ok
                and all(self.errors[k] <= self.tolerances[k] for k in self.errors))


def compare_detections(names: Sequence[str], eager: Sequence[Tensor],
                       ort: Sequence[np.ndarray]) -> tuple[bool, dict[str, float],
                                                          dict[str, float]]:
    """(order ok, max abs errors, tolerances) of ORT's detections vs eager's, same
    count assumed. ORT's detection i must be eager's i unless their scores tie
    (:data:`TIE`); then it is compared with the tied eager detection that it matches."""
    ref = {n: t.detach().double().numpy() for n, t in zip(names, eager, strict=True)}
    out = {n: np.asarray(a, dtype=np.float64) for n, a in zip(names, ort, strict=True)}
    count = len(ref["scores"])
    order = np.arange(count)
    order_ok = True
    for i in range(count):
        if ref["labels"][i] == out["labels"][i] and _close(ref, out, i, i):
            continue
        tied = [j for j in range(count) if abs(ref["scores"][j] - out["scores"][i]) <= TIE
                and ref["labels"][j] == out["labels"][i] and _close(ref, out, j, i)]
        if not tied or abs(ref["scores"][tied[0]] - ref["scores"][i]) > TIE:
            order_ok = False
        else:
            order[i] = tied[0]
    errors, tolerances = {}, {}
    for name in names:
        if name == "labels":
            errors[name] = float(np.abs(out[name] - ref[name][order]).max()) if count else 0.0
            tolerances[name] = 0.0
            continue
        wanted = ref[name][order]
        errors[name] = float(np.abs(out[name] - wanted).max()) if count else 0.0
        magnitude = float(np.abs(wanted).max()) if count else 0.0
        tolerances[name] = TOLERANCE[name] * max(1.0, magnitude)
    return order_ok, errors, tolerances


def _close(ref: dict[str, np.ndarray], out: dict[str, np.ndarray], j: int, i: int) -> bool:
    scale = max(1.0, float(np.abs(ref["boxes"]).max()))
    return bool(np.abs(ref["boxes"][j] - out["boxes"][i]).max() <= TOLERANCE["boxes"] * scale)


def run_parity(model: nn.Module, proto: onnx.ModelProto | str, images: Sequence[Tensor],
               *, repeats: int = 0) -> list[DetectorParity]:
    """Run the exported `proto` in ONNX Runtime (roipool's library) and eager torchvision
    on every image and compare. Eager detections are torchvision's own forward
    (checked equal to :class:`DetectorGraph`'s, whose masks are at RoI resolution).
    With `repeats` > 0 also times both (medians, interleaved)."""
    from roipool.runtime.ort import create_session

    session = create_session(proto.SerializeToString() if isinstance(proto, onnx.ModelProto)
                             else proto)
    names = detector_output_names(model)
    graph = DetectorGraph(model).eval()
    proposals: list[int] = []
    hook = model.rpn.register_forward_hook(lambda m, i, o: proposals.append(len(o[0][0])))
    results = []
    try:
        for image in images:
            with torch.no_grad():
                eager = graph(image)
                tv = model([image])[0]
            _check_graph_is_torchvision(names, eager, tv)
            feeds = {"image": image.numpy()}
            ort = session.run(None, feeds)
            result = DetectorParity(tuple(image.shape[-2:]), len(eager[0]), len(ort[0]),
                                    proposals[-1])
            if result.eager_count == result.ort_count:
                result.order_ok, result.errors, result.tolerances = compare_detections(
                    names, eager, ort)
            if repeats:
                result.eager_ms, result.ort_ms = _latencies(
                    lambda image=image: model([image]),
                    lambda feeds=feeds: session.run(None, feeds), repeats)
            results.append(result)
    finally:
        hook.remove()
    return results


def _check_graph_is_torchvision(names: Sequence[str], graph: Sequence[Tensor],
                                torchvision: dict[str, Tensor]) -> None:
    """DetectorGraph runs torchvision's own steps: same detections as its forward."""
    for name, value in zip(names, graph, strict=True):
        if name != "masks" and not torch.equal(value, torchvision[name]):
            raise AssertionError(f"DetectorGraph's {name} differ from torchvision's forward")


def _latencies(eager: Any, ort: Any, repeats: int) -> tuple[float, float]:
    """Median ms of eager and ORT, interleaved, after one warm-up each."""
    eager_times, ort_times = [], []
    with torch.no_grad():
        eager()
        ort()
        for _ in range(repeats):
            for run, times in ((eager, eager_times), (ort, ort_times)):
                start = time.perf_counter()
                run()
                times.append((time.perf_counter() - start) * 1e3)
    return float(np.median(eager_times)), float(np.median(ort_times))


def quiet_export(model: nn.Module, *, dynamo: bool,
                 example_size: tuple[int, int] = (240, 320)) -> onnx.ModelProto:
    """:func:`roipool.export.export_detector` with the exporters' warnings and log
    output silenced (they print pages of deprecation and graph-break notes per model)."""
    import logging
    import warnings

    from roipool.export._detectors import export_detector

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logging.disable(logging.WARNING)
        try:
            return export_detector(model, dynamo=dynamo, example_size=example_size)
        finally:
            logging.disable(logging.NOTSET)


def detector_demo(name: str, *, dynamo: bool = True, repeats: int = 5,
                  sizes: Sequence[tuple[int, int]] = ((300, 260), (200, 400), (333, 251)),
                  ) -> bool:
    """Export torchvision's `name` (random weights) whole, run it in ONNX Runtime with
    roipool on images of other sizes than the traced one, and print detection parity
    and latency against eager torchvision. True when every image matches."""
    exporter = "dynamo" if dynamo else "TorchScript"
    print(f"torchvision {name} (random weights, min_size 256, max_size 384): exporting "
          f"images -> detections with the {exporter} exporter ...", flush=True)
    model = random_detector(name)
    start = time.perf_counter()
    proto = quiet_export(model, dynamo=dynamo)
    print(f"  exported in {time.perf_counter() - start:.1f} s; running ONNX Runtime "
          f"(libroipool_ort) vs eager torchvision", flush=True)
    results = run_parity(model, proto, smooth_images(sizes), repeats=repeats)
    print(f"  {'image':>9s} {'proposals':>9s} {'detections':>16s} {'max |d box|':>11s} "
          f"{'max |d score|':>13s} {'eager ms':>9s} {'ORT ms':>8s}  status")
    for r in results:
        counts = f"{r.eager_count} / {r.ort_count}"
        print(f"  {r.size[0]:4d}x{r.size[1]:<4d} {r.proposals:9d} {counts:>16s} "
              f"{r.errors.get('boxes', float('nan')):11.2e} "
              f"{r.errors.get('scores', float('nan')):13.2e} {r.eager_ms:9.1f} "
              f"{r.ort_ms:8.1f}  {'ok' if r.passed else 'FAIL'}")
    return all(r.passed for r in results)
