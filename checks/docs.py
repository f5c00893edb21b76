"""Documentation: written sections with real content under them (goals, team, risks, data, model
choice, architecture, retraining, roll-back), whether they kept up with the code, and docstrings."""

from __future__ import annotations

import ast
import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

from mlops_auditor.checks import common, mlcode
from mlops_auditor.history import Commit
from mlops_auditor.model import Evidence, Fact
from mlops_auditor.snapshot import Snapshot, matching

TOPICS = ("business_goals", "team", "model_risk", "data_preparation", "data_definition",
          "model_choice", "architecture", "retraining", "rollback")
# The topics of statements that ask for documents "kept up to date" or written for the code as
# it is: each is judged against the code it describes (docs.stale).
DATED_TOPICS = TOPICS[:7]

FACTS = {
    "docs.business_goals": "a section on business goals, objectives or KPIs with content under it",
    "docs.team": "a section on the team, owners or responsibilities with content, or a "
                 "CODEOWNERS/MAINTAINERS file naming people",
    "docs.model_risk": "a section on risks, limitations, bias or failure modes with content",
    "docs.data_preparation": "a section on data collection, cleaning or preprocessing that says "
                             "why (a motivation), not only what",
    "docs.data_definition": "a section defining the data: data dictionary, features, schema, "
                            "columns",
    "docs.model_choice": "a section on the choice of model that justifies it (because, compared "
                         "with, outperforms, trade-off)",
    "docs.architecture": "a section on the architecture, architecture decision records, an "
                         "ARCHITECTURE document or diagrams as code",
    "docs.retraining": "a section on retraining: when and how the model is trained again",
    "docs.rollback": "a section on rolling back to a previous model version, or a runbook",
    "docs.code_documented": "documentation as code: at least 60% of public functions and classes "
                            "have docstrings, or a docs site is generated from the code",
    "docs.docstring_share": "share of public functions and classes (tests excluded) with a "
                            "docstring; None when there is no Python code",
    "docs.stale": "documented topics (of business_goals, team, model_risk, data_preparation, "
                  "data_definition, model_choice, architecture) every counted document of "
                  "which last changed more than stale_after_days (catalogue, 365) before the "
                  "last change by a person to the code it describes (the data or training "
                  "step files; for architecture, code files added or removed; else any code "
                  "or config, of the document's folder when it holds code); None when the "
                  "history is missing or shallow",
}


# -- reading documents into headings and sections -------------------------------------------

@dataclass(frozen=True)
class Heading:
    level: int
    title: str
    start: int  # 0-based index of the heading's first line (an overline, or the title)
    end: int  # 0-based index of its last line (the title, or its underline)
    line: int  # 0-based index of the title line


@dataclass(frozen=True)
class Document:
    """A text split into lines, with the lines that are markup rather than content marked."""

    path: str
    lines: list[str]
    headings: list[Heading]
    code: list[bool]  # True for lines inside fenced code blocks (and the fences)
    fences: list[tuple[int, str, list[str]]]  # (line index, info string, block lines)
    cells: list[int] | None = None  # notebook cell number of each line

    @cached_property
    def heading_lines(self) -> frozenset[int]:
        """Indexes of the lines that belong to headings (overlines, titles, underlines)."""
        return frozenset(i for h in self.headings for i in range(h.start, h.end + 1))

    def where(self, index: int) -> tuple[int | None, str]:
        """Line number for evidence (None in notebooks) and a prefix naming the cell."""
        if self.cells is None:
            return index + 1, ""
        return None, f"cell {self.cells[min(index, len(self.cells) - 1)] + 1}: "


