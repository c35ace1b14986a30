"""The stages of ``planctl apply``, one module each, in the order they run:

documents, legality, lowering, tuning, build, verify, profile, measure, decide, emit, report.

Each is a function over the typed :class:`planctl.apply.context.RunContext` that returns its
evidence as a frozen model; the report stage builds the run record from those results alone.
Each module imports TVM (and numpy, hypothesis, onnxruntime) inside its functions only, so an
apply that is up to date never pays for them.
"""
