"""Processors and feature extractors of every videozoo architecture."""

from .feature_extraction_mmt import MMTFeatureExtractor
from .processing_mmt import MMTProcessor

__all__ = ["MMTFeatureExtractor", "MMTProcessor"]
