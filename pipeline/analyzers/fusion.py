"""cross_analyzer_intelligence: every other analyzer's result fused into one per-second timeline,
a fused view of the hook, a written summary and a reconstruction score.

It consumes no frames or audio: `finalize` reads the results of the analyzers that ran before it
(`uses`: all the others; none is pulled in) and runs where results are assembled. Any input may
be missing (not requested, skipped, failed): the fields it would fill are null (not measured),
never empty (measured, nothing found), and `summary.inputs` says which analyzers were read and
why each other one was not.

Timeline: one "second" segment per second k of the video ([k, k+1) s; the last one runs to the
end of the video, and a sliver under shots.TAIL_S counts in the second before, as every
per-second curve here does). data:
    shots          indices of the cut_analysis shots overlapping the second
    transitions    [{kind, at_s}]: shot boundaries in the second (cut, dissolve, fade), at the
                   first frame of the new shot
    camera         camera_analysis's movement of the shots overlapping it ("pan right", "static")
    motion         camera_analysis's motion energy that second (frame widths per second)
    objects        {class: tracks} of object_detection overlapping the second
    people         body_pose person tracks overlapping it
    faces          face tracks overlapping it (eye_tracking's, else age_estimation's)
    descriptions   qwen2_vl_temporal's descriptions of the windows overlapping it
    speech         share of the second inside speech_flow's (VAD) speech
    words          speech_transcription's words that start in the second
    emotions       speech_emotion's labels overlapping it
    text           text_overlay's texts on screen during the second
    audio          audio_analysis's heuristic classes (speech / music / silence) overlapping it
    sounds         audio_environment's sound classes overlapping it
    loudness_dbfs  mean power of audio_analysis's loudness windows starting in the second
    pace           temporal_flow's pace (0..1)
    coverage       that second's coverage of each dimension of the reconstruction score
The "hook" segment ([0, HOOK_S), the whole video when shorter) holds the same fields over that
span (camera motion, pace and loudness as means over its seconds), the times of the first cut,
text and speech, and a sentence built from them.

Summary:
    text, sentences  the written summary: template sentences, each filled from fields that are
                     present and listing the analyzers it came from (`sources`); a sentence whose
                     source is missing is left out, so nothing is said that no analyzer measured.
    reconstruction   the reconstruction score, below
    inputs           used (analyzers read) and not_used {name: why}
    seconds          length of the timeline

Reconstruction score: how much of the video the document accounts for, well enough to
rebuild it in words. Five dimensions, each with its weight and the depth each source gives it:
    visual_structure 0.20  cut_analysis: 1.0 over the time its shots span
    visual_content   0.30  qwen2_vl_temporal: 1.0 over the time its windows span (what is shown
                           and happening, in words); else object_detection: 0.5 over the whole
                           video (which of 80 kinds of objects are there, not what happens)
    speech           0.20  speech_transcription: 1.0 over the whole video (the words, and
                           silence where there are none); else speech_flow: 1.0 where the VAD
                           heard no speech (nothing to transcribe), 0.5 where it heard speech
                           (that someone speaks, not what is said)
    on_screen_text   0.10  text_overlay: 1.0 over the whole video
    audio            0.20  audio_environment: 1.0 over the whole video (model-labelled sounds);
                           else audio_analysis: 0.5 (loudness and a heuristic speech / music /
                           silence split)
A second's coverage of a dimension is the largest depth among its sources weighted by the
share of the second each covers (speech_flow: 1.0 on its non-speech share plus 0.5 on its
speech share). A dimension's coverage is the mean over the timeline's seconds (0..1), and

    score = 100 * sum(weight_d * coverage_d) / sum(weight_d),

the sums over the dimensions that apply: speech and audio do not apply to a video without an
audio stream, nor the visual dimensions to one without a video stream (nothing to rebuild
there, so they neither raise nor lower the score). The summary lists each dimension's coverage,
weight, sources read and missing sources with the reason.

What it can tell: where each analyzer's findings sit against the others, second by second; what
the document leaves unknown (null fields, low coverage) and why. What it cannot: anything the
analyzers did not measure, and whether they are right (a wrong transcript or description counts
as full coverage). The score measures completeness of the record, not the quality of the video
or of the analyzers' models; the weights and depths are choices, not fitted to anything.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pipeline.analyzer import Analyzer, Context, Findings, Partials
from pipeline.analyzers.shots import TAIL_S, loudness_per_second, mean_db, whole_seconds
from pipeline.analyzers.temporal_flow import HOOK_S
from pipeline.registry import ALL_NAMES
from pipeline.schema import AnalyzerResult, Segment, VideoInfo

NAME = "cross_analyzer_intelligence"

Span = tuple[float, float]

WEIGHTS = {"visual_structure": 0.2, "visual_content": 0.3, "speech": 0.2, "on_screen_text": 0.1, "audio": 0.2}
DETECTOR_DEPTH = 0.5  # object_detection: what kinds of things are there, not what happens
VAD_SPEECH_DEPTH = 0.5  # speech_flow over speech: someone speaks, not what is said
HEURISTIC_AUDIO_DEPTH = 0.5  # audio_analysis: loudness and a three-way heuristic class

MAX_QUOTED_WORDS = 40  # of the transcript, in the written summary
MAX_LISTED = 6  # texts, objects, descriptions named in one sentence
SHORT_REASON = 40  # characters of a reason the written summary still quotes


@dataclass(frozen=True)
class Second:
    index: int
    start_s: float
    end_s: float

    @property
    def span(self) -> Span:
        return (self.start_s, self.end_s)


class CrossAnalyzerIntelligence(Analyzer):
    name = NAME
    uses = tuple(n for n in ALL_NAMES if n != NAME)

    def finalize(self, partials: Partials, context: Context) -> Findings:
        facts = Facts(context)
        seconds = timeline_seconds(context.video.duration_s)
        coverage = {k.index: facts.coverage(k.span) for k in seconds}
        segments = [
            Segment(
                start_s=k.start_s,
                end_s=k.end_s,
                label="second",
                data={
                    "second": k.index,
                    **facts.moment(k.span),
                    **facts.curves_at([k.index]),
                    "coverage": coverage[k.index],
                },
            )
            for k in seconds
        ]
        hook_span = (0.0, _round(min(HOOK_S, context.video.duration_s)))
        hook_seconds = [k.index for k in seconds if k.start_s < hook_span[1] or k.index == 0]
        hook = {**facts.moment(hook_span), **facts.curves_at(hook_seconds), **facts.firsts()}
        hook["sentence"] = hook_sentence(hook, hook_span)
        segments.append(Segment(start_s=hook_span[0], end_s=hook_span[1], label="hook", data=hook))
        sentences = summary_sentences(facts, hook)
        return Findings(
            segments=segments,
            summary={
                "seconds": len(seconds),
                "text": " ".join(s["text"] for s in sentences),
                "sentences": sentences,
                "reconstruction": reconstruction(facts, list(coverage.values())),
                "inputs": facts.inputs(),
            },
        )


def timeline_seconds(duration_s: float) -> list[Second]:
    """The seconds of the timeline: [k, k+1), the last one to the end of the video."""
    n = whole_seconds(duration_s)
    return [Second(k, float(k), float(k + 1) if k < n - 1 else _round(max(duration_s, k))) for k in range(n)]


def overlap(a: Span, b: Span) -> float:
    return max(0.0, min(a[1], b[1]) - max(a[0], b[0]))


def touches(segment: Span, span: Span) -> bool:
    """The segment shows during the span: they overlap, or an instant segment lies inside it."""
    if segment[1] <= segment[0] or span[1] <= span[0]:
        return span[0] <= segment[0] <= span[1] if span[1] <= span[0] else span[0] <= segment[0] < span[1]
    return overlap(segment, span) > 0


def share(span: Span, spans: Iterable[Span]) -> float:
    """Share of `span` inside the union of `spans` (which may overlap each other)."""
    length = span[1] - span[0]
    if length <= 0:
        return 1.0 if any(a <= span[0] <= b for a, b in spans) else 0.0
    clipped = sorted((max(a, span[0]), min(b, span[1])) for a, b in spans if min(b, span[1]) > max(a, span[0]))
    covered, reach = 0.0, span[0]
    for a, b in clipped:
        if b > reach:
            covered += b - max(a, reach)
            reach = b
    return covered / length


class Facts:
    """The results of one video, read the way the timeline and the summary need them."""

    def __init__(self, context: Context) -> None:
        self.video: VideoInfo = context.video
        self.results = context.results
        self.ok: dict[str, AnalyzerResult] = {
            name: result for name in ALL_NAMES if name != NAME and (result := context.ok(name)) is not None
        }
        self.whole: Span = (0.0, max(context.video.duration_s, 0.0))

    def get(self, name: str) -> AnalyzerResult | None:
        return self.ok.get(name)

    def segments(self, name: str, *labels: str, exclude: tuple[str, ...] = ()) -> list[Segment] | None:
        """`name`'s segments (those labelled `labels`, or all but `exclude`), None when it did not succeed."""
        result = self.ok.get(name)
        if result is None:
            return None
        return [s for s in result.segments if (s.label in labels if labels else s.label not in exclude)]

    # --- what happens during a span -------------------------------------------------------

    def moment(self, span: Span) -> dict[str, Any]:
        shots = self.segments("cut_analysis", "shot")
        camera = self.segments("camera_analysis", exclude=())
        objects = self.segments("object_detection", exclude=("shot",))
        people = self.segments("body_pose", "person")
        faces = self.segments("eye_tracking", "face")
        if faces is None:
            faces = self.segments("age_estimation", "face")
        windows = self.segments("qwen2_vl_temporal", "window")
        speech = self.segments("speech_flow", "speech")
        texts = self.segments("text_overlay", "text")
        audio = self.segments("audio_analysis", "speech", "music", "silence")
        words = self.words()
        sounds = self.segments("audio_environment")
        emotions = self.segments("speech_emotion")

        def inside(segments: list[Segment] | None, what: Callable[[Segment], Any]) -> list | None:
            if segments is None:
                return None
            return list(dict.fromkeys(what(s) for s in segments if touches((s.start_s, s.end_s), span)))

        return {
            "shots": inside(shots, lambda s: s.data.get("index")),
            "transitions": None if shots is None else self.transitions(span),
            "camera": inside(camera, camera_move),
            "objects": None
            if objects is None
            else dict(Counter(s.label for s in objects if touches((s.start_s, s.end_s), span))),
            "people": None if people is None else sum(touches((s.start_s, s.end_s), span) for s in people),
            "faces": None if faces is None else sum(touches((s.start_s, s.end_s), span) for s in faces),
            "descriptions": inside(windows, lambda s: s.data.get("description")),
            "speech": None if speech is None else _round(share(span, [(s.start_s, s.end_s) for s in speech])),
            # A word counts in the span it starts in; one starting past the end (audio a little
            # longer than the pictures) in the span that closes the video.
            "words": None
            if words is None
            else [w for t, _, w in words if span[0] <= t < span[1] or t >= span[1] >= self.whole[1]],
            "emotions": inside(emotions, lambda s: s.label),
            "text": inside(texts, lambda s: s.data.get("text")),
            "audio": inside(audio, lambda s: s.label),
            "sounds": inside(sounds, lambda s: s.label),
        }

    def transitions(self, span: Span) -> list[dict[str, Any]]:
        """Shot boundaries in [start, end) of the span, named by the shot they open."""
        return [
            {"kind": s.data.get("transition_in"), "at_s": s.start_s}
            for s in self.segments("cut_analysis", "shot") or []
            if s.data.get("index", 0) > 0 and span[0] <= s.start_s < span[1]
        ]

    def curves_at(self, seconds: list[int]) -> dict[str, float | None]:
        """Camera motion, loudness and pace over these seconds of the per-second curves."""
        camera, tempo, audio = self.get("camera_analysis"), self.get("temporal_flow"), self.get("audio_analysis")
        motion = camera.summary.get("motion_curve") if camera else None
        pace = (tempo.summary.get("curves") or {}).get("pace") if tempo else None
        loudness = self.loudness_per_second(audio)
        return {
            "motion": _mean_at(motion, seconds),
            "loudness_dbfs": _mean_db([loudness[k] for k in seconds if k < len(loudness)])
            if loudness is not None
            else None,
            "pace": _mean_at(pace, seconds),
        }

    def loudness_per_second(self, audio: AnalyzerResult | None) -> list[float | None] | None:
        curve = (audio.summary.get("loudness") or {}).get("curve") if audio else None
        if not curve:
            return None
        return [_round(db) for db in loudness_per_second(curve, whole_seconds(self.video.duration_s))]

    def firsts(self) -> dict[str, float | None]:
        """When the first cut, on-screen text and speech come, wherever they are (None: never;
        absent: not measured)."""
        found: dict[str, float | None] = {}
        if (shots := self.segments("cut_analysis", "shot")) is not None:
            found["first_cut_s"] = min((s.start_s for s in shots if s.data.get("index", 0) > 0), default=None)
        if (texts := self.segments("text_overlay", "text")) is not None:
            found["first_text_s"] = min((s.start_s for s in texts), default=None)
        words, speech = self.words(), self.segments("speech_flow", "speech")
        if words is not None:
            found["first_word_s"] = words[0][0] if words else None
        if speech is not None:
            found["first_speech_s"] = min((s.start_s for s in speech), default=None)
        return found

    # --- speech_transcription ------------------------------------------------------------------

    def words(self) -> list[tuple[float, float, str]] | None:
        """speech_transcription's words (start_s, end_s, word) in time order."""
        result = self.get("speech_transcription")
        if result is None:
            return None
        found = []
        for segment in result.segments:
            for word in segment.data.get("words") or []:
                found.append((float(word["start_s"]), float(word["end_s"]), str(word["word"]).strip()))
        return sorted(found)

    def transcript(self) -> str | None:
        result = self.get("speech_transcription")
        if result is None:
            return None
        return str(result.summary.get("text") or " ".join(w for _, _, w in self.words() or [])).strip()

    # --- coverage ----------------------------------------------------------------------------

    def applies(self, dimension: str) -> bool:
        if dimension in ("speech", "audio"):
            return self.video.has_audio
        return self.video.has_video

    def coverage(self, span: Span) -> dict[str, float | None]:
        """Each dimension's coverage of the span, 0..1; None where it does not apply."""
        shots = self.segments("cut_analysis", "shot")
        windows = self.segments("qwen2_vl_temporal", "window")
        speech = self.segments("speech_flow", "speech")

        def spans(segments: list[Segment] | None) -> list[Span]:
            # A span ending within TAIL_S of the end reaches it: the audio track may run a few
            # milliseconds past the last frame, which no frame-based analyzer can cover.
            end = self.whole[1]
            return [(s.start_s, end if s.end_s >= end - TAIL_S else s.end_s) for s in segments or []]

        def whole_if(name: str, depth: float = 1.0) -> float:
            return depth * share(span, [self.whole]) if name in self.ok else 0.0

        if "speech_transcription" in self.ok:
            heard = whole_if("speech_transcription")
        elif speech is not None:
            voiced = share(span, spans(speech))
            heard = share(span, [self.whole]) * (1.0 - voiced) + VAD_SPEECH_DEPTH * voiced
        else:
            heard = 0.0
        value = {
            "visual_structure": share(span, spans(shots)),
            "visual_content": max(share(span, spans(windows)), whole_if("object_detection", DETECTOR_DEPTH)),
            "speech": heard,
            "on_screen_text": whole_if("text_overlay"),
            "audio": max(whole_if("audio_environment"), whole_if("audio_analysis", HEURISTIC_AUDIO_DEPTH)),
        }
        return {d: _round(v) if self.applies(d) else None for d, v in value.items()}

    # --- inputs --------------------------------------------------------------------------------

    def why_not(self, name: str) -> str | None:
        """Why `name`'s result is not read: None when it is."""
        if name in self.ok:
            return None
        result = self.results.get(name)
        if result is None:
            return "not run"
        return f"{result.status.value}: {result.reason or result.error}"

    def inputs(self) -> dict[str, Any]:
        names = [n for n in ALL_NAMES if n != NAME]
        return {
            "used": [n for n in names if n in self.ok],
            "not_used": {n: self.why_not(n) for n in names if n not in self.ok},
        }


