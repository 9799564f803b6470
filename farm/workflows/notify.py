"""Completion and failure notifications: the workflow's JSON POSTed to a webhook URL.

A workflow notifies its own webhook URL if it has one, else its creator's (e-mail is out
of reach of a self-hosted farm; a webhook reaches chat tools and CI alike). A webhook
that fails is logged and never fails the workflow.
"""

from __future__ import annotations

import logging

import httpx

log = logging.getLogger(__name__)

TIMEOUT_S = 10.0


def post_webhook(url: str, payload: dict) -> bool:
    """POST `payload` as JSON to `url`; whether the receiver answered 2xx."""
    try:
        response = httpx.post(url, json=payload, timeout=TIMEOUT_S)
    except (httpx.HTTPError, httpx.InvalidURL) as e:
        log.warning("webhook %s failed: %s", url, e)
        return False
    if not response.is_success:
        log.warning("webhook %s answered %s", url, response.status_code)
    return response.is_success
