//! `Files`: static files from a directory (`import_path: ringserve.static:Files`), as nginx's
//! `root` serves them: `index.html` for a directory, `ETag` and `Last-Modified` with their 304s,
//! single byte ranges (206, 416), a content type by extension, and precompressed `.br` / `.gz`
//! siblings chosen by `Accept-Encoding`.
//!
//! Files are opened with `openat2(RESOLVE_BENEATH)` below a descriptor of the root taken when
//! the deployment is built: the kernel itself refuses a path, or a symbolic link, that leads
//! out of the root (`path` has already refused `..` and NUL), so no path check can race a
//! rename. Reads are plain `pread`s on the shard's thread, as nginx reads without `aio`: fast
//! from the page cache, a stall for the shard on a cold disk; files above
//! [`WHOLE_READ_BYTES_MAX`] are streamed in [`READ_CHUNK_BYTES`] pieces with their
//! `content-length`, so memory stays bounded whatever their size. The root is opened when the
//! deployment is built (at start, and at each reload): a `current` symlink swapped to a new
//! release is followed at the next reload.
//!
//! Invariant: an answer is one of 200, 206, 304, 416 (the file), 301 (a directory without its
//! slash), 404 (anything that is not a regular file inside the root, whatever the reason),
//! 403 (the server may not read it), 405 (not GET or HEAD) or 500 (the system failed); no path
//! outside the root is ever opened.

mod conditional;
mod mime;
mod path;

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use http::{HeaderName, HeaderValue, Method, StatusCode, header};
use serde::Deserialize;

use crate::deployment::Deployment;
use crate::middleware::compression::negotiation::{Coding, Preferences};
use crate::request::Request;
use crate::response::Response;
use conditional::{Ranged, Version};

/// Files up to this size are read whole into one buffer and sent with it.
const WHOLE_READ_BYTES_MAX: u64 = 256 * 1024;
/// The piece a larger file is read and sent in.
const READ_CHUNK_BYTES: u64 = 256 * 1024;

/// The arguments of `ringserve.static:Files` in a config file:
///
/// ```yaml
/// import_path: ringserve.static:Files
/// args: {root: /srv/www, index: index.html, precompressed: true, cache_control: "max-age=3600"}
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilesArgs {
    /// The directory served; it must exist when the server starts.
    pub root: PathBuf,
    /// The file served for a directory (default `index.html`; `null`: none, so a directory is
    /// 404 — there are no listings).
    #[serde(default = "default_index")]
    pub index: Option<String>,
    /// Serve `<file>.br` or `<file>.gz` instead of `<file>` to a client that accepts that
    /// coding, when the sibling exists (default true).
    #[serde(default = "default_precompressed")]
    pub precompressed: bool,
    /// A `Cache-Control` value for every file answer (default none).
    #[serde(default)]
    pub cache_control: Option<String>,
}

fn default_index() -> Option<String> {
    Some("index.html".to_owned())
}

fn default_precompressed() -> bool {
    true
}

/// Serves the files below a directory. Cloning shares the directory's descriptor.
#[derive(Clone, Debug)]
pub struct Files {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    /// The root, opened `O_PATH | O_DIRECTORY`: every file is opened beneath it.
    root: OwnedFd,
    index: Option<PathBuf>,
    precompressed: bool,
    cache_control: Option<HeaderValue>,
}

impl Files {
    /// Opens the root; the error names the bad argument.
    pub fn new(args: &FilesArgs) -> Result<Self, String> {
        let root = open_directory(&args.root)
            .map_err(|error| format!("root: {}: {error}", args.root.display()))?;
        let index = match &args.index {
            None => None,
            Some(index) if index.is_empty() || index.contains('/') || index == ".." => {
                return Err(format!("index: {index:?} is not a file name"));
            }
            Some(index) => Some(PathBuf::from(index)),
        };
        let cache_control = match &args.cache_control {
            None => None,
            Some(value) => Some(
                HeaderValue::from_str(value)
                    .map_err(|_| format!("cache_control: {value:?} is not a header value"))?,
            ),
        };
        let shared = Shared {
            root,
            index,
            precompressed: args.precompressed,
            cache_control,
        };
        // Every request opens with openat2 (Linux 5.6): a kernel or a seccomp profile without
        // it must fail here, not answer every request with an error.
        shared.open(Path::new(".")).map_err(|error| {
            format!(
                "root: {}: cannot open files beneath it with openat2 (Linux 5.6 or later): {error}",
                args.root.display()
            )
        })?;
        Ok(Files {
            shared: Arc::new(shared),
        })
    }
}

