"""`reelscope report` and `analyze --report`: the page opens in a real headless Chromium, without
console errors or any request beyond its own file (and the clip its player plays), draws one
shot block and one keyframe per shot, and a click on a block seeks the player there.

Chromium is driven over the DevTools protocol (the `websockets` client Ray Serve installs).
It must be installed (Debian: `apt-get install -y chromium`; scripts/dev.sh test does it).
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from contextlib import ExitStack
from pathlib import Path

import pytest
from websockets.sync.client import connect

from pipeline import cli
from pipeline.analyzers.fusion_timeline import NAME
from pipeline.engine import Plan, VideoRequest
from pipeline.report import render, write_report
from pipeline.runners.local import run_local
from pipeline.sample import AudioSpec, write_audio_clip
from pipeline.schema import AnalyzerResult, Status, VideoResult

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--window-size=1280,1400",
    "--autoplay-policy=no-user-gesture-required",
    "--remote-debugging-port=0",
)
SCREENSHOTS = os.environ.get("REELSCOPE_REPORT_SCREENSHOTS")
PANEL_LABELS = [  # the short-form panel's lines, in order
    "Editing on the beat", "Safe zones", "Cross-posting mark", "Hook", "Loop", "Stitch", "Split screen", "Green screen",
]  # fmt: skip  # a folder to keep the screenshots in, to look at them


def chromium() -> str:
    for candidate in (os.environ.get("REELSCOPE_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if candidate and (found := shutil.which(candidate)):
            return found
    pytest.fail(
        "no Chromium found: install it (Debian: apt-get install -y chromium; scripts/dev.sh test does) or set REELSCOPE_CHROMIUM"
    )


class Page:
    """One headless Chromium tab, spoken to over the DevTools protocol."""

    def __init__(self, profile: Path) -> None:
        self.process = subprocess.Popen(
            [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (port_file.exists() and port_file.read_text().count("\n") >= 1):
            assert self.process.poll() is None, "Chromium exited at start"
            assert time.monotonic() < deadline, "Chromium did not open its DevTools port in 60 s"
            time.sleep(0.1)
        port = port_file.read_text().split()[0]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as answer:  # loopback only
            tab = next(t for t in json.load(answer) if t["type"] == "page")
        self.closing = ExitStack()
        self.socket = self.closing.enter_context(connect(tab["webSocketDebuggerUrl"], max_size=None, open_timeout=10))
        self.ids = itertools.count(1)
        self.events: list[dict] = []
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable")

    def call(self, method: str, **params) -> dict:
        number = next(self.ids)
        self.socket.send(json.dumps({"id": number, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv(timeout=30))
            if message.get("id") == number:
                assert "error" not in message, message
                return message.get("result", {})
            self.events.append(message)

    def open(self, url: str) -> None:
        """Navigate to `url` and wait for its load; what the page before it did is forgotten."""
        self.events.clear()
        self.call("Page.navigate", url=url)
        deadline = time.monotonic() + 30
        while not any(e.get("method") == "Page.loadEventFired" for e in self.events):
            assert time.monotonic() < deadline, "the page did not finish loading in 30 s"
            self.events.append(json.loads(self.socket.recv(timeout=30)))

    def evaluate(self, expression: str):
        answer = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        assert "exceptionDetails" not in answer, answer
        return answer["result"].get("value")

    def problems(self) -> list[str]:
        """Console errors and warnings, uncaught exceptions, and error log entries so far."""
        found = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.exceptionThrown":
                found.append(json.dumps(params["exceptionDetails"])[:500])
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "warning", "assert"):
                found.append(f"console.{params['type']}: {params.get('args')}")
            elif method == "Log.entryAdded" and params["entry"].get("level") in ("error", "warning"):
                found.append(
                    f"log {params['entry'].get('level')}: {params['entry'].get('text')} {params['entry'].get('url', '')}"
                )
        return found

    def requested(self) -> list[str]:
        return [e["params"]["request"]["url"] for e in self.events if e.get("method") == "Network.requestWillBeSent"]

    def screenshot(self, path: Path) -> Path:
        path.write_bytes(base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"]))
        return path

    def close(self) -> None:
        self.closing.close()
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


@pytest.fixture
def page(tmp_path):
    opened = Page(tmp_path / "chromium-profile")
    yield opened
    opened.close()


def check_page(page: Page, html: Path, shots: int, keep_as: str, media: Path | None = None) -> dict:
    """Open `html`, check it loads cleanly and draws `shots` shot blocks and as many keyframes;
    return what it shows. `media`: the clip its player may fetch (nothing else is fetched)."""
    url = html.resolve().as_uri()
    page.open(url)
    shown = page.evaluate(
        """({
            shots: document.querySelectorAll('svg#timeline rect.shot').length,
            shotIndices: Array.from(document.querySelectorAll('svg#timeline g.shot')).map(g => +g.dataset.index),
            thumbnails: Array.from(document.querySelectorAll('.shot-card img.thumb')).map(i => i.naturalWidth > 0 && i.src.startsWith('data:image/jpeg;base64,')),
            lanes: Array.from(document.querySelectorAll('svg#timeline text.lane')).map(t => t.textContent),
            score: document.querySelector('.score .big span').textContent,
            summary: Array.from(document.querySelectorAll('.sentences li')).map(li => li.textContent),
            hook: (document.querySelector('.hook') || {}).textContent,
            info: document.getElementById('second-info').textContent,
            timelineWidth: document.getElementById('timeline').getBoundingClientRect().width,
            player: (document.getElementById('player') || {}).tagName || null,
        })"""
    )
    # The pointer over the middle of the plot: the fused second under it appears below.
    x, y = page.evaluate(
        """(() => {
            const svg = document.getElementById('timeline'); svg.scrollIntoView();
            const box = svg.getBoundingClientRect();
            const units = (+svg.dataset.x0 + 0.55 * svg.dataset.plotWidth) / svg.viewBox.baseVal.width;
            return [box.left + units * box.width, box.top + 40];
        })()"""
    )
    page.call("Input.dispatchMouseEvent", type="mouseMoved", x=x, y=y)
    shown["info_after_hover"] = page.evaluate("document.getElementById('second-info').textContent")
    assert page.problems() == []
    allowed = {url} | ({media.resolve().as_uri()} if media else set())
    assert [u for u in page.requested() if u not in allowed and not u.startswith("data:")] == [], (
        "the page must need nothing but itself and its clip"
    )
    assert shown["shots"] == shots and shown["shotIndices"] == list(range(shots))
    assert shown["thumbnails"] == [True] * shots
    if SCREENSHOTS:
        page.screenshot(Path(SCREENSHOTS) / f"{keep_as}.png")
    return shown


def wait_for(page: Page, expression: str, what: str, seconds: float = 20):
    deadline = time.monotonic() + seconds
    while not (value := page.evaluate(expression)):
        assert time.monotonic() < deadline, f"{what}: not within {seconds} s"
        time.sleep(0.1)
    return value


def click(page: Page, selector: str) -> None:
    """A real mouse click in the middle of the element (scrolled into view first)."""
    x, y = page.evaluate(
        f"""(() => {{
            const el = document.querySelector({json.dumps(selector)}); el.scrollIntoView({{block: 'center'}});
            const box = el.getBoundingClientRect();
            return [box.left + box.width / 2, box.top + box.height / 2];
        }})()"""
    )
    for kind in ("mousePressed", "mouseReleased"):
        page.call("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)


def player_time(page: Page) -> float:
    return page.evaluate("document.getElementById('player').currentTime")


def check_seeking(
    page: Page, starts: list[float], selector: str = "svg#timeline g.shot[data-index='{i}'] rect"
) -> None:
    """The player has loaded the clip; a click on each block moves it to that block's start."""
    wait_for(page, "document.getElementById('player').readyState >= 1", "the player did not load the clip")
    for i in reversed(range(len(starts))):  # from the last: each click moves the player
        click(page, selector.format(i=i, start=starts[i]))
        assert player_time(page) == pytest.approx(starts[i], abs=0.1), i
    assert page.problems() == []


