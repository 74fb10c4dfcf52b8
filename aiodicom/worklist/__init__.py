"""The Modality Worklist information model (PS3.4 Annex K): query preparation, the C-FIND
service, response building and replayed answers; the Modality Performed Procedure Step
SCP beside it (PS3.4 Annex F). Storage is in :mod:`aiodicom.store`."""

from aiodicom.worklist.mpps import MPPS_SOP_CLASS
from aiodicom.worklist.sample import (
    BUNDLED_SAMPLE_COUNT,
    BUNDLED_SAMPLE_OPTIONS,
    BUNDLED_SAMPLE_SEED,
    SampleOptions,
    write_folder,
)
from aiodicom.worklist.service import WorklistOptions, WorklistService

from aiodicom.worklist.mpps_service import MppsOptions, MppsService  # isort: skip (after service)

__all__ = [
    "BUNDLED_SAMPLE_COUNT",
    "BUNDLED_SAMPLE_OPTIONS",
    "BUNDLED_SAMPLE_SEED",
    "MPPS_SOP_CLASS",
    "MppsOptions",
    "MppsService",
    "SampleOptions",
    "WorklistOptions",
    "WorklistService",
    "write_folder",
]
