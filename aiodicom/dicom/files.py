"""Whole files (PS3.10 7.1): the library's one file reader and its one file writer.

A Part 10 file is a 128-byte preamble, ``DICM``, the File Meta Information (group 0002,
always Explicit VR Little Endian) and the data set in the transfer syntax the meta names.
Some tools (dump2dcm, older worklist tools) write a bare data set instead. The fast
readers of this package (:mod:`.reader`, and the Q/R index's header reader) take the
files they can; :func:`read_file` reads any file with pydicom, and :func:`encode_file` is
the writer. Nothing outside :mod:`aiodicom.dicom` calls pydicom's file reading or
writing functions (tests/test_one_codec.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_file_meta_info
from pydicom.uid import UID

from aiodicom.dicom.identifier import encode_identifier

PREAMBLE = b"\0" * 128 + b"DICM"
"""PS3.10 7.1: the File Preamble (zeros: no application profile uses it here) and prefix."""


@dataclass(frozen=True, slots=True)
class FileMeta:
    """What a file's File Meta Information (PS3.10 7.1, Table 7.1-1) says of its data set.

    The implementation class UID and version name are pydicom's when not given.
    """

    sop_class_uid: str
    sop_instance_uid: str
    implementation_class_uid: str | None = None
    implementation_version_name: str | None = None


def read_file(source: str | Path | bytes, *, stop_before_pixels: bool = False) -> Dataset:
    """The data set of a file (a path, or the file's bytes), Part 10 or bare.

    The File Meta Information, when the file has one, is in ``file_meta`` (empty for a
    bare data set, whose encoding pydicom then guesses). pydicom's exceptions propagate
    (``InvalidDicomError``, ``OSError``, ``ValueError``, ``EOFError``...): callers name
    the file in their own error.
    """
    target = BytesIO(source) if isinstance(source, bytes) else source
    ds: Dataset = dcmread(target, stop_before_pixels=stop_before_pixels, force=True)
    return ds


def encode_file(data_set: Dataset | bytes, transfer_syntax: str, meta: FileMeta | None) -> bytes:
    """A Part 10 file of ``data_set`` in ``transfer_syntax`` (PS3.10 7.1), or with
    ``meta`` None the bare data set alone.

    Bytes are taken as already encoded in ``transfer_syntax`` and written as they are
    (no decoding and re-encoding: text in an undeclared character set stays intact); a
    Dataset is encoded (:func:`aiodicom.dicom.identifier.encode_identifier`, DataError
    when it cannot be).
    """
    body = data_set if isinstance(data_set, bytes) else encode_identifier(data_set, transfer_syntax)
    if meta is None:
        return body
    header = DicomBytesIO()
    header.write(PREAMBLE)
    write_file_meta_info(header, _file_meta(meta, transfer_syntax), enforce_standard=True)
    return header.getvalue() + body


def _file_meta(meta: FileMeta, transfer_syntax: str) -> FileMetaDataset:
    group = FileMetaDataset()
    group.MediaStorageSOPClassUID = UID(meta.sop_class_uid)
    group.MediaStorageSOPInstanceUID = UID(meta.sop_instance_uid)
    group.TransferSyntaxUID = UID(transfer_syntax)
    if meta.implementation_class_uid is not None:
        group.ImplementationClassUID = UID(meta.implementation_class_uid)
    if meta.implementation_version_name is not None:
        group.ImplementationVersionName = meta.implementation_version_name
    return group
