"""Sharing on the Hub: self-contained remote code, model cards, and pushing a checkpoint.

A checkpoint folder written by `save_pretrained` holds weights and configs. `export_remote_code` adds a flat copy
of the code its architecture needs (configuration, modeling and processing modules plus every shared module they
import, found by following the package's relative imports with `ast`) with the imports rewritten to the flat
form, and the `auto_map` entries, so that `AutoModel.from_pretrained(repo, trust_remote_code=True)` works where
videozoo is not installed. With videozoo installed (`import videozoo`), the registered classes are used and no
remote code runs. It works for every row of `videozoo.auto.ARCHITECTURES`, with no per-model code.

`push_checkpoint` validates everything first (weights present, evaluation JSON well-formed, repo id valid), then
stages a copy of the folder with the exported code and a generated model card, and uploads the staged copy: the
user's folder is never modified, whatever happens during the upload.
"""

import ast
import importlib
import importlib.util
import inspect
import json
import re
import shutil
import sys
import tempfile
from pathlib import Path

from .auto import ARCHITECTURES_BY_TYPE, Architecture

PACKAGE = __name__.rsplit(".", 1)[0]  # "videozoo"
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json")
SKIPPED_ON_PUSH = ("checkpoints", "logs", "eval")  # training state and logs stay local


class HubExportError(ValueError):
    """The checkpoint or its code cannot be exported or pushed as asked."""


# ----------------------------------------------------------------------------- remote code
def _flat_name(module_name: str) -> str:
    """`videozoo.modeling.layers.gating` -> `layers_gating`; `videozoo.configuration.configuration_mmt` ->
    `configuration_mmt`; `videozoo.modeling.losses` -> `losses`."""
    parts = module_name.split(".")
    if parts[0] != PACKAGE or len(parts) < 3:
        raise HubExportError(
            f"cannot export {module_name}: only modules of the configuration, modeling and processors folders are"
        )
    return "_".join(parts[2:])


def _defining_module(module_name: str, name: str) -> str:
    """The module that really defines `name` when it is imported from `module_name` (follows re-exports)."""
    module = importlib.import_module(module_name)
    if not hasattr(module, name):
        raise HubExportError(f"{module_name} has no attribute {name!r}")
    value = getattr(module, name)
    if inspect.ismodule(value):
        raise HubExportError(
            f"`from {module_name} import {name}` imports a module; import the names it defines instead"
        )
    defined_in = getattr(value, "__module__", None)
    if inspect.isclass(value) or inspect.isfunction(value):
        return defined_in
    return module_name  # constants and other values: defined where they are imported from


