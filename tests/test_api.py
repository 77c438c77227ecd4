"""The top-level API (lazy, complete) and the README: its code imports, its commands parse, its
model table is the registry."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

import actionkit
from actionkit.cli import build_parser
from actionkit.models import list_models

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
GUIDE = (ROOT / "video_annotation" / "README.md").read_text(encoding="utf-8")

TOUR = (
    "create_model", "list_models", "load_model", "save_model", "VideoDataset", "Learner",
    "TrainConfig", "evaluate", "predict", "predict_timeline", "open_video",
)  # fmt: skip


def code_blocks(language: str, text: str = README) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.S)


def test_import_actionkit_loads_no_heavy_module():
    code = (
        "import sys, actionkit; "
        "print(sorted(m for m in ('torch', 'torchvision', 'av', 'numpy', 'accelerate') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_tour_names_come_from_their_modules():
    import actionkit.data.dataset
    import actionkit.inference.timeline
    import actionkit.models._registry
    import actionkit.train.learner
    from actionkit import Learner, VideoDataset, create_model, predict_timeline

    assert VideoDataset is actionkit.data.dataset.VideoDataset
    assert Learner is actionkit.train.learner.Learner
    assert create_model is actionkit.models._registry.create_model
    assert predict_timeline is actionkit.inference.timeline.predict_timeline
    for name in TOUR:
        assert callable(getattr(actionkit, name)), name


def test_all_lists_every_export_and_dir_shows_them():
    assert set(actionkit.__all__) == {"__version__", *actionkit._EXPORTS}
    assert set(TOUR) <= set(actionkit.__all__)
    assert set(actionkit.__all__) <= set(dir(actionkit))
    for name in actionkit.__all__:
        getattr(actionkit, name)


def test_an_unknown_name_is_an_attribute_error_naming_it():
    with pytest.raises(AttributeError, match="'actionkit' has no attribute 'Lerner'"):
        actionkit.Lerner  # noqa: B018
    with pytest.raises(ImportError):
        from actionkit import Lerner  # noqa: F401


@pytest.mark.parametrize("text", [README, GUIDE], ids=["README", "labeling guide"])
def test_the_readme_python_imports_work(text):
    lines = [
        line
        for block in code_blocks("python", text)
        for line in re.findall(r"^from actionkit[^\n(]*(?:\([^)]*\))?[^\n]*", block, flags=re.M)
    ]
    assert len(lines) >= (2 if text is README else 1)
    for line in lines:
        exec(compile(line, "README.md", "exec"), {})


@pytest.mark.parametrize("text", [README, GUIDE], ids=["README", "labeling guide"])
def test_the_readme_commands_parse(text):
    parser = build_parser()
    commands = [
        shlex.split(line.split("#")[0])[1:]
        for block in code_blocks("bash", text)
        for line in block.replace("\\\n", " ").splitlines()
        if line.startswith("actionkit ")
    ]
    assert len(commands) >= (10 if text is README else 4)
    for argv in commands:
        args = parser.parse_args(argv)  # exits (fails the test) on an unknown option
        assert callable(args.run), argv


def test_the_readme_model_table_is_the_registry():
    section = README.split("## Models", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    documented = {name for row in rows for name in re.findall(r"`([a-z0-9_]+)`", row.split("|")[1])}
    assert documented == set(list_models())


def test_the_readme_module_map_is_the_tree():
    section = README.split("## The package", 1)[1].split("### Renamed", 1)[0]
    listed = set()
    for room, modules in re.findall(r"^\| `(\w+)/` \| ([^|]*) \|", section, flags=re.M):
        listed |= {f"{room}.{m}" for m in re.findall(r"`(\w+)`", modules)}
    package = ROOT / "actionkit"
    in_tree = {
        f"{folder.name}.{path.stem}"
        for folder in package.iterdir()
        if folder.is_dir() and (folder / "__init__.py").exists() and folder.name != "resources"
        for path in folder.glob("*.py")
        if path.stem != "__init__" or folder.name == "cli"
    }
    assert listed == in_tree


def test_the_readme_layers_are_the_contracts_in_its_order():
    from tests.test_layout import layers

    section = README.split("## The package", 1)[1].split("### Renamed", 1)[0]
    rows = re.findall(r"^\| (`\w+/?`(?:, `\w+`)*) \|", section, flags=re.M)
    shown = [name for row in rows for name in re.findall(r"`(\w+)/?`", row)]
    contract = [room.removeprefix("actionkit.") for layer in layers() for room in layer]
    assert shown == contract
