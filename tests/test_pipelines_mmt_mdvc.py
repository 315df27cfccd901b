"""The pipelines of MMT (`video-text-retrieval`) and MDVC (`dense-video-captioning` with subtitles) on tiny random
models, features and synthetic mp4s (docs/pipelines.md)."""

import json

import numpy as np
import pytest
import torch
from transformers import pipeline

import videozoo  # noqa: F401  (registers the pipelines)
from videozoo.data.sparsesync import flash_and_click_source, write_clip
from videozoo.processors.pipeline_base import PipelineInputError

from .test_pipelines import _save_extractor, extractors, save_tiny  # noqa: F401  (`extractors` is a fixture)
from .tiny_configs import TINY_PROCESSORS

CAPTIONS = ["a man is cooking", "the dog runs", "a dog is cooking the man"]


def _mmt_videos(count: int, seed: int = 0) -> list[dict]:
    """Tiny MMT videos (s3d 20-d, vggish 12-d): every other one without audio, some with timestamps."""
    rng = np.random.default_rng(seed)
    videos = []
    for i in range(count):
        experts = {"s3d": rng.normal(size=(3 + i, 20)).astype(np.float32)}
        stamps = {"s3d": np.stack([np.arange(3 + i), np.arange(3 + i) + 1.0], axis=1)} if i % 3 else None
        if i % 2 == 0:
            experts["vggish"] = rng.normal(size=(4, 12)).astype(np.float32)
        videos.append({"id": f"v{i}", "expert_features": experts, "expert_timestamps": stamps})
    return videos


@pytest.mark.parametrize("renormalize", [False, True])
def test_retrieval_with_mmt_scores_as_the_model(renormalize, tmp_path):
    folder = save_tiny("mmt", tmp_path / "mmt", renormalize_missing_modalities=renormalize)
    retrieval = pipeline("video-text-retrieval", model=str(folder))
    videos = _mmt_videos(6)
    collection = retrieval.index_videos(videos, batch_size=4)
    answers = retrieval(CAPTIONS, collection=collection, top_k=4)
    json.dumps(answers)
    # the expected scores: MMTModel's own similarity (logits_per_text) on the same captions and videos, one batch
    inputs = retrieval.processor(
        text=CAPTIONS,
        expert_features=[v["expert_features"] for v in videos],
        expert_timestamps=[v["expert_timestamps"] or {} for v in videos],
    )
    with torch.no_grad():
        expected = retrieval.model(**inputs).logits_per_text.numpy()
    for row, answer in zip(expected, answers):
        order = np.argsort(-row, kind="stable")[:4]
        # pipeline (captions one at a time, videos 4 at a time, FAISS or blocks) against one float32 forward pass:
        # measured gap 3.0e-8, 5.1e-8 to a float64 forward (scores within +-0.2; 1 and 2 threads); 1e-5 leaves room
        # for other CPUs
        assert np.allclose([a["score"] for a in answer], row[order], atol=1e-5)
        assert [a["id"] for a in answer] == [f"v{j}" for j in order] or np.allclose(
            np.sort(row)[::-1][:4], row[order], atol=1e-5
        )  # equal scores may swap
    assert (collection.scoring is not None) == renormalize
    saved = collection.save(tmp_path / "collection")
    assert (saved / "embedding.faiss").exists() != renormalize
    again = retrieval(CAPTIONS[1], collection=str(saved), top_k=4)
    assert [a["id"] for a in again] == [a["id"] for a in answers[1]]
    # a caption batched alone against three at once: the same float32 ops on other paddings, measured gap 3.0e-8
    assert np.allclose([a["score"] for a in again], [a["score"] for a in answers[1]], atol=1e-5)
    # the captions ranked for one video: the same scores, seen from the video
    ranked = retrieval(videos[3], captions=CAPTIONS, top_k=3)
    assert [r["index"] for r in ranked] == list(np.argsort(-expected[:, 3], kind="stable"))
    assert np.allclose([r["score"] for r in ranked], np.sort(expected[:, 3])[::-1], atol=1e-5)  # measured 5.0e-8
    # a collection encoded under the other scoring is refused
    other = save_tiny("mmt", tmp_path / "other", renormalize_missing_modalities=not renormalize)
    with pytest.raises(PipelineInputError, match="encode the collection with this model"):
        pipeline("video-text-retrieval", model=str(other))(CAPTIONS[0], collection=collection)


