"""lowering: model import into Relax, technique → TVM pass mapping, pass instrumentation, build.

Every module here imports TVM; nothing on the ``validate``/``check`` path imports this package.
"""
