//! The REST surface: Kubernetes-style paths, verbs, dry runs, patches,
//! selectors, watches and tables, over the store. One fallback handler parses
//! the path the way the API server's request-info resolver does, so every
//! resource gets the same semantics.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde_json::{Value, json};
use tokio_stream::wrappers::BroadcastStream;

use super::controllers::Controllers;
use super::discovery;
use super::errors::ApiError;
use super::resources::{Kind, ResourceDef, normalize_setting};
use super::server::Auth;
use super::store::{Event, Store, meta_str, name_of, rv_of};
use super::table;
use super::webhook;

/// Largest request body accepted (Kubernetes' own limit is 3 MiB per object).
const MAX_BODY: usize = 4 << 20;

pub struct App {
    pub store: Arc<Store>,
    pub controllers: Arc<Controllers>,
    /// `host:port` the API is reached at, for `/api`'s serverAddressByClientCIDRs.
    pub server_address: String,
}

pub fn router(app: Arc<App>) -> Router {
    Router::new().fallback(handle).with_state(app)
}

pub fn json_response(code: StatusCode, body: &Value) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    (code, [(header::CONTENT_TYPE, "application/json")], bytes).into_response()
}

fn ok(body: Value) -> Result<Response, ApiError> {
    Ok(json_response(StatusCode::OK, &body))
}

