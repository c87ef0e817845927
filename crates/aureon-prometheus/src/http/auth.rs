//! Basic authentication against the bcrypt hashes of `basic_auth_users`, with a cache of
//! verified results so that a scrape does not pay bcrypt (tens of milliseconds at cost 10)
//! every time, as exporter-toolkit does.
//!
//! * User names are compared in constant time ([`subtle`]) against every configured user, so
//!   the time taken does not say which names exist; an unknown user is checked against a
//!   fixed dummy hash (exporter-toolkit's) so that it costs the same bcrypt as a known one.
//! * The cache is keyed by an HMAC-SHA256, under a key drawn at random when the server
//!   starts, of (user, hash, password): no password is kept in memory, and the key includes
//!   the hash, so a reloaded file with a new hash never meets an old result. Results that
//!   granted access and results that refused it are kept apart (100 of each), so a flood of
//!   wrong passwords cannot push a good scraper's entry out.
//! * bcrypt runs off the server's event loop (`spawn_blocking`, on the runtime's single
//!   blocking thread), one at a time: other connections keep being served meanwhile, and
//!   scrapers whose credentials are cached never wait for it.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hyper::header::HeaderValue;
use ring::hmac;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use subtle::ConstantTimeEq;

/// bcrypt of "fakepassword" (cost 10), checked for unknown users (exporter-toolkit's).
const DUMMY_HASH: &str = "$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi";

/// Entries per cache (granted, refused).
const CACHE_ENTRIES: usize = 100;

/// The authenticator shared by every connection of a server.
pub(super) struct Authenticator {
    key: hmac::Key,
    cache: Mutex<Cache>,
}

#[derive(Default)]
struct Cache {
    granted: HashMap<[u8; 32], ()>,
    refused: HashMap<[u8; 32], ()>,
}

impl Authenticator {
    /// A new authenticator with a fresh random cache key.
    pub(super) fn new() -> std::io::Result<Self> {
        let rng = ring::rand::SystemRandom::new();
        let key = hmac::Key::generate(hmac::HMAC_SHA256, &rng)
            .map_err(|_| std::io::Error::other("no system randomness for the auth cache key"))?;
        Ok(Self {
            key,
            cache: Mutex::new(Cache::default()),
        })
    }

    /// Whether `authorization` (the request's header, if any) holds the credentials of one
    /// of `users` (name -> bcrypt hash).
    pub(super) async fn check(
        self: &Arc<Self>,
        users: &BTreeMap<String, String>,
        authorization: Option<&HeaderValue>,
    ) -> bool {
        let Some((user, password)) = authorization.and_then(parse_basic) else {
            return false;
        };
        let (known, hash) = find_user(users, &user);
        let hash = hash.unwrap_or(DUMMY_HASH).to_owned();
        let key = self.cache_key(&user, &hash, &password);
        {
            let cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
            if cache.granted.contains_key(&key) {
                return known;
            }
            if cache.refused.contains_key(&key) {
                return false;
            }
        }
        let verified =
            tokio::task::spawn_blocking(move || bcrypt::verify(&password, &hash).unwrap_or(false))
                .await
                .unwrap_or(false);
        let granted = verified && known;
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        let map = if granted {
            &mut cache.granted
        } else {
            &mut cache.refused
        };
        if map.len() >= CACHE_ENTRIES {
            // Any entry will do: evicting one costs a bcrypt the next time it is used.
            if let Some(k) = map.keys().next().copied() {
                map.remove(&k);
            }
        }
        map.insert(key, ());
        granted
    }

    fn cache_key(&self, user: &[u8], hash: &str, password: &[u8]) -> [u8; 32] {
        let mut ctx = hmac::Context::with_key(&self.key);
        // Length-prefixed, so that no two different triples give the same input.
        for part in [user, hash.as_bytes(), password] {
            ctx.update(&(part.len() as u64).to_le_bytes());
            ctx.update(part);
        }
        let mut out = [0u8; 32];
        out.copy_from_slice(ctx.sign().as_ref());
        out
    }
}

