"""The demo page (demo/app.py): its checkpoint builder, its answers and messages called directly, and the page itself
in headless Chromium as a user sees it (the app started and stopped by the test, random small checkpoints)."""

import importlib.util
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from .conftest import REPO_ROOT

DEMO = REPO_ROOT / "demo"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# flags that let Debian's Chromium run here: no sandbox as root, no GPU, and none of its background network calls
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _module(name: str):
    spec = importlib.util.spec_from_file_location(f"videozoo_demo_{name}", DEMO / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def app():
    return _module("app")


@pytest.fixture(scope="module")
def built(tmp_path_factory, app):
    """The random build (about 20 s on one core), shared by the tests of this file: (root, folder)."""
    root = tmp_path_factory.mktemp("demo-checkpoints")
    return root, app.checkpoints.prepare(root, "random", log=lambda *args: None)


def test_the_build_lists_its_weights_and_examples(built, app):
    root, folder = built
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["mode"] == "random"
    assert set(manifest["models"]) == set(app.TASKS)
    assert all(model["weights"] == "random" for model in manifest["models"].values())
    for name in manifest["examples"]:
        assert (folder / "examples" / name).is_file(), name
    assert manifest["examples"]["flash_and_click_+0.2s.mp4"]["offset_sec"] == 0.2
    assert app.checkpoints.prepare(root, "random") == folder  # complete: used as it is
    with pytest.raises(ValueError, match="mode must be one of"):
        app.checkpoints.prepare(root, "pretrained")
    with pytest.raises(ValueError, match="is a file, not a folder"):
        app.checkpoints.prepare(folder / "manifest.json", "random")
    # a folder that is not a finished build is refused and left as it is
    (root / "trained").mkdir()
    (root / "trained" / "mine.txt").write_text("keep")
    with pytest.raises(ValueError, match="has no manifest.json"):
        app.checkpoints.prepare(root, "trained")
    assert (root / "trained" / "mine.txt").read_text() == "keep"
    assert not [p for p in root.iterdir() if p.name.startswith(".")]  # no half-built folder left behind


def test_answers_and_messages(built, app):
    _, folder = built
    demo = app.Demo(folder)
    examples = folder / "examples"
    answer = demo.answer("audio-visual-synchronisation", examples / "flash_and_click_+0.2s.mp4")
    json.dumps(answer)
    assert [w["start_sec"] for w in answer["windows"]] == [0.0, 1.0, 2.0]  # 3 s clip, 1 s windows
    # the offset grid is float32 (0.4 -> 0.4000000059604645): 1e-6 is well above that rounding
    assert [d["offset_sec"] for d in answer["distribution"]] == pytest.approx([-0.4, -0.2, 0.0, 0.2, 0.4], abs=1e-6)
    text, figure = demo.synchronise(str(examples / "flash_and_click_+0.2s.mp4"))
    assert re.search(r"\*\*Offset: [+-]?0\.[024] s\*\*", text) and "True offset of this example clip: +0.2 s" in text
    assert figure.axes[0].get_xlabel().startswith("offset (s)")
    assert "**Transcript:**" in demo.transcribe(str(examples / "synthav_asr_0.mp4"))
    # bad input: the message names the file and the problem, and the next call works
    run = app.shown(demo.synchronise, 2)
    cases = {
        "not_a_video.mp4": "not_a_video.mp4: unreadable media file",
        "no_audio.mp4": "no_audio.mp4: no audio stream; the Synchronisation tab needs a clip with video and audio",
        "too_short.mp4": "too_short.mp4: 0.48 s of synchronised audio and video; this model needs clips of at least 1 s",  # noqa: E501
    }
    for name, message in cases.items():
        text, plot = run(str(examples / name))
        assert text.startswith("**Error:** ") and message in text and plot is None, text
    assert run(None) == ("**Error:** no file: upload a video clip first", None)
    assert run(str(examples / "flash_and_click_0.0s.mp4"))[0].startswith("**Offset:")
    with pytest.raises(app.DemoInputError, match="unknown task 'audio-visual-synchronization'.*audio-visual-sync"):
        demo.answer("audio-visual-synchronization", examples / "flash_and_click_0.0s.mp4")
    # video-to-audio reads only the frames: a clip without audio is fine there
    text, (rate, waveform), _ = demo.generate_audio(str(examples / "no_audio.mp4"))
    assert text.startswith("**Generated") and rate == 22050 and len(waveform) == 40 * 256
    with pytest.raises(app.DemoInputError, match="captions: write at least one caption"):
        demo.rank_captions(str(examples / "flash_and_click_0.0s.mp4"), "\n ")
    ranked = demo.rank_captions(str(examples / "flash_and_click_0.0s.mp4"), "a dog runs\nthe bright square")
    assert re.search(r"1\. (a dog runs|the bright square) \(score -?\d\.\d{3}\)", ranked), ranked
    text, timeline = demo.caption_events(str(examples / "flash_and_click_0.0s.mp4"))  # random proposals: maybe none
    assert re.match(r"\*\*(\d+ event\(s\):|No event proposed)", text) and timeline.axes[0].get_xlabel() == "time (s)"


def test_the_command_line_refuses_an_unknown_task(app, capsys):
    with pytest.raises(SystemExit):
        app.parse_args(["--tasks", "audio-visual-synchronisation,lip-reading"])
    assert "--tasks: unknown task(s) ['lip-reading']; the demo has audio-visual-synchronisation" in (
        capsys.readouterr().err
    )


# ----------------------------------------------------------------------------- the page in a browser
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_server(process, url: str, seconds: float, log) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the app exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"the app did not answer at {url} within {seconds} s")


