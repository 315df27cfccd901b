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
    # CLIP image embeddings at 1 fps: <out>/<id>_clip.npy (frames, 512)
    python scripts/extract_features.py --extractor clip --model clip-frames --extraction_fps 1 --videos videos/*.mp4 \
        --output_dir clip
    # the 2-D half of AVLnet / Everything at Once's HowTo100M input (ResNet-152, 1 fps, no crop, L2-normalised);
    # the 3-D ResNeXt-101 half has no implementation: --extractor resnext101_3d stops with the reason
    python scripts/extract_features.py --preset howto100m_2d --model resnet152 --videos videos/*.mp4 --output_dir 2d
    # ... and packed into the zoo loaders' layouts (MDVC's HDF5, MMT's per-video HDF5, the retrieval `datasets`):
    python scripts/extract_features.py --extractor vggish --model vggish --videos videos/*.mp4 --output_dir vggish \
        --layout mdvc_hdf5 mmt_h5 datasets --layout_dir zoo --expert_names vggish=audio

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
`--layout` (docs/feature_extractors.md, "The loaders' layouts") also writes `<id>_intervals.npy` (start/end seconds
of each feature) and, once every process is done, packs every listed video's files into the layouts, each file
written atomically with what it held before (other videos, other experts) kept.
Exit status: 0 when every video was extracted or skipped, 2 when some failed (listed), 1 for bad arguments.

At scale (docs/feature_extractors.md, "Extraction at scale"): `--num_workers` DataLoader processes decode and
preprocess while the networks run; the networks take `--batch_size` frames / stacks / audio examples gathered
across videos; `accelerate launch scripts/extract_features.py ...` gives each process (GPU) its share of the list,
each process lists its failures in `failed_videos.rank<k>.txt` and the main process merges them at the end.
"""

import argparse
import datetime
import os
import pickle
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

EXTRACTORS = ("resnet_frames", "clip", "s3d", "vggish", "i3d", "raft")
DEFAULT_STREAMS = {
    "resnet_frames": ["resnet"],
    "clip": ["clip"],
    "s3d": ["s3d"],
    "vggish": ["vggish"],
    "i3d": ["rgb", "flow"],
    "raft": ["raft"],
}


# Extractors the papers' features come from that neither v-iashin/video_features nor the zoo implements: asking for
# one (as --extractor or --preset) is refused with what it is and what to do instead.
HOWTO100M_3D = (
    "the 3-D ResNeXt-101 of HowTo100M's features (Hara et al.'s 3D-ResNets, Kinetics-400; 16-frame 112 x 112 clips "
    "of 24 fps video, 1.5 features/s, 2048-d) has no implementation in v-iashin/video_features nor in the zoo. It is "
    "the second half of the 4096-d video input of the released AVLnet and Everything at Once (tva) checkpoints: "
    "the zoo extracts the first half (--preset howto100m_2d, ResNet-152 at 1 fps); for those checkpoints use the "
    "features the authors released, or serve a model trained on zoo features (docs/feature_extractors.md, "
    '"Retrieval models from raw media")'
)
MISSING_EXTRACTORS = {
    "resnext101_3d": HOWTO100M_3D,
    "resnext101": HOWTO100M_3D,
    "howto100m_3d": HOWTO100M_3D,
    "senet154": "MMT's appearance expert ('rgb': SENet-154, ImageNet, 2048-d) has no zoo extractor; resnet_frames "
    "gives 2048-d ImageNet ResNet features (another network: a model trained on them, not MMT's released weights)",
    "densenet161": "MMT's scene expert ('scene': DenseNet-161, Places365, 2208-d) has no zoo extractor",
    "face": "MMT's face expert (SSD face detection, then a VGGFace2 ResNet-50) has no zoo extractor",
    "ocr": "MMT's OCR expert (PixelLink text detection, a Synth90K recogniser, word2vec) has no zoo extractor",
    "speech": "MMT's speech expert (cloud speech-to-text, then word2vec) has no zoo extractor",
    "pwc": "PWC-Net flow (the older video_features behind BMT's released I3D flow) is not implemented: the zoo's "
    "I3D flow stream uses RAFT (--extractor i3d --raft_model)",
}

# Named recipes: an extractor with the sampling, transforms and post-processing of a paper's released features.
PRESETS = {
    # HowTo100M's 2-D features (antoine77340/video_feature_extractor, read by AVLnet and Everything at Once):
    # torchvision ResNet-152 on frames at 1 fps, shorter side 224, no crop, global average pool, each feature
    # L2-normalised (the extractor's default)
    "howto100m_2d": {
        "extractor": "resnet_frames",
        "extraction_fps": 1.0,
        "processor": {"resize_size": 224, "crop_size": None},
        "l2_normalize": True,
    },
}


class ArgumentError(ValueError):
    """A bad argument or checkpoint, found before any video is read."""


def check_extractor(name: str | None) -> None:
    """An extractor the zoo has; a known one it lacks is refused with the reason (MISSING_EXTRACTORS)."""
    if name in EXTRACTORS:
        return
    key = (name or "").lower().replace("-", "").replace(" ", "_")
    if key in MISSING_EXTRACTORS:
        raise ArgumentError(f"--extractor {name}: {MISSING_EXTRACTORS[key]}")
    raise ArgumentError(f"--extractor must be one of {', '.join(EXTRACTORS)} (or --preset), got {name!r}")


def apply_preset(args) -> dict:
    """Fill the arguments a --preset fixes (an explicit --extractor / --extraction_fps must agree with it); returns
    what FeatureExtraction takes besides them (processor overrides, L2 normalisation)."""
    if args.preset is None:
        check_extractor(args.extractor)
        return {"l2_normalize": args.l2_normalize}
    key = args.preset.lower().replace("-", "")
    if key in MISSING_EXTRACTORS:
        raise ArgumentError(f"--preset {args.preset}: {MISSING_EXTRACTORS[key]}")
    if key not in PRESETS:
        raise ArgumentError(f"--preset must be one of {', '.join(PRESETS)}, got {args.preset!r}")
    preset, args.preset = PRESETS[key], key
    for flag in ("extractor", "extraction_fps"):
        given = getattr(args, flag)
        if given is not None and given != preset[flag]:
            raise ArgumentError(f"--preset {key} uses --{flag} {preset[flag]}, got --{flag} {given}")
        setattr(args, flag, preset[flag])
    return {"l2_normalize": preset["l2_normalize"], "processor_overrides": preset["processor"]}


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


class IndexedRows:
    """The rows `frames[index]` of one video, gathered when sliced (`rows[a:b]`): what `_batched` takes in place of
    a tensor for I3D's frame pairs, so that they are never all copied at once."""

    def __init__(self, frames: torch.Tensor, index: torch.Tensor):
        self.frames, self.index = frames, index

    @property
    def shape(self) -> torch.Size:
        return torch.Size((len(self.index), *self.frames.shape[1:]))

    def __getitem__(self, rows: slice) -> torch.Tensor:
        return self.frames[self.index[rows]]


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
        l2_normalize: bool = False,
        processor_overrides: dict | None = None,
    ):
        from videozoo.processors import (
            CLIPFramesProcessor,
            I3DProcessor,
            RAFTProcessor,
            ResNetFramesProcessor,
            S3DProcessor,
            VGGishProcessor,
        )

        check_extractor(extractor)
        if batch_size < 1:
            raise ArgumentError(f"--batch_size must be positive, got {batch_size}")
        self.extractor, self.device, self.batch_size = extractor, torch.device(device), batch_size
        self.l2_normalize = bool(l2_normalize)  # each feature scaled to unit length (HowTo100M's extractor does)
        self.dtype = torch.float32  # the networks' dtype (float64 only to measure float32 rounding in the tests)
        self.streams = list(streams or DEFAULT_STREAMS[extractor])
        unknown = set(self.streams) - set(DEFAULT_STREAMS[extractor])
        if unknown or not self.streams:
            raise ArgumentError(
                f"--streams for {extractor} are among {DEFAULT_STREAMS[extractor]}, got {self.streams}"
            )
        self.models = {}
        expected = {"resnet_frames": "resnet_frames", "clip": "clip_frames", "s3d": "s3d", "vggish": "vggish"}
        expected.update(i3d="i3d", raft="raft")
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
            "clip": CLIPFramesProcessor,
            "s3d": S3DProcessor,
            "i3d": I3DProcessor,
            "raft": RAFTProcessor,
        }.get(extractor)
        if extractor == "vggish":
            self.processor = saved if isinstance(saved, VGGishProcessor) else VGGishProcessor()
        else:
            if processor_class in (ResNetFramesProcessor, CLIPFramesProcessor, RAFTProcessor):
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
                if extractor == "clip":  # the network's input size
                    sampling["image_size"] = main.config.image_size
                self.processor = processor_class(**sampling)
        for key, value in (processor_overrides or {}).items():
            if not hasattr(self.processor, key):
                raise ArgumentError(f"the {extractor} processor has no setting {key!r}")
            setattr(self.processor, key, value)
        if extractor == "clip" and self.processor.image_size != main.config.image_size:
            raise ArgumentError(
                f"--model {model}: the processor resizes to {self.processor.image_size} px, the network reads "
                f"{main.config.image_size} px frames"
            )

    # -- one video at a time (the batched run below gives the same features)
    @torch.no_grad()
    def extract(self, path: Path) -> tuple[dict[str, np.ndarray], np.ndarray]:
        prepared = prepare_inputs(self.extractor, self.processor, self.streams, Path(path))
        return self.compute([prepared])[0], prepared["times"]

    @torch.no_grad()
    def extract_media(self, path: Path) -> dict:
        """One file in memory, as the pipelines' feature hooks use it: `{"features": {stream: array}, "times":
        ms, "intervals": (n, 2) start/end seconds of each feature, "duration": seconds of the decoded stream}`."""
        prepared = prepare_inputs(self.extractor, self.processor, self.streams, Path(path))
        keys = ("times", "intervals", "duration")
        return {"features": self.compute([prepared])[0], **{key: prepared[key] for key in keys}}

    def _run(self, name: str, inputs: torch.Tensor) -> torch.Tensor:
        features = self.models[name](inputs.to(self.device, self.dtype)).features.cpu()
        return features if self.dtype == torch.float64 else features.float()

    def _batched(self, run, per_video: list[tuple[torch.Tensor, ...]]) -> list[torch.Tensor]:
        """`run` over the rows of every video's tensors, `batch_size` rows a call gathered across videos (only rows
        of one shape share a call: RAFT's inputs keep each video's size), the outputs split back per video. A video's
        tensors may be `IndexedRows` (gathered batch by batch)."""
        outputs = [[] for _ in per_video]
        pending, count = [], 0

        def flush():
            nonlocal count
            if pending:
                joined = [torch.cat([p[1][k] for p in pending]) for k in range(len(pending[0][1]))]
                result = run(*joined)
                for (index, _), piece in zip(pending, result.split([p[1][0].shape[0] for p in pending])):
                    outputs[index].append(piece)
            pending.clear()
            count = 0

        for index, tensors in enumerate(per_video):
            rows, start = tensors[0].shape[0], 0
            while start < rows:
                if pending and pending[-1][1][0].shape[1:] != tensors[0].shape[1:]:
                    flush()
                take = min(self.batch_size - count, rows - start)
                pending.append((index, [t[start : start + take] for t in tensors]))
                count, start = count + take, start + take
                if count == self.batch_size:
                    flush()
        flush()
        return [torch.cat(pieces) for pieces in outputs]

    @torch.no_grad()
    def compute(self, prepared: list[dict]) -> list[dict[str, np.ndarray]]:
        """The features of several prepared videos (`prepare_inputs`), the networks running on batches of
        `batch_size` frames / stacks / examples gathered across the videos, in order."""
        inputs = [p["inputs"] for p in prepared]
        if self.extractor in ("resnet_frames", "clip", "s3d", "vggish"):
            name = self.streams[0]
            features = {name: self._batched(lambda x: self._run(name, x), [(i[name],) for i in inputs])}
        elif self.extractor == "raft":
            flows = self._batched(
                lambda a, b: self._flow(a, b, unpad=True), [(i["frames"][:-1], i["frames"][1:]) for i in inputs]
            )
            features = {"raft": flows}
        else:
            # stacks and frame pairs are rows of each video's frames, gathered only when a batch takes them (the
            # stacks overlap by a frame and the pairs share frames: copying them all would triple the frames)
            features = {}
            if "rgb" in self.streams:
                rgb = [torch.cat([self.processor.rgb_inputs(i["frames"][p]) for p in i["stacks"]]) for i in inputs]
                features["rgb"] = self._batched(lambda x: self._run("rgb", x), [(r,) for r in rgb])
            if "flow" in self.streams:
                pairs = [
                    (
                        IndexedRows(i["frames"], i["stacks"][:, :-1].flatten()),
                        IndexedRows(i["frames"], i["stacks"][:, 1:].flatten()),
                    )
                    for i in inputs
                ]
                # the reference never unpads the flow it feeds I3D
                flows = self._batched(lambda a, b: self._flow(a, b, unpad=False), pairs)
                flow_inputs = [
                    torch.cat([self.processor.flow_inputs(f) for f in flow.unflatten(0, (len(i["stacks"]), -1))])
                    for flow, i in zip(flows, inputs)
                ]
                del flows
                features["flow"] = self._batched(lambda x: self._run("flow", x), [(f,) for f in flow_inputs])
        if self.l2_normalize:  # as HowTo100M's extractor: every feature (row) to unit length
            features = {
                name: [torch.nn.functional.normalize(f, dim=-1) if f.dim() == 2 else f for f in per_video]
                for name, per_video in features.items()
            }
        return [{stream: features[stream][k].numpy() for stream in self.streams} for k in range(len(prepared))]

    def _flow(self, first: torch.Tensor, second: torch.Tensor, unpad: bool) -> torch.Tensor:
        first, second = first.to(self.device), second.to(self.device)  # RAFT runs in float32 (torchvision's casts)
        return self.models["raft"](first, second, unpad=unpad).flow.cpu()


# ----------------------------------------------------------------------------- decoding (DataLoader workers)
def prepare_inputs(extractor: str, processor, streams: list[str], path: Path) -> dict:
    """Decode one file and apply the processor: `{"inputs": {name: tensor}, "times": ms}`, the networks' inputs
    with one row per feature (frame, stack, audio example; I3D: the resized frames and each stack's indices).
    Runs in the DataLoader's workers; media problems raise ValueError/OSError naming the file."""
    if extractor == "vggish":
        from videozoo.processors.video_io import load_audio

        waveform, rate = load_audio(path)
        examples = processor(waveform.numpy(), rate, source=str(path))["input_features"]
        starts = np.arange(len(examples)) * processor.example_hop_sec
        return {
            "inputs": {"vggish": examples},
            "times": starts * 1e3,
            "intervals": np.stack([starts, starts + processor.example_window_sec], axis=1),
            "duration": waveform.shape[-1] / rate,
        }
    video = processor.load_video(path)
    duration = len(video.frames) / video.fps
    if extractor in ("resnet_frames", "clip"):  # frame-wise: one feature per sampled frame
        starts = video.timestamps_sec
        return {
            "inputs": {streams[0]: processor(video.frames)["pixel_values"]},
            "times": starts * 1e3,
            "intervals": np.stack([starts, starts + 1 / video.fps], axis=1),
            "duration": duration,
        }
    if extractor == "s3d":
        slices = processor.slices(len(video.frames), str(path))
        stacks = torch.cat([processor(video.frames[start:end])["pixel_values"] for start, end in slices])
        return {
            "inputs": {"s3d": stacks},
            "times": np.array([start / video.fps * 1e3 for start, _ in slices]),
            "intervals": np.array([[start / video.fps, end / video.fps] for start, end in slices]).reshape(-1, 2),
            "duration": duration,
        }
    if extractor == "raft":
        if len(video.frames) < 2:
            raise ValueError(f"{path}: optical flow needs at least 2 frames, got {len(video.frames)}")
        frames = processor(video.frames)["pixel_values"]
        starts = video.timestamps_sec[:-1]
        return {
            "inputs": {"frames": frames},
            "times": starts * 1e3,
            "intervals": np.stack([starts, video.timestamps_sec[1:]], axis=1),
            "duration": duration,
        }
    stacks = processor.stack_indices(len(video.frames), str(path))
    used = np.unique(np.concatenate(stacks))  # each frame is resized on its own: resize only those in a stack
    frames = processor(video.frames[torch.from_numpy(used)])["pixel_values"]
    positions = torch.from_numpy(np.searchsorted(used, np.stack(stacks)))
    times = np.array([indices[-1] / video.fps * 1e3 for indices in stacks])
    intervals = np.array([[min(indices) / video.fps, (max(indices) + 1) / video.fps] for indices in stacks])
    return {
        "inputs": {"frames": frames, "stacks": positions},
        "times": times,
        "intervals": intervals.reshape(-1, 2),
        "duration": duration,
    }


class VideoInputs(torch.utils.data.Dataset):
    """The videos of a run as a Dataset: item k is `prepare_inputs` of video k with its `path`, or `{"path",
    "error"}` when the file cannot be used (the worker never raises for a bad file: the run lists it and goes on)."""

    def __init__(self, extractor: str, processor, streams: list[str], paths: list[Path]):
        self.extractor, self.processor, self.streams, self.paths = extractor, processor, streams, paths

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> dict:
        path = self.paths[index]
        try:
            return {"path": path, **prepare_inputs(self.extractor, self.processor, self.streams, path)}
        except (ValueError, OSError, RuntimeError) as error:  # media errors are ValueErrors naming the file
            return {"path": path, "error": f"{type(error).__name__}: {error}"}


def _single(items: list) -> dict:
    return items[0]


# ----------------------------------------------------------------------------- the loaders' layouts (--layout)
LAYOUTS = ("mdvc_hdf5", "mmt_h5", "datasets")
# MDVC's two files (videozoo/data/dense_captioning.py, `HDF5Features`): the extractor -> (file name, key of a stream)
MDVC_FILES = {
    "i3d": ("i3d_features.hdf5", {"rgb": "{video_id}/i3d_features/rgb", "flow": "{video_id}/i3d_features/flow"}),
    "vggish": ("vggish_features.hdf5", {"vggish": "{video_id}/vggish_features"}),
}


def _temporary(path: Path, suffix: str = ".tmp") -> Path:
    handle = tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=suffix, delete=False)
    handle.close()
    return Path(handle.name)


def write_hdf5_atomically(path: Path, datasets_: dict[str, np.ndarray]) -> None:
    """Write `datasets_` (key -> array) into the HDF5 file `path`, keeping the datasets it already holds under
    other keys: the old content and the new arrays go to a temporary file in the same folder, renamed over `path`."""
    import h5py

    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = _temporary(path)
    try:
        with h5py.File(temporary, "w") as out:
            if path.exists():
                with h5py.File(path, "r") as old:

                    def keep(name, item):
                        if isinstance(item, h5py.Dataset) and name not in datasets_:
                            out.create_dataset(name, data=item[()])

                    old.visititems(keep)
            for key, array in datasets_.items():
                out.create_dataset(key, data=array)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def mmt_h5_path(layout_dir: Path, video_id: str) -> Path:
    """The authors' per-video file, as `videozoo.data.mmt.load_mmt_features` looks it up."""
    return layout_dir / "vid_feat_files" / "mult_h5" / video_id[0] / video_id[1] / video_id[2] / f"{video_id}.h5"


def write_dataset_atomically(folder: Path, rows: dict[str, dict], expert_sizes: dict[str, int]) -> None:
    """Merge `rows` (video_id -> {"<expert>__features", "<expert>__times", "duration"}) into the `datasets` folder
    of the retrieval schema (`videozoo.data.mmt.mmt_features`), written with `save_to_disk` to a temporary folder
    that replaces `folder`. Experts a video lacks get 0 rows (the schema's "missing expert")."""
    import shutil

    import datasets

    from videozoo.data.mmt import mmt_features

    table = {}
    if folder.exists():
        old = datasets.load_from_disk(str(folder))
        for name in old.column_names:
            if name.endswith("__features"):
                expert, width = name[: -len("__features")], old.features[name].shape[1]
                if expert_sizes.setdefault(expert, width) != width:
                    raise ValueError(
                        f"{folder}: expert {expert!r} has {width}-d features there, this run gives "
                        f"{expert_sizes[expert]}-d (another --layout_dir, or --expert_names to rename it)"
                    )
        for row in old.with_format("numpy"):
            table[str(row["video_id"])] = dict(row)
    for video_id, row in rows.items():
        table.setdefault(video_id, {"video_id": video_id, "captions": [], "duration": 0.0}).update(row)
    for row in table.values():
        for expert, size in expert_sizes.items():
            row.setdefault(f"{expert}__features", np.zeros((0, size), np.float32))
            row.setdefault(f"{expert}__times", np.zeros((0, 2), np.float32))
    features = mmt_features(expert_sizes)
    dataset = datasets.Dataset.from_list([{k: row[k] for k in features} for row in table.values()], features=features)
    temporary = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.", suffix=".tmp"))
    try:
        dataset.save_to_disk(str(temporary))
        if folder.exists():  # two renames: the old folder is removed only once the new one is in place
            previous = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.", suffix=".old"))
            os.replace(folder, previous / "dataset")
            os.replace(temporary, folder)
            shutil.rmtree(previous)
        else:
            os.replace(temporary, folder)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise


def write_layouts(layouts, layout_dir: Path, extractor: str, expert_names: dict[str, str], videos: dict) -> None:
    """Pack the per-video arrays of `videos` (video_id -> {"features": {stream: array}, "intervals": (n, 2) s,
    "duration": s}) into the loaders' layouts."""
    layout_dir.mkdir(parents=True, exist_ok=True)
    if "mdvc_hdf5" in layouts:
        name, keys = MDVC_FILES[extractor]
        arrays = {
            keys[stream].format(video_id=video_id): array
            for video_id, video in videos.items()
            for stream, array in video["features"].items()
        }
        write_hdf5_atomically(layout_dir / name, arrays)
    if "mmt_h5" in layouts:
        for video_id, video in videos.items():
            arrays = {}
            for stream, array in video["features"].items():
                arrays[f"features.{expert_names[stream]}"] = array
                arrays[f"features_t.{expert_names[stream]}"] = video["intervals"].astype(np.float32)
            write_hdf5_atomically(mmt_h5_path(layout_dir, video_id), arrays)
    if "datasets" in layouts:
        rows, sizes = {}, {}
        for video_id, video in videos.items():
            row = {"duration": float(video["duration"])}
            for stream, array in video["features"].items():
                row[f"{expert_names[stream]}__features"] = array
                row[f"{expert_names[stream]}__times"] = video["intervals"].astype(np.float32)
                sizes[expert_names[stream]] = array.shape[1]
            rows[video_id] = row
        write_dataset_atomically(layout_dir / "datasets", rows, sizes)


def check_layouts(args, extractor: str, streams: list[str], paths: list[Path]) -> dict[str, str]:
    """Check --layout / --expert_names before anything is read; the expert name of each stream."""
    layouts = args.layout or []
    unknown = [layout for layout in layouts if layout not in LAYOUTS]
    if unknown:
        raise ArgumentError(f"--layout must be among {', '.join(LAYOUTS)}, got {unknown}")
    if layouts and args.format != "npy":
        raise ArgumentError("--layout packs the .npy files of the run: use --format npy")
    if "mdvc_hdf5" in layouts:
        if extractor not in MDVC_FILES:
            raise ArgumentError(f"--layout mdvc_hdf5 holds I3D (rgb + flow) and VGGish features, not {extractor}")
        if extractor == "i3d" and sorted(streams) != ["flow", "rgb"]:
            raise ArgumentError("--layout mdvc_hdf5 needs both I3D streams (MDVC reads rgb and flow)")
    if "mmt_h5" in layouts:
        short = [p.stem for p in paths if len(p.stem) < 3]
        if short:
            raise ArgumentError(f"--layout mmt_h5 files by the first 3 characters of the video id: {short} too short")
    names = {stream: stream for stream in streams}
    for item in args.expert_names or []:
        stream, _, name = item.partition("=")
        if stream not in names or not name or "." in name or "/" in name:
            raise ArgumentError(f"--expert_names takes <stream>=<name> for the streams {streams}, got {item!r}")
        names[stream] = name
    if len(set(names.values())) != len(names):
        raise ArgumentError(f"--expert_names gives two streams the same name: {names}")
    return names


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
    extras = apply_preset(args)
    if args.format not in ("npy", "pkl"):
        raise ArgumentError(f"--format must be npy or pkl, got {args.format!r}")
    if args.num_workers < 0:
        raise ArgumentError(f"--num_workers must be >= 0, got {args.num_workers}")
    if "{video_id}" not in args.name_pattern:
        raise ArgumentError(f"--name_pattern must contain {{video_id}}, got {args.name_pattern!r}")
    paths = video_paths(args.videos, args.video_list)
    expert_names = check_layouts(args, args.extractor, args.streams or DEFAULT_STREAMS.get(args.extractor, []), paths)
    all_paths = paths
    output_dir = Path(args.output_dir)
    if output_dir.exists() and not output_dir.is_dir():
        raise ArgumentError(f"--output_dir {output_dir} exists and is not a folder")
    from accelerate import PartialState

    # the processes of `accelerate launch` (one otherwise); a long barrier timeout: the shares may take hours
    # (CPU processes talk through gloo: PartialState needs cpu=True for that, which Accelerator reads from the env)
    use_cpu = os.environ.get("ACCELERATE_USE_CPU", "").lower() in ("1", "true", "yes") or args.device == "cpu"
    state = PartialState(cpu=use_cpu or not torch.cuda.is_available(), timeout=datetime.timedelta(days=2))
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
        device=args.device or state.device,
        **extras,
    )
    if args.preset == "howto100m_2d" and list(getattr(extraction.models["resnet"].config, "depths", [])) != [
        3,
        8,
        36,
        3,
    ]:
        print(
            "note: --preset howto100m_2d with a network that is not ResNet-152: the sampling and transforms are "
            "HowTo100M's, the features are not",
            file=sys.stderr,
        )
    if len(extraction.streams) > 1 and "{stream}" not in args.name_pattern:
        raise ArgumentError(f"--name_pattern must contain {{stream}} for several streams ({extraction.streams})")
    output_dir.mkdir(parents=True, exist_ok=True)
    failed, done, skipped, todo = [], 0, 0, []
    targets = {}
    # each process (accelerate launch) takes its contiguous share of the list; sharded before the resume check, so
    # that files another process writes meanwhile cannot change the shares
    with state.split_between_processes(paths) as mine:
        paths = list(mine)
    for path in paths:
        video_id = path.stem
        targets[path] = {s: output_path(output_dir, args.name_pattern, video_id, s) for s in extraction.streams}
        if args.save_timestamps:
            targets[path]["timestamps_ms"] = output_path(output_dir, "{video_id}_timestamps_ms.npy", video_id, "")
        if args.layout:  # the time span of each feature, which the layouts store
            targets[path]["intervals"] = output_path(output_dir, "{video_id}_intervals.npy", video_id, "")
        if all(target.is_file() for target in targets[path].values()):
            skipped += 1
        else:
            todo.append(path)
    loader = torch.utils.data.DataLoader(
        VideoInputs(extraction.extractor, extraction.processor, extraction.streams, todo),
        batch_size=1,  # one video an item; the networks' batches are gathered across videos below
        collate_fn=_single,
        num_workers=args.num_workers,
    )

    def finish(group: list[dict]) -> None:
        nonlocal done
        for item, features in zip(group, extraction.compute(group)):
            path = item["path"]
            for stream, array in features.items():
                write_atomically(targets[path][stream], array.astype(np.float32), args.format)
            if args.save_timestamps:
                write_atomically(targets[path]["timestamps_ms"], np.asarray(item["times"], dtype=np.float64), "npy")
            if args.layout:
                write_atomically(targets[path]["intervals"], np.asarray(item["intervals"], np.float64), "npy")
            done += 1
            print(f"{path}: " + ", ".join(f"{s} {tuple(a.shape)}" for s, a in features.items()))

    group, rows = [], 0
    for item in loader:
        if "error" in item:
            failed.append(f"{item['path']}\t{item['error']}")
            print(f"FAILED {item['path']}: {item['error']}", file=sys.stderr)
            continue
        group.append(item)
        rows += len(item["times"])
        if rows >= args.batch_size:  # enough rows for full batches: run them (at most one partial batch per group)
            finish(group)
            group, rows = [], 0
    finish(group)
    failures_file = output_dir / "failed_videos.txt"
    print(f"process {state.process_index}: extracted {done}, skipped (already done) {skipped}, failed {len(failed)}")
    if state.num_processes > 1:  # one list per process, merged by the main process once every process is done
        part = output_dir / f"failed_videos.rank{state.process_index}.txt"
        write_text_atomically(part, "".join(line + "\n" for line in failed))
        state.wait_for_everyone()
        if state.is_main_process:
            parts = [output_dir / f"failed_videos.rank{rank}.txt" for rank in range(state.num_processes)]
            failed = [line for part in parts for line in part.read_text().splitlines() if line]
            _write_failures(failures_file, failed)
            for part in parts:
                part.unlink()
            print(f"all {state.num_processes} processes: failed {len(failed)}")
        # every process leaves with the status of the whole run, and only once the list is merged (a process that
        # exits with an error makes the launcher stop the others)
        state.wait_for_everyone()
        failed = [None] * int(failures_file.exists())
    else:
        _write_failures(failures_file, failed)
    if failed:
        print(f"the failed videos and their reasons are listed in {failures_file}")
    if args.layout and state.is_main_process:  # every process is done: pack every video of the list that has files
        layout_dir = Path(args.layout_dir or output_dir)
        packed = {}
        for path in all_paths:
            files = {s: output_path(output_dir, args.name_pattern, path.stem, s) for s in extraction.streams}
            intervals = output_path(output_dir, "{video_id}_intervals.npy", path.stem, "")
            if all(f.is_file() for f in files.values()) and intervals.is_file():
                spans = np.load(intervals, allow_pickle=False)
                packed[path.stem] = {
                    "features": {s: np.load(f, allow_pickle=False) for s, f in files.items()},
                    "intervals": spans,
                    "duration": float(spans[:, 1].max()) if len(spans) else 0.0,
                }
        write_layouts(args.layout, layout_dir, args.extractor, expert_names, packed)
        print(f"{', '.join(args.layout)} in {layout_dir}: {len(packed)} videos")
    return 2 if failed else 0


def _write_failures(failures_file: Path, failed: list[str]) -> None:
    if failed:
        write_text_atomically(failures_file, "\n".join(failed) + "\n")
    elif failures_file.exists():
        failures_file.unlink()


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--extractor",
        help=f"one of {', '.join(EXTRACTORS)} (optional with --preset); a paper's extractor the zoo lacks (e.g. "
        "resnext101_3d) is refused with the reason",
    )
    parser.add_argument(
        "--preset",
        help="a paper's recipe: howto100m_2d (ResNet-152 at 1 fps, shorter side 224, no crop, L2-normalised: the "
        "2-D half of AVLnet / Everything at Once's HowTo100M input); howto100m_3d is refused with the reason",
    )
    parser.add_argument(
        "--l2_normalize", action="store_true", help="scale every feature to unit length (HowTo100M's extractors)"
    )
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
    parser.add_argument(
        "--batch_size",
        type=int,
        default=16,
        help="frames / stacks / audio examples (RAFT: frame pairs) a network call",
    )
    parser.add_argument("--num_workers", type=int, default=0, help="DataLoader processes decoding the videos")
    parser.add_argument("--device", help="default: the process's device under Accelerate (cpu, cuda:<local rank>...)")
    parser.add_argument("--save_timestamps", action="store_true")
    parser.add_argument(
        "--layout",
        nargs="+",
        choices=LAYOUTS,
        help="also pack the run's features into the loaders' layouts: mdvc_hdf5 (MDVC's HDF5 files), mmt_h5 (MMT's "
        "per-video HDF5 files), datasets (the retrieval models' `datasets` folder); docs/feature_extractors.md",
    )
    parser.add_argument("--layout_dir", help="where the layouts go (default: --output_dir)")
    parser.add_argument(
        "--expert_names", nargs="+", help="<stream>=<expert> names in the mmt_h5 / datasets layouts (default: stream)"
    )
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
