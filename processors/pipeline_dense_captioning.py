"""`dense-video-captioning`: events of a video with start, end, score and caption (BMT; MDVC with subtitles).

    from transformers import pipeline

    captioner = pipeline("dense-video-captioning", model="<captioner repo>", trust_remote_code=True,
                         proposal_model=proposal_generator)  # a BMTForEventProposal, optional
    captioner({"audio": vggish, "rgb": i3d_rgb, "flow": i3d_flow, "duration": 35.0})
    # [{"start": 1.2, "end": 7.9, "score": 0.83, "caption": "a woman runs down a track"}, ...]

Inputs are the features BMT reads (VGGish audio `(T_a, 128)`, I3D `rgb` / `flow` `(T_v, 1024)`) and the
video's duration; `feature_hook` (`path -> dict`) is where the feature extractors plug in for media files. The
events are the input's own `events` (`[[start, end], ...]` seconds: ground-truth or user proposals, score 1.0) or
those of `proposal_model` (a `BMTForEventProposal`, the second stage of BMT, post-processed by
`BMTProcessor.post_process_proposals` as the reference validation loop: top `max_proposals` by confidence, NMS
when `nms_threshold` is set). Each event is cut from the streams as the reference does (`crop_segment`) and
captioned with `generate` (greedy, or `num_beams`); events are batched `batch_size` at a time.

MDVC reads the same features (its I3D on 0.96 s stacks: 24 frames at 25 fps, `BMTMediaFeatures.MDVC_SAMPLING`) and
the speech of the video as subtitles: `subtitles` in the input, an SRT / WebVTT file, its text, or a list of
`{"start", "end", "text"}` (or `(start, end, text)`). As in the reference's data loading, audio and video are cut to
their common length before the events are cropped, and an event's speech is the subtitle lines that overlap it,
joined (no subtitles: the model's `[BOS, EOS]` speech). The answer's events then carry that `speech` too. No ASR is
bundled: the zoo's speech recogniser (AVATAR) transcribes one short window without word times, so subtitles come
from the user. A media file with subtitles is `{"media": path, "subtitles": ...}`.

From an mp4 (docs/pipelines.md, "From raw video"): `BMTMediaFeatures` is a `feature_hook` that runs the zoo's
extractors as BMT's features were made (v-iashin/BMT's README, video_features): I3D rgb + flow (RAFT flow) on
stacks of frames and VGGish on 0.96 s audio examples, from the extractor checkpoints given to it.

    hook = BMTMediaFeatures(rgb_model="i3d-rgb", flow_model="i3d-flow", raft_model="raft", vggish_model="vggish")
    captioner = pipeline("dense-video-captioning", model=..., proposal_model=proposer, feature_hook=hook)
    captioner("video.mp4")
"""

import re
from pathlib import Path

import numpy as np
import torch

from .feature_extraction_bmt import crop_segment
from .pipeline_base import PipelineInputError, VideozooPipeline, _media_extraction, media_path, to_json

_TIME = r"(?:(\d+):)?(\d{1,2}):(\d{2})(?:[,.](\d{1,3}))?"
_TIMING = re.compile(rf"^\s*{_TIME}\s*-->\s*{_TIME}")


def _seconds(hours, minutes, seconds, fraction) -> float:
    return int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds) + float(f"0.{fraction or 0}")


