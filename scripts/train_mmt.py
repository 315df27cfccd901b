"""Train MMT for text-video retrieval.

    accelerate launch scripts/train_mmt.py --dataset_name synthetic --output_dir runs/mmt-synthetic

    # the authors' feature layout (gabeur/mmt `base/base_dataset.py`), fine-tuning a converted checkpoint:
    accelerate launch scripts/train_mmt.py --model_name_or_path mmt-howto100m --dataset_name features \
        --data_dir data/MSRVTT --train_split_file data/MSRVTT/symlinked-feats/train_list_jsfusion.txt \
        --eval_split_file data/MSRVTT/symlinked-feats/val_list_jsfusion.txt --output_dir runs/mmt-msrvtt \
        --learning_rate 5e-5 --per_device_train_batch_size 32 --lr_scheduler_type step --lr_step_size 1000 \
        --lr_gamma 0.95 --max_steps 50000

`--dataset_name` is `synthetic` (the embedded task), `features` (the authors' HDF5 layout) or a
folder written by `datasets.DatasetDict.save_to_disk` with `train` and `test` splits in the videozoo schema.
Without `--model_name_or_path` a new model is built (`--model_size small` for the synthetic task, `paper` for
the paper's sizes); its tokenizer comes from `--vocab_file` or is trained offline on the training captions.
"""

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import datasets
from transformers import AutoModel, AutoProcessor, BertConfig, HfArgumentParser, set_seed

import videozoo  # noqa: F401  (registers the architectures)
from videozoo.arguments import dataset_problem, file_problem, folder_problem, positive_problem, raise_if_any
from videozoo.configuration import MMTConfig
from videozoo.data.mmt import MMTCollator, load_mmt_features, synthetic_mmt_dataset
from videozoo.modeling import MMTModel
from videozoo.processors import MMTProcessor
from videozoo.processors.processing_mmt import normalize_caption, train_wordpiece_vocab
from videozoo.tasks.mmt import MMTRetrievalTask
from videozoo.training import TrainerArguments, fit, processor_for_resume


@dataclass
class MMTArguments:
    model_name_or_path: str | None = field(default=None, metadata={"help": "videozoo MMT checkpoint to fine-tune."})
    config_name: str | None = field(
        default=None, metadata={"help": "Train from scratch with the config and processor of this checkpoint."}
    )
    model_size: Literal["small", "paper"] = "small"
    dataset_name: str = field(
        default="synthetic", metadata={"help": "'synthetic', 'features', or a save_to_disk folder."}
    )
    data_dir: str | None = None
    train_split_file: str | None = None
    eval_split_file: str | None = None
    experts: str = field(default="s3d,vggish", metadata={"help": "Experts of a new model / of the features layout."})
    num_train_videos: int = 4000
    num_test_videos: int = 250
    synthetic_seed: int = 0
    max_train_samples: int | None = None
    max_eval_samples: int | None = None
    text_model_name_or_path: str | None = field(
        default=None,
        metadata={
            "help": "Local BERT (e.g. bert-base-cased) to initialise a new model's caption encoder and tokenizer."
        },
    )
    vocab_file: str | None = None
    vocab_size: int = 300
    max_text_tokens: int = 30
    max_feature_tokens: int = 30
    eval_captions_per_video: int = field(default=0, metadata={"help": "Captions ranked per test video; 0 = all."})


def argument_problems(args: MMTArguments) -> list[str | None]:
    """What is wrong with these arguments, found before anything is loaded."""
    from videozoo.configuration.configuration_mmt import MMT_EXPERT_TABLE
    from videozoo.data.mmt import SYNTHETIC_EXPERTS

    found = [
        dataset_problem("--dataset_name", args.dataset_name, ("synthetic", "features")),
        file_problem("--vocab_file", args.vocab_file),
        folder_problem("--text_model_name_or_path", args.text_model_name_or_path),
        positive_problem("--vocab_size", args.vocab_size),
        positive_problem("--max_text_tokens", args.max_text_tokens),
        positive_problem("--max_feature_tokens", args.max_feature_tokens),
        positive_problem("--eval_captions_per_video", args.eval_captions_per_video, allow_zero=True),
    ]
    if args.model_name_or_path and args.config_name:
        found.append("--model_name_or_path and --config_name exclude each other (fine-tune, or train anew)")
    if args.dataset_name == "features":
        found += [
            folder_problem("--data_dir", args.data_dir, required=True),
            file_problem("--train_split_file", args.train_split_file, required=True),
            file_problem("--eval_split_file", args.eval_split_file, required=True),
        ]
    if not (args.model_name_or_path or args.config_name):
        table = SYNTHETIC_EXPERTS if args.dataset_name == "synthetic" else MMT_EXPERT_TABLE
        unknown = [name for name in args.experts.split(",") if name not in table]
        if unknown:
            found.append(f"--experts: unknown experts {unknown} (known: {sorted(table)})")
    return found


