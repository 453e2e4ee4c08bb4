//! Completes the OpenAPI document with what every operation of a kind can answer, in one place,
//! after the domains' routes are merged: the handlers' annotations name the responses of their
//! own rules (201, 404 of an object, 409 of a conflict...), and this adds the ones that the
//! shared layers give to every operation alike:
//!
//! - 401 for every operation that takes a token, 403 for every one that states a permission
//!   (the route table refuses a caller without it);
//! - 404 for every operation with a path parameter (no such object, or out of reach);
//! - 422 for every operation with parameters or a body (`AppQuery`, `AppJson`, the rules'
//!   validation), 400 for a path or query that spells NUL (`%00`), and for a JSON body 400
//!   (not JSON), 413 (past the body limit) and 415 (not `application/json`); 413 and 415 for a
//!   binary upload too;
//! - 408 (past the request timeout), 500 and 503 (the database, or the audit trail's
//!   back-pressure) for every operation.
//!
//! Every error response's media type is `application/problem+json`, which is what the server
//! sends (`ApiError`); the annotations' `body = Problem` would otherwise say `application/json`.
//! Path parameters that name an object (`{id}`, `{user_id}`, `{thread_id}`) are UUIDs, stated
//! as `format: uuid`.

use utoipa::openapi::path::{Operation, ParameterIn, PathItem};
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr};

use crate::kit::routes::{Access, ACCESS_EXTENSION};

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// The shared error responses, by status: (component name, description).
const SHARED: &[(&str, &str, &str)] = &[
    (
        "400",
        "Malformed",
        "The body is not JSON, the path or query spells a NUL character (%00), or a header is malformed (problem+json).",
    ),
    (
        "401",
        "Unauthorized",
        "No token, or an expired or revoked one (problem+json).",
    ),
    (
        "403",
        "Forbidden",
        "The caller's roles do not hold the operation's permission, or the rule refuses this caller (problem+json; audited).",
    ),
    (
        "404",
        "NotFound",
        "No such object, or it is outside the caller's reach (problem+json).",
    ),
    (
        "408",
        "Timeout",
        "The request took longer than the server's request timeout (problem+json).",
    ),
    (
        "413",
        "PayloadTooLarge",
        "The body is larger than the server's limit (problem+json).",
    ),
    (
        "415",
        "UnsupportedMediaType",
        "The body's content type is not one the operation takes (problem+json).",
    ),
    (
        "422",
        "Invalid",
        "A parameter or body field is invalid; `errors` names each (problem+json).",
    ),
    (
        "500",
        "Internal",
        "An internal error; nothing of its cause is sent (problem+json).",
    ),
    (
        "503",
        "Unavailable",
        "The database or the audit trail cannot take the request now; retry shortly (problem+json).",
    ),
];

/// Adds the shared responses and the problem+json media type to every operation of `api`.
pub fn complete(api: &mut OpenApi) {
    let components = api.components.get_or_insert_with(Default::default);
    for (_, name, description) in SHARED {
        components
            .responses
            .insert(name.to_string(), RefOr::T(problem(description)));
    }
    for item in api.paths.paths.values_mut() {
        for op in operations(item) {
            complete_operation(op);
        }
    }
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        item.get.as_mut(),
        item.post.as_mut(),
        item.put.as_mut(),
        item.patch.as_mut(),
        item.delete.as_mut(),
    ]
    .into_iter()
    .flatten()
}

fn problem(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            PROBLEM_JSON,
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build(),
        )
        .build()
}

