"""The install files agree with each other and the package ships what it needs."""

from pathlib import Path

import tomllib
import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]


def _normalize(requirements):
    return {
        Requirement(r).name.lower().replace("_", "-"): str(Requirement(r).specifier)
        for r in requirements
    }


def test_environment_yml_lists_the_same_pins_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = _normalize(project["dependencies"] + project["optional-dependencies"]["fast"])
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    listed = _normalize(r for r in pip_section if not r.startswith("-e"))
    assert listed == wanted


def test_torch_range_admits_the_offline_wheel():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = _normalize(project["dependencies"])
    assert Requirement("torch" + pins["torch"]).specifier.contains("2.14.1")
    assert Requirement("torchvision" + pins["torchvision"]).specifier.contains("0.29.1")


def test_class_lists_ship_as_package_data():
    from actionkit.resources import hmdb51_classes, kinetics400_classes, ucf101_classes

    assert len(kinetics400_classes()) == 400
    assert len(hmdb51_classes()) == 51
    assert len(ucf101_classes()) == 101
    shared = ROOT.parent / "shared" / "data" / "kinetics400_classes.txt"
    if shared.exists():
        assert list(kinetics400_classes()) == shared.read_text().split("\n")[:400]