def test_mmt_renormalised_scores_need_no_inner_product(tmp_path):
    """With renormalisation a video's score depends on which experts it has: the exact block search gives the model's
    scores over a collection split into several blocks."""
    from videozoo.processors.pipeline_retrieval import VideoCollection

    folder = save_tiny("mmt", tmp_path / "mmt", renormalize_missing_modalities=True)
    retrieval = pipeline("video-text-retrieval", model=str(folder))
    videos = _mmt_videos(7, seed=3)
    collection = retrieval.index_videos(videos)
    queries = retrieval._embed("texts", CAPTIONS, 3)
    whole = collection.search(queries, top_k=7)
    blocks = collection.search(queries, top_k=7, chunk_size=2, block_size=3)
    assert [[a["id"] for a in r] for r in whole] == [[a["id"] for a in r] for r in blocks]
    assert np.allclose([[a["score"] for a in r] for r in whole], [[a["score"] for a in r] for r in blocks])
    loaded = VideoCollection.load(collection.save(tmp_path / "saved"))
    assert loaded.scoring == {"name": "mmt_renormalized", "num_experts": 2}
    assert loaded.search(queries, top_k=7) == whole


def test_retrieval_with_mmt_bad_inputs(tmp_path):
    folder = save_tiny("mmt", tmp_path / "mmt")
    retrieval = pipeline("video-text-retrieval", model=str(folder))
    good = _mmt_videos(1)[0]
    bad = [
        ({"expert_features": {"face": np.zeros((2, 512))}}, r"unknown expert\(s\) \['face'\]"),
        ({"expert_features": {"s3d": np.zeros((2, 19))}}, r"expert 's3d' features must be \(n, 20\)"),
        ({"expert_features": {"s3d": np.zeros((0, 20))}}, "no expert features"),
        ({"video": [np.zeros((2, 20))]}, "an MMT video is a dict with 'expert_features'"),
        (
            {"expert_features": {"s3d": np.zeros((2, 20))}, "expert_timestamps": {"s3d": np.zeros((3, 2))}},
            r"expert 's3d' timestamps must be \(2, 2\)",
        ),
    ]
    for video, message in bad:
        with pytest.raises(PipelineInputError, match=f"video 1: {message}"):
            retrieval.index_videos([good, video])  # the second video is refused before the first is embedded
    collection = retrieval.index_videos([good])
    with pytest.raises(PipelineInputError, match="MMT captions are strings"):
        retrieval(np.zeros((3, 11), np.float32), collection=collection)


def _synthetic_clips(folder, seconds=(2.2, 2.6, 3.0)) -> list:
    folder.mkdir(parents=True, exist_ok=True)
    clips = []
    for index, length in enumerate(seconds):
        frames, wave, _ = flash_and_click_source(np.random.default_rng(10 + index), length, size=32)
        clips.append(write_clip(folder / f"clip{index}.mp4", frames, wave))
    return clips


def _mmt_media_model(folder, experts: dict[str, int]):
    from videozoo.processors import MMTFeatureExtractor

    config_overrides = dict(expert_names=list(experts), expert_feature_sizes=experts)
    folder = save_tiny("mmt", folder, **config_overrides)
    processor = TINY_PROCESSORS["mmt"](folder)
    processor.feature_extractor = MMTFeatureExtractor(expert_names=list(experts), expert_feature_sizes=experts,
                                                      max_feature_tokens=5)  # fmt: skip
    processor.save_pretrained(folder)
    return folder


