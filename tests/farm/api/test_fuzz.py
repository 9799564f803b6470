"""An API fuzz run (schemathesis): every route of the live server's OpenAPI schema, called with generated requests as
an admin, an optimizer and a read-only user; no answer is a 5xx and every documented answer matches its schema.

Bounded (`EXAMPLES` requests per route, each sent as every role; no shrinking) so the run takes a few minutes here. The ids it generates are
random, so it mostly meets the API's refusals (401/403/404/409/422): those must be clean too, never a crash.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance

from tests.farm.api.server import LiveServer

EXAMPLES = 3
ROLES = {"admin": {"admin": True}, "optimizer": {}, "reader": {"read_only": True}}


@pytest.fixture(scope="module")
def live(tmp_path_factory, model_file):
    server = LiveServer(str(tmp_path_factory.mktemp("fuzz-data")))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def tokens(live) -> dict[str, str]:
    return {role: live.user(f"{role}@fuzz.test", **flags)[1] for role, flags in ROLES.items()}


@pytest.fixture(scope="module")
def api_schema(live):
    return schemathesis.openapi.from_url(f"{live.url}/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_no_route_crashes_or_answers_outside_its_schema(case, tokens):
    for role in ROLES:  # each generated request as each role: what one may do, the next is refused
        case.call_and_validate(
            headers={"Authorization": f"Bearer {tokens[role]}"},
            checks=[not_a_server_error, response_schema_conformance],
        )
