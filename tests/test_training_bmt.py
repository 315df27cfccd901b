"""BMT and MDVC learn the synthetic dense-captioning task (`synthetic_dense_captioning_dataset`) through the family
entry point (`scripts/run_dense_captioning.py`), on held-out videos; the two-stage recipe copies and freezes the
captioner's encoder; the family's evaluation runs all modes."""

import json

import pytest
import torch

from videozoo.data.dense_captioning import annotations_of, synthetic_dense_captioning_dataset
from videozoo.modeling import BMTForConditionalGeneration, BMTForEventProposal
from videozoo.recipes import run_family


def train_bmt(args: list[str]) -> dict:
    return run_family("dense_captioning", ["train", "--model_type", "bmt", *args])


def evaluate(args: list[str]) -> dict:
    return run_family("dense_captioning", ["evaluate", *args])


DATA = ["--num_train_videos", "512", "--num_test_videos", "48", "--disable_tqdm", "--report_to", "none"]


@pytest.fixture(scope="module")
def captioner(tmp_path_factory):
    root = tmp_path_factory.mktemp("bmt")
    start = train_bmt(["--output_dir", str(root / "init"), "--num_train_epochs", "0", *DATA])
    end = train_bmt(
        [
            "--output_dir",
            str(root / "cap"),
            "--max_steps",
            "100",
            "--per_device_train_batch_size",
            "32",
            "--learning_rate",
            "1e-3",
            *DATA,
        ]
    )
    return root, start, end


def test_captioner_learns_on_held_out_videos(captioner):
    _, start, end = captioner
    # 48 held-out videos (79 events); a caption names the object (video), the sound and its loudness (audio)
    assert start["exact_match"] == 0.0 and start["token_accuracy"] < 30
    assert end["exact_match"] >= 90.0 and end["token_accuracy"] >= 97.0, end


def test_proposal_stage_starts_from_the_frozen_captioner_encoder(captioner):
    root, _, _ = captioner
    train_bmt(
        [
            "--stage",
            "proposals",
            "--captioner_name_or_path",
            str(root / "cap"),
            "--output_dir",
            str(root / "prop"),
            "--max_steps",
            "3",
            "--per_device_train_batch_size",
            "8",
            "--learning_rate",
            "1e-3",
            "--eval_tious",
            "0.5",
            "--max_proposals",
            "10",
            *DATA,
        ]
    )
    cap = BMTForConditionalGeneration.from_pretrained(root / "cap")
    prop = BMTForEventProposal.from_pretrained(root / "prop")
    for name, tensor in cap.encoder.state_dict().items():
        assert torch.equal(prop.encoder.state_dict()[name], tensor), name  # frozen during stage 2
    assert len(prop.config.audio_anchor_lengths) == 6 and len(prop.config.video_anchor_lengths) == 10
    assert prop.config.audio_anchor_lengths == sorted(prop.config.audio_anchor_lengths)
    assert prop.config.max_audio_length >= 90 // 0.96  # fixed padding covers the longest synthetic video


def test_evaluation_script_modes(captioner):
    root, _, end = captioner
    common = ["--dataset_name", "synthetic", *DATA[:4], "--meteor", "none"]
    gt = evaluate(["--mode", "captioning", "--model_name_or_path", str(root / "cap"), *common])
    assert gt["BLEU@4"] == pytest.approx(end["BLEU@4"], abs=1e-6)
    results = json.loads((root / "cap" / "eval" / "captioning_results.json").read_text())
    assert set(results) == {"version", "external_data", "results"} and len(results["results"]) == 48
    if not (root / "prop").is_dir():
        pytest.skip("needs the proposal checkpoint of test_proposal_stage_starts_from_the_frozen_captioner_encoder")
    proposals = evaluate(
        ["--model_type", "bmt", "--mode", "proposals", "--proposal_model_name_or_path", str(root / "prop"), *common]
    )
    assert {"precision", "recall", "f1"} <= set(proposals)
    learned = evaluate(
        [
            "--mode",
            "learned",
            "--model_name_or_path",
            str(root / "cap"),
            "--max_proposals",
            "5",
            "--proposal_model_name_or_path",
            str(root / "prop"),
            "--output_dir",
            str(root / "e2e"),
            *common,
        ]
    )
    assert learned["tious"] == [0.3, 0.5, 0.7, 0.9] and "BLEU@4" in learned
    # a written submission is scored again from the file (the authors' result files go the same way)
    references = annotations_of(synthetic_dense_captioning_dataset(512, 48)["test"])
    (root / "refs.json").write_text(json.dumps(references))
    rescored = evaluate(
        [
            "--model_type",
            "bmt",
            "--mode",
            "learned",
            "--predictions_file",
            str(root / "e2e" / "learned_results.json"),
            "--reference_files",
            str(root / "refs.json"),
            "--meteor",
            "none",
            "--max_proposals",
            "5",
            "--output_dir",
            str(root / "rescored"),
        ]
    )
    assert rescored["BLEU@4"] == pytest.approx(learned["BLEU@4"])


def test_mdvc_learns_on_held_out_videos(tmp_path):
    metrics = run_family(
        "dense_captioning",
        [
            "train",
            "--model_type",
            "mdvc",
            "--output_dir",
            str(tmp_path / "mdvc"),
            "--max_steps",
            "150",
            "--per_device_train_batch_size",
            "28",
            "--learning_rate",
            "1e-3",
            *DATA,
        ],
    )
    assert metrics["exact_match"] >= 90.0 and metrics["token_accuracy"] >= 97.0, metrics


@pytest.mark.slow
def test_proposal_generator_learns_on_held_out_videos(captioner, tmp_path):
    root, _, _ = captioner
    args = [
        "--stage",
        "proposals",
        "--captioner_name_or_path",
        str(root / "cap"),
        "--per_device_train_batch_size",
        "16",
        "--learning_rate",
        "1e-3",
        "--eval_tious",
        "0.5",
        "--max_proposals",
        "10",
        "--num_train_videos",
        "1024",
        "--num_test_videos",
        "128",
        "--disable_tqdm",
        "--report_to",
        "none",
    ]
    start = train_bmt([*args, "--output_dir", str(tmp_path / "init"), "--num_train_epochs", "0"])
    end = train_bmt([*args, "--output_dir", str(tmp_path / "prop"), "--max_steps", "300"])
    # top-10 proposals per held-out video, tIoU > 0.5 with a ground-truth event
    assert end["recall"] >= 70.0 and end["precision"] >= 60.0 and end["recall"] >= start["recall"] + 30, (start, end)
