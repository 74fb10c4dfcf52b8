"""Hypothesis strategies for every PDU, item and user information sub-item (PS3.8 9.3)."""

from __future__ import annotations

from hypothesis import strategies as st

from aiodicom.proto.pdus import (
    PDU,
    PDV,
    Abort,
    AssociateAC,
    AssociateRJ,
    AssociateRQ,
    PDataTF,
    PresentationContextAC,
    PresentationContextRQ,
    ReleaseRP,
    ReleaseRQ,
    RoleSelection,
    SOPClassCommonExtendedNegotiation,
    SOPClassExtendedNegotiation,
    UserIdentityAC,
    UserIdentityRQ,
    UserInformation,
)

_AE_ALPHABET = "".join(chr(c) for c in range(0x20, 0x7F) if c != 0x5C)
_KNOWN_SUB_ITEMS = set(range(0x51, 0x5A))

ae_titles = st.text(_AE_ALPHABET, min_size=1, max_size=16).filter(
    lambda s: s == s.strip(" ") and s != ""
)
uids = st.text("0123456789.", min_size=1, max_size=64)
version_names = st.text(_AE_ALPHABET + "\\", min_size=1, max_size=16).filter(
    lambda s: not s.endswith(" ")
)
small_bytes = st.binary(max_size=48)
context_id_lists = st.lists(
    st.integers(0, 127).map(lambda i: 2 * i + 1), min_size=1, max_size=6, unique=True
)


