//! The package as a newcomer meets it: man pages that exist for every
//! page the top page refers to.

use crate::util::portwarden;

/// `man --dir` writes the top page and one page per subcommand, and every
/// `portwarden-X(1)` the top page names is among them.
#[test]
fn man_dir_writes_every_page_the_top_page_names() {
    let dir = tempfile::tempdir().unwrap();
    let out = portwarden()
        .args(["man", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let top = std::fs::read_to_string(dir.path().join("portwarden.1")).unwrap();
    let named: Vec<String> = top
        .lines()
        .filter_map(|l| l.strip_suffix("(1)"))
        .map(|l| l.replace("\\-", "-"))
        .collect();
    for page in ["list", "why", "kill", "wait"] {
        assert!(named.contains(&format!("portwarden-{page}")), "{named:?}");
    }
    for name in &named {
        let page = dir.path().join(format!("{name}.1"));
        let text = std::fs::read_to_string(&page).unwrap_or_else(|e| panic!("{page:?}: {e}"));
        assert!(text.contains(".SH OPTIONS") || text.contains(".SH SYNOPSIS"));
    }
    let kill = std::fs::read_to_string(dir.path().join("portwarden-kill.1")).unwrap();
    for flag in [
        "dry\\-run",
        "\\-\\-grace",
        "\\-\\-tree",
        "\\-\\-only",
        "Exit codes",
    ] {
        assert!(kill.contains(flag), "kill page lacks {flag}");
    }
}

/// `man kill` prints the kill page; an unknown page is a usage error.
#[test]
fn man_prints_one_subcommand_page() {
    let out = portwarden().args(["man", "kill"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(".TH portwarden-kill 1"), "{text}");
    let out = portwarden().args(["man", "nope"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("pages: list"));
}
