"""Configuration classes of every videozoo architecture."""

from .configuration_mmt import MMTConfig

__all__ = ["MMTConfig"]
