"""text_overlay with rapidocr against EasyOCR, side by side in one run on the same clips.

    python bench/bench_ocr.py

Both through the analyzer's own code in this process (run_local), each reader's set-up
included once (a warm-up run on a one-second clip first). EasyOCR's published weights come from
../shared/models/easyocr. Prints seconds of analysis per second of video, and the ratio.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests"), str(REPO / "bench")]
os.environ.setdefault("NUMBA_CACHE_DIR", str(REPO / ".cache" / "numba"))

from bench_service import machine  # noqa: E402

SHARED = REPO.parent / "shared"


def main() -> int:
    from conftest import link_models
    from helpers import run_video

    from pipeline.sample import portrait_captions, write_clip
    from pipeline.settings import Settings

    scratch = Path(tempfile.mkdtemp(prefix="reelscope-bench-ocr-"))
    models = link_models(scratch / "models", {f"easyocr/{n}": SHARED / "models" / "easyocr" / n for n in ("craft_mlt_25k.pth", "english_g2.pth")})
    clips = [SHARED / "media" / "pyscenedetect" / "testvideo.mp4", Path(write_clip(str(scratch / "portrait.mp4"), portrait_captions()))]
    print(f"machine: {machine()}")
    per_second = {}
    for reader in ("rapidocr", "easyocr"):
        settings = Settings(models_dir=models, text_overlay={"reader": reader})
        run_video(clips[1], "text_overlay", settings)  # imports and first-use compilation, paid once
        wall = seconds = 0.0
        for clip in clips:
            start = time.perf_counter()
            result = run_video(clip, "text_overlay", settings)
            wall += time.perf_counter() - start
            seconds += result.video.duration_s
        per_second[reader] = wall / seconds
        print(f"{reader:9} {wall:6.1f} s for {seconds:.1f} s of video: {per_second[reader]:.2f} s per video second")
    print(f"EasyOCR / rapidocr = {per_second['easyocr'] / per_second['rapidocr']:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
