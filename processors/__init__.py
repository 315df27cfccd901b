"""Processors and feature extractors of every videozoo architecture."""

from .feature_extraction_avlnet import AVLnetFeatureExtractor
from .feature_extraction_mmt import MMTFeatureExtractor
from .processing_avlnet import AVLnetProcessor
from .processing_mmt import MMTProcessor

from .feature_extraction_bmt import BMTFeatureExtractor
from .processing_bmt import BMTProcessor

__all__ = ["BMTFeatureExtractor", "BMTProcessor", "AVLnetFeatureExtractor", "AVLnetProcessor", "MMTFeatureExtractor", "MMTProcessor"]
