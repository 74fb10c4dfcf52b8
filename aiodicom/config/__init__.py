"""Typed YAML configuration of the aiodicom server programs.

* :mod:`aiodicom.config.common`: the shared ``server``, ``matching`` and ``logging``
  sections, the typed section builder and the YAML reader.
* :mod:`aiodicom.config.worklist`: the Modality Worklist SCP (``config/worklist.yaml``).
* :mod:`aiodicom.config.qr`: the Q/R SCP (``config/qrscp.yaml``).
"""

from aiodicom.config.common import (
    LoggingSection,
    MatchingSection,
    NetworkSection,
    build_section,
    flag_error,
    read_yaml,
    yaml_error_text,
)
from aiodicom.config.qr import (
    QRSection,
    QRServerConfig,
    StorageSection,
    is_database_url,
    load_qr_config,
    validate_qr_config,
)
from aiodicom.config.worklist import (
    Hl7Section,
    HttpSection,
    WorklistSection,
    WorklistServerConfig,
    load_worklist_config,
    validate_worklist_config,
)

__all__ = [
    "Hl7Section",
    "HttpSection",
    "LoggingSection",
    "MatchingSection",
    "NetworkSection",
    "QRSection",
    "QRServerConfig",
    "StorageSection",
    "WorklistSection",
    "WorklistServerConfig",
    "build_section",
    "flag_error",
    "is_database_url",
    "load_qr_config",
    "load_worklist_config",
    "read_yaml",
    "validate_qr_config",
    "validate_worklist_config",
    "yaml_error_text",
]
