"""`make check`'s import rules (config/importcheck.py) hold for the tree, and the checker does
catch each kind of break: a cycle, an import inside a function, a private name from another
module, the platform app importing a domain app."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.importcheck import problems_in


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_the_tree_breaks_no_import_rule():
    problems, known = problems_in()
    assert problems == []
    assert len(known) > 300  # the tree was read, not an empty folder


def test_a_clean_tree_passes(tmp_path):
    root = _tree(
        tmp_path,
        {
            "patients/__init__.py": "",
            "patients/a.py": "from patients.b import value\n",
            "patients/b.py": "value = 1\n",
        },
    )
    assert problems_in(root)[0] == []


def test_an_import_inside_a_function_needs_a_reason(tmp_path):
    files = {
        "patients/__init__.py": "",
        "patients/b.py": "value = 1\n",
        "patients/a.py": "def f():\n    from patients.b import value\n    return value\n",
    }
    problems = problems_in(_tree(tmp_path / "bare", files))[0]
    assert any("patients.b inside a function" in p for p in problems), problems

    files["patients/a.py"] = (
        "def f():\n    from patients.b import value  # import here: a fork hook\n    return value\n"
    )
    assert problems_in(_tree(tmp_path / "said", files))[0] == []


BROKEN = {
    "import cycle between 2 modules": {
        "patients/__init__.py": "",
        "patients/a.py": "from patients.b import value\nother = 2\n",
        "patients/b.py": "from patients.a import other\nvalue = 1\n",
    },
    "private name _value": {
        "patients/__init__.py": "",
        "patients/a.py": "from patients.b import _value\n",
        "patients/b.py": "_value = 1\n",
    },
    "the platform app imports a domain app": {
        "clinic/__init__.py": "",
        "clinic/a.py": "from patients.b import value\n",
        "patients/__init__.py": "",
        "patients/b.py": "value = 1\n",
    },
}


@pytest.mark.parametrize("expected", BROKEN)
def test_each_broken_rule_is_caught(tmp_path, expected):
    problems = problems_in(_tree(tmp_path, BROKEN[expected]))[0]
    assert any(expected in p for p in problems), problems
