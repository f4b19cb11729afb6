"""GraphQL at /graphql: templates, versions, jobs and the signed-in user, a ``generate``
mutation, and a typed ``generate<Template>`` field per runnable template, derived from
its parameter schema (docs/graphql.md)."""
