"""GraphQL at /graphql: the typed input types against the JSON Schema, the access matrix,
CSRF for sessions, validation by the form class, and the limits on queries.

The live server and the worker (another process) are in test_graphql_live.py."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from accounts.models import User
from jobs.models import Job
from templates_app.models import Template, Visibility
from templates_app.schema import PARAMETER_TYPES, ParameterSchema

from .test_api import callers, owner_job, private_template  # noqa: F401 - fixtures
from .test_parameter_types import BOUNDED, MINIMAL

pytestmark = pytest.mark.django_db

TYPE_QUERY = """
query ($name: String!) {
  __type(name: $name) {
    name
    inputFields {
      name description defaultValue
      type { ...Ref ofType { ...Ref ofType { ...Ref ofType { ...Ref } } } }
    }
  }
}
fragment Ref on __Type { kind name enumValues { name description } }
"""
# The GraphQL type a JSON Schema type (with its format) is carried as.
GRAPHQL_SCALAR = {
    ("string", None): "String",
    ("string", "email"): "String",
    ("string", "uri"): "String",
    ("string", "date"): "Date",
    ("integer", None): "Int",
    ("number", None): "Float",
    ("boolean", None): "Boolean",
}


def post(client: Client, query: str, variables: dict[str, Any] | None = None, **headers: str) -> Any:
    return client.post(
        "/graphql",
        json.dumps({"query": query, "variables": variables or {}}),
        content_type="application/json",
        headers=headers,
    )


def token_headers(user: User) -> dict[str, str]:
    from .test_api import jwt_for

    return {"Authorization": f"Bearer {jwt_for(user)}"}


def gql(
    client: Client, user: User, query: str, variables: dict[str, Any] | None = None, **headers: str
) -> Any:
    response = post(client, query, variables, **token_headers(user), **headers)
    assert response.status_code == 200, response.content
    return response.json()


def _unwrap(ref: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
    """(non-null, the type inside any NON_NULL)."""
    if ref["kind"] == "NON_NULL":
        return True, ref["ofType"]
    return False, ref


@pytest.mark.parametrize("required", [True, False])
@pytest.mark.parametrize("kind", PARAMETER_TYPES)
def test_the_typed_input_type_matches_the_json_schema_for_every_parameter_type(
    client: Client, owner: User, make_template, kind: str, required: bool
) -> None:
    bounds, _keywords = BOUNDED[kind]
    parameter = {"name": "p", "type": kind, "required": required, **MINIMAL.get(kind, {}), **bounds}
    with_default = {**parameter, "name": "q", "label": {"en": "Q label", "pt": "Rótulo Q"}}
    schema = ParameterSchema.parse([parameter])
    if kind == "file":  # a file parameter has no default
        with_default["required"] = False
    else:
        with_default["default"] = schema.sample_inputs()["p"]
    template = make_template(
        slug="all-types", owner=owner, parameters=[parameter, with_default], body="{{ p }} {{ q }}"
    )
    document = template.published_version.schema.json_schema()

    found = gql(client, owner, TYPE_QUERY, {"name": "AllTypesInput"})["data"]["__type"]
    fields = {field["name"]: field for field in found["inputFields"]}
    assert set(fields) == set(document["properties"])
    for name, prop in document["properties"].items():
        non_null, ref = _unwrap(fields[name]["type"])
        types = prop["type"] if isinstance(prop.get("type"), list) else [prop.get("type")]
        if ref["name"] == "JSON" and "default" in prop:
            # GraphQL can't write a JSON default: nullable, and left out the form's default applies.
            assert not non_null and fields[name]["defaultValue"] is None
            continue
        assert non_null == ("null" not in types and prop.get("type") is not None), (name, prop)
        assert (non_null and fields[name]["defaultValue"] is None) == (name in document["required"])
        given = [t for t in types if t != "null"]
        if "enum" in prop:
            assert ref["kind"] == "ENUM"
            assert [v["name"] for v in ref["enumValues"]] == [v for v in prop["enum"] if v not in ("", None)]
        elif given == ["array"]:
            _item_non_null, item = _unwrap(ref["ofType"])
            assert ref["kind"] == "LIST" and item["kind"] == "ENUM"
            assert [v["name"] for v in item["enumValues"]] == prop["items"]["enum"]
        elif len(given) == 1 and given[0] in {"string", "integer", "number", "boolean"}:
            # An optional parameter's format is in the alternative to its empty value.
            formats = {prop.get("format"), *(alt.get("format") for alt in prop.get("anyOf", []))} - {None}
            assert ref["name"] == GRAPHQL_SCALAR[(given[0], next(iter(formats), None))], prop
        else:  # json: any value
            assert ref["name"] == "JSON"
        if "default" in prop and ref["name"] != "JSON":  # (JSON: left out, the form's default applies)
            assert fields[name]["defaultValue"] is not None
    assert fields["q"]["description"] == "Q label"

    # The sample value through the typed field: the same job inputs as the form's.
    sample = schema.sample_inputs()["p"]
    result = gql(
        client,
        owner,
        "mutation ($inputs: AllTypesInput!) { generateAllTypes(inputs: $inputs) { id inputs } }",
        {"inputs": {"p": sample}},
    )
    assert "errors" not in result, result
    rest = client.post(
        "/api/v1/templates/all-types/generate",
        json.dumps({"inputs": {"p": sample}}),
        content_type="application/json",
        headers=token_headers(owner),
    )
    assert rest.status_code in (200, 202), rest.content
    assert result["data"]["generateAllTypes"]["inputs"] == rest.json()["inputs"]


def test_descriptions_are_in_the_requests_language(client: Client, owner: User, make_template) -> None:
    make_template(slug="haiku", owner=owner)
    found = gql(client, owner, TYPE_QUERY, {"name": "HaikuInput"}, **{"Accept-Language": "pt-BR"})
    descriptions = {f["name"]: f["description"] for f in found["data"]["__type"]["inputFields"]}
    assert descriptions["topic"] == "Assunto"
    english = gql(client, owner, TYPE_QUERY, {"name": "HaikuInput"})
    assert {f["name"]: f["description"] for f in english["data"]["__type"]["inputFields"]}["topic"] == "Topic"


# --- The access matrix -----------------------------------------------------------

QUERIES = {
    "me": ("{ me { email } }", lambda data, who: data["me"]["email"] == who.email),
    "templates": ("{ templates { slug } }", None),
    "template": ('{ template(slug: "mine") { slug inputSchema } }', None),
    "versions": ('{ versions(slug: "mine") { number body } }', None),
    "jobs": ("{ jobs { results { id } nextCursor } }", None),
    "job": ('{ job(id: "JOB") { id output } }', None),
    "generate": (
        'mutation { generate(template: "mine", inputs: {topic: "rain", count: 2}) { id status } }',
        None,
    ),
    "typed generate": ('mutation { generateMine(inputs: {topic: "rain"}) { id inputs } }', None),
}


@pytest.mark.parametrize("operation", list(QUERIES))
def test_access_matrix(client: Client, callers, owner_job: Job, other_user: User, operation: str) -> None:  # noqa: F811
    query = QUERIES[operation][0].replace("JOB", str(owner_job.pk))
    for name in ("anonymous", "expired", "revoked"):
        response = post(client, query, **callers[name].headers)
        assert response.status_code == 401, (name, response.content)
        assert response.json()["errors"][0]["extensions"]["code"] == "not_authenticated"
    jobs_before = Job.objects.count()
    for name in ("owner", "owner_token"):
        response = post(client, query, **callers[name].headers)
        body = response.json()
        assert response.status_code == 200 and "errors" not in body, (name, body)
    other = post(client, query, **callers["other"].headers).json()
    if operation in ("template", "job"):
        assert other["data"][operation] is None
    elif operation in ("versions", "generate"):
        assert other["errors"][0]["extensions"]["code"] == "not_found"
    elif operation == "typed generate":  # not in another user's schema at all
        assert "generateMine" in other["errors"][0]["message"] and other.get("data") is None
    elif operation == "jobs":
        assert other["data"]["jobs"]["results"] == []
    elif operation == "templates":
        assert "mine" not in {t["slug"] for t in other["data"]["templates"]}
    else:
        assert other["data"]["me"]["email"] == other_user.email
    created = 2 if "generate" in operation else 0
    # Two owner runs of the same inputs: the second follows the first, still a job of its own.
    assert Job.objects.count() == jobs_before + created


def test_another_users_schema_never_names_a_private_template(
    client: Client,
    owner: User,
    other_user: User,
    private_template: Template,  # noqa: F811
) -> None:
    query = "{ __schema { types { name } mutationType { fields { name } } } }"
    mine = json.dumps(gql(client, owner, query))
    theirs = json.dumps(gql(client, other_user, query))
    assert "MineInput" in mine and "generateMine" in mine
    assert "Mine" not in theirs and "mine" not in theirs


def test_a_session_post_needs_the_csrf_token(owner: User, make_template) -> None:
    make_template(slug="haiku", owner=owner)
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    refused = post(client, "{ me { email } }")
    assert refused.status_code == 403
    assert refused.json()["errors"][0]["extensions"]["code"] == "permission_denied"
    page = client.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200
    token = page.cookies["csrftoken"].value
    allowed = post(client, "{ me { email } }", **{"X-CSRFToken": token})
    assert allowed.status_code == 200, allowed.content
    assert allowed.json()["data"]["me"]["email"] == owner.email


def test_bad_inputs_are_the_forms_errors_naming_the_field_and_create_no_job(
    client: Client, owner: User, make_template
) -> None:
    make_template(slug="haiku", owner=owner)
    result = gql(
        client, owner, 'mutation { generateHaiku(inputs: {topic: "%s", count: 9}) { id } }' % ("x" * 51)
    )
    error = result["errors"][0]
    assert error["extensions"]["code"] == "validation_error"
    assert error["extensions"]["field"] == "inputs.topic"
    assert set(error["extensions"]["details"]) == {"inputs.topic", "inputs.count"}
    assert "50" in error["extensions"]["details"]["inputs.topic"][0]  # the form's own message
    untyped = gql(
        client, owner, 'mutation { generate(template: "haiku", inputs: {topic: "a", extra: 1}) { id } }'
    )
    assert untyped["errors"][0]["extensions"]["details"] == {"inputs.extra": ["Unknown parameter."]}
    portuguese = gql(
        client, owner, "mutation { generateHaiku(inputs: {topic: \"a\", count: 9}) { id } }",
        **{"Accept-Language": "pt-BR"},
    )  # fmt: skip
    assert portuguese["errors"][0]["message"].startswith("Alguns campos")
    assert not Job.objects.exists()


def test_a_depth_bomb_and_an_alias_flood_are_refused_before_running(
    client: Client, owner: User, make_template
) -> None:
    make_template(slug="haiku", owner=owner)
    nested = "slug"
    for _level in range(12):
        nested = f"versions {{ template {{ {nested} }} }}"
    bomb = gql(client, owner, f'{{ template(slug: "haiku") {{ {nested} }} }}')
    assert "data" not in bomb or bomb["data"] is None
    assert "exceeds maximum operation depth" in bomb["errors"][0]["message"]
    aliases = " ".join(f"a{n}: me {{ email }}" for n in range(50))
    flood = gql(client, owner, f"{{ {aliases} }}")
    assert flood.get("data") is None and flood["errors"]


def test_the_jobs_query_pages_and_filters_as_the_rest_list(
    client: Client, owner: User, make_template
) -> None:
    from jobs.services import submit_generation

    template = make_template(slug="haiku", owner=owner)
    for n in range(3):
        submit_generation(template.published_version, {"topic": f"t{n}", "count": 2}, owner=owner)
    first = gql(client, owner, "{ jobs(pageSize: 2) { results { id } nextCursor } }")["data"]["jobs"]
    assert len(first["results"]) == 2 and first["nextCursor"]
    rest = client.get(f"/api/v1/jobs?page_size=2&cursor={first['nextCursor']}", headers=token_headers(owner))
    page_two = "query ($c: String) { jobs(pageSize: 2, cursor: $c) { results { id } } }"
    second = gql(client, owner, page_two, {"c": first["nextCursor"]})
    assert [j["id"] for j in second["data"]["jobs"]["results"]] == [j["id"] for j in rest.json()["results"]]
    assert (
        gql(client, owner, "{ jobs(status: SUCCEEDED) { results { id } } }")["data"]["jobs"]["results"] == []
    )
    bad = gql(client, owner, '{ jobs(template: "no slug!", pageSize: 500) { results { id } } }')
    assert bad["errors"][0]["extensions"]["code"] == "validation_error"
    assert (
        gql(client, owner, '{ jobs(cursor: "nonsense") { results { id } } }')["errors"][0]["extensions"][
            "field"
        ]
        == "cursor"
    )


def test_responses_carry_the_rest_apis_rate_limit_headers(client: Client, owner: User) -> None:
    response = post(client, "{ me { email } }", **token_headers(owner))
    assert response["X-RateLimit-Limit"] == "60"


def test_introspection_follows_the_setting(client: Client, owner: User, settings: Any) -> None:
    from graphql_api.schema import schemas

    settings.GRAPHQL_INTROSPECTION = False
    schemas.clear()
    try:
        refused = gql(client, owner, "{ __schema { queryType { name } } }")
        assert "introspection" in refused["errors"][0]["message"].lower()
        assert gql(client, owner, "{ me { email } }")["data"]["me"]["email"] == owner.email
    finally:
        schemas.clear()


def test_the_graphiql_page_comes_from_our_static_files(client: Client) -> None:
    page = client.get("/graphql", headers={"Accept": "text/html"})
    html = page.content.decode()
    assert page.status_code == 200 and "/static/graphiql/graphiql.min." in html
    assert "unpkg" not in html and "<script>" not in html
    assert "'unsafe-inline'" not in page["Content-Security-Policy"]


def test_a_signed_in_template_is_typed_for_every_signed_in_user(
    client: Client, owner: User, other_user: User, make_template
) -> None:
    make_template(slug="shared", owner=owner, visibility=Visibility.SIGNED_IN)
    result = gql(client, other_user, 'mutation { generateShared(inputs: {topic: "sea"}) { inputs } }')
    assert result["data"]["generateShared"]["inputs"] == {"topic": "sea", "count": 3}


def test_a_workflow_runs_steps_are_read_as_the_rest_api_lists_them(
    client: Client, owner: User, make_template
) -> None:
    from decimal import Decimal

    from jobs.services import submit_generation

    from .workflow_helpers import add_step, failed_run, make_workflow

    run = failed_run(make_workflow(owner=owner), owner)
    add_step(
        run, "lines", 2, "succeeded", item=0, output="A", input_tokens=1, output_tokens=2, cost=Decimal("0.5")
    )
    query = """query ($id: UUID!) { job(id: $id) { steps {
        name item status output outputData errorCode error inputTokens outputTokens cost job } } }"""
    steps = gql(client, owner, query, {"id": str(run.pk)})["data"]["job"]["steps"]
    rest = client.get(f"/api/v1/jobs/{run.pk}", headers=token_headers(owner)).json()["steps"]
    assert [(s["name"], s["item"], s["status"].lower()) for s in steps] == [
        (s["name"], s["item"], s["status"]) for s in rest
    ]
    for ours, theirs in zip(steps, rest, strict=True):
        assert (ours["output"], ours["outputData"], ours["error"], ours["job"]) == (
            theirs["output"], theirs["output_data"], theirs["error"], theirs["job"],
        )  # fmt: skip
        assert (ours["inputTokens"], ours["cost"]) == (theirs["input_tokens"], theirs["cost"])
    template = make_template(slug="haiku", owner=owner)
    plain = submit_generation(template.published_version, {"topic": "tea", "count": 2}, owner=owner)
    assert gql(client, owner, query, {"id": str(plain.pk)})["data"]["job"]["steps"] == []
