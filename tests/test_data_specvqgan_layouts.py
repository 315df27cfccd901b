"""The authors' SpecVQGAN data layouts (v-iashin/SpecVQGAN `specvqgan/data/vas.py`, `specvqgan/data/vggsound.py`) on
tiny fake trees written here: split-file ids and order, labels, BN-Inception RGB + flow concatenation, the
reference's feature crop and resampling, and the spectrogram crop."""

import pickle

import numpy as np
import pytest

from videozoo.data.specvqgan import (
    BNINCEPTION_FLOW_FOLDER,
    BNINCEPTION_RGB_FOLDER,
    SPECTROGRAM_FOLDER,
    list_clips,
    load_clip_features,
    load_example,
)
from videozoo.processors import SpecVQGANProcessor
from videozoo.recipes import run_family
from videozoo.scripts import generate_specvqgan
from videozoo.tasks import specvqgan as specvqgan_recipe

from .test_training_specvqgan import tiny_vas_models

# clip id -> frames of its features; "lonely" has no flow file, so every listing must skip it
CLIPS = {"zyTX_1BXKDE_16000_26000": 215, "-0BIyqJj9ZU_30000_40000": 200, "a1b2c3d4e5f_5000_15000": 230}
LONELY = "lonelyclip0_0_10000"
LABELS = {"zyTX_1BXKDE": "dog barking", "-0BIyqJj9ZU": "people eating, crunching", "a1b2c3d4e5f": "drum"}


