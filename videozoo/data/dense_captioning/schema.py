"""The Arrow schema of a dense-captioning video table (one row per video; see the package docstring)."""

import datasets

TIME_COLUMNS = ("event_starts", "event_ends", "speech_starts", "speech_ends")


def video_table_features(
    audio_feature_size: int | None = 128, video_feature_size: int | None = 1024
) -> datasets.Features:
    """Schema of a video table; without feature sizes, the table holds no feature columns (features read lazily)."""
    columns = {
        "video_id": datasets.Value("string"),
        "duration": datasets.Value("float64"),
        "event_starts": datasets.List(datasets.Value("float64")),
        "event_ends": datasets.List(datasets.Value("float64")),
        "sentences": datasets.List(datasets.Value("string")),
        "speech_starts": datasets.List(datasets.Value("float64")),
        "speech_ends": datasets.List(datasets.Value("float64")),
        "speech_texts": datasets.List(datasets.Value("string")),
    }
    if audio_feature_size is not None:
        columns["audio"] = datasets.Array2D((None, audio_feature_size), "float32")
        columns["rgb"] = datasets.Array2D((None, video_feature_size), "float32")
        columns["flow"] = datasets.Array2D((None, video_feature_size), "float32")
    return datasets.Features(columns)
