"""What object_detection, body_pose and background_segmentation share: the frames they read and
where their models run.

The three read the same frames (FRAMES: 5 a second, longer side 640 px, decoded once for all
three) and are hosted by one worker per process, the ultralytics family's (actors/yolo.py): its
runtime runs each asked model over a batch in one pass and gives each analyzer its detections
per frame (`actors.yolo.Found`). `process_frames` keeps only those; every decision that needs the
sequence (tracking, gestures, motion, per-shot summaries) is made in `finalize`, without the
model, on the shots and tracks of pipeline/analyzers/tracking.py.

What this cannot tell: anything between the samples (5 a second: a flash of an object, motion
faster than 2.5 Hz); identity across cuts or long occlusions (a person who leaves and comes back
is a new track). Accuracy is the models': the nano models miss small and occluded objects, and
all three see only COCO classes.
"""

from __future__ import annotations

from typing import ClassVar

from pipeline.analyzer import Analyzer, FrameSpec, Resources

FRAMES = FrameSpec(fps=5.0, size=640)  # one spec for the three: the decoder makes the frames once


class YoloAnalyzer(Analyzer):
    frames = FRAMES
    after = ("cut_analysis",)
    # Estimate for yolo11n at 32 x 640x384 in fp16: ~0.3 GB of activations, the rest CUDA context
    # and cuDNN workspace.
    resources = Resources(cpus=1.0, gpu_memory_gb=1.0)
    reads_frame_before: ClassVar[bool] = False  # whether the runtime also runs on the frame before the batch
