"""The one data-set codec: every module that reads or writes data-set bytes uses it.

``syntax`` (transfer syntaxes, VR and tag tables, deflate), ``reader`` (bytes -> raw
elements), ``scan`` (the reader's fast scan mode for query identifiers), ``values`` (raw
elements -> matching Records), ``writer`` (raw elements -> bytes, item and sequence
framing), ``identifier`` (the full mode: pydicom Datasets, after a structure check).
PS3.5 Annex A, 6.1, 6.2, 7.1, 7.3, 7.5.
"""
