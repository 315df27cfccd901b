"""Dense video captioning metrics (ActivityNet Captions protocol) as an `evaluate` module.

Loaded offline: `videozoo.metrics.load_metric("dense_video_captioning")`. The computation is also available as
plain functions (`captioning_scores`, `proposal_scores`) on `{video_id: [{"sentence", "timestamp"}, ...]}` dicts.

Protocol (Krishna et al.'s densevid_eval as ported in v-iashin/BMT `evaluation/evaluate.py`):
- tIoU = intersection / union of two segments; each video's predictions are cut to their first `max_proposals`.
- Captioning at threshold t: every prediction is paired with every ground-truth sentence (of every reference file
  holding the video) whose tIoU >= t; a prediction matching nothing is paired with a "garbage" reference. The
  reference draws an unseeded random string; here it is the fixed string `abc123!@#` (documented deviation, it
  never matches a word). Scores are computed per video (BLEU corpus-level over that video's pairs, METEOR over them),
  averaged over all reference videos (0 for a video without pairs), then averaged over the thresholds.
- Proposals at threshold t: per video and reference file, recall = share of GT segments with tIoU > t (strict) to
  some prediction, precision = share of predictions with tIoU > t to some GT; max over reference files; mean over
  videos, then over thresholds; F1 = 2PR / (P + R) of the averaged P and R.
- Tokenisation: pycocoevalcap's PTBTokenizer (Java) when installed; otherwise a Python approximation (lower case,
  clitics split, punctuation removed), labelled in the output (`tokenizer`).
- BLEU: the COCO-caption BLEU (closest reference length, 1e-15 / 1e-9 smoothing) implemented here, pure Python.
- METEOR: pycocoevalcap's Meteor 1.5 (Java) when installed ("meteor_backend": "coco"), the only numbers comparable
  with the papers; else NLTK's `meteor_score` when WordNet data is present ("nltk", NOT comparable); else an error.
"""

import json
import math
import re
import shutil
from collections import Counter

import datasets
import evaluate

GARBAGE_REFERENCE = "abc123!@#"
_PUNCTUATION = {
    "''",
    "'",
    "``",
    "`",
    "-lrb-",
    "-rrb-",
    "-lcb-",
    "-rcb-",
    ".",
    "?",
    "!",
    ",",
    ":",
    "-",
    "--",
    "...",
    ";",
}

_CITATION = """\
@inproceedings{krishna2017dense,
  title={Dense-Captioning Events in Videos},
  author={Krishna, Ranjay and Hata, Kenji and Ren, Frederic and Fei-Fei, Li and Niebles, Juan Carlos},
  booktitle={ICCV},
  year={2017}
}
"""


def tiou(a, b) -> float:
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    union = min(max(a[1], b[1]) - min(a[0], b[0]), (a[1] - a[0]) + (b[1] - b[0]))
    return inter / (union + 1e-8)


def simple_ptb_tokenize(sentence: str) -> str:
    """Python approximation of the PTB tokenizer as coco-caption uses it."""
    text = "".join(c if ord(c) < 128 else " " for c in sentence).lower()
    tokens = re.findall(r"n't|'s|'re|'ve|'ll|'d|'m|[a-z0-9]+(?:[.\-][a-z0-9]+)*|\.\.\.|--|[^\sa-z0-9]", text)
    return " ".join(t for t in tokens if t not in _PUNCTUATION)


def _tokenizer():
    try:
        from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer
    except ImportError:
        return "python", None
    if shutil.which("java") is None:
        return "python", None
    return "ptb", PTBTokenizer()


def coco_bleu(pairs: list[tuple[str, str]], n: int = 4) -> list[float]:
    """COCO-caption BLEU-1..n, corpus level over (hypothesis, reference) pairs of tokenised strings."""
    guess, correct = [0] * n, [0] * n
    test_len = ref_len = 0
    for hyp, ref in pairs:
        h, r = hyp.split(), ref.split()
        test_len += len(h)
        ref_len += len(r)  # one reference per pair: "closest" is that reference
        for k in range(1, n + 1):
            hc = Counter(tuple(h[i : i + k]) for i in range(len(h) - k + 1))
            rc = Counter(tuple(r[i : i + k]) for i in range(len(r) - k + 1))
            guess[k - 1] += max(0, len(h) - k + 1)
            correct[k - 1] += sum(min(c, rc[g]) for g, c in hc.items())
    tiny, small = 1e-15, 1e-9
    scores, bleu = [], 1.0
    for k in range(n):
        bleu *= (correct[k] + tiny) / (guess[k] + small)
        scores.append(bleu ** (1.0 / (k + 1)))
    ratio = (test_len + tiny) / (ref_len + small)
    if ratio < 1:
        scores = [s * math.exp(1 - 1 / ratio) for s in scores]
    return scores


