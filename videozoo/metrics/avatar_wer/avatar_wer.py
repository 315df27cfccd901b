"""Corpus-level word error rate of speech recognition, as AVATAR reports it, as an `evaluate` module.

Loaded offline from its path: `videozoo.metrics.load_metric("avatar_wer")` (or `evaluate.load(<path>)`). The
computation is `word_error_rate`, usable directly on lists of strings.

Protocol (scenic `avatar/metrics_utils.py::word_error_rate`): whitespace is collapsed on both sides (the references
are expected already normalised: lower-case, punctuation except the apostrophe removed; the hypotheses detokenised),
then jiwer aligns every hypothesis with its reference (word-level Levenshtein) and the corpus WER is
(S + D + I) / (S + D + H) summed over the whole set. The deletion, insertion, substitution and correct rates are each
divided by (S + D + H), as the reference logs them.

With `stop_words`, the WER is also split by reference word class (the VisSpeech content / stop word analysis; the
reference has no code for it, so this is the definition chosen): for each class, errors = substituted + deleted
reference words of that class, over the number of reference words of that class (insertions belong to no class).
"""

import datasets
import evaluate

_CITATION = """\
@inproceedings{gabeur2022avatar,
  title={AVATAR: Unconstrained Audiovisual Speech Recognition},
  author={Gabeur, Valentin and Seo, Paul Hongsuck and Nagrani, Arsha and Sun, Chen and Alahari, Karteek and \
Schmid, Cordelia},
  booktitle={Interspeech},
  year={2022}
}
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions: hypothesis transcripts (strings).
    references: reference transcripts (strings), one per prediction.
    stop_words: optional collection of stop words; adds `content_wer` and `stop_wer`.
Returns:
    dict with `wer`, `deletion_rate`, `insertion_rate`, `substitution_rate`, `correct_rate` (fractions, not percent),
    the counts `hits`, `substitutions`, `deletions`, `insertions`, `num_reference_words`, `num_sentences`, and with
    `stop_words` also `content_wer`, `stop_wer`, `num_content_words`, `num_stop_words`.
"""


def _collapse(text: str, name: str, index: int) -> str:
    if not isinstance(text, str):  # never score a missing transcript as the word "None"
        raise ValueError(f"{name}[{index}] must be a string, got {type(text).__name__} ({text!r:.40})")
    return " ".join(text.split())


def word_error_rate(predictions, references, stop_words=None) -> dict[str, float]:
    """Corpus WER of `predictions` against `references` (see the module docstring)."""
    import jiwer

    predictions = [_collapse(p, "predictions", i) for i, p in enumerate(predictions)]
    references = [_collapse(r, "references", i) for i, r in enumerate(references)]
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions for {len(references)} references")
    if not references:
        raise ValueError("no sentence to score")
    if not any(references):
        raise ValueError("every reference is empty: the WER is undefined")
    out = jiwer.process_words(references, predictions)
    total = out.hits + out.substitutions + out.deletions
    metrics = {
        "wer": (out.substitutions + out.deletions + out.insertions) / total,
        "deletion_rate": out.deletions / total,
        "insertion_rate": out.insertions / total,
        "substitution_rate": out.substitutions / total,
        "correct_rate": out.hits / total,
        "hits": out.hits,
        "substitutions": out.substitutions,
        "deletions": out.deletions,
        "insertions": out.insertions,
        "num_reference_words": total,
        "num_sentences": len(references),
    }
    if stop_words is not None:
        stop_words = set(stop_words)
        counts = {"content": [0, 0], "stop": [0, 0]}  # errors, words
        for words, chunks in zip(out.references, out.alignments):
            wrong = set()
            for chunk in chunks:
                if chunk.type in ("substitute", "delete"):
                    wrong.update(range(chunk.ref_start_idx, chunk.ref_end_idx))
            for position, word in enumerate(words):
                kind = "stop" if word in stop_words else "content"
                counts[kind][0] += position in wrong
                counts[kind][1] += 1
        for kind, (errors, words) in counts.items():
            metrics[f"{kind}_wer"] = errors / words if words else float("nan")
            metrics[f"num_{kind}_words"] = words
    return metrics


@evaluate.utils.file_utils.add_start_docstrings(__doc__, _KWARGS_DESCRIPTION)
class AvatarWer(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=__doc__,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Value("string")}
            ),
        )

    def _compute(self, predictions, references, stop_words=None):
        return word_error_rate(predictions, references, stop_words)
