"""Benchmark the pipelines: seconds per minute of video on this CPU, split into decoding, feature extraction and the
model, at batch size 1 and at `--batch_size` (what batching gains).

    OMP_NUM_THREADS=1 python scripts/benchmark_pipelines.py --size tiny --seconds 20
    OMP_NUM_THREADS=1 python scripts/benchmark_pipelines.py --size paper --seconds 10 --tasks retrieval-mmt

Every task runs its pipeline (`transformers.pipeline(task, ...)`, media files in) on synthetic mp4s that the script
writes (`benchmark_extract_features.write_synthetic_clip`: a moving 320 x 240 gradient at 25 fps with a tone), with
random weights: `--size tiny` the test suite's small networks (tests/tiny_configs.py, read from the repository),
`--size paper` the default (paper) configurations of the models and of the zoo's extractors. The video of
`--seconds` is given as clips: two halves, or, for speech recognition, clips of AVATAR's audio window (or of
`--clip_seconds`).

Time is split by wrapping the functions that do each part (only the outermost part is charged, inner parts are
subtracted from it):
- decoding: `video_io` / AVATAR decoding and the extractors' `prepare_inputs` (decoding plus their frame / audio
  transforms), SparseSync's `load_clip`;
- features: the zoo's extractor networks (`FeatureExtraction.compute`: ResNet-50, S3D, I3D + RAFT, VGGish);
- model: the pipeline's model calls (`_forward_batch`, `_embed`, `_proposals`, `_caption`);
- other: the rest of the call (window cutting, processors, search, post-processing).
The figures are CPU seconds of the process (`time.process_time`, all its threads) per minute of video: on a
machine shared with other jobs they stay close to what the work costs alone, where wall-clock time would count the
waiting (the wall-clock total is printed beside them); with `--threads 1` they are also the wall-clock time on an
idle core. The batched run
changes the model's batches (windows, clips, videos, events); the extractors batch their own frames
(`FeatureExtraction`'s batch_size 16) in both runs, so the batched run reuses the features of the first.
"""

import argparse
import contextlib
import functools
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

TASKS = (
    "synchronisation",
    "speech-recognition",
    "retrieval-avlnet",
    "retrieval-everything-at-once",
    "retrieval-mmt",
    "captioning-bmt",
    "captioning-mdvc",
    "video-to-audio",
)
PARTS = ("decoding", "features", "model", "other")


class PartTimer:
    """Exclusive time per part: a wrapped call charges its own time minus that of the wrapped calls inside it."""

    def __init__(self):
        self.seconds = dict.fromkeys(PARTS[:-1], 0.0)
        self.stack: list[float] = []  # time of the inner wrapped calls, per open call

    def wrap(self, function, part: str):
        @functools.wraps(function)
        def timed(*args, **kwargs):
            self.stack.append(0.0)
            start = time.process_time()
            try:
                return function(*args, **kwargs)
            finally:
                elapsed = time.process_time() - start
                inner = self.stack.pop()
                self.seconds[part] += elapsed - inner
                if self.stack:
                    self.stack[-1] += elapsed

        return timed

    @contextlib.contextmanager
    def patched(self, targets):
        """`targets`: `(object, attribute name, part)`; each attribute is wrapped for the duration."""
        saved = []
        for owner, name, part in targets:
            original = getattr(owner, name)
            saved.append((owner, name, original))
            setattr(owner, name, self.wrap(original, part))
        try:
            yield self
        finally:
            for owner, name, original in reversed(saved):
                setattr(owner, name, original)


# ----------------------------------------------------------------------------- models with random weights
def _save(model_type: str, folder: Path, size: str, processor, **overrides) -> str:
    from transformers import AutoConfig, AutoModel

    if size == "tiny":
        from tests.tiny_configs import tiny_config

        config = tiny_config(model_type, **overrides)
    else:
        config = AutoConfig.for_model(model_type, **overrides)
    torch.manual_seed(0)
    AutoModel.from_config(config).eval().save_pretrained(folder)
    if processor is not None:
        processor.save_pretrained(folder)
    return str(folder)


