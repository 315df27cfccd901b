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

import math
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
Tile = Callable[[int, int, int, int], torch.Tensor]

# The pass over the whole matrix goes in blocks of at most BLOCK_ROWS x BLOCK_COLUMNS scores (4 MiB in float32):
# the block stays in the cache between the matrix product that writes it and the two comparisons that read it,
# which then cost a fifth of the product instead of as much again (docs/retrieval_at_scale.md has the timings).
BLOCK_ROWS = 1024
BLOCK_COLUMNS = 1024


def _chunks(total: int, size: int) -> list[tuple[int, int]]:
    return [(start, min(start + size, total)) for start in range(0, total, size)]


def _signs_along(block: torch.Tensor, reference: torch.Tensor, dim: int) -> torch.Tensor:
    """Sum over `dim` of sign(score - reference): #higher - #lower (a difference of finite floats is 0 exactly when
    they are equal). The sums are integers, exact in float32 below 2^24 terms."""
    dtype = torch.float64 if block.dtype == torch.float64 or block.shape[dim] >= 1 << 24 else torch.float32
    return torch.sign(block - reference).sum(dim, dtype=dtype)


def _sign_sums(block: torch.Tensor, row_reference: torch.Tensor, column_reference: torch.Tensor):
    """`_signs_along` of a block against one reference per row and against one per column."""
    return _signs_along(block, row_reference[:, None], 1), _signs_along(block, column_reference[None, :], 0)


