"""Faces: who is on screen, how old they look, and whether they face the camera.

Both analyzers read the same frames (FACES: 10 a second at 640 px), run in one worker pool
(family "faces") and share one face detector per process; on a batch both read, faces are
detected once.

Detection (pipeline/analyzers/face_detection.py; the summary's `detector` says which ran, and
which file or why)
    yunet         OpenCV's YuNet when a face_detection_yunet_*.onnx release is in the models
                  directory (2023mar and 2026may are pinned by SHA-256): a box and five landmarks
                  per face, frontal or turned. A YuNet file there that is not a model fails both
                  analyzers with one line (path, expected, found, fix); it never falls back.
    lbp_cascade   when no YuNet file is there: scikit-image's LBP frontal-face cascade.
                  Near-frontal, upright faces only, no landmarks.
    The document's `models` names the detector that ran (YuNet: file and SHA-256) and the ViTs.

Tracks (pipeline/analyzers/face_tracks.py)
    Detections are linked over time by IoU, never across a shot boundary (cut_analysis's shots;
    the whole video when it did not run); flickers are dropped. There is no identity matching:
    one person in two shots is two tracks. A "face" segment spans a track; data.box is its median
    box as fractions [x1, y1, x2, y2] of the frame's width and height.

age_estimation (pipeline/analyzers/face_age.py)
    Apparent age, not true age: an image classifier with age buckets (AGE_MODEL, by default
    nateraw/vit-age-classifier: 0-2, 3-9, ..., 60-69, more than 70) reads a square crop around
    each face (AGE_MARGIN added on every side) on the first frame of every AGE_STEP_S, faces of
    AGE_MIN_FACE_PX or more; one forward per chunk of crops. A track's bucket probabilities are
    averaged over its crops; its segment says the top bucket and its probability, and the
    shortest run of neighbouring buckets holding RANGE_MASS of the probability (age_range, e.g.
    "20-39", with range_probability): a range, never a single number of years. Without the
    classifier's weights the analyzer is skipped (reporting faces without ages would pass off a
    detector as an age estimate). The model's biases (its training data: FairFace-style crops)
    carry over; make-up, filters, lighting and low resolution move apparent age.

eye_tracking
    Facing the camera, not gaze. A face faces the camera when its head points at the lens:
    yunet: the nose tip lies within YAW_MAX inter-ocular distances of the eyes' midpoint along
    the eye line (about ±20° of yaw); lbp_cascade: every detection (the cascade only finds near-
    frontal faces). Head pitch (looking down at a phone) and where the eyes point inside the head
    are NOT measured. When EYE_STATE_MODEL's weights are present, an open/closed-eye classifier
    reads both eyes of each face (crops from the landmarks, or from the cascade box's usual eye
    positions); without them eye state is not measured and the summary says so. That model was
    trained on close-ups of single eyes, not on eyes cropped from video frames: check it on your
    footage before trusting blink counts. Eye contact = facing with the eyes not seen closed.
    Segments: "shot" per shot (face_share, facing_share, eye_contact_share: shares of its sampled
    frames with a face / a facing face / a face in eye contact), "face" per track (its facing and
    eye-contact shares), "stare" per run of STARE_MIN_S or more of one track in eye contact on
    consecutive sampled frames (no frame missed or seen with closed eyes: "blink-free" only as
    far as the 0.1 s sampling and the eye classifier see). The summary counts blinks (eyes seen
    closed for at most BLINK_MAX_S between open frames of a facing track) when eye state is measured.
"""

from __future__ import annotations

import numpy as np

from pipeline.analyzer import Analyzer, Context, FrameBatch, Findings, Partials, Resources
from pipeline.analyzers.face_age import AgeEstimation, ImageClassifier
from pipeline.analyzers.face_detection import FACES, YUNET, Detections, detect_faces, face_detector, square_crop
from pipeline.analyzers.face_tracks import FacePartial, face_tracks, gather, sample_step, shot_of
from pipeline.models import Weights
from pipeline.schema import Segment

__all__ = ["AgeEstimation", "EyeTracking"]  # the registry's class paths: pipeline.analyzers.faces:<name>

EYE_STATE_MODEL = Weights(
    name="closed_eyes_image_detection", source="dima806/closed_eyes_image_detection", optional=True
)

YAW_MAX = 0.18  # nose offset / inter-ocular distance; ~0.5 * tan(yaw) for an average face
EYE_CROP = 0.6  # side of an eye crop, in inter-ocular distances
CASCADE_EYES = ((0.3, 0.38), (0.7, 0.38))  # where the eyes sit in a cascade box, as fractions of it
EYE_MIN_PX = 12
EYES_OPEN = 0.5  # open-eye probability (mean of both eyes) under which the eyes count as closed
STARE_MIN_S = 2.0
BLINK_MAX_S = 0.5

