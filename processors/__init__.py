"""Processors and feature extractors of every videozoo architecture."""

from .feature_extraction_avatar import AvatarFeatureExtractor
from .feature_extraction_avlnet import AVLnetFeatureExtractor
from .feature_extraction_bmt import BMTFeatureExtractor
from .feature_extraction_mmt import MMTFeatureExtractor
from .processing_avatar import AvatarProcessor
from .processing_avlnet import AVLnetProcessor
from .processing_bmt import BMTProcessor
from .processing_everything_at_once import EverythingAtOnceProcessor
from .processing_mdvc import MDVCProcessor
from .processing_mmt import MMTProcessor

__all__ = [
    "AvatarFeatureExtractor", "AvatarProcessor", "AVLnetFeatureExtractor", "AVLnetProcessor", "BMTFeatureExtractor",
    "BMTProcessor", "EverythingAtOnceProcessor", "MDVCProcessor", "MMTFeatureExtractor", "MMTProcessor",
]
