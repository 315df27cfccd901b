"""AVATAR's training augmentations and evaluation corruptions (paper §5.2.2 word masking, SpecAugment as the
reference code runs it, paper §5.4.2 simulated noise), as plain functions on waveforms and log-mel features, applied
before / after `AvatarFeatureExtractor` by the data pipeline
(`videozoo.data.avatar`) or by a user.

Training (random, from a caller-supplied `numpy.random.Generator`):
- `mask_words`: word masking from word alignments (reference `add_visual_word_masking_noise`,
  `mask_word_with_white_noise`): candidates are every word (`"random"`) or the non-stop words (`"content"`, the
  reference's released fine-tuning setting), each kept with probability `rate`, at most `max_masked_words`; the
  waveform samples inside the kept words' `[start_ms, end_ms]` spans (inclusive) are set to 0, or to white noise of
  power `P_signal / snr` when `snr` is given.
- `spec_augment` with policy `"reference"` = `frequency_mask`: SpecAugment as the reference code effectively runs it
  (lingvo's `SpectrumAugmenter` with the time masks and warping disabled by their zero ratios): 2 frequency bands per
  clip, each `floor(U[0,1) * 27)` bins wide at a uniform position, multiplied by 0 in the log domain. Policy `"park"`
  is what the paper names (Park et al.'s LD policy): `time_warp` (W = 80), then 2 frequency masks (F = 27) and 2 time
  masks (T = 100) inside the computed frames.
- Video (the reference's `augmentation_params`, the same draws for every frame of a clip): `scale_jitter_size`
  (independent height / width factors U(0.9, 1.33), after the short-side resize, before the random crop) and
  `colour_augment` (probability 0.8: brightness +-32/255, HSV saturation x U(0.6, 1.4), per-frame contrast
  x U(0.6, 1.4), hue +-0.2, clipped to [0, 1], in that order, on the [-1, 1] frames mapped to [0, 1]; then grey-scale
  with probability 0.1), with the semantics of TensorFlow's `tf.image` random colour ops.

Evaluation (deterministic per clip: the random draws are seeded by the integer parts of the sums of the positive and
of the negative samples, the reference's seeds; the generator is NumPy's, not TensorFlow's stateless Philox, so the
draws are not the reference's own):
- `burst_loss`: 2 bursts, each a uniform length in [1, round(max_rate * N)] samples at a uniform start in
  [0, N - length), zeroed (bursts may overlap);
- `add_environment_noise`: one clip of a noise bank `[n_clips, n_samples]` (random crop if longer than the speech,
  zero-padded at a random offset if shorter), scaled so that mean-square power ratio P_speech / P_noise = `snr`
  (the noise power is measured before the zero padding);
- `add_white_noise`: Gaussian noise of power `P_signal / snr`.
SNRs are linear power ratios; `snr_from_db` converts (the reference evaluates 1, 1/2, 1/3 = 0, -3.0, -4.8 dB).
"""

import re

import numpy as np
import torch

# A shipped English stop-word list (function words: articles, pronouns, auxiliaries, prepositions, conjunctions,
# common adverbs and contraction parts). The reference's own word-class source (its "visualness" scores) is not
# released; this list decides the "content word" candidates of `mask_words(mode="content")` and the content / stop
# split of the WER metric.
ENGLISH_STOP_WORDS = frozenset(
    """
    a about above after again against ain all am an and any are aren as at be because been before being below
    between both but by can cannot could couldn d did didn do does doesn doing don down during each few for from
    further had hadn has hasn have haven having he her here hers herself him himself his how i if in into is isn it
    its itself just ll m ma me might mightn more most must mustn my myself needn no nor not now o of off on once
    only or other our ours ourselves out over own re s same shan she should shouldn so some such t than that the
    their theirs them themselves then there these they this those through to too under until up us ve very was
    wasn we were weren what when where which while who whom why will with won would wouldn y you your yours
    yourself yourselves also okay ok oh uh um yeah yes gonna wanna gotta let lets here's there's that's it's i'm
    you're we're they're i've you've we've they've i'll you'll we'll they'll i'd you'd we'd they'd don't doesn't
    didn't can't won't isn't aren't wasn't weren't couldn't shouldn't wouldn't haven't hasn't hadn't
    """.split()
)

