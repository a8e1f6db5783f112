//! Model composition: an ingress that calls other deployments through handles — a pipeline
//! (one after the other), an ensemble (several at once, answers merged), and a streamed answer
//! passed through.
//!
//! ```text
//! cargo run --release --example composition
//! curl -X POST localhost:8000/pipeline -d 'What a GREAT, great day!'
//!     # {"text":"what a great great day","score":2,"model_shard":0}
//! curl -X POST localhost:8000/ensemble -d 'A bad, bad day.'
//!     # {"score":-2,"words":4,"model_shard":0}
//! curl localhost:8000/countdown/3
//!     # 3\n2\n1\nliftoff\n, streamed from the countdown deployment
//! ```
//!
//! The Python it mirrors:
//!
//! ```text
//! @serve.deployment
//! class Preprocess:    # text → normalized text
//! @serve.deployment(num_replicas=1)
//! class Sentiment:     # the "expensive model": one replica, on one core
//! @serve.deployment
//! class WordCount:
//! @serve.deployment
//! @serve.ingress(app)
//! class Front:
//!     def __init__(self, preprocess, sentiment, words, countdown): ...
//!     @app.post("/pipeline")
//!     async def pipeline(self, request):
//!         text = await self.preprocess.remote(await request.body())
//!         return await self.sentiment.remote(text)
//!     @app.post("/ensemble")
//!     async def ensemble(self, request):
//!         text = await self.preprocess.remote(await request.body())
//!         score, words = await asyncio.gather(self.sentiment.remote(text), self.words.remote(text))
//!         return {**score, **words}
//!
//! app = Front.bind(Preprocess.bind(), Sentiment.bind(), WordCount.bind(), Countdown.bind())
//! ```
//!
//! Every deployment but the ingress is reachable only through handles. `Sentiment` and
//! `Countdown` have one replica each: a call from another core crosses to theirs and the answer
//! (a stream included) comes back; `model_shard` says which shard's replica answered.

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use ringserve::ingress::{Json, Path, Router, State, ToSchema};
use ringserve::{
    Application, Deployment, DeploymentHandle, Method, Request, Response, StatusCode, rt,
};
use serde::{Deserialize, Serialize};

/// Lower-cases the text and keeps only letters and single spaces.
struct Preprocess;

impl Deployment for Preprocess {
    async fn call(&self, mut request: Request) -> Response {
        let Ok(body) = request.body().await else {
            return Response::text("unreadable body").with_status(StatusCode::BAD_REQUEST);
        };
        let text = String::from_utf8_lossy(&body).to_lowercase();
        let words: Vec<&str> = text
            .split(|c: char| !c.is_alphabetic())
            .filter(|word| !word.is_empty())
            .collect();
        Response::text(words.join(" "))
    }
}

#[derive(Deserialize, Serialize, ToSchema)]
struct Score {
    score: i64,
    /// The shard whose replica of the model answered.
    model_shard: usize,
}

/// Scores normalized text: +1 per positive word, -1 per negative one. Built once, on one
/// core, as a model too large to load on every core would be.
struct Sentiment {
    positive: &'static [&'static str],
    negative: &'static [&'static str],
}

impl Deployment for Sentiment {
    async fn call(&self, mut request: Request) -> Response {
        let body = request.body().await.unwrap_or_default();
        let text = String::from_utf8_lossy(&body);
        let score = text
            .split(' ')
            .map(|word| {
                i64::from(self.positive.contains(&word)) - i64::from(self.negative.contains(&word))
            })
            .sum();
        json(&Score {
            score,
            model_shard: this_shard(),
        })
    }
}

#[derive(Deserialize, Serialize, ToSchema)]
struct Words {
    words: usize,
}

/// Counts the words of normalized text.
struct WordCount;

impl Deployment for WordCount {
    async fn call(&self, mut request: Request) -> Response {
        let body = request.body().await.unwrap_or_default();
        let words = body.split(|&byte| byte == b' ').filter(|w| !w.is_empty());
        json(&Words {
            words: words.count(),
        })
    }
}

/// Streams `n`, `n-1`, … `1`, `liftoff`, one line every 100 ms.
struct Countdown;

impl Deployment for Countdown {
    async fn call(&self, request: Request) -> Response {
        let from: u32 = request.route_path()[1..].parse().unwrap_or(3).min(10);
        let lines = rt::stream::unfold(Some(from), |left| async move {
            let left = left?;
            rt::sleep(Duration::from_millis(100)).await;
            Some(match left {
                0 => (Ok::<_, Infallible>(Bytes::from_static(b"liftoff\n")), None),
                n => (Ok(Bytes::from(format!("{n}\n"))), Some(n - 1)),
            })
        });
        Response::stream(lines)
    }
}

/// The handles the ingress calls through: its per-replica state.
#[derive(Clone)]
struct Models {
    preprocess: DeploymentHandle,
    sentiment: DeploymentHandle,
    words: DeploymentHandle,
    countdown: DeploymentHandle,
}

