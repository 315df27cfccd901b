"""`video-text-retrieval`: rank a collection of videos for captions, and captions for a video, over features.

    from transformers import pipeline

    retrieval = pipeline("video-text-retrieval", model="<repo>", trust_remote_code=True)
    collection = retrieval.index_videos(videos)          # encoded once
    collection.save("my_collection")                      # a `datasets` dataset + its FAISS index
    collection = VideoCollection.load("my_collection")    # ... searched again later
    retrieval("a man cuts an onion", collection=collection, top_k=5)  # [{"id": ..., "score": ...}, ...]
    retrieval(video, captions=["...", "..."])             # the captions ranked for one video

Inputs are the model's *features* (precomputed video feature streams, audio waveforms, word vectors).
`feature_hook` (a callable `path -> video dict`, given to `pipeline(..., feature_hook=...)` or set later) is where
the extractors plug in: a path given to `index_videos` (or a folder of media files) or as a video goes through it,
and without one the pipeline says that features are needed. `RetrievalMediaFeatures` is that hook built from the
zoo's extractors, with the stand-ins of `VIDEO_EXPERTS` for the models' own experts (docs/pipelines.md, "From raw
video").

A model type takes part through `EMBEDDERS`: two functions that embed a batch of videos and a batch of captions
so that the retrieval score is their inner product. AVLnet (the Tri variant) is there: a video is the sum of its
audio and visual embeddings and the score is `text @ (audio + video)` (`logits_text_audio_video`, the Tri
fine-tuning score of AVLnet). Everything at Once scores by cosine between the caption and the fused video + audio
embedding of its joint pass (unit vectors, so the inner product is the cosine). MMT's score mixes per-expert
similarities with caption-dependent weights renormalised per video by the experts it has, which is not one inner
product: it is named in docs/pipelines.md as not done.

The collection is a `datasets.Dataset` (`id`, `embedding`) with a FAISS inner-product index on `embedding`
(`Dataset.add_faiss_index`), saved with `save_to_disk` and `save_faiss_index`. Search goes through the index in
query chunks, so memory stays bounded by the collection itself plus `top_k` per query (no query x collection
score matrix); docs/pipelines.md gives the benchmark at 10^6 items. `datasets` and `faiss` are imported when a
collection is built or loaded, not by the loading path.
"""

import json
from pathlib import Path

import numpy as np
import torch

from .pipeline_base import PipelineInputError, VideozooPipeline, _media_extraction, media_path, to_json

# ----------------------------------------------------------------------------- raw media (feature_hook)
# What each model's video input is in its paper, and the zoo extractors that stand for it (docs/pipelines.md,
# "From raw video"): the zoo has the architectures of video_features (ResNet-50 frames, S3D, I3D), not the authors'
# ResNet-152 / ResNeXt-101 HowTo100M features nor CLIP, so the defaults are the closest zoo extractors and the
# released checkpoints' widths only match where the expert is the same network.
VIDEO_EXPERTS = {
    # AVLnet (roudimit/AVLnet): 2D ResNet-152 (1 fps) and 3D ResNeXt-101 features, each max-pooled over time
    "avlnet": ("2D and 3D CNN streams, pooled each", ("resnet_frames", "s3d")),
    # Everything at Once (ninatu/everything_at_once): ResNet-152 || ResNeXt-101 per second ("tva"), or S3D ("s3d")
    "everything_at_once": ("per-time-step 2D || 3D CNN features, or S3D", ("resnet_frames", "s3d")),
}


MEDIA_SUFFIXES = (".mp4", ".mkv", ".webm", ".avi", ".mov")


