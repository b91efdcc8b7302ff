//! What every operation of a version shares, added to the generated document from the rules
//! the middleware applies: the scope a key needs (`wire::auth`), the problem answers and their
//! types (`wire::problems`), conditional reads (`wire::conditional`), idempotency keys
//! (`wire::idempotency`) and `/v1`'s end-of-life headers (`wire::deprecation`).

use actix_web::http::{Method, StatusCode};
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Operation, Parameter, ParameterBuilder, ParameterIn, PathItem};
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Schema, Type};
use utoipa::openapi::security::SecurityScheme;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityRequirement};
use utoipa::openapi::{
    Content, InfoBuilder, OpenApi, Ref, RefOr, Required, Response, ResponseBuilder,
};

use super::Version;
use crate::wire::auth::Access;
use crate::wire::error::PROBLEM_JSON;
use crate::wire::problems::{self, ProblemType};
use sluice_domain::api_key::Scope;
use sluice_domain::idempotency::MAX_KEY_LEN;

const BEARER: &str = "bearer";
const KEY_HEADER: &str = "api_key";

/// The document as served: shared answers added to every operation.
pub fn finish(mut doc: OpenApi, version: Version) -> OpenApi {
    doc.info = InfoBuilder::new()
        .title(format!("Sluice API {}", version.prefix()))
        .version(match version {
            Version::V1 => "1",
            Version::V2 => "2",
        })
        .description(Some(description(version)))
        .license(Some(
            utoipa::openapi::LicenseBuilder::new()
                .name(env!("CARGO_PKG_LICENSE"))
                .identifier(Some(env!("CARGO_PKG_LICENSE")))
                .build(),
        ))
        .build();
    let components = doc.components.get_or_insert_with(Default::default);
    components
        .schemas
        .insert("Problem".into(), RefOr::T(problem_schema()));
    components.add_security_scheme(
        BEARER,
        SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
    );
    components.add_security_scheme(
        KEY_HEADER,
        SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))),
    );
    // What each operation needs is what it was registered with (`wire::endpoint`), the list
    // the middleware checks requests against.
    let served = version.served();
    for (path, item) in &mut doc.paths.paths {
        for (method, operation) in operations_mut(item) {
            if let Some(operation) = operation {
                let access = (served.iter())
                    .find(|served| served.path == *path && served.method == method)
                    .map(|served| served.access);
                complete(operation, &method, path, access, version);
            }
        }
    }
    doc
}

fn description(version: Version) -> String {
    let mut text = String::from(
        "Sluice runs data pipelines (data stores, flow inputs, flows) and answers questions \
         about them. Errors are RFC 9457 `application/problem+json` documents whose `type` is \
         one of the stable URIs listed in the `Problem` schema. Every `GET` also answers \
         `HEAD`, and carries an `ETag` that `If-None-Match` turns into `304 Not Modified`. \
         When `auth.required` is on (production), requests carry an API key as \
         `Authorization: Bearer <key>` or `X-API-Key: <key>`; each operation names the scope \
         its key needs: `read` reads; `run` starts and cancels flows; `write` registers stores \
         and defines flow inputs, and runs them; `admin` does all, keys included. Every scope \
         includes `read`, `write` includes `run`. Each problem `type` is a page of this server \
         (`GET /problems/{slug}`, HTML or JSON) that says when it happens and what to do.",
    );
    match version {
        Version::V1 => text.push_str(
            " `/v1` keeps the shape of the original design; when the operator announces its \
             end, its answers carry `Deprecation` and `Sunset` headers.",
        ),
        Version::V2 => text.push_str(
            " `/v2` names resources as a person reads them (stores by name, flow inputs as \
             `name:version`), pages lists with opaque cursors, and replays a `POST` sent again \
             with the same `Idempotency-Key`.",
        ),
    }
    text
}

/// The RFC 9457 document every error answer is, its `type` one of the table's URIs.
fn problem_schema() -> Schema {
    let string = |description: &str| {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(description))
    };
    let field_problem = ObjectBuilder::new()
        .property(
            "pointer",
            string("A JSON pointer into the request body, or `/<name>` for a query parameter"),
        )
        .property("message", string("What is wrong there"))
        .required("pointer")
        .required("message");
    ObjectBuilder::new()
        .property(
            "type",
            string("A stable URI, relative to the service, naming the kind of problem")
                .enum_values(Some(problems::ALL.iter().map(|p| p.uri))),
        )
        .property("title", string("The type's title"))
        .property(
            "status",
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .description(Some("The HTTP status")),
        )
        .property("detail", string("What happened, for a person"))
        .property("instance", string("The request's path"))
        .property(
            "request_id",
            string("The request's id, as in its `X-Request-Id` answer header and in the logs"),
        )
        .property(
            "errors",
            ArrayBuilder::new()
                .items(field_problem)
                .description(Some("Each invalid field, when the request had any")),
        )
        .required("type")
        .required("title")
        .required("status")
        .required("detail")
        .into()
}

