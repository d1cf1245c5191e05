//! Job data as it crosses the engine: raw hashes read from Redis, and the
//! stored form of the options a producer passes.

use std::borrow::Cow;

use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::dedup::{self, DedupOpts};
use super::error::{EngineError, Result};

/// A job hash as stored in Redis, with its id (the hash has no id field).
#[derive(Debug, Clone, Default)]
pub struct RawJob {
    pub id: String,
    pub fields: Vec<(String, String)>,
}

impl RawJob {
    pub fn get(&self, field: &str) -> Option<&str> {
        self.fields.iter().find(|(k, _)| k == field).map(|(_, v)| v.as_str())
    }

    /// Builds a job from a flat `HGETALL` reply.
    pub fn from_flat(id: String, flat: Vec<String>) -> Self {
        let mut fields = Vec::with_capacity(flat.len() / 2);
        let mut it = flat.into_iter();
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            fields.push((k, v));
        }
        Self { id, fields }
    }
}

/// Public option names that BullMQ stores under a short key (its
/// `optsEncodeMap`; the facade exports the same table).
pub const SHORT_KEYS: &[(&str, &str)] = &[
    ("deduplication", "de"),
    ("failParentOnFailure", "fpof"),
    ("continueParentOnFailure", "cpof"),
    ("ignoreDependencyOnFailure", "idof"),
    ("removeDependencyOnFailure", "rdof"),
    ("keepLogs", "kl"),
];

/// Public options under BullMQ's stored names (its `optsAsJSON`): the short
/// keys, `telemetry` flattened into `tm` / `omc`, null values left out.
pub fn stored_names(opts: &Map<String, Value>) -> Map<String, Value> {
    let mut stored = Map::with_capacity(opts.len() + 1);
    for (key, value) in opts {
        if value.is_null() {
            continue;
        }
        if key == "telemetry" {
            if let Value::Object(t) = value {
                for (long, short) in [("metadata", "tm"), ("omitContext", "omc")] {
                    if let Some(v) = t.get(long).filter(|v| !v.is_null()) {
                        stored.insert(short.to_string(), v.clone());
                    }
                }
            }
            continue;
        }
        let stored_key =
            SHORT_KEYS.iter().find(|(long, _)| long == key).map(|(_, short)| *short).unwrap_or(key.as_str());
        let value = match (key.as_str(), value) {
            ("deduplication", Value::Object(d)) => dedup::stored_option(d),
            _ => value.clone(),
        };
        stored.insert(stored_key.to_string(), value);
    }
    stored
}

/// Stored options under their public names (BullMQ's `optsFromJSON`): the
/// short keys expanded, `tm` / `omc` folded into `telemetry`.
pub fn public_names(stored: &Map<String, Value>) -> Map<String, Value> {
    let mut opts = Map::with_capacity(stored.len());
    for (key, value) in stored {
        match key.as_str() {
            "tm" | "omc" => {
                let long = if key == "tm" { "metadata" } else { "omitContext" };
                let telemetry = opts.entry("telemetry").or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(t) = telemetry {
                    t.insert(long.to_string(), value.clone());
                }
            }
            _ => {
                let public =
                    SHORT_KEYS.iter().find(|(_, short)| short == key).map(|(long, _)| *long).unwrap_or(key.as_str());
                opts.insert(public.to_string(), value.clone());
            }
        }
    }
    opts
}

/// A job to add, after the facade checked and defaulted the options.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub name: String,
    /// JSON text of the data, stored verbatim.
    pub data: String,
    /// Public options (camelCase, as the user wrote them).
    pub opts: Map<String, Value>,
    /// Client time of the add, used when `opts.timestamp` is absent.
    pub now: i64,
}

/// A job's options in BullMQ's stored form, and the values the add script
/// takes from them. Jobs added with the same options share one.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredOpts {
    /// JSON of the `opts` hash field: short keys, `attempts` always present.
    pub json: String,
    /// `opts.jobId`, or empty for an id from the queue's counter.
    pub custom_id: String,
    /// `opts.timestamp`, when given.
    pub timestamp: Option<i64>,
    pub delay: i64,
    pub priority: i64,
    pub lifo: bool,
    /// Full key of the parent job, or empty.
    pub parent_key: String,
    /// JSON of the `parent` hash field, or empty.
    pub parent: String,
    /// `opts.deduplication`, when it has an id.
    pub dedup: Option<DedupOpts>,
}

