"""Text-video retrieval metrics (Recall@K, median and mean rank, both directions), as an `evaluate` module.

Loaded offline from its path: `evaluate.load("<videozoo>/metrics/video_retrieval")`, or
`videozoo.metrics.load_metric("video_retrieval")`. The computation is `retrieval_metrics`, usable directly on a
similarity matrix (the fast path for large galleries: nothing goes through Arrow).

Protocol (gabeur/mmt model/metric.py `t2v_metrics`, `v2t_metrics`, `cols2metrics`):
- rows of the similarity matrix are captions (queries), columns are videos; `caption_to_video[i]` is the video of
  caption i (several captions per video allowed; padded captions are simply left out);
- rank = 0-based position of the ground truth among candidates sorted by decreasing similarity, ties averaged:
  rank = #(strictly higher) + #(others equal) / 2, so a constant matrix gives chance-level ranks;
- text->video: every caption is a query over all videos;
- video->text: every video (with at least one caption) is a query over all captions; its rank is the minimum
  rank of its own captions;
- R@1 counts rank == 0 exactly (a tie at the top, rank 0.5, is not a hit); R@k for k > 1 counts rank < k;
  MedR = median(rank) + 1, MeanR = mean(rank) + 1; values in percent; plus the geometric mean of R@1/5/10.
"""

import datasets
import evaluate
import numpy as np
import torch

_CITATION = """\
@inproceedings{gabeur2020mmt,
  title={Multi-modal Transformer for Video Retrieval},
  author={Gabeur, Valentin and Sun, Chen and Alahari, Karteek and Schmid, Cordelia},
  booktitle={European Conference on Computer Vision (ECCV)},
  year={2020}
}
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions: one row of similarities per caption (query), one value per video.
    references: the index of each caption's ground-truth video.
Returns:
    dict with `t2v_R1`, `t2v_R5`, `t2v_R10`, `t2v_R50`, `t2v_MedR`, `t2v_MeanR`, `t2v_geometric_mean_R1-R5-R10`,
    the same with `v2t_`, and `num_queries_t2v` / `num_queries_v2t`.
"""


