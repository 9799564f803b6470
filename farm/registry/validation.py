"""Checks on what users type: record and file names, labels, descriptions, webhook URLs; each refusal is a clear `InvalidInput`."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from farm.registry.errors import InvalidInput

MAX_NAME = 128
MAX_LABEL = 64  # characters of one label
MAX_LABELS = 256  # labels of one model
MAX_TEXT = 64 * 1024  # characters of a description


def _has_control(text: str) -> bool:
    return any(unicodedata.category(c) == "Cc" for c in text)


def check_name(name: str, what: str) -> str:
    """A project, model or file name: 1-128 characters, no `/`, `\\`, `..`, control characters or surrounding spaces."""
    if not isinstance(name, str) or not 1 <= len(name) <= MAX_NAME:
        raise InvalidInput(f"a {what} name must be 1 to {MAX_NAME} characters")
    if "/" in name or "\\" in name:
        raise InvalidInput(f"{what} name {name!r} must not contain '/' or '\\'")
    if ".." in name:
        raise InvalidInput(f"{what} name {name!r} must not contain '..'")
    if _has_control(name):
        raise InvalidInput(f"{what} name {name!r} must not contain control characters")
    if name != name.strip():
        raise InvalidInput(f"{what} name {name!r} must not start or end with spaces")
    return name


def check_labels(labels: Iterable[str]) -> list[str]:
    """Labels with surrounding spaces removed and duplicates dropped (first order kept); each 1-64 characters without
    commas, at most `MAX_LABELS` of them (checked as they are read, in linear time)."""
    if isinstance(labels, str):
        raise InvalidInput(f"labels must be a list of strings, not the string {labels!r}")
    out: dict[str, None] = {}  # a dict keeps the first order and tests membership in constant time
    for count, label in enumerate(labels, 1):
        if count > MAX_LABELS:
            raise InvalidInput(f"labels: at most {MAX_LABELS} labels per model")
        if not isinstance(label, str) or not 1 <= len(label.strip()) <= MAX_LABEL:
            raise InvalidInput(f"label {str(label)[:80]!r}: a label must be 1 to {MAX_LABEL} characters")
        label = label.strip()
        if "," in label or _has_control(label):
            raise InvalidInput(f"label {label!r} must not contain commas or control characters")
        out[label] = None
    return list(out)


def check_text(text: str, what: str) -> str:
    """A free-text field such as a description: any string of at most `MAX_TEXT` characters."""
    if not isinstance(text, str):
        raise InvalidInput(f"{what} must be text")
    if len(text) > MAX_TEXT:
        raise InvalidInput(f"{what}: at most {MAX_TEXT} characters, got {len(text)}")
    return text


def check_webhook_url(url: str) -> str | None:
    """An http(s) URL to notify, or None for an empty string (no webhook)."""
    if not isinstance(url, str):
        raise InvalidInput("a webhook URL must be text")
    url = url.strip()
    if not url:
        return None
    if not re.fullmatch(r"https?://[^\s/]+\S*", url):
        raise InvalidInput(f"webhook URL {url!r} must be an http:// or https:// URL")
    return url
