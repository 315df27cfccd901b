"""Extract expert features from raw videos (or audio files) into the layouts the zoo's loaders read.

    # I3D RGB + flow (RAFT) in BMT's layout: <out>/<id>_rgb.npy, <out>/<id>_flow.npy, (stacks, 1024) each
    python scripts/extract_features.py --extractor i3d --model i3d-rgb --flow_model i3d-flow --raft_model raft \
        --videos videos/*.mp4 --output_dir features/i3d
    # VGGish: <out>/<id>_vggish.npy (0.96 s examples, 128); BMT's audio folder: --name_pattern "{video_id}.npy"
    python scripts/extract_features.py --extractor vggish --model vggish --video_list videos.txt --output_dir vggish
    # ResNet-50 at 21.5 fps in SpecVQGAN's layout: <out>/<id>.pkl, (frames, 2048)
    python scripts/extract_features.py --extractor resnet_frames --model resnet50 --extraction_fps 21.5 \
        --format pkl --name_pattern "{video_id}.pkl" --videos videos/*.mp4 --output_dir resnet50_21.5fps
    # S3D: <out>/<id>_s3d.npy (stacks, 1024); RAFT: <out>/<id>_raft.npy (frames - 1, 2, H, W)

Sampling (fps, stacks, steps), transforms, padding and channel order are those of v-iashin/video_features (see
docs/feature_extractors.md). The sampling comes from the checkpoint's config (`--extraction_fps`, `--stack_size`,
`--step_size`, `--last_stack` override it); the transforms from the processor saved with the checkpoint (the
default processor when there is none).
`--save_timestamps` also writes `<id>_timestamps_ms.npy` (the time of each feature: the frame's time for frame-wise
features, the end of the stack for I3D as the reference's `timestamps_ms`, the start of the window for S3D and
VGGish).

Behaviour: every argument and checkpoint is checked before any video is read; a video whose outputs all exist is
skipped (runs resume); a video that cannot be used (corrupt, no video or audio stream, shorter than one stack) is
listed with its reason in `<output_dir>/failed_videos.txt` and the run goes on; every file is written to a temporary
file in the output folder, then renamed (`os.replace`), so an interrupted run never leaves a partial feature file.
Exit status: 0 when every video was extracted or skipped, 2 when some failed (listed), 1 for bad arguments.
"""

import argparse
import os
import pickle
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

EXTRACTORS = ("resnet_frames", "s3d", "vggish", "i3d", "raft")
DEFAULT_STREAMS = {
    "resnet_frames": ["resnet"],
    "s3d": ["s3d"],
    "vggish": ["vggish"],
    "i3d": ["rgb", "flow"],
    "raft": ["raft"],
}


class ArgumentError(ValueError):
    """A bad argument or checkpoint, found before any video is read."""


