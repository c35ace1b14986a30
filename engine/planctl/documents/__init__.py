"""planctl.documents: the documents stage (no TVM, numpy or hypothesis on this path).

- ``source``: YAML bytes -> plain data + ``positions.SourceIndex`` (JSON pointer -> line:col), limits
- ``models``: the pydantic models; ``schema``: their JSON Schemas (``planctl schema dump``)
- ``problems``: pydantic errors -> findings; ``semantics``: checks the schema cannot express
- ``load``: ``load_plan``/``load_target``/``load_document``/``validate_file``/``find_target``
- ``layout``: which files are plans and which are targets (validate, check, hooks, apply)
- ``diagnostics``: text rendering of one finding or error
The PLN1xx codes are entries of the one code catalogue, ``planctl.codes``.
"""
