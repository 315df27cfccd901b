"""videozoo's demo page: one tab per pipeline task, a clip in, the answer on screen (a Gradio app, Space-ready).

    python demo/app.py                 # builds the checkpoints on first start (trained mode, docs/demo.md), serves
    python demo/app.py --prepare       # only builds them
    python demo/app.py --tiny          # random small checkpoints, built in seconds (VIDEOZOO_DEMO_TINY=1 too)
    python demo/app.py --checkpoints DIR --port 7860 --host 0.0.0.0

The models are small and run on the CPU; which weights each tab runs (trained on an embedded synthetic task, or
random) is printed on the page next to its answers, from the build's manifest. Nothing is downloaded: the
checkpoints are built on this machine (demo/demo_checkpoints.py), Gradio's analytics are off and the page uses the
system fonts.

The answers come from `Demo` (no Gradio in it, so they can be tested directly); `build_page` lays out the tabs.
Every file goes through the pipelines' own checks (a file that is not a video, a missing stream, a clip too short
for the model): the message is shown in the tab's answer box and the page goes on working.
"""

import argparse
import os
import sys
import traceback
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import demo_checkpoints as checkpoints  # noqa: E402

TASKS = {
    "audio-visual-synchronisation": "Synchronisation",
    "audio-visual-speech-recognition": "Speech recognition",
    "video-text-retrieval": "Retrieval",
    "dense-video-captioning": "Dense captioning",
    "video-to-audio": "Video to audio",
}
# the streams each tab's models read from an uploaded file
NEEDED_STREAMS = {
    "audio-visual-synchronisation": ("video", "audio"),
    "audio-visual-speech-recognition": ("video", "audio"),
    "video-text-retrieval": ("video", "audio"),
    "dense-video-captioning": ("video", "audio"),
    "video-to-audio": ("video",),
}


class DemoInputError(ValueError):
    """An input the demo cannot use (unknown task, no file, a missing stream); the message is shown on the page."""


def check_task(task: str) -> str:
    if task not in TASKS:
        raise DemoInputError(f"unknown task {task!r}: the demo has {', '.join(TASKS)}")
    return task


def check_media(task: str, path) -> Path:
    """`path` as a media file holding the streams `task` needs, or a `DemoInputError` saying what is wrong."""
    from videozoo.processors.video_io import open_media

    check_task(task)
    if path is None or str(path) == "":
        raise DemoInputError("no file: upload a video clip first")
    path = Path(path)
    if not path.is_file():
        raise DemoInputError(f"{path.name}: no such file")
    with open_media(path) as container:
        kinds = {stream.type for stream in container.streams}
    missing = [kind for kind in NEEDED_STREAMS[task] if kind not in kinds]
    if missing:
        raise DemoInputError(
            f"{path.name}: no {' or '.join(missing)} stream; the {TASKS[task]} tab needs a clip with "
            f"{' and '.join(NEEDED_STREAMS[task])}"
        )
    return path


class VisualFeatures:
    """`path -> {"visual_features": (frames, dim)}` for the video-to-audio pipeline: the ResNet frames extractor of
    the checkpoint folder (the paper's sampler reads ResNet-50 features of the frames)."""

    def __init__(self, folder: str | Path):
        from videozoo.processors.pipeline_base import _media_extraction

        self.extraction = _media_extraction()("resnet_frames", str(folder))

    def __call__(self, path) -> dict:
        return {"visual_features": next(iter(self.extraction.extract_media(Path(path))["features"].values()))}