# ----------------------------------------------------------------------------- writing
def write_atomically(path: Path, array: np.ndarray, fmt: str) -> None:
    """Write `array` to `path` through a temporary file in the same folder and `os.replace`."""
    handle = tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False)
    try:
        with handle:
            if fmt == "npy":
                np.save(handle, array, allow_pickle=False)
            else:
                pickle.dump(array, handle, protocol=4)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(handle.name, path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise


def write_text_atomically(path: Path, text: str) -> None:
    handle = tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False)
    try:
        with handle:
            handle.write(text)
        os.replace(handle.name, path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise


# ----------------------------------------------------------------------------- extraction
def _load(folder: str | None, what: str):
    from transformers import AutoFeatureExtractor, AutoModel

    import videozoo  # noqa: F401  (registers the architectures)

    if folder is None:
        raise ArgumentError(f"--{what} is required for this extractor")
    if not Path(folder).is_dir():
        raise ArgumentError(f"--{what} {folder}: no such checkpoint folder")
    try:
        model = AutoModel.from_pretrained(folder).eval()
    except (OSError, ValueError) as error:
        raise ArgumentError(f"--{what} {folder}: not a loadable checkpoint ({error})") from error
    try:
        processor = AutoFeatureExtractor.from_pretrained(folder)
    except (OSError, ValueError):
        processor = None
    return model, processor


class FeatureExtraction:
    """The models and processors of one extractor, and `extract(path) -> ({stream: array}, timestamps_ms)`."""

    def __init__(
        self,
        extractor: str,
        model: str,
        flow_model: str | None = None,
        raft_model: str | None = None,
        streams: list[str] | None = None,
        extraction_fps: float | None = None,
        stack_size: int | None = None,
        step_size: int | None = None,
        last_stack: str | None = None,
        batch_size: int = 16,
        device: str = "cpu",
    ):
        from videozoo.processors import (
            I3DProcessor,
            RAFTProcessor,
            ResNetFramesProcessor,
            S3DProcessor,
            VGGishProcessor,
        )

        if extractor not in EXTRACTORS:
            raise ArgumentError(f"--extractor must be one of {', '.join(EXTRACTORS)}, got {extractor!r}")
        if batch_size < 1:
            raise ArgumentError(f"--batch_size must be positive, got {batch_size}")
        self.extractor, self.device, self.batch_size = extractor, torch.device(device), batch_size
        self.streams = list(streams or DEFAULT_STREAMS[extractor])
        unknown = set(self.streams) - set(DEFAULT_STREAMS[extractor])
        if unknown or not self.streams:
            raise ArgumentError(
                f"--streams for {extractor} are among {DEFAULT_STREAMS[extractor]}, got {self.streams}"
            )
        self.models = {}
        expected = {"resnet_frames": "resnet_frames", "s3d": "s3d", "vggish": "vggish", "i3d": "i3d", "raft": "raft"}
        saved = None
        if extractor == "i3d":
            if "rgb" in self.streams:
                self.models["rgb"], saved = _load(model, "model")
            if "flow" in self.streams:
                self.models["flow"], flow_saved = _load(flow_model, "flow_model")
                saved = saved if "rgb" in self.streams else flow_saved
                self.models["raft"] = _load(raft_model, "raft_model")[0]
                if self.models["flow"].config.modality != "flow":
                    raise ArgumentError(
                        f"--flow_model {flow_model}: an I3D {self.models['flow'].config.modality} model"
                    )
            if "rgb" in self.models and self.models["rgb"].config.modality != "rgb":
                raise ArgumentError(f"--model {model}: an I3D {self.models['rgb'].config.modality} model, not rgb")
            main = self.models.get("rgb", self.models.get("flow"))
        else:
            main, saved = _load(model, "model")
            self.models[self.streams[0]] = main
        for name, loaded in self.models.items():
            want = "raft" if name == "raft" else expected[extractor]
            if loaded.config.model_type != want:
                raise ArgumentError(f"the {name} checkpoint is a {loaded.config.model_type!r} model, not {want!r}")
            loaded.to(self.device)
        sampling = {k: getattr(main.config, k, None) for k in ("extraction_fps", "stack_size", "step_size")}
        for key, value in (("extraction_fps", extraction_fps), ("stack_size", stack_size), ("step_size", step_size)):
            if value is not None:
                sampling[key] = value
        processor_class = {
            "resnet_frames": ResNetFramesProcessor,
            "s3d": S3DProcessor,
            "i3d": I3DProcessor,
            "raft": RAFTProcessor,
        }.get(extractor)
        if extractor == "vggish":
            self.processor = saved if isinstance(saved, VGGishProcessor) else VGGishProcessor()
        else:
            if processor_class in (ResNetFramesProcessor, RAFTProcessor):
                sampling = {"extraction_fps": sampling["extraction_fps"]}
            elif sampling["stack_size"] is None or sampling["step_size"] is None:
                raise ArgumentError("this extractor needs --stack_size and --step_size (or a config that has them)")
            if extractor == "i3d" and last_stack is not None:
                sampling["last_stack"] = last_stack
            if isinstance(saved, processor_class):  # the checkpoint's transforms, with the sampling chosen here
                for key, value in sampling.items():
                    setattr(saved, key, value)
                self.processor = saved
            else:
                self.processor = processor_class(**sampling)

    # -- one video
    @torch.no_grad()
    def extract(self, path: Path) -> tuple[dict[str, np.ndarray], np.ndarray]:
        return getattr(self, f"_extract_{self.extractor}")(Path(path))

    def _run(self, name: str, inputs: torch.Tensor) -> torch.Tensor:
        return self.models[name](inputs.to(self.device)).features.float().cpu()

    def _extract_resnet_frames(self, path):
        video = self.processor.load_video(path)
        features = [
            self._run("resnet", self.processor(video.frames[i : i + self.batch_size])["pixel_values"])
            for i in range(0, len(video.frames), self.batch_size)
        ]
        return {"resnet": torch.cat(features).numpy()}, video.timestamps_sec * 1000.0

    def _extract_s3d(self, path):
        video = self.processor.load_video(path)
        slices = self.processor.slices(len(video.frames), str(path))
        features = [self._run("s3d", self.processor(video.frames[start:end])["pixel_values"]) for start, end in slices]
        times = np.array([start / video.fps * 1000.0 for start, _ in slices])
        return {"s3d": torch.cat(features).numpy()}, times

    def _extract_vggish(self, path):
        from videozoo.processors.video_io import load_audio

        waveform, rate = load_audio(path)
        examples = self.processor(waveform.numpy(), rate, source=str(path))["input_features"]
        features = [
            self._run("vggish", examples[i : i + self.batch_size]) for i in range(0, len(examples), self.batch_size)
        ]
        times = np.arange(len(examples)) * self.processor.example_hop_sec * 1000.0
        return {"vggish": torch.cat(features).numpy()}, times

    def _flow(self, frames: torch.Tensor, unpad: bool) -> torch.Tensor:
        from videozoo.processors.processing_raft import RAFTProcessor

        flows = []
        for first, second in RAFTProcessor.pairs(frames, self.batch_size):
            flows.append(self.models["raft"](first.to(self.device), second.to(self.device), unpad=unpad).flow.cpu())
        return torch.cat(flows)

    def _extract_i3d(self, path):
        video = self.processor.load_video(path)
        stacks = self.processor.stack_indices(len(video.frames), str(path))
        features = {stream: [] for stream in self.streams}
        for indices in stacks:
            stack = self.processor(video.frames[torch.from_numpy(indices)])["pixel_values"]
            if "rgb" in self.streams:
                features["rgb"].append(self._run("rgb", self.processor.rgb_inputs(stack)))
            if "flow" in self.streams:
                flow = self._flow(stack, unpad=False)  # the reference never unpads the flow it feeds I3D
                features["flow"].append(self._run("flow", self.processor.flow_inputs(flow)))
        times = np.array([indices[-1] / video.fps * 1000.0 for indices in stacks])
        return {stream: torch.cat(values).numpy() for stream, values in features.items()}, times

    def _extract_raft(self, path):
        video = self.processor.load_video(path)
        flow = self._flow(self.processor(video.frames)["pixel_values"], unpad=True)
        return {"raft": flow.numpy()}, video.timestamps_sec[:-1] * 1000.0


# ----------------------------------------------------------------------------- the run
def video_paths(videos: list[str] | None, video_list: str | None) -> list[Path]:
    paths = [Path(v) for v in videos or []]
    if video_list:
        listing = Path(video_list)
        if not listing.is_file():
            raise ArgumentError(f"--video_list {listing}: no such file")
        paths += [Path(line.strip()) for line in listing.read_text().splitlines() if line.strip()]
    if not paths:
        raise ArgumentError("no video given (--videos or --video_list)")
    seen = {}
    for path in paths:
        if path.stem in seen and seen[path.stem] != path:
            raise ArgumentError(f"{seen[path.stem]} and {path} would write the same feature files (same name)")
        seen[path.stem] = path
    return list(dict.fromkeys(paths))


def output_path(output_dir: Path, pattern: str, video_id: str, stream: str) -> Path:
    return output_dir / pattern.format(video_id=video_id, stream=stream)


def run(args) -> int:
    if args.format not in ("npy", "pkl"):
        raise ArgumentError(f"--format must be npy or pkl, got {args.format!r}")
    if "{video_id}" not in args.name_pattern:
        raise ArgumentError(f"--name_pattern must contain {{video_id}}, got {args.name_pattern!r}")
    paths = video_paths(args.videos, args.video_list)
    output_dir = Path(args.output_dir)
    if output_dir.exists() and not output_dir.is_dir():
        raise ArgumentError(f"--output_dir {output_dir} exists and is not a folder")
    extraction = FeatureExtraction(
        args.extractor,
        args.model,
        flow_model=args.flow_model,
        raft_model=args.raft_model,
        streams=args.streams,
        extraction_fps=args.extraction_fps,
        stack_size=args.stack_size,
        step_size=args.step_size,
        last_stack=args.last_stack,
        batch_size=args.batch_size,
        device=args.device,
    )
    if len(extraction.streams) > 1 and "{stream}" not in args.name_pattern:
        raise ArgumentError(f"--name_pattern must contain {{stream}} for several streams ({extraction.streams})")
    output_dir.mkdir(parents=True, exist_ok=True)
    failed, done, skipped = [], 0, 0
    for path in paths:
        video_id = path.stem
        targets = {s: output_path(output_dir, args.name_pattern, video_id, s) for s in extraction.streams}
        if args.save_timestamps:
            targets["timestamps_ms"] = output_path(output_dir, "{video_id}_timestamps_ms.npy", video_id, "")
        if all(target.is_file() for target in targets.values()):
            skipped += 1
            continue
        try:
            features, times = extraction.extract(path)
        except (ValueError, OSError, RuntimeError) as error:  # media errors are ValueErrors naming the file
            failed.append(f"{path}\t{type(error).__name__}: {error}")
            print(f"FAILED {path}: {error}", file=sys.stderr)
            continue
        for stream, array in features.items():
            write_atomically(targets[stream], array.astype(np.float32), args.format)
        if args.save_timestamps:
            write_atomically(targets["timestamps_ms"], np.asarray(times, dtype=np.float64), "npy")
        done += 1
        print(f"{path}: " + ", ".join(f"{s} {tuple(a.shape)}" for s, a in features.items()))
    failures_file = output_dir / "failed_videos.txt"
    if failed:
        write_text_atomically(failures_file, "\n".join(failed) + "\n")
    elif failures_file.exists():
        failures_file.unlink()
    print(f"extracted {done}, skipped (already done) {skipped}, failed {len(failed)}")
    if failed:
        print(f"the failed videos and their reasons are listed in {failures_file}")
    return 2 if failed else 0


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--extractor", required=True, choices=EXTRACTORS)
    parser.add_argument("--model", help="checkpoint folder (I3D: the RGB stream)")
    parser.add_argument("--flow_model", help="I3D flow-stream checkpoint folder")
    parser.add_argument("--raft_model", help="RAFT checkpoint folder (I3D's flow stream)")
    parser.add_argument("--streams", nargs="+", help="I3D: rgb and/or flow (default both)")
    parser.add_argument("--videos", nargs="*", help="media files")
    parser.add_argument("--video_list", help="a text file with one media path per line")
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--name_pattern", default="{video_id}_{stream}.npy", help="file name of each feature array")
    parser.add_argument("--format", default="npy", choices=["npy", "pkl"])
    parser.add_argument("--extraction_fps", type=float)
    parser.add_argument("--stack_size", type=int)
    parser.add_argument("--step_size", type=int)
    parser.add_argument(
        "--last_stack", choices=["drop", "cycle"], help="I3D: frames after the last full stack (see I3DProcessor)"
    )
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--save_timestamps", action="store_true")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        return run(args)
    except ArgumentError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
