"""Network files: any board described as a TOML edge list.

A network is named, wherever a network name is accepted (a task's or bench file's
``network``, ``[emulator] network``, a study's network, ``twinlab netlist --task``), by

- a built-in name: ``twin16``, ``planar<E>``, ``lattice<R>x<C>`` (`lab.core.network`);
- the stem of a shipped file, ``data_dir()/networks/<name>.toml`` (e.g. ``chain3``);
- a path to a ``.toml`` file, relative to the file that names it (a task file's
  directory, a bench file's directory), or to the working directory on the command line.

`network_ref` turns any of these into its one canonical spelling (built-in names and
shipped stems as they are, other files as absolute paths), which becomes the `Network`'s
``name``: a task and a bench that name the same file by different relative paths agree.

The format (every length in arbitrary drawing units, resistances in Ohm)::

    description = "three digipots in series"   # optional free text
    nodes = 4                                   # node count, labels 1..N
                                                # (or the list of labels: [1, 2, 3, 4])
    edges = [[1, 2], [2, 3], [3, 4]]            # node-label pairs; this order is the
                                                # edge (digipot) order everywhere
    [coordinates]                               # optional, for drawing: every node or none
    1 = [0.0, 0.0]
    2 = [1.0, 0.0]
    3 = [2.0, 0.0]
    4 = [3.0, 0.0]
    [parts]                                     # optional per-edge part values, edge order
    r_end_to_end = [10e3, 10e3, 10e3]           # nominal digipot R_AB of each edge, Ohm

Checked, each failure one line naming the file and the problem: unknown fields, node
labels that are not 1..N, an edge that is not a pair of labels, names a node that does
not exist, joins a node to itself or repeats another edge (either direction), a node
that is not connected to the rest, coordinates missing for some node, for a node that
does not exist, not two finite numbers, or two nodes at one point, part values of an
unknown part, not one per edge, or not finite and > 0. Without ``[coordinates]`` the
drawing coordinates are computed once at load (`lab.core.layout.auto_layout`).
"""

from __future__ import annotations

import functools
import math
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lab.errors import ConfigError
from lab.paths import data_dir
from lab.paths import display_path as _display

if TYPE_CHECKING:
    from lab.core.network import Network

#: Per-edge part values a network file may give: name -> meaning (unit).
PARTS: dict[str, str] = {
    "r_end_to_end": "nominal end-to-end resistance R_AB of the edge's two digipots, Ohm",
}
FIELDS = ("description", "nodes", "edges", "coordinates", "parts")


class NetworkFileError(ConfigError):
    """A network file is missing or invalid; the message names the file and the problem."""


def networks_dir() -> Path:
    """The shipped network files: ``lab.paths.data_dir()/networks``."""
    return data_dir() / "networks"


def list_networks() -> list[str]:
    """Stems of the shipped network files (sorted)."""
    return sorted(p.stem for p in networks_dir().glob("*.toml"))


def is_file_ref(name: str) -> bool:
    """Whether a network name is a path to a file (ends in .toml or has a directory)."""
    return name.endswith(".toml") or "/" in name or "\\" in name


def network_ref(name: str, base: str | Path | None = None) -> str:
    """The canonical spelling of the network ``name``: a path is resolved against ``base``
    (a directory; None: the working directory) and becomes absolute, or its stem when it is
    a shipped file; every other name is returned as it is."""
    if not is_file_ref(name):
        return name
    path = Path(name).expanduser()
    if not path.is_absolute() and base is not None:
        path = Path(base) / path
    path = path.resolve()
    if path.parent == networks_dir().resolve() and path.suffix == ".toml":
        return path.stem
    return str(path)


def shipped_path(name: str) -> Path | None:
    """The shipped file of stem ``name``, or None."""
    path = networks_dir() / f"{name}.toml"
    return path if not is_file_ref(name) and path.is_file() else None


