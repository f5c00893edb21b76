"""Infrastructure defined as code (Terraform, CloudFormation/SAM, CDK, Pulumi, Bicep/ARM,
Kubernetes, Helm, Kustomize, Databricks asset bundles) and the environments built from it."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Container, Iterable
from dataclasses import dataclass, field
from typing import Any

from mlops_auditor.checks import common
from mlops_auditor.checks.common import as_list as _as_list
from mlops_auditor.model import Evidence, Fact
from mlops_auditor.snapshot import Snapshot, matching

FACTS = {
    "iac.present": "infrastructure defined as code found and parsed "
                   "(>=1 resource/template/manifest)",
    "iac.tools": "tools found: terraform, cloudformation, sam, cdk, pulumi, bicep, arm, "
                 "kubernetes, helm, kustomize, databricks-bundle",
    "iac.resources": "number of resources/definitions found",
    "iac.environments": "environment names (tfvars per env, bundle targets, pulumi stacks, "
                        "helm values-<env>, kustomize overlays, cdk stages)",
    "iac.preprod_and_prod": ">=1 pre-production env (dev/test/staging/qa/uat/acc/preprod) AND a "
                            "production env built from the same definitions",
    "iac.unparseable": "IaC files that could not be parsed (paths)",
    "iac.ml_infrastructure": "the IaC defines ML training or serving infrastructure itself "
                             "(SageMaker, Azure ML computes and endpoints, Vertex AI, Databricks "
                             "jobs and serving endpoints, KServe/Seldon/Ray, compute clusters)",
}

WHAT = ("infrastructure as code (Terraform resources or modules, CloudFormation/SAM templates, "
        "CDK apps, Pulumi projects, Bicep/ARM resources, Kubernetes manifests, Helm charts, "
        "kustomizations, Databricks asset bundles)")
ENV_WHAT = ("a pre-production and a production environment built from the same definitions "
            "(tfvars of one root module, env folders calling one module, targets of one bundle, "
            "stacks of one Pulumi project, values files of one chart, overlays of one base, "
            "stages of one CDK app)")

_TF_BLOCKS = ("resource", "data", "module", "provider", "terraform", "variable", "output", "locals")
_TFVARS_ASSIGNMENT = re.compile(r"^\s*[\w-]+\s*=", re.MULTILINE)
_BICEP_RESOURCE = re.compile(r"^\s*resource\s+(\w+)\s+'([\w.]+/[^'@]+)@[^']*'")
_BICEP_MODULE = re.compile(r"^\s*module\s+(\w+)\s+'([^']+)'")
_BICEP_USING = re.compile(r"^\s*using\s+'([^']+)'")
_CDK_CLASS = re.compile(
    r"\bclass\s+(\w+)\s*(?:\(\s*|\s+extends\s+|:\s*)(?:[\w.]+\.)?(Stack|Stage)\b")
_CDK_NEW = re.compile(
    r"(?:\bnew\s+)?\b([A-Z]\w*)\s*\(\s*(?:self|this|scope|[\w.]*[aA]pp)\s*,\s*[\"']([^\"']+)[\"']")
_HELM_VALUES = re.compile(r"^values(?:[-_.](.+))?\.ya?ml$", re.IGNORECASE)
_PULUMI_STACK = re.compile(r"^Pulumi\.(.+)\.ya?ml$", re.IGNORECASE)
_TOP_KIND = re.compile(r"^kind\s*:\s*\S")
_TOP_KEY = re.compile(r"^(apiVersion|kind|metadata)\s*:(.*)$")
_CFN_YAML_HINT = re.compile(r"^AWSTemplateFormatVersion\s*:|^\s+Type\s*:\s*[\"']?AWS::"
                            r"|^Transform\s*:.*AWS::Serverless", re.MULTILINE)
_K8S_API_HINT = re.compile(r"^apiVersion\s*:", re.MULTILINE)
_K8S_KIND_HINT = re.compile(r"^kind\s*:", re.MULTILINE)
_ARM_HINT = re.compile(r"[dD]eploymentTemplate\.json")
_TOKEN = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")


@dataclass(frozen=True)
class Definition:
    """One resource, template, manifest or program found, and where."""

    tool: str
    path: str
    line: int | None
    detail: str


@dataclass(frozen=True)
class EnvUse:
    """An environment and the definitions it is built from (``source``)."""

    name: str
    stage: str | None  # "preprod", "prod", or None when the name says neither
    source: str
    path: str
    line: int | None


@dataclass
class Scan:
    """Everything the check found, computed once per snapshot and shared through snap.memo."""

    files: set[str] = field(default_factory=set)
    definitions: list[Definition] = field(default_factory=list)
    envs: list[EnvUse] = field(default_factory=list)
    unparseable: list[str] = field(default_factory=list)
    notes: list[Evidence] = field(default_factory=list)  # summaries for iac.present
    empty: list[Evidence] = field(default_factory=list)  # IaC files defining nothing
    read: int = 0
    _seen: set[Definition] = field(default_factory=set)

    def define(self, tool: str, path: str, line: int | None, detail: str) -> None:
        self.files.add(path)
        definition = Definition(tool, path, line, detail)
        if definition not in self._seen:  # a file included by two bundles counts once
            self._seen.add(definition)
            self.definitions.append(definition)

    def env(self, name: str, source: str, path: str, line: int | None,
            stage: str | None = None) -> None:
        self.files.add(path)
        self.envs.append(EnvUse(name, stage or stage_of(name), source, path, line))

    def broken(self, path: str) -> None:
        if path not in self.unparseable:
            self.unparseable.append(path)


# -- public ---------------------------------------------------------------------------------


def iac_files(snap: Snapshot) -> list[str]:
    """Tracked paths holding infrastructure definitions (including IaC files that could not be
    parsed): what the process and ci checks treat as "a change to infrastructure"."""
    result: list[str] = snap.memo(
        "iac.files", lambda: sorted(_scan(snap).files | set(_scan(snap).unparseable)))
    return result


def collect(snap: Snapshot) -> list[Fact]:
    scan = _scan(snap)
    broken = tuple(sorted(scan.unparseable))
    if not scan.definitions and broken:
        reason = f"the only IaC files could not be parsed: {', '.join(broken[:5])}"
        evidence = common.unreadable(snap, broken)
        return [*(common.unknown(fid, reason, evidence) for fid in
                  ("iac.present", "iac.tools", "iac.resources", "iac.environments",
                   "iac.preprod_and_prod", "iac.ml_infrastructure")), _unparseable(snap, broken)]
    return [_present(snap, scan), _tools(scan), _resources(scan), _environments(scan),
            _preprod_and_prod(snap, scan), _unparseable(snap, broken), _ml_infrastructure(scan)]


def _ml_infrastructure(scan: Scan) -> Fact:
    """Definitions of the compute that trains or serves models (catalogue ml_infrastructure):
    with them in code, a run or deployment can be traced to the infrastructure it used. A
    workspace, a storage account or a generic Kubernetes Deployment is not enough."""
    pattern = re.compile(common.catalogue("iac")["ml_infrastructure"])
    items = [common.at(d.path, d.line, f"{d.tool}: {d.detail}") for d in scan.definitions
             if pattern.search(f"{d.tool}: {d.detail}")]
    return common.found("iac.ml_infrastructure", items, "ML training or serving infrastructure "
                        "(SageMaker, Azure ML computes/endpoints, Vertex AI, Databricks jobs or "
                        "serving endpoints, KServe/Seldon/Ray, compute clusters)",
                        f"{len(scan.definitions)} IaC definition(s)")


def stage_of(name: str) -> str | None:
    """"preprod", "prod" or None for an environment name, from the catalogue's word lists.

    Words inside the name count ("ml-dev", "ProdStage", "dev1"); "pre-prod" and "non-prod" are
    pre-production; a weak word (stage, test) yields to a production word."""
    words = common.catalogue("iac")["environments"]
    tokens: list[str] = [t.lower() for t in _TOKEN.findall(name)]
    merged: set[str] = set()
    i = 0
    while i < len(tokens):
        if tokens[i] in ("pre", "non") and i + 1 < len(tokens) and tokens[i + 1].startswith("prod"):
            merged.add(tokens[i] + tokens[i + 1])
            i += 2
            continue
        merged.add(tokens[i])
        i += 1
    weak = set(words["weak_preprod"])
    if merged & (set(words["preprod"]) - weak):
        return "preprod"
    if merged & set(words["prod"]):
        return "prod"
    if merged & weak:
        return "preprod"
    return None


# -- facts ----------------------------------------------------------------------------------


def _present(snap: Snapshot, scan: Scan) -> Fact:
    """True with the resources found; False with what was searched (and IaC files that define
    nothing, as counter-evidence)."""
    if scan.definitions:
        items = [common.at(d.path, d.line, f"{d.tool}: {d.detail}")
                 for d in scan.definitions[:12]]
        return Fact("iac.present", True, tuple([*items, *scan.notes][:20]))
    where = f"{len(snap.files)} tracked files ({scan.read} candidate files read)"
    return Fact("iac.present", False, (common.searched(WHAT, where), *scan.empty[:10]))


def _tools(scan: Scan) -> Fact:
    """The tools with at least one definition, in catalogue order; evidence: the first of each."""
    order: list[str] = common.catalogue("iac")["tools"]
    first: dict[str, Definition] = {}
    for d in scan.definitions:
        first.setdefault(d.tool, d)
    tools = tuple(t for t in order if t in first)
    return common.value("iac.tools", tools,
                        [common.at(first[t].path, first[t].line, f"{t}: {first[t].detail}")
                         for t in tools])


def _resources(scan: Scan) -> Fact:
    """How many resources/definitions were found, per tool."""
    counts: dict[str, list[Definition]] = {}
    for d in scan.definitions:
        counts.setdefault(d.tool, []).append(d)
    return common.value("iac.resources", len(scan.definitions),
                        [common.at(ds[0].path, ds[0].line, f"{tool}: {len(ds)} definition(s)")
                         for tool, ds in counts.items()])


def _environments(scan: Scan) -> Fact:
    """Environment names with where each is defined and what it is built from."""
    names = tuple(sorted({e.name for e in scan.envs}, key=lambda n: (n.lower(), n)))
    if not names:
        where = f"{len(scan.files)} IaC files"
        return common.value("iac.environments", (), [common.searched(
            "environment-specific definitions (tfvars per environment, bundle targets, Pulumi "
            "stacks, Helm values-<env>, kustomize overlays, CDK stages)", where)])
    return common.value("iac.environments", names, [_env_evidence(e) for e in scan.envs])


def _preprod_and_prod(snap: Snapshot, scan: Scan) -> Fact:
    """True when one set of definitions builds both a pre-production and a production
    environment; evidence names both and where. Environments built from different definitions
    (dev folder and prod folder with their own resources) do not count."""
    by_source: dict[str, list[EnvUse]] = {}
    for e in scan.envs:
        by_source.setdefault(e.source, []).append(e)
    items: list[Evidence] = []
    for source, uses in by_source.items():
        pre = [u for u in uses if u.stage == "preprod"]
        prod = [u for u in uses if u.stage == "prod"]
        if pre and prod:
            items += [common.at(pre[0].path, pre[0].line,
                                f"pre-production '{pre[0].name}' built from {source}"),
                      common.at(prod[0].path, prod[0].line,
                                f"production '{prod[0].name}' built from {source}")]
    if items:
        return Fact("iac.preprod_and_prod", True, tuple(items[:20]))
    found = "; ".join(f"{source}: {', '.join(sorted({u.name for u in uses}))}"
                      for source, uses in by_source.items())
    where = f"environments found ({found})" if found else f"{len(scan.files)} IaC files"
    counter = [_env_evidence(e) for e in scan.envs]
    return Fact("iac.preprod_and_prod", False,
                (common.searched(ENV_WHAT, where), *counter[:10],
                 *common.unreadable(snap, scan.unparseable)[:5]))


def _unparseable(snap: Snapshot, broken: tuple[str, ...]) -> Fact:
    """IaC files (by content or role) that could not be read or parsed, with the reason."""
    return common.value("iac.unparseable", broken, common.unreadable(snap, broken))


def _env_evidence(e: EnvUse) -> Evidence:
    stage = {"preprod": "pre-production", "prod": "production"}.get(e.stage or "", "unclassified")
    return common.at(e.path, e.line, f"environment '{e.name}' ({stage}) built from {e.source}")


# -- the scan -------------------------------------------------------------------------------


def _scan(snap: Snapshot) -> Scan:
    result: Scan = snap.memo("iac.scan", lambda: _scan_now(snap))
    return result


def _scan_now(snap: Snapshot) -> Scan:
    """One pass over the files each tool could hold; every tool reads only its own files."""
    scan = Scan()
    _terraform(snap, scan)
    _bicep(snap, scan)
    _cdk(snap, scan)
    _pulumi(snap, scan)
    _helm(snap, scan)
    _kustomize(snap, scan)
    _databricks_bundles(snap, scan)
    _templates(snap, scan)
    _sam_config(snap, scan)
    return scan


def _files(snap: Snapshot, kind: str) -> list[str]:
    """Tracked files matching the catalogue's patterns for KIND, minus vendored/CI paths."""
    cat = common.catalogue("iac")
    skipped = _skipped(snap)
    return [f for f in snap.glob(*cat["files"][kind]) if f not in skipped]


