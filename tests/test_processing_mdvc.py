import numpy as np
import pytest
import torch
from transformers import AutoProcessor

import videozoo  # noqa: F401
from videozoo.processors import MDVCProcessor


def processor():
    return MDVCProcessor.from_captions(
        ["a dog barks loudly", "a cat purrs"],
        ["so the dog", "okay now the cat"],
        audio_feature_size=3,
        video_feature_size=4,
    )


def test_speech_vocabulary_and_round_trip(tmp_path):
    proc = processor()
    speech_vocab = proc.speech_tokenizer.get_vocab()
    assert "okay" in speech_vocab and "okay" not in proc.tokenizer.get_vocab()
    assert speech_vocab["<blank>"] == 1 and speech_vocab["the"] == 4  # same specials; most frequent word first
    out = proc(text=["a dog"], speech=[""])
    assert out["speech_input_ids"].tolist() == [[2, 3]]  # no speech -> [BOS, EOS]
    assert proc.unknown_speech_words("so um the dog") == [["um"]]
    proc.save_pretrained(tmp_path)
    reloaded = AutoProcessor.from_pretrained(tmp_path)
    assert type(reloaded) is MDVCProcessor
    texts = ["so um the cat", "okay"]
    assert reloaded(speech=texts)["speech_input_ids"].tolist() == proc(speech=texts)["speech_input_ids"].tolist()


def test_features_share_one_mask():
    proc = processor()
    out = proc(
        audio=[np.zeros((5, 3)), np.zeros((2, 3))],
        rgb=[np.zeros((3, 4)), np.zeros((4, 4))],
        flow=[np.ones((3, 4)), np.ones((4, 4))],
    )
    assert out["audio_features"].shape == (2, 3, 3) and out["video_features"].shape == (2, 3, 4)
    assert out["feature_attention_mask"].tolist() == [[True] * 3, [True, True, False]]
    assert torch.equal(out["video_features"][0], torch.ones(3, 4))
    with pytest.raises(ValueError, match=r"audio\[0\] must have shape"):
        proc(audio=[np.zeros((5, 7))], rgb=[np.zeros((3, 4))])
    with pytest.raises(ValueError, match="same number of samples"):
        proc(audio=[np.zeros((5, 3))], rgb=[np.zeros((3, 4)), np.zeros((3, 4))])