impl Deployment for Files {
    async fn call(&self, request: Request) -> Response {
        let method = request.method();
        if method != Method::GET && method != Method::HEAD {
            return Response::new(StatusCode::METHOD_NOT_ALLOWED)
                .with_header(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        }
        let Some(relative) = path::inside(request.route_path()) else {
            return not_found();
        };
        self.shared.answer(&request, relative)
    }
}

impl Shared {
    fn answer(&self, request: &Request, mut relative: PathBuf) -> Response {
        let (mut file, mut metadata) = match self.open(&relative) {
            Ok(opened) => opened,
            Err(error) => return refusal(&error),
        };
        if metadata.is_dir() {
            if !request.path().ends_with('/') {
                return to_directory(request);
            }
            let Some(index) = &self.index else {
                return not_found();
            };
            relative.push(index);
            (file, metadata) = match self.open(&relative) {
                Ok(opened) => opened,
                Err(error) => return refusal(&error),
            };
        }
        if !metadata.is_file() {
            return not_found();
        }
        let content_type = HeaderValue::from_static(mime::content_type(&relative));
        let mut coding = None;
        if self.precompressed
            && let Some((chosen, compressed, compressed_metadata)) =
                self.precompressed_sibling(request, &relative)
        {
            (coding, file, metadata) = (Some(chosen), compressed, compressed_metadata);
        }
        let version = Version::new(
            metadata.len(),
            metadata.modified().unwrap_or(std::time::UNIX_EPOCH),
        );
        let validators = self.validator_headers(&version);
        let conditional = |name: HeaderName| request.header(name.as_str());
        if version.not_modified(
            conditional(header::IF_NONE_MATCH),
            conditional(header::IF_MODIFIED_SINCE),
        ) {
            let mut response = Response::new(StatusCode::NOT_MODIFIED);
            for (name, value) in validators {
                response.set_header(name, value);
            }
            return response;
        }
        let mut headers: Vec<(HeaderName, HeaderValue)> = vec![
            (header::CONTENT_TYPE, content_type),
            (header::ACCEPT_RANGES, HeaderValue::from_static("bytes")),
        ];
        headers.extend(validators);
        if let Some(coding) = coding {
            headers.push((header::CONTENT_ENCODING, coding.header_value()));
        }
        let ranged = if version.range_allowed(conditional(header::IF_RANGE)) {
            conditional::range(conditional(header::RANGE), version.size)
        } else {
            Ranged::Whole
        };
        let (status, start, end) = match ranged {
            Ranged::Whole => (StatusCode::OK, 0, version.size),
            Ranged::Part { start, end } => {
                let range = format!("bytes {start}-{}/{}", end - 1, version.size);
                headers.push((header::CONTENT_RANGE, header_value(&range)));
                (StatusCode::PARTIAL_CONTENT, start, end)
            }
            Ranged::Unsatisfiable => {
                let range = format!("bytes */{}", version.size);
                return Response::new(StatusCode::RANGE_NOT_SATISFIABLE)
                    .with_header(header::CONTENT_RANGE, header_value(&range));
            }
        };
        let mut response = if request.method() == Method::HEAD {
            head_of(status, end - start)
        } else {
            match body(file, start, end) {
                Ok(response) => response.with_status(status),
                Err(error) => return refusal(&error),
            }
        };
        for (name, value) in headers {
            response.set_header(name, value);
        }
        response
    }