def test_retrieval_with_mmt_ranks_a_folder_of_mp4s(extractors, tmp_path):  # noqa: F811
    """MMT with three experts, two of which the zoo extracts (S3D motion, VGGish audio) and one it cannot (face),
    indexes a folder of synthetic mp4s and ranks it."""
    from videozoo.processors.pipeline_retrieval import MMTMediaFeatures, RetrievalMediaFeatures

    clips = _synthetic_clips(tmp_path / "videos")
    (tmp_path / "videos" / "notes.txt").write_text("not a video")
    folder = _mmt_media_model(tmp_path / "mmt", {"face": 8, "s3d": 128, "vggish": 16})  # tiny extractors' widths
    retrieval = pipeline("video-text-retrieval", model=str(folder))
    hook = RetrievalMediaFeatures(retrieval.model.config, {"s3d": extractors["s3d"], "vggish": extractors["vggish"]})
    assert isinstance(hook, MMTMediaFeatures) and hook.missing == ["face"]
    retrieval.feature_hook = hook
    collection = retrieval.index_videos(str(tmp_path / "videos"))
    assert len(collection) == 3
    (answer,) = retrieval(["a dog runs"], collection=collection, top_k=3)
    assert sorted(a["id"] for a in answer) == [c.stem for c in clips]
    # the features of a clip: S3D on 2 s stacks (16 frames at 8 fps) and VGGish on 0.96 s examples, with their times
    video = hook(clips[2])
    assert set(video["expert_features"]) == {"s3d", "vggish"}
    assert video["expert_features"]["s3d"].shape == (1, 128) and video["expert_features"]["vggish"].shape == (3, 16)
    assert np.allclose(video["expert_timestamps"]["vggish"][:, 0], [0.0, 0.96, 1.92])
    # the same ranking and scores as the hook's dicts scored directly
    dicts = [hook(tmp_path / "videos" / f"{a['id']}.mp4") for a in answer]
    direct = [scores[0]["score"] for scores in retrieval(dicts, captions=["a dog runs"], top_k=1)]
    # FAISS against numpy inner products of the same float32 embeddings: measured gap 9.3e-9; 1e-5 for other CPUs
    assert np.allclose(direct, [a["score"] for a in answer], atol=1e-5)
    with pytest.raises(ValueError, match=r"the MMT experts \['face'\] have no zoo extractor"):
        MMTMediaFeatures(retrieval.model.config, {"face": extractors["s3d"]})
    with pytest.raises(ValueError, match=r"\['rgb'\] are not experts of this MMT model"):
        MMTMediaFeatures(retrieval.model.config, {"rgb": extractors["resnet_frames"]})
    narrow = _mmt_media_model(tmp_path / "narrow", {"s3d": 64, "vggish": 16})
    config = pipeline("video-text-retrieval", model=str(narrow)).model.config
    with pytest.raises(ValueError, match=r"s3d: 128 \(the model reads 64\)"):
        MMTMediaFeatures(config, {"s3d": extractors["s3d"]})(clips[0])
    # the flow expert: I3D flow on RAFT, 10-frame stacks at 5 fps (+1 frame for the flow) every 10
    config = pipeline(
        "video-text-retrieval", model=str(_mmt_media_model(tmp_path / "flow", {"flow": 128}))
    ).model.config
    with pytest.raises(ValueError, match="give {'flow_model': ..., 'raft_model': ...}"):
        MMTMediaFeatures(config, {"flow": extractors["flow"]})
    flow = MMTMediaFeatures(config, {"flow": {"flow_model": extractors["flow"], "raft_model": extractors["raft"]}})
    video = flow(clips[2])
    assert video["expert_features"]["flow"].shape == (1, 128)
    assert np.allclose(video["expert_timestamps"]["flow"], [[0.0, 2.2]])  # 11 frames at 5 fps


# ----------------------------------------------------------------------------- MDVC
SRT = """1
00:00:01,000 --> 00:00:03,500
so um <i>the</i> dog

2
00:00:05,000 --> 00:00:06,000
okay now

3
00:00:11,900 --> 00:00:13,000
the dog
"""
VTT = """WEBVTT

NOTE a comment

00:01.000 --> 00:03.500 align:start
so um the dog

00:05.000 --> 00:06.000
okay now

00:11.900 --> 00:13.000
the dog
"""
LINES = [
    {"start": 1.0, "end": 3.5, "text": "so um the dog"},
    {"start": 5.0, "end": 6.0, "text": "okay now"},
    {"start": 11.9, "end": 13.0, "text": "the dog"},
]


def _mdvc_video(seed: int = 0, **extra) -> dict:
    rng = np.random.default_rng(seed)
    return {"audio": rng.normal(size=(13, 12)), "rgb": rng.normal(size=(12, 20)), "duration": 12.0, **extra}