def _skipped(snap: Snapshot) -> frozenset[str]:
    """Vendored, generated and CI/tooling paths that are never infrastructure here."""
    skip = common.catalogue("iac")["skip"]
    result: frozenset[str] = snap.memo("iac.skipped", lambda: frozenset(snap.glob(*skip)))
    return result


# -- Terraform ------------------------------------------------------------------------------


@dataclass
class _TfFolder:
    files: list[str] = field(default_factory=list)
    resources: int = 0
    first_line: int | None = None  # of the first resource, in files[0]
    data: int = 0
    modules: list[tuple[str, str, int | None]] = field(default_factory=list)
    providers: set[str] = field(default_factory=set)
    backends: set[str] = field(default_factory=set)


def _terraform(snap: Snapshot, scan: Scan) -> None:
    """Terraform root modules (.tf / .tf.json folders) with their resources, data sources,
    module calls, providers and backend; environments from per-environment variable files and
    from environment folders that call the same module."""
    folders: dict[str, _TfFolder] = {}
    for path in _files(snap, "terraform"):
        parsed = snap.hcl(path)
        if not parsed.ok:
            scan.broken(path)
            continue
        _tf_body(path, parsed.value, folders, scan, None)
    for path in _files(snap, "terraform_json"):
        parsed = snap.json(path)
        if not parsed.ok:
            scan.broken(path)
            continue
        _tf_body(path, parsed.value, folders, scan, snap.lines(path))
    for folder, info in folders.items():
        _tf_summary(folder, info, scan)
        _tf_env_folder(folder, info, scan)
    _tfvars(snap, scan, folders)