SOURCES = {
    "visual_structure": ("cut_analysis",),
    "visual_content": ("qwen2_vl_temporal", "object_detection"),
    "speech": ("speech_transcription", "speech_flow"),
    "on_screen_text": ("text_overlay",),
    "audio": ("audio_environment", "audio_analysis"),
}


def reconstruction(facts: Facts, per_second: list[dict[str, float | None]]) -> dict[str, Any]:
    """The score and, per dimension, its coverage (mean over the seconds), weight and sources."""
    dimensions: dict[str, Any] = {}
    for dimension, weight in WEIGHTS.items():
        applies = facts.applies(dimension)
        values = [second[dimension] for second in per_second]
        dimensions[dimension] = {
            "coverage": _round(sum(values) / len(values)) if applies and values else None,
            "weight": weight,
            "sources": [n for n in SOURCES[dimension] if n in facts.ok] if applies else [],
            "missing": {n: facts.why_not(n) for n in SOURCES[dimension] if n not in facts.ok} if applies else {},
        }
        if not applies:
            dimensions[dimension]["not_applicable"] = (
                "no audio stream" if dimension in ("speech", "audio") else "no video stream"
            )
    counted = {d: v for d, v in dimensions.items() if v["coverage"] is not None}
    total = sum(v["weight"] for v in counted.values())
    score = 100.0 * sum(v["weight"] * v["coverage"] for v in counted.values()) / total if total else None
    return {"score": None if score is None else round(score, 1), "dimensions": dimensions}


