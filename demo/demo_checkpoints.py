"""The demo's checkpoints and example clips, built on this machine so the page needs no download.

Two modes, each in its own folder under the checkpoint root (`~/.cache/videozoo/demo` unless
`VIDEOZOO_DEMO_CHECKPOINTS` or `--checkpoints` says otherwise):

- `trained`: SparseSync is trained on the embedded flash-and-click task by the zoo's own training script
  (`scripts/run_synchronisation.py train`, which runs `videozoo.training.fit`), and AVATAR on the embedded
  SynthAV-ASR task (`scripts/run_speech_recognition.py train`). The other tasks have no synthetic task that starts
  from raw video (the retrieval, captioning and video-to-audio synthetic sets are feature-level), so their models
  keep random weights in both modes; the page says so next to every answer.
- `random`: every model at its small size with random weights, built in a few seconds (for tests and CI).

Feature extractors (ResNet frames, S3D, I3D, RAFT, VGGish) are small random networks in both modes: the real ones are
converted from the authors' weights (docs/feature_extractors.md), which a fresh machine without network does not have.

A mode's folder is written under a temporary name and renamed when complete (`manifest.json` last), so an
interrupted build leaves nothing half-made behind and never touches a finished folder.
"""

import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from videozoo.configuration.small_extractors import small_extractor_config

MODES = ("trained", "random")

# The flash-and-click clips the demo offers and trains on: 1 s windows, offsets -0.4 ... +0.4 s in steps of 0.2 s.
SYNC_CLIP_SEC, SYNC_OFFSET_CLASSES, SYNC_MAX_OFFSET_SEC, SYNC_FRAME_SIZE = 1.0, 5, 0.4, 32
EXAMPLE_OFFSETS = (-0.4, 0.0, 0.2)  # seconds; positive: the audio comes early
# How long the `trained` mode trains (steps of 8 clips). Measured on one core of a shared 2-core machine: about
# 1.1 s a step for SparseSync and 0.4 s a step for AVATAR (docs/demo.md has the figures).
SYNC_TRAIN_STEPS, ASR_TRAIN_STEPS = 300, 600

# small random extractors: ResNet frames (1 fps, 80 wide), S3D (16-frame stacks at 8 fps, 128 wide), I3D (10-frame
# stacks at 5 fps, 128 wide) + RAFT, VGGish (16 wide)
EXTRACTOR_SIZES = {  # the zoo's small extractor networks, with the demo's sampling
    "resnet_frames": small_extractor_config("resnet_frames", extraction_fps=1.0),
    "s3d": small_extractor_config("s3d", stack_size=16, step_size=16, extraction_fps=8.0),
    "i3d": small_extractor_config("i3d", stack_size=10, step_size=10, extraction_fps=5.0),
    "raft": small_extractor_config("raft"),
    "vggish": small_extractor_config("vggish"),
}
RESNET_WIDTH, S3D_WIDTH, I3D_WIDTH, VGGISH_WIDTH = 80, 128, 128, 16
RETRIEVAL_WORDS = "a the man woman dog cat flash click bright square dark noise sound light cuts plays runs".split()


def default_root() -> Path:
    return Path(os.environ.get("VIDEOZOO_DEMO_CHECKPOINTS", Path.home() / ".cache" / "videozoo" / "demo"))


def load_manifest(folder: str | Path) -> dict | None:
    path = Path(folder) / "manifest.json"
    return json.loads(path.read_text()) if path.is_file() else None


