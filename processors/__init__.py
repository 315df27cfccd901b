"""Processors and feature extractors of every videozoo architecture."""

from .feature_extraction_avatar import AvatarFeatureExtractor
from .feature_extraction_avlnet import AVLnetFeatureExtractor
from .feature_extraction_bmt import BMTFeatureExtractor
from .feature_extraction_mmt import MMTFeatureExtractor
from .feature_extraction_sparsesync import SparseSyncFeatureExtractor
from .feature_extraction_specvqgan import SpecVQGANFeatureExtractor
from .processing_avatar import AvatarProcessor
from .processing_avlnet import AVLnetProcessor
from .processing_bmt import BMTProcessor
from .processing_clip_frames import CLIPFramesProcessor
from .processing_everything_at_once import EverythingAtOnceProcessor
from .processing_expert_features import ExpertFeaturesProcessor
from .processing_i3d import I3DProcessor
from .processing_mdvc import MDVCProcessor
from .processing_mmt import MMTProcessor
from .processing_raft import RAFTProcessor
from .processing_resnet_frames import ResNetFramesProcessor
from .processing_s3d import S3DProcessor
from .processing_sparsesync import SparseSyncProcessor
from .processing_specvqgan import SpecVQGANProcessor
from .processing_vggish import VGGishProcessor
from .video_io import DecodedClip, MediaDecodingError, load_clip
from .video_processing_avatar import AvatarVideoProcessor
from .video_processing_sparsesync import SparseSyncVideoProcessor

__all__ = [
    "I3DProcessor",
    "RAFTProcessor",
    "VGGishProcessor",
    "ExpertFeaturesProcessor",
    "ResNetFramesProcessor",
    "CLIPFramesProcessor",
    "S3DProcessor",
    "AvatarFeatureExtractor",
    "AvatarProcessor",
    "AvatarVideoProcessor",
    "AVLnetFeatureExtractor",
    "AVLnetProcessor",
    "BMTFeatureExtractor",
    "BMTProcessor",
    "DecodedClip",
    "EverythingAtOnceProcessor",
    "MDVCProcessor",
    "MediaDecodingError",
    "MMTFeatureExtractor",
    "MMTProcessor",
    "SparseSyncFeatureExtractor",
    "SparseSyncProcessor",
    "SparseSyncVideoProcessor",
    "SpecVQGANFeatureExtractor",
    "SpecVQGANProcessor",
    "load_clip",
]
