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
    pipelines: tuple[tuple[str, type], ...] = ()
    benchmark: str | None = None

    @property
    def model_type(self) -> str:
        return self.config_class.model_type


# The SpecVQGAN paper, shared by its four rows (codebook, sampler, vocoder, Melception).
SPECVQGAN_PAPER = {
    "title": "Taming Visually Guided Sound Generation",
    "authors": "Vladimir Iashin, Esa Rahtu",
    "venue": "BMVC",
    "year": 2021,
    "arxiv": "2110.08791",
    "code": "https://github.com/v-iashin/SpecVQGAN",
    "license": "mit",
    "bibtex": (
        "@inproceedings{iashin2021taming,\n"
        "  title={Taming Visually Guided Sound Generation},\n"
        "  author={Iashin, Vladimir and Rahtu, Esa},\n"
        "  booktitle={British Machine Vision Conference (BMVC)},\n"
        "  year={2021}\n"
        "}"
    ),
}

ARCHITECTURES: tuple[Architecture, ...] = (
    Architecture(
        config_class=MMTConfig,
        benchmark="videozoo.tasks.mmt:benchmark_workload",
        models=((AutoModel, MMTModel),),
        processor_class=MMTProcessor,
        feature_extractor_class=MMTFeatureExtractor,
        paper={
            "title": "Multi-modal Transformer for Video Retrieval",
            "authors": "Valentin Gabeur, Chen Sun, Karteek Alahari, Cordelia Schmid",
            "venue": "ECCV",
            "year": 2020,
            "arxiv": "2007.10639",
            "code": "https://github.com/gabeur/mmt",
            "license": "apache-2.0",
            "bibtex": (
                "@inproceedings{gabeur2020mmt,\n"
                "  title={Multi-modal Transformer for Video Retrieval},\n"
                "  author={Gabeur, Valentin and Sun, Chen and Alahari, Karteek and Schmid, Cordelia},\n"
                "  booktitle={European Conference on Computer Vision (ECCV)},\n"
                "  year={2020}\n"
                "}"
            ),
            "task": "text-video retrieval",
            "pipeline_tag": "feature-extraction",
        },
    ),
    Architecture(
        config_class=MMTModalityMaskingConfig,
        benchmark="videozoo.tasks.mmt_modality_masking:benchmark_workload",
        models=((AutoModel, MMTForModalityMaskingPretraining),),
        processor_class=MMTProcessor,
        feature_extractor_class=MMTFeatureExtractor,
        paper={
            "title": "Masking Modalities for Cross-modal Video Retrieval",
            "authors": "Valentin Gabeur, Arsha Nagrani, Chen Sun, Karteek Alahari, Cordelia Schmid",
            "venue": "WACV",
            "year": 2022,
            "arxiv": "2111.01300",
            "license": "apache-2.0",
            "bibtex": (
                "@inproceedings{gabeur2022masking,\n"
                "  title={Masking Modalities for Cross-modal Video Retrieval},\n"
                "  author={Gabeur, Valentin and Nagrani, Arsha and Sun, Chen and Alahari, Karteek and "
                "Schmid, Cordelia},\n"
                "  booktitle={Winter Conference on Applications of Computer Vision (WACV)},\n"
                "  year={2022}\n"
                "}"
            ),
            "task": "video representation pre-training",
            "pipeline_tag": "feature-extraction",
        },
    ),
    Architecture(
        config_class=AVLnetConfig,
        benchmark="videozoo.tasks.avlnet:benchmark_workload",
        models=((AutoModel, AVLnetModel),),
        processor_class=AVLnetProcessor,
        feature_extractor_class=AVLnetFeatureExtractor,
        paper={
            "title": "AVLnet: Learning Audio-Visual Language Representations from Instructional Videos",
            "authors": "Andrew Rouditchenko, Angie Boggust, David Harwath, et al.",
            "venue": "Interspeech",
            "year": 2021,
            "arxiv": "2006.09199",
            "code": "https://github.com/roudimit/AVLnet",
            "license": "mit",
            "bibtex": (
                "@inproceedings{rouditchenko2021avlnet,\n"
                "  title={AVLnet: Learning Audio-Visual Language Representations from Instructional Videos},\n"
                "  author={Rouditchenko, Andrew and Boggust, Angie and Harwath, David and others},\n"
                "  booktitle={Interspeech},\n"
                "  year={2021}\n"
                "}"
            ),
            "task": "audio-video retrieval",
            "pipeline_tag": "feature-extraction",
        },
        pipelines=(("video-text-retrieval", VideoTextRetrievalPipeline),),
    ),
    Architecture(
        config_class=BMTConfig,
        benchmark="videozoo.tasks.dense_captioning:bmt_benchmark_workload",
        models=((AutoModel, BMTForConditionalGeneration), (AutoModelForSeq2SeqLM, BMTForConditionalGeneration)),
        processor_class=BMTProcessor,
        feature_extractor_class=BMTFeatureExtractor,
        paper={
            "title": "A Better Use of Audio-Visual Cues: Dense Video Captioning with Bi-modal Transformer",
            "authors": "Vladimir Iashin, Esa Rahtu",
            "venue": "BMVC",
            "year": 2020,
            "arxiv": "2005.08271",
            "code": "https://github.com/v-iashin/BMT",
            "license": "mit",
            "bibtex": (
                "@inproceedings{iashin2020better,\n"
                "  title={A Better Use of Audio-Visual Cues: Dense Video Captioning with Bi-modal Transformer},\n"
                "  author={Iashin, Vladimir and Rahtu, Esa},\n"
                "  booktitle={British Machine Vision Conference (BMVC)},\n"
                "  year={2020}\n"
                "}"
            ),
            "task": "dense video captioning",
            "pipeline_tag": "video-text-to-text",
        },
        pipelines=(("dense-video-captioning", DenseVideoCaptioningPipeline),),
    ),
    Architecture(
        config_class=MDVCConfig,
        benchmark="videozoo.tasks.dense_captioning:mdvc_benchmark_workload",
        models=((AutoModel, MDVCForConditionalGeneration), (AutoModelForSeq2SeqLM, MDVCForConditionalGeneration)),
        processor_class=MDVCProcessor,
        feature_extractor_class=BMTFeatureExtractor,
        paper={
            "title": "Multi-modal Dense Video Captioning",
            "authors": "Vladimir Iashin, Esa Rahtu",
            "venue": "CVPR Workshops",
            "year": 2020,
            "arxiv": "2003.07758",
            "code": "https://github.com/v-iashin/MDVC",
            "license": "mit",
            "bibtex": (
                "@inproceedings{iashin2020multi,\n"
                "  title={Multi-modal Dense Video Captioning},\n"
                "  author={Iashin, Vladimir and Rahtu, Esa},\n"
                "  booktitle={IEEE/CVF Conference on Computer Vision and Pattern Recognition Workshops (CVPRW)},\n"
                "  year={2020}\n"
                "}"
            ),
            "task": "dense video captioning",
            "pipeline_tag": "video-text-to-text",
        },
    ),
    Architecture(
        config_class=EverythingAtOnceConfig,
        benchmark="videozoo.tasks.everything_at_once:benchmark_workload",
        models=((AutoModel, EverythingAtOnceModel),),
        processor_class=EverythingAtOnceProcessor,
        feature_extractor_class=AVLnetFeatureExtractor,
        paper={
            "title": "Everything at Once - Multi-modal Fusion Transformer for Video Retrieval",
            "authors": "Nina Shvetsova, Brian Chen, Andrew Rouditchenko, et al.",
            "venue": "CVPR",
            "year": 2022,
            "arxiv": "2112.04446",
            "code": "https://github.com/ninatu/everything_at_once",
            "license": "bsd-3-clause",
            "bibtex": (
                "@inproceedings{shvetsova2022everything,\n"
                "  title={Everything at Once -- Multi-modal Fusion Transformer for Video Retrieval},\n"
                "  author={Shvetsova, Nina and Chen, Brian and Rouditchenko, Andrew and others},\n"
                "  booktitle={Conference on Computer Vision and Pattern Recognition (CVPR)},\n"
                "  year={2022}\n"
                "}"
            ),
            "task": "text-video retrieval",
            "pipeline_tag": "feature-extraction",
        },
    ),
    Architecture(
        config_class=AvatarConfig,
        benchmark="videozoo.tasks.avatar:benchmark_workload",
        models=(
            (AutoModelForSpeechSeq2Seq, AvatarForConditionalGeneration),
            (AutoModel, AvatarForConditionalGeneration),
        ),
        processor_class=AvatarProcessor,
        feature_extractor_class=AvatarFeatureExtractor,
        paper={
            "title": "AVATAR: Unconstrained Audiovisual Speech Recognition",
            "authors": "Valentin Gabeur, Paul Hongsuck Seo, Arsha Nagrani, Chen Sun, Karteek Alahari, Cordelia Schmid",
            "venue": "Interspeech",
            "year": 2022,
            "arxiv": "2206.07684",
            "code": "https://github.com/google-research/scenic/tree/main/scenic/projects/avatar",
            "license": "apache-2.0",
            "bibtex": (
                "@inproceedings{gabeur2022avatar,\n"
                "  title={AVATAR: Unconstrained Audiovisual Speech Recognition},\n"
                "  author={Gabeur, Valentin and Seo, Paul Hongsuck and Nagrani, Arsha and Sun, Chen and Alahari, "
                "Karteek and Schmid, Cordelia},\n"
                "  booktitle={Interspeech},\n"
                "  year={2022}\n"
                "}"
            ),
            "task": "audio-visual speech recognition",
            "pipeline_tag": "automatic-speech-recognition",
        },
        pipelines=(("audio-visual-speech-recognition", AudioVisualSpeechRecognitionPipeline),),
    ),
    Architecture(
        config_class=SparseSyncConfig,
        benchmark="videozoo.tasks.sparsesync:benchmark_workload",
        models=(
            (AutoModelForVideoClassification, SparseSyncForOffsetClassification),
            (AutoModel, SparseSyncForOffsetClassification),
        ),
        processor_class=SparseSyncProcessor,
        feature_extractor_class=SparseSyncFeatureExtractor,
        paper={
            "title": "Sparse in Space and Time: Audio-visual Synchronisation with Trainable Selectors",
            "authors": "Vladimir Iashin, Weidi Xie, Esa Rahtu, Andrew Zisserman",
            "venue": "BMVC",
            "year": 2022,
            "arxiv": "2210.07055",
            "code": "https://github.com/v-iashin/SparseSync",
            "license": "mit",
            "bibtex": (
                "@inproceedings{iashin2022sparse,\n"
                "  title={Sparse in Space and Time: Audio-visual Synchronisation with Trainable Selectors},\n"
                "  author={Iashin, Vladimir and Xie, Weidi and Rahtu, Esa and Zisserman, Andrew},\n"
                "  booktitle={British Machine Vision Conference (BMVC)},\n"
                "  year={2022}\n"
                "}"
            ),
            "task": "audio-visual synchronisation",
            "pipeline_tag": "video-classification",
        },
        pipelines=(("audio-visual-synchronisation", AudioVisualSynchronisationPipeline),),
    ),
    Architecture(
        config_class=MelGANConfig,
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
        models=((AutoModel, MelceptionModel), (AutoModelForAudioClassification, MelceptionModel)),
        paper={
            **SPECVQGAN_PAPER,
            "task": "spectrogram classification",
            "pipeline_tag": "audio-classification",
        },
    ),
    Architecture(
        config_class=SpecVQGANConfig,
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
        models=((AutoModel, ResNetFramesModel),),
        feature_extractor_class=ResNetFramesProcessor,
        paper={
            "title": "Deep Residual Learning for Image Recognition",
            "authors": "Kaiming He, Xiangyu Zhang, Shaoqing Ren, Jian Sun",
            "venue": "CVPR",
            "year": 2016,
            "arxiv": "1512.03385",
            "code": "https://github.com/v-iashin/video_features",
            "license": "bsd-3-clause",
            "bibtex": (
                "@inproceedings{he2016deep,\n"
                "  title={Deep Residual Learning for Image Recognition},\n"
                "  author={He, Kaiming and Zhang, Xiangyu and Ren, Shaoqing and Sun, Jian},\n"
                "  booktitle={Conference on Computer Vision and Pattern Recognition (CVPR)},\n"
                "  year={2016}\n"
                "}"
            ),
            "task": "feature-extraction",
            "pipeline_tag": "feature-extraction",
        },
    ),
    Architecture(
        config_class=S3DConfig,
        models=((AutoModel, S3DModel),),
        feature_extractor_class=S3DProcessor,
        paper={
            "title": "Rethinking Spatiotemporal Feature Learning: Speed-Accuracy Trade-offs in Video Classification",
            "authors": "Saining Xie, Chen Sun, Jonathan Huang, Zhuowen Tu, Kevin Murphy",
            "venue": "ECCV",
            "year": 2018,
            "arxiv": "1712.04851",
            "code": "https://github.com/v-iashin/video_features",
            "license": "mit",
            "bibtex": (
                "@inproceedings{xie2018rethinking,\n"
                "  title={Rethinking Spatiotemporal Feature Learning:\n"
                "    Speed-Accuracy Trade-offs in Video Classification},\n"
                "  author={Xie, Saining and Sun, Chen and Huang, Jonathan and Tu, Zhuowen and Murphy, Kevin},\n"
                "  booktitle={European Conference on Computer Vision (ECCV)},\n"
                "  year={2018}\n"
                "}"
            ),
            "task": "feature-extraction",
            "pipeline_tag": "feature-extraction",
        },
    ),
    Architecture(
        config_class=VGGishConfig,
        models=((AutoModel, VGGishModel),),
        feature_extractor_class=VGGishProcessor,
        paper={
            "title": "CNN Architectures for Large-Scale Audio Classification",
            "authors": "Shawn Hershey, Sourish Chaudhuri, Daniel P. W. Ellis, et al.",
            "venue": "ICASSP",
            "year": 2017,
            "arxiv": "1609.09430",
            "code": "https://github.com/v-iashin/video_features",
            "license": "apache-2.0",
            "bibtex": (
                "@inproceedings{hershey2017cnn,\n"
                "  title={CNN Architectures for Large-Scale Audio Classification},\n"
                "  author={Hershey, Shawn and Chaudhuri, Sourish and Ellis, Daniel P. W. and others},\n"
                "  booktitle={International Conference on Acoustics, Speech and Signal Processing (ICASSP)},\n"
                "  year={2017}\n"
                "}"
            ),
            "task": "feature-extraction",
            "pipeline_tag": "feature-extraction",
        },
    ),
    Architecture(
        config_class=RAFTConfig,
        models=((AutoModel, RAFTModel),),
        feature_extractor_class=RAFTProcessor,
        paper={
            "title": "RAFT: Recurrent All-Pairs Field Transforms for Optical Flow",
            "authors": "Zachary Teed, Jia Deng",
            "venue": "ECCV",
            "year": 2020,
            "arxiv": "2003.12039",
            "code": "https://github.com/v-iashin/video_features",
            "license": "bsd-3-clause",
            "bibtex": (
                "@inproceedings{teed2020raft,\n"
                "  title={RAFT: Recurrent All-Pairs Field Transforms for Optical Flow},\n"
                "  author={Teed, Zachary and Deng, Jia},\n"
                "  booktitle={European Conference on Computer Vision (ECCV)},\n"
                "  year={2020}\n"
                "}"
            ),
            "task": "optical-flow",
            "pipeline_tag": "feature-extraction",
        },
    ),
    Architecture(
        config_class=I3DConfig,
        models=((AutoModel, I3DModel),),
        feature_extractor_class=I3DProcessor,
        paper={
            "title": "Quo Vadis, Action Recognition? A New Model and the Kinetics Dataset",
            "authors": "Joao Carreira, Andrew Zisserman",
            "venue": "CVPR",
            "year": 2017,
            "arxiv": "1705.07750",
            "code": "https://github.com/v-iashin/video_features",
            "license": "apache-2.0",
            "bibtex": (
                "@inproceedings{carreira2017quo,\n"
                "  title={Quo Vadis, Action Recognition? A New Model and the Kinetics Dataset},\n"
                "  author={Carreira, Joao and Zisserman, Andrew},\n"
                "  booktitle={Conference on Computer Vision and Pattern Recognition (CVPR)},\n"
                "  year={2017}\n"
                "}"
            ),
            "task": "feature-extraction",
            "pipeline_tag": "feature-extraction",
        },
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
