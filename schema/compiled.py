"""Compiled reads: a query over a session, its topics and their quizzes answered by ONE
SQL statement and a prebuilt result builder, instead of graphql-core's field-by-field
execution with DataLoaders.

What it covers (``OBJECTS`` and ``ROOTS``): ``session(id:)`` with the scalar fields of
``StudySession``, ``Topic`` and ``Quiz``, ``topics``, ``currentTopic``, ``quizzes`` and
``__typename``, through aliases, repeated fields and fragments (named or inline) whose
type condition holds. Anything else in a document (another root field, a field with
arguments, a directive, a subscription or mutation, a field not in the tables) makes the
whole document "not compilable", and the normal executor answers it.

How it stays the executor's equal: a document is compiled only after it passed the same
parse limits and validation rules as the executor's (``CompiledReads.plan``); each leaf
value is turned into what the strawberry resolver returns (a global id, a ``StudyPhase``)
and then through the GraphQL type's own ``serialize``, as graphql-core does; rows are
scoped to the caller like the loaders' queries and ordered like them. At run time any
surprise (no or bad credentials, variables that do not coerce, a NULL in a non-null
field, a database error) raises ``Fallback`` and the request goes to the executor,
which gives the canonical answer or error. ``tests/test_compiled_reads.py`` checks the
two paths byte for byte over a matrix of documents.

The SQL nests one correlated subquery per relation, ``json_agg(json_build_array(...)
ORDER BY ...)`` for lists and ``json_build_array(...)`` for single objects, and the row
comes back as one JSON value (positional arrays, decoded by orjson). Leaves are turned back
into the Python values the loaders' rows hold (``Leaf.value``: a timestamp string into an
aware UTC datetime, a date string into a date) before the resolvers' conversions. (Anonymous
records would keep the types, but asyncpg cannot decode a ``record[]`` nested in a record.)
"""

from __future__ import annotations

import itertools
import logging
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    get_named_type,
    parse,
    specified_rules,
)
from graphql.execution.values import get_argument_values, get_variable_values
from graphql.validation import ASTValidationRule
from strawberry.schema.schema import validate_document

from agents.errors import InvalidInput
from agents.state_machine import StudyPhase
from schema import ids

logger = logging.getLogger(__name__)


class NotCompilable(Exception):
    """The document uses something the compiler does not cover (the reason says what)."""


class Fallback(Exception):
    """This request needs the normal executor (bad credentials, variables, a surprise)."""


@dataclass(frozen=True)
class Leaf:
    """A scalar read from a column (``{a}`` is the table's alias), turned into the value
    the strawberry resolver returns before the GraphQL type serializes it."""

    sql: str
    value: Callable[[Any], Any] | None = None


@dataclass(frozen=True)
class Link:
    """Objects of ``target`` reached from the parent row (``{p}``) as ``{c}``; ``$1`` is
    always the caller's user id. ``arg`` names the root argument holding a global id."""

    target: str
    many: bool
    source: str
    order: str | None = None
    arg: str | None = None
    id_type: str | None = None


def _global(type_name: str) -> Callable[[str], str]:
    return lambda raw: ids.encode(type_name, raw)  # type: ignore[arg-type] - str(uuid) alike


def _timestamp(raw: str) -> datetime:
    """PostgreSQL's JSON text of a timestamptz (in the session's TimeZone) as asyncpg gives
    it: aware, in UTC."""
    return datetime.fromisoformat(raw).astimezone(UTC)