def prepare(root: str | Path, mode: str, log=print) -> Path:
    """The folder of `mode`'s checkpoints under `root`, built first when it is not complete."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise ValueError(f"checkpoints: {root} is a file, not a folder")
    folder = root / mode
    if load_manifest(folder) is not None:
        return folder
    if folder.exists():
        raise ValueError(f"checkpoints: {folder} exists but has no manifest.json (not a demo build); remove it")
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{mode}-building-", dir=root))
    try:
        manifest = _build(work, mode, log)
        (work / "manifest.json").write_text(json.dumps(manifest, indent=2))
        work.rename(folder)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return folder


def _build(folder: Path, mode: str, log) -> dict:
    import torch
    from transformers.utils import logging

    import videozoo  # noqa: F401  (registers the architectures)

    logging.disable_progress_bar()
    started = time.perf_counter()
    torch.manual_seed(0)
    manifest = {"mode": mode, "models": {}}
    log(f"[demo] building the {mode} checkpoints in {folder}")
    _extractors(folder / "extractors")
    manifest["examples"] = write_examples(folder / "examples")
    scratch = Path(tempfile.mkdtemp(prefix="videozoo-demo-data-"))
    try:
        manifest["models"]["audio-visual-synchronisation"] = _sparsesync(folder / "sparsesync", mode, scratch, log)
        manifest["models"]["audio-visual-speech-recognition"] = _avatar(folder / "avatar", mode, scratch, log)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    manifest["models"]["video-text-retrieval"] = _retrieval(folder / "everything_at_once")
    manifest["models"]["dense-video-captioning"] = _bmt(folder / "bmt")
    manifest["models"]["video-to-audio"] = _video_to_audio(folder / "specvqgan")
    manifest["build_seconds"] = round(time.perf_counter() - started, 1)
    log(f"[demo] built in {manifest['build_seconds']} s")
    return manifest


# ----------------------------------------------------------------------------- example clips
def flash_and_click_clip(path: Path, offset_sec: float, seconds: float = 3.0, seed: int = 0) -> Path:
    """A flash-and-click mp4 whose audio is `offset_sec` early (positive) or late (negative) against its frames:
    the frames and the audio are cut from one source at starts differing by the offset."""
    from videozoo.data.sparsesync import flash_and_click_source, write_clip

    fps, rate, margin = 25.0, 16000, SYNC_MAX_OFFSET_SEC
    frames, wave, _ = flash_and_click_source(np.random.default_rng(seed), seconds + 2 * margin, size=SYNC_FRAME_SIZE)
    video_start = round(margin * fps)
    audio_start = round((margin + offset_sec) * rate)
    frames = frames[video_start : video_start + round(seconds * fps)]
    wave = wave[audio_start : audio_start + round(seconds * rate)]
    return write_clip(path, frames, wave, fps=fps, sampling_rate=rate)


def speech_clip(path: Path, index: int) -> tuple[Path, str]:
    """A SynthAV-ASR test clip as an mp4 (its two frames each shown for half of the clip) and its transcript."""
    from videozoo.data.avatar import synthetic_avatar_dataset
    from videozoo.data.sparsesync import write_clip

    row = synthetic_avatar_dataset(1, index + 1)["test"][index]
    wave = np.asarray(row["audio"], np.float32)
    frames = np.asarray(row["video"], np.uint8)  # (2, H, W, 3)
    seconds = len(wave) / row["sampling_rate"]
    count = max(2, round(seconds * 25))
    shown = frames[np.minimum(np.arange(count) * len(frames) // count, len(frames) - 1)]
    return write_clip(path, shown, wave, fps=25.0, sampling_rate=row["sampling_rate"]), row["text"]


def silent_clip(path: Path, seconds: float = 2.0) -> Path:
    """An mp4 with frames and no audio stream (the page's example of a file a task cannot use)."""
    import av

    frames = (np.random.default_rng(1).uniform(0, 0.3, (round(seconds * 25), 32, 32, 3)) * 255).astype(np.uint8)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width = stream.height = 32
        stream.pix_fmt = "yuv420p"
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode(None))
    return path


