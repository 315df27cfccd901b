import numpy as np
import pytest
import torch

from videozoo.metrics import load_metric
from videozoo.metrics.video_retrieval.video_retrieval import retrieval_metrics, retrieval_metrics_from_embeddings


def reference_ranks(sims: np.ndarray, caption_to_video: np.ndarray):
    """A direct, loop-based restatement of the protocol (sort, find the ground truth, average tied positions)."""
    t2v = []
    for row, video in zip(sims, caption_to_video):
        order = np.sort(-row)
        t2v.append(np.where(order == -row[video])[0].mean())
    v2t = []
    for video in range(sims.shape[1]):
        column = np.sort(-sims[:, video])
        mine = [np.where(column == -sims[i, video])[0].mean() for i in np.where(caption_to_video == video)[0]]
        if mine:
            v2t.append(min(mine))
    return np.array(t2v), np.array(v2t)


def test_identity_is_perfect():
    metrics = retrieval_metrics(np.eye(6))
    for direction in ("t2v", "v2t"):
        assert (
            metrics[f"{direction}_R1"] == 100
            and metrics[f"{direction}_MedR"] == 1
            and metrics[f"{direction}_MeanR"] == 1
        )


def test_constant_matrix_is_chance_with_averaged_ties():
    metrics = retrieval_metrics(np.ones((7, 7)))
    assert metrics["t2v_R1"] == 0  # rank 3 for everyone: a tie at the top is not a hit
    assert metrics["t2v_MedR"] == 4 and metrics["t2v_MeanR"] == 4  # (V - 1) / 2 + 1
    assert metrics["t2v_R5"] == 100


def test_hand_computed_case():
    sims = np.array([[0.9, 0.1, 0.5], [0.8, 0.7, 0.2], [0.3, 0.3, 0.3]])
    metrics = retrieval_metrics(sims)
    # t2v ranks: caption 0 -> 0; caption 1 -> 1 (0.8 above 0.7); caption 2 -> tie of three -> 1
    assert metrics["t2v_R1"] == pytest.approx(100 / 3)
    assert metrics["t2v_MeanR"] == pytest.approx(1 + (0 + 1 + 1) / 3)
    # v2t: video 0 column [0.9, 0.8, 0.3] -> caption 0 rank 0; video 1 [0.1, 0.7, 0.3] -> 0;
    # video 2 [0.5, 0.2, 0.3] -> 1
    assert metrics["v2t_R1"] == pytest.approx(200 / 3)
    assert metrics["v2t_MedR"] == 1


def test_several_captions_per_video_and_masked_captions():
    # 3 videos x 2 captions, the second caption of video 1 is padding (left out)
    rng = np.random.default_rng(0)
    sims = rng.standard_normal((6, 3))
    gt = np.array([0, 0, 1, 1, 2, 2])
    keep = np.array([1, 1, 1, 0, 1, 1], bool)
    metrics = retrieval_metrics(sims[keep], gt[keep])
    assert metrics["num_queries_t2v"] == 5 and metrics["num_queries_v2t"] == 3
    t2v, v2t = reference_ranks(sims[keep], gt[keep])
    assert metrics["t2v_MeanR"] == pytest.approx(t2v.mean() + 1)
    assert metrics["v2t_MeanR"] == pytest.approx(v2t.mean() + 1)


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("max_block_elements", [1, 13, 1 << 24])  # one row per strip, a few rows, the whole matrix
def test_matches_a_direct_restatement_with_ties(seed, max_block_elements):
    rng = np.random.default_rng(seed)
    videos, captions = rng.integers(2, 12), rng.integers(1, 4)
    sims = np.round(rng.standard_normal((videos * captions, videos)), 1)  # rounding creates ties
    gt = np.repeat(np.arange(videos), captions)
    keep = rng.random(len(gt)) > 0.2
    keep[0] = True
    t2v, v2t = reference_ranks(sims[keep], gt[keep])
    metrics = retrieval_metrics(sims[keep], gt[keep], max_block_elements=max_block_elements)
    for direction, ranks in (("t2v", t2v), ("v2t", v2t)):
        assert metrics[f"{direction}_R1"] == pytest.approx(100 * (ranks == 0).mean())
        for k in (5, 10, 50):
            assert metrics[f"{direction}_R{k}"] == pytest.approx(100 * (ranks < k).mean())
        assert metrics[f"{direction}_MedR"] == pytest.approx(np.median(ranks) + 1)
        assert metrics[f"{direction}_MeanR"] == pytest.approx(ranks.mean() + 1)


