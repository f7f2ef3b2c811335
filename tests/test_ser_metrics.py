"""Classification metrics: accuracy, unweighted accuracy, macro F1, per-label scores and confusion."""

from __future__ import annotations

import pytest

from emotionlayer.errors import ConfigError
from emotionlayer.evaluation.metrics import classification_report, plot_confusion


def test_figures_on_a_hand_checked_example():
    refs = ["a", "a", "a", "a", "b", "b", "c", "c"]
    pred = ["a", "a", "a", "b", "b", "a", "c", "a"]
    report = classification_report(refs, pred, ["a", "b", "c"])
    assert report.n == 8
    assert report.accuracy == pytest.approx(5 / 8)
    assert report.unweighted_accuracy == pytest.approx((3 / 4 + 1 / 2 + 1 / 2) / 3, abs=1e-6)
    assert report.per_label["a"].precision == pytest.approx(3 / 5)
    assert report.per_label["c"].precision == pytest.approx(1.0)
    assert report.per_label["b"].f1 == pytest.approx(0.5)
    assert report.confusion == [[3, 1, 0], [1, 1, 0], [1, 0, 1]]
    data = report.to_dict()
    assert set(data) == {"n", "accuracy", "unweighted_accuracy", "macro_f1", "per_label", "confusion"}
    assert data["confusion"]["labels"] == ["a", "b", "c"]


def test_unweighted_accuracy_ignores_labels_absent_from_references():
    report = classification_report(["a", "a"], ["a", "b"], ["a", "b", "c"])
    assert report.unweighted_accuracy == pytest.approx(0.5)
    assert report.per_label["c"].support == 0


def test_errors():
    with pytest.raises(ConfigError, match="pair up"):
        classification_report(["a"], ["a", "b"])
    with pytest.raises(ConfigError, match="not in the label list"):
        classification_report(["a"], ["z"], ["a"])


def test_plot_writes_a_png(tmp_path):
    report = classification_report(["a", "b", "b"], ["a", "b", "a"])
    path = plot_confusion(report, str(tmp_path / "cm.png"), title="test")
    assert (tmp_path / "cm.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.endswith("cm.png")