def _tf_body(path: str, body: Any, folders: dict[str, _TfFolder], scan: Scan,
             json_lines: list[str] | None) -> None:
    """Record the blocks of one parsed Terraform file (HCL with line metadata, or JSON)."""
    if not isinstance(body, dict) or not any(k in body for k in _TF_BLOCKS):
        return
    info = folders.setdefault(posixpath.dirname(path), _TfFolder())
    info.files.append(path)
    scan.files.add(path)
    for rtype, name, rbody in _labelled(body.get("resource"), 2):
        line = _tf_line(rbody, name, json_lines)
        scan.define("terraform", path, line, f"resource {rtype}.{name}")
        if not info.resources and path == info.files[0]:
            info.first_line = line
        info.resources += 1
    info.data += len(list(_labelled(body.get("data"), 2)))
    for _, name, mbody in _labelled(body.get("module"), 1):
        source = mbody.get("source") if isinstance(mbody, dict) else None
        line = _tf_line(mbody, name, json_lines)
        scan.define("terraform", path, line, f"module {name} (source {source})")
        if isinstance(source, str):
            info.modules.append((source, path, line))
    info.providers.update(name for _, name, _ in _labelled(body.get("provider"), 1))
    for block in _as_list(body.get("terraform")):
        if isinstance(block, dict):
            info.backends.update(name for _, name, _ in _labelled(block.get("backend"), 1))


def _labelled(blocks: Any, depth: int) -> Iterable[tuple[str, str, Any]]:
    """(type, name, body) of Terraform blocks with DEPTH labels (resource "t" "n" = 2,
    module "n" = 1), from python-hcl2's list of dicts or Terraform JSON's nested dicts."""
    for block in _as_list(blocks):
        if not isinstance(block, dict):
            continue
        for first, inner in block.items():
            if first.startswith("__"):
                continue
            if depth == 1:
                yield "", first, inner
                continue
            for named in _as_list(inner):
                if isinstance(named, dict):
                    for name, body in named.items():
                        if not name.startswith("__"):
                            yield first, name, body