class Demo:
    """The pipelines of one checkpoint build (demo/demo_checkpoints.py), made on first use, and the answers the page
    shows. Plots are matplotlib figures."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.manifest = checkpoints.load_manifest(self.folder)
        if self.manifest is None:
            raise ValueError(f"checkpoints: {self.folder} has no manifest.json (build it with --prepare)")
        self.examples = self.folder / "examples"
        self._pipelines = {}
        self._collection = None

    def weights(self, task: str) -> str:
        return self.manifest["models"][check_task(task)]["description"]

    def pipeline(self, task: str):
        check_task(task)
        if task not in self._pipelines:
            self._pipelines[task] = self._make(task)
        return self._pipelines[task]

    def _make(self, task: str):
        from transformers import pipeline

        import videozoo  # noqa: F401  (registers the pipelines)

        extractors = self.folder / "extractors"
        if task == "video-text-retrieval":
            from videozoo.processors.pipeline_retrieval import RetrievalMediaFeatures

            folder = self.folder / "everything_at_once"
            retrieval = pipeline(task, model=str(folder))
            retrieval.processor.load_word_vectors(folder / "word_vectors.txt")
            retrieval.feature_hook = RetrievalMediaFeatures(
                retrieval.model.config,
                {"resnet_frames": str(extractors / "resnet_frames"), "s3d": str(extractors / "s3d")},
                sampling_rate=retrieval.processor.feature_extractor.sampling_rate,
            )
            return retrieval
        if task == "dense-video-captioning":
            from videozoo.modeling import BMTForEventProposal
            from videozoo.processors.pipeline_dense_captioning import BMTMediaFeatures

            hook = BMTMediaFeatures(*(str(extractors / name) for name in ("i3d_rgb", "i3d_flow", "raft", "vggish")))
            proposer = BMTForEventProposal.from_pretrained(self.folder / "bmt" / "proposer")
            return pipeline(
                task, model=str(self.folder / "bmt" / "captioner"), proposal_model=proposer, feature_hook=hook
            )
        if task == "video-to-audio":
            from transformers import AutoModel

            vocoder = AutoModel.from_pretrained(self.folder / "specvqgan" / "vocoder")
            return pipeline(
                task,
                model=str(self.folder / "specvqgan" / "sampler"),
                vocoder=vocoder,
                feature_hook=VisualFeatures(extractors / "resnet_frames"),
            )
        folder = {"audio-visual-synchronisation": "sparsesync", "audio-visual-speech-recognition": "avatar"}[task]
        return pipeline(task, model=str(self.folder / folder))

    # ------------------------------------------------------------------------- answers (JSON, as the pipelines)
    def answer(self, task: str, path, **kwargs) -> dict | list:
        """The pipeline's answer for one uploaded file (the API of the page)."""
        path = check_media(task, path)
        if task == "audio-visual-speech-recognition":
            kwargs.setdefault("truncation", True)  # the small model reads 0.64 s: the first window, as the reference
        if task == "dense-video-captioning":
            kwargs.setdefault("max_proposals", 5)
            kwargs.setdefault("max_new_tokens", 10)
        if task == "video-text-retrieval":
            captions = kwargs.pop("captions", None) or ["a bright square flashes", "a click in the dark"]
            retrieval = self.pipeline(task)
            return retrieval(retrieval.feature_hook(path), captions=captions, top_k=len(captions))
        if task == "video-to-audio":
            import torch

            torch.manual_seed(kwargs.pop("seed", 0))
            kwargs.setdefault("return_spectrogram", True)
        return self.pipeline(task)(str(path), **kwargs)

    def known(self, path) -> dict:
        """What is known about an example clip (by its file name), or {}."""
        return self.manifest["examples"].get(Path(path).name, {}) if path else {}

    # ------------------------------------------------------------------------- the tabs
    def synchronise(self, path):
        result = self.answer("audio-visual-synchronisation", path)
        direction = "audio early" if result["offset_sec"] > 0 else "audio late" if result["offset_sec"] < 0 else ""
        lines = [
            f"**Offset: {result['label']} s**{f' ({direction})' if direction else ''}, "
            f"probability {result['probability']:.2f}, over {len(result['windows'])} window(s)"
        ]
        truth = self.known(path).get("offset_sec")
        if truth is not None:
            lines.append(f"True offset of this example clip: {truth:+.1f} s" if truth else "True offset: 0.0 s")
        return "\n\n".join(lines), offset_plot(result, truth)

    def transcribe(self, path):
        result = self.answer("audio-visual-speech-recognition", path)
        lines = [f"**Transcript:** {result['text'] or '(empty)'}"]
        truth = self.known(path).get("text")
        if truth is not None:
            lines.append(f"Spoken words of this example clip: {truth}")
        if not result["used_frames"]:
            lines.append("(audio only)")
        return "\n\n".join(lines)

    def rank_captions(self, path, captions: str):
        captions = [line.strip() for line in (captions or "").splitlines() if line.strip()]
        if not captions:
            raise DemoInputError("captions: write at least one caption, one a line")
        ranked = self.answer("video-text-retrieval", path, captions=captions)
        rows = [f"{rank}. {item['caption']} (score {item['score']:.3f})" for rank, item in enumerate(ranked, 1)]
        return "**Captions ranked for this clip:**\n\n" + "\n".join(rows)

    def collection(self):
        if self._collection is None:
            clips = sorted(self.examples.glob("flash_and_click_*.mp4"))
            self._collection = (self.pipeline("video-text-retrieval").index_videos([str(c) for c in clips]), clips)
        return self._collection

    def search(self, caption: str):
        if not caption or not caption.strip():
            raise DemoInputError("caption: write a caption to search the example clips with")
        collection, clips = self.collection()
        (ranked,) = self.pipeline("video-text-retrieval")([caption.strip()], collection=collection, top_k=len(clips))
        by_id = {clip.stem: clip for clip in clips}
        gallery = [
            (thumbnail(by_id[item["id"]]), f"{rank}. {item['id']} ({item['score']:.3f})")
            for rank, item in enumerate(ranked, 1)
        ]
        return f"**{len(ranked)} example clips ranked for:** {caption.strip()}", gallery

    def caption_events(self, path):
        events = self.answer("dense-video-captioning", path)
        if not events:
            return "**No event proposed** inside this clip.", timeline_plot([], 1.0)
        rows = [f"{e['start']:.1f}-{e['end']:.1f} s: {e['caption'] or '(empty)'}" for e in events]
        return f"**{len(events)} event(s):**\n\n" + "\n".join(rows), timeline_plot(events, media_seconds(path))

    def generate_audio(self, path):
        result = self.answer("video-to-audio", path)
        waveform = np.asarray(result["waveform"], np.float32)
        rate = result["sampling_rate"]
        text = f"**Generated {len(waveform) / rate:.2f} s of audio** at {rate} Hz"
        return (
            text,
            (rate, waveform),
            spectrogram_plot(np.asarray(result["spectrogram"]).reshape(-1, np.shape(result["spectrogram"])[-1])),
        )


