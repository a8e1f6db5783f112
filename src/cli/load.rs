//! Reads a config file into a [`ConfigFile`]: YAML (`.yaml`, `.yml`; JSON too, as YAML) with
//! serde-saphyr, TOML (`.toml`) with toml, each wrapped in `serde_path_to_error` so that an
//! error names both the key path and the line.
//!
//! serde-saphyr, not `serde_yaml` (unmaintained since 2024) nor its forks `serde_yaml_ng` and
//! `serde_norway` (which keep unsafe-libyaml): it is pure, safe Rust, bounds what aliases may
//! expand to (a "billion laughs" file is an error, not an out-of-memory), refuses duplicate
//! keys at their own line, and reports the line of an unknown key rather than of its mapping.
//!
//! Invariant: a file either loads whole or yields one [`ConfigError`] with the file's name, the
//! line and column where the parser stopped (when it knows them) and the key path.

use std::fmt;
use std::path::{Path, PathBuf};

use super::schema::ConfigFile;

/// A bad config file, or a bad value in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file, as named to the command.
    pub file: PathBuf,
    /// 1-based line and column, when known.
    pub position: Option<(u64, u64)>,
    /// The key path (`applications[0].deployments[1].num_replicas`), when known.
    pub key: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl ConfigError {
    pub(crate) fn at_key(file: &Path, key: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            file: file.to_owned(),
            position: None,
            key: Some(key.into()),
            message: message.into(),
        }
    }

    pub(crate) fn whole_file(file: &Path, message: impl Into<String>) -> Self {
        ConfigError {
            file: file.to_owned(),
            position: None,
            key: None,
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    /// `serve.yaml:9:9: applications[0].deployments[0]: unknown field ...`, as compilers
    /// write it, so that editors jump to the line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some((line, column)) = self.position {
            write!(f, ":{line}:{column}")?;
        }
        match &self.key {
            Some(key) if !key.is_empty() => write!(f, ": {key}: {}", self.message),
            _ => write!(f, ": {}", self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Reads and parses `file`, choosing the format by its extension.
pub(crate) fn load(file: &Path) -> Result<ConfigFile, ConfigError> {
    let text = std::fs::read_to_string(file)
        .map_err(|error| ConfigError::whole_file(file, format!("cannot read it: {error}")))?;
    let extension = file
        .extension()
        .and_then(|extension| extension.to_str())
        .unwrap_or("");
    match extension {
        "yaml" | "yml" | "json" => parse_yaml(file, &text),
        "toml" => parse_toml(file, &text),
        _ => Err(ConfigError::whole_file(
            file,
            "unknown format: name it *.yaml, *.yml, *.json or *.toml",
        )),
    }
}

/// YAML (or JSON, a subset of it).
pub(crate) fn parse_yaml(file: &Path, text: &str) -> Result<ConfigFile, ConfigError> {
    let options = serde_saphyr::options! { with_snippet: false };
    let mut key = String::new();
    // An empty document is an empty config (every default), as for TOML.
    if text.trim().is_empty() {
        return Ok(ConfigFile::default());
    }
    serde_saphyr::with_deserializer_from_str_with_options(text, options, |deserializer| {
        serde_path_to_error::deserialize(deserializer).map_err(|error| {
            key = error.path().to_string();
            error.into_inner()
        })
    })
    .map_err(|error| ConfigError {
        file: file.to_owned(),
        position: error
            .location()
            .map(|location| (location.line(), location.column())),
        key: meaningful(key),
        message: bare_yaml_message(&error.to_string()),
    })
}

/// TOML.
pub(crate) fn parse_toml(file: &Path, text: &str) -> Result<ConfigFile, ConfigError> {
    let mut key = String::new();
    let parsed = toml::de::Deserializer::parse(text).and_then(|deserializer| {
        serde_path_to_error::deserialize(deserializer).map_err(|error| {
            key = error.path().to_string();
            error.into_inner()
        })
    });
    parsed.map_err(|error| ConfigError {
        file: file.to_owned(),
        position: error.span().map(|span| line_and_column(text, span.start)),
        key: meaningful(key),
        message: error.message().trim().to_owned(),
    })
}

/// `serde_path_to_error` writes `.` for the root: no key to name then.
fn meaningful(key: String) -> Option<String> {
    (!key.is_empty() && key != ".").then_some(key)
}

/// serde-saphyr's message without its own `line L column C:` prefix (the position is given
/// separately) and without the `error:` tag.
fn bare_yaml_message(message: &str) -> String {
    let first = message.lines().next().unwrap_or_default();
    let first = first.strip_prefix("error: ").unwrap_or(first);
    let without_position = match first.strip_prefix("line ") {
        Some(rest) => rest.split_once(": ").map_or(first, |(_, message)| message),
        None => first,
    };
    // Some messages end with the position again: ` at line 6, column 9`.
    let without_position = match without_position.rfind(" at line ") {
        Some(at) => &without_position[..at],
        None => without_position,
    };
    in_words(without_position.trim())
}

/// serde-saphyr's `invalid u16` (a number out of range, or not a number) in words.
fn in_words(message: &str) -> String {
    let range = match message {
        "invalid u8" => "from 0 to 255",
        "invalid u16" => "from 0 to 65535",
        "invalid u32" => "from 0 to 4294967295",
        "invalid u64" | "invalid usize" => "of 0 or more",
        "invalid i64" => "",
        _ => return message.to_owned(),
    };
    format!("not a whole number {range}").trim().to_owned()
}

/// The 1-based line and column (in characters) of byte `offset` of `text`.
fn line_and_column(text: &str, offset: usize) -> (u64, u64) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |at| at + 1);
    let column = before[line_start..].chars().count() + 1;
    (line as u64, column as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml_error(text: &str) -> ConfigError {
        parse_yaml(Path::new("serve.yaml"), text).unwrap_err()
    }

    fn toml_error(text: &str) -> ConfigError {
        parse_toml(Path::new("serve.toml"), text).unwrap_err()
    }

    #[test]
    fn an_unknown_key_is_named_with_its_line_in_yaml() {
        let error = yaml_error(
            "applications:\n  - name: a\n    import_path: x:Y\n    deployments:\n      - name: d\n        num_replica: 2\n",
        );
        assert_eq!(error.position, Some((6, 9)), "{error}");
        assert_eq!(
            error.key.as_deref(),
            Some("applications[0].deployments[0].num_replica")
        );
        assert!(
            error.message.starts_with("unknown field `num_replica`"),
            "{error}"
        );
        assert!(
            error.to_string().starts_with(
                "serve.yaml:6:9: applications[0].deployments[0].num_replica: unknown field"
            ),
            "{error}"
        );
    }

    #[test]
    fn an_unknown_key_is_named_with_its_line_in_toml() {
        let error = toml_error(
            "[http_options]\nport = 8000\n\n[[applications]]\nname = \"a\"\nimport_path = \"x:Y\"\nroute_prefx = \"/a\"\n",
        );
        assert_eq!(error.position.map(|(line, _)| line), Some(7), "{error}");
        assert!(
            error.message.contains("unknown field `route_prefx`"),
            "{error}"
        );
    }

    #[test]
    fn a_wrong_type_names_the_key() {
        let error = yaml_error("http_options:\n  port: eighty\n");
        assert_eq!(error.key.as_deref(), Some("http_options.port"));
        assert_eq!(error.position, Some((2, 9)));
        assert_eq!(error.message, "not a whole number from 0 to 65535");
        let error = toml_error("[http_options]\nport = 70000\n");
        assert_eq!(error.key.as_deref(), Some("http_options.port"), "{error}");
        assert_eq!(error.position.map(|(line, _)| line), Some(2), "{error}");
    }

    #[test]
    fn a_duplicate_key_is_refused_at_its_line() {
        let error = yaml_error("http_options:\n  port: 1\n  port: 2\n");
        assert_eq!(error.position.map(|(line, _)| line), Some(3), "{error}");
        assert!(error.message.contains("duplicate"), "{error}");
    }

    #[test]
    fn an_alias_bomb_is_an_error_not_an_allocation() {
        let mut text = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for level in 1..12 {
            let previous = (b'a' + level - 1) as char;
            let name = (b'a' + level) as char;
            text.push_str(&format!(
                "{name}: &{name} [*{previous}, *{previous}, *{previous}, *{previous}, *{previous}, *{previous}, *{previous}, *{previous}, *{previous}, *{previous}]\n"
            ));
        }
        assert!(parse_yaml(Path::new("bomb.yaml"), &text).is_err());
    }

    #[test]
    fn empty_files_are_all_defaults() {
        assert!(parse_yaml(Path::new("e.yaml"), "").is_ok());
        assert!(parse_toml(Path::new("e.toml"), "").is_ok());
    }

    #[test]
    fn lines_and_columns_count_characters() {
        assert_eq!(line_and_column("ab\ncé\nx", 6), (2, 3));
        assert_eq!(line_and_column("abc", 0), (1, 1));
    }
}
