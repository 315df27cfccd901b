import numpy as np
import pytest
import torch
from transformers import AutoProcessor

from videozoo.data.mmt import MMTCollator, load_mmt_features, synthetic_mmt_dataset
from videozoo.data.mmt_augmentation import random_feature_selections
from videozoo.processors import MMTFeatureExtractor
from videozoo.processors.processing_mmt import normalize_caption

from .tiny_configs import TINY_PROCESSORS


def extractor(**kwargs):
    return MMTFeatureExtractor(
        expert_names=["s3d", "rgb", "face"], expert_feature_sizes={"s3d": 4, "rgb": 3, "face": 2}, **kwargs
    )


def test_time_codes_padding_and_pooling():
    s3d = np.arange(12, dtype=np.float32).reshape(3, 4)
    stamps = np.array([[0, 1], [1, 2], [7, 7.8]], np.float32)
    out = extractor(max_feature_tokens=5)(
        [{"s3d": s3d, "rgb": np.ones((2, 3)), "face": None}], expert_timestamps=[{"s3d": stamps}]
    )
    torch.testing.assert_close(
        out["expert_times"]["s3d"], torch.tensor([[2.5, 3.5, 9.4, 1.0, 1.0]])
    )  # centre + 2; pad 1
    assert out["expert_attention_mask"]["s3d"].tolist() == [[1, 1, 1, 0, 0]]
    assert out["expert_features"]["s3d"][0, 3:].abs().sum() == 0
    torch.testing.assert_close(out["expert_times"]["rgb"][0, :2], torch.tensor([2.1, 2.3]))  # synthetic 0.2 s timing
    assert out["expert_times"]["face"].tolist() == [[1.0] * 5] and out["expert_attention_mask"]["face"].sum() == 0
    assert out["expert_pooled"]["s3d"].tolist() == [[8, 9, 10, 11]]


def test_subsampling_keeps_order_and_pools_over_all_features():
    values = np.arange(40, dtype=np.float32).reshape(10, 4)
    fe = extractor(max_feature_tokens=4)
    first = fe([{"s3d": values}])
    again = fe([{"s3d": values}])
    assert torch.equal(first["expert_features"]["s3d"], again["expert_features"]["s3d"])  # fixed at evaluation
    kept = first["expert_features"]["s3d"][0, :, 0]
    assert (kept.diff() > 0).all()
    assert first["expert_pooled"]["s3d"].tolist() == [[36, 37, 38, 39]]  # max over all 10, not the 4 kept
    selections = random_feature_selections(fe, [{"s3d": values}], [np.random.default_rng(3)])
    assert selections[0]["s3d"].tolist() == sorted(np.random.default_rng(3).choice(10, 4, replace=False).tolist())
    trained = fe([{"s3d": values}], selections=selections)["expert_features"]["s3d"][0, :, 0]
    assert trained.tolist() == (4 * selections[0]["s3d"]).tolist()  # the chosen rows, in temporal order
    assert random_feature_selections(fe, [{"s3d": values[:3]}], [np.random.default_rng(3)]) == [{}]  # within K
    with pytest.raises(TypeError, match="selections"):  # no training switch on the extractor
        fe([{"s3d": values}], training=True)
    with pytest.raises(ValueError, match="at most 4 indices below 10"):
        fe([{"s3d": values}], selections=[{"s3d": np.arange(5)}])


@pytest.mark.parametrize(
    "features, message",
    [
        ({"audio": np.zeros((2, 3))}, "unknown expert"),
        ({"s3d": np.zeros((2, 5))}, r"\(n, 4\)"),
        ({"s3d": np.full((2, 4), np.nan)}, "NaN"),
    ],
)
def test_bad_features_are_named(features, message):
    with pytest.raises(ValueError, match=message):
        extractor()([features])


def test_caption_normalisation():
    assert normalize_caption(["a", "man", "Runs"]) == "A man runs."
    assert normalize_caption("is it?") == "Is it?"
    with pytest.raises(ValueError, match="empty"):
        normalize_caption("   ")


def test_processor_tokenises_and_round_trips(tmp_path):
    processor = TINY_PROCESSORS["mmt"](tmp_path)
    out = processor(
        text=["a man is cooking the dog the dog the dog the dog", "dog"],
        expert_features=[{"s3d": np.ones((2, 20))}] * 2,
    )
    assert out["input_ids"].shape == (2, 9)  # cut to max_text_tokens
    tokens = processor.tokenizer.convert_ids_to_tokens(out["input_ids"][1])
    assert tokens[:4] == ["[CLS]", "dog", ".", "[SEP]"] and "[UNK]" not in tokens
    assert processor.tokenizer.convert_ids_to_tokens(out["input_ids"][0])[-1] == "[SEP]"
    processor.save_pretrained(tmp_path / "saved")
    reloaded = AutoProcessor.from_pretrained(tmp_path / "saved")
    again = reloaded(
        text=["a man is cooking the dog the dog the dog the dog", "dog"],
        expert_features=[{"s3d": np.ones((2, 20))}] * 2,
    )
    assert torch.equal(again["input_ids"], out["input_ids"])