REFERENCE_CONTENT_MASK_RATE = 0.363  # the released config: 0.363 x 27.55% content words ~ 10% of all words
WORD_MASKING_MODES = ("none", "random", "content")


def snr_from_db(decibels: float) -> float:
    """Linear power ratio of an SNR in dB."""
    return float(10.0 ** (decibels / 10.0))


def db_from_snr(snr: float) -> float:
    return float(10.0 * np.log10(snr))


def _as_wave(waveform) -> torch.Tensor:
    wave = torch.as_tensor(
        np.asarray(waveform.cpu() if isinstance(waveform, torch.Tensor) else waveform), dtype=torch.float32
    )
    if wave.dim() != 1:
        raise ValueError(f"expected a mono waveform (samples,), got shape {tuple(wave.shape)}")
    if not torch.isfinite(wave).all():
        raise ValueError("the waveform contains NaN or inf")
    return wave


def clip_seed(waveform) -> list[int]:
    """The reference's per-clip seeds: int32 casts of the sum of the positive and of the negative samples."""
    wave = _as_wave(waveform).double()
    positive, negative = wave.clamp(min=0).sum().item(), (-wave).clamp(min=0).sum().item()
    return [int(positive) % 2**31, int(negative) % 2**31]


def normalize_word(word: str) -> str:
    return re.sub(r"[^\w']", "", word.lower())


def content_word_candidates(words, stop_words=ENGLISH_STOP_WORDS) -> np.ndarray:
    """Boolean per word: True for content (non-stop) words."""
    return np.array([normalize_word(w) not in stop_words and normalize_word(w) != "" for w in words], dtype=bool)


def select_masked_words(
    candidates: np.ndarray, rate: float, max_masked_words: int, rng: np.random.Generator
) -> np.ndarray:
    """Keep each candidate with probability `rate`; if more than `max_masked_words` remain, a random subset of them."""
    candidates = np.asarray(candidates, dtype=bool)
    chosen = candidates & (rng.random(candidates.shape) < rate)
    if max_masked_words >= 0 and chosen.sum() > max_masked_words:
        keep = rng.permutation(np.flatnonzero(chosen))[:max_masked_words]
        chosen = np.zeros_like(chosen)
        chosen[keep] = True
    return chosen


def mask_word_spans(
    waveform,
    starts_ms,
    ends_ms,
    word_mask,
    sampling_rate: int = 16000,
    snr: float | None = None,
    rng: np.random.Generator | None = None,
) -> torch.Tensor:
    """Samples `n` with `start_ms <= 1000 n / sampling_rate <= end_ms` of the masked words -> 0 (or white noise of
    power `P_signal / snr`)."""
    wave = _as_wave(waveform)
    starts, ends = np.asarray(starts_ms, np.float64), np.asarray(ends_ms, np.float64)
    word_mask = np.asarray(word_mask, dtype=bool)
    if not (starts.shape == ends.shape == word_mask.shape):
        raise ValueError(
            f"word starts {starts.shape}, ends {ends.shape} and mask {word_mask.shape} must have one entry per word"
        )
    if (ends < starts).any():
        raise ValueError("a word ends before it starts in the alignment")
    times = torch.arange(wave.numel(), dtype=torch.float64) * (1000.0 / sampling_rate)
    inside = torch.zeros(wave.numel(), dtype=torch.bool)
    for start, end in zip(starts[word_mask], ends[word_mask]):
        inside |= (times >= start) & (times <= end)
    fill = torch.zeros_like(wave)
    if snr is not None and snr > 0:
        rng = rng if rng is not None else np.random.default_rng(clip_seed(wave))
        power = wave.double().square().mean().item()
        fill = torch.from_numpy(rng.normal(0.0, np.sqrt(power / snr), wave.numel()).astype(np.float32))
    return torch.where(inside, fill, wave)


