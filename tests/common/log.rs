//! A log captured in memory: a `tracing` subscriber's writer that tests read back.

use std::sync::{Arc, Mutex};

use tracing_subscriber::fmt::MakeWriter;

/// Everything the subscriber writes, one formatted event per line group.
#[derive(Clone, Default)]
pub struct Written(Arc<Mutex<Vec<u8>>>);

impl Written {
    /// A log that this test binary's `tracing` events (from every thread) are written to, as
    /// its process-wide subscriber; panics if the binary already has one.
    pub fn install_global() -> Written {
        let written = Written::default();
        tracing::subscriber::set_global_default(
            tracing_subscriber::fmt()
                .with_writer(written.clone())
                .with_ansi(false)
                .finish(),
        )
        .expect("the only subscriber of this test binary");
        written
    }

    /// All of it.
    pub fn text(&self) -> String {
        self.text_from(0)
    }

    /// What was written after the first `from` bytes.
    pub fn text_from(&self, from: usize) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()[from..]).into_owned()
    }

    /// How many bytes were written.
    pub fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}

impl std::io::Write for Written {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Written {
    type Writer = Written;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}
