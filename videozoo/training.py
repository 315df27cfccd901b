"""The shared training loop: Accelerate over `datasets`, for every videozoo architecture.

A training script builds a model, a processor, datasets and a *task* (what differs between task families: the
loss over the global batch and the evaluation), then calls `fit`. `fit` owns everything else: devices, mixed
precision, gradient accumulation, clipping, the learning-rate schedule, progress bar, tracker logging,
`save_state` checkpoints with exact resumption, the final `save_pretrained`, and the optional push to the Hub.

Run it with `accelerate launch scripts/run_<family>.py train --model_type <type> ...` (or plain `python`). On
CPUs, several processes need `accelerate launch --multi_gpu --num_processes N --num_machines 1 --mixed_precision no
--dynamo_backend no` and `--cpu` (or `ACCELERATE_USE_CPU=1`); they then talk over gloo.

Exact resumption: random augmentation in collators must draw from the per-sample seed that `fit` adds to every
training row (`row["sample_seed"]`, a function of the run seed, the epoch and the row index), never from a global
random state. Together with the restored model/optimizer/scheduler/RNG state and the seeded sampler, a run
resumed from a checkpoint ends with the same weights as an uninterrupted one. Checkpoints also hold the processor
the weights were trained with; a script resuming a run takes it from there (`processor_for_resume`), and `fit`
refuses a processor that differs from it.

Arguments are checked before anything else happens (`TrainerArguments.validate`, which every training script
runs together with its own checks before it loads a model or data): a command that cannot succeed fails at once.

Crash safety (see docs/training.md): a checkpoint is written into a hidden `checkpoints/.step_N.partial` folder
and renamed to `checkpoints/step_N` only once complete, so `--resume_from_checkpoint latest` takes the newest
*complete* checkpoint whatever killed an earlier run; `--save_total_limit` keeps the newest N. The final model
is written into a hidden staging folder and moved into `output_dir` only after everything in it was written, so
a run that fails leaves the model of an earlier run in `output_dir` as it was.
"""

import json
import logging
import math
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import torch
from accelerate import Accelerator, DataLoaderConfiguration, DistributedDataParallelKwargs
from accelerate.tracking import GeneralTracker, get_available_trackers
from accelerate.utils import LoggerType, ProjectConfiguration, set_seed
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm
from transformers import get_scheduler

from .arguments import output_folder_problem, positive_problem, raise_if_any
from .outputs import FINAL_STAGING, PARTIAL_SUFFIX, move_in

logger = logging.getLogger(__name__)

CHECKPOINT_PREFIX = "step_"
CHECKPOINT_STATE = "trainer_state.json"  # written last into a checkpoint
PROCESSOR_FOLDER = "processor"