def test_evaluate_module_matches_the_function():
    rng = np.random.default_rng(1)
    sims = rng.standard_normal((8, 4)).astype(np.float32)
    gt = np.repeat(np.arange(4), 2)
    metric = load_metric("video_retrieval")
    assert metric.compute(predictions=sims, references=gt) == retrieval_metrics(sims, gt)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="NaN"):
        retrieval_metrics(np.full((3, 3), np.nan))
    with pytest.raises(ValueError, match="caption_to_video"):
        retrieval_metrics(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="index the 3 videos"):
        retrieval_metrics(np.zeros((2, 3)), [0, 5])
    with pytest.raises(ValueError, match="no metric module"):
        load_metric("nonexistent")


def test_missing_test_items_count_as_failures():
    metrics = retrieval_metrics(np.eye(968), missing_queries=32)
    assert metrics["t2v_R1"] == pytest.approx(96.8) and metrics["t2v_MedR"] == 1  # MedR over the present clips only


@pytest.mark.parametrize("seed", range(6))
def test_ranks_from_embeddings_equal_the_matrix_path(seed):
    """Blocks scored on the fly give the metrics of the whole matrix, ties included (small integer embeddings and
    duplicated videos make many exact ties)."""
    generator = torch.Generator().manual_seed(seed)
    videos, captions = 23, 2
    video_embeds = torch.randint(-2, 3, (videos, 4), generator=generator).float()
    video_embeds[5] = video_embeds[3]  # a duplicated video
    text_embeds = torch.randint(-2, 3, (videos * captions, 4), generator=generator).float()
    gt = torch.arange(videos).repeat_interleave(captions)
    shuffled = torch.randperm(len(gt), generator=generator)  # captions in any order
    text_embeds, gt = text_embeds[shuffled], gt[shuffled]
    expected = retrieval_metrics(text_embeds @ video_embeds.T, gt)
    t2v, v2t = reference_ranks((text_embeds @ video_embeds.T).numpy(), gt.numpy())
    assert expected["t2v_MeanR"] == pytest.approx(t2v.mean() + 1) and expected["v2t_R1"] == 100 * (v2t == 0).mean()
    for budget in (1, 40, 1 << 24):
        assert retrieval_metrics_from_embeddings(text_embeds, video_embeds, gt, max_block_elements=budget) == expected


def test_ranks_from_embeddings_with_a_model_similarity():
    """A per-expert weighted similarity (MMT's form) scored block by block equals the whole matrix."""
    generator = torch.Generator().manual_seed(0)
    text, weights = torch.randn(30, 3, 8, generator=generator), torch.rand(30, 3, generator=generator)
    video = torch.randn(30, 3, 8, generator=generator)

    def similarity(c, v):
        return torch.einsum("ced,ce,ved->cv", text[c], weights[c], video[v])

    expected = retrieval_metrics(similarity(torch.arange(30), torch.arange(30)))
    got = retrieval_metrics_from_embeddings(text, video, similarity=similarity, max_block_elements=50)
    assert got == pytest.approx(expected)


@pytest.mark.parametrize("seed", range(4))
def test_ranks_stay_exact_when_the_reference_scores_are_rounded_otherwise(seed, monkeypatch):
    """The first pass's ground-truth scores may round differently from the same dot products in the blocks of the
    second (products of other shapes); rows and columns whose reference moved are ranked again on their own values,
    so the ranks are those of the block values, ties included. Simulated by nudging some first-pass scores."""
    from videozoo.metrics.video_retrieval import video_retrieval

    rng = np.random.default_rng(seed)
    videos, captions = 17, 3
    sims = np.round(rng.standard_normal((videos * captions, videos)), 1)  # rounding creates ties
    gt = np.repeat(np.arange(videos), captions)
    expected = retrieval_metrics(sims, gt)
    exact = video_retrieval._positives_by_video

    def nudged(score_block, gt, num_videos, max_block_elements):
        positives = exact(score_block, gt, num_videos, max_block_elements)
        positives[torch.as_tensor(rng.random(len(positives)) < 0.3)] += 0.05
        return positives

    monkeypatch.setattr(video_retrieval, "_positives_by_video", nudged)
    for budget in (1, 40, 1 << 24):
        assert retrieval_metrics(sims, gt, max_block_elements=budget) == expected


def test_blocks_stay_within_the_budget():
    """Working memory: no block holds more than `max_block_elements` scores, or one whole row or column where
    those are longer (a rank re-computed on its own values)."""
    generator = torch.Generator().manual_seed(0)
    text, video = torch.randn(300, 8, generator=generator), torch.randn(120, 8, generator=generator)
    gt = torch.arange(300) % 120
    sizes = []

    def similarity(c, v):
        sizes.append(len(c) * len(v))
        return text[c] @ video[v].T

    expected = retrieval_metrics(text @ video.T, gt)
    for budget in (7, 500, 5000):
        sizes.clear()
        assert retrieval_metrics_from_embeddings(
            text, video, gt, similarity=similarity, max_block_elements=budget
        ) == (expected)
        assert max(sizes) <= max(budget, len(text), len(video))


