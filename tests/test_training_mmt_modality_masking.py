"""Modality-masking pre-training and evaluation through `run_retrieval.py`, and fine-tuning MMT from it."""

import json

import numpy as np
import pytest
import torch

from videozoo.data.mmt_modality_masking import ModalityMaskingCollator, synthetic_masking_dataset
from videozoo.recipes import run_family

from .test_training_mmt import train_mmt
from .tiny_configs import TINY_PROCESSORS

ARGS = [
    "--dataset_name",
    "synthetic",
    "--num_train_clips",
    "600",
    "--per_device_train_batch_size",
    "48",
    "--per_device_eval_batch_size",
    "80",
    "--learning_rate",
    "5e-4",
    "--logging_steps",
    "10",
    "--disable_tqdm",
]


def pretrain(args: list[str]) -> dict[str, float]:
    """`run_retrieval.py train --model_type mmt_modality_masking <args>`, in this process."""
    return run_family("retrieval", ["train", "--model_type", "mmt_modality_masking", *args])


def test_pretraining_learns_the_asr_query_far_above_chance(tmp_path):
    """The ASR query (80% of the steps) learns first (a prototype of this task reached 42% concept@1 at step 150)."""
    metrics = pretrain(ARGS + ["--output_dir", str(tmp_path / "run"), "--max_steps", "150"])
    assert metrics["asr_concept_R1"] > 10.0  # chance: 1.7%
    assert {"s3d_concept_R1", "vggish_concept_R1", "asr_R1", "mean_concept_R1"} <= set(metrics)
    logged = [json.loads(line) for line in (tmp_path / "run" / "logs" / "metrics.jsonl").read_text().splitlines()]
    losses = [r["train/loss"] for r in logged if "train/loss" in r]
    assert losses[-1] < losses[0]


def test_finetuning_starts_from_the_pretrained_encoder(tmp_path):
    pretrained = tmp_path / "pretrained"
    pretrain(ARGS + ["--output_dir", str(pretrained), "--max_steps", "2"])
    # its evaluation: the model type is read from the checkpoint's config.json
    evaluated = run_family(
        "retrieval",
        ["evaluate", "--model_name_or_path", str(pretrained), "--num_train_clips", "1", "--batch_size", "80"],
    )
    assert {"asr_R1", "s3d_concept_R1", "mean_R1"} <= set(evaluated)
    assert json.loads((pretrained / "eval" / "metrics.json").read_text()) == pytest.approx(evaluated)
    labelled = synthetic_masking_dataset(num_train_clips=0, seed=0)
    import datasets

    data = tmp_path / "labelled"
    datasets.DatasetDict(
        train=labelled["finetune_train"], validation=labelled["finetune_validation"], test=labelled["finetune_test"]
    ).save_to_disk(str(data))
    metrics = train_mmt(
        [
            "--model_name_or_path",
            str(pretrained),
            "--dataset_name",
            str(data),
            "--output_dir",
            str(tmp_path / "ft"),
            "--max_steps",
            "4",
            "--per_device_train_batch_size",
            "16",
            "--eval_steps",
            "2",
            "--select_best_metric",
            "t2v_R5",
            "--disable_tqdm",
        ]
    )
    assert metrics["num_queries_t2v"] == 60  # selected on the validation split
    from transformers import BertConfig, BertModel

    BertModel(
        BertConfig(vocab_size=99, hidden_size=24, num_hidden_layers=1, num_attention_heads=4, intermediate_size=37)
    ).save_pretrained(tmp_path / "bert")
    with pytest.raises(ValueError, match="'bert' model, not 'mmt'"):
        train_mmt(["--model_name_or_path", str(tmp_path / "bert"), "--output_dir", str(tmp_path / "x")])


def test_collator_crops_windows_and_builds_the_asr_query(tmp_path):
    processor = TINY_PROCESSORS["mmt_modality_masking"](tmp_path)
    processor.feature_extractor.expert_feature_sizes = {"s3d": 48, "vggish": 24, "asr": 32}
    processor.feature_extractor.expert_max_tokens = {"asr": 7}
    rows = list(synthetic_masking_dataset(num_train_clips=4, seed=1)["train"].with_format("numpy"))
    rows[1]["asr_text"], rows[1]["asr__features"], rows[1]["asr__times"] = (
        "",
        np.zeros((0, 32), np.float32),
        np.zeros((0, 2), np.float32),
    )
    collator = ModalityMaskingCollator(processor, training=True, asr_query_tokens=3, clip_duration=6.0)
    batch = collator([{**row, "sample_seed": i} for i, row in enumerate(rows)])
    assert batch["asr_query_ids"].shape == (4, 5) and batch["asr_query_attention_mask"][1].sum() == 0
    assert batch["asr_query_attention_mask"][0].sum() == 5  # [CLS] + 3 wordpieces + [SEP]
    assert batch["expert_attention_mask"]["s3d"].sum(1).max() <= 6  # a 6-second window of 1-per-second features
    assert batch["expert_features"]["asr"].shape[1] == 7 and batch["concept"].shape == (4,)
    assert torch.all(batch["expert_times"]["s3d"][batch["expert_attention_mask"]["s3d"].bool()] < 8.0 + 1e-6)
