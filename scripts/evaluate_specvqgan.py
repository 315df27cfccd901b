"""Evaluate a SpecVQGAN sampler with the paper's protocol (Iashin and Rahtu, BMVC 2021, section 4.2): several
samples per held-out video, decoded by the frozen Stage I, scored by a classifier against the real clip: FID on its
features, MKL on its class distributions (the shipped `melception_fid_mkl` module), for

- `visual`: the video's own features (the model's use), and
- `random`: Gaussian features with the held-out set's per-channel mean and standard deviation (the control: what
  the model produces when the condition carries no information), with the same sampling seed.

A model that uses the condition scores lower FID and MKL, and higher accuracy, with `visual` than with `random`.

    # the synthetic task (after scripts/train_specvqgan.py): the task's own classifier (`SyntheticToneClassifier`,
    # fitted on the training spectrograms) stands in for Melception; adds the class and pitch accuracy
    python scripts/evaluate_specvqgan.py --model_name_or_path runs/synthetic-sampler --dataset_name synthetic

    # the authors' VAS layout with a converted Melception (scripts/convert_melception_original_checkpoint.py)
    python scripts/evaluate_specvqgan.py --model_name_or_path converted-vas-sampler --dataset_name vas \
        --data_dir data/vas --split valid --melception converted-melception --samples_per_video 10 --top_k 64

The reference ranks generated samples against one real spectrogram per video (the authors' `_mel.npy`, centre
cropped to the model's length); Melception's 309 VGGSound classes do not match VAS's 8, so no accuracy is
reported there. Writes `metrics.json` (atomically) to `--output_dir` (default `<model>/eval`).
"""

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from transformers import AutoModel, HfArgumentParser

import videozoo  # noqa: F401
from videozoo.arguments import (
    checkpoint_problem,
    folder_problem,
    output_folder_problem,
    positive_problem,
    raise_if_any,
)
from videozoo.data.specvqgan import SyntheticToneClassifier, collate, list_clips, load_example, make_synthetic_dataset
from videozoo.metrics import load_metric
from videozoo.outputs import staged_output
from videozoo.processors import SpecVQGANProcessor
from videozoo.scripts.train_specvqgan import synthetic_processor

CONDITIONS = ("visual", "random")


@dataclass
class EvaluationArguments:
    model_name_or_path: str = field(default="", metadata={"help": "A trained or converted sampler."})
    dataset_name: Literal["synthetic", "vas", "vggsound"] = "synthetic"
    data_dir: str | None = field(default=None, metadata={"help": "vas / vggsound: the authors' data folder."})
    split: str = field(default="valid", metadata={"help": "The split list <data_dir>/../<dataset_name>_<split>.txt."})
    melception: str | None = field(default=None, metadata={"help": "vas / vggsound: a converted Melception."})
    num_train_examples: int = field(default=16, metadata={"help": "synthetic: rows the classifier is fitted on."})
    num_eval_examples: int = field(default=16, metadata={"help": "synthetic: held-out videos (seed 1 rows)."})
    max_videos: int | None = field(default=None, metadata={"help": "Evaluate the first videos only."})
    samples_per_video: int = field(default=10, metadata={"help": "Samples drawn per video (the paper: 10)."})
    conditions: str = field(default="visual,random", metadata={"help": "Comma-separated: visual, random."})
    top_k: int | None = field(default=None, metadata={"help": "Keep the k largest logits (default: all)."})
    temperature: float = 1.0
    batch_size: int = 32
    seed: int = 0
    output_dir: str = field(default="", metadata={"help": "Where metrics.json goes (default <model>/eval)."})


def argument_problems(args: EvaluationArguments) -> list[str | None]:
    conditions = [c for c in args.conditions.split(",") if c]
    unknown = [c for c in conditions if c not in CONDITIONS]
    problems = [
        checkpoint_problem("--model_name_or_path", args.model_name_or_path, ("specvqgan_sampler",)),
        output_folder_problem("--output_dir", args.output_dir) if args.output_dir else None,
        positive_problem("--samples_per_video", args.samples_per_video),
        positive_problem("--batch_size", args.batch_size),
        positive_problem("--temperature", args.temperature),
        positive_problem("--top_k", args.top_k),
        positive_problem("--max_videos", args.max_videos),
        f"--conditions: unknown condition {unknown[0]!r} (known: {', '.join(CONDITIONS)})" if unknown else None,
        "--conditions is empty" if not conditions else None,
    ]
    if args.dataset_name != "synthetic":
        problems += [
            folder_problem("--data_dir", args.data_dir, required=True),
            checkpoint_problem("--melception", args.melception, ("melception",)),
        ]
    else:
        problems += [
            positive_problem("--num_train_examples", args.num_train_examples),
            positive_problem("--num_eval_examples", args.num_eval_examples),
            "--melception is for --dataset_name vas / vggsound (the synthetic task has its own classifier)"
            if args.melception
            else None,
        ]
    return problems


