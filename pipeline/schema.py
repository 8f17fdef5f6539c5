"""The result document: one typed, versioned schema for every runner (CLI, Ray Data, Ray Serve).

Times are seconds from the start of the video, measured by presentation timestamps
(the first frame or audio sample of the file is t = 0), never frame index / fps.
Bump SCHEMA_VERSION on any change a reader would notice; add fields, never rename them.

Every analyzer declares the types of its output (`Analyzer.summary_type`, `segment_type`: each
a `Summary` / `SegmentData` model in the analyzer's module, every field with its unit and meaning);
a document read back is validated against them, and `document_schema()` publishes the whole
document, every analyzer's fields included, as one JSON Schema (`reelscope schema`,
`GET /v1/schema`, schema/reelscope-document.schema.json).
"""

from __future__ import annotations

import functools
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SerializeAsAny, create_model, model_validator

# 1.1: models used, reelscope version, container duration and truncation.
# 2.0: every analyzer's summary and segment data typed; a summary is null when the analyzer did not succeed.
# 2.1: the short-form insights and the audio fingerprint (new optional fields only; 2.0 documents read as 2.1).
SCHEMA_VERSION = "2.1"
SCHEMA_MAJOR = SCHEMA_VERSION.split(".")[0]  # documents of this major version are read; others are refused


def readable(schema_version: str) -> bool:
    """Whether a document of `schema_version` has this reelscope's fields (same major version)."""
    return schema_version.split(".")[0] == SCHEMA_MAJOR


@functools.cache
def reelscope_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("reelscope")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


class Status(str, Enum):
    ok = "ok"
    skipped = "skipped"  # the analyzer could not run here: input absent, weights missing, dependency failed
    failed = "failed"  # it ran and raised; `error` says what


class Summary(BaseModel):
    """An analyzer's figures for the whole video. Each analyzer subclasses it (extra fields
    forbidden there); the base keeps what an analyzer outside the registry returns."""

    model_config = ConfigDict(extra="allow")


class SegmentData(BaseModel):
    """What one segment of an analyzer carries beyond its times and label (subclassed likewise)."""

    model_config = ConfigDict(extra="allow")


class Segment(BaseModel):
    """One labelled span of time. `data` holds the analyzer-specific typed payload."""

    model_config = ConfigDict(extra="forbid")

    start_s: float
    end_s: float
    label: str
    confidence: float | None = None
    data: SerializeAsAny[SegmentData] = Field(default_factory=SegmentData)


class ModelUsed(BaseModel):
    """One model an analyzer ran, so that two documents can be compared knowing whether the same
    models made them."""

    model_config = ConfigDict(extra="forbid")

    id: str  # hub id, file name, or the library whose bundled model it is
    revision: str | None = None  # hub commit the folder was fetched at (None: not recorded)
    sha256: str | None = None  # the file's digest; for a folder, of its manifest (names and digests)
    backend: str  # what ran it: ultralytics, transformers, ctranslate2, onnxruntime, opencv, easyocr …
    device: str  # cpu, cuda, cuda:0 …
    dtype: str | None = None  # float32, float16, bfloat16, int8, 4bit …


class AnalyzerResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Status
    reason: str | None = None  # why it was skipped
    error: str | None = None  # why it failed
    elapsed_s: float = 0.0  # wall time spent in this analyzer's process + finalize steps
    models: list[ModelUsed] = Field(default_factory=list)  # what its process steps ran
    segments: list[Segment] = Field(default_factory=list)
    summary: SerializeAsAny[Summary] | None = None  # None unless ok

    @classmethod
    def skipped(cls, reason: str) -> AnalyzerResult:
        return cls(status=Status.skipped, reason=reason)

    @classmethod
    def failed(cls, error: str, elapsed_s: float = 0.0) -> AnalyzerResult:
        return cls(status=Status.failed, error=error, elapsed_s=elapsed_s)


class VideoInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str
    duration_s: float
    size_bytes: int
    container: str
    has_video: bool
    has_audio: bool
    fps: float | None = None  # average frame rate as the container states it
    frame_count: int | None = None  # frames actually decoded
    width: int | None = None  # display width: after rotation and pixel aspect ratio
    height: int | None = None
    coded_width: int | None = None
    coded_height: int | None = None
    rotation: int = 0  # degrees clockwise the player turns the picture
    pixel_aspect_ratio: float = 1.0
    video_codec: str | None = None
    bit_rate: int | None = None
    variable_frame_rate: bool = False
    start_offset_s: float = 0.0  # container start time subtracted from every timestamp
    audio_codec: str | None = None
    audio_sample_rate: int | None = None
    audio_channels: int | None = None
    decode_errors: int = 0  # packets the decoder rejected; the rest of the file was still read
    container_duration_s: float | None = None  # what the container states; duration_s is what decoded
    truncated: bool = False  # decoded well short of the stated duration: analysed as far as it goes


class VideoResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: str = SCHEMA_VERSION
    reelscope_version: str = Field(default_factory=reelscope_version)
    id: str  # the run's name for this video; the output file is <id>.json
    source: str  # the path or URL as it was given
    video: VideoInfo | None = None  # None when the file could not be opened at all
    status: Status = Status.ok
    error: str | None = None  # one line: why the video as a whole could not be analysed
    elapsed_s: float = 0.0
    analyzers: dict[str, AnalyzerResult] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _typed(cls, value: Any) -> Any:
        """A document read back (JSON, dicts) gets each analyzer's own summary and segment types."""
        if isinstance(value, dict) and isinstance(value.get("analyzers"), dict):
            value = {**value, "analyzers": {name: _typed_result(name, r) for name, r in value["analyzers"].items()}}
        return value

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)


def output_types(name: str) -> tuple[type[Summary], type[SegmentData]]:
    """The summary and segment data types of a registered analyzer (the bases for any other)."""
    from pipeline import registry  # the registry imports the analyzers, which import this module

    if name not in registry.ANALYZERS:
        return Summary, SegmentData
    analyzer = registry.load(name)
    return analyzer.summary_type, analyzer.segment_type


def _typed_result(name: str, result: Any) -> Any:
    if not isinstance(result, dict):
        return result
    summary_type, data_type = output_types(name)
    typed = dict(result)
    if isinstance(typed.get("summary"), dict):
        typed["summary"] = summary_type.model_validate(typed["summary"])
    typed["segments"] = [
        {**segment, "data": data_type.model_validate(segment.get("data") or {})} if isinstance(segment, dict) else segment
        for segment in typed.get("segments") or []
    ]
    return typed


def document_schema() -> dict[str, Any]:
    """The JSON Schema of the document, with every registered analyzer's result typed."""
    from pipeline import registry

    results = {}
    for name in registry.ALL_NAMES:
        summary_type, data_type = output_types(name)
        title = "".join(part.title() for part in name.split("_"))
        segment = create_model(f"{title}SegmentRecord", __base__=Segment, data=(data_type, Field(default_factory=data_type)))
        result = create_model(
            f"{title}Result",
            __base__=AnalyzerResult,
            segments=(list[segment], Field(default_factory=list)),
            summary=(summary_type | None, None),
        )
        results[name] = (result | None, Field(None, description=_first_line(registry.load(name)) or None))
    analyzers = create_model("Analyzers", __config__=ConfigDict(extra="forbid"), **results)
    document = create_model("Document", __base__=VideoResult, analyzers=(analyzers, Field(default_factory=analyzers)))
    schema = document.model_json_schema()
    schema["title"] = "reelscope document"
    schema["$id"] = f"https://reelscope.dev/schema/{SCHEMA_VERSION}/document.json"
    return schema


def _first_line(cls: type) -> str:
    lines = (cls.__doc__ or "").strip().splitlines()
    return lines[0] if lines else ""
