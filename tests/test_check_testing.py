"""testing: real test functions (stubs do not count) and which ML steps the tests import."""

from __future__ import annotations

from mlops_auditor.checks import testing
from mlops_auditor.model import Fact
from mlops_auditor.snapshot import Snapshot
from tests.conftest import MakeSnapshot

TRAIN = """\
    from sklearn.linear_model import LogisticRegression

    def train_model(X, y):
        model = LogisticRegression()
        model.fit(X, y)
        return model
    """
PREP = """\
    import pandas as pd

    def clean(path):
        return pd.read_csv(path).dropna()
    """
API = """\
    from fastapi import FastAPI

    app = FastAPI()

    @app.post("/predict")
    def predict(payload: dict):
        return {"y": 1}
    """


def facts(snap: Snapshot) -> dict[str, Fact]:
    return {f.id: f for f in testing.collect(snap)}


def test_reports_every_fact(snapshot: MakeSnapshot) -> None:
    got = testing.collect(snapshot({"README.md": "x\n"}))
    assert [f.id for f in got] == list(testing.FACTS)


def test_real_tests_are_counted_with_file_and_line(snapshot: MakeSnapshot) -> None:
    snap = snapshot({"tests/test_math.py": """\
        import pytest

        def helper():
            return 1

        def test_adds():
            assert 1 + helper() == 2

        def test_raises():
            with pytest.raises(ZeroDivisionError):
                1 / 0

        class TestThing:
            def test_smoke(self):
                helper()
        """})
    got = facts(snap)
    assert got["testing.present"].value is True
    assert got["testing.count"].value == 3
    first = got["testing.present"].evidence[0]
    assert (first.path, first.line) == ("tests/test_math.py", 6)


def test_stubs_do_not_count_and_are_listed(snapshot: MakeSnapshot) -> None:
    snap = snapshot({"tests/test_unfinished.py": """\
        import pytest

        def test_pass():
            pass

        def test_ellipsis():
            ...

        def test_true():
            assert True

        def test_doc():
            \"\"\"To write.\"\"\"

        def test_skip_call():
            pytest.skip("later")

        @pytest.mark.skip(reason="broken")
        def test_skipped():
            assert compute() == 1

        @pytest.mark.parametrize("x", [1, 2])
        def test_param_stub(x):
            assert 1 == 1
        """})
    got = facts(snap)
    assert got["testing.present"].value is False
    assert got["testing.count"].value == 0
    details = [e.detail for e in got["testing.present"].evidence]
    assert details[0].startswith("did not find")
    stubs = {(e.line, e.detail.split(":")[1].split()[0]) for e in got["testing.present"].evidence
             if e.path == "tests/test_unfinished.py"}
    assert stubs == {(3, "test_pass"), (6, "test_ellipsis"), (9, "test_true"), (12, "test_doc"),
                     (15, "test_skip_call"), (19, "test_skipped"), (23, "test_param_stub")}


def test_unittest_methods_count_and_conftest_is_not_a_test(snapshot: MakeSnapshot) -> None:
    snap = snapshot({
        "tests/conftest.py": "def test_not_collected():\n    assert len([1]) == 1\n",
        "pkg/thing_test.py": """\
            import unittest

            class ThingCase(unittest.TestCase):
                def test_equal(self):
                    self.assertEqual(1, 1)

                def helper(self):
                    return 2
            """,
    })
    got = facts(snap)
    assert got["testing.count"].value == 1
    assert got["testing.present"].evidence[0].path == "pkg/thing_test.py"


def test_module_skip_mark_switches_off_every_test(snapshot: MakeSnapshot) -> None:
    snap = snapshot({"tests/test_off.py": """\
        import pytest

        pytestmark = pytest.mark.skip(reason="flaky")

        def test_a():
            assert len("a") == 1
        """})
    got = facts(snap)
    assert got["testing.present"].value is False
    assert any("module marked skip" in e.detail for e in got["testing.present"].evidence)


def test_absolute_import_of_training_code(snapshot: MakeSnapshot) -> None:
    snap = snapshot({
        "src/train.py": TRAIN,
        "src/prep.py": PREP,
        "tests/test_train.py": """\
            from src.train import train_model

            def test_train():
                assert train_model([[0], [1]], [0, 1]) is not None
            """,
    })
    got = facts(snap)
    assert got["testing.steps_tested"].value == ("training",)
    evidence = got["testing.steps_tested"].evidence[0]
    assert (evidence.path, evidence.line) == ("tests/test_train.py", 1)
    assert "src/train.py" in evidence.detail
    assert got["testing.steps_untested"].value == ("data",)
    assert "src/prep.py" in got["testing.steps_untested"].evidence[0].detail


def test_src_layout_and_package_reexport(snapshot: MakeSnapshot) -> None:
    snap = snapshot({
        "src/shop/__init__.py": "from .prep import clean\n",
        "src/shop/prep.py": PREP,
        "src/shop/model/train.py": TRAIN,
        "src/shop/api.py": API,
        "tests/unit/test_all.py": """\
            from shop import clean
            import shop.model.train as t
            from shop import api

            def test_clean(tmp_path):
                assert clean is not None

            def test_model():
                assert t.train_model

            def test_api():
                assert api.app
            """,
    })
    got = facts(snap)
    assert got["testing.steps_tested"].value == ("data", "training", "serving")
    assert got["testing.steps_untested"].value == ()
    details = {e.line: e.detail for e in got["testing.steps_tested"].evidence}
    assert "defined in src/shop/prep.py" in details[1]
    assert "src/shop/model/train.py" in details[2]
    assert "src/shop/api.py" in details[3]


