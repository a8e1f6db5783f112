//! `Request`: what a deployment receives.
//!
//! Invariant: a request owns its head as one `Bytes` split off the connection's read buffer,
//! and every accessor resolves a range into it: no header, path or query is copied. Its body
//! is whole when it arrived with the head, and otherwise read from the socket only as the
//! handler asks for it (see `request_body`).

use std::cell::Cell;
use std::net::SocketAddr;
use std::rc::Rc;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method, Version};

use crate::http1::body::BodyFraming;
use crate::http1::head::{RequestHead, Span};
use crate::http1::parse::parse_head;
use crate::http1::reject::ParseError;
use crate::request_body::{Body, BodyError, BodyStream};
use crate::request_id::REQUEST_ID_BYTES;
use crate::trace::TraceParent;
use crate::{Extensions, Limits};

/// Where the request id came from.
#[derive(Clone, Debug)]
pub(crate) enum RequestId {
    /// The client's `x-request-id`, kept as it was sent.
    FromClient(Span),
    /// Made by the shard.
    Generated([u8; REQUEST_ID_BYTES]),
}

/// What a request knows of the application it was routed to and of the server's URL space:
/// one per application and shard, made when the shard starts and shared by its requests.
#[derive(Debug)]
pub(crate) struct AppScope {
    /// The application's name (an `Rc` of its own: a panic's report keeps it past the request).
    pub(crate) name: Rc<str>,
    /// `HttpOptions::root_path`: where a proxy in front mounts this server, or `""`.
    pub(crate) root_path: Box<str>,
    /// Whether requests carry the root path (`HttpOptions::strip_root_path`): it then starts
    /// `Request::path` and was removed before routing.
    pub(crate) root_in_path: bool,
    /// The server's own `host:port`, for a URL when the request names no host.
    pub(crate) server_address: Box<str>,
    /// `HttpOptions::trust_forwarded_proto`.
    pub(crate) trust_forwarded_proto: bool,
}

impl AppScope {
    /// The scope of a request built outside a server (`RequestBuilder`, tests): the default
    /// application's name, no root path.
    pub(crate) fn unbound() -> Rc<AppScope> {
        Rc::new(AppScope {
            name: Rc::from(crate::options::DEFAULT_APP_NAME),
            root_path: Box::from(""),
            root_in_path: false,
            server_address: Box::from(""),
            trust_forwarded_proto: false,
        })
    }
}

/// An HTTP request. Its body (up to `Limits::body_bytes_max`) is read with [`Request::body`]
/// or, chunk by chunk, with [`Request::body_stream`].
pub struct Request {
    head: Bytes,
    parts: RequestHead,
    /// Bytes of the path before the application's own path: root path plus route prefix.
    route_offset: usize,
    body: Body,
    scope: Rc<AppScope>,
    request_id: RequestId,
    extensions: Extensions,
    /// Header changes made by middleware, over the head as received; `None` (no allocation)
    /// until the first change.
    header_edits: Option<Box<HeaderEdits>>,
    /// Values computed once for this request and reused (the ingress's `Depends`); `None` (no
    /// allocation) until the first. A `Cell`: readers hold the request only by reference.
    memo: Cell<Option<Box<Extensions>>>,
}

/// Headers a middleware set or removed: a set header hides every received value of its name,
/// a removed one hides them too.
#[derive(Default)]
struct HeaderEdits {
    set: Vec<(HeaderName, HeaderValue)>,
    hidden: Vec<HeaderName>,
}

impl HeaderEdits {
    fn hides(&self, name: &str) -> bool {
        self.hidden
            .iter()
            .any(|hidden| hidden.as_str().eq_ignore_ascii_case(name))
    }
}

impl Request {
    pub(crate) fn new(
        head: Bytes,
        parts: RequestHead,
        route_offset: usize,
        body: Body,
        scope: Rc<AppScope>,
        request_id: RequestId,
    ) -> Self {
        debug_assert!(
            !scope.root_in_path || route_offset >= scope.root_path.len(),
            "a request that carries the root path was routed after it"
        );
        Request {
            head,
            parts,
            route_offset,
            body,
            scope,
            request_id,
            extensions: Extensions::default(),
            header_edits: None,
            memo: Cell::new(None),
        }
    }