EYE_METHOD = (
    "facing the camera, not gaze: a face counts as facing when the head points at the lens "
    f"(yunet: yaw proxy from the landmarks within {YAW_MAX}; lbp_cascade: any detection, it finds near-frontal "
    "faces only); head pitch and where the eyes point within the head are not measured. Eye contact = facing "
    "with the eyes not seen closed by the eye-state classifier. Blinks shorter than the sampling step can be missed."
)


def yaw_proxy(landmarks: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(m,) signed offset of the nose tip from the eyes' midpoint along the eye line, in inter-
    ocular distances: about 0.5 * tan(yaw) for an average face; NaN without landmarks."""
    points = landmarks * np.array(size, np.float32)
    right_eye, left_eye, nose = points[:, 0], points[:, 1], points[:, 2]
    axis = left_eye - right_eye
    distance = np.linalg.norm(axis, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        offset = np.sum((nose - (right_eye + left_eye) / 2) * axis, axis=1) / np.maximum(distance, 1e-6) ** 2
    return np.where(distance > 0, offset, np.nan)


def facing_camera(landmarks: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(m,) whether each face points at the lens: within YAW_MAX by its landmarks; a face found
    without landmarks (the frontal cascade) faces the camera by construction."""
    yaw = yaw_proxy(landmarks, size)
    return np.where(np.isnan(yaw), True, np.abs(yaw) <= YAW_MAX)


def eye_regions(faces: Detections) -> tuple[np.ndarray, np.ndarray]:
    """Centres (m, 2, 2) of both eyes and the side (m,) of their crops, in pixels."""
    w, h = faces.size
    scale = np.array([w, h], np.float32)
    centres = faces.landmarks[:, :2] * scale
    box = faces.box.reshape(-1, 2, 2) * scale
    guessed = box[:, None, 0] + np.array(CASCADE_EYES, np.float32)[None] * (box[:, None, 1] - box[:, None, 0])
    centres = np.where(np.isnan(centres), guessed, centres)
    return centres, EYE_CROP * np.linalg.norm(centres[:, 1] - centres[:, 0], axis=1)


def runs(flags: np.ndarray, joined: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) indices of every run of True in `flags` whose neighbours are `joined`
    (joined[i]: element i and i + 1 are consecutive)."""
    out, start = [], None
    for i, flag in enumerate(flags):
        if flag and start is not None and not joined[i - 1]:
            out.append((start, i - 1))
            start = None
        if flag and start is None:
            start = i
        if not flag and start is not None:
            out.append((start, i - 1))
            start = None
    if start is not None:
        out.append((start, len(flags) - 1))
    return out


def stares_and_blinks(
    times: np.ndarray, facing: np.ndarray, closed: np.ndarray, step: float
) -> tuple[list[tuple[float, float]], int]:
    """One track's detections (in time order): the spans of eye contact (facing, eyes not seen
    closed) on consecutive sampled frames lasting STARE_MIN_S or more, and the blinks (eyes seen
    closed for at most BLINK_MAX_S between open frames of one facing run)."""
    joined = np.diff(times) <= 1.5 * step
    stares = []
    for first, last in runs(facing & ~closed, joined):
        if times[last] + step - times[first] >= STARE_MIN_S - 1e-9:
            stares.append((float(times[first]), float(times[last] + step)))
    blinks = 0
    for first, last in runs(facing, joined):
        for a, b in runs(closed[first : last + 1], joined[first:last]):
            inside = first + a > first and first + b < last  # open frames on both sides
            if inside and (b - a + 1) * step <= BLINK_MAX_S + 1e-9:
                blinks += 1
    return stares, blinks


class EyeTracking(Analyzer):
    name = "eye_tracking"
    frames = FACES
    after = ("cut_analysis",)
    in_decoder = False
    resources = Resources(cpus=1.0, gpu_memory_gb=1.0)  # the ViT-B/16 eye-state classifier in fp16
    weights = (YUNET, EYE_STATE_MODEL)

    def setup(self) -> None:
        self.detector = face_detector(self.name)
        self.detector.record(self)
        self.eye_state: ImageClassifier | None = None
        self.note = f"not measured: weights {EYE_STATE_MODEL.source} not found at {EYE_STATE_MODEL.path}"
        if EYE_STATE_MODEL.present():
            self.eye_state = ImageClassifier(EYE_STATE_MODEL.path)
            self.eye_state.record(self, EYE_STATE_MODEL)
            opened = [i for i, label in enumerate(self.eye_state.labels) if "open" in label.lower()]
            if len(opened) != 1:
                raise ValueError(f"{EYE_STATE_MODEL.path}: no single 'open' label in {self.eye_state.labels}")
            self.open_column = opened[0]
            self.note = EYE_STATE_MODEL.source

    def process_frames(self, batch: FrameBatch) -> FacePartial:
        faces = detect_faces(batch, self.detector)
        opened = np.full(len(faces.frame), np.nan, np.float32)
        if self.eye_state is not None and len(faces.frame):
            centres, sides = eye_regions(faces)
            rows = np.flatnonzero(sides >= EYE_MIN_PX)
            crops = [
                square_crop(batch.frames[faces.frame[i]], tuple(centres[i, eye]), sides[i]) for i in rows for eye in (0, 1)
            ]
            if crops:
                both = self.eye_state(crops)[:, self.open_column].reshape(-1, 2)
                opened[rows] = both.mean(axis=1)
        return FacePartial(faces, opened, self.eye_state.labels if self.eye_state else (), self.note)

    def finalize(self, partials: Partials, context: Context) -> Findings:
        faces, opened, first = gather(partials)
        track, tracks, shots, shots_from = face_tracks(faces, context)
        measured = bool(first.labels)
        facing = facing_camera(faces.landmarks, faces.size)
        closed = opened < EYES_OPEN  # NaN (not read) compares False: not seen closed
        contact = facing & ~closed
        kept = track >= 0
        n = len(faces.times)
        # Per sampled frame: some tracked face / a facing one / one in eye contact.
        with_any = [np.bincount(faces.frame[kept & mask], minlength=n) > 0 for mask in (kept, facing, contact)]
        step = sample_step(faces.times)

        segments = []
        frame_shot = shot_of(faces.times, shots)
        for index, (start, end) in enumerate(shots):
            inside = frame_shot == index
            segments.append(
                Segment(
                    start_s=start,
                    end_s=end,
                    label="shot",
                    data={"index": index, "frames": int(inside.sum()), **_shares(inside, *with_any)},
                )
            )
        blinks = 0
        stare_spans = []
        for t in tracks:
            times = faces.times[faces.frame[t.rows]]
            spans, track_blinks = stares_and_blinks(times, facing[t.rows], closed[t.rows], step)
            blinks += track_blinks
            stare_spans += [(a, b, t.id) for a, b in spans]
            segments.append(
                Segment(
                    start_s=t.start_s,
                    end_s=t.end_s,
                    label="face",
                    data={
                        "track": t.id,
                        "box": t.box,
                        "frames": len(t.rows),
                        "facing_share": round(float(facing[t.rows].mean()), 3),
                        "eye_contact_share": round(float(contact[t.rows].mean()), 3),
                        "eyes_closed_share": round(float(closed[t.rows].mean()), 3) if measured else None,
                        "blinks": track_blinks if measured else None,
                    },
                )
            )
        end_of_video = max(context.video.duration_s, float(faces.times[-1]))
        stare_lengths = []
        for start, end, number in sorted(stare_spans):
            end = min(end, end_of_video)
            stare_lengths.append(end - start)
            data = {"track": number, "seconds": round(end - start, 3)}
            segments.append(Segment(start_s=round(start, 4), end_s=round(end, 4), label="stare", data=data))
        facing_minutes = float(np.count_nonzero(kept & facing & ~np.isnan(opened))) * step / 60.0
        return Findings(
            segments=segments,
            summary={
                "method": EYE_METHOD,
                "detector": faces.detector,
                "eye_state": first.note,
                "sample_fps": FACES.fps,
                "shots_from": shots_from,
                "face_tracks": len(tracks),
                **_shares(np.ones(n, bool), *with_any),
                "stare_count": len(stare_spans),
                "stare_min_s": STARE_MIN_S,
                "longest_stare_s": round(max(stare_lengths), 3) if stare_lengths else None,
                "blinks": blinks if measured else None,
                "blinks_per_minute": round(blinks / facing_minutes, 2) if measured and facing_minutes > 0 else None,
            },
        )


def _shares(inside: np.ndarray, with_face: np.ndarray, with_facing: np.ndarray, with_contact: np.ndarray) -> dict:
    frames = max(int(inside.sum()), 1)
    return {
        "face_share": round(float(np.count_nonzero(inside & with_face)) / frames, 3),
        "facing_share": round(float(np.count_nonzero(inside & with_facing)) / frames, 3),
        "eye_contact_share": round(float(np.count_nonzero(inside & with_contact)) / frames, 3),
    }