def test_analyze_report_writes_a_page_that_loads_cleanly_with_four_shots(tmp_path, sample_clip, page):
    # In this process (the runner is not what is under test: test_cli.py runs `analyze` on a real Ray).
    analyzers = f"{NAME},cut_analysis,audio_analysis"
    out = str(tmp_path / "out")
    assert (
        cli.main(["analyze", str(sample_clip), "--analyzers", analyzers, "--out", out, "--report", "--in-process"]) == 0
    )
    html = tmp_path / "out" / "sample.html"
    assert html.is_file() and (tmp_path / "out" / "sample.json").is_file()

    shown = check_page(page, html, shots=4, keep_as="sample", media=sample_clip)
    assert shown["player"] == "VIDEO"
    # The player plays the clip from beside the page, by its path relative to the page's folder.
    src = page.evaluate("document.getElementById('player').getAttribute('src')")
    assert not src.startswith(("/", "file:")) and (html.parent / src).resolve() == sample_clip.resolve()
    result = VideoResult.model_validate_json((tmp_path / "out" / "sample.json").read_text())
    shot_starts = [s.start_s for s in result.analyzers["cut_analysis"].segments if s.label == "shot"]
    check_seeking(page, shot_starts)
    assert shown["lanes"] == [
        "Shots",
        "Speech",
        "On-screen text",
        "Described",
        "Objects",
        "People & faces",
        "Audio classes",
        "Pace",
    ]
    assert shown["summary"][0].startswith(
        "A 10 s vertical video (360x640, 30 fps) in 4 shots (2 hard cuts, 1 dissolve)."
    )
    assert shown["hook"].startswith("Hook First 3 s: 1 shot")
    assert shown["info"].startswith("0-1 s") and shown["info_after_hover"].startswith("5-6 s")
    assert shown["timelineWidth"] > 900
    # Lanes without their analyzer say why instead of drawing nothing.
    text_lane = page.evaluate(
        "Array.from(document.querySelectorAll('svg#timeline g.absent text')).map(t => t.textContent)"
    )
    assert any("text_overlay: not run" in t for t in text_lane), text_lane
    # The short-form panel: the sample's two hard cuts (3 s, 8 s) fall on its 120 BPM clicks.
    panel = page.evaluate(
        "Array.from(document.querySelectorAll('.short-form dd')).map(d => [d.previousElementSibling.textContent, d.textContent])"
    )
    assert [label for label, _ in panel] == PANEL_LABELS
    assert panel[0][1].startswith("2 of 2 hard cuts within ±40 ms of a beat") and "on the beat at 3.00, 8.00 s" in panel[0][1]
    assert panel[1][1].startswith("share of the time on screen under each app's overlays; text not read, faces not detected")
    assert [text for _, text in panel[2:]] == [
        "text_overlay not run",
        "temporal_flow not run",
        "temporal_flow not run",
        "temporal_flow not run",
        "camera_analysis not run",
        "background_segmentation not run",
    ]