/// The user's hash, looking at every configured name with a constant-time comparison;
/// `(false, None)` for an unknown user.
fn find_user<'a>(users: &'a BTreeMap<String, String>, user: &[u8]) -> (bool, Option<&'a str>) {
    let mut found = None;
    for (name, hash) in users {
        if bool::from(name.as_bytes().ct_eq(user)) {
            found = Some(hash.as_str());
        }
    }
    (found.is_some(), found)
}

/// `Basic base64(user:password)` -> (user, password); `None` for anything else.
pub(super) fn parse_basic(value: &HeaderValue) -> Option<(Vec<u8>, Vec<u8>)> {
    let value = value.as_bytes();
    let (scheme, rest) = value.split_at_checked(6)?;
    if !scheme.eq_ignore_ascii_case(b"basic ") {
        return None;
    }
    let decoded = STANDARD.decode(rest.trim_ascii()).ok()?;
    let colon = decoded.iter().position(|&b| b == b':')?;
    Some((decoded[..colon].to_vec(), decoded[colon + 1..].to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(s: &str) -> HeaderValue {
        HeaderValue::from_str(s).unwrap()
    }

    #[test]
    fn basic_credentials_are_parsed_strictly() {
        // "alice:s3cr:et" — the password may contain colons.
        let v = header(&format!("Basic {}", STANDARD.encode("alice:s3cr:et")));
        assert_eq!(
            parse_basic(&v),
            Some((b"alice".to_vec(), b"s3cr:et".to_vec()))
        );
        let v = header(&format!("basic {}", STANDARD.encode("bob:")));
        assert_eq!(parse_basic(&v), Some((b"bob".to_vec(), Vec::new())));
        for bad in ["Bearer abc", "Basic", "Basic !!!", "Basic YWxpY2U="] {
            assert_eq!(parse_basic(&header(bad)), None, "{bad}");
        }
    }

    #[test]
    fn checks_against_bcrypt_and_caches_both_outcomes() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .max_blocking_threads(1)
            .build()
            .unwrap();
        let hash = bcrypt::hash("right", 4).unwrap();
        let users = BTreeMap::from([("alice".to_owned(), hash.clone())]);
        let auth = Arc::new(Authenticator::new().unwrap());
        let basic =
            |u: &str, p: &str| header(&format!("Basic {}", STANDARD.encode(format!("{u}:{p}"))));
        rt.block_on(async {
            assert!(auth.check(&users, Some(&basic("alice", "right"))).await);
            assert!(!auth.check(&users, Some(&basic("alice", "wrong"))).await);
            assert!(!auth.check(&users, Some(&basic("mallory", "right"))).await);
            // The dummy hash's own password does not let an unknown user in.
            assert!(
                !auth
                    .check(&users, Some(&basic("mallory", "fakepassword")))
                    .await
            );
            assert!(!auth.check(&users, None).await);
            // Cached: the same answers again, and both caches hold entries.
            assert!(auth.check(&users, Some(&basic("alice", "right"))).await);
            assert!(!auth.check(&users, Some(&basic("alice", "wrong"))).await);
        });
        let cache = auth.cache.lock().unwrap();
        assert_eq!(cache.granted.len(), 1);
        assert_eq!(cache.refused.len(), 3);
        drop(cache);
        // A new hash for alice (a reloaded file) does not reuse the old result.
        let users2 = BTreeMap::from([("alice".to_owned(), bcrypt::hash("other", 4).unwrap())]);
        rt.block_on(async {
            assert!(!auth.check(&users2, Some(&basic("alice", "right"))).await);
            assert!(auth.check(&users2, Some(&basic("alice", "other"))).await);
        });
    }

    #[test]
    fn a_flood_of_wrong_passwords_keeps_the_cache_bounded() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .max_blocking_threads(1)
            .build()
            .unwrap();
        let users = BTreeMap::from([("alice".to_owned(), bcrypt::hash("right", 4).unwrap())]);
        let auth = Arc::new(Authenticator::new().unwrap());
        rt.block_on(async {
            for i in 0..(CACHE_ENTRIES + 20) {
                let v = header(&format!("Basic {}", STANDARD.encode(format!("alice:w{i}"))));
                assert!(!auth.check(&users, Some(&v)).await);
            }
        });
        let cache = auth.cache.lock().unwrap();
        assert_eq!(cache.refused.len(), CACHE_ENTRIES);
        assert!(cache.granted.is_empty());
    }
}
