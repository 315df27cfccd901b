"""Datasets for dense video captioning (BMT, MDVC): ActivityNet Captions with the authors' feature layouts, and an
embedded synthetic task, in one Arrow schema, one row per video:

    video_id        string
    duration        float64            seconds
    event_starts    list of float64    ground-truth events (seconds), in annotation order
    event_ends      list of float64
    sentences       list of string     one caption per event (normalised as the reference meta tables)
    speech_starts   list of float64    ASR subtitle lines (MDVC; empty lists when there is no speech)
    speech_ends     list of float64
    speech_texts    list of string
    audio           Array2D((None, 128), float32)    VGGish, 0.96 s steps           } inline in the synthetic set
    rgb, flow       Array2D((None, 1024), float32)   I3D, 2.56 s (BMT) / 0.96 s (MDVC) } and in materialised tables

For the real data the feature columns are absent by default: a `NpyFeatures` (BMT layout) or `HDF5Features`
(MDVC layout) reader gives the arrays of a video when a batch is made, so 10k videos are never copied.

Two views sit over a video table (features stored once):
- `caption_view`: one row per event (`video_index`, `event_index`, `start`, `end`, `sentence`, `speech` = the
  subtitle lines overlapping the event, joined), batched by `DenseCaptioningCollator`, which crops each event with
  the reference rule (`crop_segment`: `i0 = int(S * start / duration)`, `i1 = int(S * end / duration)`, widened by
  one step when equal, an empty crop or a missing video becomes one zero vector) per modality for BMT; MDVC first
  truncates audio and video of the whole video to their common length, then crops both with the same indices.
- `proposal_view`: one row per video with events and features, batched by `ProposalCollator` (whole videos padded
  to the fixed lengths of the config, targets `[batch index, centre_s, length_s, event index]`).

Annotation problems are handled when a table is built, never deep in a batch (`on_invalid_event`):
- an event that starts before 0 or at/after the end of the video, or whose start is after its end, or with an
  empty caption: `"drop"` (default: the event is left out and counted in the warning) or `"error"`;
- an event that ends after the video (ActivityNet has 35 by <= 0.01 s): its end is clipped to the duration;
- zero-length events (start == end, 4 in train.json) are kept for captioning (the crop gives one step, as the
  reference) and excluded from the proposal targets (the reference drops such videos; here only the event).
"""

from .annotations import (
    load_activitynet_captions,
    normalize_caption,
    read_annotations,
    read_available_ids,
    read_subtitles,
    speech_for_event,
)
from .collators import DenseCaptioningCollator, ProposalCollator
from .features import HDF5Features, NpyFeatures, materialize_features
from .schema import TIME_COLUMNS, video_table_features
from .synthetic import (
    SYNTHETIC_FILLERS,
    SYNTHETIC_LOUDNESS,
    SYNTHETIC_OBJECTS,
    SYNTHETIC_SOUNDS,
    synthetic_dense_captioning_dataset,
)
from .views import annotations_of, caption_view, event_lengths, kmeans_anchors, proposal_view

__all__ = [
    "SYNTHETIC_FILLERS",
    "SYNTHETIC_LOUDNESS",
    "SYNTHETIC_OBJECTS",
    "SYNTHETIC_SOUNDS",
    "TIME_COLUMNS",
    "DenseCaptioningCollator",
    "HDF5Features",
    "NpyFeatures",
    "ProposalCollator",
    "annotations_of",
    "caption_view",
    "event_lengths",
    "kmeans_anchors",
    "load_activitynet_captions",
    "materialize_features",
    "normalize_caption",
    "proposal_view",
    "read_annotations",
    "read_available_ids",
    "read_subtitles",
    "speech_for_event",
    "synthetic_dense_captioning_dataset",
    "video_table_features",
]
