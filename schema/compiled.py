"""Compiled reads: a query over the caller's sessions, their topics and quizzes answered
by ONE SQL statement and a prebuilt result builder, instead of graphql-core's
field-by-field execution with DataLoaders.

What it covers (``OBJECTS`` and ``ROOTS``; their SQL in ``agents/session_reads.py``):
``session(id:)``, ``sessions(first:, after:)`` (edges, cursors, nodes, pageInfo,
totalCount) and ``node(id:)`` (for sessions, topics and quizzes), with the scalar fields of
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

import orjson
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
    get_operation_ast,
    parse,
    specified_rules,
)
from graphql.execution.values import get_argument_values, get_variable_values
from graphql.validation import ASTValidationRule
from strawberry.schema.schema import validate_document

from agents import session_reads
from agents.errors import InvalidInput
from agents.state_machine import StudyPhase
from app.database import Db
from schema import ids
from schema.connections import encode_cursor, page_size
from schema.queries import session_cursor

logger = logging.getLogger(__name__)


class NotCompilable(Exception):
    """The document uses something the compiler does not cover (the reason says what)."""


class Fallback(Exception):
    """This request needs the normal executor (bad credentials, variables, a surprise)."""


@dataclass(frozen=True)
class Leaf:
    """A scalar: the column of ``attribute`` (``agents.session_reads``), turned into the
    value the strawberry resolver returns before the GraphQL type serializes it."""

    attribute: str
    value: Callable[[Any], Any] | None = None


@dataclass(frozen=True)
class Link:
    """Objects reached through the parent table's relation ``attribute``."""

    attribute: str


@dataclass(frozen=True)
class Root:
    """A root field: its relation and the argument that holds a global id of ``id_type``."""

    relation: session_reads.Relation
    arg: str
    id_type: str


def _global(type_name: str) -> Callable[[str], str]:
    return lambda raw: ids.encode(type_name, raw)  # type: ignore[arg-type] - str(uuid) alike


def _timestamp(raw: str) -> datetime:
    """PostgreSQL's JSON text of a timestamptz (in the session's TimeZone) as asyncpg gives
    it: aware, in UTC."""
    return datetime.fromisoformat(raw).astimezone(UTC)


# GraphQL object type -> (its table in agents.session_reads, its fields)
OBJECTS: dict[str, tuple[str, dict[str, Leaf | Link]]] = {
    "StudySession": ("session", {
        "id": Leaf("id", _global("StudySession")),
        "examType": Leaf("exam_type"),
        "examDate": Leaf("exam_date", date.fromisoformat),
        "state": Leaf("state", StudyPhase),
        "version": Leaf("version"),
        "syllabus": Leaf("syllabus"),
        "context": Leaf("context"),
        "createdAt": Leaf("created_at", _timestamp),
        "updatedAt": Leaf("updated_at", _timestamp),
        "topics": Link("topics"),
        "currentTopic": Link("current_topic"),
    }),
    "Topic": ("topic", {
        "id": Leaf("id", _global("Topic")),
        "name": Leaf("name"),
        "status": Leaf("status"),
        "masteryScore": Leaf("mastery_score"),
        "position": Leaf("position"),
        "estimatedMinutes": Leaf("estimated_minutes"),
        "quizzes": Link("quizzes"),
    }),
    "Quiz": ("quiz", {
        "id": Leaf("id", _global("Quiz")),
        "timeEstimateMinutes": Leaf("time_estimate_minutes"),
        "score": Leaf("score"),
    }),
}

@dataclass(frozen=True)
class Page:
    """A root connection over a table's rows (``sessions(first:, after:)``)."""

    table: str
    source: str
    order: str
    count: str


@dataclass(frozen=True)
class AnyNode:
    """Relay's ``node(id:)``: the object type comes from the id, so each possible type has
    its subquery and only the one the id names gets the UUID (the others NULL)."""

    relations: dict[str, session_reads.Relation]


