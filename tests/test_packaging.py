"""The install files agree with each other and the package ships what it needs."""

from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

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


@pytest.mark.parametrize("dataset", ["kinetics400", "hmdb51", "ucf101"])
def test_shipped_class_lists_are_the_shared_ones(shared_data, dataset):
    from actionkit import resources

    shipped = getattr(resources, f"{dataset}_classes")()
    assert list(shipped) == (shared_data / f"{dataset}_classes.txt").read_text().splitlines()
