//! Server-sent events: the `text/event-stream` framing over a streamed response.
//!
//! Invariant: an [`Event`] always renders as well-formed event-stream text (WHATWG HTML
//! §9.2.6): field values never contain a line break (those in `event` and `id` become spaces;
//! `data` with line breaks becomes several `data:` lines), and each event ends with an empty
//! line, so one event can never be read as two or run into the next.

use std::fmt::Write;
use std::time::Duration;

use bytes::Bytes;
use futures_lite::Stream;
use http::{HeaderValue, header};

use crate::body::BoxError;
use crate::response::Response;

/// One server-sent event.
///
/// ```
/// use ringserve::sse::Event;
///
/// let event = Event::new().event("tick").id("7").data("line one\nline two");
/// assert_eq!(
///     event.to_string(),
///     "event: tick\nid: 7\ndata: line one\ndata: line two\n\n"
/// );
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Event {
    text: String,
}

impl Event {
    /// An empty event; add fields with the methods below, in the order they should appear.
    pub fn new() -> Self {
        Event::default()
    }

    /// The event type (`event:`); the client's `addEventListener` name.
    pub fn event(mut self, name: &str) -> Self {
        self.field("event", name);
        self
    }

    /// The event id (`id:`), sent back by a reconnecting client as `Last-Event-ID`.
    pub fn id(mut self, id: &str) -> Self {
        // The spec ignores an id containing NUL: drop it rather than send one.
        self.field("id", &id.replace('\0', ""));
        self
    }

    /// How long the client waits before reconnecting (`retry:`, in milliseconds).
    pub fn retry(mut self, delay: Duration) -> Self {
        let _ = writeln!(self.text, "retry: {}", delay.as_millis());
        self
    }

    /// The payload (`data:`), one line per line of `data`.
    pub fn data(mut self, data: &str) -> Self {
        for line in data.split("\r\n").flat_map(|line| line.split(['\n', '\r'])) {
            self.text.push_str("data: ");
            self.text.push_str(line);
            self.text.push('\n');
        }
        self
    }

    /// A comment line (`: text`), ignored by clients; useful as a keep-alive.
    pub fn comment(mut self, text: &str) -> Self {
        self.field("", text);
        self
    }

    fn field(&mut self, name: &str, value: &str) {
        self.text.push_str(name);
        self.text.push_str(": ");
        self.text.extend(
            value
                .chars()
                .map(|c| if c == '\n' || c == '\r' { ' ' } else { c }),
        );
        self.text.push('\n');
    }
}

impl std::fmt::Display for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)?;
        f.write_str("\n")
    }
}

impl From<Event> for Bytes {
    fn from(event: Event) -> Bytes {
        let mut text = event.text;
        text.push('\n');
        Bytes::from(text)
    }
}

impl Response {
    /// A `text/event-stream` response that sends each event as the stream yields it.
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use ringserve::rt::stream;
    /// use ringserve::{Response, sse::Event};
    ///
    /// let events = stream::iter((0..3).map(|i| Ok::<_, Infallible>(Event::new().data(&i.to_string()))));
    /// let response = Response::sse(events);
    /// # let _ = response;
    /// ```
    pub fn sse<S, E>(events: S) -> Response
    where
        S: Stream<Item = Result<Event, E>> + 'static,
        E: Into<BoxError>,
    {
        Response::stream(events)
            .with_header(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/event-stream"),
            )
            .with_header(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_never_break_the_framing() {
        let event = Event::new()
            .event("a\nb")
            .id("x\ry\0z")
            .retry(Duration::from_secs(3))
            .data("one\r\ntwo\nthree\rfour")
            .comment("keep\nalive");
        assert_eq!(
            Bytes::from(event),
            "event: a b\nid: x yz\nretry: 3000\ndata: one\ndata: two\ndata: three\ndata: four\n: keep alive\n\n"
        );
    }

    #[test]
    fn empty_data_is_one_empty_data_line() {
        assert_eq!(Event::new().data("").to_string(), "data: \n\n");
    }
}
