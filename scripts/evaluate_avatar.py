"""Evaluate AVATAR checkpoints: corpus WER (metric module `videozoo/metrics/avatar_wer`) per test condition, and a
plot of WER against the SNR of the added noise. Several checkpoints (e.g. audio-visual and audio-only) are scored on
the same corrupted inputs and drawn on the same plot.

    python scripts/evaluate_avatar.py --model_name_or_path runs/avatar-synthetic-av runs/avatar-synthetic-a \
        --dataset_name synthetic --output_dir runs/avatar-synthetic-eval

    python scripts/evaluate_avatar.py --model_name_or_path runs/avatar-how2 --dataset_name how2 --data_dir how2/data \
        --video_dir how2/video --split dev5 --noise_bank audioset_noise.npy

Conditions (`--conditions`, comma-separated; see `videozoo.data.avatar.parse_condition`): `clean`,
`noise@<dB>dB` (environment noise from `--noise_bank`, a `[n_clips, n_samples]` .npy at 16 kHz; the synthetic task
uses its own babble bank), `burst@<max_rate>`, `mixed@<dB>dB,<max_rate>`, `masked_words` (content words of the
alignment silenced), `masked_shuffled_frames`, `masked_zeroed_frames`, `shuffled_frames`, `zeroed_frames`.
Defaults: the reference's levels for real data (burst 0.1 / 0.2 / 0.3, SNR 1, 1/2, 1/3 = 0, -3, -4.8 dB, mixed
pairs, random frames); for the synthetic task also the masked-word conditions and a wider SNR sweep.
Writes `metrics.json` (model -> condition -> metrics) and `wer_vs_snr.png` in `--output_dir`.
"""

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from accelerate import Accelerator
from torch.utils.data import DataLoader
from transformers import AutoModelForSpeechSeq2Seq, AutoProcessor, HfArgumentParser

import videozoo  # noqa: F401
from videozoo.arguments import (
    checkpoint_problem,
    dataset_problem,
    file_problem,
    folder_problem,
    output_folder_problem,
    positive_problem,
    raise_if_any,
)
from videozoo.data.avatar import (
    AvatarCollator,
    load_how2_split,
    load_visspeech,
    parse_condition,
    synthetic_avatar_dataset,
    synthetic_noise_bank,
)
from videozoo.tasks.avatar import AvatarSpeechRecognitionTask

REAL_CONDITIONS = (
    "clean,burst@0.1,burst@0.2,burst@0.3,noise@0dB,noise@-3dB,noise@-4.8dB,mixed@0dB,0.1,mixed@-3dB,0.2,"
    "mixed@-4.8dB,0.3,shuffled_frames"
)
SYNTHETIC_CONDITIONS = (
    "clean,masked_words,masked_shuffled_frames,masked_zeroed_frames,burst@0.1,burst@0.3,"
    "noise@10dB,noise@5dB,noise@0dB,noise@-5dB,noise@-10dB,noise@-15dB"
)


@dataclass
class EvaluationArguments:
    model_name_or_path: list[str] = field(metadata={"help": "One or more AVATAR checkpoints."})
    dataset_name: str = field(
        default="synthetic", metadata={"help": "'synthetic', 'how2', 'visspeech' or a save_to_disk folder."}
    )
    data_dir: str | None = None
    video_dir: str | None = None
    split: str = "dev5"
    visspeech_csv: str | None = None
    num_test_clips: int = field(
        default=512, metadata={"help": "Synthetic test clips (held out: another seed than training)."}
    )
    noise_bank: str | None = field(default=None, metadata={"help": ".npy [n_clips, n_samples] of 16 kHz noise."})
    conditions: str | None = None
    decoding: str = field(default="beam", metadata={"help": "'beam' (the reference, 4 beams, alpha 0.6) or 'greedy'."})
    batch_size: int = 64
    output_dir: str = field(default="", metadata={"help": "Default: <first model>/eval."})


def _split_conditions(text: str) -> list[str]:
    """Comma-separated names; the comma inside `mixed@<dB>dB,<rate>` belongs to the name."""
    return [c for c in re.split(r",(?![0-9.]+(?:,|$))", text) if c]


def argument_problems(args: EvaluationArguments, conditions: list[str]) -> list[str | None]:
    """What is wrong with these arguments, found before anything is loaded."""
    found = [checkpoint_problem("--model_name_or_path", path, ("avatar",)) for path in args.model_name_or_path]
    if not args.model_name_or_path:
        found.append("--model_name_or_path is required")
    found += [
        dataset_problem("--dataset_name", args.dataset_name, ("synthetic", "how2", "visspeech")),
        file_problem("--noise_bank", args.noise_bank),
        positive_problem("--num_test_clips", args.num_test_clips),
        positive_problem("--batch_size", args.batch_size),
        output_folder_problem("--output_dir", args.output_dir) if args.output_dir else None,
    ]
    if args.decoding not in ("beam", "greedy"):
        found.append(f"--decoding must be 'beam' or 'greedy' (got {args.decoding!r})")
    if args.dataset_name == "how2":
        found += [
            folder_problem("--data_dir", args.data_dir, required=True),
            folder_problem("--video_dir", args.video_dir, required=True),
        ]
    if args.dataset_name == "visspeech":
        found += [
            file_problem("--visspeech_csv", args.visspeech_csv, required=True),
            folder_problem("--video_dir", args.video_dir, required=True),
        ]
    kinds = []
    for name in conditions:
        try:
            kinds.append(parse_condition(name)["kind"])
        except ValueError as error:
            found.append(f"--conditions: {error}")
    if not args.noise_bank and args.dataset_name != "synthetic" and {"noise", "mixed"} & set(kinds):
        found.append("--conditions: noise conditions need --noise_bank (a [n_clips, n_samples] .npy of 16 kHz noise)")
    return found


