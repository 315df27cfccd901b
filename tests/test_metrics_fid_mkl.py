"""FID and MKL of SpecVQGAN (`videozoo/metrics/melception_fid_mkl`): closed forms, hand-computed values, the
reference's recorded values, and the `evaluate` module."""

import math

import numpy as np
import pytest
import torch

from videozoo.metrics import load_metric
from videozoo.metrics.melception_fid_mkl.melception_fid_mkl import (
    frechet_distance,
    mean_kl_divergence,
    melception_outputs,
    video_index_from_paths,
)

from .conftest import parity_fixture


def exact_gaussian_sample(mean, covariance, count: int, seed: int) -> np.ndarray:
    """`count` vectors whose sample mean and unbiased sample covariance are exactly `mean` and `covariance` (up to
    float64 rounding): whiten a random sample, then colour it with the Cholesky factor."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((count, len(mean)))
    z -= z.mean(0)
    z = z @ np.linalg.inv(np.linalg.cholesky(np.cov(z, rowvar=False))).T  # unbiased covariance now exactly I
    return np.asarray(mean) + z @ np.linalg.cholesky(np.asarray(covariance)).T


def test_fid_of_a_set_with_itself_is_zero():
    x = np.random.default_rng(0).standard_normal((200, 16))
    assert abs(frechet_distance(x, x)) < 1e-9


def test_fid_of_shifted_gaussians_with_equal_covariance_is_the_squared_shift():
    covariance = np.array([[2.0, 0.5, 0.0], [0.5, 1.0, 0.3], [0.0, 0.3, 0.7]])
    shift = np.array([1.0, -2.0, 0.5])
    a = exact_gaussian_sample(np.zeros(3), covariance, 50, seed=1)
    b = exact_gaussian_sample(shift, covariance, 80, seed=2)
    assert frechet_distance(a, b) == pytest.approx(float(shift @ shift), rel=1e-9)


def test_fid_matches_the_closed_form_for_non_commuting_covariances():
    """2-D: tr sqrt(S1 S2) = sqrt(tr(S1 S2) + 2 sqrt(det S1 det S2)) (S1 S2 has positive eigenvalues)."""
    s1 = np.array([[3.0, 1.2], [1.2, 1.0]])
    s2 = np.array([[0.5, -0.4], [-0.4, 2.0]])
    m1, m2 = np.array([0.3, -1.0]), np.array([2.0, 0.5])
    trace_sqrt = math.sqrt(np.trace(s1 @ s2) + 2 * math.sqrt(np.linalg.det(s1) * np.linalg.det(s2)))
    expected = float((m1 - m2) @ (m1 - m2) + np.trace(s1) + np.trace(s2) - 2 * trace_sqrt)
    a, b = exact_gaussian_sample(m1, s1, 40, seed=3), exact_gaussian_sample(m2, s2, 25, seed=4)
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-9)
    assert frechet_distance(b, a) == pytest.approx(expected, rel=1e-9)  # symmetric


def test_fid_is_finite_for_singular_covariances():
    rng = np.random.default_rng(5)
    a, b = rng.standard_normal((6, 20)), rng.standard_normal((5, 20)) + 1  # fewer vectors than dimensions
    value = frechet_distance(a, b)
    assert math.isfinite(value) and value > 0


def kl_by_hand(p, q):
    return sum(pi * (math.log(pi) - math.log(qi + 1e-6)) for pi, qi in zip(p, q) if pi > 0)


def test_mkl_matches_a_hand_computed_value():
    # the reference's own example: p = (9, 12, 4) / 25 against a uniform q gives 0.0853 (without the 1e-6)
    p, q = [9 / 25, 12 / 25, 4 / 25], [1 / 3] * 3
    value = mean_kl_divergence(np.log([p]), np.log([q]), [0])
    assert value == pytest.approx(kl_by_hand(p, q), rel=1e-9)
    assert value == pytest.approx(0.0853, abs=1e-4)


def test_mkl_of_identical_logits_is_zero_up_to_the_epsilon():
    logits = np.random.default_rng(6).standard_normal((4, 10))
    value = mean_kl_divergence(logits, logits, [0, 1, 2, 3])
    # sum p (log p - log(p + 1e-6)) ~ -1e-6 x classes
    assert -10 * 1e-6 <= value <= 0


def test_mkl_groups_several_samples_per_video():
    rng = np.random.default_rng(7)
    real, fake = rng.standard_normal((2, 5)), rng.standard_normal((6, 5))
    index = [1, 0, 1, 0, 0, 1]
    softmax = lambda x: np.exp(x) / np.exp(x).sum()  # noqa: E731
    expected = np.mean([kl_by_hand(softmax(real[i]), softmax(f)) for i, f in zip(index, fake)])
    assert mean_kl_divergence(real, fake, index) == pytest.approx(expected, rel=1e-9)
    order = rng.permutation(6)  # the order of the samples does not matter
    assert mean_kl_divergence(real, fake[order], np.array(index)[order]) == pytest.approx(expected, rel=1e-9)


def test_video_index_from_the_reference_file_names():
    fakes = ["VGGSound_test/cls_1/vid01_000060_sample_1.npy", "VGGSound_test/cls_0/vid00_000030_sample_0.npy"]
    reals = ["./data/vggsound/melspec_10s_22050hz/vid00_000030_mel.npy", "./melspec/vid01_000060_mel.npy"]
    assert video_index_from_paths(fakes, reals) == [1, 0]
    with pytest.raises(ValueError, match="no real clip"):
        video_index_from_paths(["x/vid99_sample_0.npy"], reals)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: frechet_distance(np.ones((3, 4)), np.ones((3, 5))), "different widths"),
        (lambda: frechet_distance(np.ones((1, 4)), np.ones((3, 4))), "at least 2"),
        (lambda: frechet_distance(np.full((3, 4), np.nan), np.ones((3, 4))), "features_1 contains NaN"),
        (lambda: frechet_distance(np.ones(4), np.ones((3, 4))), "2-D"),
        (lambda: mean_kl_divergence(np.ones((2, 3)), np.ones((2, 3)), [0, 2]), "video_index must point"),
        (lambda: mean_kl_divergence(np.ones((2, 3)), np.ones((2, 4)), [0, 1]), "classes"),
        (lambda: mean_kl_divergence(np.ones((2, 3)), np.ones((3, 3)), [0, 1]), "one integer per generated"),
        (lambda: mean_kl_divergence(np.ones((2, 3)), np.full((1, 3), np.inf), [0]), "NaN or inf"),
    ],
)
def test_bad_input_is_named(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_evaluate_module_takes_one_row_per_video():
    rng = np.random.default_rng(8)
    videos, samples, width, classes = 5, 3, 6, 4
    fake_features = rng.standard_normal((videos, samples, width)).astype(np.float32)
    fake_logits = rng.standard_normal((videos, samples, classes)).astype(np.float32)
    real_features = rng.standard_normal((videos, width)).astype(np.float32)
    real_logits = rng.standard_normal((videos, classes)).astype(np.float32)
    metric = load_metric("melception_fid_mkl")
    result = metric.compute(
        predictions=[{"features": f.tolist(), "logits": g.tolist()} for f, g in zip(fake_features, fake_logits)],
        references=[{"features": f.tolist(), "logits": g.tolist()} for f, g in zip(real_features, real_logits)],
    )
    assert result["num_generated"] == 15 and result["num_real"] == 5
    assert result["frechet_inception_distance"] == pytest.approx(
        frechet_distance(fake_features.reshape(-1, width), real_features), rel=1e-9
    )
    index = np.repeat(np.arange(videos), samples)
    assert result["kullback_leibler_divergence"] == pytest.approx(
        mean_kl_divergence(real_logits, fake_logits.reshape(-1, classes), index), rel=1e-9
    )


def test_reference_values_of_the_parity_fixture():
    """The values the authors' `calculate_fid` / `calculate_kl` recorded (scipy sqrtm, float32 KL); tolerances of
    the fixture README (FID relative 1e-6, MKL 1e-6); measured 5.7e-8 / 3.7e-8 relative and 8.5e-8."""
    from safetensors.torch import load_file

    fixture = parity_fixture("specvqgan_melception")
    inputs, expected = load_file(fixture / "inputs.safetensors"), load_file(fixture / "outputs.safetensors")
    for group in ("fid", "fid_singular"):
        value = frechet_distance(inputs[f"{group}.features_1"], inputs[f"{group}.features_2"])
        assert value == pytest.approx(expected[f"{group}.frechet_inception_distance"].item(), rel=1e-6)
    assert abs(frechet_distance(inputs["fid.features_1"], inputs["fid.features_1"])) <= 1e-6
    kl = mean_kl_divergence(inputs["kl.logits_real"], inputs["kl.logits_fake"], inputs["kl.fake_video_index"])
    assert kl == pytest.approx(expected["kl.kullback_leibler_divergence"].item(), abs=1e-6)
    # every fake compared with video 0 instead of its own: the value moves far beyond the tolerance
    wrong = mean_kl_divergence(inputs["kl.logits_real"], inputs["kl.logits_fake"], torch.zeros(12, dtype=torch.long))
    assert abs(wrong - kl) > 1e-3


def test_melception_outputs_in_batches_match_one_forward():
    from videozoo.modeling import MelceptionModel

    from .tiny_configs import tiny_config

    model = MelceptionModel(tiny_config("melception")).train()
    spectrograms = torch.rand(5, 24, 30)
    features, logits = melception_outputs(model, spectrograms, batch_size=2)
    assert model.training  # the mode is restored
    with torch.no_grad():
        out = model.eval()(spectrograms)
    assert features.shape == (5, 128) and logits.shape == (5, 7)
    # batches of 2 vs one batch of 5: only float32 kernel paths differ (measured 1.2e-14 and 0 here)
    np.testing.assert_allclose(features, out.pooler_output.numpy(), atol=1e-5, rtol=0)
    np.testing.assert_allclose(logits, out.logits.numpy(), atol=1e-5, rtol=0)