@pytest.fixture(scope="module")
def testvideo(media) -> VideoResult:
    [result] = run_local(
        [VideoRequest("testvideo", str(media / "pyscenedetect" / "testvideo.mp4"))], Plan.build(["cut_analysis", NAME])
    )
    return result


def test_report_command_on_testvideo_draws_its_cut_analysis_shots(tmp_path, testvideo, page):
    result = testvideo
    cuts = result.analyzers["cut_analysis"]
    assert cuts.status == Status.ok and result.analyzers[NAME].status == Status.ok  # the report reads the fusion
    saved = tmp_path / "testvideo.json"
    saved.write_text(result.to_json())
    run = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "report", str(saved), "-o", str(tmp_path / "page.html")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr

    shown = check_page(
        page, tmp_path / "page.html", shots=cuts.summary.shot_count, keep_as="testvideo", media=Path(result.video.path)
    )
    assert shown["shots"] == 4 and shown["player"] == "VIDEO"
    check_seeking(page, [s.start_s for s in cuts.segments if s.label == "shot"])
    assert shown["summary"][0].startswith("A 24 s horizontal video (1280x720, 29.97 fps) in 4 shots")
    assert "It has no audio track." in shown["summary"]
    # A landscape clip without audio: the short-form insights say why they do not apply.
    fused = result.analyzers[NAME].summary
    assert fused.safe_zones.reason == "not applicable: landscape" and fused.beat_sync.reason == "audio_analysis not run"
    panel = page.evaluate("Array.from(document.querySelectorAll('.short-form dd.unmeasured')).map(d => d.textContent)")
    assert panel == ["audio_analysis not run", "not applicable: landscape", "text_overlay not run"] + [
        "temporal_flow not run"
    ] * 3 + ["camera_analysis not run", "background_segmentation not run"]


