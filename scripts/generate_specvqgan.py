"""Generate sounds with a SpecVQGAN sampler: visual features in; spectrogram PNG images, [0, 1] log-mel arrays and
(with a MelGAN vocoder) 22 050 Hz wav files out.

    # the authors' feature files (pickles read with the restricted unpickler, or .npy arrays), (frames, depth) each
    python scripts/generate_specvqgan.py --model_name_or_path converted-vas-sampler --vocoder converted-melgan \
        --features dog/video_02677.pkl dog/video_02754.pkl --samples_per_video 2 --top_k 64 --output_dir samples

    # every clip of the authors' VAS layout (features/<class>/feature_resnet50_dim2048_21.5fps/<video>.pkl)
    python scripts/generate_specvqgan.py --model_name_or_path converted-vas-sampler --vocoder converted-melgan \
        --data_dir data/vas --split valid --max_videos 8 --output_dir samples
    # the authors' VGGSound layout (BN-Inception RGB + flow features side by side; vggsound_<split>.txt beside it)
    python scripts/generate_specvqgan.py --model_name_or_path converted-vggsound-sampler --data_dir data/vggsound \
        --layout vggsound --split test --max_videos 8 --output_dir samples

    # the synthetic task's held-out "videos" (16 mel bands: PNGs and arrays only, the vocoder takes 80)
    python scripts/generate_specvqgan.py --model_name_or_path runs/synthetic-sampler --dataset_name synthetic \
        --output_dir samples

Files are named as the reference's sampler names them, `<video>_sample_<k>.{png,npy,wav}` (`<class>_<video>` for
the VAS layout), so `melception_fid_mkl.video_index_from_paths` pairs them with their real clips. Every argument is
checked before a model is loaded; the files are written into a staging folder and moved into `--output_dir` only
once all are complete, so a failing run leaves the folder as it was.

    # silent videos: their ResNet-50 features at 21.5 fps (the authors' `feature_resnet50_dim2048_21.5fps`) are
    # extracted first with a converted `resnet_frames` checkpoint (scripts/convert_resnet_original_checkpoint.py)
    python scripts/generate_specvqgan.py --model_name_or_path converted-vas-sampler --vocoder converted-melgan \
        --videos dog.mp4 --feature_extractor resnet50 --output_dir samples
"""

import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from transformers import AutoModel, HfArgumentParser

import videozoo  # noqa: F401
from videozoo.arguments import (
    checkpoint_problem,
    file_problem,
    folder_problem,
    output_folder_problem,
    positive_problem,
    raise_if_any,
)
from videozoo.data.specvqgan import (
    collate,
    list_clips,
    load_clip_features,
    load_feature_pickle,
    make_synthetic_dataset,
)
from videozoo.outputs import staged_output
from videozoo.processors import SpecVQGANProcessor
from videozoo.tasks.specvqgan import synthetic_processor

FEATURE_SUFFIXES = (".pkl", ".npy")


@dataclass
class GenerationArguments:
    model_name_or_path: str = field(default="", metadata={"help": "A trained or converted sampler."})
    output_dir: str = field(default="", metadata={"help": "Where the files go."})
    features: list[str] = field(default_factory=list, metadata={"help": "Feature files (.pkl or .npy), one a clip."})
    videos: list[str] = field(default_factory=list, metadata={"help": "Video files (needs --feature_extractor)."})
    feature_extractor: str | None = field(
        default=None, metadata={"help": "A resnet_frames checkpoint: the visual features of --videos at 21.5 fps."}
    )
    data_dir: str | None = field(default=None, metadata={"help": "The authors' VAS / VGGSound folder (--layout)."})
    split: str = field(default="valid", metadata={"help": "With --data_dir: <data_dir>/../<layout>_<split>.txt."})
    layout: Literal["vas", "vggsound"] = field(default="vas", metadata={"help": "With --data_dir: whose layout."})
    dataset_name: Literal["files", "synthetic"] = field(
        default="files", metadata={"help": "synthetic: the synthetic task's held-out rows instead of files."}
    )
    num_eval_examples: int = field(default=4, metadata={"help": "synthetic: held-out videos (seed 1 rows)."})
    max_videos: int | None = None
    vocoder: str | None = field(default=None, metadata={"help": "A converted MelGAN: also write wav files."})
    samples_per_video: int = 1
    top_k: int | None = field(default=None, metadata={"help": "Keep the k largest logits (default: all)."})
    temperature: float = 1.0
    tile_features: bool = field(default=False, metadata={"help": "Repeat short feature sequences (clips < 10 s)."})
    batch_size: int = 16
    seed: int = 0