ROOTS: dict[str, Root | Page | AnyNode] = {
    "session": Root(session_reads.SESSION_BY_ID, arg="id", id_type="StudySession"),
    "sessions": Page("session", session_reads.SESSIONS_PAGE, session_reads.SESSIONS_PAGE_ORDER,
                     session_reads.SESSIONS_COUNT),
    "node": AnyNode({"StudySession": session_reads.SESSION_BY_ID,
                     "Topic": session_reads.TOPIC_BY_ID, "Quiz": session_reads.QUIZ_BY_ID}),
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


def _arguments(field_def: GraphQLField, node: FieldNode,
               variables: dict[str, Any]) -> dict[str, Any]:
    try:
        return get_argument_values(field_def, node, variables)
    except GraphQLError as exc:
        raise Fallback(str(exc)) from None


@dataclass(frozen=True)
class IdArgument:
    """A root field's global-id argument, as one SQL parameter (its UUID)."""

    field_def: GraphQLField
    node: FieldNode
    name: str
    id_type: str

    def values(self, variables: dict[str, Any]) -> list[Any]:
        raw = _arguments(self.field_def, self.node, variables)[self.name]
        try:
            return [ids.decode(raw, self.id_type, self.name)]
        except InvalidInput:
            return [None]  # the resolver answers null for a malformed or foreign id


@dataclass(frozen=True)
class NodeArgument:
    """``node(id:)``'s id as one parameter per possible type: its UUID for the type it
    names, NULL for the others (the resolver's null for a bare UUID or a malformed id)."""

    field_def: GraphQLField
    node: FieldNode
    types: tuple[str, ...]

    def values(self, variables: dict[str, Any]) -> list[Any]:
        raw = _arguments(self.field_def, self.node, variables)["id"]
        try:
            type_name, found = ids.parse(raw)
        except ValueError:
            type_name, found = None, None
        return [found if type_name == name else None for name in self.types]


@dataclass(frozen=True)
class PageArguments:
    """``first`` and ``after`` of the sessions connection, as three SQL parameters (the
    cursor's created_at and id, the page size + 1); a value the resolver refuses (with
    its own error) is a ``Fallback``."""

    field_def: GraphQLField
    node: FieldNode
    max_page_size: int

    def values(self, variables: dict[str, Any]) -> list[Any]:
        arguments = _arguments(self.field_def, self.node, variables)
        try:
            limit = page_size(arguments.get("first"), self.max_page_size)
            cursor = session_cursor(arguments.get("after"))
        except InvalidInput as exc:
            raise Fallback(str(exc)) from None
        at, sid = cursor if cursor is not None else (None, None)
        return [at, sid, limit + 1]


@dataclass(frozen=True)
class Plan:
    """A compiled query operation: its SQL, its parameters and how to shape the row."""

    sql: str
    variable_definitions: tuple[Any, ...]
    arguments: tuple[IdArgument | PageArguments | NodeArgument, ...]
    build: Build

    def parameters(self, user_id: UUID, raw_variables: Mapping[str, Any] | None,
                   schema: GraphQLSchema) -> list[Any]:
        variables = get_variable_values(schema, self.variable_definitions, raw_variables or {})
        if isinstance(variables, list):
            raise Fallback("variables do not coerce")
        return [user_id, *itertools.chain.from_iterable(
            argument.values(variables) for argument in self.arguments)]


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
                 operation: OperationDefinitionNode, *, max_page_size: int) -> None:
        self.schema = schema
        self.operation = operation
        self.max_page_size = max_page_size
        self.fragments = {d.name.value: d for d in document.definitions
                          if isinstance(d, FragmentDefinitionNode)}
        self.aliases = (f"t{n}" for n in itertools.count())
        self.arguments: list[IdArgument | PageArguments | NodeArgument] = []
        self.parameters = 1  # $1 is the caller's user id

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
            root = ROOTS.get(name)
            if root is None:
                raise NotCompilable(f"root field {name}")
            field_def = query_type.fields[name]
            # (a repeated response key has the same arguments: validation checked it)
            if isinstance(root, AnyNode):
                types = tuple(root.relations)
                self.arguments.append(NodeArgument(field_def, nodes[0], types))
                sql, build = self._any_node(root, field_def, nodes, self._allocate(len(types)))
            elif isinstance(root, Page):
                self.arguments.append(PageArguments(field_def, nodes[0], self.max_page_size))
                sql, build = self._page(root, field_def, nodes, *self._allocate(3))
            else:
                self.arguments.append(IdArgument(field_def, nodes[0], root.arg, root.id_type))
                [parameter] = self._allocate(1)
                sql, build = self._relation(root.relation, field_def, nodes, parent_alias="",
                                            arg=parameter)
            columns.append(sql)
            entries.append((key, _item(len(columns) - 1, build)))
        if not columns:
            raise NotCompilable("no root field to read")
        return Plan(sql=f"SELECT json_build_array({', '.join(columns)})",
                    variable_definitions=tuple(self.operation.variable_definitions or ()),
                    arguments=tuple(self.arguments), build=_object(entries))

    @staticmethod
    def _table(object_type: Any, table_name: str
               ) -> tuple[session_reads.Table, dict[str, Leaf | Link]]:
        """The table behind ``object_type`` and its fields, which must be ``table_name``."""
        found, fields = OBJECTS.get(getattr(object_type, "name", ""), ("", {}))
        if not isinstance(object_type, GraphQLObjectType) or found != table_name:
            raise NotCompilable(f"type {object_type}")
        return session_reads.TABLES[found], fields

    def _allocate(self, n: int) -> list[str]:
        """The next ``n`` SQL parameter placeholders."""
        made = [f"${self.parameters + k + 1}" for k in range(n)]
        self.parameters += n
        return made

    def _any_node(self, root: AnyNode, field_def: GraphQLField, nodes: list[FieldNode],
                  parameters: list[str]) -> tuple[str, Build]:
        """One subquery per object type the id may name; the answer is the one that found a
        row (at most one has a parameter), or null."""
        columns, builds = [], []
        for (type_name, relation), parameter in zip(root.relations.items(), parameters,
                                                    strict=True):
            object_type = self.schema.get_type(type_name)
            table, fields = self._table(object_type, relation.table)
            select = _Select(next(self.aliases))
            builds.append(self._object(object_type, table, fields, nodes,  # type: ignore[arg-type]
                                       select))
            source = relation.source.format(c=select.alias, p="", arg=parameter)
            columns.append(f"(SELECT {select.row_sql()} {source})")
        pairs = tuple(enumerate(builds))

        def build(value: Row) -> Any:
            for index, build_one in pairs:
                if value[index] is not None:
                    return build_one(value[index])
            return None

        return f"json_build_array({', '.join(columns)})", build

    def _page(self, page: Page, field_def: GraphQLField, nodes: list[FieldNode], at: str,
              sid: str, fetch: str) -> tuple[str, Build]:
        """A connection (edges, nodes, pageInfo, totalCount) over one page of rows, built as
        the resolver builds it (cursor = base64 of "<created_at isoformat>|<id>")."""
        connection = _unwrap(field_def.type)[0]
        node_type = _unwrap(connection.fields["nodes"].type)[0]
        table, fields = self._table(node_type, page.table)
        select = _Select(next(self.aliases))
        created = select.column(table.columns["created_at"].format(a=select.alias))
        ident = select.column(table.columns["id"].format(a=select.alias))
        counted = False
        entries: list[tuple[str, Callable[[_PageRows], Any]]] = []
        for key, field_nodes in self._collect(connection, _selection_sets(nodes)).items():
            name = field_nodes[0].name.value
            if name == "__typename":
                entries.append((key, _constant(connection.name)))
            elif name == "totalCount":
                counted = True
                entries.append((key, _computed(connection, name, lambda p: p.count)))
            elif name == "pageInfo":
                entries.append((key, self._page_info(connection, field_nodes)))
            elif name == "nodes":
                build = self._object(node_type, table, fields, field_nodes, select)
                entries.append((key, lambda p, b=build: [b(row) for row in p.rows]))
            elif name == "edges":
                entries.append((key, self._edges(connection, field_nodes, table, fields,
                                                 select)))
            else:
                raise NotCompilable(f"field {connection.name}.{name}")
        rows = (f"(SELECT json_agg({select.row_sql()} ORDER BY "
                f"{page.order.format(c=select.alias)}) "
                f"{page.source.format(c=select.alias, at=at, sid=sid, fetch=fetch)})")
        sql = (f"json_build_array({rows}, {page.count if counted else 'NULL'}, {fetch}::int, "
               f"{at}::timestamptz IS NOT NULL)")
        pairs = tuple(entries)

        def build_page(value: Row) -> dict[str, Any]:
            found, count, fetched, has_previous = value
            page_rows = _PageRows.of(found or [], fetched - 1, count, has_previous,
                                     created, ident)
            return {key: get(page_rows) for key, get in pairs}

        return sql, build_page

    def _edges(self, connection: GraphQLObjectType, nodes: list[FieldNode],
               table: session_reads.Table, fields: dict[str, Leaf | Link],
               select: _Select) -> Callable[[_PageRows], Any]:
        edge = _unwrap(connection.fields["edges"].type)[0]
        entries: list[tuple[str, Callable[[Row, str], Any]]] = []
        for key, field_nodes in self._collect(edge, _selection_sets(nodes)).items():
            name = field_nodes[0].name.value
            if name == "__typename":
                entries.append((key, lambda row, cursor, t=edge.name: t))
            elif name == "cursor":
                serialize = get_named_type(edge.fields[name].type).serialize
                entries.append((key, lambda row, cursor, s=serialize: s(cursor)))
            elif name == "node":
                node_type = _unwrap(edge.fields[name].type)[0]
                build = self._object(node_type, table, fields, field_nodes, select)
                entries.append((key, lambda row, cursor, b=build: b(row)))
            else:
                raise NotCompilable(f"field {edge.name}.{name}")
        pairs = tuple(entries)
        return lambda p: [{key: get(row, cursor) for key, get in pairs}
                          for row, cursor in zip(p.rows, p.cursors, strict=True)]

    def _page_info(self, connection: GraphQLObjectType,
                   nodes: list[FieldNode]) -> Callable[[_PageRows], Any]:
        info = _unwrap(connection.fields["pageInfo"].type)[0]
        values: dict[str, Callable[[_PageRows], Any]] = {
            "hasNextPage": lambda p: p.has_next,
            "hasPreviousPage": lambda p: p.has_previous,
            "startCursor": lambda p: p.cursors[0] if p.cursors else None,
            "endCursor": lambda p: p.cursors[-1] if p.cursors else None,
        }
        entries: list[tuple[str, Callable[[_PageRows], Any]]] = []
        for key, field_nodes in self._collect(info, _selection_sets(nodes)).items():
            name = field_nodes[0].name.value
            if name == "__typename":
                entries.append((key, _constant(info.name)))
            elif name in values:
                entries.append((key, _computed(info, name, values[name])))
            else:
                raise NotCompilable(f"field {info.name}.{name}")
        pairs = tuple(entries)
        return lambda p: {key: get(p) for key, get in pairs}

    def _relation(self, relation: session_reads.Relation, field_def: GraphQLField,
                  nodes: list[FieldNode], *, parent_alias: str, arg: str = "") -> tuple[str, Build]:
        """A relation's subquery (one column of its parent's row) and its builder."""
        target, non_null, is_list = _unwrap(field_def.type)
        if is_list != relation.many:
            raise NotCompilable(f"type of {nodes[0].name.value}")
        table, fields = self._table(target, relation.table)
        select = _Select(next(self.aliases))
        build = self._object(target, table, fields, nodes, select)
        source = relation.source.format(c=select.alias, p=parent_alias, arg=arg)
        if relation.many:
            order = f" ORDER BY {relation.order.format(c=select.alias)}" if relation.order else ""
            sql = f"(SELECT json_agg({select.row_sql()}{order}) {source})"
            return sql, _many(build)
        return f"(SELECT {select.row_sql()} {source})", _one(build, non_null)

    def _object(self, object_type: GraphQLObjectType, table: session_reads.Table,
                fields: dict[str, Leaf | Link], nodes: list[FieldNode], select: _Select) -> Build:
        entries: list[tuple[str, Build]] = []
        for key, field_nodes in self._collect(object_type, _selection_sets(nodes)).items():
            name = field_nodes[0].name.value
            if name == "__typename":
                entries.append((key, _constant(object_type.name)))
                continue
            spec = fields.get(name)
            field_def = object_type.fields.get(name)
            if spec is None or field_def is None:
                raise NotCompilable(f"field {object_type.name}.{name}")
            if any(node.arguments for node in field_nodes):
                raise NotCompilable("arguments")
            if isinstance(spec, Leaf):
                index = select.column(table.columns[spec.attribute].format(a=select.alias))
                entries.append((key, _leaf(index, spec.value, field_def)))
            else:
                sql, build = self._relation(table.relations[spec.attribute], field_def,
                                            field_nodes, parent_alias=select.alias)
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


