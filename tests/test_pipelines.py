"""videozoo's `transformers` pipelines on tiny random models and synthetic (or, when present, real) media."""

import json

import numpy as np
import pytest
import torch
from transformers import AutoModel, pipeline
from transformers.pipelines import PIPELINE_REGISTRY

import videozoo  # noqa: F401  (registers the pipelines)
from videozoo.auto import ARCHITECTURES_BY_TYPE, pipeline_tasks
from videozoo.data.sparsesync import flash_and_click_source, write_clip
from videozoo.hub import custom_pipelines, export_remote_code
from videozoo.processors.pipeline_base import PipelineInputError

from .conftest import REPO_ROOT
from .tiny_configs import TINY_PROCESSORS, tiny_config

SHARED_MEDIA = REPO_ROOT.parent / "shared" / "data" / "media"


def save_tiny(model_type: str, folder, **overrides):
    torch.manual_seed(0)
    model = AutoModel.from_config(tiny_config(model_type, **overrides)).eval()
    model.save_pretrained(folder)
    TINY_PROCESSORS[model_type](folder).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def sync_folder(tmp_path_factory):
    # the tiny processor's 32 px crops of 16 frames give an S3D grid of (2, 1, 1)
    return save_tiny("sparsesync", tmp_path_factory.mktemp("sparsesync-tiny"), visual_grid=[2, 1, 1])


@pytest.fixture(scope="module")
def flash_clip(tmp_path_factory):
    """A 2.1 s flash-and-click mp4 (32 px, 25 fps, 16 kHz): 3 windows of the tiny processor's 0.64 s."""
    frames, wave, _ = flash_and_click_source(np.random.default_rng(0), 2.1, size=32)
    return write_clip(tmp_path_factory.mktemp("media") / "flash.mp4", frames, wave)


def test_every_pipeline_is_registered_with_transformers():
    tasks = pipeline_tasks()
    assert {"audio-visual-synchronisation", "audio-visual-speech-recognition"} <= set(tasks)
    for task, cls in tasks.items():
        assert PIPELINE_REGISTRY.supported_tasks[task]["impl"] is cls
        assert PIPELINE_REGISTRY.supported_tasks[task]["pt"] == (AutoModel,)


def test_synchronisation_scans_a_file_in_windows(sync_folder, flash_clip):
    sync = pipeline("audio-visual-synchronisation", model=str(sync_folder))
    result = sync(str(flash_clip))
    json.dumps(result)  # plain JSON
    assert [w["start_sec"] for w in result["windows"]] == [0.0, 0.64, 1.28]
    grid = sync.processor.offset_grid()
    assert [d["offset_sec"] for d in result["distribution"]] == grid
    probabilities = np.array([d["probability"] for d in result["distribution"]])
    assert abs(probabilities.sum() - 1) < 1e-6
    assert result["offset_sec"] == grid[int(probabilities.argmax())]
    assert result["probability"] == probabilities.max()
    # the file's answer is the mean of the windows' distributions: recompute it from the model directly
    model = sync.model
    windows, context = sync.preprocess(flash_clip, "clip")
    assert context["starts"] == [0.0, 0.64, 1.28]
    batch = {k: torch.stack([u[k] for u in windows]) for k in windows[0]}
    with torch.no_grad():
        expected = model(**batch).logits.double().softmax(-1).mean(0)
    # float32 logits, probabilities averaged in float64: the pipeline (windows batched 1 at a time) against one batch
    # of 3 differs by 1e-8 (measured, 1 thread); 1e-5 leaves room for other CPUs and thread counts
    assert np.allclose(probabilities, expected.numpy(), atol=1e-5)
    # batching across inputs and windows gives the same answers as one window at a time
    batched = sync([str(flash_clip), str(flash_clip)], batch_size=4)
    assert len(batched) == 2
    for answer in batched:
        assert np.allclose(
            [d["probability"] for d in answer["distribution"]], probabilities, atol=1e-5
        )  # same measured gap as above
    strided = sync(str(flash_clip), window_stride_sec=0.32)
    assert [w["start_sec"] for w in strided["windows"]] == [0.0, 0.32, 0.64, 0.96, 1.28]


