//! Reading plain or gzip-compressed input line by line.

use std::io::{self, BufRead, BufReader, Read};

use flate2::read::MultiGzDecoder;

use super::error::{IpTableError, LineProblem};
use super::parse::{Row, is_blank_or_comment, is_header, parse_row};

/// The first bytes of every gzip member.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Far above any real line; bounds memory on input that is not line text.
const LINE_LIMIT: usize = 64 * 1024;

/// Parses every data line of `reader`, gzip-compressed or plain, and hands
/// the rows to `row`. Stops at the first malformed line.
pub(super) fn read_rows(
    name: &str,
    reader: impl Read,
    row: impl FnMut(Row),
) -> Result<(), IpTableError> {
    let (is_gzip, input) = sniff_gzip(reader).map_err(|source| io_error(name, source))?;
    if is_gzip {
        read_lines(name, BufReader::new(MultiGzDecoder::new(input)), row)
    } else {
        read_lines(name, BufReader::with_capacity(64 * 1024, input), row)
    }
}

/// Reads the first two bytes (retrying short reads) and gives them back in
/// front of the rest of the input.
fn sniff_gzip<R: Read>(mut reader: R) -> io::Result<(bool, impl Read)> {
    let mut head = [0_u8; 2];
    let mut filled = 0;
    while let Some(rest) = head.get_mut(filled..)
        && !rest.is_empty()
    {
        match reader.read(rest) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let is_gzip = filled == head.len() && head == GZIP_MAGIC;
    let head = io::Cursor::new(head).take(filled as u64);
    Ok((is_gzip, head.chain(reader)))
}

fn read_lines(
    name: &str,
    mut input: impl BufRead,
    mut row: impl FnMut(Row),
) -> Result<(), IpTableError> {
    let mut buf = Vec::with_capacity(256);
    let mut line = 0_u64;
    let mut seen_data = false;
    loop {
        buf.clear();
        let read = input
            .by_ref()
            .take(LINE_LIMIT as u64)
            .read_until(b'\n', &mut buf)
            .map_err(|source| io_error(name, source))?;
        if read == 0 {
            return Ok(());
        }
        line += 1;
        let fail = |problem| IpTableError::Line {
            file: name.to_owned(),
            line,
            problem,
        };
        if read == LINE_LIMIT && buf.last() != Some(&b'\n') {
            return Err(fail(LineProblem::TooLong { limit: LINE_LIMIT }));
        }
        let text = std::str::from_utf8(&buf).map_err(|_| fail(LineProblem::NotUtf8))?;
        let text = text.trim_start_matches('\u{feff}').trim();
        if is_blank_or_comment(text) {
            continue;
        }
        if !seen_data {
            seen_data = true;
            if is_header(text) {
                continue;
            }
        }
        row(parse_row(text).map_err(fail)?);
    }
}

fn io_error(name: &str, source: io::Error) -> IpTableError {
    IpTableError::Io {
        file: name.to_owned(),
        source,
    }
}
