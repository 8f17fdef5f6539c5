"""Short-form formats, as far as the measures reelscope already takes can see them: a split
screen (camera_analysis's frames), a stitch (cut_analysis's shots and the face tracks) and a
green-screen-style explainer (background_segmentation's masks). Each is a typed answer with the
figures it came from and a `basis` saying what it can and cannot tell.

Split screen. On each frame camera_analysis measures (about ten a second, grey, 256 px) the seam
strength across the centre line, down the middle (side by side) and across it (top and bottom):
the mean step in grey level over two pixels across the line (the largest within a pixel of it)
over the median of the same step at SEAM_REACH pixels on either side. Two unrelated pictures
meeting there make a step the picture around does not (SEAM_MIN times or more); one picture
makes none. Independent motion, per pair of measured frames: the two halves' tracks, left after
the camera's own fitted motion, move apart (their median residuals HALVES_APART or more apart),
or one half changes on its own (its mean grey change ALONE_MIN or more, the other's at most
ALONE_RATIO of it: a cut in one half). A layout is found when the seam persists (SEAM_PERSISTENT
of the measured frames) and the halves move independently on INDEPENDENT_MIN of the pairs.

Stitch: the first shot boundary is a hard cut STITCH_MIN_S to STITCH_MAX_S (TikTok's stitch
clip lasts at most 5 s) into the video, a face track starts within FACE_WITHIN_S after it, and
faces are on screen for FACE_AFTER_MIN of the time after it.

Green screen: a shot whose background is still (median background change under STILL_BELOW:
a picture that no light, noise or camera moves) while a person covers PERSON_MIN of the picture
in PERSON_SAMPLES of its samples and moves (median change inside the person mask PERSON_MOVES or
more).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from pipeline.analyzers.shots import rounded
from pipeline.schema import AnalyzerResult

SEAM_REACH = 6  # px at 256: where the picture around the centre line is sampled
SEAM_FLOOR = 2.0  # grey levels: the step of a flat picture, so that a seam between flat halves still shows
SEAM_MIN = 2.0
SEAM_PERSISTENT = 0.8
HALVES_APART = 0.01  # frame widths over a pair (about 2.5 px at 256, ten pairs a second)
MIN_HALF_TRACKS = 4
ALONE_MIN = 12.0  # grey levels of mean change
ALONE_RATIO = 0.25
INDEPENDENT_MIN = 0.1

STITCH_MIN_S, STITCH_MAX_S = 0.5, 5.0
FACE_WITHIN_S = 1.0
FACE_AFTER_MIN = 0.5

STILL_BELOW = 0.02
PERSON_MIN = 0.05
PERSON_SAMPLES = 0.8
PERSON_MOVES = 0.02

Layout = Literal["side_by_side", "top_bottom"]
AXES: tuple[Layout, ...] = ("side_by_side", "top_bottom")

SPLIT_BASIS = (
    f"a seam down or across the centre of the picture on {SEAM_PERSISTENT:.0%} of the measured frames "
    f"(a step in grey level {SEAM_MIN:g}x the picture's around it) and halves moving on their own (tracks apart "
    f"after the camera's motion, or one half changing alone) on {INDEPENDENT_MIN:.0%} of the frame pairs. It cannot "
    "see a split off the centre, a split of two still pictures or two halves alike at the seam, nor tell a duet "
    "from a reaction or a side-by-side comparison"
)
STITCH_BASIS = (
    f"the shape of a stitch only: a hard cut {STITCH_MIN_S:g}-{STITCH_MAX_S:g} s in, a face appearing within "
    f"{FACE_WITHIN_S:g} s of it and on screen for {FACE_AFTER_MIN:.0%} of the rest. It cannot tell borrowed "
    "footage from the creator's own opening shot, nor read the platform's stitch label"
)
GREEN_BASIS = (
    f"shots whose background does not change at all (under {STILL_BELOW:.0%} of it between samples) behind a person "
    f"who moves and covers {PERSON_MIN:.0%} of the picture or more. It cannot tell a composited image from a tripod "
    "shot in front of a still scene, and misses a composited video background"
)


class SplitScreen(BaseModel):
    """A split-screen layout (duet side by side, top/bottom reaction) from a persistent seam and
    independent halves."""

    model_config = ConfigDict(extra="forbid")

    layout: Layout | None = Field(..., description="the layout found (None: no split screen seen)")
    seam_share: dict[Layout, float] | None = Field(
        ..., description="per layout, share of the measured frames with a seam on its centre line (0-1; None: none measured)"
    )
    independent_share: dict[Layout, float] | None = Field(
        ..., description="per layout, share of the frame pairs whose halves moved or changed on their own (0-1)"
    )
    frames_measured: int = Field(..., description="frames whose seams were measured (count)")
    basis: str = Field(SPLIT_BASIS, description="what the detector rests on and what it cannot tell")


class Stitch(BaseModel):
    """A stitch: a borrowed opening clip, then a cut to the creator, as far as cuts and faces show it."""

    model_config = ConfigDict(extra="forbid")

    likely: bool | None = Field(..., description="the video has a stitch's shape (None: not measurable, see reason)")
    opening_s: float | None = Field(..., description="length of the first shot (s; None: one shot, or no cut_analysis)")
    opens_with_cut: bool | None = Field(..., description="the first shot ends in a hard cut (not a fade or dissolve)")
    first_face_after_cut_s: float | None = Field(
        ..., description="seconds from that cut to the first face track starting after it (s; None: none)"
    )
    face_share_after: float | None = Field(
        ..., description="share of the time after the first shot with a face track on screen (0-1)"
    )
    faces_from: str | None = Field(..., description="the analyzer whose face tracks were read")
    reason: str | None = Field(None, description="why it was not measurable (None: measured)")
    basis: str = Field(STITCH_BASIS, description="what the detector rests on and what it cannot tell")


class GreenScreen(BaseModel):
    """A green-screen-style explainer: a person over a still background picture."""

    model_config = ConfigDict(extra="forbid")

    likely: bool = Field(..., description="such shots fill half the video or more")
    share: float = Field(..., description="share of shot time in such shots (0-1)")
    shots: list[int] = Field(..., description="their indices")
    basis: str = Field(GREEN_BASIS, description="what the detector rests on and what it cannot tell")


def seam_strengths(grey: np.ndarray) -> tuple[float, float]:
    """The seam strength down the middle and across it (see the module's docstring)."""
    return _seam(grey), _seam(grey.T)


def _seam(grey: np.ndarray) -> float:
    """Across the vertical centre line of `grey`."""
    centre = grey.shape[1] // 2
    first = centre - SEAM_REACH - 2
    if first < 0:
        return float("nan")
    band = grey[:, first : centre + SEAM_REACH + 2].astype(np.int16)
    steps = np.abs(band[:, 2:] - band[:, :-2]).mean(axis=0)  # step over two px, centred on band column j + 1
    at = centre - first - 1  # steps index centred on the centre line
    across = steps[at - 1 : at + 2].max()
    around = np.median(np.concatenate([steps[: at - 3], steps[at + 4 :]]))
    return float(across / max(around, SEAM_FLOOR))


def halves_apart(start: np.ndarray, residual: np.ndarray, size: tuple[int, int]) -> tuple[float, float]:
    """Distance (frame widths) between the median residual motion of the left and right halves'
    tracks, and of the top and bottom halves'; NaN where a half has under MIN_HALF_TRACKS."""
    width, height = size
    out = []
    for axis, middle in ((0, width / 2), (1, height / 2)):
        first = start[:, axis] < middle
        if min(first.sum(), (~first).sum()) < MIN_HALF_TRACKS:
            out.append(float("nan"))
            continue
        gap = _middle(residual[first]) - _middle(residual[~first])
        out.append(float(np.hypot(gap[0], gap[1])) / width)
    return out[0], out[1]


def _middle(rows: np.ndarray) -> np.ndarray:
    """The per-column median of a few rows (the upper one of an even count): np.median's
    overhead is ten times the sort's on a handful of tracks."""
    return np.sort(rows, axis=0)[len(rows) // 2]


def half_changes(prev: np.ndarray, cur: np.ndarray) -> tuple[float, float, float, float]:
    """Mean grey change of the left, right, top and bottom halves (grey levels)."""
    change = np.abs(cur.astype(np.int16) - prev).astype(np.float32)
    h, w = change.shape
    return (
        float(change[:, : w // 2].mean()),
        float(change[:, w // 2 :].mean()),
        float(change[: h // 2].mean()),
        float(change[h // 2 :].mean()),
    )


def split_screen(pairs: np.ndarray) -> SplitScreen:
    """The layout from camera_analysis's pairs (fields seam_x, seam_y, apart_x, apart_y and
    change_l, change_r, change_t, change_b)."""
    measured = pairs[np.isfinite(pairs["seam_x"])]
    if not len(measured):
        return SplitScreen(layout=None, seam_share=None, independent_share=None, frames_measured=0)
    seams, independent = {}, {}
    for layout, seam, apart, (a, b) in (
        ("side_by_side", "seam_x", "apart_x", ("change_l", "change_r")),
        ("top_bottom", "seam_y", "apart_y", ("change_t", "change_b")),
    ):
        seams[layout] = float((measured[seam] >= SEAM_MIN).mean())
        big, small = np.maximum(measured[a], measured[b]), np.minimum(measured[a], measured[b])
        alone = (big >= ALONE_MIN) & (small <= ALONE_RATIO * big)
        moved = np.nan_to_num(measured[apart], nan=0.0) >= HALVES_APART
        independent[layout] = float((alone | moved).mean())
    found = [k for k in AXES if seams[k] >= SEAM_PERSISTENT and independent[k] >= INDEPENDENT_MIN]
    return SplitScreen(
        layout=max(found, key=seams.get) if found else None,
        seam_share={k: rounded(v, 3) for k, v in seams.items()},
        independent_share={k: rounded(v, 3) for k, v in independent.items()},
        frames_measured=len(measured),
    )


def face_spans(results: dict[str, AnalyzerResult | None]) -> tuple[str | None, list[tuple[float, float]] | None, str]:
    """The face tracks' spans from eye_tracking (every track), else age_estimation (tracks with a
    crop read): (analyzer, spans, why not when None)."""
    for name in ("eye_tracking", "age_estimation"):
        result = results.get(name)
        if result is not None and result.status.value == "ok":
            return name, [(s.start_s, s.end_s) for s in result.segments if s.label == "face"], ""
    why = "; ".join(
        f"{name} {'did not run' if r is None else r.status.value + ': ' + str(r.reason or r.error)}"
        for name, r in results.items()
    )
    return None, None, f"no face tracks ({why})"


def stitch(cuts: AnalyzerResult | None, faces: dict[str, AnalyzerResult | None], duration_s: float) -> Stitch:
    empty = dict(opening_s=None, opens_with_cut=None, first_face_after_cut_s=None, face_share_after=None)
    if cuts is None:
        return Stitch(likely=None, faces_from=None, reason="no shots: cut_analysis did not succeed", **empty)
    shots = [s for s in cuts.segments if s.label == "shot"]
    source, spans, why = face_spans(faces)
    if len(shots) < 2:  # no cut: no stitch, whatever the faces
        return Stitch(likely=False, faces_from=source, **empty)
    opening = shots[0].end_s
    opens_with_cut = shots[0].data.transition_out == "cut"
    if spans is None:
        return Stitch(likely=None, faces_from=None, reason=why, **{**empty, "opening_s": rounded(opening), "opens_with_cut": opens_with_cut})
    starts = [a for a, _ in spans if a >= opening - 1e-3]
    first_face = min(starts) - opening if starts else None
    rest = duration_s - opening
    covered = _union(spans, opening, duration_s)
    share = covered / rest if rest > 0 else 0.0
    likely = (
        opens_with_cut
        and STITCH_MIN_S <= opening <= STITCH_MAX_S
        and first_face is not None
        and first_face <= FACE_WITHIN_S
        and share >= FACE_AFTER_MIN
    )
    return Stitch(
        likely=bool(likely),
        opening_s=rounded(opening),
        opens_with_cut=opens_with_cut,
        first_face_after_cut_s=rounded(first_face),
        face_share_after=rounded(share, 3),
        faces_from=source,
    )


def _union(spans: list[tuple[float, float]], start: float, end: float) -> float:
    """Seconds of [start, end) inside any span."""
    covered, reach = 0.0, start
    for a, b in sorted(spans):
        a, b = max(a, reach), min(b, end)
        if b > a:
            covered += b - a
            reach = b
    return covered


def green_screen(shot_rows: list[np.ndarray], shots: list[tuple[float, float]], still_pairs: list[np.ndarray]) -> GreenScreen:
    """Per shot: its samples (fields person, person_change) and its clean background changes."""
    found, time = [], 0.0
    total = sum(b - a for a, b in shots) or 1.0
    for i, (rows, changes, (start, end)) in enumerate(zip(shot_rows, still_pairs, shots)):
        if not len(rows) or not len(changes):
            continue
        moving = rows["person_change"][np.isfinite(rows["person_change"])]
        if (
            float(np.median(changes)) < STILL_BELOW
            and float((rows["person"] >= PERSON_MIN).mean()) >= PERSON_SAMPLES
            and len(moving)
            and float(np.median(moving)) >= PERSON_MOVES
        ):
            found.append(i)
            time += end - start
    return GreenScreen(likely=time / total >= 0.5, share=rounded(time / total, 3), shots=found)
