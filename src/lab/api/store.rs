//! The object store: every object as JSON, one global increasing
//! resourceVersion, and a broadcast of changes with a short history so that a
//! watch started from a list's resourceVersion misses nothing.
//!
//! A plain `std::sync::Mutex` guards everything; no method awaits while holding
//! it, so it is never held across an `.await`.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{Value, json};
use tokio::sync::broadcast;

use super::errors::ApiError;
use super::resources::Kind;

/// How many past events a watch can resume from before it gets 410 Gone.
const HISTORY: usize = 4096;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change, as a watch delivers it.
#[derive(Clone, Debug)]
pub struct Event {
    pub kind: Kind,
    pub typ: EventType,
    pub rv: u64,
    pub object: Value,
}

type Key = (Kind, String, String);

struct Inner {
    rv: u64,
    objects: BTreeMap<Key, Value>,
    history: VecDeque<Arc<Event>>,
    /// The resourceVersion of the newest event no longer in `history`.
    floor: u64,
}

pub struct Store {
    inner: Mutex<Inner>,
    tx: broadcast::Sender<Arc<Event>>,
}

/// What a watch starts with: events to send first, then the live receiver.
pub struct WatchStart {
    pub initial: Vec<Arc<Event>>,
    pub rx: broadcast::Receiver<Arc<Event>>,
}

pub fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc();
    now.replace_nanosecond(0)
        .unwrap_or(now)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn new_uid() -> String {
    let b: [u8; 16] = rand::random();
    let h = hex::encode(b);
    // Shaped like a v4 UUID, which is what clients expect to see.
    format!(
        "{}-{}-4{}-a{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

pub fn meta_str<'a>(obj: &'a Value, field: &str) -> Option<&'a str> {
    obj.get("metadata")?.get(field)?.as_str()
}

pub fn name_of(obj: &Value) -> &str {
    meta_str(obj, "name").unwrap_or("")
}

/// The part of an object whose change bumps `metadata.generation`: all but
/// metadata and status, as for custom resources.
fn generation_part(obj: &Value) -> Value {
    let mut o = obj.clone();
    if let Some(m) = o.as_object_mut() {
        m.remove("metadata");
        m.remove("status");
    }
    o
}

