"""The UI's pictures: the numbers they draw add up, colours follow one scale, and text from users is escaped."""

from __future__ import annotations

import re

import pytest

from genome.ui import charts


def test_a_waterfall_goes_from_the_expected_value_to_the_prediction_gathering_the_rest() -> None:
    parts = [charts.Contribution(f"f{index}", index * 0.5, (-1) ** index * (index + 1.0)) for index in range(20)]
    svg = str(charts.waterfall(10.0, parts, title="t", unit="model output", top=5))
    shown = [float(value) for value in re.findall(r'data-shap="([^"]+)"', svg)]
    assert len(shown) == 6  # the five largest and "15 other features"
    assert "15 other features" in svg
    total = float(re.search(r'<g class="prediction" data-value="([^"]+)"', svg).group(1))
    assert total == pytest.approx(10.0 + sum(part.shap for part in parts))
    assert 10.0 + sum(shown) == pytest.approx(total)
    assert "<title" in svg and "<desc" in svg and 'role="img"' in svg


def test_one_diverging_scale_red_up_blue_down_white_at_zero() -> None:
    assert charts.colour(0.0, 5.0) == "#f7f7f7"
    assert charts.colour(5.0, 5.0) == "#67001f" and charts.colour(50.0, 5.0) == "#67001f"
    assert charts.colour(-5.0, 5.0) == "#053061"
    red = charts.colour(2.0, 5.0)
    assert int(red[1:3], 16) > int(red[5:7], 16)  # more red than blue
    assert charts.colour(float("nan"), 1.0) == "#f7f7f7"


def test_text_and_names_from_users_are_escaped() -> None:
    text = "<script>alert(1)</script> good words & more"
    spans = [("good", [(text.index("good"), text.index("good") + 4)], 0.5), ("script", [(1, 7)], -0.4)]
    marked = str(charts.highlighted_text(text, spans, limit=0.5, threshold=0.1))
    assert "<script>" not in marked and "&lt;" in marked and "&amp; more" in marked
    assert re.search(r'<mark class="weight for strong"[^>]*>good</mark>', marked)
    assert re.search(r'<mark class="weight against[^"]*"[^>]*>script</mark>', marked)
    quiet = str(
        charts.highlighted_text(
            text, [("good", [(text.index("good"), text.index("good") + 4)], 0.01)], limit=0.5, threshold=0.1
        )
    )
    assert "<mark" not in quiet  # under the threshold: left plain
    svg = str(charts.bars([("<b>x</b>", 1.0)], title="<i>t</i>", unit="u"))
    assert "<b>" not in svg and "<i>" not in svg


def test_a_beeswarm_draws_one_dot_per_row_per_feature_shown() -> None:
    shap = [[0.1 * row, -0.2 * row, 0.0] for row in range(30)]
    values = [[row, 30 - row, 1.0] for row in range(30)]
    svg = str(charts.beeswarm(["a", "b", "c"], shap, values, title="t", unit="u", top=2))
    assert svg.count("<circle") == 60
    assert svg.index(">b<") < svg.index(">a<")  # most important first


def test_a_binary_classifiers_log_odds_are_read_as_probabilities_on_a_second_axis() -> None:
    parts = [charts.Contribution("a", 1.0, 1.5), charts.Contribution("b", 2.0, -0.5)]
    svg = str(charts.waterfall(-1.0, parts, title="t", unit="log-odds (margin)", probability_axis=True))
    assert ">probability</text>" in svg and ">0.5</text>" in svg
    assert "That is a probability of 0.5." in svg  # -1 + 1.5 - 0.5 = 0 log-odds
    assert ">probability</text>" not in str(charts.waterfall(-1.0, parts, title="t", unit="u"))
