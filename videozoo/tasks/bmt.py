"""The BMT recipe of the dense captioning family (`scripts/run_dense_captioning.py --model_type bmt`): training in
the reference's two stages, the captioner on ground-truth events, then the event proposal generator on an encoder
copied from the captioner and frozen ("Cap -> Prop", BMT paper Table 3). Evaluation is the family's
(`videozoo.tasks.dense_captioning.evaluate`).

    # stage 1, the embedded synthetic task (a small model):
    accelerate launch scripts/run_dense_captioning.py train --model_type bmt --stage captioning \
        --dataset_name synthetic --output_dir runs/bmt-cap --max_steps 600 --per_device_train_batch_size 32 \
        --learning_rate 1e-3
    # stage 2, proposals on the captioner's frozen encoder:
    accelerate launch scripts/run_dense_captioning.py train --model_type bmt --stage proposals \
        --captioner_name_or_path runs/bmt-cap --dataset_name synthetic --output_dir runs/bmt-prop --max_steps 600 \
        --per_device_train_batch_size 16 --learning_rate 1e-3

    # ActivityNet Captions with the authors' features (paper configuration, the reference's optimiser):
    accelerate launch scripts/run_dense_captioning.py train --model_type bmt --stage captioning --model_size paper \
        --dataset_name activitynet --annotations_dir data/activitynet_captions \
        --available_ids_file data/available_mp4.txt --video_features_dir data/i3d_25fps_stack64step64_2stream_npy \
        --audio_features_dir data/vggish_npy --glove_file glove.840B.300d.txt --per_device_train_batch_size 32 \
        --learning_rate 5e-5 --num_train_epochs 30 --eval_steps 1068 --select_best_metric METEOR --eval_meteor coco \
        --output_dir runs/bmt-cap-anet
    accelerate launch scripts/run_dense_captioning.py train --model_type bmt --stage proposals \
        --captioner_name_or_path runs/bmt-cap-anet ... --per_device_train_batch_size 16 --learning_rate 5e-5 \
        --select_best_metric f1 --output_dir runs/bmt-prop-anet

`--dataset_name` is `synthetic`, `activitynet` (annotation JSON files + the BMT `.npy` layout, or MDVC's HDF5
files) or a folder written by `DatasetDict.save_to_disk` with `train` and `test` video tables in the schema of
`videozoo.data.dense_captioning`. Anchors are K-means centres of the training event lengths, stored in the config.
"""

from dataclasses import dataclass, field
from typing import Literal

import torch
from transformers import set_seed

from ..arguments import file_problem, positive_problem, raise_if_any
from ..configuration.configuration_bmt import BMTConfig
from ..data.dense_captioning import (
    ProposalCollator,
    annotations_of,
    event_lengths,
    kmeans_anchors,
    proposal_view,
)
from ..modeling.modeling_bmt import BMTForConditionalGeneration, BMTForEventProposal
from ..processors.processing_bmt import BMTProcessor
from ..recipes import Recipe
from ..training import TrainerArguments, fit
from .dense_captioning import (
    CaptionerArguments,
    DenseCaptioningDataArguments,
    EvaluationArguments,
    EventProposalTask,
    evaluate,
    feature_sizes,
    float_list,
    int_list,
    label_smoothing,
    load_dense_captioning_data,
    max_feature_lengths,
    tious_problem,
    train_captioner,
)


@dataclass
class BMTArguments(CaptionerArguments):
    stage: Literal["captioning", "proposals"] = "captioning"
    model_name_or_path: str | None = field(
        default=None, metadata={"help": "Continue training this checkpoint (same stage)."}
    )
    captioner_name_or_path: str | None = field(
        default=None, metadata={"help": "Stage 2: copy this captioner's encoder."}
    )
    finetune_encoder: bool = field(
        default=False, metadata={"help": "Stage 2: train the copied encoder too (reference: frozen)."}
    )
    glove_file: str | None = field(
        default=None, metadata={"help": "Local GloVe text file for the (frozen) caption embedding."}
    )
    num_audio_anchors: int | None = field(default=None, metadata={"help": "K-means anchors (48 paper, 6 small)."})
    num_video_anchors: int | None = field(default=None, metadata={"help": "K-means anchors (128 paper, 10 small)."})
    audio_kernel_sizes: str | None = None
    video_kernel_sizes: str | None = None
    proposal_hidden_sizes: str | None = None
    max_audio_length: int | None = field(
        default=None, metadata={"help": "Fixed padded length (800 paper; small: from data)."}
    )
    max_video_length: int | None = field(
        default=None, metadata={"help": "Fixed padded length (300 paper; small: from data)."}
    )
    eval_tious: str = field(
        default="", metadata={"help": "Comma list; default 0.5 (captioning), 0.3,0.5,0.7,0.9 (proposals)."}
    )
    max_proposals: int = 100


