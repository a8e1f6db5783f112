//! Your own edge binary: ringserve's command line (`check`, `run`, `status`) with a deployment
//! of yours added to the built-in ones, served from a config file in Ray Serve's schema.
//!
//! ```sh
//! cargo run --release --example edge -- check examples/edge.yaml
//! cargo run --release --example edge -- run examples/edge.yaml
//! curl -d 'a great, wonderful film' localhost:8000/sentiment   # {"label":"POSITIVE","score":2.0}
//! curl -i localhost:8000/old-docs                              # 301 to Ray Serve's docs
//! kill -HUP <pid>                                              # re-read the file
//! ```

use ringserve::cli::Registry;
use ringserve::{Application, Deployment, Request, Response, StatusCode};
use serde::Deserialize;

/// `args` of `sentiment:Model` in the config file; a key it does not know is an error.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelArgs {
    /// Scores above it are POSITIVE.
    threshold: f64,
    #[serde(default = "positive_words")]
    positive: Vec<String>,
    #[serde(default = "negative_words")]
    negative: Vec<String>,
}

fn positive_words() -> Vec<String> {
    ["good", "great", "wonderful", "excellent", "love"]
        .map(String::from)
        .to_vec()
}

fn negative_words() -> Vec<String> {
    ["bad", "awful", "boring", "terrible", "hate"]
        .map(String::from)
        .to_vec()
}

/// A word-counting sentiment model: one per shard, built from the file's `args`.
struct Model {
    threshold: f64,
    positive: Vec<String>,
    negative: Vec<String>,
}

impl Model {
    fn score(&self, text: &str) -> f64 {
        text.split(|c: char| !c.is_alphanumeric())
            .map(str::to_lowercase)
            .map(|word| {
                if self.positive.contains(&word) {
                    1.0
                } else if self.negative.contains(&word) {
                    -1.0
                } else {
                    0.0
                }
            })
            .sum()
    }
}

impl Deployment for Model {
    async fn call(&self, mut request: Request) -> Response {
        let Ok(body) = request.body().await else {
            return Response::text("unreadable body").with_status(StatusCode::BAD_REQUEST);
        };
        let score = self.score(&String::from_utf8_lossy(&body));
        let label = if score > self.threshold {
            "POSITIVE"
        } else {
            "NEGATIVE"
        };
        let answer = serde_json::json!({"label": label, "score": score});
        Response::json_bytes(answer.to_string())
    }
}

fn main() {
    let registry = Registry::new().try_add("sentiment:Model", |args: ModelArgs| {
        if let Some(word) = args
            .positive
            .iter()
            .find(|word| args.negative.contains(word))
        {
            return Err(format!("{word:?} is both positive and negative"));
        }
        Ok(Application::new(move || Model {
            threshold: args.threshold,
            positive: args.positive.clone(),
            negative: args.negative.clone(),
        })
        .name("Model"))
    });
    ringserve::cli::main(registry)
}
