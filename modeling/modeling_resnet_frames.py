"""Frame-wise ResNet features, as v-iashin/video_features' ResNet extractor computes them
(`models/resnet/extract_resnet.py`: `torchvision.models.get_model('resnet50')` with `fc = Identity()`).

The trunk is torchvision's ResNet built from torchvision's `Bottleneck` blocks with the same module names
(`conv1`, `bn1`, `layer1..4`, `downsample.0/1`), so torchvision's ImageNet checkpoints load by name; the classifier
is not built (its weights are dropped by the conversion). Global average pooling and flattening give
`4 * widths[-1]` (2048) features per frame.

Decisions: widths are configurable only so that tests can build a tiny trunk; the released extractors use
torchvision's widths. Input: `pixel_values` `(batch, 3, 224, 224)` after the processor's ImageNet preset
(`ResNetFramesProcessor`); frames of a video are a batch.
"""

import torch
from torch import nn
from torchvision.models.resnet import Bottleneck

from ..configuration.configuration_resnet_frames import ResNetFramesConfig
from ..processors.validation import check_float_features
from .modeling_expert_features import ExpertFeaturesOutput, ExpertFeaturesPreTrainedModel


class ResNetFramesModel(ExpertFeaturesPreTrainedModel):
    config_class = ResNetFramesConfig

    def __init__(self, config: ResNetFramesConfig):
        super().__init__(config)

        def norm(channels):
            return nn.BatchNorm2d(channels, eps=config.batch_norm_eps)

        stem = config.widths[0]
        self.conv1 = nn.Conv2d(config.num_channels, stem, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = norm(stem)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        in_width = stem
        for index, (width, depth) in enumerate(zip(config.widths, config.depths)):
            stride = 1 if index == 0 else 2
            downsample = None
            if stride != 1 or in_width != width * Bottleneck.expansion:
                downsample = nn.Sequential(
                    nn.Conv2d(in_width, width * Bottleneck.expansion, 1, stride=stride, bias=False),
                    norm(width * Bottleneck.expansion),
                )
            blocks = [Bottleneck(in_width, width, stride, downsample, norm_layer=norm)]
            in_width = width * Bottleneck.expansion
            blocks += [Bottleneck(in_width, width, norm_layer=norm) for _ in range(depth - 1)]
            setattr(self, f"layer{index + 1}", nn.Sequential(*blocks))
        self.num_stages = len(config.depths)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.post_init()

    def forward(
        self, pixel_values: torch.Tensor, output_hidden_states: bool | None = None, return_dict: bool | None = None
    ) -> ExpertFeaturesOutput | tuple:
        check_float_features("pixel_values", pixel_values, model_dtype=self.dtype)
        if pixel_values.dim() != 4 or pixel_values.shape[1] != self.config.num_channels:
            raise ValueError(
                f"pixel_values must be (batch, {self.config.num_channels}, H, W), got {tuple(pixel_values.shape)}"
            )
        hidden = self.maxpool(self.relu(self.bn1(self.conv1(pixel_values))))
        for index in range(self.num_stages):
            hidden = getattr(self, f"layer{index + 1}")(hidden)
        features = torch.flatten(self.avgpool(hidden), 1)
        output = ExpertFeaturesOutput(features=features, hidden_states=hidden if output_hidden_states else None)
        return output if return_dict is not False else output.to_tuple()


__all__ = ["ResNetFramesModel"]
