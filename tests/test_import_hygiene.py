"""The loading path needs only torch and transformers, and library code stays free of side effects."""

import re
import subprocess
import sys

from .conftest import REPO_ROOT

BLOCKER = """
import sys
for blocked in ("accelerate", "datasets", "evaluate"):
    sys.modules[blocked] = None  # `import` raises ImportError, `find_spec` reports "not installed"
import videozoo, videozoo.modeling, videozoo.processors, videozoo.configuration
from transformers import AutoModel
print("ok")
"""


def test_loading_path_needs_no_training_packages():
    result = subprocess.run([sys.executable, "-c", BLOCKER], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and "ok" in result.stdout, result.stderr[-2000:]


def test_library_code_has_no_prints_devices_or_file_io():
    banned = re.compile(r"(^|[^\w.])print\(|\.cuda\(|torch\.load\(|(^|[^\w.])open\(|breakpoint\(|ipdb")
    offenders = []
    for folder in ("modeling", "configuration", "processors"):
        for path in (REPO_ROOT / folder).rglob("*.py"):
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if banned.search(line.split("#")[0]):
                    offenders.append(f"{path.relative_to(REPO_ROOT)}:{number}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


def test_package_imports_follow_the_two_relative_forms():
    """Inside the package, imports of our own code are `from .x import` or `from ..sub.x import` (the Hub export
    rewrites exactly these), never absolute `videozoo.` imports or `from . import x`."""
    offenders = []
    for folder in ("modeling", "configuration", "processors"):
        for path in (REPO_ROOT / folder).rglob("*.py"):
            for number, line in enumerate(path.read_text().splitlines(), 1):
                stripped = line.strip()
                if re.match(r"(from|import) videozoo", stripped) or re.match(r"from \.+ import", stripped):
                    offenders.append(f"{path.relative_to(REPO_ROOT)}:{number}: {stripped}")
    assert not offenders, "\n".join(offenders)