fn complete_operation(op: &mut Operation) {
    let access = op
        .extensions
        .as_ref()
        .and_then(|e| e.get(ACCESS_EXTENSION))
        .and_then(|v| v.as_str())
        .and_then(Access::parse);
    let mut path_params = false;
    let mut other_params = false;
    for p in op.parameters.iter_mut().flatten() {
        if let Some(RefOr::T(Schema::Object(o))) = p.schema.as_mut() {
            // Times in the query are `Timestamp`s, stated inline.
            if o.format == Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)) {
                o.pattern = Some(crate::kit::time::TIMESTAMP_PATTERN.to_string());
            }
        }
        if p.parameter_in == ParameterIn::Header && p.name == "Idempotency-Key" {
            p.schema = Some(idempotency_key_schema());
        }
        if p.parameter_in == ParameterIn::Path {
            path_params = true;
            if p.name == "id" || p.name.ends_with("_id") {
                p.schema = Some(uuid_schema());
            }
        } else {
            other_params = true;
        }
    }
    let body_types: Vec<String> = op
        .request_body
        .iter()
        .flat_map(|b| b.content.keys().cloned())
        .collect();
    let json_body = body_types.iter().any(|t| t == "application/json");

    let mut wanted = vec!["408", "500", "503"];
    if matches!(access, Some(Access::SignedIn | Access::Perm(_))) {
        wanted.push("401");
    }
    if matches!(access, Some(Access::Perm(_))) {
        wanted.push("403");
    }
    if path_params {
        wanted.push("404");
    }
    if path_params || other_params || !body_types.is_empty() {
        wanted.push("422");
    }
    if !body_types.is_empty() {
        wanted.extend(["413", "415"]);
    }
    // 400: a body that is not JSON, or a path or query that spells NUL (`%00`, refused at the
    // edge before routing).
    if json_body || path_params || other_params {
        wanted.push("400");
    }

    let responses = &mut op.responses.responses;
    // The handlers' own error responses: their media type is problem+json.
    for (status, response) in responses.iter_mut() {
        let is_error = status.starts_with('4') || status.starts_with('5');
        if let (true, RefOr::T(r)) = (is_error, response) {
            if let Some(content) = r.content.shift_remove("application/json") {
                r.content.insert(PROBLEM_JSON.to_string(), content);
            }
        }
    }
    for status in wanted {
        let (_, name, _) = SHARED
            .iter()
            .find(|(s, _, _)| *s == status)
            .expect("a shared response");
        responses
            .entry(status.to_string())
            .or_insert_with(|| RefOr::Ref(Ref::from_response_name(*name)));
    }
}

/// What `IdempotencyKey` takes: 1–255 visible ASCII characters.
fn idempotency_key_schema() -> RefOr<Schema> {
    RefOr::T(Schema::Object(
        ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
            .max_length(Some(255))
            .pattern(Some("^[!-~]+$"))
            .build(),
    ))
}

