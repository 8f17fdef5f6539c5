"""eye_tracking: whether faces face the camera, and with open eyes.

Facing the camera, not gaze. A face faces the camera when its head points at the lens: yunet:
the nose tip lies within YAW_MAX inter-ocular distances of the eyes' midpoint along the eye line
(about ±20° of yaw); lbp_cascade: every detection (the cascade only finds near-frontal faces).
Head pitch (looking down at a phone) and where the eyes point inside the head are NOT measured.
When actors.faces.EYE_STATE_MODEL's weights are present, an open/closed-eye classifier reads
both eyes of each face (crops from the landmarks, or from the cascade box's usual eye
positions); without them eye state is not measured and the summary says so. That model was
trained on close-ups of single eyes, not on eyes cropped from video frames: check it on your
footage before trusting blink counts. Eye contact = facing with the eyes not seen closed.

Faces are detected and tracked as pipeline/analyzers/faces.py says. Segments: "shot" per shot
(face_share, facing_share, eye_contact_share: shares of its sampled frames with a face / a
facing face / a face in eye contact), "face" per track (its facing and eye-contact shares),
"stare" per run of STARE_MIN_S or more of one track in eye contact on consecutive sampled frames
(no frame missed or seen with closed eyes: "blink-free" only as far as the 0.1 s sampling and
the eye classifier see). The summary's shares are over the sampled frames in shots (a fade or
dissolve between shots is in none); it counts blinks (eyes seen closed for at most BLINK_MAX_S
between open frames of a facing track) when eye state is measured.
"""

from __future__ import annotations


import numpy as np
from pydantic import ConfigDict, Field

from actors.faces import EYE_STATE_MODEL, YUNET, Detections, FaceReading, Regions, open_column
from pipeline.analyzer import Context, Findings, FrameBatch, Partials
from pipeline.analyzers.faces import FACES, FaceAnalyzer, FacePartial, face_tracks, gather
from pipeline.analyzers.shots import ShotsFrom, rounded
from pipeline.schema import Segment, SegmentData, Summary

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


class EyeTrackingSegment(SegmentData):
    """A shot (labelled "shot"), a face track ("face") or a stare ("stare"); a field of another
    label is None."""

    model_config = ConfigDict(extra="forbid")

    index: int | None = Field(None, description="shot: its index in the video, from 0")
    track: int | None = Field(None, description="face, stare: the face track's number, from 0 in order of appearance")
    box: list[float] | None = Field(
        None, description="face: the track's median box [x1, y1, x2, y2] (fractions of width and height)"
    )
    frames: int | None = Field(
        None, description="shot: its sampled frames; face: sampled frames the face was detected on (count)"
    )
    face_share: float | None = Field(None, description="shot: share of its sampled frames with a tracked face (0-1)")
    facing_share: float | None = Field(
        None,
        description="shot: share of its sampled frames with a face facing the camera; "
        "face: share of its detections facing it (0-1)",
    )
    eye_contact_share: float | None = Field(
        None,
        description="shot: share of its sampled frames with a face in eye contact; "
        "face: share of its detections in eye contact (0-1)",
    )
    eyes_closed_share: float | None = Field(
        None, description="face: share of its detections with the eyes seen closed (0-1); None when eye state is not measured"
    )
    blinks: int | None = Field(None, description="face: its blinks (count); None when eye state is not measured")
    seconds: float | None = Field(None, description="stare: its length (s)")