def write_pickle(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        pickle.dump(array, handle)


def fake_vggsound(tmp_path):
    """<tmp>/data/vggsound/{melspec, rgb, flow}, <tmp>/data/vggsound_{train,test}.txt and vggsound.csv; returns the
    root and {clip id: (spectrogram, rgb, flow)}."""
    root = tmp_path / "data" / "vggsound"
    rng = np.random.default_rng(0)
    arrays = {}
    for clip_id, frames in {**CLIPS, LONELY: 215}.items():
        spectrogram = rng.random((80, 860), dtype=np.float32)
        rgb, flow = (rng.standard_normal((frames, 1024)).astype(np.float32) for _ in range(2))
        (root / SPECTROGRAM_FOLDER).mkdir(parents=True, exist_ok=True)
        np.save(root / SPECTROGRAM_FOLDER / f"{clip_id}_mel.npy", spectrogram)
        write_pickle(root / BNINCEPTION_RGB_FOLDER / f"{clip_id}.pkl", rgb)
        if clip_id != LONELY:
            write_pickle(root / BNINCEPTION_FLOW_FOLDER / f"{clip_id}.pkl", flow)
        arrays[clip_id] = (spectrogram, rgb, flow)
    ids = list(CLIPS)
    (tmp_path / "data" / "vggsound_train.txt").write_text(f"{ids[2]}\n{LONELY}\n{ids[0]}\n")
    (tmp_path / "data" / "vggsound_valid.txt").write_text(f"{ids[1]}\n")
    rows = [f'{video},{i * 10},"{label}",train' for i, (video, label) in enumerate(LABELS.items())]
    (tmp_path / "data" / "vggsound.csv").write_text("\n".join(rows) + "\n")
    return root, arrays


def reference_condition(rgb, flow, crop_length=212, length=215, count=5):
    """What the reference's `VGGSoundFeats` + `ResampleFrames` give, written out from their steps: RGB | flow, zero
    pad / trim to `length` frames, centre crop, `count` evenly spaced frames shifted by crop // (count + 1)."""
    feats = np.concatenate([rgb, flow], axis=1)
    padded = np.zeros((length, feats.shape[1]), dtype=np.float32)
    padded[: min(len(feats), length)] = feats[:length]
    start = (length - crop_length) // 2
    cropped = padded[start : start + crop_length]
    index = np.linspace(0, crop_length, count, dtype=np.int32, endpoint=False) + crop_length // (count + 1)
    return cropped[index]


def test_vggsound_layout_ids_order_and_labels(tmp_path):
    root, _ = fake_vggsound(tmp_path)
    ids = list(CLIPS)
    train = list_clips(root, tmp_path / "data" / "vggsound_train.txt", layout="vggsound")
    assert [clip.clip_id for clip in train] == [ids[2], ids[0]]  # split order; the clip without flow is skipped
    assert all(clip.video is None and clip.label is None for clip in train)
    assert train[0].flow_features == root / BNINCEPTION_FLOW_FOLDER / f"{ids[2]}.pkl"
    everything = list_clips(root, layout="vggsound", meta_file=tmp_path / "data" / "vggsound.csv")
    assert [clip.clip_id for clip in everything] == sorted(ids)
    assert {clip.clip_id: clip.label for clip in everything} == {c: LABELS[c[:11]] for c in ids}
    rgb_only = list_clips(root, layout="vggsound", feature_folder=BNINCEPTION_RGB_FOLDER)
    assert [clip.clip_id for clip in rgb_only] == sorted([*ids, LONELY]) and rgb_only[0].flow_features is None


def test_vggsound_layout_features_and_spectrograms(tmp_path):
    root, arrays = fake_vggsound(tmp_path)
    processor = SpecVQGANProcessor(num_features=5)  # feature_size 2048 = 1024 RGB + 1024 flow
    labels = sorted(set(LABELS.values()))
    for clip in list_clips(root, layout="vggsound", meta_file=tmp_path / "data" / "vggsound.csv"):
        spectrogram, rgb, flow = arrays[clip.clip_id]
        assert np.array_equal(load_clip_features(clip), np.concatenate([rgb, flow], axis=1))
        example = load_example(clip, processor, labels=labels)
        assert example["visual_features"].shape == (5, 2048)
        # same float32 values picked and copied: exact
        assert np.array_equal(example["visual_features"].numpy(), reference_condition(rgb, flow))
        # the authors' [0, 1] spectrogram, centre-cropped 860 -> 848 frames, in [-1, 1] (2x - 1)
        assert example["input_features"].shape == (80, 848)
        np.testing.assert_allclose(example["input_features"].numpy(), 2 * spectrogram[:, 6:854] - 1, atol=1e-6)
        assert labels[int(example["class_ids"])] == clip.label


def test_vas_layout_takes_bninception_rgb_and_flow(tmp_path):
    """The same code reads VAS with the BN-Inception pair (the reference's VAS transformer configs use it too)."""
    root = tmp_path / "vas"
    rng = np.random.default_rng(1)
    rgb, flow = rng.standard_normal((2, 215, 1024)).astype(np.float32)
    for label, video in (("dog", "video_00001"), ("drum", "video_00002")):
        (root / "videos" / label).mkdir(parents=True)
        (root / "videos" / label / f"{video}.mp4").write_bytes(b"")
        (root / "features" / label / SPECTROGRAM_FOLDER).mkdir(parents=True)
        np.save(root / "features" / label / SPECTROGRAM_FOLDER / f"{video}_mel.npy", np.zeros((80, 860), np.float32))
        write_pickle(root / "features" / label / BNINCEPTION_RGB_FOLDER / f"{video}.pkl", rgb)
        if label == "dog":
            write_pickle(root / "features" / label / BNINCEPTION_FLOW_FOLDER / f"{video}.pkl", flow)
    clips = list_clips(root, feature_folder=BNINCEPTION_RGB_FOLDER, flow_folder=BNINCEPTION_FLOW_FOLDER)
    assert [(clip.clip_id, clip.label) for clip in clips] == [("dog/video_00001", "dog")]
    assert load_clip_features(clips[0]).shape == (215, 2048)
    assert [clip.clip_id for clip in list_clips(root, feature_folder=BNINCEPTION_RGB_FOLDER)] == [
        "dog/video_00001",
        "drum/video_00002",
    ]


def test_layout_errors_name_the_problem(tmp_path):
    root, _ = fake_vggsound(tmp_path)
    clip = list_clips(root, layout="vggsound")[0]
    write_pickle(clip.flow_features, np.zeros((3, 1024), np.float32))
    with pytest.raises(ValueError, match="3 frames"):
        load_clip_features(clip)
    with pytest.raises(ValueError, match="has label None"):  # no meta_file: VGGSound clips carry no label
        load_example(clip, SpecVQGANProcessor(num_features=5), labels=["dog barking"])
    with pytest.raises(ValueError, match="layout must be"):
        list_clips(root, layout="audioset")
    with pytest.raises(FileNotFoundError, match="meta_file"):
        list_clips(root, layout="vggsound", meta_file=tmp_path / "missing.csv")
    with pytest.raises(FileNotFoundError, match="no SpecVQGAN data folder"):
        list_clips(tmp_path / "nowhere", layout="vggsound")


def test_scripts_read_the_vggsound_layout(tmp_path):
    """`--dataset_name vggsound` in SpecVQGAN's training (its split files vggsound_{train,valid}.txt) and
    evaluation (`scripts/run_generation.py`), `--layout vggsound` in generate_specvqgan.py (tiny random models: the
    paths, shapes and names, not the figures)."""
    root, _ = fake_vggsound(tmp_path)
    ids = list(CLIPS)
    args = specvqgan_recipe.SpecVQGANArguments(dataset_name="vggsound", data_dir=str(root), num_features=2)
    train, valid = specvqgan_recipe.datasets(args, SpecVQGANProcessor(num_features=2))
    assert len(train) == 2 and len(valid) == 1
    assert train[0]["visual_features"].shape == (2, 2048) and valid[0]["input_features"].shape == (80, 848)
    tiny_vas_models(tmp_path)
    (tmp_path / "data" / "vggsound_test.txt").write_text(f"{ids[1]}\n")
    written = generate_specvqgan.main(
        ["--model_name_or_path", str(tmp_path / "sampler"), "--data_dir", str(root), "--layout", "vggsound"]
        + ["--split", "test", "--output_dir", str(tmp_path / "samples")]
    )  # fmt: skip
    assert sorted(written) == [f"{ids[1]}_sample_0.npy", f"{ids[1]}_sample_0.png"]
    metrics = run_family(
        "generation",
        ["evaluate", "--model_name_or_path", str(tmp_path / "sampler"), "--dataset_name", "vggsound"]
        + ["--data_dir", str(root), "--split", "train", "--melception", str(tmp_path / "melception")]
        + ["--samples_per_video", "2", "--output_dir", str(tmp_path / "eval")]
    )  # fmt: skip
    assert metrics["dataset"] == "vggsound" and metrics["videos"] == 2
