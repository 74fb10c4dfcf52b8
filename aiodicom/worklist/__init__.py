"""The Modality Worklist information model (PS3.4 Annex K): query preparation, the C-FIND
service, response building and replayed answers. Storage is in :mod:`aiodicom.store`."""
