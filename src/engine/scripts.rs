//! Our Lua scripts, embedded at compile time. Each script is its includes
//! followed by its body; `redis::Script` runs it with EVALSHA and loads it on
//! NOSCRIPT, so a restarted or flushed Redis is handled transparently.

use std::sync::LazyLock;

use redis::Script;

macro_rules! lua {
    ($($file:literal),+ $(,)?) => {
        concat!($(include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/lua/", $file)), "\n"),+)
    };
}

macro_rules! scripts {
    ($($name:ident => [$($file:literal),+ $(,)?];)+) => {
        $(
            pub static $name: LazyLock<Script> = LazyLock::new(|| Script::new(lua!($($file),+)));
        )+

        /// Every script's source, for tests that check they compile on Redis.
        pub fn all_sources() -> Vec<(&'static str, &'static str)> {
            vec![$((stringify!($name), lua!($($file),+))),+]
        }
    };
}

scripts! {
    ADD_JOBS => ["includes/common.lua", "addJobs.lua"];
    MOVE_TO_ACTIVE => ["includes/common.lua", "includes/fetch.lua", "moveToActive.lua"];
    MOVE_TO_FINISHED => [
        "includes/common.lua", "includes/fetch.lua", "includes/finish.lua", "moveToFinished.lua"
    ];
}
