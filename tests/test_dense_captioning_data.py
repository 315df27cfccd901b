"""Dense-captioning data: ActivityNet annotations, the authors' feature layouts, crops, views, anchors, synthetic."""

import json
import logging

import numpy as np
import pytest
import torch

from videozoo.data.dense_captioning import (
    DenseCaptioningCollator,
    HDF5Features,
    NpyFeatures,
    ProposalCollator,
    caption_view,
    event_lengths,
    kmeans_anchors,
    load_activitynet_captions,
    normalize_caption,
    proposal_view,
    read_annotations,
    read_subtitles,
    synthetic_dense_captioning_dataset,
    video_table_features,
)
from videozoo.processors import BMTProcessor, MDVCProcessor
from videozoo.processors.feature_extraction_bmt import crop_segment

from .conftest import SHARED

ANET = SHARED / "data" / "activitynet_captions"
MEDIA = SHARED / "data" / "media" / "activitynet"


def write_json(path, data):
    path.write_text(json.dumps(data))
    return path


def test_caption_normalisation_as_the_meta_tables():
    assert (
        normalize_caption("  A man\u2019s dog runs.\nIt  costs 2.5 dollars. ")
        == "A man's dog runs It costs 2.5 dollars"
    )


def test_real_annotation_files(shared_dir, caplog):
    with caplog.at_level(logging.WARNING):
        rows = read_annotations(ANET / "train.json")
    assert len(rows) == 10009
    # 37,421 events; the two that start after they end are left out (and reported), the zero-length ones kept
    assert sum(len(r["sentences"]) for r in rows) == 37419
    assert "2 events left out" in caplog.text and "starts after it ends" in caplog.text
    assert all(e <= r["duration"] for r in rows for e in r["event_ends"])  # 29 ends beyond the video are clipped
    assert sum(s == e for r in rows for s, e in zip(r["event_starts"], r["event_ends"])) == 2
    assert not any(s.endswith(".") for r in rows for s in r["sentences"])
    with pytest.raises(ValueError, match="v_0bosp4-pyTM event 3 starts after it ends"):
        read_annotations(ANET / "train.json", on_invalid_event="error")
    available = [r["video_id"] for r in rows[:5]]
    assert [r["video_id"] for r in read_annotations(ANET / "train.json", available_ids=available)] == available


def test_invalid_events_are_dropped_or_rejected(tmp_path):
    path = write_json(
        tmp_path / "a.json",
        {
            "v1": {
                "duration": 10.0,
                "timestamps": [[-1, 2], [3, 2], [12, 14], [1, 4], [2, 11]],
                "sentences": ["a", "b", "c", "   ", "e"],
            }
        },
    )
    row = read_annotations(path)[0]
    assert row["event_starts"] == [2.0] and row["event_ends"] == [10.0] and row["sentences"] == ["e"]  # end clipped
    for match in ("outside the video", "starts after it ends", "empty caption"):
        with pytest.raises(ValueError, match=match):
            read_annotations(
                write_json(
                    tmp_path / "b.json",
                    {
                        "v": {
                            "duration": 10.0,
                            "timestamps": [
                                {
                                    "outside the video": [12, 14],
                                    "starts after it ends": [3, 2],
                                    "empty caption": [1, 2],
                                }[match]
                            ],
                            "sentences": ["" if match == "empty caption" else "x"],
                        }
                    },
                ),
                on_invalid_event="error",
            )
    with pytest.raises(ValueError, match="2 timestamps but 1 sentences"):
        read_annotations(
            write_json(tmp_path / "c.json", {"v": {"duration": 5, "timestamps": [[0, 1], [1, 2]], "sentences": ["a"]}})
        )
    with pytest.raises(ValueError, match="non-positive duration"):
        read_annotations(write_json(tmp_path / "d.json", {"v": {"duration": 0, "timestamps": [], "sentences": []}}))
    with pytest.raises(ValueError, match="outside the video"):
        crop_segment(np.zeros((4, 2)), 11.0, 12.0, 10.0)


@pytest.fixture
def sample_table(tmp_path, shared_dir):
    """The shipped BMT sample video (35.155 s, rgb/flow (14, 1024), VGGish (36, 128)) as an annotated table, plus a
    second video whose feature files are missing."""
    path = write_json(
        tmp_path / "val.json",
        {
            "women_long_jump": {
                "duration": 35.155,
                "timestamps": [[0.1, 4.9], [19.6, 33.3], [35.0, 35.155]],
                "sentences": ["We see a title screen.", "The woman runs down a track", "She waves"],
            },
            "v_missing": {"duration": 20.0, "timestamps": [[1.0, 5.0]], "sentences": ["nothing here"]},
        },
    )
    reader = NpyFeatures(MEDIA, MEDIA, audio_pattern="{video_id}_vggish.npy")
    return load_activitynet_captions({"test": path})["test"], reader


