//! Route-prefix lookup, once per request: ringserve's segment trie against matchit (axum's
//! router) as the named baseline, with 10 and 1,000 prefixes, for a path that matches and one
//! that does not.
//!
//! `cargo bench --bench prefix`. matchit answers a slightly different question (exact routes
//! with a catch-all), so each prefix is inserted twice — `/p` and `/p/{*rest}` — which gives
//! the same answers as whole-segment prefix matching for these paths.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use ringserve::prefix::PrefixTrie;

/// `count` prefixes of two segments, like `/app17/v1`.
fn prefixes(count: usize) -> Vec<String> {
    (0..count).map(|index| format!("/app{index}/v1")).collect()
}

fn lookups(c: &mut Criterion) {
    for count in [10usize, 1_000] {
        let owned = prefixes(count);
        let borrowed: Vec<&str> = owned.iter().map(String::as_str).collect();
        let trie = PrefixTrie::build(&borrowed).expect("valid prefixes");
        let mut router = matchit::Router::new();
        for (index, prefix) in owned.iter().enumerate() {
            router.insert(prefix.clone(), index).expect("route");
            router
                .insert(format!("{prefix}/{{*rest}}"), index)
                .expect("route");
        }
        let hit = format!("/app{}/v1/items/42", count / 2);
        let miss = "/nothing/here/items/42";
        assert!(trie.lookup(&hit).is_some() && router.at(&hit).is_ok());
        assert!(trie.lookup(miss).is_none() && router.at(miss).is_err());

        let mut group = c.benchmark_group(format!("prefix_lookup_{count}"));
        group.bench_function("trie_hit", |b| b.iter(|| trie.lookup(black_box(&hit))));
        group.bench_function("trie_miss", |b| b.iter(|| trie.lookup(black_box(miss))));
        group.bench_function("matchit_hit", |b| {
            b.iter(|| router.at(black_box(&hit)).map(|found| *found.value).ok())
        });
        group.bench_function("matchit_miss", |b| {
            b.iter(|| router.at(black_box(miss)).map(|found| *found.value).ok())
        });
        group.finish();
    }
}

criterion_group!(benches, lookups);
criterion_main!(benches);
