"""Configuration classes of every videozoo architecture."""

from .configuration_avatar import AvatarConfig
from .configuration_avlnet import AVLnetConfig
from .configuration_bmt import BMTConfig
from .configuration_clip_frames import CLIPFramesConfig
from .configuration_everything_at_once import EverythingAtOnceConfig
from .configuration_expert_features import ExpertFeaturesConfig
from .configuration_i3d import I3DConfig
from .configuration_mdvc import MDVCConfig
from .configuration_melception import MelceptionConfig
from .configuration_melgan import MelGANConfig
from .configuration_mmt import MMTConfig
from .configuration_mmt_modality_masking import MMTModalityMaskingConfig
from .configuration_raft import RAFTConfig
from .configuration_resnet_frames import ResNetFramesConfig
from .configuration_s3d import S3DConfig
from .configuration_sparsesync import SparseSyncConfig
from .configuration_specvqgan import SpecVQGANConfig, SpecVQGANSamplerConfig
from .configuration_vggish import VGGishConfig

__all__ = [
    "CLIPFramesConfig",
    "I3DConfig",
    "RAFTConfig",
    "VGGishConfig",
    "ExpertFeaturesConfig",
    "ResNetFramesConfig",
    "S3DConfig",
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
