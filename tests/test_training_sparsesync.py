"""SparseSync trains and evaluates through the synchronisation entry point (`scripts/run_synchronisation.py`;
`videozoo.training.fit`, the offset metric, the probes)."""

import json

import pytest
from transformers import AutoModel

from videozoo.recipes import run_family


def train_sparsesync(args: list[str]) -> dict:
    return run_family("synchronisation", ["train", "--model_type", "sparsesync", *args])


def evaluate_sparsesync(args: list[str]) -> dict:
    return run_family("synchronisation", ["evaluate", "--model_type", "sparsesync", *args])


TINY = [
    "--dataset_name",
    "synthetic",
    "--clip_length_sec",
    "1.0",
    "--num_offset_classes",
    "5",
    "--max_offset_sec",
    "0.4",
]


def test_train_then_evaluate_with_probes(tmp_path):
    data = tmp_path / "data"
    metrics = train_sparsesync(
        TINY
        + [
            "--data_dir",
            str(data),
            "--output_dir",
            str(tmp_path / "run"),
            "--num_train_clips",
            "8",
            "--num_eval_clips",
            "4",
            "--max_steps",
            "3",
            "--per_device_train_batch_size",
            "4",
            "--per_device_eval_batch_size",
            "4",
            "--learning_rate",
            "1e-3",
            "--probes",
            "--disable_tqdm",
            "--s3d_batch_norm_momentum",
            "0.1",
            "--logging_steps",
            "1",
        ]
    )
    assert {
        "accuracy_1",
        "accuracy_1_tol1",
        "loss",
        "rand_audio/accuracy_1",
        "rand_rgb/accuracy_1",
        "perm_rgb/accuracy_1",
    } <= set(metrics)
    model = AutoModel.from_pretrained(tmp_path / "run")
    assert model.config.num_offset_classes == 5 and model.config.s3d_batch_norm_momentum == 0.1
    logged = [json.loads(line) for line in (tmp_path / "run" / "logs" / "metrics.jsonl").read_text().splitlines()]
    assert [row["step"] for row in logged if "train/loss" in row] == [1, 2, 3]
    result = evaluate_sparsesync(
        TINY
        + [
            "--model_name_or_path",
            str(tmp_path / "run"),
            "--data_dir",
            str(data),
            "--eval_split",
            "test",
            "--batch_size",
            "4",
            "--output_dir",
            str(tmp_path / "eval"),
        ]
    )
    assert result["num_examples"] == 4 and result["protocol"].startswith("fixed offsets")
    assert (tmp_path / "eval" / "confusion_matrix.png").stat().st_size > 1000
    assert json.loads((tmp_path / "eval" / "metrics.json").read_text())["accuracy_1"] == result["accuracy_1"]
    shuffled = evaluate_sparsesync(
        TINY
        + [
            "--model_name_or_path",
            str(tmp_path / "run"),
            "--data_dir",
            str(data),
            "--eval_split",
            "test",
            "--random_offsets",
            "--iter_times",
            "2",
            "--output_dir",
            str(tmp_path / "eval2"),
        ]
    )
    assert shuffled["num_examples"] == 8 and shuffled["protocol"] == "random offsets, 2 pass(es)"


@pytest.mark.slow
def test_flash_and_click_learns_and_the_probes_stay_at_chance(tmp_path):
    """The README's synthetic result, by the stages of scripts/reproduce_sparsesync_synthetic.sh (about 35 min on
    one free core): trunk pre-training, the warm-up and the main stage; held-out clips at their fixed offsets far
    above chance (1/21), the corrupted-validation probes near chance."""
    from videozoo.scripts import pretrain_sparsesync_extractors as pretrain

    data, run = str(tmp_path / "data"), tmp_path / "run"
    pretrain.main(
        ["--data_dir", data, "--output_dir", str(run / "extractors"), "--clip_length_sec", "4.2", "--max_steps", "400"]
    )
    common = [
        "--dataset_name",
        "synthetic",
        "--data_dir",
        data,
        "--clip_length_sec",
        "4.2",
        "--synthetic_period_sec",
        "4.2",
        "--num_train_clips",
        "800",
        "--num_eval_clips",
        "200",
        "--per_device_train_batch_size",
        "16",
        "--per_device_eval_batch_size",
        "16",
        "--learning_rate",
        "1e-3",
        "--max_grad_norm",
        "1.0",
        "--logging_steps",
        "25",
        "--disable_tqdm",
        "--cache_decoded",
    ]
    train_sparsesync(
        common
        + [
            "--output_dir",
            str(run / "warmup"),
            "--model_name_or_path",
            str(run / "extractors"),
            "--crop_policy",
            "event_aware",
            "--max_steps",
            "600",
            "--warmup_steps",
            "50",
        ]
    )
    train_sparsesync(
        common
        + [
            "--output_dir",
            str(run / "main"),
            "--model_name_or_path",
            str(run / "warmup"),
            "--max_steps",
            "1200",
            "--eval_steps",
            "400",
            "--probes",
            "--select_best_metric",
            "accuracy_1",
        ]
    )
    metrics = evaluate_sparsesync(
        [
            "--model_name_or_path",
            str(run / "main"),
            "--dataset_name",
            "synthetic",
            "--data_dir",
            data,
            "--eval_split",
            "test",
            "--probes",
            "--output_dir",
            str(run / "eval"),
        ]
    )
    print(
        {name: round(value, 3) for name, value in metrics.items() if "accuracy_1" in name}
    )  # the README's figures (-s)
    assert metrics["accuracy_1"] > 3 / 21 and metrics["accuracy_1_tol1"] > 0.4, metrics
    # A probe at chance is binomial over the test clips: top-1 chance 1/21, +-1 class 61/441 (the two edge classes
    # accept two labels, the others three). Bounds at chance + 4 standard errors: on 200 clips 10.8 % (a false alarm
    # once in 4,000 per probe) and 23.6 %. Measured (docs/sparsesync_probes.md): on this test set the worst rule
    # that reads one stream alone (a fixed guess for the other stream's event) scores 9.5 % / 20.0 %; a model
    # that predicts one class 6.5 % / 17.5 %; permuted frames with an ideal synchroniser 4.9 % +- 1.4.
    count = metrics["num_examples"]
    for probe in ("rand_audio", "rand_rgb", "perm_rgb"):
        for name, chance in (("accuracy_1", 1 / 21), ("accuracy_1_tol1", 61 / 441)):
            bound = chance + 4 * (chance * (1 - chance) / count) ** 0.5
            assert metrics[f"{probe}/{name}"] < bound, (probe, name, bound, metrics)


def test_extractor_pretraining_writes_a_checkpoint(tmp_path):
    from videozoo.scripts import pretrain_sparsesync_extractors as pretrain

    targets = pretrain.event_targets([[1.0, 2.05], [0.1]], [0.5, 0.0], 2.0, 4)
    assert targets.tolist() == [[0, 1, 0, 1], [1, 0, 0, 0]]
    last = pretrain.main(
        [
            "--data_dir",
            str(tmp_path / "data"),
            "--output_dir",
            str(tmp_path / "extractors"),
            "--clip_length_sec",
            "1.0",
            "--max_steps",
            "25",
            "--batch_size",
            "2",
            "--num_train_clips",
            "4",
            "--num_eval_clips",
            "2",
            "--synthetic_period_sec",
            "1.0",
        ]
    )
    assert last["step"] == 25 and last["loss"] > 0
    model = AutoModel.from_pretrained(tmp_path / "extractors")
    assert model.config.visual_grid == [3, 1, 1] and model.config.s3d_batch_norm_momentum == 0.1
