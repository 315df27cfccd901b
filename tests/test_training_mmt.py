"""End-to-end checks of MMT training and evaluation through the retrieval entry point (`run_retrieval.py`)."""

import json
import os
import socket
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModel, AutoProcessor

from videozoo.recipes import run_family

from .conftest import REPO_ROOT

TRAIN = ["train", "--model_type", "mmt"]
EVALUATE = ["evaluate", "--model_type", "mmt"]
SCRIPT = str(REPO_ROOT / "scripts" / "run_retrieval.py")


def train_mmt(args: list[str]) -> dict[str, float]:
    """`run_retrieval.py train --model_type mmt <args>`, in this process."""
    return run_family("retrieval", TRAIN + args)


SMALL = [
    "--dataset_name",
    "synthetic",
    "--num_train_videos",
    "48",
    "--num_test_videos",
    "6",
    "--per_device_train_batch_size",
    "8",
    "--per_device_eval_batch_size",
    "5",
    "--learning_rate",
    "5e-4",
    "--max_text_tokens",
    "12",
    "--max_feature_tokens",
    "8",
    "--vocab_size",
    "120",
    "--logging_steps",
    "1",
    "--disable_tqdm",
    "--report_to",
    "jsonl",
]


def two_process_launch() -> list[str]:
    """`accelerate launch` of 2 CPU processes (gloo) meeting on a free port; the script and its arguments follow."""
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2"]
    launch += ["--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
    return launch + ["--main_process_port", str(free_port())]


def free_port() -> int:
    """A free local port for the rendezvous, so that concurrent launches (other tests, other jobs) never clash."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_train_evaluate_reload(tmp_path):
    out = tmp_path / "run"
    metrics = run_family("retrieval", TRAIN + SMALL + ["--output_dir", str(out), "--max_steps", "4"])
    assert {"t2v_R1", "v2t_MedR", "num_queries_t2v"} <= set(metrics) and metrics["num_queries_t2v"] == 36
    assert json.loads((out / "eval_results.json").read_text()) == metrics
    logged = [json.loads(line) for line in (out / "logs" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in logged if "train/loss" in r] == [1, 2, 3, 4]

    model = AutoModel.from_pretrained(out)
    processor = AutoProcessor.from_pretrained(out)
    assert type(model).__name__ == "MMTModel" and type(processor).__name__ == "MMTProcessor"
    evaluated = run_family(
        "retrieval",
        EVALUATE
        + [
            "--model_name_or_path",
            str(out),
            "--dataset_name",
            "synthetic",
            "--num_train_videos",
            "0",
            "--num_test_videos",
            "6",
            "--output_dir",
            str(tmp_path / "eval"),
        ],
    )
    assert evaluated == pytest.approx(metrics)  # same test set, same protocol, reloaded model
    assert (tmp_path / "eval" / "recall_at_k.png").stat().st_size > 1000
    assert json.loads((tmp_path / "eval" / "metrics.json").read_text()) == pytest.approx(evaluated)


def _train_in_fresh_process(args: list[str]) -> None:
    """Each run in its own process, as a real interrupted job is (a per-process state, such as the hash order in
    which a tokenizer trainer numbers its tokens, then shows up)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    completed = subprocess.run(
        [sys.executable, SCRIPT, *TRAIN, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]


def test_resume_from_checkpoint_continues_exactly(tmp_path):
    args = SMALL + [
        "--max_steps",
        "8",
        "--checkpointing_steps",
        "3",
        "--lr_scheduler_type",
        "step",
        "--lr_step_size",
        "2",
        "--lr_gamma",
        "0.5",
    ]
    _train_in_fresh_process(args + ["--output_dir", str(tmp_path / "straight")])
    # an interrupted run: stop after the checkpoint at step 3, then resume from it (mid-epoch: 6 steps per epoch)
    interrupted = tmp_path / "interrupted"
    _train_in_fresh_process(args + ["--output_dir", str(interrupted)])
    for folder in (interrupted / "checkpoints").iterdir():
        if folder.name != "step_3":
            __import__("shutil").rmtree(folder)
    (interrupted / "model.safetensors").unlink()
    _train_in_fresh_process(args + ["--output_dir", str(interrupted), "--resume_from_checkpoint", "latest"])
    # the resumed run tokenises with the processor saved in the checkpoint, not with a vocabulary trained anew
    vocab = json.loads((interrupted / "tokenizer.json").read_text())["model"]["vocab"]
    assert (
        json.loads((interrupted / "checkpoints" / "step_3" / "processor" / "tokenizer.json").read_text())["model"][
            "vocab"
        ]
        == vocab
    )
    assert json.loads((tmp_path / "straight" / "tokenizer.json").read_text())["model"]["vocab"] == vocab
    straight, resumed = (
        load_file(tmp_path / "straight" / "model.safetensors"),
        load_file(interrupted / "model.safetensors"),
    )
    assert straight.keys() == resumed.keys()
    for name in straight:
        assert torch.equal(straight[name], resumed[name]), f"{name} differs after resuming"


def test_resuming_with_another_processor_is_refused(tmp_path):
    from videozoo.processors import MMTProcessor
    from videozoo.training import _check_processor_matches

    def processor(words):
        vocab = tmp_path / f"vocab_{len(words)}.txt"
        vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]) + "\n")
        return MMTProcessor.from_vocab_file(vocab, ["s3d"], {"s3d": 8})

    checkpoint = tmp_path / "step_3"
    processor(["kebe", "gala"]).save_pretrained(checkpoint / "processor")
    _check_processor_matches(processor(["kebe", "gala"]), checkpoint)  # the same processor: accepted
    used = processor(["kebe", "gala"])
    used(text=["kebe gala"])  # calling a tokenizer changes what it saves, not what it does
    _check_processor_matches(used, checkpoint)
    with pytest.raises(ValueError, match="processor differs.*its vocabulary"):
        _check_processor_matches(processor(["gala", "kebe", "bada"]), checkpoint)