# ----------------------------------------------------------------------------- plots and thumbnails
def _figure(width=6.0, height=2.6):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(width, height), layout="constrained")
    return figure, axes


def offset_plot(result: dict, truth: float | None = None):
    figure, axes = _figure()
    offsets = [d["offset_sec"] for d in result["distribution"]]
    probabilities = [d["probability"] for d in result["distribution"]]
    step = min(np.diff(offsets)) if len(offsets) > 1 else 0.2
    bars = axes.bar(offsets, probabilities, width=0.8 * step, color="#9ab")
    bars[int(np.argmax(probabilities))].set_color("#d62")
    if truth is not None:
        axes.axvline(truth, color="k", linestyle="--", label="true offset")
        axes.legend(loc="upper right")
    axes.set_xlabel("offset (s), positive: audio early")
    axes.set_ylabel("probability")
    axes.set_ylim(0, 1)
    return figure


def timeline_plot(events: list[dict], seconds: float):
    figure, axes = _figure(height=1.2 + 0.45 * max(len(events), 1))
    for row, event in enumerate(events):
        axes.barh(row, event["end"] - event["start"], left=event["start"], color="#9ab", height=0.6)
        caption = event["caption"] if len(event["caption"]) <= 40 else event["caption"][:39] + "..."
        axes.text(event["start"], row, f" {caption}", va="center", fontsize=9)
    axes.set_xlim(0, max(seconds, max((e["end"] for e in events), default=0)))
    axes.set_ylim(-0.5, max(len(events), 1) - 0.5)
    axes.invert_yaxis()
    axes.set_yticks([])
    axes.set_xlabel("time (s)")
    return figure


