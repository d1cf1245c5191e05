//! Our Lua scripts, embedded at compile time, and the one way they are called.
//!
//! A script is its includes (lua/includes/) followed by its body. A call
//! ([`ScriptCall`]) runs it one of two ways, and no caller knows which:
//!
//! - Functions (Redis 7+, Valkey): every body is a function of one library,
//!   loaded once per server with `FUNCTION LOAD`, in which the includes are
//!   defined once per load instead of on every call; called with `FCALL`.
//! - EVAL: `EVALSHA` of the script's own text, the includes in front (Redis
//!   6.2, servers without `FUNCTION`).
//!
//! The path is picked per server on first use: Functions, unless the server
//! does not know them; `BULLMQ_NATIVE_SCRIPTS=eval|functions` forces one.
//! On either path a server that forgot our scripts (restart, `SCRIPT FLUSH`,
//! `FUNCTION FLUSH`, a failover to a node that never had them) gets them
//! again and the call is sent again, transparently.
//!
//! Each engine module declares the scripts it runs with `lua_script!`, next to
//! the code that calls them; [`LIBRARY_SCRIPTS`] lists them all for the library.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Mutex, OnceLock};

use redis::aio::ConnectionLike;

use super::connection::is_connection_error;
use redis::{Cmd, ErrorKind, FromRedisValue, RedisError, RedisResult, ServerErrorKind, ToRedisArgs, Value};

/// Declares `static NAME: Script` from files under lua/: includes first, the
/// body last (the body's file names its function in the library).
#[macro_export]
macro_rules! lua_script {
    ($(#[$doc:meta])* $name:ident => [$($file:literal),+ $(,)?]) => {
        $(#[$doc])*
        pub static $name: $crate::engine::scripts::Script = $crate::engine::scripts::Script::new(
            &[$($file),+],
            &[$(include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/lua/", $file))),+],
        );
    };
}

crate::lua_script!(
    /// Adds one or more jobs (Queue.add, each addBulk chunk).
    ADD_JOBS => ["includes/common.lua", "includes/dedup.lua", "addJobs.lua"]
);
crate::lua_script!(
    /// Moves the next job to active (BullMQ's moveToActive).
    MOVE_TO_ACTIVE => ["includes/common.lua", "includes/fetch.lua", "moveToActive.lua"]
);

/// Every script, for the Functions library (a test checks that each body in
/// lua/ is here).
static LIBRARY_SCRIPTS: [&Script; 38] = {
    use super::{active, control, dedup, flow, getters, job_ops, limiter, lock, orphans, retry, scheduler, stalled};
    [
        &ADD_JOBS,
        &MOVE_TO_ACTIVE,
        &active::FETCH_JOBS,
        &active::FINISH_JOBS,
        &control::PAUSE,
        &control::RESUME,
        &control::DRAIN,
        &control::CLEAN,
        &control::OBLITERATE,
        &control::MOVE_JOBS_TO_WAIT,
        &dedup::REMOVE_DEDUPLICATION_KEY,
        &flow::dependencies::MOVE_TO_WAITING_CHILDREN,
        &flow::dependencies::REMOVE_CHILD_DEPENDENCY,
        &flow::dependencies::PAGINATE,
        &flow::dependencies::REMOVE_UNPROCESSED_CHILDREN,
        &flow::insert::ADD_FLOW,
        &getters::GET_JOBS,
        &getters::GET_RANGES,
        &getters::GET_RATE_LIMIT_TTL,
        &job_ops::UPDATE_PROGRESS,
        &job_ops::UPDATE_DATA,
        &job_ops::ADD_LOG,
        &job_ops::PROMOTE,
        &job_ops::CHANGE_DELAY,
        &job_ops::CHANGE_PRIORITY,
        &job_ops::REMOVE_JOB,
        &job_ops::REPROCESS_JOB,
        &job_ops::GET_STATE,
        &limiter::MOVE_JOB_FROM_ACTIVE_TO_WAIT,
        &lock::EXTEND_LOCK,
        &lock::EXTEND_LOCKS,
        &orphans::REMOVE_ORPHANED_JOBS,
        &retry::RETRY_JOB,
        &retry::MOVE_TO_DELAYED,
        &scheduler::ADD_JOB_SCHEDULER,
        &scheduler::UPDATE_JOB_SCHEDULER,
        &scheduler::REMOVE_JOB_SCHEDULER,
        &stalled::MOVE_STALLED_JOBS_TO_WAIT,
    ]
};

/// The includes in an order where each comes after those it uses (every
/// script lists its includes in this order, a test checks it), so that the
/// library can define them all once, at its top level.
static INCLUDES: [&str; 7] = [
    "includes/common.lua",
    "includes/fetch.lua",
    "includes/dedup.lua",
    "includes/parent.lua",
    "includes/finish.lua",
    "includes/removal.lua",
    "includes/scheduler.lua",
];

/// One of our scripts: its files and their texts, includes first.
pub struct Script {
    files: &'static [&'static str],
    texts: &'static [&'static str],
    /// The EVAL form, built on first use.
    eval: OnceLock<redis::Script>,
    /// Its function's name in the library, built on first use.
    function: OnceLock<String>,
}

impl Script {
    pub const fn new(files: &'static [&'static str], texts: &'static [&'static str]) -> Self {
        Self { files, texts, eval: OnceLock::new(), function: OnceLock::new() }
    }

    fn body(&self) -> &'static str {
        self.texts[self.texts.len() - 1]
    }

    /// The body's file name without `.lua`.
    fn stem(&self) -> &'static str {
        let file = self.files[self.files.len() - 1];
        file.strip_suffix(".lua").unwrap_or(file)
    }

    /// The script as EVAL runs it: `rcall` bound to `redis.call` (bound per
    /// call in the library, where `redis.call` does not exist at load time),
    /// then its includes and its body.
    fn eval(&self) -> &redis::Script {
        self.eval.get_or_init(|| {
            let mut source = String::from("local rcall = redis.call\n");
            for text in self.texts {
                source.push_str(text);
                source.push('\n');
            }
            redis::Script::new(&source)
        })
    }

    fn function(&self) -> &str {
        self.function.get_or_init(|| format!("{}{}", LIBRARY.function_prefix, self.stem()))
    }
}