async fn handle(State(app): State<Arc<App>>, req: Request) -> Response {
    // The TLS layer decides who the caller is; an anonymous one gets 401 for
    // everything, discovery included, as an RKE2 API server configured
    // with --anonymous-auth=false does.
    match req.extensions().get::<Auth>() {
        Some(Auth::ClientCert | Auth::BearerToken) => {}
        _ => return ApiError::unauthorized().into_response(),
    }
    let (parts, body) = req.into_parts();
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => {
            return ApiError::new(413, "RequestEntityTooLarge", "request entity too large")
                .into_response();
        }
    };
    // A query that does not parse is refused rather than ignored: dropping a
    // `dryRun=All` would turn a rehearsal into a real change.
    let query: HashMap<String, String> = match Query::try_from_uri(&parts.uri) {
        Ok(Query(q)) => q,
        Err(e) => return ApiError::bad_request(format!("invalid query: {e}")).into_response(),
    };
    let req = Req {
        method: parts.method,
        headers: parts.headers,
        query,
        body,
    };
    match dispatch(&app, parts.uri.path(), &req) {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

struct Req {
    method: Method,
    headers: HeaderMap,
    query: HashMap<String, String>,
    body: Bytes,
}

impl Req {
    fn q(&self, k: &str) -> Option<&str> {
        self.query.get(k).map(String::as_str)
    }
    fn dry_run(&self) -> bool {
        self.q("dryRun") == Some("All")
    }
    fn header(&self, h: header::HeaderName) -> &str {
        self.headers
            .get(h)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
    fn table(&self) -> Option<&str> {
        table::wants_table(self.header(header::ACCEPT))
            .then(|| self.q("includeObject").unwrap_or("Metadata"))
    }
}

fn dispatch(app: &Arc<App>, path: &str, req: &Req) -> Result<Response, ApiError> {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let discovery_get = |v: Option<Value>| -> Result<Response, ApiError> {
        if req.method != Method::GET {
            return Err(ApiError::method_not_allowed());
        }
        v.map_or_else(|| Err(ApiError::path_not_found()), ok)
    };
    // Before Harvester v1.3 there is no node.harvesterhci.io group at all.
    const NODE_GROUP: &str = "node.harvesterhci.io";
    let no_cloudinit = app
        .controllers
        .plan
        .has(crate::lab::plan::Scenario::NoCloudinit);
    if no_cloudinit && segs.first() == Some(&"apis") && segs.get(1) == Some(&NODE_GROUP) {
        return Err(ApiError::path_not_found());
    }
    match segs.as_slice() {
        ["apis"] if no_cloudinit => {
            let mut list = discovery::group_list();
            if let Some(groups) = list["groups"].as_array_mut() {
                groups.retain(|g| g["name"] != NODE_GROUP);
            }
            discovery_get(Some(list))
        }
        ["version"] => discovery_get(Some(discovery::version(
            app.controllers.plan.rke2_version(),
        ))),
        ["healthz" | "livez" | "readyz"] => {
            Ok((StatusCode::OK, [(header::CONTENT_TYPE, "text/plain")], "ok").into_response())
        }
        ["api"] => discovery_get(Some(discovery::core_versions(&app.server_address))),
        ["api", "v1"] => discovery_get(discovery::resource_list("", "v1")),
        ["apis"] => discovery_get(Some(discovery::group_list())),
        ["apis", g] => discovery_get(discovery::group(g)),
        ["apis", g, v] => discovery_get(discovery::resource_list(g, v)),
        ["openapi", "v3"] => discovery_get(Some(discovery::openapi_v3_index())),
        ["openapi", "v3", rest @ ..] => discovery_get(discovery::openapi_v3_group(&rest.join("/"))),
        ["api", "v1", rest @ ..] => resource_request(app, "", "v1", rest, req),
        ["apis", g, v, rest @ ..] => resource_request(app, g, v, rest, req),
        _ => Err(ApiError::path_not_found()),
    }
}

struct Target {
    def: &'static ResourceDef,
    ns: String,
    name: Option<String>,
    /// The request is for the `/status` subresource.
    status: bool,
}

fn target(group: &str, version: &str, rest: &[&str]) -> Result<Target, ApiError> {
    let (res, ns, name) = match rest {
        [res] => (*res, None, None),
        ["namespaces", ns, res] if *res != "status" => (*res, Some(*ns), None),
        [res, name] | [res, name, "status"] => (*res, None, Some(*name)),
        ["namespaces", ns, res, name] | ["namespaces", ns, res, name, "status"] => {
            (*res, Some(*ns), Some(*name))
        }
        _ => return Err(ApiError::path_not_found()),
    };
    let def = ResourceDef::find(group, version, res).ok_or_else(ApiError::path_not_found)?;
    // A namespaced object is addressed in its namespace; a cluster-scoped one never is.
    if (def.namespaced && ns.is_none() && name.is_some()) || (!def.namespaced && ns.is_some()) {
        return Err(ApiError::path_not_found());
    }
    let status = rest.last() == Some(&"status") && name.is_some() && rest.len() % 2 == 1;
    if status && !def.status_subresource {
        return Err(ApiError::path_not_found());
    }
    Ok(Target {
        def,
        ns: ns.unwrap_or("").to_string(),
        name: name.map(str::to_string),
        status,
    })
}

fn resource_request(
    app: &Arc<App>,
    group: &str,
    version: &str,
    rest: &[&str],
    req: &Req,
) -> Result<Response, ApiError> {
    let t = target(group, version, rest)?;
    let watch = matches!(req.q("watch"), Some("true" | "1"));
    let verb = match (&req.method, t.name.is_some()) {
        (&Method::GET, false) if watch => "watch",
        (&Method::GET, false) => "list",
        (&Method::GET, true) => "get",
        (&Method::POST, false) => "create",
        (&Method::PUT, true) => "update",
        (&Method::PATCH, true) => "patch",
        (&Method::DELETE, true) => "delete",
        _ => return Err(ApiError::method_not_allowed()),
    };
    if !t.def.allows(verb) || (t.status && !matches!(verb, "get" | "update" | "patch")) {
        return Err(ApiError::method_not_allowed());
    }
    let kind = t.def.kind_id;
    let name = t.name.as_deref().unwrap_or("");
    match verb {
        "list" => list(app, &t, req),
        "watch" => watch_response(app, &t, req),
        "get" => {
            let obj = app
                .store
                .get(kind, &t.ns, name)
                .ok_or_else(|| ApiError::not_found(kind, name))?;
            match req.table() {
                Some(include) => ok(table::table(
                    kind,
                    &[obj],
                    app.store.resource_version(),
                    include,
                )),
                None => ok(obj),
            }
        }
        "create" => create(app, &t, req),
        "update" => update(app, &t, name, req),
        "patch" => patch(app, &t, name, req),
        _ => delete(app, &t, name, req),
    }
}

// ---- selectors ------------------------------------------------------------

/// One `fieldSelector` or `labelSelector` term.
#[derive(Debug)]
enum Term {
    Eq(String, String),
    Ne(String, String),
    Exists(String),
    NotExists(String),
}

fn parse_terms(s: &str, fields: bool) -> Result<Vec<Term>, ApiError> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let term = if let Some((k, v)) = part.split_once("!=") {
            Term::Ne(k.trim().into(), v.trim().into())
        } else if let Some((k, v)) = part.split_once("==").or_else(|| part.split_once('=')) {
            Term::Eq(k.trim().into(), v.trim().into())
        } else if fields {
            return Err(ApiError::bad_request(format!(
                "invalid selector: '{s}'; can't understand '{part}'"
            )));
        } else if let Some(k) = part.strip_prefix('!') {
            Term::NotExists(k.trim().into())
        } else {
            Term::Exists(part.into())
        };
        if fields {
            let key = match &term {
                Term::Eq(k, _) | Term::Ne(k, _) => k.as_str(),
                _ => "",
            };
            if !matches!(key, "metadata.name" | "metadata.namespace") {
                return Err(ApiError::bad_request(format!(
                    "\"{key}\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\""
                )));
            }
        }
        out.push(term);
    }
    Ok(out)
}