def _tiny_processor(model_type: str, folder: Path):
    from tests.tiny_configs import TINY_PROCESSORS

    folder.mkdir(parents=True, exist_ok=True)
    return TINY_PROCESSORS[model_type](folder)


def extractor(model_type: str, root: Path, size: str, **overrides) -> str:
    """An extractor checkpoint (random weights) with its processor: the default config, or the tests' tiny one on
    32 px crops (as tests/test_pipelines.py)."""
    from videozoo.processors import I3DProcessor, RAFTProcessor, ResNetFramesProcessor, S3DProcessor, VGGishProcessor

    folder = root / "-".join([model_type, *(f"{k}{v}" for k, v in sorted(overrides.items()))])
    if folder.exists():
        return str(folder)
    small = dict(resize_size=40, crop_size=32) if size == "tiny" else {}
    sampling = {k: overrides[k] for k in ("stack_size", "step_size", "extraction_fps") if k in overrides}
    processors = {
        "resnet_frames": lambda: ResNetFramesProcessor(**small, **sampling),
        "s3d": lambda: S3DProcessor(**small, **sampling),
        "i3d": lambda: I3DProcessor(**small, **sampling),
        "raft": RAFTProcessor,
        "vggish": VGGishProcessor,
    }
    return _save(model_type, folder, size, processors[model_type](), **overrides)


def _vocab_words(count: int) -> list[str]:
    return [f"w{i}" for i in range(count)]