@dataclass(frozen=True)
class _PageRows:
    """One page of a connection at run time, as the resolver computes it."""

    rows: list[Row]
    cursors: list[str]
    has_next: bool
    has_previous: bool
    count: int | None

    @classmethod
    def of(cls, found: list[Row], limit: int, count: int | None, has_previous: bool,
           created: int, ident: int) -> _PageRows:
        rows = found[:limit]
        cursors = [encode_cursor(f"{_timestamp(row[created]).isoformat()}|{row[ident]}")
                   for row in rows]
        return cls(rows, cursors, len(found) > limit, has_previous, count)


def _selection_sets(nodes: list[FieldNode]) -> list[SelectionSetNode]:
    return [node.selection_set for node in nodes if node.selection_set is not None]


def _serializer(field_def: GraphQLField) -> Callable[[Any], Any]:
    """What graphql-core does with a leaf's value: null (refused for a non-null field: the
    executor answers instead), else the GraphQL type's ``serialize``."""
    serialize = get_named_type(field_def.type).serialize  # type: ignore[union-attr]
    non_null = isinstance(field_def.type, GraphQLNonNull)

    def complete(value: Any) -> Any:
        if value is None:
            if non_null:
                raise Fallback("null in a non-null field")
            return None
        return serialize(value)

    return complete