def load_test_split(args: EvaluationArguments):
    if args.dataset_name == "synthetic":
        return synthetic_avatar_dataset(0, args.num_test_clips)["test"].with_format("numpy")
    if args.dataset_name == "how2":
        return load_how2_split(args.data_dir, args.split, args.video_dir)
    if args.dataset_name == "visspeech":
        return load_visspeech(args.visspeech_csv, args.video_dir)
    import datasets

    return datasets.load_from_disk(args.dataset_name)["test"].with_format("numpy")


def plot_wer_vs_snr(results: dict, path: Path) -> bool:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 4))
    drawn = False
    for model, conditions in results.items():
        points = sorted(
            (float(name.split("@")[1].removesuffix("dB")), m["wer_percent"])
            for name, m in conditions.items()
            if name.startswith("noise@")
        )
        color = None
        if points:
            (line,) = axis.plot(*zip(*points), marker="o", label=model)
            color, drawn = line.get_color(), True
        if "clean" in conditions:
            axis.axhline(conditions["clean"]["wer_percent"], linestyle=":", color=color)
    axis.set_xlabel("SNR of the added noise (dB)")
    axis.set_ylabel("WER (%)")
    axis.set_title("AVATAR: WER against SNR (dotted: clean)")
    axis.invert_xaxis()
    axis.grid(alpha=0.3)
    if drawn:
        axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return drawn


def main(argv: list[str] | None = None) -> dict:
    (args,) = HfArgumentParser((EvaluationArguments,)).parse_args_into_dataclasses(argv)
    names = _split_conditions(
        args.conditions or (SYNTHETIC_CONDITIONS if args.dataset_name == "synthetic" else REAL_CONDITIONS)
    )
    raise_if_any(argument_problems(args, names))
    split = load_test_split(args)
    conditions = [parse_condition(name) for name in names]
    if args.noise_bank:
        noise_bank = np.load(args.noise_bank).astype(np.float32)
    elif args.dataset_name == "synthetic":
        noise_bank = synthetic_noise_bank()
    else:
        noise_bank = None
        if any(c["kind"] in ("noise", "mixed") for c in conditions):
            raise ValueError("noise conditions need --noise_bank (a [n_clips, n_samples] .npy of 16 kHz noise)")
    accelerator = Accelerator()
    results: dict[str, dict] = {}
    for checkpoint in args.model_name_or_path:
        model = AutoModelForSpeechSeq2Seq.from_pretrained(checkpoint).eval()
        if model.config.model_type != "avatar":
            raise ValueError(f"{checkpoint} is not an AVATAR checkpoint ({model.config.model_type!r})")
        processor = AutoProcessor.from_pretrained(checkpoint)
        model = accelerator.prepare(model)
        use_video = "rgb" in model.config.modalities
        task = AvatarSpeechRecognitionTask(processor, decoding=args.decoding)
        label = f"{Path(checkpoint).name} ({'A+V' if use_video else 'A'})"
        results[label] = {}
        for condition in conditions:
            if not use_video and "frames" in condition["kind"]:
                continue  # frames do not exist for the audio-only model
            collator = AvatarCollator(processor, condition=condition, noise_bank=noise_bank, use_video=use_video)
            loader = accelerator.prepare(DataLoader(split, batch_size=args.batch_size, collate_fn=collator))
            metrics = task.evaluate(model, loader, accelerator)
            results[label][condition["name"]] = metrics
            accelerator.print(
                f"{label:40s} {condition['name']:24s} WER {metrics['wer_percent']:6.2f}%  "
                f"content {100 * metrics['content_wer']:6.2f}%  stop {100 * metrics['stop_wer']:6.2f}%"
            )
    if accelerator.is_main_process:
        output_dir = Path(args.output_dir or Path(args.model_name_or_path[0]) / "eval")
        output_dir.mkdir(parents=True, exist_ok=True)
        (output_dir / "metrics.json").write_text(json.dumps(results, indent=2))
        if plot_wer_vs_snr(results, output_dir / "wer_vs_snr.png"):
            accelerator.print(f"wrote {output_dir / 'metrics.json'} and {output_dir / 'wer_vs_snr.png'}")
    return results


if __name__ == "__main__":
    main()
