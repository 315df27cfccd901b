"""Configuration classes of every videozoo architecture."""

from .configuration_avatar import AvatarConfig
from .configuration_avlnet import AVLnetConfig
from .configuration_bmt import BMTConfig
from .configuration_everything_at_once import EverythingAtOnceConfig
from .configuration_mdvc import MDVCConfig
from .configuration_melception import MelceptionConfig
from .configuration_melgan import MelGANConfig
from .configuration_mmt import MMTConfig
from .configuration_mmt_modality_masking import MMTModalityMaskingConfig
from .configuration_sparsesync import SparseSyncConfig
from .configuration_specvqgan import SpecVQGANConfig, SpecVQGANSamplerConfig

__all__ = [
    "AvatarConfig",
    "AVLnetConfig",
    "BMTConfig",
    "EverythingAtOnceConfig",
    "MDVCConfig",
    "MelceptionConfig",
    "MelGANConfig",
    "MMTConfig",
    "MMTModalityMaskingConfig",
    "SparseSyncConfig",
    "SpecVQGANConfig",
    "SpecVQGANSamplerConfig",
]
