"""Per-event results shared by the subscribers of one document (``schema/execution.py``):
the sharing rule, what is shared and what is not, masking (now done by ``schema.Schema``),
the extension runner, and a thousand subscribers of one session, timed (printed, with
``-s``; not asserted)."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import AsyncGenerator
from typing import Any

import pytest
import strawberry
from graphql import GraphQLError, OperationDefinitionNode, parse
from strawberry.extensions import ParserCache, SchemaExtension
from strawberry.types import Info

from agents import state_machine
from app.services import Services
from app.settings import Settings
from schema import MASKED_MESSAGE, Schema, build_schema, ids
from schema.context import Context
from schema.execution import EventResults, shared_event_executor, sharing_plan
from tests.conftest import Caller, start_session

STEPS = """subscription($id: ID!, $after: Int) {
  autopilotSteps(sessionId: $id, afterSeq: $after) { seq action timestamp data }
}"""
STEPS_MAYBE_REASONING = """subscription($id: ID!, $after: Int, $more: Boolean!) {
  autopilotSteps(sessionId: $id, afterSeq: $after) { seq ...more }
}
fragment more on AutopilotStep { action reasoning @include(if: $more) }"""


def counts(gql: Any) -> tuple[int, int]:
    results: EventResults = gql.execution_context_class.results
    return results.executions, results.shared


async def subscribe(gql: Any, services: Services, caller: Caller, query: str,
                    **variables: Any) -> Any:
    context = Context(services=services,
                      connection_params={"Authorization": f"Bearer {caller.token}"})
    return await gql.subscribe(query, variable_values=variables, context_value=context)


async def next_of(streams: list[Any]) -> list[Any]:
    """The next result of every stream, taken in turn (as the event loop serves them)."""
    return [await asyncio.wait_for(anext(stream), 5) for stream in streams]


async def note(services: Services, caller: Caller, session_id: str) -> int:
    sid = ids.decode(session_id, "StudySession", "id")
    return await state_machine.log_action(services.db, caller.user_id, sid, "note",
                                          data={"x": 1}, reasoning="because")


@pytest.fixture
def gql(settings: Settings) -> Any:
    return build_schema(settings)  # its own results, so the counts start at zero


# -- the real schema, in process ---------------------------------------------------------


async def test_the_same_document_runs_once_per_event(gql, services, make_caller) -> None:
    """Three subscribers (two users, different root arguments) of one session: one
    execution per event, and they all get the very same data."""
    owner = make_caller()
    session = await start_session(owner)
    sid = session["id"]
    bare_uuid = str(ids.decode(sid, "StudySession", "id"))
    streams = [await subscribe(gql, services, owner, STEPS, id=sid, after=0),
               await subscribe(gql, services, owner, STEPS, id=bare_uuid, after=None),
               await subscribe(gql, services, owner, STEPS, id=sid)]
    replay = await next_of(streams)
    assert counts(gql) == (1, 2)
    seq = await note(services, owner, sid)
    live = await next_of(streams)
    assert counts(gql) == (2, 4)
    for results, expected in ((replay, 1), (live, seq)):
        assert all(r.errors is None for r in results)
        assert results[0].data["autopilotSteps"]["seq"] == expected
        assert all(r.data is results[0].data for r in results)  # one result, shared
    assert live[0].data["autopilotSteps"]["data"] == {"x": 1}
    for stream in streams:
        await stream.aclose()


async def test_other_selections_and_include_values_get_their_own_results(
        gql, services, make_caller) -> None:
    caller = make_caller()
    session = await start_session(caller)
    sid = session["id"]
    await note(services, caller, sid)  # seq 2, with reasoning
    plain = await subscribe(gql, services, caller, STEPS, id=sid, after=1)
    more = await subscribe(gql, services, caller, STEPS_MAYBE_REASONING, id=sid, after=1,
                           more=True)
    less = await subscribe(gql, services, caller, STEPS_MAYBE_REASONING, id=sid, after=1,
                           more=False)
    more_too = await subscribe(gql, services, caller, STEPS_MAYBE_REASONING, id=sid,
                               after=0, more=True)
    assert (await anext(more_too)).data["autopilotSteps"]["seq"] == 1  # its own replay
    got = [r.data["autopilotSteps"] for r in await next_of([plain, more, less, more_too])]
    assert got[0]["seq"] == 2 and set(got[0]) == {"seq", "action", "timestamp", "data"}
    assert got[1] == got[3] == {"seq": 2, "action": "note", "reasoning": "because"}
    assert got[2] == {"seq": 2, "action": "note"}
    executions, shared = counts(gql)
    assert (executions, shared) == (4, 1)  # seq 1 once; seq 2 for each of the 3 keys
    for stream in (plain, more, less, more_too):
        await stream.aclose()


async def test_a_thousand_subscribers_of_one_session(settings, services, make_caller,
                                                     capsys) -> None:
    """One execution per event however many subscribers; the time from the commit to
    the last subscriber's result is printed (run with -s), not asserted."""
    n, rounds = 1000, 10
    gql = build_schema(settings)
    caller = make_caller()
    session = await start_session(caller)
    arrived: dict[int, list[float]] = {}
    everyone: dict[int, asyncio.Event] = {seq: asyncio.Event() for seq in range(1, rounds + 2)}

    async def consume() -> None:
        stream = await subscribe(gql, services, caller, STEPS, id=session["id"], after=0)
        async for result in stream:
            seq = result.data["autopilotSteps"]["seq"]
            times = arrived.setdefault(seq, [])
            times.append(time.perf_counter())
            if len(times) == n:
                everyone[seq].set()

    tasks = [asyncio.create_task(consume()) for _ in range(n)]
    try:
        await asyncio.wait_for(everyone[1].wait(), 30)
        before = counts(gql)
        last = []
        for _ in range(rounds):
            seq = await note(services, caller, session["id"])
            committed = time.perf_counter()
            await asyncio.wait_for(everyone[seq].wait(), 30)
            last.append((max(arrived[seq]) - committed) * 1000)
        executions, shared = counts(gql)
        assert (executions - before[0], shared - before[1]) == (rounds, rounds * (n - 1))
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    with capsys.disabled():
        print(f"\n{n} subscribers, one session, in process: commit to last result "
              f"median {statistics.median(last):.1f} ms, max {max(last):.1f} ms")


