"""runtime: load an emitted artifact and run it, honouring the plan's fallback switch."""
from planctl.runtime.load import Artifact, load

__all__ = ["Artifact", "load"]