def _tf_line(body: Any, name: str, json_lines: list[str] | None) -> int | None:
    if json_lines is not None:
        return _key_line(json_lines, name)
    line = body.get("__start_line__") if isinstance(body, dict) else None
    return line if isinstance(line, int) else None


def _tf_summary(folder: str, info: _TfFolder, scan: Scan) -> None:
    """One line per Terraform folder: what it declares (data sources, providers and backend
    do not count as resources, but show what the module talks to)."""
    parts = [f"{info.resources} resource(s)", f"{info.data} data source(s)",
             f"{len(info.modules)} module call(s)"]
    if info.providers:
        parts.append("providers " + ", ".join(sorted(info.providers)))
    if info.backends:
        parts.append("backend " + ", ".join(sorted(info.backends)))
    detail = f"terraform folder {_shown(folder)}: " + "; ".join(parts)
    if info.resources or info.modules:
        scan.notes.append(common.at(info.files[0], None, detail))
    else:
        scan.empty.append(common.at(info.files[0], None, detail + " (defines nothing)"))


def _tf_env_folder(folder: str, info: _TfFolder, scan: Scan) -> None:
    """An environment folder (envs/prod/main.tf): built from the modules it calls, or from its
    own resources when it calls none (then no other environment shares them)."""
    name = _env_folder_name(folder)
    if name is None or not (info.resources or info.modules):
        return
    if not info.modules:
        scan.env(name, f"terraform root module {_shown(folder)}", info.files[0],
                 info.first_line)
    for source, path, line in info.modules:
        local = source.startswith(("./", "../"))
        key = posixpath.normpath(posixpath.join(folder, source)) if local else source
        scan.env(name, f"terraform module {key}", path, line)


def _tfvars(snap: Snapshot, scan: Scan, folders: dict[str, _TfFolder]) -> None:
    """Per-environment variable files (envs/prod.tfvars, environments/dev/terraform.tfvars,
    prod.auto.tfvars): environments of the nearest root module above them."""
    for path in _files(snap, "tfvars"):
        text = snap.text(path)
        if not text.ok:
            scan.broken(path)
            continue
        if not (_TFVARS_ASSIGNMENT.search(text.value) or text.value.lstrip().startswith("{")):
            continue
        scan.files.add(path)
        named = _tfvars_env(path)
        if named is None:
            continue
        name, container = named
        root = _nearest(posixpath.dirname(path), folders)
        source = (f"terraform root module {_shown(root)}" if root is not None
                  else f"terraform variable files under {_shown(container)}")
        scan.env(name, source, path, 1)


def _tfvars_env(path: str) -> tuple[str, str] | None:
    """(environment, folder of the environments) named by a tfvars file or its folder."""
    base = posixpath.basename(path)
    stem = re.sub(r"(\.auto)?\.tfvars(\.json)?$", "", base, flags=re.IGNORECASE)
    folder = posixpath.dirname(path)
    named = _env_from_stem(stem)
    if named:
        return named, folder
    here = _env_folder_name(folder)
    if here:
        return here, posixpath.dirname(folder)
    if _is_container(posixpath.basename(folder)) and _may_be_env(stem):
        return stem, folder
    return None


def _env_folder_name(folder: str) -> str | None:
    """The environment a folder names: an environment word, or any name (but shared-settings
    names) inside an environments folder (envs/blue)."""
    here = posixpath.basename(folder)
    if not here or not _may_be_env(here):
        return None
    if stage_of(here) or _is_container(posixpath.basename(posixpath.dirname(folder))):
        return here
    return None


def _is_container(name: str) -> bool:
    return name.lower() in common.catalogue("iac")["environments"]["containers"]


def _may_be_env(name: str) -> bool:
    return name.lower() not in common.catalogue("iac")["environments"]["not_environments"]


# -- Bicep / ARM ------------------------------------------------------------------------------


def _bicep(snap: Snapshot, scan: Scan) -> None:
    """Bicep `resource x 'Type@version'` and `module` declarations (`existing` references
    define nothing); .bicepparam files named per environment with `using` their template."""
    for path in _files(snap, "bicep"):
        declared = False
        for number, line in enumerate(snap.lines(path), start=1):
            resource = _BICEP_RESOURCE.match(line)
            module = _BICEP_MODULE.match(line)
            if resource and not re.search(r"\bexisting\b", line):
                scan.define("bicep", path, number, f"resource {resource[1]} ({resource[2]})")
                declared = True
            elif module:
                scan.define("bicep", path, number, f"module {module[1]} ({module[2]})")
                declared = True
        if not declared and snap.text(path).ok:
            scan.empty.append(common.at(path, None, "bicep file without resource or module"))
    for path in _files(snap, "bicepparam"):
        lines = snap.lines(path)
        using = next(((n, m[1]) for n, line in enumerate(lines, start=1)
                      if (m := _BICEP_USING.match(line))), None)
        if using is None:
            continue
        stem = posixpath.basename(path).rsplit(".", 1)[0]
        name = _env_from_stem(stem)
        scan.files.add(path)
        if name:
            template = posixpath.normpath(posixpath.join(posixpath.dirname(path), using[1]))
            scan.env(name, f"Bicep template {template}", path, using[0])


def _arm(path: str, value: Any, lines: list[str], scan: Scan) -> None:
    """ARM templates: a deploymentTemplate $schema and a resources list (or symbolic map)."""
    if not isinstance(value, dict) or "eploymentTemplate" not in str(value.get("$schema", "")):
        return
    resources = value.get("resources")
    items = list(resources.values()) if isinstance(resources, dict) else _as_list(resources)
    after = _key_line(lines, "resources") or 0
    for item in items:
        if not isinstance(item, dict):
            continue
        rtype = str(item.get("type", "?"))
        line = _line_of(lines, re.compile(r"\"type\"\s*:\s*\"" + re.escape(rtype) + "\""), after)
        after = line or after
        scan.define("arm", path, line, f"resource {rtype} {item.get('name', '')}".strip())


