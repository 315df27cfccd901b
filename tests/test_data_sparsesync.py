"""SparseSync data: split-file layouts, fixed offsets, the flash-and-click mp4 writer, re-encoding, the collator,
the offset metric and the corrupted-validation probes."""

import csv
import math

import numpy as np
import pytest
import torch

from videozoo.data.sparsesync import (
    SparseSyncCollator,
    fixed_offsets_name,
    make_fixed_offsets,
    make_lrs3_split_files,
    prepare_clips,
    read_fixed_offsets,
    sparsesync_clip_dataset,
    write_clip,
    write_flash_and_click_dataset,
)
from videozoo.data.sparsesync_augmentation import SparseSyncAugmentation
from videozoo.metrics import load_metric
from videozoo.metrics.offset_accuracy.offset_accuracy import confusion_matrix, offset_accuracy
from videozoo.processors import SparseSyncProcessor, load_clip
from videozoo.tasks.sparsesync import corrupt_batch


def small_processor():
    return SparseSyncProcessor(
        clip_length_sec=1.0, crop_size=32, resize_shorter_side=0, num_offset_classes=5, max_offset_sec=0.4
    )


@pytest.fixture(scope="module")
def synthetic_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("flash_and_click")
    counts = write_flash_and_click_dataset(
        root,
        {"train": 4, "valid": 3, "test": 3},
        duration_sec=2.2,
        size=32,
        num_offset_classes=5,
        max_offset_sec=0.4,
        crop_sec=1.0,
        events_per_sec=2.0,
    )
    assert counts == {"train": 4, "valid": 3, "test": 3}
    return root


def test_flash_and_click_files_are_h264_aac_in_the_lrs3_layout(synthetic_root):
    import av

    ids = (synthetic_root / "lrs3_test.txt").read_text().split()
    assert ids[0] == "pretrain/test00000/00000"
    with av.open(str(synthetic_root / f"{ids[0]}.mp4")) as container:
        assert container.streams.video[0].codec_context.name == "h264"
        assert container.streams.audio[0].codec_context.name == "aac" and container.streams.audio[0].rate == 16000
    clip = load_clip(synthetic_root / f"{ids[0]}.mp4")
    assert clip.frames.shape == (55, 3, 32, 32) and clip.duration >= 2.19
    table = read_fixed_offsets(synthetic_root / "fixed_offsets_lrs3" / fixed_offsets_name("test", small_processor()))
    assert sorted(table) == sorted(ids)
    assert all(o in (-0.4, -0.2, 0.0, 0.2, 0.4) and 0 <= s <= 1.2 for o, s in table.values())


def test_loader_and_collator(synthetic_root):
    processor = small_processor()
    train = sparsesync_clip_dataset(synthetic_root, "train")
    assert len(train) == 4 and math.isnan(train[0]["offset_sec"])
    table = synthetic_root / "fixed_offsets_lrs3" / fixed_offsets_name("valid", processor)
    valid = sparsesync_clip_dataset(synthetic_root, "valid", fixed_offsets=table)
    rows = [valid[i] for i in range(3)]
    batch = SparseSyncCollator(processor)(rows)
    assert batch["pixel_values"].shape == (3, 25, 3, 32, 32) and batch["input_features"].shape == (3, 257, 126)
    expected = [processor.offset_to_label(r["offset_sec"]) for r in rows]
    assert batch["labels"].tolist() == expected
    again = SparseSyncCollator(processor)(rows)
    assert torch.equal(batch["pixel_values"], again["pixel_values"])  # fixed crops: the same at every pass
    seeded = [{**train[i], "sample_seed": 7 + i} for i in range(2)]
    first, second = (
        SparseSyncCollator(processor, SparseSyncAugmentation())(seeded),
        SparseSyncCollator(processor, SparseSyncAugmentation())(seeded),
    )
    assert torch.equal(first["input_features"], second["input_features"])