class _Meteor:
    def __init__(self, backend: str = "auto"):
        self.backend = None
        if backend in ("auto", "coco"):
            try:
                from pycocoevalcap.meteor.meteor import Meteor

                if shutil.which("java") is None:
                    raise ImportError("java is not on PATH")
                self.scorer, self.backend = Meteor(), "coco"
            except ImportError as error:
                if backend == "coco":
                    raise RuntimeError(f"METEOR 1.5 needs pycocoevalcap==1.2 and Java: {error}") from error
        if self.backend is None and backend in ("auto", "nltk"):
            try:
                from nltk.corpus import wordnet
                from nltk.translate.meteor_score import meteor_score

                wordnet.synsets("dog")
                self.scorer, self.backend = meteor_score, "nltk"
            except (ImportError, LookupError) as error:
                raise RuntimeError(
                    "no METEOR available: install pycocoevalcap==1.2 (--no-deps) with Java, or provide NLTK WordNet "
                    f"data (NLTK_DATA); cause: {error}"
                ) from error
        if self.backend is None:
            raise ValueError(f"unknown meteor backend {backend!r}")

    def __call__(self, pairs):
        if self.backend == "coco":
            gts = {i: [r] for i, (_, r) in enumerate(pairs)}
            res = {i: [h] for i, (h, _) in enumerate(pairs)}
            return self.scorer.compute_score(gts, res)[0]
        return sum(self.scorer([r.split()], h.split()) for h, r in pairs) / len(pairs)


def _check_segment(segment, where: str) -> None:
    if not isinstance(segment, (list, tuple)) or len(segment) != 2:
        raise ValueError(f"{where}: a timestamp must be [start, end] seconds, got {segment!r}")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in segment):
        raise ValueError(f"{where}: timestamp {segment!r} must hold two finite numbers")
    if segment[0] > segment[1]:
        raise ValueError(f"{where}: the event starts after it ends ({segment[0]} > {segment[1]})")


def validate_inputs(predictions: dict, references: list[dict], need_sentences: bool = True) -> None:
    """Refuse what would be scored silently wrong: empty references, events that start after they end, missing
    or non-string sentences, timestamps and sentences of different counts."""
    if not isinstance(predictions, dict):
        raise ValueError(f"predictions must be {{video_id: [events]}}, got {type(predictions).__name__}")
    if isinstance(references, dict) or not references or not all(isinstance(r, dict) for r in references):
        raise ValueError("references must be a non-empty list of {video_id: annotation} dicts (one per file)")
    if not any(references):
        raise ValueError("the references hold no video: nothing to score against")
    for number, reference in enumerate(references):
        for video, annotation in reference.items():
            where = f"references[{number}][{video!r}]"
            spans, sentences = annotation.get("timestamps"), annotation.get("sentences")
            if not spans:
                raise ValueError(f"{where}: no reference event (empty references make recall undefined)")
            if need_sentences and (sentences is None or len(sentences) != len(spans)):
                count = "no" if sentences is None else len(sentences)
                raise ValueError(f"{where}: {len(spans)} timestamps but {count} sentences")
            for index, span in enumerate(spans):
                _check_segment(span, f"{where} event {index}")
            for index, sentence in enumerate(sentences or []):
                if not isinstance(sentence, str):
                    raise ValueError(f"{where} sentence {index} must be a string, got {type(sentence).__name__}")
    for video, events in predictions.items():
        if not isinstance(events, (list, tuple)):
            raise ValueError(f"predictions[{video!r}] must be a list of events, got {type(events).__name__}")
        for index, event in enumerate(events):
            where = f"predictions[{video!r}][{index}]"
            if not isinstance(event, dict) or "timestamp" not in event:
                raise ValueError(f"{where} must be a dict with 'timestamp' (and 'sentence'), got {event!r:.60}")
            _check_segment(event["timestamp"], where)
            if need_sentences and not isinstance(event.get("sentence"), str):
                raise ValueError(
                    f"{where}: 'sentence' must be a string, got {type(event.get('sentence')).__name__} "
                    '(never scored as the word "None")'
                )


def _truncate(predictions, max_proposals):
    return {vid: list(preds)[:max_proposals] for vid, preds in predictions.items()}


