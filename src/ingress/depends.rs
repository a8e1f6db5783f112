//! `Depends<D>`: a dependency run at most once per request, however many parameters and
//! groups take it — FastAPI's `Depends(d)` with its per-request cache. A bare `D` taken as an
//! argument runs every time, as `Depends(d, use_cache=False)` does.
//!
//! Invariant: the first `Depends<D>` of a request runs `D` and remembers its value in the
//! request (a clone is handed to each later one) or that it failed; a later one never runs `D`
//! again. A failure's errors are reported once: a later `Depends<D>` after a failed one adds no
//! error of its own, and the handler does not run.

use super::extract::{FromRequestParts, Rejection, RequestParts};
use super::openapi::OperationDoc;
use super::validation::ValidationErrors;

/// A dependency `D` run once per request and shared: take `Depends<CurrentUser>` in several
/// parameters, in a sub-dependency, or in a group (`Router::depends_on::<Depends<D>>()`), and
/// `D::from_request_parts` runs once. `D` is cloned for each taker (an `Rc` inside makes that
/// cheap).
///
/// ```
/// use ringserve::ingress::{Depends, FromRequestParts, HttpError, Rejection, RequestParts};
/// use ringserve::StatusCode;
///
/// #[derive(Clone)]
/// struct CurrentUser(String);
///
/// impl<S> FromRequestParts<S> for CurrentUser {
///     async fn from_request_parts(parts: &RequestParts<'_, S>) -> Result<Self, Rejection> {
///         match parts.request().header("x-user") {
///             Some(user) => Ok(CurrentUser(String::from_utf8_lossy(user).into_owned())),
///             None => Err(HttpError::new(StatusCode::UNAUTHORIZED, "Not authenticated").into()),
///         }
///     }
/// }
///
/// // Looked up once, though both arguments take it.
/// async fn greet(Depends(user): Depends<CurrentUser>, Depends(again): Depends<CurrentUser>) -> String {
///     format!("{} {}", user.0, again.0)
/// }
/// # let _ = greet;
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Depends<D>(pub D);

/// What a request remembers of `D`: its value, or `None` when it failed.
#[derive(Clone)]
struct Remembered<D>(Option<D>);

impl<S, D> FromRequestParts<S> for Depends<D>
where
    D: FromRequestParts<S> + Clone + 'static,
{
    async fn from_request_parts(parts: &RequestParts<'_, S>) -> Result<Self, Rejection> {
        let request = parts.request();
        match request.recall::<Remembered<D>>() {
            Some(Remembered(Some(value))) => return Ok(Depends(value)),
            // Its errors are in the answer already; the handler will not run.
            Some(Remembered(None)) => return Err(ValidationErrors::new().into()),
            None => {}
        }
        let outcome = D::from_request_parts(parts).await;
        request.remember(Remembered(outcome.as_ref().ok().cloned()));
        outcome.map(Depends)
    }

    fn describe(operation: &mut OperationDoc) {
        D::describe(operation);
    }
}