# -- the sharing rule --------------------------------------------------------------------


@strawberry.type
class Item:
    name: str | None

    @strawberry.field
    def viewer(self, info: Info) -> str:
        return str(info.context["viewer"])


@strawberry.type
class Box:
    item: Item


@strawberry.interface
class Named:
    name: str | None


@strawberry.type
class Thing(Named):
    size: int = 0


class Broken:
    """Passes for an Item, but reading its name fails (a fault inside execution)."""

    @property
    def name(self) -> str:
        raise RuntimeError("secret detail")


@strawberry.type
class Q:
    @strawberry.field
    def ok(self) -> str:
        return "ok"

    @strawberry.field
    def fault(self) -> str | None:
        raise RuntimeError("secret detail")

    @strawberry.field
    def refused(self) -> str | None:
        raise GraphQLError("not like that", extensions={"code": "INVALID_INPUT"})


@strawberry.type
class S:
    @strawberry.subscription
    async def items(self, info: Info, tag: str = "") -> AsyncGenerator[Item, None]:
        for item in info.context["items"]:
            yield item

    @strawberry.subscription
    async def boxes(self, info: Info) -> AsyncGenerator[Box, None]:
        for box in info.context["boxes"]:
            yield box

    @strawberry.subscription
    async def named(self, info: Info) -> AsyncGenerator[Named, None]:
        yield Thing(name="x")


def small_schema(**kwargs: Any) -> Schema:
    return Schema(query=Q, subscription=S, types=[Thing],
                  extensions=[lambda: ParserCache(maxsize=64), *kwargs.pop("extensions", [])],
                  execution_context_class=shared_event_executor(), **kwargs)


SMALL = small_schema()


def plan(query: str, schema: Schema = SMALL) -> tuple[str, ...] | None:
    document = parse(query)
    operation = next(d for d in document.definitions
                     if isinstance(d, OperationDefinitionNode))
    fragments = {d.name.value: d for d in document.definitions
                 if not isinstance(d, OperationDefinitionNode)}
    return sharing_plan(schema._schema, operation, fragments)  # type: ignore[arg-type]


