//! [`RedisLedger`]: license quantities in Redis, shared by every replica.

use std::fmt;
use std::sync::{Arc, LazyLock, OnceLock};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Cmd, ErrorKind, Script, ServerErrorKind, Value};

use super::{
    Ledger, LedgerConfig, LedgerError, LedgerFuture, Reservation, ReservationId,
    ReservationRequest, ReservationState, Reserved, Usage,
};

/// A ledger in Redis, shared by every replica of the provisioning API
/// (the `redis` feature).
///
/// Each operation is one Lua script run atomically by the server, so two
/// replicas reserving at once can never both take a license's last
/// accelerators. Scripts are sent by SHA1 (`EVALSHA`) and loaded again
/// when the server does not know them (after a restart or `SCRIPT FLUSH`).
///
/// # Keys
///
/// For license `jti`, with `key_prefix` `P`:
///
/// | key | type | holds |
/// |---|---|---|
/// | `P:{jti}:res` | hash | reservation id → the reservation; and the counters |
/// | `P:{jti}:pending` | sorted set | pending reservation ids, scored by expiry (ms since the epoch) |
///
/// A reservation is stored as
/// `accelerators|created_ms|["customer","instance_type"]` (the time is the
/// server's). The counters are the fields ` active` and ` pending` (with a
/// leading space, which no reservation id has): the accelerators held, so
/// that no operation has to add up every reservation. A reservation is
/// pending while its id is in the sorted set, active otherwise. A license
/// with no reservation has no keys.
///
/// In the key, `%`, `{` and `}` of the jti are percent-encoded (`%25`,
/// `%7B`, `%7D`) and an empty jti is written `%`, so that no jti can end
/// the `{…}` hash tag early or name another license's keys.
///
/// # Expiry
///
/// Pending reservations expire on the server: the reserve, confirm, usage
/// and listing scripts first drop those whose expiry, by the server's
/// clock (`TIME`), has passed. A replica that stops between reserve and
/// confirm holds nothing beyond `pending_ttl_seconds`. Active reservations
/// never expire; [`reconcile`](Ledger::reconcile) drops those the
/// provider's inventory no longer runs, and counts again what is left.
///
/// # Redis Cluster
///
/// The hash tag puts every key of one license in one slot and each script
/// names all its keys, so the layout is ready for a cluster. This ledger
/// talks to one endpoint, though: a standalone server (with replicas and
/// Sentinel or a managed failover behind one address) or a proxy that
/// routes by key.
///
/// # Persistence
///
/// Active reservations are the count of what customers run: losing them
/// lets a license be used twice over. Run Redis with the append-only file
/// (`appendonly yes`, `appendfsync everysec` or `always`) so a restart
/// keeps them, and reconcile against the inventory after a failover or a
/// restore. Redis 5 or later (or Valkey) is needed; scripts call `TIME`
/// before writing.
///
/// # Connection and time limits
///
/// [`new`](Self::new) only parses the URL: the connection is made on first
/// use, and made again after Redis restarts or the connection drops,
/// without restarting the process. Every call is bounded by
/// [`timeout_ms`](LedgerConfig::timeout_ms) and fails with
/// [`LedgerError::Timeout`]; an unreachable server or a script error is
/// [`LedgerError::Unavailable`]. A call that times out may still have been
/// carried out: a reservation made that way is pending and expires, and
/// reserving again with the same id returns it.
///
/// Calls need a Tokio runtime with I/O and timers enabled (what
/// `#[tokio::main]` builds); without a runtime they fail with
/// [`LedgerError::Unavailable`]. The connection's background task runs on
/// the runtime of the first call. Clones share the connection.
///
/// Limits and quantities above 2^53 − 1 count as 2^53 − 1 (Lua numbers are
/// doubles). `rediss://` needs TLS support that this build does not
/// include.
///
/// ```no_run
/// use tower_export_control::ledger::{
///     Ledger, LedgerConfig, RedisLedger, ReservationId, ReservationRequest, Reserved,
/// };
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let ledger = RedisLedger::new(&LedgerConfig::redis("redis://127.0.0.1:6379/0"))?;
/// let id = ReservationId::new("acme-cn/order-1")?;
/// let request = ReservationRequest::new(id.clone(), "LIC-1", "acme-cn", "p5.48xlarge", 8, 64);
/// if let Reserved::Granted(_) = ledger.reserve(request).await? {
///     ledger.confirm("LIC-1", &id).await?;
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RedisLedger {
    inner: Arc<Inner>,
}

