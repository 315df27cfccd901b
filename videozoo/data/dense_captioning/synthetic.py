"""The embedded synthetic bi-modal dense-captioning task (events that need both the audio and the video stream to
be captioned), in the schema of the real video tables with the features inline."""

import math

import datasets
import numpy as np

from .schema import video_table_features

SYNTHETIC_OBJECTS = ("dog", "cat")
SYNTHETIC_SOUNDS = ("barking", "purring")
SYNTHETIC_LOUDNESS = (("loudly", 1.5), ("quietly", 0.7))
SYNTHETIC_FILLERS = ("so", "um", "okay", "right", "yeah", "well", "now", "then", "look", "here")


def _overlap(length: int, stride: float, start: float, end: float) -> np.ndarray:
    """Fraction of each feature step `[i * stride, (i + 1) * stride)` covered by `[start, end]`."""
    left = np.arange(length) * stride
    return np.clip(np.minimum(left + stride, end) - np.maximum(left, start), 0, None) / stride


def synthetic_dense_captioning_dataset(
    num_train_videos: int = 2048,
    num_test_videos: int = 256,
    audio_feature_size: int = 32,
    video_feature_size: int = 48,
    duration_range: tuple[float, float] = (30.0, 90.0),
    events_per_video: tuple[int, int] = (1, 2),
    event_length_range: tuple[float, float] = (5.0, 25.0),
    audio_stride: float = 0.96,
    video_stride: float = 2.56,
    seed: int = 0,
) -> datasets.DatasetDict:
    """A bi-modal dense captioning task that a small model learns on CPU in minutes (same schema as the real tables,
    features inline).

    Each video has 1-2 non-overlapping events on a background of U(0, 0.3) noise. Over an event's span the video
    stream gets the fixed positive prototype of its object (dog / cat) and the audio stream the prototype of its
    sound (barking / purring) scaled by 1.5 (loudly) or 0.7 (quietly), each step weighted by the share of the step
    the event covers. Object and sound are drawn independently, so the caption `a {object} is {sound} {loudly |
    quietly}` needs both streams, and the events can be found in either. Each video also has 0-3 subtitle lines of
    filler words unrelated to the events (MDVC's speech input). `video_stride=0.96` gives MDVC's common grid."""
    rng = np.random.default_rng(seed)
    objects = rng.uniform(0.2, 1.0, (len(SYNTHETIC_OBJECTS), video_feature_size)).astype(np.float32)
    sounds = rng.uniform(0.2, 1.0, (len(SYNTHETIC_SOUNDS), audio_feature_size)).astype(np.float32)

    def video(split_rng, index: int, prefix: str) -> dict:
        duration = float(np.round(split_rng.uniform(*duration_range), 2))
        t_audio, t_video = max(1, int(duration / audio_stride)), max(1, math.ceil(duration / video_stride))
        audio = split_rng.uniform(0, 0.3, (t_audio, audio_feature_size)).astype(np.float32)
        rgb = split_rng.uniform(0, 0.3, (t_video, video_feature_size)).astype(np.float32)
        flow = np.zeros_like(rgb)
        count = int(split_rng.integers(events_per_video[0], events_per_video[1] + 1))
        slot = duration / count
        starts, ends, sentences = [], [], []
        for k in range(count):
            length = min(split_rng.uniform(*event_length_range), 0.9 * slot)
            start = float(np.round(split_rng.uniform(k * slot, (k + 1) * slot - length), 2))
            end = float(np.round(start + length, 2))
            obj, sound, loud = (int(split_rng.integers(n)) for n in (2, 2, 2))
            rgb += _overlap(t_video, video_stride, start, end)[:, None] * objects[obj]
            audio += _overlap(t_audio, audio_stride, start, end)[:, None] * SYNTHETIC_LOUDNESS[loud][1] * sounds[sound]
            starts.append(start)
            ends.append(end)
            sentences.append(f"a {SYNTHETIC_OBJECTS[obj]} is {SYNTHETIC_SOUNDS[sound]} {SYNTHETIC_LOUDNESS[loud][0]}")
        lines = sorted(split_rng.uniform(0, duration, int(split_rng.integers(0, 4))).round(2).tolist())
        return {
            "video_id": f"{prefix}{index:05d}",
            "duration": duration,
            "event_starts": starts,
            "event_ends": ends,
            "sentences": sentences,
            "speech_starts": lines,
            "speech_ends": [min(duration, s + 4.0) for s in lines],
            "speech_texts": [
                " ".join(split_rng.choice(SYNTHETIC_FILLERS, int(split_rng.integers(2, 6)))) for _ in lines
            ],
            "audio": audio,
            "rgb": rgb,
            "flow": flow,
        }

    schema = video_table_features(audio_feature_size, video_feature_size)
    splits = {}
    for split, count, stream in (("train", num_train_videos, 1), ("test", num_test_videos, 2)):
        split_rng = np.random.default_rng([seed, stream])
        rows = [video(split_rng, i, split) for i in range(count)]
        splits[split] = datasets.Dataset.from_dict({k: [r[k] for r in rows] for k in schema}, features=schema)
    return datasets.DatasetDict(splits)