# -- CDK ------------------------------------------------------------------------------------------


def _cdk(snap: Snapshot, scan: Scan) -> None:
    """CDK apps: cdk.json with an "app" command; the app's sources that import the CDK library
    hold its Stack/Stage classes; stages instantiated with environment names (and stage keys
    of cdk.json's context) are environments of that app."""
    apps = {posixpath.dirname(p) for p in _files(snap, "cdk")}
    for path in _files(snap, "cdk"):
        parsed = snap.json(path)
        if not parsed.ok:
            scan.broken(path)
            continue
        config = parsed.value
        if not isinstance(config, dict) or not isinstance(config.get("app"), str):
            continue
        folder = posixpath.dirname(path)
        scan.files.add(path)
        sources = _cdk_sources(snap, folder, apps)
        classes = _cdk_classes(snap, sources, scan)
        if not classes:
            scan.define("cdk", path, _key_line(snap.lines(path), "app"),
                        f"CDK app: {config['app']}")
        _cdk_stages(snap, sources, classes, folder, scan)
        _cdk_context(snap, path, config.get("context"), scan)


def _cdk_sources(snap: Snapshot, folder: str, apps: set[str]) -> list[str]:
    """Source files of the app in FOLDER (not of an app nested below it) importing the CDK."""
    cat = common.catalogue("iac")["cdk"]
    prefix = f"{folder}/" if folder else ""
    skipped = _skipped(snap)
    candidates = [f for f in snap.files if f.startswith(prefix) and f.endswith(
        tuple(cat["extensions"])) and not f.endswith(".d.ts") and f not in skipped
        and not common.is_test_path(f) and _nearest(posixpath.dirname(f), apps) == folder]
    candidates = candidates[: cat["max_sources"]]
    return [f for f in candidates if (t := snap.text(f)).ok
            and any(marker in t.value for marker in cat["imports"])]


def _cdk_classes(snap: Snapshot, sources: list[str], scan: Scan) -> set[str]:
    classes: set[str] = set()
    for path in sources:
        scan.files.add(path)
        for number, line in enumerate(snap.lines(path), start=1):
            for match in _CDK_CLASS.finditer(line):
                classes.add(match[1])
                scan.define("cdk", path, number, f"CDK {match[2].lower()} class {match[1]}")
    return classes


def _cdk_stages(snap: Snapshot, sources: list[str], classes: set[str], folder: str,
                scan: Scan) -> None:
    for path in sources:
        for number, line in enumerate(snap.lines(path), start=1):
            if common.is_comment(line) or common.is_comment(line, "//"):
                continue
            for match in _CDK_NEW.finditer(line):
                cls, ident = match[1], match[2]
                if (cls in classes or cls.endswith(("Stack", "Stage"))) and stage_of(ident):
                    scan.env(ident, f"CDK app {_shown(folder)} class {cls}", path, number)


def _cdk_context(snap: Snapshot, path: str, context: Any, scan: Scan) -> None:
    """Stage configuration in cdk.json's context: environment-named keys, or the keys of an
    environments/stages mapping (all deployed by the same app)."""
    if not isinstance(context, dict):
        return
    lines = snap.lines(path)
    source = f"CDK app {_shown(posixpath.dirname(path))}"
    for key, val in context.items():
        if key in common.catalogue("iac")["cdk"]["stage_keys"] and isinstance(val, dict):
            for name in val:
                scan.env(str(name), source, path, _key_line(lines, str(name)))
        elif isinstance(val, dict) and stage_of(key):
            scan.env(key, source, path, _key_line(lines, key))


# -- Pulumi -----------------------------------------------------------------------------------


def _pulumi(snap: Snapshot, scan: Scan) -> None:
    """Pulumi projects (Pulumi.yaml with name and runtime); YAML programs list resources, other
    runtimes count as one program; Pulumi.<stack>.yaml beside the project are its stacks."""
    stacks = _files(snap, "pulumi_stack")
    for path in _files(snap, "pulumi_project"):
        parsed = snap.yaml(path)
        if not parsed.ok:
            scan.broken(path)
            continue
        project = parsed.value
        if not isinstance(project, dict) or not isinstance(project.get("name"), str):
            continue
        runtime = project.get("runtime")
        runtime = runtime.get("name") if isinstance(runtime, dict) else runtime
        if not isinstance(runtime, str):
            continue
        lines = snap.lines(path)
        resources = project.get("resources")
        if runtime == "yaml" and isinstance(resources, dict) and resources:
            after = _key_line(lines, "resources") or 0
            for name, body in resources.items():
                rtype = body.get("type") if isinstance(body, dict) else None
                scan.define("pulumi", path, _key_line(lines, str(name), after),
                            f"resource {name} ({rtype})")
        else:
            scan.define("pulumi", path, _key_line(lines, "runtime"),
                        f"project {project['name']} ({runtime} program)")
        folder = posixpath.dirname(path)
        for stack in stacks:
            match = _PULUMI_STACK.match(posixpath.basename(stack))
            if posixpath.dirname(stack) != folder or match is None:
                continue
            config = snap.yaml(stack)
            if not config.ok:
                scan.broken(stack)
            elif config.value is None or isinstance(config.value, dict):
                scan.env(match[1], f"Pulumi project {project['name']} ({path})", stack, 1)


# -- Helm / Kustomize -------------------------------------------------------------------------


