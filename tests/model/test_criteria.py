"""lnbayes.model.criteria: parsing decision-rule criteria, with located one-line errors."""

from __future__ import annotations

import pytest

from lnbayes.errors import LnbayesError
from lnbayes.model.criteria import Criterion, parse_criteria, parse_criterion, rule_text


def test_forms():
    assert parse_criterion("0.95") == Criterion(0.95)
    assert parse_criterion("OR:1.5:0.5") == Criterion(0.5, "or", 1.5)
    assert parse_criterion(" rd : 0.1 : 0.8 ") == Criterion(0.8, "rd", 0.1)
    assert parse_criterion("median:rd:0.1") == Criterion(0.5, "rd", 0.1, median=True)
    assert parse_criterion("or:1.5:0.5").text == "or:1.5:0.5"
    assert parse_criterion("median:rr:0.8").text == "median:rr:0.8"


def test_labels_follow_the_direction_of_benefit():
    rule = parse_criteria(["0.95", "or:0.67:0.5", "median:rd:-0.1"])
    assert rule_text(rule) == ("declare benefit if P(benefit) >= 0.95 and P(OR > 0.67) >= 0.5 "
                               "and posterior median RD >= -0.1")
    assert rule_text(rule, lower_is_better=True) == (
        "declare benefit if P(benefit) >= 0.95 and P(OR < 0.67) >= 0.5 and posterior median "
        "RD <= -0.1")


@pytest.mark.parametrize("text,problem", [
    ("1.2", "strictly between 0 and 1"), ("0", "strictly between 0 and 1"),
    ("or:1.5", "expected PROB, SCALE:VALUE:PROB"), ("hr:1.5:0.5", "scale must be rd, rr or or"),
    ("or:-1:0.5", "must be > 0"), ("rd:1.2:0.5", "between -1 and 1"),
    ("or:x:0.5", "must be a number"), ("or:1.5:nan", "must be finite"),
    ("median:or:0", "must be > 0"), ("a:b:c:d", "expected PROB"), ("", "must be a number"),
])
def test_bad_criteria_are_located_one_line_errors(text, problem):
    with pytest.raises(LnbayesError) as err:
        parse_criterion(text, "<command line>: --criterion")
    (line,) = err.value.problems
    assert line.startswith("<command line>: --criterion: ") and problem in line


def test_errors_are_located_where_the_caller_says():
    with pytest.raises(LnbayesError) as err:
        parse_criterion("1.2")
    (line,) = err.value.problems
    assert line.startswith("criterion: ") and "command line" not in line
    with pytest.raises(LnbayesError) as err:
        parse_criteria(["0.5", "0.5"], "design.toml: decision.criteria")
    assert err.value.problems[0].startswith("design.toml: decision.criteria")


def test_duplicates_refused():
    with pytest.raises(LnbayesError, match="given twice"):
        parse_criteria(["0.95", "0.95"])
