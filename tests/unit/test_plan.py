"""Who goes next (domain/plan.py): the pure planning of detection's roots and a worker's
follow-ups, table by table."""

from __future__ import annotations

from datetime import date

import pytest
from backfill.domain.errors import ConfigurationError
from backfill.domain.gaps import Candidate
from backfill.domain.plan import Graph, changed_games, follow_ups, requests_for, too_deep
from backfill.domain.request import Follower, Reason, Request, decode_request

D1, D2 = date(2024, 11, 5), date(2024, 11, 6)
# A chain of three (a -> b -> c) beside a processor of its own (x).
GRAPH = Graph({"a": (), "x": (), "b": ("a",), "c": ("b",)})


def gap(processor: str, day: date = D1, *games: str,
        reason: Reason = Reason.MISSING) -> Candidate:
    return Candidate(processor, day, games or ("g1",), reason)


def test_the_graph_knows_its_longest_chain_and_each_processors_dependents() -> None:
    assert GRAPH.longest == 2
    assert GRAPH.dependents("a") == ("b",) and GRAPH.dependents("c") == ()
    assert Graph({"a": ()}).longest == 0


@pytest.mark.parametrize("edges", [{"a": ("b",), "b": ("a",)}, {"a": ("a",)},
                                   {"a": ("z",)}])
def test_a_cyclic_or_dangling_graph_is_refused_when_built(
        edges: dict[str, tuple[str, ...]]) -> None:
    with pytest.raises(ConfigurationError):
        Graph(edges)


def test_detection_publishes_roots_and_a_dependent_behind_its_upstream_rides_on_it() -> None:
    plan = requests_for([gap("c"), gap("a"), gap("b", D1, "g1", "g2", reason=Reason.STALE),
                         gap("x"), gap("c", D2)], GRAPH, "run1")
    assert [(r.processor, r.game_date) for r in plan.requests] == [
        ("a", D1), ("x", D1), ("c", D2)]  # oldest date first, run order within a date
    (a, x, c) = plan.requests
    assert a.followers == (Follower(processor="b", reason=Reason.STALE, game_ids=("g1", "g2"),
                                    followers=(Follower(processor="c",
                                                        reason=Reason.MISSING,
                                                        game_ids=("g1",)),)),)
    assert x.followers == () and c.followers == ()  # c on D2: nothing above it is behind
    assert {r.detection_run_id for r in plan.requests} == {"run1"}
    assert {r.depth for r in plan.requests} == {0}
    assert [(p.candidate.processor, p.upstream) for p in plan.pending] == [("b", "a"),
                                                                          ("c", "b")]
    assert plan.pending[0].as_dict()["upstream"] == "a"


def test_a_dependent_behind_two_upstreams_rides_on_the_later_one_in_run_order() -> None:
    graph = Graph({"a": (), "b": (), "c": ("a", "b")})
    plan = requests_for([gap("a"), gap("b"), gap("c")], graph, "r")
    assert [(r.processor, [f.processor for f in r.followers]) for r in plan.requests] == [
        ("a", []), ("b", ["c"])]


def test_followers_survive_the_wire() -> None:
    (root,) = requests_for([gap("a"), gap("b"), gap("c")], GRAPH, "r").requests
    assert decode_request(root.encode(), today=D2) == root


def request(processor: str = "a", *, followers: tuple[Follower, ...] = (),
            depth: int = 0) -> Request:
    return Request(processor=processor, game_date=D1, reason=Reason.STALE,
                   detection_run_id="run1", followers=followers, depth=depth)


def test_a_write_that_changed_games_publishes_each_dependent_once_in_the_same_run() -> None:
    (b,) = follow_ups(request(), GRAPH, ("g2", "g1"))
    assert (b.processor, b.game_date, b.game_ids, b.reason) == ("b", D1, ("g1", "g2"),
                                                                Reason.UPSTREAM_CHANGED)
    assert (b.run_id, b.depth, b.followers) == ("run1", 1, ())


def test_a_write_that_changed_nothing_publishes_only_its_followers() -> None:
    rider = Follower(processor="b", reason=Reason.MISSING, game_ids=("g3",))
    assert follow_ups(request(), GRAPH, ()) == ()
    (b,) = follow_ups(request(followers=(rider,)), GRAPH, ())
    assert (b.processor, b.reason, b.game_ids, b.depth) == ("b", Reason.MISSING, ("g3",), 1)


def test_a_follower_that_is_also_a_changed_dependent_is_one_request_naming_both() -> None:
    nested = (Follower(processor="c", reason=Reason.MISSING),)
    rider = Follower(processor="b", reason=Reason.MISSING, game_ids=("g3",), followers=nested)
    (b,) = follow_ups(request(followers=(rider,)), GRAPH, ("g1",))
    assert (b.reason, b.game_ids, b.followers) == (Reason.MISSING, ("g1", "g3"), nested)


def test_followers_publish_none_of_the_games_their_upstream_refused_or_left_waiting() -> None:
    riders = (Follower(processor="b", reason=Reason.MISSING,
                       game_ids=("20241105_NYK_PHI", "20241105_GSW_LAC")),
              Follower(processor="c", reason=Reason.MISSING, game_ids=("20241105_PHI_NYK",)))
    # Matched by key: the flipped spelling is the same refused game.
    (b,) = follow_ups(request(followers=riders), GRAPH, (), ("20241105_NYK_PHI",))
    assert (b.processor, b.game_ids) == ("b", ("20241105_GSW_LAC",))
    assert follow_ups(request(followers=riders), GRAPH, (),
                      ("20241105_NYK_PHI", "20241105_LAC_GSW")) == ()


def test_a_request_further_down_than_the_longest_chain_is_a_bug() -> None:
    assert too_deep(request("c", depth=2), GRAPH) is None
    why = too_deep(request("c", depth=3), GRAPH)
    assert why is not None and "longest chain of dependencies has 2" in why


def row(game: str, points: object, day: date = D1) -> dict[str, object]:
    return {"game_id": game, "game_date": day, "points": points}


def test_changed_games_compares_values_per_game_whatever_order_or_spelling() -> None:
    old = [row("20241105_BKN_MIL", 3.0), row("20241105_BKN_MIL", 7.0),
           row("20241105_BOS_NYK", 1.0)]
    same = [row("20241105_MIL_BKN", 7), row("20241105_MIL_BKN", 3),  # ids flipped, ints
            row("20241105_BOS_NYK", 1.0)]
    assert changed_games(old, same, ["points"]) == ()
    corrected = [*same[:2], row("20241105_BOS_NYK", 2.0), row("20241105_DAL_LAL", 0)]
    assert changed_games(old, corrected, ["points"]) == ("20241105_BOS_NYK",
                                                         "20241105_DAL_LAL")  # and a new one
    # A game not written this time (refused, waiting) changed nothing downstream.
    assert changed_games(old, same[:2], ["points"]) == ()
