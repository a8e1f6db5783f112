//! Handlers: plain async functions whose arguments are extractors, and their type-erased form.
//!
//! Invariant: a handler's head extractors run in argument order, then its body extractor (the
//! last argument), then the function — only when every extraction succeeded. Nothing here asks
//! for `Send`: handlers, their futures and the state they read live on one shard.

use std::future::Future;
use std::marker::PhantomData;

use super::extract::{FromRequest, FromRequestParts, PathParams, Rejections, RequestParts};
use super::openapi::OperationDoc;
use super::respond::IntoResponse;
use crate::pooled::{PooledFuture, pin_future};
use crate::{Request, Response};

/// A future a route returns, boxed so that routes of different handler types share one table
/// (in a pooled block: no allocation per request).
pub(crate) type RouteFuture<'a> = PooledFuture<'a, Response>;

/// An async function usable as a route handler: up to eight arguments, each an extractor
/// ([`FromRequestParts`], the last may be a [`FromRequest`] that reads the body), returning
/// anything that is [`IntoResponse`].
///
/// ```
/// use ringserve::ingress::{Json, Path};
///
/// async fn read_item(Path(item_id): Path<i64>) -> Json<serde_json::Value> {
///     Json(serde_json::json!({ "item_id": item_id }))
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a route handler",
    note = "a handler is an async fn of at most 8 extractors returning `impl IntoResponse`",
    note = "only the last argument may read the body (`Json<T>`, `Bytes`, `String`, `Request`)",
    note = "`Json<T>`, `Path<T>`, `Query<T>`, `Header<T>` need `T: ToSchema` (derive utoipa's `ToSchema`)"
)]
pub trait Handler<Args, S>: 'static {
    /// Extracts the arguments and runs the function; `rejections` may already hold validation
    /// errors from the route's dependencies.
    #[doc(hidden)]
    fn call(
        &self,
        request: Request,
        params: PathParams<'_>,
        state: &S,
        rejections: Rejections,
    ) -> impl Future<Output = Response>;

    /// Adds the arguments' and the response's documentation to the route's operation.
    #[doc(hidden)]
    fn describe(operation: &mut OperationDoc);
}

impl<F, Fut, R, S> Handler<(), S> for F
where
    F: Fn() -> Fut + 'static,
    Fut: Future<Output = R>,
    R: IntoResponse,
{
    async fn call(
        &self,
        _request: Request,
        _params: PathParams<'_>,
        _state: &S,
        rejections: Rejections,
    ) -> Response {
        if rejections.is_empty() {
            self().await.into_response()
        } else {
            rejections.into_response()
        }
    }

    fn describe(operation: &mut OperationDoc) {
        R::describe(operation);
    }
}

macro_rules! impl_handler {
    ($($head:ident),*; $last:ident) => {
        #[allow(non_snake_case)]
        impl<F, Fut, R, S, M, $($head,)* $last> Handler<(M, $($head,)* $last,), S> for F
        where
            F: Fn($($head,)* $last) -> Fut + 'static,
            Fut: Future<Output = R>,
            R: IntoResponse,
            $($head: FromRequestParts<S>,)*
            $last: FromRequest<S, M>,
        {
            #[allow(unused_variables, reason = "a handler of one argument has no head extractor")]
            async fn call(
                &self,
                request: Request,
                params: PathParams<'_>,
                state: &S,
                mut rejections: Rejections,
            ) -> Response {
                let parts = RequestParts::new(&request, &params, state);
                $(
                    let $head = match rejections.absorb($head::from_request_parts(&parts).await) {
                        Ok(value) => value,
                        Err(response) => return *response,
                    };
                )*
                let $last = match rejections.absorb($last::from_request(request, &params, state).await) {
                    Ok(value) => value,
                    Err(response) => return *response,
                };
                match ($($head,)* $last,) {
                    ($(Some($head),)* Some($last),) if rejections.is_empty() => {
                        self($($head,)* $last).await.into_response()
                    }
                    _ => rejections.into_response(),
                }
            }

            fn describe(operation: &mut OperationDoc) {
                $($head::describe(operation);)*
                <$last as FromRequest<S, M>>::describe(operation);
                R::describe(operation);
            }
        }
    };
}

impl_handler!(; T1);
impl_handler!(T1; T2);
impl_handler!(T1, T2; T3);
impl_handler!(T1, T2, T3; T4);
impl_handler!(T1, T2, T3, T4; T5);
impl_handler!(T1, T2, T3, T4, T5; T6);
impl_handler!(T1, T2, T3, T4, T5, T6; T7);
impl_handler!(T1, T2, T3, T4, T5, T6, T7; T8);

/// A handler with its type erased, so the routes of one router can share a table.
pub(crate) trait ErasedHandler<S> {
    fn call<'a>(
        &'a self,
        request: Request,
        params: PathParams<'a>,
        state: &'a S,
        rejections: Rejections,
    ) -> RouteFuture<'a>;
}

/// A [`Handler`] with the argument types it was registered with.
pub(crate) struct TypedHandler<H, Args> {
    handler: H,
    args: PhantomData<fn() -> Args>,
}

impl<H, Args> TypedHandler<H, Args> {
    pub(crate) fn new(handler: H) -> Self {
        TypedHandler {
            handler,
            args: PhantomData,
        }
    }
}

impl<H, Args, S> ErasedHandler<S> for TypedHandler<H, Args>
where
    H: Handler<Args, S>,
    S: 'static,
{
    fn call<'a>(
        &'a self,
        request: Request,
        params: PathParams<'a>,
        state: &'a S,
        rejections: Rejections,
    ) -> RouteFuture<'a> {
        pin_future(self.handler.call(request, params, state, rejections))
    }
}
