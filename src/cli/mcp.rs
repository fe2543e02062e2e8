//! `portwarden mcp`: a Model Context Protocol server on stdio, so a coding
//! agent asks portwarden instead of running `lsof -ti :3000 | xargs kill -9`.
//!
//! Three tools over the same core as the CLI: `list_listeners` (the
//! `list --json` document), `explain_port` (the `why` text) and `free_port`
//! (a `kill` plan executed, the report returned). The server is read-only
//! unless started with `--allow-kill`; even then the policy is the CLI's
//! with no `--force`: `live` holders need `allow_live: true` in the call,
//! `foreign` and `managed` holders are refused (`managed` with its stop
//! command), protected processes never. The tool descriptions say what each
//! class means and when the agent must ask its user first, because the
//! agent reads them, not the README.

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock, ServerCapabilities, ServerConfig};
use rmcp::{ErrorData, ServerHandler, ServiceExt, schemars, tool, tool_handler, tool_router};
use serde::Deserialize;

use super::{CliError, McpArgs, exit, json};
use portwarden::classify;
use portwarden::config::Config;
use portwarden::discover::{Options, discover};
use portwarden::kill::{self, Policy};
use portwarden::spec::{PortSpec, parse_duration};

/// What every class means, for an agent deciding whether to ask its user.
const CLASSES: &str = "Classes: orphan = left behind by an unclean exit (its launcher died): \
safe to free, the normal thing to reclaim. daemon = a deliberate background service of this \
user: ask the user before freeing. live = part of a program that is running right now (its \
parent is alive, e.g. the user's dev server in a terminal): ASK THE USER, and only then call \
free_port with allow_live: true. foreign = another user's process, managed = run by systemd or a \
container runtime: never freed here; tell the user (for managed, the stop command is given). \
self = portwarden or its parent: never.";

/// Run the server until the client closes stdin.
pub fn run(args: &McpArgs, cfg: &Config) -> Result<u8, CliError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(CliError::Write)?;
    let server = Server::new(cfg.clone(), args.allow_kill);
    rt.block_on(async move {
        let service = server
            .serve(rmcp::transport::stdio())
            .await
            .map_err(|e| CliError::Write(std::io::Error::other(e.to_string())))?;
        service
            .waiting()
            .await
            .map_err(|e| CliError::Write(std::io::Error::other(e.to_string())))?;
        Ok::<(), CliError>(())
    })?;
    Ok(exit::OK)
}

/// `list_listeners` arguments.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
pub struct ListParams {
    /// Only these ports: "3000", "tcp:8080", "udp:53" (default: all).
    #[serde(default)]
    pub ports: Option<Vec<String>>,
    /// Only listeners whose holder works in this project: its name (from
    /// package.json, Cargo.toml, pyproject.toml, go.mod, else the
    /// repository's directory name) or a directory the holder's working
    /// directory is inside.
    #[serde(default)]
    pub project: Option<String>,
}

/// `explain_port` arguments.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct ExplainParams {
    /// The port: "3000", "tcp:8080", "udp:53".
    pub port: String,
}

/// `free_port` arguments.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct FreeParams {
    /// The port to free: "3000", "tcp:8080", "udp:53".
    pub port: String,
    /// Refuse unless every holder's command line contains this text
    /// (e.g. "vite"): protects against freeing the wrong program.
    #[serde(default)]
    pub only: Option<String>,
    /// First signal: TERM (default), INT, HUP, KILL or a number.
    #[serde(default)]
    pub signal: Option<String>,
    /// Wait this long after the first signal before SIGKILL: "500ms", "3s".
    #[serde(default)]
    pub grace: Option<String>,
    /// Also end every descendant of the holders.
    #[serde(default)]
    pub tree: Option<bool>,
    /// The user has agreed to end a `live` holder (part of a running
    /// program). Set it only after asking.
    #[serde(default)]
    pub allow_live: Option<bool>,
}

/// The MCP server: the config it was started with and whether killing is
/// allowed at all.
#[derive(Debug, Clone)]
pub struct Server {
    cfg: Config,
    allow_kill: bool,
    tool_router: ToolRouter<Self>,
}

fn text(s: impl Into<String>) -> Vec<ContentBlock> {
    vec![ContentBlock::text(s)]
}

