"""The units every runner chains: decode (with the in-decoder analyzers), analyzer stages, assembly.

    VideoRequest -> DecodeStage -> WorkItem* -> AnalyzerStage* -> Assembler -> VideoResult

    decode.py     Decoder: one demux and decode pass per file, every FrameSpec and the audio from it
    plan.py       VideoRequest, Plan (analyzers, stages, settings), stage_name, consumes
    stages.py     WorkItem, DecodeStage (decode_stage: one per worker and plan), AnalyzerStage (and
                  the per-analyzer failure containment)
    assembler.py  Assembler

A WorkItem is one FrameBatch or the AudioTrack of one video, plus the partial outputs the
analyzers have produced from it so far; the last item of every video carries its VideoInfo
and how many items came before it, so the assembler knows when a video is complete however
the items were reordered on the way. Nothing here imports Ray: the runners (pipeline/runners/)
chain these objects in one process, as Ray Data operators, or through Ray Serve deployments.
"""

from pipeline.engine.assembler import Assembler
from pipeline.engine.plan import Plan, VideoRequest, consumes, safe_stem, stage_name
from pipeline.engine.stages import AnalyzerStage, DecodeStage, WorkItem, decode_stage, one_line

__all__ = [
    "AnalyzerStage", "Assembler", "DecodeStage", "Plan", "VideoRequest", "WorkItem",
    "consumes", "decode_stage", "one_line", "safe_stem", "stage_name",
]  # fmt: skip
