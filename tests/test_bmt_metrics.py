import json
import shutil

import pytest

from videozoo.metrics.dense_video_captioning.dense_video_captioning import (
    GARBAGE_REFERENCE,
    captioning_scores,
    coco_bleu,
    proposal_scores,
    simple_ptb_tokenize,
    tiou,
)

from .conftest import SHARED

REFS = [
    {
        "v1": {"timestamps": [[0, 10], [10, 20]], "sentences": ["a man runs.", "a dog sits"]},
        "v2": {"timestamps": [[0, 5]], "sentences": ["a cat eats"]},
    },
    {"v1": {"timestamps": [[0, 9]], "sentences": ["a man is running"]}},
]


def test_tiou_and_tokenizer():
    assert tiou([0, 10], [5, 15]) == pytest.approx(5 / 15)
    assert tiou([0, 1], [2, 3]) == 0
    assert simple_ptb_tokenize("A Dog's bark, LOUD!") == "a dog 's bark loud"


def test_bleu_identity_and_brevity():
    assert coco_bleu([("a b c d e", "a b c d e")])[3] == pytest.approx(1.0)
    assert coco_bleu([("a b c d", "a b c d e f g h")])[3] < 0.5


def test_protocol_on_a_hand_example(monkeypatch):
    # the protocol, with the Python tokenizer whatever is installed (the hand computation tokenises with it)
    from videozoo.metrics.dense_video_captioning import dense_video_captioning

    monkeypatch.setattr(dense_video_captioning, "_tokenizer", lambda: ("python", None))
    preds = {"v1": [{"sentence": "a man runs", "timestamp": [0, 10]}, {"sentence": "x y", "timestamp": [50, 60]}]}
    out = captioning_scores(preds, REFS, tious=(0.5,), meteor=None)
    # v1 pairs: (a man runs | a man runs), (a man runs | a man is running), (x y | garbage); v2 has none -> 0
    expected_v1 = coco_bleu(
        [
            ("a man runs", "a man runs"),
            ("a man runs", "a man is running"),
            ("x y", simple_ptb_tokenize(GARBAGE_REFERENCE)),
        ]
    )
    assert out["BLEU@3"] == pytest.approx(100 * expected_v1[2] / 2, rel=1e-6)


def test_proposal_scores():
    preds = {
        "v1": [{"sentence": "", "timestamp": [0, 10]}, {"sentence": "", "timestamp": [40, 50]}],
        "v2": [{"sentence": "", "timestamp": [0, 5]}],
    }
    out = proposal_scores(preds, REFS, tious=(0.5,))
    # v1: file 1 P 1/2 R 1/2; file 2 P 1/2 R 1 -> max P 1/2, R 1; v2: P 1, R 1
    assert out["precision"] == pytest.approx(75.0) and out["recall"] == pytest.approx(100.0)
    assert out["f1"] == pytest.approx(2 * 75 * 100 / 175)


def test_evaluate_module_loads_offline():
    from videozoo.metrics import load_metric

    metric = load_metric("dense_video_captioning")
    preds = {"v1": [{"sentence": "a man runs", "timestamp": [0, 10]}]}
    out = metric.compute(
        video_ids=["v1", "v2"],
        predictions=[json.dumps(preds.get(v, [])) for v in ("v1", "v2")],
        references=[json.dumps([REFS[0].get(v), REFS[1].get(v)]) for v in ("v1", "v2")],
        mode="proposals",
        tious=[0.5],
    )
    assert out["recall"] == pytest.approx(50.0)


def _reference_run(result_file, reference_file):
    data = SHARED / "data" / "activitynet_captions"
    if not data.is_dir():
        pytest.skip("../shared is absent")
    submission = json.loads((data / "reference_results" / result_file).read_text())
    return submission["results"], json.loads((data / reference_file).read_text())


def test_bleu_on_released_bmt_results_python_tokenizer():
    results, refs = _reference_run("bmt_captioning_results_val_1_e26.json", "val_1_no_missings.json")
    out = captioning_scores(results, [refs], tious=(0.5,), meteor=None)
    # the reference (PTB tokenizer, Java) gives 4.6822 / 2.0706; the Python approximation stays within 0.05
    tolerance = 0.05 if out["tokenizer"] == "python" else 0.001
    assert out["BLEU@3"] == pytest.approx(4.6822, abs=tolerance) and out["BLEU@4"] == pytest.approx(
        2.0706, abs=tolerance
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    "name,val1,val2,expected",
    [
        (
            "bmt",
            "bmt_captioning_results_val_1_e26.json",
            "bmt_captioning_results_val_2_e26.json",
            (4.624, 1.991, 10.892),
        ),
        ("mdvc", "mdvc_results_val_1_e30.json", "mdvc_results_val_2_e30.json", (4.121, 1.806, 10.090)),
    ],
)
def test_paper_numbers_with_coco_scorers(name, val1, val2, expected):
    pytest.importorskip("pycocoevalcap")
    if shutil.which("java") is None:
        pytest.skip("METEOR 1.5 and the PTB tokenizer need Java")
    suffix = "_no_missings" if name == "bmt" else ""
    scores = []
    for result_file, ref in ((val1, f"val_1{suffix}.json"), (val2, f"val_2{suffix}.json")):
        results, refs = _reference_run(result_file, ref)
        scores.append(
            captioning_scores(
                results, [refs], tious=(0.5,), max_proposals=100 if name == "bmt" else 1000, meteor="coco"
            )
        )
    mean = [sum(s[k] for s in scores) / 2 for k in ("BLEU@3", "BLEU@4", "METEOR")]
    assert mean == pytest.approx(list(expected), abs=0.02)