class EyeTrackingSummary(Summary):
    model_config = ConfigDict(extra="forbid")

    method: str = Field(..., description="what is measured, in words")
    detector: str = Field(..., description="the face detector that ran, and which file or why")
    eye_state: str = Field(..., description="the eye-state classifier (hub id), or why eye state was not measured")
    sample_fps: float = Field(..., description="sampled frames per second of video (1/s)")
    shots_from: ShotsFrom = Field(
        ..., description="where the shots came from: cut_analysis, or the whole video as one shot"
    )
    face_tracks: int = Field(..., description="face tracks in the video (count)")
    face_share: float = Field(..., description="share of the sampled frames in shots with a tracked face (0-1)")
    facing_share: float = Field(..., description="share of them with a face facing the camera (0-1)")
    eye_contact_share: float = Field(..., description="share of them with a face in eye contact (0-1)")
    stare_count: int = Field(..., description="stares: runs of one face in eye contact of stare_min_s or more (count)")
    stare_min_s: float = Field(..., description="the shortest run that counts as a stare (s)")
    longest_stare_s: float | None = Field(..., description="the longest stare (s); None without one")
    blinks: int | None = Field(..., description="blinks of every facing track (count); None when eye state is not measured")
    blinks_per_minute: float | None = Field(
        ..., description="blinks per minute of facing faces whose eyes were read (1/min); None when not measured or no such face"
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


def _read_rows(faces: Detections) -> np.ndarray:
    """The faces whose eyes are read: eye crops of EYE_MIN_PX or more."""
    return np.flatnonzero(eye_regions(faces)[1] >= EYE_MIN_PX)


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


class EyeTracking(FaceAnalyzer):
    """Faces facing the camera (head yaw from the landmarks), eye contact, stares and blinks per shot and face track."""

    name = "eye_tracking"
    weights = (YUNET, EYE_STATE_MODEL)
    summary_type = EyeTrackingSummary
    segment_type = EyeTrackingSegment

    def regions(self, batch: FrameBatch, faces: Detections) -> Regions:
        """Both eyes of each face whose eye crops are EYE_MIN_PX or more, right eye first."""
        centres, sides = eye_regions(faces)
        rows = _read_rows(faces)
        return Regions(np.repeat(faces.frame[rows], 2), centres[rows].reshape(-1, 2), np.repeat(sides[rows], 2))

    def process_frames(self, batch: FrameBatch, predicted: FaceReading) -> FacePartial:
        faces = predicted.faces
        opened = np.full(len(faces.frame), np.nan, np.float32)
        read = predicted.classified.get(self.name)
        if read is None:
            note = f"not measured: weights {EYE_STATE_MODEL.source} not found at {self.local(EYE_STATE_MODEL).path}"
            return FacePartial(faces, opened, (), note)
        opened[_read_rows(faces)] = read.probabilities[:, open_column(read.labels)].reshape(-1, 2).mean(axis=1)
        return FacePartial(faces, opened, read.labels, EYE_STATE_MODEL.source)

    def finalize(self, partials: Partials, context: Context) -> Findings:
        faces, opened, first = gather(partials)
        found = face_tracks(faces, context)
        measured = bool(first.labels)
        facing = facing_camera(faces.landmarks, faces.size)
        closed = opened < EYES_OPEN  # NaN (not read) compares False: not seen closed
        contact = facing & ~closed
        kept = found.track_of >= 0
        n = len(faces.times)
        # Per sampled frame: some tracked face / a facing one / one in eye contact.
        with_any = [np.bincount(faces.frame[kept & mask], minlength=n) > 0 for mask in (kept, facing, contact)]
        step = found.interval

        segments = []
        for index, (start, end) in enumerate(found.shots.shots):
            inside = found.shot_of == index
            data = EyeTrackingSegment(index=index, frames=int(inside.sum()), **_shares(inside, *with_any))
            segments.append(Segment(start_s=start, end_s=end, label="shot", data=data))
        blinks = 0
        stare_spans = []
        for t in found.tracks:
            times = faces.times[faces.frame[t.rows]]
            spans, track_blinks = stares_and_blinks(times, facing[t.rows], closed[t.rows], step)
            blinks += track_blinks
            stare_spans += [(a, b, t.id) for a, b in spans]
            data = EyeTrackingSegment(
                track=t.id,
                box=t.box,
                frames=len(t.rows),
                facing_share=rounded(facing[t.rows].mean(), 3),
                eye_contact_share=rounded(contact[t.rows].mean(), 3),
                eyes_closed_share=rounded(closed[t.rows].mean(), 3) if measured else None,
                blinks=track_blinks if measured else None,
            )
            segments.append(Segment(start_s=t.start_s, end_s=t.end_s, label="face", data=data))
        end_of_video = max(context.video.duration_s, float(faces.times[-1]))
        stare_lengths = []
        for start, end, number in sorted(stare_spans):
            end = min(end, end_of_video)
            stare_lengths.append(end - start)
            data = EyeTrackingSegment(track=number, seconds=rounded(end - start, 3))
            segments.append(Segment(start_s=rounded(start), end_s=rounded(end), label="stare", data=data))
        facing_minutes = float(np.count_nonzero(kept & facing & ~np.isnan(opened))) * step / 60.0
        return Findings(
            segments=segments,
            summary=EyeTrackingSummary(
                method=EYE_METHOD,
                detector=faces.detector,
                eye_state=first.note,
                sample_fps=FACES.fps,
                shots_from=found.shots.shots_from,
                face_tracks=len(found.tracks),
                **_shares(found.shot_of >= 0, *with_any),
                stare_count=len(stare_spans),
                stare_min_s=STARE_MIN_S,
                longest_stare_s=rounded(max(stare_lengths), 3) if stare_lengths else None,
                blinks=blinks if measured else None,
                blinks_per_minute=rounded(blinks / facing_minutes, 2) if measured and facing_minutes > 0 else None,
            ),
        )


def _shares(inside: np.ndarray, with_face: np.ndarray, with_facing: np.ndarray, with_contact: np.ndarray) -> dict[str, float]:
    frames = max(int(inside.sum()), 1)
    return {
        "face_share": rounded(np.count_nonzero(inside & with_face) / frames, 3),
        "facing_share": rounded(np.count_nonzero(inside & with_facing) / frames, 3),
        "eye_contact_share": rounded(np.count_nonzero(inside & with_contact) / frames, 3),
    }