/// The Functions library of all our scripts.
struct Library {
    name: String,
    /// What `FUNCTION LOAD` is given.
    source: String,
    /// Prepended to each body's stem to name its function.
    function_prefix: String,
}

static LIBRARY: LazyLock<Library> = LazyLock::new(|| build_library(&LIBRARY_SCRIPTS));

/// The library of `scripts`: the includes once, then each body as a function
/// of its own. Library and function names carry a hash of the content, so a
/// build with other scripts loads a library of its own next to this one
/// (function names are global to the server) and a running older version
/// keeps its own.
fn build_library(scripts: &[&Script]) -> Library {
    const PREFIX: &str = "%PREFIX%";
    let mut code = String::new();
    // Assigned at the start of each call: at load time Redis exposes only
    // `redis.register_function` (and no other global), at call time the full API.
    code.push_str("local rcall\n");
    for include in INCLUDES {
        let text = scripts
            .iter()
            .flat_map(|s| s.files.iter().zip(s.texts))
            .find(|(f, _)| **f == include)
            .map_or("", |(_, t)| *t);
        code.push_str(text);
        code.push('\n');
    }
    for s in scripts {
        // A body is a chunk's top level: its `local`s stay within the
        // function, its `return` is the function's. The flag keeps what EVAL
        // without a shebang allows and Functions do not by default: keys of
        // several slots on one node (a flow's parent in another queue).
        code.push_str(&format!(
            "redis.register_function{{function_name = '{PREFIX}{}', flags = {{'allow-cross-slot-keys'}},\n\
             callback = function(KEYS, ARGV)\nrcall = redis.call\n{}\nend}}\n",
            s.stem(),
            s.body()
        ));
    }
    // The hash of all of it, wrappers included, before the names go in.
    let hash = redis::Script::new(&code).get_hash()[..16].to_string();
    let name = format!("bullmq_native_{hash}");
    let function_prefix = format!("{name}_");
    let source = format!("#!lua name={name}\n{}", code.replace(PREFIX, &function_prefix));
    Library { name, source, function_prefix }
}