@dataclass
class TrainerArguments:
    """Arguments of the training loop, shared by every training command (`run_<family>.py train`)."""

    output_dir: str = field(default="runs/default", metadata={"help": "Where checkpoints and the model go."})
    learning_rate: float = 5e-5
    weight_decay: float = 0.0
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_epsilon: float = 1e-8
    num_train_epochs: int = 1
    max_steps: int = field(default=-1, metadata={"help": "Optimizer steps to run; overrides the epochs if > 0."})
    per_device_train_batch_size: int = 32
    per_device_eval_batch_size: int = 64
    gradient_accumulation_steps: int = 1
    max_grad_norm: float = field(default=0.0, metadata={"help": "Clip the gradient norm to this; 0 disables."})
    lr_scheduler_type: Literal["constant", "step", "linear", "cosine"] = "constant"
    lr_step_size: int = field(default=1000, metadata={"help": "'step' schedule: multiply by lr_gamma every N steps."})
    lr_gamma: float = 1.0
    warmup_steps: int = 0
    mixed_precision: Literal["no", "bf16", "fp16"] = "no"
    seed: int = 0
    logging_steps: int = 10
    eval_steps: int = field(default=0, metadata={"help": "Evaluate every N optimizer steps; 0: only at the end."})
    checkpointing_steps: int = field(default=0, metadata={"help": "save_state every N optimizer steps; 0: never."})
    save_total_limit: int | None = field(
        default=None, metadata={"help": "Keep only the newest N checkpoints in output_dir/checkpoints; None: all."}
    )
    resume_from_checkpoint: str | None = field(
        default=None,
        metadata={"help": "A checkpoint folder written by save_state, or 'latest' (the newest complete one)."},
    )
    report_to: str = field(
        default="jsonl",
        metadata={
            "help": "Comma-separated trackers: 'jsonl' (output_dir/logs/metrics.jsonl), any Accelerate tracker "
            "that is installed (e.g. 'tensorboard'), 'all' (jsonl and every installed one) or 'none'."
        },
    )
    dataloader_num_workers: int = 0
    cpu: bool = field(default=False, metadata={"help": "Train on the CPU even when an accelerator is present."})
    push_to_hub: bool = False
    hub_model_id: str | None = None
    disable_tqdm: bool = False
    select_best_metric: str | None = field(
        default=None,
        metadata={"help": "Keep the weights of the evaluation (every eval_steps) with the best value of this metric."},
    )
    greater_is_better: bool = True
    sync_batch_norm: bool = field(
        default=True, metadata={"help": "Several GPU processes: batch-norm statistics over the global batch."}
    )
    torch_compile: bool = field(
        default=False,
        metadata={
            "help": "Compile the model's forward with torch.compile (Module.compile: the saved weights keep their "
            "names). Speed-up, compile time and loss against eager per model: docs/benchmarks.md."
        },
    )
    channels_last: bool = field(
        default=False,
        metadata={"help": "Convolution weights in channels-last memory format (docs/benchmarks.md)."},
    )

    def problems(self) -> list[str]:
        """Every problem of these arguments, each naming its argument (empty when they can run)."""
        found = [
            output_folder_problem("--output_dir", self.output_dir),
            positive_problem("--learning_rate", self.learning_rate, allow_zero=True),
            positive_problem("--weight_decay", self.weight_decay, allow_zero=True),
            positive_problem("--adam_epsilon", self.adam_epsilon),
            positive_problem("--per_device_train_batch_size", self.per_device_train_batch_size),
            positive_problem("--per_device_eval_batch_size", self.per_device_eval_batch_size),
            positive_problem("--gradient_accumulation_steps", self.gradient_accumulation_steps),
            positive_problem("--max_grad_norm", self.max_grad_norm, allow_zero=True),
            positive_problem("--warmup_steps", self.warmup_steps, allow_zero=True),
            positive_problem("--logging_steps", self.logging_steps),
            positive_problem("--eval_steps", self.eval_steps, allow_zero=True),
            positive_problem("--checkpointing_steps", self.checkpointing_steps, allow_zero=True),
            positive_problem("--save_total_limit", self.save_total_limit),
            positive_problem("--dataloader_num_workers", self.dataloader_num_workers, allow_zero=True),
        ]
        for flag, beta in (("--adam_beta1", self.adam_beta1), ("--adam_beta2", self.adam_beta2)):
            if not 0.0 <= beta < 1.0:
                found.append(f"{flag} must be in [0, 1) (got {beta})")
        # 0 epochs is allowed: evaluate and save the model as it starts (an untrained baseline)
        found.append(positive_problem("--num_train_epochs", self.num_train_epochs, allow_zero=True))
        if self.lr_scheduler_type == "step":
            found.append(positive_problem("--lr_step_size", self.lr_step_size))
            found.append(positive_problem("--lr_gamma", self.lr_gamma))
        if self.push_to_hub and not self.hub_model_id:
            found.append("--push_to_hub needs --hub_model_id (the Hub repository to push to)")
        if self.mixed_precision == "fp16" and _trains_on_cpu(self):
            found.append(
                "--mixed_precision fp16 is not supported on the CPU (it would silently run in fp32); use bf16"
            )
        if self.resume_from_checkpoint not in (None, "latest"):
            path = Path(self.resume_from_checkpoint)
            if not path.is_dir():
                found.append(f"--resume_from_checkpoint: no checkpoint folder at {path}")
            elif not _is_complete(path) and not re.search(rf"{CHECKPOINT_PREFIX}\d+$", path.name):
                found.append(f"--resume_from_checkpoint: {path} has no {CHECKPOINT_STATE} (an interrupted save?)")
        try:
            self.trackers()
        except ValueError as error:
            found.append(str(error))
        return [p for p in found if p]

    def validate(self) -> None:
        """Raise a `ValueError` naming every problem of these arguments (see `problems`)."""
        raise_if_any(self.problems())

    def trackers(self) -> list:
        """The trackers `--report_to` asks for, for `Accelerator(log_with=...)` (JSONL as a `JSONLTracker`)."""
        names = [n.strip() for n in self.report_to.split(",") if n.strip()]
        if not names or names == ["none"]:
            return []
        if "none" in names:
            raise ValueError(f"--report_to: 'none' cannot be combined with other trackers ({self.report_to!r})")
        installed = [str(t.value) if isinstance(t, LoggerType) else str(t) for t in get_available_trackers()]
        chosen = []
        for name in names:
            if name == "all":
                chosen += ["jsonl", *installed]
            elif name == "jsonl" or name in installed:
                chosen.append(name)
            elif name in {t.value for t in LoggerType}:
                raise ValueError(
                    f"--report_to: the {name!r} tracker is not installed (installed: {['jsonl', *installed]})"
                )
            else:
                raise ValueError(f"--report_to: unknown tracker {name!r} (known: jsonl, all, none, {installed})")
        chosen = list(dict.fromkeys(chosen))
        logs = Path(self.output_dir) / "logs"
        return [JSONLTracker(logs) if name == "jsonl" else name for name in chosen]