    /// A request parsed from raw HTTP/1.x bytes — a whole head, then the body its
    /// `Content-Length` announces — as if it had arrived for an application at prefix `/`:
    /// for unit tests and benchmarks of handlers, without a socket. A head that the engine
    /// would refuse is refused with the same error; an incomplete one, or a body that is
    /// chunked or shorter than announced, is [`ParseError::Malformed`].
    ///
    /// ```
    /// use ringserve::Request;
    ///
    /// let request = Request::from_http1(&b"GET /items/5?q=1 HTTP/1.1\r\nHost: x\r\n\r\n"[..]).unwrap();
    /// assert_eq!(request.path(), "/items/5");
    /// assert_eq!(request.query(), Some("q=1"));
    /// ```
    pub fn from_http1(raw: impl Into<Bytes>) -> Result<Request, ParseError> {
        let mut raw = raw.into();
        let parts = parse_head(&raw, &Limits::default())?.ok_or(ParseError::Malformed)?;
        let head = raw.split_to(parts.head_len);
        let body = match parts.framing {
            BodyFraming::None => Bytes::new(),
            BodyFraming::Length(length) => {
                let length = usize::try_from(length).map_err(|_| ParseError::Malformed)?;
                if raw.len() < length {
                    return Err(ParseError::Malformed);
                }
                raw.split_to(length)
            }
            BodyFraming::Chunked => return Err(ParseError::Malformed),
        };
        let request_id = match parts.request_id {
            Some(span) => RequestId::FromClient(span),
            None => RequestId::Generated([b'0'; REQUEST_ID_BYTES]),
        };
        Ok(Request::new(
            head,
            parts,
            0,
            Body::Full(body),
            AppScope::unbound(),
            request_id,
        ))
    }

    pub(crate) fn route_offset(&self) -> usize {
        self.route_offset
    }

    /// The id the engine generated, if the client sent none.
    pub(crate) fn generated_id(&self) -> Option<[u8; REQUEST_ID_BYTES]> {
        match self.request_id {
            RequestId::Generated(bytes) => Some(bytes),
            RequestId::FromClient(_) => None,
        }
    }

    pub(crate) fn scope(&self) -> Rc<AppScope> {
        self.scope.clone()
    }

    pub(crate) fn set_scope(&mut self, scope: Rc<AppScope>) {
        self.scope = scope;
    }

    /// Whether a middleware changed the headers (the head bytes alone no longer tell them).
    pub(crate) fn has_header_edits(&self) -> bool {
        self.header_edits.is_some()
    }

    /// Head bytes, parsed head, route offset, body and id, as they cross cores. Header edits
    /// must have been applied first (`request_builder::reencode`); extensions stay behind.
    pub(crate) fn into_parts(self) -> (Bytes, RequestHead, usize, Body, RequestId) {
        debug_assert!(self.header_edits.is_none(), "header edits would be lost");
        (
            self.head,
            self.parts,
            self.route_offset,
            self.body,
            self.request_id,
        )
    }

    /// Whether the body is all here (not still to be read from the socket).
    pub(crate) fn body_is_whole(&self) -> bool {
        matches!(self.body, Body::Full(_))
    }

    pub(crate) fn into_body(self) -> Body {
        self.body
    }

    /// The method.
    pub fn method(&self) -> &Method {
        &self.parts.method
    }

    /// `HTTP/1.0` or `HTTP/1.1`.
    pub fn version(&self) -> Version {
        self.parts.version
    }

    /// The full path as sent (still percent-encoded: Starlette's `raw_path`), without the query.
    pub fn path(&self) -> &str {
        self.parts.path_str(&self.head)
    }

    /// The path inside the application: what follows the route prefix (and the root path, where
    /// requests carry it), always starting with `/`. For prefix `/api` and path `/api/items/5`
    /// it is `/items/5`.
    pub fn route_path(&self) -> &str {
        let path = self.path();
        match path.get(self.route_offset..) {
            Some(rest) if rest.starts_with('/') => rest,
            _ => "/",
        }
    }

