//! Which project a holder belongs to: its working directory, the nearest
//! VCS root above it, the branch, and a name from the nearest manifest.
//!
//! "Three checkouts each run a dev server — which one holds :3000?" The
//! answer is read from files directly (`.git/HEAD`, `package.json`, …): no
//! `git` subprocess, so it costs a few `stat`s and small reads per project,
//! cached per directory for one scan ([`Lookup`]). Everything here is
//! best-effort: an unreadable directory or file means "no project" (`None`),
//! never an error. When not running as root, directories owned by another
//! user (other than root) are not entered, so a scan never reads into other
//! users' homes.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// The project around a working directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Project {
    /// The VCS root (the directory holding `.git`).
    pub root: String,
    /// From the nearest manifest between the cwd and the root, else the
    /// root directory's name.
    pub name: String,
    /// Branch from `HEAD`; a detached HEAD gives the short commit.
    pub branch: Option<String>,
    /// The root is a linked worktree (`git worktree add`).
    pub worktree: bool,
}

impl Project {
    /// `name@branch` (or just the name): what a table column shows.
    pub fn label(&self) -> String {
        match &self.branch {
            Some(b) => format!("{}@{b}", self.name),
            None => self.name.clone(),
        }
    }
}

/// A holder's working directory and project.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcContext {
    /// `/proc/PID/cwd`, when readable.
    pub cwd: Option<String>,
    /// The project around `cwd`, when there is one.
    pub project: Option<Project>,
}

/// The context of every pid in `holders`: cwd (from `cwd_of`) and project,
/// looked up with one [`Lookup`] so each directory is examined once per
/// scan. Another user's process is skipped when not root (its cwd is not
/// ours to read).
pub fn contexts(
    snap: &crate::model::Snapshot,
    holders: &std::collections::BTreeSet<crate::model::Pid>,
    euid: u32,
    cwd_of: &mut dyn FnMut(&crate::model::Process) -> Option<String>,
) -> std::collections::BTreeMap<crate::model::Pid, ProcContext> {
    let mut lookup = Lookup::new(euid);
    holders
        .iter()
        .filter_map(|&pid| {
            let p = snap.process(pid)?;
            if euid != 0 && p.uid != euid {
                return Some((pid, ProcContext::default()));
            }
            let cwd = cwd_of(p);
            let project = cwd.as_deref().and_then(|c| lookup.project(c));
            Some((pid, ProcContext { cwd, project }))
        })
        .collect()
}

/// The branch named by the text of a `HEAD` file: `ref: refs/heads/main` →
/// `main`; a detached HEAD (a commit id) → its first 7 hex digits.
pub fn parse_head(text: &str) -> Option<String> {
    let t = text.trim();
    if let Some(r) = t.strip_prefix("ref:") {
        let r = r.trim();
        let b = r.strip_prefix("refs/heads/").unwrap_or(r);
        return (!b.is_empty()).then(|| b.to_string());
    }
    let hex = t.len() >= 7 && t.bytes().all(|b| b.is_ascii_hexdigit());
    hex.then(|| t[..7].to_string())
}

/// The directory a `.git` *file* points at (`gitdir: ../.git/worktrees/x`),
/// resolved against the directory holding the file.
pub fn parse_gitfile(text: &str, dir: &Path) -> Option<PathBuf> {
    let p = text.lines().next()?.trim().strip_prefix("gitdir:")?.trim();
    (!p.is_empty()).then(|| dir.join(p))
}

/// `name` from a `package.json`.
pub fn package_json_name(text: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    nonempty(v.get("name")?.as_str()?)
}

/// `[package] name` from a `Cargo.toml`, or `[project] name` from a
/// `pyproject.toml`.
pub fn toml_name(text: &str, table: &str) -> Option<String> {
    let v: toml::Table = text.parse().ok()?;
    nonempty(v.get(table)?.get("name")?.as_str()?)
}

/// The `module` path of a `go.mod`.
pub fn go_mod_name(text: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let m = l.trim().strip_prefix("module")?;
        // `module` must be a whole word: `modulefoo` is not the directive.
        if !m.starts_with([' ', '\t']) {
            return None;
        }
        nonempty(m.trim().trim_matches('"'))
    })
}

fn nonempty(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}

/// Manifests, in the order they are tried in one directory.
const MANIFESTS: [&str; 4] = ["package.json", "Cargo.toml", "pyproject.toml", "go.mod"];

