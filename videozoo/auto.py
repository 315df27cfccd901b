"""The one table of videozoo architectures, and their registration with the transformers Auto classes.

Adding an architecture is one row here. Everything that works across architectures (registration, the test
suite's registry-wide checks, the Hub export) reads this table, so a new row is covered automatically.
"""

from dataclasses import dataclass, field

from transformers import (
    AutoConfig,
    AutoFeatureExtractor,
    AutoModel,
    AutoModelForAudioClassification,
    AutoModelForCausalLM,
    AutoModelForSeq2SeqLM,
    AutoModelForSpeechSeq2Seq,
    AutoModelForVideoClassification,
    AutoProcessor,
    AutoVideoProcessor,
    PreTrainedConfig,
)

from .configuration.configuration_avatar import AvatarConfig
from .configuration.configuration_avlnet import AVLnetConfig
from .configuration.configuration_bmt import BMTConfig
from .configuration.configuration_clip_frames import CLIPFramesConfig
from .configuration.configuration_everything_at_once import EverythingAtOnceConfig
from .configuration.configuration_i3d import I3DConfig
from .configuration.configuration_mdvc import MDVCConfig
from .configuration.configuration_melception import MelceptionConfig
from .configuration.configuration_melgan import MelGANConfig
from .configuration.configuration_mmt import MMTConfig
from .configuration.configuration_mmt_modality_masking import MMTModalityMaskingConfig
from .configuration.configuration_raft import RAFTConfig
from .configuration.configuration_resnet_frames import ResNetFramesConfig
from .configuration.configuration_s3d import S3DConfig
from .configuration.configuration_sparsesync import SparseSyncConfig
from .configuration.configuration_specvqgan import SpecVQGANConfig, SpecVQGANSamplerConfig
from .configuration.configuration_vggish import VGGishConfig
from .modeling.modeling_avatar import AvatarForConditionalGeneration
from .modeling.modeling_avlnet import AVLnetModel
from .modeling.modeling_bmt import BMTForConditionalGeneration
from .modeling.modeling_clip_frames import CLIPFramesModel
from .modeling.modeling_everything_at_once import EverythingAtOnceModel
from .modeling.modeling_i3d import I3DModel
from .modeling.modeling_mdvc import MDVCForConditionalGeneration
from .modeling.modeling_melception import MelceptionModel
from .modeling.modeling_melgan import MelGANVocoder
from .modeling.modeling_mmt import MMTModel
from .modeling.modeling_mmt_modality_masking import MMTForModalityMaskingPretraining
from .modeling.modeling_raft import RAFTModel
from .modeling.modeling_resnet_frames import ResNetFramesModel
from .modeling.modeling_s3d import S3DModel
from .modeling.modeling_sparsesync import SparseSyncForOffsetClassification
from .modeling.modeling_specvqgan import SpecVQGANForConditionalGeneration, SpecVQGANModel
from .modeling.modeling_vggish import VGGishModel
from .processors.feature_extraction_avatar import AvatarFeatureExtractor
from .processors.feature_extraction_avlnet import AVLnetFeatureExtractor
from .processors.feature_extraction_bmt import BMTFeatureExtractor
from .processors.feature_extraction_mmt import MMTFeatureExtractor
from .processors.feature_extraction_sparsesync import SparseSyncFeatureExtractor
from .processors.feature_extraction_specvqgan import SpecVQGANFeatureExtractor
from .processors.pipeline_dense_captioning import DenseVideoCaptioningPipeline
from .processors.pipeline_retrieval import VideoTextRetrievalPipeline
from .processors.pipeline_speech_recognition import AudioVisualSpeechRecognitionPipeline
from .processors.pipeline_synchronisation import AudioVisualSynchronisationPipeline
from .processors.pipeline_video_to_audio import VideoToAudioPipeline
from .processors.processing_avatar import AvatarProcessor
from .processors.processing_avlnet import AVLnetProcessor
from .processors.processing_bmt import BMTProcessor
from .processors.processing_clip_frames import CLIPFramesProcessor
from .processors.processing_everything_at_once import EverythingAtOnceProcessor
from .processors.processing_i3d import I3DProcessor
from .processors.processing_mdvc import MDVCProcessor
from .processors.processing_mmt import MMTProcessor
from .processors.processing_raft import RAFTProcessor
from .processors.processing_resnet_frames import ResNetFramesProcessor
from .processors.processing_s3d import S3DProcessor
from .processors.processing_sparsesync import SparseSyncProcessor
from .processors.processing_specvqgan import SpecVQGANProcessor
from .processors.processing_vggish import VGGishProcessor
from .processors.video_processing_avatar import AvatarVideoProcessor
from .processors.video_processing_sparsesync import SparseSyncVideoProcessor

