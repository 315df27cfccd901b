"""Installs the repository as one import package, `videozoo`.

The code folders at the repository root (`configuration/`, `modeling/`, `processors/`, `scripts/`) become
subpackages of `videozoo`; the `videozoo/` folder holds what cuts across models (Auto registration, data,
training loop, metrics, Hub export). Inside the package, imports between siblings are relative
(`from ..configuration.configuration_mmt import MMTConfig`), so no second copy of a class can appear.
"""

from pathlib import Path

from setuptools import find_packages, setup

PACKAGE = "videozoo"
ROOT_FOLDERS = ["configuration", "modeling", "processors", "scripts"]


def _requirements() -> list[str]:
    lines = Path(__file__).with_name("requirements.txt").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


# videozoo/ and its subpackages, then each root folder (and its subpackages) mapped under videozoo.
packages = [PACKAGE] + [f"{PACKAGE}.{sub}" for sub in find_packages(PACKAGE)]
package_dir = {PACKAGE: PACKAGE}
for folder in ROOT_FOLDERS:
    for sub in [folder] + [f"{folder}.{inner}" for inner in find_packages(folder)]:
        packages.append(f"{PACKAGE}.{sub}")
        package_dir[f"{PACKAGE}.{sub}"] = sub.replace(".", "/")

setup(
    name=PACKAGE,
    version="0.1.0",
    description="Hub-compatible model zoo for multi-modal video understanding",
    packages=packages,
    package_dir=package_dir,
    package_data={PACKAGE: ["metrics/*/*.py"]},
    python_requires=">=3.11",
    install_requires=[r for r in _requirements() if not r.startswith("pytest")],
)