/// Largest manifest or HEAD file read (a bigger one is not a manifest we
/// want to parse on every scan).
const MAX_FILE: u64 = 256 * 1024;

/// Per-scan cache of project lookups: each directory is examined at most
/// once however many holders sit below it.
#[derive(Debug)]
pub struct Lookup {
    euid: u32,
    /// dir → the VCS root at or above it (with its gitdir), if any.
    roots: HashMap<PathBuf, Option<(PathBuf, PathBuf)>>,
    /// dir → the manifest name found in it.
    names: HashMap<PathBuf, Option<String>>,
    /// root → (branch, worktree).
    heads: HashMap<PathBuf, (Option<String>, bool)>,
}

impl Lookup {
    /// A cache for one scan by a process with effective uid `euid`.
    pub fn new(euid: u32) -> Self {
        Lookup {
            euid,
            roots: HashMap::new(),
            names: HashMap::new(),
            heads: HashMap::new(),
        }
    }

    /// The project around `cwd` (an absolute path), if there is one.
    pub fn project(&mut self, cwd: &str) -> Option<Project> {
        let cwd = Path::new(cwd);
        if !cwd.is_absolute() {
            return None;
        }
        let (root, gitdir) = self.root_of(cwd)?;
        let (branch, worktree) = self
            .heads
            .entry(root.clone())
            .or_insert_with(|| read_head(&gitdir))
            .clone();
        let name = cwd
            .ancestors()
            .take_while(|d| d.starts_with(&root))
            .find_map(|d| self.manifest_name(d))
            .or_else(|| root.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| root.display().to_string());
        Some(Project {
            root: root.display().to_string(),
            name,
            branch,
            worktree,
        })
    }

    /// May this process look inside `dir`? Root may; anyone else only into
    /// their own directories and root's (`/`, `/home`, `/srv`).
    fn allowed(&self, dir: &Path) -> bool {
        if self.euid == 0 {
            return true;
        }
        std::fs::metadata(dir).is_ok_and(|m| m.uid() == self.euid || m.uid() == 0)
    }

    fn root_of(&mut self, dir: &Path) -> Option<(PathBuf, PathBuf)> {
        if let Some(r) = self.roots.get(dir) {
            return r.clone();
        }
        let found = if !self.allowed(dir) {
            None
        } else {
            match git_dir_of(dir) {
                Some(gitdir) => Some((dir.to_path_buf(), gitdir)),
                None => dir.parent().and_then(|p| self.root_of(p)),
            }
        };
        self.roots.insert(dir.to_path_buf(), found.clone());
        found
    }

    fn manifest_name(&mut self, dir: &Path) -> Option<String> {
        if let Some(n) = self.names.get(dir) {
            return n.clone();
        }
        let n = MANIFESTS.iter().find_map(|m| {
            let text = read_small(&dir.join(m))?;
            match *m {
                "package.json" => package_json_name(&text),
                "Cargo.toml" => toml_name(&text, "package"),
                "pyproject.toml" => toml_name(&text, "project"),
                _ => go_mod_name(&text),
            }
        });
        self.names.insert(dir.to_path_buf(), n.clone());
        n
    }
}

/// The git directory for `dir` when `dir` is a VCS root: `dir/.git` when it
/// is a directory, or where a `.git` file points (worktrees, submodules).
fn git_dir_of(dir: &Path) -> Option<PathBuf> {
    let dotgit = dir.join(".git");
    let meta = std::fs::symlink_metadata(&dotgit).ok()?;
    if meta.is_dir() {
        Some(dotgit)
    } else if meta.is_file() {
        parse_gitfile(&read_small(&dotgit)?, dir)
    } else {
        None
    }
}

/// Branch and "is a linked worktree" from a git directory. A linked
/// worktree's gitdir has a `commondir` file; a submodule's does not.
fn read_head(gitdir: &Path) -> (Option<String>, bool) {
    let branch = read_small(&gitdir.join("HEAD")).and_then(|t| parse_head(&t));
    (branch, gitdir.join("commondir").is_file())
}