struct Filter {
    ns: String,
    fields: Vec<Term>,
    labels: Vec<Term>,
}

impl Filter {
    fn new(t: &Target, req: &Req) -> Result<Self, ApiError> {
        Ok(Filter {
            ns: t.ns.clone(),
            fields: parse_terms(req.q("fieldSelector").unwrap_or(""), true)?,
            labels: parse_terms(req.q("labelSelector").unwrap_or(""), false)?,
        })
    }

    fn matches(&self, obj: &Value) -> bool {
        if !self.ns.is_empty() && meta_str(obj, "namespace") != Some(self.ns.as_str()) {
            return false;
        }
        let field = |k: &str| match k {
            "metadata.name" => meta_str(obj, "name").unwrap_or(""),
            _ => meta_str(obj, "namespace").unwrap_or(""),
        };
        let label = |k: &str| obj["metadata"]["labels"].get(k).and_then(Value::as_str);
        self.fields.iter().all(|t| match t {
            Term::Eq(k, v) => field(k) == v,
            Term::Ne(k, v) => field(k) != v,
            _ => true,
        }) && self.labels.iter().all(|t| match t {
            Term::Eq(k, v) => label(k) == Some(v.as_str()),
            Term::Ne(k, v) => label(k) != Some(v.as_str()),
            Term::Exists(k) => label(k).is_some(),
            Term::NotExists(k) => label(k).is_none(),
        })
    }
}

// ---- read -----------------------------------------------------------------

fn list(app: &Arc<App>, t: &Target, req: &Req) -> Result<Response, ApiError> {
    let filter = Filter::new(t, req)?;
    let kind = t.def.kind_id;
    let (items, rv) = app.store.list(kind, None);
    let items: Vec<Value> = items.into_iter().filter(|o| filter.matches(o)).collect();
    if let Some(include) = req.table() {
        return ok(table::table(kind, &items, rv, include));
    }
    ok(json!({
        "kind": format!("{}List", t.def.kind),
        "apiVersion": t.def.api_version(),
        "metadata": {"resourceVersion": rv.to_string()},
        "items": items,
    }))
}