_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})\s*([^`]*)$")
_NOT_PARAGRAPH = re.compile(r"^\s*([-*+>|]|\d+[.)]\s|#|```|~~~)|^ {4}")
_RST_ADORNMENT = re.compile(r"""^([=\-~^"'`#*+:._])\1+\s*$""")
_COMMENT = re.compile(r"<!--.*?-->", re.S)


def _blank_keep_lines(match: re.Match[str]) -> str:
    return "\n" * match.group(0).count("\n")


def parse_document(path: str, text: str, cells: list[int] | None = None) -> Document:
    """Split TEXT into lines and find its headings (reStructuredText for .rst, else Markdown).

    HTML comments and YAML front matter (Hugging Face model cards) are blanked, keeping line
    numbers, so that template instructions and metadata are not read as content."""
    text = _COMMENT.sub(_blank_keep_lines, text)
    lines = text.split("\n")
    rst = path.lower().endswith(".rst")
    if not rst and lines[0].strip() == "---":
        for i in range(1, min(len(lines), 400)):
            if lines[i].strip() in ("---", "..."):
                lines[: i + 1] = [""] * (i + 1)
                break
    code, fences = _fenced(lines)
    headings = _rst_headings(lines) if rst else _markdown_headings(lines, code)
    return Document(path, lines, headings, code, fences, cells)


def _fenced(lines: list[str]) -> tuple[list[bool], list[tuple[int, str, list[str]]]]:
    code = [False] * len(lines)
    fences: list[tuple[int, str, list[str]]] = []
    opened: tuple[int, str, str] | None = None  # (index, fence, info)
    for i, line in enumerate(lines):
        match = _FENCE.match(line)
        if opened is None:
            if match:
                opened = (i, match.group(1), match.group(2).strip())
                code[i] = True
            continue
        code[i] = True
        if match and match.group(1)[0] == opened[1][0] and len(match.group(1)) >= len(opened[1]) \
                and not match.group(2).strip():
            fences.append((opened[0], opened[2], lines[opened[0] + 1 : i]))
            opened = None
    if opened is not None:  # an unclosed fence runs to the end, as in CommonMark
        fences.append((opened[0], opened[2], lines[opened[0] + 1 :]))
    return code, fences


def _markdown_headings(lines: list[str], code: list[bool]) -> list[Heading]:
    headings: list[Heading] = []
    for i, line in enumerate(lines):
        if code[i]:
            continue
        atx = _ATX.match(line)
        if atx:
            headings.append(Heading(len(atx.group(1)), (atx.group(2) or "").strip(), i, i, i))
            continue
        if i and _SETEXT.match(line) and not code[i - 1]:
            above = lines[i - 1]
            taken = bool(headings) and headings[-1].end == i - 1
            if above.strip() and not taken and not _NOT_PARAGRAPH.match(above):
                level = 1 if line.strip().startswith("=") else 2
                headings.append(Heading(level, above.strip(), i - 1, i, i - 1))
    return headings


def _rst_headings(lines: list[str]) -> list[Heading]:
    """Title lines with an underline (and maybe an overline) at least as long as the title;
    levels follow the order in which adornment styles first appear, as in docutils."""
    styles: list[tuple[str, bool]] = []
    headings: list[Heading] = []
    i = 0
    while i + 1 < len(lines):
        title, under = lines[i], lines[i + 1]
        over = i > 0 and bool(_RST_ADORNMENT.match(lines[i - 1]))
        if (title.strip() and not title[0].isspace() and not _RST_ADORNMENT.match(title)
                and _RST_ADORNMENT.match(under) and len(under.rstrip()) >= len(title.rstrip())):
            style = (under[0], over and lines[i - 1][0] == under[0])
            if style not in styles:
                styles.append(style)
            start = i - 1 if style[1] else i
            headings.append(Heading(styles.index(style) + 1, title.strip(), start, i + 1, i))
            i += 2
            continue
        i += 1
    return headings


@dataclass(frozen=True)
class Section:
    document: Document
    heading: Heading
    first: int  # first body line index
    last: int  # one past the last body line index


def sections(document: Document) -> list[Section]:
    """Each heading with its body: the lines up to the next heading of the same or a higher
    level (subsections belong to the body)."""
    result = []
    for n, heading in enumerate(document.headings):
        last = len(document.lines)
        for later in document.headings[n + 1 :]:
            if later.level <= heading.level:
                last = later.start
                break
        result.append(Section(document, heading, heading.end + 1, last))
    return result


_MARKUP = re.compile(r"[*_`]+|\[([^\]]*)\]\([^)]*\)|:[a-z_]+:|\s+#+\s*$")
_NUMBERING = re.compile(r"^(\d+(\.\d+)*\.?|[ivx]+\.|[a-z]\))\s+", re.I)


def clean_title(title: str) -> str:
    title = _MARKUP.sub(lambda m: m.group(1) or "", title)
    title = _NUMBERING.sub("", title.strip())
    return title.strip().strip("-\u2013\u2014:?!.").strip()


# -- judging the content under a heading ------------------------------------------------------

@dataclass(frozen=True)
class Substance:
    words: int
    items: int
    diagrams: int
    text: str  # the content left once markup and placeholders are removed
    placeholders: int  # lines that held only a placeholder (TODO, TBD, coming soon ...)


_LIST_ITEM = re.compile(r"^\s*([-*+•]|\d+[.)]|#\.)\s+")
_TABLE_SEPARATOR = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")
_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]+\)|<img\s|^\s*\.\.\s+(image|figure)::")
_TAG = re.compile(r"<[^>\n]*>")
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_WORD = re.compile(r"[^\W\d_]{2,}")
_RST_DIRECTIVE = re.compile(r"^\s*\.\.\s")


def _compiled(key: str) -> re.Pattern[str]:
    return common.ignorecase(str(common.catalogue("docs")["substance"][key]))


def substance(document: Document, first: int, last: int) -> Substance:
    """Measure the content of lines FIRST..LAST: words of prose, list/table items and diagrams.

    Headings of subsections, code blocks, HTML tags and comments, placeholder lines ("TODO",
    "TBD", "coming soon", "[More Information Needed]") and template brackets are not content."""
    placeholder_line = _compiled("placeholder_line")
    placeholder_words = _compiled("placeholder_words")
    placeholder_bracket = _compiled("placeholder_bracket")
    words = items = diagrams = placeholders = 0
    kept: list[str] = []
    for i in range(first, last):
        line = document.lines[i]
        if i in document.heading_lines or document.code[i]:
            continue
        if _IMAGE.search(line):
            diagrams += 1
        if _TABLE_SEPARATOR.match(line) and "-" in line:
            if "|" in line:
                items -= 1  # the row above was the table's header
            continue
        if _RST_DIRECTIVE.match(line):
            continue
        content = _LINK.sub(lambda m: m.group(1), _TAG.sub(" ", line))
        content = placeholder_bracket.sub(" ", content)
        bare = _LIST_ITEM.sub("", content).strip().strip("|").strip().strip("*_").strip()
        if not bare:
            continue
        if placeholder_line.search(bare):
            placeholders += 1
            continue
        content = placeholder_words.sub(" ", content)
        found = len(_WORD.findall(content))
        if not found:
            continue
        words += found
        if _LIST_ITEM.match(line) or "|" in line:
            items += 1
        kept.append(bare)
    diagrams += sum(1 for index, info, block in document.fences
                    if first <= index < last and _is_diagram(info, block))
    return Substance(words, max(items, 0), diagrams, " ".join(kept), placeholders)


def _is_diagram(info: str, block: list[str]) -> bool:
    """A mermaid or PlantUML block that draws a structure with a few lines of content."""
    catalogue = common.catalogue("docs")
    body = [line.strip() for line in block if line.strip() and not line.strip().startswith("%%")]
    kind = info.split()[0].lower() if info.split() else ""
    enough = len(body) >= int(catalogue["diagram_min_lines"])
    if kind == "mermaid":
        first = body[0].split()[0].lower() if body else ""
        return enough and first in catalogue["mermaid_kinds"]
    return enough and kind in ("plantuml", "puml", "structurizr", "d2")


