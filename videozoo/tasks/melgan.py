"""The MelGAN vocoder's training for `videozoo.training.fit` (reference `vocoder/scripts/train.py` of
v-iashin/SpecVQGAN, after Kumar et al. 2019): the multi-scale discriminator is an auxiliary part with its own Adam,
stepped *before* the generator on every batch (`auxiliary_first`): the discriminator's hinge loss on the real
waveform and a detached generated one, then the generator's adversarial + feature-matching loss against the updated
discriminator, matched to the real feature maps the discriminator gave before its update (as the reference, which
computes them once in its discriminator step).

This module is also the vocoder's recipe of the generation family (`scripts/run_generation.py train --model_type
melgan`; no `evaluate` command: the training evaluation, the log-mel L1 of the generated audio, is its score):

    # the synthetic task: 8192-sample segments of the synthetic tones (four pitch / rhythm classes, random phase
    # and amplitude U(0.3, 1.0) as the reference's augmentation) and their 80-band log-mels (32 frames)
    python scripts/run_generation.py train --model_type melgan --max_steps 20 --learning_rate 1e-4 \
        --adam_beta1 0.5 --adam_beta2 0.9 --per_device_train_batch_size 4 --output_dir runs/melgan-synthetic

The reference recipe (Adam 1e-4, betas (0.5, 0.9) for both networks, batch 64, VGGSound train clips) needs the
VGGSound audio, which this project does not ship: only the synthetic set is wired here. `--generator_width` sets
ngf (32 is the released size), `--discriminator_width` / `--discriminator_max_channels` the discriminator (16 / 1024
in the reference).
"""

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from accelerate import Accelerator

from ..arguments import checkpoint_problem, positive_problem, raise_if_any
from ..configuration.configuration_melgan import MelGANConfig
from ..data.specvqgan import synthetic_tone
from ..modeling.modeling_melgan import (
    MelGANDiscriminator,
    MelGANVocoder,
    melgan_discriminator_loss,
    melgan_generator_loss,
)
from ..processors.feature_extraction_specvqgan import SpecVQGANFeatureExtractor
from ..recipes import Recipe
from ..training import TrainerArguments, fit


class MelGANVocoderTask:
    """Rows: `input_features` `(80, frames)` [0, 1] log-mels and `waveform` `(frames * hop,)` in [-1, 1]. `lr`,
    `betas`: the discriminator's Adam (the reference: 1e-4, (0.5, 0.9), as the generator's). `feature_extractor`
    (a `SpecVQGANFeatureExtractor` giving [0, 1] log-mels): the evaluation's log-mel L1 of the generated audio."""

    auxiliary_first = True

    def __init__(self, config, lr: float = 1e-4, betas: tuple[float, float] = (0.5, 0.9), feature_extractor=None):
        self.config, self.lr, self.betas, self.feature_extractor = config, lr, betas, feature_extractor
        self.auxiliary = []
        self._real_maps = None

    def auxiliary_parts(self, model):
        discriminator = MelGANDiscriminator(self.config)
        return [(discriminator, torch.optim.Adam(discriminator.parameters(), lr=self.lr, betas=self.betas))]

    def auxiliary_loss(self, model, part: int, batch: dict) -> torch.Tensor:
        discriminator = self.auxiliary[0][0]
        with torch.no_grad():
            fake = model(batch["input_features"]).waveform
        real = discriminator(batch["waveform"])
        self._real_maps = [[m.detach() for m in scale] for scale in real]
        return melgan_discriminator_loss(real, discriminator(fake))

    def training_loss(self, model, batch: dict) -> torch.Tensor:
        discriminator = self.auxiliary[0][0]
        inner = getattr(discriminator, "module", discriminator)
        inner.requires_grad_(False)  # the generator's step leaves the discriminator's gradients alone
        try:
            fake = model(batch["input_features"]).waveform
            real = self._real_maps
            if real is None:
                with torch.no_grad():
                    real = discriminator(batch["waveform"])
            return melgan_generator_loss(discriminator(fake), real, self.config)["loss"]
        finally:
            inner.requires_grad_(True)

    def evaluate(self, model, dataloader, accelerator: Accelerator) -> dict[str, float]:
        """`mel_l1`: mean |log-mel(generated) - input log-mel| on the [0, 1] scale (frames cropped to match)."""
        errors = []
        for batch in dataloader:
            waveform = model(batch["input_features"]).waveform
            mels = self.feature_extractor(list(waveform.cpu()), sampling_rate=self.config.sampling_rate)
            mels = mels["input_features"].to(waveform.device)
            frames = min(mels.shape[-1], batch["input_features"].shape[-1])
            error = F.l1_loss(mels[..., :frames], batch["input_features"][..., :frames], reduction="none")
            errors.append(accelerator.gather_for_metrics(error.flatten(1).mean(1)).cpu())
        return {"mel_l1": torch.cat(errors).mean().item()}


