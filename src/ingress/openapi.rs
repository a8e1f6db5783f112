//! The OpenAPI 3.1 document of a router, generated from its routes and its handlers' types.
//!
//! Invariant: nothing here is hand-written JSON about user types. Each extractor and response
//! type describes itself into an [`OperationDoc`] (parameters from `Path<T>`, `Query<T>` and
//! `Header<T>` come from `T`'s schema, request and response bodies from `Json<T>`'s, security
//! schemes from dependencies), and the router assembles them with utoipa when it is built.
//! The only fixed schemas are those of ringserve's own 422 body, as FastAPI's
//! `HTTPValidationError` / `ValidationError`.

use std::collections::BTreeMap;

use http::Method;
use utoipa::openapi::path::{HttpMethod, Operation, Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBody;
use utoipa::openapi::schema::{
    ArrayBuilder, ComponentsBuilder, ObjectBuilder, OneOfBuilder, Schema, SchemaType, Type,
};
use utoipa::openapi::security::{SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    Content, Info, OpenApi, OpenApiBuilder, Paths, Ref, RefOr, Required, ResponseBuilder, Server,
};
use utoipa::{PartialSchema, ToSchema};

/// Name of the 422 body's component, as FastAPI names it.
const HTTP_VALIDATION_ERROR: &str = "HTTPValidationError";
/// Name of one 422 detail's component, as FastAPI names it.
const VALIDATION_ERROR: &str = "ValidationError";

/// One route's OpenAPI operation, as its extractors and response type describe it.
#[derive(Default)]
pub struct OperationDoc {
    path_param_names: Vec<String>,
    parameters: Vec<Parameter>,
    request_body: Option<RequestBody>,
    responses: BTreeMap<String, utoipa::openapi::Response>,
    security: Vec<SecurityRequirement>,
    schemas: Vec<(String, RefOr<Schema>)>,
    security_schemes: Vec<(String, SecurityScheme)>,
    validates_input: bool,
    /// Extractors that can never succeed on this route, found while describing it.
    problems: Vec<String>,
}

impl OperationDoc {
    pub(crate) fn new(path_param_names: Vec<String>) -> Self {
        OperationDoc {
            path_param_names,
            ..OperationDoc::default()
        }
    }

    /// The route template's parameter names, in order (`/items/{item_id}` → `["item_id"]`).
    pub fn path_param_names(&self) -> &[String] {
        &self.path_param_names
    }

    /// Adds a parameter; a second one with the same name and location is ignored.
    pub fn parameter(&mut self, parameter: Parameter) {
        let duplicate = self.parameters.iter().any(|known| {
            known.name == parameter.name && known.parameter_in == parameter.parameter_in
        });
        if !duplicate {
            self.parameters.push(parameter);
        }
    }

    /// Sets the request body.
    pub fn request_body(&mut self, body: RequestBody) {
        self.request_body = Some(body);
    }

    /// Sets a required request body of one content type and schema.
    pub(crate) fn required_body(&mut self, content_type: &str, schema: RefOr<Schema>) {
        self.request_body(
            utoipa::openapi::request_body::RequestBodyBuilder::new()
                .content(content_type, Content::new(Some(schema)))
                .required(Some(Required::True))
                .build(),
        );
    }

    /// Documents the response for `status` (`"200"`, `"401"`, `"default"`); the first
    /// description of a status wins.
    pub fn response(&mut self, status: &str, response: utoipa::openapi::Response) {
        self.responses.entry(status.to_owned()).or_insert(response);
    }

    /// Documents an answer the route declared it may give (`Router::responds_with`): its
    /// status and description, no body schema — as FastAPI documents `responses=` without a
    /// model.
    pub(crate) fn declare_response(&mut self, status: http::StatusCode, description: &str) {
        self.response(
            status.as_str(),
            ResponseBuilder::new().description(description).build(),
        );
    }

    /// Whether a response is documented for `status`.
    pub(crate) fn has_response(&self, status: &str) -> bool {
        self.responses.contains_key(status)
    }

    /// Forgets the response documented for `status`.
    pub(crate) fn remove_response(&mut self, status: &str) {
        self.responses.remove(status);
    }

    /// Moves the response documented for `from` to `to` (a route answering `201` where its
    /// body type documents the usual `200`); nothing when `from` has none.
    pub(crate) fn move_response(&mut self, from: &str, to: &str) {
        if let Some(response) = self.responses.remove(from) {
            self.response(to, response);
        }
    }

    /// Registers a security scheme and requires it for this operation.
    pub fn security_scheme(&mut self, name: &str, scheme: SecurityScheme) {
        if !self.security_schemes.iter().any(|(known, _)| known == name) {
            self.security_schemes.push((name.to_owned(), scheme));
            self.security
                .push(SecurityRequirement::new(name, Vec::<String>::new()));
        }
    }

    /// Says that the operation takes input that can fail validation, so it documents the `422`.
    pub fn validates_input(&mut self) {
        self.validates_input = true;
    }

    /// The schema of `T`: a `$ref` to a component for a struct with named fields (registered
    /// here with the types it refers to), inline for anything else.
    pub fn schema_of<T: ToSchema>(&mut self) -> RefOr<Schema> {
        T::schemas(&mut self.schemas);
        let schema = T::schema();
        if is_named_object(&schema) {
            let name = T::name().into_owned();
            self.schemas.push((name.clone(), schema));
            RefOr::Ref(Ref::from_schema_name(name))
        } else {
            schema
        }
    }

    /// Says that an extractor of this route can never succeed; the router refuses to build.
    pub fn problem(&mut self, reason: impl Into<String>) {
        self.problems.push(reason.into());
    }

    pub(crate) fn take_problems(&mut self) -> Vec<String> {
        std::mem::take(&mut self.problems)
    }

    /// One parameter per field of `T` (a struct), or — for a scalar `T` in a path — the one
    /// path parameter; `rename` maps a field name to the parameter's (headers use hyphens).
    /// A shape that cannot match the route (a scalar for several path parameters, a struct
    /// field the template lacks, a scalar query or header) is recorded as a problem.
    pub(crate) fn parameters_from<T: PartialSchema>(
        &mut self,
        extractor: &str,
        location: ParameterIn,
        rename: fn(&str) -> String,
    ) {
        self.validates_input();
        let in_path = location == ParameterIn::Path;
        match T::schema() {
            RefOr::T(Schema::Object(object)) if !object.properties.is_empty() => {
                for (field, schema) in object.properties {
                    if in_path && !self.path_param_names.contains(&field) {
                        self.problem(format!(
                            "{extractor}: field `{field}` is not a parameter of the route"
                        ));
                    }
                    let required = object.required.contains(&field);
                    self.parameter(build_parameter(
                        rename(&field),
                        location.clone(),
                        required,
                        schema,
                    ));
                }
            }
            // A map (an object without named properties) takes whatever is sent.
            RefOr::T(Schema::Object(object))
                if object.schema_type == SchemaType::Type(Type::Object) => {}
            scalar if in_path => match self.path_param_names.as_slice() {
                [name] => {
                    let name = name.clone();
                    self.parameter(build_parameter(name, location, true, scalar));
                }
                names => self.problem(format!(
                    "{extractor}: a single value needs exactly one route parameter, the route has {}; use a struct",
                    names.len()
                )),
            },
            _ => self.problem(format!("{extractor}: needs a struct (or a map) of parameters")),
        }
    }

    fn into_operation(self, operation_id: String, summary: String) -> Operation {
        let mut builder = Operation::builder()
            .operation_id(Some(operation_id))
            .summary(Some(summary))
            .request_body(self.request_body);
        for parameter in self.parameters {
            builder = builder.parameter(parameter);
        }
        let mut responses = self.responses;
        if responses.is_empty() {
            responses.insert(
                "200".to_owned(),
                ResponseBuilder::new()
                    .description("Successful Response")
                    .build(),
            );
        }
        if self.validates_input {
            responses
                .entry("422".to_owned())
                .or_insert_with(validation_error_response);
        }
        for (status, response) in responses {
            builder = builder.response(status, response);
        }
        for requirement in self.security {
            builder = builder.security(requirement);
        }
        builder.build()
    }
}

fn is_named_object(schema: &RefOr<Schema>) -> bool {
    match schema {
        RefOr::T(Schema::Object(object)) => {
            object.schema_type == SchemaType::Type(Type::Object) && !object.properties.is_empty()
        }
        _ => false,
    }
}

fn build_parameter(
    name: String,
    location: ParameterIn,
    required: bool,
    schema: RefOr<Schema>,
) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(location)
        .required(if required {
            Required::True
        } else {
            Required::False
        })
        .schema(Some(schema))
        .build()
}

