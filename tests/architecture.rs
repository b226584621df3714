//! The crate map in `docs/architecture.md` is the workspace's: every arrow in its table is a
//! normal dependency in a manifest and every such dependency is an arrow; and the rules the
//! design sets for the arrows hold (no library reaches the simulator or the demo, the watchers
//! know nothing of Autodiscover or of each other).

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

/// Each workspace package and the workspace packages it depends on (normal dependencies).
fn manifests() -> BTreeMap<String, BTreeSet<String>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args([
            "metadata",
            "--offline",
            "--no-deps",
            "--format-version",
            "1",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let packages = metadata["packages"].as_array().expect("packages");
    let names: BTreeSet<String> = packages
        .iter()
        .map(|p| p["name"].as_str().expect("a name").to_owned())
        .collect();
    packages
        .iter()
        .map(|p| {
            let deps = p["dependencies"]
                .as_array()
                .expect("dependencies")
                .iter()
                .filter(|d| d["kind"].is_null())
                .map(|d| d["name"].as_str().expect("a name").to_owned())
                .filter(|d| names.contains(d))
                .collect();
            (p["name"].as_str().expect("a name").to_owned(), deps)
        })
        .collect()
}

/// The table under "## Dependencies" in docs/architecture.md: `| crate | depends on |`.
fn documented() -> BTreeMap<String, BTreeSet<String>> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/architecture.md");
    let text = std::fs::read_to_string(path).expect("docs/architecture.md");
    let table = text
        .split("## Dependencies")
        .nth(1)
        .expect("a Dependencies section");
    table
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .map(|row| {
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            let name = cells[1].trim_matches('`').to_owned();
            let deps = cells[2]
                .split(',')
                .map(|d| d.trim().trim_matches('`').to_owned())
                .filter(|d| !d.is_empty() && d != "-")
                .collect();
            (name, deps)
        })
        .collect()
}

/// Everything `name` reaches through normal dependencies.
fn reach(graph: &BTreeMap<String, BTreeSet<String>>, name: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut todo = vec![name.to_owned()];
    while let Some(next) = todo.pop() {
        for dep in graph.get(&next).into_iter().flatten() {
            if seen.insert(dep.clone()) {
                todo.push(dep.clone());
            }
        }
    }
    seen
}

#[test]
fn the_documented_crate_map_is_the_manifests() {
    assert_eq!(documented(), manifests());
}

#[test]
fn no_library_reaches_the_simulator_or_the_demo() {
    let graph = manifests();
    for name in graph.keys() {
        if ["bems-cli", "bems-demo", "exchange-sim"].contains(&name.as_str()) {
            continue;
        }
        let reached = reach(&graph, name);
        assert!(
            !reached.contains("exchange-sim"),
            "{name} reaches exchange-sim"
        );
        assert!(!reached.contains("bems-demo"), "{name} reaches bems-demo");
    }
}

#[test]
fn the_watchers_know_nothing_of_autodiscover_or_of_each_other() {
    let graph = manifests();
    let ews = reach(&graph, "ews-subscriptions");
    assert!(!ews.contains("autodiscover"), "{ews:?}");
    assert!(!ews.contains("graph-subscriptions"), "{ews:?}");
    let graph_watcher = reach(&graph, "graph-subscriptions");
    assert!(
        !graph_watcher.contains("ews-subscriptions"),
        "{graph_watcher:?}"
    );
    assert!(!graph_watcher.contains("autodiscover"), "{graph_watcher:?}");
    assert!(
        reach(&graph, "push-delivery").is_empty(),
        "push-delivery knows nothing of Exchange"
    );
}
