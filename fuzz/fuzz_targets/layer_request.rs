//! The whole layer on an arbitrary request, written as text (see
//! `fuzz_support::RawRequest`): method, URI, headers, content type (JSON,
//! gRPC, others), peer, and a body in chunks with trailers or an error.
//! No panic; the answer is 200 when passed on, else 400, 413 or 451 (gRPC:
//! 200 with `grpc-status`); what reaches the inner service is tagged,
//! carries only the layer's `x-export-*` headers, and gets the body and
//! trailers that were sent (or the error).
#![no_main]

use std::sync::LazyLock;

use fuzz_support::{Answer, RawRequest, check_passed, check_status, parse_request};
use libfuzzer_sys::fuzz_target;
use tower_export_control::ExportControlLayer;

static LAYER: LazyLock<ExportControlLayer> = LazyLock::new(fuzz_support::layer);

fn check(raw: &RawRequest, answer: &Answer) -> Result<(), String> {
    check_status(answer, raw.is_grpc())?;
    let Some(seen) = &answer.seen else {
        return Ok(());
    };
    check_passed(seen)?;
    match (&seen.body, raw.fail) {
        (Ok(got), false) if *got == raw.body => {}
        (Err(_), true) => {}
        (got, fail) => {
            return Err(format!(
                "the inner service got body {got:?} (error sent: {fail})"
            ));
        }
    }
    if !raw.fail && seen.trailers != raw.trailers {
        return Err(format!(
            "trailers {:?}, sent {:?}",
            seen.trailers, raw.trailers
        ));
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let Some(raw) = parse_request(data) else {
        return;
    };
    let answer = fuzz_support::send(&LAYER, raw.to_request());
    if let Err(problem) = check(&raw, &answer) {
        panic!("{problem}\nrequest: {raw:?}\nanswer: {answer:?}");
    }
});
