"""SparseSync trains and evaluates through its scripts (`videozoo.training.fit`, the offset metric, the probes)."""

import json

import pytest
from transformers import AutoModel

from videozoo.scripts import evaluate_sparsesync, train_sparsesync

TINY = ["--dataset_name", "synthetic", "--clip_length_sec", "1.0", "--num_offset_classes", "5", "--max_offset_sec", "0.4"]


def test_train_then_evaluate_with_probes(tmp_path):
    data = tmp_path / "data"
    metrics = train_sparsesync.main(TINY + [
        "--data_dir", str(data), "--output_dir", str(tmp_path / "run"), "--num_train_clips", "8", "--num_eval_clips", "4",
        "--max_steps", "3", "--per_device_train_batch_size", "4", "--per_device_eval_batch_size", "4",
        "--learning_rate", "1e-3", "--probes", "--disable_tqdm", "--s3d_batch_norm_momentum", "0.1", "--logging_steps", "1",
    ])
    assert {"accuracy_1", "accuracy_1_tol1", "loss", "rand_audio/accuracy_1", "rand_rgb/accuracy_1", "perm_rgb/accuracy_1"} <= set(metrics)
    model = AutoModel.from_pretrained(tmp_path / "run")
    assert model.config.num_offset_classes == 5 and model.config.s3d_batch_norm_momentum == 0.1
    logged = [json.loads(line) for line in (tmp_path / "run" / "logs" / "metrics.jsonl").read_text().splitlines()]
    assert [row["step"] for row in logged if "train/loss" in row] == [1, 2, 3]
    result = evaluate_sparsesync.main(TINY + ["--model_name_or_path", str(tmp_path / "run"), "--data_dir", str(data),
                                              "--eval_split", "test", "--batch_size", "4", "--output_dir", str(tmp_path / "eval")])
    assert result["num_examples"] == 4 and result["protocol"].startswith("fixed offsets")
    assert (tmp_path / "eval" / "confusion_matrix.png").stat().st_size > 1000
    assert json.loads((tmp_path / "eval" / "metrics.json").read_text())["accuracy_1"] == result["accuracy_1"]
    shuffled = evaluate_sparsesync.main(TINY + ["--model_name_or_path", str(tmp_path / "run"), "--data_dir", str(data),
                                                "--eval_split", "test", "--random_offsets", "--iter_times", "2",
                                                "--output_dir", str(tmp_path / "eval2")])
    assert shuffled["num_examples"] == 8 and shuffled["protocol"] == "random offsets, 2 pass(es)"
