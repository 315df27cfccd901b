"""SpecVQGAN tasks for `videozoo.training.fit`.

`SpecVQGANCodebookTask` trains Stage I with the loss of `SpecVQGANModel.forward` (L1 + codebook);
`SpecVQGANAdversarialCodebookTask` adds the reference's perceptual and adversarial terms (`SpecVQGANTrainingLoss`)
and the discriminator's own optimizer, alternating with the autoencoder's (the shared loop's auxiliary parts).
`SpecVQGANSamplerTask` trains Stage II with teacher forcing on the frozen Stage I's indices (the reference's
`Net2NetTransformer.shared_step`). They evaluate over the whole set, gathered over processes.
"""

import torch
from accelerate import Accelerator


class SpecVQGANCodebookTask:
    def training_loss(self, model, batch: dict) -> torch.Tensor:
        return model(input_features=batch["input_features"], return_loss=True).loss

    def evaluate(self, model, dataloader, accelerator: Accelerator) -> dict[str, float]:
        l1, codebook, indices = [], [], []
        for batch in dataloader:
            out = model(input_features=batch["input_features"])
            error = (out.reconstruction - batch["input_features"]).abs().flatten(1).mean(dim=1)
            gathered = accelerator.gather_for_metrics(
                {"l1": error, "codebook": out.codebook_loss.expand(len(error)), "indices": out.indices}
            )
            l1.append(gathered["l1"].cpu())
            codebook.append(gathered["codebook"].cpu())
            indices.append(gathered["indices"].cpu())
        used = torch.cat(indices).unique().numel()
        return {
            "l1": torch.cat(l1).mean().item(),
            "codebook_loss": torch.cat(codebook).mean().item(),
            "codes_used": used,
        }


class SpecVQGANAdversarialCodebookTask(SpecVQGANCodebookTask):
    """Stage I with the reference's full objective (`SpecVQGANTrainingLoss`, the reference's
    `VQLPAPSWithDiscriminator`): the autoencoder step (L1 + perceptual + codebook + adaptive-weighted hinge generator
    term) through the model's optimizer, then the discriminator step through its own Adam, as the reference's two
    Lightning optimizers (`optimizer_idx` 0 then 1 on every batch, the discriminator seeing a fresh reconstruction
    by the updated autoencoder). The adversarial terms are 0 before `config.disc_start` batches; the discriminator
    step is skipped there (the reference multiplies its loss by 0, which leaves Adam's moments at zero too).
    As Lightning's `toggle_optimizer`, the discriminator's weights take no gradient from the autoencoder step.

    `loss`: a `SpecVQGANTrainingLoss` (its LPAPS needs VGGish-ish weights when `perceptual_weight > 0`); `lr`,
    `betas`: the discriminator's Adam (the reference: the autoencoder's learning rate, betas (0.5, 0.9))."""

    def __init__(self, loss, lr: float, betas: tuple[float, float] = (0.5, 0.9)):
        self.loss, self.lr, self.betas = loss, lr, betas
        self.current_step = 0
        self.auxiliary = []

    def auxiliary_parts(self, model):
        optimizer = torch.optim.Adam(self.loss.discriminator.parameters(), lr=self.lr, betas=self.betas)
        return [(self.loss, optimizer)]

    def _loss_module(self):
        return self.auxiliary[0][0] if self.auxiliary else self.loss

    def training_loss(self, model, batch: dict) -> torch.Tensor:
        inputs = batch["input_features"]
        out = model(input_features=inputs)
        loss_module = self._loss_module()
        discriminator = getattr(loss_module, "module", loss_module).discriminator
        discriminator.requires_grad_(False)
        try:
            last_layer = (model.module if hasattr(model, "module") else model).get_last_layer()
            loss, _ = loss_module(out.codebook_loss, inputs, out.reconstruction, 0, self.current_step, last_layer)
        finally:
            discriminator.requires_grad_(True)
        return loss

    def auxiliary_loss(self, model, part: int, batch: dict) -> torch.Tensor | None:
        loss_module = self._loss_module()
        if self.current_step < getattr(loss_module, "module", loss_module).config.disc_start:
            return None
        inputs = batch["input_features"]
        with torch.no_grad():
            out = model(input_features=inputs)
        loss, _ = loss_module(out.codebook_loss, inputs, out.reconstruction, 1, self.current_step)
        return loss


