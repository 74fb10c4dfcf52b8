"""HL7 v2 order messages for the tests, built as IHE RAD-4/RAD-13 senders build them."""

from __future__ import annotations

import datetime
import itertools

_SERIAL = itertools.count(1)


def today_dtm(hour: int = 9, minute: int = 30) -> str:
    return datetime.date.today().strftime("%Y%m%d") + f"{hour:02d}{minute:02d}"


def orm(
    control: str = "NW",
    *,
    placer: str = "PL1001",
    filler: str = "FL1001",
    accession: str = "ACC1001",
    procedure_id: str = "RP1001",
    sps_id: str = "SPS1001",
    patient_id: str = "PAT1001",
    name: str = "Doe^Jane^Q",
    birth: str = "19700101",
    sex: str = "F",
    modality: str = "CT",
    start: str | None = None,
    priority: str = "R",
    study_uid: str = "1.2.826.0.1.3680043.10.1234.1",
    charset: str = "",
    pid3: str | None = None,
) -> str:
    """ORM^O01 v2.3.1: MSH PID PV1 ORC OBR ZDS, segments joined by <CR>."""
    when = start if start is not None else today_dtm()
    patient = pid3 if pid3 is not None else f"{patient_id}^^^HOSP"
    segments = [
        f"MSH|^~\\&|RIS|HOSP|AIODICOM|RAD|20261206120000||ORM^O01|M{next(_SERIAL)}|P|2.3.1"
        f"||||||{charset}",
        f"PID|1||{patient}||{name}||{birth}|{sex}",
        "PV1|1|O|RAD^101|||||1234^Referrer^Rita|||||||||||V555",
        f"ORC|{control}|{placer}|{filler}||SC||^^^{when}^^{priority}||20261206||||||",
        f"OBR|1|{placer}|{filler}|P1^Head CT^LOCAL^PR1^CT head protocol^LOCAL|||||||||||"
        f"|5678^Orderer^Otto||{accession}|{procedure_id}|{sps_id}||||{modality}|||"
        f"^^^{when}^^{priority}",
        f"ZDS|{study_uid}^RIS^Application^DICOM",
    ]
    return "\r".join(segments)


def omi(
    control: str = "NW",
    *,
    placer: str = "PL2001",
    filler: str = "FL2001",
    accession: str = "ACC2001",
    procedure_id: str = "RP2001",
    steps: tuple[tuple[str, str, str], ...] = (("SPS2001", "MR", "MR01"),),
    patient_id: str = "PAT2001",
    name: str = "Roe^Rick",
    start: str | None = None,
    charset: str = "UNICODE UTF-8",
    study_uid: str = "1.2.826.0.1.3680043.10.1234.2",
) -> str:
    """OMI^O23 v2.5.1: MSH PID PV1 ORC TQ1 OBR IPC+ (one IPC per (SPS id, modality, AE))."""
    when = start if start is not None else today_dtm(11, 0)
    segments = [
        f"MSH|^~\\&|RIS|HOSP|AIODICOM|RAD|20261206120000||OMI^O23^OMI_O23|M{next(_SERIAL)}|P"
        f"|2.5.1||||||{charset}",
        f"PID|1||{patient_id}^^^HOSP||{name}||19800202|M",
        "PV1|1|I|WARD^2",
        f"ORC|{control}|{placer}|{filler}||SC||||20261206|||9^Orderer^Olga",
        f"TQ1|1||||||{when}||S",
        f"OBR|1|{placer}|{filler}|P2^Knee MR^LOCAL",
    ]
    for sps_id, modality, station in steps:
        segments.append(
            f"IPC|{accession}|{procedure_id}|{study_uid}|{sps_id}|{modality}"
            f"|PR2^Knee protocol^LOCAL|{station}NAME|ROOM1|{station}"
        )
    return "\r".join(segments)