/// How scripts are run on a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScriptPath {
    Functions,
    Eval,
}

/// The path `BULLMQ_NATIVE_SCRIPTS` forces, if any.
fn forced_by_env() -> Option<ScriptPath> {
    static FORCED: LazyLock<Option<ScriptPath>> = LazyLock::new(|| {
        let value = std::env::var("BULLMQ_NATIVE_SCRIPTS").unwrap_or_default();
        match value.trim().to_ascii_lowercase().as_str() {
            "eval" => Some(ScriptPath::Eval),
            "functions" => Some(ScriptPath::Functions),
            "" | "auto" => None,
            other => {
                tracing::warn!(value = other, "BULLMQ_NATIVE_SCRIPTS is neither eval nor functions; ignored");
                None
            }
        }
    });
    *FORCED
}

/// The path one server (or cluster) takes, shared by every queue of this
/// process on it.
#[derive(Debug)]
pub struct ServerScripts {
    forced: Option<ScriptPath>,
    /// Set once the server turned out not to run Functions.
    eval: AtomicBool,
}

impl ServerScripts {
    /// Scripts on `path` only, whatever the server offers.
    pub fn forced(path: ScriptPath) -> Arc<Self> {
        Arc::new(Self { forced: Some(path), eval: AtomicBool::new(path == ScriptPath::Eval) })
    }

    /// The state of the server at `address` (one per address in the process):
    /// the path the environment forces, or Functions until the server
    /// shows it has none.
    pub fn of(address: &str) -> Arc<Self> {
        static SERVERS: LazyLock<Mutex<HashMap<String, Arc<ServerScripts>>>> = LazyLock::new(Mutex::default);
        let make = || match forced_by_env() {
            Some(path) => Self::forced(path),
            None => Arc::new(Self { forced: None, eval: AtomicBool::new(false) }),
        };
        match SERVERS.lock() {
            Ok(mut servers) => servers.entry(address.to_string()).or_insert_with(make).clone(),
            Err(_) => make(),
        }
    }

    pub fn path(&self) -> ScriptPath {
        if self.eval.load(Ordering::Relaxed) {
            ScriptPath::Eval
        } else {
            ScriptPath::Functions
        }
    }

    /// After the server answered that it has no Functions: whether calls
    /// may go on with EVAL (not when Functions are forced).
    fn fall_back_to_eval(&self, why: &str) -> bool {
        if self.forced.is_some() {
            return false;
        }
        if !self.eval.swap(true, Ordering::Relaxed) {
            tracing::info!(reason = why, "Redis Functions not available; running scripts with EVALSHA");
        }
        true
    }

    /// Makes sure the server has the scripts of `path` (the library, or
    /// `script` in the script cache) before calls that must not be sent
    /// twice out of order.
    pub async fn prepare(&self, script: &Script, con: &mut impl ConnectionLike) -> RedisResult<()> {
        if self.path() == ScriptPath::Functions {
            // Asked first: the library is large and is there but after a restart or flush.
            let list = redis::cmd("FUNCTION").arg("LIST").arg("LIBRARYNAME").arg(&LIBRARY.name).to_owned();
            let loaded = match list.query_async::<Vec<Value>>(con).await {
                Ok(found) if !found.is_empty() => return Ok(()),
                Ok(_) => load_library(con).await,
                Err(e) => Err(e),
            };
            match loaded {
                Err(e) if lacks_functions(e.code(), e.detail()) && self.fall_back_to_eval(&e.to_string()) => {}
                other => return other,
            }
        }
        script.eval().load_async(con).await.map(|_| ())
    }
}

/// `FUNCTION LOAD` of the library; a library loaded already (by another
/// client, or replicated) is fine.
async fn load_library(con: &mut impl ConnectionLike) -> RedisResult<()> {
    let load = redis::cmd("FUNCTION").arg("LOAD").arg(&LIBRARY.source).to_owned();
    match load.query_async::<String>(con).await {
        Ok(_) => {
            tracing::debug!(library = %LIBRARY.name, "loaded our Redis Functions library");
            Ok(())
        }
        Err(e) if e.detail().is_some_and(|d| d.contains("already exists")) => Ok(()),
        Err(e) => Err(e),
    }
}

