//! The library's modules import downward only: this test reads every file under `src/`,
//! resolves each `crate::`, `super::` and `self::` path it names to the file that defines the
//! item (following `pub use` re-exports), and fails on an import of a module above its own
//! layer or on any cycle between files (a directory's `mod.rs` may use its own files: it is
//! the directory's facade). Test modules (`#[cfg(test)] mod …`, `*tests.rs`) are
//! left out: a test may use anything.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

/// The library's top-level modules, from the bottom up; a module may import those of a lower
/// layer or its own (as long as no cycle forms), never one above. Keep in step with the
/// "Layers" section of `src/lib.rs`.
const LAYERS: &[&[&str]] = &[
    &[
        "limits", "error", "options", "rt", "prefix", "http1", "pooled", "metrics", "trace",
    ],
    &["extensions", "body", "request_id"],
    &["response", "request_body", "sse", "set_cookie"],
    &["request", "request_builder"],
    &["deployment"],
    &["middleware"],
    &["ingress"],
    &["deploy"],
    &["builtin"],
    &["config"],
    &["shard"],
    &["serve", "scrape"],
    &["cli"],
];

/// A module, as the path of names from the crate root (`["shard", "uring", "ring"]`).
type Module = Vec<String>;

fn layer_of(module: &Module) -> usize {
    let top = module.first().map_or("", String::as_str);
    LAYERS
        .iter()
        .position(|layer| layer.contains(&top))
        .unwrap_or_else(|| panic!("module {top} is in no layer of tests/layering.rs"))
}

fn module_of(src: &Path, file: &Path) -> Module {
    let relative = file.strip_prefix(src).unwrap().with_extension("");
    let mut names: Module = relative
        .iter()
        .map(|part| part.to_string_lossy().into_owned())
        .collect();
    if names
        .last()
        .is_some_and(|last| last == "mod" || last == "lib")
    {
        names.pop();
    }
    names
}

fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|extension| extension == "rs") {
            found.push(path);
        }
    }
}

/// The file's code without comments and without its `#[cfg(test)] mod name { … }` blocks.
fn code_of(text: &str) -> String {
    let without_comments: String = text
        .lines()
        .map(|line| match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n");
    let mut code = String::new();
    let mut rest = without_comments.as_str();
    while let Some(at) = rest.find("#[cfg(test)]") {
        code.push_str(&rest[..at]);
        let after = &rest[at + "#[cfg(test)]".len()..];
        let trimmed = after.trim_start();
        let block = match (trimmed.find('{'), trimmed.find(';')) {
            (Some(open), Some(semicolon)) => open < semicolon,
            (Some(_), None) => true,
            (None, _) => false,
        };
        if trimmed.starts_with("mod ") && block {
            let open = after.find('{').expect("a block opens");
            let mut depth = 0usize;
            let mut end = after.len();
            for (index, character) in after[open..].char_indices() {
                match character {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            end = open + index + 1;
                            break;
                        }
                    }
                    _ => {}
                }
            }
            rest = &after[end..];
        } else {
            rest = after;
        }
    }
    code.push_str(rest);
    code
}

/// Every path a `use` names, its braces expanded: `a::{b, c::{d}}` → `a::b`, `a::c::d`.
fn expand_use(prefix: &str, tree: &str, paths: &mut Vec<String>) {
    let tree = tree.trim();
    if let Some(inner) = tree
        .strip_prefix('{')
        .and_then(|tree| tree.strip_suffix('}'))
    {
        let mut depth = 0;
        let mut start = 0;
        for (index, character) in inner.char_indices() {
            match character {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    expand_use(prefix, &inner[start..index], paths);
                    start = index + 1;
                }
                _ => {}
            }
        }
        expand_use(prefix, &inner[start..], paths);
    } else if let Some(at) = tree.find("::{") {
        expand_use(
            &format!("{prefix}{}::", &tree[..at]),
            &tree[at + 2..],
            paths,
        );
    } else if !tree.is_empty() {
        let name = tree.split(" as ").next().unwrap().trim();
        paths.push(format!("{prefix}{name}"));
    }
}

/// The `use` trees of `code`, with whether each is a `pub` (re-exporting) one.
fn use_trees(code: &str) -> Vec<(bool, String)> {
    let mut trees = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("use ") {
        let before = &rest[..at];
        let starts_item = before
            .chars()
            .last()
            .is_none_or(|c| c.is_whitespace() || c == ';' || c == '}' || c == ')');
        let after = &rest[at + 4..];
        let Some(end) = after.find(';') else { break };
        if starts_item {
            let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
            let public = before[line_start..].trim_start().starts_with("pub");
            trees.push((public, after[..end].to_owned()));
            rest = &after[end..];
        } else {
            rest = after;
        }
    }
    trees
}

/// Paths written inline in the code: `crate::a::b(…)`, `super::c`.
fn inline_paths(code: &str) -> Vec<String> {
    let mut paths = Vec::new();
    for root in ["crate::", "super::"] {
        let mut rest = code;
        while let Some(at) = rest.find(root) {
            let preceded_by_path = rest[..at]
                .chars()
                .last()
                .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':');
            let tail = &rest[at..];
            let length = tail
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(tail.len());
            if !preceded_by_path {
                paths.push(tail[..length].trim_end_matches(':').to_owned());
            }
            rest = &tail[length.max(1)..];
        }
    }
    paths
}

struct Crate {
    modules: BTreeSet<Module>,
    /// `(module, name)` → the full path a `pub use` in `module` re-exports as `name`.
    reexports: HashMap<(Module, String), Vec<String>>,
}