fn watch_response(app: &Arc<App>, t: &Target, req: &Req) -> Result<Response, ApiError> {
    let filter = Filter::new(t, req)?;
    let kind = t.def.kind_id;
    // "0" means "any version" and, like no version at all, starts with the
    // current objects as ADDED.
    let since = match req.q("resourceVersion") {
        None | Some("" | "0") => None,
        Some(v) => Some(
            v.parse::<u64>()
                .map_err(|_| ApiError::bad_request(format!("invalid resource version: {v:?}")))?,
        ),
    };
    let timeout = req
        .q("timeoutSeconds")
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(1800);
    let table = req.table().map(str::to_string);
    let line = move |typ: &str, object: Value| -> Result<Bytes, Infallible> {
        let mut v = serde_json::to_vec(&json!({"type": typ, "object": object})).unwrap_or_default();
        v.push(b'\n');
        Ok(Bytes::from(v))
    };
    let start = match app.store.watch(kind, since) {
        Ok(s) => s,
        Err(()) => {
            // As the API server does: 200, then one ERROR event with 410 Gone,
            // upon which a client relists.
            let status = ApiError::gone(format!(
                "too old resource version: {} ({})",
                since.unwrap_or(0),
                app.store.resource_version()
            ))
            .status();
            let body = Body::from(line("ERROR", status).unwrap_or_default());
            return Ok(watch_headers(body));
        }
    };
    let live = BroadcastStream::new(start.rx)
        // A receiver that fell behind ends its watch; the client re-watches.
        .take_while(|r| futures::future::ready(r.is_ok()))
        .filter_map(|r| futures::future::ready(r.ok()));
    let events = futures::stream::iter(start.initial)
        .chain(live)
        .filter(move |e: &Arc<Event>| {
            futures::future::ready(e.kind == kind && filter.matches(&e.object))
        })
        .map(move |e| {
            let object = match &table {
                Some(include) => table::table(kind, std::slice::from_ref(&e.object), e.rv, include),
                None => e.object.clone(),
            };
            line(e.typ.as_str(), object)
        })
        .take_until(tokio::time::sleep(Duration::from_secs(timeout)));
    Ok(watch_headers(Body::from_stream(events)))
}

fn watch_headers(body: Body) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

// ---- write ----------------------------------------------------------------

fn parse_body(req: &Req) -> Result<Value, ApiError> {
    serde_json::from_slice::<Value>(&req.body)
        .map_err(|e| ApiError::bad_request(format!("json parse error: {e}")))
        .and_then(|v| {
            if v.is_object() {
                Ok(v)
            } else {
                Err(ApiError::bad_request("the body must be a JSON object"))
            }
        })
}

/// Check a body's apiVersion/kind against the URL and fill them in if absent.
fn check_type(def: &ResourceDef, obj: &mut Value) -> Result<(), ApiError> {
    let api_version = def.api_version();
    for (field, want) in [("apiVersion", api_version.as_str()), ("kind", def.kind)] {
        match obj.get(field).and_then(Value::as_str) {
            None | Some("") => obj[field] = json!(want),
            Some(got) if got == want => {}
            Some(got) => {
                return Err(ApiError::bad_request(format!(
                    "the API version or kind in the request ({got}) does not match the resource ({want})"
                )));
            }
        }
    }
    if !obj.get("metadata").is_some_and(Value::is_object) {
        obj["metadata"] = json!({});
    }
    Ok(())
}

