"""One data-set reader and one writer in the library, and tests that patch no production code.

Outside :mod:`aiodicom.dicom`, no module of the library or of the apps (``servers/``,
``clients/``) calls pydicom's file reading or writing functions (``dcmread``,
``dcmwrite``, ``Dataset.save_as``, anything from ``pydicom.filereader`` or
``pydicom.filewriter``): whole files go through :func:`aiodicom.dicom.read_file` and
:func:`aiodicom.dicom.encode_file`, data sets through the rest of the package. The
writer gives the bytes pydicom's ``save_as`` gives, and the reader reads them back.

And no test replaces a name of an aiodicom module or class (``monkeypatch.setattr``):
production code offers a seam (a constructor or function argument) instead.
"""

from __future__ import annotations

import ast
import io
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from aiodicom.dicom import FileMeta, encode_file, read_file
from aiodicom.worklist.sample import WORKLIST_SOP_CLASS, generate

REPO = Path(__file__).resolve().parents[1]
LIBRARY_FOLDERS = ("aiodicom", "servers", "clients")
CODEC = REPO / "aiodicom" / "dicom"
FILE_MODULES = frozenset({"pydicom.filereader", "pydicom.filewriter"})
FILE_FUNCTIONS = frozenset({"dcmread", "dcmwrite", "read_file", "write_file", "save_as"})


def _library_files() -> list[Path]:
    files = (path for folder in LIBRARY_FOLDERS for path in (REPO / folder).rglob("*.py"))
    return sorted(path for path in files if not path.is_relative_to(CODEC))


def file_codec_calls(path: Path) -> list[str]:
    """Where ``path`` reads or writes files with pydicom, one line each."""
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("pydicom"):
            names = {alias.name for alias in node.names}
            if node.module in FILE_MODULES or names & FILE_FUNCTIONS:
                found.append(f"{node.lineno}: from {node.module} import {', '.join(sorted(names))}")
        elif isinstance(node, ast.Import):
            found += [
                f"{node.lineno}: import {a.name}" for a in node.names if a.name in FILE_MODULES
            ]
        elif isinstance(node, ast.Attribute) and node.attr in FILE_FUNCTIONS:
            root = node.value
            if node.attr == "save_as" or (isinstance(root, ast.Name) and root.id == "pydicom"):
                found.append(f"{node.lineno}: .{node.attr}")
    return found


def test_library_files_are_found() -> None:
    names = {path.relative_to(REPO).as_posix() for path in _library_files()}
    assert {"aiodicom/store/worklist_items.py", "clients/findscu/keys.py"} <= names
    assert not any(name.startswith("aiodicom/dicom/") for name in names)


@pytest.mark.parametrize("path", _library_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_only_aiodicom_dicom_reads_and_writes_files(path: Path) -> None:
    assert file_codec_calls(path) == []


def test_the_checker_flags_every_way_in(tmp_path: Path) -> None:
    module = tmp_path / "module.py"
    module.write_text(
        "import pydicom\n"
        "import pydicom.filewriter\n"
        "from pydicom import dcmread, config\n"
        "from pydicom.filereader import read_dataset\n"
        "from aiodicom.dicom import read_file\n"
        "pydicom.dcmread('x')\n"
        "ds.save_as('y')\n"
        "read_file('z')\n",
        encoding="utf-8",
    )
    assert [line.split(":")[0] for line in file_codec_calls(module)] == ["2", "3", "4", "6", "7"]


def _saved(ds: Dataset, syntax: str, meta: FileMeta | None) -> bytes:
    """What pydicom's own writer gives (the reference for :func:`encode_file`)."""
    copy = Dataset()
    copy.update(ds)
    buffer = io.BytesIO()
    if meta is None:
        copy.save_as(buffer, implicit_vr=syntax == ImplicitVRLittleEndian, little_endian=True)
        return buffer.getvalue()
    group = FileMetaDataset()
    group.MediaStorageSOPClassUID = UID(meta.sop_class_uid)
    group.MediaStorageSOPInstanceUID = UID(meta.sop_instance_uid)
    group.TransferSyntaxUID = UID(syntax)
    copy.file_meta = group
    copy.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


@pytest.mark.parametrize("syntax", [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
@pytest.mark.parametrize("with_meta", [True, False])
def test_the_writer_gives_pydicoms_bytes_and_the_reader_reads_them(
    syntax: str, with_meta: bool
) -> None:
    for index, ds in enumerate(generate(6, seed=9)):
        meta = FileMeta(WORKLIST_SOP_CLASS, f"1.2.3.{index}") if with_meta else None
        data = encode_file(ds, syntax, meta)
        assert data == _saved(ds, syntax, meta)
        back = read_file(data)
        assert back == ds
        assert dcmread(io.BytesIO(data), force=True) == ds
        if meta is not None:
            assert data[128:132] == b"DICM"
            assert back.file_meta.TransferSyntaxUID == syntax


def test_bytes_are_written_as_given_after_the_meta() -> None:
    raw = b"\x10\x00\x10\x00\x08\x00\x00\x00Doe^Jane"
    meta = FileMeta(WORKLIST_SOP_CLASS, "1.2.3", "1.2.3.4", "TEST_1")
    data = encode_file(raw, ImplicitVRLittleEndian, meta)
    assert data.endswith(raw)
    back = read_file(data)
    assert str(back.PatientName) == "Doe^Jane"
    assert back.file_meta.ImplementationVersionName == "TEST_1"


# -- no test patches production code -------------------------------------------------------


def _test_files() -> list[Path]:
    return sorted((REPO / "tests").rglob("*.py"))


def production_patches(path: Path) -> list[str]:
    """``monkeypatch.setattr`` calls and attribute assignments in ``path`` whose target is
    an aiodicom module or a name imported from one (the standard library may be spied
    on; the environment too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    ours: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("aiodicom"):
            ours |= {alias.asname or alias.name for alias in node.names}
        elif isinstance(node, ast.Import):
            ours |= {(a.asname or a.name).split(".")[0] for a in node.names if "aiodicom" in a.name}
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Assign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Attribute) and _root(target) in ours:
                    found.append(f"{node.lineno}: {ast.unparse(target)} = ...")
            continue
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        if node.func.attr not in ("setattr", "delattr") or not node.args:
            continue
        target = node.args[0]
        named = _root(target) in ours
        dotted = isinstance(target, ast.Constant) and str(target.value).startswith("aiodicom")
        if named or dotted:
            found.append(f"{node.lineno}: {ast.unparse(node)}")
    return found


def _root(node: ast.expr) -> str | None:
    """The name an attribute chain starts from (``a`` of ``a.b.c``), None if none."""
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


@pytest.mark.parametrize("path", _test_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_no_test_patches_production_code(path: Path) -> None:
    assert production_patches(path) == []


def test_the_patch_checker_flags_modules_and_classes(tmp_path: Path) -> None:
    test = tmp_path / "test_x.py"
    test.write_text(
        "import gc\n"
        "from aiodicom.store import readahead\n"
        "from aiodicom.net.find import FindCall\n"
        "monkeypatch.setattr(readahead, 'CAN_ADVISE', False)\n"
        "monkeypatch.setattr(FindCall, 'on_message', spy)\n"
        "monkeypatch.setattr('aiodicom.log.x', 1)\n"
        "monkeypatch.setattr(gc, 'collect', spy)\n"
        "readahead.DEFAULT_WINDOW = 3\n"
        "gc.garbage = []\n",
        encoding="utf-8",
    )
    assert sorted(line.split(":")[0] for line in production_patches(test)) == ["4", "5", "6", "8"]
