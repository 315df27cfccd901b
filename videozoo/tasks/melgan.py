"""The MelGAN vocoder's training for `videozoo.training.fit` (reference `vocoder/scripts/train.py` of
v-iashin/SpecVQGAN, after Kumar et al. 2019): the multi-scale discriminator is an auxiliary part with its own Adam,
stepped *before* the generator on every batch (`auxiliary_first`): the discriminator's hinge loss on the real
waveform and a detached generated one, then the generator's adversarial + feature-matching loss against the updated
discriminator, matched to the real feature maps the discriminator gave before its update (as the reference, which
computes them once in its discriminator step).
"""

import torch
import torch.nn.functional as F
from accelerate import Accelerator

from ..modeling.modeling_melgan import MelGANDiscriminator, melgan_discriminator_loss, melgan_generator_loss


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
