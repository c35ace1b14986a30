"""Measuring on a device farm: TVM's RPC tracker and the RPC servers registered under one device key
(a Target document's ``measurement: {kind: rpc, tracker: HOST:PORT, device_key: KEY}``).

The farm is TVM's own: ``python -m tvm.exec.rpc_tracker`` hands out servers,
``python -m tvm.exec.rpc_server --tracker HOST:PORT --key KEY`` registers one, and MetaSchedule's
``RPCRunner`` measures candidates on them, one connection per server (``max_workers`` = the servers
registered when the search starts), each candidate on whichever server the tracker hands out. A
server that dies is dropped by the tracker (its connection closes); the candidate it was running
fails to run (the report counts it), the next ones go to the servers left.

To say which server measured what, the runner's session factory (:func:`create_session`, run in
MetaSchedule's runner processes) asks the tracker itself and appends the server's address to the
file named by ``$PLANCTL_FARM_LOG`` (one JSON line per candidate); :func:`summarize` turns that and
the tracker's lists of servers before and after each batch into the report's ``farm`` and notes.
No TVM import at module level.
"""
from __future__ import annotations

import json
import os
import time
from collections import Counter
from pathlib import Path

LOG_ENV = "PLANCTL_FARM_LOG"


def rpc_farm(measurement) -> dict | None:
    """``{tracker, device_key, session_timeout_s}`` of a Target's ``measurement`` of kind ``rpc``, else None."""
    data = measurement.model_dump() if hasattr(measurement, "model_dump") else dict(measurement or {})
    if data.get("kind") != "rpc":
        return None
    return {name: data[name] for name in ("tracker", "device_key", "session_timeout_s")}


PROBE_TIMEOUT_S = 5.0   # a tracker on the farm's network answers a TCP connect in milliseconds


def split_address(tracker: str) -> tuple[str, int]:
    """``("host", port)`` of ``host:port`` (the Target schema's pattern guarantees the form)."""
    host, port = tracker.rsplit(":", 1)
    return host, int(port)


def farm_servers(tracker: str, device_key: str) -> list[str]:
    """``host:port`` of every server the tracker lists under ``device_key``, sorted. Raises
    OSError / TVM's RPC errors when the tracker cannot be reached (at once: TVM's own connect
    retries a refused connection for 60 s)."""
    import socket

    from tvm import rpc

    socket.create_connection(split_address(tracker), timeout=PROBE_TIMEOUT_S).close()
    summary = rpc.connect_tracker(*split_address(tracker)).summary()
    found = []
    for item in summary.get("server_info", []):
        if item.get("key", "").split(":", 1)[-1] == device_key:
            host, port = item["addr"][0], item["addr"][1]
            found.append(f"{host}:{port}")
    return sorted(found)


def create_session(rpc_config):
    """MetaSchedule's ``f_create_session`` (what ``RPCConfig.connect_server`` does: a session on the
    server the tracker hands out for the key), which also notes that server in ``$PLANCTL_FARM_LOG``.
    ``TrackerSession.request`` does not say which server it connected to, hence its three steps
    (tvm/rpc/client.py) here."""
    from tvm import rpc
    from tvm.rpc import base

    tracker = rpc_config.connect_tracker()
    base.sendjson(tracker._sock, [base.TrackerCode.REQUEST, rpc_config.tracker_key, "",
                                  rpc_config.session_priority])
    value = base.recvjson(tracker._sock)
    if value[0] != base.TrackerCode.SUCCESS:
        raise RuntimeError(f"the RPC tracker refused the request: {value!s}")
    url, port, matchkey = value[1]
    tracker.close()
    session = rpc.connect(url, port, matchkey, rpc_config.session_timeout_sec)
    session.planctl_server = f"{url}:{port}"  # planctl.measure.remote reports it
    log = os.environ.get(LOG_ENV)
    if log:
        with open(log, "a") as out:  # one short append per line: lines of concurrent runners stay whole
            out.write(json.dumps({"server": f"{url}:{port}", "at": time.time()}) + "\n")
    return session