def build(task: str, root: Path, size: str, clip_seconds: float | None = None):
    """`(pipeline, list of clip lengths in seconds, call keyword arguments, run(pipe, paths, batch_size))`."""
    from transformers import AutoConfig, pipeline

    tiny = size == "tiny"
    folder = root / task
    halves = "halves"
    if task == "synchronisation":
        from videozoo.processors import SparseSyncFeatureExtractor, SparseSyncProcessor

        overrides = {"visual_grid": [2, 1, 1]} if tiny else {}
        processor = (
            _tiny_processor("sparsesync", folder) if tiny else SparseSyncProcessor(SparseSyncFeatureExtractor())
        )
        pipe = pipeline(task="audio-visual-synchronisation", model=_save("sparsesync", folder, size, processor,
                                                                          **overrides))  # fmt: skip
        return pipe, halves, lambda p, paths, b: p(paths, batch_size=b)
    if task == "speech-recognition":
        from videozoo.processors import AvatarFeatureExtractor, AvatarProcessor
        from videozoo.processors.processing_avatar import write_vocab

        if tiny:
            processor = _tiny_processor("avatar", folder)
        else:
            folder.mkdir(parents=True, exist_ok=True)
            vocab = write_vocab(_vocab_words(AutoConfig.for_model("avatar").vocab_size - 5), folder / "vocab.txt")
            processor = AvatarProcessor.from_vocab_file(vocab, AvatarFeatureExtractor())
        pipe = pipeline("audio-visual-speech-recognition", model=_save("avatar", folder, size, processor))
        extractor_ = pipe.processor.feature_extractor
        window = extractor_.max_frames * extractor_.hop_length / extractor_.sampling_rate
        window = min(window, clip_seconds or window)
        return pipe, window, lambda p, paths, b: p(paths, batch_size=b, truncation=True, max_new_tokens=20)
    if task.startswith("retrieval"):
        from videozoo.processors.pipeline_retrieval import RetrievalMediaFeatures

        # AVLnet / Everything at Once: 2D features at 1 fps (their papers); MMT's appearance: every 0.2 s
        fps = 5.0 if task == "retrieval-mmt" else 1.0
        two = {
            "resnet_frames": extractor("resnet_frames", root, size, extraction_fps=fps),
            "s3d": extractor("s3d", root, size),
        }
        widths = 80 + 128 if tiny else 2048 + 1024  # the zoo's ResNet + S3D (the released checkpoints read 4096)
        if task == "retrieval-mmt":
            from videozoo.processors import MMTFeatureExtractor, MMTProcessor

            experts = {"rgb": 80, "s3d": 128, "vggish": 16} if tiny else None
            if tiny:
                processor = _tiny_processor("mmt", folder)
                overrides = dict(expert_names=list(experts), expert_feature_sizes=experts)
                processor.feature_extractor = MMTFeatureExtractor(list(experts), experts, max_feature_tokens=5)
            else:  # the MSR-VTT model: seven experts, of which the zoo extracts three
                folder.mkdir(parents=True, exist_ok=True)
                (folder / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
                                                             *_vocab_words(28996 - 5)]) + "\n")  # fmt: skip
                config = AutoConfig.for_model("mmt")
                processor = MMTProcessor.from_vocab_file(folder / "vocab.txt", config.expert_names)
                overrides = {}
            model_type, chosen = (
                "mmt",
                {
                    "rgb": two["resnet_frames"],
                    "s3d": two["s3d"],
                    "vggish": extractor("vggish", root, size),
                },
            )
        elif task == "retrieval-avlnet":
            from videozoo.processors import AVLnetProcessor

            model_type, chosen = "avlnet", two
            processor = _tiny_processor("avlnet", folder) if tiny else AVLnetProcessor.default()
            overrides = dict(variant="text_tri", video_feature_size=widths)
        else:
            from videozoo.processors import AVLnetFeatureExtractor, EverythingAtOnceProcessor

            model_type, chosen = "everything_at_once", two
            processor = (
                _tiny_processor(model_type, folder) if tiny else EverythingAtOnceProcessor(AVLnetFeatureExtractor())
            )
            overrides = dict(video_feature_size=widths)
        pipe = pipeline("video-text-retrieval", model=_save(model_type, folder, size, processor, **overrides))
        rate = getattr(pipe.processor.feature_extractor, "sampling_rate", 16000)
        pipe.feature_hook = RetrievalMediaFeatures(pipe.model.config, chosen, sampling_rate=rate)

        def run(p, paths, b):
            collection = p.index_videos(paths, batch_size=b)
            caption = "a man is cooking" if model_type == "mmt" else np.zeros((4, p.processor.word_embedding_size))
            return p([caption], collection=collection, top_k=1)

        return pipe, halves, run
    if task.startswith("captioning"):
        from videozoo.modeling import BMTForEventProposal
        from videozoo.processors import BMTProcessor, MDVCProcessor
        from videozoo.processors.pipeline_dense_captioning import BMTMediaFeatures

        model_type = task.split("-")[1]
        sampling = BMTMediaFeatures.MDVC_SAMPLING if model_type == "mdvc" else {}
        i3d = dict(stack_size=10, step_size=10, extraction_fps=5.0) if tiny else {}
        i3d = {**i3d, **sampling}
        rgb = extractor("i3d", root, size, modality="rgb", **i3d)
        flow = extractor("i3d", root, size, modality="flow", **i3d)
        hook = BMTMediaFeatures(rgb, flow, extractor("raft", root, size), extractor("vggish", root, size), **sampling)
        widths = dict(audio_feature_size=16, video_feature_size=128) if tiny else {}
        captions = ["a dog barks loudly .", "a cat purrs quietly"] if tiny else [" ".join(_vocab_words(10168))]
        if model_type == "mdvc":
            mdvc = AutoConfig.for_model("mdvc")
            speech = ["so um the dog"] if tiny else [" ".join(_vocab_words(mdvc.speech_vocab_size - 4))]
            captions = captions if tiny else [" ".join(_vocab_words(mdvc.vocab_size - 4))]
            processor = MDVCProcessor.from_captions(captions, speech, **widths)
            overrides = dict(audio_hidden_size=16, video_hidden_size=128) if tiny else {}
        else:
            processor = BMTProcessor.from_captions(captions, **widths)
            overrides = widths
        model = _save(model_type, folder, size, processor, **overrides)
        # the paper's anchor counts (48 audio, 128 video; their lengths come from k-means on the training set: spread
        # evenly here, as the BMT benchmark workload does)
        anchors = dict(audio_anchor_lengths=np.linspace(1, 200, 48).tolist(),
                       video_anchor_lengths=np.linspace(1, 300, 128).tolist())  # fmt: skip
        proposal_config = AutoConfig.for_model("bmt", **anchors)
        if tiny:
            from tests.tiny_configs import tiny_config

            proposal_config = tiny_config("bmt", audio_anchor_lengths=[1.0, 3.0], video_anchor_lengths=[2.0, 4.0],
                                          **widths)  # fmt: skip
            proposal_config.max_audio_length, proposal_config.max_video_length = 64, 64
        torch.manual_seed(1)
        proposer = BMTForEventProposal(proposal_config).eval()
        pipe = pipeline("dense-video-captioning", model=model, proposal_model=proposer, feature_hook=hook)
        subtitles = [{"start": 0.5, "end": 2.0, "text": "so um the dog"}]

        def run(p, paths, b):
            items = [{"media": str(path), "subtitles": subtitles} for path in paths] if model_type == "mdvc" else paths
            return p(items, batch_size=b, max_proposals=10, max_new_tokens=None if not tiny else 8)

        return pipe, halves, run
    if task == "video-to-audio":
        from videozoo.processors import SpecVQGANProcessor
        from videozoo.scripts.extract_features import FeatureExtraction

        width = 80 if tiny else 2048
        if tiny:
            processor = _tiny_processor("specvqgan", folder)
            processor = SpecVQGANProcessor(processor.feature_extractor, num_features=3, feature_length=11,
                                           feature_crop_length=9, feature_size=width)  # fmt: skip
            overrides = {"feature_size": width}
        else:
            processor, overrides = SpecVQGANProcessor(), {}
        model = _save("specvqgan_sampler", folder, size, processor, **overrides)
        vocoder_overrides = {"num_mel_bins": processor.feature_extractor.feature_size} if tiny else {}
        vocoder = _load_random("melgan", size, **vocoder_overrides)
        # SpecVQGAN's visual features: ResNet-50 at 21.5 fps (215 frames for its 10 s clips)
        resnet = FeatureExtraction("resnet_frames", extractor("resnet_frames", root, size, extraction_fps=21.5))

        def hook(path):
            return {"visual_features": resnet.extract_media(path)["features"]["resnet"]}

        pipe = pipeline("video-to-audio", model=model, vocoder=vocoder, feature_hook=hook)
        return pipe, halves, lambda p, paths, b: p(paths, batch_size=b, top_k=64)
    raise ValueError(f"unknown task {task!r}")