def test_synchronisation_takes_arrays(sync_folder):
    frames, wave, _ = flash_and_click_source(np.random.default_rng(1), 0.8, size=32)
    sync = pipeline("audio-visual-synchronisation", model=str(sync_folder))
    result = sync({"video": frames, "video_fps": 25, "audio": wave, "sampling_rate": 16000})
    assert len(result["windows"]) == 1
    with pytest.raises(PipelineInputError, match="needs 25 fps and 16000 Hz"):
        sync({"video": frames, "video_fps": 30, "audio": wave, "sampling_rate": 16000})


def test_synchronisation_bad_inputs(sync_folder, flash_clip, tmp_path):
    sync = pipeline("audio-visual-synchronisation", model=str(sync_folder))
    with pytest.raises(PipelineInputError, match="does not exist"):
        sync([str(flash_clip), str(tmp_path / "missing.mp4")])  # refused before the first file is computed
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    with pytest.raises(PipelineInputError, match="unreadable media file"):
        sync(str(text))
    frames, wave, _ = flash_and_click_source(np.random.default_rng(2), 0.5, size=32)
    short = write_clip(tmp_path / "short.mp4", frames, wave)
    with pytest.raises(PipelineInputError, match="needs clips of at least 0.64 s"):
        sync(str(short))
    with pytest.raises(PipelineInputError, match="more than max_windows=2"):
        sync(str(flash_clip), max_windows=2)
    with pytest.raises(TypeError, match="unknown parameter"):
        sync(str(flash_clip), beam_size=3)


def test_synchronisation_refuses_a_file_without_audio(sync_folder, tmp_path):
    import av

    path = tmp_path / "silent.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width = stream.height = 32
        stream.pix_fmt = "yuv420p"
        for _ in range(25):
            frame = av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    sync = pipeline("audio-visual-synchronisation", model=str(sync_folder))
    with pytest.raises(PipelineInputError, match="no audio stream"):
        sync(str(path))


def test_unknown_task_and_wrong_model(sync_folder):
    with pytest.raises(KeyError, match="Unknown task"):
        pipeline("audio-visual-synchronization-typo", model=str(sync_folder))
    with pytest.raises(ValueError, match="works with avatar models, not 'sparsesync'"):
        pipeline("audio-visual-speech-recognition", model=str(sync_folder))


@pytest.mark.skipif(not (SHARED_MEDIA / "vas").is_dir(), reason="../shared/data/media is absent")
def test_synchronisation_on_a_real_clip(sync_folder):
    clip = sorted((SHARED_MEDIA / "vas").glob("*.mp4"))[0]
    result = pipeline("audio-visual-synchronisation", model=str(sync_folder))(str(clip), max_duration_sec=2.0)
    assert len(result["windows"]) == 3 and json.dumps(result)


# ----------------------------------------------------------------------------- speech recognition
@pytest.fixture(scope="module")
def asr_folder(tmp_path_factory):
    return save_tiny("avatar", tmp_path_factory.mktemp("avatar-tiny"))


def test_speech_recognition_from_a_file_and_from_arrays(asr_folder, flash_clip):
    asr = pipeline("audio-visual-speech-recognition", model=str(asr_folder))
    result = asr(str(flash_clip), max_new_tokens=5, truncation=True)  # 2.1 s > the tiny 0.7 s window
    assert isinstance(result["text"], str) and result["used_frames"] is True
    json.dumps(result)
    # the same clip as arrays, and batched with itself: the same transcript
    from videozoo.processors.video_io import load_audio, load_video

    wave, rate = load_audio(flash_clip)
    decoded = load_video(flash_clip)
    item = {"audio": wave.numpy(), "sampling_rate": rate, "video": decoded.frames.permute(0, 2, 3, 1).numpy()}
    item["video_fps"] = decoded.fps
    answers = asr([item, str(flash_clip)], batch_size=2, max_new_tokens=5, truncation=True)
    assert [a["text"] for a in answers] == [result["text"]] * 2
    # the expected ids, from generate on the processor's features
    inputs = asr.processor(audio=[flash_clip], video=[flash_clip], truncation=True)
    with torch.no_grad():
        ids = asr.model.generate(**inputs, max_new_tokens=5)
    assert result["text"] == asr.processor.batch_decode(ids[:, 1:])[0]  # after the decoder start token
    beam = asr(str(flash_clip), max_new_tokens=5, num_beams=2, truncation=True)
    assert isinstance(beam["text"], str)


