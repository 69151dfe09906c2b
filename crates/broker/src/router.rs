//! The subscription tree: which sessions a topic reaches.
//!
//! One node per topic level; `+` and `#` have their own slots. AWS's rules (`mqtt.md`): `#`
//! matches one or more levels but not the parent (`sensor/#` does not match `sensor`), and
//! wildcards at the first level never match a topic that starts with `$`. Shared subscriptions
//! (`$share/{group}/{filter}`) hand each message to one member, round robin, preferring members
//! that are online.

use crate::session::{Session, SubOptions};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// A session subscribed with some options.
#[derive(Clone)]
pub struct Target {
    pub session: Arc<Session>,
    pub options: SubOptions,
}

#[derive(Default)]
struct SharedGroup {
    members: Vec<Target>,
    next: AtomicUsize,
}

impl SharedGroup {
    fn pick(&self) -> Option<&Target> {
        let n = self.members.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        (0..n)
            .map(|i| &self.members[(start + i) % n])
            .find(|t| t.session.is_online())
            .or_else(|| self.members.get(start % n.max(1)))
    }
}

#[derive(Default)]
struct Subscribers {
    direct: Vec<Target>,
    shared: HashMap<Box<str>, SharedGroup>,
}

impl Subscribers {
    fn collect(&self, out: &mut Vec<Target>) {
        out.extend(self.direct.iter().cloned());
        out.extend(self.shared.values().filter_map(|g| g.pick().cloned()));
    }

    /// Adds or replaces; true when the subscription is new.
    fn insert(&mut self, group: Option<&str>, target: Target) -> bool {
        let list = match group {
            Some(g) => &mut self.shared.entry(g.into()).or_default().members,
            None => &mut self.direct,
        };
        match list.iter_mut().find(|t| t.session.client_id == target.session.client_id) {
            Some(existing) => {
                *existing = target;
                false
            }
            None => {
                list.push(target);
                true
            }
        }
    }

    fn remove(&mut self, group: Option<&str>, client_id: &str) -> bool {
        let list = match group {
            Some(g) => match self.shared.get_mut(g) {
                Some(group) => &mut group.members,
                None => return false,
            },
            None => &mut self.direct,
        };
        let before = list.len();
        list.retain(|t| &*t.session.client_id != client_id);
        let removed = list.len() != before;
        if let Some(g) = group {
            if self.shared.get(g).is_some_and(|g| g.members.is_empty()) {
                self.shared.remove(g);
            }
        }
        removed
    }

    fn is_empty(&self) -> bool {
        self.direct.is_empty() && self.shared.is_empty()
    }
}

#[derive(Default)]
struct Node {
    children: HashMap<Box<str>, Node>,
    plus: Option<Box<Node>>,
    /// Filters that end at this node.
    here: Subscribers,
    /// Filters that end with `#` below this node.
    hash: Subscribers,
}

impl Node {
    fn is_empty(&self) -> bool {
        self.children.is_empty() && self.plus.is_none() && self.here.is_empty() && self.hash.is_empty()
    }
}

/// Every subscription of every session.
#[derive(Default)]
pub struct SubscriptionTree {
    root: Node,
    count: usize,
}

impl SubscriptionTree {
    /// Adds or replaces `target`'s subscription to `filter` (already validated).
    pub fn insert(&mut self, group: Option<&str>, filter: &str, target: Target) {
        let mut node = &mut self.root;
        for level in filter.split('/') {
            if level == "#" {
                self.count += usize::from(node.hash.insert(group, target));
                return;
            }
            node = if level == "+" {
                node.plus.get_or_insert_with(Default::default)
            } else {
                node.children.entry(level.into()).or_default()
            };
        }
        self.count += usize::from(node.here.insert(group, target));
    }

    /// Removes `client_id`'s subscription to `filter`; true if there was one.
    pub fn remove(&mut self, group: Option<&str>, filter: &str, client_id: &str) -> bool {
        let levels: Vec<&str> = filter.split('/').collect();
        let removed = remove_in(&mut self.root, &levels, group, client_id);
        if removed {
            self.count -= 1;
        }
        removed
    }

    /// Every target `topic` reaches (a client with overlapping filters appears once per filter).
    pub fn matches(&self, topic: &str, out: &mut Vec<Target>) {
        let dollar = topic.starts_with('$');
        // The levels on the stack (no allocation per message) unless the topic has very many.
        let mut stack = [""; STACK_LEVELS];
        let mut n = 0;
        for level in topic.split('/') {
            if n == STACK_LEVELS {
                let levels: Vec<&str> = topic.split('/').collect();
                collect(&self.root, &levels, 0, dollar, out);
                return;
            }
            stack[n] = level;
            n += 1;
        }
        collect(&self.root, &stack[..n], 0, dollar, out);
    }