SMALL_BMT = dict(
    attention_hidden_size=64,
    decoder_hidden_size=32,
    num_attention_heads=4,
    num_encoder_layers=2,
    num_decoder_layers=2,
    audio_intermediate_size=128,
    video_intermediate_size=192,
    decoder_intermediate_size=128,
)
SMALL_PROPOSALS = dict(
    audio_kernel_sizes=[3, 9, 21],
    video_kernel_sizes=[1, 3, 9],
    audio_proposal_hidden_sizes=[64, 64],
    video_proposal_hidden_sizes=[64, 64],
)


def argument_problems(args: BMTArguments) -> list[str | None]:
    """What is wrong with these model arguments, found before anything is loaded."""
    found = [
        *args.captioner_problems(),
        file_problem("--glove_file", args.glove_file),
        positive_problem("--num_audio_anchors", args.num_audio_anchors),
        positive_problem("--num_video_anchors", args.num_video_anchors),
        positive_problem("--max_audio_length", args.max_audio_length),
        positive_problem("--max_video_length", args.max_video_length),
        positive_problem("--generation_max_new_tokens", args.generation_max_new_tokens),
        positive_problem("--generation_num_beams", args.generation_num_beams),
        positive_problem("--max_proposals", args.max_proposals),
    ]
    found.append(tious_problem("--eval_tious", args.eval_tious))
    for flag in ("audio_kernel_sizes", "video_kernel_sizes", "proposal_hidden_sizes"):
        value = getattr(args, flag)
        try:
            numbers = int_list(value or "")
        except ValueError:
            found.append(f"--{flag}: {value!r} is not a comma-separated list of integers")
            continue
        if any(n <= 0 for n in numbers):
            found.append(f"--{flag}: {value!r} has a value out of range")
    if args.stage == "captioning" and args.captioner_name_or_path:
        found.append("--captioner_name_or_path is for --stage proposals (it copies a trained captioner's encoder)")
    if args.model_name_or_path and args.captioner_name_or_path:
        found.append("--model_name_or_path and --captioner_name_or_path exclude each other")
    return found


def new_processor(splits, reader) -> BMTProcessor:
    """Caption vocabulary from the training captions (reference tokenisation), feature widths of the data."""
    audio_size, video_size = feature_sizes(splits["train"], reader)
    return BMTProcessor.from_captions(
        [s for row in splits["train"].select_columns(["sentences"]) for s in row["sentences"]],
        audio_feature_size=audio_size,
        video_feature_size=video_size,
    )


def new_config(args: BMTArguments, processor: BMTProcessor) -> BMTConfig:
    sizes = SMALL_BMT if args.model_size == "small" else {}
    extractor = processor.feature_extractor
    return BMTConfig(
        vocab_size=len(processor.tokenizer),
        audio_feature_size=extractor.audio_feature_size,
        video_feature_size=extractor.video_feature_size,
        label_smoothing=label_smoothing(args.label_smoothing, args.model_size),
        max_caption_length=args.generation_max_new_tokens,
        freeze_word_embeddings=args.glove_file is not None,
        **sizes,
    )


def captioner(args: BMTArguments, splits, reader):
    """A new or loaded captioner and its processor. A new one's caption embedding takes the GloVe rows when
    `--glove_file` is given (and stays frozen, as the reference); without GloVe it is trained."""
    if args.model_name_or_path:
        return (
            BMTForConditionalGeneration.from_pretrained(args.model_name_or_path),
            BMTProcessor.from_pretrained(args.model_name_or_path),
        )
    processor = new_processor(splits, reader)
    config = new_config(args, processor)
    model = BMTForConditionalGeneration(config)
    if args.glove_file:
        with torch.no_grad():
            model.word_embeddings.weight.copy_(processor.word_vectors(args.glove_file, config.decoder_hidden_size))
    return model, processor