def test_dense_captioning_with_mdvc_reads_subtitles(tmp_path):
    from videozoo.processors.feature_extraction_bmt import crop_segment

    folder = save_tiny("mdvc", tmp_path / "mdvc")
    captioner = pipeline("dense-video-captioning", model=str(folder))
    events = [[0.0, 4.0], [3.0, 11.5], [6.0, 6.0], [7.0, 9.0]]
    video = _mdvc_video(events=events, subtitles=SRT)
    result = captioner(video, max_new_tokens=4)
    json.dumps(result)
    assert [[e["start"], e["end"]] for e in result] == events
    # the speech of an event: the subtitle lines overlapping it (tags dropped); none for [6, 6] and [7, 9]
    assert [e["speech"] for e in result] == ["so um the dog", "so um the dog okay now", "", ""]
    # each caption is generate() on the event's crops of the streams cut to their common length (12 steps)
    for event in result:
        crops = [
            crop_segment(np.asarray(video[k], np.float32)[:12], event["start"], event["end"], 12.0)
            for k in ("audio", "rgb")
        ]
        inputs = captioner.processor(audio=[crops[0]], rgb=[crops[1]], speech=[event["speech"]])
        names = ("audio_features", "video_features", "feature_attention_mask", "speech_input_ids")
        with torch.no_grad():
            ids = captioner.model.generate(
                **{k: inputs[k] for k in (*names, "speech_attention_mask")}, max_new_tokens=4, do_sample=False
            )
        assert event["caption"] == captioner.processor.decode(ids)[0]
    # the same subtitles as WebVTT, as a file, as dicts and as triples; batched events and videos: the same answer
    srt = tmp_path / "talk.srt"
    srt.write_text(SRT)
    for subtitles in (VTT, str(srt), srt, LINES, [(d["start"], d["end"], d["text"]) for d in LINES]):
        assert captioner(_mdvc_video(events=events, subtitles=subtitles), max_new_tokens=4) == result
    assert captioner([video, video], batch_size=3, max_new_tokens=4) == [result, result]
    # without subtitles every event has no speech ([BOS, EOS] for the model)
    silent = captioner(_mdvc_video(events=events), max_new_tokens=4)
    assert [e["speech"] for e in silent] == [""] * 4


def test_dense_captioning_with_mdvc_bad_inputs(tmp_path):
    folder = save_tiny("mdvc", tmp_path / "mdvc")
    captioner = pipeline("dense-video-captioning", model=str(folder))
    events = [[0.0, 4.0]]
    cases = [
        ("1\n00:00:01 --> later\nhello\n", "cue 1: cannot read the timing '00:00:01 --> later'"),
        ("1\n00:00:01,000 --> 00:00:02,000\nhi\n\n2\nno timing here\n", "cue 2 has no 'start --> end' timing"),
        ([{"start": 3.0, "end": 1.0, "text": "x"}], "line 0 runs from 3.0 to 1.0 s"),
        ([{"begin": 0.0, "end": 1.0, "text": "x"}], r"subtitles\[0\]: a subtitle line is"),
        (str(tmp_path / "missing.srt"), "missing.srt does not exist"),
        (3.5, "give an SRT / WebVTT file, its text, or a list"),
    ]
    for subtitles, message in cases:
        with pytest.raises(PipelineInputError, match=message):
            captioner([_mdvc_video(events=events), _mdvc_video(events=events, subtitles=subtitles)])
    with pytest.raises(PipelineInputError, match="not on the same grid"):
        captioner({"audio": np.zeros((30, 12)), "rgb": np.zeros((12, 20)), "duration": 12.0, "events": events})
    bmt = save_tiny("bmt", tmp_path / "bmt")
    with pytest.raises(PipelineInputError, match="subtitles are read by MDVC models"):
        pipeline("dense-video-captioning", model=str(bmt))(
            {
                "audio": np.zeros((30, 12)),
                "rgb": np.zeros((12, 20)),
                "duration": 12.0,
                "events": events,
                "subtitles": LINES,
            }  # fmt: skip
        )


