"""Migrayt's side of Temporal, shared by the API and the worker: the client connection
(`client.connect_temporal`), the encrypting payload codec (`codec`) and the search attributes
(`search_attributes`)."""