fn port_spec(s: &str) -> Result<PortSpec, CallToolResult> {
    s.parse::<PortSpec>()
        .map_err(|e| CallToolResult::error(text(format!("bad port '{s}': {e}"))))
}

fn to_json(v: &impl serde::Serialize) -> Result<String, ErrorData> {
    // Compact: json_safe escapes controls as \uXXXX, which is only valid
    // inside strings (a pretty-printer's newlines are outside them).
    serde_json::to_string(v)
        .map(portwarden::escape::json_safe)
        .map_err(|e| ErrorData::internal_error(e.to_string(), None))
}

fn scan_error(e: portwarden::Error) -> ErrorData {
    ErrorData::internal_error(format!("cannot scan: {e}"), None)
}

#[tool_router]
impl Server {
    /// A server with this config; `allow_kill` unlocks `free_port`.
    pub fn new(cfg: Config, allow_kill: bool) -> Self {
        Server {
            cfg,
            allow_kill,
            tool_router: Self::tool_router(),
        }
    }

    #[tool(
        description = "List listening TCP/UDP sockets on this machine with the processes holding them \
and each holder's class (JSON, schema 1, like `portwarden list --json`; each socket also has \
`project`). Read-only. Filter with ports (e.g. [\"3000\", \"udp:53\"]) and project. Use it before \
starting a server to see whether its port is taken, and by what. Classes: orphan (left behind by an \
unclean exit: free it), daemon (a deliberate background service: ask the user), live (part of a \
program running now, e.g. the user's dev server: ask the user), foreign (another user's) and managed \
(systemd/container: use its stop command): tell the user, never free them; self: portwarden itself."
    )]
    async fn list_listeners(
        &self,
        Parameters(p): Parameters<ListParams>,
    ) -> Result<CallToolResult, ErrorData> {
        let mut specs = Vec::new();
        for s in p.ports.iter().flatten() {
            match port_spec(s) {
                Ok(spec) => specs.push(spec),
                Err(r) => return Ok(r),
            }
        }
        let snap = discover(&Options::default()).map_err(scan_error)?;
        let verdicts = classify::classify(&snap, &self.cfg.context());
        let mut sockets = Vec::new();
        for s in super::list::select(&snap, &specs) {
            let ctx = s.holders.iter().find_map(|pid| snap.contexts.get(pid));
            let project = ctx.and_then(|c| c.project.as_ref());
            if let Some(want) = &p.project
                && !in_project(want, ctx)
            {
                continue;
            }
            let project = project.map(|p| p.name.clone());
            let mut v = serde_json::to_value(json::socket(&snap, &verdicts, s))
                .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
            if let Some(o) = v.as_object_mut() {
                o.insert("project".into(), project.into());
            }
            sockets.push(v);
        }
        let doc = serde_json::json!({ "schema": 1, "sockets": sockets });
        Ok(CallToolResult::success(text(to_json(&doc)?)))
    }

    #[tool(
        description = "Explain who holds a port, in prose: each holder's class and the reasons for it, \
its parents, its process group, and exactly which processes free_port would signal (or why it \
would refuse). Read-only. Call it before free_port and show the user the plan when the holder is \
not an orphan."
    )]
    async fn explain_port(
        &self,
        Parameters(p): Parameters<ExplainParams>,
    ) -> Result<CallToolResult, ErrorData> {
        let spec = match port_spec(&p.port) {
            Ok(s) => s,
            Err(r) => return Ok(r),
        };
        let snap = discover(&Options::default()).map_err(scan_error)?;
        let policy = self.cfg.kill_policy();
        let s = super::why::explain(
            &snap,
            &self.cfg.context(),
            &policy,
            spec,
            portwarden::timefmt::now(),
        );
        Ok(CallToolResult::success(text(s)))
    }

    #[tool(
        description = "Free a port by ending its holders' process groups safely (identity re-checked \
before every signal, SIGTERM then SIGKILL after the grace, the port watched until free). Returns the \
plan and the report as JSON; is_error when refused or not freed. Only available when the server was \
started with --allow-kill. orphan and daemon holders are freed; a live holder needs allow_live: true \
— ask the user first; foreign and managed holders are always refused (tell the user; managed comes \
with the command that stops it properly); portwarden itself and its parents never. Prefer this over \
`kill`/`lsof | xargs kill -9`."
    )]
    async fn free_port(
        &self,
        Parameters(p): Parameters<FreeParams>,
    ) -> Result<CallToolResult, ErrorData> {
        if !self.allow_kill {
            return Ok(CallToolResult::error(text(format!(
                "refused, nothing signalled: this portwarden MCP server is read-only (started without \
--allow-kill). Ask the user to run `portwarden kill {}` themselves, or to restart the server with \
`portwarden mcp --allow-kill`.",
                p.port
            ))));
        }
        let spec = match port_spec(&p.port) {
            Ok(s) => s,
            Err(r) => return Ok(r),
        };
        let policy = match self.policy(&p) {
            Ok(pol) => pol,
            Err(msg) => return Ok(CallToolResult::error(text(msg))),
        };
        let snap = discover(&Options::default()).map_err(scan_error)?;
        let plan = kill::plan_ports(&snap, &self.cfg.context(), &[spec], &policy);
        if plan.is_refused() {
            let doc = serde_json::json!({ "schema": 1, "refused": true, "plan": &plan,
                "report": null, "hint": CLASSES });
            return Ok(CallToolResult::error(text(to_json(&doc)?)));
        }
        let report = kill::execute(&plan, &mut |_| {});
        let doc = serde_json::json!({ "schema": 1, "refused": false, "plan": &plan,
            "report": &report, "summary": report.summary() });
        let body = text(to_json(&doc)?);
        Ok(if report.success() {
            CallToolResult::success(body)
        } else {
            CallToolResult::error(body)
        })
    }
}

