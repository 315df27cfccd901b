"""scripts/extract_features.py: raw media in, feature files out (tiny random extractors, synthetic clips), and the
time grid of the authors' BMT features on a real ActivityNet video."""

import numpy as np
import pytest
import torch
from transformers import AutoModel

from videozoo.processors import I3DProcessor, RAFTProcessor, ResNetFramesProcessor, S3DProcessor, VGGishProcessor
from videozoo.scripts.extract_features import main

from .test_processing_sparsesync import _write_counter_clip
from .tiny_configs import tiny_config


def _save(folder, model_type, processor, **overrides):
    torch.manual_seed(0)
    model = AutoModel.from_config(tiny_config(model_type, **overrides)).eval()
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return str(folder)


def _write_video_only(path, frames=30):
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(frames):
            image = np.full((48, 64, 3), (i * 8) % 256, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def _write_audio_only(path, seconds=1.5, rate=22050):
    import av

    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("aac", rate=rate)
        stream.layout = "mono"
        tone = (0.3 * np.sin(2 * np.pi * 330 * np.arange(int(seconds * rate)) / rate)).astype(np.float32)
        for start in range(0, len(tone), 1024):
            frame = av.AudioFrame.from_ndarray(tone[None, start : start + 1024].copy(), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = rate, start
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    folder = tmp_path_factory.mktemp("media")
    _write_counter_clip(folder / "good.mp4", 25, 2.4)  # 60 frames, 2.4 s of stereo 44.1 kHz audio
    _write_counter_clip(folder / "short.mp4", 25, 0.32)  # 8 frames, 0.32 s: shorter than a stack and an example
    (folder / "corrupt.mp4").write_bytes(b"this is not a video" * 64)
    _write_video_only(folder / "silent.mp4")
    _write_audio_only(folder / "speech.m4a")
    _write_counter_clip(folder / "wide.mp4", 25, 1.6, size=(40, 72))  # 40 frames of another size (RAFT's shapes)
    return folder


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    folder = tmp_path_factory.mktemp("checkpoints")
    sampling = {"stack_size": 10, "step_size": 10}
    return {
        "rgb": _save(folder / "rgb", "i3d", I3DProcessor(**sampling), **sampling),
        "flow": _save(folder / "flow", "i3d", I3DProcessor(**sampling), modality="flow", **sampling),
        "raft": _save(folder / "raft", "raft", RAFTProcessor()),
        "vggish": _save(folder / "vggish", "vggish", VGGishProcessor()),
        "resnet": _save(folder / "resnet", "resnet_frames", ResNetFramesProcessor(extraction_fps=5.0)),
        "s3d": _save(folder / "s3d", "s3d", S3DProcessor(stack_size=16, step_size=8), stack_size=16, step_size=8),
    }


def test_i3d_two_streams_resume_and_bad_files(media, checkpoints, tmp_path, capsys):
    out = tmp_path / "i3d"
    args = ["--extractor", "i3d", "--model", checkpoints["rgb"], "--flow_model", checkpoints["flow"]]
    args += ["--raft_model", checkpoints["raft"], "--output_dir", str(out), "--batch_size", "8", "--save_timestamps"]
    videos = ["--videos", str(media / "good.mp4"), str(media / "short.mp4"), str(media / "corrupt.mp4")]
    assert main(args + videos) == 2  # some videos failed, the run went on
    rgb, flow = np.load(out / "good_rgb.npy"), np.load(out / "good_flow.npy")
    assert rgb.shape == flow.shape == (5, 128) and rgb.dtype == np.float32  # (60 - 1 - 10) // 10 + 1 stacks
    assert not np.allclose(rgb, flow)
    assert np.allclose(np.load(out / "good_timestamps_ms.npy"), [400, 800, 1200, 1600, 2000])  # stack ends
    failed = (out / "failed_videos.txt").read_text()
    assert "short.mp4\tVideoTooShortError" in failed and "fewer than one stack of 10" in failed
    assert "corrupt.mp4\tMediaDecodingError" in failed and "unreadable" in failed
    assert not list(out.glob("*.tmp")) and not list(out.glob(".*"))
    assert sorted(p.name for p in out.iterdir()) == [
        "failed_videos.txt",
        "good_flow.npy",
        "good_rgb.npy",
        "good_timestamps_ms.npy",
    ]
    before = (out / "good_rgb.npy").stat().st_mtime_ns
    capsys.readouterr()
    assert main(args + ["--videos", str(media / "good.mp4")]) == 0
    assert "skipped (already done) 1" in capsys.readouterr().out
    assert (out / "good_rgb.npy").stat().st_mtime_ns == before and not (out / "failed_videos.txt").exists()


def test_vggish_resnet_pkl_and_s3d_layouts(media, checkpoints, tmp_path):
    import pickle

    listing = tmp_path / "videos.txt"
    listing.write_text(f"{media / 'good.mp4'}\n{media / 'silent.mp4'}\n{media / 'speech.m4a'}\n\n")
    out = tmp_path / "vggish"
    assert main(["--extractor", "vggish", "--model", checkpoints["vggish"], "--video_list", str(listing),
                 "--output_dir", str(out)]) == 2  # fmt: skip
    assert np.load(out / "good_vggish.npy").shape == (2, 16)  # 2.4 s -> two 0.96 s examples
    assert np.load(out / "speech_vggish.npy").shape == (1, 16)  # an audio file (22.05 kHz mono): one example
    assert "silent.mp4\tMediaDecodingError" in (out / "failed_videos.txt").read_text()
    assert "no audio stream" in (out / "failed_videos.txt").read_text()

    out = tmp_path / "resnet"
    assert main(["--extractor", "resnet_frames", "--model", checkpoints["resnet"], "--videos", str(media / "good.mp4"),
                 str(media / "speech.m4a"), "--output_dir", str(out), "--format", "pkl",
                 "--name_pattern", "{video_id}.pkl"]) == 2  # fmt: skip
    assert "speech.m4a\tMediaDecodingError" in (out / "failed_videos.txt").read_text()
    assert "has no video stream" in (out / "failed_videos.txt").read_text()
    with open(out / "good.pkl", "rb") as handle:
        frames = pickle.load(handle)  # written by this test: a plain numpy array
    assert frames.shape == (12, 80)  # 2.4 s at 5 fps

    out = tmp_path / "s3d"
    assert main(["--extractor", "s3d", "--model", checkpoints["s3d"], "--videos", str(media / "good.mp4"),
                 "--output_dir", str(out)]) == 0  # fmt: skip
    assert np.load(out / "good_s3d.npy").shape == (6, 128)  # (60 - 16) // 8 + 1 stacks at 25 fps


def _float64_gap(checkpoints, extractor, streams, path):
    """Largest |float32 - float64| of the one-at-a-time path on `path`: the float32 rounding of these networks."""
    from videozoo.scripts.extract_features import FeatureExtraction

    names = {"rgb": "model", "flow": "flow_model", "raft": "raft_model", "s3d": "model"}
    extraction = FeatureExtraction(extractor, streams=streams, **{names[k]: v for k, v in checkpoints.items()})
    single, _ = extraction.extract(path)
    for name, model in extraction.models.items():
        if name != "raft":  # torchvision's RAFT casts to float32 inside: the flow's rounding is not in this figure
            model.double()
    extraction.dtype = torch.float64
    double, _ = extraction.extract(path)
    return max(float(np.abs(single[s].astype(np.float64) - double[s]).max()) for s in streams)


@pytest.mark.parametrize("extractor", [pytest.param("i3d", marks=pytest.mark.slow), "s3d"])
def test_batched_workers_equal_one_video_at_a_time(media, checkpoints, tmp_path, extractor):
    """Batches of 3 stacks gathered across videos (a batch straddles two videos; RAFT's pairs of videos of two
    sizes go in separate calls), decoded by 2 DataLoader workers, give the features of one stack at a time with no
    worker, within float32 rounding: 8 x the gap of that path to float64, measured here (the convolutions' sums
    are ordered differently for other batch sizes). I3D's flow: RAFT runs in float32 in both (torchvision casts),
    so its rounding cannot be measured against float64: the flow stream gets a bound relative to its scale."""
    if extractor == "i3d":
        models = {k: checkpoints[k] for k in ("rgb", "flow", "raft")}
        argv = ["--extractor", "i3d", "--model", models["rgb"], "--flow_model", models["flow"]]
        argv += ["--raft_model", models["raft"]]
        streams = ["rgb", "flow"]
    else:
        models = {"s3d": checkpoints["s3d"]}
        argv, streams = ["--extractor", "s3d", "--model", models["s3d"]], ["s3d"]
    videos = [media / name for name in ("good.mp4", "corrupt.mp4", "wide.mp4", "silent.mp4")]
    argv += ["--save_timestamps", "--videos", *map(str, videos)]
    assert main(argv + ["--output_dir", str(tmp_path / "one"), "--batch_size", "1"]) == 2  # corrupt.mp4
    assert main(argv + ["--output_dir", str(tmp_path / "batched"), "--batch_size", "3", "--num_workers", "2"]) == 2
    one, batched = tmp_path / "one", tmp_path / "batched"
    assert sorted(p.name for p in one.iterdir()) == sorted(p.name for p in batched.iterdir())
    assert (one / "failed_videos.txt").read_text() == (batched / "failed_videos.txt").read_text()
    # the float32 path's gap to float64 on good.mp4: 1.7e-13 for S3D (features ~5e-7: the tiny random networks'
    # scale), at most 2.8e-12 for I3D (features ~5e-6); the batched path differed by at most 1.4e-13 (S3D) and
    # 1.8e-12 (I3D RGB)
    tolerance = 8 * _float64_gap(models, extractor, [s for s in streams if s != "flow"], videos[0])
    for stem in ("good", "wide", "silent"):
        assert np.array_equal(
            np.load(one / f"{stem}_timestamps_ms.npy"), np.load(batched / f"{stem}_timestamps_ms.npy")
        )
        for stream in streams:
            a, b = np.load(one / f"{stem}_{stream}.npy"), np.load(batched / f"{stem}_{stream}.npy")
            assert a.shape == b.shape and a.shape[0] > 1
            if stream == "flow":  # RAFT's float32 rounding (batch-size dependent) moves a quantised flow level
                # now and then: measured 5.4e-11 on features of 6.3e-7 (8.5e-5 of their scale); bound 1e-3 of it
                assert np.abs(a - b).max() <= 1e-3 * np.abs(a).max(), (stem, stream)
            else:
                assert np.abs(a - b).max() <= tolerance, (stem, stream)


@pytest.mark.slow
def test_two_processes_share_the_list_and_merge_the_failures(media, checkpoints, tmp_path):
    """`accelerate launch --num_processes 2` on CPU (gloo): each process extracts its share, the files are those of
    one process (same batches of one stack: byte for byte), and the two processes' failures end in one list."""
    import os
    import socket
    import subprocess
    import sys
    from pathlib import Path

    with socket.socket() as probe:  # a free port, so that concurrent tests do not clash
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    names = ("good.mp4", "corrupt.mp4", "wide.mp4", "silent.mp4", "short.mp4")  # shares: 3 and 2, a failure each
    argv = ["--extractor", "s3d", "--model", checkpoints["s3d"], "--batch_size", "1", "--save_timestamps"]
    argv += ["--videos", *(str(media / name) for name in names)]
    script = Path(__file__).resolve().parents[1] / "scripts" / "extract_features.py"
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2"]
    launch += ["--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
    launch += ["--main_process_port", str(port), str(script)]
    env = {**os.environ, "ACCELERATE_USE_CPU": "1", "OMP_NUM_THREADS": "1"}
    two = tmp_path / "two"
    completed = subprocess.run(
        launch + argv + ["--output_dir", str(two)], env=env, capture_output=True, text=True, timeout=600
    )
    assert completed.returncode != 0, completed.stderr[-3000:]  # some videos failed
    assert "all 2 processes: failed 2" in completed.stdout, completed.stdout[-3000:] + completed.stderr[-3000:]
    assert "process 1: extracted 1" in completed.stdout and "process 0: extracted 2" in completed.stdout
    one = tmp_path / "one"
    assert main(argv + ["--output_dir", str(one)]) == 2
    assert sorted(p.name for p in two.iterdir()) == sorted(p.name for p in one.iterdir())
    assert (two / "failed_videos.txt").read_text() == (one / "failed_videos.txt").read_text()
    for name in ("good", "wide", "silent"):
        for suffix in ("s3d", "timestamps_ms"):
            assert (two / f"{name}_{suffix}.npy").read_bytes() == (one / f"{name}_{suffix}.npy").read_bytes()


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--model", "/nonexistent/model"], "no such checkpoint folder"),
        (["--name_pattern", "{video_id}.npy"], "must contain {stream}"),
        (["--flow_model", "RGB"], "an I3D rgb model"),
    ],
)
def test_bad_arguments_fail_before_anything_is_written(media, checkpoints, tmp_path, capsys, extra, message):
    out = tmp_path / "never"
    args = {"--model": checkpoints["rgb"], "--flow_model": checkpoints["flow"], "--raft_model": checkpoints["raft"]}
    for key, value in zip(extra[::2], extra[1::2]):
        args[key] = checkpoints["rgb"] if value == "RGB" else value
    argv = ["--extractor", "i3d", "--videos", str(media / "good.mp4"), "--output_dir", str(out)]
    argv += [item for pair in args.items() for item in pair if pair[0] != "--name_pattern"]
    if "--name_pattern" in args:
        argv += ["--name_pattern", args["--name_pattern"]]
    assert main(argv) == 1
    assert message in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.slow
def test_features_of_a_real_video_have_the_authors_shapes_and_time_grid(shared_dir, tmp_path):
    """women_long_jump.mp4 through I3D (RGB and the flow stream: RAFT between the frames of every stack, then I3D
    flow) and VGGish with BMT's sampling (25 fps, stacks of 64 every 64, the older extraction's cycled last stack;
    0.96 s audio examples) gives the number of steps of the authors' files beside it and their 2.56 s / 0.96 s
    grids. The networks are tiny random ones (the released weights are not here; the widths do not change the time
    axis), so this checks shapes and the time grid, not values; the authors' feature sizes are the full configs'.
    About 200 CPU seconds on one thread (RAFT over the 14 x 64 frame pairs at 256 x 341), 20 to 30 minutes of wall
    clock on the shared 2-core machine; peak memory 4.7 GB."""
    import time

    from videozoo.configuration import I3DConfig, VGGishConfig

    media = shared_dir / "data" / "media" / "activitynet"
    authors = {name: np.load(media / f"women_long_jump_{name}.npy") for name in ("rgb", "flow", "vggish")}
    sampling = {"stack_size": 64, "step_size": 64, "extraction_fps": 25.0}
    rgb = _save(tmp_path / "rgb", "i3d", I3DProcessor(last_stack="cycle", **sampling), **sampling)
    flow = _save(tmp_path / "flow", "i3d", I3DProcessor(last_stack="cycle", **sampling), modality="flow", **sampling)
    raft = _save(tmp_path / "raft", "raft", RAFTProcessor())
    vggish = _save(tmp_path / "vggish", "vggish", VGGishProcessor())
    video = str(media / "women_long_jump.mp4")
    out = tmp_path / "out"
    started = time.perf_counter()
    assert main(["--extractor", "i3d", "--model", rgb, "--flow_model", flow, "--raft_model", raft,
                 "--videos", video, "--output_dir", str(out / "i3d"), "--last_stack", "cycle",
                 "--save_timestamps", "--batch_size", "32"]) == 0  # fmt: skip
    print(f"I3D rgb + flow (tiny RAFT, tiny I3D): {time.perf_counter() - started:.0f} s for the 35 s video")
    assert main(["--extractor", "vggish", "--model", vggish, "--videos", video, "--output_dir", str(out / "vggish"),
                 "--save_timestamps"]) == 0  # fmt: skip
    ours = {name: np.load(out / "i3d" / f"women_long_jump_{name}.npy") for name in ("rgb", "flow")}
    ours["vggish"] = np.load(out / "vggish" / "women_long_jump_vggish.npy")
    assert authors["rgb"].shape == authors["flow"].shape == (14, 1024) == (len(ours["rgb"]), I3DConfig().feature_size)
    assert ours["flow"].shape == ours["rgb"].shape and np.isfinite(ours["flow"]).all()
    assert not np.allclose(ours["flow"], ours["rgb"])  # the flow network saw flow, not the frames
    assert np.ptp(ours["flow"], axis=0).max() > 0  # the stacks' flows differ: the video moves
    assert authors["vggish"].shape == (ours["vggish"].shape[0], VGGishConfig().embedding_size) == (36, 128)
    ends = np.load(out / "i3d" / "women_long_jump_timestamps_ms.npy") / 1000
    assert np.allclose(ends[:13], np.arange(13) * 2.56 + 2.56)  # 64 frames at 25 fps per step
    assert np.allclose(np.load(out / "vggish" / "women_long_jump_timestamps_ms.npy") / 1000, np.arange(36) * 0.96)


def test_benchmark_prints_videos_per_second(capsys, tmp_path):
    from videozoo.scripts.benchmark_extract_features import main as benchmark

    assert benchmark(["--num_videos", "0", "--videos", str(tmp_path / "missing.mp4")]) == 1
    err = capsys.readouterr().err
    assert "--num_videos must be > 0" in err and "missing.mp4 not found" in err
    assert benchmark(["--tiny", "--num_videos", "2", "--seconds", "1", "--workers", "0", "1"]) == 0
    out = capsys.readouterr().out
    assert "random weights (tiny" in out
    for workers in (0, 1):
        assert f"workers {workers}: decoding alone " in out and "extraction " in out


@pytest.mark.slow
def test_benchmark_times_i3d_with_raft_flow(capsys):
    """The I3D benchmark runs both streams (RAFT then the flow network) on its synthetic clips; I3D-only flags are
    refused for another extractor. About 19 s on the shared CPU (RAFT over 20 frame pairs at 256 x 341)."""
    from videozoo.scripts.benchmark_extract_features import main as benchmark

    assert benchmark(["--extractor", "s3d", "--streams", "flow", "--stack_size", "8"]) == 1
    assert "--streams, --stack_size: for --extractor i3d only" in capsys.readouterr().err
    argv = ["--extractor", "i3d", "--tiny", "--num_videos", "1", "--seconds", "0.88", "--workers", "0"]
    assert benchmark(argv + ["--stack_size", "10", "--step_size", "10"]) == 0  # 22 frames: 2 stacks of 10 + 1
    out = capsys.readouterr().out
    assert "streams rgb + flow (flow: RAFT then I3D flow)" in out and "workers 0: decoding alone " in out


def test_layouts_are_read_back_by_the_zoo_loaders(media, checkpoints, tmp_path):
    """--layout round trip: MDVC's HDF5 files (`HDF5Features`), MMT's per-video HDF5 (`read_mmt_h5`) and the
    retrieval `datasets` folder (`mmt_features` schema) hold exactly the arrays of the .npy files, and a second
    extractor's run adds its expert without losing the first one's."""
    import datasets

    from videozoo.data.dense_captioning import HDF5Features
    from videozoo.data.mmt import mmt_features, read_mmt_h5

    layouts = ["--layout", "mdvc_hdf5", "mmt_h5", "datasets", "--layout_dir", str(tmp_path / "zoo")]
    good = ["--videos", str(media / "good.mp4")]
    i3d = ["--extractor", "i3d", "--model", checkpoints["rgb"], "--flow_model", checkpoints["flow"]]
    i3d += ["--raft_model", checkpoints["raft"], "--output_dir", str(tmp_path / "i3d")]
    assert main(i3d + good + layouts) == 0
    vggish = ["--extractor", "vggish", "--model", checkpoints["vggish"], "--output_dir", str(tmp_path / "vggish")]
    assert main(vggish + good + layouts + ["--expert_names", "vggish=audio"]) == 0
    rgb, flow = np.load(tmp_path / "i3d" / "good_rgb.npy"), np.load(tmp_path / "i3d" / "good_flow.npy")
    audio = np.load(tmp_path / "vggish" / "good_vggish.npy")
    zoo = tmp_path / "zoo"

    mdvc = HDF5Features(zoo / "i3d_features.hdf5", zoo / "vggish_features.hdf5", 16, 128).load("good")
    assert np.array_equal(mdvc["rgb"], rgb) and np.array_equal(mdvc["flow"], flow)
    assert np.array_equal(mdvc["audio"], audio)

    row = read_mmt_h5(zoo / "vid_feat_files/mult_h5/g/o/o/good.h5", {"rgb": 128, "flow": 128, "audio": 16})
    assert np.array_equal(row["rgb__features"], rgb) and np.array_equal(row["audio__features"], audio)
    # stacks of 10 + 1 frames (the flow's extra frame) every 10 frames at 25 fps, from the stack's first frame to
    # the end of its last; VGGish's 0.96 s examples
    assert np.allclose(row["rgb__times"], [[0.4 * k, 0.4 * k + 0.44] for k in range(5)])
    assert np.allclose(row["audio__times"], [[0.0, 0.96], [0.96, 1.92]])
    assert row["duration"] == pytest.approx(2.04)

    table = datasets.load_from_disk(str(zoo / "datasets"))
    assert table.features == mmt_features({"rgb": 128, "flow": 128, "audio": 16})
    saved = table.with_format("numpy")[0]
    assert saved["video_id"] == "good" and np.array_equal(saved["flow__features"], flow)
    assert np.array_equal(saved["audio__features"], audio) and np.allclose(saved["audio__times"][1], [0.96, 1.92])
    assert not [p for p in zoo.rglob("*") if p.name.startswith(".")]  # no temporary file or folder left
    # an expert of another width under a name the folder holds: refused, the folder left as it was
    resnet = ["--extractor", "resnet_frames", "--model", checkpoints["resnet"], "--output_dir", str(tmp_path / "r")]
    with pytest.raises(ValueError, match="expert 'rgb' has 128-d features there, this run gives 80-d"):
        main(resnet + good + ["--layout", "datasets", "--layout_dir", str(zoo), "--expert_names", "resnet=rgb"])
    assert datasets.load_from_disk(str(zoo / "datasets")).features == table.features


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--extractor", "s3d", "--layout", "mdvc_hdf5"], "I3D (rgb + flow) and VGGish features, not s3d"),
        (["--extractor", "s3d", "--layout", "mmt_h5", "--format", "pkl"], "use --format npy"),
        (["--extractor", "s3d", "--layout", "datasets", "--expert_names", "rgb=x"], "--expert_names takes"),
    ],
)
def test_bad_layout_arguments_fail_before_anything_is_written(media, checkpoints, tmp_path, capsys, extra, message):
    out = tmp_path / "out"
    args = ["--model", checkpoints["s3d"], "--videos", str(media / "good.mp4"), "--output_dir", str(out)]
    assert main(args + extra) == 1
    assert message in capsys.readouterr().err and not out.exists()


