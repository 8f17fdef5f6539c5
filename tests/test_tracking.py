"""The one tracker and shot-membership rule (pipeline/analyzers/tracking.py), on detections built here."""

from __future__ import annotations

import numpy as np
import pytest
from yolo_cases import box, detection_partial, ultralytics_config, video  # noqa: F401 (ultralytics_config: autouse)

from pipeline.analyzer import Context
from pipeline.analyzers.tracking import Detections, assign_tracks, shot_of_samples, video_shots


def test_tracker_follows_objects_and_keeps_what_continues_them():
    pts = np.arange(12) / 5.0
    per_sample = []
    for i in range(12):
        sample = [(box(40 + 8 * i, 50), 0.9, 0), (box(400 - 8 * i, 200), 0.8, 2)]
        if i == 5:  # the person's detection is weak here: ByteTrack's second stage keeps it
            sample[0] = (box(40 + 8 * i, 50), 0.15, 0)
        if i >= 3:  # a second person walks in at sample 3
            sample.append((box(250, 20 + 4 * i), 0.7, 0))
        if i == 7:  # a one-sample false alarm: never confirmed
            sample.append((box(560, 260, 30, 30), 0.6, 0))
        per_sample.append(sample)
    found = Detections.gather([detection_partial(pts, per_sample)])
    track_of = assign_tracks(found, np.zeros(12, int), interval=0.2)

    samples_of = {t: sorted(found.frame[track_of == t]) for t in np.unique(track_of[track_of >= 0])}
    assert samples_of == {0: list(range(12)), 1: list(range(12)), 2: list(range(3, 12))}
    # Each track keeps one class and its detections, the weak one included.
    assert set(found.cls[track_of == 0]) == {0} and set(found.cls[track_of == 1]) == {2}
    assert found.conf[(track_of == 0) & (found.frame == 5)] == pytest.approx([0.15])
    assert np.all(track_of[found.conf == np.float32(0.6)] == -1)


def test_tracker_bridges_short_gaps_and_ends_at_cuts_and_long_losses():
    pts = np.arange(30) / 5.0
    visible = set(range(30)) - {4, 5} - set(range(12, 20))  # lost 0.4 s, then 1.6 s (> LOST_TRACK_S)
    per_sample = [[(box(100 + 2 * i, 100), 0.9, 0)] if i in visible else [] for i in range(30)]
    found = Detections.gather([detection_partial(pts, per_sample)])
    shots = [(0.0, 5.0), (5.0, 6.0)]  # a cut at 5 s, in the middle of the third stretch
    track_of = assign_tracks(found, shot_of_samples(pts, shots), interval=0.2)
    spans = [(found.frame[track_of == t].min(), found.frame[track_of == t].max()) for t in range(track_of.max() + 1)]
    assert spans == [(0, 11), (20, 24), (25, 29)]


def test_a_sample_belongs_to_the_shot_it_opens_and_none_in_a_transition():
    """cut_analysis rounds its times: a sample a hair before a rounded cut opens the next shot;
    samples in a dissolve between two shots are in neither."""
    shots = [(0.0, 1.0), (1.0, 2.0), (2.5, 4.0)]  # a dissolve from 2.0 to 2.5 s
    pts = np.array([0.0, 0.9995, 1.0, 1.9, 2.2, 2.4995, 3.9, 4.0])
    assert shot_of_samples(pts, shots).tolist() == [0, 1, 1, 1, -1, 2, 2, -1]


def test_shots_come_from_cut_analysis_else_the_whole_video():
    info, results = video(4.0, cuts=[1.9])
    shots = video_shots(Context(video=info, results=results))
    assert (shots.shots, shots.transitions, shots.shots_from) == ([(0.0, 1.9), (1.9, 4.0)], [], "cut_analysis")
    shots = video_shots(Context(video=info, results={}))
    assert (shots.shots, shots.shots_from) == ([(0.0, 4.0)], "whole_video")