impl Server {
    /// The CLI's policy for one call: config defaults, the call's signal,
    /// grace and tree, `allow_live` only when asked, never `force`.
    fn policy(&self, p: &FreeParams) -> Result<Policy, String> {
        let base = self.cfg.kill_policy();
        let signal = match &p.signal {
            Some(s) => kill::parse_signal(s)?,
            None => base.signal,
        };
        let grace = match &p.grace {
            Some(g) => parse_duration(g)?,
            None => base.grace,
        };
        Ok(Policy {
            signal,
            grace,
            tree: p.tree.unwrap_or(false),
            force: false,
            allow_live: p.allow_live.unwrap_or(false),
            only: p.only.clone(),
            ..base
        })
    }
}

/// Does a holder with this context work in project `want` (a project name,
/// or an absolute directory its working directory is inside)?
fn in_project(want: &str, ctx: Option<&portwarden::project::ProcContext>) -> bool {
    let Some(ctx) = ctx else {
        return false;
    };
    if ctx.project.as_ref().is_some_and(|p| p.name == want) {
        return true;
    }
    want.starts_with('/')
        && ctx
            .cwd
            .as_deref()
            .is_some_and(|cwd| std::path::Path::new(cwd).starts_with(want))
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Server {
    fn get_info(&self) -> ServerConfig {
        let mode = if self.allow_kill {
            "free_port is enabled (the CLI's policy applies)."
        } else {
            "This server is read-only: free_port refuses."
        };
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(rmcp::model::Implementation::new(
                "portwarden",
                env!("CARGO_PKG_VERSION"),
            ))
            .with_instructions(format!(
                "portwarden answers who holds a port, what kind of holder it is, and frees it \
safely. Never kill port holders with kill/lsof/fuser: use free_port. {mode} {CLASSES}"
            ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn free(allow_live: Option<bool>) -> FreeParams {
        FreeParams {
            port: "3000".into(),
            only: None,
            signal: Some("INT".into()),
            grace: Some("500ms".into()),
            tree: None,
            allow_live,
        }
    }

    #[test]
    fn policy_never_forces_and_allows_live_only_when_asked() {
        let s = Server::new(Config::default(), true);
        let p = s.policy(&free(None)).expect("valid");
        assert!(!p.force && !p.allow_live);
        assert_eq!((p.signal, p.grace.as_millis()), (2, 500));
        assert!(s.policy(&free(Some(true))).expect("valid").allow_live);
        let mut bad = free(None);
        bad.grace = Some("soon".into());
        assert!(s.policy(&bad).is_err());
    }
}
