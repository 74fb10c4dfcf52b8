"""The attributes our Modality Worklist SCP supports as keys: PS3.4 K.6.1.2.2, Table K.6-1.

A requested key outside this set is not matched and not returned, and the pending
responses carry status 0xFF01 ("one or more Optional Keys were not supported",
PS3.4 K.4.1.1.4). Attributes of code sequence items and of referenced SOP items are
included so that nested sequences of the table can be requested.
"""

from __future__ import annotations

from pydicom.datadict import tag_for_keyword

SUPPORTED_KEYWORDS = (
    # SOP Common
    "SpecificCharacterSet", "TimezoneOffsetFromUTC",
    # Scheduled Procedure Step (K.6-1) and its sequence items
    "ScheduledProcedureStepSequence", "ScheduledStationAETitle",
    "ScheduledProcedureStepStartDate", "ScheduledProcedureStepStartTime",
    "ScheduledProcedureStepEndDate", "ScheduledProcedureStepEndTime", "Modality",
    "ScheduledPerformingPhysicianName", "ScheduledPerformingPhysicianIdentificationSequence",
    "ScheduledProcedureStepDescription", "ScheduledStationName",
    "ScheduledProcedureStepLocation", "ScheduledProtocolCodeSequence", "PreMedication",
    "ScheduledProcedureStepID", "RequestedContrastAgent", "ScheduledProcedureStepStatus",
    "CommentsOnTheScheduledProcedureStep", "AnatomicalOrientationType",
    # Requested Procedure
    "RequestedProcedureID", "RequestedProcedureDescription", "RequestedProcedureCodeSequence",
    "StudyInstanceUID", "StudyDate", "StudyTime", "ReferencedStudySequence",
    "RequestedProcedurePriority", "PatientTransportArrangements",
    "ReasonForTheRequestedProcedure", "ReasonForRequestedProcedureCodeSequence",
    "RequestedProcedureComments", "RequestedProcedureLocation", "ConfidentialityCode",
    "ReportingPriority", "NamesOfIntendedRecipientsOfResults",
    # Imaging Service Request
    "AccessionNumber", "IssuerOfAccessionNumberSequence", "RequestingPhysician",
    "RequestingPhysicianIdentificationSequence", "ReferringPhysicianName",
    "ReferringPhysicianIdentificationSequence", "RequestingService",
    "PlacerOrderNumberImagingServiceRequest", "FillerOrderNumberImagingServiceRequest",
    "ImagingServiceRequestComments", "IssueDateOfImagingServiceRequest",
    "IssueTimeOfImagingServiceRequest", "OrderEnteredBy", "OrderEntererLocation",
    "OrderCallbackPhoneNumber", "ReasonForTheImagingServiceRequest",
    # Visit Identification / Status / Relationship / Admission
    "AdmissionID", "IssuerOfAdmissionIDSequence", "InstitutionName", "InstitutionAddress",
    "InstitutionCodeSequence", "CurrentPatientLocation", "VisitStatusID",
    "PatientInstitutionResidence", "VisitComments", "ReferencedPatientSequence",
    "AdmittingDiagnosesDescription", "AdmittingDiagnosesCodeSequence", "RouteOfAdmissions",
    "AdmittingDate", "AdmittingTime",
    # Patient Identification / Demographic / Medical
    "PatientName", "PatientID", "IssuerOfPatientID", "IssuerOfPatientIDQualifiersSequence",
    "OtherPatientIDsSequence", "OtherPatientNames", "PatientBirthName",
    "PatientMotherBirthName", "MedicalRecordLocator", "PatientAge", "Occupation",
    "ConfidentialityConstraintOnPatientDataDescription", "PatientBirthDate",
    "PatientBirthTime", "PatientSex", "PatientInsurancePlanCodeSequence",
    "PatientPrimaryLanguageCodeSequence", "PatientSize", "PatientWeight", "PatientAddress",
    "MilitaryRank", "BranchOfService", "CountryOfResidence", "RegionOfResidence",
    "PatientTelephoneNumbers", "EthnicGroup", "PatientReligiousPreference",
    "PatientComments", "ResponsiblePerson", "ResponsiblePersonRole",
    "ResponsibleOrganization", "PatientSpeciesDescription", "PatientBreedDescription",
    "PatientSexNeutered", "MedicalAlerts", "Allergies", "SmokingStatus",
    "AdditionalPatientHistory", "PregnancyStatus", "LastMenstrualDate", "SpecialNeeds",
    "PatientState", "PertinentDocumentsSequence",
    # items of code sequences (PS3.3 8.8) and SOP instance references (PS3.3 10.8)
    "CodeValue", "CodingSchemeDesignator", "CodingSchemeVersion", "CodeMeaning",
    "LongCodeValue", "URNCodeValue", "ReferencedSOPClassUID", "ReferencedSOPInstanceUID",
    "LocalNamespaceEntityID", "UniversalEntityID", "UniversalEntityIDType",
    "PersonIdentificationCodeSequence", "TypeOfPatientID",
)  # fmt: skip


def _tags(keywords: tuple[str, ...]) -> frozenset[int]:
    tags = {tag_for_keyword(keyword) for keyword in keywords}
    return frozenset(int(tag) for tag in tags if tag is not None)


SUPPORTED_TAGS: frozenset[int] = _tags(SUPPORTED_KEYWORDS)