def read_subtitles(value, name: str = "subtitles") -> list[tuple[float, float, str]]:
    """Subtitle lines `[(start_s, end_s, text), ...]` from an SRT / WebVTT file (a path), its text (a string holding
    `-->`), or a list of `{"start", "end", "text"}` dicts or `(start, end, text)` triples. Bad input raises
    `PipelineInputError` naming `name` and the cue."""
    if isinstance(value, (str, Path)) and "-->" not in str(value):
        path = media_path(value, name)
        try:
            value = path.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError as error:
            raise PipelineInputError(f"{name}: {path} is not a UTF-8 subtitle file ({error})") from error
        name = f"{name} {path}"
    if isinstance(value, str):
        lines, blocks = [], [b for b in re.split(r"\n\s*\n", value.replace("\r\n", "\n").strip()) if b.strip()]
        for number, block in enumerate(blocks, 1):
            rows = block.strip().split("\n")
            timing = next((i for i, row in enumerate(rows) if "-->" in row), None)
            if timing is None:
                if number == 1 or rows[0].startswith(("WEBVTT", "NOTE", "STYLE", "REGION")):
                    continue  # a WebVTT header or comment
                raise PipelineInputError(f"{name}: cue {number} has no 'start --> end' timing line")
            found = _TIMING.match(rows[timing])
            if found is None:
                raise PipelineInputError(f"{name}: cue {number}: cannot read the timing {rows[timing].strip()!r}")
            groups = found.groups()
            text = " ".join(re.sub(r"<[^>]+>", "", row).strip() for row in rows[timing + 1 :]).strip()
            lines.append((_seconds(*groups[:4]), _seconds(*groups[4:]), text))
    elif isinstance(value, (list, tuple)):
        lines = []
        for number, cue in enumerate(value):
            try:
                if isinstance(cue, dict):
                    lines.append((float(cue["start"]), float(cue["end"]), str(cue["text"])))
                else:
                    start, end, text = cue
                    lines.append((float(start), float(end), str(text)))
            except (KeyError, TypeError, ValueError) as error:
                raise PipelineInputError(
                    f"{name}[{number}]: a subtitle line is {{'start': s, 'end': s, 'text': str}} or (start, end, "
                    f"text), got {cue!r}"
                ) from error
    else:
        raise PipelineInputError(
            f"{name}: give an SRT / WebVTT file, its text, or a list of {{'start', 'end', 'text'}}, not "
            f"{type(value).__name__}"
        )
    for number, (start, end, _) in enumerate(lines):
        if not (np.isfinite(start) and np.isfinite(end)) or start < 0 or end < start:
            raise PipelineInputError(f"{name}: line {number} runs from {start} to {end} s")
    return [line for line in lines if line[2]]  # empty lines carry no speech (the reference drops them)


def speech_for_event(subtitles: list[tuple[float, float, str]], start: float, end: float) -> str:
    """The text of the subtitle lines overlapping `[start, end]`, joined with spaces (MDVC's per-event speech, the
    rule of videozoo/data/dense_captioning's `speech_for_event`)."""
    return " ".join(text for s, e, text in subtitles if s < end and e > start)


class BMTMediaFeatures:
    """`path -> {"audio", "rgb", "flow", "duration"}`: BMT's inputs computed from a media file by the zoo's
    extractors (`videozoo.scripts.extract_features.FeatureExtraction`, the code of scripts/extract_features.py, so
    the features are those the script writes). I3D's sampling (fps, stack, step) comes from the I3D checkpoint's
    config unless given; the duration is the decoded video's (frames / fps). `timings` (seconds spent in the video
    and audio extractors) is added to the dict, for reporting. BMT's features are I3D on 64-frame stacks at 25 fps
    (the I3D checkpoints' default); MDVC's on 24-frame stacks: pass `**BMTMediaFeatures.MDVC_SAMPLING`."""

    # MDVC's I3D features: stacks of 24 frames at 25 fps (0.96 s, the VGGish step), every 24 frames
    MDVC_SAMPLING = {"extraction_fps": 25.0, "stack_size": 24, "step_size": 24}

    def __init__(
        self,
        rgb_model: str,
        flow_model: str,
        raft_model: str,
        vggish_model: str,
        device: str = "cpu",
        batch_size: int = 16,
        extraction_fps: float | None = None,
        stack_size: int | None = None,
        step_size: int | None = None,
    ):
        FeatureExtraction = _media_extraction()

        self.video = FeatureExtraction(
            "i3d",
            rgb_model,
            flow_model=flow_model,
            raft_model=raft_model,
            extraction_fps=extraction_fps,
            stack_size=stack_size,
            step_size=step_size,
            batch_size=batch_size,
            device=device,
        )
        self.audio = FeatureExtraction("vggish", vggish_model, batch_size=batch_size, device=device)

    def __call__(self, item) -> dict:
        import time

        path = media_path(item, "video")
        started = time.perf_counter()
        video = self.video.extract_media(path)
        middle = time.perf_counter()
        audio = self.audio.extract_media(path)
        return {
            "rgb": video["features"]["rgb"],
            "flow": video["features"]["flow"],
            "audio": audio["features"]["vggish"],
            "duration": float(video["duration"]),
            "timings": {"video_sec": middle - started, "audio_sec": time.perf_counter() - middle},
        }


