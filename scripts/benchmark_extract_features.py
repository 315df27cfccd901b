"""Videos per second of scripts/extract_features.py against decoding alone, with 0 and more DataLoader workers.

    # synthetic clips (written to a temporary folder), the ResNet-50 architecture with random weights
    python scripts/benchmark_extract_features.py --extractor resnet_frames --num_videos 8 --seconds 4
    # your own files and checkpoint, on a GPU
    python scripts/benchmark_extract_features.py --extractor s3d --model s3d --videos clips/*.mp4 --device cuda
    # I3D, both streams (RGB, and RAFT flow into the flow network), BMT's layout; --streams rgb for RGB alone
    python scripts/benchmark_extract_features.py --extractor i3d --num_videos 2 --seconds 6 --workers 0

Without `--model` the extractor's default config is built with random weights (`--tiny`: the small test-size
networks instead; I3D: an RGB network, a flow network and RAFT unless `--model`, `--flow_model`, `--raft_model`
give them): the timings are those of the architecture, the features are meaningless. Two figures per worker count:
"decoding" runs the Dataset of the extraction (decoding at the extraction rate and the processor, in the workers)
with no network; "extraction" is the whole run of extract_features.py into a fresh temporary folder.
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from videozoo.configuration.small_extractors import SMALL_EXTRACTOR_SIZES


def write_synthetic_clip(path: Path, seconds: float, fps: int = 25, size: tuple[int, int] = (240, 320)) -> None:
    """A moving colour gradient with a tone: an H.264 + AAC mp4 (audio for VGGish)."""
    import av

    height, width = size
    rate = 16000
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        audio = container.add_stream("aac", rate=rate)
        audio.layout = "mono"
        ys, xs = np.mgrid[0:height, 0:width]
        for i in range(int(seconds * fps)):
            image = np.stack([(xs + 4 * i) % 256, (ys + 2 * i) % 256, np.full_like(xs, (8 * i) % 256)], -1)
            for packet in video.encode(av.VideoFrame.from_ndarray(image.astype(np.uint8), format="rgb24")):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
        tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(int(seconds * rate)) / rate)).astype(np.float32)
        for start in range(0, len(tone), 1024):
            frame = av.AudioFrame.from_ndarray(tone[None, start : start + 1024].copy(), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = rate, start
            for packet in audio.encode(frame):
                container.mux(packet)
        for packet in audio.encode():
            container.mux(packet)


# small networks of each architecture (videozoo/configuration/small_extractors.py)
TINY = SMALL_EXTRACTOR_SIZES


def random_checkpoint(extractor: str, folder: Path, tiny: bool, **overrides) -> str:
    """A checkpoint folder of `extractor` with random weights (the default config, or a tiny one)."""
    from transformers import AutoConfig, AutoModel

    import videozoo  # noqa: F401  (registers the architectures)

    config = AutoConfig.for_model(extractor, **(TINY[extractor] if tiny else {}), **overrides)
    torch.manual_seed(0)
    AutoModel.from_config(config).eval().save_pretrained(folder)
    return str(folder)


def i3d_only_problem(args) -> str | None:
    given = [
        flag for flag in ("flow_model", "raft_model", "streams", "stack_size", "step_size") if getattr(args, flag)
    ]
    if given and args.extractor != "i3d":
        return f"--{', --'.join(given)}: for --extractor i3d only (got --extractor {args.extractor})"
    return None


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--extractor", default="resnet_frames", choices=["resnet_frames", "s3d", "vggish", "i3d"])
    parser.add_argument("--model", help="checkpoint folder (default: random weights, see --tiny); I3D: the RGB one")
    parser.add_argument("--flow_model", help="I3D flow checkpoint folder (default: random weights)")
    parser.add_argument("--raft_model", help="RAFT checkpoint folder for I3D's flow (default: random weights)")
    parser.add_argument("--streams", nargs="+", choices=["rgb", "flow"], help="I3D: the streams timed (default both)")
    parser.add_argument("--tiny", action="store_true", help="the tests' tiny network instead of the default config")
    parser.add_argument("--videos", nargs="*", help="media files (default: synthetic clips)")
    parser.add_argument("--num_videos", type=int, default=8, help="synthetic clips")
    parser.add_argument("--seconds", type=float, default=4.0, help="length of each synthetic clip")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2], help="DataLoader worker counts to time")
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--extraction_fps", type=float)
    parser.add_argument("--stack_size", type=int, help="I3D: frames a stack (default: the config's, 64)")
    parser.add_argument("--step_size", type=int, help="I3D: frames between stacks (default: the config's, 64)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    from videozoo.arguments import folder_problem, positive_problem, raise_if_any

    args = parse_args(argv)
    try:
        raise_if_any(
            [
                folder_problem("--model", args.model),
                folder_problem("--flow_model", args.flow_model),
                folder_problem("--raft_model", args.raft_model),
                i3d_only_problem(args),
                positive_problem("--num_videos", args.num_videos),
                positive_problem("--seconds", args.seconds),
                positive_problem("--batch_size", args.batch_size),
                *[positive_problem("--workers", w, allow_zero=True) for w in args.workers],
                *[f"--videos: {v} not found (no such file)" for v in args.videos or [] if not Path(v).is_file()],
            ]
        )
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    from videozoo.scripts.extract_features import FeatureExtraction, VideoInputs, _single
    from videozoo.scripts.extract_features import main as extract

    torch.set_num_threads(max(1, torch.get_num_threads()))
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        if args.videos:
            videos = [Path(v) for v in args.videos]
        else:
            videos = [scratch / f"clip_{i:03d}.mp4" for i in range(args.num_videos)]
            for path in videos:
                write_synthetic_clip(path, args.seconds)
        model = args.model or random_checkpoint(args.extractor, scratch / "model", args.tiny)
        streams, flow_model, raft_model, extra = None, None, None, []
        if args.extractor == "i3d":
            streams = args.streams or ["rgb", "flow"]
            if "flow" in streams:
                flow_model = args.flow_model or random_checkpoint("i3d", scratch / "flow", args.tiny, modality="flow")
                raft_model = args.raft_model or random_checkpoint("raft", scratch / "raft", args.tiny)
                extra += ["--flow_model", flow_model, "--raft_model", raft_model]
            extra += ["--streams", *streams]
        extraction = FeatureExtraction(
            args.extractor,
            model,
            flow_model=flow_model,
            raft_model=raft_model,
            streams=streams,
            extraction_fps=args.extraction_fps,
            stack_size=args.stack_size,
            step_size=args.step_size,
            device=args.device,
        )
        what = args.model or f"{args.extractor} with random weights ({'tiny test' if args.tiny else 'default'} config)"
        if streams:
            what += f", streams {' + '.join(streams)}" + (" (flow: RAFT then I3D flow)" if "flow" in streams else "")
        print(f"{len(videos)} videos, {what}, batch {args.batch_size}, device {args.device}, torch threads "
              f"{torch.get_num_threads()}")  # fmt: skip
        for workers in args.workers:
            dataset = VideoInputs(extraction.extractor, extraction.processor, extraction.streams, videos)
            loader = torch.utils.data.DataLoader(dataset, batch_size=1, collate_fn=_single, num_workers=workers)
            start, cpu = time.perf_counter(), time.process_time()
            errors = [item["error"] for item in loader if "error" in item]
            decoding, decoding_cpu = time.perf_counter() - start, time.process_time() - cpu
            if errors:
                print(f"error: {errors[0]}", file=sys.stderr)
                return 1
            out = scratch / f"out_{workers}"
            argv = ["--extractor", args.extractor, "--model", model, "--output_dir", str(out), "--device", args.device]
            argv += [
                "--batch_size",
                str(args.batch_size),
                "--num_workers",
                str(workers),
                "--videos",
                *map(str, videos),
                *extra,
            ]
            for flag in ("extraction_fps", "stack_size", "step_size"):
                if getattr(args, flag) is not None:
                    argv += [f"--{flag}", str(getattr(args, flag))]
            start, cpu = time.perf_counter(), time.process_time()
            status = extract(argv)
            full, full_cpu = time.perf_counter() - start, time.process_time() - cpu
            if status != 0:
                return status
            # the CPU seconds of this process (workers' not included): on a shared machine the wall-clock figures
            # include the time other jobs held the cores
            print(f"workers {workers}: decoding alone {len(videos) / decoding:.3g} videos/s, "
                  f"extraction {len(videos) / full:.3g} videos/s ({full / len(videos):.1f} s a video; CPU seconds "
                  f"of the main process: decoding {decoding_cpu:.1f}, extraction {full_cpu:.1f})")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