# --- words -------------------------------------------------------------------------------------


def camera_move(segment: Segment) -> str:
    direction = segment.data.get("direction")
    return f"{segment.label} {direction}" if direction and segment.label in ("pan", "tilt", "zoom") else segment.label


def hook_sentence(hook: dict[str, Any], span: Span) -> str:
    """The hook in words, from the fields present; 'nothing measured' when none is."""
    parts = []
    if hook.get("shots") is not None:
        cuts = len(hook.get("transitions") or [])
        parts.append(
            f"{_count(len(hook['shots']), 'shot')}" + (f" ({_count(cuts, 'boundary', 'boundaries')})" if cuts else "")
        )
    if hook.get("camera"):
        parts.append("camera " + ", then ".join(hook["camera"]))
    if hook.get("objects"):
        parts.append("objects: " + ", ".join(sorted(hook["objects"])))
    if hook.get("people"):
        parts.append(_count(hook["people"], "person track"))
    if hook.get("faces"):
        parts.append(_count(hook["faces"], "face track"))
    if hook.get("descriptions"):
        parts.append("shown: " + " / ".join(_quote(d) for d in hook["descriptions"][:2]))
    if hook.get("text"):
        parts.append("on-screen text " + ", ".join(_quote(t) for t in hook["text"][:MAX_LISTED]))
    if hook.get("words"):
        parts.append("said " + _quote(" ".join(hook["words"][:MAX_QUOTED_WORDS])))
    elif hook.get("speech") == 0.0:
        parts.append("no speech")
    elif hook.get("speech"):
        parts.append(f"speech {hook['speech']:.0%} of the time")
    if hook.get("sounds"):
        parts.append("sounds: " + ", ".join(hook["sounds"][:MAX_LISTED]))
    elif hook.get("audio"):
        parts.append("audio: " + ", ".join(hook["audio"]))
    if not parts:
        return f"First {_secs(span[1])}: nothing measured."
    return f"First {_secs(span[1])}: " + "; ".join(parts) + "."


