"""The association policy in one place (aiodicom.net.policy.decide), without a socket.

Each check of PS3.8 9.3.4 Table 9-21 refuses with its (result, source, reason) and label,
in the documented order: the first failing check names the rejection.
"""

from __future__ import annotations

import dataclasses

import pytest

from aiodicom.net.policy import (
    RJ_APP_CONTEXT,
    RJ_CALLED_AE,
    RJ_CALLING_AE,
    RJ_LIMIT,
    RJ_NO_REASON,
    AssociationCounts,
    Refusal,
    decide,
)
from aiodicom.net.server import Server, ServerConfig
from aiodicom.proto.negotiation import IdentityOutcome
from aiodicom.proto.pdus import AssociateRJ, AssociateRQ, UserIdentityRQ
from tests.proto.assoc_support import make_rq

RQ = make_rq()  # calling TEST-SCU, called ANY-SCP, no user identity


class OnlyFrom:
    """An access list allowing one calling AE from one address."""

    def __init__(self, calling_ae: str, host: str) -> None:
        self.calling_ae, self.host = calling_ae, host

    def allows(self, called_ae: str, calling_ae: str, host: str) -> bool:
        return (calling_ae, host) == (self.calling_ae, self.host)


def _decide(
    config: ServerConfig,
    rq: AssociateRQ = RQ,
    address: str = "10.0.0.1",
    counts: AssociationCounts | None = None,
) -> Refusal | IdentityOutcome:
    server = Server(config, {})
    return decide(rq, address, config, server.policy, counts or AssociationCounts())


def test_an_acceptable_request_gets_its_identity_outcome() -> None:
    outcome = _decide(ServerConfig())
    assert isinstance(outcome, IdentityOutcome) and outcome.accepted


@pytest.mark.parametrize(
    ("config", "rj", "label"),
    [
        (
            ServerConfig(access=OnlyFrom("OTHER", "10.0.0.1")),
            RJ_CALLING_AE,
            "calling-ae-not-allowed",
        ),
        (ServerConfig(require_user_identity=True), RJ_NO_REASON, "user-identity-required"),
        (ServerConfig(max_associations=1), RJ_LIMIT, "policy"),
        (ServerConfig(ae_title="ORTHO", strict_called_ae=True), RJ_CALLED_AE, "policy"),
        (ServerConfig(allowed_calling_aes={"GOOD"}), RJ_CALLING_AE, "policy"),
        (ServerConfig(user_identity=lambda identity: None), None, None),
    ],
)
def test_each_check_refuses_with_its_table_9_21_reason(
    config: ServerConfig, rj: AssociateRJ | None, label: str | None
) -> None:
    counts = AssociationCounts()
    counts.add("10.9.9.9", "SOMEONE")  # one established elsewhere: only the total limit hits
    rq = RQ
    if rj is None:  # the validator refuses a user identity that is present
        info = dataclasses.replace(
            RQ.user_information, user_identity_rq=UserIdentityRQ(1, False, b"bob", b"")
        )
        rq = dataclasses.replace(RQ, user_information=info)
        rj, label = RJ_NO_REASON, "policy"
    refusal = _decide(config, rq, counts=counts)
    assert isinstance(refusal, Refusal) and (refusal.rj, refusal.label) == (rj, label)


def test_the_access_list_is_checked_before_the_limits_and_the_application_context() -> None:
    config = ServerConfig(max_associations=1, access=OnlyFrom("TEST-SCU", "10.0.0.2"))
    bad_context = dataclasses.replace(RQ, application_context="1.2.3")
    counts = AssociationCounts()
    counts.add("10.0.0.1", "TEST-SCU")
    refusal = _decide(config, bad_context, counts=counts)
    assert isinstance(refusal, Refusal) and refusal.label == "calling-ae-not-allowed"
    allowed = _decide(config, bad_context, address="10.0.0.2", counts=counts)
    assert isinstance(allowed, Refusal) and allowed.rj == RJ_APP_CONTEXT


def test_per_source_limits_count_address_and_calling_ae() -> None:
    config = ServerConfig(max_associations=10, max_associations_per_address=1)
    counts = AssociationCounts()
    counts.add("10.0.0.1", "X")
    refusal = _decide(config, counts=counts)
    assert isinstance(refusal, Refusal) and refusal.rj == RJ_LIMIT
    assert "max_associations_per_address=1" in refusal.why
    counts.remove("10.0.0.1", "X")
    assert counts.total == 0 and not counts.per_address and not counts.per_calling_ae
    assert isinstance(_decide(config, counts=counts), IdentityOutcome)