def _trains_on_cpu(args: TrainerArguments) -> bool:
    """Whether Accelerate will put this run on the CPU (its rule: `cpu`, ACCELERATE_USE_CPU, or no accelerator)."""
    from accelerate.utils import parse_flag_from_env

    return args.cpu or parse_flag_from_env("ACCELERATE_USE_CPU") or not torch.accelerator.is_available()


class Task(Protocol):
    """What a task family supplies to `fit`. A task with a `current_step` attribute gets the index of the
    current batch (counted over the whole run, resumption included) before each `training_loss` call.

    Networks trained beside the model with their own optimizer (a GAN's discriminator): a task with
    `auxiliary_parts(model) -> [(module, optimizer), ...]` gets them prepared with the model (so checkpoints carry
    their weights and optimizer states and a resumed run continues them exactly), handed back as
    `task.auxiliary` before training. After each step of the model's optimizer (before it, when the task's
    `auxiliary_first` is true), `auxiliary_loss(model, part, batch)` gives part `part`'s loss (or None to skip it at
    this batch), which is back-propagated (gradients clipped like the model's) into that part's optimizer alone.
    The final model is the main model only."""

    def training_loss(self, model: torch.nn.Module, batch: dict[str, Any]) -> torch.Tensor:
        """The loss of one batch, over the *global* batch when several processes train (gather with gradients)."""

    def evaluate(self, model: torch.nn.Module, dataloader: DataLoader, accelerator: Accelerator) -> dict[str, float]:
        """Metrics over the whole evaluation set (use `accelerator.gather_for_metrics`); same dict on every process."""


class JSONLTracker(GeneralTracker):
    """Offline tracker: one JSON object per `log` call in `<output_dir>/logs/metrics.jsonl`."""

    name = "jsonl"
    requires_logging_directory = True

    def __init__(self, logging_dir: str | Path):
        super().__init__()
        self.path = Path(logging_dir) / "metrics.jsonl"

    @property
    def tracker(self):
        return self.path

    def store_init_configuration(self, values: dict):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        (self.path.parent / "config.json").write_text(json.dumps(values, indent=2, default=str))

    def log(self, values: dict, step: int | None = None, **kwargs):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as handle:
            handle.write(json.dumps({"step": step, **values}) + "\n")