def proposal_generator(args: BMTArguments, splits, reader):
    """A proposal generator and its processor: anchors are K-means centres of the training event lengths, stored
    in the config; with `--captioner_name_or_path` the bi-modal encoder is the captioner's, frozen."""
    if args.model_name_or_path:
        return BMTForEventProposal.from_pretrained(args.model_name_or_path), BMTProcessor.from_pretrained(
            args.model_name_or_path
        )
    source = None
    if args.captioner_name_or_path:
        source = BMTForConditionalGeneration.from_pretrained(args.captioner_name_or_path)
        processor = BMTProcessor.from_pretrained(args.captioner_name_or_path)
        base = source.config
    else:
        processor = new_processor(splits, reader)
        base = new_config(args, processor)
    paper = args.model_size == "paper"
    defaults = {} if paper else SMALL_PROPOSALS
    lengths = event_lengths(splits["train"])
    if args.max_audio_length and args.max_video_length:
        max_audio, max_video = args.max_audio_length, args.max_video_length
    elif paper:
        max_audio, max_video = 800, 300
    else:
        max_audio, max_video = max_feature_lengths(splits, reader)
    updates = {
        "audio_anchor_lengths": kmeans_anchors(lengths, args.num_audio_anchors or (48 if paper else 6)),
        "video_anchor_lengths": kmeans_anchors(lengths, args.num_video_anchors or (128 if paper else 10)),
        "max_audio_length": max_audio,
        "max_video_length": max_video,
    }
    for name in ("audio_kernel_sizes", "video_kernel_sizes"):
        value = getattr(args, name)
        updates[name] = int_list(value) if value else defaults.get(name, getattr(base, name))
    for name in ("audio_proposal_hidden_sizes", "video_proposal_hidden_sizes"):
        value = args.proposal_hidden_sizes
        updates[name] = int_list(value) if value else defaults.get(name, getattr(base, name))
    config = BMTConfig.from_dict({**base.to_dict(), **updates})
    model = BMTForEventProposal(config)
    if source is not None:  # stage 2 of the reference recipe
        model.encoder.load_state_dict(source.encoder.state_dict())
        if not args.finetune_encoder:
            model.encoder.requires_grad_(False)
    return model, processor


def tiou_list(text: str, default) -> tuple[float, ...]:
    return tuple(float_list(text)) if text else tuple(default)


def train(
    data_args: DenseCaptioningDataArguments, args: BMTArguments, training_args: TrainerArguments
) -> dict[str, float]:
    """Train one stage (`--stage captioning` or `proposals`); every argument is checked before anything loads."""
    raise_if_any([*training_args.problems(), *data_args.problems(), *argument_problems(args)])
    set_seed(training_args.seed)
    splits, reader = load_dense_captioning_data(data_args)
    hparams = {**vars(data_args), **vars(args)}
    if args.stage == "captioning":
        model, processor = captioner(args, splits, reader)
        return train_captioner(
            model,
            processor,
            splits,
            reader,
            training_args,
            hparams,
            args.generation_max_new_tokens,
            args.generation_num_beams,
            tiou_list(args.eval_tious, (0.5,)),
            args.eval_meteor,
        )
    model, processor = proposal_generator(args, splits, reader)
    train_rows, test_rows = proposal_view(splits["train"], reader), proposal_view(splits["test"], reader)
    lengths = (model.config.max_audio_length, model.config.max_video_length)
    task = EventProposalTask(
        test_rows, annotations_of(splits["test"]), args.max_proposals, tiou_list(args.eval_tious, (0.3, 0.5, 0.7, 0.9))
    )
    return fit(
        model,
        task,
        train_rows,
        training_args,
        collate_fn=ProposalCollator(splits["train"], processor, *lengths, reader),
        eval_dataset=test_rows,
        eval_collate_fn=ProposalCollator(splits["test"], processor, *lengths, reader),
        processor=processor,
        hparams=hparams,
    )


RECIPE = Recipe(
    train_arguments=(DenseCaptioningDataArguments, BMTArguments),
    train=train,
    evaluate_arguments=(DenseCaptioningDataArguments, EvaluationArguments),
    evaluate=evaluate,
)
