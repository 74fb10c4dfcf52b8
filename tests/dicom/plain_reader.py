"""The slow twin of ``Reader.dataset``: the same reader with every element through
``Reader.element`` (no inlined leaf headers), built explicitly rather than switched on."""

from __future__ import annotations

from aiodicom.dicom.reader import Interner, MutableRaw, Reader

LAYOUTS = {  # transfer syntax UID: (explicit VR, little endian), PS3.5 A.1-A.3
    "1.2.840.10008.1.2": (False, True),
    "1.2.840.10008.1.2.1": (True, True),
    "1.2.840.10008.1.2.2": (True, False),
}


class PlainReader(Reader):
    """``Reader`` whose data sets (items too) are read one ``element`` call at a time."""

    def dataset(self, offset: int, end: int | None) -> tuple[MutableRaw, int]:
        elements: MutableRaw = {}
        while offset < (len(self.data) if end is None else end):
            offset = self.element(elements, offset, end)
            if offset < 0:
                return elements, -offset
        if end is None:
            raise self.fail("missing item delimiter (file half-written?)")
        return elements, offset


def read_dataset(
    data: bytes, syntax: str, kind: type[Reader], interner: Interner | None = None
) -> MutableRaw:
    """A whole bare data set in ``syntax``, read by ``kind`` (Reader or PlainReader)."""
    explicit, little = LAYOUTS[syntax]
    shared = interner if interner is not None else Interner()
    reader = kind(data, "item.wl", explicit=explicit, little=little, interner=shared)
    return reader.dataset(0, len(data))[0]