def _rewrite_module(module_name: str) -> tuple[str, set[str]]:
    """Source of `module_name` with its imports of our package in flat form, and the modules it needs."""
    module = importlib.import_module(module_name)
    source = Path(module.__file__).read_text()
    lines = source.splitlines(keepends=True)
    needed: set[str] = set()
    replacements: list[tuple[int, int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == PACKAGE:
                    raise HubExportError(
                        f"{module_name}:{node.lineno}: absolute import of {alias.name}; use a relative import"
                    )
            continue
        if not isinstance(node, ast.ImportFrom):
            continue
        if node.level == 0:
            if (node.module or "").split(".")[0] == PACKAGE:
                raise HubExportError(
                    f"{module_name}:{node.lineno}: absolute import from {node.module}; use a relative import"
                )
            continue
        if node.module is None:
            raise HubExportError(
                f"{module_name}:{node.lineno}: `from . import ...` cannot be exported; import names from modules"
            )
        package = module_name if module.__file__.endswith("__init__.py") else module_name.rsplit(".", 1)[0]
        target = importlib.util.resolve_name("." * node.level + node.module, package)
        groups: dict[str, list[str]] = {}
        for alias in node.names:
            if alias.name == "*":
                raise HubExportError(f"{module_name}:{node.lineno}: star imports cannot be exported")
            source_module = _defining_module(target, alias.name)
            if not source_module.startswith(PACKAGE + "."):
                raise HubExportError(f"{module_name}:{node.lineno}: {alias.name} comes from outside {PACKAGE}")
            text = alias.name if alias.asname is None else f"{alias.name} as {alias.asname}"
            groups.setdefault(source_module, []).append(text)
        indent = re.match(r"\s*", lines[node.lineno - 1]).group(0)
        new = "".join(f"{indent}from .{_flat_name(m)} import {', '.join(names)}\n" for m, names in groups.items())
        replacements.append((node.lineno - 1, node.end_lineno, new))
        needed.update(groups)
    for start, end, new in sorted(replacements, reverse=True):
        lines[start:end] = [new]
    return "".join(lines), needed


def remote_code_files(arch: Architecture) -> dict[str, str]:
    """`{flat file name: source}` of every module the architecture needs, following imports transitively."""
    roots = {arch.config_class.__module__}
    roots.update(model_class.__module__ for _, model_class in arch.models)
    for cls in (arch.processor_class, arch.feature_extractor_class, arch.video_processor_class):
        if cls is not None:
            roots.add(cls.__module__)
    roots.update(pipeline_class.__module__ for _, pipeline_class in arch.pipelines)
    files, origins, pending = {}, {}, sorted(roots)
    while pending:
        module_name = pending.pop()
        flat = _flat_name(module_name) + ".py"
        if flat in files:
            if origins[flat] != module_name:
                raise HubExportError(f"{module_name} and {origins[flat]} would both be exported as {flat}")
            continue
        files[flat], needed = _rewrite_module(module_name)
        origins[flat] = module_name
        pending.extend(sorted(needed))
    return files


def _auto_entry(cls: type) -> str:
    return f"{_flat_name(cls.__module__)}.{cls.__name__}"


def auto_map(arch: Architecture) -> dict[str, str]:
    entries = {"AutoConfig": _auto_entry(arch.config_class)}
    for auto_class, model_class in arch.models:
        entries[auto_class.__name__] = _auto_entry(model_class)
    if arch.processor_class is not None:
        entries["AutoProcessor"] = _auto_entry(arch.processor_class)
    if arch.feature_extractor_class is not None:
        entries["AutoFeatureExtractor"] = _auto_entry(arch.feature_extractor_class)
    if arch.video_processor_class is not None:
        entries["AutoVideoProcessor"] = _auto_entry(arch.video_processor_class)
    return entries


def custom_pipelines(arch: Architecture) -> dict[str, dict]:
    """The config's `custom_pipelines` entries: for each task, the exported pipeline class and the Auto class that
    loads the model (what `transformers.pipeline(task, model=repo, trust_remote_code=True)` reads)."""
    return {task: {"impl": _auto_entry(cls), "pt": ["AutoModel"]} for task, cls in arch.pipelines}


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise HubExportError(f"cannot read {path}: {error}") from error


def architecture_of(folder: str | Path) -> Architecture:
    config = _read_json(Path(folder) / "config.json")
    model_type = config.get("model_type")
    if model_type not in ARCHITECTURES_BY_TYPE:
        raise HubExportError(
            f"{folder}: model_type {model_type!r} is not a videozoo architecture ({sorted(ARCHITECTURES_BY_TYPE)})"
        )
    return ARCHITECTURES_BY_TYPE[model_type]


def export_remote_code(folder: str | Path) -> list[str]:
    """Write the architecture's code and `auto_map` into a saved checkpoint folder; returns the files written."""
    folder = Path(folder)
    arch = architecture_of(folder)
    files = remote_code_files(arch)
    for name, source in files.items():
        (folder / name).write_text(source)
    mapping = auto_map(arch)
    config_path = folder / "config.json"
    config = _read_json(config_path)
    config["auto_map"] = mapping
    if arch.pipelines:
        config["custom_pipelines"] = custom_pipelines(arch)
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    processor_path = folder / "processor_config.json"
    if processor_path.is_file():
        processor = _read_json(processor_path)
        processor["auto_map"] = {
            k: v for k, v in mapping.items() if k in ("AutoProcessor", "AutoFeatureExtractor", "AutoVideoProcessor")
        }
        for key in ("feature_extractor", "video_processor"):
            if isinstance(processor.get(key), dict):
                processor[key]["auto_map"] = processor["auto_map"]
        processor_path.write_text(json.dumps(processor, indent=2, sort_keys=True) + "\n")
    extractor_path = folder / "preprocessor_config.json"  # a feature extractor saved on its own (the extractors)
    if extractor_path.is_file() and arch.feature_extractor_class is not None:
        extractor = _read_json(extractor_path)
        extractor["auto_map"] = {k: v for k, v in mapping.items() if k in ("AutoProcessor", "AutoFeatureExtractor")}
        extractor_path.write_text(json.dumps(extractor, indent=2, sort_keys=True) + "\n")
    return sorted(files)


# ----------------------------------------------------------------------------- model card
def _numeric_results(eval_results: str | Path | dict | None) -> dict[str, float]:
    if eval_results is None:
        return {}
    if isinstance(eval_results, (str, Path)):
        path = Path(eval_results)
        if not path.is_file():
            raise HubExportError(f"evaluation results {path} not found")
        try:
            eval_results = json.loads(path.read_text())
        except json.JSONDecodeError as error:
            raise HubExportError(f"evaluation results {path} are not valid JSON: {error}") from error
    if not isinstance(eval_results, dict) or not eval_results:
        raise HubExportError("evaluation results must be a non-empty JSON object of metric name -> number")
    bad = [k for k, v in eval_results.items() if isinstance(v, bool) or not isinstance(v, (int, float))]
    if bad:
        raise HubExportError(f"evaluation results must be numbers; not for {bad}")
    return {k: float(v) for k, v in eval_results.items()}


def training_script(arch: Architecture) -> str | None:
    """The script in videozoo's `scripts/` that trains (or, failing that, pre-trains) the architecture, with the
    arguments that pick it (`run_<family>.py train --model_type <type>` for a row with a recipe), or None when it
    has none."""
    if arch.recipe:
        return f"run_{arch.family}.py train --model_type {arch.model_type}"
    folder = Path(importlib.import_module(f"{PACKAGE}.scripts").__file__).parent
    for name in (f"train_{arch.model_type}.py", f"pretrain_{arch.model_type}.py"):
        if (folder / name).is_file():
            return name
    return None


def model_card(
    folder: str | Path,
    repo_id: str,
    eval_results: str | Path | dict | None = None,
    dataset_name: str | None = None,
):
    """A `huggingface_hub.ModelCard` for a checkpoint: paper and citation, licence, how to load and fine-tune,
    training data, the design decisions recorded in the model file's header, and evaluation results as
    `model-index` entries."""
    from huggingface_hub import EvalResult, ModelCard, ModelCardData

    folder = Path(folder)
    arch = architecture_of(folder)
    paper = arch.paper
    results = _numeric_results(eval_results)
    training = _read_json(folder / "training_args.json") if (folder / "training_args.json").is_file() else {}
    dataset_name = dataset_name or training.get("dataset_name") or "unspecified"
    task = paper.get("task", "feature-extraction")
    if not paper.get("pipeline_tag"):
        raise HubExportError(f"the registry's paper entry of {arch.model_type} has no pipeline_tag")
    model_name = repo_id.split("/")[-1]
    data = ModelCardData(
        license=paper.get("license", "other"),
        library_name="transformers",
        pipeline_tag=paper["pipeline_tag"],
        tags=["videozoo", arch.model_type, "video", "multimodal"],
        datasets=[dataset_name],
        metrics=sorted(results),
        model_name=model_name,
        eval_results=[
            EvalResult(
                task_type=task.replace(" ", "-"),
                task_name=task,
                dataset_type=dataset_name,
                dataset_name=dataset_name,
                metric_type=name,
                metric_name=name,
                metric_value=value,
            )
            for name, value in results.items()
        ]
        or None,
    )
    model_module = sys.modules[arch.models[0][1].__module__]
    decisions = inspect.getdoc(model_module) or ""
    first_model = arch.models[0][1].__name__
    lines = [
        f"# {model_name}",
        "",
        f"A `{arch.model_type}` checkpoint of [videozoo](#how-to-load): {paper.get('title', arch.model_type)}"
        + (f" ({paper['authors']}, {paper.get('venue', '')} {paper.get('year', '')})" if paper.get("authors") else "")
        + ".",
        "",
    ]
    if paper.get("arxiv"):
        lines += [
            f"Paper: https://arxiv.org/abs/{paper['arxiv']}"
            + (f" — original code: {paper['code']}" if paper.get("code") else ""),
            "",
        ]
    # the preprocessing class the checkpoint ships: a processor, a feature extractor alone, or none (e.g. a vocoder)
    loader = (
        "AutoProcessor" if arch.processor_class else "AutoFeatureExtractor" if arch.feature_extractor_class else None
    )
    imports = "AutoModel" + (f", {loader}" if loader else "")
    lines += [
        "## How to load",
        "",
        "With videozoo installed, the classes are registered when the package is imported:",
        "",
        "```python",
        "import videozoo",
        f"from transformers import {imports}",
        "",
        f'model = AutoModel.from_pretrained("{repo_id}")',
        *([f'processor = {loader}.from_pretrained("{repo_id}")'] if loader else []),
        "```",
        "",
        "Without videozoo, the code shipped in this repository is used:",
        "",
        "```python",
        f"from transformers import {imports}",
        "",
        f'model = AutoModel.from_pretrained("{repo_id}", trust_remote_code=True)',
        *([f'processor = {loader}.from_pretrained("{repo_id}", trust_remote_code=True)'] if loader else []),
        "```",
        "",
    ]
    for task, pipeline_class in arch.pipelines:
        lines += [
            f"## Pipeline: `{task}`",
            "",
            "From a media file to a JSON-serialisable answer, with or without videozoo installed:",
            "",
            "```python",
            "from transformers import pipeline",
            "",
            f'pipe = pipeline("{task}", model="{repo_id}", trust_remote_code=True)',
            *pipeline_class.card_example,
            "print(answer)",
            "```",
            "",
        ]
    script = training_script(arch)
    if script is not None:
        lines += [
            "## How to fine-tune",
            "",
            "From a videozoo checkout, with the data arguments the script lists under `--help`:",
            "",
            "```bash",
            f"accelerate launch scripts/{script} --model_name_or_path {repo_id} --output_dir runs/finetuned",
            "```",
            "",
            f"The training loop is videozoo's (`videozoo.training.fit`); `{first_model}` computes its loss with "
            "`return_loss=True`.",
            "",
        ]
    lines += [
        "## Training data",
        "",
        f"Dataset: `{dataset_name}`." + (" Training arguments are in `training_args.json`." if training else ""),
        "",
    ]
    if results:
        lines += ["## Evaluation results", "", "| metric | value |", "| --- | --- |"]
        lines += [f"| {name} | {value:.4g} |" for name, value in results.items()]
        lines += [""]
    if decisions:
        lines += ["## Implementation notes", "", decisions, ""]
    lines += ["## Licence", "", f"{paper.get('license', 'other')}", ""]
    if paper.get("bibtex"):
        lines += ["## Citation", "", "```bibtex", paper["bibtex"], "```", ""]
    return ModelCard(f"---\n{data.to_yaml()}\n---\n\n" + "\n".join(lines))


# ----------------------------------------------------------------------------- push
def validate_checkpoint(folder: str | Path) -> Architecture:
    folder = Path(folder)
    if not folder.is_dir():
        raise HubExportError(f"{folder} is not a folder")
    if not (folder / "config.json").is_file():
        raise HubExportError(f"{folder} has no config.json: save the model with save_pretrained first")
    if not any((folder / name).is_file() for name in WEIGHT_FILES):
        raise HubExportError(f"{folder} has no weights ({' or '.join(WEIGHT_FILES)})")
    return architecture_of(folder)


def stage_checkpoint(folder: str | Path, repo_id: str, eval_results=None, dataset_name: str | None = None) -> Path:
    """A temporary copy of the checkpoint with remote code and a model card, ready to upload."""
    folder = Path(folder)
    validate_checkpoint(folder)
    card = model_card(folder, repo_id, eval_results, dataset_name)
    staging = Path(tempfile.mkdtemp(prefix="videozoo-push-"))
    shutil.copytree(folder, staging, dirs_exist_ok=True, ignore=shutil.ignore_patterns(*SKIPPED_ON_PUSH))
    export_remote_code(staging)
    card.save(staging / "README.md")
    if eval_results is not None:
        (staging / "eval_results.json").write_text(json.dumps(_numeric_results(eval_results), indent=2))
    return staging


def push_checkpoint(
    folder: str | Path,
    repo_id: str,
    eval_results: str | Path | dict | None = None,
    dataset_name: str | None = None,
    private: bool = False,
    commit_message: str = "Upload videozoo checkpoint",
    token: str | None = None,
) -> str:
    """Validate, stage and upload a checkpoint folder; returns the commit URL. The folder is left untouched."""
    from huggingface_hub import HfApi
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError as error:
        raise HubExportError(f"invalid repo id {repo_id!r}: {error}") from error
    if "/" not in repo_id:
        raise HubExportError(f"repo id {repo_id!r} must be '<user or organisation>/<name>'")
    staging = stage_checkpoint(folder, repo_id, eval_results, dataset_name)
    try:
        api = HfApi(token=token)
        api.create_repo(repo_id, private=private, exist_ok=True)
        commit = api.upload_folder(folder_path=staging, repo_id=repo_id, commit_message=commit_message)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return str(getattr(commit, "commit_url", commit))


__all__ = [
    "HubExportError",
    "auto_map",
    "export_remote_code",
    "model_card",
    "push_checkpoint",
    "remote_code_files",
    "stage_checkpoint",
    "training_script",
    "validate_checkpoint",
]