def test_speech_recognition_bad_inputs(asr_folder, flash_clip):
    asr = pipeline("audio-visual-speech-recognition", model=str(asr_folder))
    with pytest.raises(PipelineInputError, match="longer than the 70-frame input; pass truncation=True"):
        asr(str(flash_clip))
    with pytest.raises(PipelineInputError, match="needs \\['video', 'video_fps'\\]"):
        asr({"audio": np.zeros(16000, np.float32), "sampling_rate": 16000})


def test_speech_recognition_audio_only_model(tmp_path, flash_clip):
    torch.manual_seed(0)
    config = tiny_config("avatar", modalities=("audio",))
    AutoModel.from_config(config).save_pretrained(tmp_path)
    TINY_PROCESSORS["avatar"](tmp_path).save_pretrained(tmp_path)
    asr = pipeline("audio-visual-speech-recognition", model=str(tmp_path))
    noise = np.random.default_rng(0).normal(0, 0.1, 8000).astype(np.float32)
    result = asr({"audio": noise, "sampling_rate": 16000}, max_new_tokens=4)
    assert result["used_frames"] is False and isinstance(result["text"], str)


@pytest.mark.skipif(not (SHARED_MEDIA / "lrs3").is_dir(), reason="../shared/data/media is absent")
def test_speech_recognition_on_a_real_clip(asr_folder):
    clip = sorted((SHARED_MEDIA / "lrs3").glob("*.mp4"))[0]
    result = pipeline("audio-visual-speech-recognition", model=str(asr_folder))(
        str(clip), max_new_tokens=4, truncation=True
    )
    assert isinstance(result["text"], str)


# ----------------------------------------------------------------------------- export
def test_export_writes_custom_pipelines_and_the_card_snippet(sync_folder, tmp_path):
    import shutil

    folder = tmp_path / "export"
    shutil.copytree(sync_folder, folder)
    written = export_remote_code(folder)
    assert {"pipeline_base.py", "pipeline_synchronisation.py", "video_io.py"} <= set(written)
    config = json.loads((folder / "config.json").read_text())
    assert config["custom_pipelines"] == custom_pipelines(ARCHITECTURES_BY_TYPE["sparsesync"])
    assert config["custom_pipelines"]["audio-visual-synchronisation"] == {
        "impl": "pipeline_synchronisation.AudioVisualSynchronisationPipeline",
        "pt": ["AutoModel"],
    }
    from videozoo.hub import model_card

    card = str(model_card(folder, "someone/sparsesync-tiny"))
    assert 'pipeline("audio-visual-synchronisation", model="someone/sparsesync-tiny", trust_remote_code=True)' in card
    assert "pipeline_tag: video-classification" in card


# ----------------------------------------------------------------------------- remote code
REMOTE_CLIENT = """
import json, sys
sys.modules["videozoo"] = None  # `import videozoo` fails, as where it is not installed
sys.meta_path[:] = [finder for finder in sys.meta_path if "editable" not in repr(finder).lower()]
from transformers import pipeline
task, folder, clip, kwargs = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
pipe = pipeline(task, model=folder, trust_remote_code=True)
print("MODULE", type(pipe).__module__)
print("RESULT", json.dumps(pipe(clip, **kwargs)))
"""