    /// `ETag`, `Last-Modified`, and the configured `Cache-Control` and `Vary`: what a 200, a
    /// 206 and a 304 alike carry.
    fn validator_headers(&self, version: &Version) -> Vec<(HeaderName, HeaderValue)> {
        let mut headers = vec![
            (header::ETAG, header_value(&version.etag())),
            (
                header::LAST_MODIFIED,
                header_value(&version.last_modified()),
            ),
        ];
        if let Some(cache_control) = &self.cache_control {
            headers.push((header::CACHE_CONTROL, cache_control.clone()));
        }
        if self.precompressed {
            // Another Accept-Encoding may get another representation.
            headers.push((header::VARY, HeaderValue::from_static("accept-encoding")));
        }
        headers
    }

    /// The `.br` or `.gz` sibling of `relative` the client prefers, when one exists.
    fn precompressed_sibling(
        &self,
        request: &Request,
        relative: &Path,
    ) -> Option<(Coding, File, std::fs::Metadata)> {
        let preferences = Preferences::of(request);
        let mut available = (true, true);
        while let Some(coding) = preferences.choose(available.0, available.1) {
            let suffix = match coding {
                Coding::Brotli => "br",
                Coding::Gzip => "gz",
            };
            let mut sibling = relative.as_os_str().to_owned();
            sibling.push(".");
            sibling.push(suffix);
            match self.open(Path::new(&sibling)) {
                Ok((file, metadata)) if metadata.is_file() => {
                    return Some((coding, file, metadata));
                }
                _ => match coding {
                    Coding::Brotli => available.1 = false,
                    Coding::Gzip => available.0 = false,
                },
            }
        }
        None
    }

