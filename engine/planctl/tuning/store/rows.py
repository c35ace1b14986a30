"""The rows of a validity key and of a device, as ``keys`` and ``devices`` store them."""
from __future__ import annotations

import time

from planctl.tuning.digest import canonical
from planctl.tuning.keys import COMPONENTS, DEVICE_COMPONENTS, CacheKey, Device


def key_row(key: CacheKey) -> dict:
    digests = key.digests()
    row = {"key_id": key.key_id, "target_name": key.target_name, "created": time.time()}
    for name in COMPONENTS:
        row |= {name: canonical(getattr(key, name)), f"{name}_digest": digests[name]}
    return row


def device_row(device: Device) -> dict:
    digests = device.digests()
    row = {"device_id": device.device_id, "label": device.label, "created": time.time()}
    for name in DEVICE_COMPONENTS:
        row |= {name: canonical(getattr(device, name)), f"{name}_digest": digests[name]}
    return row
