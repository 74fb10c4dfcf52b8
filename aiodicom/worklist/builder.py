"""Response builders compiled per (plan, syntax): the per-response hot loop of a C-FIND.

A response identifier holds exactly the requested keys, in tag order, each with the
item's value or zero length (PS3.4 C.4.1.1.3.2, K.4.1.1.3.2), and only the matching items
of a sequence matched with item keys (C.2.2.2.6). Walking the plan for every response, a
first query over 100k items would spend most of its time in that walk. Here each plan
(:data:`aiodicom.worklist.query.Plan`) is turned once into
straight-line Python (the technique of :mod:`dataclasses`): one local per requested key,
constants for zero-length elements and sequence headers, and a per-tag memo lookup of the
encoded element (:class:`aiodicom.dicom.writer.Syntax`). The output is byte-identical to
a plain walk of the plan (a hypothesis test checks it on random items, plans and syntaxes).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiodicom.bounded import BoundedMemo
from aiodicom.dicom.reader import RawDataset
from aiodicom.dicom.writer import Syntax
from aiodicom.matching.model import EMPTY_RESULT, MatchResult
from aiodicom.worklist.query import IF_PRESENT, Plan

Builder = Callable[[RawDataset, MatchResult], bytes]
"""Builds one response identifier from an item's raw elements and its match result."""

BUILDERS_KEPT = 256
_BUILDERS: BoundedMemo[tuple[Plan, Syntax], Builder] = BoundedMemo(BUILDERS_KEPT)


def build_identifier(
    raw: RawDataset, plan: Plan, syntax: Syntax, result: MatchResult = EMPTY_RESULT
) -> bytes:
    """One response identifier of ``raw`` for ``plan`` (PS3.4 C.4.1.1.3.2, C.2.2.2.6)."""
    return builder_for(plan, syntax)(raw, result)


def builder_for(plan: Plan, syntax: Syntax) -> Builder:
    """The compiled builder of ``plan`` in ``syntax`` (compiled once, then memoized)."""
    key = (plan, syntax)  # a Syntax hashes by identity: its memos are in the builder
    found = _BUILDERS.get(key)
    if found is None:
        found = compile_builder(plan, syntax)
        _BUILDERS.put(key, found)
    return found


def compile_builder(plan: Plan, syntax: Syntax) -> Builder:
    """Straight-line code for ``plan``: see the module docstring.

    Two functions are generated. ``build`` looks each key up with a default of the key's
    own zero-length element, so a present value and an absent key take the same two dict
    lookups. An item holding a sequence where the plan asks for a leaf makes it raise
    TypeError (a sequence value is not hashable or not bytes), and ``checked``, which tests
    every value's type, answers instead.
    """
    namespace: dict[str, Any] = {"EMPTY_RESULT": EMPTY_RESULT}
    fast = ["def build(raw, result):", "    get = raw.get", "    try:"]
    checked = ["def checked(raw, result):", "    get = raw.get"]
    names: list[str] = []
    for index, (tag, vr, sub) in enumerate(plan):
        names.append(f"x{index}")
        if sub is None or sub is IF_PRESENT:
            required = sub is None
            _leaf_names(namespace, syntax, index, tag, vr, required=required)
            fast += _fast_leaf(index, tag, required=required)
            checked += _checked_leaf(index, tag)
        else:
            namespace[f"S{index}"] = _sequence_builder(tag, sub, syntax)
            line = f"x{index} = S{index}(get({tag}), result)"
            fast.append("        " + line)
            checked.append("    " + line)
    joined = "".join(f"{name}, " for name in names)
    if not names:
        fast.append("        pass")
    fast += ["    except TypeError:", "        return checked(raw, result)"]
    for lines in (fast, checked):
        lines.append(f"    return b''.join(({joined}))")
    source = "\n".join([*checked, *fast])
    code = compile(source, f"<response builder {len(plan)} keys>", "exec")
    exec(code, namespace)  # the source holds only ints and fixed text
    built: Builder = namespace["build"]
    return built


def _leaf_names(
    namespace: dict[str, Any], syntax: Syntax, index: int, tag: int, vr: str, *, required: bool
) -> None:
    """Constants of one requested leaf: its memo, its encoder and what stands for absence."""
    namespace[f"M{index}"] = syntax.memo_for(tag).get
    namespace[f"E{index}"] = syntax.encoder_for(tag)
    namespace[f"A{index}"] = (vr, b"")  # absent required key: its zero-length element
    namespace[f"Z{index}"] = syntax.element(tag, (vr, b"")) if required else b""


def _fast_leaf(index: int, tag: int, *, required: bool) -> list[str]:
    if required:
        return [
            f"        p = get({tag}, A{index})",
            f"        x{index} = M{index}(p) or E{index}(p)",
        ]
    return [
        f"        p = get({tag})",
        f"        x{index} = b'' if p is None else M{index}(p) or E{index}(p)",
    ]


def _checked_leaf(index: int, tag: int) -> list[str]:
    """The memoized element, else zero length (or nothing if optional)."""
    return [
        f"    p = get({tag})",
        "    if p is None or p[1].__class__ is tuple:",
        f"        x{index} = Z{index}",
        "    else:",
        f"        x{index} = M{index}(p) or E{index}(p)",
    ]


SequenceBuilder = Callable[["tuple[str, Any] | None", MatchResult], bytes]


def _sequence_builder(tag: int, sub: Plan | str, syntax: Syntax) -> SequenceBuilder:
    """PS3.4 C.2.2.2.6: a sequence with only the matching items, each reduced to ``sub``."""
    nested = None if isinstance(sub, str) else builder_for(sub, syntax)
    sequence = syntax.sequence

    def build_sequence(pair: tuple[str, Any] | None, result: MatchResult) -> bytes:
        items: tuple[RawDataset, ...] = ()
        if pair is not None and pair[1].__class__ is tuple:
            items = pair[1]
        chosen = result.sequence_items.get(tag)
        contents: list[bytes] = []
        for position in range(len(items)) if chosen is None else chosen:
            if nested is None:
                contents.append(syntax.whole(items[position]))
            else:
                inner = result.item_results.get((tag, position), EMPTY_RESULT)
                contents.append(nested(items[position], inner))
        return sequence(tag, contents)

    return build_sequence
