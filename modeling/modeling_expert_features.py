"""What the expert feature extractors' models share: their output, and the init that leaves BatchNorm as PyTorch
builds it (the extractors are used with converted weights; random starts exist for tests)."""

from dataclasses import dataclass

import torch
from transformers import PreTrainedModel
from transformers.utils import ModelOutput

from .loading import CheckedLoadingMixin


@dataclass
class ExpertFeaturesOutput(ModelOutput):
    """
    Args:
        features (`torch.FloatTensor` of shape `(batch, feature_size)`): one feature vector per input item (frame,
            stack or audio example), what the zoo's feature files store.
        hidden_states (`torch.FloatTensor`, *optional*): the extractor's last feature map before pooling (shape
            depends on the network), returned with `output_hidden_states=True`.
    """

    features: torch.FloatTensor | None = None
    hidden_states: torch.FloatTensor | None = None


class ExpertFeaturesPreTrainedModel(CheckedLoadingMixin, PreTrainedModel):
    """Base of the extractors: float32 inputs, no attention, PyTorch's own initialisation of every layer."""

    main_input_name = "pixel_values"
    supports_gradient_checkpointing = False

    def _init_weights(self, module):
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm) and module.running_mean is not None:
            module.reset_running_stats()
            if module.affine:
                torch.nn.init.ones_(module.weight)
                torch.nn.init.zeros_(module.bias)


__all__ = ["ExpertFeaturesOutput", "ExpertFeaturesPreTrainedModel"]
