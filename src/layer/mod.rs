//! The Tower middleware: reads the facts of each request, decides, and
//! either passes the request on, tagged, or answers the denial itself.
//!
//! See the crate documentation and README for placement in a stack and
//! deployment notes.

mod body;
mod builder;
mod client_ip;
mod decision;
mod denial;
mod future;
mod read;
mod service;
mod tags;

pub use body::{RequestBody, ResponseBody};
pub use builder::ExportControlLayer;
pub use client_ip::ClientAddr;
pub use denial::{Denial, MakeDenialResponse};
pub use future::ResponseFuture;
pub use service::ExportControl;
pub use tags::{
    ACCELERATOR_CLASS, COUNTRY, COUNTRY_GROUPS, CountrySource, DECISION, ExportTags, LICENSE_ID,
    TagDecision,
};
