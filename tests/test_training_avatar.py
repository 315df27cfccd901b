"""AVATAR data, loss, WER metric, training and evaluation through the speech recognition entry point
(`scripts/run_speech_recognition.py`; synthetic task, How2 / VisSpeech layouts)."""

import json
import math

import numpy as np
import pytest
import torch

from videozoo.data.avatar import (
    SYNTHETIC_COLOURS,
    SYNTHETIC_CONTENT_WORDS,
    SYNTHETIC_STOP_WORDS,
    AvatarCollator,
    load_how2_split,
    load_visspeech,
    parse_condition,
    read_ctm,
    synthetic_avatar_dataset,
    synthetic_noise_bank,
)
from videozoo.data.avatar_augmentation import AvatarAugmentation
from videozoo.metrics import load_metric
from videozoo.metrics.avatar_wer.avatar_wer import word_error_rate
from videozoo.processors import AvatarVideoProcessor
from videozoo.recipes import run_family
from videozoo.tasks.avatar import label_smoothed_loss, synthetic_processor


def train_avatar(args: list[str]) -> dict:
    return run_family("speech_recognition", ["train", "--model_type", "avatar", *args])


def evaluate_avatar(args: list[str]) -> dict:
    return run_family("speech_recognition", ["evaluate", *args])


def levenshtein(ref: list[str], hyp: list[str]) -> int:
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        previous, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (r != h))
    return row[-1]


# ----------------------------------------------------------------------------- WER
def test_wer_metric_against_an_independent_levenshtein():
    assert word_error_rate(["a x c"], ["a b c d"])["wer"] == 0.5  # 1 substitution + 1 deletion over 4 words
    rng = np.random.default_rng(0)
    words = ["the", "a", "cut", "onion", "knife", "pan"]
    refs = [" ".join(rng.choice(words, rng.integers(1, 8))) for _ in range(40)]
    hyps = [" ".join(rng.choice(words, rng.integers(0, 8))) for _ in range(40)]
    expected = sum(levenshtein(r.split(), h.split()) for r, h in zip(refs, hyps)) / sum(len(r.split()) for r in refs)
    out = load_metric("avatar_wer").compute(predictions=hyps, references=refs)
    assert out["wer"] == pytest.approx(expected)  # corpus level: errors and words summed over sentences
    total = out["hits"] + out["substitutions"] + out["deletions"]
    assert out["deletion_rate"] + out["substitution_rate"] + out["correct_rate"] == pytest.approx(1.0)
    assert out["num_reference_words"] == total == sum(len(r.split()) for r in refs)


def test_content_and_stop_word_wer():
    out = word_error_rate(
        ["the  cat sat", "a dog"], ["the cat sat on the mat", "a dog"], stop_words={"the", "a", "on"}
    )
    # reference words: content cat sat mat dog (mat deleted), stop the on the a (on, the deleted)
    assert out["content_wer"] == pytest.approx(1 / 4) and out["stop_wer"] == pytest.approx(2 / 4)
    with pytest.raises(ValueError, match="empty"):
        word_error_rate(["a"], [""])
    with pytest.raises(ValueError, match="predictions for"):
        word_error_rate(["a"], ["a", "b"])


def test_label_smoothed_loss_is_the_reference_formula():
    logits = torch.randn(2, 5, 7)
    labels = torch.tensor([[3, 4, 2, 0, 0], [1, 1, 6, 5, 2]])
    eps, vocab = 0.1, 7
    targets = torch.nn.functional.one_hot(labels, vocab).float() * (1 - eps) + eps / vocab
    per_token = -(targets * logits.log_softmax(-1)).sum(-1)
    weights = (labels > 0).float()
    expected = (per_token * weights).sum() / weights.sum()
    torch.testing.assert_close(label_smoothed_loss(logits, labels, eps), expected)