def is_substantive(found: Substance, diagrams_count: bool = False) -> bool:
    rules = common.catalogue("docs")["substance"]
    return (found.words >= int(rules["min_words"]) or found.items >= int(rules["min_items"])
            or (diagrams_count and found.diagrams > 0))


# -- documents of the project -----------------------------------------------------------------

def _skipped(path: str) -> bool:
    catalogue = common.catalogue("docs")
    name = posixpath.basename(path)
    stem = name.rsplit(".", 1)[0] if "." in name else name
    return bool(common.ignorecase(catalogue["skip_names"]).match(stem) or
                matching([path], *common.NOT_PROJECT_CODE, *catalogue["skip_paths"]))


def documents(snap: Snapshot) -> tuple[list[Document], list[str]]:
    """Every readable document of the project (Markdown, reStructuredText, README text files,
    notebooks' markdown cells), and the paths that could not be read."""
    def load() -> tuple[list[Document], list[str]]:
        catalogue = common.catalogue("docs")
        result: list[Document] = []
        failed: list[str] = []
        for path in snap.glob(*catalogue["sources"]):
            if _skipped(path):
                continue
            text = snap.text(path)
            if text.ok:
                result.append(parse_document(path, text.value))
            else:
                failed.append(path)
        for path in snap.glob(*catalogue["notebooks"]):
            if _skipped(path):
                continue
            cells = snap.notebook(path)
            if not cells.ok:
                failed.append(path)
                continue
            lines: list[str] = []
            owner: list[int] = []
            for number, (kind, source) in enumerate(cells.value):
                if kind == "markdown":
                    cell_lines = [*source.split("\n"), ""]
                    lines += cell_lines
                    owner += [number] * len(cell_lines)
            result.append(parse_document(path, "\n".join(lines), owner))
        return result, failed

    found: tuple[list[Document], list[str]] = snap.memo("docs.documents", load)
    return found


# -- topics -----------------------------------------------------------------------------------

@dataclass
class Findings:
    support: list[Evidence]
    counter: list[Evidence]


def _matches(title: str, topic: dict[str, Any], key: str) -> bool:
    return any(common.ignorecase(p).search(title) for p in topic.get(key) or ())


def topic_sections(documents_: list[Document]) -> dict[str, Findings]:
    """For each topic: sections whose heading names it and whose body has content (and the cue
    the topic asks for), and counter-evidence for headings with nothing (or no cue) under them."""
    topics: dict[str, Any] = common.catalogue("docs")["topics"]
    results = {name: Findings([], []) for name in TOPICS}
    for document in documents_:
        title = title_heading(document)
        for section in sections(document):
            text = clean_title(section.heading.title)
            if not text:
                continue
            for name, topic in topics.items():
                plain = _matches(text, topic, "headings")
                cued = _matches(text, topic, "cue_headings")
                if not (plain or cued) or _matches(text, topic, "not_headings"):
                    continue
                # A cue (a motivation, a justification) must come from the section itself: a
                # title section is judged on its introduction.
                judged = _introduction(section) if section.heading is title and not plain \
                    else section
                _judge(judged, text, name, topic, plain, results[name])
    return results


def title_heading(document: Document) -> Heading | None:
    """The document's title: its first heading when no other heading has the same or a higher
    level, so that its section is the whole document (a notebook's "# 01 - Data Analysis and
    Preparation" above a series of sections). For topics that need a cue, a title section is
    judged on its introduction only (see ``_introduction``)."""
    if not document.headings:
        return None
    first = document.headings[0]
    if any(h.level <= first.level for h in document.headings[1:]):
        return None
    return first


def _introduction(section: Section) -> Section:
    """A title section cut to its introduction (up to the first subsection): the rest of the
    document is a series of sections judged under their own headings, and a motivation or a
    justification found anywhere in a long document says nothing about the title's topic."""
    later = [h.start for h in section.document.headings if h.start > section.heading.end]
    last = min(later) if later else section.last
    return Section(section.document, section.heading, section.first, min(last, section.last))


def _judge(section: Section, title: str, name: str, topic: dict[str, Any], plain: bool,
           findings: Findings) -> None:
    document = section.document
    line, cell = document.where(section.heading.line)
    content = substance(document, section.first, section.last)
    if not is_substantive(content, diagrams_count=name == "architecture"):
        why = "only a placeholder" if content.placeholders else "no content"
        findings.counter.append(common.at(
            document.path, line, f"{cell}heading '{title}' has {why} under it, not counted"))
        return
    if not plain and not (common.ignorecase(topic["cue"]).search(content.text)
                          or _enough_definitions(section, topic)):
        findings.counter.append(common.at(
            document.path, line,
            f"{cell}heading '{title}' has content but does not give "
            f"{topic.get('cue_name', 'the cue it needs')}: "
            f"{content.text}"))
        return
    if topic.get("subject") and not _cue_about_subject(content.text, topic):
        findings.counter.append(common.at(
            document.path, line, f"{cell}heading '{title}': its justification does not name "
                                 f"{topic.get('subject_name', 'its subject')}: {content.text}"))
        return
    findings.support.append(common.at(document.path, line, f"{cell}'{title}': {content.text}"))


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def _cue_about_subject(text: str, topic: dict[str, Any]) -> bool:
    """Whether one sentence of TEXT gives the cue and names the topic's subject ("we chose
    gradient boosted trees because ..."): a reason about something else (a schedule, a
    monitoring baseline) next to a model mentioned elsewhere is not a justification of it."""
    cue, subject = common.ignorecase(topic["cue"]), common.ignorecase(topic["subject"])
    return any(cue.search(s) and subject.search(s) for s in _SENTENCE_END.split(text))