fn int_opt(opts: &Map<String, Value>, key: &str) -> Result<i64> {
    match opts.get(key) {
        None | Some(Value::Null) => Ok(0),
        Some(v) => v
            .as_f64()
            .filter(|f| f.is_finite())
            .map(|f| f as i64)
            .ok_or_else(|| EngineError::invalid(format!("opts.{key} must be a number"))),
    }
}

impl StoredOpts {
    /// The options of a job added without any: `{"attempts":0}`.
    pub fn plain() -> Self {
        Self {
            json: r#"{"attempts":0}"#.to_string(),
            custom_id: String::new(),
            timestamp: None,
            delay: 0,
            priority: 0,
            lifo: false,
            parent_key: String::new(),
            parent: String::new(),
            dedup: None,
        }
    }

    /// From the JSON text of the public options; `{}`, the common case, is
    /// not parsed.
    pub fn from_json(text: &str) -> Result<Self> {
        if text == "{}" {
            return Ok(Self::plain());
        }
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(map)) => Self::from_public(&map),
            Ok(_) => Err(EngineError::invalid("job options must be an object")),
            Err(e) => Err(EngineError::invalid(format!("job options are not valid JSON: {e}"))),
        }
    }

    /// Converts the public options into BullMQ's stored form and extracts the
    /// values the add script uses.
    pub fn from_public(opts: &Map<String, Value>) -> Result<Self> {
        let mut stored = stored_names(opts);
        if let Some(Value::Number(n)) = stored.get("backoff") {
            let delay = n.clone();
            stored.insert("backoff".into(), serde_json::json!({ "type": "fixed", "delay": delay }));
        }
        if !stored.contains_key("attempts") {
            stored.insert("attempts".into(), Value::from(0));
        }
        // Checked once here, for every way a job is added.
        super::backoff::Backoff::from_option(opts.get("backoff"))?;
        let custom_id = match opts.get("jobId") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            Some(_) => return Err(EngineError::invalid("opts.jobId must be a string")),
        };
        if super::keys::is_reserved_job_id(&custom_id) {
            return Err(EngineError::invalid(super::keys::reserved_job_id_message(&custom_id)));
        }
        let timestamp = match opts.get("timestamp") {
            None | Some(Value::Null) => None,
            Some(_) => Some(int_opt(opts, "timestamp")?),
        };
        let (parent_key, parent) = match opts.get("parent") {
            Some(Value::Object(p)) => {
                let id = p.get("id").and_then(Value::as_str).unwrap_or_default();
                let queue = p.get("queue").and_then(Value::as_str).unwrap_or_default();
                let mut parent = Map::new();
                parent.insert("id".into(), Value::from(id));
                parent.insert("queueKey".into(), Value::from(queue));
                for flag in ["fpof", "rdof", "idof", "cpof"] {
                    if stored.get(flag).and_then(Value::as_bool) == Some(true) {
                        parent.insert(flag.into(), Value::Bool(true));
                    }
                }
                (format!("{queue}:{id}"), Value::Object(parent).to_string())
            }
            _ => (String::new(), String::new()),
        };
        Ok(Self {
            json: Value::Object(stored).to_string(),
            custom_id,
            timestamp,
            delay: int_opt(opts, "delay")?.max(0),
            priority: int_opt(opts, "priority")?,
            lifo: opts.get("lifo").and_then(Value::as_bool).unwrap_or(false),
            parent_key,
            parent,
            dedup: DedupOpts::from_public(opts.get("deduplication"))?,
        })
    }
}

impl NewJob {
    /// The stored form of the job's options.
    pub fn stored_opts(&self) -> Result<StoredOpts> {
        StoredOpts::from_public(&self.opts)
    }
}

/// One job as the add script takes it, borrowing its texts.
#[derive(Debug, Clone, Copy)]
pub struct JobToAdd<'a> {
    pub name: &'a str,
    /// JSON text of the data, stored verbatim.
    pub data: &'a str,
    /// Creation time: `opts.timestamp`, else the client time of the add.
    pub timestamp: i64,
    pub opts: &'a StoredOpts,
}

impl<'a> JobToAdd<'a> {
    pub fn new(name: &'a str, data: &'a str, now: i64, opts: &'a StoredOpts) -> Self {
        Self { name, data, timestamp: opts.timestamp.unwrap_or(now), opts }
    }
}

