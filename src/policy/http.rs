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
    /// Requests whose JSON body names the instance type and count.
    pub provisioning_routes: Vec<ProvisioningRoute>,
}

/// A route whose JSON body is read for the instance type and count.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ProvisioningRoute {
    /// The method, e.g. `POST`.
    pub method: Method,
    /// The path; a `*` segment matches any one non-empty segment, e.g.
    /// `/v1/projects/*/instances`.
    pub path: String,
    /// JSON pointer to the instance type (default `/instance_type`).
    pub instance_type_pointer: String,
    /// JSON pointer to the count (default `/count`).
    pub count_pointer: String,
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
    /// Whether a request with this method and path is on the route.
    pub fn matches(&self, method: &Method, path: &str) -> bool {
        if *method != self.method {
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