def test_synthetic_dataset_and_collator(tmp_path):
    splits = synthetic_mmt_dataset(num_train_videos=6, num_test_videos=2, captions_per_video=3).with_format("numpy")
    assert len(splits["train"]) == 6 and len(splits["test"]) == 4
    twin = splits["test"][1]
    assert twin["video_id"].endswith("_twin")
    words, twin_words = splits["test"][0]["captions"][0].split(), twin["captions"][0].split()
    concepts = [w for w in words if w not in ("then", "sound") and len(w) == 4]
    assert concepts[:2] == [w for w in twin_words if w not in ("then", "sound") and len(w) == 4][:2][::-1]
    processor = TINY_PROCESSORS["mmt"](tmp_path)
    processor.feature_extractor.expert_feature_sizes = {"s3d": 64, "vggish": 32}
    rows = [{**splits["train"][i], "sample_seed": i} for i in range(3)]
    batch = MMTCollator(processor, training=True)(rows)
    assert batch["input_ids"].shape[0] == 3 and batch["expert_features"]["s3d"].shape == (3, 5, 64)
    again = MMTCollator(processor, training=True)(rows)
    assert torch.equal(batch["expert_features"]["s3d"], again["expert_features"]["s3d"])  # seeded per sample
    eval_batch = MMTCollator(processor, training=False, captions_per_video=4)([splits["test"][0]])
    assert eval_batch["caption_mask"].tolist() == [[1, 1, 1, 0]] and eval_batch["input_ids"].shape[0] == 4


def test_reads_the_authors_hdf5_layout(tmp_path):
    h5py = pytest.importorskip("h5py")
    root = tmp_path / "MSRVTT"
    for video_id, s3d in (("video7", np.ones((3, 4))), ("video8", np.full((1, 4), np.nan))):
        path = root / "vid_feat_files" / "mult_h5" / video_id[0] / video_id[1] / video_id[2] / f"{video_id}.h5"
        path.parent.mkdir(parents=True, exist_ok=True)
        with h5py.File(path, "w") as handle:
            handle["raw_captions.0"] = np.array([b"a", b"man", b"runs"])
            handle["raw_captions.1"] = np.array([b"someone", b"runs"])
            handle["features.s3d"] = s3d
            handle["features_t.s3d"] = np.array([[0, 1], [1, 2], [2, 3]])[: len(s3d)]
    split = tmp_path / "train_list.txt"
    split.write_text("video7\nvideo8\n")
    dataset = load_mmt_features(root, split, {"s3d": 4, "rgb": 3})
    assert dataset[0]["captions"] == ["a man runs", "someone runs"]
    assert np.asarray(dataset[0]["s3d__features"]).shape == (3, 4) and len(dataset[0]["rgb__features"]) == 0
    assert len(dataset[1]["s3d__features"]) == 0  # NaN first value = missing, as in the reference
    split.write_text("video9\n")
    with pytest.raises(FileNotFoundError, match="video9"):
        load_mmt_features(root, split, {"s3d": 4})


def test_wordpiece_vocabulary_merges_the_most_frequent_pair_first():
    from videozoo.processors.processing_mmt import train_wordpiece_vocab

    base = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "##a", "##b", "##c", "a", "b", "c"]
    assert train_wordpiece_vocab(["ab ab ab abc"], vocab_size=12) == base + ["ab"]  # (a, ##b) 4 times, (##b, ##c) once
    assert train_wordpiece_vocab(["ab ab ab abc"], vocab_size=99) == base + ["ab", "abc"]  # stops at whole words
    # a tie goes to the lexicographically first pair, whatever the order of the captions
    assert (
        train_wordpiece_vocab(["yx xy"], vocab_size=10)[-1]
        == train_wordpiece_vocab(["xy yx"], vocab_size=10)[-1]
        == "xy"
    )


def test_trained_vocabulary_is_the_same_in_every_process():
    """String hashing changes from process to process; the vocabulary and its ids must not."""
    import os
    import subprocess
    import sys

    program = (
        "from videozoo.processors.processing_mmt import train_wordpiece_vocab\n"
        "captions = [f'w{i % 13}a w{i % 7}b ka{i % 5}ba then sound {i % 3}' for i in range(60)]\n"
        "print('\\n'.join(train_wordpiece_vocab(captions, vocab_size=70)))\n"
    )
    vocabularies = {
        subprocess.run(
            [sys.executable, "-c", program],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": str(seed)},
        ).stdout
        for seed in (1, 2, 3)
    }
    assert len(vocabularies) == 1 and len(vocabularies.pop().split()) == 70
