import numpy as np
import pytest
import torch

from videozoo.processors.feature_extraction_bmt import BMTFeatureExtractor, crop_segment
from videozoo.processors.processing_bmt import BMTProcessor, build_caption_vocab, split_caption


def test_vocabulary_order():
    itos = build_caption_vocab(["A dog barks.", "a cat purrs", "The dog's bark"], min_freq=1)
    assert itos[:4] == [" UNK ", "<blank>", "<s>", "</s>"]
    assert itos[4:7] == ["a", "dog", "'s"]  # frequency 2 first, then ties alphabetically
    assert itos[4:] == sorted(itos[4:], key=lambda w: (-sum(w == t for c in ["A dog barks.", "a cat purrs", "The dog's bark"] for t in split_caption(c)), w))
    assert "." in itos and "barks" in itos


def test_processor_round_trip(tmp_path):
    processor = BMTProcessor.from_captions(["a dog barks loudly .", "a cat purrs"], audio_feature_size=3, video_feature_size=4)
    out = processor(text=["A dog purrs", "zebra"], audio=[np.zeros((5, 3)), np.zeros((2, 3))],
                    rgb=[np.zeros((2, 4)), np.zeros((3, 4))], flow=[np.ones((2, 4)), np.ones((3, 4))])
    ids = out["decoder_input_ids"]
    assert ids[0, 0] == 2 and ids[0, 4] == 3 and ids[1].tolist() == [2, 0, 3, 1, 1]  # unknown word -> UNK, PAD = 1
    assert out["audio_attention_mask"].tolist() == [[True] * 5, [True, True, False, False, False]]
    assert torch.equal(out["video_features"][0, :2], torch.ones(2, 4))  # rgb + flow
    assert (out["video_features"][0, 2] == 1.0).all()  # padded with the reference sentinel
    processor.save_pretrained(tmp_path)
    reloaded = BMTProcessor.from_pretrained(tmp_path)
    assert reloaded(text=["a dog purrs"])["decoder_input_ids"].tolist() == processor(text=["a dog purrs"])["decoder_input_ids"].tolist()
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