struct Inner {
    client: redis::Client,
    manager: OnceLock<ConnectionManager>,
    prefix: String,
    pending_ttl_ms: u64,
    timeout: Duration,
}

/// The largest integer a Lua number (a double) holds exactly.
const MAX_EXACT: u64 = (1 << 53) - 1;

/// Why the Redis ledger refused a configuration or a reply.
#[derive(Debug, thiserror::Error)]
enum RedisLedgerError {
    #[error("the redis ledger needs `url`")]
    NoUrl,
    #[error(
        "`key_prefix` must not contain `{{` or `}}`: they would change the Redis Cluster hash tag"
    )]
    PrefixBrace,
    #[error("the redis ledger needs a Tokio runtime")]
    NoRuntime,
    #[error("unexpected reply from Redis to {0}")]
    Reply(&'static str),
}

fn unavailable(e: impl std::error::Error + Send + Sync + 'static) -> LedgerError {
    LedgerError::Unavailable(Box::new(e))
}

fn bad_reply(op: &'static str) -> LedgerError {
    unavailable(RedisLedgerError::Reply(op))
}

impl RedisLedger {
    /// A ledger at `config.url`. Parses the URL only; the connection is
    /// made on first use.
    ///
    /// # Errors
    /// [`LedgerError::Unavailable`] when `url` is missing or not a Redis
    /// URL this build can use, or when `key_prefix` contains `{` or `}`.
    pub fn new(config: &LedgerConfig) -> Result<Self, LedgerError> {
        let url = config
            .url
            .as_deref()
            .ok_or_else(|| unavailable(RedisLedgerError::NoUrl))?;
        if config.key_prefix.contains(['{', '}']) {
            return Err(unavailable(RedisLedgerError::PrefixBrace));
        }
        let client = redis::Client::open(url).map_err(unavailable)?;
        Ok(Self {
            inner: Arc::new(Inner {
                client,
                manager: OnceLock::new(),
                prefix: config.key_prefix.clone(),
                pending_ttl_ms: config
                    .pending_ttl_seconds
                    .saturating_mul(1000)
                    .min(MAX_EXACT),
                timeout: config.timeout(),
            }),
        })
    }

    /// [`new`](Self::new), then a `PING` within the timeout, to fail at
    /// start-up rather than on the first request.
    ///
    /// # Errors
    /// As [`new`](Self::new), and when Redis does not answer the `PING`.
    pub async fn connect(config: &LedgerConfig) -> Result<Self, LedgerError> {
        let ledger = Self::new(config)?;
        let mut conn = ledger.inner.manager()?;
        let ping = redis::cmd("PING");
        ledger
            .inner
            .bounded(ping.query_async::<Value>(&mut conn))
            .await?;
        Ok(ledger)
    }
}