def test_relative_import_resolves_from_the_test_folder(snapshot: MakeSnapshot) -> None:
    snap = snapshot({
        "proj/__init__.py": "",
        "proj/train.py": TRAIN,
        "proj/tests/__init__.py": "",
        "proj/tests/test_train.py": """\
            from ..train import train_model

            def test_it():
                assert train_model
            """,
    })
    assert facts(snap)["testing.steps_tested"].value == ("training",)


def test_name_fallback_only_when_imports_reach_no_project_module(
        snapshot: MakeSnapshot) -> None:
    snap = snapshot({
        "notebooks/train.ipynb": """\
            {"cells": [{"cell_type": "code",
              "source": "from sklearn.svm import SVC\\nSVC().fit(X, y)"}]}
            """,
        "etl/prep.py": PREP,
        "etl/util.py": "def helper():\n    return 1\n",
        "tests/test_training.py": """\
            import numpy

            def test_training_converges():
                assert numpy.zeros(2).sum() == 0
            """,
        "tests/test_cleaning.py": """\
            from etl.util import helper

            def test_clean_data():
                assert helper() == 1
            """,
    })
    got = facts(snap)
    assert got["testing.steps_tested"].value == ("training",)
    evidence = got["testing.steps_tested"].evidence[0]
    assert evidence.path == "tests/test_training.py"
    assert "by name" in evidence.detail
    assert got["testing.steps_untested"].value == ("data",)


def test_stub_test_importing_code_does_not_test_it(snapshot: MakeSnapshot) -> None:
    snap = snapshot({
        "src/train.py": TRAIN,
        "tests/test_train.py": """\
            from src.train import train_model

            def test_train():
                pass
            """,
    })
    got = facts(snap)
    assert got["testing.steps_tested"].value == ()
    assert got["testing.steps_untested"].value == ("training",)


def test_no_ml_code_means_no_steps(snapshot: MakeSnapshot) -> None:
    snap = snapshot({"lib.py": "def f():\n    return 1\n",
                     "tests/test_lib.py": "from lib import f\n\ndef test_f():\n    assert f()\n"})
    got = facts(snap)
    assert got["testing.present"].value is True
    assert got["testing.steps_tested"].value == ()
    assert got["testing.steps_untested"].value == ()
    assert "did not find" in got["testing.steps_untested"].evidence[0].detail


def test_only_test_file_unparseable_is_unknown(snapshot: MakeSnapshot) -> None:
    got = facts(snapshot({"tests/test_x.py": "def test_(:\n"}))
    assert got["testing.present"].value is None
    assert got["testing.present"].unknown
    assert got["testing.present"].evidence[0].path == "tests/test_x.py"


def test_unparseable_tests_leave_steps_unknown(snapshot: MakeSnapshot) -> None:
    got = facts(snapshot({"src/train.py": TRAIN, "tests/test_train.py": "def test_(:\n"}))
    assert got["testing.steps_tested"].value is None
    assert got["testing.steps_untested"].value is None
    assert got["testing.steps_untested"].evidence[0].path == "tests/test_train.py"


def test_library_import_does_not_resolve_to_a_deep_project_module(
        snapshot: MakeSnapshot) -> None:
    snap = snapshot({
        "src/pkg/__init__.py": "",
        "src/pkg/io/__init__.py": "",
        "src/pkg/io/pandas.py": PREP,
        "tests/test_frames.py": """\
            import pandas

            def test_frame():
                assert pandas.DataFrame().empty
            """,
    })
    got = facts(snap)
    assert got["testing.steps_tested"].value == ()
    assert got["testing.steps_untested"].value == ("data",)


def test_running_a_pipeline_that_defines_training_tests_training(snapshot: MakeSnapshot) -> None:
    """A pipeline module with a TFX Trainer is training code (mlcode), so a test that imports
    and runs it tests training. A module that only names the training file's path in a string
    is not training code, and importing it tests nothing of training."""
    pipeline = """\
        from tfx.v1.components import Trainer

        TRAIN_MODULE = "src/model/runner.py"

        def create_pipeline(examples):
            return [Trainer(module_file=TRAIN_MODULE, examples=examples)]
        """
    test = """\
        from tfx.orchestration.local.local_dag_runner import LocalDagRunner
        from src.pipelines import {module}

        def test_e2e_pipeline():
            LocalDagRunner().run({module}.create_pipeline(None))
        """
    files = {"src/model/runner.py": TRAIN, "src/pipelines/__init__.py": ""}
    yes = facts(snapshot({**files, "src/pipelines/training.py": pipeline,
                          "tests/test_pipeline.py": test.replace("{module}", "training")}))
    assert yes["testing.steps_tested"].value == ("training",)
    assert [(e.path, e.line) for e in yes["testing.steps_tested"].evidence] == [
        ("tests/test_pipeline.py", 2)]
    paths_only = pipeline.replace("Trainer(module_file=TRAIN_MODULE, examples=examples)",
                                  "TRAIN_MODULE")
    no = facts(snapshot({**files, "src/pipelines/paths.py": paths_only,
                         "tests/test_pipeline.py": test.replace("{module}", "paths")}))
    assert no["testing.steps_tested"].value == ()
    assert no["testing.steps_untested"].value == ("training",)
