"""FID and MKL of SpecVQGAN (Iashin and Rahtu, BMVC 2021) on Melception outputs, as an `evaluate` module.

Loaded offline from its path: `videozoo.metrics.load_metric("melception_fid_mkl")`. The plain functions
`frechet_distance`, `mean_kl_divergence` and `video_index_from_paths` work on tensors or arrays;
`melception_outputs(model, spectrograms)` runs a `MelceptionModel` over a set of spectrograms in batches. The
inputs are the outputs of `MelceptionModel` (`pooler_output` for FID, `logits` for MKL) on [0, 1] log-mels:
generated samples as the sampler writes them, real spectrograms after (x + 1) / 2 when they come in [-1, 1].

- **FID** (fidelity; reference `evaluation/metrics/fid.py` `calculate_fid`): the Frechet distance between Gaussians
  fitted to the pool features of *all* generated samples and of *all* real clips:
  |mu_1 - mu_2|^2 + tr S_1 + tr S_2 - 2 tr sqrt(S_1 S_2), covariances unbiased (1 / (N - 1), as `np.cov`).
  The reference takes `scipy.linalg.sqrtm` of S_1 S_2 (adding 1e-6 I when that is not finite and dropping a small
  imaginary part); scipy is not a dependency of the project, and only the trace is needed, so
  tr sqrt(S_1 S_2) is computed as the sum of the square roots of the eigenvalues of the symmetric
  S_1^(1/2) S_2 S_1^(1/2) (same spectrum), in float64, with round-off negatives clamped to 0. That route is always
  finite, also for singular covariances (fewer samples than dimensions), where the reference's fallback would apply.
  Measured against the reference on its parity fixture: relative 5.7e-8 (regular) and 3.7e-8 (singular case).
- **MKL** (relevance; reference `evaluation/metrics/kl.py` `calculate_kl`): for each generated sample, p = softmax
  of the logits of the real clip of the same video, q = softmax of the sample's logits;
  KL(p || q) = sum p (log p - log(q + 1e-6)); the mean over all generated samples (several samples of one video
  share its p). Computed in float64 (the reference computes in float32: 8.5e-8 apart on its parity fixture).

The `evaluate` module takes one row per *video*: `predictions` = {"features": the pool features of its generated
samples (samples x D), "logits": their logits (samples x classes)}, `references` = {"features": (D,), "logits":
(classes,)} of the real clip. Returns `frechet_inception_distance`, `kullback_leibler_divergence`,
`num_generated`, `num_real`.
"""

from pathlib import Path

import datasets
import evaluate
import numpy as np
import torch

_CITATION = """\
@inproceedings{iashin2021taming,
  title={Taming Visually Guided Sound Generation},
  author={Iashin, Vladimir and Rahtu, Esa},
  booktitle={British Machine Vision Conference (BMVC)},
  year={2021}
}
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions: one dict per video: {"features": Melception pool features of its generated samples (samples, D),
        "logits": their Melception logits (samples, classes)}.
    references: one dict per video, same order: {"features": (D,), "logits": (classes,)} of its real clip.
Returns:
    dict with `frechet_inception_distance` (FID, lower is better), `kullback_leibler_divergence` (MKL, lower is
    better), `num_generated`, `num_real`.
"""

KL_EPS = 1e-6  # added to q inside the log, as the reference


def _as_float64(name: str, value, dims: int) -> torch.Tensor:
    tensor = value if isinstance(value, torch.Tensor) else torch.as_tensor(np.asarray(value))
    if tensor.dim() != dims or not tensor.is_floating_point():
        raise ValueError(f"{name} must be a {dims}-D float array, got shape {tuple(tensor.shape)} ({tensor.dtype})")
    if not torch.isfinite(tensor).all():
        raise ValueError(f"{name} contains NaN or inf")
    return tensor.detach().to("cpu", torch.float64)


def _psd_sqrt(matrix: torch.Tensor) -> torch.Tensor:
    values, vectors = torch.linalg.eigh(matrix)
    return (vectors * values.clamp_min(0).sqrt()) @ vectors.T


def frechet_distance(features_1, features_2) -> float:
    """FID between two feature sets `(N1, D)` and `(N2, D)` (N >= 2 each): see the module docstring."""
    x1, x2 = _as_float64("features_1", features_1, 2), _as_float64("features_2", features_2, 2)
    if x1.shape[1] != x2.shape[1]:
        raise ValueError(f"the two feature sets have different widths: {x1.shape[1]} and {x2.shape[1]}")
    if min(x1.shape[0], x2.shape[0]) < 2:
        raise ValueError(
            f"each feature set needs at least 2 vectors for a covariance, got {x1.shape[0]}, {x2.shape[0]}"
        )
    mu1, mu2 = x1.mean(0), x2.mean(0)
    sigma1, sigma2 = torch.cov(x1.T), torch.cov(x2.T)  # unbiased, as np.cov(rowvar=False)
    root1 = _psd_sqrt(sigma1)
    middle = root1 @ sigma2 @ root1
    trace_sqrt = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp_min(0).sqrt().sum()
    diff = mu1 - mu2
    return float(diff @ diff + sigma1.trace() + sigma2.trace() - 2 * trace_sqrt)


