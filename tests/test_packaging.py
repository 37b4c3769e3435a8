"""An installed wheel works outside the checkout: grammar and backends ship as package data."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import shutil
import site
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT


def _running_site_packages() -> list[str]:
    """The site-packages folders of the interpreter running the tests, in sys.path order.

    In a virtual environment these are its own folders (and the base interpreter's, with
    --system-site-packages); elsewhere the interpreter's own, and the user site.
    """
    paths = sysconfig.get_paths()
    folders = [*site.getsitepackages(), paths["purelib"], paths["platlib"]]
    if site.ENABLE_USER_SITE:
        folders.append(site.getusersitepackages())
    seen: list[str] = []
    for folder in folders:
        if folder not in seen and Path(folder).is_dir():
            seen.append(folder)
    return seen


def _see_running_site_packages(python: Path) -> None:
    """Let a new environment import the running one's packages (numpy, pydantic, lark...).

    The dependencies were installed for the interpreter running the tests, which need not
    be the base interpreter: in a virtual environment the base has none of them. A .pth
    file in the new environment lists the running one's site-packages. Plain paths in a
    .pth file are appended to sys.path after the environment's own site-packages, and the
    .pth files inside them are not run, so the wheel installed here is the netspec that
    imports, never an editable install of the checkout.
    """
    own = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    lines = "".join(f"{folder}\n" for folder in _running_site_packages())
    (Path(own) / "running_environment.pth").write_text(lines)


def _cannot_build_wheels() -> str | None:
    """Why the running environment cannot build netspec's wheel offline, or None.

    The wheel is built without build isolation (no network), so the build-system
    requirements (setuptools>=68 and wheel; setuptools 70.1 and later build wheels on
    their own) must be installed, as the dev extra does.
    """
    try:
        version = importlib.metadata.version("setuptools")
    except importlib.metadata.PackageNotFoundError:
        return "setuptools is not installed"
    release = tuple(int(part) for part in version.split(".")[:2] if part.isdigit())
    if release < (68, 0):
        return f"setuptools {version} is older than the 68 the build needs"
    if release < (70, 1) and importlib.util.find_spec("wheel") is None:
        return f"setuptools {version} cannot build a wheel without the wheel package"
    return None


@pytest.mark.slow
def test_wheel_installs_and_checks_a_spec_outside_the_repo(tmp_path: Path) -> None:
    why = _cannot_build_wheels()
    if why is not None:
        pytest.skip(f"{why} (pip install -e '.[dev]' installs what building needs)")
    wheels = tmp_path / "wheels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(wheels),
            str(ROOT),
        ],
        check=True,
        cwd=tmp_path,
    )
    (wheel,) = wheels.glob("netspec-*.whl")
    # The standard library is package data: resnet18.net below imports std.resnet.
    shipped = set(zipfile.ZipFile(wheel).namelist())
    for module in ("resnet", "vgg", "inception"):
        assert f"netspec/std/{module}.net" in shipped, sorted(shipped)
    env_dir = tmp_path / "env"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    _see_running_site_packages(python)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--no-deps",
            "-q",
            str(wheel),
        ],
        check=True,
        cwd=tmp_path,
    )
    work = tmp_path / "elsewhere"
    work.mkdir()
    shutil.copy(ROOT / "specs" / "resnet18.net", work / "resnet18.net")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    where = subprocess.run(
        [str(python), "-c", "import netspec, netspec.grammars; print(netspec.__file__)"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
    )
    assert where.returncode == 0, where.stderr
    assert str(env_dir) in where.stdout, where.stdout
    script = env_dir / "bin" / "netspec"
    result = subprocess.run(
        [str(script), "check", "resnet18.net"], cwd=work, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "resnet18.net: ok (1 model)" in result.stdout


def test_every_package_folder_is_listed_for_the_wheel() -> None:
    import tomllib

    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    mapping = {
        "netspec": ROOT / "netspec",
        "netspec.grammars": ROOT / "grammars",
        "netspec.backends": ROOT / "backends",
    }
    found = set()
    for package, folder in mapping.items():
        for init in folder.rglob("__init__.py"):
            relative = init.parent.relative_to(folder).parts
            found.add(".".join((package, *relative)))
    assert found == listed, f"missing from pyproject: {found - listed}; stale: {listed - found}"
