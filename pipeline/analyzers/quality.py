"""Technical quality of the file: how sharp, well exposed, clean, detailed and undistorted it is.

Pictures are measured on one frame a second at 640 px on the long side (smaller videos are
scaled up to it, as a player would), so the same picture reads the same whatever its
resolution. Frames with next to no contrast (black, mid-fade) are left out of the picture
measures. Each part is 0..1 (1 = no problem):

    sharpness       v / (v + SHARPNESS_HALF): v is the median over frames of the variance of
                    the Laplacian of the grey image; SHARPNESS_HALF scores 0.5. Noise raises
                    it too: read it beside the noise part.
    exposure        (1 - min(1, clipped / CLIPPED_MAX)) * (1 - min(1, off / LUMA_SLACK)):
                    clipped is the mean share of pixels crushed to black (luma <= 4) or blown
                    to white (>= 251); off is how far the mean luma (0..1) lies outside
                    LUMA_RANGE.
    noise           1 - min(1, max(0, sigma - NOISE_FLOOR) / NOISE_SPAN): sigma is the median
                    over frames of Immerkaer's noise estimate (sqrt(pi/2) / 6 * mean |I * N|,
                    N the 3x3 Laplacian-difference mask) over the flatter half of the frame
                    (pixels below the median gradient), in 8-bit grey levels.
    resolution      min(1, short side / 1080) of the displayed picture.
    bitrate         clip((log10(bpp) - log10(BPP_LOW)) / (log10(BPP_HIGH) - log10(BPP_LOW))):
                    bpp = bits per pixel per frame = bit rate / (width * height * fps), the bit
                    rate being the container's (audio included; when it states none, the file's
                    average_bit_rate = size * 8 / duration), credited CODEC_EFFICIENCY times for
                    codecs that need fewer bits.
    audio_clipping  1 - min(1, clipped_fraction / CLIPPED_AUDIO_MAX): clipped_fraction is the
                    share of native audio samples at full scale.

score = 100 * weighted mean of the parts that could be measured (WEIGHTS); a part that could
not (no video stream: the picture parts; no audio stream: audio_clipping) is null and left out.
The summary holds score, parts, weights and measures (the numbers behind the parts); there are
no segments.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from pipeline.analyzer import Analyzer, AudioTrack, Context, FrameBatch, FrameSpec, Findings, Partials
from pipeline.analyzers.shots import rounded
from pipeline.schema import SegmentData, Summary

SPEC = FrameSpec(fps=1, size=640)

MIN_CONTRAST = 4.0  # grey-level std below which a frame is black or flat: no picture to judge
SHARPNESS_HALF = 100.0
CLIPPED_MAX = 0.4  # dark or bright looks are a choice: only a large clipped share counts fully
LUMA_RANGE = (0.25, 0.65)
LUMA_SLACK = 0.25
NOISE_FLOOR, NOISE_SPAN = 1.0, 5.0
BPP_LOW, BPP_HIGH = 0.01, 0.1
CODEC_EFFICIENCY = {"hevc": 1.5, "vp9": 1.5, "av1": 2.0}
CLIPPED_AUDIO_MAX = 0.01

WEIGHTS = {"sharpness": 0.3, "exposure": 0.2, "noise": 0.15, "resolution": 0.15, "bitrate": 0.1, "audio_clipping": 0.1}

NOISE_MASK = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)

# Measures of one frame, one row per frame.
FRAME = np.dtype(
    [
        ("t", "f8"),
        ("contrast", "f4"),
        ("laplacian_var", "f4"),
        ("crushed", "f4"),
        ("blown", "f4"),
        ("luma", "f4"),
        ("noise", "f4"),
    ]
)


class QualityParts(BaseModel):
    """Each part of the score, 0..1 (1 = no problem); None where it could not be measured."""

    model_config = ConfigDict(extra="forbid")

    sharpness: float | None = Field(..., description=f"v / (v + {SHARPNESS_HALF:g}), v the Laplacian variance (0-1)")
    exposure: float | None = Field(
        ..., description=f"less for clipped pixels (0 at {CLIPPED_MAX:g}) and a mean luma off {LUMA_RANGE} (0-1)"
    )
    noise: float | None = Field(..., description=f"0 at a noise sigma of {NOISE_FLOOR + NOISE_SPAN:g} grey levels (0-1)")
    resolution: float | None = Field(..., description="the picture's short side over 1080, at most 1 (0-1)")
    bitrate: float | None = Field(..., description=f"bits per pixel, log scale from {BPP_LOW:g} to {BPP_HIGH:g} (0-1)")
    audio_clipping: float | None = Field(
        ..., description=f"0 when a share {CLIPPED_AUDIO_MAX:g} of the native samples is at full scale (0-1)"
    )


class QualityWeights(BaseModel):
    """Each part's weight in the score (summing to 1)."""

    model_config = ConfigDict(extra="forbid")

    sharpness: float = Field(..., description="weight of the sharpness part")
    exposure: float = Field(..., description="weight of the exposure part")
    noise: float = Field(..., description="weight of the noise part")
    resolution: float = Field(..., description="weight of the resolution part")
    bitrate: float = Field(..., description="weight of the bitrate part")
    audio_clipping: float = Field(..., description="weight of the audio clipping part")


