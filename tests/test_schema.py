"""The published document schema: every analyzer's output typed and described, the committed
file current, and real documents valid against it."""

from __future__ import annotations

import json

import jsonschema
import pytest
from conftest import REPO

from pipeline.engine import Plan, VideoRequest
from pipeline.runners.local import run_local
from pipeline.registry import ALL_NAMES, load
from pipeline.schema import SCHEMA_VERSION, SegmentData, Summary, VideoResult, document_schema

SCHEMA_FILE = REPO / "schema" / "reelscope-document.schema.json"
# What runs here without weights: a real document with most analyzers ok.
NO_WEIGHTS = [
    "cut_analysis", "scene_segmentation", "camera_analysis", "color_analysis", "content_quality", "audio_analysis",
    "speech_flow", "speech_rate", "temporal_flow", "text_overlay", "cross_analyzer_intelligence",
]  # fmt: skip


@pytest.mark.parametrize("name", ALL_NAMES)
def test_every_analyzer_declares_described_types_of_its_own(name):
    analyzer = load(name)
    for declared, base in ((analyzer.summary_type, Summary), (analyzer.segment_type, SegmentData)):
        assert declared is not base and issubclass(declared, base), f"{name} declares no {base.__name__} type"
        assert declared.model_config.get("extra") == "forbid", f"{declared.__name__} must forbid unknown fields"
        undescribed = [field for field, info in declared.model_fields.items() if not info.description]
        assert not undescribed, f"{declared.__name__}: fields without a description: {undescribed}"


def test_the_committed_schema_file_is_current():
    assert SCHEMA_FILE.is_file(), "run `reelscope schema -o schema/reelscope-document.schema.json`"
    assert json.loads(SCHEMA_FILE.read_text()) == document_schema(), (
        "schema/reelscope-document.schema.json is stale: run `reelscope schema -o schema/reelscope-document.schema.json`"
    )


def test_the_schema_names_every_analyzer_and_its_version():
    schema = document_schema()
    assert SCHEMA_VERSION in schema["$id"] and SCHEMA_VERSION.startswith("2.")
    analyzers = schema["$defs"]["Analyzers"]
    assert set(analyzers["properties"]) == set(ALL_NAMES) and analyzers["additionalProperties"] is False


@pytest.fixture(scope="module")
def document(sample_clip) -> VideoResult:
    (result,) = run_local([VideoRequest("sample", str(sample_clip))], Plan.build(NO_WEIGHTS))
    return result


def test_a_real_document_validates_against_the_published_schema(document):
    ok = [name for name, r in document.analyzers.items() if r.status == "ok"]
    assert set(NO_WEIGHTS) <= set(ok), document.analyzers
    jsonschema.validate(json.loads(document.to_json()), document_schema())
    again = VideoResult.model_validate_json(document.to_json())
    assert again == document
    for name, result in again.analyzers.items():
        assert type(result.summary) is load(name).summary_type


def test_a_document_with_a_renamed_field_does_not_validate(document):
    raw = json.loads(document.to_json())
    summary = raw["analyzers"]["cut_analysis"]["summary"]
    summary["shots"] = summary.pop("shot_count")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(raw, document_schema())
    with pytest.raises(ValueError, match="shot_count"):
        VideoResult.model_validate(raw)