class SeededDataset(Dataset):
    """Adds `sample_seed` (a function of run seed, epoch and row index) to every row of a map-style dataset."""

    def __init__(self, dataset, seed: int):
        self.dataset = dataset
        self.seed = seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.dataset)

    def _seed(self, index: int) -> int:
        return (self.seed * 1_000_003 + self.epoch) * 10_000_019 + int(index)

    def __getitem__(self, index: int) -> dict:
        return {**self.dataset[index], "sample_seed": self._seed(index)}

    def __getitems__(self, indices: list[int]) -> list[dict]:
        if hasattr(self.dataset, "__getitems__"):
            rows = self.dataset.__getitems__(indices)
        else:
            rows = [self.dataset[i] for i in indices]
        return [{**row, "sample_seed": self._seed(i)} for row, i in zip(rows, indices)]


def _build_scheduler(optimizer: torch.optim.Optimizer, args: TrainerArguments, total_steps: int):
    """`transformers.get_scheduler` for the standard schedules (linear warm-up over `warmup_steps` first, the
    step index counting optimizer steps). 'step' has no transformers equivalent: the learning rate times
    `lr_gamma ** (step // lr_step_size)`, counted from step 0 (MMT's and modality masking's decay,
    Gabeur et al. 2020 Sec. 4.1), after the same linear warm-up; a `LambdaLR`."""
    if args.lr_scheduler_type == "step":

        def factor(step: int) -> float:
            if step < args.warmup_steps:
                return step / args.warmup_steps
            return args.lr_gamma ** (step // args.lr_step_size)

        return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    name = "constant_with_warmup" if args.lr_scheduler_type == "constant" else args.lr_scheduler_type
    return get_scheduler(name, optimizer, num_warmup_steps=args.warmup_steps, num_training_steps=total_steps)


def to_channels_last(model: torch.nn.Module) -> torch.nn.Module:
    """Every 2-d / 3-d convolution's weight in channels-last memory format (`torch.channels_last` /
    `torch.channels_last_3d`), in place; the activations follow the weights' format. Returns `model`."""
    for module in model.modules():
        if isinstance(module, torch.nn.Conv2d):
            module.to(memory_format=torch.channels_last)
        elif isinstance(module, torch.nn.Conv3d):
            module.to(memory_format=torch.channels_last_3d)
    return model


def _param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        (no_decay if param.ndim < 2 or "norm" in name.lower() else decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def _is_complete(folder: Path) -> bool:
    return (folder / CHECKPOINT_STATE).is_file()


def complete_checkpoints(output_dir: str | Path) -> list[Path]:
    """The complete `save_state` folders of `output_dir/checkpoints`, oldest first. A folder a crash left half
    written is not among them: it is either still named `.step_N.partial`, or (written by an earlier version of
    this loop, which wrote in place) has no trainer_state.json."""
    folders = []
    for path in (Path(output_dir) / "checkpoints").glob(f"{CHECKPOINT_PREFIX}*"):
        match = re.fullmatch(rf"{CHECKPOINT_PREFIX}(\d+)", path.name)
        if match and path.is_dir():
            if _is_complete(path):
                folders.append((int(match.group(1)), path))
            else:
                logger.warning("skipping %s: it has no %s (an interrupted save)", path, CHECKPOINT_STATE)
    return [path for _, path in sorted(folders)]


def checkpoint_to_resume(args: TrainerArguments) -> Path | None:
    """The `save_state` folder `args.resume_from_checkpoint` names ('latest': the newest complete one in
    `output_dir`, None if there is none yet), or None."""
    if args.resume_from_checkpoint is None:
        return None
    if args.resume_from_checkpoint != "latest":
        path = Path(args.resume_from_checkpoint)
        if not path.is_dir():
            raise FileNotFoundError(f"--resume_from_checkpoint: no checkpoint folder at {path}")
        return path
    folders = complete_checkpoints(args.output_dir)
    return folders[-1] if folders else None


def processor_for_resume(args: TrainerArguments, processor):
    """The processor a resumed run must use: the one saved in the checkpoint it resumes from (a vocabulary trained
    anew could number its tokens differently), else `processor` itself."""
    checkpoint = checkpoint_to_resume(args)
    if checkpoint is None or not (checkpoint / PROCESSOR_FOLDER).is_dir():
        return processor
    return type(processor).from_pretrained(checkpoint / PROCESSOR_FOLDER)


def _check_processor_matches(processor, checkpoint: Path) -> None:
    saved_folder = checkpoint / PROCESSOR_FOLDER
    if processor is None or not saved_folder.is_dir():
        return
    saved = type(processor).from_pretrained(saved_folder)
    differing = [
        name
        for name, (a, b) in {
            "settings": (processor.to_dict(), saved.to_dict()),
            "vocabulary": (_vocabulary(processor), _vocabulary(saved)),
        }.items()
        if a != b
    ]
    if differing:
        raise ValueError(
            f"the processor differs from the one {checkpoint} was trained with (its {' and '.join(differing)}); "
            "resume with the checkpoint's processor (videozoo.training.processor_for_resume)"
        )


def _vocabulary(processor) -> dict | None:
    tokenizer = getattr(processor, "tokenizer", None)
    return None if tokenizer is None else tokenizer.get_vocab()


def _steps_done(checkpoint: Path) -> int:
    state = checkpoint / CHECKPOINT_STATE
    if state.is_file():
        return int(json.loads(state.read_text())["completed_steps"])
    match = re.search(rf"{CHECKPOINT_PREFIX}(\d+)$", checkpoint.name)
    if not match:
        raise ValueError(f"{checkpoint} has no trainer_state.json and no step number in its name")
    return int(match.group(1))


def fit(
    model: torch.nn.Module,
    task: Task,
    train_dataset,
    args: TrainerArguments,
    collate_fn: Callable[[list[dict]], dict] | None = None,
    eval_dataset=None,
    eval_collate_fn: Callable[[list[dict]], dict] | None = None,
    processor=None,
    optimizer: torch.optim.Optimizer | None = None,
    hparams: dict | None = None,
) -> dict[str, float]:
    """Train `model` on `train_dataset` with `task`, evaluate, save, and return the final evaluation metrics.

    Args:
        model: a `PreTrainedModel`; it is saved with `save_pretrained` in `args.output_dir` at the end.
        task: supplies `training_loss(model, batch)` and `evaluate(model, dataloader, accelerator)`.
        train_dataset: map-style dataset of rows (a `datasets.Dataset` or any `torch` `Dataset`).
        collate_fn: rows -> batch of tensors (training mode); rows carry `sample_seed` for random choices.
        eval_dataset / eval_collate_fn: evaluated every `eval_steps` and at the end (defaults to `collate_fn`).
        processor: saved next to the model when given.
        optimizer: defaults to AdamW with decay / no-decay groups (Adam when `weight_decay` is 0).
        hparams: extra values stored by the tracker and in `training_args.json` (e.g. the script's arguments).
    """
    args.validate()  # the scripts did so before loading anything; callers of `fit` from Python get it here
    output_dir = Path(args.output_dir)
    # Accelerate keeps its state per process: a second `fit` in one process must use the same precision and
    # device (Accelerate raises otherwise); run other settings in a new process.
    accelerator = Accelerator(
        cpu=args.cpu,
        mixed_precision=args.mixed_precision,
        gradient_accumulation_steps=args.gradient_accumulation_steps,
        log_with=args.trackers() or None,
        project_config=ProjectConfiguration(project_dir=str(output_dir), logging_dir=str(output_dir / "logs")),
        dataloader_config=DataLoaderConfiguration(use_seedable_sampler=True),
        kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)],
        step_scheduler_with_optimizer=False,  # the schedule counts optimizer steps, whatever the process count
    )
    set_seed(args.seed)

    seeded_train = SeededDataset(train_dataset, args.seed)
    train_loader = DataLoader(
        seeded_train,
        batch_size=args.per_device_train_batch_size,
        shuffle=True,
        drop_last=True,  # every process must contribute the same batch size to the global-batch loss
        collate_fn=collate_fn,
        num_workers=args.dataloader_num_workers,
        generator=torch.Generator().manual_seed(args.seed),
    )
    if len(train_loader) == 0:
        raise ValueError(
            f"the training set ({len(train_dataset)} rows) is smaller than one batch "
            f"({args.per_device_train_batch_size}); lower per_device_train_batch_size"
        )
    eval_loader = None
    if eval_dataset is not None:
        eval_loader = DataLoader(
            eval_dataset,
            batch_size=args.per_device_eval_batch_size,
            shuffle=False,
            collate_fn=eval_collate_fn or collate_fn,
            num_workers=args.dataloader_num_workers,
        )

    if args.channels_last:
        to_channels_last(model)
    if args.torch_compile:
        model.compile()  # in place: the forward is compiled, the module (and its state-dict names) stay as they are
    if optimizer is None:
        optimizer = torch.optim.AdamW(
            _param_groups(model, args.weight_decay),
            lr=args.learning_rate,
            betas=(args.adam_beta1, args.adam_beta2),
            eps=args.adam_epsilon,
            fused=True,  # one kernel per parameter on CPU and GPU: several times faster than the per-tensor loop
        )
    steps_per_epoch = math.ceil(len(train_loader) / accelerator.num_processes / args.gradient_accumulation_steps)
    total_steps = args.max_steps if args.max_steps > 0 else steps_per_epoch * args.num_train_epochs
    scheduler = _build_scheduler(optimizer, args, total_steps)

    if accelerator.num_processes > 1 and _has_batch_norm(model):
        if args.sync_batch_norm and accelerator.device.type == "cuda":
            model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        else:  # torch's SyncBatchNorm runs on GPUs only
            logger.warning("batch norm uses per-process batch statistics (SyncBatchNorm needs GPUs)")
    auxiliary = list(task.auxiliary_parts(model)) if hasattr(task, "auxiliary_parts") else []
    model, optimizer, train_loader, scheduler, *prepared = accelerator.prepare(
        model, optimizer, train_loader, scheduler, *[part for pair in auxiliary for part in pair]
    )
    if auxiliary:
        task.auxiliary = [(prepared[2 * i], prepared[2 * i + 1]) for i in range(len(auxiliary))]
        for module, _ in task.auxiliary:
            module.train()
    if eval_loader is not None:
        eval_loader = accelerator.prepare(eval_loader)
    steps_per_epoch = math.ceil(len(train_loader) / args.gradient_accumulation_steps)
    num_epochs = math.ceil(total_steps / steps_per_epoch)

    config = {**asdict(args), **(hparams or {})}
    accelerator.init_trackers("videozoo", config={k: v for k, v in config.items() if _loggable(v)})

    completed_steps, start_epoch, skip_batches = 0, 0, 0
    best: tuple[float, dict] | None = None
    checkpoint = checkpoint_to_resume(args)
    if checkpoint is not None:
        _check_processor_matches(processor, checkpoint)
        accelerator.load_state(str(checkpoint))
        completed_steps = _steps_done(checkpoint)
        start_epoch = completed_steps // steps_per_epoch
        skip_batches = (completed_steps % steps_per_epoch) * args.gradient_accumulation_steps
        accelerator.print(f"Resumed from {checkpoint} at step {completed_steps}")

    metrics: dict[str, float] = {}
    progress = tqdm(
        total=total_steps,
        initial=completed_steps,
        disable=args.disable_tqdm or not accelerator.is_local_main_process,
        desc="train",
    )
    model.train()
    for epoch in range(start_epoch, num_epochs):
        seeded_train.epoch = epoch
        train_loader.set_epoch(epoch)
        loader = train_loader
        if epoch == start_epoch and skip_batches:
            loader = accelerator.skip_first_batches(train_loader, skip_batches)
        for index, batch in enumerate(loader):
            if hasattr(task, "current_step"):
                task.current_step = epoch * len(train_loader) + index + (skip_batches if epoch == start_epoch else 0)
            with accelerator.accumulate(model):
                if auxiliary and getattr(task, "auxiliary_first", False):
                    _auxiliary_steps(task, model, batch, accelerator, args.max_grad_norm)
                loss = task.training_loss(model, batch)
                if not torch.isfinite(loss):
                    raise FloatingPointError(f"the training loss is {loss.item()} at step {completed_steps}")
                accelerator.backward(loss)
                if accelerator.sync_gradients and args.max_grad_norm > 0:
                    accelerator.clip_grad_norm_(model.parameters(), args.max_grad_norm)
                optimizer.step()
                if accelerator.sync_gradients:
                    scheduler.step()
                optimizer.zero_grad()
                if auxiliary and not getattr(task, "auxiliary_first", False):
                    _auxiliary_steps(task, model, batch, accelerator, args.max_grad_norm)
            if not accelerator.sync_gradients:
                continue
            completed_steps += 1
            progress.update(1)
            if completed_steps % args.logging_steps == 0 or completed_steps == total_steps:
                logged = {
                    "train/loss": accelerator.reduce(loss.detach(), "mean").item(),
                    "train/lr": scheduler.get_last_lr()[0],
                }
                progress.set_postfix(loss=f"{logged['train/loss']:.4f}")
                accelerator.log(logged, step=completed_steps)
            if args.checkpointing_steps and completed_steps % args.checkpointing_steps == 0:
                _save_checkpoint(accelerator, output_dir, completed_steps, processor, args.save_total_limit)
            if eval_loader is not None and args.eval_steps and completed_steps % args.eval_steps == 0:
                metrics = _evaluate(task, model, eval_loader, accelerator, completed_steps)
                best = _keep_if_best(best, metrics, args, accelerator, model, completed_steps)
            if completed_steps >= total_steps:
                break
        if completed_steps >= total_steps:
            break
    progress.close()

    if eval_loader is not None and not (args.eval_steps and completed_steps % args.eval_steps == 0):
        metrics = _evaluate(task, model, eval_loader, accelerator, completed_steps)
        best = _keep_if_best(best, metrics, args, accelerator, model, completed_steps)
    if best is not None:  # validation-based model selection
        metrics = best[1]["metrics"]
        accelerator.unwrap_model(model).load_state_dict(best[1]["state_dict"])
        accelerator.print(f"kept the weights of step {best[1]['step']} ({args.select_best_metric} = {best[0]:.4f})")

    _save_final_model(accelerator, model, output_dir, processor, config, metrics)
    if accelerator.is_main_process and args.push_to_hub:
        from .hub import push_checkpoint

        eval_path = output_dir / "eval_results.json"
        push_checkpoint(output_dir, repo_id=args.hub_model_id, eval_results=eval_path if metrics else None)
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return metrics


