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

from pipeline.analyzer import Analyzer, AudioTrack, Context, FrameBatch, FrameSpec, Findings, Partials

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


class ContentQuality(Analyzer):
    name = "content_quality"
    frames = SPEC
    # Reads both: Analyzer.missing_input never skips such an analyzer, so a file with only
    # pictures or only sound still gets the parts it has.
    audio = True
    in_decoder = True

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
        return Findings(
            summary={
                "score": _round(score, 1),
                "parts": {name: _round(value, 3) for name, value in parts.items()},
                "weights": WEIGHTS,
                "measures": {n: _round(v, 5) if isinstance(v, float) else v for n, v in measures.items()},
            }
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


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)