def test_bmt_layout_crops_and_proposal_batches(sample_table):
    videos, reader = sample_table
    arrays = reader.load("women_long_jump")
    assert arrays["rgb"].shape == (14, 1024) and arrays["audio"].shape == (36, 128)
    assert reader.load("v_missing") is None
    rows = caption_view(videos)
    assert len(rows) == 4 and rows["sentence"][0] == "We see a title screen"
    processor = BMTProcessor.from_captions(rows["sentence"])
    batch = DenseCaptioningCollator(videos, processor, "bmt", reader)([rows[i] for i in range(4)])
    # per-modality crops with the reference rule; the missing video gets one zero step
    lengths = [len(crop_segment(arrays["audio"], s, e, 35.155)) for s, e in zip(rows["start"][:3], rows["end"][:3])]
    assert batch["audio_attention_mask"].sum(1).tolist() == lengths + [1]
    expected = crop_segment(arrays["rgb"], 19.6, 33.3, 35.155) + crop_segment(arrays["flow"], 19.6, 33.3, 35.155)
    torch.testing.assert_close(batch["video_features"][1, : len(expected)], torch.from_numpy(expected))
    assert batch["video_attention_mask"][2].sum() == 1  # 35.0-35.155 s: i0 == i1 == 14 -> widened to [13:14]
    assert (batch["audio_features"][3, 0] == 0).all() and batch["audio_attention_mask"][3].sum() == 1
    assert batch["labels"][0, 0].item() == processor.tokenizer.convert_tokens_to_ids("we")
    assert (batch["decoder_input_ids"][:, 0] == 2).all()

    view = proposal_view(videos, reader)  # the video without features is left out
    assert view["video_id"] == ["women_long_jump"]
    out = ProposalCollator(videos, processor, 800, 300, reader)([view[0]])
    assert out["audio_features"].shape == (1, 800, 128) and out["video_features"].shape == (1, 300, 1024)
    assert out["audio_attention_mask"].sum() == 36 and (out["video_features"][0, 14:] == 1.0).all()  # sentinel
    torch.testing.assert_close(out["event_targets"][1], torch.tensor([0, (19.6 + 33.3) / 2, 33.3 - 19.6, 1]))


def test_wrong_feature_widths_are_named(tmp_path):
    np.save(tmp_path / "v_rgb.npy", np.zeros((3, 1024), np.float32))
    np.save(tmp_path / "v_flow.npy", np.zeros((3, 1000), np.float32))
    np.save(tmp_path / "v.npy", np.zeros((8, 128), np.float32))
    with pytest.raises(ValueError, match=r"v_flow.npy: expected features of shape \(time, 1024\), got \(3, 1000\)"):
        NpyFeatures(tmp_path, tmp_path).load("v")
    np.save(tmp_path / "v_flow.npy", np.zeros((4, 1024), np.float32))
    with pytest.raises(ValueError, match="must have the same shape"):
        NpyFeatures(tmp_path, tmp_path).load("v")
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        NpyFeatures(tmp_path / "nowhere", tmp_path)


def test_mdvc_layout_truncates_to_a_common_length(tmp_path):
    h5py = pytest.importorskip("h5py")
    rng = np.random.default_rng(0)
    with h5py.File(tmp_path / "video.h5", "w") as video, h5py.File(tmp_path / "audio.h5", "w") as audio:
        for vid, (tv, ta) in {"v1": (20, 21), "v2": (10, 30)}.items():
            video[f"{vid}/i3d_features/rgb"] = rng.random((tv, 8), dtype=np.float32)
            video[f"{vid}/i3d_features/flow"] = rng.random((tv, 8), dtype=np.float32)
            audio[f"{vid}/vggish_features"] = rng.random((ta, 4), dtype=np.float32)
    reader = HDF5Features(tmp_path / "video.h5", tmp_path / "audio.h5", audio_feature_size=4, video_feature_size=8)
    ann = write_json(
        tmp_path / "a.json",
        {
            "v1": {"duration": 20.0, "timestamps": [[5.0, 10.0]], "sentences": ["a b"]},
            "v2": {"duration": 10.0, "timestamps": [[0, 4.0]], "sentences": ["c"]},
        },
    )
    subtitles = tmp_path / "asr.tsv"
    subtitles.write_text(
        "video_id\tsub\tstart\tend\tcomment\tend_adj\n"
        "v1\thello there\t4.0\t6.0\ten\t5.5\nv1\tlater words\t12.0\t13.0\ten\t13.0\nv1\t\t1.0\t2.0\ten\t2.0\n"
    )
    assert read_subtitles(subtitles) == {"v1": [(4.0, 5.5, "hello there"), (12.0, 13.0, "later words")]}
    videos = load_activitynet_captions({"t": ann}, subtitles_file=subtitles)["t"]
    rows = caption_view(videos)
    assert rows["speech"] == ["hello there", ""]
    processor = MDVCProcessor.from_captions(
        rows["sentence"], rows["speech"], audio_feature_size=4, video_feature_size=8
    )
    collator = DenseCaptioningCollator(videos, processor, "mdvc", reader)
    batch = collator([rows[0]])
    arrays = reader.load("v1")  # T = min(20, 21) = 20, the same indices [5:10] for audio and video
    torch.testing.assert_close(batch["audio_features"][0], torch.from_numpy(arrays["audio"][5:10]))
    torch.testing.assert_close(
        batch["video_features"][0], torch.from_numpy(arrays["rgb"][5:10] + arrays["flow"][5:10])
    )
    assert batch["speech_input_ids"][0].tolist()[0] == 2 and batch["speech_attention_mask"].sum() == 4
    with pytest.raises(ValueError, match="not on the same grid"):
        collator([rows[1]])  # 10 video vs 30 audio steps: BMT-style 2.56 s I3D would be misaligned


