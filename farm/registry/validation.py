"""Checks on what users type: record and file names, labels, descriptions, webhook URLs; each refusal is a clear `InvalidInput`."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from farm.registry.errors import InvalidInput

MAX_NAME = 128
MAX_LABEL = 64


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
    """Labels with surrounding spaces removed and duplicates dropped (first order kept); each 1-64 characters without commas."""
    if isinstance(labels, str):
        raise InvalidInput(f"labels must be a list of strings, not the string {labels!r}")
    out: list[str] = []
    for label in labels:
        if not isinstance(label, str) or not 1 <= len(label.strip()) <= MAX_LABEL:
            raise InvalidInput(f"label {label!r}: a label must be 1 to {MAX_LABEL} characters")
        label = label.strip()
        if "," in label or _has_control(label):
            raise InvalidInput(f"label {label!r} must not contain commas or control characters")
        if label not in out:
            out.append(label)
    return out


def check_text(text: str, what: str) -> str:
    """A free-text field such as a description: any string."""
    if not isinstance(text, str):
        raise InvalidInput(f"{what} must be text")
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