def summary_sentences(facts: Facts, hook: dict[str, Any]) -> list[dict[str, Any]]:
    """Template sentences, each from present fields only, with the analyzers it came from."""
    out: list[dict[str, Any]] = []

    def say(text: str, *sources: str) -> None:
        out.append({"text": text, "sources": list(sources)})

    video = facts.video
    shape = _shape(video)
    cuts = facts.get("cut_analysis")
    if cuts is not None:
        shots = [s for s in cuts.segments if s.label == "shot"]
        kinds = Counter(s.data.get("transition_in") for s in shots if s.data.get("index", 0) > 0)
        joined = ", ".join(
            _count(n, *TRANSITION_WORDS.get(k, (str(k), f"{k}s")))
            for k, n in sorted(kinds.items(), key=lambda kv: -kv[1])
        )
        say(
            f"A {_secs(video.duration_s)} {shape} in {_count(len(shots), 'shot')}"
            + (f" ({joined})." if joined else "."),
            "cut_analysis",
        )
        if not video.has_audio:
            say("It has no audio track.")
        ends = [
            w
            for w, key in (
                ("opens with a fade from black", "opens_with_fade"),
                ("closes with a fade to black", "closes_with_fade"),
            )
            if cuts.summary.get(key)
        ]
        if ends:
            say(f"It {' and '.join(ends)}.", "cut_analysis")
        if len(shots) > 1:
            say(
                f"Average shot {_secs(cuts.summary.get('average_shot_length_s', 0.0))}, "
                f"{cuts.summary.get('cuts_per_minute', 0):g} shot changes a minute.",
                "cut_analysis",
            )
    else:
        say(f"A {_secs(video.duration_s)} {shape}.")
        if not video.has_audio:
            say("It has no audio track.")
    scenes = facts.get("scene_segmentation")
    if (
        scenes is not None
        and cuts is not None
        and scenes.summary.get("scene_count") != scenes.summary.get("shot_count")
    ):
        say(
            f"The shots group into {_count(scenes.summary.get('scene_count', 0), 'scene')} of similar-looking shots.",
            "scene_segmentation",
            "cut_analysis",
        )
    camera = facts.get("camera_analysis")
    if camera is not None and camera.segments:
        moves: list[list] = []  # [move, start, end], neighbours with the same move joined
        for s in sorted(camera.segments, key=lambda s: s.start_s):
            if moves and moves[-1][0] == camera_move(s):
                moves[-1][2] = s.end_s
            else:
                moves.append([camera_move(s), s.start_s, s.end_s])
        if len(moves) == 1:
            say(f"Camera: {moves[0][0]} throughout.", "camera_analysis")
        else:
            say("Camera: " + ", ".join(f"{move} ({_range(a, b)})" for move, a, b in moves) + ".", "camera_analysis")

    _visual_sentences(facts, say)

    texts = facts.segments("text_overlay", "text")
    if texts is not None:
        if texts:
            listed = [f"{_quote(s.data.get('text', ''))} ({_range(s.start_s, s.end_s)})" for s in texts[:MAX_LISTED]]
            more = f" and {len(texts) - MAX_LISTED} more" if len(texts) > MAX_LISTED else ""
            say("On-screen text: " + ", ".join(listed) + more + ".", "text_overlay")
        else:
            say("No on-screen text was read.", "text_overlay")

    _speech_sentences(facts, say)
    _audio_sentences(facts, say)

    tempo = facts.get("temporal_flow")
    if tempo is not None and tempo.summary.get("mean_pace") is not None:
        say(
            f"Pace (0-1): mean {tempo.summary['mean_pace']:.2f}, "
            f"highest in second {tempo.summary.get('peak_pace_second')}.",
            "temporal_flow",
        )
    hook_sources = [n for n in HOOK_FIELDS_FROM if n in facts.ok]
    if hook_sources:
        say(hook["sentence"], *hook_sources)
    quality = facts.get("content_quality")
    if quality is not None and quality.summary.get("score") is not None:
        say(f"Technical quality {quality.summary['score']:.0f}/100.", "content_quality")
    not_used = facts.inputs()["not_used"]
    by_status: dict[str, list[str]] = {}
    for name, why in not_used.items():  # a short reason is said; a long one is in `inputs`
        by_status.setdefault(why if len(why) <= SHORT_REASON else why.split(":")[0], []).append(name)
    missing = "; ".join(f"{', '.join(names)} ({status})" for status, names in by_status.items())
    say(f"Built from {_count(len(facts.ok), 'analyzer')}" + (f"; not available: {missing}." if missing else "."))
    return out