class DenseVideoCaptioningPipeline(VideozooPipeline):
    """Events with captions from a video's features (see the module docstring).

    Inputs: a dict `{"audio": (T_a, dim), "rgb": (T_v, dim), "flow": (T_v, dim) optional, "duration": seconds,
    "events": [[start, end], ...] optional, "subtitles": ... (MDVC, optional)}`, a path through `feature_hook`, or
    `{"media": path, "subtitles": ..., "events": ...}` (the hook's features with the given subtitles / events).
    Parameters: `max_proposals` (10), `nms_threshold` (None), `max_new_tokens`, `num_beams` (1).
    """

    supported_model_types = ("bmt", "mdvc")
    card_example = (
        "# VGGish audio (T_a, 128), I3D rgb / flow (T_v, 1024) features of the video (videozoo's docs/pipelines.md)",
        "# (MDVC: I3D on 0.96 s stacks, and the speech as subtitles: an SRT file or [{'start', 'end', 'text'}, ...])",
        'answer = pipe({"audio": audio, "rgb": rgb, "flow": flow, "duration": seconds, "events": [[0.0, 5.0]]})',
    )
    preprocess_params = ("max_proposals", "nms_threshold")
    forward_params = ("max_new_tokens", "num_beams")

    def __init__(self, *args, proposal_model=None, feature_hook=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.proposal_model = proposal_model.eval().to(self.device) if proposal_model is not None else None
        self.feature_hook = feature_hook
        self.uses_speech = self.model.config.model_type == "mdvc"

    def check_input(self, item, name: str):
        if isinstance(item, (str, Path)) or (isinstance(item, dict) and "media" in item):
            if self.feature_hook is None:
                raise PipelineInputError(
                    f"{name}: raw media needs the feature extractors; give a dict of audio / rgb (/ flow) features "
                    "and the duration, or pass feature_hook=<path -> features dict> to the pipeline"
                )
            if isinstance(item, dict):
                media_path(item["media"], f"{name} media")
                self._check_extras(item, name, None)
            else:
                media_path(item, name)
            return item
        if not isinstance(item, dict):
            raise PipelineInputError(f"{name}: give a dict of features or a path, not {type(item).__name__}")
        missing = [key for key in ("audio", "rgb", "duration") if item.get(key) is None]
        if missing:
            raise PipelineInputError(f"{name}: the features dict needs {missing}")
        if float(item["duration"]) <= 0:
            raise PipelineInputError(f"{name}: duration must be positive, got {item['duration']}")
        if self.uses_speech:
            lengths = (len(item["audio"]), len(item["rgb"]))
            if 3 * min(lengths) < 2 * max(lengths):  # the test of the MDVC data loading (videozoo/data)
                raise PipelineInputError(
                    f"{name}: audio ({lengths[0]} steps) and rgb ({lengths[1]} steps) are not on the same grid; MDVC "
                    "reads I3D features on 0.96 s stacks, as VGGish's (BMTMediaFeatures.MDVC_SAMPLING)"
                )
        self._check_extras(item, name, float(item["duration"]))
        return item

    def _check_extras(self, item: dict, name: str, duration: float | None):
        """Events inside the video (when its duration is known) and readable subtitles; a proposal model or events."""
        if item.get("events") is None and self.proposal_model is None:
            raise PipelineInputError(
                f"{name}: no events given and no proposal_model: pass events=[[start, end], ...] in the input or "
                "proposal_model=<BMTForEventProposal> to the pipeline"
            )
        for start, end in item.get("events") or []:
            if float(start) < 0 or float(end) < float(start) or (duration is not None and float(start) > duration):
                raise PipelineInputError(f"{name}: event [{start}, {end}] is not inside the video [0, {duration}] s")
        if item.get("subtitles") is not None:
            if not self.uses_speech:
                raise PipelineInputError(f"{name}: subtitles are read by MDVC models; this is a BMT model")
            read_subtitles(item["subtitles"], f"{name} subtitles")

    def _streams(self, item) -> dict:
        streams = {key: np.asarray(item[key], dtype=np.float32) for key in ("audio", "rgb")}
        streams["flow"] = None if item.get("flow") is None else np.asarray(item["flow"], dtype=np.float32)
        if self.uses_speech:  # MDVC: audio and video cut to their common length before cropping (its data loading)
            length = min(len(streams["audio"]), len(streams["rgb"]))
            streams = {key: None if value is None else value[:length] for key, value in streams.items()}
        return streams

    def _proposals(self, streams: dict, duration: float, max_proposals: int, nms_threshold) -> list[dict]:
        config = self.proposal_model.config
        inputs = self.processor.feature_extractor(
            [streams["audio"]],
            [streams["rgb"]],
            None if streams["flow"] is None else [streams["flow"]],
            pad_to_audio_length=config.max_audio_length,
            pad_to_video_length=config.max_video_length,
        )
        names = ("audio_features", "video_features", "audio_attention_mask", "video_attention_mask")
        with self.device_placement(), torch.inference_mode():
            batch = self._ensure_tensor_on_device({k: inputs[k] for k in names}, device=self.device)
            proposals = self.proposal_model(**batch).proposals.float().cpu()
        kept = self.processor.post_process_proposals(
            proposals, [duration], max_proposals=max_proposals, nms_threshold=nms_threshold
        )[0]
        return [{"start": p["timestamp"][0], "end": p["timestamp"][1], "score": p["proposal_score"]} for p in kept]

    def _features(self, item, name: str) -> dict:
        """The features dict of an input (through the hook for media), checked."""
        if isinstance(item, (str, Path)):
            return self.check_input(self.feature_hook(item), name)
        if isinstance(item, dict) and "media" in item:
            extras = {k: item[k] for k in ("subtitles", "events") if item.get(k) is not None}
            return self.check_input({**self.feature_hook(item["media"]), **extras}, name)
        return item

    def _run(self, items, names, batch_size, progress, pre, forward, post) -> list:
        max_proposals, nms_threshold = int(pre.get("max_proposals") or 10), pre.get("nms_threshold")
        answers = []
        for item, name in zip(self._progress(items, progress), names):
            item = self._features(item, name)
            duration, streams = float(item["duration"]), self._streams(item)
            if item.get("events") is not None:
                events = [{"start": float(s), "end": float(e), "score": 1.0} for s, e in item["events"]]
            else:
                events = self._proposals(streams, duration, max_proposals, nms_threshold)
            if self.uses_speech:
                subtitles = read_subtitles(item["subtitles"], name) if item.get("subtitles") is not None else []
                for event in events:
                    event["speech"] = speech_for_event(subtitles, event["start"], event["end"])
            for start in range(0, len(events), batch_size):
                chunk = events[start : start + batch_size]
                crops = {
                    key: None
                    if value is None
                    else [crop_segment(value, e["start"], e["end"], duration) for e in chunk]
                    for key, value in streams.items()
                }
                if self.uses_speech:
                    inputs = self.processor(
                        audio=crops["audio"], rgb=crops["rgb"], flow=crops["flow"], speech=[e["speech"] for e in chunk]
                    )
                else:
                    inputs = self.processor(audio=crops["audio"], rgb=crops["rgb"], flow=crops["flow"])
                captions = self._caption(inputs, **forward)
                for event, caption in zip(chunk, captions):
                    event["caption"] = caption
            answers.append(to_json(events))
        return answers

    def _caption(self, inputs, max_new_tokens=None, num_beams=1) -> list[str]:
        if self.uses_speech:
            names = (
                "audio_features",
                "video_features",
                "feature_attention_mask",
                "speech_input_ids",
                "speech_attention_mask",
            )
        else:
            names = ("audio_features", "video_features", "audio_attention_mask", "video_attention_mask")
        with self.device_placement(), torch.inference_mode():
            batch = self._ensure_tensor_on_device({k: inputs[k] for k in names}, device=self.device)
            ids = self.model.generate(
                **batch,
                max_new_tokens=int(max_new_tokens or self.model.config.max_caption_length),
                num_beams=int(num_beams),
                do_sample=False,
            )
        return self.processor.decode(ids.cpu())


__all__ = ["BMTMediaFeatures", "DenseVideoCaptioningPipeline", "read_subtitles", "speech_for_event"]