def argument_problems(args: GenerationArguments) -> list[str | None]:
    sources = [bool(args.features), bool(args.videos), args.data_dir is not None, args.dataset_name == "synthetic"]
    problems = [
        checkpoint_problem("--model_name_or_path", args.model_name_or_path, ("specvqgan_sampler",)),
        checkpoint_problem("--vocoder", args.vocoder, ("melgan",), required=False),
        output_folder_problem("--output_dir", args.output_dir),
        positive_problem("--samples_per_video", args.samples_per_video),
        positive_problem("--batch_size", args.batch_size),
        positive_problem("--temperature", args.temperature),
        positive_problem("--top_k", args.top_k),
        positive_problem("--max_videos", args.max_videos),
        positive_problem("--num_eval_examples", args.num_eval_examples),
        None
        if sum(sources) == 1
        else "give exactly one input: --features FILE ..., --videos FILE ..., --data_dir FOLDER or --dataset_name "
        "synthetic",
        checkpoint_problem(
            "--feature_extractor", args.feature_extractor, ("resnet_frames",), required=bool(args.videos)
        ),
        folder_problem("--data_dir", args.data_dir),
    ]
    for path in args.features:
        problems.append(file_problem("--features", path))
        if not path.endswith(FEATURE_SUFFIXES):
            problems.append(f"--features: {path} is neither a .pkl nor a .npy feature file")
    for path in args.videos:
        problems.append(file_problem("--videos", path))
    for flag, paths in (("--features", args.features), ("--videos", args.videos)):
        names = [Path(p).stem for p in paths]
        if len(set(names)) != len(names):
            problems.append(f"{flag}: two files share a name; the outputs would overwrite each other")
    return problems


def load_features(path: str) -> np.ndarray:
    """A feature file -> `(frames, depth)` float32 (pickles through the restricted unpickler; .npy without pickles)."""
    if path.endswith(".pkl"):
        return load_feature_pickle(path)
    array = np.load(path, allow_pickle=False)
    if array.ndim != 2:
        raise ValueError(f"{path}: expected a (frames, depth) array, got shape {array.shape}")
    return array.astype(np.float32)


def video_features(checkpoint: str, batch_size: int):
    """`path -> (frames, 2048)`: a video's frame-wise ResNet features at the rate the sampler was trained on (21.5
    fps for the authors' checkpoints), extracted as `scripts/extract_features.py --extractor resnet_frames` does."""
    from videozoo.scripts.extract_features import FeatureExtraction

    extraction = FeatureExtraction("resnet_frames", checkpoint, extraction_fps=21.5, batch_size=batch_size)
    return lambda path: extraction.extract(Path(path))[0]["resnet"]


def write_wav(path: Path, waveform: torch.Tensor, sampling_rate: int) -> None:
    """Mono 16-bit PCM (the standard library's writer; no codec library involved)."""
    pcm = (waveform.clamp(-1, 1) * 32767).round().to(torch.int16).numpy()
    with wave.open(str(path), "wb") as file:
        file.setnchannels(1)
        file.setsampwidth(2)
        file.setframerate(sampling_rate)
        file.writeframes(pcm.tobytes())


