"""The corpus view's data: every document of a backfill (or analyze --out) directory, its headline
figures, and the groups of videos that share footage or a sound.

- Headline figures: the columns of the backfill's videos.parquet (pipeline.backfill.FIGURES, read
  from each typed document the same way), so a figure added there appears here too; and
  DOCUMENT_FIGURES, what the documents say that it has no column for (the hook's first text, word
  and speech, the cuts on the beat, each platform's safe-zone shares).
- Near-duplicate footage: a perceptual hash (imagehash's pHash, 64 bits) of each shot's keyframe,
  the thumbnail cut_analysis already keeps in the document (no second decode of any video). A
  re-upload is often cropped (platform bars, a watermark cut off) and always re-encoded: each
  keyframe is hashed whole and at its central CROP_SCALES, and two shots of different videos are
  the same footage when some pair of those hashes (one of them whole) differs in at most
  FOOTAGE_MAX_BITS bits. A flat keyframe (a black or single-colour frame) says nothing and is not
  hashed. Videos linked by shared shots form a group (union-find); a pair sharing nearly all its
  shots is called a re-upload.
- Same sound: audio_analysis's Chromaprint fingerprints, compared as pipeline/fingerprint.py says
  (speech laid over the sound still matches), grouped the same way.
"""

from __future__ import annotations

import base64
import io
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
import numpy as np

from pipeline import fingerprint
from pipeline.backfill import FIGURES
from pipeline.exports import DocumentError, read_document
from pipeline.schema import Status, VideoResult

# Of 64 bits. Measured on generated textures (400 of them, each copy re-encoded at JPEG quality 35,
# rescaled, cropped 0-10 % a side): copies 0-8; other footage 10 once in 79,800 pairs, else 14 or more.
FOOTAGE_MAX_BITS = 8
CROP_SCALES = (1.0, 0.95, 0.9, 0.85, 0.8)  # central crops hashed: a copy cropped up to 10 % a side still matches
FLAT_STD = 6.0  # a keyframe whose grey levels vary less than this (0-255) is flat: not hashed
BLOCK = 256  # keyframes compared with all others at once (memory: 8 x BLOCK x keyframes x scales bytes)
REUPLOAD_SHARE = 0.8  # a pair of videos sharing this share of each one's hashed shots is a re-upload


def _fused_hook(result):
    return next(s.data for s in result.segments if s.label == "hook")


def _safe_zone_share(platform: str, what: str):
    def read(result):
        zones = result.summary.safe_zones
        found = zones.platforms.get(platform) if zones is not None and zones.platforms else None
        return getattr(found, f"{what}_under_share") if found is not None else None

    return read


# Figures the documents carry that videos.parquet has no column for (yet), in FIGURES' shape. A
# column that FIGURES gains later is read from there instead.
FUSION = "cross_analyzer_intelligence"
DOCUMENT_FIGURES = (
    ("hook_first_text_s", "number", FUSION, lambda r: _fused_hook(r).first_text_s),
    ("hook_first_word_s", "number", FUSION, lambda r: _fused_hook(r).first_word_s),
    ("hook_first_speech_s", "number", FUSION, lambda r: _fused_hook(r).first_speech_s),
    ("on_beat_share", "number", FUSION, lambda r: r.summary.beat_sync.on_beat_share if r.summary.beat_sync else None),
    *(
        (f"{platform}_{what}_under_share", "number", FUSION, _safe_zone_share(platform, what))
        for platform in ("tiktok", "instagram_reels", "youtube_shorts")
        for what in ("text", "face")
    ),
)


@dataclass
class Keyframe:
    shot: int  # the shot's index in its video
    start_s: float
    end_s: float
    thumbnail: str  # base64 JPEG, as in the document
    hashes: np.ndarray  # uint64 pHash per CROP_SCALES entry, the whole frame first


@dataclass
class Entry:
    """One document of the directory."""

    id: str  # the document's name (<id>.json): unique in its folder
    path: Path  # the document
    source: str = ""
    status: str = "unreadable"  # ok | failed | unreadable
    error: str | None = None
    duration_s: float | None = None
    figures: dict[str, object] = field(default_factory=dict)
    keyframes: list[Keyframe] = field(default_factory=list)
    shots: int = 0  # shots in the document (hashed or not)
    fingerprint: np.ndarray | None = None
    fingerprint_absent: str | None = None