/// The operations of a path, by method.
pub fn operations(item: &PathItem) -> [(Method, &Option<Operation>); 4] {
    [
        (Method::GET, &item.get),
        (Method::POST, &item.post),
        (Method::PATCH, &item.patch),
        (Method::DELETE, &item.delete),
    ]
}

fn operations_mut(item: &mut PathItem) -> [(Method, &mut Option<Operation>); 4] {
    [
        (Method::GET, &mut item.get),
        (Method::POST, &mut item.post),
        (Method::PATCH, &mut item.patch),
        (Method::DELETE, &mut item.delete),
    ]
}

/// Which scopes hold `scope`, as the description of an operation that needs it says.
fn scope_includes(scope: Scope) -> String {
    let holders: Vec<String> = Scope::ALL
        .iter()
        .filter(|holder| **holder != scope && holder.grants(scope))
        .map(|holder| format!("`{holder}`"))
        .collect();
    match holders.as_slice() {
        [] => "(no other scope includes it)".to_owned(),
        [one] => format!("(or {one}, which includes it)"),
        many => format!("(or one that includes it: {})", many.join(", ")),
    }
}

/// `access` is `None` for an operation described but not served, which the document's test refuses;
/// it is written as needing the most, so the document never promises less than is checked.
fn complete(
    operation: &mut Operation,
    method: &Method,
    path: &str,
    access: Option<Access>,
    version: Version,
) {
    let streaming = streams(operation);
    // OpenAPI requires every path parameter to be required; utoipa leaves it unset on a field
    // whose schema comes from `schema_with`, and generators refuse the document then.
    for parameter in operation.parameters.iter_mut().flatten() {
        if let RefOr::T(parameter) = parameter
            && parameter.parameter_in == ParameterIn::Path
        {
            parameter.required = Required::True;
        }
    }
    // The metadata lists page by offset and say their totals in headers (`paged_response`).
    let archive_page = operation
        .tags
        .iter()
        .flatten()
        .any(|tag| tag == "metadata")
        && operation.parameters.iter().flatten().any(
            |p| matches!(p, RefOr::T(p) if p.name == "offset" && p.parameter_in == ParameterIn::Query),
        );
    let responses = &mut operation.responses.responses;
    let mut problems: Vec<StatusCode> = vec![
        StatusCode::BAD_REQUEST,
        StatusCode::TOO_MANY_REQUESTS,
        StatusCode::INTERNAL_SERVER_ERROR,
        StatusCode::SERVICE_UNAVAILABLE,
    ];
    match access.map_or(Some(Scope::Admin), Access::scope) {
        Some(scope) => {
            let line = format!(
                "Needs a key with the `{scope}` scope {}.",
                scope_includes(scope)
            );
            operation.description = Some(match operation.description.take() {
                Some(text) if !text.is_empty() => format!("{text}\n\n{line}"),
                _ => line,
            });
            operation.security = Some(vec![
                SecurityRequirement::new(BEARER, [scope.as_str()]),
                SecurityRequirement::new(KEY_HEADER, [scope.as_str()]),
            ]);
            problems.extend([StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN]);
        }
        // Open to all: an empty requirement.
        None => operation.security = Some(vec![SecurityRequirement::default()]),
    }
    if operation.request_body.is_some() {
        problems.extend([
            StatusCode::REQUEST_TIMEOUT,
            StatusCode::PAYLOAD_TOO_LARGE,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            StatusCode::UNPROCESSABLE_ENTITY,
        ]);
    }
    if path.contains('{') {
        problems.push(StatusCode::NOT_FOUND);
    }
    // A parameter out of its range or breaking its rule is named in a validation problem.
    let parameterized = operation.parameters.iter().flatten().any(|p| {
        matches!(p, RefOr::T(p) if matches!(p.parameter_in, ParameterIn::Query | ParameterIn::Path))
    });
    if parameterized {
        problems.push(StatusCode::UNPROCESSABLE_ENTITY);
    }
    let mut parameters: Vec<Parameter> = Vec::new();
    if *method == Method::GET && !streaming {
        parameters.push(header_parameter(
            "If-None-Match",
            "ETags of answers the client holds; when one is still current the answer is 304",
        ));
        responses.entry("304".into()).or_insert_with(|| {
            ResponseBuilder::new()
                .description("The answer the client holds (its `ETag` was sent in `If-None-Match`) is current")
                .header("ETag", string_header("The current answer's tag"))
                .build()
                .into()
        });
    }
    if version == Version::V2 && *method == Method::POST {
        parameters.push(idempotency_key_parameter(
            "Idempotency-Key",
            "Makes a retry safe: the same key with the same request answers as the first time \
             (with `Idempotent-Replayed: true`), with another request 422, while the first is \
             still being answered 409. Keys are kept `api.idempotency_keep_hours` (24 by default) and belong to the API key that sent them.",
        ));
        problems.extend([StatusCode::CONFLICT, StatusCode::UNPROCESSABLE_ENTITY]);
    }
    if !parameters.is_empty() {
        operation
            .parameters
            .get_or_insert_with(Vec::new)
            .extend(parameters.into_iter().map(RefOr::T));
    }
    for status in problems {
        responses
            .entry(status.as_u16().to_string())
            .or_insert_with(|| Response::default().into());
    }
    for (status, response) in responses.iter_mut() {
        let RefOr::T(response) = response else {
            continue;
        };
        let Ok(code) = status.parse::<u16>() else {
            continue;
        };
        if code >= 400 {
            describe_problem(response, code);
        } else if (200..300).contains(&code) {
            describe_success(response, method, version);
            if archive_page {
                describe_archive_page(response);
            }
        }
    }
}