def test_synthetic_schema_and_both_modalities():
    splits = synthetic_dense_captioning_dataset(40, 8, seed=3)
    assert splits["train"].features == video_table_features(32, 48)
    again = synthetic_dense_captioning_dataset(40, 8, seed=3)
    assert splits["test"]["sentences"] == again["test"]["sentences"]
    videos = splits["train"].with_format("numpy")
    by_object, by_loudness = {}, {}
    for video in videos:
        starts, ends = video["event_starts"], video["event_ends"]
        assert (
            (starts >= 0).all()
            and (ends <= video["duration"]).all()
            and (np.diff(np.stack([starts, ends], 1).ravel()) > 0).all()
        )
        for s, e, sentence in zip(starts, ends, video["sentences"]):
            _, obj, _, sound, loud = sentence.split()
            step_v, step_a = int((s + e) / 2 / 2.56), int((s + e) / 2 / 0.96)
            by_object.setdefault(obj, []).append(video["rgb"][step_v])
            by_loudness.setdefault(loud, []).append(video["audio"][step_a].sum())
        # outside the events only background
        assert video["audio"][-1].max() <= 0.3 or ends[-1] > video["duration"] - 2
    # the object is visible in the video stream, the loudness in the audio stream
    dog, cat = np.mean(by_object["dog"], 0), np.mean(by_object["cat"], 0)
    assert np.abs(dog - cat).mean() > 0.1
    assert np.mean(by_loudness["loudly"]) > 1.5 * np.mean(by_loudness["quietly"])


def test_kmeans_anchors():
    lengths = np.r_[np.full(20, 1.0), np.full(20, 10.0) + np.linspace(-0.5, 0.5, 20), np.full(5, 30.0)]
    assert kmeans_anchors(lengths, 3) == pytest.approx([1.0, 10.0, 30.0])
    with pytest.raises(ValueError, match="distinct positive"):
        kmeans_anchors([1.0, 1.0, 2.0], 3)
    splits = synthetic_dense_captioning_dataset(30, 2)
    anchors = kmeans_anchors(event_lengths(splits["train"]), 6)
    assert anchors == sorted(anchors) and 5 <= anchors[0] and anchors[-1] <= 25


def test_anchors_from_the_training_annotations(shared_dir):
    lengths = [
        e - s for r in read_annotations(ANET / "train.json") for s, e in zip(r["event_starts"], r["event_ends"])
    ]
    anchors = kmeans_anchors(lengths, 48)
    positive = [x for x in lengths if x > 0]
    assert len(anchors) == 48 and len(set(anchors)) == 48 and min(positive) <= anchors[0] < 3
    assert 150 < anchors[-1] <= max(positive)


def test_annotation_files_with_bad_content_name_the_file(tmp_path):
    """Truncated JSON and null sentences are named with the file (docs/bad_input.md)."""
    from videozoo.data.dense_captioning import read_annotations

    path = tmp_path / "val.json"
    path.write_text('{"v1": {"duration": 5.0, "timestamps": [[0, 1]], "sentences": ["a dog"]}')
    with pytest.raises(ValueError, match=r"val.json: annotation file is not valid JSON"):
        read_annotations(path)
    path.write_text('{"v1": {"duration": 5.0, "timestamps": [[0, 1]], "sentences": [null]}}')
    with pytest.raises(ValueError, match=r"val.json: v1 sentence 0 is None, not a string"):
        read_annotations(path)
