"""The Assembler: collects each video's WorkItems in any order and finalizes the video once all
have arrived, every analyzer's result checked against the types it declares."""

from __future__ import annotations

import time

from pipeline.analyzer import Analyzer, Context, Partials, Skip
from pipeline.engine.plan import Plan, VideoRequest
from pipeline.engine.stages import WorkItem, one_line
from pipeline.registry import ALL_NAMES
from pipeline.schema import AnalyzerResult, ModelUsed, SegmentData, Status, Summary, VideoInfo, VideoResult


class Assembler:
    """Collects the WorkItems of each video, in any order, and finalizes a video once all of its
    items have arrived."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        # video_id -> seq -> item: a retried task may deliver an item twice.
        self.pending: dict[str, dict[int, WorkItem]] = {}
        self.analyzers = {a.name: a for a in plan.build_analyzers(plan.analyzers)}

    def add(self, item: WorkItem) -> VideoResult | None:
        items = self.pending.setdefault(item.video_id, {})
        items[item.seq] = item
        final = next((i for i in items.values() if i.kind == "end"), None)
        if final is None or len(items) < final.seq + 1:
            return None
        del self.pending[item.video_id]
        return self.finalize([items[seq] for seq in range(final.seq + 1)])

    def abandon(self, request: VideoRequest, error: str) -> VideoResult:
        """The result for a video whose items stopped coming (its worker died)."""
        self.pending.pop(request.video_id, None)
        return VideoResult(id=request.video_id, source=request.path, status=Status.failed, error=error)

    def finalize(self, items: list[WorkItem]) -> VideoResult:
        """elapsed_s: the decoding pass (decode and in-decoder analyzers) plus assembly here."""
        start = time.perf_counter()
        final = items[-1]
        identity = {"id": final.video_id, "source": final.source}
        if final.error or final.info is None:
            return VideoResult(
                **identity, status=Status.failed, error=final.error, video=final.info, elapsed_s=final.decode_s
            )
        info = final.info
        # Analyzers that could not run here are known before any finalize reads the results.
        results = {name: AnalyzerResult.skipped(reason) for name, reason in self.plan.unavailable.items()}
        results |= {name: AnalyzerResult.failed(error) for name, error in self.plan.broken.items()}
        for name, cls in self.analyzers.items():
            results[name] = self._finalize_one(cls, items, info, results)
        return VideoResult(
            **identity,
            video=info,
            elapsed_s=round(final.decode_s + time.perf_counter() - start, 4),
            analyzers={name: results[name] for name in sorted(results, key=_contract_order)},
        )

    def _finalize_one(
        self, analyzer: Analyzer, items: list[WorkItem], info: VideoInfo, results: dict[str, AnalyzerResult]
    ) -> AnalyzerResult:
        name = analyzer.name
        missing = analyzer.missing_input(info)
        if missing:
            return AnalyzerResult.skipped(missing)
        partials = Partials()
        spent = 0.0
        models: list[ModelUsed] = []
        for item in items:
            spent += item.seconds.get(name, 0.0)
            models = models or item.models.get(name, [])
            outcome = item.outcomes.get(name)
            if outcome is not None:
                kind, _, text = outcome.partition(": ")
                if kind == "skip":
                    return AnalyzerResult.skipped(text)
                return AnalyzerResult.failed(text, elapsed_s=spent)
            if name in item.partials:
                if item.kind == "audio":
                    partials.audio = item.partials[name]
                else:
                    partials.frames.append(item.partials[name])
        start = time.perf_counter()
        try:
            findings = analyzer.finalize(partials, Context(video=info, results=results))
        except Skip as exc:
            return AnalyzerResult.skipped(str(exc))
        except Exception as exc:
            return AnalyzerResult.failed(one_line(exc), elapsed_s=spent + time.perf_counter() - start)
        wrong = _wrong_types(analyzer, findings)
        if wrong:
            return AnalyzerResult.failed(wrong, elapsed_s=spent + time.perf_counter() - start)
        return AnalyzerResult(
            status=Status.ok,
            elapsed_s=round(spent + time.perf_counter() - start, 4),
            models=models,
            segments=findings.segments,
            summary=findings.summary,
        )


def _wrong_types(analyzer: Analyzer, findings) -> str | None:
    """Why finalize's output is not of the types the analyzer declares (the published schema)."""
    declared = analyzer.summary_type
    if declared is not Summary and not isinstance(findings.summary, declared):
        return f"finalize returned a {type(findings.summary).__name__} summary, not its declared {declared.__name__}"
    data = analyzer.segment_type
    if data is not SegmentData:
        for segment in findings.segments:
            if not isinstance(segment.data, data):
                return f"a {segment.label!r} segment holds {type(segment.data).__name__}, not its declared {data.__name__}"
    return None


def _contract_order(name: str) -> int:
    """Results in the order of the output contract; analyzers outside it last."""
    return ALL_NAMES.index(name) if name in ALL_NAMES else len(ALL_NAMES)