def _helm(snap: Snapshot, scan: Scan) -> None:
    """Helm charts (Chart.yaml with apiVersion and name): the objects their templates render
    (top-level `kind:` lines), and values-<env>.yaml files of the chart as environments (when
    <env> is an environment name: values-gpu.yaml is a variant, not an environment)."""
    charts: dict[str, str] = {}
    for path in _files(snap, "helm_chart"):
        parsed = snap.yaml(path)
        if not parsed.ok:
            scan.broken(path)
            continue
        chart = parsed.value
        if isinstance(chart, dict) and isinstance(chart.get("apiVersion"), str) and \
                isinstance(chart.get("name"), str):
            charts[posixpath.dirname(path)] = path
            _helm_templates(snap, path, chart["name"], scan)
    for path in _files(snap, "helm_values"):
        match = _HELM_VALUES.match(posixpath.basename(path))
        owner = _helm_owner(path, charts)
        if match is None or owner is None:
            continue
        scan.files.add(path)
        env = match[1]
        if env and _may_be_env(env) and (
                stage_of(env) or _is_container(posixpath.basename(posixpath.dirname(path)))):
            scan.env(env, f"Helm chart {charts[owner]}", path, 1)


def _helm_templates(snap: Snapshot, chart: str, name: str, scan: Scan) -> None:
    """The objects a chart's templates/ render; a chart without any (an umbrella chart of
    dependencies) counts as one definition."""
    scan.files.add(chart)
    folder = posixpath.dirname(chart)
    prefix = f"{folder}/templates/" if folder else "templates/"
    rendered = 0
    for path in snap.files:
        if not path.startswith(prefix):
            continue
        scan.files.add(path)
        if not path.endswith((".yaml", ".yml", ".json")):
            continue
        for number, line in enumerate(snap.lines(path), start=1):
            if _TOP_KIND.match(line):
                scan.define("helm", path, number, f"chart {name} template: {line.strip()}")
                rendered += 1
    if not rendered:
        scan.define("helm", chart, 1, f"chart {name} (no templates with a kind)")


def _helm_owner(path: str, charts: dict[str, str]) -> str | None:
    """The chart a values file belongs to: the nearest chart folder above it (outside its
    templates), else the only chart in a sub-folder of the values file's folder."""
    folder = posixpath.dirname(path)
    owner = _nearest(folder, charts)
    if owner is not None:
        inside = posixpath.relpath(path, owner) if owner else path
        return None if inside.startswith(("templates/", "charts/")) else owner
    children = [c for c in charts if posixpath.dirname(c) == folder and c]
    return children[0] if len(children) == 1 else None


def _kustomize(snap: Snapshot, scan: Scan) -> None:
    """Kustomizations (kustomization.yaml with kustomize keys); leaf overlays that build on
    another kustomization and are named as environments (overlays/<env>, k8s/prod) are
    environments of the base they start from."""
    keys = set(common.catalogue("iac")["kustomize_keys"])
    found: dict[str, tuple[str, list[str]]] = {}
    for path in _files(snap, "kustomization"):
        parsed = snap.yaml(path)
        if not parsed.ok:
            scan.broken(path)
            continue
        doc = parsed.value
        if not isinstance(doc, dict) or not (doc.get("kind") == "Kustomization" or keys & set(doc)):
            continue
        refs = [r for k in ("resources", "bases", "components") for r in _as_list(doc.get(k))
                if isinstance(r, str)]
        scan.define("kustomize", path, 1, f"kustomization with {len(refs)} resource reference(s)")
        found[posixpath.dirname(path)] = (path, refs)
    bases: dict[str, list[str]] = {}
    for folder, (_, refs) in found.items():
        for ref in refs:
            if "://" in ref or ref.startswith(("github.com/", "git@")) or "?ref=" in ref:
                bases.setdefault(folder, []).append(ref)
            elif (target := posixpath.normpath(posixpath.join(folder, ref))) in found:
                bases.setdefault(folder, []).append(target)
    referenced = {b for targets in bases.values() for b in targets}
    for folder in bases:
        if folder in referenced or _env_folder_name(folder) is None:
            continue
        path = found[folder][0]
        line = _key_line(snap.lines(path), "resources") or _key_line(snap.lines(path), "bases")
        for root in _roots(folder, bases):
                scan.env(posixpath.basename(folder), f"kustomize base {_shown(root)}", path, line)


def _roots(folder: str, bases: dict[str, list[str]]) -> list[str]:
    """The kustomizations an overlay finally builds on (following overlays of overlays)."""
    roots: list[str] = []
    seen = {folder}
    todo = list(bases.get(folder, []))
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        if bases.get(current):
            todo.extend(bases[current])
        elif current not in roots:
            roots.append(current)
    return roots


# -- Databricks asset bundles -----------------------------------------------------------------


def _databricks_bundles(snap: Snapshot, scan: Scan) -> None:
    """Databricks asset bundles: databricks.yml with a `bundle:` mapping, the resources it and
    its `include:`d files declare, and its targets (environments; `mode: production` marks
    production)."""
    target_keys = common.catalogue("iac")["databricks_bundle"]["target_keys"]
    for path in _files(snap, "databricks_bundle"):
        parsed = snap.yaml(path)
        if not parsed.ok:
            scan.broken(path)
            continue
        bundle = parsed.value
        if not isinstance(bundle, dict) or not isinstance(bundle.get("bundle"), dict):
            continue
        scan.files.add(path)
        name = bundle["bundle"].get("name") or path
        source = f"Databricks bundle {name} ({path})"
        docs = [(path, bundle), *_bundle_includes(snap, path, bundle.get("include"), scan)]
        seen: set[tuple[str, str]] = set()
        for doc_path, doc in docs:
            lines = snap.lines(doc_path)
            _bundle_resources(doc_path, lines, doc.get("resources"), seen, scan)
            for key in target_keys:
                targets = doc.get(key)
                if not isinstance(targets, dict):
                    continue
                after = _key_line(lines, key) or 0
                for target, body in targets.items():
                    mode = body.get("mode") if isinstance(body, dict) else None
                    stage = "prod" if mode == "production" else stage_of(str(target)) or (
                        "preprod" if mode == "development" else None)
                    scan.env(str(target), source, doc_path,
                             _key_line(lines, str(target), after), stage)
                    if isinstance(body, dict):
                        _bundle_resources(doc_path, lines, body.get("resources"), seen, scan)
        if not seen:
            scan.define("databricks-bundle", path, _key_line(snap.lines(path), "bundle"),
                        f"bundle {name} (no resources declared)")


