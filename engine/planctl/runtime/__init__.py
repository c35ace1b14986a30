"""runtime: load an emitted artifact and run it (a dispatcher over its shape buckets), honouring
the plan's fallback switch."""
from planctl.runtime.load import Artifact, Dispatcher, load

__all__ = ["Artifact", "Dispatcher", "load"]
