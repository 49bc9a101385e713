"""lnbayes.model.thresholds: thresholds and the ROPE restated on every scale, and disagreements."""

from __future__ import annotations

import pytest

from lnbayes.model import thresholds as th


def test_deng_thresholds_on_every_scale():
    # control rate 5/6: RD 0.1 means 14/15 on treatment, odds 14 against 5, an OR of 2.8;
    # OR 1.5 means odds 7.5, a rate of 7.5/8.5, an RD of 7.5/8.5 - 5/6
    out = th.consistency([("rd", 0.1), ("or", 1.5)], ("rd", -0.05, 0.05), False, 5 / 6)
    rd, odds = out["thresholds"]
    assert rd["p_treatment"] == pytest.approx(14 / 15, abs=1e-12)
    assert rd["or"] == pytest.approx(2.8, abs=1e-12)
    assert rd["rr"] == pytest.approx((14 / 15) / (5 / 6), abs=1e-12)
    assert odds["rd"] == pytest.approx(7.5 / 8.5 - 5 / 6, abs=1e-12)
    assert odds["or"] == 1.5
    assert out["rope_bound"]["stated"] == {"scale": "rd", "value": 0.05}
    text = " | ".join(out["warnings"])
    assert "RD 0.1 and OR 1.5 disagree" in text
    assert "the ROPE ends at RD 0.05" in text and "starts at RD 0.1" in text
    assert "starts at OR 1.5" not in text  # OR 1.5 is an RD of 0.049 here: it meets the ROPE


def test_agreeing_thresholds_give_no_warning():
    # at a control rate of 0.2, OR 1.8 is a rate of 0.310, an RD of 0.110 (within 20% of 0.1)
    out = th.consistency([("rd", 0.1), ("or", 1.8)], ("rd", -0.1, 0.1), False, 0.2)
    assert out["warnings"] == []


def test_lower_is_better_uses_the_lower_rope_bound():
    out = th.consistency([("rd", -0.05)], ("rd", -0.05, 0.02), True, 0.3)
    assert out["rope_bound"]["stated"]["value"] == -0.05
    assert out["warnings"] == []
    out = th.consistency([("rr", 0.5)], ("rd", -0.02, 0.02), True, 0.3)
    assert out["thresholds"][0]["rd"] == pytest.approx(-0.15, abs=1e-12)
    assert any("neither practically equivalent" in w for w in out["warnings"])


def test_unattainable_threshold_is_said():
    out = th.consistency([("rd", 0.2)], None, False, 0.9)
    assert out["thresholds"][0]["rd"] is None
    assert "not attainable" in out["warnings"][0]


def test_control_rate_basis():
    assert th.control_rate(5, 6) == (5 / 6, "the observed control rate 5/6")
    p, why = th.control_rate(0, 20)
    assert p == pytest.approx(0.5 / 21) and "undefined" in why
