"""The target workflow as far as we have seen it, and the next transition toward a status.

Jira only tells an issue which transitions leave its *current* status, so the graph is learned as
issues walk it: each status, once stood on, is "seen" with its outgoing transitions. The next step
is the first transition of a shortest path over seen statuses to the target; when the target is not
yet reachable over what we have seen, the first transition toward the nearest unseen status
(exploration). Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Edge:
    transition_id: str
    name: str
    to_id: str
    to_name: str


@dataclass
class WorkflowGraph:
    """Statuses (by id) → the transitions Jira offered from them. One per issue type."""

    edges: dict[str, list[Edge]] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)

    def observe(self, status_id: str, status_name: str, offered: list[Edge]) -> None:
        """What Jira offers now replaces what we knew: workflows and conditions can change."""
        self.names[status_id] = status_name
        self.edges[status_id] = list(offered)
        for e in offered:
            self.names.setdefault(e.to_id, e.to_name)

    def seen(self, status_id: str) -> bool:
        return status_id in self.edges

    def shortest_path(self, start_id: str, target_name: str) -> list[Edge] | None:
        """Fewest transitions from `start_id` to a status named `target_name` over seen statuses."""
        goal = target_name.casefold()
        if self.names.get(start_id, "").casefold() == goal:
            return []
        return self._bfs(start_id, lambda sid: self.names.get(sid, "").casefold() == goal)

    def next_step(self, start_id: str, target_name: str) -> Edge | None:
        """The transition to take now, or None when the target cannot be reached from here."""
        path = self.shortest_path(start_id, target_name)
        if path is None:
            path = self._bfs(start_id, lambda sid: not self.seen(sid))
        return path[0] if path else None

    def _bfs(self, start_id: str, is_goal) -> list[Edge] | None:
        came_by: dict[str, tuple[str, Edge] | None] = {start_id: None}
        queue = deque([start_id])
        while queue:
            sid = queue.popleft()
            for edge in self.edges.get(sid, ()):
                if edge.to_id in came_by:
                    continue
                came_by[edge.to_id] = (sid, edge)
                if is_goal(edge.to_id):
                    return _path_to(edge.to_id, came_by)
                queue.append(edge.to_id)
        return None

    def describe(self) -> str:
        """The seen workflow in words, for a failure reason."""
        parts = []
        for sid, edges in self.edges.items():
            targets = ", ".join(f"{e.to_name}" for e in edges) or "nothing"
            parts.append(f"{self.names.get(sid, sid)} → {targets}")
        return "; ".join(parts)


def _path_to(sid: str, came_by: dict[str, tuple[str, Edge] | None]) -> list[Edge]:
    path: list[Edge] = []
    while (step := came_by[sid]) is not None:
        sid, edge = step
        path.append(edge)
    return list(reversed(path))