def write_examples(folder: Path) -> dict:
    """The example clips and what is known about each (the true offset, the spoken words)."""
    folder.mkdir(parents=True, exist_ok=True)
    examples = {}
    for seed, offset in enumerate(EXAMPLE_OFFSETS):
        name = f"flash_and_click_{'+' if offset > 0 else ''}{offset:.1f}s.mp4"
        flash_and_click_clip(folder / name, offset, seed=10 + seed)
        examples[name] = {"task": "audio-visual-synchronisation", "offset_sec": offset}
    for index in range(2):
        path, text = speech_clip(folder / f"synthav_asr_{index}.mp4", index)
        examples[path.name] = {"task": "audio-visual-speech-recognition", "text": text}
    silent_clip(folder / "no_audio.mp4")
    examples["no_audio.mp4"] = {"task": None, "note": "no audio stream"}
    (folder / "not_a_video.mp4").write_text("This is a text file with a video's name.\n")
    examples["not_a_video.mp4"] = {"task": None, "note": "not a media file"}
    short = folder / "too_short.mp4"
    flash_and_click_clip(short, 0.0, seconds=0.5, seed=3)
    examples[short.name] = {"task": None, "note": "shorter than the synchronisation window"}
    return examples


# ----------------------------------------------------------------------------- models
def _save(model, processor, folder: Path):
    model.eval().save_pretrained(folder)
    if processor is not None:
        processor.save_pretrained(folder)
    return folder


def _extractors(folder: Path) -> None:
    from transformers import AutoConfig, AutoModel

    from videozoo.processors import I3DProcessor, RAFTProcessor, ResNetFramesProcessor, S3DProcessor, VGGishProcessor

    sampling = {k: EXTRACTOR_SIZES[k] for k in ("s3d", "i3d")}
    s3d = {k: v for k, v in sampling["s3d"].items() if k != "width_divisor"}
    i3d = {k: v for k, v in sampling["i3d"].items() if k != "width_divisor"}
    builds = {
        "resnet_frames": ("resnet_frames", {}, ResNetFramesProcessor(resize_size=40, crop_size=32)),
        "s3d": ("s3d", {}, S3DProcessor(resize_size=40, crop_size=32, **s3d)),
        "i3d_rgb": ("i3d", {}, I3DProcessor(resize_size=40, crop_size=32, **i3d)),
        "i3d_flow": ("i3d", {"modality": "flow"}, I3DProcessor(resize_size=40, crop_size=32, **i3d)),
        "raft": ("raft", {}, RAFTProcessor()),
        "vggish": ("vggish", {}, VGGishProcessor()),
    }
    for name, (model_type, extra, processor) in builds.items():
        config = AutoConfig.for_model(model_type, **EXTRACTOR_SIZES[model_type], **extra)
        _save(AutoModel.from_config(config), processor, folder / name)


def _sparsesync(folder: Path, mode: str, scratch: Path, log) -> dict:
    from videozoo.recipes import run_family
    from videozoo.tasks import sparsesync

    task = [
        "--dataset_name", "synthetic",
        "--clip_length_sec", str(SYNC_CLIP_SEC),
        "--num_offset_classes", str(SYNC_OFFSET_CLASSES),
        "--max_offset_sec", str(SYNC_MAX_OFFSET_SEC),
        "--synthetic_size", str(SYNC_FRAME_SIZE),
    ]  # fmt: skip
    if mode == "random":
        from transformers import HfArgumentParser

        from videozoo.modeling import SparseSyncForOffsetClassification
        from videozoo.processors import SparseSyncFeatureExtractor, SparseSyncProcessor
        from videozoo.training import TrainerArguments

        args, _ = HfArgumentParser((sparsesync.SparseSyncArguments, TrainerArguments)).parse_args_into_dataclasses(
            task + ["--output_dir", str(scratch / "unused")]
        )
        config = sparsesync.small_config(args, SYNC_CLIP_SEC, SYNC_FRAME_SIZE)
        processor = SparseSyncProcessor(
            SparseSyncFeatureExtractor(),
            clip_length_sec=SYNC_CLIP_SEC,
            crop_size=SYNC_FRAME_SIZE,
            resize_shorter_side=0,
            num_offset_classes=SYNC_OFFSET_CLASSES,
            max_offset_sec=SYNC_MAX_OFFSET_SEC,
        )
        _save(SparseSyncForOffsetClassification(config), processor, folder)
        return {"weights": "random", "description": "SparseSync (small), random weights"}
    log(f"[demo] training SparseSync on flash-and-click for {SYNC_TRAIN_STEPS} steps")
    started = time.perf_counter()
    metrics = run_family(
        "synchronisation",
        ["train", "--model_type", "sparsesync"]
        + task
        + [
            "--data_dir", str(scratch / "flash_and_click"),
            "--output_dir", str(folder),
            "--num_train_clips", "128",
            "--num_eval_clips", "40",
            "--crop_policy", "event_aware",
            "--max_steps", str(SYNC_TRAIN_STEPS),
            "--per_device_train_batch_size", "8",
            "--per_device_eval_batch_size", "8",
            "--learning_rate", "1e-3",
            "--cache_decoded",
            "--disable_tqdm",
            "--report_to", "none",
        ]
    )  # fmt: skip
    accuracy = float(metrics.get("accuracy_1", float("nan")))
    return {
        "weights": "trained",
        "steps": SYNC_TRAIN_STEPS,
        "train_seconds": round(time.perf_counter() - started, 1),
        "held_out_accuracy": accuracy,
        "chance": 1 / SYNC_OFFSET_CLASSES,
        "description": f"SparseSync (small) trained {SYNC_TRAIN_STEPS} steps on flash-and-click: "
        f"{accuracy:.0%} top-1 on 40 held-out clips (chance {1 / SYNC_OFFSET_CLASSES:.0%})",
    }