def load_network_file(path: str | Path, name: str | None = None) -> Network:
    """The `Network` of the network file ``path``; ``name`` defaults to `network_ref`.

    Raises `NetworkFileError` (one line, naming the file) for anything wrong in it.
    """
    from lab.core.network import Network

    path = Path(path)
    where = _display(path)
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise NetworkFileError(f"{where}: network file not found") from None
    except OSError as exc:
        raise NetworkFileError(f"{where}: cannot read network file: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise NetworkFileError(f"{where}: invalid TOML syntax: {exc}") from None
    n_nodes, edges = _nodes_and_edges(where, raw)
    layout = _coordinates(where, raw.get("coordinates"), n_nodes)
    parts = _parts(where, raw.get("parts"), len(edges))
    if layout is None:
        layout = _auto_layout(n_nodes, edges.tobytes()).copy()
    description = raw.get("description", "")
    if not isinstance(description, str):
        raise NetworkFileError(f"{where}: field 'description': expected text")
    return Network(
        name or network_ref(str(path)), n_nodes, edges, layout,
        parts=parts, description=description, source=str(path.resolve()),
    )  # fmt: skip


@functools.lru_cache(maxsize=32)
def _auto_layout(n_nodes: int, edges: bytes) -> np.ndarray:
    """`auto_layout` once per topology (a file is loaded by the task, the bench, the
    window...; a 143-edge layout takes about a second)."""
    from lab.core.layout import auto_layout

    return auto_layout(n_nodes, np.frombuffer(edges, dtype=np.intp).reshape(-1, 2))


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _nodes_and_edges(where: str, raw: dict[str, Any]) -> tuple[int, np.ndarray]:
    """Node count and 0-based edges (E, 2), checked."""
    unknown = [k for k in raw if k not in FIELDS]
    if unknown:
        raise NetworkFileError(
            f"{where}: unknown field {unknown[0]!r} (allowed: {', '.join(FIELDS)})"
        )
    for required in ("nodes", "edges"):
        if required not in raw:
            raise NetworkFileError(f"{where}: field {required!r}: required field is missing")
    nodes = raw["nodes"]
    if _is_int(nodes):
        n_nodes = nodes
    elif isinstance(nodes, list) and all(_is_int(n) for n in nodes):
        n_nodes = len(nodes)
        if sorted(nodes) != list(range(1, n_nodes + 1)):
            raise NetworkFileError(
                f"{where}: field 'nodes': labels must be 1..N, each once; got {nodes}"
            )
    else:
        raise NetworkFileError(
            f"{where}: field 'nodes': expected the node count or the list of labels 1..N"
        )
    if n_nodes < 2:
        raise NetworkFileError(f"{where}: field 'nodes': a network needs at least 2 nodes")
    pairs = raw["edges"]
    if not isinstance(pairs, list) or not pairs:
        raise NetworkFileError(f"{where}: field 'edges': expected a list of [a, b] label pairs")
    seen: dict[tuple[int, int], int] = {}
    for i, pair in enumerate(pairs, start=1):
        if not (isinstance(pair, list) and len(pair) == 2 and all(map(_is_int, pair))):
            raise NetworkFileError(
                f"{where}: field 'edges': edge {i} is {pair!r}, expected a pair of node labels"
            )
        for node in pair:
            if not 1 <= node <= n_nodes:
                raise NetworkFileError(
                    f"{where}: field 'edges': edge {i} {pair}: node {node} does not exist "
                    f"(nodes 1..{n_nodes})"
                )
        a, b = pair
        if a == b:
            raise NetworkFileError(
                f"{where}: field 'edges': edge {i} {pair} joins node {a} to itself"
            )
        key = (min(a, b), max(a, b))
        if key in seen:
            j = seen[key]
            raise NetworkFileError(
                f"{where}: field 'edges': edge {i} {pair} repeats edge {j} {pairs[j - 1]}"
            )
        seen[key] = i
    edges = np.array(pairs, dtype=np.intp) - 1
    _check_connected(where, n_nodes, edges)
    return n_nodes, edges


def _check_connected(where: str, n_nodes: int, edges: np.ndarray) -> None:
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components

    graph = sp.coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), (n_nodes, n_nodes))
    n_parts, comp = connected_components(graph, directed=False)
    if n_parts > 1:
        sizes = np.bincount(comp)
        main = int(np.argmax(sizes))
        lost = (np.flatnonzero(comp != main) + 1).tolist()
        on_none = set(lost) - set((edges + 1).ravel().tolist())
        what = "on no edge" if set(lost) == on_none else "not connected to the rest"
        listed = ", ".join(map(str, lost[:8])) + (", ..." if len(lost) > 8 else "")
        raise NetworkFileError(
            f"{where}: node{'s' if len(lost) > 1 else ''} {listed} "
            f"{'are' if len(lost) > 1 else 'is'} {what} (the network must be connected)"
        )


def _coordinates(where: str, table: Any, n_nodes: int) -> np.ndarray | None:
    """Drawing coordinates (N, 2) from the ``[coordinates]`` table, or None."""
    if table is None:
        return None
    if not isinstance(table, dict):
        raise NetworkFileError(f"{where}: field 'coordinates': expected a table label = [x, y]")
    xy = np.full((n_nodes, 2), np.nan)
    for key, value in table.items():
        if not (key.isdigit() and 1 <= int(key) <= n_nodes):
            raise NetworkFileError(
                f"{where}: field 'coordinates': node {key} does not exist (nodes 1..{n_nodes})"
            )
        ok = isinstance(value, list) and len(value) == 2 and all(
            isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
            for v in value
        )
        if not ok:
            raise NetworkFileError(
                f"{where}: field 'coordinates': node {key} is {value!r}, "
                "expected [x, y], two finite numbers"
            )
        xy[int(key) - 1] = value
    missing = np.flatnonzero(np.isnan(xy[:, 0])) + 1
    if len(missing):
        raise NetworkFileError(
            f"{where}: field 'coordinates': node {int(missing[0])} has none "
            "(give every node, or leave [coordinates] out for an automatic layout)"
        )
    _, first, counts = np.unique(xy, axis=0, return_index=True, return_counts=True)
    if (counts > 1).any():
        point = xy[first[counts > 1][0]]
        at = (np.flatnonzero((xy == point).all(axis=1)) + 1).tolist()
        raise NetworkFileError(
            f"{where}: field 'coordinates': nodes {at[0]} and {at[1]} are both at "
            f"{point.tolist()}"
        )
    return xy


def _parts(where: str, table: Any, n_edges: int) -> dict[str, np.ndarray]:
    """Per-edge part values from the ``[parts]`` table: name -> (E,) float."""
    if table is None:
        return {}
    if not isinstance(table, dict):
        raise NetworkFileError(f"{where}: field 'parts': expected a table name = [values]")
    out: dict[str, np.ndarray] = {}
    for key, values in table.items():
        if key not in PARTS:
            raise NetworkFileError(
                f"{where}: field 'parts.{key}': unknown part (allowed: {', '.join(PARTS)})"
            )
        ok = isinstance(values, list) and all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in values
        )
        if not ok or len(values) != n_edges:
            raise NetworkFileError(
                f"{where}: field 'parts.{key}': expected {n_edges} numbers, one per edge "
                "in edge order"
            )
        a = np.array(values, dtype=float)
        if not (np.isfinite(a).all() and (a > 0).all()):
            bad = int(np.flatnonzero(~(np.isfinite(a) & (a > 0)))[0])
            raise NetworkFileError(
                f"{where}: field 'parts.{key}': edge {bad + 1} is {values[bad]}, "
                "expected a finite value > 0"
            )
        out[key] = a
    return out
