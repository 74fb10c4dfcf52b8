"""aiodicom: an asyncio-native DICOM C-FIND toolkit."""

__version__ = "0.1.0"
