"""The model tester, adapted to the expert feature extractors (no attention, no padding, no loss of their own)."""

import torch

from .model_tester import ModelTesterMixin


class ExpertFeaturesTesterMixin(ModelTesterMixin):
    # feature extractors have no attention layers and take no padded inputs
    test_attention_implementations = False
    check_padding_invariance = False

    def comparable_outputs(self, output) -> dict[str, torch.Tensor]:
        return {"features": output.features}

    def test_every_parameter_gets_a_gradient(self):
        """No loss of their own: a loss on the features must reach every parameter (they can be fine-tuned)."""
        model = self.build().train()
        inputs = self.prepare_inputs(model.config, self.batch_size)
        features = next(iter(self.comparable_outputs(model(**inputs)).values()))
        assert torch.isfinite(features).all()
        (features * torch.linspace(-1, 1, features.shape[-1])).sum().backward()
        missing = [
            n
            for n, p in model.named_parameters()
            if p.requires_grad
            and (p.grad is None or not p.grad.abs().sum() > 0)
            and not n.startswith(self.unused_parameters)
        ]
        assert not missing, f"parameters without gradient: {missing}"