@pytest.fixture(scope="module")
def served(built, tmp_path_factory):
    """The app on a free localhost port (random build), stopped after the tests: its URL."""
    pytest.importorskip("gradio", reason="gradio is not installed (requirements.txt pins it)")
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed (requirements.txt pins it)")
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"Chromium is not installed at {CHROMIUM} (tools/setup_env.sh installs Debian's chromium)")
    root, _ = built
    port = _free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1"}
    env["GRADIO_TEMP_DIR"] = str(tmp_path_factory.mktemp("gradio"))
    command = [sys.executable, str(DEMO / "app.py"), "--tiny", "--checkpoints", str(root), "--port", str(port)]
    log = tmp_path_factory.mktemp("demo-log") / "app.log"
    with log.open("w") as output:  # a file, not a pipe: an unread pipe would fill and stall the app
        process = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        _wait_for_server(process, url, 240, log)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_the_page_in_headless_chromium(served, built):
    """A user opens the page, uploads a synthetic clip in the synchronisation tab and reads the offset, uploads a
    file that is not a video and reads the message, uploads a clip again (the page still works), then transcribes a
    clip in the speech recognition tab, searches the example clips in the retrieval tab, captions a clip in the
    dense captioning tab and generates audio for a silent clip in the video to audio tab."""
    from playwright import sync_api  # (the fixture skips without it)

    expect = sync_api.expect
    # model answers take seconds, the first one more (it loads the pipeline), on a shared CPU: generous timeouts
    expect.set_options(timeout=60_000)
    _, folder = built
    examples = folder / "examples"
    outside = []  # requests the page makes to anything but the app
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page()
            page.set_default_timeout(60_000)  # the shared 2-core CI machine is slow to render the first page
            page.on(
                "request", lambda r: None if r.url.startswith((served, "data:", "blob:")) else outside.append(r.url)
            )
            page.goto(served)
            expect(page.get_by_role("tab", name="Synchronisation")).to_be_visible(timeout=120_000)
            answer = page.locator("#sync-answer")
            upload = page.locator("#sync-input input[type=file]")
            # the x over an uploaded video (a second one inside the player, for some files: either clears the input)
            clear = page.locator("#sync-input button[aria-label='Clear']").first
            upload.set_input_files(examples / "flash_and_click_+0.2s.mp4")
            expect(answer).to_contain_text(re.compile(r"Offset: [+-]?0\.[024] s"), timeout=120_000)
            expect(answer).to_contain_text("True offset of this example clip: +0.2 s")
            expect(page.locator("#sync-plot img")).to_be_visible()  # the offset distribution
            clear.click()
            expect(answer).to_contain_text("no file: upload a video clip first")
            upload.set_input_files(examples / "not_a_video.mp4")
            expect(answer).to_contain_text("not_a_video.mp4: unreadable media file")
            clear.click()  # the component keeps the file it cannot play (with a "Video not playable" notice)
            upload.set_input_files(examples / "flash_and_click_-0.4s.mp4")
            expect(answer).to_contain_text("True offset of this example clip: -0.4 s")
            expect(answer).to_contain_text(re.compile(r"Offset: [+-]?0\.[024] s"))

            page.get_by_role("tab", name="Speech recognition").click()
            page.locator("#asr-input input[type=file]").set_input_files(examples / "synthav_asr_0.mp4")
            transcript = page.locator("#asr-answer")
            expect(transcript).to_contain_text("Transcript:", timeout=120_000)
            expect(transcript).to_contain_text("Spoken words of this example clip:")

            page.get_by_role("tab", name="Retrieval").click()
            page.get_by_role("button", name="Search the example clips").click()
            expect(page.locator("#retrieval-found")).to_contain_text("3 example clips ranked for", timeout=120_000)

            page.get_by_role("tab", name="Dense captioning").click()
            page.locator("#captioning-input input[type=file]").set_input_files(examples / "flash_and_click_0.0s.mp4")
            # random proposals: one event or more, or none inside the clip; the timeline is drawn either way
            expect(page.locator("#captioning-answer")).to_contain_text(
                re.compile(r"\d+ event\(s\):|No event proposed")
            )
            expect(page.locator("#captioning-plot img")).to_be_visible()

            page.get_by_role("tab", name="Video to audio").click()
            page.locator("#v2a-input input[type=file]").set_input_files(examples / "no_audio.mp4")
            expect(page.locator("#v2a-answer")).to_contain_text("Generated 0.46 s of audio", timeout=120_000)
            expect(
                page.locator("#v2a-audio").get_by_role("button", name="Play", exact=True)
            ).to_be_visible()  # the player
            expect(page.locator("#v2a-plot img")).to_be_visible()  # the spectrogram
        finally:
            browser.close()
    assert not outside, f"the page reached outside the app: {outside[:5]}"