def test_without_fusion_the_page_draws_the_lanes_and_says_why_there_is_no_summary(tmp_path, testvideo, page):
    unfused = testvideo.model_copy(update={"analyzers": {n: r for n, r in testvideo.analyzers.items() if n != NAME}})
    html = write_report(unfused, tmp_path / "unfused.html")

    shown = check_page(page, html, shots=4, keep_as="testvideo-unfused", media=Path(testvideo.video.path))
    assert shown["score"] == "n/a" and shown["summary"] == [] and shown.get("hook") is None
    assert shown["lanes"][0] == "Shots" and shown["timelineWidth"] > 900
    notes = page.evaluate("Array.from(document.querySelectorAll('.unfused')).map(p => p.textContent)")
    assert notes and all(f"{NAME} not run" in note for note in notes), notes
    assert page.evaluate("document.querySelectorAll('table.seconds').length") == 0


def test_the_model_analyzers_lanes_draw_their_own_typed_segments(tmp_path, page):
    # Results built by hand in each analyzer's own types (test_fusion.ok), the fusion run on them.
    from test_fusion import fuse, ok, seg, video

    info = video(duration_s=2.0)
    results = {
        "object_detection": ok(
            "object_detection",
            seg(0.0, 2.0, "person", 0.9, track=0),
            seg(0.5, 1.2, "dog", 0.7, track=1),
            seg(0.0, 2.0, "shot", shot=0),
            classes={
                "person": {"tracks": 1, "max_simultaneous": 1, "screen_time_s": 2.0},
                "dog": {"tracks": 1, "max_simultaneous": 1, "screen_time_s": 0.7},
            },
        ),
        "body_pose": ok(
            "body_pose",
            seg(0.0, 2.0, "person", track=0, activity="dancing"),
            person_tracks=1,
            max_people=1,
            activity_share={"dancing": 1.0},
        ),
        "age_estimation": ok(
            "age_estimation", seg(0.2, 0.9, "face", track=0, age_range="20-29"), dominant_age_bucket="20-29"
        ),
        "qwen2_vl_temporal": ok(
            "qwen2_vl_temporal", seg(0.0, 2.0, "window", index=0, description="A person dances with a dog.")
        ),
        "speech_transcription": ok(
            "speech_transcription",
            seg(
                1.0,
                1.8,
                "speech",
                text="hi there",
                words=[{"word": "hi", "start_s": 1.0, "end_s": 1.2, "probability": 0.9}],
                speaker=None,
            ),
            text="hi there",
            language="en",
        ),
        "audio_environment": ok(
            "audio_environment",
            seg(0.0, 1.0, "music", 0.8),
            seg(1.0, 2.0, "speech", 0.6),
            class_shares={"music": 0.5, "speech": 0.5},
        ),
        "audio_analysis": ok(
            "audio_analysis",
            seg(0.0, 2.0, "music", mean_dbfs=-20.0),
            music_share=1.0,
            speech_share=0.0,
            silence_share=0.0,
            tempo_bpm=None,
            loudness={"integrated_lufs_estimate": None, "curve": [[0.0, -20.0], [1.0, -20.0]]},
        ),
    }
    fused = fuse(info, results)
    result = VideoResult(
        id="constructed",
        source="constructed.mp4",
        video=info,
        analyzers={**results, NAME: AnalyzerResult(status=Status.ok, segments=fused.segments, summary=fused.summary)},
    )
    html = write_report(result, tmp_path / "constructed.html")

    shown = check_page(page, html, shots=0, keep_as="constructed")
    assert (
        "Objects seen: person (1 track, 2 s on screen), dog (1 track, 0.7 s on screen). object_detection"
        in (shown["summary"])
    )
    assert shown["info_after_hover"].startswith("1-2 s")
    blocks = page.evaluate(
        """Array.from(document.querySelectorAll('svg#timeline g[class]:not(.absent)')).map(g => [
            g.getAttribute('class'), (g.querySelector(':scope > text') || {}).textContent || '', g.querySelector('title').textContent])"""
    )
    assert blocks == [
        ["speech", "hi there", "1.00-1.80 s: hi there"],
        ["description", "A person dances with a dog.", "0.00-2.00 s: A person dances with a dog."],
        ["object", "person", "person (track 0) 0.00-2.00 s"],
        ["object", "dog", "dog (track 1) 0.50-1.20 s"],
        ["person", "dancing", "person track 0, dancing"],
        ["person", "20-29", "face track 0 0.20-0.90 s"],
        ["audio", "music", "music 0.00-1.00 s (0.80)"],
        ["audio", "speech", "speech 1.00-2.00 s (0.60)"],
        ["audio", "music", "music 0.00-2.00 s, -20.0 dBFS"],
    ]
    absent = page.evaluate(
        "Array.from(document.querySelectorAll('svg#timeline g.absent title')).map(t => t.textContent)"
    )
    assert absent == ["cut_analysis: not run", "text_overlay: not run", "temporal_flow: not run"]