def _avatar(folder: Path, mode: str, scratch: Path, log) -> dict:
    from videozoo.recipes import run_family
    from videozoo.tasks import avatar

    if mode == "random":
        from transformers import AutoModel

        processor = avatar.synthetic_processor(scratch / "avatar_vocab")
        config = avatar.synthetic_config(len(processor.tokenizer), ("rgb", "audio"))
        _save(AutoModel.from_config(config), processor, folder)
        return {"weights": "random", "description": "AVATAR (small, audio-visual), random weights"}
    log(f"[demo] training AVATAR on SynthAV-ASR for {ASR_TRAIN_STEPS} steps")
    started = time.perf_counter()
    metrics = run_family(
        "speech_recognition",
        [
            "train", "--model_type", "avatar",
            "--dataset_name", "synthetic",
            "--output_dir", str(folder),
            "--num_train_clips", "1024",
            "--num_eval_clips", "64",
            "--max_steps", str(ASR_TRAIN_STEPS),
            "--per_device_train_batch_size", "8",
            "--per_device_eval_batch_size", "16",
            "--optimizer", "adamw",
            "--learning_rate", "1e-3",
            "--decoding", "greedy",
            "--disable_tqdm",
            "--report_to", "none",
        ]
    )  # fmt: skip
    wer = float(metrics.get("wer", float("nan")))
    return {
        "weights": "trained",
        "steps": ASR_TRAIN_STEPS,
        "train_seconds": round(time.perf_counter() - started, 1),
        "held_out_wer": wer,
        "description": f"AVATAR (small, audio-visual) trained {ASR_TRAIN_STEPS} steps on SynthAV-ASR: "
        f"WER {wer:.0%} on 64 held-out clips",
    }


def _retrieval(folder: Path) -> dict:
    from transformers import AutoConfig, AutoModel

    from videozoo.processors import AVLnetFeatureExtractor, EverythingAtOnceProcessor

    config = AutoConfig.for_model(
        "everything_at_once",
        video_feature_size=RESNET_WIDTH
        + S3D_WIDTH,  # ResNet frames || S3D per step, the stand-ins of docs/pipelines.md
        text_feature_size=12,
        num_mel_bins=12,
        audio_stage_depths=[1, 1],
        audio_stage_widths=[8, 16, 18],
        audio_kernel_width=5,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        mlp_ratio=1.0,
        projection_dim=24,
    )
    processor = EverythingAtOnceProcessor(
        AVLnetFeatureExtractor(num_mel_bins=12, max_frames=384), max_words=8, max_video_steps=8, word_embedding_size=12
    )
    _save(AutoModel.from_config(config), processor, folder)
    # word vectors for a small vocabulary (random, as the model): the word2vec text format, one word a line
    rng = np.random.default_rng(0)
    lines = [f"{len(RETRIEVAL_WORDS)} 12"]
    lines += [" ".join([word, *(f"{v:.5f}" for v in rng.normal(size=12))]) for word in RETRIEVAL_WORDS]
    (folder / "word_vectors.txt").write_text("\n".join(lines) + "\n")
    return {"weights": "random", "description": "Everything at Once (small), random weights and word vectors"}