def test_vggsound_layout_with_sparse_classes(tmp_path):
    frames = np.zeros((60, 32, 32, 3), np.uint8)
    for stem in ("aaaaaaaaaaa_1000_11000", "bbbbbbbbbbb_0_10000", "ccccccccccc_2000_12000"):
        write_clip(tmp_path / f"{stem}.mp4", frames, np.zeros(38_400, np.float32), crf=30)
    (tmp_path / "vggsound_test.txt").write_text(
        "aaaaaaaaaaa_1000_11000\nbbbbbbbbbbb_0_10000\nccccccccccc_2000_12000\n"
    )
    with (tmp_path / "vggsound.csv").open("w", newline="") as handle:
        csv.writer(handle).writerows(
            [
                ["aaaaaaaaaaa", 1, "dog barking", "test"],
                ["bbbbbbbbbbb", 0, "playing tennis", "test"],
                ["ccccccccccc", 2, "people talking", "test"],
            ]
        )
    (tmp_path / "classes.tsv").write_text("dog barking\ty\nplaying tennis\ty\npeople talking\tn\n")
    (tmp_path / "bad.txt").write_text("bbbbbbbbbbb_0_10000\n")
    dataset = sparsesync_clip_dataset(
        tmp_path,
        "test",
        layout="vggsound",
        vggsound_meta=tmp_path / "vggsound.csv",
        sparse_classes=tmp_path / "classes.tsv",
    )
    assert dataset["label"] == ["dog barking", "playing tennis"]
    filtered = sparsesync_clip_dataset(
        tmp_path, "test", layout="vggsound", vggsound_meta=tmp_path / "vggsound.csv", bad_files=[tmp_path / "bad.txt"]
    )
    assert filtered["id"] == ["aaaaaaaaaaa_1000_11000", "ccccccccccc_2000_12000"]
    (tmp_path / "vggsound_valid.txt").write_text("ddddddddddd_0_10000\n")
    with pytest.raises(FileNotFoundError, match="missing"):
        sparsesync_clip_dataset(tmp_path, "valid", layout="vggsound", vggsound_meta=tmp_path / "vggsound.csv")


def test_lrs3_splits_are_by_video_and_fixed_offsets_follow_the_sampler(tmp_path):
    ids = [f"pretrain/video{v:02d}/{c:05d}" for v in range(20) for c in range(3)]
    counts = make_lrs3_split_files(ids, tmp_path)
    assert counts == {"test": 6, "valid": 6, "train": 48}
    videos = {s: {i.split("/")[1] for i in (tmp_path / f"lrs3_{s}.txt").read_text().split()} for s in counts}
    assert not (videos["test"] & videos["train"]) and not (videos["valid"] & videos["train"])
    processor = SparseSyncProcessor()
    table = make_fixed_offsets({i: (250, 160_000) for i in ids[:50]}, processor, seed=1338)
    assert table == make_fixed_offsets({i: (250, 160_000) for i in ids[:50]}, processor, seed=1338)
    for offset, start in table.values():
        assert (
            start * 25 == pytest.approx(round(start * 25))
            and max(0, -offset) <= start + 1e-9 <= 5 - max(0, offset) + 1e-9
        )
    assert fixed_offsets_name("test", processor) == "test_size21_crop5.0_min-2.00_max2.00.csv"
    (tmp_path / "wrong.csv").write_text("id,offset\nx,0\n")
    with pytest.raises(ValueError, match="not a fixed-offset table"):
        read_fixed_offsets(tmp_path / "wrong.csv")


def test_preparation_reencodes_and_lists_bad_files(tmp_path):
    source = tmp_path / "source"
    rng = np.random.default_rng(0)
    write_clip(
        source / "a" / "good.mp4",
        rng.integers(0, 255, (40, 36, 64, 3), dtype=np.uint8),
        rng.normal(0, 0.1, 25_600).astype(np.float32),
        fps=20,
    )
    write_clip(source / "a" / "short.mp4", np.zeros((10, 32, 32, 3), np.uint8), np.zeros(6400, np.float32))
    (source / "a" / "broken.mp4").write_bytes(b"\x00" * 1000)
    report = prepare_clips(
        sorted(source.rglob("*.mp4")), source, tmp_path / "out", min_duration_sec=1.0, shorter_side=32
    )
    assert report.written == [str(tmp_path / "out" / "a" / "good.mp4")]
    reasons = dict(report.bad)
    assert (
        "unreadable" in reasons[str(source / "a" / "broken.mp4")]
        and "shorter than 1" in reasons[str(source / "a" / "short.mp4")]
    )
    clip = load_clip(tmp_path / "out" / "a" / "good.mp4")
    assert clip.source_fps == 25 and clip.frames.shape[-2:] == (32, 56) and clip.frames.shape[0] == 50
    assert not (tmp_path / "out" / "a" / "short.mp4").exists()