@pytest.mark.parametrize(
    "model_type, task, kwargs, overrides",
    [
        ("sparsesync", "audio-visual-synchronisation", {}, {"visual_grid": [2, 1, 1]}),
        ("avatar", "audio-visual-speech-recognition", {"max_new_tokens": 4, "truncation": True}, {}),
    ],
)
def test_pipeline_runs_from_an_exported_checkpoint_without_videozoo(
    model_type, task, kwargs, overrides, flash_clip, tmp_path
):
    import os
    import subprocess
    import sys

    folder = save_tiny(model_type, tmp_path / model_type, **overrides)
    export_remote_code(folder)
    installed = pipeline(task, model=str(folder), trust_remote_code=True)(str(flash_clip), **kwargs)
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf_home"), "HF_HUB_OFFLINE": "1", "PYTHONPATH": ""}
    completed = subprocess.run(
        [sys.executable, "-c", REMOTE_CLIENT, task, str(folder), str(flash_clip), json.dumps(kwargs)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    lines = dict(line.split(" ", 1) for line in completed.stdout.splitlines() if line.startswith(("MODULE", "RESULT")))
    assert lines["MODULE"].startswith("transformers_modules.")
    remote = json.loads(lines["RESULT"])
    assert remote.keys() == installed.keys()
    if model_type == "avatar":
        assert remote == installed
    else:  # the same code and weights in two processes: float32 results agree (measured 0; 1e-6 for other CPUs)
        assert np.allclose(
            [d["probability"] for d in remote["distribution"]],
            [d["probability"] for d in installed["distribution"]],
            atol=1e-6,
        )
        assert remote["offset_sec"] == installed["offset_sec"]


def test_an_exported_checkpoint_asks_for_trust_remote_code(sync_folder, tmp_path):
    import shutil

    folder = tmp_path / "export"
    shutil.copytree(sync_folder, folder)
    export_remote_code(folder)
    with pytest.raises(ValueError, match="trust_remote_code=True"):
        pipeline("audio-visual-synchronisation", model=str(folder))


# ----------------------------------------------------------------------------- retrieval
def _avlnet_videos(count: int, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    return [
        {
            "id": f"v{i}",
            "video": [rng.normal(size=(4, 20)).astype(np.float32)],
            "audio": rng.normal(0, 0.1, 3200).astype(np.float32),
            "sampling_rate": 16000,
        }
        for i in range(count)
    ]


def test_retrieval_ranks_a_saved_collection(tmp_path):
    folder = save_tiny("avlnet", tmp_path / "avlnet", variant="text_tri")
    retrieval = pipeline("video-text-retrieval", model=str(folder))
    videos = _avlnet_videos(6)
    collection = retrieval.index_videos(videos, batch_size=4)
    captions = [np.random.default_rng(9 + i).normal(size=(5, 11)).astype(np.float32) for i in range(3)]
    # the expected scores: text @ (audio + video) from the model itself (logits_text_audio_video)
    inputs = retrieval.processor(
        audio=[v["audio"] for v in videos], sampling_rate=16000, video=[v["video"] for v in videos]
    )
    with torch.no_grad():
        model = retrieval.model
        text = model.get_text_features(torch.tensor(np.stack(captions)))
        video = model.get_audio_features(inputs["input_features"], inputs["audio_lengths"])
        video = video + model.get_video_features(inputs["video_features"])
        expected = (text @ video.T).numpy()
    answers = retrieval(captions, collection=collection, top_k=3)
    json.dumps(answers)
    for row, answer in zip(expected, answers):
        order = np.argsort(-row)[:3]
        assert [a["id"] for a in answer] == [f"v{j}" for j in order]
        # FAISS inner products in float32 against torch's: measured gap 3.6e-7 (scores of order 1-10)
        assert np.allclose([a["score"] for a in answer], row[order], atol=1e-5)
    saved = collection.save(tmp_path / "collection")
    with pytest.raises(FileExistsError, match="not empty"):
        collection.save(saved)
    again = retrieval(captions[0], collection=str(saved), top_k=3)
    assert again == answers[0]
    # captions ranked for one video
    ranked = retrieval(videos[2], captions=captions, top_k=3)
    assert [r["index"] for r in ranked] == list(np.argsort(-expected[:, 2])[:3])
    with pytest.raises(PipelineInputError, match="needs a feature extractor"):
        retrieval.index_videos(["clip.mp4"])
    hooked = pipeline("video-text-retrieval", model=str(folder), feature_hook=lambda path: videos[0])
    assert len(hooked.index_videos(["clip.mp4"])) == 1
    with pytest.raises(PipelineInputError, match="pass collection="):
        retrieval(captions[0])


# ----------------------------------------------------------------------------- dense video captioning
def _bmt_video(seed: int = 0, **extra) -> dict:
    rng = np.random.default_rng(seed)
    return {"audio": rng.normal(size=(30, 12)), "rgb": rng.normal(size=(24, 20)), "duration": 12.0, **extra}


def test_dense_captioning_captions_given_events(tmp_path):
    from videozoo.processors.feature_extraction_bmt import crop_segment

    folder = save_tiny("bmt", tmp_path / "bmt")
    captioner = pipeline("dense-video-captioning", model=str(folder))
    events = [[0.0, 4.0], [3.0, 11.5], [6.0, 6.0]]
    video = _bmt_video(events=events)
    result = captioner(video, max_new_tokens=4)
    json.dumps(result)
    assert [[e["start"], e["end"]] for e in result] == events and all(e["score"] == 1.0 for e in result)
    # each caption is generate() on the reference crop of the event
    for event in result:
        crops = [
            crop_segment(np.asarray(video[k], np.float32), event["start"], event["end"], 12.0)
            for k in ("audio", "rgb")
        ]
        inputs = captioner.processor(audio=[crops[0]], rgb=[crops[1]])
        with torch.no_grad():
            ids = captioner.model.generate(
                **{
                    k: inputs[k]
                    for k in ("audio_features", "video_features", "audio_attention_mask", "video_attention_mask")
                },
                max_new_tokens=4,
                do_sample=False,
            )
        assert event["caption"] == captioner.processor.decode(ids)[0]
    # batching events two at a time, and two videos at once, gives the same captions
    assert captioner([video, video], batch_size=2, max_new_tokens=4) == [result, result]


def test_dense_captioning_bad_inputs(tmp_path):
    folder = save_tiny("bmt", tmp_path / "bmt")
    captioner = pipeline("dense-video-captioning", model=str(folder))
    with pytest.raises(PipelineInputError, match="no events given and no proposal_model"):
        captioner(_bmt_video())
    with pytest.raises(PipelineInputError, match="not inside the video"):
        captioner(_bmt_video(events=[[13.0, 14.0]]))
    with pytest.raises(PipelineInputError, match="needs the feature extractors"):
        captioner("video.mp4")
    with pytest.raises(PipelineInputError, match=r"needs \['rgb'\]"):
        captioner({"audio": np.zeros((3, 12)), "duration": 3.0, "events": [[0, 1]]})


def test_dense_captioning_with_a_proposal_model(tmp_path):
    from videozoo.modeling import BMTForEventProposal

    folder = save_tiny("bmt", tmp_path / "bmt")
    torch.manual_seed(1)
    config = tiny_config("bmt", audio_anchor_lengths=[1.0, 3.0], video_anchor_lengths=[2.0, 5.0])
    config.max_audio_length, config.max_video_length = 40, 32
    proposer = BMTForEventProposal(config).eval()
    captioner = pipeline("dense-video-captioning", model=str(folder), proposal_model=proposer)
    # (a random generator's proposal centres reach 81 s: a long duration keeps some inside the video)
    result = captioner(_bmt_video(duration=80.0), max_proposals=3, max_new_tokens=3)
    assert 1 <= len(result) <= 3
    scores = [e["score"] for e in result]
    assert scores == sorted(scores, reverse=True)
    assert all(0 <= e["start"] <= e["end"] <= 80.0 and isinstance(e["caption"], str) for e in result)


# clip lengths: SparseSync's tiny window is 0.64 s; AVATAR's tiny audio input 0.7 s (AAC pads the audio up to 0.7 s)
@pytest.mark.parametrize(
    "model_type, overrides, seconds", [("sparsesync", {"visual_grid": [2, 1, 1]}, 0.65), ("avatar", {}, 0.5)]
)
def test_the_card_pipeline_snippet_runs(model_type, overrides, seconds, tmp_path, capsys):
    import re

    from videozoo.hub import model_card

    folder = save_tiny(model_type, tmp_path / model_type, **overrides)
    export_remote_code(folder)
    frames, wave, _ = flash_and_click_source(np.random.default_rng(3), seconds, size=32)
    clip = write_clip(tmp_path / "video.mp4", frames, wave)
    card = str(model_card(folder, f"someone/{model_type}-tiny"))
    (snippet,) = [b for b in re.findall(r"```python\n(.*?)```", card, flags=re.S) if "import pipeline" in b]
    snippet = snippet.replace(f'"someone/{model_type}-tiny"', repr(str(folder))).replace(
        '"video.mp4"', repr(str(clip))
    )
    exec(snippet, {})  # noqa: S102
    assert capsys.readouterr().out.strip().startswith("{")


# ----------------------------------------------------------------------------- video to audio
def test_video_to_audio_gives_a_waveform(tmp_path):
    folder = save_tiny("specvqgan_sampler", tmp_path / "sampler")
    torch.manual_seed(0)
    vocoder = AutoModel.from_config(tiny_config("melgan", num_mel_bins=16)).eval()
    with pytest.raises(ValueError, match="needs a vocoder"):
        pipeline("video-to-audio", model=str(folder))
    v2a = pipeline("video-to-audio", model=str(folder), vocoder=vocoder)
    features = np.random.default_rng(0).normal(size=(11, 20)).astype(np.float32)
    torch.manual_seed(1)
    answer = v2a({"visual_features": features}, do_sample=False, return_spectrogram=True)
    json.dumps(answer)
    assert answer["sampling_rate"] == vocoder.config.sampling_rate
    # arg-max sampling is deterministic: the same chain by hand
    inputs = v2a.processor(visual_features=[features])
    with torch.no_grad():
        out = v2a.model.generate(inputs["visual_features"], do_sample=False)
        spectrogram = v2a.processor.post_process(out.spectrogram)
        spectrogram = spectrogram[:, 0] if spectrogram.dim() == 4 else spectrogram
        expected = vocoder(spectrogram).waveform.reshape(-1)
    # the same float32 ops in the same order, a batch of one both ways: measured gap 0; 1e-6 for other CPUs
    assert np.allclose(answer["waveform"], expected.numpy(), atol=1e-6)
    assert len(answer["waveform"]) == spectrogram.shape[-1] * vocoder.config.hop_length
    with pytest.raises(PipelineInputError, match="visual feature extractor"):
        v2a("silent.mp4")


def test_retrieval_with_everything_at_once_scores_by_cosine(tmp_path):
    folder = save_tiny("everything_at_once", tmp_path / "eao")
    retrieval = pipeline("video-text-retrieval", model=str(folder))
    rng = np.random.default_rng(4)
    videos = [
        {"id": f"v{i}", "video": rng.normal(size=(5, 20)), "audio": rng.normal(0, 0.1, 3200), "sampling_rate": 16000}
        for i in range(5)
    ]
    captions = [rng.normal(size=(4, 11)).astype(np.float32) for _ in range(2)]
    collection = retrieval.index_videos(videos, batch_size=2)
    answers = retrieval(captions, collection=collection, top_k=5)
    inputs = retrieval.processor(
        video=[v["video"] for v in videos], audio=[v["audio"] for v in videos], sampling_rate=16000
    )
    with torch.no_grad():
        model = retrieval.model
        video = torch.nn.functional.normalize(model(**inputs).video_audio_embeds, dim=-1)
        text = model(
            text_features=torch.tensor(np.stack(captions)), text_attention_mask=torch.ones(2, 4, dtype=torch.long)
        ).text_embeds
        expected = (torch.nn.functional.normalize(text, dim=-1) @ video.T).numpy()
    for row, answer in zip(expected, answers):
        assert [a["id"] for a in answer] == [f"v{j}" for j in np.argsort(-row)]
        # cosines in float32, FAISS against torch, batches of 2 against 5: measured gap 4.5e-8
        assert np.allclose([a["score"] for a in answer], np.sort(row)[::-1], atol=1e-5)
        assert all(-1 - 1e-5 <= a["score"] <= 1 + 1e-5 for a in answer)


# ----------------------------------------------------------------------------- from raw video (the extractors)
def _real_clips(*names):
    clips = [SHARED_MEDIA / "vas" / name for name in names]
    if not all(clip.is_file() for clip in clips):
        pytest.skip("../shared/data/media is absent")
    return clips


def _save_extractor(folder, model_type, processor, **overrides):
    torch.manual_seed(0)
    model = AutoModel.from_config(tiny_config(model_type, **overrides)).eval()
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="module")
def extractors(tmp_path_factory):
    """Tiny random extractors on small frames: I3D (10-frame stacks at 5 fps, 32 px crops), RAFT, VGGish, ResNet
    frames (1 fps), S3D (16-frame stacks at 8 fps, 32 px crops)."""
    from videozoo.processors import I3DProcessor, RAFTProcessor, ResNetFramesProcessor, S3DProcessor, VGGishProcessor

    folder = tmp_path_factory.mktemp("extractors")
    i3d = dict(stack_size=10, step_size=10, extraction_fps=5.0)
    s3d = dict(stack_size=16, step_size=16, extraction_fps=8.0)
    return {
        "rgb": _save_extractor(folder / "rgb", "i3d", I3DProcessor(resize_size=40, crop_size=32, **i3d), **i3d),
        "flow": _save_extractor(
            folder / "flow", "i3d", I3DProcessor(resize_size=40, crop_size=32, **i3d), modality="flow", **i3d
        ),
        "raft": _save_extractor(folder / "raft", "raft", RAFTProcessor()),
        "vggish": _save_extractor(folder / "vggish", "vggish", VGGishProcessor()),
        "resnet_frames": _save_extractor(
            folder / "resnet", "resnet_frames", ResNetFramesProcessor(resize_size=40, crop_size=32), extraction_fps=1.0
        ),
        "s3d": _save_extractor(folder / "s3d", "s3d", S3DProcessor(resize_size=40, crop_size=32, **s3d), **s3d),
    }


def _video_seconds(path) -> float:
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return float(stream.frames / stream.average_rate)


def test_dense_captioning_from_an_mp4(extractors, tmp_path):
    """A real clip in: I3D rgb + flow (RAFT) and VGGish extracted, proposals, then captions."""
    import time

    from videozoo.modeling import BMTForEventProposal
    from videozoo.processors import BMTProcessor
    from videozoo.processors.pipeline_dense_captioning import BMTMediaFeatures

    (clip,) = _real_clips("video_02677.mp4")
    sizes = dict(audio_feature_size=16, video_feature_size=128)  # the tiny VGGish and I3D widths
    folder = save_tiny("bmt", tmp_path / "bmt", **sizes)
    BMTProcessor.from_captions(["a dog barks loudly .", "a cat purrs quietly"], **sizes).save_pretrained(folder)
    torch.manual_seed(1)
    config = tiny_config("bmt", audio_anchor_lengths=[1.0, 3.0], video_anchor_lengths=[2.0, 4.0], **sizes)
    config.max_audio_length, config.max_video_length = 12, 4
    proposer = BMTForEventProposal(config).eval()
    hook = BMTMediaFeatures(extractors["rgb"], extractors["flow"], extractors["raft"], extractors["vggish"])
    captioner = pipeline("dense-video-captioning", model=str(folder), proposal_model=proposer, feature_hook=hook)

    features = hook(clip)
    seconds = _video_seconds(clip)
    # the clip at 5 fps, stacks of 10 (+1 for the flow) frames every 10; 0.96 s VGGish examples
    frames = features["duration"] * 5
    assert abs(features["duration"] - seconds) <= 0.2 + 1e-9  # the 5 fps grid ends within a frame of the clip
    assert features["rgb"].shape == features["flow"].shape == ((round(frames) - 1 - 10) // 10 + 1, 128)
    assert features["audio"].shape == (int(seconds / 0.96 + 1e-6), 16)
    started = time.perf_counter()
    result = captioner(str(clip), max_proposals=3, max_new_tokens=3)
    elapsed = time.perf_counter() - started
    json.dumps(result)
    assert 1 <= len(result) <= 3, result  # (a random proposer: some proposal centres fall inside the clip)
    assert all(0 <= e["start"] <= e["end"] <= features["duration"] for e in result)
    assert all(isinstance(e["caption"], str) for e in result)
    # the pipeline gives what the features dict gives: the hook is the only new step
    given = {k: features[k] for k in ("audio", "rgb", "flow", "duration")}
    assert captioner(given, max_proposals=3, max_new_tokens=3) == result
    assert elapsed < 60, elapsed  # tiny models on a 6 s clip: about 3 s on one core of this machine


def test_retrieval_ranks_a_folder_of_mp4s(extractors, tmp_path):
    """AVLnet (2D + 3D streams, pooled) and Everything at Once (per-step 2D || 3D, and the S3D variant) index a
    folder of real clips through the zoo's extractors and rank it for a caption."""
    from videozoo.processors.pipeline_retrieval import RetrievalMediaFeatures

    clips = _real_clips("video_02677.mp4", "video_02542.mp4", "video_00331.mp4")
    videos = tmp_path / "videos"
    videos.mkdir()
    for clip in clips:
        (videos / clip.name).symlink_to(clip)
    (videos / "notes.txt").write_text("not a video")
    two = {"resnet_frames": extractors["resnet_frames"], "s3d": extractors["s3d"]}
    cases = [
        ("avlnet", {"variant": "text_tri", "video_feature_size": 80 + 128}, two),
        ("everything_at_once", {"video_feature_size": 80 + 128}, two),
        ("everything_at_once", {"video_feature_size": 128}, {"s3d": extractors["s3d"]}),
    ]
    for index, (model_type, overrides, chosen) in enumerate(cases):
        folder = save_tiny(model_type, tmp_path / f"{model_type}{index}", **overrides)
        retrieval = pipeline("video-text-retrieval", model=str(folder))
        rate = retrieval.processor.feature_extractor.sampling_rate
        retrieval.feature_hook = RetrievalMediaFeatures(retrieval.model.config, chosen, sampling_rate=rate)
        collection = retrieval.index_videos(str(videos))
        assert len(collection) == 3
        caption = np.random.default_rng(index).normal(size=(3, 11)).astype(np.float32)  # the caption's word vectors
        (answer,) = retrieval([caption], collection=collection, top_k=3)
        assert sorted(a["id"] for a in answer) == sorted(c.stem for c in clips)
        # the same ranking as the features dicts the hook gives, scored directly
        dicts = [retrieval.feature_hook(videos / f"{a['id']}.mp4") for a in answer]
        direct = [scores[0]["score"] for scores in retrieval(dicts, captions=[caption], top_k=1)]
        # FAISS against numpy inner products of the same float32 embeddings: 1e-5 (measured gap 9.5e-7)
        assert np.allclose(direct, [a["score"] for a in answer], atol=1e-5)
        assert np.all(np.diff(direct) <= 1e-5)  # the collection's order, up to the same tolerance
    step = retrieval.feature_hook(clips[0])
    assert step["video"].shape[1] == 128 and step["sampling_rate"] == rate and step["audio"].ndim == 1


def test_retrieval_media_refuses_models_without_a_zoo_extractor(extractors):
    from videozoo.configuration import EverythingAtOnceConfig
    from videozoo.processors.pipeline_retrieval import RetrievalMediaFeatures

    with pytest.raises(ValueError, match="CLIP variant reads CLIP image features"):
        RetrievalMediaFeatures(EverythingAtOnceConfig.from_variant("clip"), {"s3d": extractors["s3d"]})
    with pytest.raises(ValueError, match=r"the MMT experts \['face'\] have no zoo extractor"):
        config = tiny_config("mmt", expert_names=["s3d", "face"], expert_feature_sizes={"s3d": 20, "face": 8})
        RetrievalMediaFeatures(config, {"face": extractors["s3d"]})
    hook = RetrievalMediaFeatures(EverythingAtOnceConfig.from_variant("tva"), {"s3d": extractors["s3d"]})
    (clip,) = _real_clips("video_02677.mp4")
    with pytest.raises(ValueError, match=r"widths \[128\] \(sum 128\), the everything_at_once model reads 4096"):
        hook(clip)