def _load_random(model_type: str, size: str, **overrides):
    from transformers import AutoConfig, AutoModel

    if size == "tiny":
        from tests.tiny_configs import tiny_config

        config = tiny_config(model_type, **overrides)
    else:
        config = AutoConfig.for_model(model_type, **overrides)
    torch.manual_seed(0)
    return AutoModel.from_config(config).eval()


DECODERS = ("load_clip", "load_audio", "load_video", "decode_audio", "decode_video", "prepare_inputs")


def timing_targets(pipe) -> list:
    """What to wrap: the decoding functions where the pipelines and extractors look them up (module globals), the
    extractor networks, and the pipeline's model calls."""
    import importlib

    import videozoo.scripts.extract_features as extraction

    modules = [
        importlib.import_module(name)
        for name in (
            "videozoo.processors.video_io",
            "videozoo.processors.processing_avatar",
            "videozoo.scripts.extract_features",
            type(pipe).__module__,
        )
    ]
    targets = [(m, name, "decoding") for m in modules for name in DECODERS if callable(getattr(m, name, None))]
    targets.append((extraction.FeatureExtraction, "compute", "features"))
    targets += [(pipe, name, "model") for name in ("_forward_batch", "_embed", "_proposals", "_caption")
                if hasattr(pipe, name)]  # fmt: skip
    return targets


