"""Audio fingerprints (Chromaprint) and how two of them are compared: the corpus view's "same sound".

`chromaprint` runs Chromaprint's own command-line tool, `fpcalc` (Debian: libchromaprint-tools;
scripts/dev.sh installs it), on the decoded track piped in as raw 16-bit PCM: no second decode
of the file. A fingerprint is one 32-bit item every ITEM_S seconds (16 classifiers of the
spectrum's chroma, two bits each), stored as base64 of the little-endian uint32 items.

Two tracks use the same sound when, at the offset where their items differ in the fewest bits
(the best alignment), at least MATCHED_SHARE of the overlapping items differ in at most
ITEM_MAX_BITS of 32 bits, over at least FULL_OVERLAP_S of fingerprint (SHORT_MATCHED_SHARE over
MIN_OVERLAP_S to FULL_OVERLAP_S). Speech laid over a sound flips some bits
of every item (a bit error rate of 0.1-0.25 in our measurements), unrelated sounds about half
(0.3-0.5 at their best offset), so the share of near-equal items tells them apart.

Across a corpus, pairs are not all compared: `same_sound_pairs` finds candidates with
bit-sampling LSH (items that agree on SAMPLED_BITS random bits vote for their videos' offset, as
in Haitsma & Kalker's lookup) and verifies only those offsets.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from dataclasses import dataclass

import numpy as np

ITEM_S = 4096 / 3 / 11025  # Chromaprint's hop: a third of a 4096-sample frame at 11025 Hz (s)
MAX_S = 600  # seconds fingerprinted from the start of a track: short-form videos fit whole
ITEM_MAX_BITS = 10  # an item "matches" when it differs in at most this many of its 32 bits
MATCHED_SHARE = 0.6  # share of matching items over the overlap that makes it the same sound
MIN_OVERLAP_S = 5.0  # at least this much fingerprint in common
# Over a short overlap the best of many offsets agrees more by chance: 1,000 generated songs under
# voices (bench/bench_corpus.py) gave unrelated pairs up to 0.68 over 5-7.4 s, none 0.6 over 8 s.
FULL_OVERLAP_S = 8.0
SHORT_MATCHED_SHARE = 0.75  # what an overlap under FULL_OVERLAP_S needs
MIN_DISTINCT_SHARE = 0.2  # a stretch whose items are mostly repeats (silence, a steady tone) tells nothing

# Candidate search: LSH_TABLES tables, each keyed by SAMPLED_BITS fixed random bit positions.
LSH_TABLES = 24
SAMPLED_BITS = 14
MAX_BUCKET = 64  # a key shared by more items than this is too common to tell sounds apart
MIN_VOTES = 4  # sampled-key agreements at one offset that make a pair worth verifying
OFFSET_BIN = 2  # votes are counted per bin of this many items (an offset between two items splits its votes)
PARTNERS = 10  # candidate pairs verified per video, its best-voted first
OFFSETS_TRIED = 2  # offset bins verified per candidate pair, its best-voted first


class FingerprintUnavailable(Exception):
    """No fingerprint: the message says why (fpcalc missing, the track too short, fpcalc's error)."""


def chromaprint(samples: np.ndarray, rate: int, max_s: float = MAX_S) -> np.ndarray:
    """The Chromaprint items (uint32) of a mono float track in [-1, 1] at `rate` Hz."""
    fpcalc = shutil.which("fpcalc")
    if fpcalc is None:
        raise FingerprintUnavailable("fpcalc is not installed (Debian: apt-get install libchromaprint-tools)")
    pcm = (np.clip(samples[: int(max_s * rate)], -1.0, 1.0) * 32767).astype("<i2").tobytes()
    command = [fpcalc, "-raw", "-json", "-rate", str(rate), "-channels", "1", "-format", "s16le", "-length", "0", "-"]
    try:
        done = subprocess.run(command, input=pcm, capture_output=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise FingerprintUnavailable(f"fpcalc did not run: {exc}") from None
    # fpcalc 1.5 exits 3 with "Error decoding audio frame (End of file)" at the end of any piped
    # input, after printing the whole fingerprint: its output decides, not its exit status.
    try:
        items = json.loads(done.stdout)["fingerprint"]
    except (ValueError, KeyError, TypeError):
        errors = [line.removeprefix("ERROR: ") for line in done.stderr.decode(errors="replace").splitlines()]
        errors = [e for e in errors if "End of file" not in e] or [f"exit status {done.returncode}"]
        if any("Empty fingerprint" in e or "Not enough audio" in e for e in errors):
            items = []
        else:
            raise FingerprintUnavailable(f"fpcalc gave no fingerprint: {'; '.join(errors)}") from None
    if not items:
        raise FingerprintUnavailable("the track is too short to fingerprint (Chromaprint needs about 3 s)")
    return np.array(items, dtype=np.uint32)


def encode(items: np.ndarray) -> str:
    return base64.b64encode(items.astype("<u4").tobytes()).decode("ascii")


def decode(text: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype="<u4").astype(np.uint32)


@dataclass(frozen=True)
class Alignment:
    """Where two fingerprints line up best: b's item `offset + i` against a's item i."""

    offset: int  # items
    overlap: int  # items compared
    bit_error_rate: float  # mean share of differing bits over the overlap (0-1)
    matched_share: float  # share of items differing in at most ITEM_MAX_BITS bits (0-1)

    @property
    def offset_s(self) -> float:
        return self.offset * ITEM_S

    @property
    def overlap_s(self) -> float:
        return self.overlap * ITEM_S

    @property
    def same_sound(self) -> bool:
        needed = MATCHED_SHARE if self.overlap_s >= FULL_OVERLAP_S else SHORT_MATCHED_SHARE
        return self.overlap_s >= MIN_OVERLAP_S and self.matched_share >= needed


def _min_overlap() -> int:
    return int(np.ceil(MIN_OVERLAP_S / ITEM_S))


def _informative(items: np.ndarray) -> bool:
    return len(items) > 0 and len(np.unique(items)) >= MIN_DISTINCT_SHARE * len(items)


def align_at(a: np.ndarray, b: np.ndarray, offset: int) -> Alignment | None:
    """The two compared at one offset; None when they overlap by less than MIN_OVERLAP_S."""
    i0, j0 = max(0, -offset), max(0, offset)
    n = min(len(a) - i0, len(b) - j0)
    if n < _min_overlap():
        return None
    errors = np.bitwise_count(a[i0 : i0 + n] ^ b[j0 : j0 + n])
    return Alignment(offset, n, float(errors.mean() / 32), float(np.mean(errors <= ITEM_MAX_BITS)))


def best_alignment(a: np.ndarray, b: np.ndarray, offsets=None) -> Alignment | None:
    """The alignment with the lowest bit error rate, over every offset with enough overlap (or
    those given); None without one, or when either side of it is mostly repeats (silence, a
    steady tone: any two such stretches look alike)."""
    if offsets is None:
        m = _min_overlap()
        offsets = range(-(len(a) - m), len(b) - m + 1)
    found = (align_at(a, b, o) for o in offsets)
    best = min((f for f in found if f is not None), key=lambda f: f.bit_error_rate, default=None)
    if best is None:
        return None
    i0, j0 = max(0, -best.offset), max(0, best.offset)
    if not (_informative(a[i0 : i0 + best.overlap]) and _informative(b[j0 : j0 + best.overlap])):
        return None
    return best


def same_sound_pairs(fingerprints: list[np.ndarray]) -> dict[tuple[int, int], Alignment]:
    """(i, j) with i < j -> their alignment, for every pair of the list that uses the same sound."""
    found = {}
    for (i, j), bins in _candidates(fingerprints).items():
        offsets = {o for b in bins for o in range(b * OFFSET_BIN - 1, (b + 1) * OFFSET_BIN + 1)}
        best = best_alignment(fingerprints[i], fingerprints[j], sorted(offsets))
        if best is not None and best.same_sound:
            found[(i, j)] = best
    return found


def _candidates(fingerprints: list[np.ndarray]) -> dict[tuple[int, int], list[int]]:
    """(i, j) -> the offset bins where their sampled keys agree most (at least MIN_VOTES times),
    for each video's best-voted pairs."""
    if len(fingerprints) < 2:
        return {}
    video = np.concatenate([np.full(len(f), k, np.int64) for k, f in enumerate(fingerprints)])
    position = np.concatenate([np.arange(len(f), dtype=np.int64) for f in fingerprints])
    items = np.concatenate(fingerprints).astype(np.uint64)
    n, shift = len(fingerprints), max(len(f) for f in fingerprints) // OFFSET_BIN + 1
    rng = np.random.default_rng(14)  # fixed: the same keys on every run
    votes = []
    for _ in range(LSH_TABLES):
        bits = rng.choice(32, SAMPLED_BITS, replace=False)
        key = np.zeros(len(items), np.uint64)
        for k, bit in enumerate(bits):
            key |= ((items >> np.uint64(bit)) & np.uint64(1)) << np.uint64(k)
        votes.append(_table_votes(key, video, position, n, shift))
    codes = np.concatenate(votes)
    if len(codes) == 0:
        return {}
    codes, counts = np.unique(codes, return_counts=True)
    keep = counts >= MIN_VOTES
    codes, counts = codes[keep], counts[keep]
    span = 2 * shift + 1  # code = (i * n + j) * span + (offset bin + shift)
    bins: dict[int, list[tuple[int, int]]] = {}  # pair -> (votes, offset bin), most votes first
    for at in np.argsort(-counts, kind="stable").tolist():
        bins.setdefault(int(codes[at] // span), []).append((int(counts[at]), int(codes[at] % span - shift)))
    # Each video keeps its PARTNERS best-voted pairs: similar-sounding music collides by chance
    # too, and a sound many videos share stays connected through each one's best partners.
    partners: dict[int, int] = {}
    out: dict[tuple[int, int], list[int]] = {}
    for pair, voted in sorted(bins.items(), key=lambda item: -item[1][0][0]):
        i, j = divmod(pair, n)
        if partners.get(i, 0) < PARTNERS or partners.get(j, 0) < PARTNERS:
            partners[i], partners[j] = partners.get(i, 0) + 1, partners.get(j, 0) + 1
            out[(i, j)] = [b for _, b in voted[:OFFSETS_TRIED]]
    return out


def _table_votes(key: np.ndarray, video: np.ndarray, position: np.ndarray, n: int, shift: int) -> np.ndarray:
    """One vote code per pair of items of two different videos that share a key (buckets of at
    most MAX_BUCKET items), each video's repeats of one key at consecutive items counted once."""
    order = np.lexsort((position, video, key))
    key, video, position = key[order], video[order], position[order]
    keep = np.ones(len(key), bool)  # a run of one key inside one video is one sound event
    keep[1:] = (key[1:] != key[:-1]) | (video[1:] != video[:-1]) | (position[1:] != position[:-1] + 1)
    key, video, position = key[keep], video[keep], position[keep]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    sizes = np.diff(np.r_[starts, len(key)])
    small = np.repeat(sizes <= MAX_BUCKET, sizes)
    key, video, position = key[small], video[small], position[small]
    codes = []
    for step in range(1, MAX_BUCKET):
        same = (key[step:] == key[:-step]) & (video[step:] != video[:-step])
        if not same.any():
            if not (key[step:] == key[:-step]).any():
                break
            continue
        va, vb = video[:-step][same], video[step:][same]
        pa, pb = position[:-step][same], position[step:][same]
        first = va < vb
        i, j = np.where(first, va, vb), np.where(first, vb, va)
        offset = np.where(first, pb - pa, pa - pb)  # j's item offset + k against i's item k
        codes.append((i * n + j) * (2 * shift + 1) + (np.floor_divide(offset, OFFSET_BIN) + shift))
    return np.concatenate(codes) if codes else np.zeros(0, np.int64)
