"""Model classes of every videozoo architecture (registration with the Auto classes is in `videozoo.auto`)."""

from .modeling_avatar import AvatarEncoder, AvatarForConditionalGeneration, AvatarPreTrainedModel
from .modeling_avlnet import AVLnetModel, AVLnetOutput, AVLnetPreTrainedModel
from .modeling_bmt import (
    BMTEncoder,
    BMTEncoderOutput,
    BMTForConditionalGeneration,
    BMTForEventProposal,
    BMTPreTrainedModel,
    BMTProposalOutput,
)
from .modeling_clip_frames import CLIPFramesModel, CLIPFramesOutput
from .modeling_everything_at_once import EverythingAtOnceModel, EverythingAtOnceOutput, EverythingAtOncePreTrainedModel
from .modeling_expert_features import ExpertFeaturesOutput, ExpertFeaturesPreTrainedModel
from .modeling_i3d import I3DModel
from .modeling_mdvc import MDVCEncoderOutput, MDVCForConditionalGeneration, MDVCPreTrainedModel
from .modeling_melception import MelceptionModel, MelceptionOutput, MelceptionPreTrainedModel
from .modeling_melgan import MelGANDiscriminator, MelGANOutput, MelGANPreTrainedModel, MelGANVocoder
from .modeling_mmt import MMTModel, MMTOutput, MMTPreTrainedModel
from .modeling_mmt_modality_masking import (
    MMTForModalityMaskingPretraining,
    MMTModalityMaskingOutput,
    MMTModalityMaskingPreTrainedModel,
)
from .modeling_raft import OpticalFlowOutput, RAFTModel
from .modeling_resnet_frames import ResNetFramesModel
from .modeling_s3d import S3DModel
from .modeling_sparsesync import SparseSyncForOffsetClassification, SparseSyncPreTrainedModel
from .modeling_specvqgan import (
    SpecVQGANForConditionalGeneration,
    SpecVQGANGenerationOutput,
    SpecVQGANModel,
    SpecVQGANOutput,
    SpecVQGANPreTrainedModel,
    SpecVQGANTrainingLoss,
)
from .modeling_vggish import VGGishModel, VGGishOutput

__all__ = [
    "CLIPFramesModel",
    "CLIPFramesOutput",
    "I3DModel",
    "OpticalFlowOutput",
    "RAFTModel",
    "VGGishModel",
    "VGGishOutput",
    "ExpertFeaturesOutput",
    "ExpertFeaturesPreTrainedModel",
    "ResNetFramesModel",
    "S3DModel",
    "AvatarEncoder",
    "AvatarForConditionalGeneration",
    "AvatarPreTrainedModel",
    "AVLnetModel",
    "AVLnetOutput",
    "AVLnetPreTrainedModel",
    "BMTEncoder",
    "BMTEncoderOutput",
    "BMTForConditionalGeneration",
    "BMTForEventProposal",
    "BMTProposalOutput",
    "BMTPreTrainedModel",
    "MDVCEncoderOutput",
    "MDVCForConditionalGeneration",
    "MDVCPreTrainedModel",
    "EverythingAtOnceModel",
    "EverythingAtOnceOutput",
    "EverythingAtOncePreTrainedModel",
    "MelceptionModel",
    "MelceptionOutput",
    "MelceptionPreTrainedModel",
    "MelGANDiscriminator",
    "MelGANOutput",
    "MelGANPreTrainedModel",
    "MelGANVocoder",
    "MMTModel",
    "MMTOutput",
    "MMTPreTrainedModel",
    "MMTForModalityMaskingPretraining",
    "MMTModalityMaskingOutput",
    "MMTModalityMaskingPreTrainedModel",
    "SparseSyncForOffsetClassification",
    "SparseSyncPreTrainedModel",
    "SpecVQGANForConditionalGeneration",
    "SpecVQGANGenerationOutput",
    "SpecVQGANModel",
    "SpecVQGANOutput",
    "SpecVQGANPreTrainedModel",
    "SpecVQGANTrainingLoss",
]