def test_offset_accuracy_with_tolerance_and_grid_edges():
    logits = torch.full((5, 21), -1.0)
    for row, predicted in enumerate([0, 1, 19, 10, 5]):
        logits[row, predicted] = 5.0
    labels = torch.tensor([0, 0, 20, 12, 5])
    metrics = offset_accuracy(logits, labels)
    assert metrics["accuracy_1"] == pytest.approx(2 / 5)  # rows 0 and 4
    assert metrics["accuracy_1_tol1"] == pytest.approx(4 / 5)  # + row 1 (edge 0 accepts 1) and row 2 (20 accepts 19)
    assert metrics["accuracy_5"] >= metrics["accuracy_1"] and metrics["accuracy_5_tol1"] >= metrics["accuracy_5"]
    module = load_metric("offset_accuracy")
    assert module.compute(predictions=logits.tolist(), references=labels.tolist())["accuracy_1_tol1"] == pytest.approx(
        0.8
    )
    assert confusion_matrix(logits, labels)[20, 19] == 1 and confusion_matrix(logits, labels).sum() == 5
    chance = offset_accuracy(
        torch.randn(20_000, 21, generator=torch.Generator().manual_seed(0)), torch.randint(0, 21, (20_000,))
    )
    assert chance["accuracy_1"] == pytest.approx(1 / 21, abs=0.01) and chance["accuracy_1_tol1"] == pytest.approx(
        0.138, abs=0.012
    )


def test_corrupted_validation_probes():
    generator = torch.Generator().manual_seed(0)
    batch = {
        "pixel_values": torch.randn(4, 5, 3, 8, 8),
        "input_features": torch.randn(4, 257, 9),
        "labels": torch.arange(4),
    }
    noisy = corrupt_batch(batch, "rand_audio", generator)
    assert noisy["input_features"].min() >= batch["input_features"].min() and torch.equal(
        noisy["pixel_values"], batch["pixel_values"]
    )
    assert not torch.allclose(noisy["input_features"], batch["input_features"])
    permuted = corrupt_batch(batch, "perm_rgb", generator)
    assert sorted(permuted["pixel_values"].sum(dim=(1, 2, 3, 4)).tolist()) == sorted(
        batch["pixel_values"].sum(dim=(1, 2, 3, 4)).tolist()
    )
    assert torch.equal(permuted["labels"], batch["labels"])
    for _ in range(20):  # no clip keeps its own video (randperm would, once per batch on average)
        sums = corrupt_batch(batch, "perm_rgb", generator)["pixel_values"].sum(dim=(1, 2, 3, 4))
        assert not (sums == batch["pixel_values"].sum(dim=(1, 2, 3, 4))).any()
    with pytest.raises(ValueError, match="unknown probe"):
        corrupt_batch(batch, "other", generator)


def test_preparation_script_writes_clips_splits_tables_and_the_bad_list(tmp_path):
    from videozoo.scripts import prepare_sparsesync_dataset

    source = tmp_path / "src"
    rng = np.random.default_rng(1)
    for video in range(10):
        frames = rng.integers(0, 255, (150, 32, 32, 3), dtype=np.uint8)
        write_clip(
            source / "pretrain" / f"v{video:02d}" / "00000.mp4",
            frames,
            rng.normal(0, 0.1, 96_000).astype(np.float32),
            crf=35,
        )
    (source / "pretrain" / "v00" / "00001.mp4").write_bytes(b"\x00" * 500)
    target = tmp_path / "out"
    assert (
        prepare_sparsesync_dataset.main(
            [
                "--source_dir",
                str(source),
                "--target_dir",
                str(target),
                "--shorter_side",
                "32",
                "--lrs3_splits",
                "--fixed_offsets",
                "--clip_length_sec",
                "2",
                "--max_offset_sec",
                "1.0",
                "--num_offset_classes",
                "3",
            ]
        )
        == 0
    )
    bad = (target / "bad_files.tsv").read_text().splitlines()
    assert len(bad) == 1 and bad[0].startswith(str(source / "pretrain" / "v00" / "00001.mp4"))
    assert len(list(target.rglob("*.mp4"))) == 10
    splits = {s: (target / f"lrs3_{s}.txt").read_text().split() for s in ("train", "valid", "test")}
    assert [len(splits[s]) for s in ("train", "valid", "test")] == [8, 1, 1]
    table = read_fixed_offsets(target / "fixed_offsets_lrs3" / "test_size3_crop2.0_min-1.00_max1.00.csv")
    assert list(table) == splits["test"]


def test_start_time_probe_tool_runs():
    from videozoo.scripts import probe_sparsesync_start_time as probe

    result = probe.main(
        [
            "--make_noise_clips",
            "6",
            "--noise_seconds",
            "1.6",
            "--audio_rate",
            "16000",
            "--crop_sec",
            "1.0",
            "--steps",
            "4",
            "--batch_size",
            "4",
        ]
    )
    assert result["classes"] == 7 and result["test_clips"] == 2 and 0 <= result["top1"] <= result["top5"] <= 1
    assert result["chance_top1"] == pytest.approx(1 / 7)