TRANSITION_WORDS = {
    "cut": ("hard cut", "hard cuts"),
    "dissolve": ("dissolve", "dissolves"),
    "fade": ("fade through black", "fades through black"),
}
HOOK_FIELDS_FROM = (
    "cut_analysis",
    "camera_analysis",
    "object_detection",
    "body_pose",
    "eye_tracking",
    "age_estimation",
    "qwen2_vl_temporal",
    "text_overlay",
    "speech_transcription",
    "speech_flow",
    "audio_environment",
    "audio_analysis",
)


def _visual_sentences(facts: Facts, say: Callable[..., None]) -> None:
    objects = facts.get("object_detection")
    if objects is not None:
        classes = objects.summary.get("classes") or {}
        if classes:
            ranked = sorted(classes.items(), key=lambda kv: -kv[1].get("screen_time_s", 0.0))[:MAX_LISTED]
            named = [
                f"{c} ({_count(v.get('tracks', 0), 'track')}, {_secs(v.get('screen_time_s', 0.0))} on screen)"
                for c, v in ranked
            ]
            say("Objects seen: " + ", ".join(named) + ".", "object_detection")
        else:
            say("No object of the detector's classes was seen.", "object_detection")
    pose = facts.get("body_pose")
    if pose is not None and pose.summary.get("person_tracks"):
        activity = pose.summary.get("activity_share") or {}
        main = max(activity, key=activity.get) if activity else None
        say(
            f"Up to {_count(pose.summary.get('max_people', 0), 'person', 'people')} at once"
            + (f", mostly {main}." if main else "."),
            "body_pose",
        )
    eyes = facts.get("eye_tracking")
    if eyes is not None:
        tracks = eyes.summary.get("face_tracks", 0)
        if tracks:
            say(
                f"{_count(tracks, 'face track')}; a face is on screen in {eyes.summary.get('face_share', 0):.0%} of sampled frames"
                f" and faces the camera in {eyes.summary.get('facing_share', 0):.0%}.",
                "eye_tracking",
            )
        else:
            say("No face was detected.", "eye_tracking")
    ages = facts.get("age_estimation")
    if ages is not None and ages.summary.get("dominant_age_bucket"):
        say(f"Apparent age, most often: {ages.summary['dominant_age_bucket']}.", "age_estimation")
    described = facts.segments("qwen2_vl_temporal", "shot")
    if described:
        lines = [
            f"{_range(s.start_s, s.end_s)}: {_quote(s.data['description'])}"
            for s in described
            if s.data.get("description")
        ]
        if lines:
            say("Shown (model descriptions per shot): " + "; ".join(lines[:MAX_LISTED]) + ".", "qwen2_vl_temporal")
    colour = facts.get("color_analysis")
    if colour is not None and colour.summary.get("palette"):
        names = list(dict.fromkeys(p["name"] for p in colour.summary["palette"]))
        say("Dominant colours: " + ", ".join(names) + ".", "color_analysis")