    /// Opens `relative` below the root, refusing (`EXDEV`, `ELOOP`) a path or symbolic link
    /// that leads out of it.
    fn open(&self, relative: &Path) -> io::Result<(File, std::fs::Metadata)> {
        let relative = if relative.as_os_str().is_empty() {
            Path::new(".")
        } else {
            relative
        };
        let name = CString::new(relative.as_os_str().as_bytes())
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        // SAFETY: `open_how` is plain integers, for which all zeroes is valid (and means
        // "no flags"): its fields not set below must be zero.
        let mut how: libc::open_how = unsafe { std::mem::zeroed() };
        // O_NONBLOCK: opening a FIFO would otherwise wait for a writer, on the shard's
        // thread; regular files ignore it, and anything but a regular file is a 404 anyway.
        how.flags = (libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOCTTY | libc::O_NONBLOCK) as u64;
        how.resolve = libc::RESOLVE_BENEATH | libc::RESOLVE_NO_MAGICLINKS;
        // SAFETY: `name` is NUL-terminated, `how` is a valid open_how of the size passed, and
        // the root descriptor lives as long as `self`.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                self.root.as_raw_fd(),
                name.as_ptr(),
                &how as *const libc::open_how,
                std::mem::size_of::<libc::open_how>(),
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a descriptor the kernel just opened for this call alone.
        let file = File::from(unsafe { OwnedFd::from_raw_fd(fd as i32) });
        let metadata = file.metadata()?;
        Ok((file, metadata))
    }
}

/// The root, as a descriptor to open files beneath.
fn open_directory(root: &Path) -> io::Result<OwnedFd> {
    let name = CString::new(root.as_os_str().as_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: `name` is NUL-terminated; the descriptor returned is owned below.
    let fd = unsafe {
        libc::open(
            name.as_ptr(),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a descriptor the kernel just opened for this call alone.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Bytes `start..end` of `file`: read whole when small, else streamed with their length.
fn body(file: File, start: u64, end: u64) -> io::Result<Response> {
    let length = end - start;
    if length <= WHOLE_READ_BYTES_MAX {
        return read_exact_at(&file, start, length)
            .map(|bytes| Response::new(StatusCode::OK).with_body(bytes));
    }
    let pieces = futures_lite::stream::unfold(start, move |offset| {
        let piece = (offset < end).then(|| {
            let size = (end - offset).min(READ_CHUNK_BYTES);
            read_exact_at(&file, offset, size).map(|bytes| (bytes, offset + size))
        });
        async move {
            match piece? {
                Ok((bytes, next)) => Some((Ok::<_, io::Error>(bytes), next)),
                // The end is cut short, and the connection closed: the client can tell.
                Err(error) => Some((Err(error), end)),
            }
        }
    });
    Ok(Response::stream(pieces).with_header(header::CONTENT_LENGTH, HeaderValue::from(length)))
}

/// The answer to a HEAD: the length a GET would get, nothing read — and a body of the kind
/// the GET's is (whole, or a stream for a large file), so that a layer that treats the two
/// differently (`Compression` encodes every stream) gives the HEAD the GET's fields.
fn head_of(status: StatusCode, length: u64) -> Response {
    let response = if length <= WHOLE_READ_BYTES_MAX {
        Response::new(status)
    } else {
        Response::stream(futures_lite::stream::empty::<Result<Bytes, io::Error>>())
            .with_status(status)
    };
    response.with_header(header::CONTENT_LENGTH, HeaderValue::from(length))
}

/// Exactly `length` bytes of `file` from `offset`: a file that shrank is an error. Read
/// into the buffer's spare capacity: zeroing it first cost 7% of a large file's CPU time
/// (perf, `file-large`).
fn read_exact_at(file: &File, offset: u64, length: u64) -> io::Result<Bytes> {
    let length =
        usize::try_from(length).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let mut buffer = BytesMut::with_capacity(length);
    while buffer.len() < length {
        let at = offset
            .checked_add(buffer.len() as u64)
            .and_then(|at| libc::off_t::try_from(at).ok())
            .ok_or(io::ErrorKind::InvalidInput)?;
        let wanted = length - buffer.len();
        let spare = &mut buffer.spare_capacity_mut()[..wanted];
        // SAFETY: `pread` writes at most `spare.len()` bytes into memory the buffer owns, and
        // only what it reports written is then counted as initialised.
        let read =
            unsafe { libc::pread(file.as_raw_fd(), spare.as_mut_ptr().cast(), spare.len(), at) };
        match read {
            0 => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the file shrank",
                ));
            }
            // SAFETY: the kernel initialised the `read` bytes after the buffer's length.
            read if read > 0 => unsafe { buffer.set_len(buffer.len() + read as usize) },
            _ => {
                let error = io::Error::last_os_error();
                if error.kind() != io::ErrorKind::Interrupted {
                    return Err(error);
                }
            }
        }
    }
    debug_assert_eq!(buffer.len(), length, "read exactly the length asked");
    Ok(buffer.freeze())
}

/// A header value made of visible ASCII (a date, an entity tag, a range).
fn header_value(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn not_found() -> Response {
    Response::text("Not Found").with_status(StatusCode::NOT_FOUND)
}

/// The answer to a file that could not be opened or read.
fn refusal(error: &io::Error) -> Response {
    match error.raw_os_error() {
        Some(libc::EACCES | libc::EPERM) => {
            Response::text("Forbidden").with_status(StatusCode::FORBIDDEN)
        }
        Some(
            libc::ENOENT
            | libc::ENOTDIR
            | libc::EXDEV
            | libc::ELOOP
            | libc::ENAMETOOLONG
            | libc::EINVAL,
        ) => not_found(),
        _ if error.kind() == io::ErrorKind::InvalidInput => not_found(),
        _ => {
            crate::error::log_operator_error(&format!("static files: {error}"));
            Response::text("Internal Server Error").with_status(StatusCode::INTERNAL_SERVER_ERROR)
        }
    }
}

/// `301` to the directory's path with its slash (and the query), as nginx answers. The
/// location is relative — the last segment and a slash — so it is right whatever prefix a
/// proxy in front adds.
fn to_directory(request: &Request) -> Response {
    let path = request.path();
    let last = path.rsplit('/').next().unwrap_or_default();
    let mut location = String::with_capacity(last.len() + 3);
    // `./` first: a segment like `a:b` must not read as a URL scheme.
    location.push_str("./");
    location.push_str(last);
    location.push('/');
    if let Some(query) = request.query() {
        location.push('?');
        location.push_str(query);
    }
    Response::new(StatusCode::MOVED_PERMANENTLY)
        .with_header(header::LOCATION, header_value(&location))
}