/// A server error saying that the server runs no Functions for us: an
/// unknown command (Redis 6.2 and servers without FUNCTION), or Functions
/// denied by ACL while EVALSHA may not be.
fn lacks_functions(code: Option<&str>, detail: Option<&str>) -> bool {
    let detail = detail.unwrap_or("").to_ascii_lowercase();
    match code {
        Some("ERR") => detail.starts_with("unknown command") || detail.starts_with("unknown subcommand"),
        Some("NOPERM") => detail.contains("fcall") || detail.contains("function"),
        _ => false,
    }
}

/// What a failed call says about our scripts on the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    /// The server does not have the script or library: load it, send again.
    Missing,
    /// The server has no Functions: send with EVALSHA instead.
    NoFunctions,
    Other,
}

fn failure(path: ScriptPath, kind: Option<ServerErrorKind>, code: Option<&str>, detail: Option<&str>) -> Failure {
    match path {
        ScriptPath::Eval if kind == Some(ServerErrorKind::NoScript) => Failure::Missing,
        ScriptPath::Functions if code == Some("ERR") && detail.is_some_and(|d| d.starts_with("Function not found")) => {
            Failure::Missing
        }
        ScriptPath::Functions if lacks_functions(code, detail) => Failure::NoFunctions,
        _ => Failure::Other,
    }
}

fn error_failure(path: ScriptPath, e: &RedisError) -> Failure {
    let kind = match e.kind() {
        ErrorKind::Server(k) => Some(k),
        _ => None,
    };
    failure(path, kind, e.code(), e.detail())
}

fn reply_failure(path: ScriptPath, v: &Value) -> Failure {
    match v {
        Value::ServerError(e) => failure(path, e.kind(), Some(e.code()), e.details()),
        _ => Failure::Other,
    }
}

/// One call of one of our scripts: `FCALL` or `EVALSHA` with one key (the
/// queue's meta key, for Redis Cluster routing) and the arguments. Loads
/// what the server is missing and sends again, as described in the module
/// docs.
pub struct ScriptCall {
    script: &'static Script,
    server: Arc<ServerScripts>,
    /// The path `cmd` was written for.
    path: ScriptPath,
    cmd: Cmd,
}

impl ScriptCall {
    /// A call with `key` and `base` as KEYS[1] and ARGV[1]; `args` and
    /// `bytes` size the buffer for the arguments still to come.
    pub fn new(
        script: &'static Script,
        server: Arc<ServerScripts>,
        key: &str,
        base: &str,
        args: usize,
        bytes: usize,
    ) -> Self {
        let path = server.path();
        let mut cmd = Cmd::with_capacity(args + 5, bytes + 96 + key.len() + base.len());
        write_head(&mut cmd, script, path);
        cmd.arg(1).arg(key).arg(base);
        Self { script, server, path, cmd }
    }

    /// Appends one argument (ARGV[2], ARGV[3], ...).
    pub fn arg<T: ToRedisArgs>(&mut self, arg: T) -> &mut Self {
        self.cmd.arg(arg);
        self
    }

    /// The arguments after ARGV[1] (the base), as written.
    #[cfg(test)]
    pub fn args_after_base(&self) -> Vec<Vec<u8>> {
        let args: Vec<Vec<u8>> = self
            .cmd
            .args_iter()
            .map(|a| match a {
                redis::Arg::Simple(b) => b.to_vec(),
                _ => Vec::new(),
            })
            .collect();
        // The head is the call and KEYS: ARGV[1] is the first argument
        // after the one key.
        let key_at = args.iter().position(|a| a == b"1").expect("the key count") + 1;
        args[key_at + 2..].to_vec()
    }

    /// The path this call is written for now.
    pub fn path(&self) -> ScriptPath {
        self.path
    }