def _speech_sentences(facts: Facts, say: Callable[..., None]) -> None:
    flow = facts.get("speech_flow")
    transcript = facts.transcript()
    if flow is not None:
        summary = flow.summary
        if not summary.get("segment_count"):
            say("No speech detected.", "speech_flow")
        else:
            say(
                f"Speech in {summary.get('speech_share', 0):.0%} of the audio, from {_secs(summary.get('first_speech_s', 0))}"
                f" to {_secs(summary.get('last_speech_end_s', 0))}, in {_count(summary['segment_count'], 'utterance')}"
                f" with {_count(summary.get('pause_count', 0), 'pause')}.",
                "speech_flow",
            )
    if transcript is not None:
        if transcript:
            words = transcript.split()
            quoted = " ".join(words[:MAX_QUOTED_WORDS]) + (" …" if len(words) > MAX_QUOTED_WORDS else "")
            language = facts.get("speech_transcription").summary.get("language")
            say(f"Transcript{f' ({language})' if language else ''}: {_quote(quoted)}.", "speech_transcription")
        elif flow is None:
            say("No words were transcribed.", "speech_transcription")
    rate = facts.get("speech_rate")
    if rate is not None:
        if rate.summary.get("words_per_minute") is not None:
            say(f"Speaking rate {rate.summary['words_per_minute']:.0f} words a minute.", "speech_rate")
        elif rate.summary.get("syllables_per_second") is not None:
            say(
                f"Speaking rate about {rate.summary['syllables_per_second']:.1f} syllables a second (counted on the sound).",
                "speech_rate",
            )
    emotion = facts.get("speech_emotion")
    dominant = emotion.summary.get("dominant_emotion") if emotion is not None else None
    if dominant:
        shares = emotion.summary.get("emotion_shares") or {}
        ranked = sorted(((e, v) for e, v in shares.items() if v > 0), key=lambda kv: -kv[1])[:3]
        listed = ", ".join(f"{e} {v:.0%}" for e, v in ranked) if ranked else dominant
        say(f"Tone of voice (model, a weak cue): mostly {dominant} ({listed}).", "speech_emotion")