def rpc_runner(farm: dict, evaluator_config, log_path: Path):
    """MetaSchedule's RPCRunner for ``farm`` (``tracker``, ``device_key``, ``session_timeout_s``)
    with one connection per registered server. Raises planctl.errors.TuningError when the tracker
    cannot be reached or lists no server under the key."""
    from tvm.s_tir import meta_schedule as ms

    from planctl.tuning.arguments import in_range_alloc_argument_rpc

    servers = servers_or_error(farm)
    os.environ[LOG_ENV] = str(log_path)  # the runner's processes inherit it
    host, port = split_address(farm["tracker"])
    config = ms.runner.RPCConfig(tracker_host=host, tracker_port=port, tracker_key=farm["device_key"],
                                 session_timeout_sec=farm.get("session_timeout_s", 60))
    return ms.runner.RPCRunner(rpc_config=config, evaluator_config=evaluator_config, max_workers=len(servers),
                               f_create_session=create_session, f_alloc_argument=in_range_alloc_argument_rpc)


def servers_or_error(farm: dict) -> list[str]:
    """:func:`farm_servers`, with a TuningError (tracker and key named, how to check) when the
    tracker cannot be reached or lists no server under the key."""
    from planctl.errors import TuningError

    hint = (f"start servers with `python -m tvm.exec.rpc_server --tracker {farm['tracker']} --key "
            f"{farm['device_key']}`; `python -m tvm.exec.query_rpc_tracker --host HOST --port PORT` lists them")
    try:
        servers = farm_servers(farm["tracker"], farm["device_key"])
    except Exception as exc:  # noqa: BLE001 - TVM raises several kinds for a tracker that is not there
        raise TuningError(f"cannot reach the RPC tracker at {farm['tracker']}: {exc}", hint=hint) from None
    if not servers:
        raise TuningError(f"no RPC server is registered under '{farm['device_key']}' at {farm['tracker']}", hint=hint)
    return servers


def sessions(log_path: Path) -> Counter:
    """{server address: candidates it was asked to measure} from a ``$PLANCTL_FARM_LOG`` file."""
    counts: Counter = Counter()
    try:
        lines = log_path.read_text().splitlines()
    except OSError:
        return counts
    for line in lines:
        try:
            counts[json.loads(line)["server"]] += 1
        except (ValueError, KeyError, TypeError):
            continue
    return counts


def summarize(farm: dict, snapshots: list[list[str]], log_path: Path) -> dict:
    """The report's ``farm``: tracker, key, servers at the start and at the end, servers that
    left during the search, candidates measured per server."""
    start = snapshots[0] if snapshots else []
    end = snapshots[-1] if snapshots else []
    seen = sorted({s for snap in snapshots for s in snap})
    return {"tracker": farm["tracker"], "device_key": farm["device_key"], "servers_at_start": start,
            "servers_at_end": end, "servers_seen": seen, "left": [s for s in seen if s not in end],
            "joined": [s for s in end if s not in start], "candidates_by_server": dict(sessions(log_path))}


def notes(summary: dict, run_errors: int) -> list[str]:
    """What the report says about the farm: where the candidates were measured, and any server
    that left during the search."""
    by_server = summary.get("candidates_by_server") or {}
    measured = "; ".join(f"{n} on {s}" for s, n in sorted(by_server.items())) or "none"
    lines = [f"measured on the RPC farm '{summary['device_key']}' at {summary['tracker']}: "
             f"{len(summary['servers_at_start'])} server(s) at the start; candidates sent: {measured}"]
    for server in summary.get("left") or []:
        lines.append(f"RPC server {server} left the farm during the search ({by_server.get(server, 0)} candidate(s) "
                     f"were sent to it; {run_errors} candidate(s) failed to run in all); the search finished on "
                     f"{', '.join(summary['servers_at_end']) or 'no server'}")
    return lines


class Watch:
    """The farm as the search worker sees it: the servers under the key before the search and
    after each batch, written with the per-server candidate counts to ``<work_dir>/farm.json``."""

    def __init__(self, farm: dict, work_dir: Path):
        self.farm = farm
        self.log = Path(work_dir) / SESSIONS_FILE
        self.out = Path(work_dir) / FARM_FILE
        self.snapshots: list[list[str]] = []

    def snapshot(self) -> None:
        from planctl.files import atomic_write_text

        try:
            self.snapshots.append(farm_servers(self.farm["tracker"], self.farm["device_key"]))
        except Exception:  # noqa: BLE001 - a tracker gone mid-search: no server is known to be left
            self.snapshots.append([])
        atomic_write_text(self.out, json.dumps(summarize(self.farm, self.snapshots, self.log), indent=1,
                                               sort_keys=True))


SESSIONS_FILE = "farm-sessions.jsonl"
FARM_FILE = "farm.json"
