"""Build C-FIND response Identifiers from matched entities (PS3.4 C.2.2.3, C.4.1.1.3.2).

The response holds exactly the keys of the request: a key the entity lacks comes back
zero length; a sequence key matched with item keys returns only the matching items, each
reduced to the requested item keys (PS3.4 C.2.2.2.6); a universal sequence key returns
the whole sequence.
"""

from __future__ import annotations

import copy
from collections.abc import Collection

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from aiodicom.matching.model import EMPTY_RESULT, SPECIFIC_CHARACTER_SET, MatchResult
from aiodicom.matching.query import QUERY_RETRIEVE_LEVEL
from aiodicom.matching.text import CharsetError, charset_terms, element_vr, resolve_encodings
from aiodicom.matching.text import value_text as _value_text

UTF8_CHARSET = "ISO_IR 192"


def project(query: Dataset, record_ds: Dataset, result: MatchResult) -> Dataset:
    """The response Identifier for one matched entity (PS3.4 C.2.2.3, C.2.2.2.6).

    Specific Character Set (0008,0005) of the response: the entity's own when it can hold
    the returned text, else ISO_IR 192; it is present whenever non-ASCII text is returned
    and whenever the request asked for it (PS3.4 C.4.1.1.3.2 / K.4.1.1.3.2).
    Query/Retrieve Level (0008,0052) is echoed from the request (PS3.4 C.4.1.2.1).
    """
    response = _project_level(query, record_ds, result)
    _set_character_set(response, query, record_ds)
    return response


def _project_level(query: Dataset, record_ds: Dataset, result: MatchResult) -> Dataset:
    out = Dataset()
    for raw_tag in sorted(query.keys()):
        tag = int(raw_tag)
        if tag == SPECIFIC_CHARACTER_SET or tag & 0xFFFF == 0:
            continue
        query_elem = query.get_item(tag)
        assert query_elem is not None
        vr = element_vr(query_elem)
        if tag == QUERY_RETRIEVE_LEVEL:
            out.add(DataElement(tag, "CS", query[tag].value))
        elif vr == "SQ":
            out.add(_project_sequence(query, record_ds, tag, result))
        elif tag in record_ds:
            stored = record_ds[tag]
            out.add(DataElement(tag, stored.VR, copy.copy(stored.value)))
        else:
            out.add(DataElement(tag, vr, None))
    return out


def _project_sequence(
    query: Dataset, record_ds: Dataset, tag: int, result: MatchResult
) -> DataElement:
    query_items = query[tag].value or ()
    stored_elem = record_ds.get(tag)
    stored_items = stored_elem.value if stored_elem is not None and stored_elem.VR == "SQ" else ()
    stored_items = stored_items or ()
    indices = result.sequence_items.get(tag, tuple(range(len(stored_items))))
    if not query_items or len(query_items[0]) == 0:
        # PS3.4 C.2.2.2.6: no item keys -> the entire Sequence of Items is returned.
        items = [copy.deepcopy(stored_items[index]) for index in indices]
    else:
        item_query = query_items[0]
        items = [
            _project_level(
                item_query,
                stored_items[index],
                result.item_results.get((tag, index), EMPTY_RESULT),
            )
            for index in indices
        ]
    return DataElement(tag, "SQ", Sequence(items))


def _texts(ds: Dataset) -> list[str]:
    texts: list[str] = []
    for elem in ds:
        if elem.VR == "SQ":
            for item in elem.value or ():
                texts.extend(_texts(item))
        elif elem.value is not None and not isinstance(elem.value, bytes):
            texts.append(_value_text(elem.value))
    return texts


def _set_character_set(response: Dataset, query: Dataset, record_ds: Dataset) -> None:
    texts = _texts(response)
    non_ascii = any(not text.isascii() for text in texts)
    asked = SPECIFIC_CHARACTER_SET in query
    if not non_ascii and not asked:
        return
    terms = charset_terms(record_ds)
    if terms is None or (non_ascii and not _can_hold(terms, texts)):
        terms = [UTF8_CHARSET] if non_ascii or terms is None else terms
    response.SpecificCharacterSet = terms[0] if len(terms) == 1 else terms


def _can_hold(terms: list[str], texts: list[str]) -> bool:
    """Can the entity's character set encode every returned text (PS3.5 6.1)?"""
    try:
        encodings = resolve_encodings(terms)
    except CharsetError:
        return False
    if len(encodings) > 1:
        return True  # ISO 2022 code extensions: the text was decoded from these sets
    try:
        for text in texts:
            text.encode(encodings[0])
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def unsupported_keys(
    query: Dataset, supported: Collection[int], _path: tuple[int, ...] = ()
) -> tuple[tuple[int, ...], ...]:
    """Requested keys (as tag paths into sequences) not in ``supported``.

    A non-empty answer lets the service answer Pending 0xFF01 "one or more Optional Keys
    were not supported" (PS3.4 C.4.1.1.4, K.4.1.1.4). Specific Character Set, Query/
    Retrieve Level and group lengths are never keys.
    """
    found: list[tuple[int, ...]] = []
    for raw_tag in sorted(query.keys()):
        tag = int(raw_tag)
        if tag in (SPECIFIC_CHARACTER_SET, QUERY_RETRIEVE_LEVEL) or tag & 0xFFFF == 0:
            continue
        path = (*_path, tag)
        if tag not in supported:
            found.append(path)
            continue
        elem = query.get_item(tag)
        if elem is not None and element_vr(elem) == "SQ":
            for item in query[tag].value or ():
                found.extend(unsupported_keys(item, supported, path))
    return tuple(found)


def has_unsupported_keys(query: Dataset, supported: Collection[int]) -> bool:
    """True when some requested key is not supported (status 0xFF01, PS3.4 C.4.1.1.4)."""
    return bool(unsupported_keys(query, supported))
