"""planctl.documents: the documents stage (no TVM, numpy or hypothesis on this path).

- ``source``: YAML bytes -> plain data + ``positions.SourceIndex`` (JSON pointer -> line:col), limits
- ``models``: the pydantic models; ``schema``: their JSON Schemas (``planctl schema dump``)
- ``problems``: pydantic errors -> findings; ``semantics``: checks the schema cannot express
- ``load``: ``load_plan``/``load_target``/``load_document``/``validate_file``/``find_target``
- ``codes``: the PLN1xx table; ``output``/``diagnostics``: text and JSON rendering
"""
