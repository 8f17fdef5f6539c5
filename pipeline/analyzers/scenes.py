"""Scenes: runs of shots that look alike, so that shot / reverse-shot stays one scene.

`process_frames` keeps each frame's colour histogram (the HSV histogram cut_analysis uses).
`finalize` averages them per shot, over the frames that belong to that shot alone (not to a fade
or dissolve), and links two shots at most LOOKBACK_SHOTS apart whose average histograms overlap
by SAME_LOOK or more: every shot from the first to the second of a linked pair is in one scene,
so A B A B is one scene and A A B two. Shots come from cut_analysis; when it did not succeed,
the whole video is one shot.

Segments: one "scene" per scene, data {index, shot_indices, shot_count}.
Summary: scene_count, shot_count, average_scene_length_s, shots_from ("cut_analysis" or "whole_video").
"""

from __future__ import annotations

import numpy as np
from pydantic import ConfigDict, Field

from pipeline.analyzer import Analyzer, Context, FrameBatch, Findings, Partials, Skip
from pipeline.analyzers.cuts import FRAMES, colour_histograms, frame_times, sampled_hsv
from pipeline.analyzers.shots import ShotsFrom, during, outside, rounded, shots_and_transitions
from pipeline.schema import Segment, SegmentData, Summary

SAME_LOOK = 0.6  # histogram intersection (0-1) from which two shots show the same place
LOOKBACK_SHOTS = 3  # a shot may rejoin any of the three before it: A B A and A B C A are one scene


class SceneSegmentationSegment(SegmentData):
    model_config = ConfigDict(extra="forbid")

    index: int = Field(..., description="the scene's position among the scenes, from 0")
    shot_indices: list[int] = Field(..., description="cut_analysis's shot indices in the scene, in order")
    shot_count: int = Field(..., description="shots in the scene (count)")


class SceneSegmentationSummary(Summary):
    model_config = ConfigDict(extra="forbid")

    scene_count: int = Field(..., description="scenes (count)")
    shot_count: int = Field(..., description="shots grouped (count)")
    average_scene_length_s: float = Field(..., description="the shots' span over the scenes (s)")
    shots_from: ShotsFrom = Field(..., description="where the shots came from: cut_analysis, or the whole video")


class SceneSegmentation(Analyzer):
    name = "scene_segmentation"
    frames = FRAMES
    after = ("cut_analysis",)
    in_decoder = True
    summary_type = SceneSegmentationSummary
    segment_type = SceneSegmentationSegment

    def process_frames(self, batch: FrameBatch) -> dict[str, np.ndarray]:
        return {"pts": batch.pts_s, "hist": colour_histograms(sampled_hsv(batch.frames))}

    def finalize(self, partials: Partials, context: Context) -> Findings:
        if not partials.frames:
            raise Skip("no video frames decoded")
        pts = np.concatenate([p["pts"] for p in partials.frames])
        hist = np.concatenate([p["hist"] for p in partials.frames]).astype(np.float32)
        cuts = context.ok("cut_analysis")
        times = frame_times(pts, context.video.fps)
        shots, transitions = shots_and_transitions(cuts, (float(times[0]), float(times[-1])))

        unmixed = outside(pts, transitions)
        looks = np.stack([_shot_look(hist, during(pts, shot), unmixed) for shot in shots])
        scenes = _group(looks)
        segments = [
            Segment(
                start_s=shots[members[0]][0],
                end_s=shots[members[-1]][1],
                label="scene",
                data=SceneSegmentationSegment(index=i, shot_indices=members, shot_count=len(members)),
            )
            for i, members in enumerate(scenes)
        ]
        duration = shots[-1][1] - shots[0][0]
        return Findings(
            segments=segments,
            summary=SceneSegmentationSummary(
                scene_count=len(scenes),
                shot_count=len(shots),
                average_scene_length_s=rounded(duration / len(scenes), 3),
                shots_from="cut_analysis" if cuts is not None else "whole_video",
            ),
        )


def _shot_look(hist: np.ndarray, in_shot: np.ndarray, unmixed: np.ndarray) -> np.ndarray:
    """Mean histogram of the shot's frames (mask `in_shot`) outside any transition (mask
    `unmixed`); of all its frames when a transition covers it whole."""
    own = in_shot & unmixed
    chosen = own if own.any() else in_shot
    return hist[chosen].mean(axis=0) if chosen.any() else np.zeros(hist.shape[1], np.float32)


def _group(looks: np.ndarray) -> list[list[int]]:
    """Scenes as lists of shot indices: shots i and i+1 share a scene when some pair of alike
    shots, at most LOOKBACK_SHOTS apart, spans them."""
    joined = np.zeros(max(len(looks) - 1, 0), bool)  # joined[i]: shots i and i+1 share a scene
    for k in range(1, len(looks)):
        for j in range(max(0, k - LOOKBACK_SHOTS), k):
            if np.minimum(looks[j], looks[k]).sum() >= SAME_LOOK:
                joined[j:k] = True
    scenes = [[0]]
    for i, together in enumerate(joined, start=1):
        if together:
            scenes[-1].append(i)
        else:
            scenes.append([i])
    return scenes
