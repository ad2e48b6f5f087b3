"""The results quoted in README.md, docs/ and examples/*/README.md are the program's.

Every quoted result is marked ``<!--n:KEY:FORMAT-->text<!--/n-->`` and produced
by a source in ``docs/generate_numbers.py`` that reruns the configurations and
examples behind it (or reads the shipped ph.x/Wannier90 summaries).  Here the
cheap sources are rerun and compared with the text; the expensive ones (the
screening table, the 64 x 64 x 32 Cd3As2 lattice) run with the slow tests.
After a change of the physics or of the output, ``python docs/generate_numbers.py
--write`` regenerates every marked number.
"""

import importlib.util
import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_spec = importlib.util.spec_from_file_location("generate_numbers",
                                               os.path.join(ROOT, "docs", "generate_numbers.py"))
numbers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(numbers)


def test_markers_are_well_formed_and_name_known_sources():
    seen = set()
    for path in numbers.documents():
        text = open(path, encoding="utf-8").read()
        assert text.count("<!--n:") == text.count("<!--/n-->") == len(numbers.marked(path)), path
        for key, spec, quoted in numbers.marked(path):
            assert key.split(".")[0] in numbers.SOURCES, (path, key)
            if spec is not None:                       # a number: its text is that number
                assert re.fullmatch(r"[-+]?[\d.]+(e[-+]\d+)?", quoted), (path, key, quoted)
            seen.add(key.split(".")[0])
    assert seen == set(numbers.SOURCES)               # every source is quoted somewhere


def test_no_marker_inside_inline_code():
    """A comment inside backticks would be shown to the reader."""
    for path in numbers.documents():
        for line in open(path, encoding="utf-8"):
            for code in re.findall(r"`([^`]*)`", line):
                assert "<!--n:" not in code, (path, line)


def test_same_compares_to_the_last_printed_digit():
    assert numbers.same("+0.17010", "+0.17011") and not numbers.same("+0.17010", "+0.17012")
    assert numbers.same("gap 4.7092 x", "gap 4.7093 x") and not numbers.same("gap 4.7092", "Gap 4.7092")
    assert numbers.same("-4200", "-4200") and numbers.same("+2.637e-05", "+2.638e-05")
    assert not numbers.same("-0.03017", "+0.04842")            # the old, wrong screening row


def test_write_rewrites_only_the_marked_text(tmp_path):
    doc = tmp_path / "doc.md"
    doc.write_text("a <!--n:paper.x:+.3f-->+1.000<!--/n--> b <!--n:paper.y:.1f-->2.0<!--/n--> c\n")
    numbers.write({"paper.x": -0.1234}, files=[str(doc)])
    assert doc.read_text() == "a <!--n:paper.x:+.3f-->-0.123<!--/n--> b <!--n:paper.y:.1f-->2.0<!--/n--> c\n"
    assert numbers.compare({"paper.x": -0.1234, "paper.y": 2.0}, files=[str(doc)]) == []
    assert len(numbers.compare({"paper.x": 0.5, "paper.y": 2.0}, files=[str(doc)])) == 1


def _check(names):
    problems = numbers.compare(numbers.generate(names))
    assert not problems, "\n".join(problems) + "\n(regenerate: python docs/generate_numbers.py --write)"


@pytest.mark.parametrize("source", [n for n, (_, cheap) in numbers.SOURCES.items() if cheap])
def test_quoted_numbers_are_generated(source):
    _check([source])


@pytest.mark.slow
@pytest.mark.parametrize("source", [n for n, (_, cheap) in numbers.SOURCES.items() if not cheap])
def test_quoted_numbers_of_expensive_sources(source):
    _check([source])