def test_howto100m_2d_preset_samples_1_fps_without_crop_and_normalises(media, checkpoints, tmp_path, capsys):
    """--preset howto100m_2d: frames at 1 fps, shorter side 224 and no crop (the whole frame pooled), each feature
    of unit length: the features equal the network run on those inputs by hand, L2-normalised."""
    from videozoo.processors.video_io import load_video

    out = tmp_path / "howto"
    argv = ["--preset", "howto100m_2d", "--model", checkpoints["resnet"], "--videos", str(media / "good.mp4")]
    assert main(argv + ["--output_dir", str(out)]) == 0
    assert "not ResNet-152" in capsys.readouterr().err  # the tiny network: the recipe, not HowTo100M's features
    features = np.load(out / "good_resnet.npy")
    frames = load_video(media / "good.mp4", fps=1.0).frames  # 2.4 s at 1 fps: frames at 0 s and 1 s
    assert features.shape == (len(frames), 80) == (2, 80)
    assert np.allclose(np.linalg.norm(features, axis=1), 1.0, atol=1e-6)
    pixels = ResNetFramesProcessor(resize_size=224, crop_size=None)(frames)["pixel_values"]
    assert pixels.shape[-2:] == (224, 298)  # 48 x 64 (h x w): the shorter side to 224, the whole frame kept
    model = AutoModel.from_pretrained(checkpoints["resnet"]).eval()
    with torch.no_grad():
        expected = torch.nn.functional.normalize(model(pixels).features, dim=-1).numpy()
    # same computation, batched alike: float32 rounding of the unit-length features only (measured 0)
    assert np.abs(features - expected).max() <= 1e-6


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--extractor", "resnext101_3d"], "3-D ResNeXt-101 of HowTo100M's features"),
        (["--preset", "howto100m_3d"], "has no implementation in v-iashin/video_features nor in the zoo"),
        (["--extractor", "densenet161"], "MMT's scene expert"),
        (["--preset", "howto100m_2d", "--extractor", "s3d"], "--preset howto100m_2d uses --extractor resnet_frames"),
        (["--preset", "howto100m_2d", "--extraction_fps", "2"], "uses --extraction_fps 1.0"),
        (["--extractor", "clip"], "the clip checkpoint is a 'resnet_frames' model, not 'clip_frames'"),
        (["--extractor", "timm"], "--extractor must be one of resnet_frames, clip"),
        (["--preset", "kinetics"], "--preset must be one of howto100m_2d"),
    ],
)
def test_extractors_the_zoo_lacks_are_refused_with_the_reason(media, checkpoints, tmp_path, capsys, extra, message):
    out = tmp_path / "never"
    argv = ["--model", checkpoints["resnet"], "--videos", str(media / "good.mp4"), "--output_dir", str(out)]
    assert main(argv + extra) == 1
    assert message in capsys.readouterr().err and not out.exists()