    /// Sends the call.
    pub async fn invoke_async<T: FromRedisValue>(&self, con: &mut impl ConnectionLike) -> RedisResult<T> {
        let mut path = self.path;
        let mut rewritten: Option<Cmd> = None;
        let mut loaded = false;
        // Why a load failed, told when the call fails again for want of it.
        let mut load_error: Option<RedisError> = None;
        loop {
            let cmd = rewritten.as_ref().unwrap_or(&self.cmd);
            let err = match cmd.query_async::<T>(con).await {
                Err(e) => e,
                ok => return ok,
            };
            match error_failure(path, &err) {
                Failure::Missing if !loaded => {
                    loaded = true;
                    match load(self.script, &self.server, path, con).await {
                        Ok(Some(p)) => {
                            path = p;
                            loaded = false;
                            rewritten = Some(rewrite(&self.cmd, self.script, p));
                        }
                        Ok(None) => {}
                        // Sent again all the same: on a cluster, the load's
                        // error may be one node's while the node that matters has it.
                        Err(e) if is_connection_error(&e) => return Err(e),
                        Err(e) => load_error = Some(e),
                    }
                }
                Failure::NoFunctions if self.server.fall_back_to_eval(&err.to_string()) => {
                    path = ScriptPath::Eval;
                    loaded = false;
                    rewritten = Some(rewrite(&self.cmd, self.script, path));
                }
                Failure::Missing => return Err(load_error.unwrap_or(err)),
                _ => return Err(err),
            }
        }
    }

    /// Sends `calls` in one pipeline; their replies in order, each possibly a
    /// server error. The calls answered that the server misses our scripts
    /// are sent again, after loading them, in another pipeline.
    pub async fn invoke_all(calls: &[ScriptCall], con: &mut impl ConnectionLike) -> RedisResult<Vec<Value>> {
        if let [call] = calls {
            return Ok(vec![call.invoke_async::<Value>(con).await?]);
        }
        let mut paths: Vec<ScriptPath> = calls.iter().map(|c| c.path).collect();
        let mut rewritten: Vec<Option<Cmd>> = vec![None; calls.len()];
        let cmd = |rewritten: &[Option<Cmd>], i: usize| rewritten[i].clone().unwrap_or_else(|| calls[i].cmd.clone());
        let mut replies = send_pipeline((0..calls.len()).map(|i| cmd(&rewritten, i)), con).await?;
        // At most: Function not found, no Functions after all, NOSCRIPT.
        for _ in 0..3 {
            let mut again = Vec::new();
            // The library holds every script: one load serves all calls.
            let mut library_loaded = false;
            let mut scripts_loaded: Vec<&Script> = Vec::new();
            for (i, call) in calls.iter().enumerate() {
                let failed = reply_failure(paths[i], &replies[i]);
                if failed == Failure::Other {
                    continue;
                }
                if failed == Failure::NoFunctions && !call.server.fall_back_to_eval("a FUNCTION command failed") {
                    continue;
                }
                if failed == Failure::Missing {
                    let done = match paths[i] {
                        ScriptPath::Functions => std::mem::replace(&mut library_loaded, true),
                        ScriptPath::Eval if scripts_loaded.iter().any(|s| std::ptr::eq(*s, call.script)) => true,
                        ScriptPath::Eval => {
                            scripts_loaded.push(call.script);
                            false
                        }
                    };
                    if !done {
                        // A failed load leaves the reply "not found" after the resend.
                        match load(call.script, &call.server, paths[i], con).await {
                            Err(e) if is_connection_error(&e) => return Err(e),
                            Err(e) => tracing::warn!(error = %e, "could not load our scripts"),
                            Ok(_) => {}
                        }
                    }
                    // Loading may have found that the server has no Functions.
                    if call.server.path() == ScriptPath::Eval {
                        paths[i] = ScriptPath::Eval;
                    }
                } else {
                    paths[i] = ScriptPath::Eval;
                }
                if paths[i] != call.path {
                    rewritten[i] = Some(rewrite(&call.cmd, call.script, paths[i]));
                }
                again.push(i);
            }
            if again.is_empty() {
                break;
            }
            let retried = send_pipeline(again.iter().map(|&i| cmd(&rewritten, i)), con).await?;
            for (i, v) in again.into_iter().zip(retried) {
                replies[i] = v;
            }
        }
        Ok(replies)
    }
}

