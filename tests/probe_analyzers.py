"""Small real analyzers that exercise the contract's paths: an out-of-decoder stage holding GPU
memory, one that fails, one whose weights are missing, one that reads another's result."""

from __future__ import annotations

import os

from pydantic import ConfigDict

from actors.base import ModelActor, Runtime
from pipeline.analyzer import Analyzer, Context, Findings, FrameSpec, Partials, Resources, Skip
from pipeline.schema import ModelUsed, Segment, SegmentData, Summary
from pipeline.settings import NOT_SETTINGS

SPEC = FrameSpec(fps=None, size=64)


class CounterSummary(Summary):
    model_config = ConfigDict(extra="forbid")
    frames: int


class CountedFrames(SegmentData):
    model_config = ConfigDict(extra="forbid")
    count: int


class ReaderSummary(Summary):
    model_config = ConfigDict(extra="forbid")
    seen_frames: int | None


class FrameCounter(Analyzer):
    name = "probe_counter"
    frames = SPEC
    resources = Resources(cpus=0.5, gpu_memory_gb=20)
    summary_type = CounterSummary
    segment_type = CountedFrames

    def process_frames(self, batch):
        return {"n": len(batch.frames), "first": float(batch.pts_s[0]), "last": float(batch.pts_s[-1]), "index": batch.index}

    def finalize(self, partials: Partials, context: Context) -> Findings:
        if [p["index"] for p in partials.frames] != list(range(len(partials.frames))):
            raise AssertionError("partials out of order")
        total = sum(p["n"] for p in partials.frames)
        first, last = partials.frames[0]["first"], partials.frames[-1]["last"]
        segment = Segment(start_s=first, end_s=last, label="frames", data=CountedFrames(count=total))
        return Findings([segment], CounterSummary(frames=total))


class SecondGpuModel(FrameCounter):
    name = "probe_second_model"


class Broken(Analyzer):
    name = "probe_broken"
    frames = SPEC
    in_decoder = True

    def process_frames(self, batch):
        raise ValueError("model produced NaN")

    def finalize(self, partials, context):
        raise AssertionError("never reached")


class WeightsMissing(Analyzer):
    name = "probe_weights_missing"
    frames = SPEC

    def setup(self):
        raise Skip("weights not found in /models/probe; run `reelscope models download`")

    def finalize(self, partials, context):
        raise AssertionError("never reached")


class Reader(Analyzer):
    name = "probe_reader"
    after = ("probe_counter",)
    summary_type = ReaderSummary

    def finalize(self, partials, context):
        counted = context.ok("probe_counter")
        return Findings(summary=ReaderSummary(seen_frames=counted.summary.frames if counted else None))


class KillsItsWorker(Analyzer):
    """Ends its process on a magenta picture: what a decoder segfault does to a worker."""

    name = "probe_kills_worker"
    frames = SPEC
    in_decoder = True

    def process_frames(self, batch):
        red, green, blue = batch.frames.reshape(-1, 3).mean(axis=0)
        if green < 40 and red > 100 and blue > 100:
            os._exit(1)

    def finalize(self, partials, context):
        return Findings()


class PassesSummary(Summary):
    model_config = ConfigDict(extra="forbid")
    passes: list[int]  # the family pass each batch was answered by
    asked_with: list[str]  # the analyzers that pass served


class CountingRuntime(Runtime):
    """A model family that numbers its forward passes."""

    name = "probe_family"

    def __init__(self, settings):
        super().__init__(settings)
        self.passes = 0

    def load(self, analyzer):
        self.models_used[analyzer.name] = [ModelUsed(id="probe-model", backend="numpy", device="cpu")]

    def predict(self, payload, analyzers):
        self.passes += 1
        return {"pass": self.passes, "for": sorted(analyzers)}


class FamilyMember(Analyzer):
    name = "probe_member_a"
    frames = SPEC
    summary_type = PassesSummary

    def process_frames(self, batch, predicted):
        return predicted

    def finalize(self, partials, context):
        return Findings(summary=PassesSummary(passes=[p["pass"] for p in partials.frames], asked_with=partials.frames[0]["for"]))


class OtherFamilyMember(FamilyMember):
    name = "probe_member_b"


class ProbeFamilyActor(ModelActor):
    family = "probe_family"
    runtime = CountingRuntime
    serves = ("probe_member_a", "probe_member_b")


class SettingsSeen(Summary):
    model_config = ConfigDict(extra="forbid")
    models_dir: str  # what the worker's analyzer was built with
    gpu_memory_gb: float | None
    reelscope_variables: list[str]  # REELSCOPE_* settings variables in the worker's environment


class SettingsEcho(Analyzer):
    """Says, from the worker that processed the frames, which settings it was built with."""

    name = "probe_settings_echo"
    frames = SPEC
    summary_type = SettingsSeen

    def process_frames(self, batch):
        return SettingsSeen(
            models_dir=str(self.settings.models_dir),
            gpu_memory_gb=self.settings.gpu_memory_gb,
            # Variables of scripts and tests (REELSCOPE_VENV, …) are not settings: they may pass.
            reelscope_variables=sorted(k for k in os.environ if k.startswith("REELSCOPE_") and k not in NOT_SETTINGS),
        )

    def finalize(self, partials, context):
        return Findings(summary=partials.frames[0])


class SettingsEchoInDecoder(SettingsEcho):
    name = "probe_settings_echo_in_decoder"
    in_decoder = True
