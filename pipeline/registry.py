"""Every analyzer by its contract name. Adding one: write its module, add one line here."""

from __future__ import annotations

import importlib

from pipeline.analyzer import Analyzer

# name -> "module:Class". Imported lazily so that a runner loads only what it runs.
ANALYZERS: dict[str, str] = {
    "cut_analysis": "pipeline.analyzers.cuts:CutAnalysis",
    "scene_segmentation": "pipeline.analyzers.scenes:SceneSegmentation",
    "camera_analysis": "pipeline.analyzers.camera:CameraAnalysis",
    "color_analysis": "pipeline.analyzers.color:ColorAnalysis",
    "content_quality": "pipeline.analyzers.quality:ContentQuality",
    "audio_analysis": "pipeline.analyzers.audio:AudioAnalysis",
    "speech_flow": "pipeline.analyzers.speech_flow:SpeechFlow",
    "temporal_flow": "pipeline.analyzers.temporal_flow:TemporalFlow",
    "object_detection": "pipeline.analyzers.object_detection:ObjectDetection",
    "body_pose": "pipeline.analyzers.body_pose:BodyPose",
    "background_segmentation": "pipeline.analyzers.background_segmentation:BackgroundSegmentation",
    "age_estimation": "pipeline.analyzers.age_estimation:AgeEstimation",
    "eye_tracking": "pipeline.analyzers.eye_tracking:EyeTracking",
    "text_overlay": "pipeline.analyzers.text_overlay:TextOverlay",
    "qwen2_vl_temporal": "pipeline.analyzers.qwen2_vl:Qwen2VLTemporal",
    "speech_transcription": "pipeline.analyzers.whisper:SpeechTranscription",
    "speech_rate": "pipeline.analyzers.speech_rate:SpeechRate",
    "speech_emotion": "pipeline.analyzers.audio_models:SpeechEmotion",
    "audio_environment": "pipeline.analyzers.audio_models:AudioEnvironment",
    "cross_analyzer_intelligence": "pipeline.analyzers.fusion:CrossAnalyzerIntelligence",
}

ALL_NAMES: tuple[str, ...] = tuple(ANALYZERS)


def parse_names(text: str | None) -> list[str] | None:
    """The analyzer names in "a, b,c" (None when there are none: the default set). Raises
    ValueError naming the unknown ones."""
    names = [n.strip() for n in text.split(",") if n.strip()] if text else []
    unknown = [n for n in names if n not in ALL_NAMES]
    if unknown:
        raise ValueError(f"unknown analyzer(s): {', '.join(unknown)}; known: {', '.join(ALL_NAMES)}")
    return names or None


def load(name: str) -> type[Analyzer]:
    module_name, class_name = ANALYZERS[name].split(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    if cls.name != name:
        raise RuntimeError(f"registry entry {name!r} points at {cls.__name__} named {cls.name!r}")
    return cls


def resolve(requested: list[str] | None) -> list[type[Analyzer]]:
    """The analyzer classes to run, `after` dependencies included, in an order where each comes
    after every analyzer it reads (`after`, and `uses` among those that run)."""
    names = list(ALL_NAMES) if not requested else list(dict.fromkeys(requested))
    unknown = [n for n in names if n not in ALL_NAMES]
    if unknown:
        raise ValueError(f"unknown analyzer(s): {', '.join(unknown)}; known: {', '.join(ALL_NAMES)}")
    running = set(names)
    pending = list(names)
    while pending:  # everything `after` pulls in, transitively
        for dep in load(pending.pop()).after:
            if dep not in running:
                running.add(dep)
                pending.append(dep)
    ordered: list[type[Analyzer]] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if any(c.name == name for c in ordered):
            return
        if name in visiting:
            raise RuntimeError(f"analyzer dependency cycle through {name}")
        visiting.add(name)
        cls = load(name)
        for dep in (*cls.after, *(u for u in cls.uses if u in running)):
            visit(dep)
        visiting.discard(name)
        ordered.append(cls)

    for name in sorted(running, key=ALL_NAMES.index):
        visit(name)
    return ordered