impl Inner {
    /// The connection, created on first use (it spawns on the runtime).
    fn manager(&self) -> Result<ConnectionManager, LedgerError> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(unavailable(RedisLedgerError::NoRuntime));
        }
        if let Some(manager) = self.manager.get() {
            return Ok(manager.clone());
        }
        // Quick reconnection attempts after a restart, and a response
        // limit so that a peer gone silent is replaced, not waited on.
        let config = ConnectionManagerConfig::new()
            .set_min_delay(Duration::from_millis(20))
            .set_max_delay(Duration::from_millis(500))
            .set_number_of_retries(4)
            .set_response_timeout(Some(self.timeout.max(Duration::from_millis(500))));
        let manager = ConnectionManager::new_lazy_with_config(self.client.clone(), config)
            .map_err(unavailable)?;
        // Two first calls at once may both build one; the loser is dropped.
        Ok(self.manager.get_or_init(|| manager).clone())
    }

    async fn bounded<T>(
        &self,
        call: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, LedgerError> {
        match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(unavailable(e)),
            Err(_) => Err(LedgerError::Timeout(self.timeout)),
        }
    }

    /// `EVALSHA` of `script` with the license's keys, `args` already
    /// added. The command is built once, in one buffer, and sent again
    /// after loading the script if the server does not know it.
    fn command(&self, script: &Script, license: &str) -> Cmd {
        let mut cmd = redis::cmd("EVALSHA");
        cmd.arg(script.get_hash()).arg(2);
        let mut key = String::with_capacity(self.prefix.len() + license.len() + 12);
        key.push_str(&self.prefix);
        key.push_str(":{");
        push_tag(&mut key, license);
        key.push_str("}:");
        let base = key.len();
        key.push_str("res");
        cmd.arg(key.as_str());
        key.truncate(base);
        key.push_str("pending");
        cmd.arg(key.as_str());
        cmd
    }

    /// Sends `cmd` (from [`command`](Self::command)) within the timeout.
    async fn run(&self, script: &Script, cmd: &Cmd) -> Result<Value, LedgerError> {
        let mut conn = self.manager()?;
        self.bounded(async {
            match cmd.query_async::<Value>(&mut conn).await {
                Err(e) if e.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => {
                    script.load_async::<ConnectionManager>(&mut conn).await?;
                    cmd.query_async::<Value>(&mut conn).await
                }
                answer => answer,
            }
        })
        .await
    }

    async fn reserve(&self, request: ReservationRequest) -> Result<Reserved, LedgerError> {
        let details = serde_json::to_string(&(&*request.customer, &*request.instance_type))
            .map_err(unavailable)?;
        let mut cmd = self.command(&RESERVE, &request.license);
        cmd.arg(request.id.as_str())
            .arg(request.accelerators)
            .arg(request.limit.min(MAX_EXACT))
            .arg(self.pending_ttl_ms)
            .arg(details);
        let reply = self.run(&RESERVE, &cmd).await?;
        let items = array(reply).ok_or_else(|| bad_reply("reserve"))?;
        match items.as_slice() {
            [Value::Int(0), in_use] => Ok(Reserved::Exhausted {
                limit: request.limit,
                in_use: count(in_use).ok_or_else(|| bad_reply("reserve"))?,
                requested: request.accelerators,
            }),
            // Made now: what it holds is the request's; only the time is
            // the server's.
            [Value::Int(1), Value::Int(created_ms)] => Ok(Reserved::Granted(Reservation {
                id: request.id,
                license: request.license,
                customer: request.customer,
                instance_type: request.instance_type,
                accelerators: request.accelerators,
                state: ReservationState::Pending,
                created_unix_ms: u64::try_from(*created_ms).map_err(|_| bad_reply("reserve"))?,
            })),
            [Value::Int(2), stored, Value::Int(pending)] => {
                let stored = bytes(stored).ok_or_else(|| bad_reply("reserve"))?;
                decode(request.license, request.id, stored, *pending == 1)
                    .map(Reserved::Existing)
                    .ok_or_else(|| bad_reply("reserve"))
            }
            _ => Err(bad_reply("reserve")),
        }
    }

    async fn flag(
        &self,
        script: &Script,
        op: &'static str,
        license: &str,
        id: &ReservationId,
    ) -> Result<bool, LedgerError> {
        let mut cmd = self.command(script, license);
        cmd.arg(id.as_str());
        match self.run(script, &cmd).await? {
            Value::Int(0) => Ok(false),
            Value::Int(1) => Ok(true),
            _ => Err(bad_reply(op)),
        }
    }

    async fn release(&self, license: &str, id: &ReservationId) -> Result<bool, LedgerError> {
        self.flag(&RELEASE, "release", license, id).await
    }

    async fn usage(&self, license: &str) -> Result<Usage, LedgerError> {
        let reply = self.run(&USAGE, &self.command(&USAGE, license)).await?;
        usage(reply).ok_or_else(|| bad_reply("usage"))
    }

    async fn reservations(&self, license: &str) -> Result<Vec<Reservation>, LedgerError> {
        let reply = self
            .run(&RESERVATIONS, &self.command(&RESERVATIONS, license))
            .await?;
        reservations(license, reply).ok_or_else(|| bad_reply("reservations"))
    }

    async fn reconcile(
        &self,
        license: &str,
        running: &[ReservationId],
    ) -> Result<Usage, LedgerError> {
        let mut cmd = self.command(&RECONCILE, license);
        for id in running {
            cmd.arg(id.as_str());
        }
        let reply = self.run(&RECONCILE, &cmd).await?;
        usage(reply).ok_or_else(|| bad_reply("reconcile"))
    }
}

/// Writes the jti as it stands inside the `{…}` hash tag: never empty,
/// never holding a brace, and distinct for distinct jtis.
fn push_tag(tag: &mut String, license: &str) {
    if license.is_empty() {
        // An empty tag would hash the whole key; a lone `%` is no encoding
        // of any other jti.
        tag.push('%');
        return;
    }
    if !license.contains(['%', '{', '}']) {
        tag.push_str(license);
        return;
    }
    for c in license.chars() {
        match c {
            '%' => tag.push_str("%25"),
            '{' => tag.push_str("%7B"),
            '}' => tag.push_str("%7D"),
            _ => tag.push(c),
        }
    }
}