_DEFINITION = re.compile(
    r"^\s*(?:[-*+]|\d+[.)])?\s*(?:\*\*|__|`)?[A-Za-z_][\w.\-]{0,40}(?:\*\*|__|`)?"
    r"\s*(?:\([^)]{0,30}\)\s*)?(?::|\s[-\u2013\u2014=]\s)\s*\S+\s+\S+")
_TABLE_ROW = re.compile(r"^\s*\|?\s*`?[A-Za-z_][\w.\-]{0,40}`?\s*\|\s*[^|\s][^|]*\|")


def _enough_definitions(section: Section, topic: dict[str, Any]) -> bool:
    """Whether the section defines at least ``definitions`` (catalogue) named things, one per
    line: list items or lines like "`fare`: total fare in dollars" / "age - years since birth",
    or table rows whose first cell is a name. A list of tasks or steps names no field."""
    needed = int(topic.get("definitions") or 0)
    if not needed:
        return False
    document = section.document
    count = sum(1 for i in range(section.first, section.last)
                if not document.code[i] and i not in document.heading_lines
                and (_DEFINITION.match(document.lines[i]) or _TABLE_ROW.match(document.lines[i])))
    return count >= needed


# -- team evidence outside documents -----------------------------------------------------------

_OWNER = re.compile(r"(^|\s)(@[\w.-]+(/[\w.-]+)?|[\w.+-]+@[\w-]+\.[\w.-]+)")


def codeowners_rules(snap: Snapshot) -> list[Evidence]:
    """CODEOWNERS lines that give a path at least one owner: a named owner is a team member with
    a responsibility. A path with no owner removes ownership and does not count."""
    hits: list[Evidence] = []
    for path in snap.glob(*common.catalogue("docs")["codeowners"]):
        if path not in common.catalogue("docs")["codeowners"]:
            continue
        rules = [(n, line) for n, line in enumerate(snap.lines(path), start=1)
                 if line.strip() and not line.lstrip().startswith(("#", "["))
                 and len(line.split()) >= 2 and _OWNER.search(line.split(None, 1)[1])]
        if rules:
            n, line = rules[0]
            hits.append(common.at(path, n, f"{len(rules)} ownership rule(s), first: {line}"))
    return hits


def maintainers_files(snap: Snapshot) -> list[Evidence]:
    """MAINTAINERS/OWNERS files that name people (an e-mail, a @handle, a list item or a table
    row with a name); OWNERS files in the Prow YAML shape count with a non-empty list."""
    catalogue = common.catalogue("docs")
    names = common.ignorecase(catalogue["maintainers"])
    hits: list[Evidence] = []
    for path in snap.files:
        if not names.match(posixpath.basename(path)) or matching([path], *common.NOT_PROJECT_CODE):
            continue
        people = _owners_yaml(snap, path, catalogue["owners_yaml_keys"])
        if not people:
            people = [(n, line.strip()) for n, line in enumerate(snap.lines(path), start=1)
                      if _names_person(line)]
        if people:
            n, line = people[0]
            hits.append(common.at(path, n, f"{len(people)} person(s) named, first: {line}"))
    return hits


def _names_person(line: str) -> bool:
    text = line.strip()
    if not text or text.startswith(("#", "<!--")) or _TABLE_SEPARATOR.match(text):
        return False
    bare = _LIST_ITEM.sub("", text).strip("|* ")
    if not bare or _compiled("placeholder_line").search(bare):
        return False
    if _OWNER.search(text):
        return True
    return bool(_LIST_ITEM.match(text) and len(_WORD.findall(bare)) >= 2)


def _owners_yaml(snap: Snapshot, path: str, keys: list[str]) -> list[tuple[int, str]]:
    if "." in posixpath.basename(path):
        return []
    data = snap.yaml(path)
    if not data.ok or not isinstance(data.value, dict):
        return []
    people: list[str] = []
    for key in keys:
        listed = data.value.get(key)
        if isinstance(listed, list):
            people += [p for p in listed if isinstance(p, str) and p.strip()]
    if not people:
        return []
    line = common.first_line(snap.text(path).value or "", re.compile(r"^\s*-\s*\S"))
    return [(line or 1, p) for p in people]


# -- architecture evidence outside headings ------------------------------------------------------

def adr_records(snap: Snapshot, documents_: list[Document]) -> list[Evidence]:
    """Architecture decision records with content: files in an ADR folder (the usual folders
    and the one `.adr-dir` names), and MADR-shaped files elsewhere. Each record counts."""
    catalogue = common.catalogue("docs")
    folders = [f.strip("/") for f in catalogue["adr_folders"]]
    if snap.exists(".adr-dir"):
        named = (snap.text(".adr-dir").value or "").strip().strip("/")
        if named and ".." not in named:
            folders.append(posixpath.normpath(named))
    skip = common.ignorecase(catalogue["adr_skip_names"])
    context = common.ignorecase(catalogue["adr_headings"]["context"])
    decision = common.ignorecase(catalogue["adr_headings"]["decision"])
    hits: list[Evidence] = []
    for document in documents_:
        if document.cells is not None:
            continue
        in_folder = any(document.path.lower().startswith(f.lower() + "/") for f in folders)
        titles = [clean_title(h.title) for h in document.headings]
        madr = any(context.match(t) for t in titles) and any(decision.match(t) for t in titles)
        if not (in_folder or madr) or skip.match(posixpath.basename(document.path)):
            continue
        content = substance(document, 0, len(document.lines))
        if is_substantive(content):
            title = titles[0] if titles else posixpath.basename(document.path)
            hits.append(common.at(document.path, 1, f"architecture decision record: {title}"))
    return hits


