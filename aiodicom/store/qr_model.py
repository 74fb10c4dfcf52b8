"""The Query/Retrieve information models: levels, key attributes and entity assignment.

PS3.4 C.6.1 (Patient Root), C.6.2 (Study Root) and C.6.3 (Patient/Study Only) define
which levels each model has and, per level, the Unique (U), Required (R) and Optional (O)
key attributes (Tables C.6-1 .. C.6-4, C.6-5 .. C.6-8). This module is pure data: no SQL,
no I/O. The SQL backend derives its indexed columns from :data:`INDEXED_KEYS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

QUERY_RETRIEVE_LEVEL = 0x00080052
SPECIFIC_CHARACTER_SET = 0x00080005


class Level(IntEnum):
    """The four entity levels of PS3.4 C.6, ordered from the top of the hierarchy."""

    PATIENT = 0
    STUDY = 1
    SERIES = 2
    IMAGE = 3

    @classmethod
    def parse(cls, text: str) -> Level | None:
        """Parse a Query/Retrieve Level (0008,0052) value; ``None`` if unknown."""
        return cls.__members__.get(text.strip().upper())


class Model(IntEnum):
    """The three Q/R FIND information models (PS3.4 C.6.1, C.6.2, C.6.3)."""

    PATIENT_ROOT = 0
    STUDY_ROOT = 1
    PATIENT_STUDY_ONLY = 2


MODEL_UIDS: dict[str, Model] = {
    "1.2.840.10008.5.1.4.1.2.1.1": Model.PATIENT_ROOT,
    "1.2.840.10008.5.1.4.1.2.2.1": Model.STUDY_ROOT,
    "1.2.840.10008.5.1.4.1.2.3.1": Model.PATIENT_STUDY_ONLY,
}

MODEL_LEVELS: dict[Model, tuple[Level, ...]] = {
    # PS3.4 C.6.1.1.1 / C.6.2.1.1 / C.6.3.1.1: the levels of each model, top first.
    Model.PATIENT_ROOT: (Level.PATIENT, Level.STUDY, Level.SERIES, Level.IMAGE),
    Model.STUDY_ROOT: (Level.STUDY, Level.SERIES, Level.IMAGE),
    Model.PATIENT_STUDY_ONLY: (Level.PATIENT, Level.STUDY),
}

UNIQUE_KEYS: dict[Level, int] = {
    # PS3.4 C.6.1.1.2-C.6.1.1.5: one Unique Key per level.
    Level.PATIENT: 0x00100020,  # Patient ID
    Level.STUDY: 0x0020000D,  # Study Instance UID
    Level.SERIES: 0x0020000E,  # Series Instance UID
    Level.IMAGE: 0x00080018,  # SOP Instance UID
}

# Computed ("derived") attributes, PS3.4 C.6.1.1.2 / C.6.1.1.3 / C.6.1.1.4.
NUMBER_OF_PATIENT_RELATED_STUDIES = 0x00201200
NUMBER_OF_PATIENT_RELATED_SERIES = 0x00201202
NUMBER_OF_PATIENT_RELATED_INSTANCES = 0x00201204
NUMBER_OF_STUDY_RELATED_SERIES = 0x00201206
NUMBER_OF_STUDY_RELATED_INSTANCES = 0x00201208
NUMBER_OF_SERIES_RELATED_INSTANCES = 0x00201209
MODALITIES_IN_STUDY = 0x00080061
SOP_CLASSES_IN_STUDY = 0x00080062

COMPUTED_KEYS: dict[int, Level] = {
    NUMBER_OF_PATIENT_RELATED_STUDIES: Level.PATIENT,
    NUMBER_OF_PATIENT_RELATED_SERIES: Level.PATIENT,
    NUMBER_OF_PATIENT_RELATED_INSTANCES: Level.PATIENT,
    NUMBER_OF_STUDY_RELATED_SERIES: Level.STUDY,
    NUMBER_OF_STUDY_RELATED_INSTANCES: Level.STUDY,
    MODALITIES_IN_STUDY: Level.STUDY,
    SOP_CLASSES_IN_STUDY: Level.STUDY,
    NUMBER_OF_SERIES_RELATED_INSTANCES: Level.SERIES,
}


@dataclass(frozen=True, slots=True)
class KeyDef:
    """One key attribute kept in an indexed column: tag, VR, level and key type (U/R/O)."""

    tag: int
    vr: str
    level: Level
    key_type: str

    @property
    def column(self) -> str:
        """The SQL column name for this key (``k_ggggeeee``)."""
        return f"k_{self.tag:08x}"


INDEXED_KEYS: tuple[KeyDef, ...] = (
    # Table C.6-1 (Patient level)
    KeyDef(0x00100010, "PN", Level.PATIENT, "R"),
    KeyDef(0x00100020, "LO", Level.PATIENT, "U"),
    KeyDef(0x00100021, "LO", Level.PATIENT, "O"),
    KeyDef(0x00100030, "DA", Level.PATIENT, "O"),
    KeyDef(0x00100032, "TM", Level.PATIENT, "O"),
    KeyDef(0x00100040, "CS", Level.PATIENT, "O"),
    # Table C.6-2 (Study level)
    KeyDef(0x00080020, "DA", Level.STUDY, "R"),
    KeyDef(0x00080030, "TM", Level.STUDY, "R"),
    KeyDef(0x00080050, "SH", Level.STUDY, "R"),
    KeyDef(0x00200010, "SH", Level.STUDY, "R"),
    KeyDef(0x0020000D, "UI", Level.STUDY, "U"),
    KeyDef(0x00080090, "PN", Level.STUDY, "O"),
    KeyDef(0x00081030, "LO", Level.STUDY, "O"),
    # Table C.6-3 (Series level)
    KeyDef(0x00080060, "CS", Level.SERIES, "R"),
    KeyDef(0x00200011, "IS", Level.SERIES, "R"),
    KeyDef(0x0020000E, "UI", Level.SERIES, "U"),
    KeyDef(0x0008103E, "LO", Level.SERIES, "O"),
    KeyDef(0x00180015, "CS", Level.SERIES, "O"),
    # Table C.6-4 (Composite Object Instance level)
    KeyDef(0x00200013, "IS", Level.IMAGE, "R"),
    KeyDef(0x00080018, "UI", Level.IMAGE, "U"),
    KeyDef(0x00080016, "UI", Level.IMAGE, "O"),
)

KEYS_BY_TAG: dict[int, KeyDef] = {key.tag: key for key in INDEXED_KEYS}

# Attributes (besides the indexed keys) that belong to the Patient / Study / Series
# entity when a file's header is split into entities: the Patient module, the Patient
# Study module and the General Study / General Series modules (PS3.3 C.7.1.1, C.7.2.1,
# C.7.2.2, C.7.3.1). Everything else is an attribute of the composite instance.
_PATIENT_STUDY_TAGS = frozenset(
    {0x00101010, 0x00101020, 0x00101030, 0x00102180, 0x001021B0, 0x00102000, 0x001021A0}
)
_STUDY_TAGS = frozenset(
    {
        0x00080020,
        0x00080030,
        0x00080050,
        0x00080051,
        0x00080090,
        0x00080096,
        0x00081030,
        0x00081032,
        0x00081060,
        0x00081080,
        0x00081110,
        0x0020000D,
        0x00200010,
        0x00321032,
        0x00321060,
        0x00401012,
    }
)
_SERIES_TAGS = frozenset(
    {
        0x00080021,
        0x00080031,
        0x00080060,
        0x0008103E,
        0x00081050,
        0x00081070,
        0x00081111,
        0x00180015,
        0x00181030,
        0x00185100,
        0x0020000E,
        0x00200011,
        0x00200060,
        0x00400244,
        0x00400245,
        0x00400253,
        0x00400254,
        0x00400275,
    }
)


def entity_level_of(tag: int) -> Level:
    """Which entity of the hierarchy an attribute of a stored instance belongs to.

    PS3.4 C.6.1.1: Patient-level attributes are the Patient module (group 0010, except
    the Patient Study module attributes, which describe the patient at the time of the
    study); Study and Series attributes are those of the General Study / Series modules.
    """
    if tag in _STUDY_TAGS or tag in _PATIENT_STUDY_TAGS:
        return Level.STUDY
    if tag in _SERIES_TAGS:
        return Level.SERIES
    if tag >> 16 == 0x0010:
        return Level.PATIENT
    return Level.IMAGE


def key_level(model: Model, tag: int) -> Level:
    """The level at which ``tag`` is a key in ``model``.

    PS3.4 C.6.2.1.2 (Table C.6-5): in the Study Root model the Patient attributes are
    study-level keys, because the model has no Patient level.
    """
    level = COMPUTED_KEYS.get(tag)
    if level is None:
        level = entity_level_of(tag)
    if model is Model.STUDY_ROOT and level is Level.PATIENT:
        return Level.STUDY
    return level
