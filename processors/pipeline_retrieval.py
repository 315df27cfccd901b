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
embedding of its joint pass (unit vectors, so the inner product is the cosine). MMT's score is the sum over experts
of the caption's mixture weight times the cosine of the caption's and the video's expert embeddings
(`MMTModel.compute_similarity`); with the published configs (`renormalize_missing_modalities=False`) that is one inner
product of the weighted caption embeddings and the video embeddings, each flattened over the experts. A model that
renormalises the weights by the experts each video has divides by a caption x video term, which no inner product
gives: its collection keeps the embeddings with their availability and is searched exactly by the model's own
`compute_similarity` in blocks (`scoring`, no FAISS index). Raw media for MMT goes through `MMTMediaFeatures`, which
computes the experts the zoo has extractors for (motion S3D, audio VGGish, appearance from ResNet-50 frames, I3D
flow) and leaves the others absent, as MMT's expert masks allow.

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
    extractor (Everything at Once's CLIP variant) is refused here with the reason. An MMT config gives an
    `MMTMediaFeatures` (its `extractors` are keyed by MMT expert name)."""

    def __new__(cls, config, *args, **kwargs):
        if cls is RetrievalMediaFeatures and getattr(config, "model_type", None) == "mmt":
            return MMTMediaFeatures(config, *args, **kwargs)
        return super().__new__(cls)

    def __init__(self, config, extractors: dict[str, str], sampling_rate: int = 16000, device: str = "cpu",
                 batch_size: int = 16):  # fmt: skip
        FeatureExtraction = _media_extraction()

        model_type = getattr(config, "model_type", None)
        if model_type not in VIDEO_EXPERTS:
            raise ValueError(
                f"no zoo extractor mapping for {model_type!r} videos: raw media is wired for "
                f"{sorted([*VIDEO_EXPERTS, 'mmt'])}; give its features as dicts"
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


# MMT's experts (gabeur/mmt; the MMT paper's expert table) and the zoo extractor and stream that compute each, with
# how close it is to the paper's network. Experts missing here (face, speech, OCR, scene) have no zoo extractor and
# stay absent from the videos (all-zero masks), which MMT handles for missing experts at test time.
MMT_MEDIA_EXPERTS = {
    "s3d": ("s3d", "s3d", "S3D trained on Kinetics, the paper's motion network (the extractor checkpoint's weights)"),
    "vggish": ("vggish", "vggish", "VGGish, the paper's audio network"),
    "audio": ("vggish", "vggish", "VGGish (the reference's other 128-d audio expert id)"),
    "rgb": ("resnet_frames", "resnet", "ResNet-50 frames standing for the paper's SENet-154 appearance (both 2048-d)"),
    "flow": ("i3d", "flow", "I3D flow on RAFT optical flow (the reference's 1024-d flow expert id)"),
}


class MMTMediaFeatures:
    """`path -> {"id", "expert_features", "expert_timestamps"}`: an MMT video dict from a media file, with the
    experts of `extractors` (MMT expert name -> the extractor's checkpoint folder; for `flow`, a dict
    `{"flow_model": ..., "raft_model": ...}`) computed by the zoo's extractors (`MMT_MEDIA_EXPERTS`) and their
    start / end seconds as timestamps (MMT's time codes are the centres). The model's other experts are left out, so
    they are missing for the video (all-zero masks). Widths are checked against `expert_feature_sizes` on the
    first video. Refused at construction: an expert the model does not have, or one without a zoo extractor.
    `sampling_rate` is accepted for `RetrievalMediaFeatures`' signature and unused (VGGish resamples itself)."""

    def __init__(self, config, extractors: dict, sampling_rate: int | None = None, device: str = "cpu",
                 batch_size: int = 16):  # fmt: skip
        FeatureExtraction = _media_extraction()

        names = list(config.expert_names)
        if not extractors:
            raise ValueError(
                f"extractors: give at least one of the model's experts that the zoo can extract "
                f"({sorted(set(names) & set(MMT_MEDIA_EXPERTS)) or 'none: this model has no such expert'})"
            )
        unknown = sorted(set(extractors) - set(names))
        if unknown:
            raise ValueError(f"extractors: {unknown} are not experts of this MMT model ({names})")
        without = sorted(set(extractors) - set(MMT_MEDIA_EXPERTS))
        if without:
            raise ValueError(
                f"extractors: the MMT experts {without} have no zoo extractor (the zoo extracts "
                f"{sorted(MMT_MEDIA_EXPERTS)}); leave them out and they are treated as missing"
            )
        self.sizes = {name: int(config.expert_feature_sizes[name]) for name in extractors}
        self.extractors = {}
        for expert, folder in extractors.items():
            extractor, stream, _ = MMT_MEDIA_EXPERTS[expert]
            if extractor == "i3d":
                if not isinstance(folder, dict) or not {"flow_model", "raft_model"} <= set(folder):
                    raise ValueError(f"extractors[{expert!r}]: give {{'flow_model': ..., 'raft_model': ...}}")
                self.extractors[expert] = FeatureExtraction(
                    "i3d", folder["flow_model"], streams=["flow"], batch_size=batch_size, device=device, **folder
                )
            else:
                self.extractors[expert] = FeatureExtraction(extractor, folder, batch_size=batch_size, device=device)
        self.streams = {expert: MMT_MEDIA_EXPERTS[expert][1] for expert in extractors}
        self.missing = [name for name in names if name not in extractors]
        self.checked = False

    def __call__(self, item) -> dict:
        path = media_path(item, "video")
        features, stamps = {}, {}
        for expert, extraction in self.extractors.items():
            output = extraction.extract_media(path)
            features[expert] = output["features"][self.streams[expert]]
            stamps[expert] = np.asarray(output["intervals"], dtype=np.float64)
        if not self.checked:
            wrong = {e: (f.shape[1], self.sizes[e]) for e, f in features.items() if f.shape[1] != self.sizes[e]}
            if wrong:
                raise ValueError(
                    "the extractors give widths the MMT model does not read: "
                    + ", ".join(f"{e}: {got} (the model reads {want})" for e, (got, want) in wrong.items())
                )
            self.checked = True
        return {"id": path.stem, "expert_features": features, "expert_timestamps": stamps}


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


def _mmt_renormalizes(model) -> bool:
    return bool(getattr(model.config, "renormalize_missing_modalities", False))


def check_mmt_video(config, video: dict, name: str) -> None:
    """A `PipelineInputError` naming the video unless it is an MMT video dict: `expert_features`, a mapping from some
    of the model's experts to `(n, expert_feature_size)` arrays (at least one expert with rows), and optional
    `expert_timestamps` `(n, 2)` start / end seconds per expert."""
    experts = video.get("expert_features")
    if not isinstance(experts, dict):
        raise PipelineInputError(
            f"{name}: an MMT video is a dict with 'expert_features' (expert name -> (n, size) array), e.g. from "
            "MMTMediaFeatures"
        )
    unknown = sorted(set(experts) - set(config.expert_names))
    if unknown:
        raise PipelineInputError(
            f"{name}: unknown expert(s) {unknown}; this model's experts are {config.expert_names}"
        )
    present = 0
    for expert, values in experts.items():
        if values is None:
            continue
        shape, size = np.shape(values), config.expert_feature_sizes[expert]
        if len(shape) != 2 or shape[1] != size:
            raise PipelineInputError(f"{name}: expert {expert!r} features must be (n, {size}), got {shape}")
        stamps = (video.get("expert_timestamps") or {}).get(expert)
        if stamps is not None and np.size(stamps) and np.shape(stamps) != (shape[0], 2):
            raise PipelineInputError(
                f"{name}: expert {expert!r} timestamps must be ({shape[0]}, 2) start / end seconds, got "
                f"{np.shape(stamps)}"
            )
        present += shape[0] > 0
    if not present:
        raise PipelineInputError(
            f"{name}: no expert features: an MMT video needs at least one of {config.expert_names}"
        )


def _mmt_videos(model, processor, videos: list[dict]) -> torch.Tensor:
    """The video's expert embeddings `(videos, experts, d)` flattened; with renormalisation, the experts'
    availability `(videos, experts)` is appended (see `mmt_renormalized_scores`)."""
    for index, video in enumerate(videos):
        check_mmt_video(model.config, video, f"video {index}")
    inputs = processor(
        expert_features=[v["expert_features"] for v in videos],
        expert_timestamps=[v.get("expert_timestamps") or {} for v in videos],
    )
    device = model.device
    on_device = {key: {name: t.to(device) for name, t in inputs[key].items()} for key in inputs}
    embeds, available = model.get_video_features(
        on_device["expert_features"],
        on_device["expert_times"],
        on_device["expert_attention_mask"],
        on_device["expert_pooled"],
    )
    flat = embeds.reshape(len(videos), -1)
    return torch.cat([flat, available.to(flat.dtype)], dim=1) if _mmt_renormalizes(model) else flat


def _mmt_texts(model, processor, texts: list) -> torch.Tensor:
    """The caption's expert embeddings times its mixture weights, flattened (so that the inner product with a video
    is MMT's similarity); with renormalisation, the unweighted embeddings and the weights appended."""
    if not all(isinstance(t, str) for t in texts):
        raise PipelineInputError("MMT captions are strings (its processor tokenises them for its BERT)")
    inputs = processor(text=texts)
    embeds, weights = model.get_text_features(
        inputs["input_ids"].to(model.device), inputs["attention_mask"].to(model.device)
    )
    if _mmt_renormalizes(model):
        return torch.cat([embeds.reshape(len(texts), -1), weights], dim=1)
    return (weights[..., None] * embeds).reshape(len(texts), -1)


def mmt_renormalized_scores(num_experts: int, queries: np.ndarray, videos: np.ndarray) -> np.ndarray:
    """`(queries, videos)` MMT similarities with the weights renormalised over each video's experts, from the
    embeddings `_mmt_texts` / `_mmt_videos` give such a model (embeddings then weights / availability), by the
    model's own `compute_similarity`."""
    from ..modeling.modeling_mmt import MMTModel

    q, v, e = torch.from_numpy(queries), torch.from_numpy(videos), num_experts
    return MMTModel.compute_similarity(
        q[:, :-e].reshape(len(q), e, -1), q[:, -e:], v[:, :-e].reshape(len(v), e, -1), v[:, -e:], True
    ).numpy()


# model_type -> (embed a list of video dicts, embed a list of captions or word-vector arrays)
EMBEDDERS = {
    "avlnet": (_avlnet_videos, _avlnet_texts),
    "everything_at_once": (_eao_videos, _eao_texts),
    "mmt": (_mmt_videos, _mmt_texts),
}

# scoring name -> function(collection's scoring parameters, queries, embeddings) -> scores, for the models whose
# score is not an inner product (their collections are searched exactly in blocks, without a FAISS index)
SCORINGS = {"mmt_renormalized": lambda params, q, v: mmt_renormalized_scores(int(params["num_experts"]), q, v)}


def scoring_of(model) -> dict | None:
    """The collection scoring a model needs: None (inner product, FAISS) or `{"name": ..., parameters}`."""
    if model.config.model_type == "mmt" and _mmt_renormalizes(model):
        return {"name": "mmt_renormalized", "num_experts": len(model.config.expert_names)}
    return None


# ----------------------------------------------------------------------------- the collection
class VideoCollection:
    """Video embeddings with their ids, searchable by inner product (a `datasets` dataset with a FAISS index), or,
    for a model whose score is not an inner product (`scoring`, see `SCORINGS`), by that score exactly in blocks."""

    def __init__(self, dataset, model_type: str = "", scoring: dict | None = None):
        self.dataset = dataset
        self.model_type = model_type
        self.scoring = scoring
        if scoring is not None and scoring.get("name") not in SCORINGS:
            raise ValueError(f"unknown collection scoring {scoring.get('name')!r} (known: {sorted(SCORINGS)})")
        if scoring is None and "embedding" not in dataset.list_indexes():
            import faiss

            dataset.add_faiss_index(column="embedding", metric_type=faiss.METRIC_INNER_PRODUCT)

    @classmethod
    def from_embeddings(
        cls, ids: list[str], embeddings, model_type: str = "", scoring: dict | None = None
    ) -> "VideoCollection":
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
        return cls(Dataset(InMemoryTable(table)), model_type, scoring)

    def __len__(self) -> int:
        return len(self.dataset)

    def save(self, folder: str | Path) -> Path:
        """Write the dataset, its FAISS index and `collection.json` into a new folder (refuses a non-empty one)."""
        folder = Path(folder)
        if folder.exists() and any(folder.iterdir()):
            raise FileExistsError(f"{folder} exists and is not empty: save a collection into a new folder")
        folder.mkdir(parents=True, exist_ok=True)
        meta = {"model_type": self.model_type, "size": len(self), "index": None, "scoring": self.scoring}
        if self.scoring is None:
            meta["index"] = "embedding.faiss"
            self.dataset.save_faiss_index("embedding", str(folder / "embedding.faiss"))
            self.dataset.drop_index("embedding")  # `save_to_disk` refuses a dataset with an index attached
        try:
            self.dataset.save_to_disk(str(folder / "dataset"))
        finally:
            if self.scoring is None:
                self.dataset.load_faiss_index("embedding", str(folder / "embedding.faiss"))
        (folder / "collection.json").write_text(json.dumps(meta) + "\n")
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> "VideoCollection":
        from datasets import load_from_disk

        folder = Path(folder)
        if not (folder / "collection.json").is_file():
            raise FileNotFoundError(f"{folder} is not a saved video collection (no collection.json)")
        meta = json.loads((folder / "collection.json").read_text())
        dataset = load_from_disk(str(folder / "dataset"))
        if meta.get("index"):
            dataset.load_faiss_index("embedding", str(folder / meta["index"]))
        return cls(dataset, meta.get("model_type", ""), meta.get("scoring"))

    def search(self, queries, top_k: int = 5, chunk_size: int = 1024, block_size: int = 65536) -> list[list[dict]]:
        """For each query embedding, the `top_k` videos by inner product (or the collection's `scoring`):
        `[{"id", "score"}, ...]` best first."""
        queries = np.ascontiguousarray(np.asarray(queries, dtype=np.float32))
        if queries.ndim != 2:
            raise ValueError(f"queries must be (count, dim), got {queries.shape}")
        top_k = min(int(top_k), len(self))
        if self.scoring is not None:
            return self._search_exact(queries, top_k, chunk_size, block_size)
        index, ids = self.dataset.get_index("embedding"), self.dataset.data.column("id")  # Arrow, memory-mapped
        results = []
        for start in range(0, len(queries), chunk_size):
            scores, indices = index.search_batch(queries[start : start + chunk_size], top_k)
            names = ids.take(np.asarray(indices).reshape(-1)).to_pylist()
            for row, row_scores in enumerate(scores):
                row_names = names[row * top_k : (row + 1) * top_k]
                results.append([{"id": n, "score": float(s)} for n, s in zip(row_names, row_scores)])
        return results

    def _search_exact(self, queries: np.ndarray, top_k: int, chunk_size: int, block_size: int) -> list[list[dict]]:
        """Every query against every video by the collection's scoring, `block_size` videos at a time, keeping the
        `top_k` best per query (memory: a query chunk x a block of scores)."""
        score = SCORINGS[self.scoring["name"]]
        ids, embeddings = self.dataset.data.column("id"), self.dataset.with_format("numpy")
        results = []
        for start in range(0, len(queries), chunk_size):
            chunk = queries[start : start + chunk_size]
            best_scores = np.full((len(chunk), 0), -np.inf, dtype=np.float32)
            best_index = np.zeros((len(chunk), 0), dtype=np.int64)
            for first in range(0, len(self), block_size):
                block = np.asarray(embeddings[first : first + block_size]["embedding"], dtype=np.float32)
                scores = np.concatenate([best_scores, score(self.scoring, chunk, block).astype(np.float32)], axis=1)
                index = np.concatenate(
                    [best_index, np.broadcast_to(np.arange(first, first + len(block)), (len(chunk), len(block)))],
                    axis=1,
                )
                keep = np.argsort(-scores, axis=1, kind="stable")[:, :top_k]
                best_scores, best_index = np.take_along_axis(scores, keep, 1), np.take_along_axis(index, keep, 1)
            names = ids.take(best_index.reshape(-1)).to_pylist()
            for row, row_scores in enumerate(best_scores):
                row_names = names[row * top_k : (row + 1) * top_k]
                results.append([{"id": n, "score": float(s)} for n, s in zip(row_names, row_scores)])
        return results


# ----------------------------------------------------------------------------- the pipeline
class VideoTextRetrievalPipeline(VideozooPipeline):
    """Captions -> the best videos of a collection; a video -> its captions ranked.

    Inputs of `__call__`: a caption (`str`, or its word vectors `(words, dim)`) with `collection=`; or a video
    (a dict of features, see `index_videos`, or a path through `feature_hook`) with `captions=` (a list).
    `index_videos(videos, ids=None, batch_size=None)`: videos are dicts of features (AVLnet: `video`, a list of
    feature streams `(time, dim)`; `audio`, a waveform; `sampling_rate`; optional `id`. MMT: `expert_features`,
    expert name -> `(n, size)`, any subset of the model's experts; optional `expert_timestamps`, `(n, 2)` start /
    end seconds per expert; optional `id`).
    """

    supported_model_types = tuple(EMBEDDERS)
    card_example = (
        "# videos: dicts of features (AVLnet, Everything at Once: video streams, audio, sampling_rate, id;",
        "# MMT: expert_features, expert_timestamps, id), see videozoo's docs/pipelines.md",
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
        if self.model.config.model_type == "mmt":  # every video checked before the first is embedded
            for index, video in enumerate(features):
                check_mmt_video(self.model.config, video, f"video {index}")
        ids = ids or [str(f.get("id", i)) for i, f in enumerate(features)]
        embeddings = self._embed("videos", features, int(batch_size or self._batch_size or 32))
        return VideoCollection.from_embeddings(ids, embeddings, self.model.config.model_type, scoring_of(self.model))

    def score(self, texts: np.ndarray, videos: np.ndarray) -> np.ndarray:
        """`(captions, videos)` scores of embeddings from `_embed`: the inner product, or the model's scoring."""
        scoring = scoring_of(self.model)
        if scoring is None:
            return texts @ videos.T
        return SCORINGS[scoring["name"]](scoring, texts, videos)

    def _run(self, items, names, batch_size, progress, pre, forward, post) -> list:
        top_k = int(pre.get("top_k") or 5)
        if all(isinstance(i, dict) or isinstance(i, Path) for i in items) and pre.get("captions") is not None:
            captions = list(pre["captions"])
            if not captions:
                raise PipelineInputError("captions is empty")
            texts = self._embed("texts", captions, batch_size)
            videos = self._embed("videos", [self.video_features(i, n) for i, n in zip(items, names)], batch_size)
            scores = self.score(texts, videos).T
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
        if collection.scoring != scoring_of(self.model):
            raise PipelineInputError(
                f"the collection is scored by {collection.scoring or 'inner product'}, this model by "
                f"{scoring_of(self.model) or 'inner product'}: encode the collection with this model"
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