def _bundle_includes(snap: Snapshot, path: str, include: Any,
                     scan: Scan) -> list[tuple[str, dict[str, Any]]]:
    """The YAML files a bundle's `include:` globs name (relative to the bundle's folder)."""
    folder = posixpath.dirname(path)
    docs: list[tuple[str, dict[str, Any]]] = []
    for pattern in _as_list(include):
        if not isinstance(pattern, str):
            continue
        full = posixpath.normpath(posixpath.join(folder, pattern))
        hits = matching(snap.files, full)
        if "/" not in full:
            hits = [h for h in hits if "/" not in h]
        for hit in hits:
            if hit == path or not hit.endswith((".yml", ".yaml")):
                continue
            parsed = snap.yaml(hit)
            if not parsed.ok:
                scan.broken(hit)
            elif isinstance(parsed.value, dict):
                scan.files.add(hit)
                docs.append((hit, parsed.value))
    return docs


def _bundle_resources(path: str, lines: list[str], resources: Any,
                      seen: set[tuple[str, str]], scan: Scan) -> None:
    """jobs, pipelines, model_serving_endpoints, registered_models, experiments, ... by name
    (a target overriding a resource does not count it twice)."""
    if not isinstance(resources, dict):
        return
    for rtype, named in resources.items():
        if not isinstance(named, dict):
            continue
        after = _key_line(lines, str(rtype)) or 0
        for name in named:
            if (str(rtype), str(name)) in seen:
                continue
            seen.add((str(rtype), str(name)))
            scan.define("databricks-bundle", path, _key_line(lines, str(name), after),
                        f"{rtype}.{name}")


# -- CloudFormation / SAM / ARM / Kubernetes templates ---------------------------------------


def _templates(snap: Snapshot, scan: Scan) -> None:
    """YAML/JSON files that are not another tool's named file and whose text holds a telltale
    (AWSTemplateFormatVersion or AWS:: types; top-level apiVersion and kind; an ARM
    deploymentTemplate schema) are parsed; CI and compose files are never read."""
    cat = common.catalogue("iac")
    roles = set(snap.glob(*(p for kind in ("helm_chart", "kustomization", "pulumi_project",
                                           "pulumi_stack", "databricks_bundle", "cdk",
                                           "sam_config")
                            for p in cat["files"][kind])))
    for path in _files(snap, "templates"):
        if path in roles or path in scan.files or path in scan.unparseable or \
                path.lower().endswith((".tf.json", ".tfvars.json")) or \
                snap.size(path) > cat["max_template_bytes"]:
            continue
        text = snap.text(path)
        if not text.ok:
            continue
        scan.read += 1
        _template(snap, path, text.value, scan)


def _template(snap: Snapshot, path: str, text: str, scan: Scan) -> None:
    is_json = path.lower().endswith(".json") or (
        path.lower().endswith(".template") and text.lstrip().startswith("{"))
    if is_json:
        if _ARM_HINT.search(text):
            parsed = snap.json(path)
            kind = "arm"
        elif "AWSTemplateFormatVersion" in text or '"AWS::' in text:
            parsed = snap.json(path)
            kind = "cloudformation"
        else:
            return
    elif _CFN_YAML_HINT.search(text):
        parsed = snap.yaml(path)
        kind = "cloudformation"
    elif _CLUSTER_HEAD.search(text) and _CLUSTER_WORKERS.search(text):
        parsed = snap.yaml(path)
        if parsed.ok:
            _compute_cluster(path, parsed.value, snap.lines(path), scan)
        else:
            scan.broken(path)
        return
    elif _K8S_API_HINT.search(text) and _K8S_KIND_HINT.search(text):
        if len(text) > common.catalogue("iac")["max_manifest_parse_bytes"]:
            _kubernetes_by_lines(path, snap.lines(path), scan)
            return
        parsed = snap.yaml_all(path)
        kind = "kubernetes"
    else:
        return
    if not parsed.ok:
        scan.broken(path)
        return
    lines = snap.lines(path)
    if kind == "arm":
        _arm(path, parsed.value, lines, scan)
    elif kind == "cloudformation":
        _cloudformation(path, parsed.value, lines, scan)
    else:
        _kubernetes(path, parsed.value, lines, scan)


_CLUSTER_HEAD = re.compile(r"^head_node_type\s*:", re.MULTILINE)
_CLUSTER_WORKERS = re.compile(r"^(worker_node_types|available_node_types)\s*:", re.MULTILINE)


def _compute_cluster(path: str, config: Any, lines: list[str], scan: Scan) -> None:
    """Ray cluster launcher configs and Anyscale compute configs: a head node type and worker
    node types (instance types, counts, disks) declared as data, from which the platform builds
    the cluster a job or service runs on."""
    if not isinstance(config, dict) or "head_node_type" not in config:
        return
    workers = config.get("worker_node_types") or config.get("available_node_types")
    if not isinstance(workers, list | dict) or not workers:
        return
    head = config["head_node_type"]
    kind = head.get("instance_type") if isinstance(head, dict) else head
    scan.define("compute-cluster", path, _key_line(lines, "head_node_type"),
                f"cluster compute definition: head node {kind}, {len(workers)} worker node "
                "type(s)")