def captioning_scores(
    predictions: dict,
    references: list[dict],
    tious=(0.3, 0.5, 0.7, 0.9),
    max_proposals: int = 100,
    meteor: str | None = "auto",
) -> dict:
    """`predictions`: `{video: [{"sentence", "timestamp": [s, e]}]}`; `references`: list of annotation dicts
    `{video: {"timestamps": [[s, e], ...], "sentences": [...]}}` (one per reference file). Scores in percent."""
    validate_inputs(predictions, references)
    predictions = _truncate(predictions, max_proposals)
    videos = sorted(set().union(*[set(r) for r in references]))
    kind, ptb = _tokenizer()
    meteor_scorer = _Meteor(meteor) if meteor else None
    per_tiou = {}
    for t in tious:
        pairs_by_video = {}
        for vid in videos:
            pairs = []
            for pred in predictions.get(vid, []):
                matched = False
                for ref in references:
                    if vid not in ref:
                        continue
                    for seg, sent in zip(ref[vid]["timestamps"], ref[vid]["sentences"]):
                        if tiou(pred["timestamp"], seg) >= t:
                            pairs.append((pred["sentence"], sent))
                            matched = True
                if not matched:
                    pairs.append((pred["sentence"], GARBAGE_REFERENCE))
            pairs_by_video[vid] = pairs
        flat = [(vid, i, p) for vid, ps in pairs_by_video.items() for i, p in enumerate(ps)]
        if ptb is not None:
            hyp = ptb.tokenize({k: [{"caption": p[0]}] for k, (_, _, p) in enumerate(flat)})
            ref = ptb.tokenize({k: [{"caption": p[1]}] for k, (_, _, p) in enumerate(flat)})
            tokenised = [(hyp[k][0], ref[k][0]) for k in range(len(flat))]
        else:
            tokenised = [(simple_ptb_tokenize(p[0]), simple_ptb_tokenize(p[1])) for _, _, p in flat]
        by_video = {}
        for (vid, _, _), pair in zip(flat, tokenised):
            by_video.setdefault(vid, []).append(pair)
        sums = Counter()
        for vid in videos:
            pairs = by_video.get(vid)
            if not pairs:
                continue
            bleu = coco_bleu(pairs)
            sums["BLEU@3"] += bleu[2]
            sums["BLEU@4"] += bleu[3]
            if meteor_scorer is not None:
                sums["METEOR"] += meteor_scorer(pairs)
        per_tiou[t] = {k: 100 * v / len(videos) for k, v in sums.items()}
    keys = ["BLEU@3", "BLEU@4"] + (["METEOR"] if meteor_scorer else [])
    result = {k: sum(per_tiou[t].get(k, 0.0) for t in tious) / len(tious) for k in keys}
    result["per_tiou"] = {str(t): per_tiou[t] for t in tious}
    result["tokenizer"] = kind
    result["meteor_backend"] = meteor_scorer.backend if meteor_scorer else None
    return result


def proposal_scores(
    predictions: dict, references: list[dict], tious=(0.3, 0.5, 0.7, 0.9), max_proposals: int = 100
) -> dict:
    """Precision, recall (percent) averaged over videos and thresholds, F1 of the averaged values."""
    validate_inputs(predictions, references, need_sentences=False)
    predictions = _truncate(predictions, max_proposals)
    videos = sorted(set().union(*[set(r) for r in references]))
    precisions, recalls = [], []
    for t in tious:
        p_sum = r_sum = 0.0
        for vid in videos:
            preds = [p["timestamp"] for p in predictions.get(vid, [])]
            best_p = best_r = 0.0
            for ref in references:
                if vid not in ref or not preds:
                    continue
                gts = ref[vid]["timestamps"]
                covered = sum(any(tiou(p, g) > t for p in preds) for g in gts)
                matched = sum(any(tiou(p, g) > t for g in gts) for p in preds)
                best_p, best_r = max(best_p, matched / len(preds)), max(best_r, covered / len(gts))
            p_sum, r_sum = p_sum + best_p, r_sum + best_r
        precisions.append(p_sum / len(videos))
        recalls.append(r_sum / len(videos))
    precision, recall = sum(precisions) / len(tious), sum(recalls) / len(tious)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return {"precision": 100 * precision, "recall": 100 * recall, "f1": 100 * f1}


class DenseVideoCaptioning(evaluate.Metric):
    """One row per video: `predictions` = JSON list of `{"sentence", "timestamp"}`; `references` = JSON list (one
    entry per reference file, `null` when that file lacks the video) of `{"timestamps", "sentences"}`."""

    def _info(self):
        return evaluate.MetricInfo(
            description="BLEU@3/4 and METEOR over tIoU thresholds, and proposal precision/recall/F1 (ActivityNet).",
            citation=_CITATION,
            inputs_description=self.__doc__,
            features=datasets.Features(
                {
                    "video_ids": datasets.Value("string"),
                    "predictions": datasets.Value("string"),
                    "references": datasets.Value("string"),
                }
            ),
        )

    def _compute(
        self,
        video_ids,
        predictions,
        references,
        mode: str = "captioning",
        tious=(0.3, 0.5, 0.7, 0.9),
        max_proposals: int = 100,
        meteor: str | None = "auto",
    ):
        def parse(text, what, video):
            try:
                return json.loads(text)
            except (TypeError, json.JSONDecodeError) as error:
                raise ValueError(f"{what} of video {video!r} is not valid JSON ({error})") from error

        preds = {v: parse(p, "the predictions", v) for v, p in zip(video_ids, predictions)}
        refs_rows = [parse(r, "the references", v) for v, r in zip(video_ids, references)]
        if not refs_rows:
            raise ValueError("no video to score")
        n_files = max(len(r) for r in refs_rows)
        refs = [
            {v: r[i] for v, r in zip(video_ids, refs_rows) if i < len(r) and r[i] is not None} for i in range(n_files)
        ]
        if mode == "captioning":
            return captioning_scores(preds, refs, tious, max_proposals, meteor)
        if mode == "proposals":
            return proposal_scores(preds, refs, tious, max_proposals)
        raise ValueError(f"mode must be 'captioning' or 'proposals', got {mode!r}")