def test_a_result_the_decoder_could_not_read_still_renders(tmp_path, page):
    failed = VideoResult(
        id="broken</script>", source="broken.mp4", status=Status.failed, error="not a readable media file"
    )
    html = tmp_path / "broken.html"
    html.write_text(render(failed))
    page.open(html.resolve().as_uri())
    assert page.problems() == []
    assert (
        page.evaluate("document.querySelector('.error').textContent")
        == "The video could not be read: not a readable media file"
    )
    assert page.evaluate("document.querySelector('h1').textContent") == "broken</script>"


def test_report_command_says_when_the_file_is_not_a_result(tmp_path):
    (tmp_path / "notes.json").write_text('{"hello": 1}')
    run = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "report", str(tmp_path / "notes.json")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2 and "cannot read" in run.stderr and "Traceback" not in run.stderr
    assert not (tmp_path / "notes.html").exists()
    (tmp_path / "future.json").write_text('{"schema_version": "3.0", "id": "x", "source": "x.mp4", "scenes": []}')
    run = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "report", str(tmp_path / "future.json")], capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 2 and run.stderr.strip().splitlines() == [
        f"cannot read {tmp_path / 'future.json'} as a reelscope result: {tmp_path / 'future.json'} has schema version 3.0; "
        "this reelscope reads 2.x documents"
    ]


@pytest.fixture(scope="module")
def sample_result(sample_clip) -> VideoResult:
    """The sample's shots and audio, with a transcript built by hand (its words at known times)."""
    from test_fusion import ok, seg

    [result] = run_local([VideoRequest("sample", str(sample_clip))], Plan.build(["cut_analysis", "audio_analysis"]))
    words = [
        ("wait", 0.5, 1.0),
        ("for", 1.0, 1.4),
        ("it", 1.4, 2.0),
        ("link", 5.0, 5.6),
        ("in", 5.6, 6.0),
        ("bio", 6.0, 7.0),
    ]

    def sentence(part):
        listed = [{"word": w, "start_s": a, "end_s": b, "probability": 0.9} for w, a, b in part]
        text = " ".join(w for w, _, _ in part)
        return seg(part[0][1], part[-1][2], "speech", text=text, words=listed, speaker=None)

    speech = ok("speech_transcription", sentence(words[:3]), sentence(words[3:]), text="wait for it link in bio")
    return result.model_copy(update={"analyzers": {**result.analyzers, "speech_transcription": speech}})


def shown_now(page: Page) -> dict:
    """Where the page says the player is: the playhead's time, the marked word and shot."""
    return page.evaluate(
        """(() => {
            const svg = document.getElementById('timeline'), head = document.getElementById('playhead');
            const word = document.querySelector('#transcript .word.now'), card = document.querySelector('.shot-card.now');
            return {
                time: document.getElementById('player').currentTime,
                playhead: (+head.getAttribute('x1') - svg.dataset.x0) / svg.dataset.plotWidth * svg.dataset.duration,
                word: word && word.textContent, shot: card && +card.dataset.index,
            };
        })()"""
    )


