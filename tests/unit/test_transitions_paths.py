"""The workflow walk: shortest path over what Jira offered, exploring where nothing is known yet."""

from __future__ import annotations

from migrayt.translation.status_walk import Edge, WorkflowGraph

# The sandbox's workflow (ids as Jira's): To Do → In Progress → In Review → Done, back steps, Won't Fix.
TODO, PROGRESS, REVIEW, DONE, WONTFIX = "10000", "3", "10001", "10002", "10003"
NAMES = {TODO: "To Do", PROGRESS: "In Progress", REVIEW: "In Review", DONE: "Done", WONTFIX: "Won't Fix"}
WORKFLOW = {
    TODO: [("11", "Start Progress", PROGRESS)],
    PROGRESS: [("21", "Request Review", REVIEW), ("41", "Stop Progress", TODO), ("71", "Won't Fix", WONTFIX)],
    REVIEW: [("31", "Done", DONE), ("51", "Back to In Progress", PROGRESS)],
    DONE: [("61", "Reopen", TODO)],
    WONTFIX: [("61", "Reopen", TODO)],
}


def offered(status: str, workflow=WORKFLOW) -> list[Edge]:
    return [Edge(tid, name, to, NAMES[to]) for tid, name, to in workflow.get(status, [])]


def walk(graph: WorkflowGraph, start: str, target: str, workflow=WORKFLOW, limit: int = 30) -> list[str] | None:
    """Drive the graph the way the phase does: observe where we stand, take the step it names."""
    status, path = start, []
    for _ in range(limit):
        if NAMES[status] == target:
            return path
        graph.observe(status, NAMES[status], offered(status, workflow))
        step = graph.next_step(status, target)
        if step is None:
            return None
        status = step.to_id
        path.append(step.to_name)
    raise AssertionError(f"walk did not end: {path}")


def test_first_walk_explores_and_still_takes_the_shortest_way():
    assert walk(WorkflowGraph(), TODO, "Done") == ["In Progress", "In Review", "Done"]


def test_a_learned_graph_gives_the_shortest_path_without_walking():
    graph = WorkflowGraph()
    walk(graph, TODO, "Done")
    assert [e.to_name for e in graph.shortest_path(TODO, "Done")] == ["In Progress", "In Review", "Done"]
    assert [e.transition_id for e in graph.shortest_path(REVIEW, "To Do")] == ["51", "41"]
    assert graph.shortest_path(REVIEW, "in review") == []


def test_from_done_back_to_in_review_goes_round_through_reopen():
    graph = WorkflowGraph()
    assert walk(graph, DONE, "In Review") == ["To Do", "In Progress", "In Review"]


def test_exploring_a_dead_end_branch_comes_back_out():
    # Won't Fix is a side branch; a walk toward Won't Fix from Done must find it through Reopen.
    assert walk(WorkflowGraph(), DONE, "Won't Fix") == ["To Do", "In Progress", "Won't Fix"]


def test_an_unreachable_status_ends_the_walk_with_none():
    one_way = {TODO: [("11", "Start", PROGRESS)], PROGRESS: []}
    graph = WorkflowGraph()
    assert walk(graph, TODO, "Done", one_way) is None
    assert "In Progress → nothing" in graph.describe()


def test_a_status_the_workflow_does_not_have_is_unreachable_after_seeing_everything():
    graph = WorkflowGraph()
    assert walk(graph, TODO, "Blocked") is None
    assert {NAMES[s] for s in graph.edges} == set(NAMES.values())


def test_what_jira_offers_now_replaces_what_was_learned():
    graph = WorkflowGraph()
    walk(graph, TODO, "Done")
    # A condition now hides Request Review for this issue: the graph must not keep suggesting it.
    graph.observe(PROGRESS, "In Progress", [Edge("41", "Stop Progress", TODO, "To Do")])
    assert graph.next_step(PROGRESS, "Done") is None


def test_the_same_transition_offered_from_two_statuses_keeps_each_source():
    graph = WorkflowGraph()
    for status in WORKFLOW:
        graph.observe(status, NAMES[status], offered(status))
    assert [e.to_name for e in graph.shortest_path(WONTFIX, "In Review")] == ["To Do", "In Progress", "In Review"]