OBJECTS: dict[str, dict[str, Leaf | Link]] = {
    "StudySession": {
        "id": Leaf("{a}.id", _global("StudySession")),
        "examType": Leaf("{a}.exam_type"),
        "examDate": Leaf("{a}.exam_date", date.fromisoformat),
        "state": Leaf("{a}.current_state", StudyPhase),
        "version": Leaf("{a}.version"),
        "syllabus": Leaf("{a}.syllabus"),
        "context": Leaf("{a}.current_context"),
        "createdAt": Leaf("{a}.created_at", _timestamp),
        "updatedAt": Leaf("{a}.updated_at", _timestamp),
        # as topic_store.SELECT_TOPICS_BY_SESSIONS (the session row is already the caller's)
        "topics": Link("Topic", True, "FROM topics {c} WHERE {c}.session_id = {p}.id",
                       order="{c}.position"),
        "currentTopic": Link("Topic", False,
                             "FROM topics {c} WHERE {c}.id = {p}.current_topic_id"),
    },
    "Topic": {
        "id": Leaf("{a}.id", _global("Topic")),
        "name": Leaf("{a}.name"),
        "status": Leaf("{a}.status"),
        "masteryScore": Leaf("{a}.mastery_score"),
        "position": Leaf("{a}.position"),
        "estimatedMinutes": Leaf("{a}.estimated_minutes"),
        # as topic_store.SELECT_QUIZZES_BY_TOPICS
        "quizzes": Link("Quiz", True,
                        "FROM quizzes {c} WHERE {c}.topic_id = {p}.id AND {c}.user_id = $1",
                        order="{c}.created_at, {c}.id"),
    },
    "Quiz": {
        "id": Leaf("{a}.id", _global("Quiz")),
        "timeEstimateMinutes": Leaf("{a}.time_estimate_minutes"),
        "score": Leaf("{a}.score"),
    },
}

ROOTS: dict[str, Link] = {
    # as session_store.SELECT_SESSIONS_BY_IDS; a malformed id is a NULL parameter: no row
    "session": Link("StudySession", False,
                    "FROM study_sessions {c} WHERE {c}.id = {arg} AND {c}.user_id = $1",
                    arg="id", id_type="StudySession"),
}

Row = list[Any]
Build = Callable[[Row], Any]


@dataclass
class _Select:
    """One ROW(...) being built: its column expressions and their positions."""

    alias: str
    columns: list[str] = field(default_factory=list)

    def column(self, sql: str) -> int:
        if sql not in self.columns:
            self.columns.append(sql)
        return self.columns.index(sql)

    def row_sql(self) -> str:
        return f"json_build_array({', '.join(self.columns)})"


@dataclass(frozen=True)
class RootArgument:
    """How one root field's argument becomes a SQL parameter."""

    field_def: GraphQLField
    node: FieldNode
    name: str
    id_type: str

    def parameter(self, variables: dict[str, Any]) -> UUID | None:
        try:
            raw = get_argument_values(self.field_def, self.node, variables)[self.name]
        except GraphQLError as exc:
            raise Fallback(str(exc)) from None
        try:
            return ids.decode(raw, self.id_type, self.name)
        except InvalidInput:
            return None  # the resolver answers null for a malformed or foreign id


@dataclass(frozen=True)
class Plan:
    """A compiled query operation: its SQL, its parameters and how to shape the row."""

    sql: str | None
    variable_definitions: tuple[Any, ...]
    arguments: tuple[RootArgument, ...]
    build: Build

    def parameters(self, user_id: UUID, raw_variables: Mapping[str, Any] | None,
                   schema: GraphQLSchema) -> list[Any]:
        variables = get_variable_values(schema, self.variable_definitions, raw_variables or {})
        if isinstance(variables, list):
            raise Fallback("variables do not coerce")
        return [user_id, *(argument.parameter(variables) for argument in self.arguments)]


def _unwrap(gql_type: Any) -> tuple[Any, bool, bool]:
    """(named type, non-null, list) of a field's type; lists must hold non-null items."""
    non_null = isinstance(gql_type, GraphQLNonNull)
    if non_null:
        gql_type = gql_type.of_type
    is_list = isinstance(gql_type, GraphQLList)
    if is_list:
        item = gql_type.of_type
        if not isinstance(item, GraphQLNonNull):
            raise NotCompilable("list of nullable items")
        gql_type = item.of_type
    return gql_type, non_null, is_list