def test_the_player_follows_clicks_and_the_page_follows_the_player(tmp_path, sample_clip, sample_result, page):
    (tmp_path / "watch").mkdir()
    html = write_report(sample_result, tmp_path / "watch" / "sample.html")
    check_page(page, html, shots=4, keep_as="sample-watch", media=sample_clip)
    assert page.evaluate("document.querySelectorAll('#transcript .word').length") == 6
    wait_for(page, "document.getElementById('player').readyState >= 1", "the player did not load the clip")

    click(page, "#transcript .line:nth-of-type(2) .word:nth-of-type(1)")  # "link", at 5.0 s in shot 1
    now = shown_now(page)
    assert now["time"] == pytest.approx(5.0, abs=0.1) and now["word"] == "link" and now["shot"] == 1
    click(page, ".shot-card[data-index='3'] img")  # a keyframe seeks too
    assert shown_now(page)["time"] == pytest.approx(
        sample_result.analyzers["cut_analysis"].segments[3].start_s, abs=0.1
    )

    # Playing from 0.9 s: the playhead and the highlighted word keep up with the player.
    page.evaluate(
        "(() => { const p = document.getElementById('player'); p.muted = true; p.currentTime = 0.9; p.play(); })()"
    )
    wait_for(page, "document.getElementById('player').currentTime > 1.6", "the clip did not play")
    page.evaluate("document.getElementById('player').pause()")
    wait_for(page, "document.getElementById('player').paused", "the clip did not pause")
    time.sleep(0.3)  # the pause's timeupdate
    now = shown_now(page)
    assert 1.6 < now["time"] < 4.0 and now["playhead"] == pytest.approx(now["time"], abs=0.05)
    assert now["word"] == ("it" if now["time"] < 2.0 else None)  # "it" ends at 2.0 s, "link" starts at 5.0 s
    assert now["shot"] == (0 if now["time"] < 3.0 else 1)
    assert page.problems() == []


def test_an_embedded_clip_plays_with_the_file_gone(tmp_path, sample_clip, sample_result, page):
    clip = tmp_path / "gone.mp4"
    shutil.copy(sample_clip, clip)
    moved = sample_result.model_copy(
        update={"video": sample_result.video.model_copy(update={"path": str(clip)}), "source": str(clip)}
    )
    html = write_report(moved, tmp_path / "embedded.html", embed_video=True)
    clip.unlink()

    check_page(page, html, shots=4, keep_as="sample-embedded")
    assert page.evaluate("document.getElementById('player').src.startsWith('data:video/mp4;base64,')")
    check_seeking(page, [s.start_s for s in moved.analyzers["cut_analysis"].segments if s.label == "shot"])


def test_an_audio_file_gets_an_audio_player_and_no_keyframes(tmp_path, page):
    # The sample's click track, silent from 2 to 3 s: sound, no pictures.
    audio = Path(write_audio_clip(str(tmp_path / "voice.m4a"), AudioSpec(bpm=120, silence=((2.0, 3.0),)), 4.0))
    [result] = run_local([VideoRequest("voice", str(audio))], Plan.build(["cut_analysis", "audio_analysis", NAME]))
    assert not result.video.has_video and result.analyzers["cut_analysis"].status == Status.skipped
    html = write_report(result, tmp_path / "voice.html")

    shown = check_page(page, html, shots=0, keep_as="audio-only", media=audio)
    assert shown["player"] == "AUDIO" and page.evaluate("document.querySelectorAll('video, img').length") == 0
    notes = page.evaluate("Array.from(document.querySelectorAll('.note')).map(p => p.textContent)")
    assert "No keyframes: no video stream." in notes
    starts = [s.start_s for s in result.analyzers["audio_analysis"].segments]
    assert len(starts) >= 2  # music, then the silence
    check_seeking(page, starts, "svg#timeline g.audio[data-start='{start:.3f}'] rect")