/// The text of a JSON string value; borrowed from the batch unless it has
/// escapes. A lone surrogate (which JSON.stringify escapes) becomes U+FFFD,
/// as when a JS string with one crosses napi as a string.
fn json_str(raw: &RawValue) -> Result<Cow<'_, str>> {
    let text = raw.get();
    if text.len() >= 2 && text.starts_with('"') && !text.contains('\\') {
        return Ok(Cow::Borrowed(&text[1..text.len() - 1]));
    }
    serde_json::from_str::<String>(text)
        .or_else(|_| serde_json::from_str::<String>(&replace_lone_surrogates(text)))
        .map(Cow::Owned)
        .map_err(|_| EngineError::invalid("job name must be a string"))
}

/// JSON string text with its unpaired `\uD800`-`\uDFFF` escapes replaced by
/// `\ufffd`.
fn replace_lone_surrogates(text: &str) -> String {
    let hex = |at: usize| -> Option<u16> {
        let escape = text.get(at..at + 6)?;
        let digits = escape.strip_prefix("\\u")?;
        u16::from_str_radix(digits, 16).ok()
    };
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while let Some(ch) = text.get(i..).and_then(|rest| rest.chars().next()) {
        if ch != '\\' {
            out.push(ch);
            i += ch.len_utf8();
            continue;
        }
        match hex(i) {
            Some(0xD800..=0xDBFF) => {
                if matches!(hex(i + 6), Some(0xDC00..=0xDFFF)) {
                    out.push_str(&text[i..i + 12]);
                    i += 12;
                } else {
                    out.push_str("\\ufffd");
                    i += 6;
                }
            }
            Some(0xDC00..=0xDFFF) => {
                out.push_str("\\ufffd");
                i += 6;
            }
            _ => {
                // Any other escape: copy the backslash and the next character.
                out.push('\\');
                i += 1;
                if let Some(next) = text.get(i..).and_then(|rest| rest.chars().next()) {
                    out.push(next);
                    i += next.len_utf8();
                }
            }
        }
    }
    out
}

/// Jobs to add as the facade sends them: the JSON text of
/// `[[name, data, opts, timestamp], ...]`, with data and the public options
/// as JSON values (the data's text is stored verbatim) and timestamp the
/// client time of the add. Borrows from the text.
pub struct JobBatch<'a> {
    names: Vec<Cow<'a, str>>,
    data: Vec<&'a str>,
    now: Vec<i64>,
    /// Distinct options, and which one each job uses.
    opts: Vec<StoredOpts>,
    which: Vec<usize>,
}

impl<'a> JobBatch<'a> {
    pub fn parse(text: &'a str) -> Result<Self> {
        type Row<'r> = (&'r RawValue, &'r RawValue, &'r RawValue, f64);
        let rows: Vec<Row<'a>> = serde_json::from_str(text)
            .map_err(|e| EngineError::invalid(format!("jobs to add are not valid JSON: {e}")))?;
        let mut batch = Self {
            names: Vec::with_capacity(rows.len()),
            data: Vec::with_capacity(rows.len()),
            now: Vec::with_capacity(rows.len()),
            opts: Vec::new(),
            which: Vec::with_capacity(rows.len()),
        };
        // Jobs of one batch mostly share their options: consecutive repeats
        // of a text reuse its conversion.
        let mut last_opts: Option<&str> = None;
        for (name, data, opts, now) in rows {
            batch.names.push(json_str(name)?);
            batch.data.push(data.get());
            batch.now.push(now as i64);
            if last_opts != Some(opts.get()) {
                batch.opts.push(StoredOpts::from_json(opts.get())?);
                last_opts = Some(opts.get());
            }
            batch.which.push(batch.opts.len() - 1);
        }
        Ok(batch)
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    pub fn jobs(&self) -> Vec<JobToAdd<'_>> {
        (0..self.names.len())
            .map(|i| JobToAdd::new(&self.names[i], self.data[i], self.now[i], &self.opts[self.which[i]]))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn stores_options_as_bullmq_does() {
        let job = NewJob {
            name: "n".into(),
            data: "{}".into(),
            opts: json!({"jobId": "myid", "attempts": 3, "backoff": 1000, "keepLogs": 5, "lifo": true})
                .as_object()
                .unwrap()
                .clone(),
            now: 1000,
        };
        let p = job.stored_opts().unwrap();
        let stored: Value = serde_json::from_str(&p.json).unwrap();
        assert_eq!(stored["kl"], json!(5));
        assert_eq!(stored["backoff"], json!({"type": "fixed", "delay": 1000}));
        assert_eq!(stored["attempts"], json!(3));
        assert!(stored.get("keepLogs").is_none());
        assert_eq!(p.custom_id, "myid");
        assert!(p.lifo);
        assert_eq!(JobToAdd::new(&job.name, &job.data, job.now, &p).timestamp, 1000);
    }

