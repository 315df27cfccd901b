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


DEVELOPMENT_ONLY = {"pytest", "ruff"}


def _requirements() -> tuple[list[str], list[str]]:
    """Lower bounds from requirements.txt, the one place where the tested stack is pinned exactly.

    `pip install videozoo` must not downgrade a user's torch or transformers: each `name==X.Y.Z` pin becomes
    `name>=X.Y` (the tested release series). The exact pins are installed by `make` (tools/setup_env.sh).
    """
    runtime, development = [], []
    for line in Path(__file__).with_name("requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, version = line.split("==")
        bound = f"{name}>={'.'.join(version.split('.')[:2])}"
        (development if name in DEVELOPMENT_ONLY else runtime).append(bound)
    return runtime, development


RUNTIME_REQUIREMENTS, DEVELOPMENT_REQUIREMENTS = _requirements()

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
    install_requires=RUNTIME_REQUIREMENTS,
    extras_require={"dev": DEVELOPMENT_REQUIREMENTS},
)
