"""The Modality Worklist information model (PS3.4 Annex K): query preparation, the C-FIND
service, response building and replayed answers. Storage is in :mod:`aiodicom.store`."""

from aiodicom.worklist.sample import (
    BUNDLED_SAMPLE_COUNT,
    BUNDLED_SAMPLE_OPTIONS,
    BUNDLED_SAMPLE_SEED,
    SampleOptions,
    write_folder,
)
from aiodicom.worklist.service import WorklistOptions, WorklistService

__all__ = [
    "BUNDLED_SAMPLE_COUNT",
    "BUNDLED_SAMPLE_OPTIONS",
    "BUNDLED_SAMPLE_SEED",
    "SampleOptions",
    "WorklistOptions",
    "WorklistService",
    "write_folder",
]
