"""A real N-master Redis Cluster for tests, of tests/support/redis_server.py's servers.

For redis-py's cluster client::

    with start_cluster(masters=3) as cluster:
        client = redis.asyncio.RedisCluster.from_url(cluster.url)
        cluster.node_for_key("paycore:{acme}:rl:writes").pause()  # one master hangs

A cluster whose masters fail over to their replicas (``cluster-node-timeout``
of ``node_timeout_ms``)::

    with start_cluster(masters=3, replicas=1, node_timeout_ms=1000) as cluster:
        primary = cluster.node_for_key(key)
        primary.pause()                                 # hangs: its replica takes over
        promoted = cluster.wait_for_failover(key, primary)
        primary.resume()                                # comes back as a replica
        cluster.wait_ready()

Every wait is bounded (START_TIMEOUT_S); a cluster that does not form raises
RedisHarnessError. ``stop()`` stops every node.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence

import redis
from redis.crc import key_slot

from tests.support.redis_server import (
    HOST,
    START_TIMEOUT_S,
    RedisHarnessError,
    RedisServerHandle,
    StoppedOnExit,
    redis_binary,
    start_on_free_port,
    wait_until,
)


class RedisClusterHandle(StoppedOnExit):
    """A Redis Cluster of masters only, one RedisServerHandle each (see the module docstring)."""

    def __init__(self, nodes: Sequence[RedisServerHandle]) -> None:
        self.nodes = tuple(nodes)
        """Every node, masters and replicas; the masters serve all 16384 slots."""

    @property
    def url(self) -> str:
        """A seed node's URL, for ``RedisCluster.from_url``."""
        return self.nodes[0].url

    def node_for_key(self, key: str | bytes) -> RedisServerHandle:
        """The master serving ``key``'s slot (asked of the cluster, not assumed)."""
        slot = key_slot(key.encode() if isinstance(key, str) else key)
        with self.nodes[0].client() as connection:
            ranges = connection.cluster("SLOTS")
        owners = {int(owner[1]) for first, last, owner, *_ in ranges if first <= slot <= last}
        return next(node for node in self.nodes if node.port in owners)

    def wait_for_failover(
        self, key: str, primary: RedisServerHandle, timeout_s: float = START_TIMEOUT_S
    ) -> RedisServerHandle:
        """Wait until another node serves ``key``'s slot (``primary`` failed); that node.

        Asked of the nodes other than ``primary``, which may be paused.
        """
        others = [node for node in self.nodes if node is not primary]
        slot = key_slot(key.encode())

        def owner() -> RedisServerHandle | None:
            for asked in others:
                state = _cluster_state(asked)
                if state.get("cluster_state") != "ok":
                    return None
                try:
                    with asked.client() as connection:
                        ranges = connection.cluster("SLOTS")
                except redis.RedisError:
                    continue
                ports = {int(o[1]) for first, last, o, *_ in ranges if first <= slot <= last}
                return next((n for n in others if n.port in ports), None)
            return None

        wait_until(
            lambda: owner() is not None,
            timeout_s,
            lambda: f"no replica took over slot {slot} from {primary.url}",
        )
        promoted = owner()
        assert promoted is not None
        return promoted

    def wait_ready(self, timeout_s: float = START_TIMEOUT_S) -> None:
        """Wait until every node reports ``cluster_state:ok`` and knows every other."""
        wait_until(
            lambda: all(_cluster_ready(node, len(self.nodes)) for node in self.nodes),
            timeout_s,
            lambda: "; ".join(f"{node.url}: {_cluster_state(node)}" for node in self.nodes),
        )

    def stop(self) -> None:
        """Kill every node and remove their directories."""
        for node in self.nodes:
            node.stop()

    def __repr__(self) -> str:
        return f"<RedisClusterHandle {', '.join(node.url for node in self.nodes)}>"


def start_cluster(
    masters: int = 3,
    timeout_s: float = START_TIMEOUT_S,
    *,
    replicas: int = 0,
    node_timeout_ms: int | None = None,
) -> RedisClusterHandle:
    """A Redis Cluster of ``masters`` masters with ``replicas`` replicas each, all state ok.

    ``node_timeout_ms`` sets ``cluster-node-timeout`` (Redis' default: 15 s): how long
    a master may not answer before its replica takes over.
    """
    if masters < 3:
        raise ValueError("redis-cli creates clusters of at least 3 masters")
    config = ["cluster-enabled yes", "cluster-config-file nodes.conf"]
    if node_timeout_ms is not None:
        config.append(f"cluster-node-timeout {node_timeout_ms}")
    nodes: list[RedisServerHandle] = []
    try:
        for _ in range(masters * (1 + replicas)):
            nodes.append(start_on_free_port(config, cluster_bus=True))
        _create_cluster(nodes, timeout_s, replicas)
        cluster = RedisClusterHandle(nodes)
        cluster.wait_ready(timeout_s)
        wait_until(
            lambda: _replicas_in_sync(nodes) == masters * replicas,
            timeout_s,
            lambda: "the replicas did not finish their first sync",
        )
    except BaseException:
        for node in nodes:
            node.stop()
        raise
    return cluster


def _replicas_in_sync(nodes: Sequence[RedisServerHandle]) -> int:
    """How many nodes are replicas whose link to their master is up."""
    synced = 0
    for node in nodes:
        try:
            with node.client() as connection:
                replication = connection.info("replication")
        except redis.RedisError:
            continue
        synced += replication.get("master_link_status") == "up"
    return synced


def _create_cluster(nodes: Sequence[RedisServerHandle], timeout_s: float, replicas: int) -> None:
    command = [
        str(redis_binary("redis-cli")),
        "--cluster",
        "create",
        *(f"{HOST}:{node.port}" for node in nodes),
        "--cluster-replicas",
        str(replicas),
        "--cluster-yes",
    ]
    try:
        result = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise RedisHarnessError(f"{' '.join(command)}: no answer in {timeout_s:g} s") from None
    if result.returncode != 0:
        raise RedisHarnessError(
            f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout}{result.stderr}"
        )


def _cluster_state(node: RedisServerHandle) -> dict[str, str]:
    """The node's CLUSTER INFO fields, or the error it gave."""
    try:
        with node.client() as connection:
            info: dict[str, str] = connection.cluster("INFO")
    except redis.RedisError as exc:
        return {"error": str(exc)}
    return {name: str(value) for name, value in info.items()}


def _cluster_ready(node: RedisServerHandle, nodes: int) -> bool:
    state = _cluster_state(node)
    return (
        state.get("cluster_state") == "ok"
        and state.get("cluster_slots_ok") == "16384"
        and state.get("cluster_known_nodes") == str(nodes)
    )
