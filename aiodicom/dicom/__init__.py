"""The one data-set codec: every module that reads or writes data-set bytes uses it.

``syntax`` (transfer syntaxes, VR and tag tables, deflate), ``reader`` (bytes -> raw
elements), ``scan`` (the reader's fast scan mode for query identifiers), ``values`` (raw
elements -> matching Records), ``writer`` (raw elements -> bytes, item and sequence
framing), ``identifier`` (the full mode: pydicom Datasets, after a structure check),
``files`` (whole PS3.10 files: the one file reader and the one file writer).
PS3.5 Annex A, 6.1, 6.2, 7.1, 7.3, 7.5; PS3.10 7.1.
"""

from aiodicom.dicom.files import FileMeta, encode_file, read_file
from aiodicom.dicom.identifier import dataset_bytes

__all__ = ["FileMeta", "dataset_bytes", "encode_file", "read_file"]