def test_ranks_from_embeddings_refuse_bad_input():
    with pytest.raises(ValueError, match="differ in width"):
        retrieval_metrics_from_embeddings(torch.randn(3, 4), torch.randn(3, 5))
    with pytest.raises(ValueError, match="text_embeds contain NaN"):
        retrieval_metrics_from_embeddings(torch.full((3, 4), float("nan")), torch.randn(3, 4))
    with pytest.raises(ValueError, match="caption_to_video"):
        retrieval_metrics_from_embeddings(torch.randn(4, 4), torch.randn(3, 4))
    with pytest.raises(ValueError, match="integer video indices"):
        retrieval_metrics_from_embeddings(torch.randn(3, 4), torch.randn(3, 4), torch.tensor([0.0, 1.0, 2.0]))


# ----------------------------------------------------------------------------- bad input (docs/bad_input.md)
def test_retrieval_inputs_are_validated():
    sims = np.eye(4)
    for bad in (np.nan, np.inf, -np.inf):
        poisoned = sims.copy()
        poisoned[1, 2] = bad
        with pytest.raises(ValueError, match="non-finite"):
            retrieval_metrics(poisoned)
    with pytest.raises(ValueError, match=r"row 2 has 3 values, row 0 has 4 \(ragged rows\)"):
        retrieval_metrics([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1], [0, 0, 0, 1]])
    with pytest.raises(ValueError, match="integer video indices"):
        retrieval_metrics(sims, [0.0, 1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="missing_queries"):
        retrieval_metrics(sims, missing_queries=-1)
    assert retrieval_metrics(sims.tolist())["t2v_R1"] == 100.0  # a rectangular list is fine


def test_offset_accuracy_inputs_are_validated():
    from videozoo.metrics.offset_accuracy.offset_accuracy import confusion_matrix, offset_accuracy

    with pytest.raises(ValueError, match="integer offset classes"):
        offset_accuracy(np.eye(3), np.array([0.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match="rows of different lengths"):
        offset_accuracy([[0.1, 0.2, 0.7], [0.5, 0.5]], [2, 0])
    with pytest.raises(ValueError, match=r"labels must be classes in \[0, 3\)"):
        confusion_matrix(np.eye(3), [0, 1, 3])
    assert offset_accuracy(np.eye(3), [0, 1, 2])["accuracy_1"] == 1.0


def test_wer_refuses_none_transcripts():
    pytest.importorskip("jiwer")
    from videozoo.metrics.avatar_wer.avatar_wer import word_error_rate

    with pytest.raises(ValueError, match=r"predictions\[1\] must be a string, got NoneType"):
        word_error_rate(["a cat", None], ["a cat", "none"])
    with pytest.raises(ValueError, match=r"references\[0\] must be a string"):
        word_error_rate(["a cat"], [3])


def test_dense_captioning_inputs_are_validated():
    from videozoo.metrics.dense_video_captioning.dense_video_captioning import captioning_scores, proposal_scores

    reference = {"v1": {"timestamps": [[0.0, 2.0], [1.0, 3.0]], "sentences": ["a dog runs", "a man cooks"]}}
    good = {"v1": [{"sentence": "a dog runs", "timestamp": [0.0, 2.0]}]}
    assert proposal_scores(good, [reference])["precision"] == 100.0
    cases = [
        (
            {"v1": [{"sentence": "a dog", "timestamp": [2.0, 1.0]}]},
            [reference],
            r"predictions\['v1'\]\[0\]: the event starts after it ends",
        ),
        (
            {"v1": [{"sentence": None, "timestamp": [0.0, 1.0]}]},
            [reference],
            r"'sentence' must be a string, got NoneType",
        ),
        ({"v1": [{"sentence": "a", "timestamp": [0.0, float("nan")]}]}, [reference], "two finite numbers"),
        (good, [], "non-empty list"),
        (good, [{}], "hold no video"),
        (good, [{"v1": {"timestamps": [], "sentences": []}}], "no reference event"),
        (
            good,
            [{"v1": {"timestamps": [[3.0, 1.0]], "sentences": ["x"]}}],
            r"references\[0\]\['v1'\] event 0: the event starts after it ends",
        ),
        (good, [{"v1": {"timestamps": [[0.0, 1.0]], "sentences": ["x", "y"]}}], "1 timestamps but 2 sentences"),
    ]
    for predictions, references, message in cases:
        with pytest.raises(ValueError, match=message):
            captioning_scores(predictions, references, meteor=None)
