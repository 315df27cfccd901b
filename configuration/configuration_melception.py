"""Configuration of Melception, the spectrogram classifier behind SpecVQGAN's FID and MKL (Iashin and Rahtu, 2021)."""

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig

from .configuration_common import CheckedModelTypeMixin, config_value_errors

# Per-mel-band mean and std of the [0, 1]-scaled VGGSound train log-mels (80 x 848, 22 050 Hz), row 0 the lowest
# band: the statistics SpecVQGAN's evaluation standardises every spectrogram with (reference repository file
# `specvqgan/modules/losses/vggishish/data/train_means_stds_melspec_10s_22050hz.txt`).
VGGSOUND_MEL_MEANS = (
    0.51234712,
    0.52630101,
    0.52002938,
    0.51831866,
    0.52457265,
    0.51129235,
    0.51403755,
    0.51189406,
    0.50142221,
    0.50632402,
    0.49724399,
    0.49062130,
    0.49971113,
    0.48442903,
    0.48598301,
    0.48681630,
    0.47436119,
    0.48031359,
    0.47422810,
    0.46369397,
    0.47413055,
    0.46062686,
    0.45677793,
    0.46135474,
    0.45246800,
    0.45232766,
    0.45208386,
    0.44351671,
    0.44667316,
    0.44447692,
    0.43676363,
    0.44002381,
    0.43772414,
    0.43061019,
    0.43120828,
    0.42603271,
    0.42863234,
    0.42296206,
    0.41733331,
    0.41804121,
    0.41605068,
    0.40875265,
    0.40666997,
    0.40407463,
    0.40353311,
    0.39708031,
    0.39375066,
    0.39301091,
    0.39047117,
    0.38461680,
    0.38145284,
    0.37985209,
    0.37419526,
    0.37080597,
    0.36786535,
    0.36569049,
    0.36336079,
    0.35775191,
    0.35504801,
    0.35284816,
    0.34594865,
    0.34112312,
    0.33784886,
    0.33095703,
    0.32559461,
    0.32003106,
    0.31506222,
    0.31138077,
    0.30403516,
    0.29969540,
    0.29578024,
    0.28861871,
    0.28581686,
    0.27922253,
    0.27444035,
    0.27339468,
    0.26571759,
    0.26280864,
    0.25664202,
    0.24853513,
)
VGGSOUND_MEL_STDS = (
    0.08187601,
    0.08393201,
    0.08533191,
    0.08651366,
    0.08795700,
    0.08924046,
    0.09011565,
    0.09138965,
    0.09215379,
    0.09251092,
    0.09356590,
    0.09333057,
    0.09446411,
    0.09400197,
    0.09477853,
    0.09487848,
    0.09424447,
    0.09417475,
    0.09498061,
    0.09362415,
    0.09453825,
    0.09481226,
    0.09359464,
    0.09437913,
    0.09384014,
    0.09438247,
    0.09419720,
    0.09340880,
    0.09423184,
    0.09344461,
    0.09265266,
    0.09307925,
    0.09299363,
    0.09236166,
    0.09156491,
    0.09161403,
    0.09150530,
    0.09102536,
    0.09048366,
    0.09025013,
    0.09078869,
    0.08985338,
    0.08877566,
    0.08961667,
    0.08859275,
    0.08827818,
    0.08833999,
    0.08760654,
    0.08812327,
    0.08782288,
    0.08645484,
    0.08718211,
    0.08644421,
    0.08532454,
    0.08592822,
    0.08452069,
    0.08474272,
    0.08476392,
    0.08334654,
    0.08412110,
    0.08367254,
    0.08252251,
    0.08320975,
    0.08257768,
    0.08171253,
    0.08204872,
    0.08098545,
    0.08152917,
    0.08209135,
    0.08073266,
    0.08225822,
    0.08324076,
    0.08058489,
    0.08515350,
    0.08355056,
    0.08067638,
    0.08536921,
    0.08107620,
    0.08357468,
    0.08556041,
)


@config_value_errors
@strict
class MelceptionConfig(CheckedModelTypeMixin, PreTrainedConfig):
    r"""
    Configuration of [`MelceptionModel`]: torchvision's Inception-v3 with a one-channel stem and no max-pools,
    classifying 80-band log-mel spectrograms into the 309 VGGSound classes. Defaults are the released Melception
    (`evaluation/configs/eval_melception_vggsound.yaml` of the reference).

    Args:
        num_classes (`int`, defaults to 309): output classes (VGGSound).
        num_mel_bins (`int`, defaults to 80): rows of `input_features`.
        width_divisor (`int`, defaults to 1): divides every channel width of the network (1, 2, 4, 8 or 16); 1 is
            Inception-v3, which converted checkpoints need. Larger values are for tests.
        aux_logits (`bool`, defaults to `True`): keep the auxiliary classifier (`AuxLogits`). Released checkpoints
            hold it; the forward pass never uses it (the reference's training loss overwrote its term). Needs
            `width_divisor` 1 (its classifier width is fixed by torchvision).
        dropout (`float`, defaults to 0.5): dropout before the classifier (training only).
        spectrogram_mean / spectrogram_std (`list[float]` of `num_mel_bins` values, *optional*): per-band statistics
            the model standardises its [0, 1] input with (in float64, as the reference); defaults to the VGGSound
            train statistics. Set both to `None` to feed already standardised spectrograms.

    Example:

    ```python
    >>> from videozoo import MelceptionConfig, MelceptionModel
    >>> model = MelceptionModel(MelceptionConfig())
    ```
    """

    model_type = "melception"

    num_classes: int = 309
    num_mel_bins: int = 80
    width_divisor: int = 1
    aux_logits: bool = True
    dropout: float = 0.5
    spectrogram_mean: list[float] | tuple[float, ...] | None = VGGSOUND_MEL_MEANS
    spectrogram_std: list[float] | tuple[float, ...] | None = VGGSOUND_MEL_STDS

    def __post_init__(self, **kwargs):
        if self.id2label is None or len(self.id2label) != self.num_classes:
            self.id2label = {index: f"class_{index}" for index in range(self.num_classes)}
            self.label2id = {name: index for index, name in self.id2label.items()}
        super().__post_init__(**kwargs)

    def validate_sizes(self):
        if self.width_divisor not in (1, 2, 4, 8, 16):
            raise ValueError(f"width_divisor must be 1, 2, 4, 8 or 16, got {self.width_divisor}")
        if self.aux_logits and self.width_divisor != 1:
            raise ValueError("aux_logits needs width_divisor 1 (torchvision's auxiliary classifier has fixed widths)")
        if self.num_classes < 1 or self.num_mel_bins < 23:
            raise ValueError(
                f"num_classes must be positive and num_mel_bins at least 23 (the smallest input the network "
                f"reduces to one position), got {self.num_classes} and {self.num_mel_bins}"
            )
        if (self.spectrogram_mean is None) != (self.spectrogram_std is None):
            raise ValueError("give both spectrogram_mean and spectrogram_std, or neither")
        if self.spectrogram_mean is not None:
            if len(self.spectrogram_mean) != self.num_mel_bins or len(self.spectrogram_std) != self.num_mel_bins:
                raise ValueError(
                    f"spectrogram_mean and spectrogram_std need {self.num_mel_bins} values (one per mel band), got "
                    f"{len(self.spectrogram_mean)} and {len(self.spectrogram_std)}"
                )
            if min(self.spectrogram_std) <= 0:
                raise ValueError("spectrogram_std must be positive")


__all__ = ["MelceptionConfig", "VGGSOUND_MEL_MEANS", "VGGSOUND_MEL_STDS"]