class Compiler:
    """Turns one validated query operation into a ``Plan`` (or raises ``NotCompilable``)."""

    def __init__(self, schema: GraphQLSchema, document: DocumentNode,
                 operation: OperationDefinitionNode) -> None:
        self.schema = schema
        self.operation = operation
        self.fragments = {d.name.value: d for d in document.definitions
                          if isinstance(d, FragmentDefinitionNode)}
        self.aliases = (f"t{n}" for n in itertools.count())
        self.arguments: list[RootArgument] = []

    def compile(self) -> Plan:
        if self.operation.operation is not OperationType.QUERY:
            raise NotCompilable("not a query")
        if self.operation.directives:
            raise NotCompilable("directives")
        query_type = self.schema.query_type
        assert query_type is not None
        columns: list[str] = []
        entries: list[tuple[str, Build]] = []
        for key, nodes in self._collect(query_type, [self.operation.selection_set]).items():
            name = nodes[0].name.value
            if name == "__typename":
                entries.append((key, _constant(query_type.name)))
                continue
            link = ROOTS.get(name)
            if link is None or link.arg is None or link.id_type is None:
                raise NotCompilable(f"root field {name}")
            field_def = query_type.fields[name]
            self.arguments.append(RootArgument(field_def, nodes[0], link.arg, link.id_type))
            # (a repeated response key has the same arguments: validation checked it)
            parameter = f"${len(self.arguments) + 1}"
            sql, build = self._link(link, field_def, nodes, parent_alias="", arg=parameter)
            columns.append(sql)
            entries.append((key, _item(len(columns) - 1, build)))
        if not columns:
            raise NotCompilable("no root field to read")
        return Plan(sql=f"SELECT json_build_array({', '.join(columns)})",
                    variable_definitions=tuple(self.operation.variable_definitions or ()),
                    arguments=tuple(self.arguments), build=_object(entries))

    def _link(self, link: Link, field_def: GraphQLField, nodes: list[FieldNode], *,
              parent_alias: str, arg: str = "") -> tuple[str, Build]:
        """A relation's subquery (one column of its parent's ROW) and its builder."""
        if any(node.arguments for node in nodes) and link.arg is None:
            raise NotCompilable("arguments")
        target, non_null, is_list = _unwrap(field_def.type)
        if not isinstance(target, GraphQLObjectType) or target.name != link.target:
            raise NotCompilable(f"type of {nodes[0].name.value}")
        if is_list != link.many:
            raise NotCompilable("list shape")
        select = _Select(next(self.aliases))
        build = self._object(target, nodes, select)
        source = link.source.format(c=select.alias, p=parent_alias, arg=arg)
        if link.many:
            order = f" ORDER BY {link.order.format(c=select.alias)}" if link.order else ""
            sql = f"(SELECT json_agg({select.row_sql()}{order}) {source})"
            return sql, _many(build)
        return f"(SELECT {select.row_sql()} {source})", _one(build, non_null)

    def _object(self, object_type: GraphQLObjectType, nodes: list[FieldNode],
                select: _Select) -> Build:
        table = OBJECTS.get(object_type.name)
        if table is None:
            raise NotCompilable(f"type {object_type.name}")
        selection_sets = [n.selection_set for n in nodes if n.selection_set is not None]
        entries: list[tuple[str, Build]] = []
        for key, field_nodes in self._collect(object_type, selection_sets).items():
            name = field_nodes[0].name.value
            if name == "__typename":
                entries.append((key, _constant(object_type.name)))
                continue
            spec = table.get(name)
            field_def = object_type.fields.get(name)
            if spec is None or field_def is None:
                raise NotCompilable(f"field {object_type.name}.{name}")
            if isinstance(spec, Leaf):
                if any(node.arguments for node in field_nodes):
                    raise NotCompilable("arguments")
                index = select.column(spec.sql.format(a=select.alias))
                entries.append((key, _leaf(index, spec.value, field_def)))
            else:
                sql, build = self._link(spec, field_def, field_nodes, parent_alias=select.alias)
                entries.append((key, _item(select.column(sql), build)))
        return _object(entries)

    def _collect(self, object_type: GraphQLObjectType,
                 selection_sets: list[SelectionSetNode]) -> dict[str, list[FieldNode]]:
        """Response key -> its field nodes, in document order (graphql-core's order)."""
        fields: dict[str, list[FieldNode]] = {}
        for selection in self._selections(object_type, selection_sets, set()):
            key = selection.alias.value if selection.alias else selection.name.value
            fields.setdefault(key, []).append(selection)
        return fields

    def _selections(self, object_type: GraphQLObjectType, selection_sets: list[SelectionSetNode],
                    visited: set[str]) -> Iterator[FieldNode]:
        for selection_set in selection_sets:
            for selection in selection_set.selections:
                if selection.directives:
                    raise NotCompilable("directives")
                if isinstance(selection, FieldNode):
                    yield selection
                elif isinstance(selection, InlineFragmentNode):
                    if self._applies(object_type, selection.type_condition):
                        yield from self._selections(object_type, [selection.selection_set],
                                                    visited)
                elif isinstance(selection, FragmentSpreadNode):
                    name = selection.name.value
                    fragment = self.fragments.get(name)
                    if name in visited or fragment is None:
                        continue
                    visited.add(name)
                    if self._applies(object_type, fragment.type_condition):
                        yield from self._selections(object_type, [fragment.selection_set],
                                                    visited)

    def _applies(self, object_type: GraphQLObjectType, condition: Any) -> bool:
        if condition is None or condition.name.value == object_type.name:
            return True
        named = self.schema.get_type(condition.name.value)
        if named is None:
            return False
        return self.schema.is_sub_type(named, object_type)  # type: ignore[arg-type]


