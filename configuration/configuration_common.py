"""What every videozoo configuration shares."""


class CheckedModelTypeMixin:
    """Refuse a config of another `model_type` instead of transformers' warning-and-continue.

    Loading, say, a BERT checkpoint into an MMT model would otherwise build a broken model from unrelated fields.
    """

    @classmethod
    def from_dict(cls, config_dict: dict, **kwargs):
        found = config_dict.get("model_type")
        if found and getattr(cls, "model_type", None) and found != cls.model_type:
            raise ValueError(
                f"this checkpoint is a {found!r} model, not {cls.model_type!r}: load it with the class for {found!r} "
                f"(or `AutoModel`), or give a {cls.model_type!r} checkpoint"
            )
        return super().from_dict(config_dict, **kwargs)
