"""The MDVC recipe of the dense captioning family (`scripts/run_dense_captioning.py --model_type mdvc`): the
captioner (speech + audio + video, late fusion) trained on ground-truth events. Evaluation is the family's
(`videozoo.tasks.dense_captioning.evaluate`).

    # the embedded synthetic task (video on MDVC's 0.96 s grid, a small model):
    accelerate launch scripts/run_dense_captioning.py train --model_type mdvc --dataset_name synthetic \
        --output_dir runs/mdvc-synthetic --max_steps 400 --per_device_train_batch_size 28 --learning_rate 1e-3

    # ActivityNet Captions with the authors' HDF5 features and ASR subtitles (paper configuration):
    accelerate launch scripts/run_dense_captioning.py train --model_type mdvc --model_size paper \
        --dataset_name activitynet --annotations_dir data/activitynet_captions \
        --video_hdf5 sub_activitynet_v1-3.i3d_25fps_stack24step24_2stream.hdf5 \
        --audio_hdf5 sub_activitynet_v1-3.vggish.hdf5 --subtitles_file asr_en.csv --per_device_train_batch_size 28 \
        --learning_rate 1e-5 --adam_beta2 0.98 --num_train_epochs 30 --output_dir runs/mdvc-anet

Both vocabularies (captions, subtitles) are built from the training events and saved with the `MDVCProcessor`.
Missing videos and empty crops get one step of U(0, 1) noise, as the reference (`--fill zero` for zeros).
"""

from dataclasses import dataclass, field
from typing import Literal

from transformers import set_seed

from ..arguments import raise_if_any
from ..configuration.configuration_mdvc import MDVCConfig
from ..data.dense_captioning import caption_view
from ..modeling.modeling_mdvc import MDVCForConditionalGeneration
from ..processors.processing_mdvc import MDVCProcessor
from ..recipes import Recipe
from ..training import TrainerArguments
from .dense_captioning import (
    CaptionerArguments,
    DenseCaptioningDataArguments,
    EvaluationArguments,
    evaluate,
    feature_sizes,
    float_list,
    label_smoothing,
    load_dense_captioning_data,
    tious_problem,
    train_captioner,
)


@dataclass
class MDVCArguments(CaptionerArguments):
    model_name_or_path: str | None = field(default=None, metadata={"help": "Continue training this MDVC checkpoint."})
    fill: Literal["random", "zero"] = "random"
    generation_max_new_tokens: int = 50
    eval_tious: str = "0.5"


SMALL_MDVC = dict(
    speech_hidden_size=32,
    num_hidden_layers=1,
    num_attention_heads=4,
    video_intermediate_size=128,
    audio_intermediate_size=128,
    speech_intermediate_size=128,
)


def argument_problems(args: MDVCArguments) -> list[str | None]:
    """What is wrong with these model arguments, found before anything is loaded."""
    return [*args.captioner_problems(), tious_problem("--eval_tious", args.eval_tious, required=True)]


def mdvc_model(args: MDVCArguments, splits, reader):
    if args.model_name_or_path:
        return (
            MDVCForConditionalGeneration.from_pretrained(args.model_name_or_path),
            MDVCProcessor.from_pretrained(args.model_name_or_path),
        )
    rows = caption_view(splits["train"])
    audio_size, video_size = feature_sizes(splits["train"], reader)
    processor = MDVCProcessor.from_captions(
        rows["sentence"], rows["speech"], audio_feature_size=audio_size, video_feature_size=video_size
    )
    config = MDVCConfig(
        vocab_size=len(processor.tokenizer),
        speech_vocab_size=len(processor.speech_tokenizer),
        video_hidden_size=video_size,
        audio_hidden_size=audio_size,
        label_smoothing=label_smoothing(args.label_smoothing, args.model_size),
        max_caption_length=args.generation_max_new_tokens,
        **(SMALL_MDVC if args.model_size == "small" else {}),
    )
    return MDVCForConditionalGeneration(config), processor


def train(
    data_args: DenseCaptioningDataArguments, args: MDVCArguments, training_args: TrainerArguments
) -> dict[str, float]:
    """Train the captioner on ground-truth events; every argument is checked before anything loads."""
    raise_if_any([*training_args.problems(), *data_args.problems(), *argument_problems(args)])
    set_seed(training_args.seed)
    splits, reader = load_dense_captioning_data(data_args, video_stride=0.96)
    model, processor = mdvc_model(args, splits, reader)
    return train_captioner(
        model,
        processor,
        splits,
        reader,
        training_args,
        {**vars(data_args), **vars(args)},
        args.generation_max_new_tokens,
        args.generation_num_beams,
        float_list(args.eval_tious),
        args.eval_meteor,
        args.fill,
    )


RECIPE = Recipe(
    train_arguments=(DenseCaptioningDataArguments, MDVCArguments),
    train=train,
    evaluate_arguments=(DenseCaptioningDataArguments, EvaluationArguments),
    evaluate=evaluate,
)
