"""What users type is bounded and checked as it is read: labels, their number, descriptions (issue 28 item 3)."""

from __future__ import annotations

import pytest

from farm.registry.errors import InvalidInput
from farm.registry.validation import MAX_LABELS, MAX_TEXT, check_labels, check_text


def test_labels_are_deduplicated_in_order_and_bounded_in_number():
    assert check_labels([" a", "b", "a ", "c"]) == ["a", "b", "c"]
    assert len(check_labels([f"l{i}" for i in range(MAX_LABELS)])) == MAX_LABELS
    with pytest.raises(InvalidInput, match=f"at most {MAX_LABELS} labels"):
        check_labels(f"l{i}" for i in range(MAX_LABELS + 1))
    with pytest.raises(InvalidInput, match="at most"):
        check_labels(iter(["x"] * 10**7))  # refused after MAX_LABELS, without reading the rest


def test_descriptions_are_bounded():
    assert check_text("x" * MAX_TEXT, "description")
    with pytest.raises(InvalidInput, match=f"description: at most {MAX_TEXT} characters"):
        check_text("x" * (MAX_TEXT + 1), "description")