def mask_words(
    waveform,
    words,
    starts_ms,
    ends_ms,
    rng: np.random.Generator,
    mode: str = "content",
    rate: float | None = None,
    max_masked_words: int = 16,
    sampling_rate: int = 16000,
    snr: float | None = None,
    stop_words=ENGLISH_STOP_WORDS,
) -> tuple[torch.Tensor, np.ndarray]:
    """Word masking (paper §5.2.2 "Training Strategies") -> (masked waveform, boolean mask of the masked words).

    Args:
        words / starts_ms / ends_ms: the word alignment (times in ms from the start of the waveform).
        mode: "none", "random" (every word a candidate, default rate 0.10) or "content" (non-stop words, default
            rate 0.363, the reference's, which masks ~10% of all words on How2).
    """
    if mode not in WORD_MASKING_MODES:
        raise ValueError(f"word masking mode must be one of {WORD_MASKING_MODES}, got {mode!r}")
    words = list(words)
    if mode == "none" or not words:
        return _as_wave(waveform), np.zeros(len(words), dtype=bool)
    if mode == "random":
        candidates, rate = np.ones(len(words), dtype=bool), 0.10 if rate is None else rate
    else:
        candidates, rate = (
            content_word_candidates(words, stop_words),
            REFERENCE_CONTENT_MASK_RATE if rate is None else rate,
        )
    chosen = select_masked_words(candidates, rate, max_masked_words, rng)
    return mask_word_spans(waveform, starts_ms, ends_ms, chosen, sampling_rate, snr, rng), chosen


def frequency_mask(
    features: torch.Tensor,
    rng: np.random.Generator,
    num_masks: int = 2,
    max_width: int = 27,
    num_time_masks: int = 0,
    max_time_width: int = 100,
    valid_frames: int | None = None,
) -> torch.Tensor:
    """SpecAugment on one log-mel `(frames, mel)`: `num_masks` frequency bands of `floor(U * max_width)` bins set to 0
    (and, optionally, time masks of up to `max_time_width` frames within the first `valid_frames`)."""
    out = torch.as_tensor(features).clone()
    if out.dim() != 2:
        raise ValueError(f"frequency_mask takes one (frames, mel) log-mel, got shape {tuple(out.shape)}")
    frames, bins = out.shape
    for _ in range(num_masks):
        width = min(int(np.floor(rng.random() * max_width)), bins)
        start = int(np.floor(rng.random() * (bins - width + 1)))
        out[:, start : start + width] = 0.0
    valid = frames if valid_frames is None else min(valid_frames, frames)
    for _ in range(num_time_masks):
        width = min(int(np.floor(rng.random() * max_time_width)), valid)
        start = int(np.floor(rng.random() * (valid - width + 1)))
        out[start : start + width] = 0.0
    return out


SPEC_AUGMENT_POLICIES = ("reference", "park")


