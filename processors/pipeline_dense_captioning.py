"""`dense-video-captioning`: events of a video with start, end, score and caption (BMT), over features.

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
MDVC (with subtitles) is not wired yet (docs/pipelines.md).

From an mp4 (docs/pipelines.md, "From raw video"): `BMTMediaFeatures` is a `feature_hook` that runs the zoo's
extractors as BMT's features were made (v-iashin/BMT's README, video_features): I3D rgb + flow (RAFT flow) on
stacks of frames and VGGish on 0.96 s audio examples, from the extractor checkpoints given to it.

    hook = BMTMediaFeatures(rgb_model="i3d-rgb", flow_model="i3d-flow", raft_model="raft", vggish_model="vggish")
    captioner = pipeline("dense-video-captioning", model=..., proposal_model=proposer, feature_hook=hook)
    captioner("video.mp4")
"""

from pathlib import Path

import numpy as np
import torch

from .feature_extraction_bmt import crop_segment
from .pipeline_base import PipelineInputError, VideozooPipeline, _media_extraction, media_path, to_json


class BMTMediaFeatures:
    """`path -> {"audio", "rgb", "flow", "duration"}`: BMT's inputs computed from a media file by the zoo's
    extractors (`videozoo.scripts.extract_features.FeatureExtraction`, the code of scripts/extract_features.py, so
    the features are those the script writes). I3D's sampling (fps, stack, step) comes from the I3D checkpoint's
    config unless given; the duration is the decoded video's (frames / fps). `timings` (seconds spent in the video
    and audio extractors) is added to the dict, for reporting."""

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
    "events": [[start, end], ...] optional}`, or a path through `feature_hook`.
    Parameters: `max_proposals` (10), `nms_threshold` (None), `max_new_tokens`, `num_beams` (1).
    """

    supported_model_types = ("bmt",)
    card_example = (
        "# VGGish audio (T_a, 128), I3D rgb / flow (T_v, 1024) features of the video (videozoo's docs/pipelines.md)",
        'answer = pipe({"audio": audio, "rgb": rgb, "flow": flow, "duration": seconds, "events": [[0.0, 5.0]]})',
    )
    preprocess_params = ("max_proposals", "nms_threshold")
    forward_params = ("max_new_tokens", "num_beams")

    def __init__(self, *args, proposal_model=None, feature_hook=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.proposal_model = proposal_model.eval().to(self.device) if proposal_model is not None else None
        self.feature_hook = feature_hook

    def check_input(self, item, name: str):
        if isinstance(item, (str, Path)):
            if self.feature_hook is None:
                raise PipelineInputError(
                    f"{name}: raw media needs the feature extractors; give a dict of audio / rgb (/ flow) features "
                    "and the duration, or pass feature_hook=<path -> features dict> to the pipeline"
                )
            return item
        if not isinstance(item, dict):
            raise PipelineInputError(f"{name}: give a dict of features or a path, not {type(item).__name__}")
        missing = [key for key in ("audio", "rgb", "duration") if item.get(key) is None]
        if missing:
            raise PipelineInputError(f"{name}: the features dict needs {missing}")
        if float(item["duration"]) <= 0:
            raise PipelineInputError(f"{name}: duration must be positive, got {item['duration']}")
        if item.get("events") is None and self.proposal_model is None:
            raise PipelineInputError(
                f"{name}: no events given and no proposal_model: pass events=[[start, end], ...] in the input or "
                "proposal_model=<BMTForEventProposal> to the pipeline"
            )
        for start, end in item.get("events") or []:
            if not 0 <= float(start) <= float(item["duration"]) or float(end) < float(start):
                raise PipelineInputError(
                    f"{name}: event [{start}, {end}] is not inside the video [0, {item['duration']}] s"
                )
        return item

    def _streams(self, item) -> dict:
        streams = {key: np.asarray(item[key], dtype=np.float32) for key in ("audio", "rgb")}
        streams["flow"] = None if item.get("flow") is None else np.asarray(item["flow"], dtype=np.float32)
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

    def _run(self, items, names, batch_size, progress, pre, forward, post) -> list:
        max_proposals, nms_threshold = int(pre.get("max_proposals") or 10), pre.get("nms_threshold")
        answers = []
        for item, name in zip(self._progress(items, progress), names):
            if isinstance(item, (str, Path)):
                item = self.check_input(self.feature_hook(item), name)
            duration, streams = float(item["duration"]), self._streams(item)
            if item.get("events") is not None:
                events = [{"start": float(s), "end": float(e), "score": 1.0} for s, e in item["events"]]
            else:
                events = self._proposals(streams, duration, max_proposals, nms_threshold)
            for start in range(0, len(events), batch_size):
                chunk = events[start : start + batch_size]
                crops = {
                    key: None
                    if value is None
                    else [crop_segment(value, e["start"], e["end"], duration) for e in chunk]
                    for key, value in streams.items()
                }
                inputs = self.processor(audio=crops["audio"], rgb=crops["rgb"], flow=crops["flow"])
                captions = self._caption(inputs, **forward)
                for event, caption in zip(chunk, captions):
                    event["caption"] = caption
            answers.append(to_json(events))
        return answers

    def _caption(self, inputs, max_new_tokens=None, num_beams=1) -> list[str]:
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


__all__ = ["BMTMediaFeatures", "DenseVideoCaptioningPipeline"]
