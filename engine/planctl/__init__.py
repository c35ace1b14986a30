"""planctl: declarative optimization plans for ML inference.

``validate`` and ``check`` import only this package, pydantic, ruamel.yaml and jsonschema; Apache TVM,
numpy and hypothesis are imported lazily by ``apply`` (the ``planctl[tvm]`` extra).
"""

__version__ = "0.1.0"
API_VERSION = "planctl.dev/v1alpha1"