def _cloudformation(path: str, template: Any, lines: list[str], scan: Scan) -> None:
    """CloudFormation: AWSTemplateFormatVersion, or Resources whose Type is AWS::...; SAM when
    the Transform is AWS::Serverless-*."""
    if not isinstance(template, dict):
        return
    resources = template.get("Resources")
    typed = {str(name): body["Type"] for name, body in resources.items()
             if isinstance(body, dict) and isinstance(body.get("Type"), str)} \
        if isinstance(resources, dict) else {}
    if "AWSTemplateFormatVersion" not in template and \
            not any(t.startswith("AWS::") for t in typed.values()):
        return
    sam = any(isinstance(t, str) and t.startswith("AWS::Serverless")
              for t in _as_list(template.get("Transform")))
    tool = "sam" if sam else "cloudformation"
    scan.files.add(path)
    after = _key_line(lines, "Resources") or 0
    for name, rtype in typed.items():
        scan.define(tool, path, _key_line(lines, name, after), f"{rtype} {name}")
    if not typed:
        scan.empty.append(common.at(path, None, f"{tool} template without Resources"))


def _kubernetes(path: str, docs: Any, lines: list[str], scan: Scan) -> None:
    """Kubernetes manifests: documents with apiVersion, kind and metadata (a `kind:` without
    apiVersion is some other tool's config); tool configs such as skaffold are left out."""
    not_manifests = tuple(common.catalogue("iac")["kubernetes"]["not_manifests"])
    kind_lines = [n for n, line in enumerate(lines, start=1) if _TOP_KIND.match(line)]
    index = 0
    for doc in _as_list(docs):
        if not isinstance(doc, dict) or "kind" not in doc:
            continue
        line = kind_lines[index] if index < len(kind_lines) else None
        index += 1
        api, kind, meta = doc.get("apiVersion"), doc.get("kind"), doc.get("metadata")
        if isinstance(api, str) and isinstance(kind, str) and isinstance(meta, dict) and \
                not api.startswith(not_manifests):
            scan.define("kubernetes", path, line, f"{kind} {meta.get('name', '')} ({api})")


def _kubernetes_by_lines(path: str, lines: list[str], scan: Scan) -> None:
    """A large manifest stream read by each document's top-level apiVersion, kind and metadata
    lines (a full YAML parse of megabytes of CRDs costs seconds)."""
    not_manifests = tuple(common.catalogue("iac")["kubernetes"]["not_manifests"])
    doc: dict[str, tuple[str, int]] = {}
    for number, line in enumerate([*lines, "---"], start=1):
        if line.startswith("---"):
            if {"apiVersion", "kind", "metadata"} <= set(doc) and \
                    not doc["apiVersion"][0].startswith(not_manifests):
                kind, at_line = doc["kind"]
                scan.define("kubernetes", path, at_line, f"{kind} ({doc['apiVersion'][0]})")
            doc = {}
            continue
        match = _TOP_KEY.match(line)
        if match and match[1] not in doc:
            doc[match[1]] = (match[2].strip().strip("\"'"), number)


def _sam_config(snap: Snapshot, scan: Scan) -> None:
    """samconfig.toml/yaml: each named configuration ([prod.deploy.parameters]) deploys the
    SAM/CloudFormation template(s) of its folder to one environment."""
    templates = {posixpath.dirname(d.path) for d in scan.definitions
                 if d.tool in ("sam", "cloudformation")}
    for path in _files(snap, "sam_config"):
        parsed = snap.toml(path) if path.endswith(".toml") else snap.yaml(path)
        if not parsed.ok:
            scan.broken(path)
            continue
        if not isinstance(parsed.value, dict):
            continue
        folder = posixpath.dirname(path)
        source = (f"SAM/CloudFormation template(s) in {_shown(folder)}" if folder in templates
                  else f"SAM configuration {path}")
        lines = snap.lines(path)
        for name, body in parsed.value.items():
            if name in ("version", "default") or not isinstance(body, dict):
                continue
            pattern = re.compile(r"^\s*\[\s*[\"']?" + re.escape(str(name)) + r"[\"']?[.\]]")
            line = _line_of(lines, pattern) if path.endswith(".toml") else \
                _key_line(lines, str(name))
            scan.env(str(name), source, path, line)


# -- small helpers ------------------------------------------------------------------------------


def _key_line(lines: list[str], key: str, after: int = 0) -> int | None:
    """1-based line of the first `key:` (YAML) or `"key":` (JSON) after line AFTER."""
    return _line_of(lines, re.compile(r"^\s*(?:-\s+)?[\"']?" + re.escape(key) + r"[\"']?\s*:"),
                    after)


def _line_of(lines: list[str], pattern: re.Pattern[str], after: int = 0) -> int | None:
    for index in range(after, len(lines)):
        if pattern.search(lines[index]):
            return index + 1
    return None


def _nearest(folder: str, known: Container[str]) -> str | None:
    """FOLDER or the closest folder above it that is in KNOWN ("" is the repository root)."""
    current = folder
    while True:
        if current in known:
            return current
        if not current:
            return None
        current = posixpath.dirname(current)


def _env_from_stem(stem: str) -> str | None:
    """The environment a file name's stem names: the whole stem ("prod-eu") or its last
    dot-separated part that is one ("main.prod")."""
    if stage_of(stem) and "." not in stem:
        return stem
    for part in reversed(stem.split(".")):
        if stage_of(part):
            return part
    return None


def _shown(folder: str) -> str:
    return folder or "."
