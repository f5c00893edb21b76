"""The wheel installs the auditor under its own name only, and an installed copy audits."""

from __future__ import annotations

import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_ships_one_top_level_package_and_audits(tmp_path: Path) -> None:
    # Build from a clean copy: setuptools never empties an existing build/ folder, so a
    # developer's tree could ship modules that no longer exist.
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, symlinks=True, ignore=shutil.ignore_patterns(
        ".git", "build", "dist", "*.egg-info", ".venv", "__pycache__", ".*_cache", ".hypothesis"))
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w",
                    str(dist), str(source)], check=True, capture_output=True)
    wheel = next(dist.glob("mlops_auditor-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/", 1)[0] for n in names if not n.split("/", 1)[0].endswith(".dist-info")}
    assert tops == {"mlops_auditor"}, tops
    for shipped in ("mlops_auditor/rules.yaml", "mlops_auditor/checks/__init__.py",
                    "mlops_auditor/schema/audit-result.schema.json", "mlops_auditor/py.typed",
                    "mlops_auditor/templates/report.html.j2"):
        assert shipped in names
    assert any(n.startswith("mlops_auditor/checks/catalogues/") for n in names)

    # A fresh venv that borrows the dependencies already installed here, with the wheel on top.
    env_dir = tmp_path / "venv"
    venv.create(env_dir, system_site_packages=True, with_pip=True)
    py = env_dir / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "--quiet", "--no-deps", "--force-reinstall",
                    str(wheel)], check=True, capture_output=True)
    probe = subprocess.run([str(py), "-c", "import mlops_auditor; print(mlops_auditor.__file__)"],
                           capture_output=True, text=True, check=True, cwd=tmp_path)
    assert str(env_dir) in probe.stdout
    target = tmp_path / "project"
    target.mkdir()
    (target / "train.py").write_text("from sklearn.svm import SVC\nSVC().fit([[0]], [0])\n")
    proc = subprocess.run([str(env_dir / "bin" / "mlops-audit"), "audit", str(target)],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Summary: 56 statements" in proc.stdout
