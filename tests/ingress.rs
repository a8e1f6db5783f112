//! The ingress end to end: FastAPI-style routers served by a real server on loopback, talked to
//! with raw bytes (and `ureq` as a second client). Each test checks the exact status line, the
//! headers that matter and the exact body FastAPI would send for the same request.

mod common;

use std::cell::Cell;
use std::convert::Infallible;
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::rc::Rc;

use bytes::Bytes;
use common::*;
use ringserve::ingress::{
    Background, BackgroundTasks, Cookie, Depends, Dict, ErrorDetail, Form, FromRequestParts,
    Header, HttpError, Json, Location, Multipart, Path, Query, Rejection, RequestParts, RouteError,
    Router, State, Status, Teardown, ToSchema,
};
use ringserve::{
    Application, HeaderValue, Limits, Request, Response, Serve, SetCookie, StatusCode, header,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// An `application/json` response.
fn json_response(status_line: &str, body: &str) -> String {
    expected(status_line, "content-type: application/json\r\n", body)
}

/// FastAPI's `422` with one detail.
fn unprocessable(detail: &str) -> String {
    json_response(
        "HTTP/1.1 422 Unprocessable Entity",
        &format!(r#"{{"detail":[{detail}]}}"#),
    )
}

/// The ingress's own 404.
fn not_found() -> String {
    json_response("HTTP/1.1 404 Not Found", r#"{"detail":"Not Found"}"#)
}

/// `POST path` with `content-type: application/json` and `body`.
fn post_json(addr: SocketAddr, path: &str, body: &str) -> RawResponse {
    send(
        addr,
        "POST",
        path,
        "content-type: application/json\r\n",
        body.as_bytes(),
    )
}

/// `POST path` with `content-type: application/json` and `pieces` as the chunks of a chunked
/// body.
fn chunked_post(path: &str, pieces: &[&str]) -> Vec<u8> {
    let mut bytes = format!(
        "POST {path} HTTP/1.1\r\nHost: test\r\ncontent-type: application/json\r\n\
         transfer-encoding: chunked\r\n\r\n"
    )
    .into_bytes();
    for piece in pieces {
        bytes.extend_from_slice(format!("{:x}\r\n{piece}\r\n", piece.len()).as_bytes());
    }
    bytes.extend_from_slice(b"0\r\n\r\n");
    bytes
}

/// The body of a `GET` whose answer is JSON, parsed.
fn get_json(addr: SocketAddr, path: &str) -> Value {
    let response = get(addr, path);
    assert_eq!(response.status(), 200, "{}", response.raw);
    assert_eq!(response.header("content-type"), Some("application/json"));
    serde_json::from_slice(&response.body).expect("a JSON body")
}

// ---------------------------------------------------------------------------------------------
// The items application of FastAPI's tutorial
// ---------------------------------------------------------------------------------------------

/// An item, as FastAPI's tutorial defines it.
#[derive(Clone, Debug, Deserialize, Serialize, ToSchema)]
struct Item {
    name: String,
    description: Option<String>,
    price: f64,
    tax: Option<f64>,
}

#[derive(Serialize, ToSchema)]
struct ItemId {
    item_id: i64,
}

#[derive(Serialize, ToSchema)]
struct Created {
    created: Item,
}

#[derive(Serialize, ToSchema)]
struct Name {
    name: String,
}

async fn read_item(Path(item_id): Path<i64>) -> Json<ItemId> {
    Json(ItemId { item_id })
}

async fn create_item(Json(item): Json<Item>) -> Json<Created> {
    Json(Created { created: item })
}

async fn read_name(Path(name): Path<String>) -> Json<Name> {
    Json(Name { name })
}

fn items_router() -> Router {
    Router::new()
        .get("/items/{item_id}", read_item)
        .post("/items/", create_item)
        .get("/names/{name}", read_name)
}

fn items_app() -> Application {
    Application::try_new(|| items_router().build())
}

const INT_PARSING_ITEM_ID_ABC: &str = r#"{"type":"int_parsing","loc":["path","item_id"],"msg":"Input should be a valid integer, unable to parse string as an integer","input":"abc"}"#;

// ---------------------------------------------------------------------------------------------
// 1. Path parameters
// ---------------------------------------------------------------------------------------------

#[test]
fn path_parameter_is_typed_and_a_bad_one_is_fastapis_422() {
    let server = start_app(items_app());
    let addr = server.local_addr();
    assert_eq!(
        get(addr, "/items/5").redacted(),
        json_response("HTTP/1.1 200 OK", r#"{"item_id":5}"#)
    );
    assert_eq!(
        get(addr, "/items/-42").redacted(),
        json_response("HTTP/1.1 200 OK", r#"{"item_id":-42}"#)
    );
    assert_eq!(
        get(addr, "/items/abc").redacted(),
        unprocessable(INT_PARSING_ITEM_ID_ABC)
    );
    // Past the Rust type's range: reported as pydantic reports a bound (`le`), not a 500.
    // (Python's `int` has no bound, so FastAPI itself would accept this one.)
    assert_eq!(
        get(addr, "/items/99999999999999999999").redacted(),
        unprocessable(
            r#"{"type":"less_than_equal","loc":["path","item_id"],"msg":"Input should be less than or equal to 9223372036854775807","input":"99999999999999999999","ctx":{"le":9223372036854775807}}"#
        )
    );
    server.shutdown();
}

#[test]
fn percent_encoded_path_parameters_are_decoded() {
    let server = start_app(items_app());
    let addr = server.local_addr();
    assert_eq!(
        get(addr, "/names/a%20b").redacted(),
        json_response("HTTP/1.1 200 OK", r#"{"name":"a b"}"#)
    );
    assert_eq!(
        get(addr, "/names/caf%C3%A9").body_text(),
        r#"{"name":"café"}"#
    );
    // The encoded value is reported decoded in a 422 too.
    assert_eq!(
        get(addr, "/items/a%20b").redacted(),
        unprocessable(
            r#"{"type":"int_parsing","loc":["path","item_id"],"msg":"Input should be a valid integer, unable to parse string as an integer","input":"a b"}"#
        )
    );
    server.shutdown();
}

// ---------------------------------------------------------------------------------------------
// 2. Route prefix
// ---------------------------------------------------------------------------------------------

#[test]
fn under_a_route_prefix_paths_are_relative_to_it_and_outside_is_the_engines_404() {
    let server = start_app(items_app().name("items").route_prefix("/api"));
    let addr = server.local_addr();
    assert_eq!(
        get(addr, "/api/items/5").redacted(),
        json_response("HTTP/1.1 200 OK", r#"{"item_id":5}"#)
    );
    assert_eq!(
        get(addr, "/api/items/abc").redacted(),
        unprocessable(INT_PARSING_ITEM_ID_ABC)
    );
    // Inside the prefix but no route: the ingress's 404.
    assert_eq!(get(addr, "/api/nothing").redacted(), not_found());
    // Outside the prefix: the engine's own 404 (Ray Serve's text), not the ingress's.
    let body = format!(
        "Path '/items/5' not found. Ping http://127.0.0.1:{}/-/routes for available routes.",
        addr.port()
    );
    assert_eq!(
        get(addr, "/items/5").redacted(),
        expected(
            "HTTP/1.1 404 Not Found",
            "content-type: text/plain; charset=utf-8\r\n",
            &body
        )
    );
    server.shutdown();
}

async fn read_file(Path(rest): Path<String>) -> String {
    rest
}

#[derive(Deserialize, ToSchema)]
struct UserFile {
    id: i64,
    path: String,
}

async fn read_user_file(Path(file): Path<UserFile>) -> String {
    format!("{} {}", file.id, file.path)
}

#[test]
fn a_catch_all_parameter_takes_the_rest_of_the_path_under_a_prefix() {
    let server = start_app(
        Application::try_new(|| {
            Router::new()
                .get("/files/{*rest}", read_file)
                .get("/users/{id}/{*path}", read_user_file)
                .build()
        })
        .route_prefix("/api"),
    );
    let addr = server.local_addr();
    assert_eq!(
        get(addr, "/api/files/a/b/c.txt").redacted(),
        expected("HTTP/1.1 200 OK", TEXT_PLAIN, "a/b/c.txt")
    );
    // A trailing slash is part of the rest, not a twin to redirect to.
    assert_eq!(
        get(addr, "/api/files/a/b/").redacted(),
        expected("HTTP/1.1 200 OK", TEXT_PLAIN, "a/b/")
    );
    assert_eq!(
        get(addr, "/api/users/7/docs/x.md").redacted(),
        expected("HTTP/1.1 200 OK", TEXT_PLAIN, "7 docs/x.md")
    );
    assert_eq!(
        get(addr, "/api/users/x/docs").redacted(),
        unprocessable(
            r#"{"type":"int_parsing","loc":["path","id"],"msg":"Input should be a valid integer, unable to parse string as an integer","input":"x"}"#
        )
    );
    // matchit's catch-all needs at least one byte: an empty rest matches no route, nor does
    // the prefix without its slash (no twin to redirect to). Starlette's `{rest:path}` differs
    // here: it matches `/files/` with an empty rest, and so redirects `/files` to it.
    assert_eq!(get(addr, "/api/files/").redacted(), not_found());
    assert_eq!(get(addr, "/api/files").redacted(), not_found());
    server.shutdown();
}

// ---------------------------------------------------------------------------------------------
// 3. JSON bodies
// ---------------------------------------------------------------------------------------------

#[test]
fn json_body_is_validated_into_the_model() {
    let server = start_app(items_app());
    let addr = server.local_addr();
    assert_eq!(
        post_json(addr, "/items/", r#"{"name":"Foo","price":35.4}"#).redacted(),
        json_response(
            "HTTP/1.1 200 OK",
            r#"{"created":{"name":"Foo","description":null,"price":35.4,"tax":null}}"#
        )
    );
    // `application/*+json` and parameters are JSON too.
    let response = send(
        addr,
        "POST",
        "/items/",
        "Content-Type: Application/JSON; charset=utf-8\r\n",
        br#"{"name":"Bar","price":1,"tax":0.5,"description":"d"}"#,
    );
    assert_eq!(
        response.body_text(),
        r#"{"created":{"name":"Bar","description":"d","price":1.0,"tax":0.5}}"#
    );
    let response = send(
        addr,
        "POST",
        "/items/",
        "content-type: application/merge-patch+json\r\n",
        br#"{"name":"Baz","price":2}"#,
    );
    assert_eq!(response.status(), 200, "{}", response.raw);
    server.shutdown();
}

#[test]
fn malformed_json_is_json_invalid_at_the_byte_offset() {
    let server = start_app(items_app());
    let addr = server.local_addr();
    // Python: json.loads('{"name": "Foo", "price": }') -> "Expecting value: ... (char 25)".
    assert_eq!(
        post_json(addr, "/items/", r#"{"name": "Foo", "price": }"#).redacted(),
        unprocessable(
            r#"{"type":"json_invalid","loc":["body",25],"msg":"JSON decode error","input":{},"ctx":{"error":"Expecting value"}}"#
        )
    );
    // On a later line the offset still counts from the start of the body.
    let response = post_json(addr, "/items/", "{\n  \"a\": ]\n}");
    let body: Value = serde_json::from_slice(&response.body).unwrap();
    assert_eq!(body["detail"][0]["type"], "json_invalid");
    assert_eq!(body["detail"][0]["loc"], json!(["body", 9]));
    // Trailing characters after a whole item (Python: "Extra data ... (char 25)").
    let response = post_json(addr, "/items/", r#"{"name":"Foo","price":1} x"#);
    let body: Value = serde_json::from_slice(&response.body).unwrap();
    assert_eq!(body["detail"][0]["type"], "json_invalid");
    assert_eq!(body["detail"][0]["loc"], json!(["body", 25]));
    server.shutdown();
}

/// `ctx.error` is Python's `json` message, word for word, at Python's position: each body with
/// what `json.loads` (CPython 3.11) raises on it.
#[test]
fn json_invalid_says_what_pythons_json_says() {
    let server = start_app(items_app());
    let addr = server.local_addr();
    let cases = [
        (r#"{"name": "Foo""#, "Expecting ',' delimiter", 14),
        (
            r#"{"name": "Foo","#,
            "Expecting property name enclosed in double quotes",
            15,
        ),
        (
            r#"{"name": "Foo", "price": 1,}"#,
            "Expecting property name enclosed in double quotes",
            27,
        ),
        (r#"{"name" "Foo"}"#, "Expecting ':' delimiter", 8),
        (
            r#"{'name': "Foo"}"#,
            "Expecting property name enclosed in double quotes",
            1,
        ),
        (r#"{"name": "Foo"#, "Unterminated string starting at", 9),
        (r#"{"name": "F\qoo"}"#, "Invalid \\escape", 11),
        (r#"{"name": "\u00g9"}"#, "Invalid \\uXXXX escape", 11),
        ("{\"name\": \"a\tb\"}", "Invalid control character at", 11),
        (r#"{"price": 1.}"#, "Expecting ',' delimiter", 11),
        (r#"{"name": "Foo"} {}"#, "Extra data", 16),
        (r#"{"name": tru}"#, "Expecting value", 9),
    ];
    for (body, message, position) in cases {
        let response = post_json(addr, "/items/", body);
        assert_eq!(
            response.redacted(),
            unprocessable(&format!(
                r#"{{"type":"json_invalid","loc":["body",{position}],"msg":"JSON decode error","input":{{}},"ctx":{{"error":{}}}}}"#,
                serde_json::to_string(message).unwrap()
            )),
            "{body}"
        );
    }
    server.shutdown();
}

/// Python decodes the bytes as text before its `json` reads them; bytes that are not UTF-8
/// never reach the decoder, and FastAPI answers `400` `There was an error parsing the body`.
#[test]
fn a_json_body_that_is_not_utf8_is_a_400() {
    let server = start_app(items_app());
    let addr = server.local_addr();
    let response = send(
        addr,
        "POST",
        "/items/",
        "content-type: application/json\r\n",
        b"{\"name\": \"\xff\"}",
    );
    assert_eq!(response.status(), 400, "{}", response.raw);
    assert_eq!(
        response.body_text(),
        r#"{"detail":"There was an error parsing the body"}"#
    );
    // A byte order mark is no error: Python reads UTF-8 bytes without it.
    let response = send(
        addr,
        "POST",
        "/items/",
        "content-type: application/json\r\n",
        b"\xEF\xBB\xBF{\"name\": \"a\", \"price\": 1}",
    );
    assert_eq!(response.status(), 200, "{}", response.raw);
    // Even where serde would skip the bad bytes: a string in a field the model ignores.
    let response = send(
        addr,
        "POST",
        "/items/",
        "content-type: application/json\r\n",
        b"{\"name\": \"a\", \"price\": 1, \"note\": \"\xff\"}",
    );
    assert_eq!(response.status(), 400, "{}", response.raw);
    server.shutdown();
}

/// FastAPI's `item: dict` is `Json<Dict>`: any object, refused otherwise with `dict_type`
/// (where a model gets `model_attributes_type`); `Json<Value>` takes any JSON at all. Each
/// answer is FastAPI 0.115's for the same body.
#[test]
fn a_dict_body_takes_any_object_and_refuses_the_rest_as_pydantic_does() {
    async fn create_dict(Json(item): Json<Dict>) -> Json<Value> {
        Json(json!({ "created": item }))
    }
    async fn create_any(Json(item): Json<Value>) -> Json<Value> {
        Json(json!({ "created": item }))
    }
    #[derive(Deserialize, Serialize, ToSchema)]
    struct Tagged {
        name: String,
        meta: Dict,
    }
    async fn create_tagged(Json(item): Json<Tagged>) -> Json<Tagged> {
        Json(item)
    }
    let server = start_app(Application::try_new(|| {
        Router::new()
            .post("/dict/", create_dict)
            .post("/any/", create_any)
            .post("/model/", create_item)
            .post("/tagged/", create_tagged)
            .build()
    }));
    let addr = server.local_addr();
    assert_eq!(
        post_json(addr, "/dict/", r#"{"name": "apple"}"#).redacted(),
        json_response("HTTP/1.1 200 OK", r#"{"created":{"name":"apple"}}"#)
    );
    assert_eq!(
        post_json(addr, "/dict/", r#"{"a": [1, {"b": null}], "c": 2.5}"#).body_text(),
        r#"{"created":{"a":[1,{"b":null}],"c":2.5}}"#
    );
    for (body, input) in [("[1,2]", "[1,2]"), (r#""apple""#, r#""apple""#), ("7", "7")] {
        assert_eq!(
            post_json(addr, "/dict/", body).redacted(),
            unprocessable(&format!(
                r#"{{"type":"dict_type","loc":["body"],"msg":"Input should be a valid dictionary","input":{input}}}"#
            )),
            "{body}"
        );
    }
    assert_eq!(
        post_json(addr, "/model/", "[1,2]").redacted(),
        unprocessable(
            r#"{"type":"model_attributes_type","loc":["body"],"msg":"Input should be a valid dictionary or object to extract fields from","input":[1,2]}"#
        )
    );
    assert_eq!(
        post_json(addr, "/any/", "[1,2]").body_text(),
        r#"{"created":[1,2]}"#
    );
    // A dict inside a model.
    assert_eq!(
        post_json(addr, "/tagged/", r#"{"name": "a", "meta": {"k": [true]}}"#).body_text(),
        r#"{"name":"a","meta":{"k":[true]}}"#
    );
    assert_eq!(
        post_json(addr, "/tagged/", r#"{"name": "a", "meta": [1]}"#).redacted(),
        unprocessable(
            r#"{"type":"dict_type","loc":["body","meta"],"msg":"Input should be a valid dictionary","input":[1]}"#
        )
    );
    // Documented as FastAPI documents `dict` (`"additionalProperties": true`), in JSON
    // Schema's other spelling of "any value": the empty schema; with a description.
    let any_object = json!({
        "type": "object",
        "additionalProperties": {},
        "propertyNames": {"type": "string"},
        "description": "Any JSON object."
    });
    let document = get_json(addr, "/openapi.json");
    assert_eq!(
        document["paths"]["/dict/"]["post"]["requestBody"]["content"]["application/json"]["schema"],
        any_object
    );
    // Inside a model, utoipa's derive names it (`#[schema(inline)]` on the field inlines it).
    assert_eq!(
        document["components"]["schemas"]["Tagged"]["properties"]["meta"],
        json!({"$ref": "#/components/schemas/Dict"})
    );
    assert_eq!(document["components"]["schemas"]["Dict"], any_object);
    server.shutdown();
}

/// FastAPI parses the JSON document before validating it, so a body that is not JSON is always
/// `json_invalid`, even when what precedes the bad byte is an object that would not validate.
#[test]
fn trailing_data_is_json_invalid_even_when_the_object_would_not_validate() {
    let server = start_app(items_app());
    let addr = server.local_addr();
    // Python: json.loads('{"a":1}x') -> "Extra data: line 1 column 8 (char 7)".
    let response = post_json(addr, "/items/", r#"{"a":1}x"#);
    let body: Value = serde_json::from_slice(&response.body).unwrap();
    assert_eq!(body["detail"][0]["type"], "json_invalid", "{body}");
    assert_eq!(body["detail"][0]["loc"], json!(["body", 7]));
    server.shutdown();
}

/// FastAPI reports where Python's `json` stopped: for a body cut short that is the end of the
/// body (`json.loads('{"name": "Foo"')` -> "Expecting ',' delimiter: ... (char 14)").
#[test]
fn truncated_json_is_located_at_the_end_of_the_body() {
    let server = start_app(items_app());
    let addr = server.local_addr();
    let response = post_json(addr, "/items/", r#"{"name": "Foo""#);
    let body: Value = serde_json::from_slice(&response.body).unwrap();
    assert_eq!(body["detail"][0]["type"], "json_invalid");
    assert_eq!(body["detail"][0]["loc"], json!(["body", 14]));
    // Python: json.loads('{"name": "Foo",') -> "Expecting property name ... (char 15)".
    let response = post_json(addr, "/items/", r#"{"name": "Foo","#);
    let body: Value = serde_json::from_slice(&response.body).unwrap();
    assert_eq!(body["detail"][0]["loc"], json!(["body", 15]));
    server.shutdown();
}

/// FastAPI decodes the body to text before parsing, so the position is in characters:
/// `json.loads('{"name": "é", "price": }'.encode())` fails at char 23 (byte 24).
#[test]
fn json_error_position_counts_characters_as_fastapi_does() {
    let server = start_app(items_app());
    let addr = server.local_addr();
    let response = post_json(addr, "/items/", r#"{"name": "é", "price": }"#);
    let body: Value = serde_json::from_slice(&response.body).unwrap();
    assert_eq!(body["detail"][0]["type"], "json_invalid");
    assert_eq!(body["detail"][0]["loc"], json!(["body", 23]));
    server.shutdown();
}

#[test]
fn json_body_missing_field_and_wrong_type_are_located_in_the_body() {
    let server = start_app(items_app());
    let addr = server.local_addr();
    assert_eq!(
        post_json(addr, "/items/", r#"{"name":"Foo"}"#).redacted(),
        unprocessable(
            r#"{"type":"missing","loc":["body","price"],"msg":"Field required","input":{"name":"Foo"}}"#
        )
    );
    assert_eq!(
        post_json(addr, "/items/", r#"{"name":"Foo","price":"cheap"}"#).redacted(),
        unprocessable(
            r#"{"type":"float_type","loc":["body","price"],"msg":"Input should be a valid number","input":"cheap"}"#
        )
    );
    assert_eq!(
        post_json(addr, "/items/", r#"{"name":5,"price":1}"#).redacted(),
        unprocessable(
            r#"{"type":"string_type","loc":["body","name"],"msg":"Input should be a valid string","input":5}"#
        )
    );
    assert_eq!(
        post_json(addr, "/items/", r#"{"name":"Foo","price":1,"tax":true}"#).redacted(),
        unprocessable(
            r#"{"type":"float_type","loc":["body","tax"],"msg":"Input should be a valid number","input":true}"#
        )
    );
    // Not an object at all.
    assert_eq!(
        post_json(addr, "/items/", "5").redacted(),
        unprocessable(
            r#"{"type":"model_attributes_type","loc":["body"],"msg":"Input should be a valid dictionary or object to extract fields from","input":5}"#
        )
    );
    server.shutdown();
}

#[derive(Deserialize, Serialize, ToSchema)]
struct Address {
    zip: i64,
}

#[derive(Deserialize, Serialize, ToSchema)]
struct Customer {
    address: Address,
}

#[derive(Deserialize, Serialize, ToSchema)]
struct Line {
    qty: i64,
}

#[derive(Deserialize, Serialize, ToSchema)]
struct Order {
    customer: Customer,
    items: Vec<Line>,
}

async fn place_order(Json(order): Json<Order>) -> Json<Order> {
    Json(order)
}

#[test]
fn an_error_deep_in_the_body_is_located_by_its_whole_path() {
    let server = start_app(Application::try_new(|| {
        Router::new().post("/orders", place_order).build()
    }));
    let addr = server.local_addr();
    assert_eq!(
        post_json(
            addr,
            "/orders",
            r#"{"customer":{"address":{"zip":12345}},"items":[{"qty":1}]}"#
        )
        .redacted(),
        json_response(
            "HTTP/1.1 200 OK",
            r#"{"customer":{"address":{"zip":12345}},"items":[{"qty":1}]}"#
        )
    );
    // A string is not an integer in a JSON body (strict mode, as for `price` above).
    assert_eq!(
        post_json(
            addr,
            "/orders",
            r#"{"customer":{"address":{"zip":"abc"}},"items":[]}"#
        )
        .redacted(),
        unprocessable(
            r#"{"type":"int_type","loc":["body","customer","address","zip"],"msg":"Input should be a valid integer","input":"abc"}"#
        )
    );
    assert_eq!(
        post_json(
            addr,
            "/orders",
            r#"{"customer":{"address":{"zip":1}},"items":[{"qty":1},{"qty":"two"}]}"#
        )
        .redacted(),
        unprocessable(
            r#"{"type":"int_type","loc":["body","items",1,"qty"],"msg":"Input should be a valid integer","input":"two"}"#
        )
    );
    // A field missing deep inside is named at the end of the path.
    assert_eq!(
        post_json(addr, "/orders", r#"{"customer":{"address":{}},"items":[]}"#).redacted(),
        unprocessable(
            r#"{"type":"missing","loc":["body","customer","address","zip"],"msg":"Field required","input":{}}"#
        )
    );
    server.shutdown();
}

/// pydantic validates a model only from an object; serde's derive also reads a struct from a
/// JSON array, field by field in declaration order.
#[test]
fn a_json_array_is_not_a_model() {
    let server = start_app(items_app());
    let addr = server.local_addr();
    assert_eq!(
        post_json(addr, "/items/", r#"["Foo",null,35.4,null]"#).redacted(),
        unprocessable(
            r#"{"type":"model_attributes_type","loc":["body"],"msg":"Input should be a valid dictionary or object to extract fields from","input":["Foo",null,35.4,null]}"#
        )
    );
    assert_eq!(
        post_json(addr, "/items/", "[1,2]").redacted(),
        unprocessable(
            r#"{"type":"model_attributes_type","loc":["body"],"msg":"Input should be a valid dictionary or object to extract fields from","input":[1,2]}"#
        )
    );
    server.shutdown();
}

/// Python's `json` keeps the last value of a repeated key, so FastAPI validates
/// `{"name":"b","price":1}`; ringserve refuses the repeated field on purpose (two parsers that
/// pick different duplicates let a body slip past a check), and says which field it was.
#[test]
fn a_repeated_json_key_is_refused_naming_the_field() {
    let server = start_app(items_app());
    let addr = server.local_addr();
    assert_eq!(
        post_json(addr, "/items/", r#"{"name":"a","price":1,"name":"b"}"#).redacted(),
        unprocessable(
            r#"{"type":"value_error","loc":["body","name"],"msg":"Value error, duplicate field 'name'","input":"b"}"#
        )
    );
    server.shutdown();
}

#[test]
fn json_body_needs_a_json_content_type_and_a_body() {
    let server = start_app(items_app());
    let addr = server.local_addr();
    let body = r#"{"name":"Foo","price":1}"#;
    let not_an_object = format!(
        r#"{{"type":"model_attributes_type","loc":["body"],"msg":"Input should be a valid dictionary or object to extract fields from","input":{}}}"#,
        serde_json::to_string(body).unwrap()
    );
    // No content type (FastAPI would parse it; ringserve deliberately does not).
    assert_eq!(
        send(addr, "POST", "/items/", "", body.as_bytes()).redacted(),
        unprocessable(&not_an_object)
    );
    assert_eq!(
        send(
            addr,
            "POST",
            "/items/",
            "content-type: text/plain\r\n",
            body.as_bytes()
        )
        .redacted(),
        unprocessable(&not_an_object)
    );
    let missing = r#"{"type":"missing","loc":["body"],"msg":"Field required","input":null}"#;
    assert_eq!(
        post_json(addr, "/items/", "").redacted(),
        unprocessable(missing)
    );
    // No body at all: no content-length either.
    assert_eq!(
        request(addr, b"POST /items/ HTTP/1.1\r\nHost: test\r\n\r\n").redacted(),
        unprocessable(missing)
    );
    server.shutdown();
}

#[test]
fn chunked_json_body_is_read_whole() {
    let server = start_app(items_app());
    let addr = server.local_addr();
    let response = request(
        addr,
        &chunked_post("/items/", &[r#"{"name":"Fo"#, r#"o","price":2}"#]),
    );
    assert_eq!(
        response.redacted(),
        json_response(
            "HTTP/1.1 200 OK",
            r#"{"created":{"name":"Foo","description":null,"price":2.0,"tax":null}}"#
        )
    );
    // Sent in pieces, the body is pumped from the socket while the extractor waits.
    let bytes = chunked_post("/items/", &[r#"{"name"#, r#"":"Q","price":3}"#]);
    let split = bytes.len() - r#"":"Q","price":3}"#.len() - 11;
    assert!(bytes[split..].starts_with(b"10\r\n"));
    let mut stream = connect(addr);
    stream.write_all(&bytes[..split]).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(50));
    stream.write_all(&bytes[split..]).unwrap();
    let response = read_response(&mut stream, false);
    assert_eq!(
        response.body_text(),
        r#"{"created":{"name":"Q","description":null,"price":3.0,"tax":null}}"#
    );
    server.shutdown();
}

#[test]
fn json_body_over_the_body_limit_is_413() {
    let server = start(
        Serve::new()
            .options(test_options().limits(Limits {
                body_bytes_max: 32,
                ..Limits::default()
            }))
            .app(items_app()),
    );
    let addr = server.local_addr();
    let small = r#"{"name":"A","price":1}"#;
    assert!(small.len() <= 32);
    assert_eq!(post_json(addr, "/items/", small).status(), 200);
    let large = r#"{"name":"A much longer name than allowed","price":1}"#;
    assert!(large.len() > 32);
    // The engine's 413, whichever way the body is framed, and the connection is closed.
    let too_large = "HTTP/1.1 413 Payload Too Large\r\ndate: <date>\r\nx-request-id: <id>\r\n\
                     connection: close\r\ncontent-length: 17\r\n\
                     content-type: text/plain; charset=utf-8\r\n\r\nPayload Too Large";
    // Announced by content-length: refused before the handler runs.
    assert_eq!(post_json(addr, "/items/", large).redacted(), too_large);
    // Chunked, all at once.
    let pieces: Vec<&str> = large
        .as_bytes()
        .chunks(10)
        .map(|piece| std::str::from_utf8(piece).unwrap())
        .collect();
    let bytes = chunked_post("/items/", &pieces);
    assert_eq!(request(addr, &bytes).redacted(), too_large);
    // Chunked, the limit crossed while the Json extractor waits for the rest.
    let mut stream = connect(addr);
    let head_end = bytes
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .unwrap()
        + 4;
    let head_and_first = head_end + b"a\r\n".len() + 10 + 2;
    assert!(bytes[head_and_first..].starts_with(b"a\r\n"));
    stream.write_all(&bytes[..head_and_first]).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(50));
    stream.write_all(&bytes[head_and_first..]).unwrap();
    assert_eq!(read_response(&mut stream, false).redacted(), too_large);
    assert_closed(&mut stream);
    // The server still serves.
    assert_eq!(get(addr, "/items/1").status(), 200);
    server.shutdown();
}

// ---------------------------------------------------------------------------------------------
// 4. Query parameters
// ---------------------------------------------------------------------------------------------

fn default_limit() -> i64 {
    10
}

#[derive(Deserialize, Serialize, ToSchema)]
struct Search {
    q: String,
    #[serde(default = "default_limit")]
    limit: i64,
    sort: Option<String>,
    #[serde(default)]
    tag: Vec<String>,
}

async fn search(Query(search): Query<Search>) -> Json<Search> {
    Json(search)
}

fn search_app() -> Application {
    Application::try_new(|| Router::new().get("/search", search).build())
}

#[test]
fn query_struct_reads_present_absent_repeated_and_default_fields() {
    let server = start_app(search_app());
    let addr = server.local_addr();
    assert_eq!(
        get(addr, "/search?q=foo").redacted(),
        json_response(
            "HTTP/1.1 200 OK",
            r#"{"q":"foo","limit":10,"sort":null,"tag":[]}"#
        )
    );
    assert_eq!(
        get_json(addr, "/search?q=foo&limit=3&sort=price&tag=a&tag=b"),
        json!({"q": "foo", "limit": 3, "sort": "price", "tag": ["a", "b"]})
    );
    // Decoding (`+` and `%XX`), unknown names ignored, a repeated scalar takes the last value.
    assert_eq!(
        get_json(addr, "/search?q=hello+world%21&other=1&limit=1&limit=2"),
        json!({"q": "hello world!", "limit": 2, "sort": null, "tag": []})
    );
    server.shutdown();
}

#[test]
fn bad_and_missing_query_parameters_are_422_in_the_query() {
    let server = start_app(search_app());
    let addr = server.local_addr();
    assert_eq!(
        get(addr, "/search?q=foo&limit=ten").redacted(),
        unprocessable(
            r#"{"type":"int_parsing","loc":["query","limit"],"msg":"Input should be a valid integer, unable to parse string as an integer","input":"ten"}"#
        )
    );
    assert_eq!(
        get(addr, "/search").redacted(),
        unprocessable(
            r#"{"type":"missing","loc":["query","q"],"msg":"Field required","input":null}"#
        )
    );
    assert_eq!(
        get(addr, "/search?limit=5").redacted(),
        unprocessable(
            r#"{"type":"missing","loc":["query","q"],"msg":"Field required","input":null}"#
        )
    );
    server.shutdown();
}

// ---------------------------------------------------------------------------------------------
// 5. Headers
// ---------------------------------------------------------------------------------------------

#[derive(Deserialize, ToSchema)]
struct TokenHeaders {
    x_token: String,
    x_trace: Option<String>,
}

#[derive(Serialize, ToSchema)]
struct TokenEcho {
    token: String,
    trace: Option<String>,
}

async fn read_token(Header(headers): Header<TokenHeaders>) -> Json<TokenEcho> {
    Json(TokenEcho {
        token: headers.x_token,
        trace: headers.x_trace,
    })
}

#[test]
fn typed_headers_required_optional_and_case_insensitive() {
    let server = start_app(Application::try_new(|| {
        Router::new().get("/token", read_token).build()
    }));
    let addr = server.local_addr();
    assert_eq!(
        get_with(addr, "/token", "x-token: abc\r\n").redacted(),
        json_response("HTTP/1.1 200 OK", r#"{"token":"abc","trace":null}"#)
    );
    assert_eq!(
        get_with(addr, "/token", "X-TOKEN: abc\r\nX-Trace: t1\r\n").redacted(),
        json_response("HTTP/1.1 200 OK", r#"{"token":"abc","trace":"t1"}"#)
    );
    let missing = unprocessable(
        r#"{"type":"missing","loc":["header","x-token"],"msg":"Field required","input":null}"#,
    );
    assert_eq!(get(addr, "/token").redacted(), missing);
    assert_eq!(
        get_with(addr, "/token", "x-trace: only\r\n").redacted(),
        missing
    );
    // `_` in the sent name does not stand for `-` (Starlette/FastAPI convert only the field).
    assert_eq!(
        get_with(addr, "/token", "x_token: smuggled\r\n").redacted(),
        missing
    );
    server.shutdown();
}

// ---------------------------------------------------------------------------------------------
// 6. Several validation errors together
// ---------------------------------------------------------------------------------------------

#[derive(Deserialize, ToSchema)]
struct Page {
    #[serde(default)]
    limit: i64,
}

async fn user_items(
    Path(user_id): Path<i64>,
    Query(page): Query<Page>,
    Header(headers): Header<TokenHeaders>,
) -> String {
    format!("{user_id} {} {}", page.limit, headers.x_token)
}

#[test]
fn errors_of_several_extractors_are_one_422_in_argument_order() {
    let server = start_app(Application::try_new(|| {
        Router::new()
            .get("/users/{item_id}/items", user_items)
            .build()
    }));
    let addr = server.local_addr();
    assert_eq!(
        get_with(addr, "/users/7/items?limit=2", "x-token: t\r\n").body_text(),
        "7 2 t"
    );
    let bad_limit = r#"{"type":"int_parsing","loc":["query","limit"],"msg":"Input should be a valid integer, unable to parse string as an integer","input":"x"}"#;
    let missing_token =
        r#"{"type":"missing","loc":["header","x-token"],"msg":"Field required","input":null}"#;
    assert_eq!(
        get_with(addr, "/users/abc/items?limit=x", "x-token: t\r\n").redacted(),
        unprocessable(&format!("{INT_PARSING_ITEM_ID_ABC},{bad_limit}"))
    );
    assert_eq!(
        get(addr, "/users/abc/items?limit=x").redacted(),
        unprocessable(&format!(
            "{INT_PARSING_ITEM_ID_ABC},{bad_limit},{missing_token}"
        ))
    );
    assert_eq!(
        get(addr, "/users/1/items").redacted(),
        unprocessable(missing_token)
    );
    server.shutdown();
}

#[test]
fn head_errors_and_body_errors_are_answered_together() {
    async fn update(Path(item_id): Path<i64>, Json(item): Json<Item>) -> String {
        format!("{item_id} {}", item.name)
    }
    let server = start_app(Application::try_new(|| {
        Router::new().put("/items/{item_id}", update).build()
    }));
    let addr = server.local_addr();
    assert_eq!(
        send(
            addr,
            "PUT",
            "/items/3",
            "content-type: application/json\r\n",
            br#"{"name":"n","price":1}"#
        )
        .body_text(),
        "3 n"
    );
    assert_eq!(
        send(
            addr,
            "PUT",
            "/items/abc",
            "content-type: application/json\r\n",
            br#"{"name":"n"}"#
        )
        .redacted(),
        unprocessable(&format!(
            r#"{INT_PARSING_ITEM_ID_ABC},{{"type":"missing","loc":["body","price"],"msg":"Field required","input":{{"name":"n"}}}}"#
        ))
    );
    server.shutdown();
}

// ---------------------------------------------------------------------------------------------
// 7. Methods, 404, 405, HEAD, OPTIONS, trailing slashes
// ---------------------------------------------------------------------------------------------

#[test]
fn another_method_on_a_known_path_is_405_with_allow() {
    let server = start_app(items_app());
    let addr = server.local_addr();
    assert_eq!(
        send(addr, "DELETE", "/items/5", "", b"").redacted(),
        expected(
            "HTTP/1.1 405 Method Not Allowed",
            "allow: GET, HEAD, OPTIONS\r\ncontent-type: application/json\r\n",
            r#"{"detail":"Method Not Allowed"}"#
        )
    );
    assert_eq!(
        send(addr, "GET", "/items/", "", b"").redacted(),
        expected(
            "HTTP/1.1 405 Method Not Allowed",
            "allow: POST, OPTIONS\r\ncontent-type: application/json\r\n",
            r#"{"detail":"Method Not Allowed"}"#
        )
    );
    server.shutdown();
}

#[test]
fn head_is_served_by_the_get_route_without_a_body() {
    let server = start_app(items_app());
    let addr = server.local_addr();
    let mut stream = connect(addr);
    stream
        .write_all(b"HEAD /items/5 HTTP/1.1\r\nHost: test\r\n\r\n")
        .unwrap();
    let head = read_response(&mut stream, true);
    assert_eq!(
        head.redacted(),
        "HTTP/1.1 200 OK\r\ndate: <date>\r\nx-request-id: <id>\r\ncontent-length: 13\r\n\
         content-type: application/json\r\n\r\n"
    );
    // Nothing followed the head: the next response on the connection starts cleanly.
    stream
        .write_all(b"GET /items/5 HTTP/1.1\r\nHost: test\r\n\r\n")
        .unwrap();
    let got = read_response(&mut stream, false);
    assert_eq!(got.body_text(), r#"{"item_id":5}"#);
    assert_eq!(got.header("content-length"), Some("13"));
    server.shutdown();
}

#[test]
fn options_without_a_route_is_204_with_allow() {
    let server = start_app(items_app());
    let addr = server.local_addr();
    let response = send(addr, "OPTIONS", "/items/5", "", b"");
    assert_eq!(response.status_line, "HTTP/1.1 204 No Content");
    assert_eq!(response.header("allow"), Some("GET, HEAD, OPTIONS"));
    assert!(response.body.is_empty());
    assert_eq!(
        send(addr, "OPTIONS", "/items/", "", b"").header("allow"),
        Some("POST, OPTIONS")
    );
    server.shutdown();
}

#[test]
fn unknown_path_is_404_and_trailing_slash_twins_redirect_307() {
    let server = start_app(items_app());
    let addr = server.local_addr();
    assert_eq!(get(addr, "/nothing").redacted(), not_found());
    assert_eq!(get(addr, "/").redacted(), not_found());
    assert_eq!(
        get(addr, "/items").redacted(),
        "HTTP/1.1 307 Temporary Redirect\r\ndate: <date>\r\nx-request-id: <id>\r\n\
         content-length: 0\r\nlocation: /items/\r\n\r\n"
    );
    assert_eq!(
        get(addr, "/items?limit=1&q=a%20b").header("location"),
        Some("/items/?limit=1&q=a%20b")
    );
    // Whatever the method (FastAPI's redirect_slashes does not look at it).
    assert_eq!(
        post_json(addr, "/items", "{}").header("location"),
        Some("/items/")
    );
    // The other way round: a slash too many.
    let response = get(addr, "/items/5/");
    assert_eq!(response.status(), 307);
    assert_eq!(response.header("location"), Some("/items/5"));
    server.shutdown();
}

/// `Form<T>` reads URL-encoded form fields as FastAPI's `Form()` parameters: each a field of
/// `T`, its errors FastAPI's, located in the body; a body of another type has no fields.
#[test]
fn form_fields_are_read_and_refused_as_fastapi_does() {
    #[derive(Deserialize, ToSchema)]
    struct Login {
        username: String,
        age: u8,
        #[serde(default)]
        tags: Vec<String>,
        remember: Option<bool>,
    }
    async fn login(Form(login): Form<Login>) -> Json<Value> {
        Json(json!({
            "username": login.username,
            "age": login.age,
            "tags": login.tags,
            "remember": login.remember,
        }))
    }
    let server = start_app(Application::try_new(|| {
        Router::new().post("/login", login).build()
    }));
    let addr = server.local_addr();
    let form = |body: &str| {
        send(
            addr,
            "POST",
            "/login",
            "content-type: application/x-www-form-urlencoded\r\n",
            body.as_bytes(),
        )
    };
    assert_eq!(
        form("username=ann+lee&age=7&tags=a&tags=b%26c&remember=true").redacted(),
        json_response(
            "HTTP/1.1 200 OK",
            r#"{"age":7,"remember":true,"tags":["a","b&c"],"username":"ann lee"}"#
        )
    );
    assert_eq!(
        form("username=ann&age=old").redacted(),
        unprocessable(
            r#"{"type":"int_parsing","loc":["body","age"],"msg":"Input should be a valid integer, unable to parse string as an integer","input":"old"}"#
        )
    );
    assert_eq!(
        form("age=7").redacted(),
        unprocessable(
            r#"{"type":"missing","loc":["body","username"],"msg":"Field required","input":null}"#
        )
    );
    // The same fields sent as multipart (a browser form with files, `curl -F`): read alike; a
    // file field is no form value.
    let multipart = b"--f\r\nContent-Disposition: form-data; name=\"username\"\r\n\r\nann\r\n\
--f\r\nContent-Disposition: form-data; name=\"age\"\r\n\r\n7\r\n\
--f\r\nContent-Disposition: form-data; name=\"tags\"; filename=\"t.txt\"\r\n\r\nfile\r\n--f--\r\n";
    let response = send(
        addr,
        "POST",
        "/login",
        "content-type: multipart/form-data; boundary=f\r\n",
        multipart,
    );
    assert_eq!(
        response.body_text(),
        r#"{"age":7,"remember":null,"tags":[],"username":"ann"}"#
    );
    // JSON is not a form: its fields are not read, so the required ones are missing.
    let response = post_json(addr, "/login", r#"{"username":"ann","age":7}"#);
    assert_eq!(response.status(), 422, "{}", response.raw);
    let body: Value = serde_json::from_slice(&response.body).unwrap();
    assert_eq!(body["detail"][0]["type"], "missing");
    assert_eq!(body["detail"][0]["loc"], json!(["body", "username"]));

    let document = get_json(addr, "/openapi.json");
    let request_body = &document["paths"]["/login"]["post"]["requestBody"];
    assert_eq!(request_body["required"], true);
    assert_eq!(
        request_body["content"]["application/x-www-form-urlencoded"]["schema"]["$ref"],
        "#/components/schemas/Login"
    );
    server.shutdown();
}

/// `Multipart` reads a `multipart/form-data` body field by field, as FastAPI reads `File()`
/// and `Form()` parameters: each field's name, file name, content type and bytes; a body that
/// is not multipart has no fields; a malformed one is FastAPI's `400`; one past
/// `body_bytes_max` the engine's `413`.
#[test]
fn a_multipart_body_is_read_field_by_field() {
    async fn fields(mut form: Multipart) -> Result<Json<Value>, Rejection> {
        let mut seen = Vec::new();
        while let Some(field) = form.next_field().await? {
            let name = field.name().map(str::to_owned);
            let file_name = field.file_name().map(str::to_owned);
            let content_type = field.content_type().map(str::to_owned);
            let bytes = field.bytes().await?;
            seen.push(json!({
                "name": name,
                "file_name": file_name,
                "content_type": content_type,
                "size": bytes.len(),
                "text": String::from_utf8_lossy(&bytes),
            }));
        }
        Ok(Json(Value::Array(seen)))
    }
    let server = serve(
        test_options().limits(Limits {
            body_bytes_max: 4096,
            ..Limits::default()
        }),
        Application::try_new(|| Router::new().post("/fields", fields).build()),
    );
    let addr = server.local_addr();
    let multipart = |body: &[u8]| {
        send(
            addr,
            "POST",
            "/fields",
            "content-type: multipart/form-data; boundary=XyZ\r\n",
            body,
        )
    };
    let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n\
--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\n\
Content-Type: image/png\r\n\r\n\x89PNG\r\n--XyZ--\r\n";
    let response = multipart(body);
    assert_eq!(response.status(), 200, "{}", response.raw);
    let answer: Value = serde_json::from_slice(&response.body).unwrap();
    assert_eq!(
        answer,
        json!([
            {"name": "note", "file_name": null, "content_type": null, "size": 5, "text": "hello"},
            {"name": "file", "file_name": "a.png", "content_type": "image/png", "size": 4,
             "text": "\u{fffd}PNG"}
        ])
    );
    // Not multipart: no fields.
    assert_eq!(post_json(addr, "/fields", "{}").body_text(), "[]");
    // Multipart without a boundary cannot be split: Starlette's 400.
    let response = send(
        addr,
        "POST",
        "/fields",
        "content-type: multipart/form-data\r\n",
        b"--XyZ--\r\n",
    );
    assert_eq!(response.status(), 400, "{}", response.raw);
    // Malformed: FastAPI's 400.
    let response = multipart(b"--XyZ\r\nno headers end here");
    assert_eq!(response.status(), 400, "{}", response.raw);
    assert_eq!(
        response.body_text(),
        r#"{"detail":"There was an error parsing the body"}"#
    );
    // Past body_bytes_max: the engine's 413, before any field is read.
    let mut large = b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\n".to_vec();
    large.extend(std::iter::repeat_n(b'x', 8192));
    large.extend_from_slice(b"\r\n--XyZ--\r\n");
    assert_eq!(multipart(&large).status(), 413);
    server.shutdown();

    // Streamed to the handler (not read ahead): the fields arrive as the body does, and the
    // limit cuts the read inside a field, with the same 413.
    let server = serve(
        test_options().limits(Limits {
            body_bytes_max: 4096,
            ..Limits::default()
        }),
        Application::try_new(|| Router::new().post("/fields", fields).build())
            .buffer_request_body(false),
    );
    let addr = server.local_addr();
    let response = send(
        addr,
        "POST",
        "/fields",
        "content-type: multipart/form-data; boundary=XyZ\r\n",
        body,
    );
    assert_eq!(response.status(), 200, "{}", response.raw);
    let response = send(
        addr,
        "POST",
        "/fields",
        "content-type: multipart/form-data; boundary=XyZ\r\n",
        &large,
    );
    assert_eq!(response.status(), 413, "{}", response.raw);
    // Chunked, so no length announces it: the read fails inside the field, and the
    // connection answers with the body's own status (the handler is dropped, as for any body
    // that breaks a limit).
    let mut chunked = format!(
        "POST /fields HTTP/1.1\r\nHost: a\r\ncontent-type: multipart/form-data; boundary=XyZ\r\n\
         transfer-encoding: chunked\r\n\r\n{:x}\r\n",
        large.len()
    )
    .into_bytes();
    chunked.extend_from_slice(&large);
    chunked.extend_from_slice(b"\r\n0\r\n\r\n");
    let response = request(addr, &chunked);
    assert_eq!(response.status(), 413, "{}", response.raw);
    server.shutdown();
}

/// `Cookie<T>` reads cookies as FastAPI's `Cookie()` does — by exact name, errors at
/// `["cookie", name]`, documented as cookie parameters — and `SetCookie` writes them as
/// Starlette's `set_cookie` does.
#[test]
fn cookies_are_read_and_set_as_fastapi_does() {
    #[derive(Deserialize, ToSchema)]
    struct Session {
        session_id: String,
        visits: Option<u32>,
    }
    async fn whoami(Cookie(session): Cookie<Session>) -> Result<Response, HttpError> {
        let visits = session.visits.unwrap_or(0) + 1;
        let cookie = SetCookie::new("visits", visits.to_string()).http_only(true);
        Response::text(session.session_id)
            .with_cookie(&cookie)
            .and_then(|response| response.with_cookie(&SetCookie::removal("old")))
            .map_err(|error| HttpError::new(StatusCode::INTERNAL_SERVER_ERROR, error.to_string()))
    }
    let server = start_app(Application::try_new(|| {
        Router::new().get("/me", whoami).build()
    }));
    let addr = server.local_addr();
    let response = request(
        addr,
        b"GET /me HTTP/1.1\r\nHost: a\r\nCookie: theme=dark; session_id=\"abc 1\"; visits=2\r\n\r\n",
    );
    assert_eq!(
        response.redacted(),
        "HTTP/1.1 200 OK\r\ndate: <date>\r\nx-request-id: <id>\r\ncontent-length: 5\r\n\
         content-type: text/plain; charset=utf-8\r\n\
         set-cookie: visits=3; HttpOnly; Path=/; SameSite=lax\r\n\
         set-cookie: old=; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/; SameSite=lax\r\n\
         \r\nabc 1"
    );
    assert_eq!(
        request(
            addr,
            b"GET /me HTTP/1.1\r\nHost: a\r\nCookie: visits=2\r\n\r\n"
        )
        .redacted(),
        unprocessable(
            r#"{"type":"missing","loc":["cookie","session_id"],"msg":"Field required","input":null}"#
        )
    );
    assert_eq!(
        request(
            addr,
            b"GET /me HTTP/1.1\r\nHost: a\r\nCookie: session_id=x; visits=many\r\n\r\n"
        )
        .redacted(),
        unprocessable(
            r#"{"type":"int_parsing","loc":["cookie","visits"],"msg":"Input should be a valid integer, unable to parse string as an integer","input":"many"}"#
        )
    );
    let document = get_json(addr, "/openapi.json");
    let mut parameters: Vec<(String, String, bool)> = document["paths"]["/me"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|parameter| {
            (
                parameter["name"].as_str().unwrap().to_owned(),
                parameter["in"].as_str().unwrap().to_owned(),
                parameter["required"].as_bool().unwrap(),
            )
        })
        .collect();
    parameters.sort();
    assert_eq!(
        parameters,
        [
            ("session_id".to_owned(), "cookie".to_owned(), true),
            ("visits".to_owned(), "cookie".to_owned(), false)
        ]
    );
    server.shutdown();
}

/// FastAPI runs a dependency once per request however many parameters (and sub-dependencies
/// and groups) take it: so does `Depends<D>`; a bare `D` runs each time
/// (`use_cache=False`). A failed one is reported once and the handler does not run.
#[test]
fn a_dependency_taken_as_depends_runs_once_per_request() {
    thread_local! {
        static RUNS: Cell<u32> = const { Cell::new(0) };
    }
    #[derive(Clone)]
    struct Counted(u32);
    impl<S> FromRequestParts<S> for Counted {
        async fn from_request_parts(parts: &RequestParts<'_, S>) -> Result<Self, Rejection> {
            if parts.request().header("x-fail").is_some() {
                return Err(ErrorDetail::missing(Location::Header, "x-token").into());
            }
            RUNS.with(|runs| runs.set(runs.get() + 1));
            Ok(Counted(RUNS.with(Cell::get)))
        }
    }
    /// A sub-dependency that takes the same dependency.
    struct Nested(u32);
    impl<S> FromRequestParts<S> for Nested {
        async fn from_request_parts(parts: &RequestParts<'_, S>) -> Result<Self, Rejection> {
            let Depends(counted) = Depends::<Counted>::from_request_parts(parts).await?;
            Ok(Nested(counted.0))
        }
    }
    async fn cached(
        Depends(first): Depends<Counted>,
        Nested(nested): Nested,
        Depends(last): Depends<Counted>,
    ) -> String {
        format!(
            "{} {nested} {} runs={}",
            first.0,
            last.0,
            RUNS.with(Cell::get)
        )
    }
    async fn uncached(first: Counted, second: Counted) -> String {
        format!("{} {}", first.0, second.0)
    }
    let server = start_app(Application::try_new(|| {
        let group = Router::new()
            .depends_on::<Depends<Counted>>()
            .get("/cached", cached);
        Router::new()
            .merge(group)
            .get("/uncached", uncached)
            .build()
    }));
    let addr = server.local_addr();
    // The group's, the first argument's, the sub-dependency's and the last argument's: one run.
    assert_eq!(get(addr, "/cached").body_text(), "1 1 1 runs=1");
    // A new request runs it again, once.
    assert_eq!(get(addr, "/cached").body_text(), "2 2 2 runs=2");
    assert_eq!(get(addr, "/uncached").body_text(), "3 4");
    // Failed: one error, not one per taker.
    assert_eq!(
        request(
            addr,
            b"GET /cached HTTP/1.1\r\nHost: a\r\nx-fail: 1\r\n\r\n"
        )
        .redacted(),
        unprocessable(
            r#"{"type":"missing","loc":["header","x-token"],"msg":"Field required","input":null}"#
        )
    );
    server.shutdown();
}

/// FastAPI's `BackgroundTasks`: the client has its answer before the tasks run; they run in
/// order, on the handler's shard; one that panics is logged and the others still run.
#[test]
fn background_tasks_run_after_the_answer_in_order() {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, Ordering};
    static DONE: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());
    /// Set by the test once it holds the answer.
    static ANSWERED: AtomicBool = AtomicBool::new(false);
    async fn notify() -> Background<Json<Value>> {
        let mut tasks = BackgroundTasks::new();
        tasks.add(async {
            // Had the answer waited for this task, the flag could never be seen set.
            for _ in 0..1000 {
                if ANSWERED.load(Ordering::SeqCst) {
                    DONE.lock().unwrap().push("first, after the answer");
                    return;
                }
                ringserve::rt::sleep(std::time::Duration::from_millis(5)).await;
            }
            DONE.lock().unwrap().push("first, never answered");
        });
        tasks.add(async { panic!("a task that fails") });
        tasks.add(async { DONE.lock().unwrap().push("second") });
        tasks.after(Json(
            json!({"message": "Notification sent in the background"}),
        ))
    }
    let server = start_app(Application::try_new(|| {
        Router::new().post("/notify", notify).build()
    }));
    let addr = server.local_addr();
    let response = send(addr, "POST", "/notify", "", b"");
    assert_eq!(
        response.body_text(),
        r#"{"message":"Notification sent in the background"}"#
    );
    ANSWERED.store(true, Ordering::SeqCst);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while DONE.lock().unwrap().len() < 2 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(*DONE.lock().unwrap(), ["first, after the answer", "second"]);
    // The shard serves on after the panic.
    assert_eq!(send(addr, "POST", "/notify", "", b"").status(), 200);
    server.shutdown();
}

/// The code after a FastAPI dependency's `yield` is a `Teardown` in the dependency's value: it
/// runs once the handler has answered, when it failed, when validation refused the request,
/// and when the client left and the handler was dropped.
#[test]
fn a_dependencys_teardown_runs_on_success_error_and_client_departure() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static OPENED: AtomicUsize = AtomicUsize::new(0);
    static CLOSED: AtomicUsize = AtomicUsize::new(0);
    struct Session {
        _closed: Teardown,
    }
    impl<S> FromRequestParts<S> for Session {
        async fn from_request_parts(_parts: &RequestParts<'_, S>) -> Result<Self, Rejection> {
            OPENED.fetch_add(1, Ordering::SeqCst);
            Ok(Session {
                _closed: Teardown::new(|| {
                    CLOSED.fetch_add(1, Ordering::SeqCst);
                }),
            })
        }
    }
    async fn ok(_session: Session) -> &'static str {
        "ok"
    }
    async fn fails(_session: Session) -> Result<&'static str, HttpError> {
        Err(HttpError::new(StatusCode::BAD_REQUEST, "no"))
    }
    async fn validated(_session: Session, Path(_id): Path<i64>) -> &'static str {
        "never"
    }
    async fn slow(_session: Session) -> &'static str {
        ringserve::rt::sleep(std::time::Duration::from_secs(30)).await;
        "late"
    }
    let server = start_app(Application::try_new(|| {
        Router::new()
            .get("/ok", ok)
            .get("/fails", fails)
            .get("/items/{id}", validated)
            .get("/slow", slow)
            .build()
    }));
    let addr = server.local_addr();
    let closed_after = |count: usize| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while CLOSED.load(Ordering::SeqCst) < count && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        CLOSED.load(Ordering::SeqCst)
    };
    assert_eq!(get(addr, "/ok").body_text(), "ok");
    assert_eq!(closed_after(1), 1);
    assert_eq!(get(addr, "/fails").status(), 400);
    assert_eq!(closed_after(2), 2);
    assert_eq!(get(addr, "/items/abc").status(), 422);
    assert_eq!(closed_after(3), 3);
    // The client leaves while the handler waits: the handler is dropped, and its session
    // closed with it.
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .write_all(b"GET /slow HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    while OPENED.load(Ordering::SeqCst) < 4 {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    drop(stream);
    assert_eq!(
        closed_after(4),
        4,
        "the session of a departed client was not closed"
    );
    assert_eq!(OPENED.load(Ordering::SeqCst), 4);
    server.shutdown();
}

/// A request handed to another deployment through its handle takes nothing of what the
/// caller's dependencies remembered: the callee's `Depends<D>` runs `D` again, against its
/// own state, as a separate FastAPI app would.
#[test]
fn a_deployment_called_through_a_handle_runs_its_own_dependencies() {
    thread_local! {
        static RUNS: Cell<u32> = const { Cell::new(0) };
    }
    #[derive(Clone)]
    struct Run(u32);
    impl<S> FromRequestParts<S> for Run {
        async fn from_request_parts(_parts: &RequestParts<'_, S>) -> Result<Self, Rejection> {
            RUNS.with(|runs| runs.set(runs.get() + 1));
            Ok(Run(RUNS.with(Cell::get)))
        }
    }
    async fn inner(Depends(run): Depends<Run>) -> String {
        format!("inner saw run {}", run.0)
    }
    async fn front(
        State(inner): State<ringserve::DeploymentHandle>,
        Depends(run): Depends<Run>,
        request: Request,
    ) -> Response {
        let answer = inner.call(request).await;
        let text = String::from_utf8_lossy(answer.body_bytes().unwrap()).into_owned();
        Response::text(format!("front saw run {}; {text}", run.0))
    }
    let inner_app = Application::try_new(|| Router::new().get("/", inner).build()).name("inner");
    let handle = inner_app.handle();
    let server = start_app(
        Application::try_new(move || {
            Router::new()
                .get("/", front)
                .build_with_state(handle.clone())
        })
        .name("front")
        .deployment(inner_app),
    );
    assert_eq!(
        get(server.local_addr(), "/").body_text(),
        "front saw run 1; inner saw run 2"
    );
    server.shutdown();
}

/// FastAPI's `status_code=201` is `Status<201, T>`: answered and documented under its code;
/// `responses={404: {"description": …}}` is `responds_with`. Both as FastAPI documents them.
#[test]
fn a_routes_status_and_declared_answers_are_documented() {
    async fn create(Json(item): Json<Item>) -> Status<201, Json<Item>> {
        Status(Json(item))
    }
    async fn remove(Path(_id): Path<i64>) -> Status<204, ()> {
        Status(())
    }
    /// FastAPI's `status_code=` is for success: an `HTTPException` keeps its own status.
    async fn maybe(Path(id): Path<i64>) -> Result<Status<201, Json<Value>>, HttpError> {
        match id {
            1 => Ok(Status(Json(json!({"id": 1})))),
            _ => Err(HttpError::new(StatusCode::NOT_FOUND, "Item not found")),
        }
    }
    let server = start_app(Application::try_new(|| {
        Router::new()
            .post("/items/", create)
            .delete("/items/{id}", remove)
            .responds_with(StatusCode::NOT_FOUND, "Item not found")
            .responds_with(StatusCode::FORBIDDEN, "Not yours")
            .put("/maybe/{id}", maybe)
            .build()
    }));
    let addr = server.local_addr();
    let created = post_json(addr, "/items/", r#"{"name":"a","price":1.5}"#);
    assert_eq!(created.status_line, "HTTP/1.1 201 Created");
    assert_eq!(
        created.body_text(),
        r#"{"name":"a","description":null,"price":1.5,"tax":null}"#
    );
    let removed = send(addr, "DELETE", "/items/3", "", b"");
    assert_eq!(removed.status_line, "HTTP/1.1 204 No Content");
    assert!(removed.body.is_empty());

    let document = get_json(addr, "/openapi.json");
    let create_responses = &document["paths"]["/items/"]["post"]["responses"];
    assert_eq!(
        create_responses["201"],
        json!({"description": "Successful Response", "content": {"application/json":
            {"schema": {"$ref": "#/components/schemas/Item"}}}})
    );
    assert!(create_responses.get("200").is_none(), "{create_responses}");
    assert!(create_responses["422"].is_object());
    let remove_responses = &document["paths"]["/items/{id}"]["delete"]["responses"];
    assert_eq!(
        remove_responses["204"],
        json!({"description": "Successful Response"})
    );
    assert_eq!(
        remove_responses["404"],
        json!({"description": "Item not found"})
    );
    assert_eq!(remove_responses["403"], json!({"description": "Not yours"}));
    assert_eq!(send(addr, "PUT", "/maybe/1", "", b"").status(), 201);
    let missing = send(addr, "PUT", "/maybe/2", "", b"");
    assert_eq!(missing.status(), 404);
    assert_eq!(missing.body_text(), r#"{"detail":"Item not found"}"#);
    let maybe_responses = document["paths"]["/maybe/{id}"]["put"]["responses"]
        .as_object()
        .unwrap();
    let mut documented: Vec<&str> = maybe_responses.keys().map(String::as_str).collect();
    documented.sort_unstable();
    assert_eq!(
        documented,
        ["201", "422"],
        "no second success from the error type"
    );
    server.shutdown();

    // Nothing to document yet: refused when built.
    assert_eq!(
        build_error(Router::new().responds_with(StatusCode::NOT_FOUND, "x")),
        RouteError::NoRouteToDocument {
            status: StatusCode::NOT_FOUND
        }
    );
}

/// Behind a proxy that mounts the server at `root_path` and removes it (Ray Serve's and
/// FastAPI's `root_path`), the ingress routes the path as received and puts the root path
/// where URLs are made: the OpenAPI document's `servers` and the trailing-slash redirect. The
/// docs pages load the document relatively, so they follow wherever they were served from.
#[test]
fn under_a_root_path_urls_name_it_and_routes_do_not() {
    for strip in [false, true] {
        let server = serve(
            test_options().root_path("/root").strip_root_path(strip),
            items_app().route_prefix("/api"),
        );
        let addr = server.local_addr();
        let root = if strip { "/root" } else { "" };
        let document = get_json(addr, &format!("{root}/api/openapi.json"));
        assert_eq!(
            document["servers"],
            json!([{"url": "/root/api"}]),
            "strip {strip}"
        );
        assert!(document["paths"]["/items/{item_id}"].is_object());
        let response = get(addr, &format!("{root}/api/items?x=1"));
        assert_eq!(response.status(), 307, "{}", response.raw);
        assert_eq!(response.header("location"), Some("/root/api/items/?x=1"));
        let docs = get(addr, &format!("{root}/api/docs")).body_text();
        assert!(docs.contains("url: './openapi.json'"), "{docs}");
        // The other form is not this server's URL space.
        let other = if strip {
            "/api/items/5"
        } else {
            "/root/api/items/5"
        };
        assert_eq!(get(addr, other).status(), 404, "strip {strip}");
        server.shutdown();
    }
    // An application at `/` under a root path: the server is the root path itself.
    let server = serve(test_options().root_path("/root"), items_app());
    let document = get_json(server.local_addr(), "/openapi.json");
    assert_eq!(document["servers"], json!([{"url": "/root"}]));
    server.shutdown();
}

#[test]
fn trailing_slash_redirect_keeps_the_route_prefix_and_the_query() {
    let server = start_app(items_app().route_prefix("/api"));
    let addr = server.local_addr();
    let response = get(addr, "/api/items?x=1");
    assert_eq!(response.status_line, "HTTP/1.1 307 Temporary Redirect");
    assert_eq!(response.header("location"), Some("/api/items/?x=1"));
    assert_eq!(
        get(addr, "/api/items").header("location"),
        Some("/api/items/")
    );
    server.shutdown();
}

// ---------------------------------------------------------------------------------------------
// 8. Route errors, found when the router is built
// ---------------------------------------------------------------------------------------------

async fn plain() -> &'static str {
    "plain"
}

fn build_error(router: Router) -> RouteError {
    match router.build() {
        Ok(_) => panic!("the router should not build"),
        Err(error) => error,
    }
}

#[test]
fn conflicting_duplicate_and_bad_templates_are_errors_naming_the_route() {
    let error = build_error(Router::new().get("/a/{x}", plain).get("/a/{y}", plain));
    let RouteError::InvalidTemplate { template, reason } = &error else {
        panic!("expected InvalidTemplate, got {error:?}");
    };
    assert_eq!(template, "/a/{y}");
    assert!(reason.contains("/a/{x}"), "{reason}");
    assert!(
        error.to_string().starts_with("route \"/a/{y}\": "),
        "{error}"
    );

    assert_eq!(
        build_error(
            Router::new()
                .get("/a", plain)
                .post("/a", plain)
                .get("/a", plain)
        ),
        RouteError::Duplicate {
            method: ringserve::Method::GET,
            template: "/a".to_owned()
        }
    );
    assert!(matches!(
        build_error(Router::new().get("items", plain)),
        RouteError::InvalidTemplate { template, .. } if template == "items"
    ));
    assert!(matches!(
        build_error(Router::new().get("/a/{x", plain)),
        RouteError::InvalidTemplate { template, .. } if template == "/a/{x"
    ));
    assert_eq!(
        build_error(Router::new().get("/openapi.json", plain)),
        RouteError::Reserved {
            template: "/openapi.json".to_owned()
        }
    );
    assert_eq!(
        build_error(Router::new().post("/docs", plain)),
        RouteError::Reserved {
            template: "/docs".to_owned()
        }
    );
    // Without docs the paths are free; nested routes are checked like the others.
    assert!(
        Router::new()
            .without_docs()
            .get("/openapi.json", plain)
            .build()
            .is_ok()
    );
    assert_eq!(
        build_error(
            Router::new()
                .get("/admin/stats", plain)
                .nest("/admin", Router::new().get("/stats", plain))
        ),
        RouteError::Duplicate {
            method: ringserve::Method::GET,
            template: "/admin/stats".to_owned()
        }
    );
}

#[test]
fn a_router_that_fails_to_build_stops_the_server_naming_the_application() {
    let port = free_port();
    let result = Serve::new()
        .options(test_options().port(port))
        .app(
            Application::try_new(|| {
                Router::new()
                    .get("/a/{x}", plain)
                    .get("/a/{y}", plain)
                    .build()
            })
            .name("broken"),
        )
        .start();
    let error = result.expect_err("Serve::start should fail").to_string();
    assert!(error.contains("\"broken\""), "{error}");
    assert!(error.contains("route \"/a/{y}\""), "{error}");
    // Nothing was left listening.
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
}

// ---------------------------------------------------------------------------------------------
// 9. Dependencies
// ---------------------------------------------------------------------------------------------

/// Requires `authorization: Bearer secret`, FastAPI's `HTTPException(401, headers=...)` style.
struct Bearer;

impl<S> FromRequestParts<S> for Bearer {
    async fn from_request_parts(parts: &RequestParts<'_, S>) -> Result<Self, Rejection> {
        match parts.request().header("authorization") {
            Some(b"Bearer secret") => Ok(Bearer),
            _ => Err(HttpError::new(StatusCode::UNAUTHORIZED, "Invalid token")
                .with_header(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"))
                .into()),
        }
    }
}

#[derive(Deserialize, ToSchema)]
struct XToken {
    x_token: String,
}

/// A dependency composed of another extractor: a missing header is a 422, a wrong one a 403.
struct TokenChecked;

impl<S> FromRequestParts<S> for TokenChecked {
    async fn from_request_parts(parts: &RequestParts<'_, S>) -> Result<Self, Rejection> {
        let Header(XToken { x_token }) = Header::<XToken>::from_request_parts(parts).await?;
        if x_token == "fake-super-secret-token" {
            Ok(TokenChecked)
        } else {
            Err(HttpError::new(StatusCode::FORBIDDEN, "X-Token header invalid").into())
        }
    }
}

/// How many times handlers ran, per replica.
type Calls = Rc<Cell<u32>>;

async fn counted(State(calls): State<Calls>) -> String {
    calls.set(calls.get() + 1);
    format!("ran {}", calls.get())
}

async fn counted_with_bearer(State(calls): State<Calls>, _auth: Bearer) -> String {
    calls.set(calls.get() + 1);
    format!("ran {}", calls.get())
}

async fn counted_item(State(calls): State<Calls>, Path(item_id): Path<i64>) -> String {
    calls.set(calls.get() + 1);
    format!("item {item_id}")
}

async fn calls(State(calls): State<Calls>) -> String {
    calls.get().to_string()
}

fn dependencies_app() -> Application {
    Application::try_new(|| {
        let admin = Router::new()
            .depends_on::<Bearer>()
            .get("/stats", counted)
            .get("/items/{item_id}", counted_item);
        let protected = Router::new()
            .depends_on::<Bearer>()
            .get("/protected", counted);
        let tokened = Router::new()
            .depends_on::<TokenChecked>()
            .get("/tokened", counted);
        Router::new()
            .get("/public", counted)
            .get("/me", counted_with_bearer)
            .get("/calls", calls)
            .merge(protected)
            .merge(tokened)
            .nest("/admin", admin)
            .build_with_state(Calls::default())
    })
}

fn unauthorized() -> String {
    expected(
        "HTTP/1.1 401 Unauthorized",
        "content-type: application/json\r\nwww-authenticate: Bearer\r\n",
        r#"{"detail":"Invalid token"}"#,
    )
}

const BEARER: &str = "authorization: Bearer secret\r\n";

#[test]
fn a_rejecting_dependency_answers_401_and_the_handler_does_not_run() {
    let server = start_app(dependencies_app());
    let addr = server.local_addr();
    // As a handler argument.
    assert_eq!(get(addr, "/me").redacted(), unauthorized());
    assert_eq!(
        get_with(addr, "/me", "authorization: Bearer wrong\r\n").redacted(),
        unauthorized()
    );
    assert_eq!(get(addr, "/calls").body_text(), "0");
    assert_eq!(get_with(addr, "/me", BEARER).body_text(), "ran 1");
    assert_eq!(get(addr, "/calls").body_text(), "1");
    server.shutdown();
}

#[test]
fn a_group_dependency_applies_to_every_route_of_the_group_merged_or_nested_and_no_other() {
    let server = start_app(dependencies_app());
    let addr = server.local_addr();
    for path in ["/protected", "/admin/stats", "/admin/items/3"] {
        assert_eq!(get(addr, path).redacted(), unauthorized(), "GET {path}");
    }
    assert_eq!(get(addr, "/calls").body_text(), "0");
    assert_eq!(get_with(addr, "/protected", BEARER).body_text(), "ran 1");
    assert_eq!(get_with(addr, "/admin/stats", BEARER).body_text(), "ran 2");
    assert_eq!(
        get_with(addr, "/admin/items/3", BEARER).body_text(),
        "item 3"
    );
    // Not on the routes outside the group.
    assert_eq!(get(addr, "/public").body_text(), "ran 4");
    // Not under the nest prefix without the nest.
    assert_eq!(get(addr, "/stats").redacted(), not_found());
    server.shutdown();
}

#[test]
fn a_dependency_composed_of_a_header_reports_its_422_and_its_own_rejection() {
    let server = start_app(dependencies_app());
    let addr = server.local_addr();
    assert_eq!(
        get(addr, "/tokened").redacted(),
        unprocessable(
            r#"{"type":"missing","loc":["header","x-token"],"msg":"Field required","input":null}"#
        )
    );
    assert_eq!(
        get_with(addr, "/tokened", "x-token: nope\r\n").redacted(),
        json_response(
            "HTTP/1.1 403 Forbidden",
            r#"{"detail":"X-Token header invalid"}"#
        )
    );
    assert_eq!(get(addr, "/calls").body_text(), "0");
    assert_eq!(
        get_with(addr, "/tokened", "x-token: fake-super-secret-token\r\n").body_text(),
        "ran 1"
    );
    server.shutdown();
}

#[test]
fn a_rejecting_dependency_answers_before_validation_errors_of_the_arguments() {
    // FastAPI solves dependencies before the endpoint's own parameters: an HTTPException from
    // one is raised at once, whatever the parameters hold.
    let server = start_app(dependencies_app());
    let addr = server.local_addr();
    assert_eq!(get(addr, "/admin/items/abc").redacted(), unauthorized());
    // With the dependency satisfied, the path's error is the answer.
    assert_eq!(
        get_with(addr, "/admin/items/abc", BEARER).redacted(),
        unprocessable(INT_PARSING_ITEM_ID_ABC)
    );
    assert_eq!(get(addr, "/calls").body_text(), "0");
    server.shutdown();
}

#[test]
fn a_dependencys_validation_error_joins_the_handlers_in_one_422() {
    let server = start_app(Application::try_new(|| {
        Router::new()
            .nest(
                "/t",
                Router::new()
                    .depends_on::<TokenChecked>()
                    .get("/items/{item_id}", read_item),
            )
            .build()
    }));
    let addr = server.local_addr();
    assert_eq!(
        get(addr, "/t/items/abc").redacted(),
        unprocessable(&format!(
            r#"{{"type":"missing","loc":["header","x-token"],"msg":"Field required","input":null}},{INT_PARSING_ITEM_ID_ABC}"#
        ))
    );
    assert_eq!(
        get_with(addr, "/t/items/4", "x-token: fake-super-secret-token\r\n").body_text(),
        r#"{"item_id":4}"#
    );
    server.shutdown();
}

// ---------------------------------------------------------------------------------------------
// 10. HttpError from a handler
// ---------------------------------------------------------------------------------------------

async fn find_item(Path(item_id): Path<i64>) -> Result<Json<ItemId>, HttpError> {
    match item_id {
        404 => Err(HttpError::from_status(StatusCode::NOT_FOUND)),
        409 => Err(
            HttpError::new(StatusCode::CONFLICT, json!({"item_id": item_id}))
                .with_header(header::RETRY_AFTER, HeaderValue::from_static("3"))
                .with_header(
                    header::HeaderName::from_static("x-error"),
                    HeaderValue::from_static("conflict"),
                ),
        ),
        _ => Ok(Json(ItemId { item_id })),
    }
}

#[test]
fn http_error_from_a_handler_is_fastapis_http_exception() {
    let server = start_app(Application::try_new(|| {
        Router::new().get("/items/{item_id}", find_item).build()
    }));
    let addr = server.local_addr();
    assert_eq!(
        get(addr, "/items/1").redacted(),
        json_response("HTTP/1.1 200 OK", r#"{"item_id":1}"#)
    );
    assert_eq!(get(addr, "/items/404").redacted(), not_found());
    assert_eq!(
        get(addr, "/items/409").redacted(),
        expected(
            "HTTP/1.1 409 Conflict",
            "content-type: application/json\r\nretry-after: 3\r\nx-error: conflict\r\n",
            r#"{"detail":{"item_id":409}}"#
        )
    );
    server.shutdown();
}

// ---------------------------------------------------------------------------------------------
// 11. Responses
// ---------------------------------------------------------------------------------------------

async fn static_text() -> &'static str {
    "static"
}

async fn owned_text(Path(name): Path<String>) -> String {
    format!("hello {name}")
}

async fn created() -> (StatusCode, Json<ItemId>) {
    (StatusCode::CREATED, Json(ItemId { item_id: 7 }))
}

async fn moved() -> ([(header::HeaderName, HeaderValue); 1], &'static str) {
    (
        [(header::LOCATION, HeaderValue::from_static("/x"))],
        "moved",
    )
}

async fn accepted() -> StatusCode {
    StatusCode::ACCEPTED
}

async fn streamed() -> Response {
    let chunks = ["one ", "two ", "three"].map(|chunk| Ok::<_, Infallible>(Bytes::from(chunk)));
    Response::stream(ringserve::rt::stream::iter(chunks)).with_header(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    )
}

fn responses_app() -> Application {
    Application::try_new(|| {
        Router::new()
            .get("/static", static_text)
            .get("/hello/{name}", owned_text)
            .post("/created", created)
            .get("/moved", moved)
            .get("/accepted", accepted)
            .get("/stream", streamed)
            .build()
    })
}

#[test]
fn text_status_and_header_tuples_become_responses() {
    let server = start_app(responses_app());
    let addr = server.local_addr();
    assert_eq!(
        get(addr, "/static").redacted(),
        expected("HTTP/1.1 200 OK", TEXT_PLAIN, "static")
    );
    assert_eq!(
        get(addr, "/hello/w%C3%B6rld").redacted(),
        expected("HTTP/1.1 200 OK", TEXT_PLAIN, "hello wörld")
    );
    assert_eq!(
        send(addr, "POST", "/created", "", b"").redacted(),
        json_response("HTTP/1.1 201 Created", r#"{"item_id":7}"#)
    );
    assert_eq!(
        get(addr, "/moved").redacted(),
        expected(
            "HTTP/1.1 200 OK",
            "content-type: text/plain; charset=utf-8\r\nlocation: /x\r\n",
            "moved"
        )
    );
    assert_eq!(
        get(addr, "/accepted").redacted(),
        expected("HTTP/1.1 202 Accepted", "", "")
    );
    server.shutdown();
}

#[test]
fn the_engines_streamed_response_passes_through_chunked() {
    let server = start_app(responses_app());
    let raw = exchange_until_close(
        server.local_addr(),
        b"GET /stream HTTP/1.1\r\nHost: test\r\nconnection: close\r\n\r\n",
    );
    assert_eq!(
        redact(&raw),
        "HTTP/1.1 200 OK\r\ndate: <date>\r\nx-request-id: <id>\r\nconnection: close\r\n\
         transfer-encoding: chunked\r\ncontent-type: text/plain; charset=utf-8\r\n\r\n\
         4\r\none \r\n4\r\ntwo \r\n5\r\nthree\r\n0\r\n\r\n"
    );
    server.shutdown();
}

// ---------------------------------------------------------------------------------------------
// 12. Raw body extractors
// ---------------------------------------------------------------------------------------------

async fn echo_bytes(body: Bytes) -> Bytes {
    body
}

async fn echo_text(body: String) -> String {
    format!("{} chars: {body}", body.chars().count())
}

async fn whole_request(Path(item_id): Path<i64>, mut request: Request) -> String {
    let method = request.method().clone();
    match request.body().await {
        Ok(body) => format!("{item_id} {method} {}", String::from_utf8_lossy(&body)),
        Err(error) => format!("body error: {error}"),
    }
}

#[test]
fn bytes_string_and_request_extractors_read_the_body() {
    let server = start_app(Application::try_new(|| {
        Router::new()
            .post("/bytes", echo_bytes)
            .post("/text", echo_text)
            .post("/raw/{item_id}", whole_request)
            .build()
    }));
    let addr = server.local_addr();
    let binary = [0u8, 159, 146, 150, 255];
    let response = send(addr, "POST", "/bytes", "", binary.as_slice());
    assert_eq!(response.status_line, "HTTP/1.1 200 OK");
    assert_eq!(
        response.header("content-type"),
        Some("application/octet-stream")
    );
    assert_eq!(response.body, binary);
    assert_eq!(
        send(addr, "POST", "/text", "", "héllo".as_bytes()).redacted(),
        expected("HTTP/1.1 200 OK", TEXT_PLAIN, "5 chars: héllo")
    );
    assert_eq!(
        send(addr, "POST", "/text", "", binary.as_slice()).redacted(),
        unprocessable(
            r#"{"type":"string_unicode","loc":["body"],"msg":"Input should be a valid string, unable to parse raw data as a unicode string","input":null}"#
        )
    );
    assert_eq!(
        send(addr, "POST", "/raw/9", "", b"payload").redacted(),
        expected("HTTP/1.1 200 OK", TEXT_PLAIN, "9 POST payload")
    );
    // The head extractor before it still validates.
    assert_eq!(
        send(addr, "POST", "/raw/abc", "", b"payload").redacted(),
        unprocessable(INT_PARSING_ITEM_ID_ABC)
    );
    server.shutdown();
}

// ---------------------------------------------------------------------------------------------
// 13. OpenAPI and docs
// ---------------------------------------------------------------------------------------------

#[test]
fn openapi_document_describes_routes_parameters_bodies_and_errors() {
    let server = start_app(Application::try_new(|| {
        items_router().get("/search", search).title("Items").build()
    }));
    let addr = server.local_addr();
    let response = get(addr, "/openapi.json");
    assert_eq!(response.status_line, "HTTP/1.1 200 OK");
    assert_eq!(response.header("content-type"), Some("application/json"));
    let document: Value = serde_json::from_slice(&response.body).expect("JSON");
    assert_eq!(document["openapi"], "3.1.0");
    assert_eq!(document["info"]["title"], "Items");
    assert!(document.get("servers").is_none(), "{}", document["servers"]);

    let paths = document["paths"].as_object().unwrap();
    let mut names: Vec<&str> = paths.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        ["/items/", "/items/{item_id}", "/names/{name}", "/search"]
    );
    let methods = |path: &str| -> Vec<String> {
        let mut methods: Vec<String> = paths[path].as_object().unwrap().keys().cloned().collect();
        methods.sort();
        methods
    };
    assert_eq!(methods("/items/{item_id}"), ["get"]);
    assert_eq!(methods("/items/"), ["post"]);

    let read = &paths["/items/{item_id}"]["get"];
    let parameters = read["parameters"].as_array().unwrap();
    assert_eq!(parameters.len(), 1, "{parameters:?}");
    assert_eq!(parameters[0]["name"], "item_id");
    assert_eq!(parameters[0]["in"], "path");
    assert_eq!(parameters[0]["required"], true);
    assert_eq!(parameters[0]["schema"]["type"], "integer");
    assert_eq!(
        read["responses"]["422"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/HTTPValidationError"
    );
    assert_eq!(
        read["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/ItemId"
    );

    let create = &paths["/items/"]["post"];
    assert_eq!(create["requestBody"]["required"], true);
    assert_eq!(
        create["requestBody"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/Item"
    );
    assert!(create["responses"]["422"].is_object());

    let query: Vec<(&str, bool)> = paths["/search"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|parameter| {
            assert_eq!(parameter["in"], "query");
            (
                parameter["name"].as_str().unwrap(),
                parameter["required"].as_bool().unwrap(),
            )
        })
        .collect();
    assert!(query.contains(&("q", true)), "{query:?}");
    assert!(query.contains(&("limit", false)), "{query:?}");
    assert!(query.contains(&("sort", false)), "{query:?}");

    let schemas = document["components"]["schemas"].as_object().unwrap();
    for name in ["Item", "HTTPValidationError", "ValidationError"] {
        assert!(
            schemas.contains_key(name),
            "no {name} in {:?}",
            schemas.keys()
        );
    }
    let item = &schemas["Item"];
    assert_eq!(item["type"], "object");
    let mut required: Vec<&str> = item["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|name| name.as_str().unwrap())
        .collect();
    required.sort_unstable();
    assert_eq!(required, ["name", "price"]);
    assert_eq!(
        schemas["HTTPValidationError"]["properties"]["detail"]["items"]["$ref"],
        "#/components/schemas/ValidationError"
    );
    server.shutdown();
}

#[test]
fn under_a_prefix_the_document_names_its_server_and_docs_load_it_relatively() {
    let server = start_app(items_app().route_prefix("/api"));
    let addr = server.local_addr();
    let document = get_json(addr, "/api/openapi.json");
    assert_eq!(document["servers"][0]["url"], "/api");
    // Paths stay relative to the prefix.
    assert!(document["paths"]["/items/{item_id}"].is_object());

    let docs = get(addr, "/api/docs");
    assert_eq!(docs.status_line, "HTTP/1.1 200 OK");
    assert_eq!(
        docs.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let html = docs.body_text();
    assert!(html.contains("swagger-ui"), "{html}");
    assert!(html.contains("./openapi.json"), "{html}");
    assert!(html.contains("'./docs/oauth2-redirect'"), "{html}");
    // FastAPI's other two pages: ReDoc, and where an OAuth2 provider returns to Swagger UI.
    let redoc = get(addr, "/api/redoc");
    assert_eq!(redoc.status_line, "HTTP/1.1 200 OK");
    assert_eq!(
        redoc.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let html = redoc.body_text();
    assert!(html.contains("<title>ringserve - ReDoc</title>"), "{html}");
    assert!(
        html.contains(r#"<redoc spec-url="./openapi.json">"#),
        "{html}"
    );
    assert!(html.contains("redoc.standalone.js"), "{html}");
    let redirect = get(addr, "/api/docs/oauth2-redirect");
    assert_eq!(redirect.status_line, "HTTP/1.1 200 OK");
    assert_eq!(
        redirect.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let html = redirect.body_text();
    assert!(
        html.contains("window.opener.swaggerUIRedirectOauth2"),
        "{html}"
    );
    assert!(html.contains("oauth2.callback("), "{html}");
    // Read-only pages.
    let response = send(addr, "POST", "/api/openapi.json", "", b"");
    assert_eq!(response.status(), 405);
    assert_eq!(response.body_text(), r#"{"detail":"Method Not Allowed"}"#);
    assert!(
        response
            .header("allow")
            .is_some_and(|allow| allow.starts_with("GET, HEAD")),
        "{}",
        response.raw
    );
    server.shutdown();
}

#[test]
fn without_docs_neither_page_is_served() {
    let server = start_app(Application::try_new(|| {
        items_router().without_docs().build()
    }));
    let addr = server.local_addr();
    assert_eq!(get(addr, "/openapi.json").redacted(), not_found());
    assert_eq!(get(addr, "/docs").redacted(), not_found());
    assert_eq!(get(addr, "/docs/oauth2-redirect").redacted(), not_found());
    assert_eq!(get(addr, "/redoc").redacted(), not_found());
    server.shutdown();
}

// ---------------------------------------------------------------------------------------------
// 14. A real HTTP client
// ---------------------------------------------------------------------------------------------

#[test]
fn ureq_reads_json_and_fastapis_422() {
    let server = start_app(items_app().route_prefix("/api"));
    let base = format!("http://{}/api", server.local_addr());
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();

    let mut response = agent
        .get(&format!("{base}/items/5"))
        .call()
        .expect("ureq request");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(
        response.body_mut().read_to_string().unwrap(),
        r#"{"item_id":5}"#
    );

    let mut response = agent
        .get(&format!("{base}/items/abc"))
        .call()
        .expect("ureq request");
    assert_eq!(response.status(), 422);
    assert_eq!(
        response.body_mut().read_to_string().unwrap(),
        format!(r#"{{"detail":[{INT_PARSING_ITEM_ID_ABC}]}}"#)
    );

    let mut response = agent
        .post(&format!("{base}/items/"))
        .header("content-type", "application/json")
        .send(r#"{"name":"Foo","price":35.4}"#)
        .expect("ureq request");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.body_mut().read_to_string().unwrap(),
        r#"{"created":{"name":"Foo","description":null,"price":35.4,"tax":null}}"#
    );

    // ureq follows the 307 from the slashed path to the route, under the prefix.
    let mut response = agent
        .get(&format!("{base}/items/6/"))
        .call()
        .expect("ureq request");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.body_mut().read_to_string().unwrap(),
        r#"{"item_id":6}"#
    );
    server.shutdown();
}