def load_splits(args: MMTArguments, expert_feature_sizes: dict[str, int] | None = None) -> datasets.DatasetDict:
    if args.dataset_name == "synthetic":
        splits = synthetic_mmt_dataset(args.num_train_videos, args.num_test_videos, seed=args.synthetic_seed)
    elif args.dataset_name == "features":
        if not (args.data_dir and args.train_split_file and args.eval_split_file):
            raise ValueError("--dataset_name features needs --data_dir, --train_split_file and --eval_split_file")
        splits = datasets.DatasetDict(
            train=load_mmt_features(args.data_dir, args.train_split_file, expert_feature_sizes),
            test=load_mmt_features(args.data_dir, args.eval_split_file, expert_feature_sizes),
        )
    else:
        splits = datasets.load_from_disk(args.dataset_name)
    splits = splits.with_format("numpy")  # Array2D columns come back as arrays, one call per batch
    if args.max_train_samples:
        splits["train"] = splits["train"].select(range(min(args.max_train_samples, len(splits["train"]))))
    if args.max_eval_samples:
        for name in ("validation", "test"):
            if name in splits:
                splits[name] = splits[name].select(range(min(args.max_eval_samples, len(splits[name]))))
    return splits


def new_model_and_processor(args: MMTArguments, splits: datasets.DatasetDict, sizes: dict[str, int]):
    experts = list(sizes)
    if args.text_model_name_or_path is not None:  # real BERT weights and vocabulary, from a local folder
        text_path = Path(args.text_model_name_or_path)
        processor = MMTProcessor.from_vocab_file(
            text_path / "vocab.txt",
            experts,
            sizes,
            max_text_tokens=args.max_text_tokens,
            max_feature_tokens=args.max_feature_tokens,
        )
        text_model = AutoModel.from_pretrained(text_path, add_pooling_layer=False)
        size = (
            {}
            if args.model_size == "paper"
            else dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=256)
        )
        model = AutoModel.from_config(
            MMTConfig(text_config=text_model.config, expert_names=experts, expert_feature_sizes=sizes, **size)
        )
        model.text_model.load_state_dict(text_model.state_dict())
        return model, processor
    if args.vocab_file is None:
        captions = (normalize_caption(str(c)) for cs in splits["train"]["captions"] for c in cs)
        vocab = train_wordpiece_vocab(captions, vocab_size=args.vocab_size)
        vocab_file = Path(tempfile.mkdtemp()) / "vocab.txt"
        vocab_file.write_text("\n".join(vocab) + "\n")
    else:
        vocab_file = Path(args.vocab_file)
    processor = MMTProcessor.from_vocab_file(
        vocab_file, experts, sizes, max_text_tokens=args.max_text_tokens, max_feature_tokens=args.max_feature_tokens
    )
    vocab_size = len(processor.tokenizer)
    if args.model_size == "small":  # the synthetic task's model
        text = BertConfig(
            vocab_size=vocab_size,
            hidden_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=256,
            max_position_embeddings=64,
        )
        config = MMTConfig(
            text_config=text,
            expert_names=experts,
            expert_feature_sizes=sizes,
            hidden_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=256,
        )
    else:
        config = MMTConfig(text_config=dict(vocab_size=vocab_size), expert_names=experts, expert_feature_sizes=sizes)
    return AutoModel.from_config(config), processor


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = HfArgumentParser((MMTArguments, TrainerArguments))
    args, training_args = parser.parse_args_into_dataclasses(argv)
    raise_if_any([*training_args.problems(), *argument_problems(args)])
    set_seed(training_args.seed)  # a new model's initialisation is part of the run
    if args.model_name_or_path or args.config_name:
        # an MMT checkpoint, or a modality-masking one (MMTModel then loads its video encoder and caption side)
        source = args.model_name_or_path or args.config_name
        if args.model_name_or_path:
            model = MMTModel.from_pretrained(source)
        else:
            model = MMTModel(MMTConfig.from_pretrained(source))
        processor = AutoProcessor.from_pretrained(source)
        if not isinstance(processor, MMTProcessor):
            raise ValueError(f"{source} has no MMT processor ({type(processor).__name__})")
        sizes = dict(model.config.expert_feature_sizes)
        splits = load_splits(args, sizes)
    else:
        from videozoo.configuration.configuration_mmt import MMT_EXPERT_TABLE
        from videozoo.data.mmt import SYNTHETIC_EXPERTS

        experts = args.experts.split(",")
        table = SYNTHETIC_EXPERTS if args.dataset_name == "synthetic" else {n: MMT_EXPERT_TABLE[n][0] for n in experts}
        sizes = {name: table[name] for name in experts}
        splits = load_splits(args, sizes)
        model, processor = new_model_and_processor(args, splits, sizes)
    processor = processor_for_resume(training_args, processor)
    eval_split = splits["validation"] if "validation" in splits else splits["test"]  # model selection on validation
    captions = args.eval_captions_per_video or max(len(c) for c in eval_split["captions"])
    task = MMTRetrievalTask(
        margin=model.config.ranking_margin, renormalize_missing_modalities=model.config.renormalize_missing_modalities
    )
    return fit(
        model,
        task,
        splits["train"],
        training_args,
        collate_fn=MMTCollator(processor, training=True),
        eval_dataset=eval_split,
        eval_collate_fn=MMTCollator(processor, training=False, captions_per_video=captions),
        processor=processor,
        hparams={k: v for k, v in vars(args).items()},
    )


if __name__ == "__main__":
    main()