def _constant(value: str) -> Build:
    return lambda row: value


def _leaf(index: int, convert: Callable[[Any], Any] | None, field_def: GraphQLField) -> Build:
    serialize = get_named_type(field_def.type).serialize  # type: ignore[union-attr]
    non_null = isinstance(field_def.type, GraphQLNonNull)

    def build(row: Row) -> Any:
        raw = row[index]
        if raw is None:
            if non_null:
                raise Fallback("NULL in a non-null field")
            return None
        return serialize(convert(raw) if convert is not None else raw)

    return build


def _item(index: int, build: Build) -> Build:
    return lambda row: build(row[index])


def _one(build: Build, non_null: bool) -> Build:
    def one(value: Row | None) -> Any:
        if value is None:
            if non_null:
                raise Fallback("no row for a non-null object")
            return None
        return build(value)

    return one


def _many(build: Build) -> Build:
    return lambda values: [build(value) for value in values] if values else []


def _object(entries: list[tuple[str, Build]]) -> Build:
    pairs = tuple(entries)
    return lambda row: {key: get(row) for key, get in pairs}


class CompiledReads:
    """Plans per (query text, operation name), compiled on first sight and kept in a
    bounded LRU; documents that cannot be compiled are remembered as such (``None``)."""

    def __init__(self, schema: GraphQLSchema, rules: tuple[type[ASTValidationRule], ...],
                 *, max_tokens: int, size: int = 1024) -> None:
        self.schema = schema
        self._rules = (*specified_rules, *rules)
        self._max_tokens = max_tokens
        self._size = size
        self._plans: OrderedDict[tuple[str, str | None], Plan | None] = OrderedDict()
        self.answered = 0  # requests answered compiled (the view counts them)

    def plan(self, query: str, operation_name: str | None) -> Plan | None:
        key = (query, operation_name)
        try:
            plan = self._plans[key]
        except KeyError:
            plan = self._compile(query, operation_name)
            self._plans[key] = plan
            if len(self._plans) > self._size:
                self._plans.popitem(last=False)
            return plan
        self._plans.move_to_end(key)
        return plan

    def _compile(self, query: str, operation_name: str | None) -> Plan | None:
        try:
            document = parse(query, max_tokens=self._max_tokens)
        except GraphQLError:
            return None
        if validate_document(self.schema, document, self._rules):
            return None
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        if operation_name is None:
            operation = operations[0] if len(operations) == 1 else None
        else:
            operation = next((o for o in operations
                              if o.name is not None and o.name.value == operation_name), None)
        if operation is None:
            return None
        try:
            return Compiler(self.schema, document, operation).compile()
        except NotCompilable:
            return None
        except Exception:  # a compiler bug must not fail the request: the executor answers
            logger.exception("could not compile a query; the executor answers it")
            return None