# The task families: an architecture joins one, with its shared data, task and entry point.
FAMILIES = (
    "retrieval",
    "dense_captioning",
    "speech_recognition",
    "synchronisation",
    "generation",
    "feature_extraction",
)


@dataclass(frozen=True)
class Architecture:
    """One registered architecture.

    Args:
        config_class: its `PreTrainedConfig` subclass (`model_type` is read from it).
        models: `(auto_class, model_class)` pairs, e.g. `(AutoModel, MMTModel)`.
        processor_class: the `ProcessorMixin` subclass `AutoProcessor` returns for this `model_type`.
        feature_extractor_class / video_processor_class: registered with `AutoFeatureExtractor` / `AutoVideoProcessor`.
        paper: metadata for model cards: title, authors, venue, year, arxiv id, url, bibtex, licence, and
            `pipeline_tag`, the closest Hub task (embedding models for retrieval: `feature-extraction`; dense
            captioning: `video-text-to-text`; AVATAR: `automatic-speech-recognition`; SparseSync's offset classes:
            `video-classification`).
        family: the task family the architecture belongs to (`FAMILIES`); its training and evaluation run through
            `scripts/run_<family>.py` (feature extractors run through `scripts/extract_features.py`).
        recipe: `"module:attribute"` of its `videozoo.recipes.Recipe` (what the family entry point needs to train
            and evaluate it), imported only when that entry point runs; `None` for rows that are not trained here.
        pipelines: `(task, pipeline class)` pairs: the videozoo pipelines (`processors/pipeline_*.py`) that run
            this architecture from raw media, registered with transformers' `PIPELINE_REGISTRY` and exported with
            a checkpoint as `custom_pipelines` (docs/pipelines.md).
        benchmark: `"module:function"` returning the architecture's `videozoo.benchmarking.Workload` (paper
            configuration, synthetic batch, training loss, generation variants) for `scripts/benchmark.py`;
            None for architectures that are not trained here (the feature extractors).
    """

    config_class: type[PreTrainedConfig]
    models: tuple[tuple[type, type], ...]
    processor_class: type | None = None
    feature_extractor_class: type | None = None
    video_processor_class: type | None = None
    paper: dict = field(default_factory=dict)
    family: str = ""
    recipe: str | None = None
    pipelines: tuple[tuple[str, type], ...] = ()
    benchmark: str | None = None

    def __post_init__(self):
        if self.family not in FAMILIES:
            raise ValueError(f"{self.model_type}: family {self.family!r} is not one of {FAMILIES}")

    @property
    def model_type(self) -> str:
        return self.config_class.model_type


# Where each venue's papers appear, for the BibTeX of model cards.
BOOKTITLES = {
    "BMVC": "British Machine Vision Conference (BMVC)",
    "CVPR": "Conference on Computer Vision and Pattern Recognition (CVPR)",
    "CVPR Workshops": "IEEE/CVF Conference on Computer Vision and Pattern Recognition Workshops (CVPRW)",
    "ECCV": "European Conference on Computer Vision (ECCV)",
    "ICASSP": "International Conference on Acoustics, Speech and Signal Processing (ICASSP)",
    "ICML": "International Conference on Machine Learning (ICML)",
    "Interspeech": "Interspeech",
    "WACV": "Winter Conference on Applications of Computer Vision (WACV)",
}


def paper_entry(key: str, *, title: str, authors: str, venue: str, year: int, **fields) -> dict:
    """A row's `paper` metadata with its BibTeX (`@inproceedings{key, ...}`) written from the fields.

    `authors` is "First Last, First Last[, et al.]"; the other `fields` (arxiv, code, license, task, pipeline_tag)
    are kept as given."""
    names = [name.strip() for name in authors.split(",")]
    bibtex_names = ["others" if name == "et al." else "{1}, {0}".format(*name.rsplit(" ", 1)) for name in names]
    bibtex = (
        f"@inproceedings{{{key},\n  title={{{title}}},\n  author={{{' and '.join(bibtex_names)}}},\n"
        f"  booktitle={{{BOOKTITLES[venue]}}},\n  year={{{year}}}\n}}"
    )
    return {"title": title, "authors": authors, "venue": venue, "year": year, **fields, "bibtex": bibtex}