@dataclass
class ShotMatch:
    a: str  # video id
    shot_a: int
    b: str
    shot_b: int
    distance: int  # differing bits of the closest hashes (0-64)


@dataclass
class FootagePair:
    a: str
    b: str
    shots: list[ShotMatch]
    reupload: bool  # nearly every hashed shot of each is in the other


@dataclass
class SoundPair:
    a: str
    b: str
    alignment: fingerprint.Alignment


@dataclass
class Group:
    videos: list[str]  # ids, in the directory's order
    footage: list[FootagePair] = field(default_factory=list)
    sound: list[SoundPair] = field(default_factory=list)


@dataclass
class Corpus:
    directory: Path
    entries: list[Entry]
    figures: list[tuple[str, str]]  # (column, kind): kind "number" or "flag", the figures some video has
    footage_groups: list[Group]
    sound_groups: list[Group]

    def entry(self, video_id: str) -> Entry:
        return next(e for e in self.entries if e.id == video_id)


def documents(directory: Path) -> list[Path]:
    """A backfill's results/*.json, or the *.json `reelscope analyze --out` wrote."""
    folder = directory / "results" if (directory / "results").is_dir() else directory
    return sorted(folder.glob("*.json"))


def build(directory: Path) -> Corpus:
    """The corpus of `directory`, its documents read here one after the other."""
    return assemble(directory, [read_entry(path)[0] for path in documents(directory)])


def read_entry(path: Path) -> tuple[Entry, VideoResult | None]:
    """A document's entry, and the document (None when it cannot be read: the entry says why)."""
    try:
        result = read_document(path)
    except DocumentError as exc:
        return Entry(id=path.stem, path=path, error=str(exc)), None
    return entry_of(result, path), result


def assemble(directory: Path, entries: list[Entry]) -> Corpus:
    """The corpus of these entries: the figures some video has, and the groups."""
    figures = [("duration_s", "number")] + [
        (column, kind) for column, kind, _, _ in _figures() if any(e.figures.get(column) is not None for e in entries)
    ]
    return Corpus(directory, entries, figures, footage_groups(entries), sound_groups(entries))


def _figures() -> list[tuple[str, str, str, object]]:
    """(column, "number" | "flag", analyzer, read) of videos.parquet's figures, then the documents' own."""
    parquet = [(c, "flag" if str(kind) == "bool" else "number", name, read) for c, kind, name, read in FIGURES]
    return parquet + [f for f in DOCUMENT_FIGURES if f[0] not in {c for c, *_ in parquet}]


def entry_of(result: VideoResult, path: Path) -> Entry:
    entry = Entry(
        id=path.stem,
        path=path,
        source=result.source,
        status=result.status.value,
        error=result.error,
        duration_s=result.video.duration_s if result.video else None,
    )
    for column, _, name, read in _figures():
        ran = result.analyzers.get(name)
        try:  # a figure this document predates reads as missing
            entry.figures[column] = read(ran) if ran is not None and ran.status == Status.ok else None
        except (AttributeError, StopIteration, TypeError):
            entry.figures[column] = None
    cuts = result.analyzers.get("cut_analysis")
    if cuts is not None and cuts.status == Status.ok:
        shots = [s for s in cuts.segments if s.label == "shot"]
        entry.shots = len(shots)
        for shot in shots:
            hashes = keyframe_hashes(shot.data.thumbnail_jpeg) if shot.data.thumbnail_jpeg else None
            if hashes is not None:
                entry.keyframes.append(Keyframe(shot.data.index, shot.start_s, shot.end_s, shot.data.thumbnail_jpeg, hashes))
    audio = result.analyzers.get("audio_analysis")
    if audio is None or audio.status != Status.ok:
        entry.fingerprint_absent = "audio_analysis " + (
            "not run" if audio is None else f"{audio.status.value}: {audio.reason or audio.error}"
        )
    elif audio.summary.fingerprint is None:
        entry.fingerprint_absent = audio.summary.fingerprint_absent or "no fingerprint in the document"
    else:
        entry.fingerprint = fingerprint.decode(audio.summary.fingerprint.raw_b64)
    return entry