fn read_small(path: &Path) -> Option<String> {
    use std::io::Read;
    let f = std::fs::File::open(path).ok()?;
    let mut s = String::new();
    f.take(MAX_FILE).read_to_string(&mut s).ok()?;
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_branch_and_detached() {
        assert_eq!(
            parse_head("ref: refs/heads/main\n").as_deref(),
            Some("main")
        );
        assert_eq!(
            parse_head("ref: refs/heads/feature/login\n").as_deref(),
            Some("feature/login")
        );
        assert_eq!(
            parse_head("3f2a9c1d8e7b6a5f4e3d2c1b0a9f8e7d6c5b4a39\n").as_deref(),
            Some("3f2a9c1")
        );
        assert_eq!(parse_head(""), None);
        assert_eq!(parse_head("not a head"), None);
    }

    #[test]
    fn gitfile_points_relative_or_absolute() {
        let dir = Path::new("/home/dev/shop-wt");
        assert_eq!(
            parse_gitfile("gitdir: /home/dev/shop/.git/worktrees/shop-wt\n", dir),
            Some(PathBuf::from("/home/dev/shop/.git/worktrees/shop-wt"))
        );
        assert_eq!(
            parse_gitfile("gitdir: ../.git/modules/lib\n", dir),
            Some(PathBuf::from("/home/dev/shop-wt/../.git/modules/lib"))
        );
        assert_eq!(parse_gitfile("something else", dir), None);
    }

    #[test]
    fn manifest_names() {
        assert_eq!(
            package_json_name(r#"{"name": "shop", "version": "1.0.0"}"#).as_deref(),
            Some("shop")
        );
        assert_eq!(package_json_name(r#"{"private": true}"#), None);
        assert_eq!(package_json_name("{broken"), None);
        let cargo =
            "[workspace]\nmembers = []\n\n[package]\nname = \"portwarden\"\nversion = \"0.1.0\"\n";
        assert_eq!(toml_name(cargo, "package").as_deref(), Some("portwarden"));
        assert_eq!(toml_name("[workspace]\n", "package"), None);
        let py = "[build-system]\nrequires = []\n[project]\nname = \"api\"\n";
        assert_eq!(toml_name(py, "project").as_deref(), Some("api"));
        assert_eq!(
            go_mod_name("// comment\nmodule example.com/shop\n\ngo 1.22\n").as_deref(),
            Some("example.com/shop")
        );
        assert_eq!(go_mod_name("modulex foo\n"), None);
    }

    #[test]
    fn another_users_directory_is_not_entered_unless_root() {
        use std::os::unix::fs::MetadataExt;
        let tmp = tempfile::tempdir().expect("tmp");
        let repo = tmp.path().join("theirs");
        std::fs::create_dir_all(repo.join(".git")).expect("mkdir");
        std::fs::write(repo.join(".git/HEAD"), "ref: refs/heads/main\n").expect("head");
        let me = std::fs::metadata(tmp.path()).expect("meta").uid();
        // The repository belongs to someone else: as root, hand it to uid
        // 4242; as a user, it is ours and we ask as another uid.
        let asker = if me == 0 {
            std::os::unix::fs::chown(&repo, Some(4242), None).expect("chown");
            1000
        } else {
            me + 1
        };
        let dir = repo.display().to_string();
        assert_eq!(Lookup::new(asker).project(&dir), None);
        assert_eq!(
            Lookup::new(0).project(&dir).map(|p| p.label()),
            Some("theirs@main".to_string())
        );
    }

    #[test]
    fn lookup_finds_root_branch_and_nearest_manifest() {
        let tmp = tempfile::tempdir().expect("tmp");
        let root = tmp.path().join("shop");
        let web = root.join("packages/web");
        std::fs::create_dir_all(root.join(".git")).expect("mkdir");
        std::fs::create_dir_all(&web).expect("mkdir");
        std::fs::write(root.join(".git/HEAD"), "ref: refs/heads/dev\n").expect("head");
        std::fs::write(web.join("package.json"), r#"{"name":"web"}"#).expect("pkg");
        let mut l = Lookup::new(0);
        let p = l.project(&web.display().to_string()).expect("project");
        assert_eq!(p.root, root.display().to_string());
        assert_eq!((p.name.as_str(), p.branch.as_deref()), ("web", Some("dev")));
        assert!(!p.worktree);
        // The root itself has no manifest: its directory name.
        let p = l.project(&root.display().to_string()).expect("project");
        assert_eq!(p.label(), "shop@dev");
        assert_eq!(l.project("/"), None);
        assert_eq!(l.project("relative/dir"), None);
    }
}
