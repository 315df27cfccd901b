import numpy as np
import pytest
import torch

from videozoo.processors.feature_extraction_bmt import BMTFeatureExtractor, crop_segment
from videozoo.processors.processing_bmt import BMTProcessor, build_caption_vocab, split_caption


def test_vocabulary_order():
    itos = build_caption_vocab(["A dog barks.", "a cat purrs", "The dog's bark"], min_freq=1)
    assert itos[:4] == [" UNK ", "<blank>", "<s>", "</s>"]
    assert itos[4:7] == ["a", "dog", "'s"]  # frequency 2 first, then ties alphabetically
    assert itos[4:] == sorted(
        itos[4:],
        key=lambda w: (
            -sum(w == t for c in ["A dog barks.", "a cat purrs", "The dog's bark"] for t in split_caption(c)),
            w,
        ),
    )
    assert "." in itos and "barks" in itos


def test_processor_round_trip(tmp_path):
    processor = BMTProcessor.from_captions(
        ["a dog barks loudly .", "a cat purrs"], audio_feature_size=3, video_feature_size=4
    )
    out = processor(
        text=["A dog purrs", "zebra"],
        audio=[np.zeros((5, 3)), np.zeros((2, 3))],
        rgb=[np.zeros((2, 4)), np.zeros((3, 4))],
        flow=[np.ones((2, 4)), np.ones((3, 4))],
    )
    ids = out["decoder_input_ids"]
    assert ids[0, 0] == 2 and ids[0, 4] == 3 and ids[1].tolist() == [2, 0, 3, 1, 1]  # unknown word -> UNK, PAD = 1
    assert out["audio_attention_mask"].tolist() == [[True] * 5, [True, True, False, False, False]]
    assert torch.equal(out["video_features"][0, :2], torch.ones(2, 4))  # rgb + flow
    assert (out["video_features"][0, 2] == 1.0).all()  # padded with the reference sentinel
    processor.save_pretrained(tmp_path)
    reloaded = BMTProcessor.from_pretrained(tmp_path)
    assert (
        reloaded(text=["a dog purrs"])["decoder_input_ids"].tolist()
        == processor(text=["a dog purrs"])["decoder_input_ids"].tolist()
    )
    assert processor.decode(ids[:1]) == ["a dog purrs"]


def test_crop_rule():
    feats = np.arange(10, dtype=np.float32)[:, None]
    assert crop_segment(feats, 0.0, 0.0, 10.0).ravel().tolist() == [0]
    assert crop_segment(feats, 10.0, 10.0, 10.0).ravel().tolist() == [9]
    assert crop_segment(feats, 2.5, 6.0, 10.0).ravel().tolist() == [2, 3, 4, 5]


def test_bad_features():
    fe = BMTFeatureExtractor(audio_feature_size=3, video_feature_size=4, pad_to_audio_length=4)
    with pytest.raises(ValueError, match=r"audio\[0\] must have shape"):
        fe([np.zeros((2, 5))], [np.zeros((2, 4))])
    with pytest.raises(ValueError, match="NaN"):
        fe([np.full((2, 3), np.nan)], [np.zeros((2, 4))])
    with pytest.raises(ValueError, match="fixed padded length"):
        fe([np.zeros((6, 3))], [np.zeros((2, 4))])
    with pytest.raises(ValueError, match="same shape"):
        fe([np.zeros((2, 3))], [np.zeros((2, 4))], [np.zeros((3, 4))])


def test_glove_rows_for_the_vocabulary(tmp_path):
    processor = BMTProcessor.from_captions(["a dog barks", "a cat"])
    rng = np.random.default_rng(0)
    rows = {
        "dog": rng.standard_normal(6),
        "a": rng.standard_normal(6),
        "UNK": rng.standard_normal(6),
        "new york": rng.standard_normal(6),
        "zebra": rng.standard_normal(6),
    }
    (tmp_path / "glove.txt").write_text("".join(f"{w} {' '.join(f'{x:.6f}' for x in v)}\n" for w, v in rows.items()))
    matrix = processor.word_vectors(str(tmp_path / "glove.txt"), dim=6)
    vocab = processor.tokenizer.get_vocab()
    assert matrix.shape == (len(vocab), 6)
    # atol 1e-6: the file keeps 6 decimals (<= 5e-7) and float32 rounds |x| < 8 by <= 2.4e-7; measured 4.8e-7
    torch.testing.assert_close(matrix[vocab["dog"]], torch.tensor(rows["dog"], dtype=torch.float32), atol=1e-6, rtol=0)
    torch.testing.assert_close(
        matrix[0], torch.tensor(rows["UNK"], dtype=torch.float32), atol=1e-6, rtol=0
    )  # " UNK ".strip()
    assert (matrix[vocab["barks"]] == 0).all() and (matrix[vocab["<s>"]] == 0).all()  # absent from the file -> zeros
    from videozoo.processors.word_vectors import word_vector_matrix

    spaced = word_vector_matrix(tmp_path / "glove.txt", ["new york"], 6)  # a token with a space: split from the right
    torch.testing.assert_close(
        torch.from_numpy(spaced[0]), torch.tensor(rows["new york"], dtype=torch.float32), atol=1e-6, rtol=0
    )
    with pytest.raises(ValueError, match="expected a token and 8 numbers"):
        word_vector_matrix(tmp_path / "glove.txt", ["dog"], 8)


def test_unknown_words_are_reported_and_encoded_as_unk():
    processor = BMTProcessor.from_captions(["a dog barks"])
    assert processor.unknown_words(["A zebra barks loudly"]) == [["zebra", "loudly"]]
    assert processor(text="a zebra")["decoder_input_ids"].tolist() == [[2, 4, 0, 3]]


def test_proposal_post_processing():
    from videozoo.processors.processing_bmt import post_process_proposals

    # (centre, length, confidence)
    raw = torch.tensor(
        [[[5.0, 4.0, 0.9], [5.2, 4.0, 0.8], [19.0, 6.0, 0.7], [30.0, 4.0, 0.95], [1.0, 0.15, 0.6], [0.5, 3.0, 0.5]]]
    )
    out = post_process_proposals(raw, [20.0], max_proposals=5)
    # top 5 by confidence; [28, 32] lies beyond the 20 s video -> zero length -> dropped; [16, 22] clipped to [16, 20];
    # the 0.15 s segment is too short; [-1, 2] (6th by confidence) is outside the top 5
    assert [p["timestamp"] for p in out[0]] == [[3.0, 7.0], [3.2, 7.2], [16.0, 20.0]]
    assert out[0][0]["proposal_score"] == pytest.approx(0.9)
    nms = post_process_proposals(raw, [20.0], max_proposals=6, nms_threshold=0.5)
    assert [p["timestamp"] for p in nms[0]] == [[3.0, 7.0], [16.0, 20.0], [0.0, 2.0]]
    # validation order: top 3 first (one of them beyond the video), then the filter; demo order: the other way round
    assert len(post_process_proposals(raw, [20.0], max_proposals=3)[0]) == 2
    demo = post_process_proposals(raw, [20.0], max_proposals=3, order="demo")
    assert [p["timestamp"] for p in demo[0]] == [[3.0, 7.0], [3.2, 7.2], [16.0, 20.0]]
    with pytest.raises(ValueError, match="durations"):
        post_process_proposals(raw, [20.0, 3.0])