impl Store {
    pub fn new() -> Self {
        let (tx, _) = broadcast::channel(1024);
        Store {
            inner: Mutex::new(Inner {
                rv: 1,
                objects: BTreeMap::new(),
                history: VecDeque::new(),
                floor: 1,
            }),
            tx,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere must not take the whole API down with it.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keep `obj` (whose resourceVersion is the next one) under `key` and tell
    /// the watchers: the one commit path of create, update and modify.
    fn commit(&self, inner: &mut Inner, key: Key, obj: &Value, typ: EventType) {
        inner.rv = rv_of(obj);
        let kind = key.0;
        inner.objects.insert(key, obj.clone());
        self.emit(inner, kind, typ, obj);
    }

    fn emit(&self, inner: &mut Inner, kind: Kind, typ: EventType, object: &Value) {
        let ev = Arc::new(Event {
            kind,
            typ,
            rv: inner.rv,
            object: object.clone(),
        });
        inner.history.push_back(ev.clone());
        while inner.history.len() > HISTORY {
            if let Some(old) = inner.history.pop_front() {
                inner.floor = old.rv;
            }
        }
        // No receivers is fine: nobody watches.
        let _ = self.tx.send(ev);
    }

    pub fn resource_version(&self) -> u64 {
        self.lock().rv
    }

    pub fn get(&self, kind: Kind, ns: &str, name: &str) -> Option<Value> {
        self.lock()
            .objects
            .get(&(kind, ns.to_string(), name.to_string()))
            .cloned()
    }

    /// All objects of a kind (in one namespace when `ns` is given), with the
    /// resourceVersion the list is consistent with.
    pub fn list(&self, kind: Kind, ns: Option<&str>) -> (Vec<Value>, u64) {
        let inner = self.lock();
        let items = inner
            .objects
            .iter()
            .filter(|((k, n, _), _)| *k == kind && ns.is_none_or(|ns| n.as_str() == ns))
            .map(|(_, v)| v.clone())
            .collect();
        (items, inner.rv)
    }

    /// Store a new object: uid, resourceVersion, creationTimestamp (and
    /// generation for custom resources) are set here. `dry_run` fills the same
    /// fields but stores nothing.
    pub fn create(&self, kind: Kind, mut obj: Value, dry_run: bool) -> Result<Value, ApiError> {
        let ns = meta_str(&obj, "namespace").unwrap_or("").to_string();
        let name = name_of(&obj).to_string();
        let mut inner = self.lock();
        let key = (kind, ns, name.clone());
        if inner.objects.contains_key(&key) {
            return Err(ApiError::already_exists(kind, &name));
        }
        let rv = inner.rv + 1;
        let meta = obj
            .as_object_mut()
            .ok_or_else(|| ApiError::bad_request("the object is not a JSON object"))?
            .entry("metadata")
            .or_insert_with(|| json!({}));
        if let Some(m) = meta.as_object_mut() {
            m.insert("uid".into(), json!(new_uid()));
            m.insert("resourceVersion".into(), json!(rv.to_string()));
            m.insert("creationTimestamp".into(), json!(now_rfc3339()));
            if kind.def().custom {
                m.insert("generation".into(), json!(1));
            }
        }
        if !dry_run {
            self.commit(&mut inner, key, &obj, EventType::Added);
        }
        Ok(obj)
    }

    /// Replace an object if it is still at `expect_rv` (else 409 Conflict).
    /// Identity fields (name, namespace, uid, creationTimestamp) are kept from
    /// the stored object. An update that changes nothing keeps the old
    /// resourceVersion and emits no event, as Kubernetes does.
    pub fn update(
        &self,
        kind: Kind,
        ns: &str,
        name: &str,
        mut new: Value,
        expect_rv: u64,
        dry_run: bool,
    ) -> Result<Value, ApiError> {
        let mut inner = self.lock();
        let key = (kind, ns.to_string(), name.to_string());
        let Some(old) = inner.objects.get(&key).cloned() else {
            return Err(ApiError::not_found(kind, name));
        };
        if rv_of(&old) != expect_rv {
            return Err(ApiError::conflict(kind, name));
        }
        let Some(new_meta) = new.get_mut("metadata").and_then(Value::as_object_mut) else {
            return Err(ApiError::bad_request("metadata must be an object"));
        };
        for field in [
            "name",
            "namespace",
            "uid",
            "creationTimestamp",
            "generation",
        ] {
            match old["metadata"].get(field) {
                Some(v) => {
                    new_meta.insert(field.into(), v.clone());
                }
                None => {
                    new_meta.remove(field);
                }
            }
        }
        new_meta.insert(
            "resourceVersion".into(),
            old["metadata"]["resourceVersion"].clone(),
        );
        if new == old {
            return Ok(old);
        }
        if kind.def().custom && generation_part(&new) != generation_part(&old) {
            let g = old["metadata"]["generation"].as_u64().unwrap_or(1) + 1;
            new["metadata"]["generation"] = json!(g);
        }
        let rv = inner.rv + 1;
        new["metadata"]["resourceVersion"] = json!(rv.to_string());
        if !dry_run {
            self.commit(&mut inner, key, &new, EventType::Modified);
        }
        Ok(new)
    }

    /// Change an object in place (controllers use this); emits MODIFIED when
    /// something changed. Returns the object after the change.
    pub fn modify(
        &self,
        kind: Kind,
        ns: &str,
        name: &str,
        f: impl FnOnce(&mut Value),
    ) -> Option<Value> {
        let mut inner = self.lock();
        let key = (kind, ns.to_string(), name.to_string());
        let old = inner.objects.get(&key)?.clone();
        let mut new = old.clone();
        f(&mut new);
        if new == old {
            return Some(old);
        }
        new["metadata"]["resourceVersion"] = json!((inner.rv + 1).to_string());
        self.commit(&mut inner, key, &new, EventType::Modified);
        Some(new)
    }

    /// Delete an object, optionally only if it is at `expect_rv`.
    pub fn delete(
        &self,
        kind: Kind,
        ns: &str,
        name: &str,
        expect_rv: Option<u64>,
        dry_run: bool,
    ) -> Result<Value, ApiError> {
        let mut inner = self.lock();
        let key = (kind, ns.to_string(), name.to_string());
        let Some(old) = inner.objects.get(&key).cloned() else {
            return Err(ApiError::not_found(kind, name));
        };
        if expect_rv.is_some_and(|rv| rv != rv_of(&old)) {
            return Err(ApiError::conflict(kind, name));
        }
        if dry_run {
            return Ok(old);
        }
        inner.objects.remove(&key);
        inner.rv += 1;
        // The DELETED event carries the object at the deletion's version.
        let mut gone = old;
        gone["metadata"]["resourceVersion"] = json!(inner.rv.to_string());
        self.emit(&mut inner, kind, EventType::Deleted, &gone);
        Ok(gone)
    }

    /// Start a watch of `kind`. Without `since`, every existing object comes
    /// first as ADDED; with it, the retained events newer than `since`. The
    /// receiver is subscribed under the same lock, so nothing falls between.
    /// `Err(())` when `since` is older than the retained history (410 Gone).
    pub fn watch(&self, kind: Kind, since: Option<u64>) -> Result<WatchStart, ()> {
        let inner = self.lock();
        let rx = self.tx.subscribe();
        let initial = match since {
            None => inner
                .objects
                .iter()
                .filter(|((k, _, _), _)| *k == kind)
                .map(|(_, obj)| {
                    Arc::new(Event {
                        kind,
                        typ: EventType::Added,
                        rv: rv_of(obj),
                        object: obj.clone(),
                    })
                })
                .collect(),
            Some(since) => {
                if since < inner.floor {
                    return Err(());
                }
                inner
                    .history
                    .iter()
                    .filter(|e| e.kind == kind && e.rv > since)
                    .cloned()
                    .collect()
            }
        };
        Ok(WatchStart { initial, rx })
    }
}

impl Default for Store {
    fn default() -> Self {
        Self::new()
    }
}

pub fn rv_of(obj: &Value) -> u64 {
    meta_str(obj, "resourceVersion")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setting(name: &str) -> Value {
        json!({"apiVersion":"harvesterhci.io/v1beta1","kind":"Setting","metadata":{"name":name},"default":"{}"})
    }

    #[test]
    fn versions_increase_and_stale_updates_conflict() {
        let s = Store::new();
        let a = s.create(Kind::Setting, setting("a"), false).unwrap();
        let b = s.create(Kind::Setting, setting("b"), false).unwrap();
        assert!(rv_of(&b) > rv_of(&a));
        assert!(a["metadata"]["uid"].as_str().unwrap().len() == 36);
        let mut changed = a.clone();
        changed["value"] = json!("x");
        let a2 = s
            .update(Kind::Setting, "", "a", changed.clone(), rv_of(&a), false)
            .unwrap();
        assert!(rv_of(&a2) > rv_of(&b));
        assert_eq!(a2["metadata"]["uid"], a["metadata"]["uid"]);
        // The same old version again is stale now.
        let err = s
            .update(Kind::Setting, "", "a", changed, rv_of(&a), false)
            .unwrap_err();
        assert_eq!(err.code, 409);
        assert_eq!(
            err.message,
            "Operation cannot be fulfilled on settings.harvesterhci.io \"a\": the object has been modified; please apply your changes to the latest version and try again"
        );
    }

    #[test]
    fn no_op_update_keeps_the_version_and_dry_run_stores_nothing() {
        let s = Store::new();
        let a = s.create(Kind::Setting, setting("a"), false).unwrap();
        let same = s
            .update(Kind::Setting, "", "a", a.clone(), rv_of(&a), false)
            .unwrap();
        assert_eq!(rv_of(&same), rv_of(&a));
        let mut changed = a.clone();
        changed["value"] = json!("y");
        let dry = s
            .update(Kind::Setting, "", "a", changed, rv_of(&a), true)
            .unwrap();
        assert_eq!(dry["value"], "y");
        assert!(
            s.get(Kind::Setting, "", "a")
                .unwrap()
                .get("value")
                .is_none()
        );
        assert!(s.create(Kind::Setting, setting("c"), true).is_ok());
        assert!(s.get(Kind::Setting, "", "c").is_none());
        assert_eq!(
            s.create(Kind::Setting, setting("a"), false)
                .unwrap_err()
                .code,
            409
        );
    }

    #[test]
    fn watch_from_a_version_replays_only_newer_events_of_its_kind() {
        let s = Store::new();
        let a = s.create(Kind::Setting, setting("a"), false).unwrap();
        s.create(Kind::CloudInit, json!({"metadata":{"name":"c"}}), false)
            .unwrap();
        s.modify(Kind::Setting, "", "a", |o| o["value"] = json!("v"));
        let w = s.watch(Kind::Setting, Some(rv_of(&a))).unwrap();
        let types: Vec<_> = w.initial.iter().map(|e| e.typ).collect();
        assert_eq!(types, [EventType::Modified]);
        let all = s.watch(Kind::Setting, None).unwrap();
        assert_eq!(all.initial.len(), 1);
        assert_eq!(all.initial[0].typ, EventType::Added);
        s.delete(Kind::Setting, "", "a", None, false).unwrap();
        let mut rx = w.rx;
        assert_eq!(rx.try_recv().unwrap().typ, EventType::Deleted);
    }
}