def random_features(features: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Gaussian features with `features`' per-channel mean and standard deviation (over videos and frames)."""
    flat = features.flatten(0, 1)
    noise = torch.randn(features.shape, generator=generator, dtype=features.dtype)
    return noise * flat.std(0, correction=0) + flat.mean(0)


def generate_samples(model, features: torch.Tensor, args: EvaluationArguments, seed: int) -> torch.Tensor:
    """`samples_per_video` decoded spectrograms per video, `(videos * samples, F, T)` in [-1, 1] (video-major)."""
    repeated = features.repeat_interleave(args.samples_per_video, dim=0)
    torch.manual_seed(seed)
    out = []
    for start in range(0, len(repeated), args.batch_size):
        out.append(
            model.generate(
                repeated[start : start + args.batch_size],
                do_sample=True,
                top_k=args.top_k,
                temperature=args.temperature,
            ).spectrogram
        )
    return torch.cat(out)


def score(outputs, generated01: torch.Tensor, real: tuple[np.ndarray, np.ndarray], samples: int) -> dict:
    """FID and MKL of the generated set against the real clips (one per video) through the metric module."""
    features, logits = outputs(generated01)
    metric = load_metric("melception_fid_mkl")
    per_video = [slice(v * samples, (v + 1) * samples) for v in range(len(real[0]))]
    result = metric.compute(
        predictions=[{"features": features[s].tolist(), "logits": logits[s].tolist()} for s in per_video],
        references=[{"features": f.tolist(), "logits": g.tolist()} for f, g in zip(*real)],
    )
    return {"fid": result["frechet_inception_distance"], "mkl": result["kullback_leibler_divergence"]}, logits


def main(argv: list[str] | None = None) -> dict:
    (args,) = HfArgumentParser(EvaluationArguments).parse_args_into_dataclasses(argv)
    raise_if_any(argument_problems(args))
    model = AutoModel.from_pretrained(args.model_name_or_path).eval()
    if args.dataset_name == "synthetic":
        processor = synthetic_processor()
        train = collate(make_synthetic_dataset(processor, args.num_train_examples, 0.5, seed=0))
        held_out = collate(make_synthetic_dataset(processor, args.num_eval_examples, 0.5, seed=1))
        classifier = SyntheticToneClassifier(processor.post_process(train["input_features"]), train["class_ids"])
        outputs = classifier.outputs
    else:
        from videozoo.metrics.melception_fid_mkl.melception_fid_mkl import melception_outputs

        processor = SpecVQGANProcessor.default(model.config)
        root = Path(args.data_dir)
        split_file = root.parent / f"{args.dataset_name}_{args.split}.txt"
        clips = list_clips(root, split_file if split_file.is_file() else None, layout=args.dataset_name)
        if not clips:
            raise ValueError(f"--data_dir: no complete clip (video, spectrogram, features) under {root}")
        held_out = collate([load_example(clip, processor) for clip in clips[: args.max_videos]])
        melception = AutoModel.from_pretrained(args.melception).eval()

        def outputs(spectrograms01):
            return melception_outputs(melception, spectrograms01, batch_size=args.batch_size)

    if args.max_videos:
        held_out = {key: value[: args.max_videos] for key, value in held_out.items()}
    videos = len(held_out["visual_features"])
    with torch.no_grad():
        reconstruction = model.first_stage_model(held_out["input_features"]).reconstruction
    real01 = processor.post_process(held_out["input_features"])
    real = outputs(real01)
    metrics = {
        "dataset": args.dataset_name,
        "videos": videos,
        "samples_per_video": args.samples_per_video,
        "top_k": args.top_k,
        "temperature": args.temperature,
        "reconstruction/l1": (reconstruction - held_out["input_features"]).abs().mean().item(),
    }
    labels = held_out.get("class_ids") if args.dataset_name == "synthetic" else None
    if labels is not None:
        metrics["reconstruction/class_accuracy"] = float(
            (torch.from_numpy(outputs(processor.post_process(reconstruction))[1]).argmax(1) == labels).float().mean()
        )
        metrics["real/class_accuracy"] = float((torch.from_numpy(real[1]).argmax(1) == labels).float().mean())
    generator = torch.Generator().manual_seed(args.seed)
    for condition in [c for c in args.conditions.split(",") if c]:
        features = held_out["visual_features"]
        if condition == "random":
            features = random_features(features, generator)
        generated01 = processor.post_process(generate_samples(model, features, args, args.seed))
        scores, logits = score(outputs, generated01, real, args.samples_per_video)
        metrics.update({f"{condition}/{key}": value for key, value in scores.items()})
        if labels is not None:
            targets = labels.repeat_interleave(args.samples_per_video)
            predicted = torch.from_numpy(logits).argmax(1)
            metrics[f"{condition}/class_accuracy"] = float((predicted == targets).float().mean())
            metrics[f"{condition}/pitch_accuracy"] = float(
                (classifier.pitch_of(generated01) == targets % 2).float().mean()
            )
    output_dir = Path(args.output_dir or Path(args.model_name_or_path) / "eval")
    with staged_output(output_dir) as staging:
        (staging / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return metrics


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