    /// The part of the path that selected the application: its route prefix as sent (`""` for
    /// an application at `/`), never the root path.
    pub fn route_prefix(&self) -> &str {
        let root_len = if self.scope.root_in_path {
            self.scope.root_path.len()
        } else {
            0
        };
        self.path()
            .get(root_len..self.route_offset)
            .unwrap_or_default()
    }

    /// The server's root path (`HttpOptions::root_path`, ASGI's `root_path`): where a proxy in
    /// front mounts it, `""` when none. The URL a client used is
    /// `root_path() + route_prefix() + route_path()`; build links and redirects from it.
    pub fn root_path(&self) -> &str {
        &self.scope.root_path
    }

    /// `http`, or `https` where a trusted proxy says so (`X-Forwarded-Proto`, with
    /// `HttpOptions::trust_forwarded_proto`).
    pub fn scheme(&self) -> &'static str {
        let forwarded = self
            .scope
            .trust_forwarded_proto
            .then(|| self.header("x-forwarded-proto"))
            .flatten()
            .map(<[u8]>::trim_ascii);
        match forwarded {
            Some(proto) if proto.eq_ignore_ascii_case(b"https") => "https",
            _ => "http",
        }
    }

    /// The URL the client asked for, as Starlette's `request.url`: the scheme, the `Host`
    /// header (the server's own address when there is none), the root path (where a proxy
    /// removed it), the path as sent — not percent-decoded — and the query. Allocates; made
    /// only when asked for.
    pub fn url(&self) -> String {
        let authority = self
            .header("host")
            .and_then(|host| std::str::from_utf8(host).ok())
            .filter(|host| !host.is_empty())
            .unwrap_or(&self.scope.server_address);
        let root_path = if self.scope.root_in_path {
            ""
        } else {
            self.root_path()
        };
        let mut url = format!("{}://{authority}{root_path}{}", self.scheme(), self.path());
        if let Some(query) = self.query() {
            url.push('?');
            url.push_str(query);
        }
        url
    }

    /// The query string, without the `?`.
    pub fn query(&self) -> Option<&str> {
        self.parts.query.map(|query| query.str_of(&self.head))
    }

    /// The first value of the header `name` (case-insensitive).
    pub fn header(&self, name: impl AsRef<str>) -> Option<&[u8]> {
        let name = name.as_ref();
        self.headers()
            .find(|(candidate, _)| candidate.eq_ignore_ascii_case(name))
            .map(|(_, value)| value)
    }

    /// The first value of the header `name` as text, if it is valid UTF-8.
    pub fn header_str(&self, name: impl AsRef<str>) -> Option<&str> {
        self.header(name)
            .and_then(|value| std::str::from_utf8(value).ok())
    }

    /// Every header field: those received, in order, names as sent — then those a middleware
    /// set (see [`Request::set_header`]).
    pub fn headers(&self) -> impl Iterator<Item = (&str, &[u8])> {
        let edits = self.header_edits.as_deref();
        let received = self
            .parts
            .headers
            .iter()
            .map(|field| (field.name.str_of(&self.head), field.value.of(&self.head)))
            .filter(move |(name, _)| edits.is_none_or(|edits| !edits.hides(name)));
        let set = edits
            .into_iter()
            .flat_map(|edits| edits.set.iter())
            .map(|(name, value)| (name.as_str(), value.as_bytes()));
        received.chain(set)
    }

    /// Sets a header for the rest of the chain, replacing every value received (or set) for
    /// that name: a middleware normalizing or injecting a header for the handler. The head as
    /// received is not copied; only the change is kept.
    pub fn set_header(&mut self, name: HeaderName, value: HeaderValue) {
        let edits = self.header_edits.get_or_insert_with(Box::default);
        edits.set.retain(|(existing, _)| *existing != name);
        if !edits.hidden.contains(&name) {
            edits.hidden.push(name.clone());
        }
        edits.set.push((name, value));
    }

    /// Removes a header for the rest of the chain (every value received or set).
    pub fn remove_header(&mut self, name: &HeaderName) {
        let edits = self.header_edits.get_or_insert_with(Box::default);
        edits.set.retain(|(existing, _)| existing != name);
        if !edits.hidden.contains(name) {
            edits.hidden.push(name.clone());
        }
    }

    /// The whole body, read from the socket if it has not all arrived yet. Calling it again
    /// returns the same bytes.
    pub async fn body(&mut self) -> Result<Bytes, BodyError> {
        let body = match std::mem::replace(&mut self.body, Body::Full(Bytes::new())) {
            Body::Full(bytes) => bytes,
            streaming => BodyStream::new(streaming).collect_bytes().await?,
        };
        self.body = Body::Full(body.clone());
        Ok(body)
    }

    /// The body as a stream of chunks, read from the socket as the stream is polled, so an
    /// upload of any size (up to the body limit) can be handled without holding it whole.
    /// Takes the body: a later [`Request::body`] returns nothing.
    pub fn body_stream(&mut self) -> BodyStream {
        BodyStream::new(std::mem::replace(&mut self.body, Body::Full(Bytes::new())))
    }

    /// Values middleware attached for the handler (the ingress reads them with `Extension<T>`).
    pub fn extensions(&self) -> &Extensions {
        &self.extensions
    }

    /// Values attached to the request, to add to.
    pub fn extensions_mut(&mut self) -> &mut Extensions {
        &mut self.extensions
    }

    /// The value remembered for type `T` during this request ([`Request::remember`]).
    pub(crate) fn recall<T: Clone + 'static>(&self) -> Option<T> {
        let memo = self.memo.take();
        let value = memo.as_ref().and_then(|memo| memo.get::<T>().cloned());
        self.memo.set(memo);
        value
    }

    /// Forgets everything remembered: the request goes to another deployment, whose own
    /// dependencies must run.
    pub(crate) fn forget_remembered(&mut self) {
        self.memo.set(None);
    }

    /// Remembers `value` for the rest of this request, in place of an earlier one of its type.
    pub(crate) fn remember<T: 'static>(&self, value: T) {
        let mut memo = self.memo.take().unwrap_or_default();
        memo.insert(value);
        self.memo.set(Some(memo));
    }

    /// The name of the application this request was routed to.
    pub fn app_name(&self) -> &str {
        &self.scope.name
    }

    /// The request id: the client's `x-request-id`, or one generated for this request. It is
    /// echoed on the response.
    pub fn request_id(&self) -> &str {
        match &self.request_id {
            RequestId::FromClient(span) => span.str_of(&self.head),
            RequestId::Generated(bytes) => std::str::from_utf8(bytes).unwrap_or_default(),
        }
    }

    /// The request's W3C Trace Context (`traceparent`), when it has one field of it that the
    /// specification accepts. ringserve passes it on to the deployments a handler calls
    /// through handles (a request built while the handler runs gets it), and across cores;
    /// the access log records its trace id.
    pub fn trace_parent(&self) -> Option<TraceParent> {
        let field = self
            .parts
            .headers
            .get(usize::from(self.parts.trace_parent?))?;
        TraceParent::parse(field.value.of(&self.head).trim_ascii())
    }

    /// The address of the client's connection — the peer of the socket, so the last proxy
    /// when there is one in front (its `X-Forwarded-For` names the client; trust it only from
    /// proxies you run). `None` for a request made without a socket (`RequestBuilder`,
    /// `Request::from_http1`) or whose client had already left when it connected.
    pub fn client_addr(&self) -> Option<SocketAddr> {
        self.parts.client
    }

    /// How the request's body was framed on the wire.
    pub(crate) fn framing(&self) -> BodyFraming {
        self.parts.framing
    }
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("method", self.method())
            .field("path", &self.path())
            .field("query", &self.query())
            .field("app", &self.app_name())
            .field("request_id", &self.request_id())
            .field(
                "body",
                &match &self.body {
                    Body::Full(bytes) => bytes.len().to_string(),
                    Body::Streaming(_) => "streaming".to_owned(),
                },
            )
            .finish()
    }
}
