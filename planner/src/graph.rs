//! The publish-ordering graph: waves and cycles, over package names only.
//!
//! An edge `dependent → dependency` means the dependency must be visible in the registry before
//! the dependent is uploaded. A package's wave is 0 without edges, else one more than the largest
//! wave among its dependencies — every package as early as it can be. Packages on a cycle share
//! the wave of their strongly connected component, so the plan stays complete while it carries
//! the cycle as an error.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};

/// Waves and cycles of an ordering graph.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Ordering {
    /// Wave of every node.
    pub waves: BTreeMap<String, u32>,
    /// One concrete cycle per strongly connected component with more than one node, as the
    /// node sequence `a, b, c` meaning `a → b → c → a`, starting at the smallest name.
    pub cycles: Vec<Vec<String>>,
}

impl Ordering {
    /// Node names grouped by wave, each wave sorted.
    pub fn wave_lists(&self) -> Vec<Vec<String>> {
        let count = self.waves.values().max().map_or(0, |max| *max as usize + 1);
        let mut lists = vec![Vec::new(); count];
        for (name, wave) in &self.waves {
            lists[*wave as usize].push(name.clone());
        }
        lists
    }
}

/// Computes waves and cycles. `edges` are `(dependent, dependency)`; edges naming unknown nodes
/// and self-edges are ignored.
pub fn order(nodes: &BTreeSet<String>, edges: &BTreeSet<(String, String)>) -> Ordering {
    let mut graph: DiGraph<&str, ()> = DiGraph::new();
    let index: BTreeMap<&str, NodeIndex> = nodes
        .iter()
        .map(|name| (name.as_str(), graph.add_node(name.as_str())))
        .collect();
    for (from, to) in edges {
        if from == to {
            continue;
        }
        if let (Some(&a), Some(&b)) = (index.get(from.as_str()), index.get(to.as_str())) {
            graph.add_edge(a, b, ());
        }
    }

    // tarjan_scc yields components in reverse topological order of the edges, so every
    // dependency's component is finished before its dependents'.
    let components = tarjan_scc(&graph);
    let mut component_of = vec![0usize; graph.node_count()];
    for (id, component) in components.iter().enumerate() {
        for node in component {
            component_of[node.index()] = id;
        }
    }
    let mut component_wave = vec![0u32; components.len()];
    let mut cycles = Vec::new();
    for (id, component) in components.iter().enumerate() {
        let wave = component
            .iter()
            .flat_map(|&node| graph.neighbors(node))
            .filter(|next| component_of[next.index()] != id)
            .map(|next| component_wave[component_of[next.index()]] + 1)
            .max()
            .unwrap_or(0);
        component_wave[id] = wave;
        if component.len() > 1 {
            cycles.push(find_cycle(&graph, component));
        }
    }
    cycles.sort();

    let waves = index
        .iter()
        .map(|(name, node)| {
            (
                (*name).to_owned(),
                component_wave[component_of[node.index()]],
            )
        })
        .collect();
    Ordering { waves, cycles }
}

/// The shortest cycle through the component's smallest-named node, neighbours in name order.
fn find_cycle(graph: &DiGraph<&str, ()>, component: &[NodeIndex]) -> Vec<String> {
    let members: BTreeSet<NodeIndex> = component.iter().copied().collect();
    let Some(&start) = component.iter().min_by_key(|node| graph[**node]) else {
        return Vec::new();
    };
    let sorted_neighbours = |node: NodeIndex| {
        let mut next: Vec<NodeIndex> = graph
            .neighbors(node)
            .filter(|n| members.contains(n))
            .collect();
        next.sort_by_key(|n| graph[*n]);
        next.dedup();
        next
    };
    let mut parent: BTreeMap<NodeIndex, NodeIndex> = BTreeMap::new();
    let mut queue = VecDeque::from([start]);
    let mut closing = None;
    'search: while let Some(node) = queue.pop_front() {
        for next in sorted_neighbours(node) {
            if next == start {
                closing = Some(node);
                break 'search;
            }
            if let std::collections::btree_map::Entry::Vacant(slot) = parent.entry(next) {
                slot.insert(node);
                queue.push_back(next);
            }
        }
    }
    let mut path = Vec::new();
    let mut node = closing;
    while let Some(current) = node {
        path.push(graph[current].to_owned());
        node = if current == start {
            None
        } else {
            parent.get(&current).copied()
        };
    }
    path.reverse();
    path
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn names(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    fn edges(list: &[(&str, &str)]) -> BTreeSet<(String, String)> {
        list.iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    }

    #[test]
    fn chain_diamond_and_independent() {
        let ordering = order(
            &names(&["a", "b", "c", "d", "lone"]),
            &edges(&[("b", "a"), ("c", "a"), ("d", "b"), ("d", "c")]),
        );
        assert_eq!(
            ordering.wave_lists(),
            vec![vec!["a", "lone"], vec!["b", "c"], vec!["d"]]
        );
        assert!(ordering.cycles.is_empty());
    }

    #[test]
    fn cycle_is_reported_from_smallest_name() {
        let ordering = order(
            &names(&["x", "y", "z", "top"]),
            &edges(&[("z", "x"), ("x", "y"), ("y", "z"), ("top", "y")]),
        );
        assert_eq!(ordering.cycles, vec![vec!["x", "y", "z"]]);
        assert_eq!(ordering.waves["x"], 0);
        assert_eq!(ordering.waves["top"], 1);
    }

    #[test]
    fn self_edges_are_not_cycles() {
        let ordering = order(&names(&["a"]), &edges(&[("a", "a")]));
        assert!(ordering.cycles.is_empty());
        assert_eq!(ordering.waves["a"], 0);
    }

    /// A random DAG: edges only from a higher index to a lower one.
    fn dag() -> impl Strategy<Value = (BTreeSet<String>, BTreeSet<(String, String)>)> {
        (1usize..40).prop_flat_map(|n| {
            let pairs = proptest::collection::vec((0..n, 0..n), 0..n * 3);
            pairs.prop_map(move |pairs| {
                let name = |i: usize| format!("crate-{i:02}");
                let nodes = (0..n).map(name).collect();
                let edges = pairs
                    .into_iter()
                    .filter(|(a, b)| a > b)
                    .map(|(a, b)| (name(a), name(b)))
                    .collect();
                (nodes, edges)
            })
        })
    }

    proptest! {
        #[test]
        fn every_edge_goes_to_a_lower_wave((nodes, edges) in dag()) {
            let ordering = order(&nodes, &edges);
            prop_assert!(ordering.cycles.is_empty());
            for (from, to) in &edges {
                prop_assert!(ordering.waves[to] < ordering.waves[from], "{from} -> {to}");
            }
        }

        #[test]
        fn waves_are_minimal((nodes, edges) in dag()) {
            let ordering = order(&nodes, &edges);
            for (name, wave) in &ordering.waves {
                let deepest = edges
                    .iter()
                    .filter(|(from, _)| from == name)
                    .map(|(_, to)| ordering.waves[to] + 1)
                    .max()
                    .unwrap_or(0);
                prop_assert_eq!(*wave, deepest, "{}", name);
            }
        }
    }
}