def _bmt(folder: Path) -> dict:
    from transformers import AutoConfig, AutoModel

    from videozoo.modeling import BMTForEventProposal
    from videozoo.processors import BMTProcessor

    sizes = dict(
        vocab_size=99,
        audio_feature_size=VGGISH_WIDTH,
        video_feature_size=I3D_WIDTH,
        attention_hidden_size=32,
        decoder_hidden_size=18,
        num_attention_heads=4,
        num_encoder_layers=2,
        num_decoder_layers=2,
        audio_intermediate_size=37,
        video_intermediate_size=41,
        decoder_intermediate_size=29,
        max_position_embeddings=64,
    )
    processor = BMTProcessor.from_captions(
        ["a bright square flashes", "a click sounds in the dark", "the screen stays dark and quiet"],
        audio_feature_size=VGGISH_WIDTH,
        video_feature_size=I3D_WIDTH,
    )
    config = AutoConfig.for_model("bmt", **{**sizes, "vocab_size": len(processor.tokenizer)})
    _save(AutoModel.from_config(config), processor, folder / "captioner")
    config = AutoConfig.for_model(
        "bmt",
        **{**sizes, "vocab_size": len(processor.tokenizer)},
        audio_anchor_lengths=[1.0, 3.0],
        video_anchor_lengths=[2.0, 4.0],
    )
    config.max_audio_length, config.max_video_length = 12, 4
    _save(BMTForEventProposal(config), None, folder / "proposer")
    return {"weights": "random", "description": "BMT captioner and proposal generator (small), random weights"}


def _video_to_audio(folder: Path) -> dict:
    from transformers import AutoConfig, AutoModel

    from videozoo.processors import SpecVQGANFeatureExtractor, SpecVQGANProcessor

    extractor = SpecVQGANFeatureExtractor(feature_size=16, pad_to_seconds=0.5, max_frames=40, crop_frames=10)
    processor = SpecVQGANProcessor(
        extractor, num_features=3, feature_length=11, feature_crop_length=9, feature_size=RESNET_WIDTH
    )
    first_stage = dict(
        num_mel_bins=16,
        base_channels=32,
        channel_multipliers=[1, 2],
        num_res_blocks=1,
        attn_resolutions=[8],
        resolution=16,
        z_channels=32,
        embed_dim=12,
        num_embeddings=19,
    )
    config = AutoConfig.for_model(
        "specvqgan_sampler",
        first_stage_config=first_stage,
        latent_grid=[8, 20],  # 16 mel bins x 40 frames
        feature_size=RESNET_WIDTH,  # the ResNet frames extractor's features of the clip
        num_features=3,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=37,
    )
    _save(AutoModel.from_config(config), processor, folder / "sampler")
    vocoder = AutoConfig.for_model(
        "melgan",
        num_mel_bins=16,
        generator_width=5,
        num_residual_layers=2,
        upsample_ratios=[8, 8, 4],  # hop 256: 40 frames make 0.46 s at 22.05 kHz
        num_discriminators=2,
        discriminator_width=8,
        discriminator_layers=2,
        discriminator_downsampling=2,
        discriminator_max_channels=24,
    )
    _save(AutoModel.from_config(vocoder), None, folder / "vocoder")
    return {"weights": "random", "description": "SpecVQGAN sampler and MelGAN vocoder (small), random weights"}