def test_resume_without_checkpoint_fails_clearly(tmp_path):
    with pytest.raises(ValueError, match="--resume_from_checkpoint: no checkpoint folder"):
        run_family(
            "retrieval",
            TRAIN
            + SMALL
            + ["--output_dir", str(tmp_path), "--max_steps", "1", "--resume_from_checkpoint", str(tmp_path / "nope")],
        )


def test_two_processes_equal_one_process_on_the_global_batch(tmp_path):
    """2 CPU processes (gloo), each with half of the batch: same loss and gradients as one process on all of it."""
    env = {**os.environ, "ACCELERATE_USE_CPU": "1", "OMP_NUM_THREADS": "1"}
    command = [
        *two_process_launch(),
        str(REPO_ROOT / "tests" / "distributed_mmt.py"),
        str(tmp_path / "result.json"),
        "gated",
    ]
    completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr[-3000:]
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["num_processes"] == 2 and result["distributed_type"] == "DistributedType.MULTI_CPU"
    assert result["loss"] == pytest.approx(result["reference_loss"], abs=1e-6)
    assert result["max_grad_difference"] < 1e-5 * max(1.0, result["max_grad"]) and not result["missing"]


def test_accumulation_and_bf16_autocast(tmp_path):
    out = tmp_path / "run"
    # a process of its own: Accelerate keeps one precision per process, and the other tests train in fp32
    _train_in_fresh_process(
        SMALL
        + [
            "--output_dir",
            str(out),
            "--max_steps",
            "2",
            "--gradient_accumulation_steps",
            "2",
            "--mixed_precision",
            "bf16",
            "--max_grad_norm",
            "1.0",
        ]
    )
    logged = [json.loads(line) for line in (out / "logs" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in logged if "train/loss" in r] == [1, 2]  # optimizer steps, not micro-batches
    weights = load_file(out / "model.safetensors")
    assert all(t.dtype in (torch.float32, torch.int64) and torch.isfinite(t.float()).all() for t in weights.values())


def test_fp16_on_cpu_is_refused(tmp_path):
    with pytest.raises(ValueError, match="fp16"):
        run_family(
            "retrieval",
            TRAIN + SMALL + ["--output_dir", str(tmp_path), "--max_steps", "1", "--mixed_precision", "fp16", "--cpu"],
        )


def test_caption_encoder_from_a_local_bert(tmp_path):
    from transformers import BertConfig, BertModel

    bert = tmp_path / "bert"
    BertModel(
        BertConfig(vocab_size=99, hidden_size=24, num_hidden_layers=1, num_attention_heads=4, intermediate_size=37)
    ).save_pretrained(bert)
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", "then", "sound"] + [f"x{i}" for i in range(91)]
    (bert / "vocab.txt").write_text("\n".join(words) + "\n")
    out = tmp_path / "run"
    run_family(
        "retrieval",
        TRAIN
        + SMALL
        + [
            "--output_dir",
            str(out),
            "--max_steps",
            "1",
            "--text_model_name_or_path",
            str(bert),
            "--learning_rate",
            "0",
        ],
    )
    trained = AutoModel.from_pretrained(out)
    original = BertModel.from_pretrained(bert)
    torch.testing.assert_close(
        trained.text_model.embeddings.word_embeddings.weight, original.embeddings.word_embeddings.weight
    )
    assert len(AutoProcessor.from_pretrained(out).tokenizer) == 99


def test_two_process_training_script_saves_and_evaluates_like_one_process(tmp_path):
    """`accelerate launch` with 2 CPU processes: the global-batch loss trains, evaluation gathers every test video
    once, and the saved model evaluates to the same metrics in a single process."""
    out = tmp_path / "run"
    env = {**os.environ, "ACCELERATE_USE_CPU": "1", "OMP_NUM_THREADS": "1"}
    command = [
        *two_process_launch(),
        SCRIPT,
        *TRAIN,
        *SMALL,
        "--num_test_videos",
        "7",
        "--max_steps",
        "3",
        "--per_device_train_batch_size",
        "4",
        "--output_dir",
        str(out),
    ]
    completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr[-3000:]
    distributed = json.loads((out / "eval_results.json").read_text())
    assert (
        distributed["num_queries_v2t"] == 14 and distributed["num_queries_t2v"] == 42
    )  # 7 videos + twins, 3 captions
    single = run_family(
        "retrieval",
        EVALUATE
        + [
            "--model_name_or_path",
            str(out),
            "--dataset_name",
            "synthetic",
            "--num_train_videos",
            "0",
            "--num_test_videos",
            "7",
            "--output_dir",
            str(tmp_path / "eval"),
        ],
    )
    # same numbers up to float noise: other batch shapes can swap two near-equal scores of this barely trained model,
    # which moves one query across a recall threshold, or a median / mean rank by at most one
    assert single.keys() == distributed.keys()
    for name, value in single.items():
        assert abs(value - distributed[name]) <= (100 / 14 if "_R" in name and "MeanR" not in name else 1.0), name
