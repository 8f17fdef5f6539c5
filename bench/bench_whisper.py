"""speech_transcription with Whisper tiny.en (../shared/models), in times realtime: audio seconds
per wall second, on real speech.

    python bench/bench_whisper.py [--repeats N] [AUDIO ...]
        (default: ../shared/media/faster-whisper/jfk.flac, stereo_diarization.wav, pyannote/sample.wav)

Per file: the model alone (the whisper runtime's pass and process_audio on the decoded track:
VAD, batched decode, word alignment; for a stereo file with two speakers, both channels) and
decode + model + finalize, best of N warm runs; the model's load is printed once. The models directory is a temporary one of symbolic links: nothing is copied.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARED = REPO.parent / "shared"
DEFAULT = [
    SHARED / "media" / "faster-whisper" / "jfk.flac",
    SHARED / "media" / "faster-whisper" / "stereo_diarization.wav",
    SHARED / "media" / "pyannote" / "sample.wav",
]


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("audio", nargs="*", type=Path, default=DEFAULT)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    model_dir = SHARED / "models" / "faster-whisper-tiny.en"
    if not model_dir.is_dir():
        sys.exit(f"Whisper tiny.en not found at {model_dir}")

    os.environ["HF_HUB_OFFLINE"] = "1"  # nothing may reach a hub

    from actors.whisper import MODELS, WhisperRuntime
    from pipeline.analyzer import Context, Partials
    from pipeline.analyzers.whisper import SpeechTranscription
    from pipeline.engine.decode import Decoder
    from pipeline.settings import Settings

    links = Path(tempfile.mkdtemp(prefix="bench-whisper-"))
    (links / MODELS["tiny.en"].weights.name).symlink_to(model_dir)
    settings = Settings(models_dir=links, speech_transcription={"model": "tiny.en"})

    analyzer = SpeechTranscription(settings)
    runtime = WhisperRuntime(settings)
    start = time.perf_counter()
    runtime.load(analyzer)
    load = time.perf_counter() - start
    [used] = runtime.models_used[analyzer.name][:1]
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.processor() or platform.platform()}")
    print(f"model: {used.id} on {used.device} ({used.dtype}); load {load:.2f} s (digests checked)")

    def transcribe(track):
        return analyzer.process_audio(track, runtime.predict(track, frozenset({analyzer.name})))

    for path in args.audio:
        [track] = list(Decoder(str(path), [], True))
        heard = transcribe(track)
        model_s = best_of(lambda: transcribe(track), args.repeats)

        def whole() -> None:
            decoder = Decoder(str(path), [], True)
            [track] = list(decoder)
            analyzer.finalize(Partials(audio=transcribe(track)), Context(decoder.info, {}))

        whole_s = best_of(whole, args.repeats)
        seconds = track.duration_s
        print(
            f"{path.name}: {seconds:.1f} s of audio, channels {heard.channels}; "
            f"model {model_s:.2f} s = {seconds / model_s:.1f}x realtime; "
            f"decode+model+finalize {whole_s:.2f} s = {seconds / whole_s:.1f}x realtime"
        )


if __name__ == "__main__":
    main()
