//! `Registry`: what a config file's `import_path` may name — the built-in deployments and the
//! ones a user's own binary adds — each with a factory that takes the application's `args`,
//! deserialized into the factory's own type.
//!
//! Invariant: an import path names one factory (adding one twice is a programming error and
//! panics at once); a factory is called once per application per load of the file (`check`
//! and `run` alike), never per shard: it returns an `Application`, whose own factory builds
//! the replicas.

use std::collections::BTreeMap;
use std::fmt::Display;

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::builtin::{Files, FilesArgs, Respond, RespondArgs, UpstreamArgs, Upstreams};
use crate::deploy::Application;

/// Why a factory refused its `args`: the key path inside `args`, when serde knows it.
#[derive(Debug)]
pub(crate) struct ArgsError {
    pub key: Option<String>,
    pub message: String,
}

type Factory = Box<dyn Fn(serde_json::Value) -> Result<Application, ArgsError>>;

/// The deployments a binary knows by import path. [`Registry::new`] has the built-ins:
///
/// - `ringserve.respond:Respond`: a fixed answer (`args: {status, body, headers}`; see
///   [`RespondArgs`](crate::builtin::RespondArgs)).
/// - `ringserve.static:Files`: the files below a directory (`args: {root, index,
///   precompressed, cache_control}`; see [`FilesArgs`](crate::builtin::FilesArgs)).
/// - `ringserve.proxy:Upstream`: a reverse proxy (`args: {upstreams: ["host:port", ...],
///   timeouts, ...}`; see [`UpstreamArgs`](crate::builtin::UpstreamArgs)).
///
/// ```no_run
/// use ringserve::cli::Registry;
/// use ringserve::{Application, Deployment, Request, Response};
/// use serde::Deserialize;
///
/// #[derive(Deserialize)]
/// #[serde(deny_unknown_fields)]
/// struct ModelArgs { threshold: f64 }
///
/// struct Model { threshold: f64 }
/// impl Deployment for Model {
///     async fn call(&self, _request: Request) -> Response {
///         Response::text(format!("threshold {}", self.threshold))
///     }
/// }
///
/// fn main() {
///     ringserve::cli::main(Registry::new().add("sentiment:Model", |args: ModelArgs| {
///         Application::new(move || Model { threshold: args.threshold }).name("Model")
///     }))
/// }
/// ```
pub struct Registry {
    factories: BTreeMap<String, Factory>,
}

/// The `args` of a deployment that takes none: absent, `null` or `{}`, and nothing else.
#[derive(Clone, Copy, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoArgs {}

impl Default for Registry {
    fn default() -> Self {
        Registry::new()
    }
}

impl Registry {
    /// The built-in deployments.
    pub fn new() -> Self {
        let registry = Registry {
            factories: BTreeMap::new(),
        };
        registry
            .try_add("ringserve.respond:Respond", |args: RespondArgs| {
                let respond = Respond::new(&args)?;
                Ok::<_, String>(Application::new(move || respond.clone()).name("Respond"))
            })
            .try_add("ringserve.static:Files", |args: FilesArgs| {
                let files = Files::new(&args)?;
                Ok::<_, String>(Application::new(move || files.clone()).name("Files"))
            })
            .try_add("ringserve.proxy:Upstream", |args: UpstreamArgs| {
                Ok::<_, String>(Upstreams::new(&args)?.application())
            })
    }

    /// Adds a deployment under `import_path` (`module:Name`, as Ray Serve spells them): the
    /// factory takes the application's `args` as `A` (a missing `args` is an empty mapping;
    /// use [`NoArgs`] for none) and returns the application. Panics if the path is taken.
    pub fn add<A, F>(self, import_path: &str, factory: F) -> Self
    where
        A: DeserializeOwned,
        F: Fn(A) -> Application + 'static,
    {
        self.try_add(import_path, move |args: A| {
            Ok::<_, std::convert::Infallible>(factory(args))
        })
    }