def _auxiliary_steps(task, model, batch: dict, accelerator: Accelerator, max_grad_norm: float) -> None:
    """One step of each of the task's auxiliary parts (see `Task`)."""
    for part, (module, part_optimizer) in enumerate(task.auxiliary):
        part_optimizer.zero_grad()  # the model's loss may have reached this part too
        part_loss = task.auxiliary_loss(model, part, batch)
        if part_loss is None:
            continue
        accelerator.backward(part_loss)
        if accelerator.sync_gradients and max_grad_norm > 0:
            accelerator.clip_grad_norm_(module.parameters(), max_grad_norm)
        part_optimizer.step()
        part_optimizer.zero_grad()


def _save_final_model(accelerator: Accelerator, model, output_dir: Path, processor, config: dict, metrics: dict):
    """Write the model, processor, training arguments and metrics into a staging folder, then move them into
    `output_dir` (see `videozoo.outputs.move_in`): until everything is written, `output_dir` keeps what it held."""
    staging = output_dir / FINAL_STAGING
    if accelerator.is_main_process:
        shutil.rmtree(staging, ignore_errors=True)  # left by a run killed while saving
        staging.mkdir(parents=True)
    accelerator.wait_for_everyone()
    try:
        accelerator.unwrap_model(model).save_pretrained(
            staging, is_main_process=accelerator.is_main_process, state_dict=accelerator.get_state_dict(model)
        )
        if accelerator.is_main_process:
            if processor is not None:
                processor.save_pretrained(staging)
            (staging / "training_args.json").write_text(json.dumps(config, indent=2, default=str))
            if metrics:
                (staging / "eval_results.json").write_text(json.dumps(metrics, indent=2))
    except BaseException:
        if accelerator.is_main_process:
            shutil.rmtree(staging, ignore_errors=True)
        raise
    # every process is done with the staging folder (`save_pretrained` lists it on every rank) before it moves
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        move_in(staging, output_dir)
    accelerator.wait_for_everyone()


