"""The one settings object: built once by whichever runner starts, carried in the Plan to every
worker, read nowhere else.

Sources, strongest first: builder arguments (`Settings.load(**overrides)`, Serve's application
arguments through `app_settings`), `REELSCOPE_*` environment variables (nested with `__`:
`REELSCOPE_SPEECH_TRANSCRIPTION__MODEL=tiny.en`), a TOML or JSON file (`--settings FILE`, or
$REELSCOPE_SETTINGS_FILE), then the defaults below. Only `Settings.load` reads the environment;
analyzers get the object in their constructor (`Settings()` is the defaults alone, for tests
and library use). A bad value, an unknown key or an unknown `REELSCOPE_*` variable is refused at
start with one line naming the setting and what it allows (`SettingsError`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    JsonConfigSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)
from pydantic_settings.exceptions import SettingsError as SettingsSourceError

PREFIX = "REELSCOPE_"
FILE_ENV = "REELSCOPE_SETTINGS_FILE"
# REELSCOPE_* variables that are not settings: scripts/dev.sh's venv, the tests' Chromium.
NOT_SETTINGS = frozenset({"REELSCOPE_VENV", "REELSCOPE_CHROMIUM", "REELSCOPE_REPORT_SCREENSHOTS", FILE_ENV})
# Names of earlier releases, so that an old deployment is told what to set instead.
RENAMED = {
    "REELSCOPE_WHISPER_MODEL": "REELSCOPE_SPEECH_TRANSCRIPTION__MODEL",
    "REELSCOPE_OCR": "REELSCOPE_TEXT_OVERLAY__READER",
    "REELSCOPE_QWEN2_VL_QUANTIZE": "REELSCOPE_QWEN2_VL_TEMPORAL__QUANTIZE",
    "REELSCOPE_QWEN2_VL_FRAMES_PER_WINDOW": "REELSCOPE_QWEN2_VL_TEMPORAL__FRAMES_PER_WINDOW",
    "REELSCOPE_QWEN2_VL_MAX_PIXELS": "REELSCOPE_QWEN2_VL_TEMPORAL__MAX_PIXELS",
    "REELSCOPE_QWEN2_VL_WINDOWS_PER_GENERATE": "REELSCOPE_QWEN2_VL_TEMPORAL__WINDOWS_PER_GENERATE",
    "REELSCOPE_QWEN2_VL_MAX_NEW_TOKENS": "REELSCOPE_QWEN2_VL_TEMPORAL__MAX_NEW_TOKENS",
    "REELSCOPE_API_TOKEN": "REELSCOPE_SERVE__TOKEN",
    "REELSCOPE_MEDIA_ROOT": "REELSCOPE_SERVE__MEDIA_ROOT",
}


class SettingsError(ValueError):
    """A setting that cannot be used. The message is one line."""


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SpeechTranscriptionSettings(Section):
    # The models actors/whisper.py knows by name (a test keeps the two lists equal).
    NAMED_MODELS: ClassVar[tuple[str, ...]] = ("large-v3", "large-v3-turbo", "distil-large-v3", "tiny.en")

    model: str = Field(
        "large-v3",
        description="Whisper model: large-v3, large-v3-turbo, distil-large-v3, tiny.en, or a CTranslate2 hub id",
    )

    @field_validator("model")
    @classmethod
    def _named_or_hub_id(cls, model: str) -> str:
        owner, slash, name = model.partition("/")
        if model in cls.NAMED_MODELS or (slash and owner and name and "/" not in name):
            return model
        raise ValueError(f"must be one of {', '.join(cls.NAMED_MODELS)} or a CTranslate2 Whisper hub id (owner/name)")


class TextOverlaySettings(Section):
    reader: Literal["auto", "rapidocr", "easyocr"] = Field(
        "auto", description="OCR engine; auto: EasyOCR when its weights are here, else rapidocr (CPU, bundled)"
    )


class Qwen2VLSettings(Section):
    frames_per_window: int = Field(4, ge=1, le=64, description="frames per described window (4 at 2 fps: 2 s windows)")
    max_pixels: int = Field(
        144 * 28 * 28,
        ge=28 * 28,
        description="pixels per frame at most, after resizing (144 merged 28 px patches: a 448x252 frame as it is)",
    )
    windows_per_generate: int = Field(8, ge=1, le=256, description="windows one generate call may take")
    max_new_tokens: int = Field(48, ge=1, le=1024, description="length limit of one description, in tokens")
    quantize: Literal["none", "8bit", "4bit"] = Field(
        "none", description="bitsandbytes weights on a GPU (ignored on CPU, where the model runs in float32)"
    )


class AudioClassifierSettings(Section):
    window_s: float = Field(3.0, gt=0, le=30, description="seconds of audio per classified window")
    hop_s: float = Field(1.5, gt=0, le=30, description="seconds between window starts (at most window_s)")
    max_batch: int = Field(16, ge=1, le=512, description="windows in one forward pass (the GPU memory declared grows with it)")

    @field_validator("hop_s")
    @classmethod
    def _hop_within_window(cls, hop: float, info) -> float:
        window = info.data.get("window_s")
        if window is not None and hop > window:
            raise ValueError(f"hop_s ({hop:g}) must not exceed window_s ({window:g}): audio between windows would go unheard")
        return hop


class AudioEnvironmentSettings(AudioClassifierSettings):
    # Its own class, so that a window_s set alone keeps this hop (a CPU run's full AST forward
    # takes seconds per window).
    hop_s: float = Field(1.0, gt=0, le=30, description="seconds between window starts (at most window_s)")


class SafeZonesSettings(Section):
    """Each platform's interface over a vertical video, as fractions of the frame (sources:
    pipeline/analyzers/short_form.py)."""

    tiktok_top: float = Field(0.1302, ge=0, lt=1, description="TikTok's top bar: share of the height (250 of 1920 px)")
    tiktok_right: float = Field(0.1574, ge=0, lt=1, description="TikTok's button rail: share of the width (170 of 1080 px)")
    tiktok_bottom: float = Field(0.2188, ge=0, lt=1, description="TikTok's caption and music area: share of the height (420 of 1920 px)")
    instagram_reels_top: float = Field(0.14, ge=0, lt=1, description="Instagram Reels' top bar: share of the height")
    instagram_reels_right: float = Field(0.06, ge=0, lt=1, description="Instagram Reels' button rail: share of the width")
    instagram_reels_bottom: float = Field(0.35, ge=0, lt=1, description="Instagram Reels' caption and music area: share of the height")
    youtube_shorts_top: float = Field(0.15, ge=0, lt=1, description="YouTube Shorts' top bar: share of the height (288 of 1920 px)")
    youtube_shorts_right: float = Field(0.1778, ge=0, lt=1, description="YouTube Shorts' button rail: share of the width (192 of 1080 px)")
    youtube_shorts_bottom: float = Field(0.35, ge=0, lt=1, description="YouTube Shorts' caption and channel area: share of the height (672 of 1920 px)")
    covered_share: float = Field(
        0.5, gt=0, le=1, description="share of a text or face box's area inside an overlay from which it counts as under it"
    )


class ServeSettings(Section):
    """`serve run serve_app:build_app key=value …`, `args:` in serve_config.yaml, or REELSCOPE_SERVE__*."""

    media_root: str = Field(".", description="`path` requests read files under it, never outside")
    analyzers: list[str] | None = Field(None, description="deployed analyzers; default: every one whose weights are here")
    max_upload_mb: float = Field(500.0, gt=0, description="uploads and URL downloads; larger: 413")
    max_duration_s: float = Field(900.0, gt=0, description="longer videos: 422")
    max_sync_duration_s: float = Field(180.0, gt=0, description="longer videos go through /v1/jobs: 422 on /v1/analyze")
    allow_private_urls: bool = Field(False, description="fetch URLs on loopback / private / link-local addresses")
    token: str | None = Field(None, description="bearer token for /v1/*; none: no authentication")
    ingress_replicas: int = Field(1, ge=1, description="fixed: asynchronous jobs run in the replica that took them")
    ingress_cpus: float = Field(1.0, gt=0, description="reserved for decoding by each ingress replica")
    max_ongoing_requests: int = Field(4, ge=1, description="per ingress replica")
    max_queued_requests: int = Field(8, ge=0, description="beyond it: 503 at once (JSON, with Retry-After)")
    max_jobs: int = Field(8, ge=1, description="queued + running jobs per ingress replica; beyond it: 503")
    max_model_replicas: int = Field(2, ge=1, description="autoscaling bound of each model deployment")
    stage_timeout_s: float = Field(600.0, gt=0, description="one batch at one model deployment; past it its analyzers fail")
    fetch_deadline_s: float = Field(300.0, gt=0, description="a `url` download as a whole; past it: 422")
    batch_max_payloads: int = Field(
        4, ge=1, description="items of concurrent requests one model forward pass may hold (YOLO, face, audio-classifier, OCR, Qwen2-VL families)"
    )
    batch_wait_s: float = Field(
        0.02, ge=0, description="how long a model pass waits for other requests' items to join it"
    )
    jobs_dir: str | None = Field(None, description="job records kept here too: jobs outlive the job board's replica")
    use_gpus: bool | None = Field(None, description="none: when the cluster has GPUs while the app is built")

    @field_validator("analyzers", mode="before")
    @classmethod
    def _comma_separated(cls, value):  # `serve run … analyzers=a,b` passes one string
        if isinstance(value, str):
            return [n.strip() for n in value.split(",") if n.strip()] or None
        return value

    @field_validator("analyzers")
    @classmethod
    def _known_analyzers(cls, names: list[str] | None) -> list[str] | None:
        from pipeline.registry import parse_names  # the registry imports the analyzers, which import this module

        return parse_names(",".join(names)) if names else None

    @property
    def max_bytes(self) -> int:
        return int(self.max_upload_mb * 1e6)


def _default_models_dir() -> Path:
    return Path.home() / ".cache" / "reelscope" / "models"


class Settings(BaseSettings):
    """Everything a run can be told. `Settings()` is the defaults; `Settings.load()` reads the
    environment and a file too."""

    model_config = SettingsConfigDict(
        env_prefix=PREFIX, env_nested_delimiter="__", extra="forbid", frozen=True, validate_default=True
    )

    models_dir: Path = Field(default_factory=_default_models_dir, description="where model weights live")
    gpu_memory_gb: float | None = Field(
        None, gt=0, description="memory of one GPU, for GPU fractions; none: the local GPU's, else 80"
    )
    speech_transcription: SpeechTranscriptionSettings = SpeechTranscriptionSettings()
    text_overlay: TextOverlaySettings = TextOverlaySettings()
    qwen2_vl_temporal: Qwen2VLSettings = Qwen2VLSettings()
    speech_emotion: AudioClassifierSettings = AudioClassifierSettings()
    audio_environment: AudioEnvironmentSettings = AudioEnvironmentSettings()
    safe_zones: SafeZonesSettings = SafeZonesSettings()
    serve: ServeSettings = ServeSettings()

    @classmethod
    def settings_customise_sources(
        cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Settings() alone must not read the environment: only load() does, source by source.
        return (init_settings,)

    @classmethod
    def load(cls, file: str | Path | None = None, **overrides: Any) -> Settings:
        """The run's settings: `overrides` over REELSCOPE_* variables over `file` (TOML or JSON;
        default $REELSCOPE_SETTINGS_FILE) over the defaults. Raises SettingsError."""
        _check_environment_names(os.environ)
        file = file or os.environ.get(FILE_ENV)
        try:
            merged = _read_file(Path(file)) if file else {}
            _merge(merged, EnvSettingsSource(cls)())
            _merge(merged, overrides)
            return cls(**merged)
        except ValidationError as exc:
            raise SettingsError(_one_line(exc)) from None
        except SettingsSourceError as exc:  # a list or dict setting whose variable is not JSON
            raise SettingsError(str(exc).splitlines()[0]) from None

    def section(self, analyzer: str) -> Section | None:
        """The settings of one analyzer, when it has any."""
        value = getattr(self, analyzer, None) if analyzer in type(self).model_fields else None
        return value if isinstance(value, Section) else None


def app_settings(args: dict | None = None) -> Settings:
    """The run's settings: Serve's application arguments over REELSCOPE_* variables (Settings.load).
    A field of the `serve` section goes by its own name (`max_jobs=8`), any other setting by its
    name (`models_dir=…`, `gpu_memory_gb=40`), a section's field by a dotted key on the command
    line (`text_overlay.reader=rapidocr`) or as a mapping in serve_config.yaml. Raises SettingsError."""
    overrides: dict = {}
    for path, value in _leaves(args or {}):
        if path[0] in ServeSettings.model_fields:
            path = ("serve", *path)
        elif path[0] not in Settings.model_fields:
            known = [*ServeSettings.model_fields, *(k for k in Settings.model_fields if k != "serve")]
            raise SettingsError(f"unknown setting {'.'.join(path)}; known here: {', '.join(known)}")
        into = overrides
        for part in path[:-1]:
            into = into.setdefault(part, {})
            if not isinstance(into, dict):
                raise SettingsError(f"setting {'.'.join(path)}: {part} is given a value of its own too")
        into[path[-1]] = value
    return Settings.load(**overrides)


def _leaves(args: dict, prefix: tuple[str, ...] = ()):
    """(key path, value) of every value in nested mappings with dotted keys."""
    for key, value in args.items():
        path = (*prefix, *str(key).split("."))
        if isinstance(value, dict) and value:
            yield from _leaves(value, path)
        else:
            yield path, value


def _read_file(path: Path) -> dict:
    if not path.is_file():
        raise SettingsError(f"settings file {path}: no such file")
    try:
        source = JsonConfigSettingsSource if path.suffix == ".json" else TomlConfigSettingsSource
        return source(Settings, path)()
    except ValueError as exc:  # JSONDecodeError and TOMLDecodeError are ValueErrors
        kind = "JSON" if path.suffix == ".json" else "TOML"
        raise SettingsError(f"settings file {path}: not {kind}: {str(exc).splitlines()[0]}") from None


def _check_environment_names(environ) -> None:
    """An unknown REELSCOPE_* variable is refused, so that a typo is never silently a default."""
    for name in environ:
        if not name.startswith(PREFIX) or name in NOT_SETTINGS:
            continue
        if name in RENAMED:
            raise SettingsError(f"{name} is no longer read: set {RENAMED[name]} instead")
        if not _known(name[len(PREFIX) :].lower().split("__")):
            raise SettingsError(f"unknown setting {name}; known: {', '.join(environment_names())}")


def _known(path: list[str]) -> bool:
    fields = Settings.model_fields
    for depth, key in enumerate(path):
        if key not in fields:
            return False
        annotation = fields[key].annotation
        nested = isinstance(annotation, type) and issubclass(annotation, BaseModel)
        if depth < len(path) - 1:
            if not nested:
                return False
            fields = annotation.model_fields
        elif nested:
            return False  # a whole section in one variable: name its fields instead
    return True


def environment_names() -> list[str]:
    names = []
    for key, field in Settings.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names += [f"{PREFIX}{key}__{sub}".upper() for sub in annotation.model_fields]
        else:
            names.append(f"{PREFIX}{key}".upper())
    return names


def _merge(into: dict, more: dict) -> None:
    for key, value in more.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


def _one_line(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"]) or "settings"
        env = f"{PREFIX}{'__'.join(str(p) for p in error['loc'])}".upper()
        given = error.get("input")
        shown = "" if isinstance(given, dict) else f" (got {given!r})"
        if error["type"] == "extra_forbidden":
            problems.append(f"unknown setting {where}; known here: {', '.join(_keys_at(error['loc'][:-1]))}")
        else:
            problems.append(f"setting {where} ({env}){shown}: {error['msg']}")
    return "; ".join(problems)


def _keys_at(loc: tuple) -> list[str]:
    model: type[BaseModel] = Settings
    for part in loc:
        annotation = model.model_fields[str(part)].annotation
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            break
        model = annotation
    return list(model.model_fields)


def table() -> str:
    """The README's settings table, generated from the model (a test keeps the README current)."""
    rows = ["| setting | environment variable | default | meaning |", "|---|---|---|---|"]
    defaults = Settings()

    def shown(value) -> str:
        return "none" if value is None else f"`{value}`"

    for key, field in Settings.model_fields.items():
        value = getattr(defaults, key)
        if isinstance(value, Section):
            for sub, subfield in type(value).model_fields.items():
                env = f"{PREFIX}{key}__{sub}".upper()
                rows.append(f"| `{key}.{sub}` | `{env}` | {shown(getattr(value, sub))} | {subfield.description or ''} |")
        else:
            default = "`~/.cache/reelscope/models`" if key == "models_dir" else shown(value)
            rows.append(f"| `{key}` | `{PREFIX}{key.upper()}` | {default} | {field.description or ''} |")
    return "\n".join(rows)