def _audio_sentences(facts: Facts, say: Callable[..., None]) -> None:
    environment = facts.get("audio_environment")
    shares = (environment.summary.get("class_shares") or {}) if environment is not None else {}
    heard = sorted(((c, v) for c, v in shares.items() if v > 0), key=lambda kv: -kv[1])[:MAX_LISTED]
    if heard:
        say("Sounds (model): " + ", ".join(f"{c} {v:.0%}" for c, v in heard) + ".", "audio_environment")
    audio = facts.get("audio_analysis")
    if audio is not None:
        summary = audio.summary
        shares = [(label, summary.get(f"{label}_share", 0.0)) for label in ("music", "speech", "silence")]
        split = ", ".join(f"{label} {value:.0%}" for label, value in sorted(shares, key=lambda kv: -kv[1]) if value > 0)
        parts = [f"Audio (heuristic): {split}" if split else "Audio"]
        if summary.get("tempo_bpm"):
            parts.append(f"a steady beat at {summary['tempo_bpm']:.0f} BPM")
        lufs = (summary.get("loudness") or {}).get("integrated_lufs_estimate")
        if lufs is not None:
            parts.append(f"loudness about {lufs:.0f} LUFS")
        say(", ".join(parts) + ".", "audio_analysis")


def _shape(video: VideoInfo) -> str:
    if not video.has_video or not video.width or not video.height:
        return "audio-only file" if not video.has_video else "video"
    kind = "vertical" if video.height > video.width else "horizontal" if video.width > video.height else "square"
    fps = f", {video.fps:.4g} fps" if video.fps else ""
    return f"{kind} video ({video.width}x{video.height}{fps})"


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def _secs(t: float | None) -> str:
    if t is None:
        return "?"
    return f"{t:.1f}".rstrip("0").rstrip(".") + " s"


def _range(a: float, b: float) -> str:
    return f"{_secs(a)[:-2]}-{_secs(b)}"


def _quote(text: str) -> str:
    return "'" + " ".join(str(text).split()) + "'"


def _mean_at(curve: list | None, seconds: list[int]) -> float | None:
    if curve is None:
        return None
    values = [curve[k] for k in seconds if k < len(curve) and curve[k] is not None]
    return _round(sum(values) / len(values)) if values else None


def _mean_db(values: list[float | None]) -> float | None:
    return _round(mean_db(values))


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 4)