fn uuid_schema() -> RefOr<Schema> {
    RefOr::T(Schema::Object(
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid)))
            .build(),
    ))
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
        match v {
            Value::Object(map) => {
                for (k, v) in map {
                    match (k.as_str(), v) {
                        ("$ref", Value::String(r)) => out.push(r),
                        _ => refs(v, out),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }

    /// Every `$ref` of the document names a component it has: a schema that only a query
    /// parameter names is not registered by utoipa, and a client could not read its values.
    #[test]
    fn every_reference_resolves() {
        let doc = serde_json::to_value(crate::app::openapi()).unwrap();
        let mut found = Vec::new();
        refs(&doc, &mut found);
        assert!(found.len() > 100);
        let dangling: Vec<&&str> = found
            .iter()
            .filter(|r| doc.pointer(r.trim_start_matches('#')).is_none())
            .collect();
        assert!(dangling.is_empty(), "dangling references: {dangling:?}");
    }

    /// Words in CamelCase that a description may use although no schema has the name: the
    /// names of things outside the code.
    const OUTSIDE_NAMES: &[&str] = &["RxNorm", "WebSocket", "PostgreSQL", "SQLite"];

    /// What in `text` looks like a name from the code rather than from the API: a Rust path
    /// (`Audit::render_metrics`), a call (`render()`), or a CamelCase word that names no schema
    /// of the document (`MonitoringCtx`).
    fn internal_names(text: &str, schemas: &serde_json::Map<String, Value>) -> Vec<String> {
        let mut found = Vec::new();
        if text.contains("::") {
            found.push("a `::` path".to_string());
        }
        if text.contains("()") {
            found.push("a call `()`".to_string());
        }
        for word in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            let camel = word
                .as_bytes()
                .windows(2)
                .any(|w| w[0].is_ascii_lowercase() && w[1].is_ascii_uppercase());
            if camel && !schemas.contains_key(word) && !OUTSIDE_NAMES.contains(&word) {
                found.push(word.to_string());
            }
        }
        found
    }

    /// Every operation has a summary (one short line, no code: what a client generator names
    /// the call by, what a reader scans) and a description, neither naming the code's
    /// internals; and operation ids are unique, as OpenAPI requires and generators need.
    #[test]
    fn every_operation_is_summarised_and_described() {
        let doc = serde_json::to_value(crate::app::openapi()).unwrap();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        let mut faults = Vec::new();
        let mut ids = std::collections::HashSet::new();
        let mut count = 0;
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                count += 1;
                let at = format!("{} {path}", method.to_uppercase());
                let summary = op["summary"].as_str().unwrap_or("").trim();
                let description = op["description"].as_str().unwrap_or("").trim();
                if summary.is_empty() {
                    faults.push(format!("{at}: no summary"));
                } else if summary.contains('\n') || summary.chars().count() > 80 {
                    faults.push(format!("{at}: the summary is not one short line"));
                } else if summary.ends_with('.') || summary.contains(['`', '_']) {
                    faults.push(format!(
                        "{at}: the summary `{summary}` is not a plain title"
                    ));
                }
                for name in internal_names(summary, schemas) {
                    faults.push(format!("{at}: the summary names {name}"));
                }
                if description.split_whitespace().count() < 8 {
                    faults.push(format!("{at}: no description"));
                }
                for name in internal_names(description, schemas) {
                    faults.push(format!("{at}: the description names {name}"));
                }
                match op["operationId"].as_str() {
                    Some(id) if !ids.insert(id.to_string()) => {
                        faults.push(format!("{at}: operationId `{id}` is taken"))
                    }
                    Some(_) => {}
                    None => faults.push(format!("{at}: no operationId")),
                }
            }
        }
        assert!(count > 150, "{count} operations");
        assert!(faults.is_empty(), "{}", faults.join("\n"));
    }

    /// An example that the server reads as `T` (a request body).
    fn reads<T: serde::de::DeserializeOwned>(example: &Value) -> Result<(), String> {
        serde_json::from_value::<T>(example.clone())
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// An example that the server reads as `T` and writes back unchanged (an object it
    /// answers with, every field given).
    fn round_trips<T: serde::de::DeserializeOwned + serde::Serialize>(
        example: &Value,
    ) -> Result<(), String> {
        let value: T = serde_json::from_value(example.clone()).map_err(|e| e.to_string())?;
        let back = serde_json::to_value(value).map_err(|e| e.to_string())?;
        if &back == example {
            Ok(())
        } else {
            Err(format!("written back as {back}"))
        }
    }

    /// The schemas of the main requests and answers, which carry a whole example, and how
    /// each example is checked against its Rust type (`None`: the type is write-only, and only
    /// the example's fields are checked against the schema's).
    type Check = fn(&Value) -> Result<(), String>;
    fn main_schemas() -> Vec<(&'static str, Option<Check>)> {
        use crate::domains::{
            accounts, appointments, billing, devices, lab, notifications, patients, pharmacy,
            portal, records,
        };
        vec![
            ("Register", Some(reads::<accounts::Register>)),
            ("Registered", None),
            ("Login", None),
            ("LoginResponse", None),
            ("User", Some(round_trips::<accounts::User>)),
            ("NewPatient", Some(reads::<patients::NewPatient>)),
            ("Patient", Some(round_trips::<patients::Patient>)),
            ("NewDoctor", Some(reads::<patients::NewDoctor>)),
            ("Doctor", Some(round_trips::<patients::Doctor>)),
            (
                "NewAppointment",
                Some(reads::<appointments::NewAppointment>),
            ),
            (
                "AppointmentChange",
                Some(reads::<appointments::AppointmentChange>),
            ),
            (
                "Appointment",
                Some(round_trips::<appointments::Appointment>),
            ),
            ("NewRecord", Some(reads::<records::NewRecord>)),
            ("MedicalRecord", Some(round_trips::<records::MedicalRecord>)),
            ("NewOrder", Some(reads::<lab::NewOrder>)),
            ("LabOrder", Some(round_trips::<lab::LabOrder>)),
            ("NewResult", Some(reads::<lab::NewResult>)),
            ("LabResult", Some(round_trips::<lab::LabResult>)),
            ("NewPrescription", Some(reads::<pharmacy::NewPrescription>)),
            ("Prescription", Some(round_trips::<pharmacy::Prescription>)),
            ("Money", Some(round_trips::<crate::kit::Money>)),
            ("NewClaim", Some(reads::<billing::NewClaim>)),
            ("Claim", Some(round_trips::<billing::Claim>)),
            ("NewReading", Some(round_trips::<devices::NewReading>)),
            ("Readings", Some(reads::<devices::Readings>)),
            ("IngestResult", Some(round_trips::<devices::IngestResult>)),
            ("Reading", None),
            ("NewMessage", Some(reads::<portal::NewMessage>)),
            ("Message", Some(round_trips::<portal::Message>)),
            (
                "Notification",
                Some(round_trips::<notifications::Notification>),
            ),
            ("Problem", None),
        ]
    }

    /// Every value under an `example` or `examples` key of the document, anywhere.
    fn example_values<'a>(v: &'a Value, inside: bool, out: &mut Vec<&'a Value>) {
        match v {
            Value::Object(map) => {
                for (k, v) in map {
                    example_values(v, inside || k == "examples" || k == "example", out);
                }
            }
            Value::Array(items) => items.iter().for_each(|v| example_values(v, inside, out)),
            leaf if inside => out.push(leaf),
            _ => {}
        }
    }

    /// The main schemas carry a whole, realistic example: one that the server reads as the
    /// schema's type (and, for an answer, writes back unchanged), with exactly the schema's
    /// fields. No example anywhere is a generator's placeholder (`"string"`, an empty string,
    /// 1073741824).
    #[test]
    fn examples_are_realistic_and_read_as_their_types() {
        let doc = serde_json::to_value(crate::app::openapi()).unwrap();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        let mut faults = Vec::new();
        for (name, check) in main_schemas() {
            let schema = &schemas[name];
            let Some(examples) = schema["examples"].as_array().filter(|e| !e.is_empty()) else {
                faults.push(format!("{name}: no example"));
                continue;
            };
            let fields: std::collections::BTreeSet<&String> =
                schema["properties"].as_object().unwrap().keys().collect();
            for example in examples {
                let given: std::collections::BTreeSet<&String> =
                    example.as_object().unwrap().keys().collect();
                let unknown: Vec<_> = given.difference(&fields).collect();
                if !unknown.is_empty() {
                    faults.push(format!(
                        "{name}: the example has unknown fields {unknown:?}"
                    ));
                }
                let required = schema["required"].as_array().into_iter().flatten();
                for field in required.filter_map(Value::as_str) {
                    if example.get(field).is_none() {
                        faults.push(format!("{name}: the example lacks `{field}`"));
                    }
                }
                if let Some(Err(e)) = check.map(|c| c(example)) {
                    faults.push(format!("{name}: {e}"));
                }
            }
        }
        let mut values = Vec::new();
        example_values(&doc, false, &mut values);
        assert!(values.len() > 300, "{} example values", values.len());
        for v in values {
            let placeholder = v == "string" || v == "" || v.as_i64() == Some(1073741824);
            if placeholder {
                faults.push(format!("a placeholder example: {v}"));
            }
        }
        assert!(faults.is_empty(), "{}", faults.join("\n"));
    }

    /// Every error response is problem+json, and every operation that takes a token documents
    /// 401.
    #[test]
    fn errors_are_problem_json() {
        let doc = serde_json::to_value(crate::app::openapi()).unwrap();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                for (status, resp) in op["responses"].as_object().unwrap() {
                    if status.starts_with('4') || status.starts_with('5') {
                        if let Some(content) = resp.get("content") {
                            let types: Vec<&String> = content.as_object().unwrap().keys().collect();
                            assert_eq!(
                                types,
                                ["application/problem+json"],
                                "{method} {path} {status}"
                            );
                        }
                    }
                }
                if op["x-access"] != "public" {
                    assert!(op["responses"].get("401").is_some(), "{method} {path}");
                }
            }
        }
    }
}
