"""Model classes of every videozoo architecture (registration with the Auto classes is in `videozoo.auto`)."""

from .modeling_mmt import MMTModel, MMTOutput, MMTPreTrainedModel

__all__ = ["MMTModel", "MMTOutput", "MMTPreTrainedModel"]