# The SpecVQGAN paper, shared by its four rows (codebook, sampler, vocoder, Melception).
SPECVQGAN_PAPER = paper_entry(
    "iashin2021taming",
    title="Taming Visually Guided Sound Generation",
    authors="Vladimir Iashin, Esa Rahtu",
    venue="BMVC",
    year=2021,
    arxiv="2110.08791",
    code="https://github.com/v-iashin/SpecVQGAN",
    license="mit",
)

ARCHITECTURES: tuple[Architecture, ...] = (
    Architecture(
        config_class=MMTConfig,
        family="retrieval",
        recipe="videozoo.tasks.mmt:RECIPE",
        benchmark="videozoo.tasks.mmt:benchmark_workload",
        models=((AutoModel, MMTModel),),
        processor_class=MMTProcessor,
        feature_extractor_class=MMTFeatureExtractor,
        paper=paper_entry(
            "gabeur2020mmt",
            title="Multi-modal Transformer for Video Retrieval",
            authors="Valentin Gabeur, Chen Sun, Karteek Alahari, Cordelia Schmid",
            venue="ECCV",
            year=2020,
            arxiv="2007.10639",
            code="https://github.com/gabeur/mmt",
            license="apache-2.0",
            task="text-video retrieval",
            pipeline_tag="feature-extraction",
        ),
        pipelines=(("video-text-retrieval", VideoTextRetrievalPipeline),),
    ),
    Architecture(
        config_class=MMTModalityMaskingConfig,
        family="retrieval",
        recipe="videozoo.tasks.mmt_modality_masking:RECIPE",
        benchmark="videozoo.tasks.mmt_modality_masking:benchmark_workload",
        models=((AutoModel, MMTForModalityMaskingPretraining),),
        processor_class=MMTProcessor,
        feature_extractor_class=MMTFeatureExtractor,
        paper=paper_entry(
            "gabeur2022masking",
            title="Masking Modalities for Cross-modal Video Retrieval",
            authors="Valentin Gabeur, Arsha Nagrani, Chen Sun, Karteek Alahari, Cordelia Schmid",
            venue="WACV",
            year=2022,
            arxiv="2111.01300",
            license="apache-2.0",
            task="video representation pre-training",
            pipeline_tag="feature-extraction",
        ),
    ),
    Architecture(
        config_class=AVLnetConfig,
        family="retrieval",
        recipe="videozoo.tasks.avlnet:RECIPE",
        benchmark="videozoo.tasks.avlnet:benchmark_workload",
        models=((AutoModel, AVLnetModel),),
        processor_class=AVLnetProcessor,
        feature_extractor_class=AVLnetFeatureExtractor,
        paper=paper_entry(
            "rouditchenko2021avlnet",
            title="AVLnet: Learning Audio-Visual Language Representations from Instructional Videos",
            authors="Andrew Rouditchenko, Angie Boggust, David Harwath, et al.",
            venue="Interspeech",
            year=2021,
            arxiv="2006.09199",
            code="https://github.com/roudimit/AVLnet",
            license="mit",
            task="audio-video retrieval",
            pipeline_tag="feature-extraction",
        ),
        pipelines=(("video-text-retrieval", VideoTextRetrievalPipeline),),
    ),
    Architecture(
        config_class=BMTConfig,
        family="dense_captioning",
        recipe="videozoo.tasks.bmt:RECIPE",
        benchmark="videozoo.tasks.dense_captioning:bmt_benchmark_workload",
        models=((AutoModel, BMTForConditionalGeneration), (AutoModelForSeq2SeqLM, BMTForConditionalGeneration)),
        processor_class=BMTProcessor,
        feature_extractor_class=BMTFeatureExtractor,
        paper=paper_entry(
            "iashin2020better",
            title="A Better Use of Audio-Visual Cues: Dense Video Captioning with Bi-modal Transformer",
            authors="Vladimir Iashin, Esa Rahtu",
            venue="BMVC",
            year=2020,
            arxiv="2005.08271",
            code="https://github.com/v-iashin/BMT",
            license="mit",
            task="dense video captioning",
            pipeline_tag="video-text-to-text",
        ),
        pipelines=(("dense-video-captioning", DenseVideoCaptioningPipeline),),
    ),
    Architecture(
        config_class=MDVCConfig,
        family="dense_captioning",
        recipe="videozoo.tasks.mdvc:RECIPE",
        benchmark="videozoo.tasks.dense_captioning:mdvc_benchmark_workload",
        models=((AutoModel, MDVCForConditionalGeneration), (AutoModelForSeq2SeqLM, MDVCForConditionalGeneration)),
        processor_class=MDVCProcessor,
        feature_extractor_class=BMTFeatureExtractor,
        paper=paper_entry(
            "iashin2020multi",
            title="Multi-modal Dense Video Captioning",
            authors="Vladimir Iashin, Esa Rahtu",
            venue="CVPR Workshops",
            year=2020,
            arxiv="2003.07758",
            code="https://github.com/v-iashin/MDVC",
            license="mit",
            task="dense video captioning",
            pipeline_tag="video-text-to-text",
        ),
        pipelines=(("dense-video-captioning", DenseVideoCaptioningPipeline),),
    ),
    Architecture(
        config_class=EverythingAtOnceConfig,
        family="retrieval",
        recipe="videozoo.tasks.everything_at_once:RECIPE",
        benchmark="videozoo.tasks.everything_at_once:benchmark_workload",
        models=((AutoModel, EverythingAtOnceModel),),
        processor_class=EverythingAtOnceProcessor,
        feature_extractor_class=AVLnetFeatureExtractor,
        paper=paper_entry(
            "shvetsova2022everything",
            title="Everything at Once - Multi-modal Fusion Transformer for Video Retrieval",
            authors="Nina Shvetsova, Brian Chen, Andrew Rouditchenko, et al.",
            venue="CVPR",
            year=2022,
            arxiv="2112.04446",
            code="https://github.com/ninatu/everything_at_once",
            license="bsd-3-clause",
            task="text-video retrieval",
            pipeline_tag="feature-extraction",
        ),
    ),
    Architecture(
        config_class=AvatarConfig,
        family="speech_recognition",
        recipe="videozoo.tasks.avatar:RECIPE",
        benchmark="videozoo.tasks.avatar:benchmark_workload",
        models=(
            (AutoModelForSpeechSeq2Seq, AvatarForConditionalGeneration),
            (AutoModel, AvatarForConditionalGeneration),
        ),
        processor_class=AvatarProcessor,
        feature_extractor_class=AvatarFeatureExtractor,
        video_processor_class=AvatarVideoProcessor,
        paper=paper_entry(
            "gabeur2022avatar",
            title="AVATAR: Unconstrained Audiovisual Speech Recognition",
            authors="Valentin Gabeur, Paul Hongsuck Seo, Arsha Nagrani, Chen Sun, Karteek Alahari, Cordelia Schmid",
            venue="Interspeech",
            year=2022,
            arxiv="2206.07684",
            code="https://github.com/google-research/scenic/tree/main/scenic/projects/avatar",
            license="apache-2.0",
            task="audio-visual speech recognition",
            pipeline_tag="automatic-speech-recognition",
        ),
        pipelines=(("audio-visual-speech-recognition", AudioVisualSpeechRecognitionPipeline),),
    ),
    Architecture(
        config_class=SparseSyncConfig,
        family="synchronisation",
        recipe="videozoo.tasks.sparsesync:RECIPE",
        benchmark="videozoo.tasks.sparsesync:benchmark_workload",
        models=(
            (AutoModelForVideoClassification, SparseSyncForOffsetClassification),
            (AutoModel, SparseSyncForOffsetClassification),
        ),
        processor_class=SparseSyncProcessor,
        feature_extractor_class=SparseSyncFeatureExtractor,
        video_processor_class=SparseSyncVideoProcessor,
        paper=paper_entry(
            "iashin2022sparse",
            title="Sparse in Space and Time: Audio-visual Synchronisation with Trainable Selectors",
            authors="Vladimir Iashin, Weidi Xie, Esa Rahtu, Andrew Zisserman",
            venue="BMVC",
            year=2022,
            arxiv="2210.07055",
            code="https://github.com/v-iashin/SparseSync",
            license="mit",
            task="audio-visual synchronisation",
            pipeline_tag="video-classification",
        ),
        pipelines=(("audio-visual-synchronisation", AudioVisualSynchronisationPipeline),),
    ),
    Architecture(
        config_class=MelGANConfig,
        family="generation",
        recipe="videozoo.tasks.melgan:RECIPE",
        benchmark="videozoo.tasks.melgan:benchmark_workload",
        models=((AutoModel, MelGANVocoder),),
        paper={
            **SPECVQGAN_PAPER,
            "task": "spectrogram-to-waveform vocoding",
            "pipeline_tag": "audio-to-audio",
        },
    ),
    Architecture(
        config_class=MelceptionConfig,
        family="generation",
        models=((AutoModel, MelceptionModel), (AutoModelForAudioClassification, MelceptionModel)),
        paper={
            **SPECVQGAN_PAPER,
            "task": "spectrogram classification",
            "pipeline_tag": "audio-classification",
        },
    ),
    Architecture(
        config_class=SpecVQGANConfig,
        family="generation",
        recipe="videozoo.tasks.specvqgan:CODEBOOK_RECIPE",
        benchmark="videozoo.tasks.specvqgan:codebook_benchmark_workload",
        models=((AutoModel, SpecVQGANModel),),
        processor_class=SpecVQGANProcessor,
        feature_extractor_class=SpecVQGANFeatureExtractor,
        paper={
            **SPECVQGAN_PAPER,
            "task": "spectrogram codebook (visually guided sound generation, stage I)",
            "pipeline_tag": "audio-to-audio",
        },
    ),
    Architecture(
        config_class=SpecVQGANSamplerConfig,
        family="generation",
        recipe="videozoo.tasks.specvqgan:SAMPLER_RECIPE",
        benchmark="videozoo.tasks.specvqgan:sampler_benchmark_workload",
        models=(
            (AutoModelForCausalLM, SpecVQGANForConditionalGeneration),
            (AutoModel, SpecVQGANForConditionalGeneration),
        ),
        processor_class=SpecVQGANProcessor,
        feature_extractor_class=SpecVQGANFeatureExtractor,
        paper={
            **SPECVQGAN_PAPER,
            "task": "visually guided sound generation",
            "pipeline_tag": "video-to-audio",
        },
        pipelines=(("video-to-audio", VideoToAudioPipeline),),
    ),
    # ---- expert feature extractors (raw media -> the feature files the systems above read); sampling and
    # transforms of v-iashin/video_features, see docs/feature_extractors.md
    Architecture(
        config_class=ResNetFramesConfig,
        family="feature_extraction",
        models=((AutoModel, ResNetFramesModel),),
        feature_extractor_class=ResNetFramesProcessor,
        paper=paper_entry(
            "he2016deep",
            title="Deep Residual Learning for Image Recognition",
            authors="Kaiming He, Xiangyu Zhang, Shaoqing Ren, Jian Sun",
            venue="CVPR",
            year=2016,
            arxiv="1512.03385",
            code="https://github.com/v-iashin/video_features",
            license="bsd-3-clause",
            task="feature-extraction",
            pipeline_tag="feature-extraction",
        ),
    ),
    Architecture(
        config_class=CLIPFramesConfig,
        family="feature_extraction",
        models=((AutoModel, CLIPFramesModel),),
        feature_extractor_class=CLIPFramesProcessor,
        paper=paper_entry(
            "radford2021learning",
            title="Learning Transferable Visual Models From Natural Language Supervision",
            authors="Alec Radford, Jong Wook Kim, Chris Hallacy, Aditya Ramesh, Gabriel Goh, Sandhini Agarwal, "
            "Girish Sastry, Amanda Askell, Pamela Mishkin, Jack Clark, Gretchen Krueger, Ilya Sutskever",
            venue="ICML",
            year=2021,
            arxiv="2103.00020",
            code="https://github.com/v-iashin/video_features",
            license="mit",
            task="feature-extraction",
            pipeline_tag="feature-extraction",
        ),
    ),
    Architecture(
        config_class=S3DConfig,
        family="feature_extraction",
        models=((AutoModel, S3DModel),),
        feature_extractor_class=S3DProcessor,
        paper=paper_entry(
            "xie2018rethinking",
            title="Rethinking Spatiotemporal Feature Learning: Speed-Accuracy Trade-offs in Video Classification",
            authors="Saining Xie, Chen Sun, Jonathan Huang, Zhuowen Tu, Kevin Murphy",
            venue="ECCV",
            year=2018,
            arxiv="1712.04851",
            code="https://github.com/v-iashin/video_features",
            license="mit",
            task="feature-extraction",
            pipeline_tag="feature-extraction",
        ),
    ),
    Architecture(
        config_class=VGGishConfig,
        family="feature_extraction",
        models=((AutoModel, VGGishModel),),
        feature_extractor_class=VGGishProcessor,
        paper=paper_entry(
            "hershey2017cnn",
            title="CNN Architectures for Large-Scale Audio Classification",
            authors="Shawn Hershey, Sourish Chaudhuri, Daniel P. W. Ellis, et al.",
            venue="ICASSP",
            year=2017,
            arxiv="1609.09430",
            code="https://github.com/v-iashin/video_features",
            license="apache-2.0",
            task="feature-extraction",
            pipeline_tag="feature-extraction",
        ),
    ),
    Architecture(
        config_class=RAFTConfig,
        family="feature_extraction",
        models=((AutoModel, RAFTModel),),
        feature_extractor_class=RAFTProcessor,
        paper=paper_entry(
            "teed2020raft",
            title="RAFT: Recurrent All-Pairs Field Transforms for Optical Flow",
            authors="Zachary Teed, Jia Deng",
            venue="ECCV",
            year=2020,
            arxiv="2003.12039",
            code="https://github.com/v-iashin/video_features",
            license="bsd-3-clause",
            task="optical-flow",
            pipeline_tag="feature-extraction",
        ),
    ),
    Architecture(
        config_class=I3DConfig,
        family="feature_extraction",
        models=((AutoModel, I3DModel),),
        feature_extractor_class=I3DProcessor,
        paper=paper_entry(
            "carreira2017quo",
            title="Quo Vadis, Action Recognition? A New Model and the Kinetics Dataset",
            authors="Joao Carreira, Andrew Zisserman",
            venue="CVPR",
            year=2017,
            arxiv="1705.07750",
            code="https://github.com/v-iashin/video_features",
            license="apache-2.0",
            task="feature-extraction",
            pipeline_tag="feature-extraction",
        ),
    ),
)

