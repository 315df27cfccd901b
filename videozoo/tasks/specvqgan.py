"""SpecVQGAN tasks for `videozoo.training.fit`.

`SpecVQGANCodebookTask` trains Stage I with the loss of `SpecVQGANModel.forward` (L1 + codebook); the reference's
perceptual and adversarial terms (`SpecVQGANTrainingLoss`) alternate two optimizers (autoencoder, discriminator),
which the one-optimizer loop does not drive. `SpecVQGANSamplerTask` trains Stage II with teacher forcing on the
frozen Stage I's indices (the reference's `Net2NetTransformer.shared_step`). Both evaluate over the whole set,
gathered over processes.
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


__all__ = ["SpecVQGANCodebookTask", "SpecVQGANSamplerTask"]