def test_the_sharing_rule() -> None:
    real = build_schema()
    assert plan(STEPS, real) == ()  # $id and $after are the root field's own
    assert plan(STEPS_MAYBE_REASONING, real) == ("more",)
    assert plan("subscription($t: String) { items(tag: $t) { name __typename } }") == ()
    assert plan("subscription($a: Boolean!, $b: Boolean!) { boxes { item @skip(if: $a) "
                "{ ... on Item @include(if: $b) { name } } } }") == ("a", "b")
    refused = [
        "{ ok }",  # not a subscription
        "subscription { items { viewer } }",  # a resolver: it may read the context
        "subscription { boxes { item { name viewer } } }",  # ... however deep
        "subscription { items { ...f } } fragment f on Item { viewer }",
        "subscription { named { name } }",  # an interface: its type resolver
        "subscription($x: Boolean!) { items @include(if: $x) { name } }",  # at the root
        "subscription { items { __schema { queryType { name } } } }",
    ]
    for query in refused:
        assert plan(query) is None, query


async def collect(schema: Schema, query: str, context: dict[str, Any]) -> list[Any]:
    stream = await schema.subscribe(query, context_value=context)
    return [result async for result in stream]


async def test_a_field_with_a_resolver_is_executed_per_subscriber() -> None:
    schema = small_schema()
    items = [Item(name="a"), Item(name="b")]
    query = "subscription { items { name viewer } }"
    ann = await collect(schema, query, {"items": items, "viewer": "ann"})
    bob = await collect(schema, query, {"items": items, "viewer": "bob"})
    assert [r.data["items"]["viewer"] for r in ann + bob] == ["ann"] * 2 + ["bob"] * 2
    assert counts(schema) == (0, 0)  # not shareable: neither counted nor kept


async def test_a_shared_payload_shares_its_result() -> None:
    schema = small_schema()
    context = {"items": [Item(name="a"), Item(name="b")], "viewer": "-"}
    first = await collect(schema, "subscription { items { name } }", context)
    second = await collect(schema, "subscription { items { name } }", context)
    assert [r.data for r in second] == [r.data for r in first]
    assert counts(schema) == (2, 2)
    other = {"items": [Item(name="a")], "viewer": "-"}  # equal, but another object
    await collect(schema, "subscription { items { name } }", other)
    assert counts(schema) == (3, 2)


async def test_faults_are_neither_shared_nor_shown(caplog) -> None:
    schema = small_schema()
    context = {"items": [Broken()], "viewer": "-"}
    for _ in range(2):
        (result,) = await collect(schema, "subscription { items { name } }", context)
        assert result.data == {"items": {"name": None}}
        assert [e.message for e in result.errors] == [MASKED_MESSAGE]
    assert counts(schema) == (2, 0)  # each subscriber executed its own
    logged = [r for r in caplog.records if r.name == "studypilot.errors"]
    assert len(logged) == 2  # ... and logged the fault, with its traceback
    assert all("secret detail" in str(r.exc_info[1]) for r in logged)


async def test_masking() -> None:
    masked, shown = small_schema(), small_schema(mask_errors=False)
    result = await masked.execute("{ ok fault refused }")
    assert result.data == {"ok": "ok", "fault": None, "refused": None}
    by_path = {e.path[0]: e for e in result.errors}
    assert by_path["fault"].message == MASKED_MESSAGE
    assert by_path["fault"].original_error is None
    assert by_path["refused"].message == "not like that"  # ours: shown with its code
    assert by_path["refused"].extensions == {"code": "INVALID_INPUT"}
    assert [e.message for e in masked.execute_sync("{ fault }").errors] == [MASKED_MESSAGE]
    assert (await masked.execute("{ nope }")).errors[0].message.startswith(
        "Cannot query field 'nope'")  # validation errors are the client's to see
    assert [e.message for e in (await shown.execute("{ fault }")).errors] == ["secret detail"]
    (streamed,) = await collect(masked, "subscription { nope }", {})
    assert streamed.errors[0].message.startswith("Cannot query field 'nope'")


class Counting(SchemaExtension):
    seen: list[object] = []

    def on_stream_result(self, result: Any) -> Any:
        Counting.seen.append(result)
        yield

    def get_results(self) -> dict[str, Any]:
        return {"counted": len(Counting.seen)}


async def test_extensions_still_see_every_streamed_result() -> None:
    schema = small_schema(extensions=[Counting])
    Counting.seen = []
    results = await collect(schema, "subscription { items { name } }",
                            {"items": [Item(name="a"), Item(name="b")]})
    assert Counting.seen == results
    assert [r.extensions for r in results] == [{"counted": 0}, {"counted": 1}]
