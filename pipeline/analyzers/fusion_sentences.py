"""cross_analyzer_intelligence's written summary: template sentences, each filled from fields that
are present and listing the analyzers it came from (`sources`). A sentence whose source is
missing is left out, so nothing is said that no analyzer measured.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from pipeline.analyzers.fusion_timeline import Facts, Span, camera_move
from pipeline.schema import VideoInfo

if TYPE_CHECKING:
    from pipeline.analyzers.fusion import CrossAnalyzerIntelligenceSegment

MAX_QUOTED_WORDS = 40  # of the transcript, in the written summary
MAX_LISTED = 6  # texts, objects, descriptions named in one sentence
SHORT_REASON = 40  # characters of a reason the written summary still quotes

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


class Sentence(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(..., description="one sentence of the written summary")
    sources: list[str] = Field(
        ..., description="the analyzers whose fields it was filled from (empty: the video's own)"
    )


Say = Callable[..., None]


def hook_sentence(hook: CrossAnalyzerIntelligenceSegment, span: Span) -> str:
    """The hook in words, from the fields present; 'nothing measured' when none is."""
    parts = []
    if hook.shots is not None:
        cuts = len(hook.transitions or [])
        parts.append(_count(len(hook.shots), "shot") + (f" ({_count(cuts, 'boundary', 'boundaries')})" if cuts else ""))
    if hook.camera:
        parts.append("camera " + ", then ".join(hook.camera))
    if hook.objects:
        parts.append("objects: " + ", ".join(sorted(hook.objects)))
    if hook.people:
        parts.append(_count(hook.people, "person track"))
    if hook.faces:
        parts.append(_count(hook.faces, "face track"))
    if hook.descriptions:
        parts.append("shown: " + " / ".join(_quote(d) for d in hook.descriptions[:2]))
    if hook.text:
        parts.append("on-screen text " + ", ".join(_quote(t) for t in hook.text[:MAX_LISTED]))
    if hook.words:
        parts.append("said " + _quote(" ".join(hook.words[:MAX_QUOTED_WORDS])))
    elif hook.speech == 0.0:
        parts.append("no speech")
    elif hook.speech:
        parts.append(f"speech {hook.speech:.0%} of the time")
    if hook.sounds:
        parts.append("sounds: " + ", ".join(hook.sounds[:MAX_LISTED]))
    elif hook.audio:
        parts.append("audio: " + ", ".join(hook.audio))
    if not parts:
        return f"First {_secs(span[1])}: nothing measured."
    return f"First {_secs(span[1])}: " + "; ".join(parts) + "."


def summary_sentences(
    facts: Facts, hook: CrossAnalyzerIntelligenceSegment, short_form: Sequence[Sentence] = ()
) -> list[Sentence]:
    """Template sentences, each from present fields only, with the analyzers it came from;
    `short_form`'s (short_form_sentences.py) after what is seen and read on screen."""
    out: list[Sentence] = []

    def say(text: str, *sources: str) -> None:
        out.append(Sentence(text=text, sources=list(sources)))

    _structure_sentences(facts, say)
    _visual_sentences(facts, say)
    texts = facts.segments("text_overlay", "text")
    if texts is not None:
        if texts:
            listed = [f"{_quote(s.data.text)} ({_range(s.start_s, s.end_s)})" for s in texts[:MAX_LISTED]]
            more = f" and {len(texts) - MAX_LISTED} more" if len(texts) > MAX_LISTED else ""
            say("On-screen text: " + ", ".join(listed) + more + ".", "text_overlay")
        else:
            say("No on-screen text was read.", "text_overlay")
    out += short_form
    _speech_sentences(facts, say)
    _audio_sentences(facts, say)

    tempo = facts.get("temporal_flow")
    if tempo is not None and tempo.summary.mean_pace is not None:
        say(
            f"Pace (0-1): mean {tempo.summary.mean_pace:.2f}, highest in second {tempo.summary.peak_pace_second}.",
            "temporal_flow",
        )
    hook_sources = [n for n in HOOK_FIELDS_FROM if n in facts.ok]
    if hook_sources:
        say(hook.sentence, *hook_sources)
    quality = facts.get("content_quality")
    if quality is not None and quality.summary.score is not None:
        say(f"Technical quality {quality.summary.score:.0f}/100.", "content_quality")
    by_status: dict[str, list[str]] = {}
    for name, why in facts.inputs().not_used.items():  # a short reason is said; a long one is in `inputs`
        by_status.setdefault(why if len(why) <= SHORT_REASON else why.split(":")[0], []).append(name)
    missing = "; ".join(f"{', '.join(names)} ({status})" for status, names in by_status.items())
    say(f"Built from {_count(len(facts.ok), 'analyzer')}" + (f"; not available: {missing}." if missing else "."))
    return out


