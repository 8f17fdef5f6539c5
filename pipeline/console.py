"""What a person reads on the terminal about a finished video."""

from __future__ import annotations

from pipeline.schema import Status, VideoResult


def describe(result: VideoResult) -> str:
    """One line a person can read at a glance."""
    if result.status == Status.failed and not result.analyzers:
        return f"FAILED {result.source}: {result.error}"
    info = result.video
    done = sum(r.status == Status.ok for r in result.analyzers.values())
    parts = [f"{info.duration_s:.1f} s", f"{done}/{len(result.analyzers)} analyzers ok"]

    def summary(name: str):
        outcome = result.analyzers.get(name)
        return outcome.summary if outcome is not None and outcome.status == Status.ok else None

    if (cuts := summary("cut_analysis")) is not None:
        parts.append(f"{cuts.shot_count} shots")
    if (scenes := summary("scene_segmentation")) is not None:
        parts.append(f"{scenes.scene_count} scenes")
    if (audio := summary("audio_analysis")) is not None and audio.tempo_bpm:
        parts.append(f"{audio.tempo_bpm:.0f} bpm")
    if (speech := summary("speech_flow")) is not None:
        parts.append(f"speech {speech.speech_share or 0:.0%}")
    failed = [name for name, r in result.analyzers.items() if r.status == Status.failed]
    if failed:
        parts.append(f"failed: {', '.join(failed)}")
    return f"ok     {result.source}: " + ", ".join(parts)
