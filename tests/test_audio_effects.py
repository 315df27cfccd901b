"""The sox effects rewritten in torch: `sox_reverb` against the SoX binary (when installed) and against the
structure of its filter network; `pitch_shift` moves a tone by the asked interval and keeps the duration."""

import shutil
import subprocess

import numpy as np
import pytest
import torch

from videozoo.processors.audio_effects import pitch_shift, sox_reverb, sox_reverb_impulse_response


def _test_signal(rate: int, seconds: float, level: float = 0.05) -> np.ndarray:
    x = (level * np.random.default_rng(0).standard_normal(int(rate * seconds))).astype(np.float32)
    x[:100], x[100] = 0.0, 0.9
    return x


@pytest.mark.skipif(shutil.which("sox") is None, reason="the sox binary is not installed")
@pytest.mark.parametrize("rate, level", [(16000, 0.05), (22050, 0.05), (16000, 0.6)])  # 0.6: sox clips the input
def test_reverb_matches_the_sox_binary(tmp_path, rate, level):
    x = _test_signal(rate, 2.5, level)
    source, target = tmp_path / "in.raw", tmp_path / "out.raw"
    x.tofile(source)
    raw = ["-t", "raw", "-e", "floating-point", "-b", "32"]
    subprocess.run(
        ["sox", *raw, "-r", str(rate), "-c", "1", str(source), *raw, "-c", "2", str(target), "reverb", "-w"],
        check=True,
        capture_output=True,
    )
    expected = np.fromfile(target, dtype=np.float32).reshape(-1, 2).T
    ours = sox_reverb(torch.from_numpy(x), rate, mean_channels=False).numpy()
    assert ours.shape == expected.shape
    # sox's float32 output is itself up to 1.2e-7 from our float64 run (outputs up to 0.76; 5e-8 at level 0.05);
    # our float32 run is 3e-8 from our float64 one, on 1 or 2 threads: 1e-6 is 8x the largest of these
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-6)
    torch.testing.assert_close(
        sox_reverb(torch.from_numpy(x), rate), torch.from_numpy(expected.mean(0)), rtol=0, atol=1e-6
    )


def test_reverb_impulse_response_structure():
    rate = 16000
    response = sox_reverb_impulse_response(rate)
    assert response.shape[0] == 2  # a mono input gives two channels (stereo depth 100%)
    first = [int(torch.nonzero(channel.abs() > 1e-9)[0]) for channel in response]
    # the earliest arrival: the shortest comb (1116 samples at 44.1 kHz) through the all-passes' direct paths
    assert first == [round(1116 * rate / 44100), round((1116 + 12) * rate / 44100)]
    energy = response.square().cumsum(-1)
    assert (energy[:, -1000:].diff(dim=-1).max() / energy[:, -1]).max() < 1e-20  # decayed long before the grid wraps
    wave = torch.zeros(4000)
    wave[10] = 1.0
    torch.testing.assert_close(sox_reverb(wave, rate, mean_channels=False)[:, 10:], response[:, :3990].float())
    dry = sox_reverb(wave, rate, wet_only=False)
    assert dry[10] == 1.0 and dry[:10].abs().max() < 1e-12  # nothing before the input
    with pytest.raises(ValueError, match="reverberance"):
        sox_reverb_impulse_response(rate, reverberance=150)
    with pytest.raises(ValueError, match="mono"):
        sox_reverb(torch.zeros(2, 100), rate)
    with pytest.raises(ValueError, match="NaN"):
        sox_reverb(torch.full((100,), float("nan")), rate)
    loud = sox_reverb(torch.full((20000,), 5.0), rate, wet_only=False)
    assert loud.abs().max() <= 1.0  # clipped in and out, as sox


def test_pitch_shift_moves_a_tone_by_the_interval():
    rate = 16000
    t = torch.arange(rate * 2) / rate
    tone = 0.5 * torch.sin(2 * torch.pi * 440.0 * t)
    shifted = pitch_shift(tone, rate, 1000.0)
    assert shifted.shape == tone.shape
    spectrum = torch.fft.rfft(shifted[rate // 2 : rate // 2 + rate] * torch.hann_window(rate))
    peak = float(spectrum.abs().argmax())  # 1 Hz bins
    assert abs(peak - 440.0 * 2 ** (10 / 12)) < 5  # 10 semitones up: ~784 Hz