class RetrievalMediaFeatures:
    """`path -> {"id", "video", "audio", "sampling_rate"}`: a retrieval model's video dict from a media file, the
    video streams computed by the zoo's extractors (`extractors`: extractor name -> checkpoint folder, e.g.
    `{"resnet_frames": "resnet50", "s3d": "s3d"}`, in the model's order) and the audio waveform decoded, mixed to
    mono and resampled to `sampling_rate` (the model processor's rate). AVLnet gets the streams as a list (its
    processor pools each); Everything at Once gets them concatenated per time step, each later stream sampled at
    the start time of the first stream's features (the feature whose interval holds it). The width of the result
    is checked against the model's `video_feature_size` on the first video. A model whose video expert has no zoo
    extractor (Everything at Once's CLIP variant, MMT's seven experts) is refused here with the reason."""

    def __init__(self, config, extractors: dict[str, str], sampling_rate: int = 16000, device: str = "cpu",
                 batch_size: int = 16):  # fmt: skip
        FeatureExtraction = _media_extraction()

        model_type = getattr(config, "model_type", None)
        if model_type not in VIDEO_EXPERTS:
            raise ValueError(
                f"no zoo extractor mapping for {model_type!r} videos: raw media is wired for "
                f"{sorted(VIDEO_EXPERTS)} (MMT's experts, e.g. its speech, face and OCR features, have no zoo "
                "extractor yet; give its features as dicts)"
            )
        if model_type == "everything_at_once" and getattr(config, "text_feature_size", None) == 512:
            raise ValueError(
                "Everything at Once's CLIP variant reads CLIP image features, which have no zoo extractor yet: "
                "give its video features as dicts"
            )
        if model_type == "avlnet" and config.variant != "text_tri":
            raise ValueError(f"video-text retrieval needs AVLnet's text_tri variant, not {config.variant}")
        if not extractors:
            raise ValueError(f"extractors: give the zoo extractors for {VIDEO_EXPERTS[model_type][0]}")
        self.model_type, self.width = model_type, int(config.video_feature_size)
        self.sampling_rate = int(sampling_rate)
        self.extractors = {
            name: FeatureExtraction(name, folder, batch_size=batch_size, device=device)
            for name, folder in extractors.items()
        }
        if any(e.extractor in ("vggish", "raft") for e in self.extractors.values()):
            raise ValueError("extractors: the video streams come from resnet_frames, s3d or i3d (audio is a waveform)")
        self.checked = False

    def __call__(self, item) -> dict:
        import torchaudio

        from .video_io import load_audio

        path = media_path(item, "video")
        outputs = [e.extract_media(path) for e in self.extractors.values()]
        streams = [next(iter(o["features"].values())) for o in outputs]
        if self.model_type == "avlnet":
            video = streams
        else:
            starts = outputs[0]["intervals"][:, 0]
            parts = [streams[0]]
            for output, stream in zip(outputs[1:], streams[1:]):
                # the feature of this stream whose interval starts last at or before each step of the first
                index = np.clip(np.searchsorted(output["intervals"][:, 0], starts, side="right") - 1, 0, None)
                parts.append(stream[np.minimum(index, len(stream) - 1)])
            video = np.concatenate(parts, axis=1)
        widths = [s.shape[1] for s in streams]
        if not self.checked and sum(widths) != self.width:
            raise ValueError(
                f"the extractors {list(self.extractors)} give video features of widths {widths} (sum {sum(widths)}), "
                f"the {self.model_type} model reads {self.width}"
            )
        self.checked = True
        waveform, rate = load_audio(path)
        waveform = waveform.mean(0)
        if rate != self.sampling_rate:
            waveform = torchaudio.functional.resample(waveform, rate, self.sampling_rate)
        return {"id": path.stem, "video": video, "audio": waveform.numpy(), "sampling_rate": self.sampling_rate}