def test_skipped_and_failed_analyzers_and_a_failed_video_give_clear_pages(tmp_path, sample_clip, sample_result, page):
    analyzers = {
        **sample_result.analyzers,
        "cut_analysis": AnalyzerResult.skipped("weights missing"),
        "speech_transcription": AnalyzerResult.failed("RuntimeError: out of memory"),
        "text_overlay": AnalyzerResult.skipped("rapidocr not installed"),
    }
    html = write_report(sample_result.model_copy(update={"analyzers": analyzers}), tmp_path / "skipped.html")
    shown = check_page(page, html, shots=0, keep_as="sample-skipped", media=sample_clip)
    assert shown["player"] == "VIDEO"
    notes = page.evaluate("Array.from(document.querySelectorAll('.note')).map(p => p.textContent)")
    assert notes == [
        "No transcript: speech_transcription failed: RuntimeError: out of memory.",
        "No keyframes: cut_analysis skipped: weights missing.",
    ]
    absent = page.evaluate(
        "Array.from(document.querySelectorAll('svg#timeline g.absent title')).map(t => t.textContent)"
    )
    assert (
        "cut_analysis skipped: weights missing" in absent and "text_overlay skipped: rapidocr not installed" in absent
    )

    failed = sample_result.model_copy(
        update={"status": Status.failed, "error": "decoder crashed at 3.2 s", "analyzers": {}}
    )
    html = write_report(failed, tmp_path / "failed.html")
    check_page(page, html, shots=0, keep_as="sample-failed", media=sample_clip)
    assert (
        page.evaluate("document.querySelector('header .error').textContent")
        == "The analysis failed: decoder crashed at 3.2 s"
    )


def test_a_document_of_an_unknown_schema_version_gives_a_clear_page_or_one_line(tmp_path, sample_result, page):
    newer = sample_result.model_copy(update={"schema_version": "3.0"})
    html = write_report(newer, tmp_path / "newer.html")
    page.open(html.resolve().as_uri())
    assert page.problems() == []
    message = page.evaluate("document.querySelector('.error').textContent")
    assert message.startswith("This document cannot be shown: schema version 3.0") and message.endswith("reads 2.x.")
    assert page.evaluate("document.querySelectorAll('svg, video, audio').length") == 0

    # The command: a page like that, or one line on stderr; never a traceback. (The document is a
    # valid 2.0 body: the hand-made transcript above holds only the fields the page reads.)
    analyzers = {n: r for n, r in newer.analyzers.items() if n != "speech_transcription"}
    (tmp_path / "newer.json").write_text(newer.model_copy(update={"analyzers": analyzers}).to_json())
    run = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "report", str(tmp_path / "newer.json")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "Traceback" not in run.stderr
    if run.returncode:
        assert run.returncode == 2 and len(run.stderr.strip().splitlines()) == 1, run.stderr
    else:
        assert "schema version 3.0" in (tmp_path / "newer.html").read_text()


def test_each_keyframe_lists_the_text_and_objects_seen_in_its_shot(sample_result):
    from test_fusion import ok, seg

    from pipeline.report.watch import shot_cards

    def text(start, end, words):
        fields = {
            "position": "caption_band",
            "is_caption": True,
            "persistent": False,
            "box": [0, 0, 1, 1],
            "samples": 3,
        }
        return seg(start, end, "text", text=words, **fields)

    analyzers = {
        **sample_result.analyzers,
        "text_overlay": ok("text_overlay", text(0.5, 2.5, "WAIT FOR IT"), text(8.2, 9.9, "LINK IN BIO")),
        "object_detection": ok(
            "object_detection", seg(2.0, 6.0, "person", 0.9, track=0), seg(0.0, 3.0, "shot", shot=0)
        ),
    }
    cards = shot_cards(sample_result.model_copy(update={"analyzers": analyzers}))
    assert [(c.texts, c.objects) for c in cards] == [
        (["WAIT FOR IT"], ["person"]),
        ([], ["person"]),
        ([], ["person"]),
        (["LINK IN BIO"], []),
    ]
    assert all(c.thumbnail.startswith("data:image/jpeg;base64,/9j/") for c in cards)


