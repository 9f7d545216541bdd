"""Subscription events executed once per document, not once per subscriber.

graphql-core runs a subscription's selection set again for every event and every
subscriber. When a thousand subscribers of one session receive the same event (the hub
hands them the same ``AutopilotStep``), that is a thousand identical executions. The
executor here remembers each per-event result in a small LRU keyed by

    (the operation node, the event payload, the values of the variables the selection
     below the root field uses)

and hands the same ``ExecutionResult`` to every subscriber with that key. The operation
node is the same object for the same query text because ``ParserCache`` returns the same
document; the payload is compared by identity (an entry holds a strong reference to it,
so its id is not reused while the entry lives). The root field's own arguments
(``sessionId``, ``afterSeq``) are left out of the key: strawberry's per-event resolver
for a subscription field returns the event itself, whatever the arguments.

**The sharing rule** (checked once per operation; anything else executes per
subscriber, exactly as before):

- the operation is a subscription whose selection set is a single field, without
  directives, that is a strawberry subscription field;
- every field below it (through inline fragments and fragment spreads) is
  ``__typename`` or a strawberry *basic* field of an object type: no resolver, no field
  extension or permission class, read with the default ``getattr``. Such a field cannot
  see the request context, the caller, or anything but the payload and the document;
- no schema extension wraps resolvers (``resolve`` middleware sees every field);
- only results without errors are kept: a fault is executed, logged and masked per
  subscriber, as before.

A shared result is read-only: strawberry wraps it in a new ``ExecutionResult`` per
subscriber, and masking (``schema.Schema``) replaces the wrapper's error list, never the
shared one (which is empty anyway).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Iterable
from typing import Any, ClassVar

from graphql import (
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLField,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    ListValueNode,
    ObjectValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    ValueNode,
    VariableNode,
    get_named_type,
)
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.field import StrawberryField

RESULTS_KEPT = 256  # per-event results: a few recent events x the distinct documents
PLANS_KEPT = 1024  # operations analysed (ParserCache keeps 1024 documents)

_ABSENT = object()  # a variable with no value (distinct from null)
_UNSET = object()


class EventResults:
    """Recent per-event results, and the sharing plan of each operation seen.

    ``executions`` counts the per-event executions of shareable operations and
    ``shared`` the results handed out again without executing."""

    def __init__(self, size: int = RESULTS_KEPT, plans: int = PLANS_KEPT) -> None:
        self._size = size
        self._plans_kept = plans
        self._results: OrderedDict[Hashable, tuple[object, object, ExecutionResult]] = (
            OrderedDict())
        self._plans: OrderedDict[int, tuple[OperationDefinitionNode, tuple[str, ...] | None]] = (
            OrderedDict())
        self.executions = 0
        self.shared = 0

    def __repr__(self) -> str:
        return (f"EventResults(executions={self.executions}, shared={self.shared}, "
                f"kept={len(self._results)})")

    def get(self, key: Hashable, operation: object, payload: object) -> ExecutionResult | None:
        entry = self._results.get(key)
        if entry is None or entry[0] is not operation or entry[1] is not payload:
            return None
        self.shared += 1
        return entry[2]

    def put(self, key: Hashable, operation: object, payload: object,
            result: ExecutionResult) -> None:
        self._results[key] = (operation, payload, result)
        if len(self._results) > self._size:
            self._results.popitem(last=False)

    def plan(self, schema: GraphQLSchema, operation: OperationDefinitionNode,
             fragments: dict[str, FragmentDefinitionNode]) -> tuple[str, ...] | None:
        """The variables the per-event execution of ``operation`` depends on, or None
        when its result must not be shared (see the module docstring)."""
        entry = self._plans.get(id(operation))
        if entry is not None and entry[0] is operation:
            return entry[1]
        variables = sharing_plan(schema, operation, fragments)
        self._plans[id(operation)] = (operation, variables)
        if len(self._plans) > self._plans_kept:
            self._plans.popitem(last=False)
        return variables


class SharedEventExecutor(StrawberryGraphQLCoreExecutionContext):
    """strawberry's executor, with per-event results shared through ``results``.

    Make a subclass per schema with :func:`shared_event_executor`."""

    results: ClassVar[EventResults]
    _share_key: Any = _UNSET  # per subscription: (operation id, variable values) or None
    _event: tuple[Hashable, object] | None = None  # per event: (cache key, payload)

    def build_per_event_executor(self, payload: Any) -> Any:
        """The executor of one event: on a hit, a stand-in that answers the shared
        result (graphql-core only calls its ``execute_operation``), without copying this
        executor; else strawberry's copy, which keeps what it executes."""
        if self._share_key is _UNSET:
            self._share_key = self._sharing_key()
        if self._share_key is None:
            return super().build_per_event_executor(payload)
        key = (self._share_key, id(payload))
        shared = self.results.get(key, self.operation, payload)
        if shared is not None:
            return _Executed(shared)
        executor: SharedEventExecutor = super().build_per_event_executor(payload)  # type: ignore[assignment]
        executor._event = (key, payload)
        return executor

    def _sharing_key(self) -> Hashable | None:
        middleware = self.middleware_manager
        if middleware is not None and middleware.middlewares:
            return None
        names = self.results.plan(self.schema, self.operation, self.fragment_definitions)
        if names is None:
            return None
        coerced = self.variable_values.coerced
        key = (id(self.operation), tuple(coerced.get(name, _ABSENT) for name in names))
        try:
            hash(key)
        except TypeError:  # a list or input object below the root: execute per subscriber
            return None
        return key

    def execute_operation(self, serially: bool | None = None) -> Any:
        result = super().execute_operation(serially)
        if self._event is not None and isinstance(result, ExecutionResult):
            # (never awaitable under the sharing rule: every field is a plain read)
            key, payload = self._event
            self.results.executions += 1
            if not result.errors:
                self.results.put(key, self.operation, payload, result)
        return result