def _computed(object_type: GraphQLObjectType, name: str,
              value: Callable[[_PageRows], Any]) -> Callable[[_PageRows], Any]:
    """A field whose value the resolver computes, serialized by its GraphQL type."""
    complete = _serializer(object_type.fields[name])
    return lambda page: complete(value(page))


def _constant(value: str) -> Callable[[Any], str]:
    return lambda row: value


def _leaf(index: int, convert: Callable[[Any], Any] | None, field_def: GraphQLField) -> Build:
    complete = _serializer(field_def)
    if convert is None:
        return lambda row: complete(row[index])
    return lambda row: complete(None if row[index] is None else convert(row[index]))


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
                 *, max_tokens: int, max_page_size: int, max_chars: int,
                 size: int = 1024) -> None:
        self.schema = schema
        self._max_chars = max_chars
        self._max_page_size = max_page_size
        self._rules = (*specified_rules, *rules)
        self._max_tokens = max_tokens
        self._size = size
        self._plans: OrderedDict[tuple[str, str | None], Plan | None] = OrderedDict()
        self.answered = 0  # requests answered compiled

    async def answer(self, plan: Plan, db: Db, user_id: UUID,
                     variables: Mapping[str, Any] | None) -> bytes:
        """The response body of ``plan`` for the caller: one SQL statement. Raises
        ``Fallback`` when the executor must answer instead."""
        parameters = plan.parameters(user_id, variables, self.schema)
        row = await db.fetchval(plan.sql, *parameters)
        body = orjson.dumps({"data": plan.build(row)})
        self.answered += 1
        return body

    def plan(self, query: str, operation_name: str | None) -> Plan | None:
        """The plan of a document, or None for the executor; documents over ``max_chars``
        are neither compiled nor remembered (the caches' memory stays bounded)."""
        if len(query) > self._max_chars:
            return None
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
        operation = get_operation_ast(document, operation_name)
        if operation is None:
            return None
        try:
            return Compiler(self.schema, document, operation,
                            max_page_size=self._max_page_size).compile()
        except NotCompilable:
            return None
        except Exception:  # a compiler bug must not fail the request: the executor answers
            logger.exception("could not compile a query; the executor answers it")
            return None
