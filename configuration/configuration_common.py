"""What every videozoo configuration shares."""


class CheckedModelTypeMixin:
    """Refuse a config of another `model_type` instead of transformers' warning-and-continue.

    Loading, say, a BERT checkpoint into an MMT model would otherwise build a broken model from unrelated fields.
    A class may list, in `loadable_from`, model types whose configs nest one of its own under a key (e.g. a
    pre-training model that contains an MMT): loading such a checkpoint takes that nested config.
    """

    loadable_from = {}  # model_type -> key of the nested config

    @classmethod
    def from_dict(cls, config_dict: dict, **kwargs):
        found = config_dict.get("model_type")
        if found in cls.loadable_from and isinstance(config_dict.get(cls.loadable_from[found]), dict):
            config_dict = config_dict[cls.loadable_from[found]]
            found = config_dict.get("model_type")
        if found and getattr(cls, "model_type", None) and found != cls.model_type:
            raise ValueError(
                f"this checkpoint is a {found!r} model, not {cls.model_type!r}: load it with the class for {found!r} "
                f"(or `AutoModel`), or give a {cls.model_type!r} checkpoint"
            )
        return super().from_dict(config_dict, **kwargs)