#[cfg(test)]
fn encode_tag(license: &str) -> String {
    let mut tag = String::new();
    push_tag(&mut tag, license);
    tag
}

fn array(reply: Value) -> Option<Vec<Value>> {
    match reply {
        Value::Array(items) => Some(items),
        _ => None,
    }
}

fn bytes(value: &Value) -> Option<&[u8]> {
    match value {
        Value::BulkString(b) => Some(b),
        Value::SimpleString(s) => Some(s.as_bytes()),
        _ => None,
    }
}

/// A count: an integer reply, or a decimal string from a counter hash.
fn count(value: &Value) -> Option<u64> {
    match value {
        Value::Int(n) => u64::try_from(*n).ok(),
        other => std::str::from_utf8(bytes(other)?).ok()?.parse().ok(),
    }
}

fn usage(reply: Value) -> Option<Usage> {
    match array(reply)?.as_slice() {
        [active, pending] => Some(Usage {
            active: count(active)?,
            pending: count(pending)?,
        }),
        _ => None,
    }
}

/// `accelerators|created_ms|["customer","instance_type"]`.
fn decode(
    license: Arc<str>,
    id: ReservationId,
    stored: &[u8],
    pending: bool,
) -> Option<Reservation> {
    let mut parts = std::str::from_utf8(stored).ok()?.splitn(3, '|');
    let accelerators = parts.next()?.parse().ok()?;
    let created_unix_ms = parts.next()?.parse().ok()?;
    let (customer, instance_type): (String, String) = serde_json::from_str(parts.next()?).ok()?;
    Some(Reservation {
        id,
        license,
        customer: customer.into(),
        instance_type: instance_type.into(),
        accelerators,
        state: if pending {
            ReservationState::Pending
        } else {
            ReservationState::Active
        },
        created_unix_ms,
    })
}