    #[test]
    fn telemetry_is_stored_as_tm_and_omc() {
        let job = NewJob {
            name: "n".into(),
            data: "{}".into(),
            opts: json!({"telemetry": {"metadata": "m", "omitContext": true}})
                .as_object()
                .unwrap()
                .clone(),
            now: 1,
        };
        let stored: Value = serde_json::from_str(&job.stored_opts().unwrap().json).unwrap();
        assert_eq!(stored, json!({"attempts": 0, "tm": "m", "omc": true}));
    }

    #[test]
    fn attempts_default_to_zero() {
        let job = NewJob { name: "n".into(), data: "{}".into(), opts: Map::new(), now: 5 };
        let stored: Value = serde_json::from_str(&job.stored_opts().unwrap().json).unwrap();
        assert_eq!(stored, json!({"attempts": 0}));
    }

    #[test]
    fn empty_options_are_stored_without_parsing_as_when_parsed() {
        assert_eq!(StoredOpts::from_json("{}").unwrap(), StoredOpts::from_public(&Map::new()).unwrap());
        let given = StoredOpts::from_json(r#"{"timestamp":42,"delay":5,"priority":2,"jobId":"j"}"#).unwrap();
        assert_eq!((given.timestamp, given.delay, given.priority, given.custom_id.as_str()), (Some(42), 5, 2, "j"));
        assert_eq!(JobToAdd::new("n", "{}", 7, &given).timestamp, 42);
        assert_eq!(JobToAdd::new("n", "{}", 7, &StoredOpts::plain()).timestamp, 7);
        assert!(StoredOpts::from_json("[]").is_err());
        assert!(StoredOpts::from_json("{").is_err());
    }

    fn name(json: &str) -> String {
        let raw: Box<RawValue> = serde_json::from_str(json).unwrap();
        json_str(&raw).unwrap().into_owned()
    }

    #[test]
    fn names_are_read_from_json_strings() {
        assert_eq!(name(r#""plain""#), "plain");
        assert_eq!(name(r#""a\"b\\c\n""#), "a\"b\\c\n");
        assert_eq!(name(r#""\ud83d\ude00 ok""#), "\u{1F600} ok");
        // Unpaired surrogates become U+FFFD, as napi makes them.
        assert_eq!(name(r#""a\ud800b""#), "a\u{FFFD}b");
        assert_eq!(name(r#""\udc00\ud800""#), "\u{FFFD}\u{FFFD}");
        let raw: Box<RawValue> = serde_json::from_str("12").unwrap();
        assert!(json_str(&raw).is_err());
    }

    #[test]
    fn a_batch_gives_each_job_its_texts_time_and_options() {
        let text = r#"[["a",{"x":[1,"\u00e9"]},{},1000.9],["b","s",{},2000],["c",null,{"priority":2,"timestamp":5},3000]]"#;
        let batch = JobBatch::parse(text).unwrap();
        let jobs = batch.jobs();
        let got: Vec<(&str, &str, i64, i64)> =
            jobs.iter().map(|j| (j.name, j.data, j.timestamp, j.opts.priority)).collect();
        assert_eq!(
            got,
            vec![("a", r#"{"x":[1,"\u00e9"]}"#, 1000, 0), ("b", r#""s""#, 2000, 0), ("c", "null", 5, 2)]
        );
        // The two jobs with `{}` share one conversion.
        assert_eq!(batch.opts.len(), 2);
        assert!(JobBatch::parse("[[1,{},{},0]]").is_err());
        assert!(JobBatch::parse(r#"[["a",{},[],0]]"#).is_err());
        assert!(JobBatch::parse("{").is_err());
    }
}