fn node_ips(store: &Store) -> Vec<IpAddr> {
    store
        .list(Kind::Node, None)
        .0
        .iter()
        .flat_map(|n| {
            n["status"]["addresses"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter(|a| a["type"] == "InternalIP")
        .filter_map(|a| a["address"].as_str().and_then(|s| s.parse().ok()))
        .collect()
}

/// Mutating and validating admission for a create or update.
fn admit(app: &App, kind: Kind, obj: &mut Value) -> Result<(), ApiError> {
    match kind {
        Kind::Setting => {
            normalize_setting(obj);
            webhook::validate_setting(obj, &node_ips(&app.store))
        }
        Kind::CloudInit => {
            let others = app.store.list(Kind::CloudInit, None).0;
            webhook::admit_cloudinit(obj, &others)
        }
        Kind::Cluster => {
            let g = &obj["spec"]["rkeConfig"]["rotateCertificates"]["generation"];
            if !g.is_null() && !g.is_i64() {
                let name = name_of(obj).to_string();
                return Err(ApiError::invalid(
                    kind,
                    &name,
                    "spec.rkeConfig.rotateCertificates.generation",
                    "Invalid value: must be an integer",
                ));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// With a status subresource, a write to the object keeps the stored status
/// and a write to `/status` keeps everything else, so that a client and the
/// controller reporting on its work never overwrite each other.
fn split_status(t: &Target, current: &Value, new: &mut Value) {
    if !t.def.status_subresource {
        return;
    }
    let keep = |from: &Value, to: &mut Value| match from.get("status") {
        Some(s) => to["status"] = s.clone(),
        None => {
            if let Some(m) = to.as_object_mut() {
                m.remove("status");
            }
        }
    };
    if t.status {
        let mut merged = current.clone();
        keep(new, &mut merged);
        *new = merged;
    } else {
        keep(current, new);
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name.as_bytes()[name.len() - 1].is_ascii_alphanumeric()
}

fn create(app: &Arc<App>, t: &Target, req: &Req) -> Result<Response, ApiError> {
    let kind = t.def.kind_id;
    let mut obj = parse_body(req)?;
    check_type(t.def, &mut obj)?;
    if t.def.namespaced {
        match meta_str(&obj, "namespace") {
            None | Some("") => obj["metadata"]["namespace"] = json!(t.ns),
            Some(ns) if ns == t.ns => {}
            Some(_) => {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
        }
    }
    if name_of(&obj).is_empty()
        && let Some(prefix) = meta_str(&obj, "generateName").map(str::to_string)
    {
        let suffix: String = (0..5)
            .map(|_| (b'a' + rand::random_range(0..26u8)) as char)
            .collect();
        obj["metadata"]["name"] = json!(format!("{prefix}{suffix}"));
    }
    let name = name_of(&obj).to_string();
    if name.is_empty() {
        return Err(ApiError::invalid(
            kind,
            "",
            "metadata.name",
            "Required value: name or generateName is required",
        ));
    }
    if !valid_name(&name) {
        return Err(ApiError::invalid(
            kind,
            &name,
            "metadata.name",
            &format!(
                "Invalid value: {name:?}: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"
            ),
        ));
    }
    admit(app, kind, &mut obj)?;
    let created = app.store.create(kind, obj, req.dry_run())?;
    if !req.dry_run() {
        app.controllers.changed(kind, None, Some(&created));
    }
    Ok(json_response(StatusCode::CREATED, &created))
}

fn update(app: &Arc<App>, t: &Target, name: &str, req: &Req) -> Result<Response, ApiError> {
    let kind = t.def.kind_id;
    let mut obj = parse_body(req)?;
    check_type(t.def, &mut obj)?;
    let body_name = name_of(&obj).to_string();
    if body_name != name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({name})"
        )));
    }
    let current = app
        .store
        .get(kind, &t.ns, name)
        .ok_or_else(|| ApiError::not_found(kind, name))?;
    let expect = match meta_str(&obj, "resourceVersion") {
        None | Some("") if t.def.custom => {
            return Err(ApiError::invalid(
                kind,
                name,
                "metadata.resourceVersion",
                "Invalid value: 0x0: must be specified for an update",
            ));
        }
        None | Some("") => rv_of(&current),
        Some(rv) => rv
            .parse()
            .map_err(|_| ApiError::bad_request(format!("invalid resource version: {rv:?}")))?,
    };
    if expect != rv_of(&current) {
        return Err(ApiError::conflict(kind, name));
    }
    split_status(t, &current, &mut obj);
    obj["metadata"]["resourceVersion"] = json!(expect.to_string());
    admit(app, kind, &mut obj)?;
    let updated = app
        .store
        .update(kind, &t.ns, name, obj, expect, req.dry_run())?;
    if !req.dry_run() {
        app.controllers
            .changed(kind, Some(&current), Some(&updated));
    }
    ok(updated)
}

enum PatchKind {
    Merge,
    Json(json_patch::Patch),
}

fn patch(app: &Arc<App>, t: &Target, name: &str, req: &Req) -> Result<Response, ApiError> {
    let kind = t.def.kind_id;
    let content_type = req.header(header::CONTENT_TYPE);
    let media = content_type.split(';').next().unwrap_or("").trim();
    let body = || -> Result<Value, ApiError> {
        serde_json::from_slice(&req.body)
            .map_err(|e| ApiError::bad_request(format!("json parse error: {e}")))
    };
    let (patch_value, how) = match media {
        "application/merge-patch+json" => (body()?, PatchKind::Merge),
        // Strategic merge needs Go struct tags a custom resource has none of;
        // for the core types here it comes down to a merge patch.
        "application/strategic-merge-patch+json" if !t.def.custom => (body()?, PatchKind::Merge),
        "application/json-patch+json" => {
            let v = body()?;
            let p: json_patch::Patch = serde_json::from_value(v.clone())
                .map_err(|e| ApiError::bad_request(format!("invalid JSON patch: {e}")))?;
            (v, PatchKind::Json(p))
        }
        _ => return Err(ApiError::unsupported_media_type(content_type)),
    };
    if matches!(how, PatchKind::Merge) && !patch_value.is_object() {
        return Err(ApiError::bad_request("a merge patch must be a JSON object"));
    }
    // The store's version can move between reading and writing (a controller
    // updating status); a patch without its own precondition is then retried,
    // as the API server's GuaranteedUpdate does.
    for _ in 0..5 {
        let current = app
            .store
            .get(kind, &t.ns, name)
            .ok_or_else(|| ApiError::not_found(kind, name))?;
        let mut new = current.clone();
        match &how {
            PatchKind::Merge => json_patch::merge(&mut new, &patch_value),
            PatchKind::Json(p) => json_patch::patch(&mut new, &p.0).map_err(|e| {
                ApiError::new(
                    422,
                    "Invalid",
                    format!("the server rejected our request due to an error in our request: {e}"),
                )
            })?,
        }
        if !new.is_object() {
            return Err(ApiError::bad_request(
                "the patched object is not a JSON object",
            ));
        }
        // A resourceVersion in the patch is a precondition.
        if meta_str(&new, "resourceVersion") != meta_str(&current, "resourceVersion") {
            return Err(ApiError::conflict(kind, name));
        }
        check_type(t.def, &mut new)?;
        split_status(t, &current, &mut new);
        admit(app, kind, &mut new)?;
        match app
            .store
            .update(kind, &t.ns, name, new, rv_of(&current), req.dry_run())
        {
            Ok(updated) => {
                if !req.dry_run() {
                    app.controllers
                        .changed(kind, Some(&current), Some(&updated));
                }
                return ok(updated);
            }
            Err(e) if e.code == 409 => continue,
            Err(e) => return Err(e),
        }
    }
    Err(ApiError::conflict(kind, name))
}

fn delete(app: &Arc<App>, t: &Target, name: &str, req: &Req) -> Result<Response, ApiError> {
    let kind = t.def.kind_id;
    // DeleteOptions may carry preconditions.
    let opts: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
    let expect = opts["preconditions"]["resourceVersion"]
        .as_str()
        .and_then(|s| s.parse().ok());
    let dry_run = req.dry_run()
        || opts["dryRun"]
            .as_array()
            .is_some_and(|a| a.iter().any(|v| v == "All"));
    let gone = app.store.delete(kind, &t.ns, name, expect, dry_run)?;
    if !dry_run {
        app.controllers.changed(kind, Some(&gone), None);
    }
    ok(gone)
}
