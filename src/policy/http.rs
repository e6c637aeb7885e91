//! The `[http]` section: how facts are read from requests.

use http::{HeaderName, Method};

/// Header names, provisioning routes and the body limit.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct HttpConfig {
    /// Declared country (default `x-customer-country`).
    pub country_header: HeaderName,
    /// Headquarters country (default `x-customer-headquarters`).
    pub headquarters_header: HeaderName,
    /// Headquarters country of the customer's ultimate parent (default
    /// `x-customer-parent-country`).
    pub parent_country_header: HeaderName,
    /// Customer id (default `x-customer-id`).
    pub customer_id_header: HeaderName,
    /// Instance type (default `x-instance-type`).
    pub instance_type_header: HeaderName,
    /// Instance count (default `x-instance-count`).
    pub instance_count_header: HeaderName,
    /// License token (default `x-export-license`).
    pub license_header: HeaderName,
    /// Most bytes of a provisioning body read (default 64 KiB).
    pub body_limit_bytes: usize,
    /// URL for `link: <…>; rel="blocked-by"` on 451 answers.
    pub blocked_by: Option<String>,
    /// Requests that provision: they must name an instance type, and their
    /// body is read for it.
    pub provisioning_routes: Vec<ProvisioningRoute>,
}

/// Where a provisioning route's body names the instance type and count.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum RouteBody {
    /// A JSON document, at the route's pointers (`body = "json"`, the
    /// default).
    #[default]
    Json,
    /// The first message of a gRPC call, read by the layer's
    /// [`ExtractInstance`](crate::layer::ExtractInstance) (`body = "grpc"`).
    Grpc,
    /// Nowhere: the instance type must come from its header, and the body
    /// is not read (`body = "none"`).
    None,
}

impl RouteBody {
    /// `json`, `grpc` or `none`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Grpc => "grpc",
            Self::None => "none",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        [Self::Json, Self::Grpc, Self::None]
            .into_iter()
            .find(|b| b.as_str() == s)
    }
}

/// A route whose requests provision instances: the instance type is
/// required (from the header, or the body as [`RouteBody`] says).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ProvisioningRoute {
    /// The method, e.g. `POST`.
    pub method: Method,
    /// The path; a `*` segment matches any one non-empty segment, e.g.
    /// `/v1/projects/*/instances`, or a gRPC method,
    /// `/cloud.v1.Compute/CreateInstance`.
    pub path: String,
    /// Where the body names the instance type and count.
    pub body: RouteBody,
    /// JSON pointer to the instance type (default `/instance_type`).
    pub instance_type_pointer: String,
    /// JSON pointer to the count (default `/count`).
    pub count_pointer: String,
    /// Both pointers split into their tokens once, at load.
    pub(crate) tokens: [PointerTokens; 2],
    /// Whether `path` has a `*` segment.
    pub(crate) wildcard: bool,
}

/// A JSON pointer (RFC 6901) split into its reference tokens, unescaped
/// (`~1` is `/`, `~0` is `~`). `None`: a pointer that is neither empty nor
/// starts with `/`, which points at nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PointerTokens(Option<Box<[Box<str>]>>);

impl PointerTokens {
    pub(crate) fn parse(pointer: &str) -> Self {
        let Some(rest) = pointer.strip_prefix('/') else {
            return Self(pointer.is_empty().then(Box::default));
        };
        let tokens = rest
            .split('/')
            .map(|t| t.replace("~1", "/").replace("~0", "~").into_boxed_str())
            .collect();
        Self(Some(tokens))
    }

    /// The tokens; `None` when the pointer points at nothing.
    pub(crate) fn tokens(&self) -> Option<&[Box<str>]> {
        self.0.as_deref()
    }
}

impl HttpConfig {
    /// The headers the layer reads its inputs from.
    pub fn input_headers(&self) -> [&HeaderName; 7] {
        [
            &self.country_header,
            &self.headquarters_header,
            &self.parent_country_header,
            &self.customer_id_header,
            &self.instance_type_header,
            &self.instance_count_header,
            &self.license_header,
        ]
    }
}

impl ProvisioningRoute {
    /// Whether a request with this method and path is on the route. A
    /// gRPC route (`body = "grpc"`) matches on the path alone: gRPC servers
    /// dispatch on the path whatever the method.
    pub fn matches(&self, method: &Method, path: &str) -> bool {
        if *method != self.method && self.body != RouteBody::Grpc {
            return false;
        }
        self.matches_path(path)
    }

    /// Whether `path` is the route's path.
    pub fn matches_path(&self, path: &str) -> bool {
        // Most routes have no `*`: one comparison decides.
        if self.path == path {
            return true;
        }
        if !self.wildcard {
            return false;
        }
        let mut want = self.path.split('/');
        let mut got = path.split('/');
        loop {
            match (want.next(), got.next()) {
                (None, None) => return true,
                (Some(w), Some(g)) if segment_matches(w, g) => {}
                _ => return false,
            }
        }
    }
}

fn segment_matches(pattern: &str, segment: &str) -> bool {
    pattern == "*" && !segment.is_empty() || pattern == segment
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            country_header: HeaderName::from_static("x-customer-country"),
            headquarters_header: HeaderName::from_static("x-customer-headquarters"),
            parent_country_header: HeaderName::from_static("x-customer-parent-country"),
            customer_id_header: HeaderName::from_static("x-customer-id"),
            instance_type_header: HeaderName::from_static("x-instance-type"),
            instance_count_header: HeaderName::from_static("x-instance-count"),
            license_header: HeaderName::from_static("x-export-license"),
            body_limit_bytes: 64 * 1024,
            blocked_by: None,
            provisioning_routes: Vec::new(),
        }
    }
}
