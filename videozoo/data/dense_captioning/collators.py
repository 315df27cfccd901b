"""Batching: caption-view rows -> captioner inputs (event crops), proposal-view rows -> proposal-generator inputs
(whole videos padded to fixed lengths)."""

import datasets
import numpy as np
import torch

from ...processors.feature_extraction_bmt import crop_segment


def _video_arrays(videos, index: int, features) -> dict | None:
    if features is not None:
        return features.load(videos[int(index)]["video_id"])
    row = videos[int(index)]
    if "audio" not in row:
        raise ValueError(
            "this video table holds no features: give the collator a feature reader (NpyFeatures / HDF5Features)"
        )
    return {k: np.asarray(row[k], dtype=np.float32) for k in ("audio", "rgb", "flow")}


class DenseCaptioningCollator:
    """Caption-view rows -> captioner inputs for BMT (`model_type="bmt"`) or MDVC (`"mdvc"`).

    BMT: each modality is cropped with its own length; MDVC: audio and video are truncated to their common length
    first and cropped with the same indices (both must be on the same 0.96 s grid: MDVC's HDF5 features). Missing
    videos and empty crops become one step of zeros (BMT) or of U(0, 1) noise drawn from the row's seed (MDVC,
    `fill="random"`, as the reference). The batch also carries `row_index` (position in the caption view)."""

    def __init__(
        self, videos: datasets.Dataset, processor, model_type: str = "bmt", features=None, fill: str | None = None
    ):
        if model_type not in ("bmt", "mdvc"):
            raise ValueError(f"model_type must be 'bmt' or 'mdvc', got {model_type!r}")
        self.videos = videos.with_format("numpy")
        self.processor = processor
        self.model_type = model_type
        self.features = features
        self.fill = fill or ("random" if model_type == "mdvc" else "zero")
        if self.fill not in ("zero", "random"):
            raise ValueError(f"fill must be 'zero' or 'random', got {self.fill!r}")

    def _fillers(self, rng) -> list[np.ndarray]:
        sizes = (
            self.processor.feature_extractor.audio_feature_size,
            self.processor.feature_extractor.video_feature_size,
        )
        widths = (sizes[0], sizes[1], sizes[1])
        if self.fill == "random":
            return [rng.random((1, w), dtype=np.float32) for w in widths]
        return [np.zeros((1, w), np.float32) for w in widths]

    def __call__(self, rows) -> dict:
        audio, rgb, flow = [], [], []
        for i, row in enumerate(rows):
            rng = np.random.default_rng(int(row.get("sample_seed", row.get("row_index", i))))
            arrays = _video_arrays(self.videos, int(row["video_index"]), self.features)
            start, end, duration = float(row["start"]), float(row["end"]), float(row["duration"])
            if arrays is None:
                crops = self._fillers(rng)
            elif self.model_type == "mdvc":
                length = min(len(arrays["audio"]), len(arrays["rgb"]))
                if 3 * length < 2 * max(len(arrays["audio"]), len(arrays["rgb"])):
                    raise ValueError(
                        f"{row['video_id']}: audio ({len(arrays['audio'])} steps) and video "
                        f"({len(arrays['rgb'])} steps) are not on the same grid; MDVC needs I3D features on 0.96 s "
                        "stacks (its HDF5 layout)"
                    )
                crops = [
                    crop_segment(arrays[k][:length], start, end, duration, empty=None)
                    for k in ("audio", "rgb", "flow")
                ]
                if crops[0] is None:
                    crops = self._fillers(rng)
            else:
                crops = [crop_segment(arrays[k], start, end, duration) for k in ("audio", "rgb", "flow")]
            audio.append(crops[0])
            rgb.append(crops[1])
            flow.append(crops[2])
        sentences = [str(row["sentence"]) for row in rows]
        if self.model_type == "mdvc":
            batch = self.processor(
                text=sentences, audio=audio, rgb=rgb, flow=flow, speech=[str(r["speech"]) for r in rows]
            )
        else:
            batch = self.processor(text=sentences, audio=audio, rgb=rgb, flow=flow)
        batch = dict(batch)
        ids, mask = batch.pop("decoder_input_ids"), batch.pop("decoder_attention_mask")
        batch["decoder_input_ids"], batch["decoder_attention_mask"] = ids[:, :-1], mask[:, :-1]
        batch["labels"] = ids[:, 1:].masked_fill(mask[:, 1:] == 0, self.processor.tokenizer.pad_token_id)
        batch["row_index"] = torch.tensor([int(r.get("row_index", i)) for i, r in enumerate(rows)])
        return batch


class ProposalCollator:
    """Proposal-view rows -> `BMTForEventProposal` inputs: whole videos padded to the fixed lengths
    (`max_audio_length` / `max_video_length` of the config), `event_targets` `[batch index, centre_s, length_s,
    event index]` over the events of positive length, `durations` and `row_index`."""

    def __init__(
        self, videos: datasets.Dataset, processor, max_audio_length: int, max_video_length: int, features=None
    ):
        self.videos = videos.with_format("numpy")
        self.processor = processor
        self.lengths = (max_audio_length, max_video_length)
        self.features = features

    def __call__(self, rows) -> dict:
        audio, rgb, flow, targets = [], [], [], []
        for b, row in enumerate(rows):
            arrays = _video_arrays(self.videos, int(row["video_index"]), self.features)
            if arrays is None:
                raise ValueError(
                    f"{row['video_id']}: no features (build the view with proposal_view(videos, features))"
                )
            audio.append(arrays["audio"])
            rgb.append(arrays["rgb"])
            flow.append(arrays["flow"])
            for event, (start, end) in enumerate(zip(row["event_starts"], row["event_ends"])):
                if end > start:
                    targets.append([b, (start + end) / 2, end - start, event])
        batch = dict(
            self.processor.feature_extractor(
                audio, rgb, flow, pad_to_audio_length=self.lengths[0], pad_to_video_length=self.lengths[1]
            )
        )
        batch["event_targets"] = torch.tensor(targets, dtype=torch.float32).reshape(-1, 4)
        batch["durations"] = torch.tensor([float(r["duration"]) for r in rows], dtype=torch.float64)
        batch["row_index"] = torch.tensor([int(r.get("row_index", i)) for i, r in enumerate(rows)])
        return batch
