//! The `ringserve` edge server: `ringserve run serve.yaml`. Its deployments are the built-in
//! ones; a binary of your own adds yours with `ringserve::cli::main(Registry::new().add(..))`.

fn main() {
    ringserve::cli::main(ringserve::cli::Registry::new())
}