def architecture_documents(documents_: list[Document]) -> list[Evidence]:
    """An ARCHITECTURE document (by name) whose whole text has content, whatever its headings."""
    names = common.ignorecase(common.catalogue("docs")["architecture_documents"])
    hits = []
    for document in documents_:
        if names.match(posixpath.basename(document.path)):
            content = substance(document, 0, len(document.lines))
            if is_substantive(content, diagrams_count=True):
                hits.append(common.at(document.path, 1, f"architecture document: {content.text}"))
    return hits


_MD_IMAGE = re.compile(r"!\[([^\]]*)\]\(\s*<?([^)\s>]+)")
_HTML_IMAGE = re.compile(r"<img\s[^>]*>", re.I)
_ATTRIBUTE = re.compile(r"""\b(src|alt|title)\s*=\s*["']([^"']*)["']""", re.I)


def architecture_images(documents_: list[Document]) -> list[Evidence]:
    """Architecture diagrams drawn as images, under any heading: Markdown or HTML images whose
    file name, path or alt text names an architecture or a system view (catalogue
    ``architecture_images``: "architecture", "diagram", "lifecycle", "systems-design"), in a
    document that also has content of its own (a diagram alone documents nothing). Badges,
    screenshots and logos are not named that way."""
    names = common.ignorecase(common.catalogue("docs")["architecture_images"])
    hits: list[Evidence] = []
    for document in documents_:
        found: list[tuple[int, str]] = []
        for i, text_line in enumerate(document.lines):
            if document.code[i]:
                continue
            images = [f"{alt} {src}" for alt, src in _MD_IMAGE.findall(text_line)]
            images += [" ".join(v for _, v in _ATTRIBUTE.findall(tag))
                       for tag in _HTML_IMAGE.findall(text_line)]
            found += [(i, text) for text in images if names.search(text)]
        if found and is_substantive(substance(document, 0, len(document.lines))):
            i, text = found[0]
            line, cell = document.where(i)
            hits.append(common.at(document.path, line, f"{cell}architecture diagram: "
                                                        f"{' '.join(text.split())}"))
    return hits


def diagrams(snap: Snapshot, documents_: list[Document]) -> list[Evidence]:
    """Diagrams as code: Structurizr, PlantUML, mermaid and D2 files with a few lines of
    content, and mermaid/PlantUML blocks in the documents."""
    catalogue = common.catalogue("docs")
    hits: list[Evidence] = []
    for path in snap.glob(*catalogue["diagram_files"]):
        if matching([path], *common.NOT_PROJECT_CODE):
            continue
        body = [line for line in snap.lines(path)
                if line.strip() and not line.strip().startswith(("'", "%%", "//", "#", "@"))]
        if len(body) >= int(catalogue["diagram_min_lines"]):
            hits.append(common.at(path, 1, f"diagram as code ({len(body)} lines)"))
    for document in documents_:
        for index, info, block in document.fences:
            if _is_diagram(info, block):
                line, cell = document.where(index)
                hits.append(common.at(document.path, line, f"{cell}{info.split()[0]} diagram: "
                                      f"{' '.join(b.strip() for b in block[:3])}"))
    return hits


# -- kept up to date -------------------------------------------------------------------------

@dataclass(frozen=True)
class Described:
    """The code a document describes: an ML step's files, or else the project code in FOLDER
    ("" for the whole project), any change to it or only files added and removed."""

    what: str
    files: tuple[str, ...]
    folder: str
    structure: bool


@dataclass(frozen=True)
class Dated:
    """One document judged: the commit that last changed it, the newest change to the code it
    describes (the path and commit; None when no commit changes them) and the verdict."""

    document: Evidence
    described: Described
    document_commit: Commit | None
    code_path: str | None
    code_commit: Commit | None
    lag: int | None  # seconds from the document's last change to the code's, when both exist
    stale: bool


def counted_documents(findings: dict[str, Findings]) -> dict[str, list[Evidence]]:
    """For each dated topic, the first support evidence of each file its fact counted: only
    documents that answer the statement are judged for staleness."""
    result: dict[str, list[Evidence]] = {}
    for topic in DATED_TOPICS:
        seen: dict[str, Evidence] = {}
        for item in findings[topic].support:
            if item.path is not None:
                seen.setdefault(item.path, item)
        if seen:
            result[topic] = list(seen.values())
    return result


def code_matcher() -> Callable[[str], bool]:
    """Whether a path is project code or config (catalogue ``staleness.code``; vendored
    folders, lock files and documents left out), memoised per path: the same paths come back
    in commit after commit."""
    rules = common.catalogue("docs")["staleness"]
    included, excluded = list(rules["code"]), [*rules["not_code"], *common.NOT_PROJECT_CODE]
    known: dict[str, bool] = {}

    def is_code(path: str) -> bool:
        if path not in known:
            known[path] = bool(matching([path], *included)) and not matching([path], *excluded)
        return known[path]

    return is_code


def _folders(path: str) -> list[str]:
    """The folders that hold PATH, the whole project ("") first."""
    parts = path.split("/")[:-1]
    return ["", *("/".join(parts[: i + 1]) for i in range(len(parts)))]


def code_folders(snap: Snapshot, is_code: Callable[[str], bool]) -> set[str]:
    """Folders of today's tree that hold project code or config, at any depth."""
    return {folder for path in snap.files if is_code(path) for folder in _folders(path)}