def measure(pipe, run, paths, batch_size: int) -> dict:
    timer = PartTimer()
    with timer.patched(timing_targets(pipe)):
        start, wall = time.process_time(), time.perf_counter()
        run(pipe, [str(p) for p in paths], batch_size)
        total, wall = time.process_time() - start, time.perf_counter() - wall
    parts = dict(timer.seconds)
    parts["other"] = max(total - sum(parts.values()), 0.0)
    parts["total"], parts["wall"] = total, wall
    return parts


def write_clips(folder: Path, seconds: float, clip_seconds: float | None, size: tuple[int, int]) -> list[Path]:
    from videozoo.scripts.benchmark_extract_features import write_synthetic_clip

    folder.mkdir(parents=True, exist_ok=True)
    lengths = (
        [seconds / 2, seconds / 2] if clip_seconds is None else [clip_seconds] * max(round(seconds / clip_seconds), 1)
    )
    paths = []
    for index, length in enumerate(lengths):
        path = folder / f"clip{index}_{length:.2f}.mp4"
        if not path.exists():
            write_synthetic_clip(path, length, size=size)
        paths.append(path)
    return paths


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="+", choices=TASKS, default=list(TASKS))
    parser.add_argument("--size", choices=("tiny", "paper"), default="tiny", help="random weights of this size")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the synthetic video per task")
    parser.add_argument(
        "--clip_seconds", type=float, default=None, help="speech recognition: clip length (default: AVATAR's window)"
    )
    parser.add_argument("--batch_size", type=int, default=8, help="the batched run (the other is batch size 1)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--work_dir", type=Path, default=None, help="where checkpoints and clips go (default: temp)")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.seconds <= 0 or args.batch_size < 1 or args.threads < 1:
        raise SystemExit("--seconds, --batch_size and --threads must be positive")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/tiny_configs.py for --size tiny
    import transformers

    import videozoo  # noqa: F401  (registers the pipelines)

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as temporary:
        root = args.work_dir or Path(temporary)
        rows = []
        for task in args.tasks:
            pipe, clip_seconds, run = build(task, root / "models", args.size, args.clip_seconds)
            clip_seconds = None if clip_seconds == "halves" else min(clip_seconds - 0.05, args.seconds)
            size = (64, 64) if args.size == "tiny" else (240, 320)
            paths = write_clips(root / "clips" / task, args.seconds, clip_seconds, size)
            video_seconds = sum(float(p.stem.split("_")[1]) for p in paths)
            if args.size == "tiny":  # warm-up (first calls, lazy imports): negligible beside paper-size networks
                run(pipe, [str(paths[0])], 1)
            single = measure(pipe, run, paths, 1)
            if getattr(pipe, "feature_hook", None) is not None:
                # the extractors batch their own frames (their batch_size): the batched run reuses the features of
                # the first and times the rest, so its decoding and features are those of batch 1
                pipe.feature_hook = functools.lru_cache(maxsize=None)(pipe.feature_hook)
                batched = measure(pipe, run, paths, args.batch_size)
                batched.update({k: single[k] for k in ("decoding", "features")})
                batched["total"] = sum(batched[k] for k in PARTS)
            else:
                batched = measure(pipe, run, paths, args.batch_size)
            scale = 60.0 / video_seconds
            rows.append((task, {k: v * scale for k, v in single.items()}, {k: v * scale for k, v in batched.items()}))
            print(f"{task}: {len(paths)} clips, {video_seconds:.1f} s of video: {rows[-1][1:]}", file=sys.stderr,
                  flush=True)  # fmt: skip
    print(f"\nCPU seconds per minute of video ({args.size} random weights, {args.threads} thread(s))\n")
    print("| task | decoding | features | model (batch 1) | other | total (batch 1) | model (batch "
          f"{args.batch_size}) | total (batch {args.batch_size}) | wall-clock total (batch 1) |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for task, one, many in rows:
        print(
            f"| {task} | {one['decoding']:.2f} | {one['features']:.2f} | {one['model']:.2f} | {one['other']:.2f} | "
            f"{one['total']:.2f} | {many['model']:.2f} | {many['total']:.2f} | {one['wall']:.2f} |"
        )
    return rows


if __name__ == "__main__":
    main()