def test_mmt_experts_from_mp4_reach_the_mmt_model(media, checkpoints, tmp_path):
    """MMT's motion (`s3d`, S3D Kinetics at 1 feature/s: 25-frame windows of the 25 fps clip) and audio (`vggish`,
    0.96 s) experts extracted from mp4 into MMT's per-video HDF5 layout are read by `load_mmt_features` with a
    split list, and MMT's collator and video encoder take them."""
    from videozoo.data.mmt import MMTCollator, load_mmt_features

    from .tiny_configs import TINY_PROCESSORS, tiny_config

    videos = ["--videos", str(media / "good.mp4"), str(media / "wide.mp4")]
    zoo = ["--layout", "mmt_h5", "--layout_dir", str(tmp_path / "MSRVTT")]
    s3d = ["--extractor", "s3d", "--model", checkpoints["s3d"], "--stack_size", "25", "--step_size", "25"]
    assert main(s3d + videos + zoo + ["--output_dir", str(tmp_path / "s3d")]) == 0
    vggish = ["--extractor", "vggish", "--model", checkpoints["vggish"], "--output_dir", str(tmp_path / "vggish")]
    assert main(vggish + videos + zoo) == 0
    (tmp_path / "test_list.txt").write_text("good\nwide\n")
    sizes = {"s3d": 128, "vggish": 16}  # the tiny networks' widths (the released ones: 1024 and 128)
    table = load_mmt_features(tmp_path / "MSRVTT", tmp_path / "test_list.txt", sizes).with_format("numpy")
    good, wide = table[0], table[1]
    assert good["s3d__features"].shape == (2, 128) and wide["s3d__features"].shape == (1, 128)  # 2.4 s and 1.6 s
    assert np.allclose(good["s3d__times"], [[0, 1], [1, 2]]) and np.allclose(good["vggish__times"][1], [0.96, 1.92])
    processor = TINY_PROCESSORS["mmt"](tmp_path)
    processor.feature_extractor.expert_feature_sizes = sizes
    batch = MMTCollator(processor, training=False)([{**row, "captions": ["a dog runs"]} for row in (good, wide)])
    torch.manual_seed(0)
    model = AutoModel.from_config(tiny_config("mmt", expert_feature_sizes=sizes)).eval()
    with torch.no_grad():
        embeddings, available = model.get_video_features(
            batch["expert_features"], batch["expert_times"], batch["expert_attention_mask"], batch.get("expert_pooled")
        )
    assert embeddings.shape[:2] == (2, 2) and torch.isfinite(embeddings).all() and available.all()