def _structure_sentences(facts: Facts, say: Say) -> None:
    """The video's shape, its shots and scenes, and its camera."""
    video = facts.video
    shape = _shape(video)
    cuts = facts.get("cut_analysis")
    if cuts is not None:
        shots = [s for s in cuts.segments if s.label == "shot"]
        kinds = Counter(s.data.transition_in for s in shots if s.data.index > 0)
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
            words
            for words, present in (
                ("opens with a fade from black", cuts.summary.opens_with_fade),
                ("closes with a fade to black", cuts.summary.closes_with_fade),
            )
            if present
        ]
        if ends:
            say(f"It {' and '.join(ends)}.", "cut_analysis")
        if len(shots) > 1:
            say(
                f"Average shot {_secs(cuts.summary.average_shot_length_s)}, "
                f"{cuts.summary.cuts_per_minute:g} shot changes a minute.",
                "cut_analysis",
            )
    else:
        say(f"A {_secs(video.duration_s)} {shape}.")
        if not video.has_audio:
            say("It has no audio track.")
    scenes = facts.get("scene_segmentation")
    if scenes is not None and cuts is not None and scenes.summary.scene_count != scenes.summary.shot_count:
        say(
            f"The shots group into {_count(scenes.summary.scene_count, 'scene')} of similar-looking shots.",
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


def _visual_sentences(facts: Facts, say: Say) -> None:
    objects = facts.get("object_detection")
    if objects is not None:
        classes = objects.summary.classes
        if classes:
            ranked = sorted(classes.items(), key=lambda kv: -kv[1].screen_time_s)[:MAX_LISTED]
            named = [f"{c} ({_count(v.tracks, 'track')}, {_secs(v.screen_time_s)} on screen)" for c, v in ranked]
            say("Objects seen: " + ", ".join(named) + ".", "object_detection")
        else:
            say("No object of the detector's classes was seen.", "object_detection")
    pose = facts.get("body_pose")
    if pose is not None and pose.summary.person_tracks:
        activity = pose.summary.activity_share
        main = max(activity, key=activity.get) if activity else None
        say(
            f"Up to {_count(pose.summary.max_people, 'person', 'people')} at once"
            + (f", mostly {main}." if main else "."),
            "body_pose",
        )
    eyes = facts.get("eye_tracking")
    if eyes is not None:
        if eyes.summary.face_tracks:
            say(
                f"{_count(eyes.summary.face_tracks, 'face track')}; a face is on screen in {eyes.summary.face_share:.0%}"
                f" of sampled frames and faces the camera in {eyes.summary.facing_share:.0%}.",
                "eye_tracking",
            )
        else:
            say("No face was detected.", "eye_tracking")
    ages = facts.get("age_estimation")
    if ages is not None and ages.summary.dominant_age_bucket:
        say(f"Apparent age, most often: {ages.summary.dominant_age_bucket}.", "age_estimation")
    described = facts.segments("qwen2_vl_temporal", "shot")
    if described:
        lines = [f"{_range(s.start_s, s.end_s)}: {_quote(s.data.description)}" for s in described if s.data.description]
        if lines:
            say("Shown (model descriptions per shot): " + "; ".join(lines[:MAX_LISTED]) + ".", "qwen2_vl_temporal")
    colour = facts.get("color_analysis")
    if colour is not None and colour.summary.palette:
        names = list(dict.fromkeys(p.name for p in colour.summary.palette))
        say("Dominant colours: " + ", ".join(names) + ".", "color_analysis")


def _speech_sentences(facts: Facts, say: Say) -> None:
    flow = facts.get("speech_flow")
    transcript = facts.transcript()
    if flow is not None:
        summary = flow.summary
        if not summary.segment_count:
            say("No speech detected.", "speech_flow")
        else:
            say(
                f"Speech in {summary.speech_share:.0%} of the audio, from {_secs(summary.first_speech_s)}"
                f" to {_secs(summary.last_speech_end_s)}, in {_count(summary.segment_count, 'utterance')}"
                f" with {_count(summary.pause_count, 'pause')}.",
                "speech_flow",
            )
    if transcript is not None:
        if transcript:
            words = transcript.split()
            quoted = " ".join(words[:MAX_QUOTED_WORDS]) + (" …" if len(words) > MAX_QUOTED_WORDS else "")
            language = facts.get("speech_transcription").summary.language
            say(f"Transcript{f' ({language})' if language else ''}: {_quote(quoted)}.", "speech_transcription")
        elif flow is None:
            say("No words were transcribed.", "speech_transcription")
    rate = facts.get("speech_rate")
    if rate is not None:
        if rate.summary.words_per_minute is not None:
            say(f"Speaking rate {rate.summary.words_per_minute:.0f} words a minute.", "speech_rate")
        elif rate.summary.syllables_per_second is not None:
            say(
                f"Speaking rate about {rate.summary.syllables_per_second:.1f} syllables a second (counted on the sound).",
                "speech_rate",
            )
    emotion = facts.get("speech_emotion")
    dominant = emotion.summary.dominant_emotion if emotion is not None else None
    if dominant:
        ranked = sorted(((e, v) for e, v in emotion.summary.emotion_shares.items() if v > 0), key=lambda kv: -kv[1])
        listed = ", ".join(f"{e} {v:.0%}" for e, v in ranked[:3]) if ranked else dominant
        say(f"Tone of voice (model, a weak cue): mostly {dominant} ({listed}).", "speech_emotion")


def _audio_sentences(facts: Facts, say: Say) -> None:
    environment = facts.get("audio_environment")
    shares = environment.summary.class_shares if environment is not None else {}
    heard = sorted(((c, v) for c, v in shares.items() if v > 0), key=lambda kv: -kv[1])[:MAX_LISTED]
    if heard:
        say("Sounds (model): " + ", ".join(f"{c} {v:.0%}" for c, v in heard) + ".", "audio_environment")
    audio = facts.get("audio_analysis")
    if audio is not None:
        summary = audio.summary
        split = ", ".join(
            f"{label} {value:.0%}"
            for label, value in sorted(
                (("music", summary.music_share), ("speech", summary.speech_share), ("silence", summary.silence_share)),
                key=lambda kv: -kv[1],
            )
            if value > 0
        )
        parts = [f"Audio (heuristic): {split}" if split else "Audio"]
        if summary.tempo_bpm:
            parts.append(f"a steady beat at {summary.tempo_bpm:.0f} BPM")
        if summary.loudness.integrated_lufs_estimate is not None:
            parts.append(f"loudness about {summary.loudness.integrated_lufs_estimate:.0f} LUFS")
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