/// `{HGETALL res, ZRANGE pending}` → reservations sorted by id.
fn reservations(license: &str, reply: Value) -> Option<Vec<Reservation>> {
    let mut items = array(reply)?.into_iter();
    let (Some(all), Some(pending), None) = (items.next(), items.next(), items.next()) else {
        return None;
    };
    let pending = array(pending)?
        .iter()
        .map(bytes)
        .collect::<Option<Vec<&[u8]>>>()?
        .into_iter()
        .map(<[u8]>::to_vec)
        .collect::<std::collections::HashSet<Vec<u8>>>();
    let all = array(all)?;
    let license: Arc<str> = Arc::from(license);
    let mut out = Vec::with_capacity(all.len() / 2);
    let mut fields = all.iter();
    while let Some(field) = fields.next() {
        let field = bytes(field)?;
        let stored = bytes(fields.next()?)?;
        if field == ACTIVE_FIELD.as_bytes() || field == PENDING_FIELD.as_bytes() {
            continue;
        }
        let id = ReservationId::new(std::str::from_utf8(field).ok()?).ok()?;
        let is_pending = pending.contains(field);
        out.push(decode(Arc::clone(&license), id, stored, is_pending)?);
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Some(out)
}

/// The counters' fields in the `res` hash. A reservation id is visible
/// ASCII, so no id starts with a space. Invariant: a `res` hash holding a
/// reservation holds both counters.
const ACTIVE_FIELD: &str = " active";
const PENDING_FIELD: &str = " pending";

// The scripts below. KEYS: the license's `res` hash and `pending` sorted
// set. Helpers are inlined rather than defined as Lua functions: a
// function definition is a closure made on every call. Counters are
// decimal strings written with `%.0f`, exact for the integers below 2^53
// they hold (`tostring` is not).

/// Sets `now` (ms) from the server's clock, `t` the raw `TIME` reply.
const NOW: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
";

/// Drops lapsed pending reservations (rarely any), and the hash if only
/// the counters are left.
const EXPIRE: &str = r"
local lapsed = redis.call('ZRANGEBYSCORE', pending, '-inf', now)
if #lapsed > 0 then
  for _, id in ipairs(lapsed) do
    local v = redis.call('HGET', res, id)
    if v then
      redis.call('HDEL', res, id)
      local n = string.match(v, '^(%d+)|')
      if n and n ~= '0' then redis.call('HINCRBY', res, ' pending', '-' .. n) end
    end
  end
  redis.call('ZREMRANGEBYSCORE', pending, '-inf', now)
  if redis.call('HLEN', res) <= 2 then redis.call('DEL', res) end
end
";

/// ARGV: id, accelerators, limit, pending TTL in ms, details (JSON).
/// Returns `{1, created_ms}` (reserved now), `{2, stored, is_pending}` (the
/// id was reserved before) or `{0, in_use}`.
const RESERVE_BODY: &str = r"
local id, n = ARGV[1], ARGV[2]
local c = redis.call('HMGET', res, id, ' active', ' pending')
if c[1] then
  return {2, c[1], redis.call('ZSCORE', pending, id) and 1 or 0}
end
local active, held = c[2] or '0', tonumber(c[3] or '0')
local in_use = tonumber(active) + held
if in_use + tonumber(n) > tonumber(ARGV[3]) then
  return {0, in_use}
end
local v = n .. '|' .. string.format('%.0f', now) .. '|' .. ARGV[5]
redis.call('HSET', res, id, v, ' active', active, ' pending', string.format('%.0f', held + tonumber(n)))
redis.call('ZADD', pending, now + tonumber(ARGV[4]), id)
return {1, now}
";

/// ARGV: id. Returns 1 if the reservation exists (now active), else 0.
const CONFIRM_BODY: &str = r"
local id = ARGV[1]
local c = redis.call('HMGET', res, id, ' active', ' pending')
if not c[1] then return 0 end
if redis.call('ZREM', pending, id) == 1 then
  local n = tonumber(string.match(c[1], '^(%d+)|') or '0')
  redis.call('HSET', res,
    ' active', string.format('%.0f', tonumber(c[2] or '0') + n),
    ' pending', string.format('%.0f', math.max(tonumber(c[3] or '0') - n, 0)))
end
return 1
";

/// ARGV: id. Returns 1 if there was a reservation, else 0.
const RELEASE_BODY: &str = r"
local id = ARGV[1]
local c = redis.call('HMGET', res, id, ' active', ' pending')
if not c[1] then return 0 end
local n = tonumber(string.match(c[1], '^(%d+)|') or '0')
local a, p = tonumber(c[2] or '0'), tonumber(c[3] or '0')
if redis.call('ZREM', pending, id) == 1 then p = p - n else a = a - n end
if redis.call('HLEN', res) <= 3 then
  redis.call('DEL', res)
else
  redis.call('HDEL', res, id)
  redis.call('HSET', res,
    ' active', string.format('%.0f', math.max(a, 0)),
    ' pending', string.format('%.0f', math.max(p, 0)))
end
return 1
";

/// Returns `{active, pending}`.
const USAGE_BODY: &str = r"
local c = redis.call('HMGET', res, ' active', ' pending')
return {c[1] or '0', c[2] or '0'}
";

/// Returns `{HGETALL res, pending ids}`.
const RESERVATIONS_BODY: &str = r"
return {redis.call('HGETALL', res), redis.call('ZRANGE', pending, 0, -1)}
";

/// ARGV: the ids still running. Drops the others and counts again what is
/// left (mending any drift). Returns `{active, pending}`.
const RECONCILE_BODY: &str = r"
local keep, waiting = {}, {}
for _, id in ipairs(ARGV) do keep[id] = true end
for _, id in ipairs(redis.call('ZRANGE', pending, 0, -1)) do waiting[id] = true end
local all = redis.call('HGETALL', res)
local a, p, left = 0, 0, 0
for i = 1, #all, 2 do
  local id = all[i]
  if string.sub(id, 1, 1) ~= ' ' then
    if keep[id] then
      left = left + 1
      local n = tonumber(string.match(all[i + 1], '^(%d+)|') or '0')
      if waiting[id] then p = p + n else a = a + n end
    else
      redis.call('HDEL', res, id)
      if waiting[id] then redis.call('ZREM', pending, id) end
    end
  end
end
a, p = string.format('%.0f', a), string.format('%.0f', p)
if left == 0 then
  redis.call('DEL', res, pending)
else
  redis.call('HSET', res, ' active', a, ' pending', p)
end
return {a, p}
";

const KEYS: &str = "local res, pending = KEYS[1], KEYS[2]\n";

fn script(parts: &[&str]) -> Script {
    Script::new(&parts.concat())
}

static RESERVE: LazyLock<Script> = LazyLock::new(|| script(&[KEYS, NOW, EXPIRE, RESERVE_BODY]));
static CONFIRM: LazyLock<Script> = LazyLock::new(|| script(&[KEYS, NOW, EXPIRE, CONFIRM_BODY]));
static RELEASE: LazyLock<Script> = LazyLock::new(|| script(&[KEYS, RELEASE_BODY]));
static USAGE: LazyLock<Script> = LazyLock::new(|| script(&[KEYS, NOW, EXPIRE, USAGE_BODY]));
static RESERVATIONS: LazyLock<Script> =
    LazyLock::new(|| script(&[KEYS, NOW, EXPIRE, RESERVATIONS_BODY]));
static RECONCILE: LazyLock<Script> = LazyLock::new(|| script(&[KEYS, RECONCILE_BODY]));

impl Ledger for RedisLedger {
    fn reserve(&self, request: ReservationRequest) -> LedgerFuture<'_, Reserved> {
        LedgerFuture::new(self.inner.reserve(request))
    }

    fn confirm<'a>(&'a self, license: &'a str, id: &'a ReservationId) -> LedgerFuture<'a, bool> {
        LedgerFuture::new(self.inner.flag(&CONFIRM, "confirm", license, id))
    }

    fn release<'a>(&'a self, license: &'a str, id: &'a ReservationId) -> LedgerFuture<'a, bool> {
        LedgerFuture::new(self.inner.release(license, id))
    }

    fn usage<'a>(&'a self, license: &'a str) -> LedgerFuture<'a, Usage> {
        LedgerFuture::new(self.inner.usage(license))
    }

    fn reservations<'a>(&'a self, license: &'a str) -> LedgerFuture<'a, Vec<Reservation>> {
        LedgerFuture::new(self.inner.reservations(license))
    }

    fn reconcile<'a>(
        &'a self,
        license: &'a str,
        running: &'a [ReservationId],
    ) -> LedgerFuture<'a, Usage> {
        LedgerFuture::new(self.inner.reconcile(license, running))
    }

    fn release_detached(&self, license: &str, id: &ReservationId) {
        // Outside a runtime, the pending expiry frees it.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let inner = Arc::clone(&self.inner);
        let license = license.to_owned();
        let id = id.clone();
        runtime.spawn(async move {
            if let Err(e) = inner.release(&license, &id).await {
                tracing::debug!(%license, %id, error = %e, "detached release failed; left to expire");
            }
        });
    }
}

