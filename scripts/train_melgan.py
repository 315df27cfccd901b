"""Train the MelGAN vocoder of SpecVQGAN through `videozoo.training.fit` (reference `vocoder/scripts/train.py`):
the generator on the model's optimizer, the multi-scale discriminator on its own Adam, the discriminator stepped
first on every batch (`videozoo.tasks.melgan.MelGANVocoderTask`).

    # the synthetic task: 8192-sample segments of the synthetic tones (four pitch / rhythm classes, random phase
    # and amplitude U(0.3, 1.0) as the reference's augmentation) and their 80-band log-mels (32 frames)
    python scripts/train_melgan.py --max_steps 20 --learning_rate 1e-4 --adam_beta1 0.5 --adam_beta2 0.9 \
        --per_device_train_batch_size 4 --output_dir runs/melgan-synthetic

The reference recipe (Adam 1e-4, betas (0.5, 0.9) for both networks, batch 64, VGGSound train clips) needs the
VGGSound audio, which this project does not ship: only the synthetic set is wired here. `--generator_width` sets
ngf (32 is the released size), `--discriminator_width` /
`--discriminator_max_channels` the discriminator (16 / 1024 in the reference).
"""

from dataclasses import dataclass, field

import torch
from transformers import HfArgumentParser

import videozoo  # noqa: F401
from videozoo.arguments import checkpoint_problem, positive_problem, raise_if_any
from videozoo.configuration import MelGANConfig
from videozoo.data.specvqgan import synthetic_tone
from videozoo.modeling import MelGANVocoder
from videozoo.processors import SpecVQGANFeatureExtractor
from videozoo.tasks.melgan import MelGANVocoderTask
from videozoo.training import TrainerArguments, fit

SEGMENT_FRAMES = 32  # 8192 samples, the reference's segment length


@dataclass
class MelGANArguments:
    model_name_or_path: str | None = field(
        default=None, metadata={"help": "A MelGAN checkpoint to fine-tune (a converted or trained vocoder)."}
    )
    num_train_examples: int = field(default=16, metadata={"help": "synthetic training segments."})
    num_eval_examples: int = field(default=4, metadata={"help": "synthetic evaluation segments."})
    generator_width: int = field(default=32, metadata={"help": "ngf (32: the released vocoder)."})
    discriminator_width: int = field(default=16, metadata={"help": "ndf (16: the reference)."})
    discriminator_max_channels: int = field(default=1024, metadata={"help": "channel cap (1024: the reference)."})


def segment_extractor() -> SpecVQGANFeatureExtractor:
    """[0, 1] log-mels of whole segments: no padding to 10 s, the first `SEGMENT_FRAMES` frames."""
    return SpecVQGANFeatureExtractor(pad_to_seconds=None, max_frames=None, crop_frames=None, model_range=False)


def synthetic_segments(count: int, seed: int, extractor, hop_length: int = 256) -> list[dict]:
    """Rows {"input_features" (80, 32), "waveform" (8192,)} of tones of the four synthetic classes."""
    generator = torch.Generator().manual_seed(seed)
    samples = SEGMENT_FRAMES * hop_length
    rows = []
    for index in range(count):
        phase = float(torch.rand((), generator=generator)) * 2 * torch.pi
        amplitude = 0.3 + 0.7 * float(torch.rand((), generator=generator))  # the reference's U(0.3, 1.0)
        wave = amplitude * synthetic_tone(index % 4, samples / extractor.sampling_rate, extractor.sampling_rate, phase)
        mel = extractor(wave, sampling_rate=extractor.sampling_rate)["input_features"][0][:, :SEGMENT_FRAMES]
        rows.append({"input_features": mel, "waveform": wave[:samples]})
    return rows


def collate(rows: list[dict]) -> dict:
    return {key: torch.stack([row[key] for row in rows]) for key in ("input_features", "waveform")}


def main(argv: list[str] | None = None) -> dict[str, float]:
    args, training_args = HfArgumentParser((MelGANArguments, TrainerArguments)).parse_args_into_dataclasses(argv)
    raise_if_any(
        [
            *training_args.problems(),
            checkpoint_problem("--model_name_or_path", args.model_name_or_path, ("melgan",), required=False),
            positive_problem("--num_train_examples", args.num_train_examples),
            positive_problem("--num_eval_examples", args.num_eval_examples),
            positive_problem("--generator_width", args.generator_width),
            positive_problem("--discriminator_width", args.discriminator_width),
            positive_problem("--discriminator_max_channels", args.discriminator_max_channels),
        ]
    )
    extractor = segment_extractor()
    train = synthetic_segments(args.num_train_examples, 0, extractor)
    evaluation = synthetic_segments(args.num_eval_examples, 1, extractor)
    torch.manual_seed(training_args.seed)
    if args.model_name_or_path:  # fine-tuning: the checkpoint's generator (the discriminator starts anew)
        model = MelGANVocoder.from_pretrained(args.model_name_or_path)
        config = model.config
    else:
        config = MelGANConfig(
            generator_width=args.generator_width,
            discriminator_width=args.discriminator_width,
            discriminator_max_channels=args.discriminator_max_channels,
        )
        model = MelGANVocoder(config)
    task = MelGANVocoderTask(config, training_args.learning_rate, (0.5, 0.9), feature_extractor=extractor)
    return fit(model, task, train, training_args, collate_fn=collate, eval_dataset=evaluation, hparams=vars(args))


if __name__ == "__main__":
    print(main())