/// One pipeline of `cmds`, server errors kept as replies.
async fn send_pipeline(cmds: impl Iterator<Item = Cmd>, con: &mut impl ConnectionLike) -> RedisResult<Vec<Value>> {
    let mut pipe = redis::pipe();
    pipe.ignore_errors();
    for cmd in cmds {
        pipe.add_command(cmd);
    }
    pipe.query_async(con).await
}

/// `FCALL <function>` or `EVALSHA <sha>`.
fn write_head(cmd: &mut Cmd, script: &Script, path: ScriptPath) {
    match path {
        ScriptPath::Functions => cmd.arg("FCALL").arg(script.function()),
        ScriptPath::Eval => cmd.arg("EVALSHA").arg(script.eval().get_hash()),
    };
}

/// `cmd` written for `path`: both forms share everything after the head.
fn rewrite(cmd: &Cmd, script: &Script, path: ScriptPath) -> Cmd {
    let mut out = Cmd::with_capacity(cmd.args_iter().len(), 0);
    write_head(&mut out, script, path);
    for arg in cmd.args_iter().skip(2) {
        if let redis::Arg::Simple(bytes) = arg {
            out.arg(bytes);
        }
    }
    out
}

/// Loads what `path` needs. `Some(path)` when the calls must take another
/// path (the server turned out to have no Functions).
async fn load(
    script: &Script,
    server: &ServerScripts,
    path: ScriptPath,
    con: &mut impl ConnectionLike,
) -> RedisResult<Option<ScriptPath>> {
    match path {
        ScriptPath::Eval => script.eval().load_async(con).await.map(|_| None),
        ScriptPath::Functions => match load_library(con).await {
            Ok(()) => Ok(None),
            Err(e) if lacks_functions(e.code(), e.detail()) && server.fall_back_to_eval(&e.to_string()) => {
                Ok(Some(ScriptPath::Eval))
            }
            Err(e) => Err(e),
        },
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::engine::connection::{Commands, Connection, ConnectionOptions};
    use crate::engine::queue::{Queue, ADD_CHUNK};
    use crate::engine::test_support::{connect, new_job, redis_url};

    #[test]
    fn every_body_in_lua_is_in_the_library_once() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/lua");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|f| f.ends_with(".lua"))
            .collect();
        on_disk.sort();
        let mut listed: Vec<String> = LIBRARY_SCRIPTS.iter().map(|s| format!("{}.lua", s.stem())).collect();
        listed.sort();
        assert_eq!(listed, on_disk);
    }

    #[test]
    fn every_script_lists_its_includes_in_library_order() {
        for s in LIBRARY_SCRIPTS {
            let includes = &s.files[..s.files.len() - 1];
            let positions: Vec<Option<usize>> = includes.iter().map(|f| INCLUDES.iter().position(|i| i == f)).collect();
            assert!(positions.iter().all(Option::is_some), "{}: an include missing from INCLUDES", s.stem());
            assert!(positions.windows(2).all(|w| w[0] < w[1]), "{}: includes out of library order", s.stem());
        }
    }

    /// What the includes' top level may hold: the library runs it once per
    /// load (EVAL once per call), and at load time Redis exposes no globals.
    /// Functions only, so nothing is kept from one call to the next and
    /// nothing is read while loading.
    #[test]
    fn the_includes_define_only_functions_at_their_top_level() {
        for include in INCLUDES {
            let text = LIBRARY_SCRIPTS
                .iter()
                .flat_map(|s| s.files.iter().zip(s.texts))
                .find(|(f, _)| **f == include)
                .map(|(_, t)| *t)
                .unwrap_or_else(|| panic!("{include} is used by no script"));
            let mut in_comment = false;
            for line in text.lines() {
                if in_comment {
                    in_comment = !line.contains("]]");
                    continue;
                }
                if line.starts_with("--[[") {
                    in_comment = !line.contains("]]");
                    continue;
                }
                let top = !line.starts_with([' ', '\t']);
                let allowed =
                    line.is_empty() || line.starts_with("--") || line.starts_with("local function ") || line == "end";
                assert!(!top || allowed, "{include}: top-level statement {line:?}");
            }
        }
    }

    #[test]
    fn other_scripts_make_another_library() {
        let fewer = build_library(&LIBRARY_SCRIPTS[1..]);
        assert_ne!(fewer.name, LIBRARY.name);
        assert!(LIBRARY.source.starts_with(&format!("#!lua name={}\n", LIBRARY.name)));
        assert!(LIBRARY.source.contains(&format!("function_name = '{}_addJobs'", LIBRARY.name)));
        assert_eq!(ADD_JOBS.function(), format!("{}_addJobs", LIBRARY.name));
    }

    async fn wait_len(c: &mut Commands, q: &Queue) -> i64 {
        redis::cmd("LLEN").arg(q.keys().key("wait")).query_async(c).await.unwrap()
    }

    fn job() -> crate::engine::job::NewJob {
        new_job(json!({}), 1_700_000_000_000)
    }

    /// A connection as a new user denied `commands`: a call that succeeds
    /// on it did not take the denied path (other tests share the server,
    /// so its counters and libraries prove nothing about one call).
    async fn connect_denying(commands: &[&str]) -> (Connection, String) {
        let admin = connect().await;
        let user = format!("scripts-{}", &uuid::Uuid::new_v4().to_string()[..8]);
        let mut acl = redis::cmd("ACL");
        acl.arg("SETUSER").arg(&user).arg("on").arg(">pw").arg("~*").arg("&*").arg("+@all");
        for c in commands {
            acl.arg(format!("-{c}"));
        }
        acl.query_async::<()>(&mut admin.manager()).await.unwrap();
        let url = redis_url().replacen("redis://", &format!("redis://{user}:pw@"), 1);
        let conn = Connection::open(ConnectionOptions { url: Some(url), ..Default::default() }).await.unwrap();
        (conn, user)
    }

    async fn drop_user(user: &str) {
        let admin = connect().await;
        redis::cmd("ACL").arg("DELUSER").arg(user).query_async::<()>(&mut admin.manager()).await.unwrap();
    }

    const NO_EVAL: &[&str] = &["eval", "evalsha", "script"];
    const NO_FUNCTIONS: &[&str] = &["fcall", "function"];

    fn queue_on(conn: &Connection, user: &str, label: &str, scripts: Arc<ServerScripts>) -> Queue {
        Queue::new(conn.clone(), "bull", &format!("{label}-{user}")).with_scripts(scripts)
    }

    fn auto() -> Arc<ServerScripts> {
        Arc::new(ServerScripts { forced: None, eval: AtomicBool::new(false) })
    }

    #[tokio::test]
    async fn the_functions_path_loads_the_library_and_calls_fcall() {
        let (conn, user) = connect_denying(NO_EVAL).await;
        let q = queue_on(&conn, &user, "fn", ServerScripts::forced(ScriptPath::Functions));
        assert_eq!(q.script(&ADD_JOBS).path(), ScriptPath::Functions);
        q.add_jobs(&[job(), job()]).await.unwrap();
        let fetched = q.move_to_active("tok", &crate::engine::active::FetchSettings::default(), 2).await.unwrap();
        assert!(matches!(fetched, crate::engine::reply::Fetched::Job(_)), "{fetched:?}");
        assert_eq!(wait_len(&mut conn.manager(), &q).await, 1);
        // Not forced: a server that runs Functions stays on them.
        let a = auto();
        queue_on(&conn, &user, "fn-auto", a.clone()).add_jobs(&[job()]).await.unwrap();
        assert_eq!(a.path(), ScriptPath::Functions);
        drop_user(&user).await;
    }

    #[tokio::test]
    async fn a_flushed_library_is_loaded_again_for_one_call_and_for_a_pipeline() {
        let (conn, user) = connect_denying(NO_EVAL).await;
        let q = queue_on(&conn, &user, "fn-flush", ServerScripts::forced(ScriptPath::Functions));
        let mut c = conn.manager();
        q.add_jobs(&[job()]).await.unwrap();
        redis::cmd("FUNCTION").arg("FLUSH").query_async::<()>(&mut c).await.unwrap();
        q.add_jobs(&[job()]).await.unwrap();
        redis::cmd("FUNCTION").arg("FLUSH").query_async::<()>(&mut c).await.unwrap();
        // A long add is a pipeline of calls, each answered "Function not found".
        let many: Vec<_> = (0..ADD_CHUNK * 2 + 1).map(|_| job()).collect();
        let added = q.add_jobs(&many).await.unwrap();
        let ids: Vec<String> = added.iter().map(|a| a.id.clone()).collect();
        assert_eq!(ids, (3..many.len() + 3).map(|i| i.to_string()).collect::<Vec<_>>());
        assert_eq!(wait_len(&mut c, &q).await, many.len() as i64 + 2);
        drop_user(&user).await;
    }

    #[tokio::test]
    async fn the_eval_path_calls_evalsha_and_loads_after_script_flush() {
        let (conn, user) = connect_denying(NO_FUNCTIONS).await;
        let q = queue_on(&conn, &user, "eval", ServerScripts::forced(ScriptPath::Eval));
        assert_eq!(q.script(&ADD_JOBS).path(), ScriptPath::Eval);
        let mut c = conn.manager();
        redis::cmd("SCRIPT").arg("FLUSH").query_async::<()>(&mut c).await.unwrap();
        q.add_jobs(&[job()]).await.unwrap();
        let cached: Vec<i64> =
            redis::cmd("SCRIPT").arg("EXISTS").arg(ADD_JOBS.eval().get_hash()).query_async(&mut c).await.unwrap();
        assert_eq!(cached, vec![1]);
        redis::cmd("SCRIPT").arg("FLUSH").query_async::<()>(&mut c).await.unwrap();
        let many: Vec<_> = (0..ADD_CHUNK + 1).map(|_| job()).collect();
        assert_eq!(q.add_jobs(&many).await.unwrap().len(), many.len());
        let fetched = q.move_to_active("tok", &crate::engine::active::FetchSettings::default(), 2).await.unwrap();
        assert!(matches!(fetched, crate::engine::reply::Fetched::Job(_)), "{fetched:?}");
        drop_user(&user).await;
    }

    #[tokio::test]
    async fn a_server_that_refuses_functions_gets_evalsha_unless_functions_are_forced() {
        let (conn, user) = connect_denying(NO_FUNCTIONS).await;
        let a = auto();
        let q = queue_on(&conn, &user, "nofn", a.clone());
        assert_eq!(q.script(&ADD_JOBS).path(), ScriptPath::Functions);
        assert_eq!(q.add_jobs(&[job()]).await.unwrap()[0].id, "1");
        assert_eq!(a.path(), ScriptPath::Eval);
        assert_eq!(q.script(&ADD_JOBS).path(), ScriptPath::Eval);
        // A pipeline written for Functions goes on with EVALSHA too.
        let b = auto();
        let many: Vec<_> = (0..ADD_CHUNK + 1).map(|_| job()).collect();
        assert_eq!(queue_on(&conn, &user, "nofn2", b.clone()).add_jobs(&many).await.unwrap().len(), many.len());
        assert_eq!(b.path(), ScriptPath::Eval);
        // So does the add script loaded ahead.
        let c = auto();
        queue_on(&conn, &user, "nofn3", c.clone()).load_add_script().await.unwrap();
        assert_eq!(c.path(), ScriptPath::Eval);
        // Forced: the server's refusal is the call's error.
        let forced = queue_on(&conn, &user, "nofn4", ServerScripts::forced(ScriptPath::Functions));
        let err = forced.add_jobs(&[job()]).await.unwrap_err();
        assert!(err.message.contains("no permissions to run the 'fcall' command"), "{}", err.message);
        drop_user(&user).await;
    }

    #[test]
    fn only_load_errors_send_a_call_again() {
        let err = |code, detail| {
            failure(ScriptPath::Functions, Some(ServerErrorKind::ResponseError), Some(code), Some(detail))
        };
        assert_eq!(err("ERR", "Function not found"), Failure::Missing);
        assert_eq!(err("ERR", "unknown command 'FCALL', with args beginning with: 'x' "), Failure::NoFunctions);
        // A script's own error is not about loading.
        assert_eq!(err("ERR", "user_function:3: Unknown Redis command called from script"), Failure::Other);
        let noscript = failure(ScriptPath::Eval, Some(ServerErrorKind::NoScript), Some("NOSCRIPT"), None);
        assert_eq!(noscript, Failure::Missing);
    }
}
