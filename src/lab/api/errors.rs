//! Errors as Kubernetes `Status` objects, with the messages the real API
//! server words them with (clients and people match on them).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::resources::Kind;

/// The name Harvester's validating webhook is registered under.
pub const HARVESTER_WEBHOOK: &str = "validator.harvester-system.harvester-webhook";

#[derive(Clone, Debug, PartialEq)]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub details: Option<Value>,
}

impl ApiError {
    pub fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            reason,
            message: message.into(),
            details: None,
        }
    }

    fn with_details(mut self, kind: Kind, name: &str) -> Self {
        let d = kind.def();
        self.details = Some(json!({"name": name, "group": d.group, "kind": d.plural}));
        self
    }

    pub fn unauthorized() -> Self {
        Self::new(401, "Unauthorized", "Unauthorized")
    }

    pub fn not_found(kind: Kind, name: &str) -> Self {
        Self::new(
            404,
            "NotFound",
            format!("{} \"{name}\" not found", kind.def().qualified()),
        )
        .with_details(kind, name)
    }

    pub fn path_not_found() -> Self {
        Self::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
    }

    pub fn already_exists(kind: Kind, name: &str) -> Self {
        Self::new(
            409,
            "AlreadyExists",
            format!("{} \"{name}\" already exists", kind.def().qualified()),
        )
        .with_details(kind, name)
    }

    pub fn conflict(kind: Kind, name: &str) -> Self {
        Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
                kind.def().qualified()
            ),
        )
        .with_details(kind, name)
    }

    /// 422 with Kubernetes' `<Kind>.<group> "<name>" is invalid: <field>: <why>`.
    pub fn invalid(kind: Kind, name: &str, field: &str, why: &str) -> Self {
        let d = kind.def();
        let kind_group = if d.group.is_empty() {
            d.kind.to_string()
        } else {
            format!("{}.{}", d.kind, d.group)
        };
        let mut e = Self::new(
            422,
            "Invalid",
            format!("{kind_group} \"{name}\" is invalid: {field}: {why}"),
        );
        e.details = Some(json!({
            "name": name, "group": d.group, "kind": d.kind,
            "causes": [{"reason": "FieldValueInvalid", "message": why, "field": field}],
        }));
        e
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    /// How the API server reports a validating webhook's denial: the
    /// webhook's message behind `admission webhook "<name>" denied the request: `.
    pub fn denied(webhook: &str, message: &str) -> Self {
        Self::new(
            400,
            "BadRequest",
            format!("admission webhook \"{webhook}\" denied the request: {message}"),
        )
    }

    pub fn method_not_allowed() -> Self {
        Self::new(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        )
    }

    pub fn unsupported_media_type(content_type: &str) -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json; got {content_type:?}"
            ),
        )
    }

    pub fn gone(message: impl Into<String>) -> Self {
        Self::new(410, "Expired", message)
    }

    pub fn status(&self) -> Value {
        let mut s = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(d) = &self.details {
            s["details"] = d.clone();
        }
        s
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        super::routes::json_response(code, &self.status())
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

impl std::error::Error for ApiError {}
