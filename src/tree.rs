//! The process tree around a holder: the library's `tree`.
//!
//! What the TUI's tree view draws and what a person needs before killing a
//! group: the holder's ancestors from init down, the holder, its
//! descendants depth-first, each marked when it shares the holder's process
//! group (those die with it). A pure function of a [`Snapshot`].

use std::collections::HashSet;

use crate::model::{Pid, Snapshot};

/// One line of a process tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeLine {
    /// Process id.
    pub pid: Pid,
    /// Indentation level.
    pub depth: usize,
    /// Ancestor, holder or descendant.
    pub kind: TreeKind,
    /// In the holder's process group (killed together with it).
    pub in_group: bool,
}

/// Where a tree line stands relative to the holder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TreeKind {
    /// A parent, grandparent, … of the holder.
    Ancestor,
    /// The holder itself.
    Holder,
    /// A child, grandchild, … of the holder.
    Descendant,
}

/// The process tree around `holder`: its ancestors from init down, the
/// holder, then its descendants depth-first, each marked when it is in the
/// holder's process group.
pub fn tree(snap: &Snapshot, holder: Pid) -> Vec<TreeLine> {
    let Some(h) = snap.process(holder) else {
        return Vec::new();
    };
    let pgid = h.pgid;
    let in_group = |pid: Pid| snap.process(pid).is_some_and(|p| p.pgid == pgid);
    let mut out = Vec::new();
    let mut ancestors = snap.ancestors(holder);
    ancestors.reverse();
    for (depth, &pid) in ancestors.iter().enumerate() {
        out.push(TreeLine {
            pid,
            depth,
            kind: TreeKind::Ancestor,
            in_group: in_group(pid),
        });
    }
    let base = ancestors.len();
    out.push(TreeLine {
        pid: holder,
        depth: base,
        kind: TreeKind::Holder,
        in_group: true,
    });
    // Depth-first over children, guarding against cycles. One index for the
    // whole walk: a holder like pid 1 has the whole machine below it, and
    // this runs on every frame the tree is open.
    let kids = snap.child_index();
    let children = |pid: Pid| kids.get(&pid).map(Vec::as_slice).unwrap_or(&[]);
    let mut stack: Vec<(Pid, usize)> = children(holder)
        .iter()
        .rev()
        .map(|&c| (c, base + 1))
        .collect();
    let mut seen = HashSet::from([holder]);
    while let Some((pid, depth)) = stack.pop() {
        if !seen.insert(pid) {
            continue;
        }
        out.push(TreeLine {
            pid,
            depth,
            kind: TreeKind::Descendant,
            in_group: in_group(pid),
        });
        for &c in children(pid).iter().rev() {
            stack.push((c, depth + 1));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{Proc, snap};

    #[test]
    fn ancestors_holder_descendants_and_group() {
        // init → bash 10 → npm 20 (group 20) → node 21 (holder, group 20)
        //   → worker 22 (group 20), escapee 23 (own group) → 24
        let s = snap(
            vec![
                Proc::new(10, "bash").build(),
                Proc::new(20, "npm").ppid(10).group(20, 10).build(),
                Proc::new(21, "node").ppid(20).group(20, 10).build(),
                Proc::new(22, "worker").ppid(21).group(20, 10).build(),
                Proc::new(23, "escapee").ppid(21).build(),
                Proc::new(24, "grandchild").ppid(23).group(23, 23).build(),
            ],
            vec![],
        );
        let lines = tree(&s, 21);
        let got: Vec<(Pid, usize, TreeKind, bool)> = lines
            .iter()
            .map(|l| (l.pid, l.depth, l.kind, l.in_group))
            .collect();
        assert_eq!(
            got,
            vec![
                (1, 0, TreeKind::Ancestor, false),
                (10, 1, TreeKind::Ancestor, false),
                (20, 2, TreeKind::Ancestor, true),
                (21, 3, TreeKind::Holder, true),
                (22, 4, TreeKind::Descendant, true),
                (23, 4, TreeKind::Descendant, false),
                (24, 5, TreeKind::Descendant, false),
            ]
        );
        assert!(tree(&s, 99).is_empty());
    }
}
