"""videozoo: a Hugging Face Hub-compatible model zoo for multi-modal video understanding.

`import videozoo` registers every architecture with the transformers Auto classes (`AutoConfig`, `AutoModel`,
`AutoFeatureExtractor`, `AutoProcessor`, ...) and exposes the public classes. The loading path needs only torch
and transformers; training, data and metrics (`videozoo.training`, `videozoo.data`, `videozoo.metrics`) import
accelerate, datasets and evaluate when they are used.
"""

from .auto import ARCHITECTURES as ARCHITECTURES
from .auto import register_all
from .configuration import *  # noqa: F403
from .modeling import *  # noqa: F403
from .processors import *  # noqa: F403

register_all()

__version__ = "0.1.0"
