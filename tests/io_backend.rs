//! The data path is chosen at start-up: `HttpOptions::io_backend` (over `RINGSERVE_IO`)
//! decides whether each shard opens an io_uring of its own, and both paths serve. A test
//! binary of its own: it counts the process's io_uring descriptors, which other servers
//! running in parallel would change.

mod common;

use ringserve::{Application, HttpOptions, IoBackend, Serve};

fn rings_while_serving(io: IoBackend) -> usize {
    let options: HttpOptions = common::test_options().io_backend(io);
    let server = common::start(
        Serve::new()
            .options(options)
            .app(Application::new(|| common::Hello)),
    );
    assert_eq!(common::get(server.local_addr(), "/").body_text(), "hello");
    let open = common::rings_open("/proc/self");
    server.shutdown();
    open
}

#[test]
fn the_io_uring_backend_opens_one_ring_more_per_shard_and_both_serve() {
    let glommio = rings_while_serving(IoBackend::Glommio);
    let io_uring = rings_while_serving(IoBackend::IoUring);
    assert_eq!(
        io_uring,
        glommio + 1,
        "one shard: its own ring besides glommio's"
    );
}