class QualityMeasures(BaseModel):
    """The numbers behind the parts; None where not measured (picture measures: no frame with
    contrast; width to bits_per_pixel: no video stream or no rate; audio: no audio stream)."""

    model_config = ConfigDict(extra="forbid")

    frames_measured: int = Field(..., description="frames with contrast the picture parts read (count)")
    laplacian_var: float | None = Field(None, description="median variance of the grey Laplacian (grey levels²)")
    crushed_shadows: float | None = Field(None, description="mean share of pixels at luma 4 or below (0-1)")
    blown_highlights: float | None = Field(None, description="mean share of pixels at luma 251 or above (0-1)")
    mean_luma: float | None = Field(None, description="mean luma of the measured frames (0-1)")
    noise_sigma: float | None = Field(None, description="median Immerkaer noise estimate (8-bit grey levels)")
    width: int | None = Field(None, description="displayed picture width (px)")
    height: int | None = Field(None, description="displayed picture height (px)")
    average_bit_rate: int | None = Field(None, description="file size * 8 / duration (bits/s)")
    bit_rate: int | None = Field(None, description="the container's bit rate, else the average one (bits/s)")
    bits_per_pixel: float | None = Field(None, description="bit rate / (width * height * fps) (bits/pixel/frame)")
    audio_clipped_fraction: float | None = Field(None, description="share of native audio samples at full scale (0-1)")
    audio_peak: float | None = Field(None, description="highest native |sample| (full scale = 1)")


class ContentQualitySummary(Summary):
    model_config = ConfigDict(extra="forbid")

    score: float | None = Field(..., description="100 * weighted mean of the measured parts (0-100; None: none)")
    parts: QualityParts = Field(..., description="the parts of the score")
    weights: QualityWeights = Field(..., description="the parts' weights")
    measures: QualityMeasures = Field(..., description="the numbers behind the parts")


class ContentQualitySegment(SegmentData):
    """content_quality writes no segments."""

    model_config = ConfigDict(extra="forbid")


