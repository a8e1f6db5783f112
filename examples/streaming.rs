//! The seed's `StreamingResponse(gen())`: ten chunks, each sent as soon as it is made, with a
//! pause between them so you can watch them arrive. `/events` sends the same as server-sent
//! events.
//!
//! ```text
//! cargo run --release --example streaming
//! curl -N localhost:8000/          # chunk 0 … chunk 9, one every 100 ms
//! curl -sv localhost:8000/ 2>&1 | grep -i transfer-encoding   # transfer-encoding: chunked
//! curl -N localhost:8000/events    # data: chunk 0 … as text/event-stream
//! ```

use std::cell::Cell;
use std::convert::Infallible;
use std::rc::Rc;
use std::time::Duration;

use ringserve::rt::stream::{self, Stream, StreamExt};
use ringserve::sse::Event;
use ringserve::{Application, Deployment, HeaderName, HeaderValue, Request, Response, rt};

/// Pause between chunks.
const PAUSE: Duration = Duration::from_millis(100);

struct Streamer {
    /// Per-replica state shared with the streams through `Rc`: a replica and its streams never
    /// leave their core, so neither needs to be `Send`.
    chunks_sent: Rc<Cell<u64>>,
}

/// `chunk 0\n` … `chunk 9\n`, one every `PAUSE`.
fn chunks() -> impl Stream<Item = String> {
    stream::unfold(0, |i| async move {
        if i == 10 {
            return None;
        }
        if i > 0 {
            rt::sleep(PAUSE).await;
        }
        Some((format!("chunk {i}\n"), i + 1))
    })
}

impl Deployment for Streamer {
    async fn call(&self, request: Request) -> Response {
        let chunks_sent = self.chunks_sent.clone();
        let count = move |chunk: String| {
            chunks_sent.set(chunks_sent.get() + 1);
            chunk
        };
        let response = match request.route_path() {
            "/events" => Response::sse(chunks().map(count).enumerate().map(|(index, chunk)| {
                let event = Event::new().id(&index.to_string()).data(chunk.trim_end());
                Ok::<_, Infallible>(event)
            })),
            _ => Response::stream(chunks().map(count).map(Ok::<_, Infallible>)),
        };
        // Chunks this core had sent when this stream started.
        let sent = HeaderValue::from(self.chunks_sent.get());
        response.with_header(HeaderName::from_static("x-chunks-sent-before"), sent)
    }
}

fn main() -> Result<(), ringserve::Error> {
    ringserve::run(Application::new(|| Streamer {
        chunks_sent: Rc::new(Cell::new(0)),
    }))
}
