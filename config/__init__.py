"""The bundled configuration files and sample data, installed as ``aiodicom.bundled``.

``worklist.yaml``, ``qrscp.yaml``, ``security.yaml`` and ``loadtest.yaml`` explain every
key; ``worklist-data/`` is the template of the sample worklist and ``qr-data/`` the sample
Q/R files. :data:`FOLDER` is where they are, in a checkout or an installed wheel alike.
"""

from pathlib import Path

FOLDER = Path(__file__).resolve().parent
"""The folder holding the bundled files."""
