"""The docs check: headings count only with content under them, and code documentation."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlops_auditor.checks import docs
from mlops_auditor.history import Commit
from mlops_auditor.model import Fact
from mlops_auditor.snapshot import open_snapshot
from tests.conftest import MakeSnapshot
from tests.gitrepo import RepoBuilder

PROSE = ("The model ranks incoming support tickets so that the team answers urgent ones first. "
         "We measure success by the share of urgent tickets answered within one hour and by the "
         "number of escalations avoided each month.")


def facts(snap: object) -> dict[str, Fact]:
    return {f.id: f for f in docs.collect(snap)}  # type: ignore[arg-type]


def test_reports_every_fact(snapshot: MakeSnapshot) -> None:
    assert set(facts(snapshot({"x.txt": ""}))) == set(docs.FACTS)


def test_section_with_prose_counts_with_path_and_line(snapshot: MakeSnapshot) -> None:
    snap = snapshot({"README.md": f"# Ticket ranker\n\nIntro.\n\n## Business goals\n\n{PROSE}\n"})
    fact = facts(snap)["docs.business_goals"]
    assert fact.value is True
    assert fact.evidence[0].path == "README.md"
    assert fact.evidence[0].line == 5
    assert "Business goals" in fact.evidence[0].detail
    assert "urgent" in fact.evidence[0].detail


def test_heading_with_todo_is_counter_evidence(snapshot: MakeSnapshot) -> None:
    snap = snapshot({"docs/overview.md": "## Business goals\n\nTODO: write the business goals and "
                                         "the KPIs we agreed on with the product team for the "
                                         "ranking model, with numbers and dates for each one\n\n"
                                         "- TBD\n- coming soon\n- [Your KPI here]\n\n## Other\n"})
    fact = facts(snap)["docs.business_goals"]
    assert fact.value is False
    assert fact.evidence[0].path is None and "did not find" in fact.evidence[0].detail
    counter = fact.evidence[1]
    assert counter.path == "docs/overview.md" and counter.line == 1
    assert "placeholder" in counter.detail


def test_empty_heading_followed_by_sibling_does_not_borrow_its_body(
        snapshot: MakeSnapshot) -> None:
    snap = snapshot({"README.md": f"## Risks\n\n## Goals\n\n{PROSE}\n"})
    found = facts(snap)
    assert found["docs.model_risk"].value is False
    assert "no content" in found["docs.model_risk"].evidence[1].detail
    assert found["docs.business_goals"].value is True


def test_subsection_content_belongs_to_the_parent(snapshot: MakeSnapshot) -> None:
    snap = snapshot({"README.md": f"## Limitations\n\n### Bias\n\n{PROSE}\n\n## Next\n"})
    fact = facts(snap)["docs.model_risk"]
    assert fact.value is True
    assert [e.line for e in fact.evidence] == [1, 3]


def test_list_of_three_items_counts_but_placeholder_items_do_not(snapshot: MakeSnapshot) -> None:
    listed = snapshot({"README.md": "## Team\n\n- Ada: data science lead\n- Bo: ML engineer\n"
                                    "- Cy: product owner\n"})
    assert facts(listed)["docs.team"].value is True
    stubs = snapshot({"README.md": "## Team\n\n- TBD\n- TODO\n- ...\n"})
    assert facts(stubs)["docs.team"].value is False


def test_table_rows_count_as_items(snapshot: MakeSnapshot) -> None:
    snap = snapshot({"docs/data.md": "## Data dictionary\n\n| column | meaning |\n|---|---|\n"
                                     "| age | years |\n| income | euro per year |\n"
                                     "| churned | target |\n"})
    fact = facts(snap)["docs.data_definition"]
    assert fact.value is True and fact.evidence[0].path == "docs/data.md"
    header_only = snapshot({"docs/data.md": "## Data dictionary\n\n| column | meaning |\n|---|---|"
                                            "\n| age | years |\n"})
    assert facts(header_only)["docs.data_definition"].value is False


def test_setext_and_rst_headings(snapshot: MakeSnapshot) -> None:
    snap = snapshot({
        "README.md": f"Intro\n=====\n\nRetraining\n----------\n\n{PROSE}\n",
        "docs/ops.rst": f"Operations\n==========\n\nRolling back\n------------\n\n{PROSE}\n",
    })
    found = facts(snap)
    assert found["docs.retraining"].evidence[0].line == 4
    assert found["docs.rollback"].value is True
    assert found["docs.rollback"].evidence[0].path == "docs/ops.rst"
    assert found["docs.rollback"].evidence[0].line == 4


def test_heading_inside_code_block_is_not_a_heading(snapshot: MakeSnapshot) -> None:
    snap = snapshot({"README.md": f"```bash\n# Retraining\n{PROSE}\n```\n"})
    assert facts(snap)["docs.retraining"].value is False


def test_code_under_a_heading_is_not_prose(snapshot: MakeSnapshot) -> None:
    snap = snapshot({"README.md": f"## Retraining\n\n```text\n{PROSE}\n```\n"})
    fact = facts(snap)["docs.retraining"]
    assert fact.value is False
    assert (fact.evidence[1].path, fact.evidence[1].line) == ("README.md", 1)


def test_data_preparation_needs_a_motivation(snapshot: MakeSnapshot) -> None:
    what = ("We drop rows with a missing customer id, convert all amounts to euro, remove "
            "duplicate tickets and lower-case the free text fields, then split by month into "
            "training and validation sets.")
    only_what = snapshot({"README.md": f"## Data cleaning\n\n{what}\n"})
    fact = facts(only_what)["docs.data_preparation"]
    assert fact.value is False
    assert fact.evidence[1].line == 1 and "motivation" in fact.evidence[1].detail
    why = snapshot({"README.md": f"## Data cleaning\n\n{what} We split by month to avoid leaking "
                                "future tickets into training.\n"})
    assert facts(why)["docs.data_preparation"].value is True


def test_model_choice_needs_a_justification(snapshot: MakeSnapshot) -> None:
    bare = snapshot({"README.md": "## Model selection\n\nWe use a gradient boosted tree model "
                                  "with two hundred trees of depth six, trained on the last two "
                                  "years of tickets with early stopping on the validation set.\n"})
    assert facts(bare)["docs.model_choice"].value is False
    justified = snapshot({"README.md": "## Model selection\n\nWe use gradient boosted trees "
                                       "because they outperformed logistic regression and a "
                                       "small transformer on recall at a fraction of the cost "
                                       "of serving, which was the main trade-off for us.\n"})
    assert facts(justified)["docs.model_choice"].value is True


def test_hugging_face_template_placeholders_do_not_count(snapshot: MakeSnapshot) -> None:
    card = ("---\nlicense: mit\ntags:\n- text-classification\n---\n\n# Model card\n\n"
            "## Bias, Risks, and Limitations\n\n[More Information Needed]\n\n"
            "<!-- This section is meant to convey both technical and sociotechnical limitations "
            "of the model, written by the model author for anyone who uses it. -->\n\n"
            "## Training Details\n")
    fact = facts(snapshot({"MODEL_CARD.md": card}))["docs.model_risk"]
    assert fact.value is False
    assert fact.evidence[1].path == "MODEL_CARD.md" and fact.evidence[1].line == 9


def test_code_of_conduct_and_vendored_readmes_are_not_project_docs(
        snapshot: MakeSnapshot) -> None:
    snap = snapshot({
        "CODE_OF_CONDUCT.md": f"## Our Responsibilities\n\n{PROSE}\n",
        "node_modules/pkg/README.md": f"## Team\n\n{PROSE}\n",
        "CHANGELOG.md": f"## Retraining\n\n{PROSE}\n",
    })
    found = facts(snap)
    assert found["docs.team"].value is False
    assert found["docs.retraining"].value is False


def test_codeowners_and_maintainers_name_the_team(snapshot: MakeSnapshot) -> None:
    owners = snapshot({".github/CODEOWNERS": "# owners\n* @acme/ml-team\n/infra/ @ops-lead\n"})
    fact = facts(owners)["docs.team"]
    assert fact.value is True
    assert (fact.evidence[0].path, fact.evidence[0].line) == (".github/CODEOWNERS", 2)
    assert "2 ownership rule" in fact.evidence[0].detail


def test_codeowners_without_owners_is_not_a_team(snapshot: MakeSnapshot) -> None:
    comments = snapshot({"CODEOWNERS": "# * @acme/ml-team\n/docs/\n"})
    assert facts(comments)["docs.team"].value is False


def test_maintainers_file_naming_people(snapshot: MakeSnapshot) -> None:
    maintainers = snapshot({"MAINTAINERS.md": "# Maintainers\n\n- TBD\n- Ada Lovelace\n"})
    fact = facts(maintainers)["docs.team"]
    assert (fact.evidence[0].path, fact.evidence[0].line) == ("MAINTAINERS.md", 4)


def test_contributors_count_only_with_roles(snapshot: MakeSnapshot) -> None:
    names = snapshot({"README.md": "## Contributors\n\n- Ada\n- Bo\n- Cy\n"})
    assert facts(names)["docs.team"].value is False
    roles = snapshot({"README.md": "## Contributors\n\n- Ada, ML engineer\n- Bo, data "
                                   "scientist\n- Cy, product manager\n"})
    assert facts(roles)["docs.team"].value is True


def test_adr_files_each_count_and_templates_do_not(snapshot: MakeSnapshot) -> None:
    snap = snapshot({
        "docs/adr/0001-use-feature-store.md": f"# Use a feature store\n\n{PROSE}\n",
        "docs/adr/0002-batch-scoring.md": f"# Batch scoring\n\n{PROSE}\n",
        "docs/adr/template.md": f"# Title\n\n{PROSE}\n",
    })
    fact = facts(snap)["docs.architecture"]
    assert fact.value is True
    assert [e.path for e in fact.evidence] == ["docs/adr/0001-use-feature-store.md",
                                               "docs/adr/0002-batch-scoring.md"]


def test_adr_dir_names_the_folder(snapshot: MakeSnapshot) -> None:
    named = snapshot({".adr-dir": "records\n", "records/0001-x.md": f"# X\n\n{PROSE}\n",
                      "other/0001-y.md": f"# Y\n\n{PROSE}\n"})
    fact = facts(named)["docs.architecture"]
    assert [e.path for e in fact.evidence] == ["records/0001-x.md"]


def test_diagrams_as_code_count_for_architecture(snapshot: MakeSnapshot) -> None:
    mermaid = snapshot({"docs/design.md": "Text.\n\n```mermaid\nflowchart LR\n  A[ingest] --> "
                                          "B[train]\n  B --> C[serve]\n```\n"})
    fact = facts(mermaid)["docs.architecture"]
    assert fact.value is True and (fact.evidence[0].path, fact.evidence[0].line) == (
        "docs/design.md", 3)
    pie = snapshot({"docs/design.md": "```mermaid\npie\n  \"a\" : 1\n  \"b\" : 2\n```\n"})
    assert facts(pie)["docs.architecture"].value is False
    puml = snapshot({"docs/c4.puml": "@startuml\nPerson(u, \"User\")\nSystem(s, \"Scorer\")\n"
                                     "Rel(u, s, \"uses\")\n@enduml\n"})
    assert facts(puml)["docs.architecture"].evidence[0].path == "docs/c4.puml"


def test_notebook_markdown_cells_are_read(snapshot: MakeSnapshot) -> None:
    notebook = json.dumps({"cells": [
        {"cell_type": "markdown", "source": ["# Exploration\n"]},
        {"cell_type": "code", "source": ["df = load()\n"]},
        {"cell_type": "markdown", "source": ["## Data cleaning\n", "\n",
                                             "We remove duplicates because the export repeats "
                                             "tickets that were reopened, and they would "
                                             "otherwise be weighted twice in training and the "
                                             "model would learn the reopened ones too well.\n"]},
    ]})
    fact = facts(snapshot({"notebooks/eda.ipynb": notebook}))["docs.data_preparation"]
    assert fact.value is True
    assert fact.evidence[0].path == "notebooks/eda.ipynb"
    assert fact.evidence[0].detail.startswith("cell 3:")


def test_docstring_share_excludes_tests_and_private_names(snapshot: MakeSnapshot) -> None:
    snap = snapshot({
        "src/model.py": '''
            import pandas as pd

            def train(x):
                """Fit the model."""

            def predict(x):
                return x

            def _helper():
                pass

            class Scorer:
                """Scores tickets."""

                def score(self):
                    """One score."""

                def _cache(self):
                    pass
            ''',
        "tests/test_model.py": "def test_a():\n    pass\n\ndef test_b():\n    pass\n",
    })
    found = facts(snap)
    assert found["docs.docstring_share"].value == 0.75
    assert found["docs.code_documented"].value is True
    assert "3 of 4" in found["docs.code_documented"].evidence[0].detail


def test_low_docstring_share_is_false_with_undocumented_examples(snapshot: MakeSnapshot) -> None:
    snap = snapshot({"pipeline.py": "import pandas\ndef load():\n    pass\n\ndef clean():\n"
                                    "    pass\n\ndef train():\n    '''Train.'''\n",
                     "tools/release.py": "def bump():\n    pass\n"})  # not ML code
    fact = facts(snap)["docs.code_documented"]
    assert fact.value is False
    assert facts(snap)["docs.docstring_share"].value == round(1 / 3, 3)
    assert (fact.evidence[1].path, fact.evidence[1].line) == ("pipeline.py", 2)
    assert "undocumented: def load" in fact.evidence[1].detail


def test_no_python_code(snapshot: MakeSnapshot) -> None:
    found = facts(snapshot({"README.md": "# x\n", "tool.py": "def run():\n    pass\n"}))
    assert found["docs.docstring_share"].value is None
    assert (found["docs.docstring_share"].unknown or "").startswith("no ML code modules")
    assert found["docs.code_documented"].value is False
    assert "no ML code modules" in found["docs.code_documented"].evidence[0].detail


def test_unparseable_python_is_reported(snapshot: MakeSnapshot) -> None:
    found = facts(snapshot({"src/broken.py": "import pandas\ndef (:\n"}))
    assert found["docs.docstring_share"].value is None
    assert found["docs.code_documented"].value is None
    assert found["docs.code_documented"].evidence[0].path == "src/broken.py"
    assert "unparseable" in found["docs.code_documented"].evidence[0].detail


def test_mkdocstrings_counts_only_when_a_page_uses_it(snapshot: MakeSnapshot) -> None:
    code = {"pkg/core.py": "def a():\n    pass\n"}
    config = "site_name: x\nplugins:\n  - search\n  - mkdocstrings:\n      handlers: {}\n"
    used = snapshot({**code, "mkdocs.yml": config, "docs/api.md": "# API\n\n::: pkg.core\n"})
    fact = facts(used)["docs.code_documented"]
    assert fact.value is True
    assert (fact.evidence[0].path, fact.evidence[0].line) == ("mkdocs.yml", 4)


def test_mkdocstrings_configured_but_unused_is_counter_evidence(snapshot: MakeSnapshot) -> None:
    code = {"pkg/core.py": "def a():\n    pass\n"}
    config = "site_name: x\nplugins:\n  - search\n  - mkdocstrings:\n      handlers: {}\n"
    unused = snapshot({**code, "mkdocs.yml": config, "docs/index.md": "# Home\n"})
    fact = facts(unused)["docs.code_documented"]
    assert fact.value is False
    assert any("no page uses it" in e.detail for e in fact.evidence)


def test_sphinx_autodoc_with_directive_counts_and_comment_does_not(
        snapshot: MakeSnapshot) -> None:
    used = snapshot({"docs/conf.py": "extensions = ['sphinx.ext.autodoc']\n",
                     "docs/api.rst": "API\n===\n\n.. automodule:: pkg.core\n"})
    fact = facts(used)["docs.code_documented"]
    assert fact.value is True
    assert fact.evidence[0].path == "docs/conf.py"
    assert fact.evidence[1].path == "docs/api.rst" and fact.evidence[1].line == 4
    commented = snapshot({"docs/conf.py": "# extensions = ['autoapi.extension']\n"})
    assert facts(commented)["docs.code_documented"].value is False


def test_odd_content_does_not_raise(snapshot: MakeSnapshot) -> None:
    snap = snapshot({
        "mkdocs.yml": "- just\n- a list\n",
        "OWNERS": "approvers: not-a-list\n",
        "nb.ipynb": "{not json",
        "docs/x.rst": "=====\n\n---\n",
        "README.md": "#\n\n---\n",
    })
    found = facts(snap)
    assert found["docs.team"].value is False
    assert any(e.path == "nb.ipynb" for e in found["docs.team"].evidence)


def test_questionnaire_wording_model_risk_evaluation_counts(snapshot: MakeSnapshot) -> None:
    snap = snapshot({"README.md": f"# Ranker\n\n## Model risk evaluation\n\n{PROSE}\n"})
    fact = facts(snap)["docs.model_risk"]
    assert fact.value is True and fact.evidence[0].line == 3


def cells(*markdown: str) -> str:
    return json.dumps({"cells": [{"cell_type": "markdown", "source": m} for m in markdown]})


def test_a_title_heading_is_judged_on_its_introduction(snapshot: MakeSnapshot) -> None:
    notebook = cells(
        "# 01 - Data Analysis and Preparation\n\nThis notebook covers the following tasks:\n\n"
        "1. Perform exploratory data analysis.\n2. Prepare the data in BigQuery.\n"
        "3. Generate a schema for the source data.\n",
        "## 4. Create the dataset resource\n\nThe resource is retrieved by display name. "
        "Because several datasets can have the same display name, we take the most recently "
        "updated one and print its identifier for the next notebooks to use.\n")
    fact = facts(snapshot({"01-dataset.ipynb": notebook}))["docs.data_preparation"]
    assert fact.value is False
    assert any(e.detail.startswith("cell 1: heading 'Data Analysis and Preparation' has content "
                                   "but does not give a motivation") for e in fact.evidence)
    motivated = cells(
        "# Data preparation\n\nWe drop trips without coordinates because the distance "
        "features cannot be computed for them, and we split by date so that the test set only "
        "holds trips later than the training ones, to avoid leaking the future.\n",
        "## Setup\n\nInstall the packages listed in requirements.txt before running anything "
        "in this notebook, then restart the kernel once so the new versions are loaded.\n")
    fact = facts(snapshot({"01-dataset.ipynb": motivated}))["docs.data_preparation"]
    assert fact.value is True and fact.evidence[0].detail.startswith("cell 1:")


def test_data_prep_heading_with_a_reason(snapshot: MakeSnapshot) -> None:
    snap = snapshot({"README.md": "# Taxi fares\n\n## Data Prep\n\nWe compute the trip duration "
                                  "from pick-up and drop-off times since minutes are easier for "
                                  "the model to use than two timestamps, and remove fares below "
                                  "zero.\n"})
    fact = facts(snap)["docs.data_preparation"]
    assert fact.value is True and fact.evidence[0].line == 3


def test_data_definition_must_define_the_features(snapshot: MakeSnapshot) -> None:
    uses = snapshot({"README.md": "## Generate raw data schema\n\nThe generated data schema "
                                  "will be used to:\n\n1. Identify the raw data types and "
                                  "shapes in the transformation.\n2. Create the serving input "
                                  "signature of the custom model.\n3. Validate new raw "
                                  "training data in the pipeline.\n"})
    fact = facts(uses)["docs.data_definition"]
    assert fact.value is False
    assert "does not give the features and what they mean" in fact.evidence[1].detail
    defined = snapshot({"README.md": "## Data schema\n\n- `trip_miles`: distance driven\n"
                                     "- `fare`: total fare in dollars\n"
                                     "- `tip_bin` - 1 when the tip exceeds 20%\n"})
    fact = facts(defined)["docs.data_definition"]
    assert fact.value is True and fact.evidence[0].line == 1


def test_model_choice_is_about_a_model_not_a_monitoring_baseline(snapshot: MakeSnapshot) -> None:
    monitoring_baseline = snapshot({"notebook.ipynb": cells(
        "### Explore Baseline\n\nNow fetch the baseline results from the processing job. The "
        "baseline statistics and suggested constraints are compared with the captured data "
        "every hour by the model monitor to detect drift in the features.\n",
        "### Define the model monitor baseline\n\nCreate the baseline processing job using the "
        "training data, because the monitor compares production traffic with it.\n")})
    fact = facts(monitoring_baseline)["docs.model_choice"]
    assert fact.value is False
    assert not any("Define the model monitor baseline" in e.detail for e in fact.evidence)
    reasons_without_a_model = snapshot({"README.md": "## Approach\n\nWe chose to run the "
                                                     "pipeline nightly because the upstream "
                                                     "tables are refreshed at midnight. The "
                                                     "model is a gradient boosted tree with "
                                                     "two hundred trees.\n"})
    fact = facts(reasons_without_a_model)["docs.model_choice"]
    assert fact.value is False
    assert any(e.path == "README.md" and e.line == 1 and "justification does not name a model"
               in e.detail for e in fact.evidence)


def test_a_tools_benchmarks_are_not_a_model_choice(snapshot: MakeSnapshot) -> None:
    """A "Benchmarks" section of a tool that reads code speaks of its own model of the code,
    with reasons; it names no ML model."""
    snap = snapshot({"README.md": "# Tool\n\n## Benchmarks\n\nThe audit takes 1.3 s on a large "
                                  "repository. Each check still builds its own model of the "
                                  "code, rather than sharing one pass over the syntax trees, "
                                  "because the two checks count stubs differently.\n"})
    fact = facts(snap)["docs.model_choice"]
    assert fact.value is False
    assert any("justification does not name a model" in e.detail for e in fact.evidence)


def test_benchmark_of_candidate_models_justifies_the_choice(snapshot: MakeSnapshot) -> None:
    notebook = cells("# Generative AI\n\nIntro.\n",
                     "## Benchmarks\n\nWe benchmark GPT-3.5 and GPT-4 with zero-shot and "
                     "few-shot prompts against our fine-tuned BERT model. Few-shot learning "
                     "performs better than zero-shot, and the fine-tuned model reaches a "
                     "similar F1 score at a fraction of the inference cost.\n")
    fact = facts(snapshot({"notebooks/benchmarks.ipynb": notebook}))["docs.model_choice"]
    assert fact.value is True
    assert fact.evidence[0].detail.startswith("cell 2: 'Benchmarks'")


def test_architecture_diagram_image_under_any_heading(snapshot: MakeSnapshot) -> None:
    readme = ("# Churn service\n\n<p align=\"center\">\n  <img src=\"mlops.png\" alt=\"MLOps "
              "lifecycle\" width=\"400\"/>\n</p>\n\n## Getting started\n\n" + PROSE + "\n")
    fact = facts(snapshot({"README.md": readme}))["docs.architecture"]
    assert fact.value is True
    assert (fact.evidence[0].path, fact.evidence[0].line) == ("README.md", 4)
    assert "MLOps lifecycle" in fact.evidence[0].detail
    screenshot = readme.replace('alt="MLOps lifecycle"', 'alt="role"').replace(
        "mlops.png", "docs/studio-role.png")
    assert facts(snapshot({"README.md": screenshot}))["docs.architecture"].value is False
    alone = snapshot({"README.md": "![System architecture](docs/architecture.png)\n"})
    assert facts(alone)["docs.architecture"].value is False


def test_a_title_heading_of_a_plain_topic_keeps_its_whole_document(
        snapshot: MakeSnapshot) -> None:
    snap = snapshot({"docs/retraining.md": f"# Retraining\n\n## Schedule\n\n{PROSE}\n"})
    fact = facts(snap)["docs.retraining"]
    assert fact.value is True and fact.evidence[0].line == 1


# -- kept up to date (docs.stale) ---------------------------------------------------------------

GOALS = f"# Ticket ranker\n\n## Business goals\n\n{PROSE}\n"
DATA_PREP = ("# Tickets\n\n## Data cleaning\n\nWe drop tickets without a customer id because "
             "they cannot be routed to anyone, convert every amount to euro, and split the "
             "tickets by month to avoid leaking future tickets into training.\n")
DATA_CODE = "import pandas as pd\n\n\ndef load(path):\n    return pd.read_csv(path).dropna()\n"
TRAIN_CODE = ("from sklearn.linear_model import LogisticRegression\n\n\n"
              "def train(x, y):\n    return LogisticRegression().fit(x, y)\n")


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[RepoBuilder]:
    builder = RepoBuilder(tmp_path / "repo")
    yield builder
    builder.close()


def stale_of(path: Path) -> Fact:
    with open_snapshot(path) as snap:
        return facts(snap)["docs.stale"]


def test_document_changed_with_its_code_is_not_stale(repo: RepoBuilder) -> None:
    doc = repo.commit("Goals", {"README.md": GOALS, "src/app.py": "X = 1\n"})
    repo.wait(300)
    repo.commit("Tweak", {"src/app.py": "X = 2\n"})

    fact = stale_of(repo.path)

    assert fact.value == ()
    assert fact.evidence[0].path == "README.md" and fact.evidence[0].line == 3
    assert fact.evidence[0].commit == doc
    assert "300 days later, within 365 days" in fact.evidence[0].detail


def test_document_left_behind_by_its_code_is_stale_with_both_dates(repo: RepoBuilder) -> None:
    doc = repo.commit("Goals", {"README.md": GOALS, "src/app.py": "X = 1\n"})
    repo.wait(400)
    code = repo.commit("Rewrite", {"src/app.py": "X = 2\n"})

    fact = stale_of(repo.path)

    assert fact.value == ("business_goals",)
    item = fact.evidence[0]
    assert (item.path, item.line, item.commit) == ("README.md", 3, doc)
    assert "business goals: README.md last changed 2023-11-14" in item.detail
    assert f"commit {code[:7]}, src/app.py" in item.detail
    assert "400 days later: stale (more than 365 days)" in item.detail


def test_bots_do_not_change_the_code_a_document_describes(repo: RepoBuilder) -> None:
    repo.commit("Goals", {"README.md": GOALS, "requirements.txt": "pandas==2.0\n"})
    repo.wait(400)
    repo.commit("Bump pandas", {"requirements.txt": "pandas==2.2\n"},
                author="dependabot[bot] <49699333+dependabot[bot]@users.noreply.github.com>")

    assert stale_of(repo.path).value == ()


def test_the_freshest_document_of_a_topic_decides(repo: RepoBuilder) -> None:
    repo.commit("Goals", {"README.md": GOALS, "docs/goals.md": GOALS, "src/app.py": "X = 1\n"})
    repo.wait(400)
    repo.commit("Rewrite and revise", {"src/app.py": "X = 2\n", "docs/goals.md": GOALS + "\n"})

    fact = stale_of(repo.path)

    assert fact.value == ()
    assert fact.evidence[0].path == "docs/goals.md"
    assert "freshest of 2 documents" in fact.evidence[0].detail


def test_only_counted_documents_are_judged(repo: RepoBuilder) -> None:
    repo.commit("Stub", {"README.md": "## Business goals\n\nTBD\n", "src/app.py": "X = 1\n"})
    repo.wait(400)
    repo.commit("Rewrite", {"src/app.py": "X = 2\n"})

    fact = stale_of(repo.path)

    assert fact.value == ()
    assert "no documented topic" in fact.evidence[0].detail


def test_architecture_is_judged_against_files_added_or_removed(repo: RepoBuilder) -> None:
    doc = f"# Service\n\n## Architecture\n\n{PROSE}\n"
    repo.commit("Design", {"README.md": doc, "src/api.py": "X = 1\n"})
    repo.wait(400)
    repo.commit("Edit inside a module", {"src/api.py": "X = 2\n"})
    assert stale_of(repo.path).value == ()

    repo.wait(10)
    added = repo.commit("New component", {"src/queue.py": "Y = 1\n"})
    fact = stale_of(repo.path)
    assert fact.value == ("architecture",)
    assert "added or removed) last changed" in fact.evidence[0].detail
    assert f"commit {added[:7]}, src/queue.py" in fact.evidence[0].detail


def test_data_documents_are_judged_against_the_data_step_files(repo: RepoBuilder) -> None:
    repo.commit("Data", {"README.md": DATA_PREP, "src/data.py": DATA_CODE,
                         "src/train.py": TRAIN_CODE})
    repo.wait(400)
    repo.commit("Retune", {"src/train.py": TRAIN_CODE + "\nSEED = 1\n"})
    fact = stale_of(repo.path)
    assert fact.value == ()
    assert "(the data step files) last changed" in fact.evidence[0].detail

    repo.commit("Clean more", {"src/data.py": DATA_CODE + "\nLIMIT = 10\n"})
    fact = stale_of(repo.path)
    assert fact.value == ("data_preparation",)
    assert "src/data.py), 400 days later: stale" in fact.evidence[0].detail


def test_a_document_in_a_folder_with_code_describes_that_code(repo: RepoBuilder) -> None:
    risk = f"# Example\n\n## Limitations\n\n{PROSE}\n"
    repo.commit("Examples", {"examples/a/README.md": risk, "examples/a/app.py": "X = 1\n",
                             "examples/b/app.py": "Y = 1\n", "docs/risks.md": risk})
    repo.wait(400)
    repo.commit("Change b", {"examples/b/app.py": "Y = 2\n"})
    fact = stale_of(repo.path)
    assert fact.value == ()
    assert fact.evidence[0].path == "examples/a/README.md"
    assert "(any project code or config in examples/a/)" in fact.evidence[0].detail

    repo.commit("Change a", {"examples/a/app.py": "X = 2\n"})
    fact = stale_of(repo.path)
    assert fact.value == ("model_risk",)
    assert "docs/risks.md" in fact.evidence[0].detail  # documentation folders: whole project


def test_plain_folder_cannot_date_documents(snapshot: MakeSnapshot) -> None:
    fact = facts(snapshot({"README.md": GOALS, "src/app.py": "X = 1\n"}))["docs.stale"]
    assert fact.value is None
    assert "not a git repository" in (fact.unknown or "")


def test_shallow_clone_cannot_date_documents(repo: RepoBuilder, tmp_path: Path) -> None:
    repo.commit("Goals", {"README.md": GOALS, "src/app.py": "X = 1\n"})
    repo.wait(400)
    repo.commit("Rewrite", {"src/app.py": "X = 2\n"})
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", "--depth", "1", f"file://{repo.path}",
                    str(clone)], check=True, capture_output=True)

    fact = stale_of(clone)

    assert fact.value is None
    assert "shallow clone" in (fact.unknown or "") and "--unshallow" in (fact.unknown or "")


def test_last_changes_reads_the_parsed_history_once_per_folder() -> None:
    def commit(sha: str, *changes: tuple[str, str], author: str = "Ada") -> Commit:
        return Commit(sha, ("p",), author, "ada@example.com", author, "ada@example.com", 0, 0,
                      sha, None, False, changes)

    commits = [commit("c4", ("M", "svc/requirements.txt"), author="renovate[bot]"),
               commit("c3", ("M", "svc/app.py"), ("M", "README.md")),
               commit("c2", ("D", "svc/old.py")),
               commit("c1", ("A", "lib/x.py"), ("A", "docs/a.md"))]
    found = docs.last_changes(commits, {"README.md", "docs/a.md"}, set(), {"", "svc", "lib"},
                              docs.code_matcher())

    assert found.documents == {"README.md": 1, "docs/a.md": 3}
    assert found.any_code == {"": (1, "svc/app.py"), "svc": (1, "svc/app.py"),
                              "lib": (3, "lib/x.py")}
    assert found.structure == {"": (2, "svc/old.py"), "svc": (2, "svc/old.py"),
                               "lib": (3, "lib/x.py")}


SCHEMA = '''
import pandera as pa

transactions = pa.DataFrameSchema({
    "amount": pa.Column(float, description="Amount charged, in euros"),
    "merchant_id": pa.Column(str, description="Merchant that took the payment"),
    "hour": pa.Column(int, description="Hour of day of the payment, 0-23"),
    "is_fraud": pa.Column(bool),
})
'''


def test_a_schema_that_describes_its_fields_defines_the_data(snapshot: MakeSnapshot) -> None:
    fact = facts(snapshot({"src/schema.py": SCHEMA}))["docs.data_definition"]
    assert fact.value is True
    assert (fact.evidence[0].path, fact.evidence[0].line) == ("src/schema.py", 5)
    assert "describes 3 fields" in fact.evidence[0].detail


def test_a_schema_of_names_and_types_only_does_not(snapshot: MakeSnapshot) -> None:
    bare = SCHEMA.replace(', description="Amount charged, in euros"', "")
    fact = facts(snapshot({"src/schema.py": bare}))["docs.data_definition"]
    assert fact.value is False