def time_warp(
    features: torch.Tensor, rng: np.random.Generator, max_warp: int = 80, valid_frames: int | None = None
) -> torch.Tensor:
    """SpecAugment time warping on one log-mel `(frames, mel)`: a point `s` drawn uniformly in `[W, n - W)` of the
    first `n = valid_frames` frames moves to `s + U[-W, W]`, and both sides are stretched linearly to fit (linear
    interpolation between frames); the frames after `n` (padding) are left alone. Clips of `n <= 2W` frames use
    `W = n // 2 - 1`, and clips under 4 frames are returned unchanged."""
    out = torch.as_tensor(features).clone()
    if out.dim() != 2:
        raise ValueError(f"time_warp takes one (frames, mel) log-mel, got shape {tuple(out.shape)}")
    n = out.shape[0] if valid_frames is None else min(int(valid_frames), out.shape[0])
    warp = min(int(max_warp), n // 2 - 1)
    if warp < 1:
        return out
    source = int(rng.integers(warp, n - warp))
    target = min(max(source + int(rng.integers(-warp, warp + 1)), 1), n - 2)
    index = torch.arange(n, dtype=torch.float64)
    position = torch.where(
        index < target, index * (source / target), source + (index - target) * ((n - 1 - source) / (n - 1 - target))
    )
    low = position.floor().long().clamp(0, n - 1)
    high = (low + 1).clamp(max=n - 1)
    weight = (position - low).unsqueeze(-1).to(out.dtype)
    segment = out[:n].clone()
    out[:n] = segment[low] * (1 - weight) + segment[high] * weight
    return out


def spec_augment(
    features: torch.Tensor, rng: np.random.Generator, policy: str = "reference", valid_frames: int | None = None
) -> torch.Tensor:
    """SpecAugment on one log-mel `(frames, mel)` (see the module docstring for the two policies)."""
    if policy == "reference":
        return frequency_mask(features, rng)
    if policy == "park":
        warped = time_warp(features, rng, max_warp=80, valid_frames=valid_frames)
        return frequency_mask(
            warped, rng, num_masks=2, max_width=27, num_time_masks=2, max_time_width=100, valid_frames=valid_frames
        )
    raise ValueError(f"SpecAugment policy must be one of {SPEC_AUGMENT_POLICIES}, got {policy!r}")


# ----------------------------------------------------------------------------- video
REFERENCE_VIDEO_AUGMENTATION = {"scale_jitter": (0.9, 1.33), "prob_color_augment": 0.8, "prob_color_drop": 0.1}
_GREY_WEIGHTS = (0.2989, 0.5870, 0.1140)  # tf.image.rgb_to_grayscale


def scale_jitter_size(
    height: int, width: int, rng: np.random.Generator, factors=(0.9, 1.33), prob: float = 1.0, minimum: int = 0
) -> tuple[int, int]:
    """Height and width after scale jitter: each side times its own U(factors) factor (truncated to an integer, as
    the reference does), with probability `prob`; never below `minimum` (the crop size)."""
    low, high = factors
    if not 0 < low <= high:
        raise ValueError(f"scale jitter factors must satisfy 0 < low <= high, got {tuple(factors)}")
    h_scale, w_scale, coin = rng.uniform(low, high), rng.uniform(low, high), rng.random()
    if coin >= prob:
        return height, width
    return max(minimum, int(h_scale * height)), max(minimum, int(w_scale * width))


def rgb_to_hsv(rgb: torch.Tensor) -> torch.Tensor:
    """`(3, ...)` RGB -> `(3, ...)` HSV with hue in [0, 1) (grey pixels: hue 0, saturation 0)."""
    r, g, b = rgb.unbind(0)
    value = rgb.max(0).values
    chroma = value - rgb.min(0).values
    saturation = torch.where(value > 0, chroma / value.clamp(min=1e-12), torch.zeros_like(value))
    safe = chroma.clamp(min=1e-12)
    hue = torch.where(value == r, (g - b) / safe, torch.where(value == g, 2.0 + (b - r) / safe, 4.0 + (r - g) / safe))
    hue = torch.where(chroma > 0, (hue / 6.0) % 1.0, torch.zeros_like(hue))
    return torch.stack([hue, saturation, value])


def hsv_to_rgb(hsv: torch.Tensor) -> torch.Tensor:
    """Inverse of `rgb_to_hsv`."""
    hue, saturation, value = hsv.unbind(0)
    k = torch.stack([(5.0 + hue * 6.0) % 6.0, (3.0 + hue * 6.0) % 6.0, (1.0 + hue * 6.0) % 6.0])
    return value - value * saturation * torch.minimum(k, 4.0 - k).clamp(0.0, 1.0)


def colour_augment(
    video: torch.Tensor, rng: np.random.Generator, prob_color_augment: float = 0.8, prob_color_drop: float = 0.1
) -> torch.Tensor:
    """The reference's colour augmentation of one clip `(3, T, H, W)` in [-1, 1] (module docstring); the draws are
    shared by all frames. Returns a new tensor in [-1, 1]."""
    for name, value in (("prob_color_augment", prob_color_augment), ("prob_color_drop", prob_color_drop)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {value}")
    if video.dim() != 4 or video.shape[0] != 3:
        raise ValueError(f"colour_augment takes one clip (3, frames, height, width), got shape {tuple(video.shape)}")
    out = video.float()
    if rng.random() < prob_color_augment:
        brightness, saturation = rng.uniform(-32.0 / 255.0, 32.0 / 255.0), rng.uniform(0.6, 1.4)
        contrast, hue = rng.uniform(0.6, 1.4), rng.uniform(-0.2, 0.2)
        out = 0.5 * (out + 1.0) + brightness
        hsv = rgb_to_hsv(out)
        out = hsv_to_rgb(torch.stack([hsv[0], (hsv[1] * saturation).clamp(0.0, 1.0), hsv[2]]))
        mean = out.mean(dim=(-2, -1), keepdim=True)  # per frame and channel, as tf.image.adjust_contrast
        out = (out - mean) * contrast + mean
        hsv = rgb_to_hsv(out)
        out = hsv_to_rgb(torch.stack([(hsv[0] + hue) % 1.0, hsv[1], hsv[2]]))
        out = 2.0 * (out.clamp(0.0, 1.0) - 0.5)
    if rng.random() < prob_color_drop:
        grey = sum(weight * channel for weight, channel in zip(_GREY_WEIGHTS, out.unbind(0)))
        out = grey.unsqueeze(0).expand(3, *grey.shape).clone()
    return out


def burst_loss(waveform, max_rate: float = 0.1, num_bursts: int = 2) -> torch.Tensor:
    """Burst packet loss (paper §5.4.2; the reference's `add_packet_loss_noise`): `num_bursts` zeroed runs of uniform
    length in [1, round(max_rate * N)]."""
    wave = _as_wave(waveform)
    n = wave.numel()
    if n < 2:
        raise ValueError(f"burst_loss needs at least 2 samples, got {n}")
    rng = np.random.default_rng(clip_seed(wave))
    longest = min(max(1, int(round(n * max_rate))), n - 1)
    lengths = rng.integers(1, longest + 1, size=num_bursts)
    starts = rng.integers(0, n - lengths)
    index = torch.arange(n)
    lost = torch.zeros(n, dtype=torch.bool)
    for start, length in zip(starts.tolist(), lengths.tolist()):
        lost |= (index >= start) & (index < start + length)
    return torch.where(lost, torch.zeros_like(wave), wave)


def add_environment_noise(waveform, noise_bank, snr: float) -> torch.Tensor:
    """Add one clip of `noise_bank` (`[n_clips, n_samples]`, or a list of 1-D clips) at power ratio `snr`."""
    wave = _as_wave(waveform)
    if snr <= 0:
        raise ValueError(f"snr is a linear power ratio and must be positive, got {snr}")
    if len(noise_bank) == 0:
        raise ValueError("the noise bank is empty")
    rng = np.random.default_rng(clip_seed(wave))
    noise = _as_wave(noise_bank[int(rng.integers(0, len(noise_bank)))])
    n = wave.numel()
    if noise.numel() >= n:
        start = int(rng.integers(0, noise.numel() - n + 1))
        noise = noise[start : start + n]
        noise_power = noise.double().square().mean().item()
    else:
        start = int(rng.integers(0, n - noise.numel() + 1))
        noise_power = noise.double().square().mean().item()
        noise = torch.nn.functional.pad(noise, (start, n - start - noise.numel()))
    signal_power = wave.double().square().mean().item()
    if noise_power == 0 or signal_power == 0:
        return wave.clone()  # divide_no_nan in the reference: nothing is added
    return wave + noise * float(np.sqrt(signal_power / (noise_power * snr)))


def add_white_noise(waveform, snr: float) -> torch.Tensor:
    """Gaussian white noise of power `P_signal / snr`, deterministic per clip."""
    wave = _as_wave(waveform)
    if snr <= 0:
        raise ValueError(f"snr is a linear power ratio and must be positive, got {snr}")
    rng = np.random.default_rng(clip_seed(wave))
    power = wave.double().square().mean().item()
    return wave + torch.from_numpy(rng.normal(0.0, np.sqrt(power / snr), wave.numel()).astype(np.float32))


__all__ = [
    "ENGLISH_STOP_WORDS",
    "REFERENCE_CONTENT_MASK_RATE",
    "REFERENCE_VIDEO_AUGMENTATION",
    "SPEC_AUGMENT_POLICIES",
    "colour_augment",
    "hsv_to_rgb",
    "rgb_to_hsv",
    "scale_jitter_size",
    "spec_augment",
    "time_warp",
    "add_environment_noise",
    "add_white_noise",
    "burst_loss",
    "clip_seed",
    "content_word_candidates",
    "db_from_snr",
    "frequency_mask",
    "mask_word_spans",
    "mask_words",
    "select_masked_words",
    "snr_from_db",
]
