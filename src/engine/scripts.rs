//! Our Lua scripts, embedded at compile time. A script is its includes
//! followed by its body; `redis::Script` runs it with EVALSHA and loads it on
//! NOSCRIPT, so a restarted or flushed Redis is handled transparently.
//!
//! Each engine module declares the scripts it runs with `lua_script!`, next to
//! the code that calls them.

/// Declares `static NAME: LazyLock<redis::Script>` built from files under lua/.
#[macro_export]
macro_rules! lua_script {
    ($(#[$doc:meta])* $name:ident => [$($file:literal),+ $(,)?]) => {
        $(#[$doc])*
        pub static $name: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| {
            redis::Script::new(concat!(
                $(include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/lua/", $file)), "\n"),+
            ))
        });
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