class SpecVQGANSamplerTask:
    def _forward(self, model, batch: dict):
        return model(
            input_features=batch["input_features"],
            visual_features=batch["visual_features"],
            class_ids=batch.get("class_ids") if model.config.num_classes > 0 else None,
        )

    def training_loss(self, model, batch: dict) -> torch.Tensor:
        return self._forward(model, batch).loss

    def evaluate(self, model, dataloader, accelerator: Accelerator) -> dict[str, float]:
        losses, correct = [], []
        for batch in dataloader:
            out = self._forward(model, batch)
            unwrapped = accelerator.unwrap_model(model)
            target = unwrapped.encode_to_indices(batch["input_features"])
            nll = torch.nn.functional.cross_entropy(out.logits.transpose(1, 2).float(), target, reduction="none")
            gathered = accelerator.gather_for_metrics(
                {"nll": nll.mean(dim=1), "correct": (out.logits.argmax(-1) == target).float().mean(dim=1)}
            )
            losses.append(gathered["nll"].cpu())
            correct.append(gathered["correct"].cpu())
        return {"loss": torch.cat(losses).mean().item(), "token_accuracy": torch.cat(correct).mean().item()}


__all__ = ["SpecVQGANAdversarialCodebookTask", "SpecVQGANCodebookTask", "SpecVQGANSamplerTask"]


def codebook_benchmark_workload(config=None, variant=None):
    """`scripts/benchmark.py` workload: the VGGSound Stage I codebook (128 base channels, 71.7 M parameters without
    its discriminator) on 80 x 848 spectrograms, L1 + codebook loss (the step before `disc_start`); batch 3 per GPU
    (v-iashin/SpecVQGAN configs/vggsound_codebook.yaml)."""
    from ..benchmarking import Workload
    from ..configuration import SpecVQGANConfig
    from ..modeling import SpecVQGANModel

    paper = config is None
    config = config or SpecVQGANConfig()
    frames = 848 if paper else 10

    return Workload(
        description=f"{config.base_channels} base channels, {config.num_mel_bins} x {frames} spectrograms",
        build_model=lambda: SpecVQGANModel(config),
        make_inputs=lambda batch, generator: {
            "input_features": torch.rand(batch, config.num_mel_bins, frames, generator=generator) * 2 - 1
        },
        loss=SpecVQGANCodebookTask().training_loss,
        paper_batch_size=3,
        cpu_batch_size=1,
        learning_rate=4.5e-6,
    )


def full_prefix_sampling(model, features: torch.Tensor, steps: int) -> torch.Tensor:
    """The reference's greedy sampler: a forward pass over [condition, every index so far] for each new index (no
    key/value cache), the baseline `generate()` is measured against."""
    bos = torch.full((features.shape[0], 1), model.config.bos_token_id, device=features.device)
    tokens = torch.zeros(features.shape[0], 0, dtype=torch.long, device=features.device)
    for _ in range(steps):
        logits = model(input_ids=torch.cat([bos, tokens], 1), visual_features=features).logits[:, -1]
        tokens = torch.cat([tokens, logits.argmax(-1, keepdim=True)], dim=1)
    return tokens


def sampler_benchmark_workload(config=None, variant=None):
    """`scripts/benchmark.py` workload: the VGGSound Stage II transformer (24 layers, 1024 wide, 16 heads, 307 M
    parameters) on 212 feature vectors, teacher-forced over the 265 indices of a 10 s spectrogram; batch 2 per GPU
    (configs/vggsound_transformer.yaml). Generation: the 265 indices with the key/value cache (`generate`) against
    the reference's full-prefix sampler, greedy (identical indices); `--new_tokens k` runs the reference for the
    first k indices only (the cache always samples all of them), and the rates are per index."""
    from ..benchmarking import Workload
    from ..configuration import SpecVQGANConfig, SpecVQGANSamplerConfig
    from ..modeling import SpecVQGANForConditionalGeneration

    paper = config is None
    config = config or SpecVQGANSamplerConfig(first_stage_config=SpecVQGANConfig(num_embeddings=1024))

    def make_inputs(batch, generator):
        tokens = torch.randint(0, config.codebook_size, (batch, config.num_tokens), generator=generator)
        bos = torch.full((batch, 1), config.bos_token_id)
        return {
            "visual_features": torch.randn(batch, config.num_features, config.feature_size, generator=generator),
            "input_ids": torch.cat([bos, tokens[:, :-1]], dim=1),
            "labels": tokens,
        }

    def generation(model, inputs, new_tokens):
        features = inputs["visual_features"]

        def cached():
            return model.generate(features, do_sample=False, decode=False).indices  # always all indices

        return {
            "generate, key/value cache": cached,
            "reference, full prefix": lambda: full_prefix_sampling(model, features, new_tokens),
        }

    return Workload(
        description=f"{config.num_hidden_layers} layers x {config.hidden_size}, {config.num_features} features, "
        f"{config.num_tokens} indices",
        build_model=lambda: SpecVQGANForConditionalGeneration(config),
        make_inputs=make_inputs,
        loss=lambda model, inputs: model(**inputs).loss,
        paper_batch_size=2,
        cpu_batch_size=1 if paper else 2,
        learning_rate=5e-6,
        generate=generation,
        generated_unit="indices",
    )