def spectrogram_plot(spectrogram: np.ndarray):
    figure, axes = _figure()
    axes.imshow(spectrogram, origin="lower", aspect="auto", cmap="magma")
    axes.set_xlabel("frame")
    axes.set_ylabel("mel bin")
    return figure


def media_seconds(path) -> float:
    from videozoo.processors.video_io import open_media

    with open_media(Path(path)) as container:
        return float(container.duration or 0) / 1e6


def thumbnail(path: Path, size: int = 128) -> np.ndarray:
    """The clip's brightest frame (a flash, in the synthetic clips), scaled up to `size` pixels."""
    from videozoo.processors.video_io import open_media

    with open_media(path) as container:
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    frame = max(frames, key=lambda f: f.mean())
    scale = max(1, size // max(frame.shape[:2]))
    return np.repeat(np.repeat(frame, scale, axis=0), scale, axis=1)


# ----------------------------------------------------------------------------- the page
def shown(function, outputs: int):
    """`function` for a Gradio event: its outputs, or on failure the message in the first output (the answer box)
    and nothing in the others, so a bad file never breaks the page."""

    def run(*inputs):
        try:
            result = function(*inputs)
        except Exception as error:  # any failure becomes the tab's message; the traceback goes to the server log
            if not isinstance(error, ValueError):
                traceback.print_exc()
            message = str(error)
            for value in inputs:  # the upload's temporary folder says nothing to the user: keep the file name
                if isinstance(value, str) and os.sep in value:
                    message = message.replace(value, Path(value).name)
            result = (f"**Error:** {message}",) + (None,) * (outputs - 1)
        return result if outputs > 1 else result[0] if isinstance(result, tuple) else result

    return run


def build_page(demo: Demo, tasks=tuple(TASKS)):
    import gradio as gr

    examples = demo.examples
    sync_examples = [str(p) for p in sorted(examples.glob("flash_and_click_*.mp4"))]
    bad_examples = [str(examples / name) for name in ("no_audio.mp4", "too_short.mp4")]
    weights = {task: demo.weights(task) for task in tasks}
    mode = demo.manifest["mode"]
    with gr.Blocks(title="videozoo demo") as page:
        gr.Markdown(
            "# videozoo pipelines\n"
            f"Small CPU models ({mode} build). **These are not the papers' models**: each tab says which weights "
            "it runs. Trained weights come from the zoo's synthetic tasks (flash-and-click offsets, SynthAV-ASR "
            "tone words); random weights only show the plumbing, their answers mean nothing."
        )
        if "audio-visual-synchronisation" in tasks:
            with gr.Tab(TASKS["audio-visual-synchronisation"], id="sync"):
                gr.Markdown(f"How far is the audio ahead of the frames? *{weights['audio-visual-synchronisation']}*")
                with gr.Row():
                    video = gr.Video(label="clip", sources=["upload"], height=300, elem_id="sync-input")
                    with gr.Column():
                        answer = gr.Markdown(elem_id="sync-answer")
                        plot = gr.Plot(label="offset distribution", elem_id="sync-plot")
                video.change(shown(demo.synchronise, 2), video, [answer, plot])
                gr.Examples(sync_examples + bad_examples, video)
        if "audio-visual-speech-recognition" in tasks:
            with gr.Tab(TASKS["audio-visual-speech-recognition"], id="asr"):
                gr.Markdown(f"The words spoken in the clip. *{weights['audio-visual-speech-recognition']}*")
                with gr.Row():
                    video = gr.Video(label="clip", sources=["upload"], height=300, elem_id="asr-input")
                    answer = gr.Markdown(elem_id="asr-answer")
                video.change(shown(demo.transcribe, 1), video, answer)
                gr.Examples([str(p) for p in sorted(examples.glob("synthav_asr_*.mp4"))] + bad_examples[:1], video)
        if "video-text-retrieval" in tasks:
            with gr.Tab(TASKS["video-text-retrieval"], id="retrieval"):
                gr.Markdown(f"Captions against clips. *{weights['video-text-retrieval']}*")
                with gr.Row():
                    query = gr.Textbox(label="caption", value="a bright square flashes", elem_id="retrieval-query")
                    search = gr.Button("Search the example clips")
                found = gr.Markdown(elem_id="retrieval-found")
                gallery = gr.Gallery(label="ranked clips", columns=4, height="auto")
                search.click(shown(demo.search, 2), query, [found, gallery])
                with gr.Row():
                    video = gr.Video(label="clip", sources=["upload"], height=300, elem_id="retrieval-input")
                    with gr.Column():
                        captions = gr.Textbox(
                            label="captions, one a line", lines=3, value="a bright square flashes\na click in the dark"
                        )
                        answer = gr.Markdown(elem_id="retrieval-answer")
                video.change(shown(demo.rank_captions, 1), [video, captions], answer)
                gr.Examples(sync_examples[:1], video)
        if "dense-video-captioning" in tasks:
            with gr.Tab(TASKS["dense-video-captioning"], id="captioning"):
                gr.Markdown(f"Events and their captions. *{weights['dense-video-captioning']}*")
                with gr.Row():
                    video = gr.Video(label="clip", sources=["upload"], height=300, elem_id="captioning-input")
                    with gr.Column():
                        answer = gr.Markdown(elem_id="captioning-answer")
                        plot = gr.Plot(label="timeline", elem_id="captioning-plot")
                video.change(shown(demo.caption_events, 2), video, [answer, plot])
                gr.Examples(sync_examples[:1], video)
        if "video-to-audio" in tasks:
            with gr.Tab(TASKS["video-to-audio"], id="v2a"):
                gr.Markdown(f"A soundtrack for the frames. *{weights['video-to-audio']}*")
                with gr.Row():
                    video = gr.Video(label="clip", sources=["upload"], height=300, elem_id="v2a-input")
                    with gr.Column():
                        answer = gr.Markdown(elem_id="v2a-answer")
                        audio = gr.Audio(label="generated audio", type="numpy", elem_id="v2a-audio")
                        plot = gr.Plot(label="generated spectrogram", elem_id="v2a-plot")
                video.change(shown(demo.generate_audio, 3), video, [answer, audio, plot])
                gr.Examples([str(examples / "no_audio.mp4")], video)
    return page


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoints", default=None, help="checkpoint root (default ~/.cache/videozoo/demo)")
    parser.add_argument(
        "--tiny",
        action="store_true",
        default=os.environ.get("VIDEOZOO_DEMO_TINY", "") not in ("", "0"),
        help="random small checkpoints, built in seconds (also VIDEOZOO_DEMO_TINY=1)",
    )
    parser.add_argument("--prepare", action="store_true", help="build the checkpoints and exit")
    parser.add_argument("--tasks", default=",".join(TASKS), help="comma-separated tasks to show (default: all)")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)))
    args = parser.parse_args(argv)
    args.tasks = tuple(t.strip() for t in args.tasks.split(",") if t.strip())
    unknown = [t for t in args.tasks if t not in TASKS]
    if unknown or not args.tasks:
        parser.error(f"--tasks: unknown task(s) {unknown}; the demo has {', '.join(TASKS)}")
    if not 0 < args.port < 65536:
        parser.error(f"--port must be in 1-65535, got {args.port}")
    return args


def main(argv=None):
    args = parse_args(argv)
    root = Path(args.checkpoints) if args.checkpoints else checkpoints.default_root()
    folder = checkpoints.prepare(root, "random" if args.tiny else "trained")
    if args.prepare:
        print(f"checkpoints ready in {folder}")
        return
    import gradio as gr
    from transformers import pipeline  # noqa: F401  (imported now, not on the first upload: tens of seconds)

    import videozoo  # noqa: F401

    page = build_page(Demo(folder), args.tasks)
    theme = gr.themes.Default(font=["system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])
    page.queue().launch(
        server_name=args.host,
        server_port=args.port,
        theme=theme,
        ssr_mode=False,
        allowed_paths=[str(folder / "examples")],
    )


if __name__ == "__main__":
    main()