ARCHITECTURES_BY_TYPE = {arch.model_type: arch for arch in ARCHITECTURES}


def pipeline_tasks() -> dict[str, type]:
    """`{task: pipeline class}` over the table; a task shared by several architectures has one class."""
    tasks: dict[str, type] = {}
    for arch in ARCHITECTURES:
        for task, pipeline_class in arch.pipelines:
            if tasks.setdefault(task, pipeline_class) is not pipeline_class:
                raise ValueError(f"task {task!r} has two pipeline classes: {tasks[task]} and {pipeline_class}")
    return tasks


def register_pipelines() -> None:
    """Register the videozoo pipelines with transformers' `PIPELINE_REGISTRY` (idempotent), so that
    `pipeline(task, model=...)` finds them once videozoo is imported. The model is loaded through `AutoModel`."""
    from transformers.pipelines import PIPELINE_REGISTRY

    for task, pipeline_class in pipeline_tasks().items():
        current = PIPELINE_REGISTRY.supported_tasks.get(task)
        if current is None or current["impl"] is not pipeline_class:
            PIPELINE_REGISTRY.register_pipeline(task, pipeline_class=pipeline_class, pt_model=AutoModel)


def register_all() -> None:
    """Register every architecture with the Auto classes (idempotent)."""
    for arch in ARCHITECTURES:
        AutoConfig.register(arch.model_type, arch.config_class, exist_ok=True)
        for auto_class, model_class in arch.models:
            auto_class.register(arch.config_class, model_class, exist_ok=True)
        if arch.feature_extractor_class is not None:
            AutoFeatureExtractor.register(arch.config_class, arch.feature_extractor_class, exist_ok=True)
        if arch.video_processor_class is not None:
            AutoVideoProcessor.register(arch.config_class, arch.video_processor_class, exist_ok=True)
        if arch.processor_class is not None:
            AutoProcessor.register(arch.config_class, arch.processor_class, exist_ok=True)
    register_pipelines()