__all__ = ["MelGANVocoderTask"]


# ---- the recipe: training on the synthetic segments ----

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


def train(args: MelGANArguments, training_args: TrainerArguments) -> dict[str, float]:
    """Train the vocoder on the synthetic segments; every argument is checked before anything is loaded or written."""
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


RECIPE = Recipe(
    train_arguments=(MelGANArguments,),
    train=train,
    evaluate_note="the vocoder is scored by its training evaluation (log-mel L1 of the generated audio on the "
    "held-out segments, in the run's eval_results.json)",
)


class _GeneratorAndDiscriminator(torch.nn.Module):
    """The two networks of one MelGAN training step, for `scripts/benchmark.py` (one optimizer over both)."""

    def __init__(self, config):
        from ..modeling.modeling_melgan import MelGANVocoder

        super().__init__()
        self.generator = MelGANVocoder(config)
        self.discriminator = MelGANDiscriminator(config)


def benchmark_workload(config=None, variant=None):
    """`scripts/benchmark.py` workload: the released vocoder (ngf 32, 3 residual units, 4.27 M parameters) and its
    3-scale discriminator on 8,192-sample segments (32 log-mel frames; batch 64: the SpecVQGAN vocoder recipe,
    docs/specvqgan_vocoder_and_metrics.md). One step is the generator's loss (adversarial + feature matching) plus the
    discriminator's hinge loss on the detached fake, back-propagated together: the work of the task's two steps.
    Generation (`--mode generate`): vocoding a 9.84 s clip (848 frames) with weight norm as trained and with the
    weights folded; the unit is seconds of audio."""
    from ..benchmarking import Workload
    from ..configuration import MelGANConfig

    paper = config is None
    config = config or MelGANConfig()
    frames = 32 if paper else 9

    def loss(pair, inputs):
        fake = pair.generator(inputs["input_features"]).waveform
        real = pair.discriminator(inputs["waveform"])
        generator_loss = melgan_generator_loss(pair.discriminator(fake), real, config)["loss"]
        return generator_loss + melgan_discriminator_loss(real, pair.discriminator(fake.detach()))

    def make_inputs(batch, generator):
        return {
            "input_features": torch.rand(batch, config.num_mel_bins, frames, generator=generator),
            "waveform": torch.rand(batch, frames * config.hop_length, generator=generator) * 2 - 1,
        }

    def generation(pair, inputs, new_tokens):
        from ..modeling.modeling_melgan import MelGANVocoder

        mel = torch.rand(1, config.num_mel_bins, 848 if paper else 40, generator=torch.Generator().manual_seed(0))
        mel = mel.to(inputs["input_features"].device)
        vocoder = pair.generator.eval()
        folded = MelGANVocoder(config).to(mel.device).eval()
        folded.load_state_dict(vocoder.state_dict())
        folded.remove_weight_norm()
        return {
            "weight norm (as trained)": lambda: vocoder(mel).waveform,
            "weight norm folded": lambda: folded(mel).waveform,
        }

    return Workload(
        description=f"vocoder + discriminator, {frames} frames ({frames * config.hop_length} samples)",
        build_model=lambda: _GeneratorAndDiscriminator(config),
        make_inputs=make_inputs,
        loss=loss,
        paper_batch_size=64,
        cpu_batch_size=16,
        learning_rate=1e-4,
        generate=generation,
        generated_unit="audio s",
        generated_per_call=lambda waveform: waveform.numel() / config.sampling_rate,
    )