    /// How many subscriptions the tree holds.
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

/// Topic levels [`SubscriptionTree::matches`] splits on the stack.
const STACK_LEVELS: usize = 16;

fn collect(node: &Node, levels: &[&str], depth: usize, dollar: bool, out: &mut Vec<Target>) {
    let wildcards_allowed = !(depth == 0 && dollar);
    if depth == levels.len() {
        node.here.collect(out);
        return;
    }
    if wildcards_allowed {
        node.hash.collect(out);
        if let Some(plus) = &node.plus {
            collect(plus, levels, depth + 1, dollar, out);
        }
    }
    if let Some(child) = node.children.get(levels[depth]) {
        collect(child, levels, depth + 1, dollar, out);
    }
}

fn remove_in(node: &mut Node, levels: &[&str], group: Option<&str>, client_id: &str) -> bool {
    let Some((first, rest)) = levels.split_first() else {
        return node.here.remove(group, client_id);
    };
    if *first == "#" {
        return node.hash.remove(group, client_id);
    }
    let removed;
    if *first == "+" {
        let Some(plus) = node.plus.as_mut() else { return false };
        removed = remove_in(plus, rest, group, client_id);
        if plus.is_empty() {
            node.plus = None;
        }
    } else {
        let Some(child) = node.children.get_mut(*first) else { return false };
        removed = remove_in(child, rest, group, client_id);
        if child.is_empty() {
            node.children.remove(*first);
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::MqttVersion;
    use std::time::Duration;

    fn target(id: &str) -> Target {
        Target {
            session: Arc::new(Session::new(id.into(), MqttVersion::V311, Duration::ZERO)),
            options: SubOptions { qos: 0, no_local: false, retain_as_published: false },
        }
    }

    fn ids(tree: &SubscriptionTree, topic: &str) -> Vec<String> {
        let mut out = Vec::new();
        tree.matches(topic, &mut out);
        let mut ids: Vec<String> = out.iter().map(|t| t.session.client_id.to_string()).collect();
        ids.sort();
        ids
    }

    #[test]
    fn wildcards_match_as_aws_documents() {
        let mut tree = SubscriptionTree::default();
        tree.insert(None, "sensor/#", target("hash"));
        tree.insert(None, "sensor/+", target("plus"));
        tree.insert(None, "sensor/temp", target("exact"));
        tree.insert(None, "#", target("all"));
        assert_eq!(ids(&tree, "sensor/temp"), ["all", "exact", "hash", "plus"]);
        assert_eq!(ids(&tree, "sensor"), ["all"], "sensor/# does not match its parent");
        assert_eq!(ids(&tree, "sensor/"), ["all", "hash", "plus"]);
        assert_eq!(ids(&tree, "sensor/a/b"), ["all", "hash"]);
    }

    #[test]
    fn wildcards_never_match_dollar_topics_at_the_first_level() {
        let mut tree = SubscriptionTree::default();
        tree.insert(None, "#", target("all"));
        tree.insert(None, "+/things/#", target("plus"));
        tree.insert(None, "$aws/things/#", target("aws"));
        assert_eq!(ids(&tree, "$aws/things/t/shadow/get"), ["aws"]);
    }

    #[test]
    fn removing_prunes_and_counts() {
        let mut tree = SubscriptionTree::default();
        tree.insert(None, "a/+/c", target("x"));
        tree.insert(None, "a/+/c", target("x"));
        assert_eq!(tree.len(), 1, "re-subscribing replaces");
        assert!(tree.remove(None, "a/+/c", "x"));
        assert!(!tree.remove(None, "a/+/c", "x"));
        assert!(ids(&tree, "a/b/c").is_empty());
        assert!(tree.root.is_empty());
    }

    #[test]
    fn a_shared_group_gets_each_message_once() {
        let mut tree = SubscriptionTree::default();
        tree.insert(Some("g"), "jobs/+", target("w1"));
        tree.insert(Some("g"), "jobs/+", target("w2"));
        let mut seen = Vec::new();
        for _ in 0..4 {
            let got = ids(&tree, "jobs/1");
            assert_eq!(got.len(), 1);
            seen.extend(got);
        }
        seen.sort();
        seen.dedup();
        assert_eq!(seen, ["w1", "w2"], "round robin reaches every member");
    }
}
