//! `Cookie<T>`: the request's cookies read into `T`, as FastAPI's `Cookie()` parameters (a
//! response sets one with [`SetCookie`](crate::SetCookie)).
//!
//! Invariant: cookies are read by the same typed deserializer as `Query<T>` (`params`), so a
//! cookie gets a query parameter's errors, located at `["cookie", "<name>"]`; nothing is
//! copied: the pairs borrow the request's head.

use serde::de::DeserializeOwned;
use smallvec::SmallVec;
use utoipa::PartialSchema;
use utoipa::openapi::path::ParameterIn;

use super::extract::{FromRequestParts, Rejection, RequestParts};
use super::openapi::OperationDoc;
use super::params::{PAIRS_INLINE, from_pairs};
use super::validation::Location;

/// Typed request cookies: a struct whose fields are cookies, by their exact names, as FastAPI's
/// `Cookie()` reads them. A required field is a required cookie (missing: `422` at
/// `["cookie", "<name>"]`); an `Option` field an optional one.
///
/// ```
/// use ringserve::ingress::{Cookie, ToSchema};
/// use serde::Deserialize;
///
/// #[derive(Deserialize, ToSchema)]
/// struct Session { session_id: String, theme: Option<String> }
///
/// async fn whoami(Cookie(session): Cookie<Session>) -> String {
///     session.session_id
/// }
/// # let _ = whoami;
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cookie<T>(pub T);

/// The request's cookies as name/value pairs, as Starlette splits them: at `;`, each at its
/// first `=` (a bare word is a value with an empty name), trimmed, a value in double quotes
/// taken without them (no backslash escapes undone). From every `Cookie` field, where
/// Starlette reads the first: HTTP/2 sends one per cookie (RFC 9113 §8.2.3). A field that is
/// not UTF-8 is skipped, where Starlette reads it as Latin-1.
fn cookie_pairs(request: &crate::Request) -> SmallVec<[(&str, &str); PAIRS_INLINE]> {
    request
        .headers()
        .filter(|(name, _)| name.eq_ignore_ascii_case("cookie"))
        .filter_map(|(_, value)| std::str::from_utf8(value).ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|chunk| {
            let (name, value) = chunk.split_once('=').unwrap_or(("", chunk));
            let (name, value) = (name.trim(), value.trim());
            let value = value
                .strip_prefix('"')
                .and_then(|quoted| quoted.strip_suffix('"'))
                .unwrap_or(value);
            (!name.is_empty() || !value.is_empty()).then_some((name, value))
        })
        .collect()
}

impl<S, T: DeserializeOwned + PartialSchema> FromRequestParts<S> for Cookie<T> {
    async fn from_request_parts(parts: &RequestParts<'_, S>) -> Result<Self, Rejection> {
        let pairs = cookie_pairs(parts.request());
        from_pairs(&pairs, Location::Cookie)
            .map(Cookie)
            .map_err(Rejection::from)
    }

    fn describe(operation: &mut OperationDoc) {
        operation.parameters_from::<T>("Cookie<T>", ParameterIn::Cookie, str::to_owned);
    }
}