def _optional(strategy: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    return st.none() | strategy


roles = st.builds(RoleSelection, uids, st.booleans(), st.booleans())
extended = st.builds(SOPClassExtendedNegotiation, uids, small_bytes)
common_extended = st.builds(
    SOPClassCommonExtendedNegotiation,
    uids,
    uids,
    st.lists(uids, max_size=3).map(tuple),
)
identity_rq = st.builds(
    UserIdentityRQ, st.integers(0, 255), st.booleans(), small_bytes, small_bytes
)
identity_ac = st.builds(UserIdentityAC, small_bytes)
unknown_sub_items = st.lists(
    st.tuples(st.integers(0, 255).filter(lambda t: t not in _KNOWN_SUB_ITEMS), small_bytes),
    max_size=2,
).map(tuple)

user_information = st.builds(
    UserInformation,
    max_length=_optional(st.integers(0, 0xFFFFFFFF)),
    implementation_class_uid=_optional(uids),
    implementation_version_name=_optional(version_names),
    async_ops_window=_optional(st.tuples(st.integers(0, 0xFFFF), st.integers(0, 0xFFFF))),
    role_selections=st.lists(roles, max_size=3).map(tuple),
    sop_class_extended=st.lists(extended, max_size=3).map(tuple),
    sop_class_common_extended=st.lists(common_extended, max_size=2).map(tuple),
    user_identity_rq=_optional(identity_rq),
    user_identity_ac=_optional(identity_ac),
    unknown=unknown_sub_items,
)


@st.composite
def associate_rqs(draw: st.DrawFn) -> AssociateRQ:
    """PS3.8 9.3.2: random AE titles, contexts and user information."""
    contexts = tuple(
        PresentationContextRQ(
            context_id, draw(uids), tuple(draw(st.lists(uids, min_size=1, max_size=4)))
        )
        for context_id in draw(context_id_lists)
    )
    return AssociateRQ(
        draw(ae_titles),
        draw(ae_titles),
        contexts,
        draw(user_information),
        draw(uids),
        draw(st.integers(0, 0xFFFF)),
    )


@st.composite
def associate_acs(draw: st.DrawFn) -> AssociateAC:
    """PS3.8 9.3.3: transfer syntax only for accepted contexts (result 0)."""
    contexts = []
    for context_id in draw(context_id_lists):
        result = draw(st.integers(0, 4))
        syntax = draw(uids) if result == 0 else ""
        contexts.append(PresentationContextAC(context_id, result, syntax))
    return AssociateAC(
        draw(ae_titles),
        draw(ae_titles),
        tuple(contexts),
        draw(user_information),
        draw(uids),
        draw(st.integers(0, 0xFFFF)),
    )


pdvs = st.builds(
    PDV,
    st.integers(0, 127).map(lambda i: 2 * i + 1),
    st.booleans(),
    st.booleans(),
    st.binary(max_size=300),
)
pdata = st.builds(PDataTF, st.lists(pdvs, min_size=1, max_size=4).map(tuple))
rejects = st.builds(
    AssociateRJ, st.sampled_from((1, 2)), st.sampled_from((1, 2, 3)), st.integers(0, 255)
)
aborts = st.builds(Abort, st.integers(0, 2), st.integers(0, 6))
releases = st.sampled_from((ReleaseRQ(), ReleaseRP()))

any_pdu: st.SearchStrategy[PDU] = st.one_of(
    associate_rqs(), associate_acs(), rejects, pdata, releases, aborts
)


# Realistic values only (well-formed UIDs, sub-items where the standard puts them), for
# cross-checks against an independent implementation that validates more than the wire.
_uid_components = st.one_of(st.just("0"), st.integers(1, 99999999).map(str))
valid_uids = (
    st.lists(_uid_components, min_size=2, max_size=8).map(".".join).filter(lambda u: len(u) <= 64)
)


def realistic_user_information(rq: bool) -> st.SearchStrategy[UserInformation]:
    """User information as a requestor (``rq``) or acceptor would really send it."""
    identity = st.builds(
        UserIdentityRQ, st.integers(1, 5), st.booleans(), st.binary(min_size=1, max_size=20)
    )
    return st.builds(
        UserInformation,
        max_length=st.integers(0, 0xFFFFFFFF),
        implementation_class_uid=valid_uids,
        implementation_version_name=_optional(st.text("ABCXYZ0123_", min_size=1, max_size=16)),
        async_ops_window=_optional(st.tuples(st.integers(0, 0xFFFF), st.integers(0, 0xFFFF))),
        role_selections=st.lists(
            st.builds(RoleSelection, valid_uids, st.booleans(), st.booleans()), max_size=2
        ).map(tuple),
        sop_class_extended=st.lists(
            st.builds(SOPClassExtendedNegotiation, valid_uids, st.binary(min_size=1, max_size=8)),
            max_size=2,
        ).map(tuple),
        sop_class_common_extended=(
            st.lists(
                st.builds(
                    SOPClassCommonExtendedNegotiation,
                    valid_uids,
                    valid_uids,
                    st.lists(valid_uids, max_size=2).map(tuple),
                ),
                max_size=2,
            ).map(tuple)
            if rq
            else st.just(())
        ),
        user_identity_rq=_optional(identity) if rq else st.none(),
        user_identity_ac=st.none()
        if rq
        else _optional(st.builds(UserIdentityAC, st.binary(min_size=1, max_size=20))),
    )


@st.composite
def realistic_associate(draw: st.DrawFn, rq: bool) -> AssociateRQ | AssociateAC:
    """A-ASSOCIATE-RQ/AC with well-formed UIDs and accepted contexts only."""
    ids = draw(context_id_lists)
    info = draw(realistic_user_information(rq))
    called, calling = draw(ae_titles), draw(ae_titles)
    if rq:
        requested = tuple(
            PresentationContextRQ(
                i, draw(valid_uids), tuple(draw(st.lists(valid_uids, min_size=1, max_size=3)))
            )
            for i in ids
        )
        return AssociateRQ(called, calling, requested, info)
    answered = tuple(PresentationContextAC(i, 0, draw(valid_uids)) for i in ids)
    return AssociateAC(called, calling, answered, info)


realistic_pdu: st.SearchStrategy[PDU] = st.one_of(
    realistic_associate(True), realistic_associate(False), rejects, pdata, releases, aborts
)
