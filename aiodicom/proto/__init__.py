"""Sans-IO DICOM upper layer (PS3.8) and DIMSE (PS3.7). Never imports asyncio or socket."""
