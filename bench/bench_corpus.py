"""How long the corpus view takes over 1,000 documents (issue #14's target: 30 s or less).

    python bench/bench_corpus.py [--videos 1000] [--dir DIR]

Makes DIR/results/*.json (kept: a second run reuses them): one real document (cut_analysis and
audio_analysis of a generated 12 s clip, 4 shots) as the template, and N copies of it, each with
its own keyframes (generated textures, 160 px JPEGs as cut_analysis keeps them), its own
Chromaprint fingerprint (fpcalc on a generated song under a generated voice, 12 s at 16 kHz),
and its own duration and cut rate. Planted duplicates: every 10th video re-uploads the one before
(its keyframes re-encoded and cropped 5 % a side, the same sound), every 7th reuses the song of
the one before under another voice.

Then times `reelscope report DIR` (write_corpus) cold (every video's own report written too) and
warm (the per-video reports fresh: only the page), interleaved over --rounds rounds; checks the
groups found against the planted ones; and times the fingerprint's share of audio_analysis on a
minute of audio.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("NUMBA_CACHE_DIR", str(REPO / ".cache" / "numba"))

SECONDS = 12.0
SHOTS = 4


def template(folder: Path) -> dict:
    """A real document of a generated clip (cut_analysis, audio_analysis), as JSON."""
    from pipeline.corpus_sample import song, voice, write_clip_with_audio
    from pipeline.engine import Plan, VideoRequest
    from pipeline.runners.local import run_local
    from pipeline.sample import ClipSpec, Shot

    spec = ClipSpec(tuple(Shot(SECONDS / SHOTS, (60 + 40 * k, 120, 200 - 30 * k), seed=k + 1) for k in range(SHOTS)),
                    fps=15, width=180, height=320, audio=None)  # fmt: skip
    clip = write_clip_with_audio(str(folder / "template.mp4"), spec, song(0, SECONDS) + voice(0, SECONDS))
    [result] = run_local([VideoRequest("template", clip)], Plan.build(["cut_analysis", "audio_analysis"]))
    return json.loads(result.to_json())


def keyframe(seed: int, crop: float = 0.0) -> str:
    from pipeline.analyzers.cuts import jpeg_thumbnail
    from pipeline.sample import ClipSpec, Shot, render_frames

    shot = Shot(1.0, ((50 * seed + 60) % 255, 120, (200 - 30 * seed) % 255), seed=seed)
    frame = next(render_frames(ClipSpec((shot,), width=180, height=320, audio=None)))[1]
    if crop:
        h, w = frame.shape[:2]
        frame = frame[int(h * crop) : h - int(h * crop), int(w * crop) : w - int(w * crop)]
        ok, encoded = cv2.imencode(".jpg", cv2.resize(frame, (270, 480)), [cv2.IMWRITE_JPEG_QUALITY, 35])
        frame = cv2.imdecode(encoded, cv2.IMREAD_UNCHANGED)
    return base64.b64encode(jpeg_thumbnail(frame)).decode()


def make_corpus(folder: Path, videos: int) -> None:
    from pipeline import fingerprint
    from pipeline.corpus_sample import song, voice

    results = folder / "results"
    if results.is_dir() and len(list(results.glob("*.json"))) == videos:
        return
    results.mkdir(parents=True, exist_ok=True)
    base = template(folder)
    rng = np.random.default_rng(0)
    started = time.perf_counter()
    songs, voices, footage = [], [], []  # each video's song, voice and first shot seed
    for k in range(videos):
        reupload, reused_song = k % 10 == 9, k % 7 == 6
        footage.append(footage[-1] if reupload else 1000 + SHOTS * k)
        songs.append(songs[-1] if (reupload or reused_song) else k)
        voices.append(voices[-1] if reupload else k)
        shot_seeds, song_seed, voice_seed = range(footage[k], footage[k] + SHOTS), songs[k], voices[k]
        doc = json.loads(json.dumps(base))
        doc["id"], doc["source"] = f"video-{k:04d}", f"/corpus/video-{k:04d}.mp4"
        doc["video"]["duration_s"] = float(rng.uniform(8, 60))
        cuts = doc["analyzers"]["cut_analysis"]
        cuts["summary"]["cuts_per_minute"] = float(rng.uniform(0, 60))
        for segment, seed in zip((s for s in cuts["segments"] if s["label"] == "shot"), shot_seeds):
            segment["data"]["thumbnail_jpeg"] = keyframe(seed, crop=0.05 if reupload else 0.0)
        track = song(song_seed, SECONDS, rate=16_000) + voice(100_000 + voice_seed, SECONDS, rate=16_000)
        items = fingerprint.chromaprint(track, 16_000)
        doc["analyzers"]["audio_analysis"]["summary"]["fingerprint"]["raw_b64"] = fingerprint.encode(items)
        doc["analyzers"]["audio_analysis"]["summary"]["fingerprint"]["item_count"] = len(items)
        (results / f"{doc['id']}.json").write_text(json.dumps(doc))
        if k % 100 == 99:
            print(f"  {k + 1} documents generated in {time.perf_counter() - started:.0f} s", flush=True)
    (folder / "truth.json").write_text(json.dumps({"songs": songs, "footage": footage}))


def truth_groups(labels: list[int]) -> set[frozenset[str]]:
    """The planted groups: videos sharing a label, two or more."""
    members: dict[int, set[str]] = {}
    for k, label in enumerate(labels):
        members.setdefault(label, set()).add(f"video-{k:04d}")
    return {frozenset(m) for m in members.values() if len(m) > 1}


def compare(found: list, planted: set[frozenset[str]], what: str) -> None:
    groups = {frozenset(g.videos) for g in found}
    print(f"{what}: {len(planted)} planted groups, {len(groups & planted)} found exactly, {len(groups - planted)} other groups found")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=1000)
    parser.add_argument("--dir", type=Path, default=REPO / ".cache" / "bench_corpus")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    from pipeline import corpus
    from pipeline.report.corpus import write_corpus

    make_corpus(args.dir, args.videos)
    # Interleaved rounds, so that every way sees the same machine; medians printed.
    times: dict[str, list[float]] = {"cold": [], "warm": []}
    loads = []
    for _ in range(args.rounds):
        for way in times:
            cold = way == "cold"
            if cold:
                for page in (args.dir / "results").glob("*.html"):
                    page.unlink()
            started = time.perf_counter()
            _, written = write_corpus(args.dir)
            times[way].append(time.perf_counter() - started)
            assert written == (args.videos if cold else 0)
            loads.append(os.getloadavg()[0])
    built = corpus.build(args.dir)
    print(f"machine: {os.cpu_count()} CPUs, load average {min(loads):.1f}-{max(loads):.1f} during the runs (other work slows every figure)")
    print(f"{len(built.entries)} documents, {sum(len(e.keyframes) for e in built.entries)} keyframes hashed, "
          f"{len(built.footage_groups)} shared-footage groups, {len(built.sound_groups)} same-sound groups")  # fmt: skip
    truth = json.loads((args.dir / "truth.json").read_text())
    compare(built.footage_groups, truth_groups(truth["footage"]), "shared footage")
    compare(built.sound_groups, truth_groups(truth["songs"]), "same sound")
    page = args.dir / "corpus.html"
    print(f"`reelscope report DIR` (page {page.stat().st_size / 1e6:.1f} MB; cold: +{args.videos} per-video reports; target 30 s):")
    for way, seconds in times.items():
        print(f"  {way}  median {statistics.median(seconds):5.1f} s   ({', '.join(f'{t:.1f}' for t in seconds)})")
    fingerprint_cost()


def fingerprint_cost(repeats: int = 5) -> None:
    """What the fingerprint adds to audio_analysis: fpcalc on a minute of decoded audio, against
    the whole analyzer's process step on it (which includes it)."""
    from pipeline import fingerprint
    from pipeline.analyzer import AudioTrack
    from pipeline.analyzers.audio import AudioAnalysis
    from pipeline.corpus_sample import song, voice

    track = (song(1, 60, rate=16_000) + voice(2, 60, rate=16_000)).astype(np.float32)
    analyzer = AudioAnalysis()
    analyzer.setup()
    audio = AudioTrack(track, 16_000, 0.0, 0.0, float(np.abs(track).max()))
    times = {"fpcalc": [], "audio_analysis": []}
    for _ in range(repeats):  # interleaved: both see the same machine
        started = time.perf_counter()
        fingerprint.chromaprint(track, 16_000)
        times["fpcalc"].append(time.perf_counter() - started)
        started = time.perf_counter()
        analyzer.process_audio(audio)
        times["audio_analysis"].append(time.perf_counter() - started)
    fp, whole = (statistics.median(times[k]) for k in ("fpcalc", "audio_analysis"))
    print(f"fingerprint of 60 s of audio: {fp * 1000:.0f} ms (median of {repeats}); audio_analysis with it: {whole * 1000:.0f} ms")


if __name__ == "__main__":
    main()