fn validation_error_response() -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description("Validation Error")
        .content(
            "application/json",
            Content::new(Some(Ref::from_schema_name(HTTP_VALIDATION_ERROR))),
        )
        .build()
}

/// FastAPI's `ValidationError` schema: one element of the 422 `detail` list
/// (`validation::ErrorDetail`).
fn validation_error_schema() -> Schema {
    let loc_item = OneOfBuilder::new()
        .item(ObjectBuilder::new().schema_type(Type::String))
        .item(ObjectBuilder::new().schema_type(Type::Integer));
    ObjectBuilder::new()
        .title(Some(VALIDATION_ERROR))
        .property(
            "loc",
            ArrayBuilder::new().items(loc_item).title(Some("Location")),
        )
        .property(
            "msg",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .title(Some("Message")),
        )
        .property(
            "type",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .title(Some("Error Type")),
        )
        .property(
            "input",
            ObjectBuilder::new()
                .schema_type(SchemaType::AnyValue)
                .title(Some("Input")),
        )
        .property(
            "ctx",
            ObjectBuilder::new()
                .schema_type(Type::Object)
                .title(Some("Context")),
        )
        .required("loc")
        .required("msg")
        .required("type")
        .into()
}

/// FastAPI's `HTTPValidationError` schema: the whole 422 body.
fn http_validation_error_schema() -> Schema {
    ObjectBuilder::new()
        .title(Some(HTTP_VALIDATION_ERROR))
        .property(
            "detail",
            ArrayBuilder::new()
                .items(Ref::from_schema_name(VALIDATION_ERROR))
                .title(Some("Detail")),
        )
        .into()
}