class ContentQuality(Analyzer):
    name = "content_quality"
    frames = SPEC
    # Reads both: Analyzer.missing_input never skips such an analyzer, so a file with only
    # pictures or only sound still gets the parts it has.
    audio = True
    in_decoder = True
    summary_type = ContentQualitySummary
    segment_type = ContentQualitySegment

    def process_frames(self, batch: FrameBatch) -> np.ndarray:
        rows = np.zeros(len(batch.frames), FRAME)
        for i, frame in enumerate(batch.frames):
            rows[i] = (batch.pts_s[i], *_measure(_at_analysis_size(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY))))
        return rows

    def process_audio(self, audio: AudioTrack) -> dict[str, float]:
        return {"clipped_fraction": audio.clipped_fraction, "peak": audio.peak}

    def finalize(self, partials: Partials, context: Context) -> Findings:
        video = context.video
        rows = np.concatenate(partials.frames) if partials.frames else np.zeros(0, FRAME)
        judged = rows[rows["contrast"] >= MIN_CONTRAST]
        measures: dict[str, float | int | None] = {"frames_measured": len(judged)}
        parts: dict[str, float | None] = dict.fromkeys(WEIGHTS)

        if len(judged):
            sharpness = float(np.median(judged["laplacian_var"]))
            clipped = float((judged["crushed"] + judged["blown"]).mean())
            luma = float(judged["luma"].mean())
            noise = float(np.median(judged["noise"]))
            off = max(0.0, LUMA_RANGE[0] - luma, luma - LUMA_RANGE[1])
            parts["sharpness"] = sharpness / (sharpness + SHARPNESS_HALF)
            parts["exposure"] = (1 - min(1.0, clipped / CLIPPED_MAX)) * (1 - min(1.0, off / LUMA_SLACK))
            parts["noise"] = 1 - min(1.0, max(0.0, noise - NOISE_FLOOR) / NOISE_SPAN)
            measures.update(
                laplacian_var=sharpness,
                crushed_shadows=float(judged["crushed"].mean()),
                blown_highlights=float(judged["blown"].mean()),
                mean_luma=luma,
                noise_sigma=noise,
            )

        if video.has_video and video.width and video.height:
            measures.update(width=video.width, height=video.height)
            parts["resolution"] = min(1.0, min(video.width, video.height) / 1080)
            average_bit_rate = video.size_bytes * 8 / video.duration_s if video.duration_s > 0 else None
            bit_rate = video.bit_rate or average_bit_rate
            if average_bit_rate:
                measures.update(average_bit_rate=int(average_bit_rate))
            if bit_rate and video.fps:
                bpp = bit_rate / (video.width * video.height * video.fps)
                measures.update(bit_rate=int(bit_rate), bits_per_pixel=bpp)
                credited = bpp * CODEC_EFFICIENCY.get(video.video_codec or "", 1.0)
                span = math.log10(BPP_HIGH) - math.log10(BPP_LOW)
                parts["bitrate"] = min(1.0, max(0.0, (math.log10(credited) - math.log10(BPP_LOW)) / span))

        if partials.audio is not None:
            clipped_audio = partials.audio["clipped_fraction"]
            measures.update(audio_clipped_fraction=clipped_audio, audio_peak=partials.audio["peak"])
            parts["audio_clipping"] = 1 - min(1.0, clipped_audio / CLIPPED_AUDIO_MAX)

        measured = {name: value for name, value in parts.items() if value is not None}
        score = None
        if measured:
            score = 100 * sum(WEIGHTS[n] * v for n, v in measured.items()) / sum(WEIGHTS[n] for n in measured)
        figures = {name: rounded(value, 5) if isinstance(value, float) else value for name, value in measures.items()}
        return Findings(
            summary=ContentQualitySummary(
                score=rounded(score, 1),
                parts=QualityParts(**{name: rounded(value, 3) for name, value in parts.items()}),
                weights=QualityWeights(**WEIGHTS),
                measures=QualityMeasures(**figures),
            )
        )


def _at_analysis_size(gray: np.ndarray) -> np.ndarray:
    """Scale a frame smaller than the spec up to it, as a player would show it."""
    long_side = max(gray.shape)
    if long_side >= SPEC.size:
        return gray
    scale = SPEC.size / long_side
    size = (round(gray.shape[1] * scale), round(gray.shape[0] * scale))
    return cv2.resize(gray, size, interpolation=cv2.INTER_LINEAR)


def _measure(gray: np.ndarray) -> tuple[float, ...]:
    """(contrast, Laplacian variance, crushed share, blown share, mean luma, noise sigma) of a grey frame."""
    pixels = gray.size
    histogram = cv2.calcHist([gray], [0], None, [256], [0, 256]).ravel().astype(np.float64)
    crushed, blown = histogram[:5].sum() / pixels, histogram[251:].sum() / pixels
    levels = np.arange(256)
    mean = float(histogram @ levels) / pixels
    contrast = math.sqrt(max(0.0, float(histogram @ levels**2) / pixels - mean**2))
    laplacian_var = float(cv2.Laplacian(gray, cv2.CV_32F).var())
    return contrast, laplacian_var, crushed, blown, mean / 255, _noise_sigma(gray)


def _noise_sigma(gray: np.ndarray) -> float:
    """Immerkaer's fast noise estimate over the flatter half of the frame (edges are not noise)."""
    response = np.abs(cv2.filter2D(gray, cv2.CV_32F, NOISE_MASK))[1:-1, 1:-1]
    gradient = (np.abs(cv2.Sobel(gray, cv2.CV_32F, 1, 0)) + np.abs(cv2.Sobel(gray, cv2.CV_32F, 0, 1)))[1:-1, 1:-1]
    flat = gradient <= np.median(gradient[::4, ::4])
    return math.sqrt(math.pi / 2) / 6 * float(response[flat].mean())