def described_code(path: str, describes: str, step_files: dict[str, list[str]],
                   folders: set[str]) -> Described:
    """What the document at PATH describes, for a topic that DESCRIBES ``all`` project code,
    its ``structure`` or an ML step (catalogue ``staleness.describes``). A document in a folder
    that holds code describes that code (an example's or a service's README); one at the top,
    or in a documentation or hidden folder (catalogue ``project_wide``), the whole project. A
    step topic is judged against the step's files in that folder, else all the step's files,
    else (no such file) the project code."""
    folder = posixpath.dirname(path)
    wide = common.ignorecase(common.catalogue("docs")["staleness"]["project_wide"])
    if folder not in folders or any(wide.match(part) for part in folder.split("/")):
        folder = ""
    where = f" in {folder}/" if folder else ""
    files = step_files.get(describes, [])
    inside = [f for f in files if f.startswith(folder + "/")] if folder else []
    if inside:
        return Described(f"the {describes} step files{where}", tuple(inside), "", False)
    if files:
        return Described(f"the {describes} step files", tuple(files), "", False)
    if describes == "structure":
        return Described(f"code or config files added or removed{where}", (), folder, True)
    return Described(f"any project code or config{where}", (), folder, False)


@dataclass
class LastChanges:
    """Newest-first index of the commit that last changed each wanted path; per folder, of
    the newest non-bot commit that changed project code in it, and of the newest that added
    or removed a code file there (a change of structure), each with the path it changed."""

    documents: dict[str, int]
    code_files: dict[str, int]
    any_code: dict[str, tuple[int, str]]
    structure: dict[str, tuple[int, str]]


def last_changes(commits: list[Commit], documents: set[str], code_files: set[str],
                 folders: set[str], is_code: Callable[[str], bool]) -> LastChanges:
    """One walk over the first-parent history, newest first, that stops as soon as every
    wanted path and both kinds of code change in every wanted folder are found (no git call
    per file). Any commit counts as a change to a document; a bot's commit is not a change to
    the code (dependency bumps and formatting fixes do not change what documents describe)."""
    found = LastChanges({}, {}, {}, {})
    docs_left, code_left = set(documents), set(code_files)
    scopes: dict[str, list[str]] = {}
    for index, commit in enumerate(commits):
        human = not commit.is_bot
        for status, path in commit.changes:
            if path in docs_left:
                found.documents[path] = index
                docs_left.discard(path)
            if not human:
                continue
            if path in code_left:
                found.code_files[path] = index
                code_left.discard(path)
            if path not in scopes:
                scopes[path] = [f for f in _folders(path) if f in folders] if is_code(path) \
                    else []
            for folder in scopes[path]:
                found.any_code.setdefault(folder, (index, path))
                if status in ("A", "D"):
                    found.structure.setdefault(folder, (index, path))
        if not (docs_left or code_left) and len(found.structure) == len(folders):
            break
    return found


def _newest(indexes: dict[str, int], paths: tuple[str, ...]) -> tuple[int, str] | None:
    known = [(indexes[p], p) for p in paths if p in indexes]
    return min(known) if known else None


def date_documents(snap: Snapshot, counted: dict[str, list[Evidence]]
                   ) -> dict[str, list[Dated]]:
    """Each counted document of each topic against the code it describes: stale when that
    code changed more than ``stale_after_days`` (catalogue) after the document last did. The
    ML step files are only looked up when a topic needs them."""
    rules = common.catalogue("docs")["staleness"]
    limit = int(rules["stale_after_days"]) * 86400
    describes = {t: str(rules["describes"].get(t, "all")) for t in counted}
    steps = set(describes.values()) - {"all", "structure"}
    step_files = mlcode.step_files(snap) if steps else {}
    is_code = code_matcher()
    folders = code_folders(snap, is_code)
    described = {(topic, e.path or ""): described_code(e.path or "", describes[topic],
                                                       step_files, folders)
                 for topic, items in counted.items() for e in items}
    commits = snap.history.commits
    found = last_changes(commits, {path for _, path in described},
                         {f for d in described.values() for f in d.files},
                         {d.folder for d in described.values() if not d.files}, is_code)
    dated: dict[str, list[Dated]] = {}
    for topic, items in counted.items():
        for item in items:
            what = described[(topic, item.path or "")]
            document = found.documents.get(item.path or "")
            code = _newest(found.code_files, what.files) if what.files else \
                (found.structure if what.structure else found.any_code).get(what.folder)
            doc_commit = commits[document] if document is not None else None
            code_commit = commits[code[0]] if code else None
            lag = code_commit.committed - doc_commit.committed \
                if doc_commit and code_commit else None
            dated.setdefault(topic, []).append(Dated(
                item, what, doc_commit, code[1] if code else None, code_commit, lag,
                lag is not None and lag > limit))
    return dated


def freshest(documents_: list[Dated]) -> Dated:
    """The document of a topic that keeps closest to its code: the topic is stale only when
    every one of its documents is. Documents no commit changes are judged last."""
    return min(documents_, key=lambda d: (d.document_commit is None,
                                          d.lag if d.lag is not None else -(1 << 62)))


def _day(commit: Commit) -> str:
    return datetime.fromtimestamp(commit.committed, tz=UTC).date().isoformat()


def dated_evidence(topic: str, dated: Dated, count: int, limit_days: int) -> Evidence:
    """One line per topic: when its freshest document and the code it describes last
    changed, and the verdict."""
    name = topic.replace("_", " ") + (f" (freshest of {count} documents)" if count > 1 else "")
    path, line = dated.document.path, dated.document.line
    what = dated.described.what
    if dated.document_commit is None:
        return Evidence(f"{name}: not judged, no commit on the audited history changes "
                        f"{path}", path=path, line=line)
    head = (f"{name}: {path} last changed {_day(dated.document_commit)} (commit "
            f"{dated.document_commit.sha[:7]})")
    if dated.code_commit is None or dated.lag is None:
        detail = f"{head}; no change by a person to the code it describes ({what})"
    else:
        days = dated.lag // 86400
        code = (f"the code it describes ({what}) last changed {_day(dated.code_commit)} "
                f"(commit {dated.code_commit.sha[:7]}, {dated.code_path})")
        if dated.stale:
            detail = f"{head}; {code}, {days} days later: stale (more than {limit_days} days)"
        elif dated.lag > 0:
            detail = f"{head}; {code}, {days} days later, within {limit_days} days"
        else:
            detail = f"{head}; {code}, not after the document"
    return Evidence(detail, path=path, line=line, commit=dated.document_commit.sha)