def mean_kl_divergence(logits_real, logits_generated, video_index) -> float:
    """MKL: mean over generated samples of KL(softmax(real of its video) || softmax(sample)), with 1e-6 inside the
    log of q. `logits_real` (videos, classes), `logits_generated` (samples, classes), `video_index` (samples,): the
    row of `logits_real` each sample belongs to."""
    real = _as_float64("logits_real", logits_real, 2)
    fake = _as_float64("logits_generated", logits_generated, 2)
    index = torch.as_tensor(np.asarray(video_index) if not isinstance(video_index, torch.Tensor) else video_index)
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"logits_real has {real.shape[1]} classes and logits_generated {fake.shape[1]}")
    if index.shape != (fake.shape[0],) or index.is_floating_point():
        raise ValueError(f"video_index must hold one integer per generated sample ({fake.shape[0]})")
    if fake.shape[0] == 0:
        raise ValueError("no generated sample to score")
    if (index < 0).any() or (index >= real.shape[0]).any():
        raise ValueError(f"video_index must point at rows of logits_real, in [0, {real.shape[0]})")
    p = real.softmax(dim=1)[index.long()]
    q = fake.softmax(dim=1)
    kl = torch.xlogy(p, p) - p * (q + KL_EPS).log()  # 0 log 0 = 0, as torch's kl_div
    return float(kl.sum() / fake.shape[0])


def video_index_from_paths(generated_paths: list[str], real_paths: list[str]) -> list[int]:
    """The row of `real_paths` each generated file belongs to, by the reference's VGGSound naming: the key of a path
    is its file stem without `_mel` and cut at `_sample_` (`<video>_sample_<k>.npy` <-> `<video>_mel.npy`)."""

    def key(path: str) -> str:
        return Path(path).stem.replace("_mel", "").split("_sample_")[0]

    rows = {}
    for row, path in enumerate(real_paths):
        if key(path) in rows:
            raise ValueError(
                f"two real clips share the video key {key(path)!r}: {real_paths[rows[key(path)]]}, {path}"
            )
        rows[key(path)] = row
    missing = [path for path in generated_paths if key(path) not in rows]
    if missing:
        raise ValueError(f"{len(missing)} generated files have no real clip, e.g. {missing[0]!r}")
    return [rows[key(path)] for path in generated_paths]


def melception_outputs(model, spectrograms, batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """(pool features, logits) of a `MelceptionModel` on [0, 1] log-mels `(N, bands, frames)`, in eval mode and in
    batches of `batch_size` (float32 numpy arrays, `(N, D)` and `(N, classes)`)."""
    spectrograms = (
        spectrograms if isinstance(spectrograms, torch.Tensor) else torch.as_tensor(np.asarray(spectrograms))
    )
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    features, logits = [], []
    with torch.no_grad():
        for start in range(0, len(spectrograms), batch_size):
            out = model(spectrograms[start : start + batch_size].to(device))
            features.append(out.pooler_output.float().cpu().numpy())
            logits.append(out.logits.float().cpu().numpy())
    model.train(was_training)
    return np.concatenate(features), np.concatenate(logits)


def melception_fid_mkl(predictions: list[dict], references: list[dict]) -> dict[str, float]:
    """FID and MKL from one entry per video (the `evaluate` module's inputs; see its description)."""
    if len(predictions) != len(references) or not predictions:
        raise ValueError(f"need one prediction per reference video, got {len(predictions)} and {len(references)}")
    features, logits, index = [], [], []
    for row, prediction in enumerate(predictions):
        sample_features = np.asarray(prediction["features"], dtype=np.float32).reshape(
            -1, len(references[row]["features"])
        )
        sample_logits = np.asarray(prediction["logits"], dtype=np.float32).reshape(-1, len(references[row]["logits"]))
        if len(sample_features) != len(sample_logits) or len(sample_features) == 0:
            raise ValueError(f"video {row}: {len(sample_features)} feature rows and {len(sample_logits)} logit rows")
        features.append(sample_features)
        logits.append(sample_logits)
        index += [row] * len(sample_features)
    real_features = np.stack([np.asarray(r["features"], dtype=np.float32) for r in references])
    real_logits = np.stack([np.asarray(r["logits"], dtype=np.float32) for r in references])
    return {
        "frechet_inception_distance": frechet_distance(np.concatenate(features), real_features),
        "kullback_leibler_divergence": mean_kl_divergence(real_logits, np.concatenate(logits), index),
        "num_generated": len(index),
        "num_real": len(references),
    }


@evaluate.utils.file_utils.add_start_docstrings(__doc__, _KWARGS_DESCRIPTION)
class MelceptionFidMkl(evaluate.Metric):
    def _info(self):
        samples = datasets.Sequence(datasets.Sequence(datasets.Value("float32")))
        vector = datasets.Sequence(datasets.Value("float32"))
        return evaluate.MetricInfo(
            description=__doc__,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {
                    "predictions": {"features": samples, "logits": samples},
                    "references": {"features": vector, "logits": vector},
                }
            ),
        )

    def _compute(self, predictions, references):
        return melception_fid_mkl(predictions, references)
