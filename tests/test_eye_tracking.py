"""eye_tracking's rules on constructed inputs: stares and blinks along one track, facing the camera
from the landmarks. Through the pipeline: tests/test_faces.py, tests/test_face_yunet.py."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.analyzers.eye_tracking import facing_camera, stares_and_blinks


def test_stares_and_blinks():
    times = np.round(np.arange(41) * 0.1, 3)  # 0.0 .. 4.0 s at 10 fps
    facing = np.ones(41, bool)
    closed = np.zeros(41, bool)
    closed[20:22] = True  # a 0.2 s blink
    stares, blinks = stares_and_blinks(times, facing, closed, 0.1)
    assert blinks == 1
    assert stares == [(0.0, pytest.approx(2.0))]  # 2.2 .. 4.1 s is 1.9 s: not a stare

    closed[:] = False
    closed[20:27] = True  # 0.7 s closed: longer than a blink
    assert stares_and_blinks(times, facing, closed, 0.1)[1] == 0

    closed[:] = False
    closed[:2] = closed[-2:] = True  # closed as the face turns in or out: no open frame on one side
    assert stares_and_blinks(times, facing, closed, 0.1)[1] == 0

    closed[:] = False
    dropped = np.delete(np.arange(41), 10)  # one frame without the face breaks the run
    stares, blinks = stares_and_blinks(times[dropped], facing[dropped], closed[dropped], 0.1)
    assert stares == [(pytest.approx(1.1), pytest.approx(4.1))] and blinks == 0


def test_facing_from_landmarks():
    size = (640, 360)
    eyes = [(0.4, 0.4), (0.5, 0.4)]
    frontal = eyes + [(0.45, 0.5), (0.42, 0.6), (0.48, 0.6)]
    turned = eyes + [(0.48, 0.5), (0.42, 0.6), (0.48, 0.6)]  # nose 0.3 inter-ocular distances off centre
    unknown = [(np.nan, np.nan)] * 5
    marks = np.array([frontal, turned, unknown], np.float32)
    assert list(facing_camera(marks, size)) == [True, False, True]