def _rank_of(scores: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Tie-averaged 0-based rank of `target[i]` within row `scores[i]`."""
    higher = (scores > target[:, None]).sum(dim=1)
    equal = (scores == target[:, None]).sum(dim=1) - 1
    return higher.to(torch.float64) + equal.to(torch.float64) / 2


def ranks_to_metrics(ranks: torch.Tensor, prefix: str = "", missing_queries: int = 0) -> dict[str, float]:
    """R@K over the queries plus `missing_queries` counted as failures (the reference protocols' denominators for
    test clips absent from the feature files); MedR and MeanR over the ranked queries only."""
    ranks = ranks.to(torch.float64)
    count = ranks.numel() + missing_queries
    metrics = {
        "R1": 100.0 * (ranks == 0).sum().item() / count,
        "R5": 100.0 * (ranks < 5).sum().item() / count,
        "R10": 100.0 * (ranks < 10).sum().item() / count,
        "R50": 100.0 * (ranks < 50).sum().item() / count,
        "MedR": float(np.median(ranks.cpu().numpy())) + 1,
        "MeanR": ranks.mean().item() + 1,
    }
    recalls = np.array([metrics["R1"], metrics["R5"], metrics["R10"]])
    metrics["geometric_mean_R1-R5-R10"] = float(np.exp(np.log(recalls).mean())) if (recalls > 0).all() else 0.0
    return {f"{prefix}{k}": v for k, v in metrics.items()}


def _as_matrix(values, name: str):
    """A tensor as is; nested lists must be rectangular (a ragged row is named, not an inhomogeneous-shape error)."""
    if torch.is_tensor(values) or isinstance(values, np.ndarray):
        return values
    rows = list(values)
    lengths = {len(row) for row in rows} if all(hasattr(row, "__len__") for row in rows) else None
    if lengths is not None and len(lengths) > 1:
        first = len(rows[0])
        ragged = next(i for i, row in enumerate(rows) if len(row) != first)
        raise ValueError(f"{name}: row {ragged} has {len(rows[ragged])} values, row 0 has {first} (ragged rows)")
    return np.asarray(rows, dtype=np.float64)


def retrieval_metrics(
    similarities, caption_to_video=None, chunk_size: int = 2048, missing_queries: int = 0
) -> dict[str, float]:
    """Text->video and video->text metrics of a `(num_captions, num_videos)` similarity matrix.

    Args:
        similarities: array or tensor; rows are captions, columns videos.
        caption_to_video: `(num_captions,)` ground-truth video of each caption; defaults to the diagonal
            (one caption per video, caption i describes video i).
        chunk_size: rows compared at once (bounds the memory of the video->text pass).
        missing_queries: test items absent from the data, counted as failures in every R@K denominator (e.g.
            MSR-VTT 1k-A: 1,000 clips, 968 with audio features).
    """
    if isinstance(missing_queries, bool) or not isinstance(missing_queries, (int, np.integer)) or missing_queries < 0:
        raise ValueError(f"missing_queries must be a non-negative integer, got {missing_queries!r}")
    sims = torch.as_tensor(_as_matrix(similarities, "similarities"))
    if not sims.is_floating_point():
        sims = sims.to(torch.float64)
    if sims.dim() != 2:
        raise ValueError(f"similarities must be a (num_captions, num_videos) matrix, got shape {tuple(sims.shape)}")
    num_captions, num_videos = sims.shape
    if caption_to_video is None:
        if num_captions != num_videos:
            raise ValueError("a non-square similarity matrix needs caption_to_video")
        caption_to_video = torch.arange(num_videos)
    gt = torch.as_tensor(np.asarray(caption_to_video) if not torch.is_tensor(caption_to_video) else caption_to_video)
    if gt.is_floating_point() or gt.dtype == torch.bool:
        raise ValueError(f"caption_to_video must hold integer video indices, got {gt.dtype}")
    gt = gt.to(device=sims.device, dtype=torch.long)
    if gt.shape != (num_captions,):
        raise ValueError(f"caption_to_video must have one entry per caption ({num_captions}), got {tuple(gt.shape)}")
    if num_captions == 0 or gt.min() < 0 or gt.max() >= num_videos:
        raise ValueError(f"caption_to_video must index the {num_videos} videos")
    if not torch.isfinite(sims).all():
        bad = int((~torch.isfinite(sims)).sum())
        raise ValueError(f"similarities contain {bad} non-finite value(s) (NaN or ±inf)")

    positives = sims[torch.arange(num_captions, device=sims.device), gt]  # s(caption i, its video)
    t2v = torch.cat(
        [_rank_of(sims[s : s + chunk_size], positives[s : s + chunk_size]) for s in range(0, num_captions, chunk_size)]
    )

    # video->text: caption i's rank in the column of its video, then the minimum over each video's captions.
    columns = sims.T  # (videos, captions)
    caption_ranks = torch.cat(
        [
            _rank_of(columns[gt[s : s + chunk_size]], positives[s : s + chunk_size])
            for s in range(0, num_captions, chunk_size)
        ]
    )
    v2t = torch.full((num_videos,), float("inf"), dtype=torch.float64, device=sims.device)
    v2t = v2t.scatter_reduce(0, gt, caption_ranks, reduce="amin")
    v2t = v2t[torch.isfinite(v2t)]  # videos without captions are not queries

    metrics = {**ranks_to_metrics(t2v, "t2v_", missing_queries), **ranks_to_metrics(v2t, "v2t_", missing_queries)}
    metrics["num_queries_t2v"], metrics["num_queries_v2t"] = int(t2v.numel()), int(v2t.numel())
    return metrics


@evaluate.utils.file_utils.add_start_docstrings(__doc__, _KWARGS_DESCRIPTION)
class VideoRetrieval(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=__doc__,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Sequence(datasets.Value("float32")), "references": datasets.Value("int64")}
            ),
        )

    def _compute(self, predictions, references):
        return retrieval_metrics(_as_matrix(predictions, "predictions"), np.asarray(references))