#[derive(Serialize, ToSchema)]
struct Normalized {
    text: String,
    score: i64,
    model_shard: usize,
}

#[derive(Serialize, ToSchema)]
struct Merged {
    score: i64,
    words: usize,
    model_shard: usize,
}

/// A → B → C: normalize, then score the normalized text.
async fn pipeline(
    State(models): State<Models>,
    text: String,
) -> Result<Json<Normalized>, Response> {
    let normalized = ask(&models.preprocess, "/", text).await?;
    let scored: Score = ask_json(&models.sentiment, normalized.clone()).await?;
    Ok(Json(Normalized {
        text: String::from_utf8_lossy(&normalized).into_owned(),
        score: scored.score,
        model_shard: scored.model_shard,
    }))
}

/// A → (B, C) at once: normalize, then score and count concurrently, and merge.
async fn ensemble(State(models): State<Models>, text: String) -> Result<Json<Merged>, Response> {
    let normalized = ask(&models.preprocess, "/", text).await?;
    let (scored, counted) = rt::future::zip(
        ask_json::<Score>(&models.sentiment, normalized.clone()),
        ask_json::<Words>(&models.words, normalized),
    )
    .await;
    let (scored, counted) = (scored?, counted?);
    Ok(Json(Merged {
        score: scored.score,
        words: counted.words,
        model_shard: scored.model_shard,
    }))
}

/// The countdown deployment's streamed answer, passed on as it comes.
async fn countdown(State(models): State<Models>, Path(from): Path<u32>) -> Response {
    match Request::builder(Method::GET, format!("/{from}")).body(Bytes::new()) {
        Ok(request) => models.countdown.call(request).await,
        Err(error) => bad_gateway(&error.to_string()),
    }
}

/// The most of a deployment's answer the ingress holds.
const ANSWER_BYTES_MAX: usize = 1 << 20;

/// Calls `handle` with `body` at `target` and returns the answer's body; an answer that is
/// not `200` (the deployment overloaded, failed or refused the input) is passed on as it is.
async fn ask(
    handle: &DeploymentHandle,
    target: &str,
    body: impl Into<Bytes>,
) -> Result<Bytes, Response> {
    let request = Request::builder(Method::POST, target)
        .body(body)
        .map_err(|error| bad_gateway(&error.to_string()))?;
    let response = handle.call(request).await;
    if response.status() != StatusCode::OK {
        return Err(response);
    }
    response
        .into_bytes(ANSWER_BYTES_MAX)
        .await
        .map_err(|error| bad_gateway(&error.to_string()))
}

/// [`ask`], with the answer read as JSON.
async fn ask_json<T: for<'de> Deserialize<'de>>(
    handle: &DeploymentHandle,
    body: Bytes,
) -> Result<T, Response> {
    let answer = ask(handle, "/", body).await?;
    serde_json::from_slice(&answer).map_err(|error| bad_gateway(&error.to_string()))
}

fn bad_gateway(why: &str) -> Response {
    Response::text(format!("a deployment answered badly: {why}"))
        .with_status(StatusCode::BAD_GATEWAY)
}

fn json<T: Serialize>(value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => Response::json_bytes(body),
        Err(_) => Response::new(StatusCode::INTERNAL_SERVER_ERROR),
    }
}

/// The index of the shard running this code, from its thread's name (`ringserve-shard-N-…`).
fn this_shard() -> usize {
    std::thread::current()
        .name()
        .and_then(|name| name.strip_prefix("ringserve-shard-"))
        .and_then(|rest| rest.split('-').next())
        .and_then(|index| index.parse().ok())
        .unwrap_or(usize::MAX)
}

/// The composed application: the ingress and the four deployments it binds.
fn app() -> Application {
    let preprocess = Application::new(|| Preprocess).name("preprocess");
    let sentiment = Application::new(|| Sentiment {
        positive: &["good", "great", "happy", "love"],
        negative: &["bad", "awful", "sad", "hate"],
    })
    .name("sentiment")
    .num_replicas(1)
    .max_ongoing_requests(32);
    let words = Application::new(|| WordCount).name("words");
    let countdown_deployment = Application::new(|| Countdown)
        .name("countdown")
        .num_replicas(1);
    let models = Models {
        preprocess: preprocess.handle(),
        sentiment: sentiment.handle(),
        words: words.handle(),
        countdown: countdown_deployment.handle(),
    };
    Application::try_new(move || {
        Router::new()
            .title("composition")
            .post("/pipeline", pipeline)
            .post("/ensemble", ensemble)
            .get("/countdown/{from}", countdown)
            .build_with_state(models.clone())
    })
    .name("front")
    .deployment(preprocess)
    .deployment(sentiment)
    .deployment(words)
    .deployment(countdown_deployment)
}

fn main() -> Result<(), ringserve::Error> {
    ringserve::run(app())
}