class _Executed:
    """A per-event executor whose work is done: the shared result."""

    __slots__ = ("result",)

    def __init__(self, result: ExecutionResult) -> None:
        self.result = result

    def execute_operation(self, serially: bool | None = None) -> ExecutionResult:
        return self.result


def shared_event_executor(results: EventResults | None = None) -> type[SharedEventExecutor]:
    """A ``SharedEventExecutor`` class with its own results (one per schema)."""
    return type("SharedEventExecutor", (SharedEventExecutor,),
                {"results": results or EventResults()})


# -- the sharing rule --------------------------------------------------------------------


def sharing_plan(schema: GraphQLSchema, operation: OperationDefinitionNode,
                 fragments: dict[str, FragmentDefinitionNode]) -> tuple[str, ...] | None:
    """The sorted names of the variables used below the root field, or None when the
    operation's per-event result may depend on more than the payload and those."""
    selections = operation.selection_set.selections
    root_type = schema.subscription_type
    if (operation.operation is not OperationType.SUBSCRIPTION or root_type is None
            or len(selections) != 1):
        return None
    root = selections[0]
    if not isinstance(root, FieldNode) or root.directives:
        return None
    field = root_type.fields.get(root.name.value)
    definition = _strawberry_field(field)
    if field is None or definition is None or not definition.is_subscription:
        return None
    walk = _Walk(schema, fragments)
    if root.selection_set is not None and not walk.selection_set(
            get_named_type(field.type), root.selection_set):
        return None
    return tuple(sorted(walk.variables))


def _strawberry_field(field: GraphQLField | None) -> StrawberryField | None:
    if field is None or not field.extensions:
        return None
    definition = field.extensions.get(GraphQLCoreConverter.DEFINITION_BACKREF)
    return definition if isinstance(definition, StrawberryField) else None


def _plain(field: GraphQLField | None) -> bool:
    """A field read from the source object and nothing else."""
    definition = _strawberry_field(field)
    return (definition is not None and definition.is_basic_field
            and definition.default_resolver is getattr)


class _Walk:
    """Checks a selection against the sharing rule and collects its variables."""

    def __init__(self, schema: GraphQLSchema,
                 fragments: dict[str, FragmentDefinitionNode]) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables: set[str] = set()
        self._spread: set[str] = set()

    def selection_set(self, parent: GraphQLNamedType | None, node: SelectionSetNode) -> bool:
        if not isinstance(parent, GraphQLObjectType):
            return False  # interfaces and unions: their type resolvers are not checked
        for selection in node.selections:
            for directive in selection.directives or ():
                self._values(argument.value for argument in directive.arguments)
            if isinstance(selection, FieldNode):
                ok = self._field(parent, selection)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                target = (self.schema.get_type(condition.name.value) if condition
                          else parent)
                ok = self.selection_set(target, selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                ok = self._spread_fragment(selection)
            else:
                ok = False
            if not ok:
                return False
        return True

    def _field(self, parent: GraphQLObjectType, node: FieldNode) -> bool:
        self._values(argument.value for argument in node.arguments or ())
        name = node.name.value
        if name == "__typename":
            return True
        field = parent.fields.get(name)
        if name.startswith("__") or not _plain(field):
            return False
        assert field is not None
        return node.selection_set is None or self.selection_set(
            get_named_type(field.type), node.selection_set)

    def _spread_fragment(self, node: FragmentSpreadNode) -> bool:
        self._values(argument.value for argument in getattr(node, "arguments", None) or ())
        name = node.name.value
        if name in self._spread:
            return True
        self._spread.add(name)
        fragment = self.fragments.get(name)
        if fragment is None:
            return False
        for definition in fragment.variable_definitions or ():  # fragment arguments
            self.variables.add(definition.variable.name.value)
        for directive in fragment.directives or ():
            self._values(argument.value for argument in directive.arguments)
        return self.selection_set(self.schema.get_type(fragment.type_condition.name.value),
                                  fragment.selection_set)

    def _values(self, values: Iterable[ValueNode]) -> None:
        for value in values:
            if isinstance(value, VariableNode):
                self.variables.add(value.name.value)
            elif isinstance(value, ListValueNode):
                self._values(value.values)
            elif isinstance(value, ObjectValueNode):
                self._values(field.value for field in value.fields)