def keyframe_hashes(thumbnail_b64: str) -> np.ndarray | None:
    """pHash of the keyframe whole and of its central crops; None for a flat picture."""
    import imagehash
    from PIL import Image

    image = Image.open(io.BytesIO(base64.b64decode(thumbnail_b64))).convert("L")
    if float(np.asarray(image).std()) < FLAT_STD:
        return None
    width, height = image.size
    hashes = []
    for scale in CROP_SCALES:
        dx, dy = width * (1 - scale) / 2, height * (1 - scale) / 2
        crop = image.crop((round(dx), round(dy), round(width - dx), round(height - dy)))
        bits = imagehash.phash(crop).hash.flatten()
        hashes.append(int.from_bytes(np.packbits(bits).tobytes(), "big"))
    return np.array(hashes, dtype=np.uint64)


def shot_matches(entries: list[Entry]) -> list[ShotMatch]:
    """Pairs of keyframes of different videos within FOOTAGE_MAX_BITS, each pair once."""
    owners, frames = [], []
    for k, entry in enumerate(entries):
        owners += [k] * len(entry.keyframes)
        frames += entry.keyframes
    if len(frames) < 2:
        return []
    owner = np.array(owners)
    scaled = np.stack([f.hashes for f in frames])  # (n, scales)
    whole = scaled[:, 0]
    matches = []
    for r0 in range(0, len(frames), BLOCK):
        rows = slice(r0, r0 + BLOCK)
        # whole against every crop of the others, and every crop of these against the others whole
        there = np.bitwise_count(whole[rows, None, None] ^ scaled[None, :, :]).min(axis=2)
        back = np.bitwise_count(scaled[rows, None, :] ^ whole[None, :, None]).min(axis=2)
        distance = np.minimum(there, back)
        i, j = np.nonzero(distance <= FOOTAGE_MAX_BITS)
        i += r0
        keep = (i < j) & (owner[i] != owner[j])
        for a, b in zip(i[keep].tolist(), j[keep].tolist()):
            ea, eb = entries[owner[a]], entries[owner[b]]
            matches.append(ShotMatch(ea.id, frames[a].shot, eb.id, frames[b].shot, int(distance[a - r0, b])))
    return matches


def footage_groups(entries: list[Entry]) -> list[Group]:
    by_pair: dict[tuple[str, str], list[ShotMatch]] = defaultdict(list)
    for m in shot_matches(entries):
        by_pair[(m.a, m.b)].append(m)
    hashed = {e.id: len(e.keyframes) for e in entries}
    pairs = []
    for (a, b), shots in by_pair.items():
        share_a = len({m.shot_a for m in shots}) / hashed[a]
        share_b = len({m.shot_b for m in shots}) / hashed[b]
        pairs.append(FootagePair(a, b, shots, min(share_a, share_b) >= REUPLOAD_SHARE))
    groups = _groups(entries, [(p.a, p.b) for p in pairs])
    for group in groups:
        members = set(group.videos)
        group.footage = [p for p in pairs if p.a in members]
    return groups


def sound_groups(entries: list[Entry]) -> list[Group]:
    heard = [e for e in entries if e.fingerprint is not None]
    pairs = [
        SoundPair(heard[i].id, heard[j].id, alignment)
        for (i, j), alignment in sorted(fingerprint.same_sound_pairs([e.fingerprint for e in heard]).items())
    ]
    groups = _groups(entries, [(p.a, p.b) for p in pairs])
    for group in groups:
        members = set(group.videos)
        group.sound = [p for p in pairs if p.a in members]
    return groups


def _groups(entries: list[Entry], edges: list[tuple[str, str]]) -> list[Group]:
    """Connected components of the videos under `edges` (union-find), singletons left out,
    largest first, each listing its videos in the directory's order."""
    parent = {e.id: e.id for e in entries}

    def root(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in edges:
        parent[root(a)] = root(b)
    members: dict[str, list[str]] = defaultdict(list)
    for e in entries:
        members[root(e.id)].append(e.id)
    found = [Group(videos) for videos in members.values() if len(videos) > 1]
    return sorted(found, key=lambda g: -len(g.videos))