    /// [`Registry::add`] for a factory that may refuse its arguments: its error is reported
    /// with the application's name, before anything starts.
    pub fn try_add<A, E, F>(mut self, import_path: &str, factory: F) -> Self
    where
        A: DeserializeOwned,
        E: Display,
        F: Fn(A) -> Result<Application, E> + 'static,
    {
        let build = move |value: serde_json::Value| {
            let args: A = serde_path_to_error::deserialize(value).map_err(|error| ArgsError {
                key: Some(error.path().to_string()).filter(|path| path != "."),
                message: error.into_inner().to_string(),
            })?;
            factory(args).map_err(|error| ArgsError {
                key: None,
                message: error.to_string(),
            })
        };
        let previous = self
            .factories
            .insert(import_path.to_owned(), Box::new(build));
        assert!(
            previous.is_none(),
            "Registry::add: import path {import_path:?} is registered twice"
        );
        self
    }

    /// The import paths it knows, sorted.
    pub fn import_paths(&self) -> impl Iterator<Item = &str> {
        self.factories.keys().map(String::as_str)
    }

    /// Builds the application `import_path` names from `args` (`None`: an empty mapping), or
    /// `None` when the path is unknown.
    pub(crate) fn build(
        &self,
        import_path: &str,
        args: Option<serde_json::Value>,
    ) -> Option<Result<Application, ArgsError>> {
        let factory = self.factories.get(import_path)?;
        let args = match args {
            None | Some(serde_json::Value::Null) => {
                serde_json::Value::Object(serde_json::Map::new())
            }
            Some(args) => args,
        };
        Some(factory(args))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Threshold {
        #[allow(dead_code)]
        threshold: f64,
    }

    /// An application answering `status` with nothing else.
    fn fixed(status: u16) -> Application {
        let respond = Respond::new(&RespondArgs {
            status,
            body: String::new(),
            headers: BTreeMap::new(),
        })
        .unwrap();
        Application::new(move || respond.clone())
    }

    fn registry() -> Registry {
        Registry::new()
            .add("m:Model", |_: Threshold| fixed(200))
            .add("m:Plain", |_: NoArgs| fixed(204))
    }

    #[test]
    fn args_errors_name_the_field() {
        let registry = registry();
        let error = registry
            .build("m:Model", Some(serde_json::json!({"threshold": "high"})))
            .unwrap()
            .unwrap_err();
        assert_eq!(error.key.as_deref(), Some("threshold"));
        assert!(error.message.contains("expected f64"), "{}", error.message);
        let error = registry.build("m:Model", None).unwrap().unwrap_err();
        assert!(
            error.message.contains("missing field `threshold`"),
            "{}",
            error.message
        );
        let error = registry
            .build("m:Plain", Some(serde_json::json!({"x": 1})))
            .unwrap()
            .unwrap_err();
        assert!(
            error.message.contains("unknown field `x`"),
            "{}",
            error.message
        );
        assert!(registry.build("m:Plain", None).unwrap().is_ok());
        assert!(registry.build("m:Missing", None).is_none());
    }

    #[test]
    fn the_built_ins_are_there() {
        let registry = Registry::new();
        let paths: Vec<&str> = registry.import_paths().collect();
        assert_eq!(
            paths,
            [
                "ringserve.proxy:Upstream",
                "ringserve.respond:Respond",
                "ringserve.static:Files"
            ]
        );
        let error = Registry::new()
            .build(
                "ringserve.respond:Respond",
                Some(serde_json::json!({"status": 42})),
            )
            .unwrap()
            .unwrap_err();
        assert_eq!(
            error.message,
            "status: 42 is not a final status (200 to 599)"
        );
    }

    #[test]
    #[should_panic(expected = "registered twice")]
    fn a_path_registered_twice_panics() {
        let _ = Registry::new().add("ringserve.respond:Respond", |_: NoArgs| fixed(200));
    }
}