impl fmt::Debug for RedisLedger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The address only: the URL may hold a password.
        f.debug_struct("RedisLedger")
            .field("addr", &self.inner.client.get_connection_info().addr())
            .field("key_prefix", &self.inner.prefix)
            .field("pending_ttl_ms", &self.inner.pending_ttl_ms)
            .field("timeout", &self.inner.timeout)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_never_hold_braces_and_stay_distinct() {
        assert_eq!(encode_tag("LIC-1"), "LIC-1");
        assert_eq!(encode_tag("a{b}:c%"), "a%7Bb%7D:c%25");
        assert_eq!(encode_tag(""), "%");
        assert_ne!(encode_tag("%7B"), encode_tag("{"));
        assert_ne!(encode_tag("%"), encode_tag(""));
    }

    #[test]
    fn stored_reservations_decode_and_garbage_does_not() {
        let id = ReservationId::new("r-1").unwrap();
        let r = decode(
            "L".into(),
            id.clone(),
            br#"8|1700000000123|["acme|cn","p5.48xlarge"]"#,
            true,
        )
        .unwrap();
        assert_eq!(r.accelerators, 8);
        assert_eq!(r.created_unix_ms, 1_700_000_000_123);
        assert_eq!(&*r.customer, "acme|cn");
        assert_eq!(r.state, ReservationState::Pending);
        for bad in [&b""[..], b"8", b"x|1|[]", b"8|1|[\"a\"]", b"\xff|1|[]"] {
            assert!(decode("L".into(), id.clone(), bad, false).is_none());
        }
    }

    #[test]
    fn counts_refuse_negative_and_odd_replies() {
        assert_eq!(count(&Value::Int(5)), Some(5));
        assert_eq!(count(&Value::BulkString(b"64".to_vec())), Some(64));
        assert_eq!(count(&Value::Int(-1)), None);
        assert_eq!(count(&Value::BulkString(b"-3".to_vec())), None);
        assert_eq!(count(&Value::Nil), None);
        assert!(usage(Value::Array(vec![Value::Int(1)])).is_none());
    }
}