/// A problem answer: its body the `Problem` schema, its description the problem types that
/// status carries.
fn describe_problem(response: &mut Response, code: u16) {
    let types: Vec<ProblemType> = problems::ALL
        .into_iter()
        .filter(|p| p.status.as_u16() == code)
        .collect();
    let listed = types
        .iter()
        .map(|p| format!("`{}` ({})", p.uri, p.title))
        .collect::<Vec<_>>()
        .join(", ");
    response.description = if response.description.is_empty() {
        format!("A problem: {listed}.")
    } else {
        format!("{}. A problem: {listed}.", response.description)
    };
    if response.content.is_empty() {
        response.content.insert(
            PROBLEM_JSON.into(),
            RefOr::T(Content::new(Some(Ref::from_schema_name("Problem")))),
        );
    }
    if matches!(code, 429 | 503) {
        response.headers.insert(
            "Retry-After".into(),
            RefOr::T(string_header("Seconds after which a retry may succeed")),
        );
    }
}

/// Whether the operation answers with an event stream, which carries no `ETag`.
fn streams(operation: &Operation) -> bool {
    operation.responses.responses.values().any(
        |response| matches!(response, RefOr::T(r) if r.content.contains_key("text/event-stream")),
    )
}

fn describe_success(response: &mut Response, method: &Method, version: Version) {
    if *method == Method::GET && !response.content.contains_key("text/event-stream") {
        response.headers.insert(
            "ETag".into(),
            RefOr::T(string_header(
                "A strong tag of the answer, for `If-None-Match` (absent on streams and answers over 8 MiB)",
            )),
        );
    }
    if version == Version::V2 && *method == Method::POST {
        response.headers.insert(
            "Idempotent-Replayed".into(),
            RefOr::T(string_header(
                "`true` when this is the first answer to the same `Idempotency-Key`, given again",
            )),
        );
    }
    if version == Version::V1 {
        response.headers.insert(
            "Deprecation".into(),
            RefOr::T(string_header(
                "When the operator has announced /v1's end: the date it was deprecated (RFC 9745)",
            )),
        );
        response.headers.insert(
            "Sunset".into(),
            RefOr::T(string_header(
                "When the operator has announced /v1's end: the date it stops answering (RFC 8594)",
            )),
        );
    }
}

fn describe_archive_page(response: &mut Response) {
    for (name, description) in [
        ("X-Pagination-Total-Results", "Rows matching, on every page"),
        ("X-Pagination-Offset", "The offset of this page"),
        ("X-Pagination-Limit", "The limit of this page"),
    ] {
        response.headers.insert(
            name.into(),
            RefOr::T(
                HeaderBuilder::new()
                    .schema(Some(
                        ObjectBuilder::new()
                            .schema_type(Type::Integer)
                            .minimum(Some(0)),
                    ))
                    .description(Some(description))
                    .build(),
            ),
        );
    }
}

fn string_header(description: &str) -> utoipa::openapi::header::Header {
    HeaderBuilder::new()
        .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
        .description(Some(description))
        .build()
}

fn header_parameter(name: &str, description: &str) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(description))
        .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
        .build()
}

/// `Idempotency-Key`: 1 to 255 printable ASCII characters (`IdempotencyKey::parse`).
fn idempotency_key_parameter(name: &str, description: &str) -> Parameter {
    let mut parameter = header_parameter(name, description);
    parameter.schema = Some(RefOr::T(
        ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
            .max_length(Some(MAX_KEY_LEN))
            .pattern(Some("^[\\x20-\\x7E]+$"))
            .into(),
    ));
    parameter
}
