"""Configuration readers shared by the code-reading checks: Terraform blocks, CloudFormation and
Bicep/ARM resources, YAML documents, bundle resources and CI files, each memoised per snapshot.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from mlops_auditor import parsers
from mlops_auditor.checks import common
from mlops_auditor.checks.common import as_list
from mlops_auditor.model import Evidence, Fact
from mlops_auditor.snapshot import Snapshot


def _cat() -> dict[str, Any]:
    return common.catalogue("monitoring")


# =============================================================================================
# Configuration readers shared by the checks: Terraform, CloudFormation, YAML documents, CI.
# =============================================================================================

@dataclass(frozen=True)
class Block:
    """A Terraform block or a CloudFormation resource: its type, name and body."""

    path: str
    kind: str  # "resource", "data", "provider" (Terraform) or "cloudformation"
    type: str
    name: str
    body: Any
    line: int | None


def terraform_blocks(snap: Snapshot) -> tuple[list[Block], list[str]]:
    """Resources, data sources and providers of ``*.tf`` / ``*.tf.json`` (and unparseable
    paths). Nothing is evaluated."""
    result: tuple[list[Block], list[str]] = snap.memo(
        "monitoring.terraform", lambda: _terraform_blocks(snap))
    return result


def _terraform_blocks(snap: Snapshot) -> tuple[list[Block], list[str]]:
    blocks: list[Block] = []
    bad: list[str] = []
    for path in snap.glob("**/*.tf", "**/*.tf.json"):
        parsed = snap.json(path) if path.endswith(".json") else snap.hcl(path)
        if not parsed.ok:
            bad.append(path)
            continue
        doc = parsed.value if isinstance(parsed.value, dict) else {}
        for kind in ("resource", "data"):
            for entry in as_list(doc.get(kind)):
                for rtype, named in _items(entry):
                    for name, body in _items(named):
                        blocks.append(Block(path, kind, rtype, name, body, body_line(body)))
        for entry in as_list(doc.get("provider")):
            for name, body in _items(entry):
                for one in as_list(body):
                    blocks.append(Block(path, "provider", name, name, one, body_line(one)))
    return blocks, bad


def _items(value: Any) -> list[tuple[str, Any]]:
    return [(str(k), v) for k, v in value.items()] if isinstance(value, dict) else []


def body_line(body: Any) -> int | None:
    line = body.get("__start_line__") if isinstance(body, dict) else None
    return line if isinstance(line, int) else None


def cfn_resources(snap: Snapshot) -> tuple[list[Block], list[str]]:
    """CloudFormation/SAM resources (templates with a ``Resources`` mapping of ``AWS::`` types)
    and the template-looking files that could not be parsed."""
    result: tuple[list[Block], list[str]] = snap.memo(
        "monitoring.cloudformation", lambda: _cfn_resources(snap))
    return result


def _cfn_resources(snap: Snapshot) -> tuple[list[Block], list[str]]:
    blocks: list[Block] = []
    bad: list[str] = []
    for path in snap.glob("**/*.yaml", "**/*.yml", "**/*.json", "**/*.template"):
        if snap.size(path) > 1024 * 1024:
            continue
        text = snap.text(path)
        if not text.ok or "AWS::" not in text.value or "Resources" not in text.value:
            continue
        parsed = snap.json(path) if path.endswith(".json") else snap.yaml(path)
        if not parsed.ok:
            bad.append(path)
            continue
        resources = parsed.value.get("Resources") if isinstance(parsed.value, dict) else None
        for logical, res in _items(resources):
            if isinstance(res, dict) and isinstance(res.get("Type"), str):
                line = common.first_line(text.value, re.compile(
                    rf"^\s*\"?{re.escape(logical)}\"?\s*:"))
                blocks.append(Block(path, "cloudformation", res["Type"], logical,
                                    res.get("Properties") or {}, line))
    return blocks, bad


_BICEP_RESOURCE = re.compile(r"^\s*resource\s+(\w+)\s+'([^'@]+)@[^']*'\s+(existing\b)?")
_BLOCK_COMMENT = re.compile(r"/\*.*?\*/", re.S)


def azure_resources(snap: Snapshot) -> tuple[list[Block], list[str]]:
    """Azure resources declared in Bicep (``resource name 'Type@version' = {...}``; references
    to ``existing`` resources and commented-out declarations left out) and ARM JSON templates
    (``$schema`` of a deployment template), with the ARM files that could not be parsed."""
    result: tuple[list[Block], list[str]] = snap.memo(
        "monitoring.azure", lambda: _azure_resources(snap))
    return result


def _azure_resources(snap: Snapshot) -> tuple[list[Block], list[str]]:
    blocks: list[Block] = []
    bad: list[str] = []
    for path in snap.glob("**/*.bicep"):
        text = snap.text(path)
        if not text.ok:
            continue
        code = _BLOCK_COMMENT.sub(lambda m: "\n" * m.group(0).count("\n"), text.value)
        for number, line in enumerate(code.split("\n"), start=1):
            match = _BICEP_RESOURCE.match(line)
            if match and not match.group(3):
                blocks.append(Block(path, "bicep", match.group(2), match.group(1), {}, number))
    for path in snap.glob("**/*.json"):
        if snap.size(path) > 1024 * 1024:
            continue
        text = snap.text(path)
        if not text.ok or "deploymentTemplate" not in text.value:
            continue
        parsed = snap.json(path)
        if not parsed.ok:
            bad.append(path)
            continue
        for key, val, mapping in walk(parsed.value):
            if key == "type" and isinstance(val, str) and val.startswith("Microsoft.") and \
                    "apiVersion" in mapping:
                name = str(mapping.get("name", ""))
                blocks.append(Block(path, "arm", val, name, mapping.get("properties") or {},
                                    common.first_line(text.value, re.compile(re.escape(val)))))
    return blocks, bad


@dataclass(frozen=True)
class YamlFile:
    path: str
    docs: tuple[Any, ...]
    text: str
    error: str | None  # the parse error of the file as it is (also when read detemplated)


def yaml_files(snap: Snapshot) -> list[YamlFile]:
    """Every tracked YAML file (up to 1 MiB) with its documents; unparseable ones keep their
    text and error. Templated files (Helm charts, Jinja) that do not parse as they are are read
    again with their template expressions replaced (see ``detemplated``)."""
    result: list[YamlFile] = snap.memo("monitoring.yaml", lambda: _yaml_files(snap))
    return result


_MULTI_DOC = re.compile(r"\n---")


def _yaml_files(snap: Snapshot) -> list[YamlFile]:
    skip = set(snap.glob(*common.NOT_PROJECT_CODE))
    files = []
    for path in snap.glob("**/*.yml", "**/*.yaml"):
        if path in skip or snap.size(path) > 1024 * 1024:
            continue
        text = snap.text(path)
        if not text.ok:
            continue
        # Single-document files share the parse other checks make (snap.yaml).
        if _MULTI_DOC.search(text.value):
            parsed = snap.yaml_all(path)
            docs = tuple(parsed.value) if parsed.ok and isinstance(parsed.value, list) else ()
        else:
            parsed = snap.yaml(path)
            docs = (parsed.value,) if parsed.ok and parsed.value is not None else ()
        if not parsed.ok:
            plain = detemplated(text.value)
            if plain is not None:
                try:
                    docs = tuple(d for d in parsers.load_yaml_all(plain) if d is not None)
                except parsers.ParseError:
                    docs = ()
        files.append(YamlFile(path, docs, text.value, parsed.error))
    return files


_TEMPLATE = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}")
_TEMPLATE_ONLY = re.compile(r"^\s*(-\s*)?((\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\})\s*)+$")


def detemplated(text: str) -> str | None:
    """TEXT of a Helm/Jinja-templated YAML file made parseable, line numbers kept: lines that
    are only template tags (``{{- if ... }}``, ``{% for %}``, ``{{ toYaml ... }}``) are blanked
    and other expressions become the word ``TEMPLATED`` (``weight: {{ .Values.w }}`` reads as
    ``weight: TEMPLATED``). Nothing is evaluated: both branches of a condition stay. None when
    the text holds no template expression."""
    if "{{" not in text and "{%" not in text:
        return None
    lines = ["" if _TEMPLATE_ONLY.match(line) else _TEMPLATE.sub("TEMPLATED", line)
             for line in text.split("\n")]
    return "\n".join(lines)


def walk(value: Any) -> Iterator[tuple[str, Any, dict[Any, Any]]]:
    """Every (key, value, mapping) pair in nested dicts and lists. Each container is visited
    once, so YAML aliases (shared objects) cannot multiply the work."""
    stack = [value]
    seen: set[int] = set()
    while stack:
        item = stack.pop()
        if isinstance(item, (dict, list)):
            if id(item) in seen:
                continue
            seen.add(id(item))
        if isinstance(item, dict):
            for k, v in item.items():
                yield str(k), v, item
                stack.append(v)
        elif isinstance(item, list):
            stack.extend(item)


def key_line(text: str, key: str) -> int | None:
    return common.first_line(text, re.compile(rf"^\s*-?\s*[\"']?{re.escape(key)}[\"']?\s*:"))


def kind_docs(snap: Snapshot, kinds: Iterable[str]) -> list[tuple[YamlFile, dict[str, Any]]]:
    """Kubernetes-style documents (``kind:``) of the given kinds."""
    wanted = set(kinds)
    return [(y, doc) for y in yaml_files(snap) for doc in y.docs
            if isinstance(doc, dict) and isinstance(doc.get("kind"), str)
            and doc["kind"] in wanted]


def ci_files(snap: Snapshot) -> list[str]:
    return snap.glob(*_cat()["ci_files"])


def verdict(fact_id: str, items: list[Evidence], what: str, where: str,
            counter: Iterable[Evidence] = (), unparsed: Iterable[str] = (),
            snap: Snapshot | None = None) -> Fact:
    """True with evidence; else False with what was searched, the counter-evidence and the
    relevant files that could not be parsed."""
    if items:
        return common.found(fact_id, unique(items), what, where)
    extra = list(counter)
    if snap is not None:
        extra += common.unreadable(snap, unparsed)
    return Fact(fact_id, False, (common.searched(what, where), *extra[:19]))


def unique(items: Iterable[Evidence]) -> list[Evidence]:
    """Evidence without repeats (a chained call is one call per link, on the same line)."""
    seen: set[tuple[str | None, int | None, str]] = set()
    kept = []
    for e in items:
        key = (e.path, e.line, e.detail)
        if key not in seen:
            seen.add(key)
            kept.append(e)
    return kept


def typed_blocks(snap: Snapshot, tf_types: Iterable[str], cfn_types: Iterable[str],
            azure_types: Iterable[str] = ()) -> tuple[list[Evidence], list[str]]:
    """Evidence for Terraform, CloudFormation and Azure (Bicep/ARM) resources of the given
    types, and the IaC files that could not be parsed."""
    tf, tf_bad = terraform_blocks(snap)
    cfn, cfn_bad = cfn_resources(snap)
    azure, azure_bad = azure_resources(snap)
    wanted_tf, wanted_cfn = set(tf_types), set(cfn_types)
    wanted_azure = {t.lower() for t in azure_types}
    items = [common.at(b.path, b.line, f"resource {b.type}.{b.name}")
             for b in tf if b.kind == "resource" and b.type in wanted_tf]
    items += [common.at(b.path, b.line, f"{b.type} {b.name}") for b in cfn
              if b.type in wanted_cfn]
    items += [common.at(b.path, b.line, f"{b.type} {b.name}") for b in azure
              if b.type.lower() in wanted_azure]
    return items, tf_bad + cfn_bad + azure_bad


def bundle_resources(snap: Snapshot, kinds: Iterable[str]
                     ) -> list[tuple[YamlFile, str, str, dict[str, Any]]]:
    """Databricks bundle resources of the given kinds: (file, kind, name, body)."""
    wanted = set(kinds)
    found = []
    for y in yaml_files(snap):
        for doc in y.docs:
            resources = doc.get("resources") if isinstance(doc, dict) else None
            if not isinstance(resources, dict):
                continue
            for kind, named in resources.items():
                if kind in wanted and isinstance(named, dict):
                    for name, body in named.items():
                        if isinstance(body, dict):
                            found.append((y, str(kind), str(name), body))
    return found