# ----------------------------------------------------------------------------- synthetic task
def test_synthetic_task_and_corruptions(tmp_path):
    splits = synthetic_avatar_dataset(num_train_clips=8, num_test_clips=8).with_format("numpy")
    row = splits["test"][0]
    words = row["text"].split()
    content = [w for w in words if w in SYNTHETIC_CONTENT_WORDS]
    assert len(words) == 4 and len(content) == 1 and all(w in SYNTHETIC_STOP_WORDS for w in words if w not in content)
    index = SYNTHETIC_CONTENT_WORDS.index(content[0])
    cell = row["video"][0, 8 * (index // 4) + 3, 8 * (index % 4) + 3]
    assert cell.tolist() == SYNTHETIC_COLOURS[index].tolist()  # the frames show which content word is present
    assert len(row["audio"]) == 10240 and row["word_end_ms"][-1] < 640
    processor = synthetic_processor(tmp_path)
    rows = [splits["test"][i] for i in range(8)]
    clean = AvatarCollator(processor)(rows)
    assert clean["input_features"].shape == (8, 64, 32) and clean["pixel_values"].shape == (8, 3, 2, 32, 32)
    assert processor.batch_decode(clean["labels"]) == clean["references"] == [r["text"] for r in rows]
    masked = AvatarCollator(processor, condition="masked_words")(rows)
    position = words.index(content[0])
    span = slice(16 * position + 1, 16 * position + 13)  # the STFT window reaches 2.5 frames into the next word
    assert masked["input_features"][0, span].max() < clean["input_features"][0, span].max() - 5  # the word is gone
    assert torch.equal(masked["input_features"][0, : 16 * position], clean["input_features"][0, : 16 * position])
    shuffled = AvatarCollator(processor, condition="masked_shuffled_frames")(rows)
    assert torch.equal(shuffled["pixel_values"][1], clean["pixel_values"][0])
    assert AvatarCollator(processor, condition="masked_zeroed_frames")(rows)["pixel_values"].abs().sum() == 0
    noisy = AvatarCollator(processor, condition="noise@-5dB", noise_bank=synthetic_noise_bank(2))(rows)[
        "input_features"
    ]
    assert (noisy - clean["input_features"]).abs().mean() > 0.5
    train = AvatarCollator(processor, AvatarAugmentation(word_masking="content", word_mask_rate=1.0), use_video=False)
    batch = train([{**r, "sample_seed": i} for i, r in enumerate(rows)])
    assert "pixel_values" not in batch and "references" not in batch
    assert torch.equal(
        batch["input_features"], masked["input_features"]
    )  # rate 1: exactly the content word, as at eval
    with pytest.raises(ValueError, match="noise bank"):
        AvatarCollator(processor, condition="noise@0dB")
    with pytest.raises(ValueError, match="unknown condition"):
        parse_condition("reverb@1")
    with pytest.raises(ValueError, match="malformed"):
        parse_condition("burst@lots")
    assert parse_condition("mixed@-3dB,0.2")["max_rate"] == 0.2 and parse_condition("noise@0dB")["snr"] == 1.0


# ----------------------------------------------------------------------------- How2 / VisSpeech layouts
def _write_clip(path, seconds: float, rate: int = 16000, fps: int = 25):
    import av

    t = np.arange(int(seconds * rate)) / rate
    wave = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        audio = container.add_stream("aac", rate=rate)
        audio.layout = "mono"
        for i in range(int(seconds * fps)):
            frame = np.full((48, 64, 3), (i * 5) % 255, np.uint8)
            for packet in video.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
        for start in range(0, len(wave), 1024):
            frame = av.AudioFrame.from_ndarray(wave[None, start : start + 1024], format="fltp", layout="mono")
            frame.sample_rate, frame.pts = rate, start
            for packet in audio.encode(frame):
                container.mux(packet)
        for packet in audio.encode():
            container.mux(packet)


def test_how2_and_visspeech_layouts(tmp_path):
    videos = tmp_path / "video"
    videos.mkdir()
    _write_clip(videos / "vidA.mp4", 4.0)
    split = tmp_path / "data" / "train"
    split.mkdir(parents=True)
    (split / "text").write_text("vidA_0 Cut the onion, then stir!\nvidA_1 second part\nvidA_2 too long\n")
    (split / "segments").write_text("vidA_0 vidA 0.5 2.0\nvidA_1 vidA 2.0 3.9\nvidA_2 vidA 0.0 30.0\n")
    (split / "alignment.ctm").write_text("vidA_0 1 0.10 0.20 cut\nvidA_0 1 0.30 0.10 the\nvidA_0 1 0.45 0.30 onion\n")
    train = load_how2_split(tmp_path / "data", "train", videos, training=True).with_format("numpy")
    assert len(train) == 2  # the 30 s clip is dropped from training, as the reference does
    assert list(train[0]["words"]) == ["cut", "the", "onion"] and train[0]["word_end_ms"][2] == pytest.approx(750)
    test = load_how2_split(tmp_path / "data", "train", videos).with_format("numpy")
    assert len(test) == 3
    processor = synthetic_processor(tmp_path)
    processor.feature_extractor.max_frames = 200
    processor.video_processor = AvatarVideoProcessor(num_frames=2, size=48, crop_size=48)
    batch = AvatarCollator(processor, condition="burst@0.1")([test[0], test[1]])
    assert batch["input_features"].shape == (2, 200, 32) and batch["pixel_values"].shape == (2, 3, 2, 48, 48)
    assert 148 <= int((batch["input_features"][0] != 0).any(dim=1).sum()) <= 152  # 1.5 s of the file
    assert batch["references"][0] == "cut the onion then stir"
    training = AvatarCollator(processor, AvatarAugmentation(word_masking="content", word_mask_rate=1.0))
    trained = training([{**train[0], "sample_seed": 1}])
    assert trained["pixel_values"].shape == (1, 3, 2, 48, 48) and "references" not in trained
    masked = trained["input_features"][0]
    # "onion" (450-750 ms) and "cut" (100-300 ms) silenced: zeros become a constant after the peak normalisation, which
    # only the lowest mel bin sees (the periodic Hann window leaks DC into bin 1)
    assert masked[46:72, 1:].max() < -10 and masked[12:28, 1:].max() < -10
    (tmp_path / "visspeech.csv").write_text(
        "video_id,start_time,end_time,transcript\nvidA,1.0,3.0,A test.\nvidA,1.0,3.0,A test.\n"
    )
    vis = load_visspeech(tmp_path / "visspeech.csv", videos)
    assert len(vis) == 1 and vis[0]["id"] == "vidA_1.00_3.00"  # de-duplicated by clip
    (tmp_path / "bad.csv").write_text("video,start,end\nvidA,1,2\n")
    with pytest.raises(ValueError, match="lacks the column"):
        load_visspeech(tmp_path / "bad.csv", videos)
    (split / "segments").write_text("vidB_0 vidB 0.0 1.0\n")
    (split / "text").write_text("vidB_0 hello\n")
    with pytest.raises(FileNotFoundError, match="vidB"):
        load_how2_split(tmp_path / "data", "train", videos)
    (tmp_path / "broken.ctm").write_text("utt 1 0.1\n")
    with pytest.raises(ValueError, match="CTM"):
        read_ctm(tmp_path / "broken.ctm")


# ----------------------------------------------------------------------------- scripts
def test_train_then_evaluate_scripts(tmp_path):
    out = tmp_path / "av"
    metrics = train_avatar(
        [
            "--dataset_name",
            "synthetic",
            "--num_train_clips",
            "64",
            "--num_eval_clips",
            "16",
            "--output_dir",
            str(out),
            "--word_masking",
            "content",
            "--word_mask_rate",
            "0.5",
            "--optimizer",
            "adamw",
            "--learning_rate",
            "1e-3",
            "--max_steps",
            "12",
            "--per_device_train_batch_size",
            "16",
            "--decoding",
            "greedy",
            "--logging_steps",
            "4",
            "--disable_tqdm",
            "--max_grad_norm",
            "1.0",
        ]
    )
    assert 0 <= metrics["wer"] and math.isfinite(metrics["content_wer"])
    losses = [
        json.loads(line)["train/loss"]
        for line in (out / "logs" / "metrics.jsonl").read_text().splitlines()
        if "train/loss" in line
    ]
    assert len(losses) == 3 and losses[-1] < losses[0]
    results = evaluate_avatar(
        [
            "--model_name_or_path",
            str(out),
            "--num_test_clips",
            "16",
            "--conditions",
            "clean,masked_words,noise@0dB,noise@-10dB",
            "--decoding",
            "beam",
            "--output_dir",
            str(tmp_path / "eval"),
        ]
    )
    (label,) = results
    assert set(results[label]) == {"clean", "masked_words", "noise@0dB", "noise@-10dB"}
    assert (tmp_path / "eval" / "wer_vs_snr.png").stat().st_size > 1000
    assert json.loads((tmp_path / "eval" / "metrics.json").read_text())[label]["clean"]["num_sentences"] == 16


@pytest.mark.slow
def test_audio_visual_model_learns_to_use_vision(tmp_path):
    """Pass criteria on held-out clips (from runs of an independent re-implementation on this task): trained with
    content-word masking (p = 0.5), the A+V model transcribes masked content words from the frames (masked-condition
    WER < 5%), and fails without its frames (masked + shuffled frames WER > 20%); the training loss falls below 0.7
    (label-smoothing floor ~0.63)."""
    out = tmp_path / "av"
    train_avatar(
        [
            "--dataset_name",
            "synthetic",
            "--output_dir",
            str(out),
            "--word_masking",
            "content",
            "--word_mask_rate",
            "0.5",
            "--optimizer",
            "adamw",
            "--learning_rate",
            "1e-3",
            "--max_grad_norm",
            "1.0",
            "--max_steps",
            "1500",
            "--per_device_train_batch_size",
            "32",
            "--decoding",
            "greedy",
            "--num_eval_clips",
            "64",
            "--disable_tqdm",
            "--logging_steps",
            "100",
        ]
    )
    losses = [
        json.loads(line)["train/loss"]
        for line in (out / "logs" / "metrics.jsonl").read_text().splitlines()
        if "train/loss" in line
    ]
    assert losses[-1] < 0.7
    results = evaluate_avatar(
        [
            "--model_name_or_path",
            str(out),
            "--num_test_clips",
            "256",
            "--conditions",
            "masked_words,masked_shuffled_frames",
            "--decoding",
            "greedy",
            "--output_dir",
            str(tmp_path / "eval"),
        ]
    )
    (metrics,) = results.values()
    assert metrics["masked_words"]["wer_percent"] < 5
    assert metrics["masked_shuffled_frames"]["wer_percent"] > 20


def test_training_starts_from_a_local_vit(tmp_path):
    from transformers import ViTConfig, ViTModel

    from videozoo.tasks.avatar import AvatarArguments, build

    vit = ViTModel(
        ViTConfig(
            hidden_size=64,
            num_hidden_layers=3,
            num_attention_heads=4,
            intermediate_size=128,
            image_size=32,
            patch_size=8,
        ),
        add_pooling_layer=False,
    )
    vit.save_pretrained(tmp_path / "vit")
    model, _ = build(AvatarArguments(vit_name_or_path=str(tmp_path / "vit")))
    for stream in (model.encoder.audio_layers, model.encoder.video_layers):
        torch.testing.assert_close(
            stream[2].mlp.fc1.weight, vit.state_dict()["layers.2.mlp.fc1.weight"], rtol=0, atol=0
        )


def test_training_augmentation_choice():
    from videozoo.tasks.avatar import AvatarArguments, training_augmentation

    synthetic = training_augmentation(AvatarArguments())  # synthetic task: colours at grid positions are words
    assert synthetic.prob_color_augment == 0.0 and synthetic.scale_jitter is None and not synthetic.random_flip
    on = training_augmentation(AvatarArguments(video_augmentation="reference"))
    assert on.scale_jitter == (0.9, 1.33) and on.prob_color_augment == 0.8 and on.prob_color_drop == 0.1
    real = training_augmentation(AvatarArguments(dataset_name="how2", word_masking="content", spec_augment=True))
    assert real.prob_color_augment == 0.8 and real.random_flip and real.word_masking == "content"
    assert real.spec_augment == "reference"
    assert training_augmentation(AvatarArguments(dataset_name="how2", video_augmentation="none")).scale_jitter is None
    parked = training_augmentation(AvatarArguments(spec_augment=True, spec_augment_policy="park"))
    assert parked.spec_augment == "park"
    assert (
        training_augmentation(AvatarArguments(spec_augment_policy="park")).spec_augment is None
    )  # --spec_augment off