def write_png(path: Path, spectrogram01: torch.Tensor) -> None:
    """The [0, 1] log-mel as an image, lowest band at the bottom."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.imsave(path, spectrogram01.numpy(), cmap="magma", vmin=0.0, vmax=1.0, origin="lower")


def main(argv: list[str] | None = None) -> list[str]:
    (args,) = HfArgumentParser(GenerationArguments).parse_args_into_dataclasses(argv)
    raise_if_any(argument_problems(args))
    model = AutoModel.from_pretrained(args.model_name_or_path).eval()
    vocoder = AutoModel.from_pretrained(args.vocoder).eval() if args.vocoder else None
    bands = model.config.first_stage_config.num_mel_bins
    if vocoder is not None and vocoder.config.num_mel_bins != bands:
        raise ValueError(f"--vocoder takes {vocoder.config.num_mel_bins} mel bands, the sampler makes {bands}")
    if args.dataset_name == "synthetic":
        processor = synthetic_processor()
        rows = make_synthetic_dataset(processor, args.num_eval_examples, 0.5, seed=1)
        names = [f"synthetic{i:03d}_class{int(row['class_ids'])}" for i, row in enumerate(rows)]
        features = collate(rows)["visual_features"]
    else:
        processor = SpecVQGANProcessor.default(model.config, tile_features=args.tile_features)
        if args.data_dir is not None:
            root = Path(args.data_dir)
            split_file = root.parent / f"{args.layout}_{args.split}.txt"
            clips = list_clips(root, split_file if split_file.is_file() else None, layout=args.layout)
            if not clips:
                raise ValueError(f"--data_dir: no complete clip (video, spectrogram, features) under {root}")
            paths = [str(clip.features) for clip in clips]
            names = [clip.clip_id.replace("/", "_") for clip in clips]
        elif args.videos:
            paths, names = args.videos, [Path(p).stem for p in args.videos]
        else:
            paths, names = args.features, [Path(p).stem for p in args.features]
        paths, names = paths[: args.max_videos], names[: args.max_videos]
        read = video_features(args.feature_extractor, args.batch_size) if args.videos else load_features
        if args.data_dir is not None:  # a clip's files (RGB + flow for VGGSound) by its first feature path
            clip_of = {str(clip.features): clip for clip in clips}
            read = lambda path: load_clip_features(clip_of[path])  # noqa: E731
        features = torch.stack([processor.prepare_visual_features(read(p), p) for p in paths])
    features, names = features[: args.max_videos], names[: args.max_videos]
    repeated = features.repeat_interleave(args.samples_per_video, dim=0)
    torch.manual_seed(args.seed)
    spectrograms = []
    with torch.no_grad():
        for start in range(0, len(repeated), args.batch_size):
            out = model.generate(
                repeated[start : start + args.batch_size],
                do_sample=True,
                top_k=args.top_k,
                temperature=args.temperature,
            )
            spectrograms.append(processor.post_process(out.spectrogram))
        spectrograms = torch.cat(spectrograms)
        waveforms = None
        if vocoder is not None:
            waveforms = torch.cat(
                [
                    vocoder(spectrograms[s : s + args.batch_size]).waveform
                    for s in range(0, len(spectrograms), args.batch_size)
                ]
            )
    written = []
    with staged_output(args.output_dir) as staging:
        for index, spectrogram in enumerate(spectrograms):
            stem = f"{names[index // args.samples_per_video]}_sample_{index % args.samples_per_video}"
            np.save(staging / f"{stem}.npy", spectrogram.numpy())
            write_png(staging / f"{stem}.png", spectrogram)
            written += [f"{stem}.npy", f"{stem}.png"]
            if waveforms is not None:
                write_wav(staging / f"{stem}.wav", waveforms[index], vocoder.config.sampling_rate)
                written.append(f"{stem}.wav")
    return written


if __name__ == "__main__":
    print("\n".join(main()))