impl Crate {
    /// The names of `path` (as written in `module`) from the crate root, or `None` for a path
    /// outside the crate.
    fn absolute(&self, module: &Module, path: &str) -> Option<Vec<String>> {
        let mut parts = path.split("::").map(str::to_owned);
        let first = parts.next()?;
        let mut full: Vec<String> = match first.as_str() {
            "crate" => Vec::new(),
            "self" => module.clone(),
            "super" => module[..module.len().saturating_sub(1)].to_vec(),
            name => {
                let mut child = module.clone();
                child.push(name.to_owned());
                if !self.modules.contains(&child) {
                    return None;
                }
                child
            }
        };
        for part in parts {
            if part == "super" {
                full.pop();
            } else if part != "self" {
                full.push(part);
            }
        }
        Some(full)
    }

    /// The file that defines what `full` names, through re-exports.
    fn defining_module(&self, full: &[String], hops: usize) -> Module {
        let mut module = Module::new();
        for (index, part) in full.iter().enumerate() {
            let mut child = module.clone();
            child.push(part.clone());
            if self.modules.contains(&child) {
                module = child;
                continue;
            }
            if hops < 16
                && let Some(target) = self.reexports.get(&(module.clone(), part.clone()))
            {
                let mut next = target.clone();
                next.extend(full[index + 1..].iter().cloned());
                return self.defining_module(&next, hops + 1);
            }
            break;
        }
        module
    }
}

fn name(module: &Module) -> String {
    if module.is_empty() {
        "crate".to_owned()
    } else {
        module.join("::")
    }
}

/// The file-level import graph of the library, test modules left out.
fn import_graph() -> BTreeMap<Module, BTreeSet<Module>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let files: Vec<(Module, String)> = files
        .iter()
        .filter(|file| !file.to_string_lossy().ends_with("tests.rs"))
        .map(|file| {
            (
                module_of(&src, file),
                code_of(&std::fs::read_to_string(file).unwrap()),
            )
        })
        .collect();
    let mut krate = Crate {
        modules: files.iter().map(|(module, _)| module.clone()).collect(),
        reexports: HashMap::new(),
    };
    let mut uses: Vec<(Module, Vec<String>)> = Vec::new();
    for (module, code) in &files {
        let mut paths = Vec::new();
        for (public, tree) in use_trees(code) {
            let mut expanded = Vec::new();
            expand_use("", &tree, &mut expanded);
            for path in expanded {
                if let Some(full) = krate.absolute(module, &path) {
                    if public && let Some(last) = full.last() {
                        krate
                            .reexports
                            .insert((module.clone(), last.clone()), full.clone());
                    }
                    paths.push(full);
                }
            }
        }
        for path in inline_paths(code) {
            paths.extend(krate.absolute(module, &path));
        }
        uses.push((
            module.clone(),
            paths.into_iter().map(|p| p.join("::")).collect(),
        ));
    }
    let mut graph: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    for (module, paths) in uses {
        let targets = graph.entry(module.clone()).or_default();
        for path in paths {
            let full: Vec<String> = path.split("::").map(str::to_owned).collect();
            let target = krate.defining_module(&full, 0);
            // A directory's `mod.rs` declares, wires and re-exports its own files, and the
            // crate root re-exports everything: neither is an import between layers. A
            // file's import of its directory's `mod.rs` (or of a sibling) is one.
            let own_descendant = target.starts_with(&module);
            if !own_descendant && !target.is_empty() && !module.is_empty() {
                targets.insert(target);
            }
        }
    }
    graph
}

#[test]
fn no_module_imports_one_of_a_higher_layer() {
    let graph = import_graph();
    let mut upward = Vec::new();
    for (module, targets) in &graph {
        if module.is_empty() {
            continue;
        }
        for target in targets {
            if layer_of(target) > layer_of(module) {
                upward.push(format!("{} imports {}", name(module), name(target)));
            }
        }
    }
    assert!(
        upward.is_empty(),
        "imports of a higher layer:\n{}",
        upward.join("\n")
    );
}

#[test]
fn no_two_files_import_each_other_even_through_others() {
    let graph = import_graph();
    // Tarjan's strongly connected components: every component of more than one file is a
    // cycle of imports.
    struct Search<'a> {
        graph: &'a BTreeMap<Module, BTreeSet<Module>>,
        index: HashMap<&'a Module, usize>,
        low: HashMap<&'a Module, usize>,
        stack: Vec<&'a Module>,
        cycles: Vec<Vec<String>>,
    }
    fn visit<'a>(search: &mut Search<'a>, module: &'a Module) {
        let next = search.index.len();
        search.index.insert(module, next);
        search.low.insert(module, next);
        search.stack.push(module);
        for target in search.graph.get(module).into_iter().flatten() {
            if !search.index.contains_key(target) {
                visit(search, target);
                let low = search.low[target].min(search.low[module]);
                search.low.insert(module, low);
            } else if search.stack.contains(&target) {
                let low = search.index[target].min(search.low[module]);
                search.low.insert(module, low);
            }
        }
        if search.low[module] == search.index[module] {
            let mut component = Vec::new();
            while let Some(member) = search.stack.pop() {
                component.push(name(member));
                if member == module {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                search.cycles.push(component);
            }
        }
    }
    let mut search = Search {
        graph: &graph,
        index: HashMap::new(),
        low: HashMap::new(),
        stack: Vec::new(),
        cycles: Vec::new(),
    };
    for module in graph.keys() {
        if !search.index.contains_key(module) {
            visit(&mut search, module);
        }
    }
    let cycles: Vec<String> = search
        .cycles
        .iter()
        .map(|cycle| cycle.join(" ↔ "))
        .collect();
    assert!(
        cycles.is_empty(),
        "files that import each other:\n{}",
        cycles.join("\n")
    );
}