def test_the_short_form_panel_shows_each_insight_or_why_not(tmp_path):
    from test_fusion import fuse, ok, seg, shot, video
    from test_short_form import LOOP, SOUND, STITCH, flow

    from pipeline.report.data import report_data

    info = video(duration_s=4.0).model_copy(update={"width": 1080, "height": 1920})
    fields = {"position": "top", "is_caption": False, "persistent": False, "samples": 8}
    results = {
        "cut_analysis": ok(
            "cut_analysis",
            shot(0, 0.0, 2.0, None, "cut"),
            shot(1, 2.0, 4.0, "cut", None),
            opens_with_fade=False,
            closes_with_fade=False,
            cuts_per_minute=15.0,
            average_shot_length_s=2.0,
        ),
        "audio_analysis": ok(
            "audio_analysis",
            tempo_bpm=120.0,
            beat_strength=0.9,
            beat_times_s=[0.5 * k for k in range(8)],
            music_share=1.0,
            speech_share=0.0,
            silence_share=0.0,
            loudness={"integrated_lufs_estimate": None, "curve": []},
        ),
        "text_overlay": ok(
            "text_overlay",
            seg(0.0, 4.0, "text", 0.9, text="TikTok", box=[0.05, 0.02, 0.3, 0.06], **fields),
            seg(0.0, 4.0, "text", 0.9, text="@maker", box=[0.05, 0.07, 0.3, 0.1], **fields),
            texts=["TikTok", "@maker"],
            watermark={"platform": "tiktok", "mark": "TikTok", "handle": "@maker", "times": [[0.0, 4.0]]},
        ),
    }
    results["temporal_flow"] = flow({**LOOP, "seamless": True, "sound": SOUND}, STITCH)
    results["camera_analysis"] = ok(
        "camera_analysis",
        motion_curve=[],
        split_screen={"layout": None, "seam_share": None, "independent_share": None, "frames_measured": 40},
    )
    fused = fuse(info, results)
    result = VideoResult(
        id="portrait",
        source="portrait.mp4",
        video=info,
        analyzers={**results, NAME: AnalyzerResult(status=Status.ok, segments=fused.segments, summary=fused.summary)},
    )
    panel = report_data(result).short_form
    assert [(line.label, line.measured) for line in panel.lines] == [
        (label, label not in ("Green screen",)) for label in PANEL_LABELS
    ]
    lines = {line.label: line.text for line in panel.lines}
    assert lines["Editing on the beat"].startswith("1 of 1 hard cut within ±40 ms of a beat at 120 BPM (100%; 16% by chance")
    assert lines["Cross-posting mark"] == "TikTok @maker, on screen 0-4 s"
    assert lines["Hook"] == (
        "first cut 1.50 s (first 3 s); text 0.00 s (first 1 s); word: speech_transcription did not run; face: never; "
        "0 cuts in the first 1 s; loudness +3.2 dB against the rest; motion 0.20 against 0.10 after"
    )
    assert lines["Loop"] == (
        "seamless: the end is 99.8% like the start (one frame and the next: 99.0% alike, the median); the sound continues"
    )
    assert lines["Stitch"] == "a stitch's shape (opening shot 2.1 s, a face 0.2 s after the cut, faces 80% of the rest)"
    assert lines["Split screen"] == "none seen (40 frames measured)"
    assert lines["Green screen"] == "background_segmentation not run"
    # The mark and its handle sit in every app's top bar: all of the text time is under it.
    assert [(z.platform, z.text, z.top_bar, z.right_rail, z.bottom, z.faces) for z in panel.zones] == [
        (name, 1.0, 1.0, 0.0, 0.0, None) for name in ("TikTok", "Instagram Reels", "YouTube Shorts")
    ]
    html = render(result, tmp_path)
    assert "<h2>Short-form</h2>" in html and "<th>YouTube Shorts</th><td class=num>100%</td>" in html

    fused = fuse(video(duration_s=4.0), results)
    fused_result = AnalyzerResult(status=Status.ok, segments=fused.segments, summary=fused.summary)
    landscape = result.model_copy(update={"video": video(duration_s=4.0), "analyzers": {**results, NAME: fused_result}})
    lines = report_data(landscape).short_form.lines
    assert (lines[1].text, lines[1].measured) == ("not applicable: landscape", False)
    unfused = result.model_copy(update={"analyzers": {n: r for n, r in result.analyzers.items() if n != NAME}})
    lines = report_data(unfused).short_form.lines
    assert [line.text for line in lines[:3]] == [f"{NAME} not run", f"{NAME} not run", "TikTok @maker, on screen 0-4 s"]
