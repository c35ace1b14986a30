"""planctl.rules: legality as code (``planctl check``).

Public API:

- ``engine.check(paths, Options(...)) -> Report``: run the documents stage and the legality rules;
- ``registry.rule(id, name, severity)``: the decorator that registers a rule (``REGISTRY``);
- ``reporters.REPORTERS``: ``text``, ``json``, ``sarif``, ``github``, each ``render(report) -> str``;
- ``capabilities.load_table()``: the technique/target capability table (``capabilities.yaml``);
- ``config.load_config(root)``: limits from ``planctl.toml`` or ``[tool.planctl]``.

Nothing here imports TVM, numpy or hypothesis.
"""
