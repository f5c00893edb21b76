"""The built-in checks, one module per area of evidence.

A check module has two public names: ``FACTS``, a mapping of every fact id it reports to what
that fact means, and ``collect(snapshot) -> list[Fact]``. Fact ids start with the module's name.
Third-party checks are modules of the same shape, registered under the entry-point group
``mlops_auditor.checks``.
"""

from __future__ import annotations

from types import ModuleType

from mlops_auditor.checks import (
    ci,
    docs,
    environment,
    experimentation,
    explainability,
    featurestore,
    iac,
    mlcode,
    monitoring,
    precommit,
    process,
    releases,
    serving,
    testing,
    tracking,
)

BUILTIN: tuple[ModuleType, ...] = (
    iac,
    ci,
    precommit,
    mlcode,
    testing,
    docs,
    releases,
    environment,
    serving,
    monitoring,
    tracking,
    featurestore,
    explainability,
    experimentation,
    process,
)