/// Collects a router's operations into one document.
#[derive(Default)]
pub(crate) struct DocumentBuilder {
    paths: Paths,
    schemas: BTreeMap<String, RefOr<Schema>>,
    security_schemes: BTreeMap<String, SecurityScheme>,
    validates_input: bool,
}

impl DocumentBuilder {
    /// Adds the operation for `method` at `template` (a matchit template; `{*rest}` becomes
    /// `{rest}`). `handler_name` is the handler's Rust name, used as FastAPI uses the Python
    /// function's name: for the operation id and summary.
    pub(crate) fn add(
        &mut self,
        template: &str,
        method: &Method,
        handler_name: &str,
        operation: OperationDoc,
    ) {
        let Some(http_method) = openapi_method(method) else {
            return;
        };
        let path = template.replace("{*", "{");
        self.validates_input |= operation.validates_input;
        for (name, schema) in operation.schemas.iter().cloned() {
            self.schemas.entry(name).or_insert(schema);
        }
        for (name, scheme) in operation.security_schemes.iter().cloned() {
            self.security_schemes.entry(name).or_insert(scheme);
        }
        let operation_id = operation_id(handler_name, &path, method);
        let summary = summary(handler_name, &path, method);
        let operation = operation.into_operation(operation_id, summary);
        self.paths
            .add_path_operation(path, vec![http_method], operation);
    }

    /// The finished document; `server_url` is the application's route prefix when it is not
    /// `/` (FastAPI's `root_path`), so paths stay relative to the application.
    pub(crate) fn build(&self, title: &str, version: &str, server_url: Option<&str>) -> OpenApi {
        let mut components = ComponentsBuilder::new();
        for (name, schema) in &self.schemas {
            components = components.schema(name.clone(), schema.clone());
        }
        if self.validates_input {
            components = components
                .schema(VALIDATION_ERROR, validation_error_schema())
                .schema(HTTP_VALIDATION_ERROR, http_validation_error_schema());
        }
        for (name, scheme) in &self.security_schemes {
            components = components.security_scheme(name.clone(), scheme.clone());
        }
        OpenApiBuilder::new()
            .info(Info::new(title, version))
            .servers(server_url.map(|url| [Server::new(url)]))
            .paths(self.paths.clone())
            .components(Some(components.build()))
            .build()
    }
}

fn openapi_method(method: &Method) -> Option<HttpMethod> {
    Some(match *method {
        Method::GET => HttpMethod::Get,
        Method::POST => HttpMethod::Post,
        Method::PUT => HttpMethod::Put,
        Method::DELETE => HttpMethod::Delete,
        Method::PATCH => HttpMethod::Patch,
        Method::OPTIONS => HttpMethod::Options,
        Method::HEAD => HttpMethod::Head,
        Method::TRACE => HttpMethod::Trace,
        _ => return None,
    })
}

/// The last path segment of a Rust item name, or nothing useful for a closure.
fn short_name(handler_name: &str) -> Option<&str> {
    let name = handler_name.rsplit("::").next().unwrap_or(handler_name);
    (!name.contains('{') && !name.is_empty()).then_some(name)
}

/// FastAPI's operation id: function name, path and method, non-word characters as `_`
/// (`read_item_items__item_id__get`).
fn operation_id(handler_name: &str, path: &str, method: &Method) -> String {
    let mut id = String::new();
    id.push_str(short_name(handler_name).unwrap_or("handler"));
    for character in path.chars() {
        id.push(if character.is_ascii_alphanumeric() {
            character
        } else {
            '_'
        });
    }
    id.push('_');
    id.push_str(&method.as_str().to_ascii_lowercase());
    id
}

/// FastAPI's summary: the function name in title case (`read_item` → `Read Item`).
fn summary(handler_name: &str, path: &str, method: &Method) -> String {
    match short_name(handler_name) {
        Some(name) => name
            .split('_')
            .filter(|word| !word.is_empty())
            .map(|word| {
                let mut chars = word.chars();
                chars
                    .next()
                    .map(|first| first.to_uppercase().chain(chars).collect::<String>())
                    .unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join(" "),
        None => format!("{method} {path}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fastapi_operation_ids_and_summaries() {
        assert_eq!(
            operation_id("items::read_item", "/items/{item_id}", &Method::GET),
            "read_item_items__item_id__get"
        );
        assert_eq!(
            summary("items::read_item", "/items/{item_id}", &Method::GET),
            "Read Item"
        );
        assert_eq!(
            summary("items::main::{{closure}}", "/x", &Method::POST),
            "POST /x"
        );
    }
}
