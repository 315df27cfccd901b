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

from collections.abc import Callable

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


def _sign_sum(scores: torch.Tensor, reference: torch.Tensor, dim: int) -> torch.Tensor:
    """Sum over `dim` of sign(score - reference): #higher - #lower, in one vectorised float pass (a difference of
    finite floats is 0 exactly when they are equal; the sums are integers, exact in float32 below 2^24 terms)."""
    return (
        (scores - reference).sign_().sum(dim, dtype=torch.float64 if scores.shape[dim] >= 1 << 24 else torch.float32)
    )


def _rank_of(scores: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Tie-averaged 0-based rank of `target[i]` within row `scores[i]`, which holds it:
    #higher + (#equal - 1) / 2 = (n - 1 + #higher - #lower) / 2."""
    return (scores.shape[1] - 1 + _sign_sum(scores, target[:, None], dim=1).to(torch.float64)) / 2


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


ScoreBlock = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _chunks(total: int, size: int) -> list[tuple[int, int]]:
    return [(start, min(start + size, total)) for start in range(0, total, size)]


def chunked_retrieval_ranks(
    score_block: ScoreBlock,
    caption_to_video: torch.Tensor,
    num_videos: int,
    max_block_elements: int = 1 << 24,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Tie-averaged 0-based ranks in both directions without ever holding the whole similarity matrix.

    `score_block(caption_index, video_index)` returns the `(len(caption_index), len(video_index))` similarities of
    those captions and videos. Captions are taken in row strips of at most `max_block_elements` scores:
    - text->video: each strip holds its captions' whole rows;
    - video->text: a video's rank is the minimum over its captions of the caption's rank in the video's column,
      and that rank falls as the caption's score rises, so it is the rank of the video's best caption score:
      the number of captions scoring higher in the column (plus half the other ties). Each strip is compared with
      the best scores of the videos whose captions have all been seen; when a video's last caption arrives, the
      captions of the earlier strips are scored once more against that video alone. In all that is about half a
      matrix product more, so the whole evaluation costs about 1.5 matrix products
      (`scripts/benchmark_retrieval.py` measures it).
    Positive scores are read from the strips, so ties are exact as long as the same dot product gives the same
    value in products of other shapes, which holds for identical inputs (the tests compare this path with the
    whole-matrix restatement on tie-heavy data).

    Returns `(t2v, v2t)`: one rank per caption, one per video that has at least one caption.
    """
    device = caption_to_video.device
    num_captions = caption_to_video.numel()
    # Captions grouped by video, so that each video is finished early and re-scored against few earlier strips
    # (ranks do not depend on the order of the captions; the text->video ranks are put back in the given order).
    order = torch.argsort(caption_to_video, stable=True)
    gt = caption_to_video[order]
    given_score_block = score_block

    def score_block(captions: torch.Tensor, videos: torch.Tensor) -> torch.Tensor:
        return given_score_block(order[captions], videos)

    rows = max(1, max_block_elements // max(num_videos, 1))
    strips = _chunks(num_captions, rows)
    all_videos = torch.arange(num_videos, device=device)
    strip_of_caption = torch.arange(num_captions, device=device) // rows
    last_strip = torch.full((num_videos,), -1, dtype=torch.long, device=device)
    last_strip = last_strip.scatter_reduce(0, gt, strip_of_caption, reduce="amax")  # -1: a video without captions

    t2v = torch.empty(num_captions, dtype=torch.float64, device=device)
    best = None  # each video's best caption score so far
    signs = torch.zeros(num_videos, dtype=torch.float64, device=device)  # per column: #higher - #lower captions
    for index, (start, end) in enumerate(strips):
        strip = score_block(torch.arange(start, end, device=device), all_videos)  # (R, V)
        if best is None:
            best = torch.full((num_videos,), float("-inf"), dtype=strip.dtype, device=device)
        positives = strip[torch.arange(end - start, device=device), gt[start:end]]
        t2v[start:end] = _rank_of(strip, positives)
        best.scatter_reduce_(0, gt[start:end], positives, reduce="amax")

        complete = (last_strip <= index) & (last_strip >= 0)
        signs += torch.where(complete, _sign_sum(strip, best, dim=0), 0)
        finished = torch.nonzero(last_strip == index).flatten()  # videos whose last caption is in this strip
        if start and finished.numel():
            for earlier_start, earlier_end in _chunks(start, max(1, max_block_elements // finished.numel())):
                block = score_block(torch.arange(earlier_start, earlier_end, device=device), finished)
                signs[finished] += _sign_sum(block, best[finished], dim=0)

    has_captions = last_strip >= 0
    v2t = (num_captions - 1 + signs[has_captions]) / 2  # the best caption's tie-averaged rank in its column
    return torch.empty_like(t2v).scatter_(0, order, t2v), v2t


def _check_missing_queries(missing_queries) -> None:
    if isinstance(missing_queries, bool) or not isinstance(missing_queries, (int, np.integer)) or missing_queries < 0:
        raise ValueError(f"missing_queries must be a non-negative integer, got {missing_queries!r}")


def _validated_ground_truth(caption_to_video, num_captions: int, num_videos: int, device) -> torch.Tensor:
    if caption_to_video is None:
        if num_captions != num_videos:
            raise ValueError("caption_to_video is needed when captions and videos differ in number")
        return torch.arange(num_videos, device=device)
    gt = torch.as_tensor(caption_to_video if torch.is_tensor(caption_to_video) else np.asarray(caption_to_video))
    gt = gt.to(device)
    if gt.dtype.is_floating_point or gt.dtype == torch.bool:
        raise ValueError(f"caption_to_video must hold integer video indices, got {gt.dtype}")
    gt = gt.long()
    if gt.shape != (num_captions,):
        raise ValueError(f"caption_to_video must have one entry per caption ({num_captions}), got {tuple(gt.shape)}")
    if num_captions == 0 or gt.min() < 0 or gt.max() >= num_videos:
        raise ValueError(f"caption_to_video must index the {num_videos} videos")
    return gt


def _metrics_from_ranks(t2v: torch.Tensor, v2t: torch.Tensor, missing_queries: int) -> dict[str, float]:
    metrics = {**ranks_to_metrics(t2v, "t2v_", missing_queries), **ranks_to_metrics(v2t, "v2t_", missing_queries)}
    metrics["num_queries_t2v"], metrics["num_queries_v2t"] = int(t2v.numel()), int(v2t.numel())
    return metrics


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
    similarities, caption_to_video=None, max_block_elements: int = 1 << 24, missing_queries: int = 0
) -> dict[str, float]:
    """Text->video and video->text metrics of a `(num_captions, num_videos)` similarity matrix.

    Args:
        similarities: array or tensor; rows are captions, columns videos.
        caption_to_video: `(num_captions,)` ground-truth video of each caption; defaults to the diagonal
            (one caption per video, caption i describes video i).
        max_block_elements: scores compared at once (bounds the working memory beside the matrix).
        missing_queries: test items absent from the data, counted as failures in every R@K denominator (e.g.
            MSR-VTT 1k-A: 1,000 clips, 968 with audio features).

    For galleries too large for one matrix, `retrieval_metrics_from_embeddings` scores blocks on the fly.
    """
    _check_missing_queries(missing_queries)
    sims = torch.as_tensor(_as_matrix(similarities, "similarities"))
    if not sims.is_floating_point():
        sims = sims.to(torch.float64)
    if sims.dim() != 2:
        raise ValueError(f"similarities must be a (num_captions, num_videos) matrix, got shape {tuple(sims.shape)}")
    if not torch.isfinite(sims).all():
        bad = int((~torch.isfinite(sims)).sum())
        raise ValueError(f"similarities contain {bad} non-finite value(s) (NaN or ±inf)")
    gt = _validated_ground_truth(caption_to_video, *sims.shape, sims.device)
    t2v, v2t = chunked_retrieval_ranks(lambda c, v: sims[c][:, v], gt, sims.shape[1], max_block_elements)
    return _metrics_from_ranks(t2v, v2t, missing_queries)


def retrieval_metrics_from_embeddings(
    text_embeds: torch.Tensor,
    video_embeds: torch.Tensor,
    caption_to_video=None,
    similarity: ScoreBlock | None = None,
    max_block_elements: int = 1 << 24,
    missing_queries: int = 0,
) -> dict[str, float]:
    """The metrics of `retrieval_metrics`, scored block by block from the two embedding sets.

    Memory beyond the embeddings is bounded by `max_block_elements` scores, whatever the number of captions and
    videos. `similarity(caption_index, video_index)` scores a block; by default the dot product
    `text_embeds[c] @ video_embeds[v].T`. Models with their own similarity pass it, e.g. MMT's per-expert
    weighted similarity: `lambda c, v: model.compute_similarity(t[c], w[c], e[v], a[v])`.
    """
    _check_missing_queries(missing_queries)
    num_captions, num_videos = len(text_embeds), len(video_embeds)
    if similarity is None:
        if text_embeds.shape[-1] != video_embeds.shape[-1]:
            raise ValueError(
                f"text_embeds ({tuple(text_embeds.shape)}) and video_embeds ({tuple(video_embeds.shape)}) "
                "differ in width"
            )
        for name, embeds in (("text_embeds", text_embeds), ("video_embeds", video_embeds)):
            if not torch.isfinite(embeds).all():
                raise ValueError(f"{name} contain NaN or infinite values")

        def similarity(captions: torch.Tensor, videos: torch.Tensor) -> torch.Tensor:
            return text_embeds[captions] @ video_embeds[videos].T

    gt = _validated_ground_truth(caption_to_video, num_captions, num_videos, text_embeds.device)
    t2v, v2t = chunked_retrieval_ranks(similarity, gt, num_videos, max_block_elements)
    return _metrics_from_ranks(t2v, v2t, missing_queries)


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