# ----------------------------------------------------------------------------- model adapters
def _avlnet_videos(model, processor, videos: list[dict]) -> torch.Tensor:
    if model.config.variant != "text_tri":
        raise ValueError(f"video-text retrieval needs the AVLnet Tri variant (text_tri), not {model.config.variant}")
    missing = [i for i, v in enumerate(videos) if v.get("video") is None or v.get("audio") is None]
    if missing:
        raise PipelineInputError(f"AVLnet videos need 'video' feature streams and 'audio'; missing for {missing}")
    inputs = processor(
        audio=[v["audio"] for v in videos],
        sampling_rate=videos[0].get("sampling_rate"),
        video=[v["video"] for v in videos],
    )
    device = model.device
    audio = model.get_audio_features(inputs["input_features"].to(device), inputs["audio_lengths"].to(device))
    return audio + model.get_video_features(inputs["video_features"].to(device))


def _avlnet_texts(model, processor, texts: list) -> torch.Tensor:
    if all(isinstance(t, str) for t in texts):
        features = processor(text=texts)["text_features"]
    else:
        features = torch.stack([torch.as_tensor(np.asarray(t), dtype=torch.float32) for t in texts])
    return model.get_text_features(features.to(model.device))


def _unit(x: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.normalize(x.float(), dim=-1, eps=1e-8)


def _eao_videos(model, processor, videos: list[dict]) -> torch.Tensor:
    """The fused video + audio embedding of the joint pass (`video_audio_embeds`), or the video embedding when the
    videos have no audio; unit length (Everything at Once scores by cosine)."""
    if any(v.get("video") is None for v in videos):
        raise PipelineInputError("Everything at Once videos need 'video' features (steps, dim)")
    with_audio = all(v.get("audio") is not None for v in videos)
    inputs = processor(
        video=[v["video"] for v in videos],
        audio=[v["audio"] for v in videos] if with_audio else None,
        sampling_rate=videos[0].get("sampling_rate"),
    )
    inputs = {k: v.to(model.device) for k, v in inputs.items()}
    out = model(**inputs)
    if not with_audio:
        return _unit(out.video_embeds)
    fused = getattr(out, "video_audio_embeds", None)
    return _unit(fused if fused is not None else out.video_plus_audio_embeds)


def _eao_texts(model, processor, texts: list) -> torch.Tensor:
    if all(isinstance(t, str) for t in texts):
        inputs = processor(text=texts)
    else:
        arrays = [torch.as_tensor(np.asarray(t), dtype=torch.float32) for t in texts]
        width = max(len(a) for a in arrays)
        features = torch.zeros(len(arrays), width, arrays[0].shape[1])
        mask = torch.zeros(len(arrays), width, dtype=torch.long)
        for row, array in enumerate(arrays):
            features[row, : len(array)], mask[row, : len(array)] = array, 1
        inputs = {"text_features": features, "text_attention_mask": mask}
    out = model(
        text_features=inputs["text_features"].to(model.device),
        text_attention_mask=inputs["text_attention_mask"].to(model.device),
    )
    return _unit(out.text_embeds)


# model_type -> (embed a list of video dicts, embed a list of captions or word-vector arrays)
EMBEDDERS = {"avlnet": (_avlnet_videos, _avlnet_texts), "everything_at_once": (_eao_videos, _eao_texts)}


# ----------------------------------------------------------------------------- the collection
class VideoCollection:
    """Video embeddings with their ids, searchable by inner product (a `datasets` dataset with a FAISS index)."""

    def __init__(self, dataset, model_type: str = ""):
        self.dataset = dataset
        self.model_type = model_type
        if "embedding" not in dataset.list_indexes():
            import faiss

            dataset.add_faiss_index(column="embedding", metric_type=faiss.METRIC_INNER_PRODUCT)

    @classmethod
    def from_embeddings(cls, ids: list[str], embeddings, model_type: str = "") -> "VideoCollection":
        import pyarrow as pa
        from datasets import Dataset
        from datasets.table import InMemoryTable

        embeddings = np.ascontiguousarray(np.asarray(embeddings, dtype=np.float32))
        if embeddings.ndim != 2 or len(embeddings) != len(ids):
            raise ValueError(f"embeddings must be ({len(ids)}, dim), got {embeddings.shape}")
        if len(set(ids)) != len(ids):
            raise ValueError("video ids must be unique")
        # one Arrow fixed-size list column built from the numpy buffer (`Dataset.from_dict` would go through
        # Python floats: 14 s and 4 GB more at 10^6 x 64)
        column = pa.FixedSizeListArray.from_arrays(pa.array(embeddings.reshape(-1)), embeddings.shape[1])
        table = pa.table({"id": pa.array([str(i) for i in ids], pa.string()), "embedding": column})
        return cls(Dataset(InMemoryTable(table)), model_type)

    def __len__(self) -> int:
        return len(self.dataset)

    def save(self, folder: str | Path) -> Path:
        """Write the dataset, its FAISS index and `collection.json` into a new folder (refuses a non-empty one)."""
        folder = Path(folder)
        if folder.exists() and any(folder.iterdir()):
            raise FileExistsError(f"{folder} exists and is not empty: save a collection into a new folder")
        folder.mkdir(parents=True, exist_ok=True)
        self.dataset.save_faiss_index("embedding", str(folder / "embedding.faiss"))
        self.dataset.drop_index("embedding")  # `save_to_disk` refuses a dataset with an index attached
        try:
            self.dataset.save_to_disk(str(folder / "dataset"))
        finally:
            self.dataset.load_faiss_index("embedding", str(folder / "embedding.faiss"))
        (folder / "collection.json").write_text(
            json.dumps({"model_type": self.model_type, "size": len(self), "index": "embedding.faiss"}) + "\n"
        )
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> "VideoCollection":
        from datasets import load_from_disk

        folder = Path(folder)
        if not (folder / "collection.json").is_file():
            raise FileNotFoundError(f"{folder} is not a saved video collection (no collection.json)")
        meta = json.loads((folder / "collection.json").read_text())
        dataset = load_from_disk(str(folder / "dataset"))
        dataset.load_faiss_index("embedding", str(folder / meta["index"]))
        return cls(dataset, meta.get("model_type", ""))

    def search(self, queries, top_k: int = 5, chunk_size: int = 1024) -> list[list[dict]]:
        """For each query embedding, the `top_k` videos by inner product: `[{"id", "score"}, ...]` best first."""
        queries = np.ascontiguousarray(np.asarray(queries, dtype=np.float32))
        if queries.ndim != 2:
            raise ValueError(f"queries must be (count, dim), got {queries.shape}")
        top_k = min(int(top_k), len(self))
        index, ids = self.dataset.get_index("embedding"), self.dataset.data.column("id")  # Arrow, memory-mapped
        results = []
        for start in range(0, len(queries), chunk_size):
            scores, indices = index.search_batch(queries[start : start + chunk_size], top_k)
            names = ids.take(np.asarray(indices).reshape(-1)).to_pylist()
            for row, row_scores in enumerate(scores):
                row_names = names[row * top_k : (row + 1) * top_k]
                results.append([{"id": n, "score": float(s)} for n, s in zip(row_names, row_scores)])
        return results


# ----------------------------------------------------------------------------- the pipeline
class VideoTextRetrievalPipeline(VideozooPipeline):
    """Captions -> the best videos of a collection; a video -> its captions ranked.

    Inputs of `__call__`: a caption (`str`, or its word vectors `(words, dim)`) with `collection=`; or a video
    (a dict of features, see `index_videos`, or a path through `feature_hook`) with `captions=` (a list).
    `index_videos(videos, ids=None, batch_size=None)`: videos are dicts of features (AVLnet: `video`, a list of
    feature streams `(time, dim)`; `audio`, a waveform; `sampling_rate`; optional `id`).
    """

    supported_model_types = tuple(EMBEDDERS)
    card_example = (
        "# videos: dicts of features (video streams, audio, sampling_rate, id), see videozoo's docs/pipelines.md",
        "collection = pipe.index_videos(videos)",
        'answer = pipe("a person slices an onion", collection=collection, top_k=5)',
    )
    preprocess_params = ("collection", "captions", "top_k")

    def __init__(self, *args, feature_hook=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.feature_hook = feature_hook

    def video_features(self, item, name: str) -> dict:
        if isinstance(item, dict):
            return item
        if isinstance(item, (str, Path)):
            if self.feature_hook is None:
                raise PipelineInputError(
                    f"{name}: raw media needs a feature extractor; give the video's features as a dict, or pass "
                    "feature_hook=<path -> features dict> to the pipeline"
                )
            return self.feature_hook(item)
        raise PipelineInputError(f"{name}: a video is a features dict or a path, not {type(item).__name__}")

    def _embed(self, kind: str, items: list, batch_size: int) -> np.ndarray:
        embed = EMBEDDERS[self.model.config.model_type][0 if kind == "videos" else 1]
        chunks = []
        with self.device_placement(), torch.inference_mode():
            for start in range(0, len(items), batch_size):
                chunks.append(embed(self.model, self.processor, items[start : start + batch_size]).float().cpu())
        return torch.cat(chunks).numpy()

    def index_videos(self, videos: list, ids: list[str] | None = None, batch_size: int | None = None):
        """Encode videos once into a `VideoCollection`. `videos`: feature dicts or media paths (through
        `feature_hook`), or a folder whose media files (`MEDIA_SUFFIXES`, sorted by name) are indexed."""
        if isinstance(videos, (str, Path)):
            folder = Path(videos)
            if not folder.is_dir():
                raise PipelineInputError(f"videos: {folder} is not a folder (give a list of videos or a folder)")
            videos = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in MEDIA_SUFFIXES)
            if not videos:
                raise PipelineInputError(f"videos: no media file ({', '.join(MEDIA_SUFFIXES)}) in {folder}")
        if not videos:
            raise PipelineInputError("no video to index")
        features = [self.video_features(v, f"video {i}") for i, v in enumerate(videos)]
        ids = ids or [str(f.get("id", i)) for i, f in enumerate(features)]
        embeddings = self._embed("videos", features, int(batch_size or self._batch_size or 32))
        return VideoCollection.from_embeddings(ids, embeddings, self.model.config.model_type)

    def _run(self, items, names, batch_size, progress, pre, forward, post) -> list:
        top_k = int(pre.get("top_k") or 5)
        if all(isinstance(i, dict) or isinstance(i, Path) for i in items) and pre.get("captions") is not None:
            captions = list(pre["captions"])
            if not captions:
                raise PipelineInputError("captions is empty")
            texts = self._embed("texts", captions, batch_size)
            videos = self._embed("videos", [self.video_features(i, n) for i, n in zip(items, names)], batch_size)
            scores = videos @ texts.T
            answers = []
            for row in scores:
                order = np.argsort(-row, kind="stable")[:top_k]
                answers.append(
                    [{"caption": to_json(captions[j]), "index": int(j), "score": float(row[j])} for j in order]
                )
            return answers
        collection = pre.get("collection")
        if collection is None:
            raise PipelineInputError("captions are ranked against a collection: pass collection=<VideoCollection>")
        if isinstance(collection, (str, Path)):
            collection = VideoCollection.load(collection)
        if collection.model_type and collection.model_type != self.model.config.model_type:
            raise PipelineInputError(
                f"the collection was encoded by a {collection.model_type} model, this one is "
                f"{self.model.config.model_type}"
            )
        return collection.search(self._embed("texts", items, batch_size), top_k)

    def check_input(self, item, name: str):
        if isinstance(item, str):
            return item
        if isinstance(item, dict):
            return item
        if isinstance(item, Path):
            return item
        array = np.asarray(item)
        if array.ndim != 2:
            raise PipelineInputError(f"{name}: a caption is a string or its word vectors (words, dim)")
        return array


__all__ = ["EMBEDDERS", "RetrievalMediaFeatures", "VIDEO_EXPERTS", "VideoCollection", "VideoTextRetrievalPipeline"]