def _positives_by_video(
    score_block: ScoreBlock, gt: torch.Tensor, num_videos: int, max_block_elements: int
) -> torch.Tensor:
    """Each caption's ground-truth score, from small blocks of captions grouped by video (each caption against the
    videos of its group): about `2 * group / num_videos` of one matrix product."""
    order = torch.argsort(gt, stable=True)
    positives = torch.empty(gt.numel(), dtype=torch.float64, device=gt.device)
    group = max(1, min(256, math.isqrt(max_block_elements // 2)))
    # at least `group` videos per block (the group's own, then the first ones): a product with a single column or
    # a few goes through a matrix-vector kernel that rounds differently from the blocks of step 2, and every
    # such score would have to be ranked again
    padding = torch.arange(max(0, min(group, num_videos, max_block_elements // group - group)), device=gt.device)
    for start, end in _chunks(gt.numel(), group):
        captions = order[start:end]
        videos = torch.unique(torch.cat([gt[captions], padding]))  # sorted
        block = score_block(captions, videos)
        column = torch.searchsorted(videos, gt[captions])
        positives[captions] = block[torch.arange(end - start, device=gt.device), column].to(torch.float64)
    return positives


def chunked_retrieval_ranks(
    score_block: ScoreBlock,
    caption_to_video: torch.Tensor,
    num_videos: int,
    max_block_elements: int = 1 << 24,
    tile: Tile | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Tie-averaged 0-based ranks in both directions without ever holding the whole similarity matrix.

    `score_block(caption_index, video_index)` returns the `(len(caption_index), len(video_index))` similarities of
    those captions and videos; `tile(caption_start, caption_end, video_start, video_end)`, when given, the same for
    two ranges (a view of a matrix, a product of two slices: no index copies).

    The ranks are counts: the text->video rank of caption i is #(videos scoring higher in its row) + #(others
    equal) / 2 = (V - 1 + sum_j sign(s_ij - s_i,gt(i))) / 2; a video's video->text rank is the minimum over its
    captions of their ranks in its column, which is the rank of its best caption score b_j, so
    (C - 1 + sum_i sign(s_ij - b_j)) / 2. Hence three steps:
    1. every caption's ground-truth score, from small blocks of captions grouped by video
       (`_positives_by_video`, a few percent of a matrix product), and each video's best caption score;
    2. one pass over the matrix in cache-sized blocks (at most `BLOCK_ROWS` x `BLOCK_COLUMNS` and
       `max_block_elements` scores), each block compared once with the row references and once with the column
       references (`_sign_sums`); the ground-truth scores met in the blocks are kept;
    3. ties stay exact: a rank compares scores of one and the same product, so where a ground-truth score met in
       step 2 differs from step 1's (the same dot product rounded differently in a product of another shape), that
       caption's row is scored again whole and ranked on its own values, and likewise the column of a video whose
       best caption score changed. On this CPU that happens for no caption (the tests run the check on tie-heavy
       data), so the whole evaluation costs one matrix product plus the counting.

    Returns `(t2v, v2t)`: one rank per caption, one per video that has at least one caption.
    """
    gt = caption_to_video
    device = gt.device
    num_captions = gt.numel()
    if tile is None:

        def tile(row_start: int, row_end: int, column_start: int, column_end: int) -> torch.Tensor:
            return score_block(
                torch.arange(row_start, row_end, device=device), torch.arange(column_start, column_end, device=device)
            )

    # 1. ground-truth scores and each video's best caption score
    positives = _positives_by_video(score_block, gt, num_videos, max_block_elements)
    best = torch.full((num_videos,), float("-inf"), dtype=torch.float64, device=device)
    best.scatter_reduce_(0, gt, positives, reduce="amax")

    # 2. one pass over the matrix
    columns = max(1, min(num_videos, BLOCK_COLUMNS, max_block_elements))
    rows = max(1, min(BLOCK_ROWS, max_block_elements // columns))
    row_signs = torch.zeros(num_captions, dtype=torch.float64, device=device)
    column_signs = torch.zeros(num_videos, dtype=torch.float64, device=device)
    met = torch.full_like(positives, float("nan"))  # the ground-truth scores as the blocks hold them
    row_reference, column_reference = None, None
    for row_start, row_end in _chunks(num_captions, rows):
        row_gt = gt[row_start:row_end]
        for column_start, column_end in _chunks(num_videos, columns):
            block = tile(row_start, row_end, column_start, column_end)
            if row_reference is None or row_reference.dtype != block.dtype:
                row_reference, column_reference = positives.to(block.dtype), best.to(block.dtype)
            signs = _sign_sums(block, row_reference[row_start:row_end], column_reference[column_start:column_end])
            row_signs[row_start:row_end] += signs[0]
            column_signs[column_start:column_end] += signs[1]
            inside = torch.nonzero((row_gt >= column_start) & (row_gt < column_end)).flatten()
            met[row_start + inside] = block[inside, row_gt[inside] - column_start].to(torch.float64)
    t2v = (num_videos - 1 + row_signs) / 2
    has_captions = torch.zeros(num_videos, dtype=torch.bool, device=device).index_fill_(0, gt, True)
    v2t_all = (num_captions - 1 + column_signs) / 2

    # 3. rows and columns whose reference score was rounded differently: ranked again on their own values
    if row_reference is not None:
        changed_rows = torch.nonzero(met != positives).flatten()
        best_met = torch.full_like(best, float("-inf")).scatter_reduce_(0, gt, met, reduce="amax")
        changed_columns = torch.nonzero(has_captions & (best_met != best)).flatten()
        all_videos = torch.arange(num_videos, device=device)
        for start, end in _chunks(changed_rows.numel(), max(1, max_block_elements // max(num_videos, 1))):
            captions = changed_rows[start:end]
            block = score_block(captions, all_videos)
            own = block[torch.arange(end - start, device=device), gt[captions]]
            t2v[captions] = (num_videos - 1 + _signs_along(block, own[:, None], 1).to(torch.float64)) / 2
        all_captions = torch.arange(num_captions, device=device)
        for start, end in _chunks(changed_columns.numel(), max(1, max_block_elements // max(num_captions, 1))):
            videos = changed_columns[start:end]
            block = score_block(all_captions, videos)
            mine = gt[:, None] == videos[None, :]
            own_best = block.masked_fill(~mine, float("-inf")).amax(0)
            signs = _signs_along(block, own_best[None, :], 0).to(torch.float64)
            v2t_all[videos] = (num_captions - 1 + signs) / 2
    return t2v, v2t_all[has_captions]


def _all_finite(values: torch.Tensor, rows: int = 4096) -> bool:
    """`torch.isfinite(values).all()` a few rows at a time: at once, it holds temporaries 1.7x the size of the
    values (1.7 GiB beside 10^6 256-d embeddings, measured)."""
    return all(bool(torch.isfinite(chunk).all()) for chunk in values.split(rows))


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
    similarities,
    caption_to_video=None,
    max_block_elements: int = 1 << 24,
    missing_queries: int = 0,
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
    t2v, v2t = chunked_retrieval_ranks(
        lambda c, v: sims[c[:, None], v[None, :]],
        gt,
        sims.shape[1],
        max_block_elements,
        tile=lambda row_start, row_end, column_start, column_end: sims[row_start:row_end, column_start:column_end],
    )
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
            if not _all_finite(embeds):
                raise ValueError(f"{name} contain NaN or infinite values")

        def similarity(captions: torch.Tensor, videos: torch.Tensor) -> torch.Tensor:
            return text_embeds[captions] @ video_embeds[videos].T

        def tile(row_start: int, row_end: int, column_start: int, column_end: int) -> torch.Tensor:
            return text_embeds[row_start:row_end] @ video_embeds[column_start:column_end].T

    else:
        tile = None
    gt = _validated_ground_truth(caption_to_video, num_captions, num_videos, text_embeds.device)
    t2v, v2t = chunked_retrieval_ranks(similarity, gt, num_videos, max_block_elements, tile=tile)
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
