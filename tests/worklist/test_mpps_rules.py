"""PS3.4 F.7.2 rules as pure checks (aiodicom.worklist.mpps): each refusal's status, the
attribute it names (Error Comment, Attribute Identifier List) and its Attribute List."""

from __future__ import annotations

from pydicom import Dataset

from aiodicom.worklist.mpps import (
    CREATE_TYPE_1,
    CREATE_TYPE_2,
    SET_NOT_ALLOWED,
    check_create,
    check_set,
    merge,
    tag_name,
)
from tests.worklist.mpps_support import create_attributes, final_attributes, scheduled_step


def _valid() -> Dataset:
    return create_attributes(scheduled_step(1))


def test_a_complete_in_progress_attribute_list_is_accepted() -> None:
    assert check_create(_valid()) is None


def test_every_type_1_and_type_2_attribute_is_required_by_name() -> None:
    for tag in (*CREATE_TYPE_1, *CREATE_TYPE_2):
        ds = _valid()
        del ds[tag]
        refusal = check_create(ds)
        assert refusal is not None and refusal.status == 0x0120, hex(tag)
        assert refusal.tags == (tag,) and tag_name(tag) in refusal.comment


def test_type_1_values_must_not_be_empty_type_2_may() -> None:
    ds = _valid()
    ds.PerformedProcedureStepEndDate = ""  # Type 2: present and empty is fine
    assert check_create(ds) is None
    ds.PerformedStationAETitle = ""
    refusal = check_create(ds)
    assert refusal is not None and (refusal.status, refusal.tags) == (0x0121, (0x00400241,))


def test_scheduled_step_items_are_checked_too() -> None:
    ds = _valid()
    del ds.ScheduledStepAttributesSequence[0].AccessionNumber
    refusal = check_create(ds)
    assert refusal is not None and refusal.status == 0x0120
    assert "ScheduledStepAttributesSequence>AccessionNumber (0008,0050)" in refusal.comment
    ds = _valid()
    ds.ScheduledStepAttributesSequence[0].StudyInstanceUID = ""
    refusal = check_create(ds)
    assert refusal is not None and refusal.status == 0x0121


def test_create_status_other_than_in_progress_is_invalid_with_attribute_list() -> None:
    ds = _valid()
    ds.PerformedProcedureStepStatus = "DISCONTINUED"
    refusal = check_create(ds)
    assert refusal is not None and refusal.status == 0x0106
    assert refusal.attributes is not None
    assert refusal.attributes.PerformedProcedureStepStatus == "DISCONTINUED"


def test_sop_uids_belong_in_the_command_not_the_attribute_list() -> None:
    ds = _valid()
    ds.SOPInstanceUID = "1.2.3"
    refusal = check_create(ds)
    assert refusal is not None and (refusal.status, refusal.tags) == (0x0105, (0x00080018,))


def test_n_set_refuses_every_not_allowed_attribute() -> None:
    current = _valid()
    current.SOPClassUID = "1.2.840.10008.3.1.2.3.3"
    current.SOPInstanceUID = "1.2.3"
    for tag in SET_NOT_ALLOWED:
        change = Dataset()
        change[tag] = current[tag]
        refusal = check_set(current, change)
        assert refusal is not None and refusal.status == 0x0105, hex(tag)
        assert refusal.tags == (tag,)


def test_n_set_state_changes() -> None:
    current = _valid()
    bad = Dataset()
    bad.PerformedProcedureStepStatus = "SCHEDULED"
    refusal = check_set(current, bad)
    assert refusal is not None and refusal.status == 0x0106
    assert check_set(current, final_attributes()) is None
    done = merge(current, final_attributes())
    refusal = check_set(done, Dataset())
    assert refusal is not None and (refusal.status, refusal.error_id) == (0x0110, 0xA710)
    assert done.PerformedStationAETitle == "CT01"  # merge keeps what was not set
