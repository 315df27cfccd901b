"""Installs the repository as one import package, `videozoo`.

The code folders at the repository root (`configuration/`, `modeling/`, `processors/`, `scripts/`) become
subpackages of `videozoo`; the `videozoo/` folder holds what cuts across models (Auto registration, data,
training loop, metrics, Hub export). Inside the package, imports between siblings are relative
(`from ..configuration.configuration_mmt import MMTConfig`), so no second copy of a class can appear.
"""

from pathlib import Path

from setuptools import setup

PACKAGE = "videozoo"
ROOT_SUBPACKAGES = ["configuration", "modeling", "modeling.layers", "processors", "scripts"]
OWN_SUBPACKAGES = ["", "data", "metrics", "tasks"]


def _requirements() -> list[str]:
    lines = Path(__file__).with_name("requirements.txt").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


package_dir = {PACKAGE: PACKAGE}
package_dir.update({f"{PACKAGE}.{sub}": sub.replace(".", "/") for sub in ROOT_SUBPACKAGES})
packages = [PACKAGE] + [f"{PACKAGE}.{sub}" for sub in ROOT_SUBPACKAGES]
packages += [f"{PACKAGE}.{sub}" for sub in OWN_SUBPACKAGES if sub]

setup(
    name=PACKAGE,
    version="0.1.0",
    description="Hub-compatible model zoo for multi-modal video understanding",
    packages=packages,
    package_dir=package_dir,
    package_data={PACKAGE: ["metrics/*/*.py"]},
    python_requires=">=3.11",
    install_requires=_requirements(),
)
