"""The Strawberry schema: types, queries, mutations, subscriptions, the request context,
DataLoaders."""

from __future__ import annotations

from collections.abc import Callable

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    AddValidationRules,
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)
from strawberry.extensions.base_extension import SchemaExtension
from strawberry.types import ExecutionContext

from app.settings import Settings
from schema.errors import log_faults, should_mask
from schema.mutations import Mutation
from schema.queries import Query
from schema.subscriptions import Subscription
from schema.types import Quiz, StudySession, Topic


class Schema(strawberry.Schema):
    def process_errors(self, errors: list[GraphQLError],
                       execution_context: ExecutionContext | None = None) -> None:
        log_faults(errors)  # expected errors (auth, validation, limits) are not logged


def build_schema(settings: Settings | None = None) -> strawberry.Schema:
    settings = settings or Settings()
    s = settings
    # The limiters' rule classes are made once: validation results are cached per
    # (document, rules), so fresh rule classes per request would never hit the cache.
    rules = [
        *QueryDepthLimiter(max_depth=s.max_query_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=s.max_aliases).validation_rules,
    ]
    # Factories: a fresh extension per request (the parse/validate LRUs are shared).
    extensions: list[Callable[[], SchemaExtension]] = [
        lambda: MaxTokensLimiter(max_token_count=s.max_tokens),
        lambda: ParserCache(maxsize=1024),
        lambda: ValidationCache(maxsize=1024),
        lambda: AddValidationRules(rules),
    ]
    if not settings.debug:
        extensions.append(lambda: MaskErrors(should_mask_error=should_mask))
    return Schema(
        query=Query, mutation=Mutation, subscription=Subscription,
        types=[StudySession, Topic, Quiz],
        extensions=extensions,  # type: ignore[arg-type]
    )