def test_dense_captioning_with_mdvc_from_an_mp4(extractors, tmp_path):  # noqa: F811
    """A synthetic mp4 with its subtitles: I3D rgb + flow on MDVC's 0.96 s stacks (24 frames at 25 fps) and VGGish,
    then the events captioned with their speech."""
    from videozoo.processors import MDVCProcessor
    from videozoo.processors.pipeline_dense_captioning import BMTMediaFeatures

    (clip,) = _synthetic_clips(tmp_path / "videos", seconds=(3.0,))
    sizes = dict(audio_hidden_size=16, video_hidden_size=128)  # the tiny VGGish and I3D widths
    folder = save_tiny("mdvc", tmp_path / "mdvc", **sizes)
    MDVCProcessor.from_captions(
        ["a dog barks loudly .", "a cat purrs quietly"], ["so um the dog", "okay now"],
        audio_feature_size=16, video_feature_size=128,
    ).save_pretrained(folder)  # fmt: skip
    hook = BMTMediaFeatures(
        extractors["rgb"],
        extractors["flow"],
        extractors["raft"],
        extractors["vggish"],
        **BMTMediaFeatures.MDVC_SAMPLING,
    )
    captioner = pipeline("dense-video-captioning", model=str(folder), feature_hook=hook)
    item = {"media": str(clip), "subtitles": LINES[:1], "events": [[0.0, 1.5], [1.0, 2.9]]}
    result = captioner(item, max_new_tokens=3)
    json.dumps(result)
    assert [e["speech"] for e in result] == ["so um the dog"] * 2
    features = hook(clip)
    # 3 s at 25 fps: 3 stacks of 24 frames (+1 for the flow) every 24; VGGish: 3 examples of 0.96 s
    assert features["rgb"].shape == features["flow"].shape == (3, 128) and features["audio"].shape == (3, 16)
    given = {k: features[k] for k in ("audio", "rgb", "flow", "duration")}
    assert captioner({**given, "subtitles": LINES[:1], "events": item["events"]}, max_new_tokens=3) == result
    with pytest.raises(PipelineInputError, match="does not exist"):
        captioner({"media": str(tmp_path / "none.mp4"), "events": [[0, 1]]})


# ----------------------------------------------------------------------------- exported checkpoints
REMOTE_CLIENT = """
import json, sys
import numpy as np
sys.modules["videozoo"] = None  # `import videozoo` fails, as where it is not installed
sys.meta_path[:] = [finder for finder in sys.meta_path if "editable" not in repr(finder).lower()]
from transformers import pipeline
task, folder, payload = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
pipe = pipeline(task, model=folder, trust_remote_code=True)
print("MODULE", type(pipe).__module__)
if task == "video-text-retrieval":
    collection = pipe.index_videos(payload["videos"])
    print("RESULT", json.dumps(pipe(payload["captions"], collection=collection, top_k=3)))
else:
    print("RESULT", json.dumps(pipe(payload["video"], max_new_tokens=4)))
"""


@pytest.mark.slow
def test_mmt_and_mdvc_pipelines_run_from_exported_checkpoints_without_videozoo(tmp_path):
    import os
    import subprocess
    import sys

    from videozoo.hub import export_remote_code

    to_lists = lambda value: json.loads(json.dumps(value, default=lambda a: np.asarray(a).tolist()))  # noqa: E731
    videos = [{**v, "expert_timestamps": v["expert_timestamps"] or {}} for v in _mmt_videos(4)]
    cases = [
        ("mmt", "video-text-retrieval", {"renormalize_missing_modalities": True},
         {"videos": to_lists(videos), "captions": CAPTIONS}),
        ("mdvc", "dense-video-captioning", {}, {"video": to_lists(_mdvc_video(events=[[0.0, 4.0]], subtitles=SRT))}),
    ]  # fmt: skip
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf_home"), "HF_HUB_OFFLINE": "1", "PYTHONPATH": ""}
    for model_type, task, overrides, payload in cases:
        folder = save_tiny(model_type, tmp_path / model_type, **overrides)
        export_remote_code(folder)
        assert task in json.loads((folder / "config.json").read_text())["custom_pipelines"]
        pipe = pipeline(task, model=str(folder), trust_remote_code=True)
        if model_type == "mmt":
            installed = pipe(payload["captions"], collection=pipe.index_videos(payload["videos"]), top_k=3)
        else:
            installed = pipe(payload["video"], max_new_tokens=4)
        completed = subprocess.run(
            [sys.executable, "-c", REMOTE_CLIENT, task, str(folder), json.dumps(payload)],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            cwd=tmp_path,
        )
        assert completed.returncode == 0, completed.stderr[-3000:]
        lines = dict(l.split(" ", 1) for l in completed.stdout.splitlines() if l.startswith(("MODULE", "RESULT")))
        assert lines["MODULE"].startswith("transformers_modules.")
        remote = json.loads(lines["RESULT"])
        if model_type == "mdvc":
            assert remote == installed
        else:  # the same code and weights in two processes: measured 0; 1e-6 for other CPUs
            assert [[a["id"] for a in r] for r in remote] == [[a["id"] for a in r] for r in installed]
            assert np.allclose([[a["score"] for a in r] for r in remote], [[a["score"] for a in r] for r in installed],
                               atol=1e-6)  # fmt: skip