def stale_fact(snap: Snapshot, findings: dict[str, Findings]) -> Fact:
    """``docs.stale``: the documented topics whose documents all lag the code they describe,
    each with the dates and commits that decide it. A missing or shallow history cannot tell
    an old document from a current one, so the fact is unknown then, never "fresh"."""
    fact_id = "docs.stale"
    history = snap.history
    if not history.usable:
        return common.unknown(fact_id, history.unusable_reason)
    counted = counted_documents(findings)
    if not counted:
        return Fact(fact_id, (), (Evidence(
            "no documented topic to date: no business goals, team, model risk, data "
            "preparation, data definition, model choice or architecture documents counted"),))
    limit_days = int(common.catalogue("docs")["staleness"]["stale_after_days"])
    dated = date_documents(snap, counted)
    best = {topic: freshest(items) for topic, items in dated.items()}
    stale = tuple(topic for topic in DATED_TOPICS if topic in best and best[topic].stale)
    ordered = sorted(best, key=lambda topic: topic not in stale)
    return common.value(fact_id, stale, [dated_evidence(t, best[t], len(dated[t]), limit_days)
                                         for t in ordered])


# -- code documentation -----------------------------------------------------------------------

@dataclass
class Docstrings:
    documented: list[Evidence]
    undocumented: list[Evidence]
    files: int
    failed: list[str]


def _public_definitions(tree: ast.Module) -> list[ast.FunctionDef | ast.AsyncFunctionDef |
                                                      ast.ClassDef]:
    """Module-level public functions and classes, and public methods of public classes.
    Overload stubs and property setters/deleters repeat a documented name and are left out."""
    found: list[ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef] = []
    for node in tree.body:
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        if node.name.startswith("_") or _repeats_a_name(node):
            continue
        found.append(node)
        if isinstance(node, ast.ClassDef):
            found += [item for item in node.body
                      if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))
                      and not item.name.startswith("_") and not _repeats_a_name(item)]
    return found


