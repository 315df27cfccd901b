"""VGGish audio embeddings (S. Hershey et al., "CNN Architectures for Large-Scale Audio Classification", ICASSP
2017), as v-iashin/video_features' VGGish extractor computes them (torchvision-style port `vggish_slim.py`).

Network: six 3x3 convolutions (padding 1) with ReLU and four 2x2 max-pools, then three Linear + ReLU layers. The
(B, 512, 6, 4) map is flattened in (H, W, C) order (the TensorFlow original's layout), not PyTorch's (C, H, W).

Features: the reference extractor returns the 128-d embeddings after the final ReLU; it never applies the PCA
(its post-processor defaults to off). `postprocess` offers AudioSet's PCA + 8-bit quantisation on top, with the
released PCA parameters held as buffers (`pca_eigen_vectors` (128, 128), `pca_means` (128,)): `style="torch"` is
the port's (float32, round half to even, values 0...255 as float), `style="numpy"` Google's original (float64,
truncation, uint8). The two differ by one level on about half of the entries inside the clipping range.
"""

from dataclasses import dataclass

import torch
from torch import nn

from ..configuration.configuration_vggish import VGGishConfig
from ..processors.validation import check_float_features
from .modeling_expert_features import ExpertFeaturesOutput, ExpertFeaturesPreTrainedModel

_POOL_AFTER = (0, 1, 3, 5)  # indices of the convolutions followed by a max-pool


@dataclass
class VGGishOutput(ExpertFeaturesOutput):
    """
    Args:
        features (`(batch, embedding_size)`): the embeddings (what the reference extractor returns).
        postprocessed (`(batch, embedding_size)`, *optional*): PCA + quantisation (`postprocess=True`, torch style).
    """

    postprocessed: torch.FloatTensor | None = None


class VGGishModel(ExpertFeaturesPreTrainedModel):
    config_class = VGGishConfig
    main_input_name = "input_features"

    def __init__(self, config: VGGishConfig):
        super().__init__(config)
        layers, in_width = [], 1
        for index, width in enumerate(config.conv_widths):
            layers += [nn.Conv2d(in_width, width, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
            if index in _POOL_AFTER:
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            in_width = width
        self.features = nn.Sequential(*layers)  # indices 0, 3, 6, 8, 11, 13 are the convolutions (as the port)
        sizes = [in_width * (config.num_frames // 16) * (config.num_mel_bins // 16), *config.hidden_sizes]
        sizes.append(config.embedding_size)
        linear = []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            linear += [nn.Linear(fan_in, fan_out), nn.ReLU(inplace=True)]
        self.embeddings = nn.Sequential(*linear)
        self.register_buffer("pca_eigen_vectors", torch.eye(config.embedding_size))
        self.register_buffer("pca_means", torch.zeros(config.embedding_size))
        self.post_init()

    def forward(
        self,
        input_features: torch.Tensor,
        postprocess: bool = False,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> VGGishOutput | tuple:
        check_float_features("input_features", input_features, model_dtype=self.dtype)
        expected = (1, self.config.num_frames, self.config.num_mel_bins)
        if input_features.dim() != 4 or tuple(input_features.shape[1:]) != expected:
            raise ValueError(
                f"input_features must be (batch, {', '.join(map(str, expected))}), got {tuple(input_features.shape)}"
            )
        hidden = self.features(input_features)
        flat = hidden.permute(0, 2, 3, 1).reshape(hidden.shape[0], -1)  # (H, W, C) order
        embeddings = self.embeddings(flat)
        output = VGGishOutput(
            features=embeddings,
            hidden_states=hidden if output_hidden_states else None,
            postprocessed=self.postprocess(embeddings) if postprocess else None,
        )
        return output if return_dict is not False else output.to_tuple()

    def apply_pca(self, embeddings: torch.Tensor, dtype=torch.float32) -> torch.Tensor:
        """`E @ (embeddings.T - means)`, transposed back, before clipping."""
        vectors, means = self.pca_eigen_vectors.to(dtype), self.pca_means.to(dtype)
        return (vectors @ (embeddings.to(dtype).T - means[:, None])).T

    def postprocess(self, embeddings: torch.Tensor, style: str = "torch") -> torch.Tensor:
        """AudioSet's PCA + 8-bit quantisation of `(batch, embedding_size)` embeddings (see the module docstring)."""
        low, high = self.config.quantize_min, self.config.quantize_max
        if style == "torch":
            clipped = self.apply_pca(embeddings).clamp(low, high)
            return torch.round((clipped - low) * (255.0 / (high - low)))
        if style == "numpy":
            clipped = self.apply_pca(embeddings, torch.float64).clamp(low, high)
            return ((clipped - low) * (255.0 / (high - low))).to(torch.uint8)  # truncation, as astype(uint8)
        raise ValueError(f"style must be 'torch' or 'numpy', got {style!r}")


__all__ = ["VGGishModel", "VGGishOutput"]
