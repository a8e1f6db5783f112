//! A model served on ringserve: each `/infer` runs a forward pass that computes for 200 ms on
//! `rt::spawn_blocking`, so that the shard goes on answering its other requests meanwhile.
//!
//! ```text
//! cargo run --release --example inference
//! curl -d 'what a great film' localhost:8000/infer   # {"label":"positive","score":0.5…}, after 200 ms
//! curl localhost:8000/ping                           # pong, at once, even while /infer computes
//! ```
//!
//! A shard serves all its connections on one thread and cannot preempt a handler. Computing
//! inline instead — `let score = model.forward(&input);` with no `spawn_blocking` — would hold
//! that thread for the whole forward pass: every request accepted on the shard, `/ping` and
//! `/-/healthz` included, would wait for it, and past `shard_stall_threshold` (1 s) the stall
//! watchdog would call the shard stalled.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ringserve::{Application, Deployment, Request, Response, rt};

/// How long one forward pass computes: a stand-in for a real model's inference.
const FORWARD_PASS: Duration = Duration::from_millis(200);
/// The model's width: input features and hidden units per layer.
const WIDTH: usize = 64;
/// Its hidden layers.
const LAYERS: usize = 4;

/// A small dense network, shared read-only by every shard's replica (and by the blocking
/// threads that run it), hence `Arc`.
struct Model {
    layers: Vec<Vec<f32>>,
}

impl Model {
    /// Fixed weights, so that answers are reproducible.
    fn new() -> Self {
        let mut seed = 0x2545_f491_u32;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            (seed as f32 / u32::MAX as f32 - 0.5) / WIDTH as f32
        };
        Model {
            layers: (0..LAYERS)
                .map(|_| (0..WIDTH * WIDTH).map(|_| next()).collect())
                .collect(),
        }
    }

    /// The text's bytes hashed into `WIDTH` features.
    fn features(text: &[u8]) -> Vec<f32> {
        let mut features = vec![0.0; WIDTH];
        for (position, byte) in text.iter().enumerate() {
            features[(usize::from(*byte) * 31 + position) % WIDTH] += 1.0;
        }
        features
    }

    /// One pass through every layer (ReLU between them), then a sigmoid of the mean.
    fn pass(&self, features: &[f32]) -> f32 {
        let mut activations = features.to_vec();
        for weights in &self.layers {
            activations = weights
                .chunks_exact(WIDTH)
                .map(|row| {
                    let sum: f32 = row.iter().zip(&activations).map(|(w, x)| w * x).sum();
                    sum.max(0.0)
                })
                .collect();
        }
        let mean = activations.iter().sum::<f32>() / WIDTH as f32;
        1.0 / (1.0 + (-mean).exp())
    }

    /// The forward pass: computes for [`FORWARD_PASS`], as a large model would, without a
    /// single await — which is why it runs on a blocking thread.
    fn forward(&self, text: &[u8]) -> f32 {
        let features = Self::features(text);
        let start = Instant::now();
        loop {
            let score = self.pass(black_box(&features));
            if start.elapsed() >= FORWARD_PASS {
                return score;
            }
        }
    }
}

struct Classifier {
    model: Arc<Model>,
}

impl Deployment for Classifier {
    async fn call(&self, mut request: Request) -> Response {
        match request.route_path() {
            "/infer" => {
                let text = match request.body().await {
                    Ok(text) => text,
                    Err(error) => {
                        return Response::text(error.to_string()).with_status(error.status());
                    }
                };
                let model = self.model.clone();
                // Off the shard's thread: the shard serves other requests until the score is in.
                let score = rt::spawn_blocking(move || model.forward(&text)).await;
                let label = if score >= 0.5 { "positive" } else { "negative" };
                Response::json_bytes(format!(r#"{{"label":"{label}","score":{score}}}"#))
            }
            "/ping" => Response::text("pong"),
            _ => Response::text("POST /infer with a text, or GET /ping")
                .with_status(ringserve::StatusCode::NOT_FOUND),
        }
    }
}

fn main() -> Result<(), ringserve::Error> {
    let model = Arc::new(Model::new());
    ringserve::run(Application::new(move || Classifier {
        model: model.clone(),
    }))
}