def _keep_if_best(best, metrics: dict, args: TrainerArguments, accelerator: Accelerator, model, step: int):
    if not args.select_best_metric:
        return best
    if args.select_best_metric not in metrics:
        raise KeyError(f"select_best_metric {args.select_best_metric!r} is not among the metrics {sorted(metrics)}")
    value = metrics[args.select_best_metric]
    if best is not None and (value <= best[0] if args.greater_is_better else value >= best[0]):
        return best
    state = {k: v.detach().cpu().clone() for k, v in accelerator.unwrap_model(model).state_dict().items()}
    return value, {"metrics": dict(metrics), "state_dict": state, "step": step}


def _has_batch_norm(model: torch.nn.Module) -> bool:
    return any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules())


def _loggable(value) -> bool:
    return value is None or isinstance(value, (bool, int, float, str))


def _save_checkpoint(
    accelerator: Accelerator, output_dir: Path, completed_steps: int, processor=None, total_limit: int | None = None
) -> None:
    """`save_state` into `checkpoints/.step_N.partial`, then (complete, trainer_state.json last) rename it to
    `checkpoints/step_N`; with `total_limit`, delete the oldest complete checkpoints beyond it."""
    final = output_dir / "checkpoints" / f"{CHECKPOINT_PREFIX}{completed_steps}"
    partial = final.with_name(f".{final.name}{PARTIAL_SUFFIX}")
    if accelerator.is_main_process:
        shutil.rmtree(partial, ignore_errors=True)  # left by a run killed while saving this step
    accelerator.wait_for_everyone()
    accelerator.save_state(str(partial))  # every process writes its random states into it
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        if processor is not None:  # what the weights were trained with: a resumed run must tokenise the same way
            processor.save_pretrained(partial / PROCESSOR_FOLDER)
        (partial / CHECKPOINT_STATE).write_text(json.dumps({"completed_steps": completed_steps}))
        if final.exists():  # a checkpoint of this step from a run resumed from an earlier one
            replaced = final.with_name(f".{final.name}.replaced")
            shutil.rmtree(replaced, ignore_errors=True)
            os.replace(final, replaced)
            os.replace(partial, final)
            shutil.rmtree(replaced)
        else:
            os.replace(partial, final)
        if total_limit:  # the newest by step number, and always the one just written
            others = [c for c in complete_checkpoints(output_dir) if c != final]
            for old in others[: max(0, len(others) - (total_limit - 1))]:
                shutil.rmtree(old)
    accelerator.wait_for_everyone()


def _evaluate(task: Task, model, eval_loader, accelerator: Accelerator, step: int) -> dict[str, float]:
    model.eval()
    with torch.no_grad():
        metrics = task.evaluate(model, eval_loader, accelerator)
    model.train()
    accelerator.log({f"eval/{k}": v for k, v in metrics.items()}, step=step)
    return metrics