def _repeats_a_name(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> bool:
    for decorator in node.decorator_list:
        name = ast.unparse(decorator)
        if name.endswith(("overload", ".setter", ".deleter")):
            return True
    return False


def docstrings(snap: Snapshot) -> Docstrings:
    """Public functions and classes of the project's ML code (modules that import a data, ML,
    tracking or serving library; tests excluded), with and without a docstring: the statement
    is about ML model code, not every helper script. Read with ast only; a file that does not
    parse is reported."""
    result = Docstrings([], [], 0, [])
    placeholder = _compiled("placeholder_line")
    for path in common.python_files(snap, include_tests=False):
        if not common.ml_context(snap, path):
            continue
        tree = snap.python(path)
        if not tree.ok:
            result.failed.append(path)
            continue
        result.files += 1
        for node in _public_definitions(tree.value):
            doc = (ast.get_docstring(node) or "").strip()
            kind = "class" if isinstance(node, ast.ClassDef) else "def"
            item = common.at(path, node.lineno, f"{kind} {node.name}")
            if doc and not placeholder.search(doc):
                result.documented.append(item)
            else:
                result.undocumented.append(item)
    return result


def generated_docs(snap: Snapshot) -> tuple[list[Evidence], list[Evidence]]:
    """A docs site generated from the code: mkdocs with mkdocstrings used by a page (`:::`) or a
    page generator, or Sphinx with autodoc/autosummary directives in use, or autoapi. A plugin
    configured but never used is counter-evidence."""
    support: list[Evidence] = []
    counter: list[Evidence] = []
    catalogue = common.catalogue("docs")
    for path in snap.glob(*catalogue["mkdocs"]):
        config = snap.yaml(path)
        if not config.ok or not isinstance(config.value, dict):
            continue
        plugins = _plugin_names(config.value.get("plugins"))
        if not plugins & set(catalogue["mkdocs_plugins"]):
            continue
        line = common.first_line(snap.text(path).value or "", re.compile("mkdocstrings"))
        docs_dir = posixpath.normpath(posixpath.join(posixpath.dirname(path),
                                                     str(config.value.get("docs_dir") or "docs")))
        pages = snap.glob(f"{docs_dir}/**/*.md", f"{docs_dir}/**/*.py")
        used = common.grep(snap, pages, common.ignorecase(catalogue["mkdocstrings_directive"]),
                           comment=None, limit=1)
        generator = plugins & set(catalogue["mkdocs_generators"])
        if used or generator:
            how = used[0].detail if used else f"pages generated by {sorted(generator)[0]}"
            support.append(common.at(path, line, f"mkdocstrings renders the API from the code "
                                                 f"({how})"))
            support += used
        else:
            counter.append(common.at(path, line, "mkdocstrings is configured but no page uses "
                                                 "it (no ':::' reference)"))
    for path in snap.glob("conf.py"):
        if matching([path], *common.NOT_PROJECT_CODE):
            continue
        tree = snap.python(path)
        if not tree.ok:
            continue
        names = {n.value for n in common.walk(tree.value)
                 if isinstance(n, ast.Constant) and isinstance(n.value, str)}
        extensions = catalogue["sphinx_extensions"]
        for extension in sorted(names & set(extensions)):
            line = common.first_line(snap.text(path).value or "", re.compile(re.escape(extension)))
            if extensions[extension] == "automatic":
                support.append(common.at(path, line, f"Sphinx {extension} documents the code"))
                continue
            pages = snap.glob(f"{posixpath.dirname(path) or '.'}/**/*.rst",
                              f"{posixpath.dirname(path) or '.'}/**/*.md")
            used = common.grep(snap, pages, common.ignorecase(catalogue["autodoc_directive"]),
                               comment=None, limit=1)
            if used:
                support.append(common.at(path, line, f"Sphinx {extension} documents the code"))
                support += used
            else:
                counter.append(common.at(path, line, f"Sphinx {extension} is enabled but no page "
                                                     "uses an auto* directive"))
    return support, counter


def _plugin_names(plugins: Any) -> set[str]:
    names: set[str] = set()
    if isinstance(plugins, dict):
        plugins = list(plugins)
    if isinstance(plugins, list):
        for plugin in plugins:
            if isinstance(plugin, str):
                names.add(plugin)
            elif isinstance(plugin, dict):
                names |= {str(k) for k in plugin}
    return names


# -- facts ------------------------------------------------------------------------------------

def collect(snap: Snapshot) -> list[Fact]:
    documents_, failed = documents(snap)
    findings = topic_sections(documents_)
    findings["team"].support += codeowners_rules(snap) + maintainers_files(snap)
    findings["data_definition"].support += schema_definitions(snap)
    findings["architecture"].support += (architecture_documents(documents_)
                                         + adr_records(snap, documents_)
                                         + diagrams(snap, documents_)
                                         + architecture_images(documents_))
    facts = [_topic_fact(snap, name, findings[name], documents_, failed) for name in TOPICS]
    return facts + _code_facts(snap) + [stale_fact(snap, findings)]


def schema_definitions(snap: Snapshot) -> list[Evidence]:
    """Data definitions kept as code: schema fields that say what they mean (pandera Column,
    pydantic or Feast Field, Great Expectations-style meta) with a non-empty ``description``.
    A file counts when at least a few of its fields are described (catalogue: schema_fields,
    schema_min_described); field names and types alone do not say what a feature means."""
    cat = common.catalogue("docs")
    calls = set(cat["schema_fields"])
    least = int(cat["schema_min_described"])
    found: list[Evidence] = []
    for path in common.python_files(snap, include_tests=False):
        source = snap.text(path)
        if not source.ok or "description" not in source.value:
            continue
        tree = snap.python(path)
        if not tree.ok:
            continue
        described = [node for node in common.walk(tree.value)
                     if isinstance(node, ast.Call) and _call_name(node.func) in calls
                     and any(kw.arg == "description" and isinstance(kw.value, ast.Constant)
                             and isinstance(kw.value.value, str) and kw.value.value.strip()
                             for kw in node.keywords)]
        if len(described) >= least:
            first = described[0]
            found.append(common.at(path, first.lineno, f"schema describes {len(described)} "
                                                       f"fields: {ast.unparse(first)}"))
    return found


def _call_name(func: ast.expr) -> str:
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""


def _topic_fact(snap: Snapshot, name: str, findings: Findings, documents_: list[Document],
                failed: list[str]) -> Fact:
    fact_id = f"docs.{name}"
    if findings.support:
        return Fact(fact_id, True, tuple(findings.support[:20]))
    unread = common.unreadable(snap, failed)
    if failed and not documents_:
        return common.unknown(fact_id, "no documentation could be read", unread)
    where = (f"{len(documents_)} document(s) (README, docs, *.md/*.rst, notebooks' markdown)"
             if documents_ else "the repository: no README, docs or notebooks")
    search = common.searched(f"a section on {name.replace('_', ' ')} with content under it",
                             where)
    return Fact(fact_id, False, tuple([search, *findings.counter, *unread][:20]))


def _code_facts(snap: Snapshot) -> list[Fact]:
    found = docstrings(snap)
    site, site_counter = generated_docs(snap)
    unread = common.unreadable(snap, found.failed)
    total = len(found.documented) + len(found.undocumented)
    threshold = float(common.catalogue("docs")["docstring_share"])
    if total:
        share = round(len(found.documented) / total, 3)
        summary = Evidence(f"{len(found.documented)} of {total} public functions and classes in "
                           f"{found.files} ML code file(s) have a docstring ({share:.0%})")
        examples = found.documented if share >= threshold else found.undocumented
        label = "documented" if share >= threshold else "undocumented"
        shown = [common.at(e.path or "", e.line, f"{label}: {e.detail}") for e in examples[:5]]
        share_fact = common.value("docs.docstring_share", share, [summary, *shown, *unread])
        if share >= threshold:
            documented = Fact("docs.code_documented", True,
                              tuple([summary, *shown[:3], *site][:20]))
        elif site:
            documented = Fact("docs.code_documented", True, tuple([*site, summary][:20]))
        else:
            documented = Fact("docs.code_documented", False, tuple(
                [summary, *shown, *site_counter, *unread][:20]))
        return [documented, share_fact]
    reason = ("no ML code modules to document (Python files importing a data, ML, tracking or "
              "serving library)" if not found.files and not found.failed else
              "no public functions or classes in the ML code" if found.files else
              "no Python file could be parsed")
    share_fact = common.unknown("docs.docstring_share", reason, unread)
    if site:
        return [Fact("docs.code_documented", True, tuple(site[:20])), share_fact]
    if found.failed and not found.files:
        return [common.unknown("docs.code_documented", reason, unread), share_fact]
    return [Fact("docs.code_documented", False,
                 (Evidence(reason), *site_counter, *unread)), share_fact]
